"""The record explorer (issue 18 item 3) against the sandbox's Salesforce and EWS emulators, through the product's
own connectors: each reason a record does or does not sync, and proof that explaining writes nothing (the
sandbox's write counters and the link table unchanged)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.utils import timezone
from exchangelib import BASIC, IMPERSONATION, Account, Build, Configuration, Contact, Credentials, Version
from simple_salesforce import Salesforce

from sandbox.demo import PASSWORD, SERVICE_ACCOUNT
from sync.explorer import ExplorerInputError, explain_record, find_records
from sync.models import RecordError, RecordLink, SyncRun
from sync.runner import execute_run
from tests.configurations.test_states_record_counts import person as graph_person
from tests.e2e.outlook import EwsOutlook
from tests.factories import make_configuration
from users.services import add_sync_user, assign_users

pytestmark = pytest.mark.django_db

BOTH = {"direction": "both", "conflict_behavior": "salesforce_wins"}
# What the ends count as a write: Salesforce REST calls other than reads and logins; EWS operations that change items
# or folders; Graph requests other than reads and tokens (batched ones counted one by one).
EWS_WRITES = ("CreateItem", "UpdateItem", "DeleteItem", "CreateFolder", "UpdateFolder", "DeleteFolder", "MoveItem",
              "CopyItem")


def _http(sandbox) -> requests.Session:
    session = requests.Session()
    session.verify, session.trust_env = str(sandbox.ca_path), False
    return session


def writes(sandbox) -> dict:
    """The sandbox's write counters: Salesforce REST writes and EWS item and folder writes, by operation."""
    http = _http(sandbox)
    salesforce = http.get(f"{sandbox.salesforce_url}/_sandbox/stats").json()["calls"]
    exchange = http.get(f"{sandbox.ews_endpoint.split('/EWS/')[0]}/_sandbox/stats").json()["calls"]
    counted = {f"salesforce {k}": v for k, v in salesforce.items()
               if k.split(" ")[0] in ("POST", "PATCH", "PUT", "DELETE") and "/oauth2/" not in k and "/Soap/" not in k}
    counted.update({f"exchange {k}": v for k, v in exchange.items() if k in EWS_WRITES})
    graph = http.get(f"{sandbox.graph_url}/_sandbox/stats").json()
    for kind in ("calls", "batched"):
        counted.update({f"graph {kind} {k}": v for k, v in graph.get(kind, {}).items()
                        if k.split(" ")[0] in ("POST", "PATCH", "PUT", "DELETE") and k not in ("POST token",
                                                                                              "POST $batch")})
    return counted


def person(sandbox, first="Pat", last="Explorer"):
    email = f"u{uuid.uuid4().hex[:8]}@sandbox.test"
    created = sandbox.hub.create_user(username=email, email=email, first_name=first, last_name=last,
                                      profile="Standard User")
    user = add_sync_user({"salesforce_id": created["salesforce_id"], "username": email, "email": email,
                          "name": f"{first} {last}", "profile": "Standard User"})
    token = _http(sandbox).post(f"{sandbox.salesforce_url}/services/oauth2/token", data={
        "grant_type": "password", "client_id": "tests", "username": email, "password": PASSWORD}).json()
    salesforce = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"],
                            session=_http(sandbox), version="62.0")
    config = Configuration(service_endpoint=sandbox.ews_endpoint, auth_type=BASIC,
                           credentials=Credentials(SERVICE_ACCOUNT, PASSWORD),
                           version=Version(build=Build(15, 1, 2507, 6)))
    outlook = EwsOutlook(Account(primary_smtp_address=email, config=config, autodiscover=False,
                                 access_type=IMPERSONATION))
    return user, salesforce, outlook


def assigned(user, **values):
    configuration = make_configuration(**values)
    assign_users(configuration, [user.pk])
    return configuration


def sync(user, object_type: str) -> SyncRun:
    run = SyncRun.objects.create(user=user, object=object_type, trigger=SyncRun.Trigger.COMMAND, full=True)
    return execute_run(run.pk)


def soon(days: int, hours: int = 10) -> datetime:
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=days, hours=hours)


def test_a_synced_contact_is_found_by_email_and_explained_as_linked_writing_nothing(connected):
    user, salesforce, _ = person(connected)
    assigned(user, data_settings={"contacts": BOTH})
    contact = salesforce.Contact.create({"FirstName": "Lena", "LastName": "Linked", "Email": "lena@example.com"})["id"]
    assert sync(user, "contacts").state == SyncRun.State.SUCCEEDED
    link = RecordLink.objects.get(user=user, object="contacts", salesforce_id=contact)
    before, links_before = writes(connected), list(RecordLink.objects.values())
    assert before["exchange CreateItem"] >= 1  # the counters do count the sync's writes

    found = find_records(user, "contacts", "lena@example.com")
    answer = explain_record(user, "contacts", q="lena@example.com").as_dict()
    by_id = explain_record(user, "contacts", outlook_id=link.outlook_id).as_dict()

    (row,) = found["results"]
    assert row["name"] == "Lena Linked"
    assert row["link"]["outlook_id"] == link.outlook_id and row["outlook"]["id"] == link.outlook_id
    assert answer["verdict"] == by_id["verdict"] == "linked"
    assert answer["link"]["salesforce_id"] == contact and answer["link"]["outlook_version"] == link.outlook_version
    assert answer["salesforce"]["version"] and answer["outlook"]["version"]
    assert answer["reasons"][0].startswith("The contact was last synced at ")
    assert writes(connected) == before
    assert list(RecordLink.objects.values()) == links_before


def test_a_contact_outside_the_data_set_names_the_failing_filter(connected):
    user, salesforce, _ = person(connected)
    assigned(user, data_settings={"contacts": BOTH},
             data_sets={"contacts": {"filters": [{"field": "MailingCountry", "op": "equals", "value": "France"}]}})
    contact = salesforce.Contact.create({"FirstName": "Otto", "LastName": "Outside", "MailingCountry": "Spain"})["id"]
    before = writes(connected)

    answer = explain_record(user, "contacts", salesforce_id=contact)

    assert answer.verdict == "out_of_scope"
    assert answer.reasons == ["It fails the data set's filter 1: MailingCountry equals France."]
    assert writes(connected) == before


def test_a_contact_without_the_users_account_names_the_scope_and_one_hidden_is_not_found(connected):
    user, salesforce, _ = person(connected)
    _, other_salesforce, _ = person(connected, "Olga", "Other")
    assigned(user, data_settings={"contacts": BOTH}, data_sets={"contacts": {"scope": "my_accounts_contacts"}})
    mine = salesforce.Contact.create({"FirstName": "No", "LastName": "Account"})["id"]
    hidden = other_salesforce.Contact.create({"FirstName": "Not", "LastName": "Mine"})["id"]

    answer = explain_record(user, "contacts", salesforce_id=mine)
    invisible = explain_record(user, "contacts", salesforce_id=hidden)

    assert answer.verdict == "out_of_scope"
    assert answer.reasons == ["Its account is owned by another Salesforce user (or it has none), and the data set "
                              "takes only contacts on the user's accounts."]
    assert invisible.verdict == "not_found"  # the sandbox's sharing is private: Salesforce answers as the user
    assert invisible.reasons == [f"The Salesforce id {hidden} was not found: it does not exist, was deleted, or the "
                                 "user cannot see it."]


def test_an_unlinked_contact_would_be_created_or_linked_to_its_match(connected):
    user, salesforce, outlook = person(connected)
    assigned(user, data_settings={"contacts": BOTH})
    assert sync(user, "contacts").state == SyncRun.State.SUCCEEDED  # creates the folder
    lonely = salesforce.Contact.create({"FirstName": "Nina", "LastName": "New", "Email": "nina@example.com"})["id"]
    twin = salesforce.Contact.create({"FirstName": "Tom", "LastName": "Twin", "Email": "tom@example.com"})["id"]
    outlook.create_contact("Tom", "Twin", "tom@example.com")
    before = writes(connected)

    created = explain_record(user, "contacts", salesforce_id=lonely)
    matched = explain_record(user, "contacts", salesforce_id=twin)

    assert created.verdict == "would_create"
    assert created.reasons == ["No Outlook contact matches it, so the next sync creates its copy in Outlook."]
    assert matched.verdict == "would_link"
    assert matched.reasons == ["The Outlook contact 'Tom Twin' has the same e-mail address; the next sync links the "
                               "two instead of creating a copy."]
    assert matched.outlook is not None
    assert writes(connected) == before


def test_an_ambiguous_match_lists_the_candidates(connected):
    user, salesforce, outlook = person(connected)
    assigned(user, data_settings={"contacts": BOTH})
    assert sync(user, "contacts").state == SyncRun.State.SUCCEEDED
    contact = salesforce.Contact.create({"FirstName": "Dee", "LastName": "Double", "Email": "dee@example.com"})["id"]
    outlook.create_contact("Dee", "Double", "dee@example.com")
    outlook.create_contact("Dee", "Duplicate", "dee@example.com")

    answer = explain_record(user, "contacts", salesforce_id=contact)

    assert answer.verdict == "ambiguous"
    assert answer.reasons == ["1 Salesforce and 2 Outlook records share its e-mail address, so none of them is linked "
                              "or copied. Make them differ (or delete the duplicates), then sync again."]
    assert sorted(c["name"] for c in answer.candidates) == ["Dee Double", "Dee Duplicate"]
    assert {c["side"] for c in answer.candidates} == {"outlook"}


def test_an_excluded_outlook_contact_and_one_in_another_folder(connected):
    user, _, outlook = person(connected)
    assigned(user, data_settings={"contacts": {**BOTH, "excluded_addresses": ["@rival.example"]}})
    assert sync(user, "contacts").state == SyncRun.State.SUCCEEDED
    excluded = outlook.create_contact("Xavier", "Excluded", "x@rival.example")

    elsewhere = Contact(folder=outlook.account.contacts, given_name="Fay", surname="Elsewhere",
                        display_name="Fay Elsewhere")
    elsewhere.save()  # in the mailbox's own Contacts folder, not the sync folder
    before = writes(connected)

    answer = explain_record(user, "contacts", outlook_id=excluded)
    other_folder = explain_record(user, "contacts", outlook_id=elsewhere.id)

    assert answer.verdict == "out_of_scope"
    assert answer.reasons == ["Its e-mail address x@rival.example is excluded by the data setting."]
    assert other_folder.verdict == "out_of_scope"
    assert other_folder.reasons == ["It is in another contacts folder; only contacts in 'Salesforce_Sync' sync."]
    assert writes(connected) == before


def test_a_pending_link_and_a_failed_write(connected):
    user, salesforce, _ = person(connected)
    assigned(user, data_settings={"contacts": BOTH})
    contact = salesforce.Contact.create({"FirstName": "Pia", "LastName": "Pending"})["id"]
    assert sync(user, "contacts").state == SyncRun.State.SUCCEEDED
    link = RecordLink.objects.get(user=user, salesforce_id=contact)

    RecordLink.objects.filter(pk=link.pk).update(state="pending_create_outlook")
    pending = explain_record(user, "contacts", salesforce_id=contact)
    RecordLink.objects.filter(pk=link.pk).update(state="linked")
    run = SyncRun.objects.create(user=user, object="contacts", trigger="manual", state="failed",
                                 finished_at=timezone.now())
    RecordError.objects.create(run=run, side="outlook", record_id=link.outlook_id, code="ErrorQuotaExceeded",
                               message="The mailbox is full.", transient=False)
    failed = explain_record(user, "contacts", salesforce_id=contact).as_dict()

    assert pending.verdict == "pending"
    assert pending.reasons == ["The sync started creating its copy in Outlook and has not confirmed it yet; the next "
                               "sync looks the copy up before creating anything, so no duplicate is made."]
    assert failed["verdict"] == "failed"
    assert failed["reasons"][0] == ("The last sync could not write it to Outlook (ErrorQuotaExceeded): The mailbox "
                                    "is full. Fix the record, then sync the user again.")
    assert failed["last_error"]["code"] == failed["link"]["last_error"]["code"] == "ErrorQuotaExceeded"


def test_events_private_and_outside_the_window(connected):
    user, salesforce, outlook = person(connected)
    assigned(user, data_settings={"events": BOTH}, data_sets={"events": {"days_back": 7, "days_ahead": 30}})
    private = salesforce.Event.create({"Subject": "Doctor", "StartDateTime": soon(2).isoformat(),
                                       "EndDateTime": soon(2, 11).isoformat(), "IsPrivate": True})["id"]
    far = salesforce.Event.create({"Subject": "Far away", "StartDateTime": soon(90).isoformat(),
                                   "EndDateTime": soon(90, 11).isoformat()})["id"]
    private_item = outlook.create_event("Dentist", soon(3), soon(3, 11), private=True)
    before = writes(connected)

    private_answer = explain_record(user, "events", salesforce_id=private)
    far_answer = explain_record(user, "events", salesforce_id=far)
    outlook_answer = explain_record(user, "events", outlook_id=private_item)

    assert private_answer.verdict == far_answer.verdict == outlook_answer.verdict == "out_of_scope"
    assert private_answer.reasons == ["It is private in Salesforce, and the data setting does not sync private events."]
    (reason,) = far_answer.reasons
    assert reason.startswith("It starts after the data set's window, which ends ") and "(30 days ahead)" in reason
    assert outlook_answer.reasons == ["It is private in Outlook, and the data setting does not sync private events."]
    assert writes(connected) == before


def test_over_the_record_limit(connected):
    user, salesforce, _ = person(connected)
    assigned(user, data_settings={"tasks": BOTH}, data_sets={"tasks": {"record_limit": 1}})
    old = salesforce.Task.create({"Subject": "Old task", "Status": "Not Started"})["id"]
    salesforce.Task.create({"Subject": "Newer task", "Status": "Not Started"})

    answer = explain_record(user, "tasks", salesforce_id=old)

    assert answer.verdict == "over_limit"
    assert answer.reasons == ["The data set takes the 1 most recently changed tasks, and this one is not among them; "
                              "it syncs when it next changes, or when the limit is raised."]


def test_one_way_and_unassigned_say_why_nothing_syncs(connected):
    user, _, outlook = person(connected)
    task = outlook.create_task("Outlook only")
    answer = explain_record(user, "tasks", outlook_id=task)
    assert (answer.verdict, answer.reasons) == ("not_synced", [
        "No configuration is assigned to the user, so nothing of theirs syncs."])

    assigned(user, data_settings={"tasks": {"direction": "salesforce_to_outlook"}})
    answer = explain_record(user, "tasks", outlook_id=task)
    assert answer.verdict == "not_synced"
    assert answer.reasons == ["The data setting syncs tasks from Salesforce to Outlook only, so an Outlook task "
                              "without a copy is not copied."]


def test_not_found_and_bad_input(connected):
    user, _, _ = person(connected)
    assigned(user, data_settings={"contacts": BOTH})
    answer = explain_record(user, "contacts", salesforce_id="003000000000000AAA")
    assert answer.verdict == "not_found"
    with pytest.raises(ExplorerInputError) as refused:
        explain_record(user, "contacts", salesforce_id="x", q="y")
    assert "exactly one" in refused.value.errors["non_field_errors"][0]
    with pytest.raises(ExplorerInputError) as refused:
        find_records(user, "notes", "ann")
    assert refused.value.errors["object"]


def test_through_graph_a_linked_contact_and_a_private_outlook_event(connected):
    user, salesforce, outlook = graph_person(connected, "graph")
    assigned(user, data_settings={"contacts": BOTH, "events": BOTH})
    salesforce.Contact.create({"FirstName": "Gus", "LastName": "Graph", "Email": "gus@example.com"})
    assert sync(user, "contacts").state == SyncRun.State.SUCCEEDED
    private = outlook.create_event("Private lunch", soon(2), soon(2, 11), private=True)
    before = writes(connected)

    linked = explain_record(user, "contacts", q="gus@example.com")
    hidden = explain_record(user, "events", outlook_id=private)

    assert linked.verdict == "linked" and linked.outlook is not None
    assert any(key.startswith("graph ") for key in before)  # the sync's Graph writes are counted
    assert hidden.verdict == "out_of_scope"
    assert hidden.reasons == ["It is private in Outlook, and the data setting does not sync private events."]
    assert writes(connected) == before

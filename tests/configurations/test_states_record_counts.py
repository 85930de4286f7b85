"""Record counts count what each direction reads, on the side it reads (issue 15 item 6): Salesforce records
where Salesforce is a source, Outlook items where Outlook is the source (both for two-way), and the page says
which. Against the sandbox's Salesforce, EWS and Graph emulators, through the product's own connectors."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.urls import reverse
from exchangelib import BASIC, IMPERSONATION, Account, Build, Configuration, Credentials, Version
from simple_salesforce import Salesforce

from configurations.counts import record_counts
from sandbox.demo import PASSWORD, SERVICE_ACCOUNT
from sync.connections import open_mailbox
from sync.models import Connection
from tests.e2e.outlook import EwsOutlook, GraphOutlook
from tests.factories import make_configuration
from users.services import add_sync_user, set_exchange_route

pytestmark = pytest.mark.django_db

OUTLOOK_WINS = {"direction": "outlook_to_salesforce", "conflict_behavior": "outlook_wins"}
BOTH = {"direction": "both", "conflict_behavior": "salesforce_wins"}


def _http(sandbox) -> requests.Session:
    session = requests.Session()
    session.verify, session.trust_env = str(sandbox.ca_path), False
    return session


def person(sandbox, protocol: str = "ews"):
    """A sandbox user known to the product, with Salesforce as them and their mailbox through `protocol`."""
    email = f"u{uuid.uuid4().hex[:8]}@sandbox.test"
    created = sandbox.hub.create_user(
        username=email, email=email, first_name="Pat", last_name="Count", profile="Standard User"
    )
    user = add_sync_user(
        {
            "salesforce_id": created["salesforce_id"],
            "username": email,
            "email": email,
            "name": "Pat Count",
            "profile": "Standard User",
        }
    )
    token = (
        _http(sandbox)
        .post(
            f"{sandbox.salesforce_url}/services/oauth2/token",
            data={"grant_type": "password", "client_id": "tests", "username": email, "password": PASSWORD},
        )
        .json()
    )
    salesforce = Salesforce(
        instance_url=token["instance_url"], session_id=token["access_token"], session=_http(sandbox), version="62.0"
    )
    if protocol == "graph":
        set_exchange_route(user, "graph")
        user.refresh_from_db()
        outlook = GraphOutlook(
            sandbox.graph_url, json.loads(sandbox.graph_app_path.read_text()), email, str(sandbox.ca_path)
        )
    else:
        config = Configuration(
            service_endpoint=sandbox.ews_endpoint,
            auth_type=BASIC,
            credentials=Credentials(SERVICE_ACCOUNT, PASSWORD),
            version=Version(build=Build(15, 1, 2507, 6)),
        )
        outlook = EwsOutlook(
            Account(primary_smtp_address=email, config=config, autodiscover=False, access_type=IMPERSONATION)
        )
    return user, salesforce, outlook


def soon(days: int, hours: int = 10) -> datetime:
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=days, hours=hours)


def salesforce_events(salesforce, count: int) -> None:
    for number in range(count):
        salesforce.Event.create(
            {
                "Subject": f"SF event {number}",
                "StartDateTime": soon(number + 1).isoformat(),
                "EndDateTime": soon(number + 1, 11).isoformat(),
            }
        )


def by_object(answers) -> dict:
    return {a.object: {r.side: r for r in a.reads} for a in answers}


@pytest.mark.parametrize("protocol", ["ews", "graph"])
def test_outlook_to_salesforce_events_count_the_outlook_items_in_scope(connected, protocol):
    user, salesforce, outlook = person(connected, protocol)
    salesforce_events(salesforce, 4)  # what the old preview counted: none of them would be read
    outlook.create_event("In scope", soon(2), soon(2, 11))
    outlook.create_event("Also in scope", soon(3), soon(3, 11))
    outlook.create_event("Private: skipped", soon(4), soon(4, 11), private=True)
    outlook.create_event("Past the window", soon(60), soon(60, 11))
    configuration = make_configuration(
        "Outlook events",
        data_settings={"events": OUTLOOK_WINS},
        data_sets={"events": {"days_back": 7, "days_ahead": 30}},
    )

    (events,) = record_counts(configuration, user)

    assert (events.object, events.direction) == ("events", "outlook_to_salesforce")
    assert [r.side for r in events.reads] == ["outlook"]  # Salesforce is not a source here
    (outlook_count,) = events.reads
    assert (outlook_count.count, outlook_count.error) == (2, "")
    assert outlook_count.where == "Outlook events in the primary calendar"


def test_both_ways_counts_each_side_and_a_missing_folder_is_not_created(connected):
    user, salesforce, outlook = person(connected)
    for number in range(3):
        salesforce.Contact.create({"FirstName": f"C{number}", "LastName": "Mine"})
    salesforce_events(salesforce, 2)
    outlook.create_event("Outlook only", soon(1), soon(1, 11))
    configuration = make_configuration(
        "Both", data_settings={"contacts": BOTH, "events": BOTH}, data_sets={"contacts": {"record_limit": 2}}
    )

    counts = by_object(record_counts(configuration, user))

    contacts, events = counts["contacts"], counts["events"]
    assert (contacts["salesforce"].count, contacts["salesforce"].matching, contacts["salesforce"].limited) == (
        2,
        3,
        True,
    )
    assert contacts["outlook"].count == 0
    assert "'Salesforce_Sync' is not in the mailbox: a first sync or a reset creates it" in contacts["outlook"].note
    assert (events["salesforce"].count, events["outlook"].count) == (2, 1)
    assert open_mailbox(user).find_contacts_folder("Salesforce_Sync") is None  # counting created nothing

    outlook.create_contact("Olga", "Outlook", "olga@example.com")
    outlook.create_contact("Otto", "Outlook")
    assert by_object(record_counts(configuration, user))["contacts"]["outlook"].count == 2


def test_the_page_says_which_side_each_count_is_from(admin_client, connected):
    user, salesforce, outlook = person(connected)
    salesforce_events(salesforce, 3)
    salesforce.Task.create({"Subject": "Call back", "Status": "Not Started"})
    outlook.create_task("Outlook task")
    outlook.create_task("Another")
    configuration = make_configuration(
        "Page", data_settings={"events": {"direction": "salesforce_to_outlook"}, "tasks": OUTLOOK_WINS}
    )
    response = admin_client.post(
        reverse("configurations:preview", args=[configuration.pk]), {"user": user.username}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "<strong>3</strong> records: Salesforce events" in body
    assert "<strong>2</strong> items: Outlook tasks" in body
    assert "Salesforce tasks" not in body and "Outlook events" not in body
    assert "Salesforce to Outlook" in body and "Outlook to Salesforce" in body


def test_an_end_without_a_connection_is_named_and_the_other_still_counted(admin_client, connected):
    user, salesforce, _ = person(connected)
    salesforce_events(salesforce, 1)
    Connection.objects.filter(kind__in=[Connection.Kind.EXCHANGE, Connection.Kind.GRAPH]).delete()
    configuration = make_configuration("Half", data_settings={"events": BOTH})
    (events,) = record_counts(configuration, user)
    reads = {r.side: r for r in events.reads}
    assert reads["salesforce"].count == 1
    assert reads["outlook"].count is None
    assert reads["outlook"].error.startswith("No Exchange connection to ask for the mailbox.")

    only_outlook = make_configuration("Outlook only", data_settings={"tasks": OUTLOOK_WINS})
    response = admin_client.post(reverse("configurations:preview", args=[only_outlook.pk]), {"user": user.username})
    assert response.content.decode().count("No Exchange connection to ask for the mailbox.") == 1


def test_the_api_answers_the_same_counts(api_client, connected):
    user, salesforce, outlook = person(connected)
    salesforce_events(salesforce, 2)
    outlook.create_task("Outlook task")
    configuration = make_configuration(
        "API", data_settings={"events": {"direction": "salesforce_to_outlook"}, "tasks": OUTLOOK_WINS}
    )
    url = reverse("api:configuration-record-counts", args=[configuration.pk])
    response = api_client.get(url, {"user": user.username})
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["user"] == user.pk
    reads = {o["object"]: [(r["side"], r["count"]) for r in o["reads"]] for o in answer["objects"]}
    assert reads == {"events": [("salesforce", 2)], "tasks": [("outlook", 1)]}

    missing = api_client.get(url)
    assert missing.status_code == 400 and "Name the synced user" in missing.json()["user"][0]
    unknown = api_client.get(url, {"user": "nobody@example.com"})
    assert unknown.status_code == 400 and unknown.json()["user"] == ["No synced user matches “nobody@example.com”."]
    gone = api_client.get(reverse("api:configuration-record-counts", args=[configuration.pk + 1000]),
                          {"user": user.username})
    assert gone.status_code == 404


def test_the_api_says_when_no_end_can_be_asked(api_client, connected):
    user, _, _ = person(connected)
    configuration = make_configuration("Nothing to ask", data_settings={"events": BOTH})
    Connection.objects.all().delete()
    response = api_client.get(reverse("api:configuration-record-counts", args=[configuration.pk]),
                              {"user": user.username})
    assert response.status_code == 503 and response["Retry-After"] == "60"
    assert "No Salesforce connection" in response.json()["detail"]

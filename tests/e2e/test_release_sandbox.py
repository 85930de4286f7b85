"""Keep them and unlink, against the sandbox (issue 18 item 1): narrowing a data set with "keep" leaves the Outlook
copies of the records that left it, untouched by later syncs (edits on both sides, full reads, a reset), never
created in Salesforce; widening it again relinks them without a duplicate; with "delete" they are deleted."""

from io import StringIO

import pytest
from django.core.management import call_command

from configurations.models import OutlookConfiguration
from configurations.services import update_configuration
from sync.explorer import explain_record
from sync.models import RecordLink
from sync.previews import compute_preview, request_dry_run
from users.models import UserObjectState

pytestmark = pytest.mark.e2e

FRANCE = {"data_sets": {"contacts": {"filters": [{"field": "MailingCountry", "op": "equals", "value": "France"}]}}}
EVERYONE = {"data_sets": {"contacts": {"filters": []}}}


def sync(person, *extra):
    call_command("sync_user", person.username, "--objects", "contacts", *extra, stdout=StringIO())


def setup(world):
    person = world.person()
    world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    ada = person.salesforce.Contact.create({"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com",
                                            "MailingCountry": "France"})
    alan = person.salesforce.Contact.create({"FirstName": "Alan", "LastName": "Turing", "Email": "alan@example.com",
                                             "MailingCountry": "England"})
    sync(person)
    assert sorted(c["surname"] for c in person.outlook.contacts()) == ["Lovelace", "Turing"]
    configuration = OutlookConfiguration.objects.get(direct_users=person.sync_user)
    return person, configuration, ada["id"], alan["id"]


def salesforce_contacts(person) -> list[str]:
    owner = person.sync_user.salesforce_id
    rows = person.salesforce.query_all(f"SELECT LastName FROM Contact WHERE OwnerId = '{owner}'")["records"]  # noqa: S608
    return sorted(r["LastName"] for r in rows)


def turing(person) -> list[dict]:
    return [c for c in person.outlook.contacts() if c["surname"] == "Turing"]


def test_release_keep_holds_through_syncs_and_a_reset_then_relinks(either_world):
    person, configuration, _ada, alan = setup(either_world)
    update_configuration(configuration, FRANCE, on_scope_exit="keep")
    assert UserObjectState.objects.get(user=person.sync_user, object="contacts").release_scope_exits
    dry = compute_preview(request_dry_run(person.sync_user).pk)
    assert dry.result["objects"]["contacts"]["delete"] == {"salesforce": 0, "outlook": 0}, "a dry run tells it true"
    sync(person)

    kept = turing(person)
    assert len(kept) == 1, "the copy of the record that left the data set is kept"
    kept_id = kept[0]["id"]
    link = RecordLink.objects.get(user=person.sync_user, salesforce_id=alan)
    assert link.state == "released"
    assert not UserObjectState.objects.get(user=person.sync_user, object="contacts").release_scope_exits
    explained = explain_record(person.sync_user, "contacts", salesforce_id=alan)
    assert explained.verdict == "out_of_scope" and "keep them and unlink" in " ".join(explained.reasons)

    # Edited on both sides, synced incrementally, in full after a reset: never written, never sent to Salesforce.
    person.outlook.update_contact(kept_id, job_title="Kept title")
    person.salesforce.Contact.update(alan, {"Title": "Codebreaker"})
    sync(person)
    sync(person, "--reset")
    sync(person)
    kept = turing(person)
    assert [c["job_title"] for c in kept] == ["Kept title"]
    assert salesforce_contacts(person) == ["Lovelace", "Turing"], "not created in Salesforce"
    assert RecordLink.objects.get(user=person.sync_user, salesforce_id=alan).state == "released"

    # Widened again: linked again in place, Salesforce's version written (it wins), no duplicate on either side.
    update_configuration(configuration, EVERYONE)
    sync(person)
    kept = turing(person)
    assert len(kept) == 1 and kept[0]["job_title"] == "Codebreaker"
    assert salesforce_contacts(person) == ["Lovelace", "Turing"]
    link = RecordLink.objects.get(user=person.sync_user, salesforce_id=alan)
    assert link.state == "linked"
    person.salesforce.Contact.update(alan, {"Title": "Mathematician"})
    sync(person)
    assert [c["job_title"] for c in turing(person)] == ["Mathematician"]


def test_release_delete_deletes_the_copies(world):
    person, configuration, _ada, alan = setup(world)
    update_configuration(configuration, FRANCE, on_scope_exit="delete")
    sync(person)
    assert turing(person) == []
    assert not RecordLink.objects.filter(user=person.sync_user, salesforce_id=alan).exists()
    assert salesforce_contacts(person) == ["Lovelace", "Turing"]

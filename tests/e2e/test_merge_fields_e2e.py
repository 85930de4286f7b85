"""Field-level merge end to end (issue 19, part 2), on both Exchange protocols: an assistant changes a contact's job
title in Outlook while the rep changes its department in Salesforce, and both changes survive on both sides; the
same field changed on both sides takes the winner's value; the run page lists the
merge with the fields taken from each side; the next sync writes nothing."""

import pytest

from tests.e2e.test_sync_user import last_run, only, sf_rows, sync

pytestmark = pytest.mark.e2e

MERGING = {"direction": "both", "conflict_behavior": "salesforce_wins", "merge_fields": True}


def _salesforce_contact(person, email: str) -> dict:
    soql = f"SELECT Id, Title, Department FROM Contact WHERE Email = '{email}'"  # noqa: S608 - the test's own address
    return only(sf_rows(person, soql))


def _outlook_contact(person, item_id: str) -> dict:
    (contact,) = [c for c in person.outlook.contacts() if c["id"] == item_id]
    return contact


def test_changes_to_different_fields_on_each_side_are_both_kept(either_world, client, support_user):
    world = either_world
    person = world.person()
    world.configure(person, contacts=MERGING)
    item_id = person.outlook.create_contact("Ann", "Lee", "ann.lee@example.com")
    assert sync(person) == 0
    contact = _salesforce_contact(person, "ann.lee@example.com")

    person.outlook.update_contact(item_id, job_title="Head of Buying")  # the assistant, in Outlook
    person.salesforce.Contact.update(contact["Id"], {"Department": "Purchasing"})  # the rep, in Salesforce
    assert sync(person) == 0
    contact = _salesforce_contact(person, "ann.lee@example.com")
    assert (contact["Title"], contact["Department"]) == ("Head of Buying", "Purchasing")
    outlook = _outlook_contact(person, item_id)
    assert (outlook["job_title"], outlook["department"]) == ("Head of Buying", "Purchasing")
    run = last_run(person, "contacts")
    assert run.counts["merged_total"] == 1
    (merged,) = run.counts["merged"]
    assert merged["from_outlook"] == ["title"] and merged["from_salesforce"] == ["department"]
    client.force_login(support_user)
    page = client.get(f"/sync/runs/{run.pk}/").content.decode()
    assert "Merged conflicts" in page and contact["Id"] in page

    assert sync(person) == 0  # converged: nothing left to write
    after = last_run(person, "contacts").counts
    assert not after["salesforce"] and not after["outlook"]

    # The same field on both sides: Salesforce, the winner, keeps its value on both sides.
    person.outlook.update_contact(item_id, job_title="Buyer")
    person.salesforce.Contact.update(contact["Id"], {"Title": "Chief Buyer", "Department": "Procurement"})
    assert sync(person) == 0
    contact = _salesforce_contact(person, "ann.lee@example.com")
    outlook = _outlook_contact(person, item_id)
    assert (contact["Title"], contact["Department"]) == ("Chief Buyer", "Procurement")
    assert (outlook["job_title"], outlook["department"]) == ("Chief Buyer", "Procurement")

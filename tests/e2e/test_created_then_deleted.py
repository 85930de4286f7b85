"""An Outlook item the sync has just created, deleted by the user before the next sync: the deletion reaches
Salesforce (issue 20, item 1).

Exchange's change feeds (EWS SyncFolderItems, Graph delta) say nothing of an item created and deleted between two
reads, and a run reads its feed before making its own creates, so the next feed never mentions such an item. The
sync verifies the items it created in the previous run instead (docs/syncing.md, "How deletions are noticed").
Each scenario runs with the mailbox on EWS and on Graph, for contacts, events and tasks.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from sync.models import RecordLink, SyncRun
from tests.e2e.test_sync_user import sync

pytestmark = pytest.mark.e2e


ALL_RECORDS = {"contacts": "SELECT Id FROM Contact", "events": "SELECT Id FROM Event", "tasks": "SELECT Id FROM Task"}


def create_in_salesforce(person, object_type: str) -> str:
    """A Salesforce record of `object_type`, inside the data set; returns its id."""
    if object_type == "contacts":
        return person.salesforce.Contact.create({"FirstName": "Ada", "LastName": "Lovelace"})["id"]
    if object_type == "events":
        start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
        return person.salesforce.Event.create({
            "Subject": "Quarterly review", "StartDateTime": start.isoformat(),
            "EndDateTime": (start + timedelta(hours=1)).isoformat()})["id"]
    due = (timezone.now() + timedelta(days=3)).date().isoformat()
    return person.salesforce.Task.create({"Subject": "Send proposal", "ActivityDate": due,
                                          "Status": "Not Started"})["id"]


def salesforce_ids(person, object_type: str) -> list[str]:
    return [row["Id"] for row in person.salesforce.query_all(ALL_RECORDS[object_type])["records"]]


def outlook_items(person, object_type: str) -> list[dict]:
    return getattr(person.outlook, object_type)()


def delete_in_outlook(person, object_type: str, item_id: str) -> None:
    getattr(person.outlook, f"delete_{object_type.removesuffix('s')}")(item_id)


@pytest.mark.parametrize("object_type", ["contacts", "events", "tasks"])
def test_an_item_the_sync_created_and_the_user_deleted_at_once_is_deleted_in_salesforce(either_world, object_type):
    world = either_world
    person = world.person()
    world.configure(person, **{object_type: {"direction": "both", "conflict_behavior": "salesforce_wins",
                                             "propagate_deletions": True}})
    record_id = create_in_salesforce(person, object_type)

    assert sync(person) == 0
    (item,) = outlook_items(person, object_type)
    assert salesforce_ids(person, object_type) == [record_id]

    delete_in_outlook(person, object_type, item["id"])
    assert sync(person) == 0
    run = SyncRun.objects.filter(user=person.sync_user, object=object_type).latest("pk")
    assert run.counts["salesforce"] == {"delete": 1}
    assert salesforce_ids(person, object_type) == []
    assert not RecordLink.objects.filter(user=person.sync_user, object=object_type).exists()

    # Nothing comes back: neither the next incremental sync nor a reset re-creates it on either side.
    assert sync(person) == 0
    assert sync(person, "--reset") == 0
    assert outlook_items(person, object_type) == []
    assert salesforce_ids(person, object_type) == []

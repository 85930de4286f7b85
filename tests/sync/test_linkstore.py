"""The Django link store behaves like the engine's in-memory one, and survives a reload from the database."""

import pytest

from sync.engine import DataSetting, Direction, Link, LinkState, Side, SyncObject, run_sync
from sync.engine.memory import LinkConflictError, MemorySide, MemoryWatermarks
from sync.linkstore import DjangoLinkStore, DjangoWatermarks
from sync.models import RecordLink
from users.models import UserObjectState
from users.services import add_sync_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return add_sync_user(
        {"salesforce_id": "005000000000001", "username": "ben@example.com", "email": "ben@example.com"}
    )


def test_commit_inserts_updates_and_removes(user):
    store = DjangoLinkStore(user.pk, "contacts")
    a, b = store.commit([Link("003A", "OL-A"), Link("003B", None, LinkState.PENDING_CREATE_OUTLOOK)], [])
    assert a.link_id and b.link_id and a.link_id != b.link_id
    assert store.by_salesforce_id("003A") == a and store.by_outlook_id("OL-A") == a
    assert store.revisit() == [b]

    resolved = b.replace(state=LinkState.LINKED).with_side(Side.OUTLOOK, "OL-B", "ck1")
    (saved,) = store.commit([resolved], [a])
    assert saved.link_id == b.link_id
    assert store.by_salesforce_id("003A") is None and store.by_outlook_id("OL-B") == saved
    assert store.revisit() == []

    reloaded = DjangoLinkStore(user.pk, "contacts")
    assert list(reloaded) == [saved]
    assert RecordLink.objects.get().outlook_version == "ck1"


def test_swapping_ids_between_links_in_one_commit(user):
    store = DjangoLinkStore(user.pk, "events")
    a, b = store.commit([Link("00UA", "OL-1"), Link("00UB", "OL-2")], [])
    store.commit([a.with_side(Side.OUTLOOK, "OL-2", None), b.with_side(Side.OUTLOOK, "OL-1", None)], [])
    reloaded = DjangoLinkStore(user.pk, "events")
    assert reloaded.by_salesforce_id("00UA").outlook_id == "OL-2"
    assert reloaded.by_salesforce_id("00UB").outlook_id == "OL-1"


def test_duplicate_id_is_refused_and_nothing_changes(user):
    store = DjangoLinkStore(user.pk, "contacts")
    store.commit([Link("003A", "OL-A")], [])
    with pytest.raises(LinkConflictError):
        store.commit([Link("003B", "OL-B"), Link("003C", "OL-A")], [])
    assert RecordLink.objects.count() == 1
    assert store.by_salesforce_id("003B") is None
    assert len(DjangoLinkStore(user.pk, "contacts")) == 1


def test_links_are_per_user_and_object(user):
    other = add_sync_user({"salesforce_id": "005000000000002", "username": "eva@example.com",
                           "email": "eva@example.com"})
    DjangoLinkStore(user.pk, "contacts").commit([Link("003A", "OL-A")], [])
    DjangoLinkStore(other.pk, "contacts").commit([Link("003A", "OL-A")], [])
    DjangoLinkStore(user.pk, "tasks").commit([Link("00TA", "OL-A")], [])
    store = DjangoLinkStore(user.pk, "contacts")
    store.clear()
    assert len(DjangoLinkStore(user.pk, "contacts")) == 0
    assert len(DjangoLinkStore(other.pk, "contacts")) == 1 and len(DjangoLinkStore(user.pk, "tasks")) == 1


def test_tombstones_round_trip(user):
    store = DjangoLinkStore(user.pk, "contacts")
    (link,) = store.commit([Link("003A", "OL-A", gone=Side.OUTLOOK, gone_out_of_scope=True, needs_retry=True)], [])
    (again,) = DjangoLinkStore(user.pk, "contacts")
    assert again == link


def test_unseen_outlook_creates_round_trip(user):
    store = DjangoLinkStore(user.pk, "contacts")
    (link,) = store.commit([Link("003A", "OL-A", outlook_unseen=True)], [])
    (again,) = DjangoLinkStore(user.pk, "contacts")
    assert again == link and RecordLink.objects.get().outlook_unseen


def test_an_outlook_copy_deleted_before_the_next_feed_read_is_deleted_in_salesforce(user):
    """Issue 20: the copy the sync created is deleted before the next run; the Django store keeps the mark between
    runs, so the next run checks the item and propagates the deletion, then clears the mark."""
    sf, ol = MemorySide(Side.SALESFORCE, "contacts"), MemorySide(Side.OUTLOOK, "contacts")
    sf_id = sf.add({"first_name": "Ada", "last_name": "Lovelace"})
    setting, marks = DataSetting(Direction.BOTH), MemoryWatermarks()
    run_sync(SyncObject.CONTACTS, setting, sf, ol, DjangoLinkStore(user.pk, "contacts"), marks, full=True)
    assert RecordLink.objects.get().outlook_unseen

    run_sync(SyncObject.CONTACTS, setting, sf, ol, DjangoLinkStore(user.pk, "contacts"), marks)
    assert not RecordLink.objects.get().outlook_unseen  # seen: a later delete is reported by the feed

    sf.add({"first_name": "Grace", "last_name": "Hopper"})
    run_sync(SyncObject.CONTACTS, setting, sf, ol, DjangoLinkStore(user.pk, "contacts"), marks)
    grace = RecordLink.objects.get(outlook_unseen=True)
    ol.remove(grace.outlook_id)
    outcome = run_sync(SyncObject.CONTACTS, setting, sf, ol, DjangoLinkStore(user.pk, "contacts"), marks)
    assert outcome.applied[("salesforce", "delete")] == 1
    assert list(sf.live()) == [sf_id]
    assert list(RecordLink.objects.values_list("salesforce_id", "outlook_unseen")) == [(sf_id, False)]


def test_watermarks_are_kept_in_the_state_row(user):
    state = UserObjectState.objects.get(user=user, object="contacts")
    marks = DjangoWatermarks(state)
    assert marks.get(Side.SALESFORCE) is None and marks.get(Side.OUTLOOK) is None
    marks.set(Side.SALESFORCE, "2026-11-22T10:15:30.250+0000")
    marks.set(Side.OUTLOOK, "H4sIAAAA-sync-state")
    fresh = DjangoWatermarks(UserObjectState.objects.get(pk=state.pk))
    assert fresh.get(Side.SALESFORCE) == "2026-11-22T10:15:30.250Z"
    assert fresh.get(Side.OUTLOOK) == "H4sIAAAA-sync-state"
    fresh.set(Side.SALESFORCE, None)
    assert DjangoWatermarks(UserObjectState.objects.get(pk=state.pk)).get(Side.SALESFORCE) is None


def test_engine_runs_on_the_django_store(user):
    """§5 `both`: creates flow both ways, a second sync writes nothing, and the links survive a reload."""
    sf, ol = MemorySide(Side.SALESFORCE, "contacts"), MemorySide(Side.OUTLOOK, "contacts")
    sf.add({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"})
    ol.add({"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"})
    setting = DataSetting(Direction.BOTH)
    marks = MemoryWatermarks()

    first = run_sync(SyncObject.CONTACTS, setting, sf, ol, DjangoLinkStore(user.pk, "contacts"), marks, full=True)
    assert first.ok and first.writes() == 2
    assert RecordLink.objects.filter(user=user, state="linked").count() == 2

    second = run_sync(SyncObject.CONTACTS, setting, sf, ol, DjangoLinkStore(user.pk, "contacts"), marks)
    assert second.ok and second.writes() == 0

    ol_id = next(iter(ol.live()))
    ol.edit(ol_id, title="Rear Admiral")
    third = run_sync(SyncObject.CONTACTS, setting, sf, ol, DjangoLinkStore(user.pk, "contacts"), marks)
    assert third.writes(Side.SALESFORCE) == 1
    assert {r.fields.get("title") for r in sf.live().values()} == {None, "Rear Admiral"}

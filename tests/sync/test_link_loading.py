"""An incremental run reads only the links it needs (issue 14): those of the records either end reported, pending
creates, failed writes and unseen Outlook items; the mass-delete guard counts the links instead of reading them; a
full run still reads them all. The run's outcome is the same as with every link in memory (random histories played
on both stores end alike)."""

import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import sync.linkstore
import sync.runner
from sync.engine import DataSetting, Direction, Link, LinkState, Side, SyncObject, run_sync
from sync.engine.memory import MemoryLinkStore, MemorySide, MemoryWatermarks
from sync.linkstore import PREFETCH_BATCH, DjangoLinkStore
from sync.models import RecordError, RecordLink, SyncRun
from sync.queue import queue_run
from sync.runner import Clients, execute_run
from tests.sync.test_runner import FakeEnd, state_of, user  # noqa: F401 - the fixture
from users.models import SyncState

pytestmark = pytest.mark.django_db

MANY = 150


class CountingStore(DjangoLinkStore):
    """The runner's link store, remembered so a test can see how many links a run read."""

    made: list["CountingStore"] = []

    def __init__(self, user_id, object_type):
        super().__init__(user_id, object_type)
        CountingStore.made.append(self)


@pytest.fixture
def stores(monkeypatch):
    CountingStore.made = []
    monkeypatch.setattr(sync.runner, "DjangoLinkStore", CountingStore)
    return CountingStore.made


@pytest.fixture
def synced(user):  # noqa: F811 - the fixture imported above
    """A user with MANY contacts linked both ways, past the runs that check the items the first sync created."""
    ends = Clients(salesforce=FakeEnd(Side.SALESFORCE), exchange=FakeEnd(Side.OUTLOOK))
    sf = ends.salesforce.sides["contacts"]
    for n in range(MANY):
        sf.add({"first_name": f"P{n}", "last_name": "Person", "email": f"p{n}@example.com"})
    first = execute_run(queue_run(user, "contacts", SyncRun.Trigger.COMMAND).pk, clients=ends)
    assert first.full and first.counts["outlook"] == {"create": MANY}
    execute_run(queue_run(user, "contacts", SyncRun.Trigger.SCHEDULE).pk, clients=ends)  # clears the unseen marks
    assert not RecordLink.objects.filter(user=user, outlook_unseen=True).exists()
    return ends


def incremental(user, ends):  # noqa: F811
    run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.SCHEDULE).pk, clients=ends)
    assert not run.full and run.state == SyncRun.State.SUCCEEDED, run.error_message
    return run


def read_by(stores) -> int:
    (store,) = stores
    return store.loaded


def test_an_idle_run_reads_no_link(user, synced, stores):  # noqa: F811
    run = incremental(user, synced)
    assert run.counts["salesforce"] == run.counts["outlook"] == {}
    assert read_by(stores) == 0


def test_a_salesforce_update_reads_only_its_link(user, synced, stores):  # noqa: F811
    sf, ol = synced.salesforce.sides["contacts"], synced.exchange.sides["contacts"]
    changed = sorted(sf.live())[7]
    sf.edit(changed, title="Head of Buying")
    run = incremental(user, synced)
    assert run.counts["outlook"] == {"update": 1}
    (copy,) = [r for r in ol.live().values() if r.salesforce_id == changed]
    assert copy.fields["title"] == "Head of Buying"
    assert read_by(stores) == 1


@pytest.mark.parametrize("deleting", [Side.SALESFORCE, Side.OUTLOOK])
def test_a_deletion_on_either_side_deletes_the_copy(user, synced, stores, deleting):  # noqa: F811
    sides = {Side.SALESFORCE: synced.salesforce.sides["contacts"], Side.OUTLOOK: synced.exchange.sides["contacts"]}
    link = RecordLink.objects.filter(user=user, object="contacts").order_by("pk")[3]
    gone = link.salesforce_id if deleting is Side.SALESFORCE else link.outlook_id
    sides[deleting].remove(gone)
    run = incremental(user, synced)
    assert run.counts[deleting.other.value] == {"delete": 1}
    other_id = link.outlook_id if deleting is Side.SALESFORCE else link.salesforce_id
    assert other_id not in sides[deleting.other].live()
    assert not RecordLink.objects.filter(pk=link.pk).exists()
    assert RecordLink.objects.filter(user=user, object="contacts").count() == MANY - 1
    assert read_by(stores) == 1


def test_a_record_leaving_the_data_set_removes_its_copy(user, synced, stores):  # noqa: F811
    sf, ol = synced.salesforce.sides["contacts"], synced.exchange.sides["contacts"]
    leaving = sorted(sf.live())[11]
    sf.set_scope(leaving, False)
    run = incremental(user, synced)
    assert run.counts["outlook"] == {"delete": 1}
    assert not [r for r in ol.live().values() if r.salesforce_id == leaving]
    assert read_by(stores) == 1


def test_a_failed_write_is_retried_by_reading_its_link(user, synced, stores):  # noqa: F811
    sf, ol = synced.salesforce.sides["contacts"], synced.exchange.sides["contacts"]
    changed = sorted(sf.live())[5]
    sf.edit(changed, title="Buyer")
    ol.fail_next(1, code="ErrorServerBusy", transient=True)
    failed = incremental(user, synced)
    assert RecordError.objects.get(run=failed).code == "ErrorServerBusy"
    assert RecordLink.objects.get(user=user, salesforce_id=changed).needs_retry
    stores.clear()

    retried = incremental(user, synced)
    assert retried.counts["outlook"] == {"update": 1}
    (copy,) = [r for r in ol.live().values() if r.salesforce_id == changed]
    assert copy.fields["title"] == "Buyer"
    assert not RecordLink.objects.get(user=user, salesforce_id=changed).needs_retry
    assert read_by(stores) == 1  # the link to retry, read through the revisit query


def test_a_pending_create_is_resolved_without_a_duplicate(user, synced, stores):  # noqa: F811
    sf, ol = synced.salesforce.sides["contacts"], synced.exchange.sides["contacts"]
    sf.add({"first_name": "New", "last_name": "Person", "email": "new@example.com"})
    ol.crash_after_next_write = True  # the copy is created, then the worker dies before the link is committed
    crashed = execute_run(queue_run(user, "contacts", SyncRun.Trigger.SCHEDULE).pk, clients=synced)
    assert crashed.error_code == "internal_error"
    assert RecordLink.objects.filter(user=user, state=LinkState.PENDING_CREATE_OUTLOOK).count() == 1
    stores.clear()

    resumed = incremental(user, synced)
    assert resumed.counts["outlook"] == {}  # found by its stamp, not created again
    assert len(ol.live()) == MANY + 1
    assert not RecordLink.objects.filter(user=user).exclude(state=LinkState.LINKED).exists()
    assert RecordLink.objects.filter(user=user).count() == MANY + 1
    assert read_by(stores) == 1


def test_outlook_items_linked_by_a_run_are_checked_by_the_next_one(user, synced, stores):  # noqa: F811
    sf, ol = synced.salesforce.sides["contacts"], synced.exchange.sides["contacts"]
    new = sf.add({"first_name": "Short", "last_name": "Lived", "email": "short@example.com"})
    incremental(user, synced)
    (copy,) = [i for i, r in ol.live().items() if r.salesforce_id == new]
    assert RecordLink.objects.get(user=user, outlook_id=copy).outlook_unseen
    ol.remove(copy)  # the feed never reports an item created and deleted between two reads
    stores.clear()

    run = incremental(user, synced)
    assert run.counts["salesforce"] == {"delete": 1} and new not in sf.live()
    assert read_by(stores) == 1


def test_the_mass_delete_guard_counts_the_links_it_does_not_read(user, synced, stores):  # noqa: F811
    sf = synced.salesforce.sides["contacts"]
    for record_id in sorted(sf.live())[: MANY * 2 // 3]:
        sf.remove(record_id)
    with CaptureQueriesContext(connection) as queries:
        run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.SCHEDULE).pk, clients=synced)
    assert run.error_code == "guard_mass_delete" and state_of(user).state == SyncState.NEEDS_ATTENTION
    assert f"{MANY} synced" in run.error_message
    assert read_by(stores) == MANY * 2 // 3
    assert any("COUNT(" in q["sql"] and "sync_recordlink" in q["sql"] for q in queries.captured_queries)
    assert RecordLink.objects.filter(user=user).count() == MANY


def test_a_full_run_reads_every_link(user, synced, stores):  # noqa: F811
    run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.RESET, full=True).pk, clients=synced)
    assert run.full and run.state == SyncRun.State.SUCCEEDED
    assert run.counts["salesforce"] == run.counts["outlook"] == {}
    assert read_by(stores) == MANY


# ---- the store itself ----------------------------------------------------------------------------------------------


def links(n: int) -> list[Link]:
    return [Link(f"003{i:012d}", f"OL-{i}", salesforce_version="1", outlook_version="1", content_hash="h")
            for i in range(n)]


def test_prefetch_reads_in_batches_and_answers_without_asking_again(user):  # noqa: F811
    DjangoLinkStore(user.pk, "contacts").commit(links(PREFETCH_BATCH + 20), [])
    store = DjangoLinkStore(user.pk, "contacts")
    wanted = [f"003{i:012d}" for i in range(0, PREFETCH_BATCH + 20, 2)] + ["003NOTLINKED0000"]
    with CaptureQueriesContext(connection) as queries:
        store.prefetch(wanted, ["OL-1", "OL-3"])
    assert len(queries) == 2  # the Salesforce ids in one batch (under PREFETCH_BATCH), the Outlook ids in another
    with CaptureQueriesContext(connection) as queries:
        assert store.by_salesforce_id("003000000000004").outlook_id == "OL-4"
        assert store.by_salesforce_id("003NOTLINKED0000") is None
        assert store.by_outlook_id("OL-3").salesforce_id == "003000000000003"
    assert len(queries) == 0
    assert store.loaded == len(wanted) - 1 + 2


def test_prefetching_more_than_a_share_reads_the_whole_table_once(user, monkeypatch):  # noqa: F811
    monkeypatch.setattr(sync.linkstore, "READ_ALL_ABOVE", 25)
    DjangoLinkStore(user.pk, "contacts").commit(links(40), [])
    store = DjangoLinkStore(user.pk, "contacts")
    with CaptureQueriesContext(connection) as queries:
        store.prefetch([f"003{i:012d}" for i in range(20)], [f"OL-{i}" for i in range(20, 30)])
        assert store.by_outlook_id("OL-39").salesforce_id == "003000000000039"
        assert len(store) == 40 and store.by_outlook_id("OL-40") is None
    assert len(queries) == 1 and store.loaded == 40


def test_an_id_not_prefetched_is_still_answered(user):  # noqa: F811
    DjangoLinkStore(user.pk, "contacts").commit(links(30), [])
    store = DjangoLinkStore(user.pk, "contacts")
    assert store.by_outlook_id("OL-17").salesforce_id == "003000000000017"
    assert store.by_salesforce_id("003000000000017").outlook_id == "OL-17"
    assert store.by_outlook_id("OL-99") is None
    assert store.loaded == 1 and len(store) == 30


def test_commits_keep_the_answers_right_without_reading_again(user):  # noqa: F811
    DjangoLinkStore(user.pk, "contacts").commit(links(10), [])
    store = DjangoLinkStore(user.pk, "contacts")
    renamed, removed = store.by_salesforce_id("003000000000001"), store.by_salesforce_id("003000000000002")
    _, added = store.commit([renamed.replace(outlook_id="OL-new"), Link("003NEW000000000", "OL-added")], [removed])
    with CaptureQueriesContext(connection) as queries:
        assert store.by_outlook_id("OL-1") is None and store.by_outlook_id("OL-new").link_id == renamed.link_id
        assert store.by_salesforce_id("003000000000002") is None and store.by_outlook_id("OL-2") is None
        assert store.by_outlook_id("OL-added") == added
    assert len(queries) == 0
    assert len(store) == 10
    assert {link.outlook_id for link in store} == {f"OL-{i}" for i in range(10) if i not in (1, 2)} | {
        "OL-new", "OL-added"}


def test_revisit_and_unseen_are_read_in_one_query(user):  # noqa: F811
    pending = Link("003PENDING000000", None, state=LinkState.PENDING_CREATE_OUTLOOK)
    retry = Link("003RETRY00000000", "OL-retry", needs_retry=True)
    unseen = Link("003UNSEEN0000000", "OL-unseen", outlook_unseen=True)
    DjangoLinkStore(user.pk, "contacts").commit([*links(40), pending, retry, unseen], [])
    store = DjangoLinkStore(user.pk, "contacts")
    with CaptureQueriesContext(connection) as queries:
        assert {link.salesforce_id for link in store.revisit()} == {"003PENDING000000", "003RETRY00000000"}
        assert [link.outlook_id for link in store.marked_unseen()] == ["OL-unseen"]
    assert len(queries) == 1 and store.loaded == 3


def test_a_full_change_set_reads_every_link_once(user):  # noqa: F811
    """An incremental run whose end answers in full (an expired watermark) goes through every link."""
    sf, ol = MemorySide(Side.SALESFORCE), MemorySide(Side.OUTLOOK)
    setting, marks = DataSetting(Direction.BOTH), MemoryWatermarks()
    for n in range(12):
        sf.add({"first_name": f"P{n}", "last_name": "Person"})
    run_sync(SyncObject.CONTACTS, setting, sf, ol, DjangoLinkStore(user.pk, "contacts"), marks, full=True)
    run_sync(SyncObject.CONTACTS, setting, sf, ol, DjangoLinkStore(user.pk, "contacts"), marks)
    marks.set(Side.OUTLOOK, None)  # the Exchange sync state is lost: Outlook answers in full
    store = DjangoLinkStore(user.pk, "contacts")
    outcome = run_sync(SyncObject.CONTACTS, setting, sf, ol, store, marks)
    assert outcome.ok and outcome.writes() == 0
    assert store.loaded == 12 and store.reads <= 3


# ---- the same history on both stores -------------------------------------------------------------------------------


def _random_step(rng, sides):
    """One user action on one side: add, edit, delete, or move a record out of (or back into) the scope."""
    side = sides[rng.choice([Side.SALESFORCE, Side.OUTLOOK])]
    ids = sorted(side.items)
    action = rng.choice(["add", "add", "edit", "edit", "remove", "scope"] if ids else ["add"])
    if action == "add":
        n = rng.randrange(40)  # a small name space, so that some new records match existing ones
        side.add({"first_name": f"F{n}", "last_name": "Person", "email": f"p{n}@example.com"})
    elif action == "edit":
        side.edit(rng.choice(ids), title=f"T{rng.randrange(5)}")
    elif action == "remove":
        side.remove(rng.choice(ids))
    else:
        record_id = rng.choice(ids)
        side.set_scope(record_id, not side.items[record_id].in_scope)
    if rng.random() < 0.1:
        sides[rng.choice([Side.SALESFORCE, Side.OUTLOOK])].fail_next(1, code="BUSY", transient=True)


def _contents(side):
    return sorted(tuple(sorted((k, str(v)) for k, v in side.canonical(i).items())) for i in side.live())


@pytest.mark.parametrize("seed", range(4))
def test_a_random_history_ends_the_same_on_the_database_store_as_in_memory(user, seed):  # noqa: F811
    rng_memory, rng_database = random.Random(seed), random.Random(seed)
    setting = DataSetting(Direction.BOTH)
    worlds = []
    for rng in (rng_memory, rng_database):
        sides = {Side.SALESFORCE: MemorySide(Side.SALESFORCE), Side.OUTLOOK: MemorySide(Side.OUTLOOK)}
        for _ in range(15):
            _random_step(rng, sides)
        worlds.append((rng, sides, MemoryWatermarks()))
    in_memory = MemoryLinkStore()
    for run_number in range(14):
        outcomes = []
        for (rng, sides, marks), store in zip(worlds, (in_memory, DjangoLinkStore(user.pk, "contacts")), strict=True):
            outcome = run_sync(SyncObject.CONTACTS, setting, sides[Side.SALESFORCE], sides[Side.OUTLOOK], store,
                               marks, full=run_number == 0)
            outcomes.append((sorted(outcome.applied.items()), sorted((i.code, i.side) for i in outcome.issues),
                             outcome.refusal))
            for _ in range(rng.randrange(1, 6)):
                _random_step(rng, sides)
        assert outcomes[0] == outcomes[1], f"run {run_number}"
        (_, memory_sides, _), (_, database_sides, _) = worlds
        for side in (Side.SALESFORCE, Side.OUTLOOK):
            assert _contents(memory_sides[side]) == _contents(database_sides[side])
    stored = {(r.salesforce_id, r.outlook_id, r.state, r.needs_retry, r.outlook_unseen)
              for r in RecordLink.objects.filter(user=user, object="contacts")}
    assert stored == {(link.salesforce_id, link.outlook_id, link.state.value, link.needs_retry, link.outlook_unseen)
                      for link in in_memory}

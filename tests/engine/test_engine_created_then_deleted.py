"""An Outlook copy the sync has just created, deleted before the next feed read (issue 20, item 1).

Exchange's feeds say nothing of an item created and deleted between two reads, and a run reads its feed before it
creates anything, so the next feed never mentions such a copy. The in-memory Outlook side hides them the same way
(`MemorySide.feed_hides_short_lived`); the engine marks its Outlook creates on their links and checks them with one
`fetch` in the next incremental run, so the deletion is decided by the §5 rules like any other. The same holds for
an item matched by a run that died before storing its watermark.
"""

from __future__ import annotations

from collections.abc import Collection

import pytest
from engine_harness import BOTH, OL, S2O, SF, SF_WINS, World

from sync.engine import Guards, SideRecord
from sync.engine.memory import MemorySide, SimulatedCrash

RECORDS = {
    "contacts": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
    "events": {"subject": "Quarterly review", "start": "2026-03-02T09:00:00+00:00",
               "end": "2026-03-02T10:00:00+00:00"},
    "tasks": {"subject": "Call Bob", "due_date": "2026-03-02", "status": "Not Started"},
}


class CountingSide(MemorySide):
    """The Outlook side, counting `fetch` calls and the ids asked for."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fetches: list[set[str]] = []

    def fetch(self, record_ids: Collection[str]) -> dict[str, SideRecord]:
        self.fetches.append(set(record_ids))
        return super().fetch(record_ids)


def world_with(object_type: str, direction=BOTH, behavior=None, **options) -> World:
    world = World(object_type, direction, behavior, **options)
    world.ol = CountingSide(OL, world.object_type)
    return world


def created_copy(world: World, object_type: str, **fields) -> tuple[str, str]:
    """A Salesforce record, synced into Outlook by the last run: (salesforce id, outlook id)."""
    sf_id = world.sf.add({**RECORDS[object_type], **fields})
    assert world.sync().ok
    ol_id = world.counterpart(SF, sf_id)
    assert ol_id is not None and world.link_of(SF, sf_id).outlook_unseen
    return sf_id, ol_id


def test_the_in_memory_outlook_feed_hides_an_item_created_and_deleted_between_reads():
    side = MemorySide(OL)
    mark = side.changes(None).watermark
    kept, short_lived = side.add(RECORDS["contacts"]), side.add(RECORDS["contacts"])
    side.remove(short_lived)
    assert side.changes(mark).deleted == set()
    mark = side.changes(mark).watermark
    side.remove(kept)
    assert side.changes(mark).deleted == {kept}
    salesforce = MemorySide(SF)
    mark = salesforce.changes(None).watermark
    salesforce.remove(salesforce.add(RECORDS["contacts"]))
    assert len(salesforce.changes(mark).deleted) == 1  # queryAll reports every deletion


@pytest.mark.parametrize("object_type", list(RECORDS))
@pytest.mark.parametrize("first_full", [True, False])
def test_both_with_propagating_deletions_deletes_the_salesforce_record(object_type, first_full):
    world = world_with(object_type)
    if not first_full:
        world.sync()  # the copy is then made by an incremental run
    _, ol_id = created_copy(world, object_type)
    world.ol.remove(ol_id)
    outcome = world.sync()
    assert outcome.ok and outcome.applied[("salesforce", "delete")] == 1
    assert not world.sf.items and not world.ol.items and len(world.links) == 0
    world.reset()
    assert not world.sf.items and not world.ol.items  # a reset brings nothing back


@pytest.mark.parametrize("object_type", list(RECORDS))
def test_both_without_propagating_deletions_keeps_a_tombstone(object_type):
    world = world_with(object_type, propagate_deletions=False)
    sf_id, ol_id = created_copy(world, object_type)
    world.ol.remove(ol_id)
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w
    link = world.link_of(SF, sf_id)
    assert link.gone is OL and not link.outlook_unseen
    world.sf.edit(sf_id, **({"title": "Countess"} if object_type == "contacts" else {"location": "Room 4"}
                            if object_type == "events" else {"status": "Completed"}))
    _, ol_w = world.writes_during(world.sync)
    assert ol_w["create"] == 1  # re-created only once the Salesforce record changes


@pytest.mark.parametrize("object_type", list(RECORDS))
def test_salesforce_to_outlook_never_deletes_in_salesforce_nor_recreates_at_once(object_type):
    world = world_with(object_type, S2O)
    sf_id, ol_id = created_copy(world, object_type)
    world.ol.remove(ol_id)
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w
    assert sf_id in world.sf.items and world.link_of(SF, sf_id).gone is OL


def test_changed_in_salesforce_and_deleted_in_outlook_is_a_conflict_the_winner_decides():
    world = world_with("tasks", BOTH, SF_WINS)
    sf_id, ol_id = created_copy(world, "tasks")
    world.sf.edit(sf_id, status="Completed")
    world.ol.remove(ol_id)
    outcome = world.sync()
    assert [(c.kind, c.winner) for c in outcome.plan.conflicts] == [("changed_vs_deleted", SF)]
    again = world.counterpart(SF, sf_id)
    assert again not in (None, ol_id) and world.ol.canonical(again)["status"] == "Completed"
    assert world.link_of(SF, sf_id).outlook_unseen  # the new copy is checked by the next run in turn


def test_one_batched_fetch_for_the_copies_the_feed_does_not_mention_and_the_marks_are_cleared():
    world = world_with("contacts")
    world.sync()
    ids = [world.sf.add({**RECORDS["contacts"], "email": f"p{n}@example.com"}) for n in range(3)]
    world.sync()
    copies = [world.counterpart(SF, i) for i in ids]
    world.ol.remove(copies[0])
    world.ol.remove(copies[1])
    world.ol.fetches.clear()
    outcome = world.sync()
    # The feed reports the third copy (our create), so only the two it is silent about are fetched, in one call.
    assert world.ol.fetches == [set(copies[:2])]
    assert outcome.applied[("salesforce", "delete")] == 2 and list(world.sf.items) == [ids[2]]
    assert not any(link.outlook_unseen for link in world.links)
    world.ol.fetches.clear()
    world.sync()
    assert world.ol.fetches == []  # nothing marked: no call at all


def test_after_the_next_feed_read_a_deletion_is_reported_by_the_feed():
    world = world_with("contacts")
    _, ol_id = created_copy(world, "contacts")
    world.sync()
    world.ol.remove(ol_id)
    world.ol.fetches.clear()
    outcome = world.sync()
    assert world.ol.fetches == [] and outcome.applied[("salesforce", "delete")] == 1


def test_a_run_creating_more_copies_keeps_their_marks_for_the_next_run():
    world = world_with("contacts")
    first_sf, _ = created_copy(world, "contacts")
    second_sf = world.sf.add({**RECORDS["contacts"], "email": "grace@example.com"})
    world.sync()
    assert not world.link_of(SF, first_sf).outlook_unseen and world.link_of(SF, second_sf).outlook_unseen


def test_a_refused_or_crashed_run_keeps_the_marks():
    world = world_with("contacts", guards=Guards(min_deletes=1, max_delete_share=0.0))
    sf_id, ol_id = created_copy(world, "contacts")
    world.ol.remove(ol_id)
    assert world.sync().refusal is not None
    assert world.link_of(SF, sf_id).outlook_unseen
    world.guards = Guards.off()
    world.sf.crash_after_next_write = True
    with pytest.raises(SimulatedCrash):
        world.sync()
    assert world.link_of(SF, sf_id) is None or world.link_of(SF, sf_id).outlook_unseen
    outcome = world.sync()
    assert outcome.ok and not world.sf.items and len(world.links) == 0


def test_a_full_run_sees_the_deletion_and_clears_the_marks():
    world = world_with("contacts")
    _, ol_id = created_copy(world, "contacts")
    world.ol.remove(ol_id)
    outcome = world.sync(full=True)
    assert outcome.applied[("salesforce", "delete")] == 1 and not world.sf.items
    other_sf, _ = created_copy(world, "contacts", email="grace@example.com")
    world.sync(full=True)
    assert not world.link_of(SF, other_sf).outlook_unseen


def test_an_item_linked_by_a_run_that_died_is_checked_by_the_next_run():
    """The dead run read the feed and linked the item, but its watermark was never stored: the next run reads the
    feed from the older watermark, which says nothing of the item if the user deleted it in between."""
    world = world_with("tasks")
    world.sync()
    sf_id, ol_id = world.sf.add(RECORDS["tasks"]), world.ol.add(RECORDS["tasks"])  # matched, linked first
    world.ol.add({**RECORDS["tasks"], "subject": "New in Outlook"})  # created in Salesforce, then the crash
    world.sf.crash_after_next_write = True
    with pytest.raises(SimulatedCrash):
        world.sync()
    assert world.counterpart(SF, sf_id) == ol_id and world.link_of(SF, sf_id).outlook_unseen
    world.ol.remove(ol_id)
    outcome = world.sync()
    assert outcome.ok and sf_id not in world.sf.items and world.link_of(SF, sf_id) is None
    assert not any(link.outlook_unseen for link in world.links)


def test_only_what_no_stored_feed_read_has_seen_stays_marked():
    world = world_with("contacts")
    matched = world.sf.add(RECORDS["contacts"])
    world.ol.add(RECORDS["contacts"])
    created = world.sf.add({**RECORDS["contacts"], "email": "grace@example.com"})
    world.sync()  # a first sync: a crash would leave no watermark, so matched items need no mark
    assert not world.link_of(SF, matched).outlook_unseen and world.link_of(SF, created).outlook_unseen
    later = world.sf.add({**RECORDS["contacts"], "email": "alan@example.com"})
    world.ol.add({**RECORDS["contacts"], "email": "alan@example.com"})
    world.sync()  # matched from this run's feed: marked while the run lasts, cleared with its watermark
    assert not any(link.outlook_unseen for link in world.links)
    assert world.counterpart(SF, later) is not None

"""The lookups before planning (sync/engine/pending.py) are batched: one `lookup_many` per side and run, however
many records a crashed run left pending or an incremental run finds new, with the per-record decisions unchanged."""

from __future__ import annotations

import pytest
from engine_harness import BOTH, O2S, OL, S2O, SF, World

from sync.engine import LinkState
from sync.engine.memory import SimulatedCrash

N = 60


def tasks(n: int, prefix: str = "task") -> list[dict]:
    return [{"subject": f"{prefix} {i}", "due_date": "2026-03-02", "status": "Not Started"} for i in range(n)]


def crash_then_recover(world: World, target: str) -> None:
    getattr(world, target).crash_after_next_write = True
    with pytest.raises(SimulatedCrash):
        world.sync()
    world.sf.lookup_calls = world.ol.lookup_calls = 0
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w, "every pending create was found: nothing created again"


def test_pending_outlook_creates_are_looked_up_in_one_batch():
    world = World("tasks", S2O)
    sf_ids = [world.sf.add(fields) for fields in tasks(N)]
    crash_then_recover(world, "ol")
    assert world.ol.lookup_calls == 1
    assert len(world.ol.items) == N and {world.counterpart(SF, i) for i in sf_ids} == set(world.ol.items)
    assert all(link.state is LinkState.LINKED for link in world.links)


def test_pending_salesforce_creates_are_looked_up_in_one_batch():
    world = World("tasks", O2S)
    ol_ids = [world.ol.add(fields) for fields in tasks(N)]
    crash_then_recover(world, "sf")
    assert world.sf.lookup_calls == 1
    assert len(world.sf.items) == N and {world.counterpart(OL, i) for i in ol_ids} == set(world.sf.items)


def test_pending_creates_on_both_sides_cost_one_batch_each():
    world = World("tasks", BOTH)
    for fields in tasks(N, "from sf"):
        world.sf.add(fields)
    for fields in tasks(N, "from ol"):
        world.ol.add(fields)
    world.sf.crash_after_next_write = True  # Salesforce is written first: its creates land, Outlook's never start
    with pytest.raises(SimulatedCrash):
        world.sync()
    pending_sf = [link for link in world.links if link.state is LinkState.PENDING_CREATE_SALESFORCE]
    assert len(pending_sf) == N
    world.sf.lookup_calls = world.ol.lookup_calls = 0
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and ol_w["create"] == N  # Outlook's creates happen now, Salesforce's are found
    assert world.sf.lookup_calls == 1 and world.ol.lookup_calls == 1
    assert len(world.sf.items) == len(world.ol.items) == 2 * N


def test_ambiguous_and_resolved_pending_creates_in_one_batch_keep_their_own_outcomes():
    """One batch answers every pending create; each is still decided alone (found, ambiguous, or created)."""
    world = World("tasks", O2S)
    for fields in tasks(3):
        world.ol.add(fields)
    world.sf.crash_after_next_write = True
    with pytest.raises(SimulatedCrash):
        world.sync()
    twin = next(iter(world.sf.items))
    world.sf.add(world.sf.record(twin).fields)  # someone made the same task again: that one is ambiguous
    gone = next(i for i in world.sf.items if i != twin)
    world.sf.remove(gone)  # and one copy was deleted: created again
    world.sf.lookup_calls = 0
    sf_w, _ = world.writes_during(world.sync)
    assert world.sf.lookup_calls == 1
    assert sf_w["create"] == 1 and [i.code for i in world.last.issues] == ["ambiguous_pending_create"]


def test_new_records_of_an_incremental_run_are_looked_up_in_one_batch():
    world = World("contacts", S2O)
    world.sync()
    for n in range(N):
        world.ol.add({"first_name": "Ann", "last_name": f"Lee{n}", "email": f"ann{n}@example.com"})
    world.ol.lookup_calls = 0
    sf_ids = [world.sf.add({"first_name": "Ann", "last_name": f"Lee{n}", "email": f"ANN{n}@example.com"})
              for n in range(N)]
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w and len(world.ol.items) == N
    assert world.ol.lookup_calls == 1
    assert {world.counterpart(SF, i) for i in sf_ids} == set(world.ol.items)

"""The apply loop (DESIGN.md §6): batches, pending creates and crash recovery, per-record failures, watermarks,
resets, and the §5 guards."""

from __future__ import annotations

import pytest
from engine_harness import BOTH, O2S, OL, S2O, SF, World

from sync.engine import Guards, LinkState, apply_plan, reconcile
from sync.engine.memory import SimulatedCrash

TASK = {"subject": "Call Bob", "due_date": "2026-03-02", "status": "Not Started"}


def tasks(n: int, prefix: str = "task") -> list[dict]:
    return [{**TASK, "subject": f"{prefix} {i}"} for i in range(n)]


# ---- per-record failures -------------------------------------------------------------------------------------

def test_failed_create_leaves_the_rest_applied_and_is_retried_next_run():
    """A write failure on one record: the others apply, the failure is reported, the next run retries it."""
    world = World("tasks", S2O)
    for fields in tasks(5):
        world.sf.add(fields)
    world.ol.fail_next(1, code="ErrorServerBusy", transient=True)
    outcome = world.sync()
    assert len(world.ol.items) == 4
    [issue] = outcome.issues
    assert (issue.side, issue.code, issue.transient) == (OL, "ErrorServerBusy", True)
    [pending] = [link for link in world.links if link.state is LinkState.PENDING_CREATE_OUTLOOK]
    assert pending.needs_retry and pending.salesforce_id == issue.record_id
    outcome = world.sync()  # incremental: nothing changed in Salesforce, the retry comes from the link
    assert outcome.ok and len(world.ol.items) == 5
    assert all(link.state is LinkState.LINKED and not link.needs_retry for link in world.links)
    assert world.counterpart(SF, pending.salesforce_id) is not None


def test_failed_update_is_retried_next_run_although_the_change_set_is_incremental():
    world = World("tasks", BOTH)
    pairs = [world.synced_pair(SF, **fields) for fields in tasks(3)]
    for sf_id, _ in pairs:
        world.sf.edit(sf_id, status="Done")
    world.ol.fail_next(1, code="ErrorInvalidPropertyRequest", transient=False)
    outcome = world.sync()
    assert [i.transient for i in outcome.issues] == [False]
    assert sum(world.ol.canonical(ol)["status"] == "Done" for _, ol in pairs) == 2
    assert outcome.watermarks_advanced
    outcome = world.sync()
    assert outcome.ok and all(world.ol.canonical(ol)["status"] == "Done" for _, ol in pairs)
    assert not any(link.needs_retry for link in world.links)


def test_failed_delete_is_retried_next_run():
    world = World("tasks", S2O)
    pairs = [world.synced_pair(SF, **fields) for fields in tasks(2)]
    for sf_id, _ in pairs:
        world.sf.remove(sf_id)
    world.ol.fail_next(1)
    world.sync()
    assert len(world.ol.items) == 1 and len(world.links) == 1
    world.sync()
    assert not world.ol.items and len(world.links) == 0


# ---- crash safety --------------------------------------------------------------------------------------------

def test_crash_after_outlook_create_is_resolved_by_the_stamped_id_not_created_twice():
    """A pending_create_outlook link is committed before the create; after a crash the stamped item is found."""
    world = World("tasks", S2O)
    sf_ids = [world.sf.add(fields) for fields in tasks(3)]
    world.ol.crash_after_next_write = True
    with pytest.raises(SimulatedCrash):
        world.sync()
    assert len(world.ol.items) == 3
    assert all(link.state is LinkState.PENDING_CREATE_OUTLOOK for link in world.links)
    assert world.watermarks.get(SF) is None, "watermarks advance only after the links are committed"
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w, "found by the stamp: nothing created again"
    assert len(world.ol.items) == 3
    assert {world.counterpart(SF, i) for i in sf_ids} == set(world.ol.items)


def test_crash_after_salesforce_create_is_resolved_by_matching_keys_not_created_twice():
    world = World("tasks", O2S)
    ol_ids = [world.ol.add(fields) for fields in tasks(3)]
    world.sf.crash_after_next_write = True
    with pytest.raises(SimulatedCrash):
        world.sync()
    assert len(world.sf.items) == 3
    world.sync()
    assert len(world.sf.items) == 3
    assert {world.counterpart(OL, i) for i in ol_ids} == set(world.sf.items)


def test_crash_after_updates_writes_nothing_more_next_run():
    """A crash between a remote update and the link commit: the next run sees equal content and only relinks."""
    world = World("tasks", BOTH)
    pairs = [world.synced_pair(SF, **fields) for fields in tasks(3)]
    for sf_id, _ in pairs:
        world.sf.edit(sf_id, status="Done")
    world.ol.crash_after_next_write = True
    with pytest.raises(SimulatedCrash):
        world.sync()
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w
    assert all(world.ol.canonical(ol)["status"] == "Done" for _, ol in pairs)
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w


def test_links_are_committed_per_batch():
    """Batches that completed before a crash keep their links; only the crashed batch is pending."""
    world = World("tasks", S2O, batch_size=2)
    for fields in tasks(5):
        world.sf.add(fields)
    outcome = world.sync()
    assert outcome.applied[("outlook", "create")] == 5
    # 3 batches x (pending links + final links) = 6 commits
    assert world.links.commits == 6
    world2 = World("tasks", S2O, batch_size=2)
    for fields in tasks(5):
        world2.sf.add(fields)
    calls = {"n": 0}
    original = world2.ol.create

    def create_then_crash_on_third_batch(requests):
        calls["n"] += 1
        world2.ol.crash_after_next_write = calls["n"] == 3
        return original(requests)

    world2.ol.create = create_then_crash_on_third_batch
    with pytest.raises(SimulatedCrash):
        world2.sync()
    states = sorted(link.state.value for link in world2.links)
    assert states == ["linked"] * 4 + ["pending_create_outlook"]


# ---- reset ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("direction", [S2O, O2S, BOTH])
def test_reset_relinks_everything_with_zero_creates(direction):
    world = World("tasks", direction)
    origin = OL if direction is O2S else SF
    for fields in tasks(6, "origin"):
        world.side(origin).add(fields)
    if direction is BOTH:
        for fields in tasks(4, "outlook"):
            world.ol.add(fields)
    world.sync()
    before = {(link.salesforce_id, link.outlook_id) for link in world.links}
    sf_w, ol_w = world.writes_during(world.reset)
    assert sf_w["create"] == 0 and ol_w["create"] == 0
    assert not sf_w and not ol_w
    assert {(link.salesforce_id, link.outlook_id) for link in world.links} == before


def test_reset_uses_the_stamp_when_keys_no_longer_match():
    """Reset after both copies drifted apart in their keys: the stamped Salesforce id still pairs them."""
    world = World("tasks", BOTH)
    sf_id, ol_id = world.synced_pair(OL, **TASK)  # created in Outlook, then stamped after the SF create
    assert world.ol.items[ol_id].salesforce_id == sf_id
    world.sf.edit(sf_id, subject="renamed in Salesforce")
    world.reset()
    assert len(world.sf.items) == len(world.ol.items) == 1
    assert world.counterpart(SF, sf_id) == ol_id


# ---- matching ------------------------------------------------------------------------------------------------

def test_ambiguous_match_links_nothing_creates_nothing_and_reports():
    world = World("contacts", BOTH)
    a = world.sf.add({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"})
    b = world.sf.add({"first_name": "Annie", "last_name": "Lee", "email": "ANN@example.com"})
    c = world.ol.add({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"})
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w and len(world.links) == 0
    assert sorted((i.record_id, i.code) for i in world.last.issues) == sorted(
        [(a, "ambiguous_match"), (b, "ambiguous_match"), (c, "ambiguous_match")])


def test_stamped_copy_of_deleted_salesforce_record_is_removed_on_reset():
    """Reset: an Outlook item stamped with an SF id that no longer exists is a link whose SF side was deleted."""
    world = World("tasks", S2O)
    sf_id, ol_id = world.synced_pair(SF, **TASK)
    world.sf.remove(sf_id)
    world.reset()
    assert ol_id not in world.ol.items


# ---- guards --------------------------------------------------------------------------------------------------

def test_mass_delete_breaker_refuses_and_applies_nothing():
    world = World("tasks", S2O)
    pairs = [world.synced_pair(SF, **fields) for fields in tasks(20)]
    mark = dict(world.watermarks.values)
    for sf_id, _ in pairs[:15]:
        world.sf.remove(sf_id)
    sf_w, ol_w = world.writes_during(world.sync)
    outcome = world.last
    assert outcome.refusal is not None and outcome.refusal.code == "mass_delete"
    assert "15" in outcome.refusal.reason and "20" in outcome.refusal.reason and "Nothing was deleted" in \
        outcome.refusal.reason
    assert not sf_w and not ol_w and len(world.ol.items) == 20 and len(world.links) == 20
    assert world.watermarks.values == mark and not outcome.watermarks_advanced
    with pytest.raises(ValueError, match="refused"):
        apply_plan(outcome.plan, {SF: world.sf, OL: world.ol}, world.links)
    world.sync(guards=Guards.off())
    assert len(world.ol.items) == 5


def test_mass_delete_breaker_lets_small_or_proportionate_deletions_through():
    world = World("tasks", S2O)
    pairs = [world.synced_pair(SF, **fields) for fields in tasks(30)]
    for sf_id, _ in pairs[:9]:  # below min_deletes
        world.sf.remove(sf_id)
    assert world.sync().refusal is None and len(world.ol.items) == 21


def test_one_side_suddenly_empty_is_refused_with_a_reason():
    world = World("contacts", BOTH)
    for i in range(12):
        world.synced_pair(SF, first_name=f"P{i}", last_name="Q", email=f"p{i}@example.com")
    for ol_id in list(world.ol.items):  # the folder is gone: a full sync sees nothing
        world.ol.set_scope(ol_id, False)
    sf_w, ol_w = world.writes_during(lambda: world.sync(full=True))
    refusal = world.last.refusal
    assert refusal is not None and refusal.code == "side_empty"
    assert "Outlook returned no contacts" in refusal.reason and "12" in refusal.reason
    assert not sf_w and not ol_w and len(world.sf.items) == 12


def test_reconcile_is_pure_and_repeatable():
    """reconcile does not change the link table or the change sets' meaning: the same inputs, the same plan."""
    world = World("tasks", BOTH)
    world.synced_pair(SF, **TASK)
    world.sf.add({**TASK, "subject": "new"})
    sf_cs, ol_cs = world.sf.changes(None), world.ol.changes(None)
    first = reconcile("tasks", world.setting, sf_cs, ol_cs, world.links)
    second = reconcile("tasks", world.setting, sf_cs, ol_cs, world.links)
    assert first.actions == second.actions and len(first.writes) == 1


def test_ambiguous_pending_create_lookup_creates_nothing_and_reports():
    """A pending create whose lookup finds two candidates is reported and never guessed or re-created."""
    world = World("tasks", O2S)
    ol_id = world.ol.add(TASK)
    world.sf.crash_after_next_write = True
    with pytest.raises(SimulatedCrash):
        world.sync()
    world.sf.add(TASK)  # someone made the same task in Salesforce meanwhile
    sf_w, _ = world.writes_during(world.sync)
    assert not sf_w and len(world.sf.items) == 2
    assert [i.code for i in world.last.issues] == ["ambiguous_pending_create"]
    assert world.link_of(OL, ol_id).state is LinkState.PENDING_CREATE_SALESFORCE


def test_failed_stamp_after_salesforce_create_is_reported_and_the_link_kept():
    world = World("tasks", BOTH)
    ol_id = world.ol.add(TASK)
    original = world.ol.update

    def failing_stamp(requests):
        world.ol.fail_next(len(requests))
        return original(requests)

    world.ol.update = failing_stamp
    outcome = world.sync()
    assert [i.code for i in outcome.issues] == ["SERVER_BUSY"]
    assert world.link_of(OL, ol_id).state is LinkState.LINKED
    world.ol.update = original
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w


def test_incremental_run_links_a_new_record_to_an_unchanged_unlinked_copy():
    """A new SF record whose twin sits unchanged (and unlinked) in Outlook is looked up and linked, not duplicated."""
    world = World("contacts", S2O)
    world.ol.add({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"})
    world.sync()
    sf_id = world.sf.add({"first_name": "Ann", "last_name": "Lee", "email": "ANN@example.com"})
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w and len(world.ol.items) == 1
    assert world.counterpart(SF, sf_id) in world.ol.items

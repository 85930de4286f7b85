"""Scenario tests for every row and conflict case of the DESIGN.md §5 table.

Each test names its row: "create", "update", "delete", "other side's changes", or a "conflict" case, for each
direction (`salesforce_to_outlook`, `outlook_to_salesforce`, `both`) and, where it matters, both conflict
behaviours. Writes are counted on the in-memory sides, so a test fails if the engine writes anything it should not.
"""

from __future__ import annotations

import pytest
from engine_harness import BOTH, NONE, O2S, OL, OL_WINS, S2O, SF, SF_WINS, World

from sync.engine import Side

TASK = {"subject": "Call Bob", "due_date": "2026-03-02", "status": "Not Started"}
SOURCES = {S2O: SF, O2S: OL}


def test_none_direction_touches_nothing():
    world = World("tasks", NONE)
    world.sf.add(TASK)
    world.ol.add({"subject": "Other"})
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w and len(world.links) == 0


# ---- create row ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("direction", [S2O, O2S, BOTH])
def test_create_row_new_source_record_is_created_on_the_other_side(direction):
    """§5 create: a new record on a source side is created on the other side (with the SF id stamped)."""
    world = World("tasks", direction)
    for source in ([SF, OL] if direction is BOTH else [SOURCES[direction]]):
        record_id = world.side(source).add({**TASK, "subject": f"from {source}"})
        sf_w, ol_w = world.writes_during(world.sync)
        copy_id = world.counterpart(source, record_id)
        assert copy_id is not None
        target = world.side(source.other)
        assert target.canonical(copy_id) == world.side(source).canonical(record_id)
        assert (ol_w if source is SF else sf_w)["create"] == 1
        if source is SF:
            assert world.ol.items[copy_id].salesforce_id == record_id


@pytest.mark.parametrize("direction", [S2O, O2S])
def test_other_side_row_new_target_record_is_never_sent(direction):
    """§5 "other side's changes": a record created on the target side of a one-way direction stays there."""
    world = World("tasks", direction)
    target = SOURCES[direction].other
    record_id = world.side(target).add(TASK)
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w
    assert world.counterpart(target, record_id) is None


@pytest.mark.parametrize("direction,behavior,winner", [
    (S2O, SF_WINS, SF), (O2S, OL_WINS, OL), (BOTH, SF_WINS, SF), (BOTH, OL_WINS, OL)])
def test_create_row_matching_record_is_linked_and_overwritten_by_the_winner(direction, behavior, winner):
    """§5 create: "linked to a matching Outlook item and overwritten" (mirror for o2s; `both`: the behaviour)."""
    world = World("tasks", direction, behavior)
    sf_id = world.sf.add({**TASK, "status": "In Progress"})
    ol_id = world.ol.add({**TASK, "status": "Waiting"})
    sf_w, ol_w = world.writes_during(world.sync)
    assert world.counterpart(SF, sf_id) == ol_id
    expected = "In Progress" if winner is SF else "Waiting"
    assert world.sf.canonical(sf_id)["status"] == world.ol.canonical(ol_id)["status"] == expected
    assert (ol_w if winner is SF else sf_w) == {"update": 1}
    assert not (sf_w if winner is SF else ol_w)
    assert [c.kind for c in world.last.plan.conflicts] == ["match_differs"]


@pytest.mark.parametrize("direction", [S2O, O2S, BOTH])
def test_same_record_on_both_sides_without_link_links_without_writing(direction):
    """Matching: equal content on both sides with no link is linked with zero writes."""
    world = World("tasks", direction)
    sf_id, ol_id = world.sf.add(TASK), world.ol.add({**TASK, "subject": "  call   BOB "})
    sf_w, ol_w = world.writes_during(world.sync)
    assert world.counterpart(SF, sf_id) == ol_id, "keys match case-insensitively"
    winner = world.setting.winner()
    assert world.sf.canonical(sf_id)["subject"] == ("Call Bob" if winner is SF else "call BOB")
    assert len(world.sf.items) == len(world.ol.items) == 1
    # " call BOB " differs from "Call Bob" in content, so the winner writes; identical content writes nothing:
    world2 = World("tasks", direction)
    sf2, ol2 = world2.sf.add(TASK), world2.ol.add({**TASK, "subject": " Call  Bob "})
    sf_w, ol_w = world2.writes_during(world2.sync)
    assert world2.counterpart(SF, sf2) == ol2
    assert not sf_w and not ol_w


# ---- update row ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("direction", [S2O, O2S, BOTH])
def test_update_row_source_change_is_copied(direction):
    """§5 update: a change on a source side overwrites the copy (both ways for `both`)."""
    world = World("tasks", direction)
    sf_id, ol_id = world.synced_pair(SOURCES.get(direction, SF), **TASK)
    for source in ([SF, OL] if direction is BOTH else [SOURCES[direction]]):
        record_id = sf_id if source is SF else ol_id
        world.side(source).edit(record_id, status=f"Edited in {source}")
        sf_w, ol_w = world.writes_during(world.sync)
        copy_id = ol_id if source is SF else sf_id
        assert world.side(source.other).canonical(copy_id)["status"] == f"Edited in {source}"
        assert (ol_w if source is SF else sf_w) == {"update": 1}
        assert not (sf_w if source is SF else ol_w)


@pytest.mark.parametrize("direction", [S2O, O2S])
def test_update_row_source_change_overwrites_even_a_changed_target(direction):
    """§5 s2o update: "SF changes overwrite Outlook, whether or not the Outlook copy changed" (and mirror)."""
    world = World("tasks", direction)
    source = SOURCES[direction]
    sf_id, ol_id = world.synced_pair(source, **TASK)
    src_id, tgt_id = (sf_id, ol_id) if source is SF else (ol_id, sf_id)
    world.side(source).edit(src_id, status="source")
    world.side(source.other).edit(tgt_id, status="target", priority="High")
    sf_w, ol_w = world.writes_during(world.sync)
    assert world.side(source.other).canonical(tgt_id) == world.side(source).canonical(src_id)
    assert not (sf_w if source is SF else ol_w), "a one-way source is never written"


@pytest.mark.parametrize("direction", [S2O, O2S])
def test_other_side_row_target_change_is_never_sent(direction):
    """§5 "other side's changes": a change to the target copy is not sent to the source."""
    world = World("tasks", direction)
    source = SOURCES[direction]
    sf_id, ol_id = world.synced_pair(source, **TASK)
    tgt_id = ol_id if source is SF else sf_id
    world.side(source.other).edit(tgt_id, status="changed on the target")
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w
    src_id = sf_id if source is SF else ol_id
    assert world.side(source).canonical(src_id)["status"] == "Not Started"


@pytest.mark.parametrize("behavior,winner", [(SF_WINS, SF), (OL_WINS, OL)])
def test_conflict_changed_on_both_sides_winner_is_written(behavior, winner):
    """§5 conflicts (`both`): changed on both sides → the winning side's whole record is written to the other."""
    world = World("tasks", BOTH, behavior)
    sf_id, ol_id = world.synced_pair(SF, **TASK)
    world.sf.edit(sf_id, status="sf status")
    world.ol.edit(ol_id, priority="High")  # a different field: still the whole record
    sf_w, ol_w = world.writes_during(world.sync)
    winner_id, loser_id = (sf_id, ol_id) if winner is SF else (ol_id, sf_id)
    assert world.side(winner.other).canonical(loser_id) == world.side(winner).canonical(winner_id)
    assert (ol_w if winner is SF else sf_w) == {"update": 1}
    assert not (sf_w if winner is SF else ol_w)
    [conflict] = world.last.plan.conflicts
    assert (conflict.kind, conflict.winner) == ("changed_both", winner)


@pytest.mark.parametrize("direction", [S2O, O2S, BOTH])
def test_equal_content_on_both_sides_is_never_a_conflict(direction):
    """§5: "Equal content on both sides is never a conflict": the same edit on both sides writes nothing."""
    world = World("tasks", direction)
    sf_id, ol_id = world.synced_pair(SOURCES.get(direction, SF), **TASK)
    world.sf.edit(sf_id, status="Done")
    world.ol.edit(ol_id, status=" Done ")
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w and not world.last.plan.conflicts


@pytest.mark.parametrize("direction", [S2O, O2S, BOTH])
def test_version_bump_with_equal_content_writes_nothing(direction):
    """§5: "a version bump with equal content is no change"."""
    world = World("tasks", direction)
    sf_id, ol_id = world.synced_pair(SOURCES.get(direction, SF), **TASK)
    world.sf.touch(sf_id)
    world.ol.touch(ol_id)
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w
    link = world.link_of(SF, sf_id)
    assert link.salesforce_version == world.sf.record(sf_id).version, "the new token is remembered"


@pytest.mark.parametrize("direction", [S2O, O2S, BOTH])
def test_second_sync_makes_zero_writes(direction):
    """§5: our own writes are recognised by their version token and never echoed."""
    world = World("tasks", direction)
    for i in range(5):
        world.sf.add({**TASK, "subject": f"sf {i}"})
        world.ol.add({**TASK, "subject": f"ol {i}"})
    world.sync()
    world.sf.edit(next(iter(world.sf.items)), status="x")
    world.ol.edit(next(iter(world.ol.items)), status="y")
    world.sync()
    for full in (False, True):
        sf_w, ol_w = world.writes_during(lambda full=full: world.sync(full=full))
        assert not sf_w and not ol_w, (full, sf_w, ol_w)


# ---- delete row ----------------------------------------------------------------------------------------------

def test_delete_row_s2o_salesforce_deletion_deletes_outlook_copy():
    """§5 s2o delete: SF deletion deletes the Outlook copy (even with propagate deletions off)."""
    world = World("events", S2O, propagate_deletions=False)
    sf_id, ol_id = world.synced_pair(SF, subject="Demo", start="2026-03-02T10:00:00+00:00",
                                     end="2026-03-02T11:00:00+00:00")
    world.sf.remove(sf_id)
    world.sync()
    assert ol_id not in world.ol.items and len(world.links) == 0


@pytest.mark.parametrize("direction", [S2O, BOTH])
def test_delete_row_salesforce_record_leaving_data_set_deletes_outlook_copy(direction):
    """§5 s2o delete: "the record leaving the data set deletes the Outlook copy" (never the SF record)."""
    world = World("tasks", direction, propagate_deletions=False)
    sf_id, ol_id = world.synced_pair(SF, **TASK)
    world.sf.set_scope(sf_id, False)
    sf_w, ol_w = world.writes_during(world.sync)
    assert ol_id not in world.ol.items and sf_id in world.sf.items
    assert ol_w == {"delete": 1} and not sf_w
    world.sf.set_scope(sf_id, True)  # back in the data set: a copy again, once
    world.sync()
    assert len(world.ol.items) == 1 and world.counterpart(SF, sf_id) in world.ol.items


@pytest.mark.parametrize("how", ["left_scope", "deleted"])
def test_delete_row_full_sync_tells_leaving_scope_from_deletion(how):
    """§5 both: a full change set omits out-of-scope records; the shell fetches them, so leaving the data set
    (copy deleted) is not mistaken for a deletion (kept, since deletions do not propagate here)."""
    world = World("tasks", BOTH, propagate_deletions=False)
    sf_id, ol_id = world.synced_pair(SF, **TASK)
    if how == "left_scope":
        world.sf.set_scope(sf_id, False)
    else:
        world.sf.remove(sf_id)
    world.sync(full=True)
    assert (ol_id in world.ol.items) is (how == "deleted")


@pytest.mark.parametrize("direction", [S2O])
def test_other_side_row_outlook_delete_not_recreated_until_salesforce_changes(direction):
    """§5 s2o: an Outlook-side delete is not sent to SF and not recreated until the SF record changes."""
    world = World("tasks", direction)
    sf_id, ol_id = world.synced_pair(SF, **TASK)
    world.ol.remove(ol_id)
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w and sf_id in world.sf.items
    sf_w, ol_w = world.writes_during(lambda: world.sync(full=True))
    assert not sf_w and not ol_w, "a full sync does not recreate it either"
    world.sf.edit(sf_id, status="Done")
    sf_w, ol_w = world.writes_during(world.sync)
    assert ol_w == {"create": 1}
    new_id = world.counterpart(SF, sf_id)
    assert world.ol.canonical(new_id)["status"] == "Done"


@pytest.mark.parametrize("propagate", [True, False])
def test_delete_row_o2s_task_deletion_always_deletes_salesforce_copy(propagate):
    """§5 o2s delete: mirror image; for tasks the deletion propagates whatever the option says."""
    world = World("tasks", O2S, propagate_deletions=propagate)
    sf_id, ol_id = world.synced_pair(OL, **TASK)
    world.ol.remove(ol_id)
    world.sync()
    assert sf_id not in world.sf.items


@pytest.mark.parametrize("propagate", [True, False])
def test_delete_row_o2s_event_deletion_only_with_propagate_deletions(propagate):
    """§5 o2s delete: "events: only if propagate deletions"."""
    world = World("events", O2S, propagate_deletions=propagate)
    sf_id, ol_id = world.synced_pair(OL, subject="Demo", start="2026-03-02T10:00:00Z", end="2026-03-02T11:00:00Z")
    world.ol.remove(ol_id)
    sf_w, _ = world.writes_during(world.sync)
    assert (sf_id not in world.sf.items) is propagate
    assert sf_w == ({"delete": 1} if propagate else {})
    assert len(world.links) == (0 if propagate else 1)


def test_other_side_row_o2s_salesforce_delete_not_recreated_until_outlook_changes():
    """§5 o2s "other side's changes": SF deletion is not sent to Outlook; re-created in SF once Outlook changes."""
    world = World("tasks", O2S)
    sf_id, ol_id = world.synced_pair(OL, **TASK)
    world.sf.remove(sf_id)
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w and ol_id in world.ol.items
    world.ol.edit(ol_id, status="Done")
    sf_w, ol_w = world.writes_during(world.sync)
    assert sf_w == {"create": 1} and not ol_w, "o2s never writes Outlook, not even the stamp"
    assert world.sf.canonical(world.counterpart(OL, ol_id))["status"] == "Done"


@pytest.mark.parametrize("deleting", [SF, OL])
def test_delete_row_both_one_sided_delete_is_propagated(deleting):
    """§5 both delete: a one-sided delete deletes the other copy when deletions propagate."""
    world = World("tasks", BOTH, propagate_deletions=True)
    sf_id, ol_id = world.synced_pair(SF, **TASK)
    world.side(deleting).remove(sf_id if deleting is SF else ol_id)
    world.sync()
    assert not world.sf.items and not world.ol.items and len(world.links) == 0


@pytest.mark.parametrize("deleting", [SF, OL])
def test_delete_row_both_without_propagation_keeps_copy_and_recreates_on_change(deleting):
    """§5 both delete "(if deletions propagate)": otherwise the copy stays; changing it re-creates the record."""
    world = World("tasks", BOTH, propagate_deletions=False)
    sf_id, ol_id = world.synced_pair(SF, **TASK)
    gone_id, kept_id = (sf_id, ol_id) if deleting is SF else (ol_id, sf_id)
    world.side(deleting).remove(gone_id)
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w and kept_id in world.side(deleting.other).items
    world.sync(full=True)
    assert not world.side(deleting).items, "not re-created by a full sync while unchanged"
    world.side(deleting.other).edit(kept_id, status="Done")
    world.sync()
    [new_id] = world.side(deleting).items
    assert world.counterpart(deleting, new_id) == kept_id
    assert world.side(deleting).canonical(new_id)["status"] == "Done"


# ---- conflicts: changed versus deleted -----------------------------------------------------------------------

@pytest.mark.parametrize("behavior", [SF_WINS, OL_WINS])
@pytest.mark.parametrize("deleting", [SF, OL])
def test_conflict_changed_vs_deleted_winner_state_stands(behavior, deleting):
    """§5 conflicts: changed on one side, deleted on the other → if the winner changed it, it is re-created on the
    deleting side; if the winner deleted it, the other copy is deleted."""
    world = World("tasks", BOTH, behavior, propagate_deletions=True)
    sf_id, ol_id = world.synced_pair(SF, **TASK)
    changing = deleting.other
    world.side(deleting).remove(sf_id if deleting is SF else ol_id)
    changed_id = ol_id if changing is OL else sf_id
    world.side(changing).edit(changed_id, status="changed")
    world.sync()
    [conflict] = world.last.plan.conflicts
    assert conflict.kind == "changed_vs_deleted"
    winner = behavior  # SF_WINS → Side.SALESFORCE
    if (winner is SF_WINS and changing is SF) or (winner is OL_WINS and changing is OL):
        [new_id] = world.side(deleting).items
        assert world.side(deleting).canonical(new_id)["status"] == "changed"
        assert world.counterpart(deleting, new_id) == changed_id
    else:
        assert not world.side(changing).items and not world.side(deleting).items
        assert len(world.links) == 0


@pytest.mark.parametrize("direction", [S2O, O2S])
def test_conflict_one_way_source_changed_target_deleted_recreates_target(direction):
    """§5 one-way: target deleted and source changed → re-created on the target (source never written)."""
    world = World("tasks", direction)
    source = SOURCES[direction]
    sf_id, ol_id = world.synced_pair(source, **TASK)
    src_id, tgt_id = (sf_id, ol_id) if source is SF else (ol_id, sf_id)
    world.side(source.other).remove(tgt_id)
    world.side(source).edit(src_id, status="changed")
    sf_w, ol_w = world.writes_during(world.sync)
    assert not (sf_w if source is SF else ol_w)
    [new_id] = world.side(source.other).items
    assert world.side(source.other).canonical(new_id)["status"] == "changed"


@pytest.mark.parametrize("direction", [S2O, O2S])
def test_conflict_one_way_source_deleted_target_changed_deletes_target(direction):
    """§5 one-way: the source's deletion wins over a change to the copy (tasks: deletions propagate)."""
    world = World("tasks", direction)
    source = SOURCES[direction]
    sf_id, ol_id = world.synced_pair(source, **TASK)
    src_id, tgt_id = (sf_id, ol_id) if source is SF else (ol_id, sf_id)
    world.side(source).remove(src_id)
    world.side(source.other).edit(tgt_id, status="changed")
    world.sync()
    assert not world.side(source.other).items and len(world.links) == 0


@pytest.mark.parametrize("direction", [S2O, O2S, BOTH])
def test_both_sides_deleted_drops_the_link(direction):
    """Deleted on both sides: nothing to write, the link is dropped."""
    world = World("tasks", direction)
    sf_id, ol_id = world.synced_pair(SOURCES.get(direction, SF), **TASK)
    world.sf.remove(sf_id)
    world.ol.remove(ol_id)
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w and len(world.links) == 0


def test_target_copy_leaving_scope_is_updated_in_place_not_duplicated():
    """s2o: an Outlook copy moved out of scope is a tombstone; a later SF change updates it, never re-creates."""
    world = World("contacts", S2O)
    sf_id, ol_id = world.synced_pair(SF, first_name="Ann", last_name="Lee", email="ann@example.com")
    world.ol.set_scope(ol_id, False)
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w
    world.sf.edit(sf_id, title="CTO")
    world.sync()
    assert list(world.ol.items) == [ol_id]
    assert world.ol.canonical(ol_id)["title"] == "CTO"
    world.ol.set_scope(ol_id, True)
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w and world.counterpart(SF, sf_id) == ol_id


@pytest.mark.parametrize("direction", [S2O, O2S, BOTH])
def test_full_and_incremental_change_sets_agree(direction):
    """The same changes presented incrementally or fully give the same plan (modulo token refreshes)."""
    plans = []
    for full in (False, True):
        world = World("tasks", direction)
        pairs = [world.synced_pair(SOURCES.get(direction, SF), **{**TASK, "subject": f"t{i}"}) for i in range(4)]
        world.sf.edit(pairs[0][0], status="a")
        world.ol.edit(pairs[1][1], status="b")
        world.sf.remove(pairs[2][0])
        world.ol.remove(pairs[3][1])
        world.sf.add({**TASK, "subject": "new sf"})
        world.ol.add({**TASK, "subject": "new ol"})
        outcome = world.sync(full=full)
        plans.append(sorted((a.kind.value, a.side.value if a.side else "-", a.reason)
                            for a in outcome.plan.actions if a.is_write))
    assert plans[0] == plans[1]


def test_sides_are_named_in_the_domain_words():
    assert Side.SALESFORCE.value == "salesforce" and Side.OUTLOOK.other is Side.SALESFORCE


def test_outlook_item_leaving_scope_deletes_nothing_in_salesforce_and_relinks_on_return():
    """Scope (§5 "Scope on the Exchange side"): moving an item out of the folder is not a deletion instruction."""
    world = World("contacts", BOTH, propagate_deletions=True)
    sf_id, ol_id = world.synced_pair(SF, first_name="Ann", last_name="Lee", email="ann@example.com")
    world.ol.set_scope(ol_id, False)
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w and sf_id in world.sf.items
    world.ol.edit(ol_id, title="edited while out of scope")
    world.ol.set_scope(ol_id, True)
    world.sync()
    assert world.counterpart(SF, sf_id) == ol_id
    assert world.sf.canonical(sf_id)["title"] == "edited while out of scope"


def test_o2s_salesforce_record_leaving_data_set_is_updated_in_place_not_recreated():
    """§5 o2s "other side's changes": an SF record leaving the data set is not deleted or duplicated; a later
    Outlook change is written to it where it is."""
    world = World("tasks", O2S)
    sf_id, ol_id = world.synced_pair(OL, **TASK)
    world.sf.set_scope(sf_id, False)
    world.sync()
    world.ol.edit(ol_id, status="Done")
    sf_w, _ = world.writes_during(world.sync)
    assert sf_w == {"update": 1} and list(world.sf.items) == [sf_id]
    assert world.sf.canonical(sf_id)["status"] == "Done"


def test_fields_one_side_does_not_map_never_cause_a_write():
    """Canonical hashing ignores fields a side does not map (Schema.without)."""
    from sync.engine import schema_for
    from sync.engine.apply import run_sync

    world = World("contacts", BOTH)
    sf_id, ol_id = world.synced_pair(SF, first_name="Ann", last_name="Lee", email="ann@example.com")
    schema = schema_for("contacts").without(["fax"])
    world.sf.edit(sf_id, fax="+1 555 0100")
    before = (dict(world.sf.engine_writes), dict(world.ol.engine_writes))
    run_sync("contacts", world.setting, world.sf, world.ol, world.links, world.watermarks, schema=schema)
    assert (dict(world.sf.engine_writes), dict(world.ol.engine_writes)) == before
    world.sf.edit(sf_id, title="CTO")
    run_sync("contacts", world.setting, world.sf, world.ol, world.links, world.watermarks, schema=schema)
    assert world.ol.canonical(ol_id).get("title") == "CTO" and "fax" not in world.ol.canonical(ol_id)


def test_switching_from_one_way_to_both_with_a_full_sync_sees_the_ignored_target_change():
    """A change ignored under s2o is not forgotten: after switching to `both`, the full sync copies it back."""
    world = World("tasks", S2O)
    sf_id, ol_id = world.synced_pair(SF, **TASK)
    world.ol.edit(ol_id, status="edited in Outlook")
    world.sync()
    assert world.sf.canonical(sf_id)["status"] == "Not Started"
    world.configure(BOTH)
    world.sync(full=True)
    assert world.sf.canonical(sf_id)["status"] == "edited in Outlook"

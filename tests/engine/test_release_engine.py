"""Kept copies ("keep them and unlink"): a record leaving the data set under `release_scope_exits` releases its
Outlook copy instead of deleting it; a released copy is never written, deleted or sent back, survives resets and
full reads, and relinks without a duplicate when its record comes back into scope (issue 18 item 1)."""

from __future__ import annotations

import dataclasses

import pytest
from engine_harness import BOTH, OL, S2O, SF, World
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.engine import Direction, LinkState

CONTACT = {"first_name": "Bob", "last_name": "Stone", "email": "bob@example.com", "company": "Acme"}


def narrowed(world: World, sf_id: str, *, keep: bool) -> None:
    """The admin narrows the data set so `sf_id` leaves it, choosing keep or delete; the next run consumes it."""
    world.sf.set_scope(sf_id, False)
    world.setting = dataclasses.replace(world.setting, release_scope_exits=keep)
    outcome = world.sync(full=True)
    assert outcome.ok, outcome.issues
    world.setting = dataclasses.replace(world.setting, release_scope_exits=False)  # one-shot


@pytest.mark.parametrize("direction", [S2O, BOTH])
def test_release_keep_holds_for_good_and_relinks(direction: Direction):
    world = World("contacts", direction)
    sf_id, ol_id = world.synced_pair(SF, **CONTACT)
    sf_w, ol_w = world.writes_during(lambda: narrowed(world, sf_id, keep=True))
    assert not sf_w and not ol_w, "keeping writes nothing"
    assert ol_id in world.ol.items and world.link_of(OL, ol_id).state is LinkState.RELEASED

    # Edited on both sides, incremental and full runs, a reset: nothing is written, nothing created in Salesforce.
    world.ol.edit(ol_id, company="Kept Corp")
    world.sf.edit(sf_id, company="Out of scope Corp")
    for step in (world.sync, lambda: world.sync(full=True), world.reset, world.sync):
        sf_w, ol_w = world.writes_during(step)
        assert not sf_w and not ol_w
    assert ol_id in world.ol.items and world.ol.canonical(ol_id)["company"] == "Kept Corp"
    assert list(world.sf.items) == [sf_id]

    # Back in scope: linked again, the winner's version written in place, no duplicate.
    world.sf.set_scope(sf_id, True)
    world.sync(full=True)
    assert list(world.ol.items) == [ol_id] and list(world.sf.items) == [sf_id]
    link = world.link_of(SF, sf_id)
    assert link.state is LinkState.LINKED and link.outlook_id == ol_id
    assert world.ol.canonical(ol_id)["company"] == world.sf.canonical(sf_id)["company"] == "Out of scope Corp"
    world.sf.edit(sf_id, company="Synced again")
    world.sync()
    assert world.ol.canonical(ol_id)["company"] == "Synced again"


def test_release_delete_choice_deletes_as_before():
    world = World("contacts", S2O)
    sf_id, ol_id = world.synced_pair(SF, **CONTACT)
    narrowed(world, sf_id, keep=False)
    assert ol_id not in world.ol.items and world.link_of(SF, sf_id) is None


def test_release_back_in_scope_equal_content_links_without_write():
    world = World("contacts", BOTH)
    sf_id, ol_id = world.synced_pair(SF, **CONTACT)
    narrowed(world, sf_id, keep=True)
    world.sf.set_scope(sf_id, True)
    sf_w, ol_w = world.writes_during(lambda: world.sync(full=True))
    assert not sf_w and not ol_w
    assert world.counterpart(SF, sf_id) == ol_id


def test_release_back_in_scope_incremental_relinks_on_next_read():
    """Back in scope in an incremental run (the Outlook copy not in hand): marked for retry, compared next run."""
    world = World("contacts", S2O)
    sf_id, ol_id = world.synced_pair(SF, **CONTACT)
    narrowed(world, sf_id, keep=True)
    world.sf.set_scope(sf_id, True)
    world.sf.edit(sf_id, company="Back Corp")
    world.sync()
    world.sync()
    assert list(world.ol.items) == [ol_id]
    assert world.ol.canonical(ol_id)["company"] == "Back Corp"
    assert world.link_of(OL, ol_id).state is LinkState.LINKED


def test_release_kept_copy_deleted_by_user_drops_link_and_recreates_once_back():
    world = World("contacts", S2O)
    sf_id, ol_id = world.synced_pair(SF, **CONTACT)
    narrowed(world, sf_id, keep=True)
    world.ol.remove(ol_id)
    world.sync()
    assert world.link_of(SF, sf_id) is None
    world.sf.set_scope(sf_id, True)
    world.sync(full=True)
    assert len(world.ol.items) == 1 and world.counterpart(SF, sf_id) in world.ol.items


def test_release_only_scope_exits_deletions_still_delete():
    """The marker releases what leaves the data set; a Salesforce deletion in the same run still deletes."""
    world = World("contacts", S2O)
    gone_id, gone_copy = world.synced_pair(SF, **CONTACT)
    left_id, left_copy = world.synced_pair(SF, first_name="Ann", last_name="Lee", email="ann@example.com")
    world.sf.remove(gone_id)
    narrowed(world, left_id, keep=True)
    assert gone_copy not in world.ol.items and left_copy in world.ol.items


OPS = st.sampled_from(["edit_sf", "edit_ol", "sync", "full", "reset", "widen", "narrow_keep"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(direction=st.sampled_from([S2O, BOTH]), ops=st.lists(OPS, max_size=12))
def test_release_state_walk(direction: Direction, ops: list[str]):
    """Whatever happens, a kept copy is never written while its record is out of scope, Salesforce never gets a
    second record, and once back in scope and synced there is exactly one Outlook copy, linked."""
    world = World("contacts", direction)
    sf_id, ol_id = world.synced_pair(SF, **CONTACT)
    narrowed(world, sf_id, keep=True)
    in_scope = False
    for n, op in enumerate(ops):
        if op == "edit_sf":
            world.sf.edit(sf_id, company=f"SF {n}")
        elif op == "edit_ol":
            world.ol.edit(ol_id, company=f"OL {n}")
        elif op == "widen":
            world.sf.set_scope(sf_id, True)
            in_scope = True
        elif op == "narrow_keep":
            if in_scope:
                world.sf.set_scope(sf_id, False)
                world.setting = dataclasses.replace(world.setting, release_scope_exits=True)
                world.sync(full=True)
                world.setting = dataclasses.replace(world.setting, release_scope_exits=False)
                in_scope = False
            continue
        if op in ("sync", "full", "reset"):
            step = {"sync": world.sync, "full": lambda: world.sync(full=True), "reset": world.reset}[op]
            sf_w, ol_w = world.writes_during(step)
            assert not sf_w.get("create") and not sf_w.get("delete") and not ol_w.get("delete")
            if not in_scope:
                assert not sf_w and not ol_w, f"a kept copy was written at {op}"
        assert list(world.sf.items) == [sf_id] and list(world.ol.items) == [ol_id]
    world.sf.set_scope(sf_id, True)
    world.sync(full=True)
    world.sync(full=True)
    assert list(world.ol.items) == [ol_id] and world.counterpart(SF, sf_id) == ol_id
    assert world.link_of(SF, sf_id).state is LinkState.LINKED
    assert world.ol.canonical(ol_id) == world.sf.canonical(sf_id) or direction is BOTH

"""Stateful property tests: users edit, create, delete and move records on both sides while syncs, failures,
crashes, resets and configuration changes interleave at random (Hypothesis RuleBasedStateMachine).

Every record carries a unique token in its matching key (task/event subject, contact e-mail), which users never
edit, so the test can tell one logical record from another across the two sides. After every sync:

- no duplicates: no token appears twice among the live in-scope records of a side;
- a one-way source is never written (not even a stamp);
and after every sync that reports no failure:
- the link table is a bijection over live linked records (every link points at live in-scope records, except a
  tombstoned side; links pair records with the same token; every live source record is linked);
- for `both`, linked pairs hold equal content;
- nothing changed by a user is lost unless the conflict behaviour or deletion rules say it loses: the state after
  the sync equals what the §5 table predicts from the changes since the last clean sync (checked when that window
  had no failure, reset or configuration change; records that moved in or out of scope are left out);
- a sync after no user change writes nothing.

The merging machines (`merge_fields` on, `both`) check the merge invariants in the same places: a pair changed on
both sides is merged field by field (a field changed on one side only is kept, whichever side changed it; only a
field changed on both sides to different values takes the winner's value), linked pairs hold equal content after
every clean sync (convergence), and a sync right after a clean one writes nothing (convergence in two runs, no
echo of the merge's own writes).

The Outlook side's incremental change sets behave like Exchange's feeds: an item created and deleted between two
reads is never reported (`MemorySide.feed_hides_short_lived`), and the machine deletes copies the last sync has
just created on purpose, since a sync makes its creates after its own feed read.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from engine_harness import BOTH, O2S, OL, OL_WINS, S2O, SF, SF_WINS, World
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from sync.engine import ConflictBehavior, Direction, Guards, Side, SyncObject
from sync.engine.memory import SimulatedCrash

ABSENT = object()
SIDES = st.sampled_from([SF, OL])
NOTES = st.sampled_from(["", "note", " note ", "note\r\n", "other note", "line 1\nline 2"])
BASE_DAY = datetime(2026, 3, 2, 9, 0)


def new_record(object_type: SyncObject, token: str, n: int, note: str, level: str) -> dict[str, Any]:
    if object_type is SyncObject.TASKS:
        return {"subject": token, "due_date": date(2026, 3, 1) + timedelta(days=n % 4), "status": level,
                "description": note}
    if object_type is SyncObject.EVENTS:
        start = BASE_DAY + timedelta(hours=n)
        return {"subject": token, "start": f"{start.isoformat()}+00:00",
                "end": f"{(start + timedelta(minutes=30)).isoformat()}+00:00", "location": level,
                "description": note}
    return {"first_name": "Pat", "last_name": f"Doe {token}", "email": f"{token}@Example.com", "title": level,
            "notes": note}


def edit_fields(object_type: SyncObject, note: str, level: str) -> dict[str, Any]:
    if object_type is SyncObject.TASKS:
        return {"status": level, "description": note}
    if object_type is SyncObject.EVENTS:
        return {"location": level, "description": note}
    return {"title": level, "notes": note}


def deletion_propagates(direction: Direction, object_type: SyncObject, propagate: bool, side: Side) -> bool:
    """The §5 table's deletion column, written out independently of the engine's own helpers."""
    if direction is S2O:
        return side is SF
    if direction is O2S:
        return side is OL and (propagate or object_type is not SyncObject.EVENTS)
    return direction is BOTH and propagate


def winner_of(direction: Direction, behavior: ConflictBehavior) -> Side:
    if direction is S2O:
        return SF
    if direction is O2S:
        return OL
    return SF if behavior is SF_WINS else OL


FULL = st.sampled_from([False, False, False, True])  # mostly incremental: full syncs re-present everything
LEVELS = st.sampled_from(["Low", "Normal", "High", " high "])


def merged_fields(base: dict, salesforce: dict, outlook: dict, winner: Side) -> dict:
    """A field-level merge, written out independently of the engine: each side keeps the fields only the other side
    changed; a field changed on both sides to different values takes the winner's value. (The machine never edits
    the fields that merge as a group, an address or an event's time, so field by field is the same here.)"""
    merged = {}
    for name in dict.fromkeys([*base, *salesforce, *outlook]):
        sf_changed = salesforce.get(name) != base.get(name)
        ol_changed = outlook.get(name) != base.get(name)
        if sf_changed and ol_changed and salesforce.get(name) != outlook.get(name):
            value = (salesforce if winner is SF else outlook).get(name)
        elif sf_changed:
            value = salesforce.get(name)
        elif ol_changed:
            value = outlook.get(name)
        else:
            value = base.get(name)
        if value is not None:
            merged[name] = value
    return merged


class SyncMachine(RuleBasedStateMachine):
    """Two users' worth of chaos, one mailbox and one org, one object."""

    object_type: SyncObject = SyncObject.TASKS
    initial_direction: Direction = BOTH
    merge_fields: bool = False

    @initialize(behavior=st.sampled_from([SF_WINS, OL_WINS]), propagate=st.booleans(),
                batch_size=st.sampled_from([1, 3, 200]))
    def setup(self, behavior, propagate, batch_size):
        direction = self.initial_direction
        self.world = World(self.object_type, direction, behavior if direction is BOTH else None,
                           propagate_deletions=propagate, guards=Guards.off(), batch_size=batch_size,
                           merge_fields=self.merge_fields)
        self.counter = 0
        self.needs_full = True
        self.window_ok = False  # whether the changes since the last clean sync can be checked against §5
        self.base: dict[Side, dict[str, dict]] = {SF: {}, OL: {}}
        self.dirty: set[str] = set()  # tokens that moved in or out of scope during the window
        # Tokens that were ever out of scope. The engine cannot see a record outside the scope, so a user's copy
        # there (or ours, during a reset) is not matched: when it comes back it can be a second copy. Such
        # duplicates are the scope's, not the engine's, and are left out of the duplicate and coverage checks.
        self.scoped: set[str] = set()
        self.created_by_sync: dict[Side, list[str]] = {SF: [], OL: []}

    # ---- helpers -------------------------------------------------------------------------------------------

    def token_of(self, side: Side, record_id: str) -> str:
        canonical = self.world.side(side).canonical(record_id)
        return canonical.get("subject") or canonical["email"].split("@")[0]

    def snapshot(self) -> dict[Side, dict[str, dict]]:
        return {side: {self.token_of(side, i): self.world.side(side).canonical(i)
                       for i, item in self.world.side(side).items.items() if item.in_scope}
                for side in (SF, OL)}

    def out_of_scope_tokens(self) -> set[str]:
        return {self.token_of(side, i) for side in (SF, OL)
                for i, item in self.world.side(side).items.items() if not item.in_scope}

    def pick(self, side: Side, index: int) -> str | None:
        ids = sorted(self.world.side(side).items)
        return ids[index % len(ids)] if ids else None

    @property
    def setting(self):
        return self.world.setting

    # ---- what users do -------------------------------------------------------------------------------------

    @rule(side=SIDES, note=NOTES, level=LEVELS)
    def create(self, side, note, level):
        self.counter += 1
        self.world.side(side).add(new_record(self.object_type, f"t{self.counter}", self.counter, note, level))

    @rule(note_sf=NOTES, note_ol=NOTES, level=LEVELS)
    def create_same_record_on_both_sides(self, note_sf, note_ol, level):
        self.counter += 1
        token = f"t{self.counter}"
        self.world.sf.add(new_record(self.object_type, token, self.counter, note_sf, level))
        self.world.ol.add(new_record(self.object_type, token, self.counter, note_ol, level))

    @rule(side=SIDES, index=st.integers(0, 1000), note=NOTES, level=LEVELS)
    def edit(self, side, index, note, level):
        record_id = self.pick(side, index)
        if record_id is not None:
            self.world.side(side).edit(record_id, **edit_fields(self.object_type, note, level))

    def pick_pair(self, index: int) -> tuple[str, str] | None:
        """A logical record present (in scope) on both sides: (salesforce id, outlook id)."""
        by_token = {side: {self.token_of(side, i): i for i, item in self.world.side(side).items.items()
                           if item.in_scope} for side in (SF, OL)}
        common = sorted(set(by_token[SF]) & set(by_token[OL]))
        if not common:
            return None
        token = common[index % len(common)]
        return by_token[SF][token], by_token[OL][token]

    @rule(index=st.integers(0, 1000), note_sf=NOTES, note_ol=NOTES, level_sf=LEVELS, level_ol=LEVELS)
    def edit_on_both_sides(self, index, note_sf, note_ol, level_sf, level_ol):
        pair = self.pick_pair(index)
        if pair is not None:
            self.world.sf.edit(pair[0], **edit_fields(self.object_type, note_sf, level_sf))
            self.world.ol.edit(pair[1], **edit_fields(self.object_type, note_ol, level_ol))

    @rule(index=st.integers(0, 1000), sf_field=st.integers(0, 1), ol_field=st.integers(0, 1), note=NOTES,
          level=LEVELS)
    def edit_one_field_on_each_side(self, index, sf_field, ol_field, note, level):
        """The assistant fixes one field in Outlook while the rep fixes another (or the same) in Salesforce."""
        pair = self.pick_pair(index)
        if pair is not None:
            edits = list(edit_fields(self.object_type, note, level).items())
            self.world.sf.edit(pair[0], **dict([edits[sf_field]]))
            self.world.ol.edit(pair[1], **dict([edits[ol_field]]))

    @rule(full=FULL)
    def sync_twice(self, full):
        """Convergence in two runs: right after a clean sync, another sync writes nothing."""
        self._sync(full=full, reset=False)
        if not self.window_ok:
            return
        before = sum(sum(self.world.side(s).engine_writes.values()) for s in (SF, OL))
        outcome = self.world.sync()
        assert outcome.ok, outcome.issues
        after = sum(sum(self.world.side(s).engine_writes.values()) for s in (SF, OL))
        assert after == before, f"the sync after a clean sync wrote {after - before} time(s): {outcome.applied}"
        self.base = self.snapshot()

    @rule(index=st.integers(0, 1000), deleting=SIDES, note=NOTES, level=LEVELS)
    def edit_on_one_side_delete_on_the_other(self, index, deleting, note, level):
        pair = self.pick_pair(index)
        if pair is not None:
            sf_id, ol_id = pair
            kept = ol_id if deleting is SF else sf_id
            self.world.side(deleting.other).edit(kept, **edit_fields(self.object_type, note, level))
            self.world.side(deleting).remove(sf_id if deleting is SF else ol_id)

    @rule(side=SIDES, index=st.integers(0, 1000))
    def touch(self, side, index):
        record_id = self.pick(side, index)
        if record_id is not None:
            self.world.side(side).touch(record_id)

    @rule(side=SIDES, index=st.integers(0, 1000))
    def delete(self, side, index):
        record_id = self.pick(side, index)
        if record_id is not None:
            self.world.side(side).remove(record_id)

    @rule(side=SIDES, index=st.integers(0, 1000))
    def delete_a_copy_the_last_sync_created(self, side, index):
        """The user deletes a copy the sync has just made, before any later feed read has seen it."""
        created = [i for i in self.created_by_sync[side] if i in self.world.side(side).items]
        if created:
            self.world.side(side).remove(created[index % len(created)])

    @rule(side=SIDES, index=st.integers(0, 1000))
    def toggle_scope(self, side, index):
        record_id = self.pick(side, index)
        if record_id is not None:
            self.dirty.add(self.token_of(side, record_id))
            self.scoped.add(self.token_of(side, record_id))
            self.world.side(side).set_scope(record_id, not self.world.side(side).items[record_id].in_scope)

    # ---- faults and support actions ------------------------------------------------------------------------

    @rule(side=SIDES, crash=st.booleans(), count=st.integers(1, 3), transient=st.booleans(), full=FULL)
    def sync_with_fault(self, side, crash, count, transient, full):
        """A sync during which either the next writes to one side fail (per record), or the process dies right
        after the next remote write to it (a fault that finds no write stays armed for a later sync)."""
        if crash:
            self.world.side(side).crash_after_next_write = True
        else:
            self.world.side(side).fail_next(count, code="INJECTED", transient=transient)
        self._sync(full=full, reset=False)

    @rule(direction=st.sampled_from([S2O, O2S, BOTH]), behavior=st.sampled_from([SF_WINS, OL_WINS]),
          propagate=st.booleans())
    def change_configuration(self, direction, behavior, propagate):
        if self.object_type is SyncObject.CONTACTS and direction is O2S:
            return
        self.world.configure(direction, behavior if direction is BOTH else None, propagate)
        self.needs_full = True  # a changed data setting is followed by a full sync
        self.window_ok = False

    @rule()
    def reset(self):
        self._sync(full=True, reset=True)

    @rule(full=FULL)
    def sync(self, full):
        self._sync(full=full, reset=False)

    @rule()
    def sync_incremental(self):
        self._sync(full=False, reset=False)

    # ---- the checks ----------------------------------------------------------------------------------------

    def _sync(self, *, full: bool, reset: bool) -> None:
        pre = self.snapshot()
        skip = self.dirty | self.out_of_scope_tokens()
        source_writes = {side: sum(self.world.side(side).engine_writes.values()) for side in (SF, OL)}
        ids_before = {side: set(self.world.side(side).items) for side in (SF, OL)}
        try:
            outcome = self.world.reset() if reset else self.world.sync(full=full or self.needs_full)
        except SimulatedCrash:
            outcome = None
        # Users create nothing during a sync: whatever appeared is the sync's own copy.
        self.created_by_sync = {side: sorted(set(self.world.side(side).items) - ids_before[side])
                                for side in (SF, OL)}
        direction = self.setting.direction
        for side in (SF, OL):
            if not direction.writes(side):
                assert sum(self.world.side(side).engine_writes.values()) == source_writes[side], \
                    f"{direction}: the source side {side} was written"
        self.check_no_duplicates()
        if outcome is None or not outcome.ok:
            self.window_ok = False
            return
        self.needs_full = False
        self.check_links()
        post = self.snapshot()
        if self.window_ok and not reset:
            skip |= self.out_of_scope_tokens()
            self.check_semantics(pre, post, skip)
            if pre == self.base and not self.dirty and not self.scoped:
                total = sum(sum(self.world.side(s).engine_writes.values()) for s in (SF, OL))
                assert total == sum(source_writes.values()), "a sync after no user change must write nothing"
        self.base = post
        self.window_ok = True
        self.dirty = set()

    def check_no_duplicates(self) -> None:
        for side in (SF, OL):
            tokens = [self.token_of(side, i) for i, item in self.world.side(side).items.items()
                      if item.in_scope and self.token_of(side, i) not in self.scoped]
            assert len(tokens) == len(set(tokens)), f"duplicates in {side}: {sorted(tokens)}"

    def check_links(self) -> None:
        world = self.world
        referenced: dict[Side, set[str]] = {SF: set(), OL: set()}
        for link in world.links:
            assert link.state.value == "linked" and not link.needs_retry, link
            live = {}
            for side in (SF, OL):
                record_id = link.id_on(side)
                assert record_id is not None or link.gone is side, link
                item = world.side(side).items.get(record_id) if record_id else None
                if link.gone is side:
                    assert item is None or not item.in_scope, f"tombstoned {side} record is back: {link}"
                    continue
                assert item is not None and item.in_scope, f"link to a missing {side} record: {link}"
                referenced[side].add(record_id)
                live[side] = record_id
            if len(live) == 2:
                assert self.token_of(SF, live[SF]) == self.token_of(OL, live[OL]), f"wrong pair: {link}"
                if self.setting.direction is Direction.BOTH:
                    assert world.sf.canonical(live[SF]) == world.ol.canonical(live[OL]), link
        direction = self.setting.direction
        for side in (SF, OL):
            if direction.flows_from(side):
                live_ids = {i for i, item in world.side(side).items.items()
                            if item.in_scope and self.token_of(side, i) not in self.scoped}
                assert live_ids <= referenced[side], f"unlinked {side} records: {live_ids - referenced[side]}"

    def check_semantics(self, pre, post, skip) -> None:
        """The state after the sync is what §5 predicts from the user changes since the last clean sync."""
        setting = self.setting
        direction, propagate = setting.direction, setting.propagate_deletions
        tokens = set(pre[SF]) | set(pre[OL]) | set(self.base[SF]) | set(self.base[OL])
        for token in sorted(tokens - skip - self.scoped):
            changed = {s: token in pre[s] and pre[s][token] != self.base[s].get(token) for s in (SF, OL)}
            deleted = {s: token in self.base[s] and token not in pre[s] for s in (SF, OL)}
            expected = {s: self.base[s].get(token, ABSENT) for s in (SF, OL)}
            for side in (SF, OL):
                if deleted[side]:
                    expected[side] = ABSENT
            sources = [s for s in (SF, OL) if direction.flows_from(s)]
            for side in (SF, OL):
                if changed[side] and side not in sources:
                    expected[side] = pre[side][token]  # a target's own change stays until the source changes
            if direction is BOTH and changed[SF] and changed[OL]:
                winner = winner_of(direction, setting.conflict_behavior)
                if setting.merge_fields and token in self.base[SF] and self.base[SF][token] == self.base[OL].get(token):
                    merged = merged_fields(self.base[SF][token], pre[SF][token], pre[OL][token], winner)
                    expected = {SF: merged, OL: merged}
                else:
                    expected = {SF: pre[winner][token], OL: pre[winner][token]}
            else:
                for side in sources:
                    other = side.other
                    if changed[side]:
                        if (direction is BOTH and deleted[other]
                                and deletion_propagates(direction, self.object_type, propagate, other)
                                and winner_of(direction, setting.conflict_behavior) is other):
                            expected = {SF: ABSENT, OL: ABSENT}
                        else:
                            expected = {SF: pre[side][token], OL: pre[side][token]}
                    elif deleted[side] and deletion_propagates(direction, self.object_type, propagate, side) \
                            and not (direction is BOTH and changed[other]):
                        expected[other] = ABSENT
            actual = {s: post[s].get(token, ABSENT) for s in (SF, OL)}
            assert actual == expected, (
                f"{token}: {direction}/{setting.conflict_behavior}/propagate={setting.propagate_deletions}: "
                f"changed={changed} deleted={deleted}\nbase={[self.base[s].get(token) for s in (SF, OL)]}\n"
                f"pre={[pre[s].get(token) for s in (SF, OL)]}\nexpected={expected}\nactual={actual}")

    @invariant()
    def link_ids_are_unique(self):
        if not hasattr(self, "world"):
            return
        seen: set[tuple[Side, str]] = set()
        for link in self.world.links:
            for side in (SF, OL):
                record_id = link.id_on(side)
                if record_id is not None:
                    assert (side, record_id) not in seen
                    seen.add((side, record_id))


def machine_for(object_type: SyncObject, direction: Direction, *, merge_fields: bool = False) -> type[SyncMachine]:
    """The machine starting with one object and direction (configuration changes still move it around), so every
    combination gets its share of examples."""
    merged = "_merged" if merge_fields else ""
    return type(f"SyncMachine_{object_type}_{direction}{merged}", (SyncMachine,),
                {"object_type": object_type, "initial_direction": direction, "merge_fields": merge_fields})


TestTasksBoth = machine_for(SyncObject.TASKS, BOTH).TestCase
TestTasksSalesforceToOutlook = machine_for(SyncObject.TASKS, S2O).TestCase
TestTasksOutlookToSalesforce = machine_for(SyncObject.TASKS, O2S).TestCase
TestEventsBoth = machine_for(SyncObject.EVENTS, BOTH).TestCase
TestEventsSalesforceToOutlook = machine_for(SyncObject.EVENTS, S2O).TestCase
TestEventsOutlookToSalesforce = machine_for(SyncObject.EVENTS, O2S).TestCase
TestContactsBoth = machine_for(SyncObject.CONTACTS, BOTH).TestCase
TestContactsSalesforceToOutlook = machine_for(SyncObject.CONTACTS, S2O).TestCase
TestTasksBothMerged = machine_for(SyncObject.TASKS, BOTH, merge_fields=True).TestCase
TestEventsBothMerged = machine_for(SyncObject.EVENTS, BOTH, merge_fields=True).TestCase
TestContactsBothMerged = machine_for(SyncObject.CONTACTS, BOTH, merge_fields=True).TestCase

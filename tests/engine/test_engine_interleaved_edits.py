"""Users editing a record while a sync writes it (issue 20, item 4): an edit that lands between the engine's read and
its write is refused by the conditional write (`UpdateRequest.expected_version`, `CHANGED_DURING_SYNC`) and decided by
the next run; an edit between the write and the version read-back leaves the link without a version, so the next run
sees it as a change. Either way no edit is lost unless the conflict rule decides against it.

The scenarios below pin each case; `InterleavedMachine` (Hypothesis) interleaves edits and version bumps on either side
at either moment with creates, edits and syncs, for each direction and conflict behaviour, and checks after every sync
that both sides hold exactly what a model of the rule predicts, and at the end that a few more runs converge and then
write nothing. `MergingMachine` does the same for `both` with `merge_fields` (field-level merge), users editing single
fields; the merge scenarios pin a refused write, a re-edit of a field a refused merge wrote to the other side, and
an edit before the read-back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

import pytest
from engine_harness import BOTH, O2S, OL, OL_WINS, S2O, SF, SF_WINS, World
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from sync.engine import ConflictBehavior, Direction, Side, UpdateRequest, WriteResult
from sync.engine.apply import CHANGED_DURING_SYNC
from sync.engine.memory import MemorySide

TASK = {"subject": "Call Bob", "due_date": "2026-03-02", "description": "v0"}


def synced(world: World) -> tuple[str, str]:
    return world.synced_pair(SF, **TASK)


class Recording:
    """A side that remembers the update requests it was given."""

    def __init__(self, inner: MemorySide) -> None:
        self.inner, self.side, self.updates = inner, inner.side, []

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def update(self, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        self.updates.extend(requests)
        return self.inner.update(requests)


def recording(world: World, side: Side) -> Recording:
    wrapped = Recording(world.side(side))
    if side is SF:
        world.sf = wrapped  # type: ignore[assignment]
    else:
        world.ol = wrapped  # type: ignore[assignment]
    return wrapped


# ---- scenarios ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("behavior", [SF_WINS, OL_WINS])
def test_an_edit_between_read_and_write_is_refused_and_the_next_run_applies_the_rule(behavior):
    world = World("tasks", BOTH, behavior)
    sf_id, ol_id = synced(world)
    world.ol.edit(ol_id, description="A")  # the Outlook edit the run copies to Salesforce
    world.sf.before_next_write = lambda: world.sf.edit(sf_id, description="B")  # the user saves B meanwhile

    refused = world.sync()
    (issue,) = refused.issues
    assert (issue.side, issue.code, issue.transient) == (SF, CHANGED_DURING_SYNC, True)
    assert refused.ok and not refused.failures  # informational: the object does not go to `error`
    assert world.sf.canonical(sf_id)["description"] == "B"  # not overwritten
    assert world.link_of(SF, sf_id).needs_retry

    decided = world.sync()
    (conflict,) = decided.plan.conflicts
    winner = "B" if behavior is SF_WINS else "A"
    assert (conflict.kind, conflict.winner) == ("changed_both", SF if behavior is SF_WINS else OL)
    assert world.sf.canonical(sf_id)["description"] == world.ol.canonical(ol_id)["description"] == winner
    assert decided.ok and not decided.issues
    assert world.sync().writes() == 0


def test_an_edit_between_write_and_version_read_back_is_a_change_for_the_next_run():
    world = World("tasks", BOTH, OL_WINS)
    sf_id, ol_id = synced(world)
    world.ol.edit(ol_id, description="A")
    world.sf.after_next_update = lambda: world.sf.edit(sf_id, description="B")

    written = world.sync()
    assert written.ok and not written.issues
    assert world.link_of(SF, sf_id).salesforce_version is None  # B must not pass for the sync's own write

    world.sync()
    assert world.sf.canonical(sf_id)["description"] == world.ol.canonical(ol_id)["description"] == "B"
    assert world.sync().writes() == 0


def test_updates_carry_the_version_read_in_the_run_else_the_links():
    world = World("tasks", BOTH, SF_WINS)
    sf_id, ol_id = synced(world)
    link = world.link_of(SF, sf_id)
    sf, ol = recording(world, SF), recording(world, OL)

    ol.inner.edit(ol_id, description="A")  # Salesforce is not read in this run: the link's token is expected
    world.sync()
    assert [(r.record_id, r.expected_version) for r in sf.updates] == [(sf_id, link.salesforce_version)]

    sf.inner.edit(sf_id, description="S")
    ol.inner.edit(ol_id, description="O")  # both read: the loser's update expects the version read
    read = ol.inner.record(ol_id).version
    world.sync()
    assert [(r.record_id, r.expected_version) for r in ol.updates] == [(ol_id, read)]


def test_the_stamp_after_a_salesforce_create_expects_the_items_read_version():
    world = World("tasks", BOTH, SF_WINS)
    ol_id = world.ol.add({"subject": "From Outlook", "due_date": "2026-03-02", "description": "v0"})
    world.ol.before_next_write = lambda: world.ol.edit(ol_id, description="edited meanwhile")

    first = world.sync()
    (issue,) = first.issues  # the stamp was refused: it would have hidden the edit behind the sync's version
    assert (issue.side, issue.code) == (OL, CHANGED_DURING_SYNC) and first.ok
    sf_id = world.counterpart(OL, ol_id)
    assert world.sf.canonical(sf_id)["description"] == "v0"

    world.sync()
    assert world.sf.canonical(sf_id)["description"] == "edited meanwhile"


@pytest.mark.parametrize("direction", [S2O, O2S])
def test_one_way_updates_are_unconditional_as_the_source_wins_anyway(direction):
    """The link's token of a one-way target is left as it was when the target's own change was ignored: a
    conditional write would be refused for nothing and cost a run."""
    world = World("tasks", direction)
    sf_id, ol_id = world.linked_existing_pair(**TASK)
    source, target = (SF, OL) if direction is S2O else (OL, SF)
    ids = {SF: sf_id, OL: ol_id}
    world.side(target).edit(ids[target], description="target's own")
    assert world.sync().writes() == 0  # ignored
    world.side(source).edit(ids[source], description="source")
    outcome = world.sync()
    assert outcome.ok and not outcome.issues
    assert world.side(target).canonical(ids[target])["description"] == "source"


# ---- field-level merge (`merge_fields`) ----------------------------------------------------------------------------


def merging(behavior: ConflictBehavior) -> World:
    return World("tasks", BOTH, behavior, merge_fields=True)


def held(world: World, side: Side, record_id: str) -> dict[str, Any]:
    canonical = world.side(side).canonical(record_id)
    return {name: canonical.get(name) for name in TASK}


@pytest.mark.parametrize("behavior", [SF_WINS, OL_WINS])
@pytest.mark.parametrize("outlook_changed", [False, True], ids=["copied", "merged"])
def test_merging_an_edit_between_read_and_write_is_refused_and_the_next_run_merges_both(behavior, outlook_changed):
    """Salesforce changed the due date; an Outlook user saves a description while the run writes the due date to
    Outlook. Without an earlier Outlook change the run copies Salesforce's record; with one (the subject) it merges
    and writes both sides, Salesforce first. Either way the Outlook write is refused, and the next run merges all
    three fields, whichever side wins (no field changed on both sides)."""
    world = merging(behavior)
    sf_id, ol_id = synced(world)
    world.sf.edit(sf_id, due_date="2026-04-01")
    if outlook_changed:
        world.ol.edit(ol_id, subject="Call Bob back")
    world.ol.before_next_write = lambda: world.ol.edit(ol_id, description="A")

    refused = world.sync()
    (issue,) = refused.issues
    assert (issue.side, issue.code) == (OL, CHANGED_DURING_SYNC) and refused.ok
    assert held(world, OL, ol_id)["due_date"] == date(2026, 3, 2)  # the refused write left the item as the user did
    assert world.link_of(SF, sf_id).needs_retry

    merged = world.sync()
    (conflict,) = merged.plan.conflicts
    assert (conflict.kind, conflict.from_salesforce, conflict.from_outlook, conflict.contested) == (
        "merged_fields", ("due_date",), ("description",), ())
    expected = {"subject": "Call Bob back" if outlook_changed else "Call Bob", "due_date": date(2026, 4, 1),
                "description": "A"}
    assert held(world, SF, sf_id) == held(world, OL, ol_id) == expected
    assert merged.ok and not merged.issues
    assert world.sync().writes() == 0


@pytest.mark.parametrize("behavior", [SF_WINS, OL_WINS])
def test_merging_an_edit_between_a_merged_write_and_its_read_back_is_a_change_for_the_next_run(behavior):
    """A merge writes both sides; an Outlook user changes the due date the merge just wrote to Outlook before the
    version is read back. The link takes no Outlook version, so the next run sees a one-sided change and copies it,
    even where Salesforce wins (its own due date was decided in the previous run)."""
    world = merging(behavior)
    sf_id, ol_id = synced(world)
    world.sf.edit(sf_id, due_date="2026-04-01")
    world.ol.edit(ol_id, subject="Call Bob back")
    world.ol.after_next_update = lambda: world.ol.edit(ol_id, due_date="2026-05-01")

    written = world.sync()
    assert written.ok and not written.issues
    assert written.plan.conflicts[0].kind == "merged_fields"
    link = world.link_of(SF, sf_id)
    assert link.outlook_version is None and link.salesforce_version is not None  # the edit is not the sync's own

    world.sync()
    expected = {"subject": "Call Bob back", "due_date": date(2026, 5, 1), "description": "v0"}
    assert held(world, SF, sf_id) == held(world, OL, ol_id) == expected
    assert world.sync().writes() == 0


def test_a_re_edit_of_a_field_a_refused_merge_wrote_to_the_other_side_is_kept():
    """Outlook changed the description (A1), Salesforce the due date: a merge, written to Salesforce first. The
    Outlook user saves the description again (A2) before the Outlook write, which is refused. Nobody edited the
    description in Salesforce, so A2 must stand whichever side wins: the link learns that Salesforce holds the
    merged description, so the next run sees the description changed in Outlook only."""
    world = merging(SF_WINS)
    sf_id, ol_id = synced(world)
    world.ol.edit(ol_id, description="A1")
    world.sf.edit(sf_id, due_date="2026-04-01")
    world.ol.before_next_write = lambda: world.ol.edit(ol_id, description="A2")

    refused = world.sync()
    assert [issue.code for issue in refused.issues] == [CHANGED_DURING_SYNC]
    assert held(world, SF, sf_id)["description"] == "A1"  # Salesforce was written with the merge

    world.sync()
    assert held(world, SF, sf_id)["description"] == held(world, OL, ol_id)["description"] == "A2"


# ---- the state machine -------------------------------------------------------------------------------------------

ABSENT = None
MOMENTS = st.sampled_from(["before_write", "after_update"])
Record = dict[str, Any]


class InterleavedMachine(RuleBasedStateMachine):
    """Tasks synced in one direction and conflict behaviour; users edit the fields in `fields` with values never used
    twice, so the model can say which edit each side must hold after every sync.

    The model keeps, per task (named when created), what each side holds of those fields and which of them that
    side's users edited since the engine last decided the task. A sync decides every task with an edit (`_decide`,
    by the rule `_decided` states: the whole record, or field by field with `merge_fields`). An edit interleaved
    *before* the engine's write to the side it edits, where the run was going to write that task to that side,
    defers the decision if that side's edits count (the write is refused and the next run sees both sides changed;
    a merge's write to the other side still happens), or is overwritten as the rule says on a one-way target. Any
    other interleaved edit lands after the run's decision, as an edit made after the sync (for an edit between the
    write and the version read-back that is exactly what the engine must see)."""

    direction: Direction = BOTH
    merge_fields = False
    fields: tuple[str, ...] = ("description",)

    @initialize(behavior=st.sampled_from([SF_WINS, OL_WINS]))
    def setup(self, behavior: ConflictBehavior) -> None:
        self.world = World("tasks", self.direction, behavior if self.direction is BOTH else None,
                           merge_fields=self.merge_fields)
        self.behavior = behavior
        self.values: dict[str, dict[Side, Record | None]] = {}
        self.edited: dict[str, dict[Side, set[str]]] = {}
        self.ids: dict[str, dict[Side, str | None]] = {}
        self.counter = 0

    # ---- model -----------------------------------------------------------------------------------------------

    def _value(self, name: str) -> Any:
        self.counter += 1
        if name == "due_date":
            return date(2026, 1, 1) + timedelta(days=self.counter)
        return f"{name[0]}{self.counter}"

    def _sources(self) -> list[Side]:
        return [side for side in (SF, OL) if self.direction.flows_from(side)]

    def _winner(self) -> Side:
        if self.direction is not BOTH:
            return self._sources()[0]
        return SF if self.behavior is SF_WINS else OL

    def _decided(self, task: str) -> dict[Side, Record | None]:
        """What each side holds once the engine decides `task` (the model's own reading of the rule)."""
        values, edited = self.values[task], self.edited[task]
        changed = [side for side in (SF, OL) if edited[side] and self.direction.flows_from(side)]
        if len(changed) == 2 and self.merge_fields:
            winner = self._winner()
            loser = winner.other
            merged = {name: values[loser if name in edited[loser] and name not in edited[winner] else winner][name]
                      for name in self.fields}
            return {SF: merged, OL: dict(merged)}
        if len(changed) == 2:
            changed = [self._winner()]
        decided = dict(values)
        for source in changed:
            decided[source.other] = dict(values[source])
        return decided

    def _written_to(self, task: str, side: Side) -> bool:
        """Whether the next sync writes `task` to `side`."""
        return self.values[task][side] is not ABSENT and self._decided(task)[side] != self.values[task][side]

    def _pushes(self, task: str, side: Side) -> set[str]:
        """The fields the next sync writes to `side`."""
        before, after = self.values[task][side], self._decided(task)[side]
        if before is ABSENT or after is ABSENT:
            return set()
        return {name for name in self.fields if before[name] != after[name]}

    def _decide(self, task: str) -> None:
        self.values[task] = self._decided(task)
        self.edited[task] = {SF: set(), OL: set()}

    def _defer(self, task: str, refused: Side) -> None:
        """The write of `task` to `refused` was refused: a merge still wrote the other side, and the fields it wrote
        there are synced from now on (the link learns them); the rest is decided by the next run."""
        other = refused.other
        decided = self._decided(task)[other]
        assert decided is not ABSENT and self.values[task][other] is not ABSENT
        written = {name for name in self.fields if decided[name] != self.values[task][other][name]}
        self.values[task][other] = decided
        for side in (SF, OL):
            self.edited[task][side] -= written

    # ---- the ends --------------------------------------------------------------------------------------------

    def _id(self, side: Side, task: str) -> str | None:
        ids = self.ids[task]
        if ids[side] is None:
            known = ids[side.other]
            ids[side] = self.world.counterpart(side.other, known) if known is not None else None
        return ids[side]

    def _held(self, side: Side, task: str) -> Record | None:
        record_id = self._id(side, task)
        if record_id is None:
            return ABSENT
        canonical = self.world.side(side).canonical(record_id)
        return {name: canonical.get(name) for name in self.fields}

    def _both_sides(self, index: int, written_to: Side | None = None) -> str | None:
        """A task on both sides (picked by `index`); with `written_to`, one the next sync writes to that side if any."""
        tasks = sorted(t for t, values in self.values.items() if all(v is not ABSENT for v in values.values()))
        aimed = [task for task in tasks if written_to is not None and self._written_to(task, written_to)]
        tasks = aimed or tasks
        return tasks[index % len(tasks)] if tasks else None

    def _any_on_both_sides(self) -> bool:
        return self._both_sides(0) is not None

    def _field(self, task: str, index: int) -> str:
        """The field an edit picks (by `index`)."""
        return self.fields[index % len(self.fields)]

    def _edit(self, side: Side, task: str, name: str | None, value: Any) -> Callable[[], None]:
        record_id = self._id(side, task)
        assert record_id is not None
        if name is None:
            return lambda: self.world.side(side).touch(record_id)
        return lambda: self.world.side(side).edit(record_id, **{name: value})

    def _user_edit(self, side: Side, task: str, name: str, value: Any) -> None:
        self.values[task][side][name] = value  # type: ignore[index]
        self.edited[task][side].add(name)

    # ---- rules -----------------------------------------------------------------------------------------------

    @rule(source=st.sampled_from([SF, OL]))
    def create(self, source: Side) -> None:
        if not self.direction.flows_from(source):
            source = source.other
        task = f"t{len(self.values)}"
        record = {"subject": task, "due_date": self._value("due_date"), "description": self._value("description")}
        record_id = self.world.side(source).add(record)
        self.values[task] = {source: {name: record[name] for name in self.fields}, source.other: ABSENT}
        self.edited[task] = {source: set(self.fields), source.other: set()}
        self.ids[task] = {source: record_id, source.other: None}

    def _edit_field(self, side: Side, task: str, which: int) -> None:
        name = self._field(task, which)
        if name is not None:
            value = self._value(name)
            self._edit(side, task, name, value)()
            self._user_edit(side, task, name, value)

    @precondition(_any_on_both_sides)
    @rule(side=st.sampled_from([SF, OL]), index=st.integers(0, 100), which=st.integers(0, 5))
    def edit(self, side: Side, index: int, which: int) -> None:
        task = self._both_sides(index)
        assert task is not None
        self._edit_field(side, task, which)

    @precondition(_any_on_both_sides)
    @rule(index=st.integers(0, 100), which=st.tuples(st.integers(0, 5), st.integers(0, 5)))
    def edit_on_both_sides(self, index: int, which: tuple[int, int]) -> None:
        """Users of both sides edit the same task before a sync sees it: a conflict (or a merge)."""
        task = self._both_sides(index)
        assert task is not None
        for side, pick in zip((SF, OL), which, strict=True):
            self._edit_field(side, task, pick)

    @precondition(_any_on_both_sides)
    @rule(side=st.sampled_from([SF, OL]), index=st.integers(0, 100))
    def touch(self, side: Side, index: int) -> None:
        task = self._both_sides(index)
        assert task is not None
        self._edit(side, task, None, None)()

    @rule()
    def sync(self) -> None:
        self._sync()

    @rule(side=st.sampled_from([SF, OL]), index=st.integers(0, 100), which=st.integers(0, 5), moment=MOMENTS,
          touch_only=st.booleans(), aimed=st.booleans())
    def sync_while_a_user_edits(self, side: Side, index: int, which: int, moment: str, touch_only: bool,
                                aimed: bool) -> None:
        """`aimed`: the user edits a task the run writes to that side, if there is one (else any task)."""
        task = self._both_sides(index, side if aimed else None)
        if task is None:
            self._sync()
            return
        # Before a write of this task to that side: refused where that side's edits count (the decision waits for
        # the next run); on a one-way target the write is unconditional and the rule overwrites the edit.
        landed_before = moment == "before_write" and self._written_to(task, side)
        deferred = landed_before and self.direction.flows_from(side)
        name = None if touch_only else self._field(task, which)
        value = None if name is None else self._value(name)
        fired: list[bool] = []
        act = self._edit(side, task, name, value)

        def hook() -> None:
            fired.append(True)
            act()

        end = self.world.side(side)
        setattr(end, "before_next_write" if moment == "before_write" else "after_next_update", hook)

        def user_edit() -> None:
            if name is not None:
                self._user_edit(side, task, name, value)

        def after_the_run() -> None:
            end.before_next_write = end.after_next_update = None
            if not fired:  # the run wrote nothing to that side: the user's edit comes after it
                act()
            if not landed_before or deferred:
                user_edit()

        self._sync(deferred=(task, side) if deferred else None,
                   before=user_edit if landed_before and not deferred else None, after=after_the_run)

    def _sync(self, deferred: tuple[str, Side] | None = None, before: Callable[[], None] | None = None,
              after: Callable[[], None] | None = None) -> None:
        outcome = self.world.sync()
        if before is not None:  # an edit the run's write then overwrote, as the rule says
            before()
        assert outcome.ok, outcome.issues
        refused = {(issue.side, issue.record_id) for issue in outcome.issues if issue.code == CHANGED_DURING_SYNC}
        assert len(refused) == (1 if deferred else 0), outcome.issues
        for task in self.values:
            if deferred is not None and task == deferred[0]:
                self._defer(*deferred)
            else:
                self._decide(task)
        if after is not None:
            after()
        self._check()

    def _check(self) -> None:
        for task, values in self.values.items():
            for side in (SF, OL):
                actual = self._held(side, task)
                assert actual == values[side], (
                    f"{task} in {side}: {actual!r}, expected {values[side]!r} "
                    f"({self.direction}/{self.behavior}{'/merge' if self.merge_fields else ''})")

    def teardown(self) -> None:
        if not hasattr(self, "world"):
            return
        for _ in range(2):
            self._sync()
        assert self.world.sync().writes() == 0
        if self.direction is BOTH:
            for task, values in self.values.items():
                assert values[SF] == values[OL], task


class MergingMachine(InterleavedMachine):
    """`both` with `merge_fields`: users edit single fields, so a sync that meets changes on both sides merges them
    (fields changed on one side copied, the same field changed on both taken from the winner); a merge writes both
    sides, so an edit before the write to one side leaves the other side written with the merge (`_defer`)."""

    merge_fields = True
    fields = ("subject", "due_date", "description")


def machine(direction: Direction) -> type[InterleavedMachine]:
    return type(f"InterleavedMachine_{direction}", (InterleavedMachine,), {"direction": direction})


TestInterleavedBoth = machine(BOTH).TestCase
TestInterleavedSalesforceToOutlook = machine(S2O).TestCase
TestInterleavedOutlookToSalesforce = machine(O2S).TestCase
TestInterleavedMerging = MergingMachine.TestCase

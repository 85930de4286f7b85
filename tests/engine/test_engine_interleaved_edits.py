"""Users editing a record while a sync writes it (issue 20, item 4): an edit that lands between the engine's read and
its write is refused by the conditional write (`UpdateRequest.expected_version`, `CHANGED_DURING_SYNC`) and decided by
the next run; an edit between the write and the version read-back leaves the link without a version, so the next run
sees it as a change. Either way no edit is lost unless the conflict rule decides against it.

The scenarios below pin each case; `InterleavedMachine` (Hypothesis) interleaves edits and version bumps on either side
at either moment with creates, edits and syncs, for each direction and conflict behaviour, and checks after every sync
that both sides hold exactly what a model of the rule predicts, and at the end that a few more runs converge and then
write nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from engine_harness import BOTH, O2S, OL, OL_WINS, S2O, SF, SF_WINS, World
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

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


# ---- the state machine -------------------------------------------------------------------------------------------

ABSENT = None
MOMENTS = st.sampled_from(["before_write", "after_update"])


class InterleavedMachine(RuleBasedStateMachine):
    """Tasks synced in one direction and conflict behaviour; users edit `description` with values never used twice,
    so the model can say which edit each side must hold after every sync.

    The model keeps, per task (its subject), each side's value and whether that side was edited since the engine
    last decided the task. A sync decides every task with an edit (`_decide`). An edit interleaved *before* the
    engine's write to the side it edits, where the run was going to write that task to that side, defers the
    decision if that side's edits count (the write is refused and the next run sees both sides changed), or is
    overwritten as the rule says on a one-way target. Any other interleaved edit lands after the run's decision, as
    an edit made after the sync (for an edit between the write and the version read-back that is exactly what the
    engine must see)."""

    direction: Direction = BOTH

    @initialize(behavior=st.sampled_from([SF_WINS, OL_WINS]))
    def setup(self, behavior: ConflictBehavior) -> None:
        self.world = World("tasks", self.direction, behavior if self.direction is BOTH else None)
        self.behavior = behavior
        self.values: dict[str, dict[Side, str | None]] = {}
        self.edited: dict[str, dict[Side, bool]] = {}
        self.counter = 0

    # ---- model -----------------------------------------------------------------------------------------------

    def _value(self) -> str:
        self.counter += 1
        return f"v{self.counter}"

    def _sources(self) -> list[Side]:
        return [side for side in (SF, OL) if self.direction.flows_from(side)]

    def _winner(self) -> Side:
        if self.direction is not BOTH:
            return self._sources()[0]
        return SF if self.behavior is SF_WINS else OL

    def _written_to(self, task: str, side: Side) -> bool:
        """Whether the next sync writes `task` to `side` (the model's own reading of the rule)."""
        values, edited = self.values[task], self.edited[task]
        if values[side] is ABSENT:
            return False
        source = side.other
        if not self.direction.flows_from(source) or not edited[source]:
            return False
        return not (edited[side] and self.direction is BOTH and self._winner() is side)

    def _decide(self, task: str) -> None:
        values, edited = self.values[task], self.edited[task]
        changed = [side for side in (SF, OL) if edited[side] and self.direction.flows_from(side)]
        if len(changed) == 2:
            changed = [self._winner()]
        for source in changed:
            values[source.other] = values[source]
        self.edited[task] = {SF: False, OL: False}

    # ---- the ends --------------------------------------------------------------------------------------------

    def _id(self, side: Side, task: str) -> str | None:
        found = [i for i, item in self.world.side(side).items.items() if item.fields.get("subject") == task]
        assert len(found) <= 1, f"{task} twice in {side}"
        return found[0] if found else None

    def _both_sides(self, index: int) -> str | None:
        tasks = sorted(t for t, values in self.values.items() if all(v is not ABSENT for v in values.values()))
        return tasks[index % len(tasks)] if tasks else None

    def _edit(self, side: Side, task: str, value: str | None) -> Callable[[], None]:
        record_id = self._id(side, task)
        assert record_id is not None
        if value is None:
            return lambda: self.world.side(side).touch(record_id)
        return lambda: self.world.side(side).edit(record_id, description=value)

    # ---- rules -----------------------------------------------------------------------------------------------

    @rule(source=st.sampled_from([SF, OL]))
    def create(self, source: Side) -> None:
        if not self.direction.flows_from(source):
            source = source.other
        task = f"t{len(self.values)}"
        value = self._value()
        self.world.side(source).add({"subject": task, "due_date": "2026-03-02", "description": value})
        self.values[task] = {source: value, source.other: ABSENT}
        self.edited[task] = {source: True, source.other: False}

    @rule(side=st.sampled_from([SF, OL]), index=st.integers(0, 100))
    def edit(self, side: Side, index: int) -> None:
        task = self._both_sides(index)
        if task is not None:
            value = self._value()
            self._edit(side, task, value)()
            self.values[task][side] = value
            self.edited[task][side] = True

    @rule(side=st.sampled_from([SF, OL]), index=st.integers(0, 100))
    def touch(self, side: Side, index: int) -> None:
        task = self._both_sides(index)
        if task is not None:
            self._edit(side, task, None)()

    @rule()
    def sync(self) -> None:
        self._sync()

    @rule(side=st.sampled_from([SF, OL]), index=st.integers(0, 100), moment=MOMENTS, touch_only=st.booleans())
    def sync_while_a_user_edits(self, side: Side, index: int, moment: str, touch_only: bool) -> None:
        task = self._both_sides(index)
        if task is None:
            self._sync()
            return
        value = None if touch_only else self._value()
        fired: list[bool] = []
        act = self._edit(side, task, value)

        def hook() -> None:
            fired.append(True)
            act()

        end = self.world.side(side)
        setattr(end, "before_next_write" if moment == "before_write" else "after_next_update", hook)
        # Before a write of this task to that side: refused where that side's edits count (the decision waits for
        # the next run); on a one-way target the write is unconditional and the rule overwrites the edit.
        landed_before = moment == "before_write" and self._written_to(task, side)
        deferred = landed_before and self.direction.flows_from(side)

        def user_edit() -> None:
            if value is not None:
                self.values[task][side] = value
                self.edited[task][side] = True

        def after_the_run() -> None:
            end.before_next_write = end.after_next_update = None
            if not fired:  # the run wrote nothing to that side: the user's edit comes after it
                act()
            if not landed_before or deferred:
                user_edit()

        self._sync(deferred=task if deferred else None, before=user_edit if landed_before and not deferred else None,
                   after=after_the_run)

    def _sync(self, deferred: str | None = None, before: Callable[[], None] | None = None,
              after: Callable[[], None] | None = None) -> None:
        outcome = self.world.sync()
        if before is not None:  # an edit the run's write then overwrote, as the rule says
            before()
        assert outcome.ok, outcome.issues
        refused = {(issue.side, issue.record_id) for issue in outcome.issues if issue.code == CHANGED_DURING_SYNC}
        assert len(refused) == (1 if deferred else 0), outcome.issues
        for task in self.values:
            if task != deferred:
                self._decide(task)
        if after is not None:
            after()
        self._check()

    def _check(self) -> None:
        for task, values in self.values.items():
            for side in (SF, OL):
                record_id = self._id(side, task)
                actual = self.world.side(side).items[record_id].fields["description"] if record_id else ABSENT
                assert actual == values[side], (
                    f"{task} in {side}: {actual!r}, expected {values[side]!r} ({self.direction}/{self.behavior})")

    def teardown(self) -> None:
        if not hasattr(self, "world"):
            return
        for _ in range(2):
            self._sync()
        assert self.world.sync().writes() == 0
        if self.direction is BOTH:
            for task, values in self.values.items():
                assert values[SF] == values[OL], task


def machine(direction: Direction) -> type[InterleavedMachine]:
    return type(f"InterleavedMachine_{direction}", (InterleavedMachine,), {"direction": direction})


TestInterleavedBoth = machine(BOTH).TestCase
TestInterleavedSalesforceToOutlook = machine(S2O).TestCase
TestInterleavedOutlookToSalesforce = machine(O2S).TestCase

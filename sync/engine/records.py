"""The engine's vocabulary: objects, directions, conflict behaviours, sides, records and change sets.

The string values are the ones the Django models store (DataSetting.direction, RecordLink.state, ...), so
the engine and the database speak the same words. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class SyncObject(StrEnum):
    """What is synced: one data setting and one data set per object."""

    CONTACTS = "contacts"
    EVENTS = "events"
    TASKS = "tasks"


class Side(StrEnum):
    """The two ends. "outlook" is the Exchange mailbox (EWS or Graph)."""

    SALESFORCE = "salesforce"
    OUTLOOK = "outlook"

    @property
    def other(self) -> Side:
        return Side.OUTLOOK if self is Side.SALESFORCE else Side.SALESFORCE


class Direction(StrEnum):
    """A data setting's sync direction."""

    NONE = "none"
    SALESFORCE_TO_OUTLOOK = "salesforce_to_outlook"
    OUTLOOK_TO_SALESFORCE = "outlook_to_salesforce"
    BOTH = "both"

    def flows_from(self, side: Side) -> bool:
        """Whether changes made on `side` are sent to the other side."""
        if self is Direction.BOTH:
            return True
        if self is Direction.SALESFORCE_TO_OUTLOOK:
            return side is Side.SALESFORCE
        if self is Direction.OUTLOOK_TO_SALESFORCE:
            return side is Side.OUTLOOK
        return False

    def writes(self, side: Side) -> bool:
        """Whether the engine may ever write to `side` (a one-way source is never written)."""
        return self.flows_from(side.other)


class ConflictBehavior(StrEnum):
    """Which side's version stands when both changed (used by `both`; one-way directions imply their source)."""

    SALESFORCE_WINS = "salesforce_wins"
    OUTLOOK_WINS = "outlook_wins"

    @property
    def winner(self) -> Side:
        return Side.SALESFORCE if self is ConflictBehavior.SALESFORCE_WINS else Side.OUTLOOK


class LinkState(StrEnum):
    """RecordLink.state: a pair that is linked, or a create on one side that is not yet confirmed, or a copy kept
    and unlinked (`released`): the admin chose to keep the Outlook copies of records a configuration change took
    out of the scope. A released pair is never written, deleted or sent either way; it only remembers both ids so
    the kept copy is neither created in Salesforce nor deleted as an orphan, and relinks when its record comes back
    into scope."""

    LINKED = "linked"
    PENDING_CREATE_SALESFORCE = "pending_create_salesforce"
    PENDING_CREATE_OUTLOOK = "pending_create_outlook"
    RELEASED = "released"

    @staticmethod
    def pending_create(side: Side) -> LinkState:
        if side is Side.SALESFORCE:
            return LinkState.PENDING_CREATE_SALESFORCE
        return LinkState.PENDING_CREATE_OUTLOOK

    @property
    def pending_side(self) -> Side | None:
        """The side a pending create is for, or None for a linked pair."""
        if self is LinkState.PENDING_CREATE_SALESFORCE:
            return Side.SALESFORCE
        if self is LinkState.PENDING_CREATE_OUTLOOK:
            return Side.OUTLOOK
        return None


@dataclass(frozen=True, slots=True)
class DataSetting:
    """The part of a configuration's data setting that decides what the engine does for one object.

    `propagate_deletions` governs user deletions only where DESIGN.md §5 makes them optional: in `both`, and for
    events in `outlook_to_salesforce`. In `salesforce_to_outlook` a Salesforce deletion always removes the
    Outlook copy; in `outlook_to_salesforce` an Outlook task deletion always removes the Salesforce copy.
    """

    direction: Direction
    conflict_behavior: ConflictBehavior = ConflictBehavior.SALESFORCE_WINS
    propagate_deletions: bool = True
    # The admin chose "keep them and unlink" for this run: a linked record leaving the data set releases its
    # Outlook copy (link state `released`) instead of deleting it (a one-shot choice made when saving a change).
    release_scope_exits: bool = False
    # `both` only: a pair changed on both sides is merged field by field (`sync.engine.merge`); the conflict
    # behaviour then decides only the fields changed on both sides.
    merge_fields: bool = False

    def winner(self) -> Side:
        """The side whose version stands in a conflict: the source for one-way directions."""
        if self.direction is Direction.SALESFORCE_TO_OUTLOOK:
            return Side.SALESFORCE
        if self.direction is Direction.OUTLOOK_TO_SALESFORCE:
            return Side.OUTLOOK
        return self.conflict_behavior.winner

    def deletion_propagates(self, from_side: Side, object_type: SyncObject) -> bool:
        """Whether a user deletion on `from_side` deletes the copy on the other side."""
        if not self.direction.flows_from(from_side):
            return False
        if self.direction is Direction.SALESFORCE_TO_OUTLOOK:
            return True
        if self.direction is Direction.OUTLOOK_TO_SALESFORCE:
            return self.propagate_deletions if object_type is SyncObject.EVENTS else True
        return self.propagate_deletions


@dataclass(frozen=True, slots=True)
class SideRecord:
    """One record as a side presents it to the engine, already mapped to canonical field names.

    `version` is the side's version token (Salesforce SystemModstamp, Exchange ChangeKey); `salesforce_id` is the
    Salesforce id stamped on an Exchange item (None on Salesforce records, whose own id is `id`); `in_scope` is
    False for a record that exists but is outside the data set / sync folder / allowed sensitivity.
    """

    id: str
    version: str | None
    fields: Mapping[str, Any]
    in_scope: bool = True
    salesforce_id: str | None = None


@dataclass(slots=True)
class ChangeSet:
    """What one side reports for a run.

    A *full* change set lists every in-scope record of the side (first sync, reset, expired watermark): a linked
    record missing from it is removed. An *incremental* one lists only records changed since the watermark
    (including linked records that left the scope, with `in_scope=False`) and the ids deleted since; a record
    it does not mention is unchanged. `watermark` is the value to store once the run's links are committed.
    """

    side: Side
    records: dict[str, SideRecord] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    full: bool = False
    watermark: str | None = None
    # Records that are no longer records because the same calendar entry is now presented in another shape: a
    # series as its occurrences (an exception was added, it cannot be written as a series), or occurrences as
    # their series. Not a user deletion: the new shape's records carry the content (see reconcile).
    reshaped: set[str] = field(default_factory=set)

    @classmethod
    def of(
        cls,
        side: Side,
        records: list[SideRecord] | tuple[SideRecord, ...] = (),
        *,
        deleted: set[str] | frozenset[str] | tuple[str, ...] = (),
        full: bool = False,
        watermark: str | None = None,
    ) -> ChangeSet:
        return cls(side, {r.id: r for r in records}, set(deleted), full, watermark)

    def in_scope_count(self) -> int:
        return sum(1 for r in self.records.values() if r.in_scope)

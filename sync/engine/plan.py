"""The plan reconcile returns: actions to apply, conflicts it resolved, per-record issues, or a refusal.

Each `Action` says what to write on which side and what the link should be once the write succeeds, so the
apply loop needs no sync knowledge of its own:

- `create`: `link` is the `pending_create_*` link to commit *before* the remote create; on success it becomes
  `linked` with the new id and version token.
- `update`: `link` is the link after success, minus the written side's new version token (taken from the write).
- `delete`: on success the link (`previous`) is removed; `link` is the pair as evaluated (kept, marked for
  retry, if the delete fails).
- `link` / `unlink`: link-only changes (matches, tombstones, version refreshes, dropped pairs); no remote write.

`reason` is a short code for the run history (e.g. `salesforce_changed`, `conflict_outlook_wins`, `match_email`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sync.engine.links import Link
from sync.engine.records import Side


class ActionKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    LINK = "link"
    UNLINK = "unlink"


WRITE_KINDS = frozenset({ActionKind.CREATE, ActionKind.UPDATE, ActionKind.DELETE})


@dataclass(frozen=True, slots=True)
class Action:
    """One step of a plan (see the module docstring for what `link` means per kind)."""

    kind: ActionKind
    reason: str
    side: Side | None = None
    record_id: str | None = None
    fields: Mapping[str, Any] | None = None
    link: Link | None = None
    previous: Link | None = None
    salesforce_id_stamp: str | None = None
    source_id: str | None = None
    stamp_outlook_id: str | None = None  # after a Salesforce create: the Outlook item to stamp with the new id
    # One of the two updates of a field-level merge (both sides written): the apply loop writes both in one batch
    # and commits the link with both new version tokens, or, if either write fails, keeps the old link to retry.
    merge_pair: bool = False
    # A merge's update: the merge fields it changes on its side (the values it takes from the other side). If the
    # other side's write fails, the link learns that this side now holds those values (see apply._settle_merges).
    merge_written: tuple[str, ...] = ()

    @property
    def is_write(self) -> bool:
        return self.kind in WRITE_KINDS


@dataclass(frozen=True, slots=True)
class Conflict:
    """A conflict the engine resolved: which pair, what kind, who won and what happened."""

    salesforce_id: str | None
    outlook_id: str | None
    kind: str  # "changed_both", "changed_vs_deleted", "match_differs", "merged_fields"
    winner: Side
    outcome: str
    # A field-level merge ("merged_fields"): the fields each side's value was taken from, and those changed on
    # both sides to different values (decided by the winner).
    from_salesforce: tuple[str, ...] = ()
    from_outlook: tuple[str, ...] = ()
    contested: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RecordIssue:
    """A per-record problem for support staff (RecordError): ambiguous match, failed write, ..."""

    side: Side
    record_id: str | None
    code: str
    message: str
    transient: bool = False


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a run was stopped before writing anything (the user's state becomes `needs_attention`)."""

    code: str  # "mass_delete", "side_empty"
    reason: str
    # How many synced records the refused plan would have removed (deleted, or left for deletion on the next run):
    # for a person deciding whether a change of scope or a loss on one end caused it.
    count: int = 0


@dataclass(frozen=True, slots=True)
class Guards:
    """Thresholds of the §5 guards.

    Mass-delete breaker: a plan deleting at least `min_deletes` records on one side and more than
    `max_delete_share` of the user's linked records is refused. Empty side: a full change set with no
    in-scope record while at least `empty_side_min_links` records are linked on that side is refused.
    """

    max_delete_share: float = 0.5
    min_deletes: int = 10
    empty_side_min_links: int = 10
    enabled: bool = True

    @classmethod
    def off(cls) -> Guards:
        """No guards: for the engine's tests, which exercise the table without the breakers."""
        return cls(enabled=False)


@dataclass(slots=True)
class Plan:
    """Everything one reconcile decided, in apply order (link-only changes first, then writes)."""

    actions: list[Action] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    issues: list[RecordIssue] = field(default_factory=list)
    refusal: Refusal | None = None

    @property
    def writes(self) -> list[Action]:
        return [a for a in self.actions if a.is_write]

    def counts(self) -> Counter[tuple[str, str]]:
        """(side or "links", kind) -> number of actions, for run summaries and tests."""
        return Counter((a.side.value if a.side else "links", a.kind.value) for a in self.actions)

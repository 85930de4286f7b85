"""The sync engine: pure Python, no Django, no I/O (DESIGN.md §6).

- `records`: the vocabulary (objects, directions, conflict behaviours, link states, records, change sets);
- `canonical`: canonical fields per object, normalisation and the content hash;
- `links`: the `Link` (RecordLink), the `LinkStore` / `WatermarkStore` interfaces and the run's `MarkingLinkStore`;
- `matching`: pairing unlinked records on first syncs and resets;
- `reconcile`: the §5 table as a pure function returning a `Plan`, with the guards;
- `apply`: the shell (`run_sync`, `apply_plan`, `reset_sync`) and the `SideConnector` interface;
- `pending`: the lookups before planning (pending creates resolved, match candidates), one batch per side;
- `memory`: in-memory side, link store and watermarks for tests and the sandbox.
"""

from sync.engine.apply import (
    CreateRequest,
    LookupRequest,
    Planned,
    SideConnector,
    SyncOutcome,
    UpdateRequest,
    WriteError,
    WriteResult,
    apply_plan,
    plan_sync,
    reset_sync,
    run_sync,
)
from sync.engine.canonical import Schema, schema_for
from sync.engine.links import Link, LinkStore, LinkTable, WatermarkStore
from sync.engine.matching import match_keys, match_records
from sync.engine.plan import Action, ActionKind, Conflict, Guards, Plan, RecordIssue, Refusal
from sync.engine.reconcile import reconcile
from sync.engine.records import (
    ChangeSet,
    ConflictBehavior,
    DataSetting,
    Direction,
    LinkState,
    Side,
    SideRecord,
    SyncObject,
)

__all__ = [
    "Action", "ActionKind", "ChangeSet", "Conflict", "ConflictBehavior", "CreateRequest", "DataSetting",
    "Direction", "Guards", "Link", "LinkState", "LinkStore", "LinkTable", "LookupRequest", "Plan", "Planned",
    "RecordIssue", "Refusal", "Schema", "Side", "SideConnector", "SideRecord", "SyncObject", "SyncOutcome",
    "UpdateRequest", "WatermarkStore", "WriteError", "WriteResult", "apply_plan", "match_keys", "match_records",
    "plan_sync", "reconcile", "reset_sync", "run_sync", "schema_for",
]

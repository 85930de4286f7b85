"""A small world for engine tests: two in-memory sides, a link store and watermarks, synced with run_sync."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sync.engine import (
    ConflictBehavior,
    DataSetting,
    Direction,
    Guards,
    Link,
    Side,
    SyncObject,
    SyncOutcome,
    reset_sync,
    run_sync,
)
from sync.engine.memory import MemoryLinkStore, MemorySide, MemoryWatermarks

SF, OL = Side.SALESFORCE, Side.OUTLOOK
S2O, O2S, BOTH, NONE = (Direction.SALESFORCE_TO_OUTLOOK, Direction.OUTLOOK_TO_SALESFORCE, Direction.BOTH,
                        Direction.NONE)
SF_WINS, OL_WINS = ConflictBehavior.SALESFORCE_WINS, ConflictBehavior.OUTLOOK_WINS


def natural_behavior(direction: Direction) -> ConflictBehavior:
    """The conflict behaviour Salesforce's validation requires for a one-way direction."""
    return OL_WINS if direction is O2S else SF_WINS


class World:
    """Salesforce and Outlook for one user and object, plus what the engine remembers."""

    def __init__(self, object_type: str = "tasks", direction: Direction = BOTH,
                 behavior: ConflictBehavior | None = None, *, propagate_deletions: bool = True,
                 guards: Guards | None = None, batch_size: int = 200, merge_fields: bool = False) -> None:
        self.object_type = SyncObject(object_type)
        self.sf = MemorySide(SF, self.object_type)
        self.ol = MemorySide(OL, self.object_type)
        self.links = MemoryLinkStore()
        self.watermarks = MemoryWatermarks()
        self.setting = DataSetting(direction, behavior or natural_behavior(direction), propagate_deletions,
                                   merge_fields=merge_fields)
        self.guards = guards
        self.batch_size = batch_size
        self.last: SyncOutcome | None = None

    def side(self, side: Side) -> MemorySide:
        return self.sf if side is SF else self.ol

    def configure(self, direction: Direction, behavior: ConflictBehavior | None = None,
                  propagate_deletions: bool | None = None) -> None:
        self.setting = DataSetting(
            direction, behavior or natural_behavior(direction),
            self.setting.propagate_deletions if propagate_deletions is None else propagate_deletions,
            merge_fields=self.setting.merge_fields)

    def sync(self, *, full: bool = False, guards: Guards | None = None) -> SyncOutcome:
        """One run; `full` is implied on the first run (no watermark yet)."""
        self.last = run_sync(self.object_type, self.setting, self.sf, self.ol, self.links, self.watermarks,
                             full=full, guards=guards or self.guards, batch_size=self.batch_size)
        return self.last

    def writes_during(self, action: Any) -> tuple[Counter[str], Counter[str]]:
        """Engine writes made on each side while `action()` runs."""
        sf_before, ol_before = Counter(self.sf.engine_writes), Counter(self.ol.engine_writes)
        action()
        return self.sf.engine_writes - sf_before, self.ol.engine_writes - ol_before

    def reset(self) -> SyncOutcome:
        reset_sync(self.links, self.watermarks)
        return self.sync(full=True)

    def link_of(self, side: Side, record_id: str) -> Link | None:
        return self.links.by_salesforce_id(record_id) if side is SF else self.links.by_outlook_id(record_id)

    def counterpart(self, side: Side, record_id: str) -> str | None:
        link = self.link_of(side, record_id)
        return link.id_on(side.other) if link else None

    def synced_pair(self, origin: Side = SF, **fields: Any) -> tuple[str, str]:
        """A record created on `origin` and synced across; returns (salesforce id, outlook id)."""
        record_id = self.side(origin).add(fields or {"subject": "Call Bob", "due_date": "2026-03-02"})
        outcome = self.sync()
        assert outcome.ok, outcome.issues
        other = self.counterpart(origin, record_id)
        assert other is not None
        return (record_id, other) if origin is SF else (other, record_id)

    def linked_existing_pair(self, **fields: Any) -> tuple[str, str]:
        """The same record made on both sides by users, then linked by a sync (works for every direction)."""
        fields = fields or {"subject": "Call Bob", "due_date": "2026-03-02"}
        sf_id, ol_id = self.sf.add(fields), self.ol.add(fields)
        outcome = self.sync()
        assert outcome.ok, outcome.issues
        assert self.counterpart(SF, sf_id) == ol_id
        return sf_id, ol_id

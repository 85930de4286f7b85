"""In-memory implementations of the engine's interfaces: a side (connector), a link store and watermarks.

They behave like the real ends where the engine can tell: every write bumps the record's version token, our own
writes show up in the next incremental change set like anyone else's, deletions are reported incrementally,
full change sets hold in-scope records only, Exchange-side items keep the stamped Salesforce id. Like Exchange's
feeds (EWS SyncFolderItems, Graph delta), the Outlook side's incremental change set says nothing of an item
created and deleted since the watermark (`feed_hides_short_lived`). Updates honour `expected_version` as the
Salesforce connector does (refused with `CHANGED_DURING_SYNC` when the record's version differs), and a record whose
content is no longer what was written when the version is read back gets no version, so the next run sees it as
changed. Tests inject faults: `fail_next` (per-record write errors), `crash_after_next_write` (the write happens,
then the process "dies" with `SimulatedCrash` before the links are committed), and users acting in the middle of a
run: `before_next_write` (between the engine's reads and its next write call to this side) and
`after_next_update` (between an update call's writes and its version read-back). The link store enforces
RecordLink's uniqueness.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sync.engine.apply import (
    CHANGED_DURING_SYNC,
    CreateRequest,
    LookupRequest,
    UpdateRequest,
    WriteError,
    WriteResult,
)
from sync.engine.canonical import Schema, schema_for
from sync.engine.links import Link
from sync.engine.matching import match_keys
from sync.engine.records import ChangeSet, Side, SideRecord, SyncObject


class SimulatedCrash(RuntimeError):
    """The process died after a remote write and before the links were committed."""


@dataclass(slots=True)
class _Item:
    fields: dict[str, Any]
    version: int
    in_scope: bool = True
    salesforce_id: str | None = None
    changed_at: int = 0


class MemorySide:
    """One side's records for one user and object, with a change log for incremental change sets."""

    def __init__(self, side: Side, object_type: SyncObject | str = SyncObject.CONTACTS,
                 schema: Schema | None = None, *, feed_hides_short_lived: bool | None = None) -> None:
        self.side = side
        # Exchange's feeds report a deletion only for an item that existed at the watermark; Salesforce's queryAll
        # reports every deletion since it.
        self.feed_hides_short_lived = side is Side.OUTLOOK if feed_hides_short_lived is None \
            else feed_hides_short_lived
        self.object_type = SyncObject(object_type)
        self.schema = schema or schema_for(self.object_type)
        self.items: dict[str, _Item] = {}
        self._deleted_at: dict[str, int] = {}
        self._created_at: dict[str, int] = {}  # of every record ever added, deleted ones included
        self._reshaped_at: dict[str, int] = {}
        self._clock = itertools.count(1)
        self._now = 0
        self._ids = itertools.count(1)
        self.engine_writes: Counter[str] = Counter()
        self.lookup_calls = 0  # `lookup_many` calls: the engine batches its lookups
        self.failures: list[WriteError] = []
        self.crash_after_next_write = False
        self.before_next_write: Callable[[], None] | None = None
        self.after_next_update: Callable[[], None] | None = None

    # ---- what users do -------------------------------------------------------------------------------------

    def _tick(self) -> int:
        self._now = next(self._clock)
        return self._now

    def _new_id(self) -> str:
        return f"{'sf' if self.side is Side.SALESFORCE else 'ol'}-{next(self._ids)}"

    def add(self, fields: Mapping[str, Any], *, in_scope: bool = True, salesforce_id: str | None = None,
            record_id: str | None = None) -> str:
        """A user creates a record."""
        record_id = record_id or self._new_id()
        now = self._tick()
        self.items[record_id] = _Item(dict(fields), now, in_scope, salesforce_id, now)
        self._created_at[record_id] = now
        return record_id

    def edit(self, record_id: str, **changes: Any) -> None:
        """A user edits fields of a record (a version bump even if nothing really changed)."""
        item = self.items[record_id]
        item.fields = {**item.fields, **changes}
        item.version = item.changed_at = self._tick()

    def touch(self, record_id: str) -> None:
        """The server bumps the version token without changing content."""
        self.edit(record_id)

    def remove(self, record_id: str) -> None:
        """A user deletes a record."""
        del self.items[record_id]
        self._deleted_at[record_id] = self._tick()

    def reshape(self, record_ids: Iterable[str], new_records: Iterable[Mapping[str, Any]]) -> list[str]:
        """The same calendar entry presented in another shape (a series as its occurrences, or occurrences as their
        series): the records go (reported as reshaped, not deleted) and the new shape's records come."""
        now = self._tick()
        for record_id in record_ids:
            del self.items[record_id]
            self._reshaped_at[record_id] = now
        return [self.add(fields) for fields in new_records]

    def set_scope(self, record_id: str, in_scope: bool) -> None:
        """The record enters or leaves the data set / sync folder."""
        item = self.items[record_id]
        item.in_scope = in_scope
        item.changed_at = self._tick()

    def fail_next(self, count: int = 1, *, code: str = "SERVER_BUSY", transient: bool = True) -> None:
        """The next `count` record writes fail."""
        self.failures.extend(WriteError(code, "injected failure", transient) for _ in range(count))

    # ---- views for tests -----------------------------------------------------------------------------------

    def record(self, record_id: str) -> SideRecord:
        item = self.items[record_id]
        return SideRecord(record_id, str(item.version), dict(item.fields), item.in_scope, item.salesforce_id)

    def live(self) -> dict[str, SideRecord]:
        """Records in scope, by id."""
        return {i: self.record(i) for i, item in self.items.items() if item.in_scope}

    def canonical(self, record_id: str) -> dict[str, Any]:
        return self.schema.canonicalize(self.items[record_id].fields)

    # ---- SideConnector -------------------------------------------------------------------------------------

    def changes(self, watermark: str | None) -> ChangeSet:
        mark = str(self._now)
        if watermark is None:
            full = ChangeSet.of(self.side, [self.record(i) for i, it in self.items.items() if it.in_scope],
                                full=True, watermark=mark)
            full.reshaped = {i for i in self._reshaped_at if i not in self.items}
            return full
        since = int(watermark)
        records = [self.record(i) for i, it in self.items.items() if it.changed_at > since]
        deleted = {i for i, at in self._deleted_at.items() if at > since and i not in self.items
                   and not (self.feed_hides_short_lived and self._created_at.get(i, 0) > since)}
        change_set = ChangeSet.of(self.side, records, deleted=deleted, watermark=mark)
        change_set.reshaped = {i for i, at in self._reshaped_at.items() if at > since and i not in self.items}
        return change_set

    def fetch(self, record_ids: Collection[str]) -> dict[str, SideRecord]:
        return {i: self.record(i) for i in record_ids if i in self.items}

    def lookup(self, request: LookupRequest) -> list[SideRecord]:
        out = []
        for record_id, item in self.items.items():
            stamped = bool(request.salesforce_id) and item.salesforce_id == request.salesforce_id
            theirs = match_keys(self.object_type, self.schema.canonicalize(item.fields))
            if stamped or any(a is not None and a == b for a, b in zip(request.keys, theirs, strict=False)):
                out.append(self.record(record_id))
        return out

    def lookup_many(self, requests: Sequence[LookupRequest]) -> list[list[SideRecord]]:
        self.lookup_calls += 1
        return [self.lookup(request) for request in requests]

    def _write(self, apply: Any) -> WriteResult:
        if self.failures:
            return WriteResult(error=self.failures.pop(0))
        return apply()

    def _before_call(self) -> None:
        hook, self.before_next_write = self.before_next_write, None
        if hook is not None:
            hook()

    def _after_call(self) -> None:
        if self.crash_after_next_write:
            self.crash_after_next_write = False
            raise SimulatedCrash(f"crash after a write to {self.side}")

    def create(self, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        def make(request: CreateRequest) -> WriteResult:
            stamp = request.salesforce_id_stamp if self.side is Side.OUTLOOK else None
            record_id = self.add(request.fields, salesforce_id=stamp)
            self.engine_writes["create"] += 1
            return WriteResult(record_id, str(self.items[record_id].version))

        self._before_call()
        results = [self._write(lambda r=r: make(r)) for r in requests]
        self._after_call()
        return results

    def update(self, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        written: dict[str, dict[str, Any]] = {}  # the content each update left, to compare with the read-back

        def change(request: UpdateRequest) -> WriteResult:
            item = self.items.get(request.record_id)
            if item is None:
                return WriteResult(error=WriteError("NOT_FOUND", f"{request.record_id} does not exist", False))
            if request.expected_version is not None and str(item.version) != request.expected_version:
                return WriteResult(request.record_id, None, WriteError(
                    CHANGED_DURING_SYNC, "changed while the sync wrote it; the next sync decides again", True))
            if request.fields is not None:
                item.fields = dict(request.fields)
                self.engine_writes["update"] += 1
            else:
                self.engine_writes["stamp"] += 1
            if self.side is Side.OUTLOOK and request.salesforce_id_stamp:
                item.salesforce_id = request.salesforce_id_stamp
            item.version = item.changed_at = self._tick()
            written[request.record_id] = self.canonical(request.record_id)
            return WriteResult(request.record_id, str(item.version))

        self._before_call()
        results = [self._write(lambda r=r: change(r)) for r in requests]
        hook, self.after_next_update = self.after_next_update, None
        if hook is not None:
            hook()
        results = [self._read_back(result, written) for result in results]
        self._after_call()
        return results

    def _read_back(self, result: WriteResult, written: Mapping[str, dict[str, Any]]) -> WriteResult:
        """The version read after the writes, as the Salesforce connector reads it: none for a record whose content
        is no longer what was written (someone changed it since), so the next run takes it as changed."""
        record_id = result.record_id
        if not result.ok or record_id not in written:
            return result
        item = self.items.get(record_id)
        if item is None or self.canonical(record_id) != written[record_id]:
            return WriteResult(record_id, None)
        return WriteResult(record_id, str(item.version))

    def delete(self, record_ids: Sequence[str]) -> list[WriteResult]:
        def drop(record_id: str) -> WriteResult:
            if record_id in self.items:
                self.remove(record_id)
                self.engine_writes["delete"] += 1
            return WriteResult(record_id, None)

        self._before_call()
        results = [self._write(lambda r=r: drop(r)) for r in record_ids]
        self._after_call()
        return results


class LinkConflictError(ValueError):
    """A commit would break the uniqueness of Salesforce or Outlook ids (an engine bug)."""


class MemoryLinkStore:
    """Links in dicts, committed atomically, unique on Salesforce id and on Outlook id like RecordLink."""

    def __init__(self) -> None:
        self._links: dict[int, Link] = {}
        self._by_sf: dict[str, int] = {}
        self._by_ol: dict[str, int] = {}
        self._ids = itertools.count(1)
        self.commits = 0

    def by_salesforce_id(self, salesforce_id: str) -> Link | None:
        key = self._by_sf.get(salesforce_id)
        return self._links[key] if key is not None else None

    def by_outlook_id(self, outlook_id: str) -> Link | None:
        key = self._by_ol.get(outlook_id)
        return self._links[key] if key is not None else None

    def __iter__(self) -> Iterator[Link]:
        return iter(list(self._links.values()))

    def __len__(self) -> int:
        return len(self._links)

    def revisit(self) -> list[Link]:
        return [link for link in self._links.values() if link.is_pending or link.needs_retry]

    def marked_unseen(self) -> list[Link]:
        return [link for link in self._links.values() if link.outlook_unseen]

    def prefetch(self, salesforce_ids: Collection[str], outlook_ids: Collection[str]) -> None:
        """Every link is in memory already."""

    def clear(self) -> None:
        """Forget every link except the released ones: a kept copy stays kept through a reset."""
        kept = [link for link in self._links.values() if link.is_released]
        self._links.clear()
        self._by_sf.clear()
        self._by_ol.clear()
        for link in kept:
            self._index(link)
            self._links[link.link_id] = link  # type: ignore[index]

    def commit(self, puts: Sequence[Link], removals: Sequence[Link]) -> list[Link]:
        saved = [link if link.link_id is not None else replace(link, link_id=next(self._ids)) for link in puts]
        touched = {link.link_id for link in removals if link.link_id is not None}
        touched.update(link.link_id for link in saved)
        before = {key: self._links.get(key) for key in touched}
        try:
            for link in before.values():
                if link is not None:
                    self._unindex(link)
            for key in touched:
                self._links.pop(key, None)  # type: ignore[arg-type]
            for link in saved:
                self._index(link)
                self._links[link.link_id] = link  # type: ignore[index]
        except LinkConflictError:
            for link in saved:
                if self._links.get(link.link_id) is link:  # type: ignore[arg-type]
                    self._unindex(link)
                    del self._links[link.link_id]  # type: ignore[arg-type]
            for key, link in before.items():
                if link is not None:
                    self._index(link)
                    self._links[key] = link  # type: ignore[index]
            raise
        self.commits += 1
        return saved

    def _index(self, link: Link) -> None:
        for index, record_id in ((self._by_sf, link.salesforce_id), (self._by_ol, link.outlook_id)):
            if record_id is not None and record_id in index:
                raise LinkConflictError(f"{record_id} would be linked twice: {self._links[index[record_id]]}, {link}")
        for index, record_id in ((self._by_sf, link.salesforce_id), (self._by_ol, link.outlook_id)):
            if record_id is not None:
                index[record_id] = link.link_id  # type: ignore[assignment]

    def _unindex(self, link: Link) -> None:
        for index, record_id in ((self._by_sf, link.salesforce_id), (self._by_ol, link.outlook_id)):
            if record_id is not None and index.get(record_id) == link.link_id:
                del index[record_id]


class MemoryWatermarks:
    """Watermarks per side."""

    def __init__(self) -> None:
        self.values: dict[Side, str | None] = {}

    def get(self, side: Side) -> str | None:
        return self.values.get(side)

    def set(self, side: Side, value: str | None) -> None:
        self.values[side] = value

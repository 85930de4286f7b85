"""Recurring series on the EWS side: which masters are one record, their occurrences inside the window (through
CalendarView, which cannot page), and re-expanding changed series on an incremental read."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from exchangelib import CalendarItem, EWSDateTime
from exchangelib.fields import FieldPath
from exchangelib.items import ID_ONLY
from exchangelib.properties import CalendarView
from exchangelib.services import FindItem

from sync.connectors.ews.convert import item_view
from sync.connectors.ews.errors import GET_BATCH, MISSING, _GetItem, classify
from sync.connectors.ews.recurrence import recurrence_from_ews
from sync.connectors.exchange import DEFAULT_WINDOW, event_in_window
from sync.engine.canonical import schema_for
from sync.engine.records import SideRecord, SyncObject
from sync.engine.recurrence import Recurrence, occurrence_starts, zone
from sync.mappings import exchange as mapping
from sync.mappings.salesforce import MAX_OCCURRENCES, fits_salesforce

CALENDAR_VIEW_PAGE = 1000  # entries per CalendarView (EWS cannot page a calendar view)


class SeriesReads:
    """The series half of `EwsSide` (a mixin): it relies on the side's `mailbox`, `account`, `model`, `_folder`,
    `_get`, window bounds and the `_whole` set of masters read as records."""

    # ---- recurring series: occurrences inside the window -----------------------------------------------------------
    def _window_key(self) -> list[str] | None:
        if self.object_type is not SyncObject.EVENTS:
            return None
        lo, hi = self._expansion_range()
        return [lo.date().isoformat(), hi.date().isoformat()]

    def _expansion_range(self) -> tuple[datetime, datetime]:
        now = datetime.now(UTC)
        lo = self.window_start or (now - DEFAULT_WINDOW)
        hi = self.window_end or (now + DEFAULT_WINDOW)
        # Whole days: the range (and so the watermark's window key) moves once a day, not on every run.
        lo = datetime(lo.year, lo.month, lo.day, tzinfo=UTC)
        hi = datetime(hi.year, hi.month, hi.day, tzinfo=UTC) + timedelta(days=1)
        return lo, hi

    def _whole_series(self, item: Any, view: Mapping[str, Any]) -> Recurrence | None:
        """The series as one record, if Salesforce can hold it as one recurring event: a pattern it has, an end
        (a count is turned into the last occurrence's date), at most its limit of occurrences, and no modified or
        deleted occurrence. None: the series is synced as its occurrences."""
        if item.deleted_occurrences:
            return None
        if item.modified_occurrences and not self._only_stamped(item, view):
            return None
        series = recurrence_from_ews(item)
        if series is None:
            return None
        if series.count is not None:
            last = getattr(getattr(item, "last_occurrence", None), "start", None)
            if last is None:
                return None
            if isinstance(last, datetime):  # a plain datetime first: EWSDateTime takes only EWSTimeZone
                plain = datetime.fromtimestamp(last.timestamp(), UTC)
                last = plain.astimezone(zone(series.tz)).date()
            series = series.ending_on(last)
        fields = mapping.FROM_EWS[SyncObject.EVENTS]({**view, "recurrence": series})
        return series if fits_salesforce(fields) else None

    def _only_stamped(self, item: Any, view: Mapping[str, Any]) -> bool:
        """Whether the master's exceptions differ from it in nothing we sync: occurrences that merely carry a
        Salesforce id stamp (every occurrence the sync wrote before series were synced as series is such an
        exception) do not stop a series from being one record."""
        length = item.end - item.start
        ids = []
        for occurrence in item.modified_occurrences:
            if occurrence.start != occurrence.original_start or occurrence.end - occurrence.start != length:
                return False
            ids.append(occurrence.id)
        names = {"start", "end", "recurrence"}
        own = {k: v for k, v in mapping.FROM_EWS[SyncObject.EVENTS](view).items() if k not in names}
        fields = {FieldPath(field=self.model.get_field_by_fieldname(name)) for name in mapping.EWS_FIELDS[
            SyncObject.EVENTS]}
        with self.mailbox.ews():
            results = list(_GetItem(account=self.account, chunk_size=GET_BATCH).call(
                items=[(i, None) for i in ids], additional_fields=fields, shape=ID_ONLY))
        schema = schema_for(SyncObject.EVENTS)
        for result in results:
            if isinstance(result, Exception) or not isinstance(result, self.model):
                return False
            theirs = {k: v for k, v in mapping.FROM_EWS[SyncObject.EVENTS](item_view(SyncObject.EVENTS, result)).items()
                      if k not in names}
            if schema.canonicalize(theirs) != schema.canonicalize(own):
                return False
        return True

    def _series_in_window(self, series: Recurrence, fields: Mapping[str, Any]) -> bool:
        """A series is in the window when one of its occurrences is."""
        start, end = fields.get("start"), fields.get("end")
        if start is None:
            return False
        starts = occurrence_starts(series, start, MAX_OCCURRENCES + 1)
        length = (end - start) if end is not None else timedelta(0)
        last_end = starts[-1] + length if starts else end
        if not isinstance(start, datetime):
            start = datetime(start.year, start.month, start.day, tzinfo=UTC)
            last_end = datetime(last_end.year, last_end.month, last_end.day, tzinfo=UTC)
        return event_in_window(start, last_end, self.window_start, self.window_end)

    def _expand(self, master_ids: Collection[str], series: dict[str, list[str]]) -> dict[str, SideRecord]:
        """Occurrences (and exceptions) of these series inside the window, as records; fills `series`."""
        found = self._occurrence_ids(master_ids)
        series.update(found)
        return self._get([i for ids in found.values() for i in ids])

    def _occurrence_ids(self, master_ids: Collection[str]) -> dict[str, list[str]]:
        """The ids of these series' occurrences and exceptions inside the window (missing series left out)."""
        if not master_ids:
            return {}
        series: dict[str, list[str]] = {}
        masters = {}
        with self.mailbox.ews():
            results = list(_GetItem(account=self.account, chunk_size=GET_BATCH).call(
                items=[(i, None) for i in master_ids],
                additional_fields={FieldPath(field=CalendarItem.get_field_by_fieldname("uid"))}, shape=ID_ONLY))
        for master_id, item in zip(master_ids, results, strict=True):
            if isinstance(item, MISSING):
                continue
            if isinstance(item, Exception):
                raise classify(item)
            masters[item.uid] = master_id
            series[master_id] = []
        if not masters:
            return {}
        lo, hi = self._expansion_range()
        ids: set[str] = set()
        for start, end in _chunks_of_range(lo, hi):
            for row in self._calendar_view(start, end):
                if row.type in ("Occurrence", "Exception") and row.uid in masters and row.id not in ids:
                    ids.add(row.id)
                    series[masters[row.uid]].append(row.id)
        return series

    def _calendar_view(self, start: datetime, end: datetime) -> list[Any]:
        """Every calendar entry (singles, occurrences, exceptions) overlapping [start, end): id, type and UID.

        A CalendarView cannot page: when it returns a full page, the range is halved and each half read again.
        """
        fields = {FieldPath(field=CalendarItem.get_field_by_fieldname(name)) for name in ("uid", "type")}
        view = CalendarView(start=EWSDateTime.from_datetime(start), end=EWSDateTime.from_datetime(end),
                            max_items=CALENDAR_VIEW_PAGE)
        with self.mailbox.ews():
            rows = list(FindItem(account=self.account, page_size=CALENDAR_VIEW_PAGE).call(
                folders=[self._folder()], additional_fields=fields, restriction=None, order_fields=None,
                shape=ID_ONLY, query_string=None, depth="Shallow", calendar_view=view,
                max_items=CALENDAR_VIEW_PAGE, offset=0))
        for row in rows:
            if isinstance(row, Exception):
                raise classify(row)
        if len(rows) < CALENDAR_VIEW_PAGE or end - start <= timedelta(hours=1):
            return rows
        middle = start + (end - start) / 2
        seen: dict[str, Any] = {}
        for row in [*self._calendar_view(start, middle), *self._calendar_view(middle, end)]:
            seen.setdefault(row.id, row)
        return list(seen.values())

    def _refresh_series(self, changed_masters: set[str], deleted: set[str], series: dict[str, list[str]],
                        window_moved: bool) -> tuple[dict[str, SideRecord], set[str]]:
        """Re-expand changed (or, when the window moved, all) series; report occurrences that disappeared."""
        gone: set[str] = set()
        for master_id in [m for m in series if m in deleted]:
            gone.update(series.pop(master_id))
        to_expand = set(changed_masters)
        if window_moved:
            to_expand |= set(series)
        if not to_expand:
            return {}, gone
        before = {m: series.pop(m, []) for m in to_expand}
        records = self._expand(sorted(to_expand), series)
        missing: list[str] = []
        for master_id, old in before.items():
            now = set(series.get(master_id, []))
            missing.extend(i for i in old if i not in now)
        # An occurrence no longer in the window still exists (reported out of scope, never as deleted);
        # one that GetItem cannot find was deleted or moved by a change of the series.
        still = self._get(missing)
        records.update(still)
        gone.update(i for i in missing if i not in still)
        return records, gone


def _chunks_of_range(lo: datetime, hi: datetime) -> list[tuple[datetime, datetime]]:
    """CalendarView ranges are limited (two years on Exchange); split a longer window."""
    out, step = [], timedelta(days=700)
    while lo < hi:
        out.append((lo, min(hi, lo + step)))
        lo += step
    return out

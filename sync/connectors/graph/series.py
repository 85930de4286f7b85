"""Recurring series on the Graph side when series are synced as series (``ObjectOptions.series_as_series``): a
series master Salesforce can hold as one recurring event is one record; any other series (an occurrence edited,
moved or cancelled on its own, no end, too many occurrences) is synced as its occurrences inside the window, the
documented fallback (docs/syncing.md), as the EWS connector does.

calendarView/delta only says which series changed (its occurrences carry ``seriesMasterId``); what a series is comes
from its master and its ``instances``. Exchange Online does not always report a cancelled occurrence in delta, but
cancelling one changes its master: every incremental read also lists the masters modified since the previous one."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

from sync.connectors.exchange import event_in_window, event_kept_by_options
from sync.connectors.graph.errors import classify
from sync.connectors.graph.items import READ_PREFER, query
from sync.connectors.graph.watermark import Watermark
from sync.engine.canonical import schema_for
from sync.engine.records import ChangeSet, Side, SideRecord, SyncObject
from sync.engine.recurrence import Recurrence, occurrence_starts, zone
from sync.mappings import graph as mapping
from sync.mappings.datetimes import iso_utc
from sync.mappings.salesforce import MAX_OCCURRENCES, fits_salesforce

MASTER = "seriesmaster"
SINCE_MARGIN = timedelta(minutes=5)  # clocks of Exchange Online and ours differ: masters are read a little early
_OWN = ("start", "end", "recurrence")  # what an occurrence may differ from its master in and still be "intact"


def is_master(item: Mapping[str, Any]) -> bool:
    return str(item.get("type", "")).lower() == MASTER


class GraphSeries:
    """The series half of `GraphSide` (a mixin): it relies on the side's `mailbox`, `user`, `options`, `_delta`,
    `_list_extras`, `_records`, `_get`, `_record`, `_mark`, `_item_path`, `_expand`, `_window` and window bounds.
    `_whole` holds the masters judged in this run to be one record each (with their series)."""

    _whole: dict[str, Recurrence]
    _master_versions: dict[str, str]

    def _series_of(self, item: Mapping[str, Any]) -> Recurrence | None:
        """A master's series with an end date (a count becomes its last occurrence's date); None without one."""
        zone_name = (item.get("recurrence") or {}).get("range", {}).get("recurrenceTimeZone") \
            or item.get("originalStartTimeZone")
        zone_name = MS_TIMEZONE_TO_IANA_MAP.get(zone_name, zone_name) if zone_name else None
        series = mapping.recurrence_from_graph(item.get("recurrence"), zone_name)
        if series is None or series.count is None:
            return series
        start = mapping.FROM_GRAPH[SyncObject.EVENTS](item).get("start")
        if start is None:
            return None
        starts = occurrence_starts(series, start, series.count)
        if not starts:
            return None
        last = starts[-1]
        if isinstance(last, datetime):
            last = last.astimezone(zone(series.tz)).date()
        return series.ending_on(last)

    def _series_changes(self, mark: Watermark, changed: dict[str, dict[str, Any]], removed: set[str], delta: str,
                        since: str) -> ChangeSet:
        """An incremental read with series synced as series: delta's occurrences name the series that changed (with
        the masters modified since the last read, for cancellations delta does not report); each is judged again and
        presented whole or as its occurrences. A change between the two shapes is reported as `reshaped`."""
        series = {m: list(ids) for m, ids in mark.series.items()}
        whole = set(mark.whole)
        owner_of = {i: m for m, ids in series.items() for i in ids}
        signal = {str(item["seriesMasterId"]) for item in changed.values() if item.get("seriesMasterId")}
        signal |= {owner_of[i] for i in removed if i in owner_of}
        signal |= {i for i in removed if i in whole or i in series}
        signal |= self._masters_modified_since(mark.since, {m: mark.masters.get(m, "") for m in {*series, *whole}})
        singles = {i: item for i, item in changed.items() if not item.get("seriesMasterId")}
        loose = {i for i in removed if i not in owner_of and i not in signal}
        records = self._records(singles, loose)
        deleted = {i for i in loose if i not in records}
        for record_id in [i for i in records if i in self._occurrence_of]:
            # an occurrence of a series we hold whole, left the window or cancelled: its series says what it is
            signal.add(self._occurrence_of[record_id])
            records.pop(record_id)
        reshaped: set[str] = set()
        read = self._get(sorted(signal))
        for master_id in sorted(signal):
            item = read.get(master_id)
            if item is None:  # the series was deleted
                if master_id in whole:
                    deleted.add(master_id)
                    whole.discard(master_id)
                deleted.update(series.pop(master_id, []))
            elif not is_master(item):  # no longer a series: the item (same id) is a single event again
                reshaped.update(series.pop(master_id, []))
                whole.discard(master_id)
                record = self._record(item)
                if record is not None:
                    records[master_id] = record
        expanded = self._judge({m: item for m, item in read.items() if is_master(item)})
        for master_id in [m for m in self._whole if m in read]:
            record = self._record(read[master_id])
            if record is not None:
                records[master_id] = record
            reshaped.update(series.pop(master_id, []))  # its occurrences became one series record
            whole.add(master_id)
        occurrences = self._window_instances(expanded)
        for master_id in sorted(expanded):
            if master_id in whole or master_id not in series:
                reshaped.add(master_id)  # it was one record (a series, or a single event) and is now occurrences
                whole.discard(master_id)
            before = series.get(master_id, [])
            now = occurrences.get(master_id, {})
            series[master_id] = list(now)
            for record_id, item in now.items():
                record = self._record(item)
                if record is not None:
                    records[record_id] = record
            # An occurrence no longer among them may only have left the window (reported out of scope, never as
            # deleted); one that cannot be read was cancelled or moved by a change of its series.
            gone = [i for i in before if i not in now]
            still = self._get(gone)
            for record_id in gone:
                record = self._record(still[record_id]) if record_id in still else None
                if record is None:
                    deleted.add(record_id)
                else:
                    records[record_id] = record
        deleted -= reshaped
        for record_id in [*deleted, *reshaped]:
            records.pop(record_id, None)
        return ChangeSet(Side.OUTLOOK, records, deleted, False, self._mark(delta, series, whole, since, mark.masters),
                         reshaped=reshaped)

    def _series_full_read(self) -> ChangeSet:
        """Every event of the window with series synced as series: a delta round from scratch, the calendar view
        (stamps), then each series' master, judged whole or synced as its occurrences."""
        since = self._since_now()
        changed, _removed, delta = self._delta(None)
        extras = self._list_extras()
        items = {i: {**item, **extras[i]} for i, item in changed.items() if i in extras}
        items.update(self._get([i for i in changed if i not in extras]))
        owners = sorted({str(item["seriesMasterId"]) for item in items.values() if item.get("seriesMasterId")})
        masters = {m: item for m, item in self._get(owners).items() if is_master(item)}
        expanded = self._judge(masters)
        # The series presented whole have no occurrence records, the others no master record: after syncs that
        # linked them in the other shape, they had; say so, so that those copies are replaced, never kept or deleted.
        reshaped = set(expanded)
        series: dict[str, list[str]] = {m: [] for m in expanded}
        records: dict[str, SideRecord] = {}
        for master_id in [m for m in self._whole if m in masters]:
            record = self._record(masters[master_id])
            if record is not None:
                records[master_id] = record
        for record_id, item in items.items():
            owner = item.get("seriesMasterId")
            if owner and str(owner) in self._whole and str(owner) in masters:
                reshaped.add(record_id)
                continue
            if owner:
                series.setdefault(str(owner), []).append(record_id)
            record = self._record(item)
            if record is not None:
                records[record_id] = record
        records = {k: v for k, v in records.items() if v.in_scope}
        return ChangeSet(Side.OUTLOOK, records, set(), True, self._mark(delta, series, self._whole, since),
                         reshaped=reshaped)

    def _records_of(self, items: Mapping[str, dict[str, Any]]) -> dict[str, SideRecord]:
        """Records of items read by id or stamp: series masters not judged yet in this run are judged first."""
        if self.series_mode:
            unjudged = {i: item for i, item in items.items() if is_master(item) and i not in self._whole}
            if unjudged:
                self._judge(unjudged)
        out = {}
        for record_id, item in items.items():
            record = self._record(item)
            if record is not None:
                out[record_id] = record
        return out

    def _judge(self, masters: Mapping[str, Mapping[str, Any]]) -> set[str]:
        """Decides which of these masters are one record (added to `_whole`, with their series); returns the ids of
        the others, synced as their occurrences. One $batch of `instances` reads per 20 candidates."""
        expanded: set[str] = set()
        candidates: dict[str, tuple[Recurrence, dict[str, Any], list[Any]]] = {}
        for master_id, item in masters.items():
            if item.get("changeKey"):
                self._master_versions[master_id] = str(item["changeKey"])
            series = self._series_of(item)
            fields = mapping.FROM_GRAPH[SyncObject.EVENTS](item)
            if series is None or fields.get("start") is None:
                expanded.add(master_id)
                continue
            fields = mapping.series_fields(series, fields)
            if not fits_salesforce(fields):
                expanded.add(master_id)
                continue
            starts = occurrence_starts(series, fields["start"], MAX_OCCURRENCES + 1)
            candidates[master_id] = (series, fields, starts)
        if not candidates:
            return expanded
        urls = []
        for master_id, (_series, fields, starts) in candidates.items():
            lo, hi = _span(starts, fields)
            urls.append(self._item_path(master_id) + "/instances" + query({
                "startDateTime": iso_utc(lo), "endDateTime": iso_utc(hi), "$top": str(MAX_OCCURRENCES + 2)}))
        answers = self.mailbox.batch_get(urls, headers={"Prefer": READ_PREFER})
        for (master_id, (series, fields, starts)), answer in zip(candidates.items(), answers, strict=True):
            if answer.status == 404:
                expanded.add(master_id)  # deleted since: the caller learns it from the master's own read
                continue
            if not 200 <= answer.status < 300:
                raise classify(answer.status, answer.body, answer.headers)
            page = answer.body if isinstance(answer.body, dict) else {}
            if page.get("@odata.nextLink") or not self._intact(page.get("value") or [], fields, starts):
                expanded.add(master_id)
            else:
                self._whole[master_id] = series
        return expanded

    def _intact(self, instances: list[Mapping[str, Any]], fields: Mapping[str, Any], starts: list[Any]) -> bool:
        """Whether a series' instances are exactly its pattern's occurrences, none cancelled or moved, none differing
        from the master in anything we sync (an exception that only carries a stamp is intact)."""
        schema = schema_for(SyncObject.EVENTS)
        own = schema.canonicalize({k: v for k, v in fields.items() if k not in _OWN})
        length = _length(fields)
        seen = []
        for instance in instances:
            theirs = mapping.FROM_GRAPH[SyncObject.EVENTS](instance)
            if _length(theirs) != length:
                return False
            seen.append(theirs.get("start"))
            if str(instance.get("type", "")).lower() == "exception" and schema.canonicalize(
                    {k: v for k, v in theirs.items() if k not in _OWN}) != own:
                return False
        return sorted(seen, key=_sort_key) == sorted(starts, key=_sort_key)

    def _series_record(self, master_id: str, item: Mapping[str, Any], record: SideRecord) -> SideRecord:
        """A whole master's record: its fields as one series, in scope when one of its occurrences is in the
        window."""
        series = self._whole[master_id]
        fields = mapping.series_fields(series, record.fields)
        in_scope = event_kept_by_options(self.options, private=mapping.event_is_private(item),
                                         categories=mapping.event_categories(item),
                                         organizer=mapping.event_organizer(item)) \
            and self._series_in_window(series, fields)
        return SideRecord(record.id, record.version, fields, in_scope, record.salesforce_id)

    def _series_in_window(self, series: Recurrence, fields: Mapping[str, Any]) -> bool:
        start = fields.get("start")
        if start is None:
            return False
        starts = occurrence_starts(series, start, MAX_OCCURRENCES + 1)
        lo, hi = _span(starts, fields)
        return event_in_window(lo, hi, self.window_start, self.window_end)

    def _masters_modified_since(self, since: str | None, known: Mapping[str, str]) -> set[str]:
        """The known masters (id → changeKey when last judged) modified since `since` with another changeKey (a
        cancelled occurrence changes its master even when delta does not report it): one list request per 1000
        masters modified."""
        if not since or not known:
            return set()
        path = f"{self.user}/calendar/events"
        params = {"$filter": f"type eq 'seriesMaster' and lastModifiedDateTime ge {since}",
                  "$select": "id,changeKey", "$top": "1000"}
        found: set[str] = set()
        for page in self.mailbox.pages(path, "events", params=params):
            found.update(str(item["id"]) for item in page.get("value", [])
                         if str(item["id"]) in known and item.get("changeKey") != known[str(item["id"])])
        return found

    def _window_instances(self, master_ids: Collection[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """Each series' occurrences and exceptions inside the window, whole with their stamps (missing series left
        out): its `instances` read in one $batch per 20 series, further pages followed."""
        lo, hi = self._window()
        ids = sorted(master_ids)
        urls = [self._item_path(i) + "/instances" + query({
            "startDateTime": iso_utc(lo), "endDateTime": iso_utc(hi), "$expand": self._expand(), "$top": "1000"})
            for i in ids]
        out: dict[str, dict[str, dict[str, Any]]] = {}
        headers = {"Prefer": READ_PREFER}
        for master_id, answer in zip(ids, self.mailbox.batch_get(urls, headers=headers), strict=True):
            if answer.status == 404:
                continue
            if not 200 <= answer.status < 300:
                raise classify(answer.status, answer.body, answer.headers)
            page = answer.body if isinstance(answer.body, dict) else {}
            items = {str(i["id"]): i for i in page.get("value", [])}
            if page.get("@odata.nextLink"):
                for more in self.mailbox.pages(str(page["@odata.nextLink"]), "instances", headers=headers):
                    items.update({str(i["id"]): i for i in more.get("value", [])})
            out[master_id] = items
        return out

    def _since_now(self) -> str:
        return iso_utc(datetime.now(UTC) - SINCE_MARGIN)


def _length(fields: Mapping[str, Any]) -> timedelta:
    start, end = fields.get("start"), fields.get("end")
    return (end - start) if start is not None and end is not None else timedelta(0)


def _sort_key(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return datetime.min.replace(tzinfo=UTC)


def _span(starts: list[Any], fields: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """From the first occurrence's start to the last one's end, as UTC instants (all-day dates at midnight UTC,
    a day wider on each side so that no zone hides one)."""
    length = _length(fields)
    first = starts[0] if starts else fields["start"]
    last = (starts[-1] if starts else fields["start"]) + length
    if not isinstance(first, datetime):
        first = datetime(first.year, first.month, first.day, tzinfo=UTC) - timedelta(days=1)
        last = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    return first, max(last, first + timedelta(minutes=1))

"""Recurring events when series sync as series (``ObjectOptions.series_as_series``): which rows of a series are
records, judged on the whole series.

A series whose occurrences are all as the series record generates them (dates, times, content) is one record, the
series record, and its occurrences are no records; a series with an occurrence edited or deleted on its own syncs
as its occurrences, and the series record is none. Salesforce cannot turn a single event into a series or back, so
the side also learns which records are series records before it updates them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sync.connectors.salesforce.soql import ID_CHUNK, chunks, id_list, is_record_id
from sync.engine.canonical import schema_for
from sync.engine.records import ChangeSet, SideRecord, SyncObject
from sync.engine.recurrence import Recurrence, occurrence_starts
from sync.mappings import salesforce as mapping


def in_a_series(row: Mapping[str, Any]) -> bool:
    """Whether a row is a series record or one of its occurrences."""
    return bool(row.get("IsRecurrence") or row.get("RecurrenceActivityId"))


def series_of(row: Mapping[str, Any]) -> str:
    """The id of the series record of a row that is `in_a_series`."""
    return row["Id"] if row.get("IsRecurrence") else row["RecurrenceActivityId"]


def is_intact(master: Mapping[str, Any], occurrences: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the occurrences are exactly what the series record generates (none edited or deleted alone)."""
    fields = mapping.to_canonical(SyncObject.EVENTS, master)
    if not fields.get("recurrence") or fields.get("start") is None or fields.get("end") is None:
        return False
    series = Recurrence.parse(fields["recurrence"])
    expected = occurrence_starts(series, fields["start"], mapping.MAX_OCCURRENCES + 1)
    length = fields["end"] - fields["start"]
    schema = schema_for(SyncObject.EVENTS)
    shared = schema.canonicalize({**fields, "recurrence": None, "start": None, "end": None})
    seen = []
    for row in occurrences:
        own = mapping.to_canonical(SyncObject.EVENTS, row)
        if own.get("start") is None or own.get("end") is None or own["end"] - own["start"] != length:
            return False
        if schema.canonicalize({**own, "start": None, "end": None}) != shared:
            return False
        seen.append(own["start"])
    return sorted(seen) == expected


class SeriesShapes:
    """The series-aware reads of `SalesforceSide` (mixed into it): rows become records in the shape above."""

    series_mode: bool
    where: str
    _series_records: dict[str, bool]  # id -> is a series record (IsRecurrence), from reads

    if TYPE_CHECKING:  # provided by SalesforceSide
        def _select(self, *conditions: str, fields: Sequence[str] | None = None) -> str: ...

        def _query(self, soql: str, include_deleted: bool = False) -> list[dict]: ...

        def _record(self, row: Mapping[str, Any], in_scope: bool) -> SideRecord: ...

    def _shaped(self, rows: Sequence[Mapping[str, Any]], in_scope: bool) -> tuple[list[SideRecord], set[str]]:
        """Records for query rows, series-aware: (records, ids of records that are not records in this shape).

        Rows of series are judged on the whole series (one more query)."""
        if not self.series_mode:
            return [self._record(row, in_scope) for row in rows], set()
        series_ids = {series_of(row) for row in rows if in_a_series(row)}
        records = [self._record(row, in_scope) for row in rows if not in_a_series(row)]
        if not series_ids:
            return records, set()
        reshaped: set[str] = set()
        listed = {row["Id"] for row in rows}
        members = self._series_members(series_ids)
        for series_id in series_ids:
            master, occurrences = members.get(series_id, (None, []))
            if master is not None and is_intact(master, occurrences):
                reshaped.update(o["Id"] for o in occurrences)
                records.append(self._record(master, in_scope))
            else:
                if master is not None:
                    reshaped.add(master["Id"])
                records.extend(self._record(o, in_scope) for o in occurrences if o["Id"] in listed)
        return records, reshaped

    def _series_members(self, series_ids: Collection[str]) -> dict[str, tuple[dict | None, list[dict]]]:
        """Each series' record and its (live) occurrences, whatever the data set says."""
        out: dict[str, tuple[dict | None, list[dict]]] = {}
        for chunk in chunks(sorted(series_ids), ID_CHUNK):
            ids = id_list(chunk)
            for row in self._query(self._select(f"(Id IN {ids} OR RecurrenceActivityId IN {ids})")):
                if row.get("IsRecurrence"):
                    master, occurrences = out.get(row["Id"], (None, []))
                    out[row["Id"]] = (row, occurrences)
                elif row.get("RecurrenceActivityId"):
                    master, occurrences = out.get(row["RecurrenceActivityId"], (None, []))
                    out[row["RecurrenceActivityId"]] = (master, [*occurrences, row])
        return out

    def _series_in_scope(self, series_ids: Collection[str]) -> set[str]:
        """The series (ids) with a record or an occurrence in the data set, and those occurrences' ids."""
        found: set[str] = set()
        for chunk in chunks(sorted(series_ids), ID_CHUNK):
            ids = id_list(chunk)
            condition = f"(Id IN {ids} OR RecurrenceActivityId IN {ids})"
            for row in self._query(self._select(condition, f"({self.where})" if self.where else "",
                                                fields=["Id", "RecurrenceActivityId"])):
                found.add(row["Id"])
                if row.get("RecurrenceActivityId"):
                    found.add(row["RecurrenceActivityId"])
        return found

    def _incremental_series(self, change_set: ChangeSet, in_scope: list[dict], others: list[dict]) -> ChangeSet:
        """The incremental change set when series are records: any changed or deleted row of a series has the
        whole series judged again; a series is in scope when its record or one of its occurrences is."""
        deleted = {row["Id"] for row in others if row.get("IsDeleted")}
        live_others = [row for row in others if not row.get("IsDeleted")]
        touched = {series_of(row) for row in [*in_scope, *others] if in_a_series(row)}
        touched -= deleted
        for row in in_scope:
            if not in_a_series(row):
                change_set.records[row["Id"]] = self._record(row, True)
        for row in live_others:
            if not in_a_series(row):
                change_set.records[row["Id"]] = self._record(row, False)
        if touched:
            members = self._series_members(touched)
            scoped = self._series_in_scope(touched)
            for series_id in touched:
                master, occurrences = members.get(series_id, (None, []))
                if master is not None and is_intact(master, occurrences):
                    change_set.reshaped.update(o["Id"] for o in occurrences)
                    change_set.records[master["Id"]] = self._record(master, series_id in scoped)
                    continue
                if master is not None:
                    change_set.reshaped.add(master["Id"])
                for row in occurrences:
                    change_set.records[row["Id"]] = self._record(row, row["Id"] in scoped)
        # Occurrences deleted because their series was edited (Salesforce generates them again) were replaced by
        # the series: not deletions by the user.
        replaced = {row["Id"] for row in others if row.get("IsDeleted") and not row.get("IsRecurrence")
                    and row.get("RecurrenceActivityId") in change_set.records}
        change_set.reshaped |= replaced
        deleted -= replaced
        change_set.deleted |= deleted
        for record_id in deleted:
            change_set.records.pop(record_id, None)
        change_set.reshaped -= set(change_set.records) | change_set.deleted
        return change_set

    def _learn_shapes(self, record_ids: Sequence[str]) -> None:
        """Whether each event to update is a series record (one query per 200 not read in this run)."""
        unknown = [i for i in dict.fromkeys(record_ids) if i not in self._series_records and is_record_id(i)]
        for chunk in chunks(unknown, ID_CHUNK):
            for row in self._query(self._select(f"Id IN {id_list(chunk)}", fields=["Id", "IsRecurrence"])):
                self._series_records[row["Id"]] = bool(row.get("IsRecurrence"))

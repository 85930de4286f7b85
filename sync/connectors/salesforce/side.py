"""One object of one user in Salesforce as the engine sees it (`sync.engine.SideConnector`): full and incremental
reads over the data set, lookups by matching keys, and batched writes through sObject Collections (updates with an
expected version through the Composite resource, conditional on it: see `conditional`).

Watermarks are the highest ``SystemModstamp`` seen (ISO-8601, UTC, milliseconds; at least Salesforce's clock minus
15 minutes, so that they move on while nothing changes) and are read back with ``>=``: a record stamped in the
same millisecond as the last one seen, but committed after the read, is not missed; the records at exactly the
watermark come back on the next run with the version the link already holds, which the engine treats as
unchanged. A watermark older than the recycle bin keeps deletions (14 days) gets a full read instead. See
docs/connector-salesforce.md.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from simple_salesforce.format import quote_soql_value

from sync.connectors.base import CallCounter, ObjectOptions, TransientError
from sync.connectors.salesforce.conditional import (
    COMPOSITE_BATCH,
    SaveOutcome,
    if_unmodified_since,
    patch_rows,
    still_as_written,
)
from sync.connectors.salesforce.errors import ACCESS_CODES, GONE_CODES, TRANSIENT_RECORD_CODES, missing_permission
from sync.connectors.salesforce.series import SeriesShapes
from sync.connectors.salesforce.soql import (
    ID_CHUNK,
    LOOKUPS_PER_QUERY,
    chunks,
    id_list,
    is_record_id,
    key_condition,
    soql_datetime,
)
from sync.engine.apply import CHANGED_DURING_SYNC, CreateRequest, LookupRequest, UpdateRequest, WriteError, WriteResult
from sync.engine.canonical import schema_for
from sync.engine.matching import match_keys
from sync.engine.records import ChangeSet, Side, SideRecord, SyncObject
from sync.mappings import salesforce as mapping
from sync.mappings.salesforce_ids import id18

if TYPE_CHECKING:  # the client hands out sides: importing it here at run time would be a cycle
    from sync.connectors.salesforce.client import SalesforceClient

WRITE_BATCH = 200  # sObject Collections' maximum per call
# A watermark never lags Salesforce's clock (the Date header) by more than this, so that it moves on while nothing
# changes; the margin covers clock skew and transactions that commit a while after stamping their records.
QUIET_MARGIN = timedelta(minutes=15)
# queryAll sees deletions only while they are in the recycle bin (15 days): an older watermark means a full read.
DELETIONS_KEPT = timedelta(days=14)
# The ORed key conditions of one lookup query, URL-encoded: with the fields and the data set's scope, the GET stays
# well under Salesforce's 16 KB URI limit however long the subjects and names are.
LOOKUP_QUERY_CHARS = 8000


def _lookup_chunks(conditions: Sequence[tuple[int, str]]) -> Iterator[list[tuple[int, str]]]:
    """(request index, condition) in runs of at most LOOKUPS_PER_QUERY and LOOKUP_QUERY_CHARS (one always fits)."""
    chunk: list[tuple[int, str]] = []
    size = 0
    for index, condition in conditions:
        length = len(quote(condition)) + 10  # " OR (...)"
        if chunk and (len(chunk) == LOOKUPS_PER_QUERY or size + length > LOOKUP_QUERY_CHARS):
            yield chunk
            chunk, size = [], 0
        chunk.append((index, condition))
        size += length
    if chunk:
        yield chunk


class SalesforceSide(SeriesShapes):
    """The engine's view of one object of one user in Salesforce (`sync.engine.SideConnector`).

    Scope is the data set's compiled WHERE clause (events also leave out recurring series masters). Reads:
    a full change set is one query (pages of 2,000); an incremental one is two (changed in scope; deleted or
    out of scope through ``queryAll``). Writes: sObject Collections, 200 records a call, ``allOrNone=false``;
    updates with an expected version through Composite, 25 a call, each conditional on it; then one query per
    200 records reads back the written fields with the ``SystemModstamp``, so the engine can recognise its own
    writes (and a record changed since the write gets no version).
    """

    side = Side.SALESFORCE
    supports_series = True  # an event can be a recurring series (IsRecurrence) that generates its occurrences

    def __init__(self, client: SalesforceClient, object_type: SyncObject, options: ObjectOptions):
        self.client = client
        self.object_type = object_type
        self.options = options
        self.sobject = mapping.sobject_name(object_type)
        # Series synced as series (ObjectOptions.series_as_series): see sync.connectors.salesforce.series.
        self.series_mode = options.series_as_series and object_type is SyncObject.EVENTS
        series_only = {"RecurrenceType", "IsRecurrence", "RecurrenceActivityId", *mapping.RECURRENCE_FIELDS}
        self.fields = [name for name in mapping.soql_fields(object_type)
                       if self.series_mode or name not in series_only]
        self.where = options.where.strip() if options.where and options.where.strip() else ""
        clauses = [f"({self.where})"] if self.where else []
        if object_type is SyncObject.EVENTS and not self.series_mode:
            clauses.append(mapping.RECURRENCE_MASTER_FILTER)
        self.scope = " AND ".join(clauses)
        self._series_records: dict[str, bool] = {}

    @property
    def calls(self) -> CallCounter:
        """The calls of the client this side reads and writes through."""
        return self.client.calls

    # -- reads ---------------------------------------------------------------------------------------------
    def _select(self, *conditions: str, fields: Sequence[str] | None = None) -> str:
        soql = f"SELECT {', '.join(fields or self.fields)} FROM {self.sobject}"  # noqa: S608 - names are fixed
        where = " AND ".join(condition for condition in conditions if condition)
        return f"{soql} WHERE {where}" if where else soql

    def _query(self, soql: str, include_deleted: bool = False) -> list[dict]:
        return self.client.query(soql, include_deleted=include_deleted, what=self.sobject)

    def _record(self, row: Mapping[str, Any], in_scope: bool) -> SideRecord:
        if self.series_mode:
            self._series_records[row["Id"]] = bool(row.get("IsRecurrence"))
        return SideRecord(id=row["Id"], version=row.get("SystemModstamp"),
                          fields=mapping.to_canonical(self.object_type, row), in_scope=in_scope)

    def changes(self, watermark: str | datetime | None) -> ChangeSet:
        """A full change set for no watermark (or one older than the recycle bin keeps deletions), else the
        changes since it: records stamped at the watermark itself may come again, with the same version."""
        if watermark is None or watermark == "":
            return self._full()
        since = mapping.parse_datetime(watermark)
        assert since is not None
        if datetime.now(UTC) - since > DELETIONS_KEPT:
            return self._full()
        return self._incremental(soql_datetime(since))

    def _full(self) -> ChangeSet:
        soql = self._select(self.scope)
        if self.options.record_limit:
            # The most recently changed records: the limit bounds a first sync; later changes still come in.
            soql += f" ORDER BY SystemModstamp DESC LIMIT {int(self.options.record_limit)}"
        rows = self._query(soql)
        records, reshaped = self._shaped(rows, True)
        change_set = ChangeSet.of(Side.SALESFORCE, records, full=True, watermark=self._watermark(rows, None))
        change_set.reshaped = reshaped - set(change_set.records)
        return change_set

    def _watermark(self, rows: Sequence[Mapping[str, Any]], previous: str | None) -> str | None:
        """The highest of: the previous watermark, every SystemModstamp read, Salesforce's clock minus a margin."""
        floor = self.client.server_time - QUIET_MARGIN if self.client.server_time else None
        stamps = [mapping.parse_datetime(value) for value in (previous, floor, *(r.get("SystemModstamp")
                                                                              for r in rows))]
        known = [stamp for stamp in stamps if stamp is not None]
        return soql_datetime(max(known)) if known else None

    def _incremental(self, since: str) -> ChangeSet:
        changed = f"SystemModstamp >= {since}"
        in_scope = self._query(self._select(self.scope, changed))
        leaving = f"(IsDeleted = true OR NOT ({self.scope}))" if self.scope else "IsDeleted = true"
        others = self._query(self._select(changed, leaving, fields=[*self.fields, "IsDeleted"]),
                             include_deleted=True)
        change_set = ChangeSet(Side.SALESFORCE, watermark=self._watermark([*in_scope, *others], since))
        if self.series_mode:
            return self._incremental_series(change_set, in_scope, others)
        for row in in_scope:
            change_set.records[row["Id"]] = self._record(row, True)
        for row in others:  # read second: where a record moved between the two reads, this is the later state
            if row.get("IsDeleted"):
                change_set.records.pop(row["Id"], None)
                change_set.deleted.add(row["Id"])
            else:
                change_set.records[row["Id"]] = self._record(row, False)
        return change_set

    def fetch(self, record_ids: Collection[str]) -> dict[str, SideRecord]:
        """The records that exist (in scope or not); one query per 200 ids, a second only for ids not in scope."""
        wanted = list(dict.fromkeys(id18(i) for i in record_ids if isinstance(i, str) and is_record_id(i)))
        found: dict[str, SideRecord] = {}
        for chunk in chunks(wanted, ID_CHUNK):
            for row in self._query(self._select(f"Id IN {id_list(chunk)}", self.scope)):
                found[row["Id"]] = self._record(row, True)
            missing = [i for i in chunk if i not in found]
            if missing and self.scope:
                for row in self._query(self._select(f"Id IN {id_list(missing)}")):
                    found[row["Id"]] = self._record(row, False)
        requested = {id18(i): i for i in record_ids if isinstance(i, str)}
        return {requested.get(key, key): record for key, record in found.items()}

    def lookup(self, request: LookupRequest) -> list[SideRecord]:
        """In-scope records carrying the request's matching keys (one query), to resolve a pending create."""
        condition = key_condition(self.object_type, request.fields)
        if not condition:
            return []
        return self._shaped(self._query(self._select(condition, self.scope)), True)[0]

    def lookup_many(self, requests: Sequence[LookupRequest]) -> list[list[SideRecord]]:
        """`lookup` for many records in few calls: their key conditions ORed, at most LOOKUPS_PER_QUERY and
        LOOKUP_QUERY_CHARS (URL-encoded) to a query. Each request gets the in-scope records sharing one of its
        matching keys (what `lookup` finds, less the records matching could never pair with it), in request order."""
        schema = schema_for(self.object_type)
        found: list[list[SideRecord]] = [[] for _ in requests]
        wanted = [(index, key_condition(self.object_type, request.fields)) for index, request in enumerate(requests)]
        for chunk in _lookup_chunks([(index, condition) for index, condition in wanted if condition]):
            either = "(" + " OR ".join(f"({condition})" for _, condition in chunk) + ")"
            records = self._shaped(self._query(self._select(either, self.scope)), True)[0]
            keyed = [(record, match_keys(self.object_type, schema.canonicalize(record.fields))) for record in records]
            for index, _ in chunk:
                keys = match_keys(self.object_type, schema.canonicalize(requests[index].fields))
                found[index] = [record for record, theirs in keyed
                                if any(key is not None and key == other for key, other in zip(keys, theirs,
                                                                                               strict=False))]
        return found

    # -- writes --------------------------------------------------------------------------------------------
    def create(self, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        items = [{"attributes": {"type": self.sobject}, **mapping.to_salesforce(self.object_type, r.fields)}
                 for r in requests]
        for item, request in zip(items, requests, strict=True):
            if self.object_type is SyncObject.EVENTS and request.fields.get("recurrence"):
                item["IsRecurrence"] = True  # create-only: Salesforce then generates the occurrences
        return self._save("create", items)

    def update(self, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        results: list[WriteResult | None] = [None] * len(requests)
        items: list[tuple[int, dict, str | None]] = []  # (request index, write body, If-Unmodified-Since)
        if self.series_mode:
            self._learn_shapes([r.record_id for r in requests if r.fields is not None])
        for index, request in enumerate(requests):
            if request.fields is None:  # a stamp-only update is for Exchange items; nothing to write here
                results[index] = WriteResult(request.record_id, None)
                continue
            known = self._series_records.get(request.record_id)
            if known is not None and known != bool(request.fields.get("recurrence")):
                # IsRecurrence cannot be changed on an existing event: say so rather than write half of it.
                results[index] = WriteResult(request.record_id, None, WriteError(
                    "SERIES_SHAPE_CHANGED", "Salesforce cannot turn a single event into a series or back; delete "
                    "the event in Salesforce (the next sync creates it again in its new shape)", False))
                continue
            items.append((index, {"attributes": {"type": self.sobject}, "Id": request.record_id,
                                  **mapping.to_salesforce(self.object_type, request.fields)},
                          if_unmodified_since(request.expected_version)))
        plain = [(index, body) for index, body, since in items if since is None]
        for (index, _), result in zip(plain, self._save("update", [body for _, body in plain]), strict=True):
            results[index] = result
        guarded = [(index, body, since) for index, body, since in items if since is not None]
        for (index, _, _), result in zip(guarded, self._save_conditional([(b, s) for _, b, s in guarded]),
                                         strict=True):
            results[index] = result
        return [result for result in results if result is not None]

    def delete(self, record_ids: Sequence[str]) -> list[WriteResult]:
        return self._save("delete", list(record_ids))

    def relate_to_people(self, attendees: Mapping[str, Sequence[str]]) -> dict[str, str]:
        """Auto-relate events (event id → attendees' e-mail addresses): the event's WhoId becomes the contact with
        the first attendee address that exactly one contact has; failing that, the lead when exactly one lead has
        one of the addresses. Events with no such person are left alone. Returns event id → related id."""
        if self.object_type is not SyncObject.EVENTS:
            raise ValueError("only events are related to people")
        addresses = sorted({a.strip().lower() for found in attendees.values() for a in found if a and a.strip()})
        contacts: dict[str, list[str]] = {}
        leads: dict[str, list[str]] = {}
        for chunk in chunks(addresses, 100):
            for sobject, found in (("Contact", contacts), ("Lead", leads)):
                soql = f"SELECT Id, Email FROM {sobject} WHERE Email IN {quote_soql_value(list(chunk))}"  # noqa: S608
                for row in self.client.query(soql, what=sobject):
                    found.setdefault(str(row["Email"]).lower(), []).append(row["Id"])
        related: dict[str, str] = {}
        for event_id, found in attendees.items():
            wanted = [a.strip().lower() for a in found]
            who = next((contacts[a][0] for a in wanted if len(contacts.get(a, [])) == 1), None)
            if who is None:
                matching_leads = {lead for a in wanted for lead in leads.get(a, [])}
                who = matching_leads.pop() if len(matching_leads) == 1 else None
            if who is not None:
                related[event_id] = who
        done: dict[str, str] = {}
        for batch in chunks(list(related.items()), WRITE_BATCH):
            answer = self.client.call(self.sobject, lambda api, batch=batch: api.restful(
                "composite/sobjects", method="PATCH", json={"allOrNone": False, "records": [
                    {"attributes": {"type": "Event"}, "Id": event_id, "WhoId": who} for event_id, who in batch]}))
            for (event_id, who), outcome in zip(batch, answer or [], strict=False):
                if isinstance(outcome, Mapping) and outcome.get("success"):
                    done[event_id] = who
        return done

    def _save(self, kind: str, items: Sequence[Any]) -> list[WriteResult]:
        results: list[WriteResult] = []
        for batch in chunks(items, WRITE_BATCH):
            results.extend(self._save_batch(kind, batch))
        return results

    def _save_conditional(self, items: Sequence[tuple[dict, str]]) -> list[WriteResult]:
        """Updates conditional on their records' last change (body, If-Unmodified-Since): Composite calls of 25,
        and one read-back per 200 as for sObject Collections."""
        results: list[WriteResult] = []
        for batch in chunks(items, WRITE_BATCH):
            outcomes: list[SaveOutcome] = []
            for part in chunks(batch, COMPOSITE_BATCH):
                outcomes.extend(patch_rows(self.client, self.sobject, [
                    (body["Id"], {k: v for k, v in body.items() if k not in ("attributes", "Id")}, since)
                    for body, since in part]))
            results.extend(self._results("update", outcomes, [body for body, _ in batch]))
        return results

    def _save_batch(self, kind: str, batch: Sequence[Any]) -> list[WriteResult]:
        if kind == "delete":
            answer = self.client.call(self.sobject, lambda api: api.restful(
                "composite/sobjects", params={"ids": ",".join(batch), "allOrNone": "false"}, method="DELETE"))
        else:
            answer = self.client.call(self.sobject, lambda api: api.restful(
                "composite/sobjects", method="POST" if kind == "create" else "PATCH",
                json={"allOrNone": False, "records": list(batch)}))
        if not isinstance(answer, list) or len(answer) != len(batch):
            raise TransientError("UNEXPECTED_RESPONSE",
                                 f"sObject Collections answered {len(answer or [])} results for {len(batch)} records")
        outcomes = [SaveOutcome(outcome.get("id") or (item if kind == "delete" else item.get("Id")),
                                bool(outcome.get("success")), list(outcome.get("errors") or []))
                    for item, outcome in zip(batch, answer, strict=True)]
        return self._results(kind, outcomes, None if kind == "delete" else batch)

    def _results(self, kind: str, outcomes: Sequence[SaveOutcome],
                 bodies: Sequence[Mapping[str, Any]] | None) -> list[WriteResult]:
        """Each record's WriteResult, classified once for both resources; `bodies` (what was written, for creates
        and updates) are compared with the read-back."""
        results: list[WriteResult] = []
        denied: list[int] = []
        for index, outcome in enumerate(outcomes):
            record_id = outcome.record_id
            if outcome.success:
                results.append(WriteResult(record_id, None))
                continue
            errors = outcome.errors or [{}]
            code = str(errors[0].get("statusCode") or "UNKNOWN_ERROR")
            message = "; ".join(str(e.get("message") or "") for e in errors).strip("; ")
            if kind == "delete" and code in GONE_CODES:
                results.append(WriteResult(record_id, None))  # already gone: the delete's aim is met
                continue
            if code in ACCESS_CODES:
                denied.append(index)
            fields = sorted({name for e in errors for name in (e.get("fields") or [])})
            if fields:
                message = f"{message} (fields: {', '.join(fields)})"
            transient = code in TRANSIENT_RECORD_CODES or code == CHANGED_DURING_SYNC
            results.append(WriteResult(record_id if kind != "create" else None, None,
                                       WriteError(code, message, transient)))
        if denied:
            # An object permission missing is a person's job, not a stream of record errors; a record the user
            # may not edit (sharing) stays a per-record error.
            permission = {"create": "create", "update": "edit", "delete": "delete"}[kind]
            if not getattr(self.client.permissions(self.object_type), permission):
                raise missing_permission(self.client.username, self.sobject, permission)
        if bodies is not None:
            written = {r.record_id: body for r, body in zip(results, bodies, strict=True) if r.ok and r.record_id}
            stamps = self._versions(written)
            results = [WriteResult(r.record_id, stamps.get(r.record_id or "")) if r.ok else r for r in results]
        return results

    def _versions(self, written: Mapping[str, Mapping[str, Any]]) -> dict[str, str | None]:
        """The new version of each written record (id → write body): its SystemModstamp, read back with the
        written fields in one query; none for a record that no longer holds what was written (changed since)."""
        if not written:
            return {}
        rows = self._query(self._select(f"Id IN {id_list(list(written))}"))
        return {row["Id"]: row["SystemModstamp"] if still_as_written(self.object_type, row, written[row["Id"]])
                else None for row in rows if row["Id"] in written}

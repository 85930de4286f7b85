"""The Graph side connector: one mailbox's contacts (the sync contact folder), events (the calendarView over the
data set's window) or To Do tasks, read through delta rounds and batched GETs (the engine's `SideConnector`)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sync.connectors.base import NeedsAttention, ObjectOptions, TransientError
from sync.connectors.exchange import (
    DEFAULT_WINDOW,
    MailboxSide,
    event_in_window,
    event_kept_by_options,
    is_excluded,
    parse_instant,
)
from sync.connectors.graph.errors import NO_SUCH_ITEM, NotFound, SyncStateGone, classify, error_of, mailbox_error
from sync.connectors.graph.items import (
    LINKED_APPLICATION,
    READ_PREFER,
    SALESFORCE_ID_PROPERTY,
    UTC_PREFER,
    guarded,
    is_organized_meeting,
    query,
)
from sync.connectors.graph.series import GraphSeries, is_master
from sync.connectors.graph.transport import BATCH_SIZE
from sync.connectors.graph.watermark import Watermark
from sync.connectors.graph.writes import GraphWrites
from sync.engine.apply import LookupRequest
from sync.engine.records import ChangeSet, Side, SideRecord, SyncObject
from sync.mappings import graph as mapping
from sync.mappings.datetimes import iso_utc

if TYPE_CHECKING:
    from sync.connectors.graph.mailbox import GraphMailbox

log = logging.getLogger(__name__)

DELTA_PAGE = 1000  # asked with Prefer: odata.maxpagesize (the service may send fewer)
LIST_PAGE = 1000  # $top of plain list reads (stamps of a full read)
TASK_LIST_PAGE = 200


class GraphSide(GraphSeries, GraphWrites, MailboxSide):
    """The engine's SideConnector for one mailbox and object through Graph (Side.OUTLOOK)."""

    supports_series = True  # a series master can be read and written as one item (ObjectOptions.series_as_series)
    mailbox: GraphMailbox

    def __init__(self, mailbox: GraphMailbox, object_type: SyncObject, options: ObjectOptions, *,
                 create_folder: bool = True):
        super().__init__(mailbox, object_type, options, create_folder=create_folder)
        self._folder_id: str | None = None
        self._list_id: str | None = None
        self._no_folder = False
        self._etags: dict[str, str] = {}  # @odata.etag read in this run (If-Match on update)
        self._current: dict[str, dict[str, Any]] = {}  # contacts as read in this run (collections to keep)
        self._attendees: dict[str, list[str]] = {}
        self._meetings: dict[str, bool] = {}  # events: organized by this mailbox, with attendees
        self._zones: dict[str, str | None] = {}  # events: their own start zone, kept by an all-day update
        self._task_index: dict[str, list[str]] | None = None  # tasks: Salesforce id → task ids (lookup)
        self._task_stamps: dict[str, str | None] = {}  # tasks read in this run with their linked resources: our stamp
        # Series synced as series (ObjectOptions.series_as_series): a master Salesforce can hold as one recurring
        # event is one record; the others are synced as their occurrences inside the window (see graph.series).
        self.series_mode = options.series_as_series and object_type is SyncObject.EVENTS
        self._whole: dict[str, Any] = {}  # masters judged in this run to be one record each: their series
        self._occurrence_of: dict[str, str] = {}  # occurrences and exceptions read in this run: their master
        self._master_versions: dict[str, str] = {}  # masters judged in this run: their changeKey

    @property
    def user(self) -> str:
        return self.mailbox.user_path

    # ---- where things are ------------------------------------------------------------------------------------------
    def _folder(self, *, create: bool = False) -> str:
        if self._folder_id is None:
            self._folder_id = self.mailbox.contacts_folder_id(self.options.contacts_folder, create=create)
        return self._folder_id

    def _task_list(self) -> str:
        if self._list_id is None:
            self._list_id = self.mailbox.default_task_list()
        return self._list_id

    def _item_path(self, record_id: str) -> str:
        quoted = quote(record_id, safe="=-_")
        if self.object_type is SyncObject.CONTACTS:
            return f"{self.user}/contacts/{quoted}"
        if self.object_type is SyncObject.EVENTS:
            return f"{self.user}/events/{quoted}"
        return f"{self.user}/todo/lists/{quote(self._task_list(), safe='=-_')}/tasks/{quoted}"

    def _expand(self) -> str:
        if self.object_type is SyncObject.TASKS:
            return "linkedResources"
        ids = [SALESFORCE_ID_PROPERTY]
        if self.object_type is SyncObject.CONTACTS:
            ids.append(mapping.FAX_PROPERTY)
        return "singleValueExtendedProperties($filter=" + " or ".join(f"id eq '{i}'" for i in ids) + ")"

    def _window(self) -> tuple[datetime, datetime]:
        now = datetime.now(UTC)
        lo = self.window_start or datetime(now.year, now.month, now.day, tzinfo=UTC) - DEFAULT_WINDOW
        hi = self.window_end or datetime(now.year, now.month, now.day, tzinfo=UTC) + DEFAULT_WINDOW
        return lo, hi

    def _window_key(self) -> list[str] | None:
        if self.object_type is not SyncObject.EVENTS:
            return None
        return [iso_utc(t) for t in self._window()]

    # ---- reads -----------------------------------------------------------------------------------------------------
    @guarded
    def changes(self, watermark: str | None) -> ChangeSet:
        mark = Watermark.parse(watermark, self.object_type, self.mailbox.root)
        if mark is None:
            if watermark is not None:
                log.info("%s %s: watermark not from this Graph connector: full read", self.mailbox.mailbox,
                         self.object_type)
            return self._full_read(first=watermark is None)
        if self.object_type is SyncObject.EVENTS and mark.window != self._window_key():
            return self._full_read(first=False)  # a delta round belongs to its window: start a new round
        if self.object_type is SyncObject.CONTACTS:
            if not mark.folder:
                return self._full_read(first=False)
            self._folder_id = mark.folder
        if self.object_type is SyncObject.TASKS:
            if not mark.task_list:
                return self._full_read(first=False)
            self._list_id = mark.task_list
        since = self._since_now()
        try:
            changed, removed, delta = self._delta(mark.delta)
        except SyncStateGone:
            log.warning("delta token of %s %s is no longer known: full read", self.mailbox.mailbox,
                        self.object_type)
            self._folder_id = self._list_id = None
            return self._full_read(first=False)
        except NotFound:
            # The folder or list we synced is gone. A contact folder of the same name (re-created by the user) is
            # a new folder: read it in full; no folder at all needs a person (never re-created silently).
            self._folder_id = self._list_id = None
            return self._full_read(first=False)
        if self.series_mode:
            return self._series_changes(mark, changed, removed, delta, since)
        records = self._records(changed, removed)
        deleted = {i for i in removed if i not in records}
        for record_id in deleted:
            records.pop(record_id, None)
        return ChangeSet(Side.OUTLOOK, records, deleted, False, self._mark(delta))

    def _mark(self, delta: str, series: dict[str, list[str]] | None = None, whole: Collection[str] = (),
              since: str | None = None, masters: Mapping[str, str] | None = None) -> str:
        known = {**(masters or {}), **self._master_versions}
        keep = set(series or {}) | set(whole)
        return Watermark(self.object_type, delta, self._folder_id if self.object_type is SyncObject.CONTACTS
                          else None, self._list_id if self.object_type is SyncObject.TASKS else None,
                          self._window_key(), series or {}, sorted(whole), since,
                          {k: v for k, v in sorted(known.items()) if k in keep}).dump()

    def _full_read(self, *, first: bool) -> ChangeSet:
        """Every item: a delta round from scratch (its deltaLink is the watermark), then the stamps in pages."""
        if self.object_type is SyncObject.CONTACTS:
            self._folder(create=first and self.create_folder)
        elif self.object_type is SyncObject.TASKS:
            self._task_list()
        if self.series_mode:
            return self._series_full_read()
        changed, _removed, delta = self._delta(None)
        if self.object_type is SyncObject.TASKS:
            items = changed
        else:
            extras = self._list_extras()
            items = {i: {**item, **extras[i]} for i, item in changed.items() if i in extras}
            # made between the two reads: read whole (a missing stamp or fax would look like a change)
            items.update(self._get([i for i in changed if i not in extras]))
        records = {}
        for record_id, item in items.items():
            record = self._record(item)
            if record is not None and record.in_scope:
                records[record_id] = record
        return ChangeSet(Side.OUTLOOK, records, set(), True, self._mark(delta))

    def _delta(self, link: str | None) -> tuple[dict[str, dict[str, Any]], set[str], str]:
        """One delta round to its deltaLink: (changed items by id, removed ids, the new deltaLink)."""
        prefer = f"odata.maxpagesize={DELTA_PAGE}"
        params: dict[str, str] | None = None
        if link is not None:
            path = link
        elif self.object_type is SyncObject.CONTACTS:
            path = f"{self.user}/contactFolders/{quote(self._folder(), safe='=-_')}/contacts/delta"
            params = {"$select": ",".join(mapping.CONTACT_SELECT)}
        elif self.object_type is SyncObject.EVENTS:
            lo, hi = self._window()
            path = f"{self.user}/calendarView/delta"
            params = {"startDateTime": iso_utc(lo), "endDateTime": iso_utc(hi)}
        else:
            path = f"{self.user}/todo/lists/{quote(self._task_list(), safe='=-_')}/tasks/delta"
            params = {"$expand": "linkedResources"}  # the stamps come with the round: no reads besides it
        if self.object_type is SyncObject.EVENTS:
            prefer += f", {UTC_PREFER}"
        operation = {SyncObject.CONTACTS: "contacts/delta", SyncObject.EVENTS: "calendarView/delta",
                     SyncObject.TASKS: "todo/tasks/delta"}[self.object_type]
        changed: dict[str, dict[str, Any]] = {}
        removed: set[str] = set()
        answer = self.mailbox.send("GET", path, operation, params=params, headers={"Prefer": prefer})
        while True:
            page = answer.body if isinstance(answer.body, dict) else {}
            for item in page.get("value", []):
                record_id = str(item.get("id"))
                if "@removed" in item:
                    changed.pop(record_id, None)
                    removed.add(record_id)
                else:
                    changed[record_id] = item
                    removed.discard(record_id)
            if page.get("@odata.deltaLink"):
                return changed, removed, str(page["@odata.deltaLink"])
            next_link = page.get("@odata.nextLink")
            if not next_link:
                raise TransientError("delta_incomplete", "a delta page had neither a nextLink nor a deltaLink")
            answer = self.mailbox.send("GET", next_link, operation, headers={"Prefer": prefer})

    def _list_extras(self, modified_since: datetime | None = None) -> dict[str, dict[str, Any]]:
        """What delta cannot return (stamps, the fax; whole events) for every item (or those modified since), in
        pages."""
        if self.object_type is SyncObject.CONTACTS:
            path = f"{self.user}/contactFolders/{quote(self._folder(), safe='=-_')}/contacts"
            params = {"$select": "id", "$expand": self._expand(), "$top": str(LIST_PAGE)}
            key = "singleValueExtendedProperties"
        elif self.object_type is SyncObject.EVENTS:
            # Whole events: Graph's calendarView/delta sends occurrences of a series with their id, type, series
            # and times only; the calendar view has all their properties.
            lo, hi = self._window()
            path = f"{self.user}/calendarView"
            params = {"startDateTime": iso_utc(lo), "endDateTime": iso_utc(hi), "$expand": self._expand(),
                      "$top": str(LIST_PAGE)}
            key = None
        else:
            path = f"{self.user}/todo/lists/{quote(self._task_list(), safe='=-_')}/tasks"
            params = {"$select": "id", "$expand": self._expand(), "$top": str(TASK_LIST_PAGE)}
            key = "linkedResources"
        if modified_since is not None:
            params["$filter"] = f"lastModifiedDateTime ge {iso_utc(modified_since)}"
        operation = path.rsplit("/", 1)[-1] if self.object_type is not SyncObject.TASKS else "todo/tasks"
        out: dict[str, dict[str, Any]] = {}
        headers = {"Prefer": READ_PREFER} if self.object_type is SyncObject.EVENTS else None
        for page in self.mailbox.pages(path, operation, params=params, headers=headers):
            for item in page.get("value", []):
                out[str(item["id"])] = {key: item.get(key) or []} if key else item
        return out

    def _records(self, changed: Mapping[str, dict[str, Any]], removed: set[str]) -> dict[str, SideRecord]:
        """Records for an incremental round: changed items read again with their stamps (a batch per 20).

        Events removed from the calendarView may only have left the window: those still there are reported out of
        scope (never as deleted), as the EWS connector does for occurrences that leave the window.
        """
        if self.object_type is SyncObject.TASKS:
            return {i: r for i, r in ((i, self._record(item)) for i, item in changed.items()) if r is not None}
        items: dict[str, dict[str, Any]] = {}
        pending = list(changed)
        since = [parse_instant(item.get("lastModifiedDateTime")) for item in changed.values()]
        if len(pending) > BATCH_SIZE and all(since):
            # Many changes (our own creates read back, a bulk edit): the stamps of everything modified since the
            # oldest change, in pages of 1000, cost less than a GET per item.
            oldest = min(t for t in since if t is not None) - timedelta(seconds=1)
            extras = self._list_extras(modified_since=oldest)
            items = {i: {**changed[i], **extras[i]} for i in pending if i in extras}
            pending = [i for i in pending if i not in items]
        wanted = pending + (sorted(removed) if self.object_type is SyncObject.EVENTS else [])
        found = self._get(wanted)
        items.update({i: found[i] for i in pending if i in found})
        records = {}
        for record_id in changed:
            item = items.get(record_id)
            if item is None:
                continue  # gone since the delta page was made: the next round reports it removed
            record = self._record(item)
            if record is not None:
                records[record_id] = record
        for record_id in removed:
            item = found.get(record_id)
            if item is None or self.object_type is not SyncObject.EVENTS:
                continue
            start, end = mapping.event_span(item)
            if not event_in_window(start, end, *self._window()):
                record = self._record(item)
                if record is not None:
                    records[record_id] = record  # out of scope: it left the window
        return records

    def _get(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Items by id with their stamps (batched GETs); missing items are left out."""
        if not ids:
            return {}
        params = query({"$expand": self._expand()})
        headers = {"Prefer": READ_PREFER} if self.object_type is SyncObject.EVENTS else None
        answers = self.mailbox.batch_get([self._item_path(i) + params for i in ids], headers=headers)
        out = {}
        for record_id, answer in zip(ids, answers, strict=True):
            if answer.status == 404 or (answer.status == 400 and error_of(answer.body)[0] in NO_SUCH_ITEM):
                attention = mailbox_error(404, *error_of(answer.body))
                if attention is not None:
                    raise attention
                continue
            if not 200 <= answer.status < 300:
                raise classify(answer.status, answer.body, answer.headers)
            out[record_id] = answer.body
        return out

    def _record(self, item: Mapping[str, Any]) -> SideRecord | None:
        record_id = str(item["id"])
        master = self.object_type is SyncObject.EVENTS and is_master(item)
        if master and record_id not in self._whole:
            return None  # a series synced as its occurrences inside the window
        fields = mapping.FROM_GRAPH[self.object_type](item)
        etag = item.get("@odata.etag")
        if etag:
            self._etags[record_id] = str(etag)
        if self.object_type is SyncObject.CONTACTS:
            self._current[record_id] = {k: item.get(k) for k in ("emailAddresses", "businessPhones", "homePhones")}
        if self.object_type is SyncObject.TASKS and "linkedResources" in item:
            self._task_stamps[record_id] = self._stamp(item)
        if self.object_type is SyncObject.EVENTS and "attendees" in item:
            self._attendees[record_id] = mapping.event_attendees(item)
            if "isOrganizer" in item:
                self._meetings[record_id] = is_organized_meeting(item)
        if self.object_type is SyncObject.EVENTS and "originalStartTimeZone" in item:
            self._zones[record_id] = mapping.own_zone(item)
        version = item.get("changeKey") or etag
        stamp = self._stamp(item)
        if self.series_mode and item.get("seriesMasterId"):
            # An occurrence's stamp is its master's (or names the copy made of it while its series was synced as
            # occurrences, replaced since): it proves nothing, and the occurrence is matched by its keys.
            self._occurrence_of[record_id] = str(item["seriesMasterId"])
            stamp = None
        record = SideRecord(record_id, str(version) if version else None, fields, self._in_scope(item, fields), stamp)
        return self._series_record(record_id, item, record) if master else record

    def _stamp(self, item: Mapping[str, Any]) -> str | None:
        if self.object_type is SyncObject.TASKS:
            ours = [r for r in item.get("linkedResources") or () if r.get("applicationName") == LINKED_APPLICATION
                    and r.get("externalId")]
            return str(ours[-1]["externalId"]) if ours else None
        return mapping.extended_value(item, SALESFORCE_ID_PROPERTY)

    def _in_scope(self, item: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
        if self.object_type is SyncObject.CONTACTS:
            if self._no_folder:
                return False
            parent = item.get("parentFolderId")
            if parent and self._folder_id and parent != self._folder_id:
                return False
            return not is_excluded(fields.get("email"), self.options.excluded_addresses)
        if self.object_type is SyncObject.EVENTS:
            if not event_kept_by_options(self.options, private=mapping.event_is_private(item),
                                         categories=mapping.event_categories(item),
                                         organizer=mapping.event_organizer(item)):
                return False
            start, end = mapping.event_span(item)
            return event_in_window(start, end, self.window_start, self.window_end)
        return True

    @guarded
    def fetch(self, record_ids: Collection[str]) -> dict[str, SideRecord]:
        ids = list(dict.fromkeys(record_ids))
        if not ids:
            return {}
        if self.object_type is SyncObject.CONTACTS and self._folder_id is None:
            try:
                self._folder()
            except NeedsAttention:
                self._folder_id = None
                self._no_folder = True  # no folder: whatever is found is out of scope
        return self._records_of(self._get(ids))

    def lookup(self, request: LookupRequest) -> list[SideRecord]:
        """Items stamped with the request's Salesforce id (see `lookup_many`)."""
        return self.lookup_many([request])[0]

    @guarded
    def lookup_many(self, requests_: Sequence[LookupRequest]) -> list[list[SideRecord]]:
        """Items stamped with each request's Salesforce id, in request order. Contacts and events: a $filter on the
        extended property per id (the one form of it Graph documents), sent 20 to a $batch; To Do tasks: an index of
        the list's linked resources, built once per connector, then one batched read of the tasks found."""
        stamps = list(dict.fromkeys(r.salesforce_id for r in requests_ if r.salesforce_id))
        if self.object_type is SyncObject.TASKS:
            index = self._tasks_index() if stamps else {}
            tasks = self.fetch([i for s in stamps for i in index.get(s, [])])
            by_stamp = {s: [tasks[i] for i in index.get(s, []) if i in tasks] for s in stamps}
        else:
            by_stamp = self._stamped(stamps)
        return [list(by_stamp.get(r.salesforce_id, [])) if r.salesforce_id else [] for r in requests_]

    def _stamped(self, stamps: Sequence[str]) -> dict[str, list[SideRecord]]:
        """Contacts (in the sync folder) or events stamped with each of these Salesforce ids."""
        if not stamps:
            return {}
        if self.object_type is SyncObject.CONTACTS:
            path = f"{self.user}/contactFolders/{quote(self._folder(), safe='=-_')}/contacts"
            headers = None
        else:
            path = f"{self.user}/calendar/events"
            headers = {"Prefer": READ_PREFER}
        operation = path.rsplit("/", 1)[-1]
        urls = []
        for stamp in stamps:
            value = stamp.replace("'", "''")
            urls.append(path + query({
                "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{SALESFORCE_ID_PROPERTY}' "
                           f"and ep/value eq '{value}')", "$expand": self._expand()}))
        out: dict[str, list[SideRecord]] = {}
        for stamp, answer in zip(stamps, self.mailbox.batch_get(urls, headers=headers), strict=True):
            if not 200 <= answer.status < 300:
                code, message = error_of(answer.body)
                if answer.status == 404 and mailbox_error(404, code, message) is None:
                    raise NotFound(code, message)  # the folder: `guarded` says which
                raise classify(answer.status, answer.body, answer.headers)
            page = answer.body if isinstance(answer.body, dict) else {}
            items = list(page.get("value", []))
            if page.get("@odata.nextLink"):  # more than a page carry this stamp: follow them (rare)
                for more in self.mailbox.pages(str(page["@odata.nextLink"]), operation, headers=headers):
                    items.extend(more.get("value", []))
            out[stamp] = list(self._records_of({str(item["id"]): item for item in items}).values())
        return out

    def _tasks_index(self) -> dict[str, list[str]]:
        if self._task_index is None:
            index: dict[str, list[str]] = {}
            for record_id, extra in self._list_extras().items():
                stamp = self._stamp(extra)
                if stamp:
                    index.setdefault(stamp, []).append(record_id)
            self._task_index = index
        return self._task_index

    @guarded
    def attendee_addresses(self, item_ids: Sequence[str]) -> dict[str, list[str]]:
        """Events: the e-mail addresses of each item's attendees (the mailbox itself and excluded addresses left
        out), in the item's order, for relating events to people in Salesforce."""
        if self.object_type is not SyncObject.EVENTS:
            raise ValueError("only events have attendees")
        ids = list(dict.fromkeys(item_ids))
        unknown = [i for i in ids if i not in self._attendees]
        if unknown:
            answers = self.mailbox.batch_get([f"{self._item_path(i)}?$select=attendees" for i in unknown])
            for record_id, answer in zip(unknown, answers, strict=True):
                if 200 <= answer.status < 300:
                    self._attendees[record_id] = mapping.event_attendees(answer.body)
                elif answer.status != 404:
                    attention = mailbox_error(answer.status, *error_of(answer.body))
                    if attention is not None:
                        raise attention
        return {i: [a for a in self._attendees[i] if a != self.mailbox.mailbox
                    and not is_excluded(a, self.options.excluded_addresses)]
                for i in ids if i in self._attendees}

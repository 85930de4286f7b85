"""The EWS side connector: one mailbox's contacts (the sync subfolder), events (the primary calendar) or tasks,
read through SyncFolderItems and GetItem and written in batches (the engine's `SideConnector`)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from exchangelib import CalendarItem, Contact, Q, Task
from exchangelib.errors import (
    ErrorFolderNotFound,
    ErrorImpersonateUserDenied,
    ErrorImpersonationFailed,
    ErrorInvalidSyncStateData,
    ErrorNonExistentMailbox,
    ErrorServerBusy,
)
from exchangelib.fields import FieldPath
from exchangelib.folders import Calendar, Contacts, FolderCollection, Tasks
from exchangelib.folders.base import BaseFolder
from exchangelib.items import HARD_DELETE, ID_ONLY, SAVE_ONLY, SEND_TO_NONE
from exchangelib.restriction import Restriction
from exchangelib.services import FindItem, SyncFolderItems

from sync.connectors.base import NeedsAttention, ObjectOptions, PermanentError
from sync.connectors.ews.convert import item_view, model_kwargs, required_after_save
from sync.connectors.ews.errors import (
    GET_BATCH,
    MISSING,
    WRITE_BATCH,
    _CreateItem,
    _DeleteItem,
    _GetItem,
    classify,
    item_error,
)
from sync.connectors.ews.meetings import OrganizedMeetings
from sync.connectors.ews.properties import SALESFORCE_ID_FIELD
from sync.connectors.ews.recurrence import SERIES_FIELDS
from sync.connectors.ews.series import SeriesReads
from sync.connectors.ews.watermark import Watermark
from sync.connectors.ews.zones import AllDayZones
from sync.connectors.exchange import (
    MailboxSide,
    event_in_window,
    event_kept_by_options,
    is_excluded,
)
from sync.engine.apply import CreateRequest, LookupRequest, UpdateRequest, WriteError, WriteResult
from sync.engine.records import ChangeSet, Side, SideRecord, SyncObject
from sync.mappings import exchange as mapping

if TYPE_CHECKING:
    from exchangelib import Account

    from sync.connectors.ews.mailbox import EwsMailbox

log = logging.getLogger(__name__)

MODELS: dict[SyncObject, type] = {SyncObject.CONTACTS: Contact, SyncObject.EVENTS: CalendarItem,
                                  SyncObject.TASKS: Task}
SYNC_PAGE = 512  # SyncFolderItems' maximum
LOOKUP_CHUNK = 50  # stamped Salesforce ids ORed in one FindItem restriction
LOOKUP_PAGE = 200  # FindItem page while looking them up (each id is on about one item)

_SYNC_FIELDS: dict[SyncObject, tuple[str, ...]] = {
    SyncObject.CONTACTS: (),
    SyncObject.EVENTS: ("type", "start", "end", "is_all_day", "sensitivity", "categories"),
    SyncObject.TASKS: (),
}


class EwsSide(SeriesReads, AllDayZones, OrganizedMeetings, MailboxSide):
    """The engine's SideConnector for one mailbox and object (Side.OUTLOOK)."""

    supports_series = True  # a recurring master can be read and written as one item (ObjectOptions.series_as_series)
    mailbox: EwsMailbox

    def __init__(self, mailbox: EwsMailbox, object_type: SyncObject, options: ObjectOptions, *,
                 create_folder: bool = True):
        super().__init__(mailbox, object_type, options, create_folder=create_folder)
        self.model = MODELS[object_type]
        self._folder_id: str | None = None  # contacts: the subfolder's id
        self._home_id: str | None = None  # the real id of the folder items must be in to be in scope
        self._versions: dict[str, str] = {}  # change keys read in this run (for conflict detection on update)
        self._masters_read: set[str] = set()  # recurring masters met by GetItem that are expanded, not records
        # Series synced as series (ObjectOptions.series_as_series): a master Salesforce can hold as one recurring
        # event is one record; the others are expanded into their occurrences as before.
        self.series_mode = options.series_as_series and object_type is SyncObject.EVENTS
        self._whole: set[str] = set()  # masters read in this run that are records themselves

    @property
    def account(self) -> Account:
        return self.mailbox.account

    # ---- folders ---------------------------------------------------------------------------------------------------
    def _folder(self, *, create: bool = False) -> BaseFolder:
        if self.object_type is SyncObject.EVENTS:
            return self.mailbox.distinguished("calendar", Calendar)
        if self.object_type is SyncObject.TASKS:
            return self.mailbox.distinguished("tasks", Tasks)
        if self._folder_id is None:
            folder_id = self.mailbox.contacts_folder_id(self.options.contacts_folder, create=create)
            self._folder_id = folder_id
            self._home_id = folder_id
        return self.mailbox.folder_by_id(self._folder_id, Contacts)

    def _home(self) -> str:
        """The real id of the folder in scope (one GetFolder for distinguished folders, once per instance)."""
        if self._home_id is None:
            folder = self._folder()
            with self.mailbox.ews():
                fetched = list(FolderCollection(account=self.account, folders=[folder]).get_folders(
                    additional_fields=set()))
            if not fetched or isinstance(fetched[0], Exception):
                raise classify(fetched[0]) if fetched else PermanentError("ErrorFolderNotFound", "no folder")
            self._home_id = fetched[0].id
        return self._home_id

    # ---- reads -----------------------------------------------------------------------------------------------------
    def changes(self, watermark: str | None) -> ChangeSet:
        mark = Watermark.parse(watermark)
        if mark is None:
            return self._full_read(first=watermark is None)
        if self.object_type is SyncObject.CONTACTS:
            if mark.folder_id is None:
                return self._full_read(first=False)
            self._folder_id = mark.folder_id
            self._home_id = mark.folder_id
        try:
            changed, deleted, state = self._sync(mark.state)
        except ErrorInvalidSyncStateData:
            log.warning("sync state of %s %s is no longer valid: full read", self.mailbox.mailbox, self.object_type)
            self._folder_id = self._home_id = None
            return self._full_read(first=False)
        except ErrorFolderNotFound:
            if self.object_type is not SyncObject.CONTACTS:
                raise PermanentError("ErrorFolderNotFound", f"the {self.object_type} folder is missing") from None
            # The folder we synced is gone. A folder of the same name (re-created by the user) is a new folder:
            # read it in full; no folder at all needs a person.
            self._folder_id = self._home_id = None
            return self._full_read(first=False)
        series = dict(mark.series)
        reshaped: set[str] = set()
        whole = set(mark.whole)
        if self.object_type is SyncObject.EVENTS:
            window_moved = mark.window != self._window_key()
            masters = {c["id"] for c in changed if c.get("type") == "RecurringMaster"}
            records = self._records([c for c in changed if c["id"] not in masters])
            if self.series_mode:
                # Changed masters are read in full: those Salesforce can hold as a series are records; when the
                # window moved, the series we present whole are read again (their span decides their scope).
                again = [m for m in whole if m not in masters and m not in deleted] if window_moved else []
                records.update(self._get(sorted(masters) + again))
            masters |= self._masters_read
            expanded = masters - self._whole
            for master_id in self._whole & set(series):
                reshaped.update(series.pop(master_id))  # its occurrences became one series record
            extra, gone = self._refresh_series(expanded, deleted, series, window_moved)
            records.update(extra)
            # An item that became a series that is expanded stops being a record (its occurrences are); an item
            # that stopped being a series loses the occurrences reported for it. With series synced as series
            # that is a change of shape, not a deletion (see ChangeSet.reshaped).
            was_single = expanded - set(mark.series) - whole
            reshaped |= expanded & whole
            deleted |= gone
            (reshaped if self.series_mode else deleted).update(was_single)
            for record_id in records:
                if record_id in series:
                    (reshaped if self.series_mode else deleted).update(series.pop(record_id))
            whole = (whole - deleted - expanded - {r for r in records if r not in self._whole}) | self._whole
        else:
            records = self._records(changed)
        deleted -= reshaped
        for record_id in [*deleted, *reshaped]:
            records.pop(record_id, None)
        new_mark = Watermark(state, self._folder_id if self.object_type is SyncObject.CONTACTS else None,
                              series, self._window_key(), sorted(whole))
        return ChangeSet(Side.OUTLOOK, records, deleted, False, new_mark.dump(), reshaped=reshaped)

    def _full_read(self, *, first: bool) -> ChangeSet:
        """Every item of the folder: a SyncFolderItems pass from an empty state (its end state is the watermark),
        then GetItem for the items in scope."""
        self._folder(create=first and self.create_folder)
        changed, _deleted, state = self._sync(None)
        series: dict[str, list[str]] = {}
        reshaped: set[str] = set()
        if self.object_type is SyncObject.EVENTS:
            # SyncFolderItems returned what scope needs: GetItem only what is in scope.
            singles = [c for c in changed if c.get("type") != "RecurringMaster" and self._event_scope(c)]
            masters = [c["id"] for c in changed if c.get("type") == "RecurringMaster"]
            records = self._records(singles)
            if self.series_mode:
                records.update(self._get(masters))  # the masters Salesforce can hold as a series are records
                occurrences = self._occurrence_ids(masters)
                # Their occurrences are no records, and the other masters are none either (after syncs that linked
                # them in the other shape, they were: say so, so that the copies are replaced, not kept or deleted).
                reshaped = {i for m in self._whole for i in occurrences.pop(m, [])}
                reshaped |= set(masters) - self._whole
                series.update(occurrences)
                records.update(self._get([i for ids in occurrences.values() for i in ids]))
            else:
                records.update(self._expand(masters, series))
            records = {k: v for k, v in records.items() if v.in_scope}
        else:
            records = {k: v for k, v in self._records(changed).items() if v.in_scope}
        mark = Watermark(state, self._folder_id if self.object_type is SyncObject.CONTACTS else None, series,
                          self._window_key(), sorted(self._whole))
        return ChangeSet(Side.OUTLOOK, records, set(), True, mark.dump(), reshaped=reshaped)

    def _sync(self, state: str | None) -> tuple[list[dict[str, Any]], set[str], str]:
        """Run SyncFolderItems until IncludesLastItemInRange: (created/updated rows, deleted ids, new state)."""
        folder = self._folder()
        fields = {FieldPath(field=self.model.get_field_by_fieldname(name)) for name in _SYNC_FIELDS[self.object_type]}
        changed: dict[str, dict[str, Any]] = {}
        deleted: set[str] = set()
        with self.mailbox.ews(keep=(ErrorInvalidSyncStateData, ErrorFolderNotFound)):
            while True:
                service = SyncFolderItems(account=self.account)
                for change_type, item in service.call(folder=folder, shape=ID_ONLY, additional_fields=fields,
                                                      sync_state=state, ignore=None,
                                                      max_changes_returned=SYNC_PAGE, sync_scope="NormalItems"):
                    if isinstance(item, Exception):
                        raise item
                    if change_type == SyncFolderItems.DELETE:
                        changed.pop(item.id, None)
                        deleted.add(item.id)
                    elif change_type in (SyncFolderItems.CREATE, SyncFolderItems.UPDATE):
                        row = {"id": item.id, "changekey": item.changekey}
                        for name in _SYNC_FIELDS[self.object_type]:
                            row[name] = getattr(item, name, None)
                        changed[item.id] = row
                        deleted.discard(item.id)
                    elif change_type == SyncFolderItems.READ_FLAG_CHANGE:
                        # Only messages have a read flag; should a server report one here anyway, read the item
                        # again rather than miss a change (its type is learnt from GetItem).
                        item_id = item[0].id
                        changed.setdefault(item_id, {"id": item_id, "changekey": item[0].changekey})
                        deleted.discard(item_id)
                new_state = service.sync_state
                if service.includes_last_item_in_range or new_state == state:
                    state = new_state
                    break
                state = new_state
        return list(changed.values()), deleted, state or ""

    def _records(self, rows: Iterable[Mapping[str, Any]]) -> dict[str, SideRecord]:
        ids = [row["id"] for row in rows]
        return self._get(ids)

    def _get(self, ids: Sequence[str]) -> dict[str, SideRecord]:
        """GetItem in batches: records by id; missing items are left out."""
        out: dict[str, SideRecord] = {}
        if not ids:
            return out
        names = (*mapping.EWS_FIELDS[self.object_type], "parent_folder_id", SALESFORCE_ID_FIELD)
        if self.series_mode:
            names += SERIES_FIELDS
        fields = {FieldPath(field=self.model.get_field_by_fieldname(name)) for name in names}
        with self.mailbox.ews():
            for record_id, item in self._get_items(ids, fields):
                if isinstance(item, MISSING):
                    continue
                if isinstance(item, Exception):
                    raise item
                record = self._record(item, record_id)
                if record is not None:
                    out[record.id] = record
        return out

    def _get_items(self, ids: Sequence[str], fields) -> list[tuple[str, Any]]:
        """GetItem for these ids with these fields (exchangelib sends GET_BATCH per request): each id with its item,
        or with its own error (one bad item never hides the others). Call it inside ``self.mailbox.ews()``."""
        results = _GetItem(account=self.account, chunk_size=GET_BATCH).call(
            items=[(i, None) for i in ids], additional_fields=fields, shape=ID_ONLY)
        return list(zip(ids, results, strict=True))

    def _record(self, item: Any, requested_id: str | None = None) -> SideRecord | None:
        if not isinstance(item, self.model):
            return None
        record_id = item.id or requested_id
        view = item_view(self.object_type, item)
        series = None
        if getattr(item, "type", None) == "RecurringMaster":
            series = self._whole_series(item, view) if self.series_mode else None
            if series is None:
                self._masters_read.add(record_id)  # this series is expanded: its occurrences are the records
                return None
            self._whole.add(record_id)
            view["recurrence"] = series
        fields = mapping.FROM_EWS[self.object_type](view)
        in_scope = self._in_scope(item, view)
        if series is not None and in_scope:
            in_scope = self._series_in_window(series, fields)
        if item.changekey:
            self._versions[record_id] = item.changekey
        self._remember_zone(record_id, item, view)
        stamp = getattr(item, SALESFORCE_ID_FIELD, None) or None
        if self.series_mode and getattr(item, "type", None) in ("Occurrence", "Exception"):
            # An occurrence's stamp names the copy made of it while its series was synced as occurrences; once the
            # series has been one record in between, that copy was replaced, so the stamp proves nothing: the
            # occurrence is matched by its keys (never taken for the copy of a deleted Salesforce record).
            stamp = None
        return SideRecord(record_id, item.changekey, fields, in_scope, stamp)

    def _in_scope(self, item: Any, view: Mapping[str, Any]) -> bool:
        parent = getattr(item.parent_folder_id, "id", None)
        if self.object_type is SyncObject.CONTACTS:
            if parent is not None and self._folder_id is not None and parent != self._folder_id:
                return False
            email = (view.get("email_addresses") or {}).get("EmailAddress1")
            return not is_excluded(email, self.options.excluded_addresses)
        if parent is not None and self._home_id is not None and parent != self._home_id:
            return False
        if self.object_type is SyncObject.EVENTS:
            organizer = getattr(getattr(item, "organizer", None), "email_address", None)
            return self._event_scope({"sensitivity": item.sensitivity, "categories": item.categories,
                                      "start": item.start, "end": item.end, "is_all_day": item.is_all_day,
                                      "type": item.type, "organizer": organizer})
        return True

    def _event_scope(self, row: Mapping[str, Any]) -> bool:
        if not event_kept_by_options(self.options, private=row.get("sensitivity") in mapping.PRIVATE_SENSITIVITIES,
                                     categories=row.get("categories") or (), organizer=row.get("organizer")):
            return False
        if row.get("type") == "RecurringMaster":
            return True  # a series is judged by its occurrences
        start, end = row.get("start"), row.get("end")
        if row.get("is_all_day") and isinstance(end, date) and not isinstance(end, datetime):
            end = end + timedelta(days=1)
        return event_in_window(start, end, self.window_start, self.window_end)

    def attendee_addresses(self, item_ids: Sequence[str]) -> dict[str, list[str]]:
        """Events: the e-mail addresses of each item's required and optional attendees (the mailbox itself and
        excluded addresses left out), in the item's order, for relating events to people in Salesforce."""
        if self.object_type is not SyncObject.EVENTS:
            raise ValueError("only events have attendees")
        out: dict[str, list[str]] = {}
        fields = {FieldPath(field=self.model.get_field_by_fieldname(name))
                  for name in ("required_attendees", "optional_attendees")}
        ids = list(dict.fromkeys(item_ids))
        with self.mailbox.ews():
            for item_id, item in self._get_items(ids, fields):
                if isinstance(item, Exception) or not isinstance(item, self.model):
                    continue
                people = [*(item.required_attendees or []), *(item.optional_attendees or [])]
                addresses = [a.mailbox.email_address.strip().lower() for a in people
                             if a.mailbox is not None and a.mailbox.email_address]
                out[item_id] = [a for a in dict.fromkeys(addresses) if a != self.mailbox.mailbox
                                and not is_excluded(a, self.options.excluded_addresses)]
        return out

    # ---- SideConnector reads ---------------------------------------------------------------------------------------
    def fetch(self, record_ids: Collection[str]) -> dict[str, SideRecord]:
        ids = list(record_ids)
        if not ids:
            return {}
        if self.object_type is SyncObject.CONTACTS:
            try:
                self._folder()
            except NeedsAttention:
                self._folder_id = None
        else:
            self._home()
        return self._get(ids)

    def lookup(self, request: LookupRequest) -> list[SideRecord]:
        """Items stamped with the request's Salesforce id (FindItem restricted on the extended property)."""
        return self.lookup_many([request])[0]

    def lookup_many(self, requests_: Sequence[LookupRequest]) -> list[list[SideRecord]]:
        """Items stamped with each request's Salesforce id, in request order: one FindItem per LOOKUP_CHUNK ids (a
        restriction ORing them, the stamp read along) and one GetItem per GET_BATCH items found."""
        stamps = list(dict.fromkeys(r.salesforce_id for r in requests_ if r.salesforce_id))
        if not stamps:
            return [[] for _ in requests_]
        folder = self._folder(create=False)
        if self.object_type is not SyncObject.CONTACTS:
            self._home()
        stamp_field = {FieldPath(field=self.model.get_field_by_fieldname(SALESFORCE_ID_FIELD))}
        found: dict[str, str] = {}  # item id → its stamp, case-folded as Exchange compares strings
        with self.mailbox.ews():
            for start in range(0, len(stamps), LOOKUP_CHUNK):
                restriction = Restriction(Q(**{f"{SALESFORCE_ID_FIELD}__in": stamps[start:start + LOOKUP_CHUNK]}),
                                          folders=[folder], applies_to=Restriction.ITEMS)
                for item in FindItem(account=self.account, page_size=LOOKUP_PAGE).call(
                        folders=[folder], additional_fields=stamp_field, restriction=restriction, order_fields=None,
                        shape=ID_ONLY, query_string=None, depth="Shallow", calendar_view=None, max_items=None,
                        offset=0):
                    if isinstance(item, Exception):
                        raise classify(item)
                    found[item.id] = str(getattr(item, SALESFORCE_ID_FIELD, None) or "").casefold()
        records = self._get(list(found))
        return [[records[i] for i, stamp in found.items() if i in records and stamp == request.salesforce_id.casefold()]
                if request.salesforce_id else [] for request in requests_]

    # ---- writes ----------------------------------------------------------------------------------------------------
    def create(self, requests_: Sequence[CreateRequest]) -> list[WriteResult]:
        if not requests_:
            return []
        folder = self._folder()
        items = []
        for request in requests_:
            view = mapping.TO_EWS[self.object_type](request.fields)
            kwargs = model_kwargs(self.object_type, view, self.mailbox.time_zone)
            if request.salesforce_id_stamp:
                kwargs[SALESFORCE_ID_FIELD] = request.salesforce_id_stamp
            items.append(self.model(account=self.account, folder=folder, **kwargs))
        results: list[Any] = []
        with self.mailbox.ews():
            for start in range(0, len(items), WRITE_BATCH):
                chunk = items[start:start + WRITE_BATCH]
                results.extend(_CreateItem(account=self.account, chunk_size=WRITE_BATCH).call(
                    items=chunk, folder=folder, message_disposition=SAVE_ONLY,
                    send_meeting_invitations=SEND_TO_NONE))
        return self._write_results(results, [None] * len(items))

    def update(self, requests_: Sequence[UpdateRequest]) -> list[WriteResult]:
        if not requests_:
            return []
        self._read_zones(requests_)  # all-day events: the zone each was made in, kept
        meetings = self._organized_meetings([r.record_id for r in requests_ if r.fields is not None])
        changes = []
        for request in requests_:
            if request.record_id in meetings and request.fields is not None \
                    and not self.options.update_organized_meetings:
                changes.append((None, []))  # left alone and said so (see sync.connectors.ews.meetings)
                continue
            kwargs: dict[str, Any] = {}
            names: list[str] = []
            if request.fields is not None:
                view = mapping.TO_EWS[self.object_type](request.fields)
                kwargs = model_kwargs(self.object_type, view, self._zone_for(request.record_id))
                # A field EWS requires once saved is left alone rather than cleared (e.g. reminder_due_by).
                names = [name for name, value in kwargs.items()
                         if value is not None or not required_after_save(self.model, name)]
            if request.salesforce_id_stamp:
                kwargs[SALESFORCE_ID_FIELD] = request.salesforce_id_stamp
                names.append(SALESFORCE_ID_FIELD)
            item = self.model(account=self.account, id=request.record_id,
                              changekey=self._versions.get(request.record_id), **kwargs)
            changes.append((item, names))
        return self._write_results(self._send_updates(changes, meetings), [r.record_id for r in requests_])

    def delete(self, record_ids: Sequence[str]) -> list[WriteResult]:
        if not record_ids:
            return []
        results: list[Any] = []
        with self.mailbox.ews():
            for start in range(0, len(record_ids), WRITE_BATCH):
                chunk = list(record_ids[start:start + WRITE_BATCH])
                results.extend(_DeleteItem(account=self.account, chunk_size=WRITE_BATCH).call(
                    items=[(i, None) for i in chunk], delete_type=HARD_DELETE, send_meeting_cancellations=SEND_TO_NONE,
                    affected_task_occurrences="AllOccurrences", suppress_read_receipts=True))
        out = []
        for record_id, result in zip(record_ids, results, strict=True):
            if isinstance(result, MISSING) or result is True:
                out.append(WriteResult(record_id, None))
            else:
                out.append(self._failure(result))
        return out

    def _write_results(self, results: list[Any], ids: list[str | None]) -> list[WriteResult]:
        out = []
        for requested, result in zip(ids, results, strict=True):
            if isinstance(result, WriteError):  # decided here, not by Exchange
                out.append(WriteResult(error=result))
                continue
            if isinstance(result, BaseException):
                out.append(self._failure(result))
                continue
            if isinstance(result, tuple):
                record_id, changekey = result
            else:
                record_id, changekey = result.id, result.changekey
            record_id = record_id or requested
            if record_id and changekey:
                self._versions[record_id] = changekey
            out.append(WriteResult(record_id, changekey))
        return out

    def _failure(self, error: Any) -> WriteResult:
        if isinstance(error, (ErrorServerBusy, ErrorImpersonateUserDenied, ErrorImpersonationFailed,
                              ErrorNonExistentMailbox)):
            raise classify(error)  # throttling, or the mailbox, not the item: stop (and tell a person)
        if not isinstance(error, BaseException):
            return WriteResult(error=WriteError("unknown", repr(error), False))
        return WriteResult(error=item_error(error))

"""The Exchange Web Services connector: the only module of the product that imports exchangelib.

`ExchangeMailbox(settings, email)` reaches one mailbox through the service account (impersonation, fixed endpoint,
explicit auth type and version: no autodiscover, no version probe); `mailbox.side(object_type, options)` is the
engine's `SideConnector` for contacts (the `Salesforce_Sync` subfolder of the contacts folder), events (the primary
calendar) or tasks (the default tasks folder). Field conversions live in `sync.mappings.exchange`; the error
classification of DESIGN.md §6 happens here, once. See docs/connector-exchange.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests
from exchangelib import (
    BASIC,
    IMPERSONATION,
    NTLM,
    Account,
    Build,
    CalendarItem,
    Configuration,
    Contact,
    Credentials,
    EWSDate,
    EWSDateTime,
    EWSTimeZone,
    ExtendedProperty,
    FaultTolerance,
    Q,
    Task,
    Version,
)
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange,
    ErrorCalendarOccurrenceIsDeletedFromRecurrence,
    ErrorFolderNotFound,
    ErrorImpersonateUserDenied,
    ErrorImpersonationFailed,
    ErrorInternalServerError,
    ErrorInternalServerTransientError,
    ErrorInvalidSyncStateData,
    ErrorIrresolvableConflict,
    ErrorItemNotFound,
    ErrorMailboxMoveInProgress,
    ErrorMailboxStoreUnavailable,
    ErrorNonExistentMailbox,
    ErrorServerBusy,
    ErrorTimeoutExpired,
    EWSError,
    RateLimitError,
    ResponseMessageError,
    TransportError,
    UnauthorizedError,
)
from exchangelib.fields import FieldPath
from exchangelib.folders import (
    Calendar,
    Contacts,
    DistinguishedFolderId,
    Folder,
    FolderCollection,
    Root,
    Tasks,
)
from exchangelib.folders.base import BaseFolder
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.items import (
    AUTO_RESOLVE,
    HARD_DELETE,
    ID_ONLY,
    SAVE_ONLY,
    SEND_TO_NONE,
)
from exchangelib.properties import CalendarView, Mailbox
from exchangelib.protocol import BaseProtocol
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NumberedPattern,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)
from exchangelib.recurrence import Recurrence as EwsRecurrence
from exchangelib.restriction import Restriction
from exchangelib.services import CreateFolder, CreateItem, DeleteItem, FindItem, GetItem, SyncFolderItems, UpdateItem

from sync.connectors.base import (
    CallCounter,
    ExchangeSettings,
    NeedsAttention,
    ObjectOptions,
    PermanentError,
    TransientError,
)
from sync.engine.apply import CreateRequest, LookupRequest, UpdateRequest, WriteError, WriteResult
from sync.engine.canonical import schema_for
from sync.engine.records import ChangeSet, Side, SideRecord, SyncObject
from sync.engine.recurrence import DAYS, INSTANCES, Recurrence, occurrence_starts, zone
from sync.mappings import exchange as mapping
from sync.mappings.salesforce import MAX_OCCURRENCES, fits_salesforce

log = logging.getLogger(__name__)

# ---- the Salesforce id on Exchange items ---------------------------------------------------------------------------

# A named MAPI property in our own property set: Outlook keeps it on the item, it survives moves and edits, and
# FindItem can restrict on it. The GUID is this product's and must never change (stamped items depend on it).
SALESFORCE_ID_PROPERTY_SET = "8d2f4c61-3a7e-4b0c-9f15-5e7d2a9c0b43"
SALESFORCE_ID_FIELD = "sfsync_salesforce_id"


class SalesforceIdProperty(ExtendedProperty):
    property_set_id = SALESFORCE_ID_PROPERTY_SET
    property_name = "SalesforceId"
    property_type = "String"


_REGISTER_LOCK = threading.Lock()


def register_salesforce_id() -> None:
    """Register the property on Contact, CalendarItem and Task (idempotent; every ExchangeMailbox does it).

    exchangelib's field registry is global to the process, so it is done when the connector is first used rather
    than as a side effect of importing this module.
    """
    with _REGISTER_LOCK:
        for model in (Contact, CalendarItem, Task):
            if SALESFORCE_ID_FIELD not in {f.name for f in model.FIELDS}:
                model.register(SALESFORCE_ID_FIELD, SalesforceIdProperty)


def deregister_salesforce_id() -> None:
    """Undo `register_salesforce_id` (for tests that inspect exchangelib's own field lists)."""
    with _REGISTER_LOCK:
        for model in (Contact, CalendarItem, Task):
            if SALESFORCE_ID_FIELD in {f.name for f in model.FIELDS}:
                model.deregister(SALESFORCE_ID_FIELD)


# ---- transport: TLS trust per endpoint and call counting -----------------------------------------------------------

# exchangelib builds its HTTP sessions itself and passes no `verify`; the only hook is the adapter class, which is
# process-wide. Ours behaves exactly like requests' HTTPAdapter except for endpoints registered below: for those it
# verifies against the configured CA bundle (or, if a connection says verify=False, not at all) – so trusting the
# sandbox's CA never weakens verification for any other host.
_TRUST: dict[str, bool | str] = {}
_TRUST_LOCK = threading.Lock()
_LOCAL = threading.local()
_OPERATION = re.compile(rb"<(?:\w+:)?Body[^>]*>\s*<(?:\w+:)?(\w+)")


class _EwsHTTPAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter plus: the endpoint's own TLS trust, and one count per EWS request (by SOAP operation)."""

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        trust = _trust_for(request.url or "")
        if trust is not None:
            kwargs["verify"] = trust
        response = super().send(request, **kwargs)
        counter: CallCounter | None = getattr(_LOCAL, "counter", None)
        handshake = response.status_code == 401 and response.headers.get("WWW-Authenticate", "").startswith(
            ("NTLM ", "Negotiate "))
        if counter is not None and not handshake:
            body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
            match = _OPERATION.search(body[:4096])
            counter.add(match.group(1).decode() if match else "unknown")
        return response


def _trust_for(url: str) -> bool | str | None:
    with _TRUST_LOCK:
        for prefix, trust in _TRUST.items():
            if url.startswith(prefix):
                return trust
    return None


if BaseProtocol.HTTP_ADAPTER_CLS is requests.adapters.HTTPAdapter:
    BaseProtocol.HTTP_ADAPTER_CLS = _EwsHTTPAdapter


@contextlib.contextmanager
def _counting(counter: CallCounter) -> Iterator[None]:
    previous = getattr(_LOCAL, "counter", None)
    _LOCAL.counter = counter
    try:
        yield
    finally:
        _LOCAL.counter = previous


class _RetryPolicy(FaultTolerance):
    """exchangelib's FaultTolerance with a short max wait, except that HTTP 401 is a credential problem."""

    def raise_response_errors(self, response):  # type: ignore[no-untyped-def]
        if response.status_code == 401:
            raise UnauthorizedError(f"Invalid credentials for {response.url}")
        return super().raise_response_errors(response)


class _ServiceCredentials(Credentials):
    """Credentials that only equal themselves with the same connection settings.

    exchangelib caches one Protocol (sessions, retry policy, back-off state) per (endpoint, credentials); this keeps
    our protocol apart from any other exchangelib user in the process and from differently configured connections.
    """

    def __init__(self, username: str, password: str, identity: tuple[Any, ...]):
        super().__init__(username=username, password=password)
        self.connection_identity = identity

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and super().__eq__(other)

    def __hash__(self) -> int:
        return super().__hash__()


VERSIONS = {
    "Exchange2013": Version(build=Build(15, 0, 847), api_version="Exchange2013_SP1"),
    "Exchange2016": Version(build=Build(15, 1, 2507), api_version="Exchange2016"),
    "Exchange2019": Version(build=Build(15, 2, 986), api_version="Exchange2016"),
}
AUTH_TYPES = {"basic": BASIC, "ntlm": NTLM}


def build_configuration(settings: ExchangeSettings) -> Configuration:
    """The exchangelib Configuration for a connection: explicit endpoint, auth type and version, short retries."""
    try:
        version = VERSIONS[settings.version]
        auth_type = AUTH_TYPES[settings.auth_type.lower()]
    except KeyError as e:
        raise PermanentError("invalid_settings", f"unsupported Exchange setting {e.args[0]!r}") from None
    endpoint = settings.ews_url
    with _TRUST_LOCK:
        if settings.verify is True:
            _TRUST.pop(endpoint, None)
        else:
            _TRUST[endpoint] = settings.verify
    identity = (endpoint, auth_type, settings.version, settings.verify, settings.max_wait_seconds)
    return Configuration(
        service_endpoint=endpoint,
        credentials=_ServiceCredentials(settings.username, settings.password, identity),
        auth_type=auth_type,
        version=version,
        retry_policy=_RetryPolicy(max_wait=settings.max_wait_seconds),
        max_connections=4,
    )


# ---- error classification -----------------------------------------------------------------------------------------

_ATTENTION: dict[type[Exception], tuple[str, str]] = {
    ErrorImpersonateUserDenied: ("impersonation_denied",
                                 "grant the service account the ApplicationImpersonation role for this mailbox"),
    ErrorImpersonationFailed: ("impersonation_denied",
                               "grant the service account the ApplicationImpersonation role for this mailbox"),
    ErrorNonExistentMailbox: ("mailbox_not_found", "check the user's e-mail address or create the mailbox"),
    ErrorAccessDenied: ("access_denied", "check the service account's rights on this mailbox"),
    UnauthorizedError: ("unauthorized", "check the Exchange service account's user name and password"),
}
_TRANSIENT = (ErrorTimeoutExpired, ErrorInternalServerTransientError, ErrorInternalServerError,
              ErrorMailboxStoreUnavailable, ErrorMailboxMoveInProgress, requests.exceptions.ConnectionError,
              requests.exceptions.Timeout)


def _code(error: BaseException) -> str:
    return type(error).__name__


def classify(error: BaseException) -> Exception:
    """The connector exception for an exchangelib / requests error (DESIGN.md §6)."""
    if isinstance(error, RateLimitError):  # FaultTolerance gave up: the server asked for a longer back-off
        return TransientError("ErrorServerBusy", str(error), retry_after=float(error.wait))
    if isinstance(error, ErrorServerBusy):
        return TransientError("ErrorServerBusy", str(error), retry_after=error.back_off)
    for cls, (code, action) in _ATTENTION.items():
        if isinstance(error, cls):
            return NeedsAttention(code, str(error), action)
    if isinstance(error, _TRANSIENT):
        return TransientError(_code(error), str(error))
    if isinstance(error, ResponseMessageError):  # the server answered with an EWS error code
        return PermanentError(_code(error), str(error))
    if isinstance(error, TransportError):
        text = str(error)
        if "CERTIFICATE" in text.upper() or "SSL" in text.upper():
            return NeedsAttention("tls_error", text, "check the EWS URL and the CA bundle the connection trusts")
        return TransientError(_code(error), text)
    if isinstance(error, EWSError):
        return PermanentError(_code(error), str(error))
    return PermanentError(_code(error), str(error))


_PASSTHROUGH = (TransientError, NeedsAttention, PermanentError)


def _item_error(error: BaseException) -> WriteError:
    """A per-item failure inside a batch."""
    if isinstance(error, ErrorIrresolvableConflict):
        return WriteError(_code(error), "changed in Outlook meanwhile; it is read again next run", True)
    classified = classify(error)
    return WriteError(_code(error), str(error), isinstance(classified, TransientError))


# ---- services that return per-item errors instead of raising them --------------------------------------------------


class _PerItem:
    # Every per-message error comes back as an exception instance in the result list, in request order, so one bad
    # item never hides the others' results (exchangelib raises most codes, losing the rest of the batch).
    ERRORS_TO_CATCH_IN_RESPONSE = (EWSError,)


class _GetItem(_PerItem, GetItem):
    pass


class _CreateItem(_PerItem, CreateItem):
    pass


class _DeleteItem(_PerItem, DeleteItem):
    pass


_OUR_LABELS: dict[str, tuple[str, ...]] = {
    "email_addresses": ("EmailAddress1",),
    "phone_numbers": tuple(mapping.PHONE_LABELS.values()),
    "physical_addresses": ("Business",),
}


class _UpdateItem(_PerItem, UpdateItem):
    """UpdateItem that touches only the indexed entries we map (exchangelib would delete every other label)."""

    def _update_elems(self, target, fieldnames):  # type: ignore[no-untyped-def]
        plain = [name for name in fieldnames if name not in _OUR_LABELS]
        if plain:
            yield from super()._update_elems(target=target, fieldnames=plain)
        for name in (n for n in fieldnames if n in _OUR_LABELS):
            field = target.get_field_by_fieldname(name)
            values = {v.label: v for v in (getattr(target, name) or [])}
            for label in _OUR_LABELS[name]:
                entry = values.get(label)
                for subfield in field.value_cls.supported_fields(version=self.account.version):
                    path = FieldPath(field=field, label=label, subfield=subfield)
                    value = getattr(entry, subfield.name) if entry is not None else None
                    if value:
                        yield self._set_field_elem(target_model=type(target), field_path=path,
                                                   value=field.value_cls(label=label, **{subfield.name: value}))
                    else:
                        yield self._delete_field_elem(field_path=path)


# ---- the mailbox ---------------------------------------------------------------------------------------------------

MODELS: dict[SyncObject, type] = {SyncObject.CONTACTS: Contact, SyncObject.EVENTS: CalendarItem,
                                  SyncObject.TASKS: Task}
SYNC_PAGE = 512  # SyncFolderItems' maximum
GET_BATCH = 100  # items per GetItem
WRITE_BATCH = 100  # items per CreateItem / UpdateItem / DeleteItem
CALENDAR_VIEW_PAGE = 1000  # entries per CalendarView (EWS cannot page a calendar view)
DEFAULT_EXPANSION = timedelta(days=365)  # recurring series are expanded over this much either side without a window
_MISSING = (ErrorItemNotFound, ErrorCalendarOccurrenceIsDeletedFromRecurrence,
            ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange)


class ExchangeMailbox:
    """One mailbox reached by impersonation; hands out the per-object side connectors and counts EWS calls."""

    def __init__(self, settings: ExchangeSettings, mailbox: str, *, calls: CallCounter | None = None):
        register_salesforce_id()
        self.settings = settings
        self.mailbox = mailbox.strip().lower()
        self.calls = calls if calls is not None else CallCounter()
        self._account: Account | None = None
        self._root: Root | None = None

    # ---- exchangelib plumbing --------------------------------------------------------------------------------------
    @property
    def account(self) -> Account:
        if self._account is None:
            account = Account(primary_smtp_address=self.mailbox, config=build_configuration(self.settings),
                              autodiscover=False, access_type=IMPERSONATION, default_timezone=EWSTimeZone("UTC"))
            account.protocol.TIMEOUT = self.settings.timeout_seconds
            self._account = account
        return self._account

    @contextlib.contextmanager
    def ews(self, keep: tuple[type[Exception], ...] = ()) -> Iterator[None]:
        """Count the EWS calls made inside, and turn exchangelib's errors (but `keep`) into the connector's."""
        with _counting(self.calls):
            try:
                yield
            except _PASSTHROUGH:
                raise
            except keep:
                raise
            except (EWSError, TransportError, requests.exceptions.RequestException) as e:
                raise classify(e) from e

    def distinguished(self, name: str, cls: type[BaseFolder] = Folder) -> BaseFolder:
        """A folder object for a distinguished folder, without a GetFolder round trip."""
        if self._root is None:
            self._root = Root(account=self.account, _distinguished_id=DistinguishedFolderId(
                id="msgfolderroot", mailbox=Mailbox(email_address=self.mailbox)))
        return cls(root=self._root, _distinguished_id=DistinguishedFolderId(
            id=name, mailbox=Mailbox(email_address=self.mailbox)))

    def folder_by_id(self, folder_id: str, cls: type[BaseFolder] = Folder) -> BaseFolder:
        self.distinguished("msgfolderroot")  # ensures the root
        return cls(root=self._root, id=folder_id)

    # ---- folders ---------------------------------------------------------------------------------------------------
    def find_contacts_folder(self, name: str) -> str | None:
        """The id of the contacts subfolder called `name` (one FindFolder), or None."""
        parent = self.distinguished("contacts", Contacts)
        with self.ews():
            found = list(FolderCollection(account=self.account, folders=[parent]).find_folders(
                q=Q(name=name), depth="Shallow"))
        for folder in found:
            if isinstance(folder, Exception):
                raise classify(folder)
            if (folder.name or "").casefold() == name.casefold():
                return folder.id
        return None

    def ensure_contacts_folder(self, name: str) -> bool:
        """Create the contacts subfolder `name` unless it exists; True if it was created."""
        if self.find_contacts_folder(name) is not None:
            return False
        self._create_contacts_folder(name)
        return True

    def _create_contacts_folder(self, name: str) -> str:
        parent = self.distinguished("contacts", Contacts)
        with self.ews():
            result = list(CreateFolder(account=self.account).call(
                parent_folder=parent, folders=[Contacts(root=parent.root, name=name, folder_class="IPF.Contact")]))
        if not result or isinstance(result[0], Exception):
            raise classify(result[0]) if result else PermanentError("ErrorFolderSave", "no folder created")
        return result[0].id

    def check(self, contacts_folder: str = "Salesforce_Sync") -> dict[str, Any]:
        """Whether the mailbox is reachable by impersonation and has the contacts folder (raises like any call)."""
        folder_id = self.find_contacts_folder(contacts_folder)
        return {"ok": True, "mailbox": self.mailbox, "contacts_folder": contacts_folder,
                "contacts_folder_present": folder_id is not None}

    def side(self, object_type: SyncObject | str, options: ObjectOptions | None = None) -> ExchangeSide:
        return ExchangeSide(self, SyncObject(object_type), options or ObjectOptions())


# ---- the side connector --------------------------------------------------------------------------------------------


class ExchangeSide:
    """The engine's SideConnector for one mailbox and object (Side.OUTLOOK)."""

    side = Side.OUTLOOK

    def __init__(self, mailbox: ExchangeMailbox, object_type: SyncObject, options: ObjectOptions):
        self.mailbox = mailbox
        self.object_type = object_type
        self.options = options
        self.model = MODELS[object_type]
        self._folder_id: str | None = None  # contacts: the subfolder's id
        self._home_id: str | None = None  # the real id of the folder items must be in to be in scope
        self._versions: dict[str, str] = {}  # change keys read in this run (for conflict detection on update)
        self._masters_read: set[str] = set()  # recurring masters met by GetItem that are expanded, not records
        # Series synced as series (ObjectOptions.series_as_series): a master Salesforce can hold as one recurring
        # event is one record; the others are expanded into their occurrences as before.
        self.series_mode = options.series_as_series and object_type is SyncObject.EVENTS
        self._whole: set[str] = set()  # masters read in this run that are records themselves
        self.window_start = _parse_instant(options.window_start)
        self.window_end = _parse_instant(options.window_end)

    @property
    def calls(self) -> CallCounter:
        return self.mailbox.calls

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
            name = self.options.contacts_folder
            folder_id = self.mailbox.find_contacts_folder(name)
            if folder_id is None:
                if not create:
                    raise _folder_missing(name)
                folder_id = self.mailbox._create_contacts_folder(name)
                log.info("created contacts folder %r in %s", name, self.mailbox.mailbox)
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
        mark = _Watermark.parse(watermark)
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
        new_mark = _Watermark(state, self._folder_id if self.object_type is SyncObject.CONTACTS else None,
                              series, self._window_key(), sorted(whole))
        return ChangeSet(Side.OUTLOOK, records, deleted, False, new_mark.dump(), reshaped=reshaped)

    def _full_read(self, *, first: bool) -> ChangeSet:
        """Every item of the folder: a SyncFolderItems pass from an empty state (its end state is the watermark),
        then GetItem for the items in scope."""
        self._folder(create=first)
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
        mark = _Watermark(state, self._folder_id if self.object_type is SyncObject.CONTACTS else None, series,
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
            names += _SERIES_FIELDS
        fields = {FieldPath(field=self.model.get_field_by_fieldname(name)) for name in names}
        with self.mailbox.ews():
            for start in range(0, len(ids), GET_BATCH):
                chunk = list(ids[start:start + GET_BATCH])
                results = list(_GetItem(account=self.account, chunk_size=GET_BATCH).call(
                    items=[(i, None) for i in chunk], additional_fields=fields, shape=ID_ONLY))
                for record_id, item in zip(chunk, results, strict=True):
                    if isinstance(item, _MISSING):
                        continue
                    if isinstance(item, Exception):
                        raise item
                    record = self._record(item, record_id)
                    if record is not None:
                        out[record.id] = record
        return out

    def _record(self, item: Any, requested_id: str | None = None) -> SideRecord | None:
        if not isinstance(item, self.model):
            return None
        record_id = item.id or requested_id
        view = _view(self.object_type, item)
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
            return not mapping.is_excluded(email, self.options.excluded_addresses)
        if parent is not None and self._home_id is not None and parent != self._home_id:
            return False
        if self.object_type is SyncObject.EVENTS:
            organizer = getattr(getattr(item, "organizer", None), "email_address", None)
            if mapping.is_excluded(organizer, self.options.excluded_addresses):
                return False
            return self._event_scope({"sensitivity": item.sensitivity, "categories": item.categories,
                                      "start": item.start, "end": item.end, "is_all_day": item.is_all_day,
                                      "type": item.type})
        return True

    def _event_scope(self, row: Mapping[str, Any]) -> bool:
        if row.get("sensitivity") in mapping.PRIVATE_SENSITIVITIES and not self.options.sync_private_events:
            return False
        category = self.options.event_category
        if category and category.casefold() not in {c.casefold() for c in (row.get("categories") or [])}:
            return False
        if row.get("type") == "RecurringMaster":
            return True  # a series is judged by its occurrences
        start, end = row.get("start"), row.get("end")
        if row.get("is_all_day") and isinstance(end, date) and not isinstance(end, datetime):
            end = end + timedelta(days=1)
        return mapping.event_in_window(start, end, self.window_start, self.window_end)

    # ---- recurring series: occurrences inside the window -----------------------------------------------------------
    def _window_key(self) -> list[str] | None:
        if self.object_type is not SyncObject.EVENTS:
            return None
        lo, hi = self._expansion_range()
        return [lo.date().isoformat(), hi.date().isoformat()]

    def _expansion_range(self) -> tuple[datetime, datetime]:
        now = datetime.now(UTC)
        lo = self.window_start or (now - DEFAULT_EXPANSION)
        hi = self.window_end or (now + DEFAULT_EXPANSION)
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
        series = _recurrence_from_ews(item)
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
            theirs = {k: v for k, v in mapping.FROM_EWS[SyncObject.EVENTS](_view(SyncObject.EVENTS, result)).items()
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
        return mapping.event_in_window(start, last_end, self.window_start, self.window_end)

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
            if isinstance(item, _MISSING):
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
            for start in range(0, len(ids), GET_BATCH):
                chunk = ids[start:start + GET_BATCH]
                results = list(_GetItem(account=self.account, chunk_size=GET_BATCH).call(
                    items=[(i, None) for i in chunk], additional_fields=fields, shape=ID_ONLY))
                for item_id, item in zip(chunk, results, strict=True):
                    if isinstance(item, Exception) or not isinstance(item, self.model):
                        continue
                    people = [*(item.required_attendees or []), *(item.optional_attendees or [])]
                    addresses = [a.mailbox.email_address.strip().lower() for a in people
                                 if a.mailbox is not None and a.mailbox.email_address]
                    out[item_id] = [a for a in dict.fromkeys(addresses) if a != self.mailbox.mailbox
                                    and not mapping.is_excluded(a, self.options.excluded_addresses)]
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
        if not request.salesforce_id:
            return []
        folder = self._folder(create=False)
        if self.object_type is not SyncObject.CONTACTS:
            self._home()
        restriction = Restriction(Q(**{SALESFORCE_ID_FIELD: request.salesforce_id}), folders=[folder],
                                  applies_to=Restriction.ITEMS)
        with self.mailbox.ews():
            found = list(FindItem(account=self.account, page_size=50).call(
                folders=[folder], additional_fields=set(), restriction=restriction, order_fields=None,
                shape=ID_ONLY, query_string=None, depth="Shallow", calendar_view=None, max_items=50, offset=0))
        ids = []
        for item in found:
            if isinstance(item, Exception):
                raise classify(item)
            ids.append(item.id)
        return list(self._get(ids).values())

    # ---- writes ----------------------------------------------------------------------------------------------------
    def create(self, requests_: Sequence[CreateRequest]) -> list[WriteResult]:
        if not requests_:
            return []
        folder = self._folder()
        items = []
        for request in requests_:
            view = mapping.TO_EWS[self.object_type](request.fields)
            kwargs = _model_kwargs(self.object_type, view)
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
        changes = []
        for request in requests_:
            kwargs: dict[str, Any] = {}
            names: list[str] = []
            if request.fields is not None:
                view = mapping.TO_EWS[self.object_type](request.fields)
                kwargs = _model_kwargs(self.object_type, view)
                # A field EWS requires once saved is left alone rather than cleared (e.g. reminder_due_by).
                names = [name for name, value in kwargs.items() if value is not None or not _required(self.model,
                                                                                                      name)]
            if request.salesforce_id_stamp:
                kwargs[SALESFORCE_ID_FIELD] = request.salesforce_id_stamp
                names.append(SALESFORCE_ID_FIELD)
            item = self.model(account=self.account, id=request.record_id,
                              changekey=self._versions.get(request.record_id), **kwargs)
            changes.append((item, names))
        results: list[Any] = []
        with self.mailbox.ews():
            for start in range(0, len(changes), WRITE_BATCH):
                chunk = changes[start:start + WRITE_BATCH]
                todo = [(item, names) for item, names in chunk if names]
                got = iter(_UpdateItem(account=self.account, chunk_size=WRITE_BATCH).call(
                    items=todo, conflict_resolution=AUTO_RESOLVE, message_disposition=SAVE_ONLY,
                    send_meeting_invitations_or_cancellations=SEND_TO_NONE, suppress_read_receipts=True)
                    if todo else [])
                for item, names in chunk:
                    results.append(next(got) if names else (item.id, item.changekey))
        return self._write_results(results, [r.record_id for r in requests_])

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
            if isinstance(result, _MISSING) or result is True:
                out.append(WriteResult(record_id, None))
            else:
                out.append(self._failure(result))
        return out

    def _write_results(self, results: list[Any], ids: list[str | None]) -> list[WriteResult]:
        out = []
        for requested, result in zip(ids, results, strict=True):
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
        if isinstance(error, ErrorServerBusy):
            raise TransientError("ErrorServerBusy", str(error), retry_after=error.back_off)
        if isinstance(error, (ErrorImpersonateUserDenied, ErrorImpersonationFailed, ErrorNonExistentMailbox)):
            raise classify(error)  # the mailbox, not the item: stop and tell a person
        if not isinstance(error, BaseException):
            return WriteResult(error=WriteError("unknown", repr(error), False))
        return WriteResult(error=_item_error(error))


# ---- helpers -------------------------------------------------------------------------------------------------------

_SYNC_FIELDS: dict[SyncObject, tuple[str, ...]] = {
    SyncObject.CONTACTS: (),
    SyncObject.EVENTS: ("type", "start", "end", "is_all_day", "sensitivity", "categories"),
    SyncObject.TASKS: (),
}


def _required(model: type, name: str) -> bool:
    field = model.get_field_by_fieldname(name)
    return bool(field.is_required or field.is_required_after_save)


def _folder_missing(name: str) -> NeedsAttention:
    return NeedsAttention("contacts_folder_missing",
                          f"the contacts folder {name!r} is missing from the mailbox",
                          "recreate the folder or reset the user's contact sync")


def _parse_instant(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _chunks_of_range(lo: datetime, hi: datetime) -> list[tuple[datetime, datetime]]:
    """CalendarView ranges are limited (two years on Exchange); split a longer window."""
    out, step = [], timedelta(days=700)
    while lo < hi:
        out.append((lo, min(hi, lo + step)))
        lo += step
    return out


class _Watermark:
    """What `changes` returns as the watermark: the SyncFolderItems state plus what an incremental read needs.

    Stored as JSON: {"v": 1, "state": <sync state>, "folder": <contacts folder id>, "series": {master id: [occurrence
    ids in the window]}, "whole": [ids of masters presented as one record], "window": [first day, day after last]}.
    Anything unreadable means "read in full".
    """

    def __init__(self, state: str, folder_id: str | None = None, series: Mapping[str, list[str]] | None = None,
                 window: list[str] | None = None, whole: Iterable[str] = ()):
        self.state = state
        self.folder_id = folder_id
        self.series = dict(series or {})
        self.window = window
        self.whole = list(whole)

    def dump(self) -> str:
        data: dict[str, Any] = {"v": 1, "state": self.state}
        if self.folder_id:
            data["folder"] = self.folder_id
        if self.window is not None:
            data["series"] = self.series
            data["window"] = self.window
            if self.whole:
                data["whole"] = self.whole
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str | None) -> _Watermark | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            if data.get("v") != 1 or not isinstance(data.get("state"), str):
                return None
            return cls(data["state"], data.get("folder"), data.get("series") or {}, data.get("window"),
                       data.get("whole") or [])
        except (ValueError, AttributeError, TypeError):
            return None


def _view(object_type: SyncObject, item: Any) -> dict[str, Any]:
    """An exchangelib item as the mapping's EWS view (plain values)."""
    body = getattr(item, "body", None)
    view: dict[str, Any] = {"body": str(body) if body is not None else None,
                            "body_is_html": type(body).__name__ == "HTMLBody"}
    if object_type is SyncObject.CONTACTS:
        view.update({name: getattr(item, name) for name in
                     ("given_name", "surname", "company_name", "job_title", "department", "birthday")})
        view["email_addresses"] = {e.label: e.email for e in (item.email_addresses or [])}
        view["phone_numbers"] = {p.label: p.phone_number for p in (item.phone_numbers or [])}
        view["physical_addresses"] = {
            a.label: {"street": a.street, "city": a.city, "state": a.state, "zipcode": a.zipcode,
                      "country": a.country} for a in (item.physical_addresses or [])}
    elif object_type is SyncObject.EVENTS:
        view.update({name: getattr(item, name) for name in
                     ("subject", "location", "start", "end", "is_all_day", "legacy_free_busy_status",
                      "sensitivity")})
    else:
        view.update({name: getattr(item, name) for name in
                     ("subject", "due_date", "status", "importance", "reminder_is_set", "reminder_due_by")})
    return view


def _ews_datetime(value: datetime | None) -> EWSDateTime | None:
    if value is None:
        return None
    return EWSDateTime.from_datetime(value.astimezone(UTC)).astimezone(EWSTimeZone("UTC"))


def _ews_date(value: date | None) -> EWSDate | None:
    return EWSDate(value.year, value.month, value.day) if value is not None else None


def _model_kwargs(object_type: SyncObject, view: Mapping[str, Any]) -> dict[str, Any]:
    """exchangelib constructor kwargs from an EWS view (None clears a field on update)."""
    from exchangelib import Body

    kwargs: dict[str, Any] = {"body": Body(view["body"]) if view.get("body") else None}
    if object_type is SyncObject.CONTACTS:
        kwargs.update({name: view.get(name) for name in
                       ("given_name", "surname", "company_name", "job_title", "department")})
        kwargs["birthday"] = _ews_date(view.get("birthday"))
        # Outlook lists contacts by display name (required by EWS): "First Last", else the company.
        name = " ".join(n for n in (view.get("given_name"), view.get("surname")) if n)
        kwargs["display_name"] = name or view.get("company_name") or view.get("email_addresses", {}).get(
            "EmailAddress1") or "(no name)"
        kwargs["email_addresses"] = [EmailAddress(label=label, email=email)
                                     for label, email in (view.get("email_addresses") or {}).items()] or None
        kwargs["phone_numbers"] = [PhoneNumber(label=label, phone_number=number)
                                   for label, number in (view.get("phone_numbers") or {}).items()] or None
        kwargs["physical_addresses"] = [PhysicalAddress(label=label, **parts)
                                        for label, parts in (view.get("physical_addresses") or {}).items()] or None
    elif object_type is SyncObject.EVENTS:
        kwargs.update({name: view.get(name) for name in
                       ("subject", "location", "is_all_day", "legacy_free_busy_status", "sensitivity")})
        series: Recurrence | None = view.get("recurrence")
        if view.get("is_all_day"):
            kwargs["start"], kwargs["end"] = _ews_date(view.get("start")), _ews_date(view.get("end"))
        elif series is not None:
            # A series keeps its times of day in its own zone (daylight saving moves the UTC times, not these).
            tz = _ews_zone(series.tz)
            kwargs["start"] = _ews_datetime(view.get("start")).astimezone(tz) if view.get("start") else None
            kwargs["end"] = _ews_datetime(view.get("end")).astimezone(tz) if view.get("end") else None
        else:
            kwargs["start"], kwargs["end"] = _ews_datetime(view.get("start")), _ews_datetime(view.get("end"))
        if series is not None:  # only then: an update never clears the recurrence of an item
            first = kwargs["start"].date() if isinstance(kwargs["start"], datetime) else kwargs["start"]
            kwargs["recurrence"] = _recurrence_to_ews(series, first)
    else:
        kwargs.update({name: view.get(name) for name in ("subject", "status", "importance", "reminder_is_set")})
        kwargs["due_date"] = _ews_date(view.get("due_date"))
        kwargs["reminder_due_by"] = _ews_datetime(view.get("reminder_due_by"))
    return kwargs


# ---- recurring series: exchangelib's Recurrence <-> sync.engine.recurrence.Recurrence ------------------------------

# Read for masters when series are synced as series: the pattern, its zone, and whether any occurrence was changed.
_SERIES_FIELDS = ("recurrence", "modified_occurrences", "deleted_occurrences", "last_occurrence", "_start_timezone")
_EWS_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")  # exchangelib 1..7
_DAY_GROUPS = {8: DAYS, 9: ("MO", "TU", "WE", "TH", "FR"), 10: ("SA", "SU")}  # Day, Weekday, WeekendDay


def _ews_zone(name: str | None) -> EWSTimeZone:
    try:
        return EWSTimeZone(name) if name and name not in ("GMT", "UTC") else EWSTimeZone("UTC")
    except Exception:  # noqa: BLE001 - an unknown zone name: keep UTC rather than fail the write
        return EWSTimeZone("UTC")


def _weekday_number(value: Any) -> int:
    if isinstance(value, str):
        names = (*_EWS_WEEKDAYS, "Day", "Weekday", "WeekendDay")
        return names.index(value) + 1
    return int(value)


def _days_of(value: Any) -> tuple[str, ...]:
    number = _weekday_number(value)
    return _DAY_GROUPS.get(number) or (DAYS[number - 1],)


def _recurrence_from_ews(item: Any) -> Recurrence | None:
    """A master's recurrence in canonical form; None for patterns Salesforce has no equivalent of (or none)."""
    recurrence = getattr(item, "recurrence", None)
    if recurrence is None or recurrence.pattern is None or recurrence.boundary is None:
        return None
    pattern, boundary = recurrence.pattern, recurrence.boundary
    tz_field = getattr(item, "_start_timezone", None)
    tz = getattr(tz_field, "key", None) or None
    ending: dict[str, Any] = {}
    if isinstance(boundary, EndDatePattern):
        ending["until"] = boundary.end
    elif isinstance(boundary, NumberedPattern):
        ending["count"] = boundary.number
    try:
        if isinstance(pattern, DailyPattern):
            return Recurrence.of("daily", interval=pattern.interval, tz=tz, **ending)
        if isinstance(pattern, WeeklyPattern):
            days = [d for value in pattern.weekdays or () for d in _days_of(value)]
            return Recurrence.of("weekly", interval=pattern.interval, days=days, tz=tz, **ending)
        if isinstance(pattern, AbsoluteMonthlyPattern):
            return Recurrence.of("monthly", interval=pattern.interval, day=pattern.day_of_month, tz=tz, **ending)
        if isinstance(pattern, RelativeMonthlyPattern):
            return Recurrence.of("monthly_nth", interval=pattern.interval, days=_days_of(pattern.weekday),
                                 instance=INSTANCES[int(pattern.week_number) - 1], tz=tz, **ending)
        if isinstance(pattern, AbsoluteYearlyPattern):
            return Recurrence.of("yearly", month=int(pattern.month), day=pattern.day_of_month, tz=tz, **ending)
        if isinstance(pattern, RelativeYearlyPattern):
            return Recurrence.of("yearly_nth", month=int(pattern.month), days=_days_of(pattern.weekday),
                                 instance=INSTANCES[int(pattern.week_number) - 1], tz=tz, **ending)
    except (ValueError, TypeError, IndexError):
        return None
    return None


def _ews_weekday(days: tuple[str, ...]) -> int:
    """One exchangelib weekday value for a relative pattern's days (a day, or Day / Weekday / WeekendDay)."""
    if len(days) == 1:
        return DAYS.index(days[0]) + 1
    for number, group in _DAY_GROUPS.items():
        if tuple(days) == group:
            return number
    raise ValueError(f"Exchange has no relative pattern on {','.join(days)}")


def _recurrence_to_ews(series: Recurrence, first: date) -> EwsRecurrence:
    if series.pattern == "daily":
        pattern: Any = DailyPattern(interval=series.interval)
    elif series.pattern == "weekly":
        pattern = WeeklyPattern(interval=series.interval, weekdays=[DAYS.index(d) + 1 for d in series.days],
                                first_day_of_week=7)
    elif series.pattern == "monthly":
        pattern = AbsoluteMonthlyPattern(interval=series.interval, day_of_month=series.day)
    elif series.pattern == "monthly_nth":
        pattern = RelativeMonthlyPattern(interval=series.interval, weekday=_ews_weekday(series.days),
                                         week_number=INSTANCES.index(series.instance or "first") + 1)
    elif series.pattern == "yearly":
        pattern = AbsoluteYearlyPattern(day_of_month=series.day, month=series.month)
    else:
        pattern = RelativeYearlyPattern(weekday=_ews_weekday(series.days), month=series.month,
                                        week_number=INSTANCES.index(series.instance or "first") + 1)
    start = EWSDate(first.year, first.month, first.day)
    if series.until is not None:
        return EwsRecurrence(pattern=pattern, start=start, end=_ews_date(series.until))
    if series.count is not None:
        return EwsRecurrence(pattern=pattern, start=start, number=series.count)
    return EwsRecurrence(pattern=pattern, start=start)

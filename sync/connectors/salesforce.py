"""The Salesforce connector: the only module that imports simple-salesforce or sends HTTP to Salesforce.

- Tokens: the OAuth 2.0 JWT bearer flow per synced user (``sub`` = the user, so Salesforce's own permissions and
  sharing apply to every read and write), cached process-wide and renewed once when Salesforce answers
  ``INVALID_SESSION_ID``.
- `SalesforceClient` (one per user and run): the engine's `SideConnector` per object (`side`), object permissions,
  the users list for ``import_users``, the org's API usage and the calls this client made.
- `SalesforceSide`: full and incremental reads over the data set (SOQL), lookups, and batched writes through
  sObject Collections with per-record errors.

Every failure leaves a public method as one of the exceptions of ``sync.connectors.base`` (or, inside a batch,
as a `WriteError`), classified here once.

Watermarks are the highest ``SystemModstamp`` seen (ISO-8601, UTC, milliseconds; at least Salesforce's clock minus
15 minutes, so that they move on while nothing changes) and are read back with ``>=``: a record stamped in the
same millisecond as the last one seen, but committed after the read, is not missed; the records at exactly the
watermark come back on the next run with the version the link already holds, which the engine treats as
unchanged. A watermark older than the recycle bin keeps deletions (14 days) gets a full read instead. See
docs/connector-salesforce.md.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import jwt
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession
from simple_salesforce.format import quote_soql_value

from sync.connectors.base import (
    CallCounter,
    NeedsAttention,
    ObjectOptions,
    PermanentError,
    SalesforceSettings,
    TransientError,
)
from sync.engine.apply import CreateRequest, LookupRequest, UpdateRequest, WriteError, WriteResult
from sync.engine.canonical import schema_for
from sync.engine.matching import match_keys
from sync.engine.records import ChangeSet, Side, SideRecord, SyncObject
from sync.engine.recurrence import Recurrence, occurrence_starts
from sync.mappings import salesforce as mapping
from sync.mappings.salesforce_ids import id18

T = TypeVar("T")

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_SECONDS = 180
WRITE_BATCH = 200  # sObject Collections' maximum per call
ID_CHUNK = 200  # ids per "Id IN (...)" query: keeps the GET URL well under Salesforce's 16 KB limit
LOOKUPS_PER_QUERY = 20  # matching-key conditions ORed into one lookup query (same URL bound)
REQUEST_LIMIT_RETRY_AFTER = 3600.0  # the daily allocation is a rolling 24 h window: look again in an hour
# A watermark never lags Salesforce's clock (the Date header) by more than this, so that it moves on while nothing
# changes; the margin covers clock skew and transactions that commit a while after stamping their records.
QUIET_MARGIN = timedelta(minutes=15)
# queryAll sees deletions only while they are in the recycle bin (15 days): an older watermark means a full read.
DELETIONS_KEPT = timedelta(days=14)

# Per-record status codes worth retrying; any other per-record code is permanent.
TRANSIENT_RECORD_CODES = frozenset({
    "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG", "UNKNOWN_EXCEPTION",
    "ALL_OR_NONE_OPERATION_ROLLED_BACK", "QUERY_TIMEOUT",
})
ACCESS_CODES = frozenset({"INSUFFICIENT_ACCESS_OR_READONLY", "INSUFFICIENT_ACCESS"})
GONE_CODES = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND", "INVALID_CROSS_REFERENCE_KEY"})
# Whole-call error codes worth retrying (besides any 5xx).
TRANSIENT_CALL_CODES = frozenset({
    "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION", "REQUEST_RUNNING_TOO_LONG", "QUERY_TIMEOUT", "UNABLE_TO_LOCK_ROW",
    "INVALID_QUERY_LOCATOR",
})
# Whole-call error codes a person must fix (permissions, org features).
ATTENTION_CALL_CODES = frozenset({
    "INVALID_TYPE", "INSUFFICIENT_ACCESS", "INSUFFICIENT_ACCESS_OR_READONLY", "API_DISABLED_FOR_ORG",
    "API_CURRENTLY_DISABLED", "FUNCTIONALITY_NOT_ENABLED", "INVALID_FIELD",
})

_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


# ---- tokens ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessToken:
    access_token: str
    instance_url: str
    user_id: str | None  # the Salesforce user id (from the identity URL of the token response)
    issued_at: float


class TokenCache:
    """Access tokens shared by every client in the process, keyed by org login URL, consumer key and username.

    Salesforce does not say when a JWT-bearer session expires (the org's session timeout decides), so a token is
    kept until Salesforce refuses it. A token is requested once per key even when threads ask at the same time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str, str], AccessToken] = {}
        self._key_locks: dict[tuple[str, str, str], threading.Lock] = {}

    def get(self, key: tuple[str, str, str], obtain: Callable[[], AccessToken]) -> AccessToken:
        with self._lock:
            token = self._tokens.get(key)
            if token is not None:
                return token
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                token = self._tokens.get(key)
            if token is None:
                token = obtain()
                with self._lock:
                    self._tokens[key] = token
            return token

    def invalidate(self, key: tuple[str, str, str], access_token: str) -> None:
        """Forget the token if it is still the one that failed (another thread may have renewed it already)."""
        with self._lock:
            current = self._tokens.get(key)
            if current is not None and current.access_token == access_token:
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


TOKENS = TokenCache()


def token_key(settings: SalesforceSettings, username: str) -> tuple[str, str, str]:
    return (settings.login_url.rstrip("/").lower(), settings.consumer_key, username.lower())


def jwt_audience(login_url: str) -> str:
    """The JWT's ``aud``: the login URL, except that My Domain hosts answer for login/test.salesforce.com."""
    url = login_url.rstrip("/")
    host = (urlsplit(url).hostname or "").lower()
    if host.endswith(".my.salesforce.com"):
        return "https://test.salesforce.com" if ".sandbox." in host else "https://login.salesforce.com"
    return url


def build_assertion(settings: SalesforceSettings, username: str, now: float | None = None) -> str:
    """The signed JWT for the bearer flow (RS256, valid three minutes)."""
    issued = int(now if now is not None else time.time())
    claims = {"iss": settings.consumer_key, "sub": username, "aud": jwt_audience(settings.login_url),
              "exp": issued + JWT_LIFETIME_SECONDS}
    try:
        return jwt.encode(claims, settings.private_key_pem, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise NeedsAttention(
            "INVALID_PRIVATE_KEY", f"the connected app's private key cannot sign a token: {exc}",
            action="Paste the connected app's RSA private key (PEM) into the Salesforce connection.") from exc


def request_token(settings: SalesforceSettings, username: str, session: requests.Session) -> AccessToken:
    """Exchange a signed JWT for an access token at ``<login_url>/services/oauth2/token``."""
    url = f"{settings.login_url.rstrip('/')}/services/oauth2/token"
    data = {"grant_type": JWT_GRANT, "assertion": build_assertion(settings, username)}
    try:
        response = session.post(url, data=data)
    except requests.RequestException as exc:
        raise _network_error(exc, settings.login_url) from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code >= 500 or response.status_code == 429:
        raise TransientError(str(body.get("error") or f"HTTP_{response.status_code}").upper(),
                             f"the token endpoint answered {response.status_code}: "
                             f"{body.get('error_description') or response.reason}",
                             retry_after=_retry_after(response))
    if response.status_code != 200 or not body.get("access_token"):
        raise _oauth_error(str(body.get("error") or f"HTTP_{response.status_code}"),
                           str(body.get("error_description") or response.text[:200]), username)
    identity = str(body.get("id") or "")
    return AccessToken(body["access_token"], str(body.get("instance_url") or settings.login_url).rstrip("/"),
                       identity.rstrip("/").rsplit("/", 1)[-1] or None, time.time())


def _oauth_error(error: str, description: str, username: str) -> NeedsAttention:
    text = description.lower()
    if error in ("invalid_client_id", "invalid_client"):
        action = "Check the connected app's consumer key in the Salesforce connection."
    elif "approve" in text or "not pre-authorized" in text or "not authorized" in text:
        action = (f"Pre-authorise {username} for the connected app: in its policies choose 'Admin approved users "
                  "are pre-authorized' and add the user's profile or a permission set to the app.")
    elif "audience" in text:
        action = ("Set the connection's login URL to https://login.salesforce.com (production), "
                  "https://test.salesforce.com (sandbox) or the org's own login URL.")
    elif "assertion" in text or "signature" in text:
        action = ("Upload the certificate that matches the private key to the connected app ('Use digital "
                  "signatures'), or paste the matching private key into the Salesforce connection.")
    elif "expired" in text:
        action = "Check this server's clock: the signed token request is valid for three minutes only."
    elif "inactive" in text or "user" in text:
        action = f"Check that {username} exists and is active in Salesforce, or stop syncing this user."
    else:
        action = "Check the Salesforce connection (login URL, consumer key, certificate) and the user's access."
    return NeedsAttention(error, f"Salesforce refused a token for {username}: {description}", action=action)


# ---- HTTP --------------------------------------------------------------------------------------------------


class _Session(requests.Session):
    """A requests session that always applies the connection's TLS trust and timeout, counts every request and
    remembers the headers Salesforce reports its limits and clock in."""

    def __init__(self, settings: SalesforceSettings, client: SalesforceClient):
        super().__init__()
        self.verify = settings.verify
        self._timeout = settings.timeout_seconds
        self._client = client

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        if kwargs.get("verify") is None:  # an environment CA bundle must not override the configured trust
            kwargs["verify"] = self.verify
        self._client.calls.add(operation_name(str(method), str(url)))
        response = super().request(method, url, *args, **kwargs)
        self._client._observe(response)
        return response


def operation_name(method: str, url: str) -> str:
    """A short name for a request, for the call counter: ``query``, ``POST composite/sobjects``, ``token``..."""
    path = urlsplit(url).path
    if path.startswith("/services/oauth2/"):
        return path.rsplit("/", 1)[-1]
    parts = [part for part in path.split("/") if part]
    if parts[:2] == ["services", "data"] and len(parts) > 3:
        head = parts[3]
        if head in ("query", "queryAll"):
            return head
        if head == "composite":
            return f"{method.upper()} composite/{parts[4] if len(parts) > 4 else ''}".rstrip("/")
        if head == "sobjects":
            return "describe"
        return head
    return path


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _network_error(exc: requests.RequestException, where: str) -> TransientError | NeedsAttention:
    if isinstance(exc, requests.exceptions.SSLError):
        return NeedsAttention("TLS_ERROR", f"the TLS connection to {where} failed: {exc}",
                              action="Check the Salesforce connection's CA bundle (TLS trust) and login URL.")
    if isinstance(exc, requests.Timeout):
        return TransientError("TIMEOUT", f"Salesforce did not answer in time ({where})")
    return TransientError("CONNECTION_ERROR", f"cannot reach Salesforce at {where}: {exc}")


def _first_error(content: Any) -> tuple[str, str]:
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        return str(content[0].get("errorCode") or ""), str(content[0].get("message") or "")
    if isinstance(content, Mapping):
        return str(content.get("errorCode") or content.get("error") or ""), str(
            content.get("message") or content.get("error_description") or "")
    return "", str(content or "")[:300]


def classify_call_error(exc: SalesforceError, username: str, what: str) -> TransientError | PermanentError | \
        NeedsAttention:
    """One whole-request failure as transient, permanent or needing a person (`what`: e.g. "Contact")."""
    code, message = _first_error(exc.content)
    status = int(exc.status or 0)
    if code == "REQUEST_LIMIT_EXCEEDED":
        return TransientError(code, f"the org's daily API request limit is used up: {message}",
                              retry_after=REQUEST_LIMIT_RETRY_AFTER)
    if status == 429:
        return TransientError(code or "TOO_MANY_REQUESTS", message or "throttled", retry_after=60.0)
    if status >= 500 or code in TRANSIENT_CALL_CODES:
        return TransientError(code or f"HTTP_{status}", message or f"Salesforce answered {status}")
    if code in ATTENTION_CALL_CODES:
        if code == "INVALID_FIELD":
            action = (f"Give {username}'s profile read access (field-level security) to the {what} fields the "
                      "sync uses, or check the data set's filters.")
        elif code == "INVALID_TYPE" or code.startswith("INSUFFICIENT_ACCESS"):
            action = f"Give {username}'s profile (or a permission set) the Read permission on {what} records."
        else:
            action = "Enable API access for the org and for the user's profile ('API Enabled')."
        return NeedsAttention(code, f"{what}: {message}", action=action)
    return PermanentError(code or f"HTTP_{status}", message or f"Salesforce answered {status}")


# ---- the client --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectPermissions:
    read: bool
    create: bool
    edit: bool
    delete: bool


@dataclass(frozen=True)
class SalesforceUser:
    id: str
    username: str
    email: str
    name: str
    profile: str | None
    active: bool


USER_FIELDS = "Id, Username, Email, Name, Profile.Name, IsActive"


class SalesforceClient:
    """Salesforce as one user sees it (JWT bearer token with ``sub`` = `username`).

    For ``import_users`` construct it with the connection's integration user (pre-authorised for the connected
    app, with read access to users) and call `list_active_users`. Not thread-safe: one client per run.
    """

    def __init__(self, settings: SalesforceSettings, username: str, *, tokens: TokenCache | None = None):
        self.settings = settings
        self.username = username
        self.calls = CallCounter()
        self._tokens = tokens if tokens is not None else TOKENS
        self._key = token_key(settings, username)
        self._session = _Session(settings, self)
        self._api: Salesforce | None = None
        self._token: AccessToken | None = None
        self._limit_info: tuple[int, int] | None = None
        self._server_time: datetime | None = None
        self._permissions: dict[str, ObjectPermissions] = {}

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> SalesforceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------------------
    def _observe(self, response: requests.Response) -> None:
        found = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if found:
            self._limit_info = (int(found.group(1)), int(found.group(2)))
        date_header = response.headers.get("Date")
        if date_header:
            with contextlib.suppress(TypeError, ValueError):
                self._server_time = parsedate_to_datetime(date_header).astimezone(UTC)

    def _connection(self) -> Salesforce:
        if self._api is None:
            token = self._tokens.get(self._key, lambda: request_token(self.settings, self.username, self._session))
            self._token = token
            self._api = Salesforce(instance_url=token.instance_url, session_id=token.access_token,
                                   session=self._session, version=self.settings.api_version)
        return self._api

    def call(self, what: str, operation: Callable[[Salesforce], T]) -> T:
        """Run `operation` with a session, renewing the token once on INVALID_SESSION_ID, and classify errors."""
        for attempt in (1, 2):
            api = self._connection()
            try:
                return operation(api)
            except SalesforceExpiredSession as exc:
                self._tokens.invalidate(self._key, api.session_id)
                self._api = None
                if attempt == 2:
                    code, message = _first_error(exc.content)
                    raise TransientError(code or "INVALID_SESSION_ID",
                                         f"Salesforce refused a newly issued session: {message}") from exc
            except SalesforceError as exc:
                raise classify_call_error(exc, self.username, what) from exc
            except requests.RequestException as exc:
                raise _network_error(exc, self.settings.login_url) from exc
            except ValueError as exc:  # a body that is not JSON: a proxy's error page, a truncated answer
                raise TransientError("UNEXPECTED_RESPONSE", f"Salesforce's answer could not be read: {exc}") from exc
        raise AssertionError("unreachable")

    def query(self, soql: str, *, include_deleted: bool = False, what: str = "query") -> list[dict]:
        """Every row of a SOQL query (``query``/``queryAll`` then ``nextRecordsUrl`` pages of up to 2,000)."""
        return self.call(what, lambda api: list(api.query_all_iter(soql, include_deleted=include_deleted)))

    # -- public --------------------------------------------------------------------------------------------
    def side(self, object_type: SyncObject | str, options: ObjectOptions | None = None) -> SalesforceSide:
        """The engine's SideConnector for one object of this user."""
        return SalesforceSide(self, SyncObject(object_type), options or ObjectOptions())

    def permissions(self, object_type: SyncObject | str) -> ObjectPermissions:
        """What the user may do with an object (the describe flags), cached for the client's life."""
        name = mapping.sobject_name(object_type)
        if name not in self._permissions:
            try:
                body = self.call(name, lambda api: api.restful(f"sobjects/{name}/"))
            except PermanentError as exc:
                if exc.code != "NOT_FOUND":
                    raise
                body = None  # an object the user cannot read is not found at all
            entry = (body or {}).get("objectDescribe", {}) if isinstance(body, Mapping) else {}
            self._permissions[name] = ObjectPermissions(
                read=bool(entry.get("queryable")), create=bool(entry.get("createable")),
                edit=bool(entry.get("updateable")), delete=bool(entry.get("deletable")))
        return self._permissions[name]

    def require(self, object_type: SyncObject | str, *needed: str) -> None:
        """Raise NeedsAttention naming every missing permission of read + `needed` (create, edit, delete)."""
        granted = self.permissions(object_type)
        missing = [p for p in dict.fromkeys(("read", *needed)) if not getattr(granted, p)]
        if missing:
            raise missing_permission(self.username, mapping.sobject_name(object_type), *missing)

    def user_info(self) -> SalesforceUser:
        """This client's own Salesforce user."""
        self._connection()
        assert self._token is not None
        condition = (f"Id = {quote_soql_value(self._token.user_id)}" if self._token.user_id
                     else f"Username = {quote_soql_value(self.username)}")
        rows = self.query(f"SELECT {USER_FIELDS} FROM User WHERE {condition}", what="User")  # noqa: S608
        if not rows:
            raise PermanentError("NOT_FOUND", f"Salesforce has no user {self.username}")
        return _user(rows[0])

    def list_active_users(self) -> list[SalesforceUser]:
        """Active standard users of the org, by username (for ``import_users``)."""
        rows = self.query(f"SELECT {USER_FIELDS} FROM User WHERE IsActive = true AND UserType = 'Standard' "  # noqa: S608
                          "ORDER BY Username", what="User")
        return [_user(row) for row in rows]

    def api_usage(self) -> tuple[int, int] | None:
        """(used, allocation) of the org's daily API requests, from the last ``Sforce-Limit-Info`` header."""
        return self._limit_info

    @property
    def server_time(self) -> datetime | None:
        """Salesforce's clock at the last response (its ``Date`` header)."""
        return self._server_time


def _user(row: Mapping[str, Any]) -> SalesforceUser:
    profile = row.get("Profile")
    return SalesforceUser(id=row["Id"], username=row.get("Username") or "", email=row.get("Email") or "",
                          name=row.get("Name") or "", profile=profile.get("Name") if isinstance(profile, Mapping)
                          else None, active=bool(row.get("IsActive")))


def missing_permission(username: str, sobject: str, *permissions: str) -> NeedsAttention:
    """The NeedsAttention for object permissions the user lacks (read, create, edit, delete)."""
    verbs = " or ".join(permissions)
    names = ", ".join(f"'{p.capitalize()}'" for p in permissions)
    action = f"Give {username}'s profile (or a permission set) the {names} permission on {sobject} records"
    if "read" in permissions:
        action += ", or stop syncing this object for the user."
    else:
        action += ", or change the data setting's direction so that nothing is written to Salesforce."
    return NeedsAttention("MISSING_PERMISSION", f"{username} may not {verbs} {sobject} records in Salesforce",
                          action=action)


# ---- ids and SOQL ------------------------------------------------------------------------------------------

def soql_datetime(value: str | datetime) -> str:
    """A date-time (a SystemModstamp, a stored watermark) as a SOQL literal: UTC, milliseconds, ``Z``."""
    parsed = mapping.parse_datetime(value)
    assert parsed is not None
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def _id_list(record_ids: Sequence[str]) -> str:
    return quote_soql_value(list(record_ids))


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# ---- the side ----------------------------------------------------------------------------------------------


class SalesforceSide:
    """The engine's view of one object of one user in Salesforce (`sync.engine.SideConnector`).

    Scope is the data set's compiled WHERE clause (events also leave out recurring series masters). Reads:
    a full change set is one query (pages of 2,000); an incremental one is two (changed in scope; deleted or
    out of scope through ``queryAll``). Writes: sObject Collections, 200 records a call, ``allOrNone=false``,
    then one ``Id, SystemModstamp`` query per batch so the engine can recognise its own writes.
    """

    side = Side.SALESFORCE

    def __init__(self, client: SalesforceClient, object_type: SyncObject, options: ObjectOptions):
        self.client = client
        self.object_type = object_type
        self.options = options
        self.sobject = mapping.sobject_name(object_type)
        # Series synced as series (ObjectOptions.series_as_series): an intact series record is one record, its
        # occurrences none; a series with an occurrence edited or deleted on its own syncs as its occurrences.
        self.series_mode = options.series_as_series and object_type is SyncObject.EVENTS
        series_only = {"RecurrenceType", "IsRecurrence", "RecurrenceActivityId", *mapping.RECURRENCE_FIELDS}
        self.fields = [name for name in mapping.soql_fields(object_type)
                       if self.series_mode or name not in series_only]
        self.where = options.where.strip() if options.where and options.where.strip() else ""
        clauses = [f"({self.where})"] if self.where else []
        if object_type is SyncObject.EVENTS and not self.series_mode:
            clauses.append(mapping.RECURRENCE_MASTER_FILTER)
        self.scope = " AND ".join(clauses)
        self._series_records: dict[str, bool] = {}  # id -> is a series record (IsRecurrence), from reads

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

    # -- series --------------------------------------------------------------------------------------------
    def _shaped(self, rows: Sequence[Mapping[str, Any]], in_scope: bool) -> tuple[list[SideRecord], set[str]]:
        """Records for query rows, series-aware: (records, ids of records that are not records in this shape).

        A series whose occurrences are all as the series record generates them (dates, times, content) is one
        record, the series record, and its occurrences are no records; otherwise its occurrences are records and
        the series record is none. Rows of series are judged on the whole series (one more query)."""
        if not self.series_mode:
            return [self._record(row, in_scope) for row in rows], set()
        series_ids = {row["Id"] if row.get("IsRecurrence") else row["RecurrenceActivityId"] for row in rows
                      if row.get("IsRecurrence") or row.get("RecurrenceActivityId")}
        records = [self._record(row, in_scope) for row in rows
                   if not (row.get("IsRecurrence") or row.get("RecurrenceActivityId"))]
        if not series_ids:
            return records, set()
        reshaped: set[str] = set()
        listed = {row["Id"] for row in rows}
        members = self._series_members(series_ids)
        for series_id in series_ids:
            master, occurrences = members.get(series_id, (None, []))
            if master is not None and self._intact(master, occurrences):
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
        for chunk in _chunks(sorted(series_ids), ID_CHUNK):
            ids = _id_list(chunk)
            for row in self._query(self._select(f"(Id IN {ids} OR RecurrenceActivityId IN {ids})")):
                if row.get("IsRecurrence"):
                    master, occurrences = out.get(row["Id"], (None, []))
                    out[row["Id"]] = (row, occurrences)
                elif row.get("RecurrenceActivityId"):
                    master, occurrences = out.get(row["RecurrenceActivityId"], (None, []))
                    out[row["RecurrenceActivityId"]] = (master, [*occurrences, row])
        return out

    def _intact(self, master: Mapping[str, Any], occurrences: Sequence[Mapping[str, Any]]) -> bool:
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

    def _incremental_series(self, change_set: ChangeSet, in_scope: list[dict], others: list[dict]) -> ChangeSet:
        """The incremental change set when series are records: any changed or deleted row of a series has the
        whole series judged again; a series is in scope when its record or one of its occurrences is."""
        deleted = {row["Id"] for row in others if row.get("IsDeleted")}
        live_others = [row for row in others if not row.get("IsDeleted")]
        touched = {row["Id"] if row.get("IsRecurrence") else row["RecurrenceActivityId"]
                   for row in [*in_scope, *others] if row.get("IsRecurrence") or row.get("RecurrenceActivityId")}
        touched -= deleted
        plain_in = [row for row in in_scope if not (row.get("IsRecurrence") or row.get("RecurrenceActivityId"))]
        plain_out = [row for row in live_others if not (row.get("IsRecurrence") or row.get("RecurrenceActivityId"))]
        for row in plain_in:
            change_set.records[row["Id"]] = self._record(row, True)
        for row in plain_out:
            change_set.records[row["Id"]] = self._record(row, False)
        if touched:
            members = self._series_members(touched)
            scoped = self._series_in_scope(touched)
            for series_id in touched:
                master, occurrences = members.get(series_id, (None, []))
                if master is not None and self._intact(master, occurrences):
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

    def _series_in_scope(self, series_ids: Collection[str]) -> set[str]:
        """The series (ids) with a record or an occurrence in the data set, and those occurrences' ids."""
        found: set[str] = set()
        for chunk in _chunks(sorted(series_ids), ID_CHUNK):
            ids = _id_list(chunk)
            condition = f"(Id IN {ids} OR RecurrenceActivityId IN {ids})"
            for row in self._query(self._select(condition, f"({self.where})" if self.where else "",
                                                fields=["Id", "RecurrenceActivityId"])):
                found.add(row["Id"])
                if row.get("RecurrenceActivityId"):
                    found.add(row["RecurrenceActivityId"])
        return found

    def fetch(self, record_ids: Collection[str]) -> dict[str, SideRecord]:
        """The records that exist (in scope or not); one query per 200 ids, a second only for ids not in scope."""
        wanted = list(dict.fromkeys(id18(i) for i in record_ids if isinstance(i, str) and _ID.match(i)))
        found: dict[str, SideRecord] = {}
        for chunk in _chunks(wanted, ID_CHUNK):
            for row in self._query(self._select(f"Id IN {_id_list(chunk)}", self.scope)):
                found[row["Id"]] = self._record(row, True)
            missing = [i for i in chunk if i not in found]
            if missing and self.scope:
                for row in self._query(self._select(f"Id IN {_id_list(missing)}")):
                    found[row["Id"]] = self._record(row, False)
        requested = {id18(i): i for i in record_ids if isinstance(i, str)}
        return {requested.get(key, key): record for key, record in found.items()}

    def lookup(self, request: LookupRequest) -> list[SideRecord]:
        """In-scope records carrying the request's matching keys (one query), to resolve a pending create."""
        condition = _key_condition(self.object_type, request.fields)
        if not condition:
            return []
        return self._shaped(self._query(self._select(condition, self.scope)), True)[0]

    def lookup_many(self, requests: Sequence[LookupRequest]) -> list[list[SideRecord]]:
        """`lookup` for many records in few calls (their key conditions ORed, LOOKUPS_PER_QUERY to a query); each
        request gets the in-scope records sharing one of its matching keys, in request order."""
        schema = schema_for(self.object_type)
        found: list[list[SideRecord]] = [[] for _ in requests]
        wanted = [(index, _key_condition(self.object_type, request.fields)) for index, request in enumerate(requests)]
        wanted = [(index, condition) for index, condition in wanted if condition]
        for chunk in _chunks(wanted, LOOKUPS_PER_QUERY):
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
        items: list[tuple[int, dict]] = []
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
                                  **mapping.to_salesforce(self.object_type, request.fields)}))
        for (index, _), result in zip(items, self._save("update", [body for _, body in items]), strict=True):
            results[index] = result
        return [result for result in results if result is not None]

    def delete(self, record_ids: Sequence[str]) -> list[WriteResult]:
        return self._save("delete", list(record_ids))

    def _learn_shapes(self, record_ids: Sequence[str]) -> None:
        """Whether each event to update is a series record (one query per 200 not read in this run)."""
        unknown = [i for i in dict.fromkeys(record_ids) if i not in self._series_records and _ID.match(i)]
        for chunk in _chunks(unknown, ID_CHUNK):
            for row in self._query(self._select(f"Id IN {_id_list(chunk)}", fields=["Id", "IsRecurrence"])):
                self._series_records[row["Id"]] = bool(row.get("IsRecurrence"))

    def relate_to_people(self, attendees: Mapping[str, Sequence[str]]) -> dict[str, str]:
        """Auto-relate events (event id → attendees' e-mail addresses): the event's WhoId becomes the contact with
        the first attendee address that exactly one contact has; failing that, the lead when exactly one lead has
        one of the addresses. Events with no such person are left alone. Returns event id → related id."""
        if self.object_type is not SyncObject.EVENTS:
            raise ValueError("only events are related to people")
        addresses = sorted({a.strip().lower() for found in attendees.values() for a in found if a and a.strip()})
        contacts: dict[str, list[str]] = {}
        leads: dict[str, list[str]] = {}
        for chunk in _chunks(addresses, 100):
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
        for batch in _chunks(list(related.items()), WRITE_BATCH):
            answer = self.client.call(self.sobject, lambda api, batch=batch: api.restful(
                "composite/sobjects", method="PATCH", json={"allOrNone": False, "records": [
                    {"attributes": {"type": "Event"}, "Id": event_id, "WhoId": who} for event_id, who in batch]}))
            for (event_id, who), outcome in zip(batch, answer or [], strict=False):
                if isinstance(outcome, Mapping) and outcome.get("success"):
                    done[event_id] = who
        return done

    def _save(self, kind: str, items: Sequence[Any]) -> list[WriteResult]:
        results: list[WriteResult] = []
        for batch in _chunks(items, WRITE_BATCH):
            results.extend(self._save_batch(kind, batch))
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
        results: list[WriteResult] = []
        denied: list[int] = []
        for index, (item, outcome) in enumerate(zip(batch, answer, strict=True)):
            record_id = outcome.get("id") or (item if kind == "delete" else item.get("Id"))
            if outcome.get("success"):
                results.append(WriteResult(record_id, None))
                continue
            errors = outcome.get("errors") or [{}]
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
            results.append(WriteResult(record_id if kind != "create" else None, None,
                                       WriteError(code, message, code in TRANSIENT_RECORD_CODES)))
        if denied:
            # An object permission missing is a person's job, not a stream of record errors; a record the user
            # may not edit (sharing) stays a per-record error.
            permission = {"create": "create", "update": "edit", "delete": "delete"}[kind]
            if not getattr(self.client.permissions(self.object_type), permission):
                raise missing_permission(self.client.username, self.sobject, permission)
        if kind != "delete":
            written = [r.record_id for r in results if r.ok and r.record_id]
            stamps = self._versions(written)
            results = [WriteResult(r.record_id, stamps.get(r.record_id or "")) if r.ok else r for r in results]
        return results

    def _versions(self, record_ids: Sequence[str]) -> dict[str, str]:
        if not record_ids:
            return {}
        rows = self._query(self._select(f"Id IN {_id_list(record_ids)}", fields=["Id", "SystemModstamp"]))
        return {row["Id"]: row["SystemModstamp"] for row in rows}


def _key_condition(object_type: SyncObject, fields: Mapping[str, Any]) -> str:
    """The SOQL condition selecting records with a canonical record's matching keys (DESIGN.md §5)."""

    def equals(name: str, value: Any) -> str:
        return f"{name} = {quote_soql_value(value if value not in ('', None) else None)}"

    if object_type is SyncObject.CONTACTS:
        options = []
        if fields.get("email"):
            options.append(equals("Email", str(fields["email"]).strip()))
        if fields.get("first_name") or fields.get("last_name"):
            options.append("(" + " AND ".join(equals(name, fields.get(key)) for name, key in (
                ("FirstName", "first_name"), ("LastName", "last_name"), ("Account.Name", "company"))) + ")")
        return f"({' OR '.join(options)})" if options else ""
    subject = fields.get("subject")
    if not subject:
        return ""
    if object_type is SyncObject.TASKS:
        due = mapping.format_date(fields.get("due_date"))
        return f"{equals('Subject', subject)} AND {'ActivityDate = ' + due if due else 'ActivityDate = null'}"
    if fields.get("is_all_day"):
        start_day = mapping.to_salesforce(SyncObject.EVENTS, fields).get("ActivityDate")
        if not start_day:
            return ""
        return f"{equals('Subject', subject)} AND IsAllDayEvent = true AND ActivityDate = {start_day}"
    start = mapping.parse_datetime(fields.get("start"))
    if start is None:
        return ""
    start = start.replace(microsecond=0)
    condition = (f"{equals('Subject', subject)} AND StartDateTime >= {soql_datetime(start)} "
                 f"AND StartDateTime < {soql_datetime(start + timedelta(seconds=1))}")
    end = mapping.parse_datetime(fields.get("end"))
    if end is not None:
        end = end.replace(microsecond=0)
        condition += (f" AND EndDateTime >= {soql_datetime(end)} "
                      f"AND EndDateTime < {soql_datetime(end + timedelta(seconds=1))}")
    return condition

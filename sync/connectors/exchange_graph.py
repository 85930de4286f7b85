"""The Microsoft Graph connector (Exchange Online): the only module of the product that talks to Graph.

`GraphMailbox(settings, mailbox)` reaches one mailbox with an app-only token (msal client credentials, secret or
certificate); `mailbox.side(object_type, options)` is the engine's `SideConnector` for contacts (the
`Salesforce_Sync` contact folder), events (the primary calendar's calendarView over the data set's window) or
tasks (Microsoft To Do's default list). Same public surface and semantics as `sync.connectors.exchange_ews`, so the
orchestration uses either. Field conversions live in `sync.mappings.graph`; errors are classified here, once.
See docs/connector-graph.md.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import msal
import requests

from sync.connectors.base import (
    CallCounter,
    ConnectorError,
    GraphSettings,
    NeedsAttention,
    ObjectOptions,
    PermanentError,
    TransientError,
)
from sync.engine.apply import CreateRequest, LookupRequest, UpdateRequest, WriteError, WriteResult
from sync.engine.records import ChangeSet, Side, SideRecord, SyncObject
from sync.mappings import exchange as ews_mapping
from sync.mappings import graph as mapping

log = logging.getLogger(__name__)
T = TypeVar("T")

# ---- the Salesforce id on items ------------------------------------------------------------------------------------

# The same named MAPI property as the EWS connector writes (exchange_ews.SALESFORCE_ID_PROPERTY_SET, "SalesforceId",
# String): a mailbox moved from on-premises to Exchange Online keeps its stamps. Repeated here rather than imported
# so that this module never loads exchangelib; a test checks that the two agree.
SALESFORCE_ID_PROPERTY_SET = "8d2f4c61-3a7e-4b0c-9f15-5e7d2a9c0b43"
SALESFORCE_ID_PROPERTY = f"String {{{SALESFORCE_ID_PROPERTY_SET}}} Name SalesforceId"
# To Do tasks have no extended properties: the Salesforce id is the externalId of a linkedResource of ours.
LINKED_APPLICATION = "Salesforce Sync"

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
BATCH_SIZE = 20  # Graph's limit of requests per JSON batch
DELTA_PAGE = 1000  # asked with Prefer: odata.maxpagesize (the service may send fewer)
LIST_PAGE = 1000  # $top of plain list reads (stamps of a full read)
TASK_LIST_PAGE = 200
DEFAULT_WINDOW = timedelta(days=365)  # events without a data-set window: a year either side
MAX_RETRIES = 5

# ---- tokens: one msal application per (authority, tenant, client) per process --------------------------------------

_LOCAL = threading.local()


@contextlib.contextmanager
def _counting(counter: CallCounter) -> Iterator[None]:
    previous = getattr(_LOCAL, "counter", None)
    _LOCAL.counter = counter
    try:
        yield
    finally:
        _LOCAL.counter = previous


class _TrustingSession(requests.Session):
    """requests' Session whose `verify` is the connection's, always.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace a session's `verify` unless it is passed per request;
    the connection's CA bundle (e.g. the sandbox's) must win over the process environment.
    """

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        kwargs.setdefault("verify", self.verify)
        return super().request(method, url, *args, **kwargs)


class _CountingSession(_TrustingSession):
    """A trusting session that counts msal's own requests (discovery, token) on the calling mailbox's counter."""

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        counter: CallCounter | None = getattr(_LOCAL, "counter", None)
        if counter is not None:
            path = urlsplit(str(url)).path
            counter.add("token" if path.endswith("/token") else "login")
        return super().request(method, url, *args, **kwargs)


@dataclass
class _App:
    app: msal.ConfidentialClientApplication
    lock: threading.Lock


_APPS: dict[tuple[Any, ...], _App] = {}
_APPS_LOCK = threading.Lock()


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.S)


def _credential(settings: GraphSettings) -> str | dict[str, str]:
    if settings.certificate_pem:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        found = {m.group(1): m.group(0) for m in _PEM_BLOCK.finditer(settings.certificate_pem)}
        key = next((block for kind, block in found.items() if kind.endswith("PRIVATE KEY")), None)
        try:
            if key is None or "CERTIFICATE" not in found:
                raise ValueError("a private key and a certificate (PEM) are both needed")
            certificate = x509.load_pem_x509_certificate(found["CERTIFICATE"].encode())
        except ValueError as e:
            raise NeedsAttention("invalid_certificate", f"the Graph certificate cannot be read: {e}",
                                 "upload the app registration's private key and certificate (PEM)") from None
        # x5t: the SHA-1 thumbprint Entra ID identifies an uploaded certificate by
        return {"private_key": key, "thumbprint": certificate.fingerprint(hashes.SHA1()).hex().upper()}  # noqa: S303
    if not settings.client_secret:
        raise NeedsAttention("missing_credential", "the Graph connection has neither a client secret nor a "
                             "certificate", "enter the app registration's client secret or certificate")
    return settings.client_secret


def _app_for(settings: GraphSettings) -> _App:
    authority = f"{settings.authority_url.rstrip('/')}/{settings.tenant_id}"
    credential = _credential(settings)
    fingerprint = hashlib.sha256(json.dumps(credential, sort_keys=True).encode()).hexdigest()
    key = (authority, settings.tenant_id, settings.client_id, fingerprint, settings.verify)
    with _APPS_LOCK:
        found = _APPS.get(key)
        if found is not None:
            return found
        session = _CountingSession()
        session.verify = settings.verify
        try:
            app = msal.ConfidentialClientApplication(
                settings.client_id, client_credential=credential, authority=authority, http_client=session,
                instance_discovery=False, timeout=settings.timeout_seconds)
        except requests.exceptions.SSLError as e:
            raise NeedsAttention("tls_error", str(e), "check the login URL and the CA bundle it trusts") from None
        except requests.exceptions.RequestException as e:
            raise TransientError("login_unreachable", str(e)) from None
        except ValueError as e:  # msal could not read the tenant's OpenID configuration
            raise NeedsAttention("tenant_not_found", str(e), "check the tenant id and the login URL") from None
        _APPS[key] = found = _App(app, threading.Lock())
        return found


def forget_token_caches() -> None:
    """Drop every cached msal application (and so its tokens); for tests and credential rotation."""
    with _APPS_LOCK:
        _APPS.clear()


_TOKEN_ATTENTION = {
    "invalid_client": ("invalid_client", "check the app registration's client secret or certificate"),
    "unauthorized_client": ("unauthorized_client", "check the client id and that the app exists in the tenant"),
    "invalid_scope": ("invalid_scope", "grant the app registration Microsoft Graph application permissions"),
    "invalid_request": ("invalid_request", "check the tenant id and client id of the Graph connection"),
    "invalid_grant": ("invalid_grant", "check the app registration's credentials"),
}


# ---- error classification -------------------------------------------------------------------------------------------

_MAILBOX_CODES = frozenset({"ErrorInvalidUser", "MailboxNotEnabledForRESTAPI", "MailboxNotHostedInExchangeOnline",
                            "ErrorNonExistentMailbox", "ErrorMailboxNotFound", "UserNotFound"})
_PERMISSION_ACTION = ("grant the app registration the application permissions Contacts.ReadWrite, "
                      "Calendars.ReadWrite and Tasks.ReadWrite.All with admin consent, and check that no "
                      "application access policy excludes this mailbox")
_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504, 509})
_GONE_CODES = frozenset({"syncstatenotfound", "syncstateinvalid", "resyncrequired"})


def _error_of(body: Any) -> tuple[str, str]:
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return str(error.get("code") or ""), str(error.get("message") or "")
        if isinstance(error, str):
            return error, str(body.get("error_description") or "")
    return "", str(body)[:300] if body else ""


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def _mailbox_error(status: int, code: str, message: str) -> NeedsAttention | None:
    """An error about the mailbox or the app's rights rather than one item: stop and tell a person."""
    if status == 401:
        return NeedsAttention("unauthorized", f"{code}: {message}".strip(": "),
                              "check the app registration (client id, secret or certificate) and its admin consent")
    if status == 403:
        return NeedsAttention("access_denied", f"{code}: {message}".strip(": "), _PERMISSION_ACTION)
    if status == 404 and (code in _MAILBOX_CODES or (code == "ResourceNotFound" and "user" in message.lower())):
        return NeedsAttention("mailbox_not_found", f"{code}: {message}",
                              "check the user's e-mail address and that the mailbox is in Exchange Online")
    return None


def classify(status: int, body: Any, headers: Mapping[str, str] | None = None) -> ConnectorError:
    """The connector exception for a Graph error answer (DESIGN.md §6)."""
    code, message = _error_of(body)
    attention = _mailbox_error(status, code, message)
    if attention is not None:
        return attention
    if status in _TRANSIENT_STATUS:
        return TransientError(code or f"http_{status}", message, retry_after=_retry_after(headers or {}))
    return PermanentError(code or f"http_{status}", message)


class _SyncStateGone(Exception):
    """410 Gone / SyncStateNotFound: the delta token is no longer known; read in full."""


class _NotFound(Exception):
    """A 404 for the thing addressed (an item or folder), not the mailbox."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


def _item_error(status: int, body: Any, headers: Mapping[str, str]) -> WriteError:
    code, message = _error_of(body)
    if status in (409, 412):
        return WriteError(code or "ErrorIrresolvableConflict",
                          "changed in Outlook meanwhile; it is read again next run", True)
    return WriteError(code or f"http_{status}", message, status in _TRANSIENT_STATUS)


# ---- the mailbox ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    """One response (top-level or inside a $batch)."""

    status: int
    headers: Mapping[str, str]
    body: Any


class GraphMailbox:
    """One Exchange Online mailbox through Microsoft Graph; hands out side connectors and counts Graph requests."""

    def __init__(self, settings: GraphSettings, mailbox: str, *, calls: CallCounter | None = None):
        self.settings = settings
        self.mailbox = mailbox.strip().lower()
        self.calls = calls if calls is not None else CallCounter()
        self.root = f"{settings.graph_url.rstrip('/')}/v1.0"
        self.user_path = f"/users/{quote(self.mailbox, safe='@.')}"
        self._session = _TrustingSession()
        self._session.verify = settings.verify
        self._token: str | None = None

    # ---- tokens ----------------------------------------------------------------------------------------------------
    def _access_token(self, *, refused: str | None = None) -> str:
        """The app's token for Graph: msal's cached one while it is valid; `refused`: Graph rejected that token
        (revoked, expired early), so it leaves msal's cache and another is used (a newer cached one, or a new one)."""
        if self._token is not None and refused is None:
            return self._token
        with _counting(self.calls):
            holder = _app_for(self.settings)
        with _counting(self.calls), holder.lock:
            if refused is not None:
                cache = holder.app.token_cache
                for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                    if entry.get("secret") == refused:
                        cache.remove_at(entry)
            try:
                result = holder.app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
            except requests.exceptions.SSLError as e:
                raise NeedsAttention("tls_error", str(e), "check the login URL and the CA bundle it trusts") from None
            except requests.exceptions.RequestException as e:
                raise TransientError("login_unreachable", str(e)) from None
        if "access_token" not in result:
            error = str(result.get("error") or "token_error")
            description = str(result.get("error_description") or "")
            if error in _TOKEN_ATTENTION:
                code, action = _TOKEN_ATTENTION[error]
                raise NeedsAttention(code, description or error, action)
            raise TransientError(error, description)
        self._token = str(result["access_token"])
        return self._token

    # ---- HTTP ------------------------------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return path if path.startswith("https://") or path.startswith("http://") else f"{self.root}{path}"

    def send(self, method: str, path: str, operation: str, *, params: Mapping[str, Any] | None = None,
             body: Any = None, headers: Mapping[str, str] | None = None) -> _Answer:
        """One Graph request with the token, 401 → one fresh token, Retry-After honoured up to max_wait_seconds.

        Returns 2xx answers; raises `_SyncStateGone` for 410, `_NotFound` for a 404 of the thing addressed, and the
        classified connector error for anything else.
        """
        answer = self._send_with_retries(method, path, operation, params=params, body=body, headers=headers)
        if 200 <= answer.status < 300:
            return answer
        code, message = _error_of(answer.body)
        if answer.status == 410 or code.lower() in _GONE_CODES:
            raise _SyncStateGone(f"{code}: {message}")
        if answer.status == 404 and _mailbox_error(404, code, message) is None:
            raise _NotFound(code, message)
        raise classify(answer.status, answer.body, answer.headers)

    def _send_with_retries(self, method: str, path: str, operation: str, *, params: Mapping[str, Any] | None,
                           body: Any, headers: Mapping[str, str] | None) -> _Answer:
        waited = 0.0
        refreshed = False
        for attempt in range(MAX_RETRIES + 1):
            answer = self._send_once(method, path, operation, params=params, body=body, headers=headers)
            if answer.status == 401 and not refreshed:
                refreshed = True  # once: a second 401 with another token is a credential problem
                self._access_token(refused=self._token)
                answer = self._send_once(method, path, operation, params=params, body=body, headers=headers)
            if answer.status not in _TRANSIENT_STATUS or attempt == MAX_RETRIES:
                return answer
            wait = _retry_after(answer.headers)
            if wait is None:
                if answer.status in (429, 503):
                    wait = 2.0 ** attempt  # no hint: back off a little, then let Celery take over
                else:
                    return answer
            if waited + wait > self.settings.max_wait_seconds:
                code, message = _error_of(answer.body)
                raise TransientError(code or f"http_{answer.status}", message or "throttled", retry_after=wait)
            log.info("Graph answered %s for %s %s: waiting %.1fs", answer.status, method, operation, wait)
            time.sleep(wait)
            waited += wait
        raise AssertionError("unreachable")

    def _send_once(self, method: str, path: str, operation: str, *, params: Mapping[str, Any] | None, body: Any,
                   headers: Mapping[str, str] | None) -> _Answer:
        token = self._access_token()
        all_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        all_headers.update(headers or {})
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        self.calls.add(operation)
        try:
            response = self._session.request(method, self.url(path), params=params, headers=all_headers,
                                             data=json.dumps(body) if body is not None else None,
                                             timeout=self.settings.timeout_seconds)
        except requests.exceptions.SSLError as e:
            raise NeedsAttention("tls_error", str(e), "check the Graph URL and the CA bundle it trusts") from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
            raise TransientError(type(e).__name__, str(e)) from None
        except requests.exceptions.RequestException as e:
            raise TransientError(type(e).__name__, str(e)) from None
        try:
            parsed = response.json() if response.content else None
        except ValueError:
            parsed = response.text
        return _Answer(response.status_code, dict(response.headers), parsed)

    def pages(self, path: str, operation: str, *, params: Mapping[str, Any] | None = None,
              headers: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """The pages of a collection (following @odata.nextLink)."""
        answer = self.send("GET", path, operation, params=params, headers=headers)
        while True:
            page = answer.body if isinstance(answer.body, dict) else {}
            yield page
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return
            answer = self.send("GET", next_link, operation, headers=headers)

    def batch(self, requests_: Sequence[dict[str, Any]]) -> list[_Answer]:
        """JSON batching, 20 requests per POST $batch, answers in request order.

        Inner 429/503 answers with a Retry-After are sent again after the wait while the waits stay within
        `max_wait_seconds` (longer: TransientError); an inner 401 gets one fresh token for the whole batch.
        """
        answers: list[_Answer | None] = [None] * len(requests_)
        for start in range(0, len(requests_), BATCH_SIZE):
            todo = list(range(start, min(start + BATCH_SIZE, len(requests_))))
            waited, refreshed = 0.0, False
            for _attempt in range(MAX_RETRIES + 1):
                payload = {"requests": [{**requests_[i], "id": str(i)} for i in todo]}
                answer = self.send("POST", "/$batch", "$batch", body=payload)
                inner = {int(r["id"]): _Answer(int(r.get("status", 0)), r.get("headers") or {}, r.get("body"))
                         for r in (answer.body or {}).get("responses", [])}
                missing = [i for i in todo if i not in inner]
                if missing:
                    raise TransientError("batch_incomplete", f"{len(missing)} requests had no answer in the $batch")
                # 429: not processed, send again. 503: only what is safe to repeat (a create might have been made).
                retry = [i for i in todo if inner[i].status == 429
                         or (inner[i].status == 503 and requests_[i]["method"] != "POST")
                         or (inner[i].status == 401 and not refreshed)]
                for i in todo:
                    answers[i] = inner[i]
                if not retry:
                    break
                if any(inner[i].status == 401 for i in retry):
                    refreshed = True
                    self._access_token(refused=self._token)
                hints = [_retry_after(inner[i].headers) for i in retry if inner[i].status != 401]
                wait = max((h if h is not None else 2.0 ** _attempt for h in hints), default=0.0)
                if waited + wait > self.settings.max_wait_seconds:
                    code, message = _error_of(inner[retry[0]].body)
                    raise TransientError(code or "TooManyRequests", message or "throttled", retry_after=wait)
                if wait:
                    time.sleep(wait)
                waited += wait
                todo = retry
        return [a for a in answers if a is not None]

    def batch_get(self, paths: Sequence[str], *, headers: Mapping[str, str] | None = None) -> list[_Answer]:
        return self.batch([{"method": "GET", "url": path, **({"headers": dict(headers)} if headers else {})}
                           for path in paths])

    # ---- folders ---------------------------------------------------------------------------------------------------
    def find_contacts_folder(self, name: str) -> str | None:
        """The id of the contact folder called `name` (one request), or None."""
        escaped = name.replace("'", "''")
        answer = self.send("GET", f"{self.user_path}/contactFolders", "contactFolders",
                           params={"$filter": f"displayName eq '{escaped}'", "$select": "id,displayName"})
        for folder in (answer.body or {}).get("value", []):
            if str(folder.get("displayName", "")).casefold() == name.casefold():
                return str(folder["id"])
        return None

    def ensure_contacts_folder(self, name: str) -> bool:
        """Create the contact folder `name` unless it exists; True if it was created."""
        try:
            if self.find_contacts_folder(name) is not None:
                return False
            self._create_contacts_folder(name)
        except _NotFound as e:
            raise NeedsAttention("mailbox_not_found", str(e),
                                 "check the user's e-mail address and that the mailbox is in Exchange Online") from None
        return True

    def _create_contacts_folder(self, name: str) -> str:
        answer = self.send("POST", f"{self.user_path}/contactFolders", "contactFolders", body={"displayName": name})
        log.info("created contact folder %r in %s", name, self.mailbox)
        return str(answer.body["id"])

    def default_task_list(self) -> str:
        """The id of the user's default To Do list (wellknownListName defaultList)."""
        for page in self.pages(f"{self.user_path}/todo/lists", "todo/lists"):
            for task_list in page.get("value", []):
                if task_list.get("wellknownListName") == "defaultList":
                    return str(task_list["id"])
        raise NeedsAttention("task_list_missing", f"{self.mailbox} has no default To Do list",
                             "open Microsoft To Do once for this user so that the default list exists")

    def check(self, contacts_folder: str = "Salesforce_Sync") -> dict[str, Any]:
        """Whether the mailbox is reachable with the app's token and has the contacts folder (raises like any call)."""
        try:
            folder_id = self.find_contacts_folder(contacts_folder)
        except _NotFound as e:
            raise NeedsAttention("mailbox_not_found", str(e),
                                 "check the user's e-mail address and that the mailbox is in Exchange Online") from None
        return {"ok": True, "mailbox": self.mailbox, "contacts_folder": contacts_folder,
                "contacts_folder_present": folder_id is not None}

    def side(self, object_type: SyncObject | str, options: ObjectOptions | None = None) -> GraphSide:
        return GraphSide(self, SyncObject(object_type), options or ObjectOptions())


# ---- the watermark -------------------------------------------------------------------------------------------------


@dataclass
class _Watermark:
    """What `changes` returns as the watermark: the delta link plus what an incremental read needs.

    Stored as JSON: {"protocol": "graph", "v": 1, "object": ..., "delta": <@odata.deltaLink>, "folder": <contact
    folder id>, "list": <To Do list id>, "window": [start, end]}. Anything else (unreadable, another object's,
    another host's, an EWS sync state) means "read in full".
    """

    object_type: SyncObject
    delta: str
    folder: str | None = None
    task_list: str | None = None
    window: list[str] | None = None

    def dump(self) -> str:
        data: dict[str, Any] = {"protocol": "graph", "v": 1, "object": self.object_type.value, "delta": self.delta}
        if self.folder:
            data["folder"] = self.folder
        if self.task_list:
            data["list"] = self.task_list
        if self.window is not None:
            data["window"] = self.window
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str | None, object_type: SyncObject, root: str) -> _Watermark | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            if (not isinstance(data, dict) or data.get("protocol") != "graph" or data.get("v") != 1
                    or data.get("object") != object_type.value or not isinstance(data.get("delta"), str)):
                return None
            if not data["delta"].startswith(root + "/"):
                return None  # another Graph endpoint (configuration changed): its token means nothing here
            return cls(object_type, data["delta"], data.get("folder"), data.get("list"), data.get("window"))
        except (ValueError, TypeError, AttributeError):
            return None


# ---- the side connector --------------------------------------------------------------------------------------------


def _guarded(method: Callable[..., T]) -> Callable[..., T]:
    """Only the connector's exceptions leave a public method: a 404 of what we addressed (the contact folder
    vanished mid-run, an item id no longer valid) or a 410 outside a delta round are classified here."""

    @functools.wraps(method)
    def guarded(self: GraphSide, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except _NotFound as e:
            if self.object_type is SyncObject.CONTACTS:
                raise _folder_missing(self.options.contacts_folder) from None
            raise PermanentError(e.code or "ResourceNotFound", str(e)) from None
        except _SyncStateGone as e:
            raise TransientError("SyncStateNotFound", str(e)) from None

    return guarded


_UTC_PREFER = 'outlook.timezone="UTC"'
# Event reads other than delta: times in UTC, bodies as text (Exchange Online stores most bodies as HTML).
_READ_PREFER = f'{_UTC_PREFER}, outlook.body-content-type="text"'


class GraphSide:
    """The engine's SideConnector for one mailbox and object through Graph (Side.OUTLOOK)."""

    side = Side.OUTLOOK

    def __init__(self, mailbox: GraphMailbox, object_type: SyncObject, options: ObjectOptions):
        self.mailbox = mailbox
        self.object_type = object_type
        self.options = options
        self._folder_id: str | None = None
        self._list_id: str | None = None
        self._no_folder = False
        self._etags: dict[str, str] = {}  # @odata.etag read in this run (If-Match on update)
        self._current: dict[str, dict[str, Any]] = {}  # contacts as read in this run (collections to keep)
        self._attendees: dict[str, list[str]] = {}
        self._meetings: dict[str, bool] = {}  # events: organized by this mailbox, with attendees
        self._task_index: dict[str, list[str]] | None = None  # tasks: Salesforce id → task ids (lookup)
        self.window_start = _parse_instant(options.window_start)
        self.window_end = _parse_instant(options.window_end)

    @property
    def calls(self) -> CallCounter:
        return self.mailbox.calls

    @property
    def user(self) -> str:
        return self.mailbox.user_path

    # ---- where things are ------------------------------------------------------------------------------------------
    def _folder(self, *, create: bool = False) -> str:
        if self._folder_id is None:
            name = self.options.contacts_folder
            folder_id = self.mailbox.find_contacts_folder(name)
            if folder_id is None:
                if not create:
                    raise _folder_missing(name)
                folder_id = self.mailbox._create_contacts_folder(name)
            self._folder_id = folder_id
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
        return [_iso(t) for t in self._window()]

    # ---- reads -----------------------------------------------------------------------------------------------------
    @_guarded
    def changes(self, watermark: str | None) -> ChangeSet:
        mark = _Watermark.parse(watermark, self.object_type, self.mailbox.root)
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
        try:
            changed, removed, delta = self._delta(mark.delta)
        except _SyncStateGone:
            log.warning("delta token of %s %s is no longer known: full read", self.mailbox.mailbox,
                        self.object_type)
            self._folder_id = self._list_id = None
            return self._full_read(first=False)
        except _NotFound:
            # The folder or list we synced is gone. A contact folder of the same name (re-created by the user) is
            # a new folder: read it in full; no folder at all needs a person (never re-created silently).
            self._folder_id = self._list_id = None
            return self._full_read(first=False)
        records = self._records(changed, removed)
        deleted = {i for i in removed if i not in records}
        for record_id in deleted:
            records.pop(record_id, None)
        return ChangeSet(Side.OUTLOOK, records, deleted, False, self._mark(delta))

    def _mark(self, delta: str) -> str:
        return _Watermark(self.object_type, delta, self._folder_id if self.object_type is SyncObject.CONTACTS
                          else None, self._list_id if self.object_type is SyncObject.TASKS else None,
                          self._window_key()).dump()

    def _full_read(self, *, first: bool) -> ChangeSet:
        """Every item: a delta round from scratch (its deltaLink is the watermark), then the stamps in pages."""
        if self.object_type is SyncObject.CONTACTS:
            self._folder(create=first)
        elif self.object_type is SyncObject.TASKS:
            self._task_list()
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
            params = {"startDateTime": _iso(lo), "endDateTime": _iso(hi)}
        else:
            path = f"{self.user}/todo/lists/{quote(self._task_list(), safe='=-_')}/tasks/delta"
            params = {"$expand": "linkedResources"}  # the stamps come with the round: no reads besides it
        if self.object_type is SyncObject.EVENTS:
            prefer += f", {_UTC_PREFER}"
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
            params = {"startDateTime": _iso(lo), "endDateTime": _iso(hi), "$expand": self._expand(),
                      "$top": str(LIST_PAGE)}
            key = None
        else:
            path = f"{self.user}/todo/lists/{quote(self._task_list(), safe='=-_')}/tasks"
            params = {"$select": "id", "$expand": self._expand(), "$top": str(TASK_LIST_PAGE)}
            key = "linkedResources"
        if modified_since is not None:
            params["$filter"] = f"lastModifiedDateTime ge {_iso(modified_since)}"
        operation = path.rsplit("/", 1)[-1] if self.object_type is not SyncObject.TASKS else "todo/tasks"
        out: dict[str, dict[str, Any]] = {}
        headers = {"Prefer": _READ_PREFER} if self.object_type is SyncObject.EVENTS else None
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
        since = [_parse_instant(item.get("lastModifiedDateTime")) for item in changed.values()]
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
            if not ews_mapping.event_in_window(start, end, *self._window()):
                record = self._record(item)
                if record is not None:
                    records[record_id] = record  # out of scope: it left the window
        return records

    def _get(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Items by id with their stamps (batched GETs); missing items are left out."""
        if not ids:
            return {}
        params = _query({"$expand": self._expand()})
        headers = {"Prefer": _READ_PREFER} if self.object_type is SyncObject.EVENTS else None
        answers = self.mailbox.batch_get([self._item_path(i) + params for i in ids], headers=headers)
        out = {}
        for record_id, answer in zip(ids, answers, strict=True):
            if answer.status == 404 or (answer.status == 400 and _error_of(answer.body)[0] in _NO_SUCH_ITEM):
                attention = _mailbox_error(404, *_error_of(answer.body))
                if attention is not None:
                    raise attention
                continue
            if not 200 <= answer.status < 300:
                raise classify(answer.status, answer.body, answer.headers)
            out[record_id] = answer.body
        return out

    def _record(self, item: Mapping[str, Any]) -> SideRecord | None:
        if self.object_type is SyncObject.EVENTS and str(item.get("type", "")).lower() == "seriesmaster":
            return None  # a series is synced as its occurrences inside the window
        record_id = str(item["id"])
        fields = mapping.FROM_GRAPH[self.object_type](item)
        etag = item.get("@odata.etag")
        if etag:
            self._etags[record_id] = str(etag)
        if self.object_type is SyncObject.CONTACTS:
            self._current[record_id] = {k: item.get(k) for k in ("emailAddresses", "businessPhones", "homePhones")}
        if self.object_type is SyncObject.EVENTS and "attendees" in item:
            self._attendees[record_id] = mapping.event_attendees(item)
            if "isOrganizer" in item:
                self._meetings[record_id] = _is_organized_meeting(item)
        version = item.get("changeKey") or etag
        return SideRecord(record_id, str(version) if version else None, fields, self._in_scope(item, fields),
                          self._stamp(item))

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
            return not ews_mapping.is_excluded(fields.get("email"), self.options.excluded_addresses)
        if self.object_type is SyncObject.EVENTS:
            if mapping.event_is_private(item) and not self.options.sync_private_events:
                return False
            category = self.options.event_category
            if category and category.casefold() not in {c.casefold() for c in mapping.event_categories(item)}:
                return False
            if ews_mapping.is_excluded(mapping.event_organizer(item), self.options.excluded_addresses):
                return False
            start, end = mapping.event_span(item)
            return ews_mapping.event_in_window(start, end, self.window_start, self.window_end)
        return True

    @_guarded
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
        records = {}
        for record_id, item in self._get(ids).items():
            record = self._record(item)
            if record is not None:
                records[record_id] = record
        return records

    @_guarded
    def lookup(self, request: LookupRequest) -> list[SideRecord]:
        """Items stamped with the request's Salesforce id (contacts, events: a $filter on the extended property;
        To Do tasks: an index of the list's linked resources, built once per connector)."""
        if not request.salesforce_id:
            return []
        if self.object_type is SyncObject.TASKS:
            return list(self.fetch(self._tasks_index().get(request.salesforce_id, [])).values())
        value = request.salesforce_id.replace("'", "''")
        params = {"$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{SALESFORCE_ID_PROPERTY}' "
                             f"and ep/value eq '{value}')", "$expand": self._expand()}
        if self.object_type is SyncObject.CONTACTS:
            path = f"{self.user}/contactFolders/{quote(self._folder(), safe='=-_')}/contacts"
            headers = None
        else:
            path = f"{self.user}/calendar/events"
            headers = {"Prefer": _READ_PREFER}
        out = []
        for page in self.mailbox.pages(path, path.rsplit("/", 1)[-1], params=params, headers=headers):
            for item in page.get("value", []):
                record = self._record(item)
                if record is not None:
                    out.append(record)
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

    @_guarded
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
                    attention = _mailbox_error(answer.status, *_error_of(answer.body))
                    if attention is not None:
                        raise attention
        return {i: [a for a in self._attendees[i] if a != self.mailbox.mailbox
                    and not ews_mapping.is_excluded(a, self.options.excluded_addresses)]
                for i in ids if i in self._attendees}

    # ---- writes ----------------------------------------------------------------------------------------------------
    @_guarded
    def create(self, requests_: Sequence[CreateRequest]) -> list[WriteResult]:
        if not requests_:
            return []
        if self.object_type is SyncObject.CONTACTS:
            path = f"{self.user}/contactFolders/{quote(self._folder(), safe='=-_')}/contacts"
        elif self.object_type is SyncObject.EVENTS:
            path = f"{self.user}/calendar/events"
        else:
            path = f"{self.user}/todo/lists/{quote(self._task_list(), safe='=-_')}/tasks"
        batch = []
        for request in requests_:
            body = mapping.to_graph(self.object_type, request.fields)
            if request.salesforce_id_stamp:
                if self.object_type is SyncObject.TASKS:
                    body["linkedResources"] = [_linked_resource(request.salesforce_id_stamp)]
                else:
                    body.setdefault("singleValueExtendedProperties", []).append(
                        {"id": SALESFORCE_ID_PROPERTY, "value": request.salesforce_id_stamp})
            batch.append({"method": "POST", "url": path, "body": _strip_nulls_for_create(body),
                          "headers": {"Content-Type": "application/json"}})
        return [self._result(answer, None) for answer in self.mailbox.batch(batch)]

    @_guarded
    def update(self, requests_: Sequence[UpdateRequest]) -> list[WriteResult]:
        if not requests_:
            return []
        if self.object_type is SyncObject.CONTACTS:
            # Our entries of the contact's collections replace the first ones; the user's others are kept.
            unread = [r.record_id for r in requests_ if r.fields is not None and r.record_id not in self._current]
            self._read_current(unread)
        meetings: set[str] = set()
        if self.object_type is SyncObject.EVENTS:
            # Graph sends an update to the attendees of a meeting its organizer's copy is changed in (EWS could say
            # SendToNone): such meetings only ever get our stamp.
            meetings = self._organized_meetings([r.record_id for r in requests_ if r.fields is not None])
        batch: list[dict[str, Any]] = []
        # per request: (position of the answer that decides its result in `batch`, whether that answer carries the
        # item's new version), or None when there is nothing to write
        slots: list[tuple[int, bool] | None] = []
        for request in requests_:
            body: dict[str, Any] = {}
            if request.fields is not None and request.record_id in meetings:
                slots.append(None)
                continue
            if request.fields is not None:
                body = mapping.to_graph(self.object_type, request.fields, self._current.get(request.record_id))
            if request.salesforce_id_stamp and self.object_type is not SyncObject.TASKS:
                body.setdefault("singleValueExtendedProperties", []).append(
                    {"id": SALESFORCE_ID_PROPERTY, "value": request.salesforce_id_stamp})
            path = self._item_path(request.record_id)
            if self.object_type is SyncObject.TASKS and request.salesforce_id_stamp:
                # a linked resource of ours; the task's own version is learnt at the next read
                batch.append({"method": "POST", "url": f"{path}/linkedResources",
                              "body": _linked_resource(request.salesforce_id_stamp),
                              "headers": {"Content-Type": "application/json"}})
                if not body:
                    slots.append((len(batch) - 1, False))
                    continue
            if not body:
                slots.append(None)
                continue
            headers = {"Content-Type": "application/json"}
            etag = self._etags.get(request.record_id)
            if etag:
                headers["If-Match"] = etag
            batch.append({"method": "PATCH", "url": path, "body": body, "headers": headers})
            slots.append((len(batch) - 1, True))
        answers = self.mailbox.batch(batch) if batch else []
        out = []
        for request, slot in zip(requests_, slots, strict=True):
            if request.fields is not None and request.record_id in meetings:
                out.append(WriteResult(error=WriteError(
                    "meeting_not_updated", "a meeting this mailbox organizes with attendees is not changed from "
                    "Salesforce: Graph would e-mail the change to its attendees", False)))
            elif slot is None:
                out.append(WriteResult(request.record_id, None))
            else:
                out.append(self._result(answers[slot[0]], request.record_id, version=slot[1]))
        return out

    def _read_current(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        fields = "emailAddresses,businessPhones,homePhones"
        answers = self.mailbox.batch_get([f"{self._item_path(i)}?$select={fields}" for i in ids])
        for record_id, answer in zip(ids, answers, strict=True):
            if 200 <= answer.status < 300:
                self._current[record_id] = {k: answer.body.get(k) for k in fields.split(",")}
                if answer.body.get("@odata.etag"):
                    self._etags[record_id] = str(answer.body["@odata.etag"])
            elif answer.status != 404:  # a missing contact fails its own PATCH; anything else stops the batch
                raise classify(answer.status, answer.body, answer.headers)

    @_guarded
    def delete(self, record_ids: Sequence[str]) -> list[WriteResult]:
        """Deletes (Exchange Online keeps them in Deleted Items); an item already gone is deleted.

        Meetings this mailbox organizes with attendees are left alone and reported: Graph has no "send no
        cancellations" (EWS's SendToNone), and the sync never e-mails anyone.
        """
        if not record_ids:
            return []
        kept = self._organized_meetings(record_ids) if self.object_type is SyncObject.EVENTS else set()
        todo = [i for i in record_ids if i not in kept]
        answers = iter(self.mailbox.batch([{"method": "DELETE", "url": self._item_path(i)} for i in todo])
                       if todo else [])
        out = []
        for record_id in record_ids:
            if record_id in kept:
                out.append(WriteResult(error=WriteError(
                    "meeting_not_deleted", "a meeting this mailbox organizes with attendees is left in Outlook: "
                    "deleting it through Graph would e-mail cancellations to its attendees", False)))
                continue
            answer = next(answers)
            code, message = _error_of(answer.body)
            if (200 <= answer.status < 300 or (answer.status == 404 and _mailbox_error(404, code, message) is None)
                    or code in _GONE_OCCURRENCE):  # already gone is deleted
                self._etags.pop(record_id, None)
                out.append(WriteResult(record_id, None))
            else:
                out.append(self._result(answer, record_id))
        return out

    def _organized_meetings(self, ids: Sequence[str]) -> set[str]:
        """The events among `ids` that this mailbox organizes and that have attendees (read if not read yet)."""
        unknown = list(dict.fromkeys(i for i in ids if i not in self._meetings))
        if unknown:
            answers = self.mailbox.batch_get([self._item_path(i) + _query({"$select": "isOrganizer,attendees"})
                                              for i in unknown])
            for record_id, answer in zip(unknown, answers, strict=True):
                if 200 <= answer.status < 300:
                    self._meetings[record_id] = _is_organized_meeting(answer.body)
                else:
                    attention = _mailbox_error(answer.status, *_error_of(answer.body))
                    if attention is not None:
                        raise attention
                    self._meetings[record_id] = False  # gone or unreadable: its DELETE answers for itself
        return {i for i in ids if self._meetings.get(i)}

    def _result(self, answer: _Answer, requested: str | None, *, version: bool = True) -> WriteResult:
        if 200 <= answer.status < 300:
            body = answer.body if isinstance(answer.body, dict) else {}
            record_id = requested or (str(body["id"]) if body.get("id") else None)
            if not version:
                return WriteResult(record_id, None)
            etag = body.get("@odata.etag")
            if record_id and etag:
                self._etags[record_id] = str(etag)
            token = body.get("changeKey") or etag
            return WriteResult(record_id, str(token) if token else None)
        code, message = _error_of(answer.body)
        attention = _mailbox_error(answer.status, code, message)
        if attention is not None:
            raise attention  # the mailbox or the app's rights, not this item: stop and tell a person
        if answer.status in (429, 503):
            raise TransientError(code or "TooManyRequests", message, retry_after=_retry_after(answer.headers))
        return WriteResult(error=_item_error(answer.status, answer.body, answer.headers))


# ---- helpers -------------------------------------------------------------------------------------------------------

# 400 answers that mean "there is no such item": a malformed id, an occurrence deleted from its series.
_GONE_OCCURRENCE = frozenset({"ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                              "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange"})
_NO_SUCH_ITEM = frozenset({"ErrorInvalidIdMalformed", "ErrorInvalidId", *_GONE_OCCURRENCE})


def _is_organized_meeting(item: Mapping[str, Any]) -> bool:
    return bool(item.get("isOrganizer")) and bool(mapping.event_attendees(item))


def _query(params: Mapping[str, str]) -> str:
    """A query string for a URL inside a $batch (percent-encoded like any URL; `$` kept for readability)."""
    return "?" + urlencode(params, quote_via=quote, safe="$,")


def _linked_resource(salesforce_id: str) -> dict[str, str]:
    return {"applicationName": LINKED_APPLICATION, "externalId": salesforce_id,
            "displayName": f"Salesforce {salesforce_id}"}


def _strip_nulls_for_create(body: dict[str, Any]) -> dict[str, Any]:
    # On create, null means nothing: leave it out (some properties refuse an explicit null on POST).
    return {k: v for k, v in body.items() if v is not None}


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


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

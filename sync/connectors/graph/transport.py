"""How the Graph connector reaches Microsoft Graph: sessions that keep the connection's TLS trust and refuse
forbidden addresses, one msal application (and token cache) per app registration per process, the app-only token,
and requests with retries, paging and JSON batching, every request counted. Inside an interactive test
(``base.interactive``) every request's timeouts are cut to the test's deadline and nothing waits on a Retry-After."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from sync.connectors.base import (
    CallCounter,
    GraphSettings,
    NeedsAttention,
    TransientError,
    check_destination,
    current_deadline,
    guard,
    holding,
    https_or_loopback,
    request_timeout,
)
from sync.connectors.exchange import counting, current_counter
from sync.connectors.graph.errors import (
    GONE_CODES,
    TRANSIENT_STATUS,
    NotFound,
    SyncStateGone,
    classify,
    error_of,
    mailbox_error,
    retry_after,
    throttled,
    unreachable,
)

log = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
BATCH_SIZE = 20  # Graph's limit of requests per JSON batch
MAX_RETRIES = 5
LOGIN = "Microsoft Entra ID (the authority URL)"


# ---- tokens: one msal application per (authority, tenant, client) per process --------------------------------------


class _TrustingSession(requests.Session):
    """requests' Session whose `verify` is the connection's, always, that refuses forbidden peer addresses, and
    whose requests inside an interactive test end by its deadline.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace a session's `verify` unless it is passed per request;
    the connection's CA bundle (e.g. the sandbox's) must win over the process environment.
    """

    def __init__(self) -> None:
        super().__init__()
        guard(self)

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        kwargs.setdefault("verify", self.verify)
        deadline = current_deadline()
        if deadline is not None:  # msal passes its own timeout: a test's deadline wins
            kwargs["timeout"] = deadline.timeout()
        return super().request(method, url, *args, **kwargs)


class _CountingSession(_TrustingSession):
    """A trusting session that counts msal's own requests (discovery, token) on the calling mailbox's counter."""

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        counter = current_counter()
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
        found = {m.group(1): m.group(0) for m in _PEM_BLOCK.finditer(settings.certificate_pem)}
        key = next((block for kind, block in found.items() if kind.endswith("PRIVATE KEY")), None)
        try:
            if key is None or "CERTIFICATE" not in found:
                raise ValueError("a private key and a certificate (PEM) are both needed")
            certificate = x509.load_pem_x509_certificate(found["CERTIFICATE"].encode())
        except ValueError as e:
            log.warning("Graph certificate unreadable: %s", e)
            raise NeedsAttention("invalid_certificate", "The Graph connection's certificate cannot be read "
                                 "(code invalid_certificate).", "Paste the app registration's private key and its "
                                 "certificate (PEM) on the Connections page.", own_words=True) from None
        # x5t: the SHA-1 thumbprint Entra ID identifies an uploaded certificate by
        return {"private_key": key, "thumbprint": certificate.fingerprint(hashes.SHA1()).hex().upper()}  # noqa: S303
    if not settings.client_secret:
        raise NeedsAttention("missing_credential", "the Graph connection has neither a client secret nor a "
                             "certificate", "enter the app registration's client secret or certificate")
    return settings.client_secret


def _sentence(text: str) -> str:
    return f"{text[0].upper()}{text[1:]}." if text and not text.endswith(".") else text


def _app_for(settings: GraphSettings) -> _App:
    if not (https_or_loopback(settings.authority_url) and https_or_loopback(settings.graph_url)):
        # The save rule refuses such URLs; this stops a connection saved before it: the client secret (or an
        # assertion signed with the certificate) and the tokens never cross a network readable.
        raise NeedsAttention("insecure_url", "The Graph or authority URL uses plain http to another machine: the "
                             "app's credentials would cross the network readable.",
                             "Change both URLs to https on the Connections page (and enter the secret again).",
                             own_words=True)
    check_destination(settings.authority_url, "the authority URL")
    check_destination(settings.graph_url, "the Graph URL")
    authority = f"{settings.authority_url.rstrip('/')}/{settings.tenant_id}"
    credential = _credential(settings)
    fingerprint = hashlib.sha256(json.dumps(credential, sort_keys=True).encode()).hexdigest()
    key = (authority, settings.tenant_id, settings.client_id, fingerprint, settings.verify)
    with holding(_APPS_LOCK):
        found = _APPS.get(key)
        if found is not None:
            return found
        session = _CountingSession()
        session.verify = settings.verify
        try:
            app = msal.ConfidentialClientApplication(
                settings.client_id, client_credential=credential, authority=authority, http_client=session,
                instance_discovery=False, timeout=settings.timeout_seconds)
        except requests.exceptions.RequestException as e:
            raise unreachable(e, LOGIN) from None
        except ValueError as e:  # msal could not read the tenant's OpenID configuration
            log.warning("tenant's OpenID configuration unreadable: %s", e)
            raise NeedsAttention("tenant_not_found", "The tenant's sign-in settings could not be read from the "
                                 "authority URL (code tenant_not_found).", "Check the tenant id and the authority URL "
                                 "on the Connections page.", own_words=True) from None
        _APPS[key] = found = _App(app, threading.Lock())
        return found


def sign_in(settings: GraphSettings) -> None:
    """Obtain the app's token, or raise why not: what a connection test checks when no mailbox is routed to Graph."""
    GraphTransport(settings)._access_token()


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


@dataclass(frozen=True)
class Answer:
    """One response (top-level or inside a $batch)."""

    status: int
    headers: Mapping[str, str]
    body: Any


class GraphTransport:
    """Requests to Graph as one app registration: the token, retries, paging and batching; counts every request."""

    def __init__(self, settings: GraphSettings, *, calls: CallCounter | None = None):
        self.settings = settings
        self.calls = calls if calls is not None else CallCounter()
        self.root = f"{settings.graph_url.rstrip('/')}/v1.0"
        self._session = _TrustingSession()
        self._session.verify = settings.verify
        self._token: str | None = None

    # ---- tokens ----------------------------------------------------------------------------------------------------
    def _access_token(self, *, refused: str | None = None) -> str:
        """The app's token for Graph: msal's cached one while it is valid; `refused`: Graph rejected that token
        (revoked, expired early), so it leaves msal's cache and another is used (a newer cached one, or a new one)."""
        if self._token is not None and refused is None:
            return self._token
        with counting(self.calls):
            holder = _app_for(self.settings)
        with counting(self.calls), holding(holder.lock):
            if refused is not None:
                cache = holder.app.token_cache
                for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                    if entry.get("secret") == refused:
                        cache.remove_at(entry)
            try:
                result = holder.app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
            except requests.exceptions.RequestException as e:
                raise unreachable(e, LOGIN) from None
        if "access_token" not in result:
            error = str(result.get("error") or "token_error")
            description = str(result.get("error_description") or "")
            log.warning("Graph token refused: %s: %s", error, description)  # Entra ID's text: the log only
            shown = re.sub(r"[^A-Za-z0-9_.:-]", "", error)[:64]
            if error in _TOKEN_ATTENTION:
                code, action = _TOKEN_ATTENTION[error]
                raise NeedsAttention(code, f"Microsoft Entra ID refused the app's sign-in (code {shown}).",
                                     _sentence(action), own_words=True)
            raise TransientError(error, f"Microsoft Entra ID could not issue the app a token (code {shown}). The "
                                 "sync tries again by itself.", own_words=True)
        self._token = str(result["access_token"])
        return self._token

    # ---- HTTP ------------------------------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return path if path.startswith("https://") or path.startswith("http://") else f"{self.root}{path}"

    def send(self, method: str, path: str, operation: str, *, params: Mapping[str, Any] | None = None,
             body: Any = None, headers: Mapping[str, str] | None = None) -> Answer:
        """One Graph request with the token, 401 → one fresh token, Retry-After honoured up to max_wait_seconds.

        Returns 2xx answers; raises `SyncStateGone` for 410, `NotFound` for a 404 of the thing addressed, and the
        classified connector error for anything else.
        """
        answer = self._send_with_retries(method, path, operation, params=params, body=body, headers=headers)
        if 200 <= answer.status < 300:
            return answer
        code, message = error_of(answer.body)
        if answer.status == 410 or code.lower() in GONE_CODES:
            raise SyncStateGone(f"{code}: {message}")
        if answer.status == 404 and mailbox_error(404, code, message) is None:
            raise NotFound(code, message)
        raise classify(answer.status, answer.body, answer.headers)

    def _send_with_retries(self, method: str, path: str, operation: str, *, params: Mapping[str, Any] | None,
                           body: Any, headers: Mapping[str, str] | None) -> Answer:
        waited = 0.0
        refreshed = False
        for attempt in range(MAX_RETRIES + 1):
            answer = self._send_once(method, path, operation, params=params, body=body, headers=headers)
            if answer.status == 401 and not refreshed:
                refreshed = True  # once: a second 401 with another token is a credential problem
                self._access_token(refused=self._token)
                answer = self._send_once(method, path, operation, params=params, body=body, headers=headers)
            if answer.status not in TRANSIENT_STATUS or attempt == MAX_RETRIES or current_deadline() is not None:
                return answer  # an interactive test never waits: it reports the answer
            wait = retry_after(answer.headers)
            if wait is None:
                if answer.status in (429, 503):
                    wait = 2.0 ** attempt  # no hint: back off a little, then let Celery take over
                else:
                    return answer
            if waited + wait > self.settings.max_wait_seconds:
                log.info("Graph answered %s for %s %s: %s", answer.status, method, operation, error_of(answer.body))
                raise throttled(answer.status, error_of(answer.body)[0], wait)
            log.info("Graph answered %s for %s %s: waiting %.1fs", answer.status, method, operation, wait)
            time.sleep(wait)
            waited += wait
        raise AssertionError("unreachable")

    def _send_once(self, method: str, path: str, operation: str, *, params: Mapping[str, Any] | None, body: Any,
                   headers: Mapping[str, str] | None) -> Answer:
        token = self._access_token()
        all_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        all_headers.update(headers or {})
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        self.calls.add(operation)
        try:
            response = self._session.request(method, self.url(path), params=params, headers=all_headers,
                                             data=json.dumps(body) if body is not None else None,
                                             timeout=request_timeout(self.settings.timeout_seconds))
        except requests.exceptions.RequestException as e:
            raise unreachable(e) from None
        try:
            parsed = response.json() if response.content else None
        except ValueError:
            parsed = response.text
        return Answer(response.status_code, dict(response.headers), parsed)

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

    def batch(self, requests_: Sequence[dict[str, Any]]) -> list[Answer]:
        """JSON batching, 20 requests per POST $batch, answers in request order.

        Inner 429/503 answers with a Retry-After are sent again after the wait while the waits stay within
        `max_wait_seconds` (longer: TransientError); an inner 401 gets one fresh token for the whole batch.
        """
        answers: list[Answer | None] = [None] * len(requests_)
        for start in range(0, len(requests_), BATCH_SIZE):
            todo = list(range(start, min(start + BATCH_SIZE, len(requests_))))
            waited, refreshed = 0.0, False
            for _attempt in range(MAX_RETRIES + 1):
                payload = {"requests": [{**requests_[i], "id": str(i)} for i in todo]}
                answer = self.send("POST", "/$batch", "$batch", body=payload)
                inner = {int(r["id"]): Answer(int(r.get("status", 0)), r.get("headers") or {}, r.get("body"))
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
                if not retry or current_deadline() is not None:
                    break
                if any(inner[i].status == 401 for i in retry):
                    refreshed = True
                    self._access_token(refused=self._token)
                hints = [retry_after(inner[i].headers) for i in retry if inner[i].status != 401]
                wait = max((h if h is not None else 2.0 ** _attempt for h in hints), default=0.0)
                if waited + wait > self.settings.max_wait_seconds:
                    first = inner[retry[0]]
                    log.info("Graph answered %s in a $batch: %s", first.status, error_of(first.body))
                    raise throttled(first.status, error_of(first.body)[0] or "TooManyRequests", wait)
                if wait:
                    time.sleep(wait)
                waited += wait
                todo = retry
        return [a for a in answers if a is not None]

    def batch_get(self, paths: Sequence[str], *, headers: Mapping[str, str] | None = None) -> list[Answer]:
        return self.batch([{"method": "GET", "url": path, **({"headers": dict(headers)} if headers else {})}
                           for path in paths])


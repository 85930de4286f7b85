"""How the EWS connector reaches Exchange: TLS trust per endpoint, one count per request, the retry policy, the
service account's credentials and the exchangelib Configuration (no autodiscover, no version probe, no plain http
beyond this machine, no link-local or metadata address). An interactive test (``base.interactive``) gets its own
fail-fast protocol and timeouts cut to its deadline."""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
from collections.abc import Iterator
from typing import Any

import requests
from exchangelib import BASIC, NTLM, Build, Configuration, Credentials, FailFast, FaultTolerance, Version
from exchangelib.errors import RateLimitError, SessionPoolMinSizeReached, UnauthorizedError
from exchangelib.protocol import BaseProtocol

from sync.connectors.base import (
    EwsSettings,
    GuardedAdapter,
    NeedsAttention,
    PermanentError,
    check_destination,
    current_deadline,
    https_or_loopback,
)
from sync.connectors.exchange import current_counter

log = logging.getLogger(__name__)

# exchangelib builds its HTTP sessions itself and passes no `verify`; the only hook is the adapter class, which is
# process-wide. Ours behaves exactly like requests' HTTPAdapter except for endpoints registered below: for those it
# verifies against the configured CA bundle (or, if a connection says verify=False, not at all) – so trusting the
# sandbox's CA never weakens verification for any other host. It refuses forbidden peer addresses (GuardedAdapter) and,
# inside an interactive test, cuts each request's timeouts to the test's deadline.
_TRUST: dict[str, bool | str] = {}
_TRUST_LOCK = threading.Lock()
_OPERATION = re.compile(rb"<(?:\w+:)?Body[^>]*>\s*<(?:\w+:)?(\w+)")


class _EwsHTTPAdapter(GuardedAdapter):
    """requests' adapter plus: the endpoint's own TLS trust, an interactive test's timeouts, forbidden peer addresses
    refused, and one count per EWS request (by SOAP operation)."""

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        trust = _trust_for(request.url or "")
        if trust is not None:
            kwargs["verify"] = trust
        deadline = current_deadline()
        if deadline is not None:
            kwargs["timeout"] = deadline.timeout()
        response = super().send(request, **kwargs)
        counter = current_counter()
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


def _decrease_poolsize(self: BaseProtocol) -> None:
    """exchangelib's `decrease_poolsize` (called after a throttling or transient answer) without its deadlock.

    exchangelib 5.6.0 takes the pool's lock and then waits for a session to discard; finding none idle, `get_session`
    tries to grow the pool, which needs that same lock: the thread waits for itself forever, and every other thread of
    the protocol after it (the listener's readers and its subscribing, all at once). Here only an idle session is
    discarded; when every session is in use the pool stays as it is: the throttled call is retried or fails anyway."""
    with self._session_pool_lock:
        if self._session_pool_size <= 1:
            raise SessionPoolMinSizeReached("Session pool size cannot be decreased further")
        try:
            session = self._session_pool.get(block=False)
        except queue.Empty:
            return
        log.warning("Server %s: decreasing the session pool from %s to %s after a throttling answer", self.server,
                    self._session_pool_size, self._session_pool_size - 1)
        self.close_session(session)
        self._session_pool_size -= 1


BaseProtocol.decrease_poolsize = _decrease_poolsize


# exchangelib's own first wait before retrying a failed request that carries no back-off of the server's (a 5xx page,
# a dropped connection): its default of 10 s, doubled each time, held a worker ~10 s per attempt. Ours: 1, 2 s.
RETRY_WAIT_SECONDS = 1
_BUDGET = threading.local()


@contextlib.contextmanager
def retry_budget() -> Iterator[None]:
    """One connector call's allowance of in-process back-off: the waits of every retry inside it (exchangelib's own
    and the server's BackOffMilliseconds) add up to at most the retry policy's `max_wait`; a longer wait ends the
    call with the wait it asked for, which becomes the object's `next_due` (sync.outcome). Nested calls share the
    outer allowance."""
    outer = getattr(_BUDGET, "waited", None)
    if outer is None:
        _BUDGET.waited = 0.0
    try:
        yield
    finally:
        if outer is None:
            _BUDGET.waited = None


class _RetryPolicy(FaultTolerance):
    """exchangelib's FaultTolerance with a small allowance of in-process waiting per connector call (see
    `retry_budget`), HTTP 401 as a credential problem, and each HTTP-level failure tagged with its status
    (`http_status`) so that errors.classify names the real cause, not the back-off that followed it."""

    def raise_response_errors(self, response):  # type: ignore[no-untyped-def]
        if response.status_code == 401:
            raise UnauthorizedError(f"Invalid credentials for {response.url}")
        try:
            return super().raise_response_errors(response)
        except Exception as e:
            e.http_status = response.status_code  # type: ignore[attr-defined]
            raise

    def back_off(self, seconds):  # type: ignore[no-untyped-def]
        seconds = self.DEFAULT_BACKOFF if seconds is None else float(seconds)
        waited = getattr(_BUDGET, "waited", None) or 0.0
        if waited + seconds > self.max_wait:
            # raised inside exchangelib's handler of the failure: that failure is this error's __context__
            raise RateLimitError("Max timeout reached", wait=seconds)
        if getattr(_BUDGET, "waited", None) is not None:
            _BUDGET.waited = waited + seconds
        super().back_off(seconds)


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


def build_configuration(settings: EwsSettings, *, streams: bool = False) -> Configuration:
    """The exchangelib Configuration for a connection: explicit endpoint, auth type and version, short retries
    (none inside an interactive test, whose protocol is its own so that it never shares a sync run's back-off).

    `streams`: for GetStreamingEvents connections, which get a protocol of their own: each holds an HTTP session for
    up to 30 minutes, which must never be one the ordinary calls (subscribing) wait for, and an ordinary call's
    back-off must never hold a stream's reconnection where stopping cannot reach it."""
    try:
        version = VERSIONS[settings.version]
        auth_type = AUTH_TYPES[settings.auth_type.lower()]
    except KeyError as e:
        raise PermanentError("invalid_settings", f"unsupported Exchange setting {e.args[0]!r}") from None
    endpoint = settings.ews_url
    if not https_or_loopback(endpoint):
        # The save rule refuses such a URL; this stops a connection saved before that rule, so that the service
        # account's password (a Basic header, or an NTLM exchange one can crack) never crosses a network readable.
        raise NeedsAttention("insecure_url", "The EWS URL uses plain http to another machine: the service "
                             "account's password would cross the network readable.",
                             "Change the EWS URL to https on the Connections page (and enter the password again).",
                             own_words=True)
    check_destination(endpoint, "the EWS URL")
    with _TRUST_LOCK:
        if settings.verify is True:
            _TRUST.pop(endpoint, None)
        else:
            _TRUST[endpoint] = settings.verify
    interactive = current_deadline() is not None
    identity = (endpoint, auth_type, settings.version, settings.verify, settings.max_wait_seconds, interactive,
                streams)
    return Configuration(
        service_endpoint=endpoint,
        credentials=_ServiceCredentials(settings.username, settings.password, identity),
        auth_type=auth_type,
        version=version,
        retry_policy=FailFast() if interactive else _RetryPolicy(max_wait=settings.max_wait_seconds),
        max_connections=4,
    )

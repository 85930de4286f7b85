"""What the connectors share: connection settings as plain data, one classification of errors, where a connection
may send (https or plain http to this machine, never a link-local, metadata, unspecified or multicast address:
checked on the URL, on what its name resolves to, and on the address each connection reaches), and what an
interactive test changes (`interactive`: short timeouts within one deadline, no retry waits).

Connectors take these dataclasses (built from the Connection model by ``sync.connections``), never model objects,
and raise only the exceptions below out of their public methods, so that the orchestration decides once what a
failure means: retry later (``TransientError``), stop and tell a person (``NeedsAttention``), or record and go on
(``PermanentError``). Per-record failures inside a batch are not raised: they come back as
``sync.engine.WriteResult`` errors with the same classification.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


@dataclass(frozen=True)
class SalesforceSettings:
    """How to reach the Salesforce org and obtain tokens for a synced user (OAuth 2.0 JWT bearer flow)."""

    login_url: str  # e.g. https://login.salesforce.com or the sandbox's https://127.0.0.1:8443
    consumer_key: str  # the connected app's consumer key (the JWT's `iss`)
    private_key_pem: str  # the connected app's private key (signs the JWT, RS256)
    api_version: str = "62.0"
    verify: bool | str = True  # True (system CAs), or the path of a CA bundle (the sandbox's ca.pem)
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class EwsSettings:
    """How to reach Exchange Web Services with a service account that impersonates each mailbox."""

    ews_url: str  # e.g. https://mail.example.com/EWS/Exchange.asmx
    username: str
    password: str
    auth_type: str = "basic"  # basic | ntlm
    version: str = "Exchange2016"  # Exchange2013 | Exchange2016 | Exchange2019
    verify: bool | str = True
    timeout_seconds: float = 30.0
    max_wait_seconds: int = 5  # in-process back-off per call (errors, BackOffMilliseconds); longer: next_due


@dataclass(frozen=True)
class GraphSettings:
    """How to reach Exchange Online through Microsoft Graph with an app registration (client credentials).

    The app authenticates with a client secret or a certificate (``certificate_pem`` holds the private key and the
    certificate, PEM); it needs the application permissions Contacts.ReadWrite, Calendars.ReadWrite and
    Tasks.ReadWrite.All (To Do), and may be limited to the synced mailboxes by an application access policy.
    """

    tenant_id: str  # the directory (tenant) id or a verified domain
    client_id: str  # the app registration's application (client) id
    client_secret: str = ""
    certificate_pem: str = ""  # private key + certificate, PEM (used when set, instead of the secret)
    authority_url: str = "https://login.microsoftonline.com"  # the sandbox: its Graph emulator's URL
    graph_url: str = "https://graph.microsoft.com"  # the sandbox: its Graph emulator's URL
    verify: bool | str = True  # True (system CAs), or the path of a CA bundle (the sandbox's ca.pem)
    timeout_seconds: float = 30.0
    max_wait_seconds: int = 5  # longest Retry-After honoured in-process; longer waits become next_due


# ---- interactive tests: a person waits ----------------------------------------------------------------------------

INTERACTIVE_SECONDS = 10.0  # the longest a person waits on a connection test, every request of it included


class Deadline:
    """The time an interactive test may take, and what that means for its requests.

    A sync run keeps its settings' timeouts and retries. A test that a person waits on runs inside `interactive`:
    each request's connect and read timeouts are cut so that together they end before the deadline, and no
    connector waits on a retry back-off or a Retry-After (it answers with the failure at once).
    """

    def __init__(self, seconds: float, connect_seconds: float = 3.0):
        self.seconds = seconds
        self.ends_at = time.monotonic() + seconds
        self.connect_seconds = connect_seconds
        self._reserve = 0.0  # the connect share of the last request: what is left once its read timed out

    def left(self) -> float:
        return self.ends_at - time.monotonic()

    @property
    def expired(self) -> bool:
        """Has the time run out, or nearly (the last request waited for an answer until its read timeout)?"""
        return self.left() <= self._reserve + 0.05

    def timeout(self) -> tuple[float, float]:
        """(connect, read) for the next request, together within what is left; raises `TransientError` ("TIMEOUT")
        when nothing is left."""
        left = self.left()
        if left <= 0.05:
            raise self.timed_out()
        connect = self._reserve = min(self.connect_seconds, left * 0.3)
        return connect, left - connect

    def timed_out(self) -> TransientError:
        return TransientError("TIMEOUT", f"No answer within {self.seconds:g} seconds.", own_words=True)


_INTERACTIVE = threading.local()


@contextlib.contextmanager
def interactive(seconds: float = INTERACTIVE_SECONDS) -> Iterator[Deadline]:
    """Run the connector calls made in this thread inside the block as an interactive test of at most `seconds`."""
    previous = getattr(_INTERACTIVE, "deadline", None)
    deadline = _INTERACTIVE.deadline = Deadline(seconds)
    try:
        yield deadline
    finally:
        _INTERACTIVE.deadline = previous


def current_deadline() -> Deadline | None:
    """The deadline of the interactive test running in this thread, or None in a sync run."""
    return getattr(_INTERACTIVE, "deadline", None)


def request_timeout(timeout_seconds: float) -> float | tuple[float, float]:
    """The `timeout` for one request: a sync run's own, or the interactive test's cut to its deadline."""
    deadline = current_deadline()
    return deadline.timeout() if deadline is not None else timeout_seconds


@contextlib.contextmanager
def holding(lock: threading.Lock) -> Iterator[None]:
    """Hold `lock`; an interactive test waits for it only until its deadline (a sync run may hold it for a
    request's full timeout), then gives up with `TransientError` ("TIMEOUT")."""
    deadline = current_deadline()
    if deadline is None:
        lock.acquire()
    elif not lock.acquire(timeout=max(0.0, deadline.left())):
        raise deadline.timed_out()
    try:
        yield
    finally:
        lock.release()


# ---- where a connection may send: https (or plain http to this machine), never link-local or metadata -----------

# Cloud metadata services: they hand out credentials to whoever asks from inside the machine.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog"})
_METADATA_NETWORKS = tuple(ipaddress.ip_network(net) for net in (
    "169.254.169.254/32", "fd00:ec2::254/128", "100.100.100.200/32"))
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # "this host" addresses, 0.0.0.0 among them
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = [address.ipv4_mapped, address.sixtofour]
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [a for a in found if a is not None]


def forbidden_address(address: str) -> str | None:
    """Why no connection may send to this IP address, in words ("a link-local address"), or None when it may.

    Refused: link-local (169.254.0.0/16, fe80::/10), the cloud metadata services (169.254.169.254, fd00:ec2::254,
    100.100.100.200), unspecified ("this host", 0.0.0.0/8 and ::), multicast and broadcast addresses, also when
    written inside an IPv6 address. Private (RFC 1918) and loopback addresses are allowed: on-premises Exchange
    lives on the former, the sandbox on the latter. Not an address: None.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0].strip("[]"))
    except ValueError:
        return None
    for candidate in [ip, *(_embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else [])]:
        if any(candidate in network for network in _METADATA_NETWORKS if network.version == candidate.version):
            return "a cloud metadata address"
        if candidate.is_link_local:
            return "a link-local address"
        if candidate.is_unspecified or (candidate.version == 4 and candidate in _THIS_NETWORK):
            return "an unspecified address"
        if candidate.is_multicast:
            return "a multicast address"
        if candidate == ipaddress.IPv4Address("255.255.255.255"):
            return "a broadcast address"
    return None


def destination_problem(url: str, *, resolve: bool = True) -> str | None:
    """Why a connection may not send to `url`'s host, in words, or None when it may: the host is a metadata
    service's name, a forbidden address (`forbidden_address`), or (with `resolve`) a name that resolves to one.

    A name that does not resolve passes here (nothing can be sent to it either); the connectors check the address
    they actually reach again, when they connect (`GuardedAdapter`).
    """
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").rstrip(".").lower()
        port = parts.port
    except ValueError:
        return None  # not a URL: the URL rules say so
    if not host:
        return None
    if host in METADATA_HOSTS:
        return f"{host} is a cloud metadata service"
    reason = forbidden_address(host)
    if reason:
        return f"{host} is {reason}"
    if not resolve or _is_address(host):
        return None
    try:
        found = socket.getaddrinfo(host, port or (443 if parts.scheme.lower() == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    for *_, sockaddr in found:
        reason = forbidden_address(str(sockaddr[0]))
        if reason:
            return f"{host} resolves to {sockaddr[0]}, {reason}"
    return None


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def check_destination(url: str, what: str) -> None:
    """Raise `NeedsAttention` ("forbidden_address") when a connector may not send to `url` (`what`: "the EWS URL")."""
    problem = destination_problem(url)
    if problem:
        raise forbidden(problem, what)


def forbidden(problem: str, what: str) -> NeedsAttention:
    return NeedsAttention(
        "forbidden_address", f"Nothing was sent: {problem}.",
        f"Point {what} at the server's own name or address on the Connections page (link-local, cloud metadata, "
        "unspecified and multicast addresses are refused).", own_words=True)


class _GuardedConnection:
    """Checks the address a connection reached, once connected and before anything is sent: a name resolved
    again at request time (DNS may answer differently than when the connection was saved) may not reach a
    forbidden address."""

    host: str

    def _new_conn(self):  # type: ignore[no-untyped-def]
        sock = super()._new_conn()  # type: ignore[misc]
        try:
            peer = str(sock.getpeername()[0])
        except (OSError, IndexError, TypeError):
            return sock
        reason = forbidden_address(peer)
        if reason:
            sock.close()
            raise forbidden(f"{self.host} resolved to {peer}, {reason}", "the connection")
        return sock


class _GuardedHTTPConnection(_GuardedConnection, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnection, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose connections refuse a forbidden peer address (see `forbidden_address`): every session
    a connector sends through mounts it (`guard`)."""

    def init_poolmanager(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


def guard(session: requests.Session) -> requests.Session:
    """Mount `GuardedAdapter` on a session for http and https."""
    adapter = GuardedAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def https_or_loopback(url: str) -> bool:
    """May a secret be sent to this URL? Over https, yes; over plain http only to this machine (127.0.0.0/8, ::1,
    localhost: the sandbox's EWS emulator), where it crosses no network; anything else, no."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        return False
    if parts.scheme.lower() == "https":
        return True
    if parts.scheme.lower() != "http":
        return False
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, not an address: only "localhost" is taken to be this machine
        return False


@dataclass(frozen=True)
class ObjectOptions:
    """A data setting's options and a data set's scope, as the connectors need them for one object."""

    where: str = ""  # the compiled data set: a SOQL WHERE clause (Salesforce side)
    contacts_folder: str = "Salesforce_Sync"
    sync_private_events: bool = False
    event_category: str | None = None  # only events in this Outlook category, if set
    excluded_addresses: tuple[str, ...] = ()  # e-mail addresses and @domains never synced
    window_start: str | None = None  # events: ISO date-times bounding the data set's window
    window_end: str | None = None
    record_limit: int | None = None
    auto_relate: bool = False
    # Events: Salesforce's changes to a meeting this mailbox organizes (with attendees) are written, and Exchange
    # sends the attendees an update; when False such meetings are left alone (`meeting_not_updated`).
    update_organized_meetings: bool = False
    # Events: a recurring series is one record (written to the other end as a series) where both ends can hold it
    # as one; otherwise, and always when False, a series syncs as its occurrences inside the window. Set by
    # sync.options.object_options from the mailbox connector's `supports_series` (EWS and Graph: yes).
    series_as_series: bool = False


class ConnectorError(Exception):
    """Base of everything a connector raises. `code` is the end's own error code where it has one.

    `message` often carries the end's own text (for the log). `own_words` says whether it is ours: True for a
    sentence of this product that carries nothing an end sent, False for one that does, None when the raiser did
    not say (then ``sync.connections.describe_error`` decides by the code). What a person reads shows the end's
    code, never its text.
    """

    def __init__(self, code: str, message: str, *, own_words: bool | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.own_words = own_words


class TransientError(ConnectorError):
    """Worth retrying later: timeouts, 5xx, throttling, an expired session that could not be renewed."""

    def __init__(self, code: str, message: str, retry_after: float | None = None, *, own_words: bool | None = None):
        super().__init__(code, message, own_words=own_words)
        self.retry_after = retry_after  # seconds, from the server's hint (Retry-After, BackOffMilliseconds)


class PermanentError(ConnectorError):
    """Retrying the same request will fail the same way (validation, malformed request)."""


class NeedsAttention(ConnectorError):
    """A person must act before syncing can go on: a missing permission, folder, mailbox or credential."""

    def __init__(self, code: str, message: str, action: str = "", *, own_words: bool | None = None):
        super().__init__(code, message, own_words=own_words)
        self.action = action  # what to do, in plain words


@dataclass
class CallCounter:
    """API calls made through one connector instance, for SyncRun.api_calls and the budget."""

    calls: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)

    def add(self, operation: str, count: int = 1) -> None:
        self.calls += count
        self.by_operation[operation] = self.by_operation.get(operation, 0) + count

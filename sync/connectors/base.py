"""What the two connectors share: connection settings as plain data, and one classification of errors.

Connectors take these dataclasses (built from the Connection model by ``sync.connections``), never model objects,
and raise only the exceptions below out of their public methods, so that the orchestration decides once what a
failure means: retry later (``TransientError``), stop and tell a person (``NeedsAttention``), or record and go on
(``PermanentError``). Per-record failures inside a batch are not raised: they come back as
``sync.engine.WriteResult`` errors with the same classification.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit


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
    max_wait_seconds: int = 10  # exchangelib's FaultTolerance: short; Celery owns long retries


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
    max_wait_seconds: int = 10  # longest Retry-After honoured in-process; longer waits go back to Celery


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
    # Events: a recurring series is one record (written to the other end as a series) where both ends can hold it
    # as one; otherwise, and always when False, a series syncs as its occurrences inside the window. Set by
    # sync.options.object_options from the mailbox connector's `supports_series` (EWS yes, Graph no).
    series_as_series: bool = False


class ConnectorError(Exception):
    """Base of everything a connector raises. `code` is the end's own error code where it has one."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TransientError(ConnectorError):
    """Worth retrying later: timeouts, 5xx, throttling, an expired session that could not be renewed."""

    def __init__(self, code: str, message: str, retry_after: float | None = None):
        super().__init__(code, message)
        self.retry_after = retry_after  # seconds, from the server's hint (Retry-After, BackOffMilliseconds)


class PermanentError(ConnectorError):
    """Retrying the same request will fail the same way (validation, malformed request)."""


class NeedsAttention(ConnectorError):
    """A person must act before syncing can go on: a missing permission, folder, mailbox or credential."""

    def __init__(self, code: str, message: str, action: str = ""):
        super().__init__(code, message)
        self.action = action  # what to do, in plain words


@dataclass
class CallCounter:
    """API calls made through one connector instance, for SyncRun.api_calls and the budget."""

    calls: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)

    def add(self, operation: str, count: int = 1) -> None:
        self.calls += count
        self.by_operation[operation] = self.by_operation.get(operation, 0) + count

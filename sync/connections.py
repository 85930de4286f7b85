"""The connections to the two ends: settings for the connectors, routing mailboxes, saving and checking them."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from audit.models import AuditEntry
from configurations.models import Direction
from sync.connectors import credentials
from sync.connectors.base import (
    INTERACTIVE_SECONDS,
    Deadline,
    EwsSettings,
    GraphSettings,
    NeedsAttention,
    SalesforceSettings,
    TransientError,
    destination_problem,
    https_or_loopback,
    interactive,
)
from sync.connectors.ews import EwsMailbox
from sync.connectors.graph import GraphMailbox, forget_token_caches
from sync.connectors.graph.transport import sign_in
from sync.connectors.salesforce import TOKENS, SalesforceClient
from sync.error_words import describe_error
from sync.models import Connection
from sync.routing import Route, mailbox_route, user_routed_to
from syncadmin.crypto import SecretUnreadable
from users.models import ExchangeRoute, SyncUser

log = logging.getLogger(__name__)


def required_permissions(direction: str) -> tuple[str, ...]:
    """The Salesforce object permissions a direction needs: reading only when Salesforce is never written."""
    if direction == Direction.SALESFORCE_TO_OUTLOOK:
        return ("read",)
    return ("read", "create", "edit", "delete")


# ---- connections ------------------------------------------------------------------------------------------------


_NAMES = {Connection.Kind.SALESFORCE: "Salesforce", Connection.Kind.EXCHANGE: "Exchange (EWS)",
          Connection.Kind.GRAPH: "Microsoft Graph"}


def _connection(kind: str) -> Connection:
    connection = Connection.objects.filter(kind=kind).first()
    if connection is None:
        raise NeedsAttention(
            f"{kind}_connection_missing",
            f"No {_NAMES.get(kind, kind)} connection is configured.",
            "Enter it on the Connections page (for the sandbox: python manage.py connect_sandbox).",
            own_words=True,
        )
    return connection


def _verify(connection: Connection) -> bool | str:
    """What `requests` should verify TLS with: the system CAs, a private CA written to a file, or nothing."""
    if not connection.verify_tls:
        return False
    pem = connection.ca_certificate.strip()
    if not pem:
        return True
    folder = Path(settings.VAR_DIR) / "ca"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(pem.encode()).hexdigest()[:16]}.pem"
    if not path.exists():
        path.write_text(pem + "\n")
    return str(path)


def _secret(connection: Connection) -> str:
    try:
        secret = connection.secret
    except SecretUnreadable as exc:
        raise NeedsAttention(f"{connection.kind}_secret_unreadable", str(exc),
                             "Enter the secret again on the Connections page.", own_words=True) from exc
    if not secret:
        raise NeedsAttention(f"{connection.kind}_secret_missing", f"The {connection.kind} connection has no secret.",
                             "Enter it on the Connections page.", own_words=True)
    return secret


def salesforce_settings() -> SalesforceSettings:
    connection = _connection(Connection.Kind.SALESFORCE)
    return SalesforceSettings(
        login_url=connection.url.rstrip("/"),
        consumer_key=connection.client_id,
        private_key_pem=_secret(connection),
        api_version=connection.version or SalesforceSettings.api_version,
        verify=_verify(connection),
    )


def ews_settings() -> EwsSettings:
    connection = _connection(Connection.Kind.EXCHANGE)
    return EwsSettings(
        ews_url=connection.url,
        username=connection.username,
        password=_secret(connection),
        auth_type=connection.auth_type,
        version=connection.version or EwsSettings.version,
        verify=_verify(connection),
    )


def graph_settings() -> GraphSettings:
    connection = _connection(Connection.Kind.GRAPH)
    secret = _secret(connection)
    certificate = connection.auth_type == Connection.AuthType.CERTIFICATE
    return GraphSettings(
        tenant_id=connection.tenant_id.strip(),
        client_id=connection.client_id.strip(),
        client_secret="" if certificate else secret,
        certificate_pem=secret if certificate else "",
        authority_url=(connection.authority_url or GraphSettings.authority_url).rstrip("/"),
        graph_url=connection.url.rstrip("/"),
        verify=_verify(connection),
    )


def mailbox_class(route: Route) -> type:
    """The connector class for mailboxes on this route (EWS or Graph); its class attributes say what the end can
    do (`supports_series`)."""
    return GraphMailbox if route.protocol == ExchangeRoute.GRAPH else EwsMailbox


def open_mailbox(user: SyncUser, route: Route | None = None):
    """The connector for the user's mailbox on the connection that serves it (EWS or Graph)."""
    route = route or mailbox_route(user)
    settings_ = graph_settings() if route.protocol == ExchangeRoute.GRAPH else ews_settings()
    return mailbox_class(route)(settings_, user.email, time_zone=user.time_zone)


def salesforce_client(username: str):
    """The Salesforce connector acting as this Salesforce user (a synced user, or the integration user)."""
    return SalesforceClient(salesforce_settings(), username)


def integration_username() -> str:
    """The Salesforce connection's integration user, who lists the org's users."""
    connection = _connection(Connection.Kind.SALESFORCE)
    if not connection.username:
        raise NeedsAttention("salesforce_integration_user_missing",
                             "The Salesforce connection names no integration user to list users with.",
                             "Set the connection's username to a user pre-authorised for the connected app.",
                             own_words=True)
    return connection.username


# The settings a person may change, and what an audit entry compares; the secret is never among them (an entry
# only says that it changed).
CONNECTION_FIELDS = ("url", "username", "client_id", "tenant_id", "authority_url", "auth_type", "version",
                     "mailbox_routing", "mailbox_domains", "verify_tls", "ca_certificate")


# Where each kind's secret goes, in the forms' words: a change to any of these would send the stored secret to a
# new place (an endpoint, an account or an app someone else controls), so it must bring the secret again.
# Who receives the secret: the address and the identity it is sent for, and which server is trusted to be that
# address (a certificate check switched off, or another CA, lets another server answer in its place).
_TRUST_FIELDS = {"verify_tls": "TLS verification", "ca_certificate": "trusted CA certificate"}
ENDPOINT_FIELDS = {
    Connection.Kind.SALESFORCE: {"url": "login URL", "client_id": "consumer key", **_TRUST_FIELDS},
    Connection.Kind.EXCHANGE: {"url": "EWS URL", "username": "service account", **_TRUST_FIELDS},
    Connection.Kind.GRAPH: {"url": "Graph URL", "authority_url": "authority URL", "tenant_id": "tenant",
                            "client_id": "application (client) id", **_TRUST_FIELDS},
}
_SECRET_NAMES = {Connection.Kind.SALESFORCE: "private key", Connection.Kind.EXCHANGE: "password",
                 Connection.Kind.GRAPH: "client secret or certificate"}
_URL_FIELDS = ("url", "authority_url")


def _endpoint(connection: Connection) -> dict[str, str]:
    """Where the connection's secret goes, as compared: stripped, without a trailing "/", a blank authority as
    Graph's default (the one a blank means)."""
    values = {}
    for name in ENDPOINT_FIELDS.get(connection.kind, {}):
        value = str(getattr(connection, name) or "").strip().rstrip("/")
        if name == "authority_url" and not value:
            value = GraphSettings.authority_url
        values[name] = value
    return values


def _listed(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def new_connection(kind: str) -> Connection:
    """An unsaved connection of one kind with its defaults: the kind's first authentication, Graph's public URL."""
    connection = Connection(kind=kind)
    allowed = Connection.AUTH_TYPES.get(kind)
    if allowed:
        connection.auth_type = allowed[0]
    if kind == Connection.Kind.GRAPH:
        connection.url = GraphSettings.graph_url
    return connection


# The settings each kind has (the Connections page's fields): another kind's setting is refused, unless blank.
KIND_FIELDS = {
    Connection.Kind.SALESFORCE: ("url", "client_id", "username", "version", "verify_tls", "ca_certificate"),
    Connection.Kind.EXCHANGE: ("url", "username", "auth_type", "version", "verify_tls", "ca_certificate"),
    Connection.Kind.GRAPH: ("url", "tenant_id", "client_id", "auth_type", "authority_url", "mailbox_routing",
                            "mailbox_domains", "verify_tls", "ca_certificate"),
}
_BLANK = {"mailbox_routing": ("", Connection.MailboxRouting.ALL), "auth_type": ("", Connection.AuthType.BASIC)}
_FIELD_NAMES = {"url": "URL", "username": "user name", "client_id": "client id", "tenant_id": "tenant",
                "authority_url": "authority URL", "auth_type": "authentication", "version": "version",
                "mailbox_routing": "mailbox routing", "mailbox_domains": "mailbox domains"}
_VERSION_RULES = {Connection.Kind.SALESFORCE: credentials.salesforce_version_problem,
                  Connection.Kind.EXCHANGE: credentials.ews_version_problem}


def _foreign_fields(connection: Connection, fields: dict) -> dict[str, list[str]]:
    """Settings given for a kind that has no such setting (e.g. an authority URL for EWS), unless blank or as
    stored."""
    errors: dict[str, list[str]] = {}
    label = Connection.Kind(connection.kind).label
    for name, value in fields.items():
        if name in KIND_FIELDS[connection.kind] or name not in _FIELD_NAMES:
            continue
        if value in _BLANK.get(name, ("",)) or value is None or value == getattr(connection, name):
            continue
        errors[name] = [f"The {label} connection has no {_FIELD_NAMES[name]}: leave this field out."]
    return errors


def _url_problem(url: str) -> str | None:
    if not https_or_loopback(url):
        return ("Use an https URL: plain http is allowed only to this machine (localhost, 127.0.0.1, ::1), since "
                "it would carry the secret readable over the network.")
    problem = destination_problem(url)
    if problem:
        return (f"{problem[0].upper()}{problem[1:]}: a connection may not point at link-local, cloud metadata, "
                "unspecified or multicast addresses (private addresses such as 10.0.0.5 are fine).")
    return None


def validate_connection(connection: Connection, *, secret: str | None = None, **fields) -> None:
    """Apply a change to an unsaved `connection` and check every rule: the model's (its fields and ``clean``), then
    what each kind needs to connect at all. Raises ValidationError naming the fields; the new `secret` (None or
    blank: keep the stored one) is set only when all is well. Writes nothing: `save_connection` saves, and the
    console's and the admin's forms check their input here before they call it.

    A stored secret never follows the connection elsewhere: changing where it points (``ENDPOINT_FIELDS``) is
    refused, on `secret`, unless the secret comes again. URLs are https, or plain http to this machine only, and
    never name (or resolve to) a link-local, metadata, unspecified or multicast address. Another kind's settings,
    a Salesforce API version that is not NN.0, an EWS version we do not know, a key or certificate that does not
    parse are refused, each on its field."""
    unknown = sorted(set(fields) - set(CONNECTION_FIELDS))
    if unknown:
        raise TypeError(f"not a connection setting: {', '.join(unknown)}")
    foreign = _foreign_fields(connection, fields)
    stored_endpoint = _endpoint(connection) if connection.has_secret else None
    for name, value in fields.items():
        if name not in foreign:
            setattr(connection, name, value)
    if not connection.auth_type:  # left blank: the kind's first way to authenticate
        connection.auth_type = (Connection.AUTH_TYPES.get(connection.kind) or (Connection.AuthType.BASIC,))[0]
    errors: dict[str, list[str]] = {}
    try:
        connection.full_clean()
    except ValidationError as exc:
        errors = exc.message_dict
    for name, messages in foreign.items():
        errors.setdefault(name, []).extend(messages)
    if not secret and not connection.has_secret:
        errors.setdefault("secret", []).append("Enter the secret: there is none stored yet.")
    if not secret and stored_endpoint is not None:
        endpoint = _endpoint(connection)
        moved = [label for name, label in ENDPOINT_FIELDS[connection.kind].items()
                 if endpoint[name] != stored_endpoint[name]]
        if moved:
            errors.setdefault("secret", []).append(
                f"Changing the {_listed(moved)} needs the {_SECRET_NAMES[connection.kind]} entered again: a stored "
                "secret is never sent to a new endpoint.")
    for name in _URL_FIELDS:
        url = getattr(connection, name)
        problem = _url_problem(url) if url and name not in errors else None
        if problem:
            errors.setdefault(name, []).append(problem)
    version_rule = _VERSION_RULES.get(connection.kind)
    checks = {"version": version_rule(connection.version or "") if version_rule else None,
              "ca_certificate": credentials.ca_problem(connection.ca_certificate or "")}
    for name, problem in checks.items():
        if problem and name not in errors:
            errors[name] = [problem]
    if connection.kind == Connection.Kind.SALESFORCE and not connection.client_id.strip():
        errors.setdefault("client_id", []).append("Enter the connected app's consumer key.")
    if connection.kind == Connection.Kind.EXCHANGE and not connection.username.strip():
        errors.setdefault("username", []).append("Enter the service account's user name.")
    if secret:
        problem = None
        if connection.kind == Connection.Kind.SALESFORCE:
            problem = credentials.salesforce_key_problem(secret)
        elif connection.kind == Connection.Kind.GRAPH and connection.auth_type == Connection.AuthType.CERTIFICATE:
            problem = credentials.graph_certificate_problem(secret)
        if problem:
            errors.setdefault("secret", []).append(problem)
    if errors:
        raise ValidationError(errors)
    if secret:
        connection.set_secret(secret)


def _stored_secret(connection: Connection) -> str | None:
    try:
        return connection.secret
    except SecretUnreadable:  # encrypted with another key: whatever is entered now replaces it
        return None


@transaction.atomic
def save_connection(kind: str, *, secret: str | None = None, actor=None, **fields) -> Connection:
    """Create or change the connection of one kind: the console, the admin, the API and the sandbox all save here.

    `fields` are settings (``CONNECTION_FIELDS``); a `secret` of None or blank keeps the stored one. Raises
    ValidationError naming the fields (see `validate_connection`). Writes an audit entry with the settings that
    changed, and "changed" for a new secret, never its value; nothing when nothing changed.
    """
    stored = Connection.objects.select_for_update().filter(kind=kind).first()
    connection = stored or new_connection(kind)
    before = {name: getattr(connection, name) for name in CONNECTION_FIELDS}
    old_secret = _stored_secret(connection) if connection.has_secret else ""
    validate_connection(connection, secret=secret, **fields)
    connection.save()
    after = {name: getattr(connection, name) for name in CONNECTION_FIELDS}
    secret_changed = bool(secret) and secret != old_secret
    label = f"{Connection.Kind(kind).label} connection"
    if stored is None:
        action, summary = AuditEntry.Action.CONNECTION_CREATED, f"Created the {label}"
        changes = {"before": None, "after": after}
    else:
        old, new = audit.diff(before, after)
        changed = sorted(new) + (["secret"] if secret_changed else [])
        if not changed:
            return connection
        action, summary = AuditEntry.Action.CONNECTION_UPDATED, f"Changed {', '.join(changed)} of the {label}"
        changes = {"before": old, "after": new}
        # A test of the settings before the change says nothing about the new ones (nor is its failure still news).
        Connection.objects.filter(pk=connection.pk).update(last_test_at=None, last_test_ok=None, last_test_detail="")
        connection.last_test_at, connection.last_test_ok, connection.last_test_detail = None, None, ""
    if secret_changed:
        changes["secret"] = "changed"  # noqa: S105 - a marker that it changed, never the secret itself
    audit.record(action, actor, summary=summary, changes=changes, subject=label)
    transaction.on_commit(lambda: forget_tokens(kind))
    return connection


def forget_tokens(kind: str) -> None:
    """Drop this process's cached tokens of a connection that changed: its next use (a test, a run) signs in with
    the saved settings. Other processes never reuse a token for changed credentials either: their caches are keyed
    on the credentials."""
    if kind == Connection.Kind.SALESFORCE:
        TOKENS.clear()
    elif kind == Connection.Kind.GRAPH:
        forget_token_caches()


# ---- errors in words, connection checks ------------------------------------------------------------------------


def tls_summary(connection: Connection) -> tuple[str, bool]:
    """How the connection's traffic is protected, in words, and whether that is a concern: plain http (allowed to
    this machine only) has no TLS at all, whatever the verification setting says."""
    if connection.url.strip().lower().startswith("http://"):
        return "none: plain http (allowed to this machine only)", True
    if not connection.verify_tls:
        return "certificates not verified", True
    if connection.ca_certificate.strip():
        return "verified against a private CA", False
    return "verified against the system's CAs", False


def timed_out(deadline: Deadline) -> str:
    return (f"No answer in time (a test waits at most {deadline.seconds:g} seconds): check that the URL is right "
            "and that this server can reach it, then test again.")


def _waited_in_vain(exc: BaseException | None) -> bool:
    """Did a request time out somewhere down the chain of causes (a socket's, a TLS handshake's, the deadline)?"""
    for _ in range(12):
        if exc is None:
            return False
        if isinstance(exc, TimeoutError) or (isinstance(exc, TransientError) and exc.code == "TIMEOUT"):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def check_failure(exc: Exception, deadline: Deadline) -> str:
    """What an interactive check that failed answers: our sentence for the error, or that no answer came in time."""
    return timed_out(deadline) if deadline.expired or _waited_in_vain(exc) else describe_error(exc)


class ConnectionTestBusy(Exception):
    """The same test is already under way (in any process of this machine): the API answers 409 with the message."""


@contextlib.contextmanager
def one_test_at_a_time(name: str, busy: str) -> Iterator[None]:
    """Hold the lock of one test (e.g. ``connection-salesforce``, ``user-12``) or raise `ConnectionTestBusy(busy)`.

    A file lock in the var folder: every web process of the machine sees it, and the system releases it when the
    process holding it ends, so a crash never leaves a test locked."""
    folder = Path(settings.VAR_DIR) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    handle = os.open(folder / f"test-{name}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConnectionTestBusy(busy) from None
        yield
    finally:
        os.close(handle)  # releases the lock


def check_connection(kind: str) -> dict:
    """Does the connection work? Salesforce: a token for the integration user. Exchange (EWS): the service account
    reaches a synced user's mailbox by impersonation. Graph: the app obtains a token and reaches a mailbox routed
    to it. Answers {"ok": bool, "detail": "..."} within ``INTERACTIVE_SECONDS``, with "in_use": False when no
    active user's mailbox is routed to the Exchange connection (Graph then checks the app's sign-in only), and keeps
    the answer on the connection (`store_test_result`); raises `ConnectionTestBusy` while another test of the same
    connection is under way (nothing is kept then)."""
    label = Connection.Kind(kind).label
    busy = f"A test of the {label} connection is already under way: wait for its answer, then test again."
    with one_test_at_a_time(f"connection-{kind}", busy), interactive(INTERACTIVE_SECONDS) as deadline:
        try:
            result = _check(kind)
        except Exception as exc:  # noqa: BLE001 - any failure is the answer to "does it work?"
            result = {"ok": False, "detail": check_failure(exc, deadline)}
    store_test_result(kind, result)
    return result


def store_test_result(kind: str, result: dict) -> datetime:
    """Keep a test's answer on the connection (`Connection.last_test_*`): the Connections page shows it and a
    failed one is alerted until a test passes. A test with nothing to test with (``in_use`` False, e.g. no mailbox
    routed to EWS) is kept as neither passed nor failed. Answers when the test ended; a kind not configured has no
    row to keep it on."""
    at = timezone.now()
    worked = None if result.get("in_use") is False and not result["ok"] else bool(result["ok"])
    Connection.objects.filter(kind=kind).update(last_test_at=at, last_test_ok=worked,
                                                last_test_detail=result.get("detail", ""))
    return at


def _check(kind: str) -> dict:
    if kind == Connection.Kind.SALESFORCE:
        connection = _connection(kind)
        if not connection.username:
            return {"ok": False, "detail": "Name an integration user (the connection's username) to test with."}
        client = SalesforceClient(salesforce_settings(), connection.username)
        who = client.user_info()
        usage = client.api_usage()
        detail = f"Token obtained for {who.username}."
        if usage:
            detail += f" The org has used {usage[0]} of its {usage[1]} daily API requests."
        return {"ok": True, "detail": detail}
    if kind == Connection.Kind.GRAPH:
        settings_ = graph_settings()
        user = user_routed_to(ExchangeRoute.GRAPH)
        if user is None:
            sign_in(settings_)  # the sign-in still tells whether the app registration works
            return {"ok": True, "in_use": False,
                    "detail": "No active user's mailbox is routed to Microsoft Graph yet, so no mailbox was reached. "
                              "The app obtained a token: the connection is ready when mailboxes are routed to it."}
        check = GraphMailbox(settings_, user.email).check()
        return {"ok": True, "detail": f"The app obtained a token and reached {check['mailbox']}."}
    settings_ = ews_settings()
    user = user_routed_to(ExchangeRoute.EWS)
    if user is None:
        return {"ok": False, "in_use": False,
                "detail": "No active user's mailbox is routed to EWS, so there is no mailbox to test impersonation "
                          "with. Import users (or route one to EWS), then test again."}
    check = EwsMailbox(settings_, user.email).check()
    return {"ok": True, "detail": f"The service account reached {check['mailbox']} by impersonation."}

"""The connections to the two ends: settings for the connectors, routing mailboxes, saving and checking them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from audit import services as audit
from audit.models import AuditEntry
from configurations.models import Direction
from sync.connectors.base import (
    ConnectorError,
    EwsSettings,
    GraphSettings,
    NeedsAttention,
    SalesforceSettings,
    https_or_loopback,
)
from sync.connectors.ews import EwsMailbox
from sync.connectors.graph import GraphMailbox
from sync.connectors.salesforce import SalesforceClient
from sync.models import Connection
from sync.routing import Route, mailbox_route, user_routed_to
from syncadmin.crypto import SecretUnreadable
from users.models import ExchangeRoute, SyncUser


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
                             "Enter the secret again on the Connections page.") from exc
    if not secret:
        raise NeedsAttention(f"{connection.kind}_secret_missing", f"The {connection.kind} connection has no secret.",
                             "Enter it on the Connections page.")
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
    return mailbox_class(route)(settings_, user.email)


def salesforce_client(username: str):
    """The Salesforce connector acting as this Salesforce user (a synced user, or the integration user)."""
    return SalesforceClient(salesforce_settings(), username)


def integration_username() -> str:
    """The Salesforce connection's integration user, who lists the org's users."""
    connection = _connection(Connection.Kind.SALESFORCE)
    if not connection.username:
        raise NeedsAttention("salesforce_integration_user_missing",
                             "The Salesforce connection names no integration user to list users with.",
                             "Set the connection's username to a user pre-authorised for the connected app.")
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


def validate_connection(connection: Connection, *, secret: str | None = None, **fields) -> None:
    """Apply a change to an unsaved `connection` and check every rule: the model's (its fields and ``clean``), then
    what each kind needs to connect at all. Raises ValidationError naming the fields; the new `secret` (None or
    blank: keep the stored one) is set only when all is well. Writes nothing: `save_connection` saves, and the
    console's and the admin's forms check their input here before they call it.

    A stored secret never follows the connection elsewhere: changing where it points (``ENDPOINT_FIELDS``) is
    refused, on `secret`, unless the secret comes again. URLs are https, or plain http to this machine only."""
    unknown = sorted(set(fields) - set(CONNECTION_FIELDS))
    if unknown:
        raise TypeError(f"not a connection setting: {', '.join(unknown)}")
    stored_endpoint = _endpoint(connection) if connection.has_secret else None
    for name, value in fields.items():
        setattr(connection, name, value)
    if not connection.auth_type:  # left blank: the kind's first way to authenticate
        connection.auth_type = (Connection.AUTH_TYPES.get(connection.kind) or (Connection.AuthType.BASIC,))[0]
    errors: dict[str, list[str]] = {}
    try:
        connection.full_clean()
    except ValidationError as exc:
        errors = exc.message_dict
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
        if url and name not in errors and not https_or_loopback(url):
            errors.setdefault(name, []).append(
                "Use an https URL: plain http is allowed only to this machine (localhost, 127.0.0.1, ::1), since "
                "it would carry the secret readable over the network.")
    if connection.kind == Connection.Kind.SALESFORCE and not connection.client_id.strip():
        errors.setdefault("client_id", []).append("Enter the connected app's consumer key.")
    if connection.kind == Connection.Kind.EXCHANGE and not connection.username.strip():
        errors.setdefault("username", []).append("Enter the service account's user name.")
    certificate = connection.kind == Connection.Kind.GRAPH and connection.auth_type == Connection.AuthType.CERTIFICATE
    if certificate and secret and ("PRIVATE KEY" not in secret or "CERTIFICATE" not in secret):
        errors.setdefault("secret", []).append(
            "Paste the private key and the certificate, both PEM, one after the other.")
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
    if secret_changed:
        changes["secret"] = "changed"  # noqa: S105 - a marker that it changed, never the secret itself
    audit.record(action, actor, summary=summary, changes=changes, subject=label)
    return connection


# ---- errors in words, connection checks ------------------------------------------------------------------------


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ")")) else f"{text}."


def describe_error(exc: Exception) -> str:
    """A connector error in plain sentences: what failed, then what to do."""
    if isinstance(exc, NeedsAttention) and exc.action:
        return f"{_sentence(exc.message)} {_sentence(exc.action)}"
    if isinstance(exc, ConnectorError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def check_connection(kind: str) -> dict:
    """Does the connection work? Salesforce: a token for the integration user. Exchange (EWS): the service account
    reaches a synced user's mailbox by impersonation. Graph: the app obtains a token and reaches a mailbox routed
    to it. Answers {"ok": bool, "detail": "..."}."""
    try:
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
                return {"ok": False, "detail": "No active synced user's mailbox is routed to Graph to test with."}
            check = GraphMailbox(settings_, user.email).check()
            return {"ok": True, "detail": f"The app obtained a token and reached {check['mailbox']}."}
        settings_ = ews_settings()
        user = user_routed_to(ExchangeRoute.EWS)
        if user is None:
            return {"ok": False, "detail": "No active synced user's mailbox is routed to EWS to test "
                                           "impersonation with (import users first)."}
        check = EwsMailbox(settings_, user.email).check()
        return {"ok": True, "detail": f"The service account reached {check['mailbox']} by impersonation."}
    except Exception as exc:  # noqa: BLE001 - any failure is the answer to "does it work?"
        return {"ok": False, "detail": describe_error(exc)}

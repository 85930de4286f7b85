"""The connections to the two ends: settings for the connectors, saving them, testing them, importing users."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from configurations.models import Direction
from sync.connectors.base import ConnectorError, ExchangeSettings, NeedsAttention, SalesforceSettings
from sync.models import Connection
from syncadmin.crypto import SecretUnreadable
from users.models import SyncState, SyncUser
from users.services import effective_configuration


def required_permissions(direction: str) -> tuple[str, ...]:
    """The Salesforce object permissions a direction needs: reading only when Salesforce is never written."""
    if direction == Direction.SALESFORCE_TO_OUTLOOK:
        return ("read",)
    return ("read", "create", "edit", "delete")


# ---- connections ------------------------------------------------------------------------------------------------


def _connection(kind: str) -> Connection:
    connection = Connection.objects.filter(kind=kind).first()
    if connection is None:
        raise NeedsAttention(
            f"{kind}_connection_missing",
            f"No {kind.title()} connection is configured.",
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


def exchange_settings() -> ExchangeSettings:
    connection = _connection(Connection.Kind.EXCHANGE)
    return ExchangeSettings(
        ews_url=connection.url,
        username=connection.username,
        password=_secret(connection),
        auth_type=connection.auth_type,
        version=connection.version or ExchangeSettings.version,
        verify=_verify(connection),
    )


@transaction.atomic
def save_connection(kind: str, *, secret: str | None = None, **fields) -> Connection:
    """Create or change the connection of one kind; a `secret` of None keeps the stored one."""
    connection = Connection.objects.select_for_update().filter(kind=kind).first() or Connection(kind=kind)
    for name, value in fields.items():
        setattr(connection, name, value)
    if secret is not None:
        connection.set_secret(secret)
    connection.full_clean()
    connection.save()
    return connection


# ---- test connection, import users --------------------------------------------------------------------------------


def _describe_error(exc: Exception) -> str:
    if isinstance(exc, NeedsAttention) and exc.action:
        return f"{exc.message} {exc.action}"
    if isinstance(exc, ConnectorError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def test_connection(user: SyncUser) -> dict:
    """Salesforce: a token as the user, and the object permissions the configuration needs. Exchange: the mailbox
    is reachable by impersonation and the contacts folder is there (when contacts sync)."""
    from sync.connectors.exchange_ews import ExchangeMailbox
    from sync.connectors.salesforce import SalesforceClient

    effective = effective_configuration(user)
    directions = dict(effective.configuration.data_settings.values_list("object", "direction")) if effective else {}
    synced = {name: d for name, d in directions.items() if d != Direction.NONE}
    folder = "Salesforce_Sync"
    if effective and "contacts" in synced:
        folder = effective.configuration.data_settings.get(object="contacts").folder or folder

    result = {}
    try:
        client = SalesforceClient(salesforce_settings(), user.username)
        who = client.user_info()
        details, missing = [f"Token obtained as {who.username}."], []
        for name, direction in synced.items():
            permissions = client.permissions(name)
            lacking = [p for p in required_permissions(direction) if not getattr(permissions, p)]
            missing += [f"{p} on {name}" for p in lacking]
        if missing:
            details.append(f"Missing permissions: {', '.join(missing)}.")
        elif synced:
            details.append(f"Permissions are sufficient for {', '.join(sorted(synced))}.")
        result["salesforce"] = {"ok": not missing, "detail": " ".join(details)}
    except Exception as exc:  # noqa: BLE001 - any failure is the answer to "does it work?"
        result["salesforce"] = {"ok": False, "detail": _describe_error(exc)}

    try:
        check = ExchangeMailbox(exchange_settings(), user.email).check(folder)
        detail = f"Mailbox {check['mailbox']} reachable by impersonation."
        ok = True
        if "contacts" in synced:
            if check["contacts_folder_present"]:
                detail += f" Contacts folder {folder!r} present."
            elif user.object_states.filter(object="contacts").exclude(state=SyncState.NOT_STARTED).exists():
                ok = False
                detail += f" Contacts folder {folder!r} is missing: recreate it or reset the contacts sync."
            else:
                detail += f" Contacts folder {folder!r} will be created by the first sync."
        result["exchange"] = {"ok": ok, "detail": detail}
    except Exception as exc:  # noqa: BLE001
        result["exchange"] = {"ok": False, "detail": _describe_error(exc)}
    return result


@dataclass
class ImportResult:
    created: list[str]
    updated: list[str]
    deactivated: list[str]


@transaction.atomic
def import_users() -> ImportResult:
    """Bring in Salesforce's active users (id, username, e-mail, name, profile) as synced users.

    New users are added, known ones (by Salesforce id) updated; synced users no longer active in Salesforce are
    deactivated (never deleted: their links and history stay). Nobody is assigned a configuration here.
    """
    from sync.connectors.salesforce import SalesforceClient
    from users.services import ensure_object_states

    connection = _connection(Connection.Kind.SALESFORCE)
    if not connection.username:
        raise NeedsAttention("salesforce_integration_user_missing",
                             "The Salesforce connection names no integration user to list users with.",
                             "Set the connection's username to a user pre-authorised for the connected app.")
    remote = SalesforceClient(salesforce_settings(), connection.username).list_active_users()
    known = {u.salesforce_id: u for u in SyncUser.objects.select_for_update()}
    created, updated, new_rows = [], [], []
    for person in remote:
        values = {"username": person.username.lower(), "email": (person.email or person.username).lower(),
                  "name": person.name or "", "profile": person.profile or "", "active": True}
        existing = known.pop(person.id, None)
        if existing is None:
            new_rows.append(SyncUser(salesforce_id=person.id, **values))
            created.append(values["username"])
        elif any(getattr(existing, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(existing, key, value)
            existing.save()
            updated.append(values["username"])
    SyncUser.objects.bulk_create(new_rows)
    ensure_object_states(SyncUser.objects.filter(salesforce_id__in=[u.salesforce_id for u in new_rows]))
    gone = [u for u in known.values() if u.active]
    SyncUser.objects.filter(pk__in=[u.pk for u in gone]).update(active=False)
    return ImportResult(created, updated, [u.username for u in gone])


def check_connection(kind: str) -> dict:
    """Does the connection work? Salesforce: a token for the integration user. Exchange: the service account
    reaches a synced user's mailbox by impersonation. Answers {"ok": bool, "detail": "..."}."""
    from sync.connectors.exchange_ews import ExchangeMailbox
    from sync.connectors.salesforce import SalesforceClient

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
        settings_ = exchange_settings()
        user = SyncUser.objects.filter(active=True).order_by("pk").first()
        if user is None:
            return {"ok": False, "detail": "No synced user yet to test impersonation with: import users first."}
        check = ExchangeMailbox(settings_, user.email).check()
        return {"ok": True, "detail": f"The service account reached {check['mailbox']} by impersonation."}
    except Exception as exc:  # noqa: BLE001 - any failure is the answer to "does it work?"
        return {"ok": False, "detail": _describe_error(exc)}

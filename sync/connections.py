"""The connections to the two ends: settings for the connectors, saving them, testing them, importing users."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from configurations.models import Direction
from sync.connectors.base import (
    ConnectorError,
    ExchangeSettings,
    GraphSettings,
    NeedsAttention,
    SalesforceSettings,
)
from sync.models import Connection
from syncadmin.crypto import SecretUnreadable
from users.models import ExchangeRoute, SyncState, SyncUser
from users.services import effective_configuration


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


# ---- which Exchange connection serves a mailbox (hybrid organisations) ------------------------------------------


@dataclass(frozen=True)
class Route:
    """The Exchange protocol serving one mailbox, and why (for the console and the API)."""

    protocol: str  # ews | graph
    via: str  # user | domain | connection | default
    detail: str

    @property
    def label(self) -> str:
        return ExchangeRoute(self.protocol).label


def exchange_connections() -> dict[str, Connection]:
    """The configured Exchange connections by kind (EWS, Graph)."""
    return {c.kind: c for c in Connection.objects.filter(kind__in=Connection.EXCHANGE_KINDS)}


def mailbox_route(user: SyncUser, connections: dict[str, Connection] | None = None) -> Route:
    """Route a mailbox: the user's own override wins; then the Graph connection's routing (every mailbox, or the
    listed domains); everything else goes to EWS. `connections` (kind → Connection) spares a query per user."""
    if connections is None:
        connections = exchange_connections()
    if user.exchange_route:
        return Route(user.exchange_route, "user", "set on the user")
    graph = connections.get(Connection.Kind.GRAPH)
    ews = connections.get(Connection.Kind.EXCHANGE)
    if graph is not None:
        domain = user.email.rpartition("@")[2].lower()
        if graph.mailbox_routing == Connection.MailboxRouting.ALL:
            return Route(ExchangeRoute.GRAPH, "connection", "the Graph connection serves every mailbox")
        if graph.mailbox_routing == Connection.MailboxRouting.DOMAINS and domain in graph.domains:
            return Route(ExchangeRoute.GRAPH, "domain", f"{domain} is routed to Graph")
    if ews is None and graph is not None:
        return Route(ExchangeRoute.EWS, "default",
                     "not routed to Graph, and no EWS connection is configured for the other mailboxes")
    return Route(ExchangeRoute.EWS, "default", "mailboxes not routed to Graph use EWS")


def routed_to(protocol: str, connections: dict[str, Connection] | None = None) -> Q:
    """The users whose mailbox `mailbox_route` sends to `protocol`, as a query (for lists, filters and counts)."""
    if connections is None:
        connections = exchange_connections()
    graph = connections.get(Connection.Kind.GRAPH)
    to_graph = Q(exchange_route=ExchangeRoute.GRAPH)
    automatic = Q(exchange_route=ExchangeRoute.AUTOMATIC)
    if graph is not None and graph.mailbox_routing == Connection.MailboxRouting.ALL:
        to_graph |= automatic
    elif graph is not None and graph.mailbox_routing == Connection.MailboxRouting.DOMAINS and graph.domains:
        in_domains = Q()
        for domain in graph.domains:
            in_domains |= Q(email__iendswith=f"@{domain}")
        to_graph |= automatic & in_domains
    return to_graph if protocol == ExchangeRoute.GRAPH else ~to_graph


def open_mailbox(user: SyncUser, route: Route | None = None):
    """The connector for the user's mailbox on the connection that serves it (EWS or Graph)."""
    route = route or mailbox_route(user)
    if route.protocol == ExchangeRoute.GRAPH:
        from sync.connectors.exchange_graph import GraphMailbox

        return GraphMailbox(graph_settings(), user.email)
    from sync.connectors.exchange_ews import ExchangeMailbox

    return ExchangeMailbox(exchange_settings(), user.email)


@transaction.atomic
def save_connection(kind: str, *, secret: str | None = None, **fields) -> Connection:
    """Create or change the connection of one kind; a `secret` of None keeps the stored one."""
    connection = Connection.objects.select_for_update().filter(kind=kind).first()
    if connection is None:
        connection = Connection(kind=kind)
        allowed = Connection.AUTH_TYPES.get(kind)
        if allowed:
            connection.auth_type = allowed[0]
        if kind == Connection.Kind.GRAPH:
            connection.url = GraphSettings.graph_url
    for name, value in fields.items():
        setattr(connection, name, value)
    if secret is not None:
        connection.set_secret(secret)
    if not connection.has_secret:
        raise ValidationError({"secret": ["Enter the secret: there is none stored yet."]})
    connection.full_clean()
    connection.save()
    return connection


# ---- test connection, import users --------------------------------------------------------------------------------


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


def test_connection(user: SyncUser) -> dict:
    """Salesforce: a token as the user, and the object permissions the configuration needs. Exchange: the mailbox
    is reachable (by impersonation over EWS, or by the app over Graph, whichever serves it) and the contacts folder
    is there (when contacts sync)."""
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
        result["salesforce"] = {"ok": False, "detail": describe_error(exc)}

    route = mailbox_route(user)
    try:
        check = open_mailbox(user, route).check(folder)
        how = "by impersonation over EWS" if route.protocol == ExchangeRoute.EWS else "through Microsoft Graph"
        detail = f"Mailbox {check['mailbox']} reachable {how} ({route.detail})."
        ok = True
        if "contacts" in synced:
            if check["contacts_folder_present"]:
                detail += f" Contacts folder {folder!r} present."
            elif user.object_states.filter(object="contacts").exclude(state=SyncState.NOT_STARTED).exists():
                ok = False
                detail += f" Contacts folder {folder!r} is missing: recreate it or reset the contacts sync."
            else:
                detail += f" Contacts folder {folder!r} will be created by the first sync."
        result["exchange"] = {"ok": ok, "detail": detail, "protocol": route.protocol}
    except Exception as exc:  # noqa: BLE001
        result["exchange"] = {"ok": False, "detail": describe_error(exc), "protocol": route.protocol}
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
    """Does the connection work? Salesforce: a token for the integration user. Exchange (EWS): the service account
    reaches a synced user's mailbox by impersonation. Graph: the app obtains a token and reaches a mailbox routed
    to it. Answers {"ok": bool, "detail": "..."}."""
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
        if kind == Connection.Kind.GRAPH:
            from sync.connectors.exchange_graph import GraphMailbox

            settings_ = graph_settings()
            user = _user_routed_to(ExchangeRoute.GRAPH)
            if user is None:
                return {"ok": False, "detail": "No active synced user's mailbox is routed to Graph to test with."}
            check = GraphMailbox(settings_, user.email).check()
            return {"ok": True, "detail": f"The app obtained a token and reached {check['mailbox']}."}
        settings_ = exchange_settings()
        user = _user_routed_to(ExchangeRoute.EWS)
        if user is None:
            return {"ok": False, "detail": "No active synced user's mailbox is routed to EWS to test "
                                           "impersonation with (import users first)."}
        check = ExchangeMailbox(settings_, user.email).check()
        return {"ok": True, "detail": f"The service account reached {check['mailbox']} by impersonation."}
    except Exception as exc:  # noqa: BLE001 - any failure is the answer to "does it work?"
        return {"ok": False, "detail": describe_error(exc)}


def _user_routed_to(protocol: str) -> SyncUser | None:
    """The first active synced user whose mailbox the given protocol serves."""
    return SyncUser.objects.filter(active=True).filter(routed_to(protocol)).order_by("pk").first()


def routing_summary() -> dict:
    """How mailboxes are routed between the Exchange connections, in words and counts (the Connections page)."""
    connections = exchange_connections()
    active = SyncUser.objects.filter(active=True)
    counts = {p: active.filter(routed_to(p, connections)).count() for p in (ExchangeRoute.EWS, ExchangeRoute.GRAPH)}
    overridden = active.exclude(exchange_route=ExchangeRoute.AUTOMATIC).count()
    graph = connections.get(Connection.Kind.GRAPH)
    if graph is None:
        rule = "Every mailbox is served by the Exchange (EWS) connection."
    elif graph.mailbox_routing == Connection.MailboxRouting.ALL:
        rule = "Every mailbox is served by Microsoft Graph (Exchange Online)."
    elif graph.mailbox_routing == Connection.MailboxRouting.DOMAINS:
        rule = (f"Mailboxes in {', '.join(graph.domains)} are served by Microsoft Graph; the others by the "
                "Exchange (EWS) connection.")
    else:
        rule = ("Only users routed one by one are served by Microsoft Graph; the others by the Exchange (EWS) "
                "connection.")
    return {"rule": rule, "ews": counts["ews"], "graph": counts["graph"], "overridden": overridden,
            "hybrid": graph is not None and Connection.Kind.EXCHANGE in connections}

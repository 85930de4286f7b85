"""Which Exchange connection serves a mailbox (hybrid organisations): one user's route, the same rule as a query
for lists and counts, and the rule in words for the Connections page."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from sync.models import Connection
from users.models import ExchangeRoute, SyncUser


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


def user_routed_to(protocol: str) -> SyncUser | None:
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

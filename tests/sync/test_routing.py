"""Hybrid organisations: which Exchange connection serves each mailbox, how admins and REST clients set it, and
what happens to a mailbox that changes connection (DESIGN.md §7; issue: Exchange Online through Graph)."""

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEntry
from sync.connections import save_connection
from sync.models import Connection, RecordLink, SyncRun
from sync.routing import mailbox_route, routed_to, routing_summary
from sync.runner import _follow_mailbox
from tests.factories import make_user as _make_user
from users.models import UserObjectState
from users.services import SyncUserInvalid, set_exchange_route

pytestmark = pytest.mark.django_db

CERTIFICATE = "-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nc\n" \
              "-----END CERTIFICATE-----"


def make_user(email: str):
    return _make_user(email, email=email)


def ews() -> Connection:
    return save_connection(Connection.Kind.EXCHANGE, url="https://mail.example.com/EWS/Exchange.asmx",
                           username="svc@example.com", secret="pw")


def graph(routing: str = "all", domains: str = "") -> Connection:
    return save_connection(Connection.Kind.GRAPH, tenant_id="contoso.onmicrosoft.com", client_id="app-id",
                           secret="s3cret", mailbox_routing=routing, mailbox_domains=domains)


# ---- the rule ------------------------------------------------------------------------------------------------------


def test_without_graph_every_mailbox_uses_ews():
    ews()
    route = mailbox_route(make_user("ann@example.com"))
    assert (route.protocol, route.via) == ("ews", "default")


def test_graph_for_every_mailbox():
    ews(), graph("all")
    assert mailbox_route(make_user("ann@example.com")).protocol == "graph"


def test_graph_by_domain_and_ews_for_the_rest():
    ews(), graph("domains", "online.example.com\n@Cloud.Example.com, ")
    online, cloud, onprem = (make_user(e) for e in ("a@online.example.com", "b@cloud.example.com", "c@example.com"))
    assert [mailbox_route(u).protocol for u in (online, cloud, onprem)] == ["graph", "graph", "ews"]
    assert mailbox_route(online).via == "domain" and "online.example.com" in mailbox_route(online).detail
    # A subdomain is another domain: routing is by the exact mailbox domain.
    assert mailbox_route(make_user("d@eu.online.example.com")).protocol == "ews"


def test_a_user_override_wins_both_ways():
    ews(), graph("domains", "online.example.com")
    moved = make_user("early@example.com")
    set_exchange_route(moved, "graph")
    stays = make_user("late@online.example.com")
    set_exchange_route(stays, "ews")
    moved.refresh_from_db(), stays.refresh_from_db()
    assert (mailbox_route(moved).protocol, mailbox_route(moved).via) == ("graph", "user")
    assert mailbox_route(stays).protocol == "ews"


def test_users_only_routing():
    ews(), graph("users")
    user = make_user("a@example.com")
    assert mailbox_route(user).protocol == "ews"
    set_exchange_route(user, "graph")
    user.refresh_from_db()
    assert mailbox_route(user).protocol == "graph"


def test_graph_alone_with_a_domain_rule_says_what_is_missing():
    graph("domains", "online.example.com")
    route = mailbox_route(make_user("a@example.com"))
    assert route.protocol == "ews" and "no EWS connection" in route.detail


def test_routing_summary_counts_active_users():
    ews(), graph("domains", "online.example.com")
    make_user("a@online.example.com"), make_user("b@example.com"), make_user("c@example.com")
    overridden = make_user("d@example.com")
    set_exchange_route(overridden, "graph")
    summary = routing_summary()
    assert (summary["ews"], summary["graph"], summary["overridden"], summary["hybrid"]) == (2, 2, 1, True)
    assert "online.example.com" in summary["rule"]


# ---- validation ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"tenant_id": ""}, "tenant_id", "tenant"),
    ({"client_id": ""}, "client_id", "client) id"),
    ({"auth_type": "basic"}, "auth_type", "Client secret or Certificate"),
    ({"mailbox_routing": "domains", "mailbox_domains": ""}, "mailbox_domains", "at least one domain"),
    ({"mailbox_routing": "domains", "mailbox_domains": "example.com not_a domain"}, "mailbox_domains",
     "'not_a' is not a domain name"),
])
def test_graph_connection_errors_are_named(fields, field, message):
    values = {"tenant_id": "contoso", "client_id": "app", "secret": "s", **fields}
    with pytest.raises(ValidationError) as caught:
        save_connection(Connection.Kind.GRAPH, **values)
    assert message in " ".join(caught.value.message_dict[field])
    assert not Connection.objects.exists()


def test_ews_connection_refuses_a_graph_auth_type():
    with pytest.raises(ValidationError) as caught:
        save_connection(Connection.Kind.EXCHANGE, url="https://x.example.com/EWS/Exchange.asmx", username="svc",
                        secret="pw", auth_type="client_secret")
    assert "Basic or NTLM" in caught.value.message_dict["auth_type"][0]


def test_a_new_connection_needs_a_secret():
    with pytest.raises(ValidationError) as caught:
        save_connection(Connection.Kind.GRAPH, tenant_id="t", client_id="c")
    assert "secret" in caught.value.message_dict


def test_set_exchange_route_refuses_an_unknown_route_and_audits_changes():
    user = make_user("a@example.com")
    with pytest.raises(SyncUserInvalid) as caught:
        set_exchange_route(user, "owa")
    assert "'owa' is not one of" in caught.value.errors["exchange_route"][0]
    set_exchange_route(user, "graph")
    set_exchange_route(user, "graph")  # unchanged: no second entry
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.USER_ROUTED)
    assert entries.count() == 1 and entries.get().changes == {"before": {"exchange_route": ""},
                                                              "after": {"exchange_route": "graph"}}


# ---- a mailbox that changes connection -----------------------------------------------------------------------------


def _synced_state(user, protocol: str) -> UserObjectState:
    state, _ = UserObjectState.objects.get_or_create(user=user, object="contacts")
    state.exchange_protocol = protocol
    state.exchange_sync_state = '{"state": "ews-sync-state"}'
    state.state = "in_sync"
    state.save()
    RecordLink.objects.create(user=user, object="contacts", salesforce_id="003000000000001AAA",
                              outlook_id="AAMkAD-ews-id", state="linked")
    return state


def test_a_mailbox_moved_to_graph_forgets_its_ews_links_and_reads_everything():
    user = make_user("a@example.com")
    state = _synced_state(user, "ews")
    run = SyncRun.objects.create(user=user, object="contacts", trigger="schedule", full=False)
    _follow_mailbox(run, state, "graph")
    state.refresh_from_db(), run.refresh_from_db()
    assert run.full and state.exchange_protocol == "graph" and state.exchange_sync_state == ""
    assert not RecordLink.objects.filter(user=user).exists()


def test_a_mailbox_on_the_same_protocol_keeps_everything():
    user = make_user("a@example.com")
    state = _synced_state(user, "ews")
    run = SyncRun.objects.create(user=user, object="contacts", trigger="schedule", full=False)
    _follow_mailbox(run, state, "ews")
    run.refresh_from_db()
    assert not run.full and RecordLink.objects.filter(user=user).count() == 1


def test_links_from_before_graph_support_count_as_ews():
    user = make_user("a@example.com")
    state = _synced_state(user, "")
    run = SyncRun.objects.create(user=user, object="contacts", trigger="schedule", full=False)
    _follow_mailbox(run, state, "ews")
    state.refresh_from_db()
    assert state.exchange_protocol == "ews" and RecordLink.objects.filter(user=user).count() == 1
    _follow_mailbox(run, state, "graph")
    assert not RecordLink.objects.filter(user=user).exists()


# ---- the same rule as a query (lists, filters, counts) ---------------------------------------------------------------


@pytest.mark.parametrize("routing", ["none", "all", "domains", "users"])
def test_the_query_agrees_with_the_rule(routing):
    from users.models import SyncUser

    ews()
    if routing != "none":
        graph(routing, "online.example.com\ncloud.example.com" if routing == "domains" else "")
    emails = ["a@online.example.com", "B@Cloud.Example.com", "c@example.com", "d@eu.online.example.com",
              "e@notonline.example.com", "f@online.example.com"]
    users = [make_user(e) for e in emails]
    set_exchange_route(users[2], "graph")
    set_exchange_route(users[5], "ews")
    expected = {u.pk for u in SyncUser.objects.all() if mailbox_route(u).protocol == "graph"}
    assert set(SyncUser.objects.filter(routed_to("graph")).values_list("pk", flat=True)) == expected
    on_ews = set(SyncUser.objects.filter(routed_to("ews")).values_list("pk", flat=True))
    assert on_ews == {u.pk for u in users} - expected


def test_users_api_filters_by_exchange(admin_client_api):
    ews(), graph("domains", "online.example.com")
    make_user("a@online.example.com"), make_user("b@example.com")
    graph_users = admin_client_api.get("/api/v1/users/?exchange=graph").json()["results"]
    assert [u["email"] for u in graph_users] == ["a@online.example.com"]
    assert [u["email"] for u in admin_client_api.get("/api/v1/users/?exchange=ews").json()["results"]] == [
        "b@example.com"]
    bad = admin_client_api.get("/api/v1/users/?exchange=pop3")
    assert bad.status_code == 400 and "exchange" in bad.json()


def test_console_users_list_filters_by_exchange(client, admin_user):
    ews(), graph("domains", "online.example.com")
    make_user("a@online.example.com"), make_user("b@example.com")
    client.force_login(admin_user)
    page = client.get("/users/?exchange=graph").content.decode()
    assert "a@online.example.com" in page and "b@example.com" not in page

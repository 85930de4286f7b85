"""The console's audit trail page (/audit/): admins and support read it, API-only accounts and anonymous visitors
are refused like on every console page; newest first, paginated, filtered by who, what it is about, the action, a
synced user or a configuration; the names of the fields that changed, never a secret."""

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEntry
from audit.services import record
from configurations.services import delete_configuration, update_configuration
from sync.connections import save_connection
from sync.models import Connection
from tests.factories import make_configuration, make_user
from tests.sync.test_connections_api import private_key_pem
from users import operations
from users.services import set_exchange_route

pytestmark = pytest.mark.django_db
URL = "/audit/"


def rows(response) -> list[AuditEntry]:
    return [row["entry"] for row in response.context["rows"]]


@pytest.fixture
def admin(client, admin_user):
    client.force_login(admin_user)
    return client


def test_roles(client, admin_user, support_user, api_user, outsider):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    for user, status in ((api_user, 403), (outsider, 403), (support_user, 200), (admin_user, 200)):
        client.force_login(user)
        assert client.get(URL).status_code == status, user


def test_the_navigation_links_the_page(admin):
    assert f'href="{URL}"' in admin.get("/").content.decode()
    page = admin.get(URL).content.decode()
    assert 'aria-current="page">Audit trail</a>' in page


def test_newest_first_and_paginated(admin):
    for number in range(55):
        record(AuditEntry.Action.CONFIGURATION_UPDATED, summary=f"change {number}")
    first = admin.get(URL)
    assert [e.summary for e in rows(first)][:2] == ["change 54", "change 53"] and len(rows(first)) == 50
    assert "Page 1 of 2" in first.content.decode()
    second = admin.get(URL, {"page": 2})
    assert [e.summary for e in rows(second)] == [f"change {n}" for n in range(4, -1, -1)]


def test_filters_by_who_what_and_action(admin, admin_user):
    configuration = make_configuration("Sales")  # by the system (no actor)
    update_configuration(configuration, {"description": "new"}, actor=admin_user)
    save_connection("exchange", url="https://mail.example.com/EWS/Exchange.asmx", username="svc", secret="pw",
                    actor=admin_user)
    ann = make_user("ann@example.com", email="ann@example.com")
    set_exchange_route(ann, "graph", actor=admin_user)
    record(AuditEntry.Action.USERS_IMPORTED, summary="Imported users")

    def actions(**params):
        response = admin.get(URL, params)
        assert response.status_code == 200
        return [e.action for e in rows(response)]

    assert actions(object="connection") == ["connection.created"]
    assert actions(object="user") == ["users.imported", "user.routed"]
    assert actions(object="configuration") == ["configuration.updated", "configuration.created"]
    assert actions(action="configuration.created") == ["configuration.created"]
    assert actions(actor="ada") == ["user.routed", "connection.created", "configuration.updated"]
    assert actions(actor="system") == ["users.imported", "configuration.created"]
    assert actions(actor="nobody") == []
    assert actions(configuration=configuration.pk) == ["configuration.updated", "configuration.created"]
    assert actions(object="configuration", actor="ada") == ["configuration.updated"]
    assert actions(object="", action="", actor="") == actions()  # empty filters filter nothing


def test_a_users_entries_and_the_link_from_their_page(admin, admin_user, enqueued):
    configuration = make_configuration("Sales", data_settings={
        "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}})
    ann = make_user("ann@example.com", email="ann@example.com", configuration=configuration)
    bob = make_user("bob@example.com", email="bob@example.com", configuration=configuration)
    operations.sync_now(ann, actor=admin_user)
    operations.sync_now(bob, actor=admin_user)
    set_exchange_route(ann, "graph", actor=admin_user)
    user_page = admin.get(f"/users/{ann.pk}/").content.decode()
    assert f'href="{URL}?user={ann.pk}"' in user_page
    response = admin.get(URL, {"user": ann.pk})
    assert [e.action for e in rows(response)] == ["user.routed", "user.sync_requested"]
    assert f'href="/users/{ann.pk}/"' in response.content.decode()
    assert [e.action for e in rows(admin.get(URL, {"user": "bob@example.com"}))] == ["user.sync_requested"]


def test_bad_filters_are_named_and_show_nothing(admin):
    record(AuditEntry.Action.CONFIGURATION_UPDATED, summary="a change")
    response = admin.get(URL, {"action": "nonsense", "user": "nobody@example.com", "configuration": "abc"})
    assert response.status_code == 200 and rows(response) == []
    errors = response.context["form"].errors
    assert set(errors) == {"action", "user", "configuration"}
    page = response.content.decode()
    assert "No synced user matches &#x27;nobody@example.com&#x27;" in page
    assert "Correct the filters above to see entries." in page


def test_changed_field_names_are_shown_never_a_secret(admin, admin_user, client, admin_client_api):
    """Connection changes through the API, the console and the admin site each write an entry naming who, when and
    which fields changed; the secret is named as changed, its value never appears."""
    admin_client_api.put("/api/v1/connections/graph/", {"tenant_id": "contoso", "client_id": "app",
                                                        "secret": "graph-secret-value"}, format="json")
    admin.post("/sync/connections/", {
        "kind": "salesforce", "salesforce-kind": "salesforce", "salesforce-url": "https://login.salesforce.com",
        "salesforce-client_id": "3MVG9key", "salesforce-username": "int@example.com",
        "salesforce-secret": private_key_pem(), "salesforce-version": "", "salesforce-verify_tls": "on"})
    admin.post("/sync/connections/", {
        "kind": "salesforce", "salesforce-kind": "salesforce", "salesforce-url": "https://login.salesforce.com",
        "salesforce-client_id": "3MVG9key", "salesforce-username": "int@example.com",
        "salesforce-secret": private_key_pem(1), "salesforce-version": "63.0", "salesforce-verify_tls": "on"})
    admin.post("/admin/sync/connection/add/", {
        "kind": "exchange", "url": "https://mail.example.com/EWS/Exchange.asmx", "username": "svc",
        "secret": "ews-password-value", "auth_type": "ntlm", "mailbox_routing": "all", "verify_tls": "on"})
    exchange = Connection.objects.get(kind="exchange")
    admin.post(f"/admin/sync/connection/{exchange.pk}/change/", {
        "url": "https://mail.example.com/EWS/Exchange.asmx", "username": "svc", "secret": "", "auth_type": "basic",
        "version": "Exchange2019", "mailbox_routing": "all", "verify_tls": "on"})

    response = admin.get(URL, {"object": "connection"})
    entries = rows(response)
    assert [(e.action, e.actor_name, e.subject) for e in entries] == [
        ("connection.updated", admin_user.username, "Exchange (EWS) connection"),
        ("connection.created", admin_user.username, "Exchange (EWS) connection"),
        ("connection.updated", admin_user.username, "Salesforce org connection"),
        ("connection.created", admin_user.username, "Salesforce org connection"),
        ("connection.created", admin_user.username, "Exchange Online (Microsoft Graph) connection"),
    ]
    fields = [row["fields"] for row in response.context["rows"]]
    assert fields[0] == ["auth_type", "version"]
    assert fields[2] == ["version", "secret"]
    assert "secret" in fields[1] and "url" in fields[1] and "secret" in fields[4]
    page = response.content.decode()
    assert "<code class=\"me-1\">version</code>" in page
    for value in ("graph-secret-value", "ews-password-value", "PRIVATE KEY"):
        assert value not in page


def test_entries_outlive_what_they_describe(admin):
    configuration = make_configuration("Doomed")
    delete_configuration(configuration)
    response = admin.get(URL)
    page = response.content.decode()
    assert "Doomed <span class=\"small text-body-secondary\">(deleted)</span>" in page
    assert f'href="/configurations/{configuration.pk}/"' not in page
    by_id = admin.get(URL, {"configuration": configuration.pk})
    assert len(rows(by_id)) == 2 and "Doomed (deleted)</option>" in by_id.content.decode()


def test_the_page_costs_the_same_queries_for_5_or_50_entries(admin, django_assert_max_num_queries):
    def fill(count):
        users = [make_user() for _ in range(3)]
        configuration = make_configuration()
        for number in range(count):
            record(AuditEntry.Action.USER_SYNC_REQUESTED, configuration=configuration, summary=f"{number}",
                   subject_user=users[number % 3])

    fill(5)
    with django_assert_max_num_queries(16) as few:
        admin.get(URL)
    fill(45)
    with django_assert_max_num_queries(len(few.captured_queries)):
        admin.get(URL)


def test_an_entry_by_a_deleted_account_keeps_its_name(admin):
    gone = get_user_model().objects.create_user("gone.person")
    record(AuditEntry.Action.CONFIGURATION_UPDATED, actor=gone, summary="before leaving")
    gone.delete()
    assert "gone.person" in admin.get(URL).content.decode()

"""/api/v1/connections/: every role reads, admins and REST clients change, secrets never come back; and the
per-user mailbox route on /api/v1/users/{id}/."""

import pytest

from sync.models import Connection
from tests.factories import make_user

pytestmark = pytest.mark.django_db
URL = "/api/v1/connections/"
GRAPH = {"tenant_id": "contoso.onmicrosoft.com", "client_id": "11111111-2222-3333-4444-555555555555",
         "secret": "client-secret-material", "mailbox_routing": "domains", "mailbox_domains": "online.example.com"}


def test_anonymous_and_outsiders_are_refused(anonymous_client, outsider_client_api):
    assert anonymous_client.get(URL).status_code == 401
    assert outsider_client_api.get(URL).status_code == 403
    assert anonymous_client.put(f"{URL}graph/", GRAPH, format="json").status_code == 401
    assert outsider_client_api.post(f"{URL}graph/test/").status_code == 403


def test_list_shows_every_kind_and_the_routing(support_client_api):
    body = support_client_api.get(URL).json()
    assert [c["kind"] for c in body["results"]] == ["salesforce", "exchange", "graph"]
    assert all(c["configured"] is False for c in body["results"]) and body["count"] == 3
    assert "EWS" in body["routing"]["rule"]


def test_admin_creates_graph_and_the_secret_is_write_only(admin_client_api):
    response = admin_client_api.put(f"{URL}graph/", GRAPH, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["configured"] and body["has_secret"] and "secret" not in body
    assert body["url"] == "https://graph.microsoft.com" and body["auth_type"] == "client_secret"
    assert "client-secret-material" not in admin_client_api.get(URL).content.decode()
    connection = Connection.objects.get(kind="graph")
    assert connection.secret == "client-secret-material" and connection.domains == ["online.example.com"]
    # PATCH without a secret keeps it.
    patched = admin_client_api.patch(f"{URL}graph/", {"mailbox_routing": "all"}, format="json")
    assert patched.status_code == 200 and Connection.objects.get(kind="graph").secret == "client-secret-material"


def test_errors_name_the_field(admin_client_api):
    response = admin_client_api.put(f"{URL}graph/", {**GRAPH, "tenant_id": "", "mailbox_domains": "no_dots"},
                                    format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"tenant_id", "mailbox_domains"}
    assert admin_client_api.put(f"{URL}graph/", {**GRAPH, "mailbox_routing": "some"}, format="json").json() == {
        "mailbox_routing": ['"some" is not a valid choice.']}
    assert admin_client_api.put(f"{URL}lotus/", GRAPH, format="json").status_code == 404
    assert not Connection.objects.exists()


def test_support_reads_and_tests_but_does_not_change(support_client_api):
    assert support_client_api.put(f"{URL}graph/", GRAPH, format="json").status_code == 403
    result = support_client_api.post(f"{URL}graph/test/")
    assert result.status_code == 200
    assert result.json() == {"ok": False, "detail": "No Microsoft Graph connection is configured. Enter it on the "
                                                    "Connections page (for the sandbox: python manage.py "
                                                    "connect_sandbox)."}


def test_user_route_through_the_api(admin_client_api, support_client_api, anonymous_client):
    admin_client_api.put(f"{URL}graph/", GRAPH, format="json")
    user = make_user("ann@example.com", email="ann@example.com")
    detail = admin_client_api.get(f"/api/v1/users/{user.pk}/").json()
    assert detail["exchange_route"] == "" and detail["exchange_endpoint"]["protocol"] == "ews"

    assert anonymous_client.patch(f"/api/v1/users/{user.pk}/", {"exchange_route": "graph"}).status_code == 401
    assert support_client_api.patch(f"/api/v1/users/{user.pk}/", {"exchange_route": "graph"},
                                    format="json").status_code == 403
    bad = admin_client_api.patch(f"/api/v1/users/{user.pk}/", {"exchange_route": "owa"}, format="json")
    assert bad.status_code == 400 and "exchange_route" in bad.json()

    routed = admin_client_api.patch(f"/api/v1/users/{user.pk}/", {"exchange_route": "graph"}, format="json")
    assert routed.status_code == 200
    assert routed.json()["exchange_endpoint"] == {"protocol": "graph", "via": "user", "detail": "set on the user"}
    listed = admin_client_api.get("/api/v1/users/").json()["results"][0]
    assert listed["exchange_route"] == "graph"


def test_changes_are_audited_without_the_secret(admin_client_api, admin_user):
    admin_client_api.put(f"{URL}graph/", GRAPH, format="json")
    admin_client_api.patch(f"{URL}graph/", {"mailbox_routing": "all", "secret": "rotated-secret"}, format="json")
    admin_client_api.patch(f"{URL}graph/", {"mailbox_routing": "all"}, format="json")  # no change: no entry
    entries = admin_client_api.get("/api/v1/audit/").json()["results"]
    assert [e["action"] for e in entries] == ["connection.updated", "connection.created"]
    assert entries[0]["actor"] == admin_user.username
    assert entries[0]["changes"] == {"before": {"mailbox_routing": "domains"}, "after": {"mailbox_routing": "all"},
                                     "secret": "changed"}
    text = str(entries)
    assert "client-secret-material" not in text and "rotated-secret" not in text


def test_a_salesforce_connection_needs_its_consumer_key_here_too(admin_client_api):
    response = admin_client_api.put(f"{URL}salesforce/", {"url": "https://login.salesforce.com",
                                                          "secret": "-----BEGIN PRIVATE KEY-----"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"client_id": ["Enter the connected app's consumer key."]}

"""The Connections page: everyone with a console role sees it, admins change it, secrets never come back."""

import json

import pytest

from audit.models import AuditEntry
from sandbox.runner import start_sandbox
from sandbox.services import connect_to_sandbox
from sync.connections import check_connection, save_connection
from sync.models import Connection
from tests.conftest import PASSWORD
from tests.factories import make_user
from tests.sync.test_connections_api import certificate_pem, private_key_pem
from users import operations
from users.services import add_sync_user, set_exchange_route

pytestmark = pytest.mark.django_db
URL = "/sync/connections/"


def salesforce_form(**overrides) -> dict:
    data = {"kind": "salesforce", "salesforce-kind": "salesforce", "salesforce-url": "https://login.salesforce.com",
            "salesforce-username": "integration@example.com", "salesforce-client_id": "3MVG9key",
            "salesforce-secret": private_key_pem(),
            "salesforce-version": "62.0", "salesforce-verify_tls": "on",
            "salesforce-ca_certificate": ""}
    data.update(overrides)
    return data


def test_roles(client, admin_user, support_user, api_user, outsider):
    assert client.get(URL).status_code == 302
    for user, status in ((api_user, 403), (outsider, 403), (support_user, 200), (admin_user, 200)):
        client.force_login(user)
        assert client.get(URL).status_code == status


def test_admin_saves_and_the_secret_is_never_shown(client, admin_user):
    client.force_login(admin_user)
    response = client.post(URL, salesforce_form(), follow=True)
    assert b"Salesforce org connection saved" in response.content
    connection = Connection.objects.get(kind="salesforce")
    assert connection.secret == private_key_pem().strip() and connection.client_id == "3MVG9key"
    page = client.get(URL).content.decode()
    assert "PRIVATE KEY" not in page and "Secret stored" in page and "3MVG9key" in page

    client.post(URL, salesforce_form(**{"salesforce-secret": "", "salesforce-version": "63.0"}))
    connection.refresh_from_db()
    assert connection.version == "63.0" and connection.secret == private_key_pem().strip()  # blank kept it


def test_errors_are_named(client, admin_user):
    client.force_login(admin_user)
    response = client.post(URL, salesforce_form(**{"salesforce-secret": "", "salesforce-client_id": "",
                                                   "salesforce-url": "not a url"}))
    page = response.content.decode()
    assert response.status_code == 200 and not Connection.objects.exists()
    assert "Enter the secret: there is none stored yet." in page
    assert "Enter the connected app" in page and "Enter a valid URL." in page


def test_the_console_saves_through_the_service_and_audits_without_the_secret(client, admin_user):
    client.force_login(admin_user)
    client.post(URL, salesforce_form())
    created = AuditEntry.objects.get(action=AuditEntry.Action.CONNECTION_CREATED)
    assert created.actor == admin_user and created.subject == "Salesforce org connection"
    assert created.changes["after"]["client_id"] == "3MVG9key" and created.changes["secret"] == "changed"

    new_key = private_key_pem(1)
    client.post(URL, salesforce_form(**{"salesforce-secret": new_key, "salesforce-version": "63.0"}))
    changed = AuditEntry.objects.get(action=AuditEntry.Action.CONNECTION_UPDATED)
    assert changed.changes == {"before": {"version": "62.0"}, "after": {"version": "63.0"}, "secret": "changed"}
    assert changed.summary == "Changed version, secret of the Salesforce org connection"
    client.post(URL, salesforce_form(**{"salesforce-secret": "", "salesforce-version": "63.0"}))
    assert AuditEntry.objects.filter(action=AuditEntry.Action.CONNECTION_UPDATED).count() == 1  # nothing changed
    for entry in AuditEntry.objects.all():
        assert "PRIVATE KEY" not in str(entry.changes)


@pytest.mark.parametrize(("kind", "form", "api", "field"), [
    ("salesforce", {"salesforce-client_id": ""}, {"client_id": ""}, "client_id"),
    ("exchange", {"exchange-username": ""}, {"username": ""}, "username"),
    ("graph", {"graph-auth_type": "certificate", "graph-secret": "just a secret"},
     {"auth_type": "certificate", "secret": "just a secret"}, "secret"),
    ("graph", {"graph-tenant_id": ""}, {"tenant_id": ""}, "tenant_id"),
])
def test_console_admin_and_api_refuse_alike(client, admin_user, admin_client_api, kind, form, api, field):
    """One service checks every entry point: the same field, the same words."""
    console = {
        "salesforce": salesforce_form(),
        "exchange": {"kind": "exchange", "exchange-kind": "exchange", "exchange-url": "https://mail.example.com/EWS/",
                     "exchange-username": "svc@example.com", "exchange-secret": "pw", "exchange-auth_type": "basic",
                     "exchange-verify_tls": "on"},
        "graph": {"kind": "graph", "graph-kind": "graph", "graph-url": "https://graph.microsoft.com",
                  "graph-tenant_id": "contoso", "graph-client_id": "app", "graph-auth_type": "client_secret",
                  "graph-secret": "s3cret", "graph-mailbox_routing": "all", "graph-verify_tls": "on"},
    }[kind]
    body = {name.split("-", 1)[1]: value for name, value in console.items() if "-" in name and name != f"{kind}-kind"}
    body.pop("verify_tls")
    client.force_login(admin_user)
    page = client.post(URL, {**console, **form})
    api_errors = admin_client_api.put(f"/api/v1/connections/{kind}/", {**body, **api}, format="json").json()
    admin_page = client.post("/admin/sync/connection/add/", {"kind": kind, **body, **api, "mailbox_routing": "all"})
    assert not Connection.objects.exists()
    assert list(api_errors) == [field]
    assert page.context["cards"][["salesforce", "exchange", "graph"].index(kind)]["form"].errors[field] == \
        api_errors[field]
    assert admin_page.context_data["adminform"].form.errors[field] == api_errors[field]


def test_the_admin_saves_through_the_service(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/admin/sync/connection/add/", {
        "kind": "exchange", "url": "https://mail.example.com/EWS/Exchange.asmx", "username": "svc@example.com",
        "secret": "pw", "auth_type": "ntlm", "mailbox_routing": "all", "verify_tls": "on"})
    assert response.status_code == 302, response.context_data["adminform"].form.errors
    connection = Connection.objects.get()
    assert connection.secret == "pw" and connection.auth_type == "ntlm"
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor) == (AuditEntry.Action.CONNECTION_CREATED, admin_user)
    change = client.get(f"/admin/sync/connection/{connection.pk}/change/")
    assert change.status_code == 200 and "pw" not in change.context_data["adminform"].form.initial.values()
    response = client.post(f"/admin/sync/connection/{connection.pk}/change/", {
        "url": "https://mail.example.com/EWS/Exchange.asmx", "username": "svc@example.com", "secret": "",
        "auth_type": "ntlm", "version": "Exchange2019", "mailbox_routing": "all", "verify_tls": "on"})
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.version == "Exchange2019" and connection.secret == "pw" and connection.kind == "exchange"
    assert AuditEntry.objects.get(action=AuditEntry.Action.CONNECTION_UPDATED).changes == {
        "before": {"version": ""}, "after": {"version": "Exchange2019"}}


def test_support_may_test_but_not_change(client, support_user):
    client.force_login(support_user)
    assert client.post(URL, salesforce_form()).status_code == 403
    assert not Connection.objects.exists()
    response = client.post(URL, {"kind": "salesforce", "test": "1"})
    assert response.status_code == 200
    assert "Does not work." in response.content.decode() and "No Salesforce connection" in response.content.decode()


def test_unknown_kind_is_refused(client, admin_user):
    client.force_login(admin_user)
    assert client.post(URL, {"kind": "lotus-notes"}).status_code == 400


def test_test_button_against_the_sandbox(client, admin_user, tmp_path):
    running = start_sandbox(tmp_path / "sandbox", seed="demo")
    try:
        connect_to_sandbox(running.hub.data_dir, running.salesforce_url, running.ews_endpoint)
        add_sync_user({"salesforce_id": "005000000000009", "username": "ben.okafor@sandbox.test",
                       "email": "ben.okafor@sandbox.test"})
        client.force_login(admin_user)
        for kind, expected in (("salesforce", "Token obtained for amelia.hart@sandbox.test"),
                               ("exchange", "reached ben.okafor@sandbox.test by impersonation")):
            page = client.post(URL, {"kind": kind, "test": "1"}).content.decode()
            assert "Works." in page and expected in page, page
    finally:
        running.stop()


def test_navigation_links_the_page(client, admin_user):
    assert client.login(username=admin_user.username, password=PASSWORD)
    assert f'href="{URL}"' in client.get("/").content.decode()


def graph_form(**overrides) -> dict:
    data = {"kind": "graph", "graph-kind": "graph", "graph-url": "https://graph.microsoft.com",
            "graph-tenant_id": "contoso.onmicrosoft.com", "graph-client_id": "app-id", "graph-auth_type": "certificate",
            "graph-secret": "not a certificate", "graph-authority_url": "", "graph-mailbox_routing": "domains",
            "graph-mailbox_domains": "online.example.com", "graph-verify_tls": "on", "graph-ca_certificate": ""}
    data.update(overrides)
    return data


def test_graph_card_with_routing(client, admin_user):
    client.force_login(admin_user)
    page = client.get(URL).content.decode()
    assert "Exchange Online (Microsoft Graph)" in page and "Mailbox routing" in page
    response = client.post(URL, graph_form())
    assert "Paste the private key and the certificate" in response.content.decode()
    assert not Connection.objects.exists()
    response = client.post(URL, graph_form(**{"graph-secret": private_key_pem() + certificate_pem()}), follow=True)
    assert "Exchange Online (Microsoft Graph) connection saved" in response.content.decode()
    connection = Connection.objects.get(kind="graph")
    assert connection.auth_type == "certificate" and connection.domains == ["online.example.com"]
    make_user("a@online.example.com", email="a@online.example.com")
    make_user("b@example.com", email="b@example.com")
    page = client.get(URL).content.decode()
    assert "Mailboxes in online.example.com are served by Microsoft Graph" in page
    assert "<strong>1</strong> through EWS" in page and "<strong>1</strong> through Graph" in page
    assert "BEGIN PRIVATE KEY" not in page


def test_admin_routes_a_user_from_their_page(client, admin_user, support_user):
    user = make_user("a@example.com", email="a@example.com")
    client.force_login(support_user)
    assert client.post(f"/users/{user.pk}/route/", {"exchange_route": "graph"}).status_code == 403
    page = client.get(f"/users/{user.pk}/").content.decode()
    assert "Exchange (EWS)" in page and 'name="exchange_route"' not in page
    client.force_login(admin_user)
    response = client.post(f"/users/{user.pk}/route/", {"exchange_route": "graph"}, follow=True)
    assert "served by Exchange Online (Microsoft Graph) (set on the user)" in response.content.decode()
    user.refresh_from_db()
    assert user.exchange_route == "graph"
    response = client.post(f"/users/{user.pk}/route/", {"exchange_route": "pop3"}, follow=True)
    assert "pop3&#x27; is not one of" in response.content.decode()


def test_hybrid_test_buttons_against_the_sandbox(client, admin_user, tmp_path):
    """Both Exchange connections tested against the sandbox: each reaches a mailbox routed to it; a user's own
    connection test goes through the protocol serving their mailbox; a wrong client secret is named by its code."""
    running = start_sandbox(tmp_path / "sandbox", seed="demo")
    try:
        connect_to_sandbox(running.hub.data_dir, running.salesforce_url, running.ews_endpoint, running.graph_url)
        on_premises = add_sync_user({"salesforce_id": "005000000000009", "username": "ben.okafor@sandbox.test",
                                     "email": "ben.okafor@sandbox.test"})
        online = add_sync_user({"salesforce_id": "005000000000008", "username": "amelia.hart@sandbox.test",
                                "email": "amelia.hart@sandbox.test"})
        set_exchange_route(online, "graph")
        client.force_login(admin_user)
        for kind, expected in (("exchange", "reached ben.okafor@sandbox.test by impersonation"),
                               ("graph", "obtained a token and reached amelia.hart@sandbox.test")):
            page = client.post(URL, {"kind": kind, "test": "1"}).content.decode()
            assert "Works." in page and expected in page, page
        online.refresh_from_db()
        checks = operations.test_connection(online)["exchange"], operations.test_connection(on_premises)["exchange"]
        assert [c["protocol"] for c in checks] == ["graph", "ews"] and all(c["ok"] for c in checks), checks
        assert "through Microsoft Graph" in checks[0]["detail"]

        app = json.loads((running.hub.data_dir / "graph" / "app.json").read_text())
        assert app["client_secret"] != "wrong"
        save_connection("graph", secret="wrong")
        result = check_connection("graph")
        # Our words and the end's code; the end's own text (its AADSTS message) goes to the log, not to the page.
        assert result["ok"] is False and "(code invalid_client)" in result["detail"], result
        assert "AADSTS" not in result["detail"] and "Invalid client secret" not in result["detail"], result
        assert result["detail"].endswith("Check the app registration's client secret or certificate."), result
    finally:
        running.stop()


def ews_form(**overrides) -> dict:
    data = {"kind": "exchange", "exchange-kind": "exchange", "exchange-url": "https://mail.example.com/EWS/Exchange.asmx",
            "exchange-username": "svc@example.com", "exchange-secret": "", "exchange-auth_type": "basic",
            "exchange-version": "", "exchange-verify_tls": "on", "exchange-ca_certificate": ""}
    data.update(overrides)
    return data


def test_pointing_elsewhere_without_the_secret_is_refused_on_the_console_and_the_admin(client, admin_user):
    """A stored password is never sent to a new endpoint: the change is refused on the secret, nothing is saved."""
    stored = save_connection("exchange", url="https://mail.example.com/EWS/Exchange.asmx",
                             username="svc@example.com", secret="stored-password")
    client.force_login(admin_user)
    page = client.post(URL, ews_form(**{"exchange-url": "https://attacker.example/EWS/Exchange.asmx"}))
    errors = page.context["cards"][1]["form"].errors
    assert list(errors) == ["secret"] and "EWS URL" in errors["secret"][0]
    assert "Changing the EWS URL needs the password entered again" in page.content.decode()
    admin_page = client.post(f"/admin/sync/connection/{stored.pk}/change/", {
        "url": "https://mail.example.com/EWS/Exchange.asmx", "username": "attacker@example.com", "secret": "",
        "auth_type": "basic", "mailbox_routing": "all", "verify_tls": "on"})
    admin_errors = admin_page.context_data["adminform"].form.errors
    assert list(admin_errors) == ["secret"] and "service account" in admin_errors["secret"][0]
    connection = Connection.objects.get()
    assert (connection.url, connection.username, connection.secret) == (
        "https://mail.example.com/EWS/Exchange.asmx", "svc@example.com", "stored-password")
    assert connection.updated_at == stored.updated_at
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.CONNECTION_UPDATED).exists()

    # The same URL again (a trailing slash is no change) keeps the secret; the new URL with the password is saved.
    response = client.post(URL, ews_form(**{"exchange-url": "https://mail.example.com/EWS/Exchange.asmx/",
                                            "exchange-version": "Exchange2019"}), follow=True)
    assert "Exchange (EWS) connection saved" in response.content.decode()
    client.post(URL, ews_form(**{"exchange-url": "https://new.example.com/EWS/Exchange.asmx",
                                 "exchange-secret": "entered-again"}))
    connection.refresh_from_db()
    assert (connection.url, connection.secret) == ("https://new.example.com/EWS/Exchange.asmx", "entered-again")


def test_plain_http_beyond_this_machine_is_refused_on_the_console_and_the_admin(client, admin_user):
    client.force_login(admin_user)
    page = client.post(URL, ews_form(**{"exchange-url": "http://mail.example.com/EWS/Exchange.asmx",
                                        "exchange-secret": "pw"}))
    errors = page.context["cards"][1]["form"].errors
    assert list(errors) == ["url"] and "https" in errors["url"][0]
    admin_page = client.post("/admin/sync/connection/add/", {
        "kind": "graph", "url": "https://graph.microsoft.com", "authority_url": "http://login.example.com",
        "tenant_id": "contoso", "client_id": "app", "auth_type": "client_secret", "secret": "s3cret",
        "mailbox_routing": "all", "verify_tls": "on"})
    assert list(admin_page.context_data["adminform"].form.errors) == ["authority_url"]
    assert not Connection.objects.exists()

    response = client.post(URL, ews_form(**{"exchange-url": "http://127.0.0.1:8444/EWS/Exchange.asmx",
                                            "exchange-secret": "pw"}), follow=True)
    assert "Exchange (EWS) connection saved" in response.content.decode()


def test_a_connection_saved_over_plain_http_before_is_not_used(db):
    """A row written before the https rule: the connector refuses it before anything is sent."""
    connection = Connection(kind="exchange", url="http://mail.invalid/EWS/Exchange.asmx", username="svc",
                            auth_type="basic")
    connection.set_secret("stored-password")
    connection.save()
    add_sync_user({"salesforce_id": "005000000000009", "username": "ann@example.com", "email": "ann@example.com"})
    result = check_connection("exchange")
    assert result["ok"] is False and "https" in result["detail"], result

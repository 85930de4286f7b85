"""/api/v1/connections/: every role reads, admins and REST clients change, secrets never come back; and the
per-user mailbox route on /api/v1/users/{id}/."""

import datetime
import functools

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sync.connections import save_connection
from sync.models import Connection
from tests.factories import make_user

pytestmark = pytest.mark.django_db
URL = "/api/v1/connections/"


@functools.cache
def _key(number: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def private_key_pem(number: int = 0) -> str:
    """A real RSA private key (PEM), one per number, for connections whose secret must parse."""
    return _key(number).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()


@functools.cache
def certificate_pem(number: int = 0) -> str:
    """A self-signed certificate of key `number` (PEM)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"test {number}")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(_key(number).public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=30)).sign(_key(number), hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM).decode()
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
                                                          "secret": private_key_pem()}, format="json")
    assert response.status_code == 400
    assert response.json() == {"client_id": ["Enter the connected app's consumer key."]}


# ---- a stored secret never follows a changed endpoint; plain http only to this machine ---------------------------

STORED = {
    "salesforce": {"url": "https://login.salesforce.com", "client_id": "3MVG9key", "username": "int@example.com"},
    "exchange": {"url": "https://mail.example.com/EWS/Exchange.asmx", "username": "svc@example.com",
                 "auth_type": "basic"},
    "graph": {"url": "https://graph.microsoft.com", "tenant_id": "contoso.onmicrosoft.com", "client_id": "app-id",
              "authority_url": "", "mailbox_routing": "all"},
}
SECRETS = {"salesforce": private_key_pem(),
           "exchange": "stored-password", "graph": "stored-client-secret"}
AGAIN = {"salesforce": private_key_pem(1), "exchange": "entered-again", "graph": "entered-again"}
ELSEWHERE = [
    ("salesforce", "url", "https://login.attacker.example", "login URL"),
    ("salesforce", "client_id", "3MVG9other", "consumer key"),
    ("exchange", "url", "https://attacker.example/EWS/Exchange.asmx", "EWS URL"),
    ("exchange", "username", "someone-else@example.com", "service account"),
    ("graph", "url", "https://graph.attacker.example", "Graph URL"),
    ("graph", "authority_url", "https://login.attacker.example", "authority URL"),
    ("graph", "tenant_id", "fabrikam.onmicrosoft.com", "tenant"),
    ("graph", "client_id", "other-app-id", "application (client) id"),
]


@pytest.fixture
def stored(db):
    """Each kind saved with a secret, as an earlier admin left it."""
    for kind, fields in STORED.items():
        save_connection(kind, secret=SECRETS[kind], **fields)
    return {c.kind: c for c in Connection.objects.all()}


@pytest.mark.parametrize(("kind", "field", "value", "label"), ELSEWHERE)
def test_pointing_a_connection_elsewhere_needs_the_secret_again(admin_client_api, stored, kind, field, value, label):
    refused = admin_client_api.patch(f"{URL}{kind}/", {field: value}, format="json")
    assert refused.status_code == 400, refused.content
    errors = refused.json()
    assert list(errors) == ["secret"] and label in errors["secret"][0] and "again" in errors["secret"][0]
    connection = Connection.objects.get(kind=kind)
    assert getattr(connection, field) == STORED[kind][field] and connection.secret == SECRETS[kind]
    assert connection.updated_at == stored[kind].updated_at  # nothing half-written

    saved = admin_client_api.patch(f"{URL}{kind}/", {field: value, "secret": AGAIN[kind]}, format="json")
    assert saved.status_code == 200, saved.content
    connection.refresh_from_db()
    assert getattr(connection, field) == value and connection.secret == AGAIN[kind]


@pytest.mark.parametrize("kind", ["salesforce", "exchange", "graph"])
def test_trusting_another_server_needs_the_secret_again(admin_client_api, stored, kind):
    # With certificate checks off, any server that answers for the address would receive the secret.
    refused = admin_client_api.patch(f"{URL}{kind}/", {"verify_tls": False}, format="json")
    assert refused.status_code == 400, refused.content
    assert "TLS verification" in refused.json()["secret"][0]
    assert Connection.objects.get(kind=kind).verify_tls is True
    saved = admin_client_api.patch(f"{URL}{kind}/", {"verify_tls": False, "secret": AGAIN[kind]}, format="json")
    assert saved.status_code == 200, saved.content


def test_changing_two_endpoint_fields_names_both(admin_client_api, stored):
    refused = admin_client_api.patch(f"{URL}graph/", {"tenant_id": "fabrikam", "authority_url": "https://a.example"},
                                     format="json")
    assert refused.status_code == 400
    message = refused.json()["secret"][0]
    assert "tenant" in message and "authority URL" in message


def test_saving_the_same_endpoint_again_keeps_the_secret(admin_client_api, stored):
    same = {"salesforce": {"url": " https://login.salesforce.com/ ", "client_id": "3MVG9key"},
            "exchange": {"url": "https://mail.example.com/EWS/Exchange.asmx/", "username": "svc@example.com"},
            "graph": {"url": "https://graph.microsoft.com/", "tenant_id": "contoso.onmicrosoft.com",
                      "client_id": "app-id", "authority_url": "https://login.microsoftonline.com"}}
    for kind, fields in same.items():
        response = admin_client_api.put(f"{URL}{kind}/", {**fields, "version": ""}, format="json")
        assert response.status_code == 200, (kind, response.content)
        assert Connection.objects.get(kind=kind).secret == SECRETS[kind]
    # Settings that do not say where the secret goes change without it.
    assert admin_client_api.patch(f"{URL}exchange/", {"auth_type": "ntlm"}, format="json").status_code == 200


@pytest.mark.parametrize(("kind", "field", "url"), [
    ("exchange", "url", "http://mail.example.com/EWS/Exchange.asmx"),
    ("exchange", "url", "http://10.0.0.5/EWS/Exchange.asmx"),
    ("salesforce", "url", "http://login.salesforce.com"),
    ("graph", "url", "http://graph.example.com"),
    ("graph", "authority_url", "http://login.example.com"),
])
def test_plain_http_is_refused_beyond_this_machine(admin_client_api, stored, kind, field, url):
    response = admin_client_api.patch(f"{URL}{kind}/", {field: url, "secret": AGAIN[kind]}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field] and "https" in response.json()[field][0]
    connection = Connection.objects.get(kind=kind)
    assert getattr(connection, field) == STORED[kind][field] and connection.secret == SECRETS[kind]


def test_plain_http_is_refused_for_ntlm_too(admin_client_api):
    response = admin_client_api.put(f"{URL}exchange/", {"url": "http://mail.example.com/EWS/Exchange.asmx",
                                                        "username": "svc", "auth_type": "ntlm", "secret": "pw"},
                                    format="json")
    assert response.status_code == 400 and list(response.json()) == ["url"]
    assert not Connection.objects.exists()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8444/EWS/Exchange.asmx", "http://127.9.9.9/EWS/Exchange.asmx",
                                 "http://localhost:8444/EWS/Exchange.asmx", "http://[::1]:8444/EWS/Exchange.asmx"])
def test_plain_http_to_this_machine_is_accepted(admin_client_api, url):
    response = admin_client_api.put(f"{URL}exchange/", {"url": url, "username": "svc", "secret": "pw"},
                                    format="json")
    assert response.status_code == 200, response.content
    assert Connection.objects.get(kind="exchange").url == url

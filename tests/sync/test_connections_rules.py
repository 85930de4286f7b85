"""What a connection accepts: each kind's own settings only, a Salesforce API version NN.0 in range, an EWS version
the connector knows, a private key that parses (a key, not a certificate), certificates that parse; every refusal is
a 400 naming the field, the same on the console and the admin site, and nothing is saved."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sync.models import Connection
from tests.sync.test_connections_api import certificate_pem, private_key_pem

pytestmark = pytest.mark.django_db
URL = "/api/v1/connections/"
BASE = {
    "salesforce": {"url": "https://login.salesforce.com", "client_id": "3MVG9key", "username": "int@example.com",
                   "secret": private_key_pem()},
    "exchange": {"url": "https://mail.example.com/EWS/Exchange.asmx", "username": "svc@example.com", "secret": "pw"},
    "graph": {"tenant_id": "contoso", "client_id": "app", "secret": "s3cret"},
}


def put(client, kind, **changes):
    return client.put(f"{URL}{kind}/", {**BASE[kind], **changes}, format="json")


def refused(response, field: str) -> str:
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field], response.json()
    assert not Connection.objects.exists()
    return response.json()[field][0]


@pytest.mark.parametrize("version", ["62", "62.5", "v62.0", "30.0", "100.0", "6.0", "sixty"])
def test_a_salesforce_api_version_must_be_nn_0_in_range(admin_client_api, version):
    message = refused(put(admin_client_api, "salesforce", version=version), "version")
    assert message == ("Enter the Salesforce API version as NN.0, from 31.0 to 99.0 (e.g. 62.0), or leave it blank "
                       "for 62.0.")


@pytest.mark.parametrize("version", ["", "31.0", "63.0", "99.0"])
def test_good_salesforce_api_versions_are_saved(admin_client_api, version):
    assert put(admin_client_api, "salesforce", version=version).status_code == 200


def test_an_ews_version_must_be_one_the_connector_knows(admin_client_api):
    message = refused(put(admin_client_api, "exchange", version="Exchange2010"), "version")
    assert message == "Choose Exchange2013, Exchange2016 or Exchange2019, or leave it blank for Exchange2016."
    assert put(admin_client_api, "exchange", version="Exchange2019").status_code == 200


def _encrypted_key() -> str:
    key = serialization.load_pem_private_key(private_key_pem().encode(), password=None)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(b"passphrase")).decode()


def _ec_key() -> str:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


@pytest.mark.parametrize(("secret", "says"), [
    ("garbage", "Paste the connected app's private key in PEM"),
    ("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----", "The private key cannot be read"),
    (certificate_pem(), "This is a certificate"),
    (_encrypted_key(), "protected by a passphrase"),
    (_ec_key(), "Use an RSA private key"),
])
def test_the_salesforce_secret_must_be_an_rsa_private_key(admin_client_api, secret, says):
    assert says in refused(put(admin_client_api, "salesforce", secret=secret), "secret")


def test_a_key_followed_by_its_certificate_is_accepted_for_salesforce(admin_client_api):
    assert put(admin_client_api, "salesforce", secret=private_key_pem() + certificate_pem()).status_code == 200


@pytest.mark.parametrize(("secret", "says"), [
    ("just a secret", "Paste the private key and the certificate"),
    (private_key_pem(), "Paste the private key and the certificate"),
    (private_key_pem() + certificate_pem(1), "does not belong to the certificate"),
    (private_key_pem() + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "certificate cannot be read"),
])
def test_a_graph_certificate_must_be_a_key_and_its_certificate(admin_client_api, secret, says):
    assert says in refused(put(admin_client_api, "graph", auth_type="certificate", secret=secret), "secret")


def test_a_graph_key_and_its_certificate_are_accepted(admin_client_api):
    response = put(admin_client_api, "graph", auth_type="certificate", secret=private_key_pem() + certificate_pem())
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(("pem", "says"), [
    ("not a certificate", "The CA certificate cannot be read"),
    (private_key_pem(), "holds a private key"),
    (certificate_pem() + private_key_pem(), "holds a private key"),
])
def test_the_trusted_ca_must_be_certificates(admin_client_api, pem, says):
    assert says in refused(put(admin_client_api, "exchange", ca_certificate=pem), "ca_certificate")


def test_a_ca_bundle_is_accepted(admin_client_api):
    response = put(admin_client_api, "exchange", ca_certificate=certificate_pem() + certificate_pem(1))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(("kind", "field", "value", "says"), [
    ("exchange", "authority_url", "https://login.example.com", "The Exchange (EWS) connection has no authority URL"),
    ("exchange", "tenant_id", "contoso", "The Exchange (EWS) connection has no tenant"),
    ("exchange", "mailbox_routing", "users", "The Exchange (EWS) connection has no mailbox routing"),
    ("exchange", "client_id", "app", "The Exchange (EWS) connection has no client id"),
    ("salesforce", "auth_type", "ntlm", "The Salesforce org connection has no authentication"),
    ("salesforce", "mailbox_domains", "example.com", "The Salesforce org connection has no mailbox domains"),
    ("graph", "version", "62.0", "The Exchange Online (Microsoft Graph) connection has no version"),
    ("graph", "username", "svc@example.com", "The Exchange Online (Microsoft Graph) connection has no user name"),
])
def test_another_kinds_setting_is_refused(admin_client_api, kind, field, value, says):
    message = refused(put(admin_client_api, kind, **{field: value}), field)
    assert message.startswith(says) and message.endswith("leave this field out.")


def test_another_kinds_settings_left_blank_are_accepted(admin_client_api):
    blank = {"authority_url": "", "tenant_id": "", "mailbox_routing": "all", "mailbox_domains": "", "client_id": ""}
    assert put(admin_client_api, "exchange", **blank).status_code == 200
    assert put(admin_client_api, "salesforce", auth_type="basic", tenant_id="").status_code == 200
    assert put(admin_client_api, "graph", version="", username="").status_code == 200


def test_the_console_and_the_admin_refuse_alike(client, admin_user, admin_client_api):
    api = admin_client_api.put(f"{URL}salesforce/", {**BASE["salesforce"], "version": "62"}, format="json").json()
    client.force_login(admin_user)
    page = client.post("/sync/connections/", {
        "kind": "salesforce", "salesforce-kind": "salesforce", "salesforce-url": "https://login.salesforce.com",
        "salesforce-client_id": "3MVG9key", "salesforce-username": "int@example.com",
        "salesforce-secret": private_key_pem(), "salesforce-version": "62", "salesforce-verify_tls": "on"})
    admin_page = client.post("/admin/sync/connection/add/", {
        "kind": "exchange", "url": "https://mail.example.com/EWS/Exchange.asmx", "username": "svc", "secret": "pw",
        "auth_type": "basic", "authority_url": "https://login.example.com", "mailbox_routing": "all",
        "verify_tls": "on"})
    assert page.context["cards"][0]["form"].errors["version"] == api["version"]
    assert list(admin_page.context_data["adminform"].form.errors) == ["authority_url"]
    assert not Connection.objects.exists()

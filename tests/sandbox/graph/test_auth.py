"""The identity platform side: msal obtains tokens unchanged (client secret, certificate by SHA-1 thumbprint and by
SHA-256 x5t#S256), errors come back as AADSTS answers, and Graph refuses missing, invalid and expired tokens."""

import json
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.sandbox.graph.conftest import SCOPE, error_code


def _key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def test_app_registration_is_written_with_its_certificate(tenant, running):
    app = tenant.app
    assert set(app) >= {"tenant_id", "client_id", "client_secret", "certificate_path", "private_key_path",
                        "thumbprint"}
    assert Path(app["certificate_path"]).parent == running.hub.data_dir / "graph"
    assert "BEGIN CERTIFICATE" in Path(app["certificate_path"]).read_text()
    assert "PRIVATE KEY" in Path(app["private_key_path"]).read_text()
    assert len(app["thumbprint"]) == 40


def test_discovery_document_points_at_the_emulator(tenant):
    tid = tenant.app["tenant_id"]
    doc = tenant.http.get(f"{tenant.url}/{tid}/v2.0/.well-known/openid-configuration").json()
    assert doc["token_endpoint"] == f"{tenant.url}/{tid}/oauth2/v2.0/token"
    keys = tenant.http.get(doc["jwks_uri"]).json()["keys"]
    assert keys and keys[0]["kty"] == "RSA"
    unknown = tenant.http.get(f"{tenant.url}/not-a-tenant/v2.0/.well-known/openid-configuration")
    assert unknown.status_code == 400 and "AADSTS90002" in unknown.json()["error_description"]


def test_msal_client_secret(tenant):
    result = tenant.msal_app().acquire_token_for_client(SCOPE)
    assert result["token_type"] == "Bearer" and result["expires_in"] == 3600
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://graph.microsoft.com" and claims["tid"] == tenant.app["tenant_id"]
    assert claims["appidacr"] == "1" and "Contacts.ReadWrite" in claims["roles"]
    assert tenant.call("GET", "users", token=result["access_token"]).status_code == 200


def test_msal_certificate_sha1_thumbprint(tenant):
    credential = {"private_key": Path(tenant.app["private_key_path"]).read_text(),
                  "thumbprint": tenant.app["thumbprint"]}
    result = tenant.msal_app(credential).acquire_token_for_client(SCOPE)
    assert "access_token" in result, result
    assert jwt.decode(result["access_token"], options={"verify_signature": False})["appidacr"] == "2"
    assert tenant.call("GET", "users", token=result["access_token"]).status_code == 200


def test_msal_certificate_sha256_with_public_certificate(tenant):
    # msal ≥ 1.35 signs with PS256 and sends x5t#S256 (and x5c) when given the certificate itself.
    credential = {"private_key": Path(tenant.app["private_key_path"]).read_text(),
                  "public_certificate": Path(tenant.app["certificate_path"]).read_text()}
    result = tenant.msal_app(credential).acquire_token_for_client(SCOPE)
    assert "access_token" in result, result


def test_bad_secret_is_invalid_client(tenant):
    result = tenant.msal_app("not-the-secret").acquire_token_for_client(SCOPE)
    assert result["error"] == "invalid_client" and 7000215 in result["error_codes"]
    assert "access_token" not in result


def test_assertion_signed_with_another_key_is_refused(tenant):
    credential = {"private_key": _key_pem(), "thumbprint": tenant.app["thumbprint"]}
    result = tenant.msal_app(credential).acquire_token_for_client(SCOPE)
    assert result["error"] == "invalid_client" and 700027 in result["error_codes"]
    assert "signature" in result["error_description"]


def test_assertion_with_an_unknown_thumbprint_is_refused(tenant):
    credential = {"private_key": _key_pem(), "thumbprint": "AB" * 20}
    result = tenant.msal_app(credential).acquire_token_for_client(SCOPE)
    assert result["error"] == "invalid_client" and "key was not found" in result["error_description"]


def test_unknown_client_and_wrong_scope(tenant):
    result = tenant.msal_app(client_id="00000000-1111-2222-3333-444444444444").acquire_token_for_client(SCOPE)
    assert result["error"] == "unauthorized_client" and 700016 in result["error_codes"]
    result = tenant.msal_app().acquire_token_for_client(["https://graph.microsoft.com/Contacts.Read"])
    assert result["error"] == "invalid_scope"


def test_token_endpoint_answers_raw_requests_like_entra(tenant):
    tid = tenant.app["tenant_id"]
    response = tenant.http.post(f"{tenant.url}/{tid}/oauth2/v2.0/token", data={
        "grant_type": "password", "client_id": tenant.app["client_id"], "scope": SCOPE[0]})
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"
    response = tenant.http.post(f"{tenant.url}/{tid}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": tenant.app["client_id"], "scope": SCOPE[0]})
    assert response.status_code == 401 and response.json()["error_codes"] == [7000218]


def test_graph_refuses_missing_and_garbage_tokens(tenant, upn):
    response = tenant.http.get(f"{tenant.url}/v1.0/users/{upn}/contacts")
    assert response.status_code == 401 and error_code(response) == "InvalidAuthenticationToken"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    response = tenant.call("GET", f"users/{upn}/contacts", token="garbage")
    assert response.status_code == 401 and error_code(response) == "InvalidAuthenticationToken"
    forged = jwt.encode({"aud": "https://graph.microsoft.com", "tid": tenant.app["tenant_id"],
                         "exp": int(time.time()) + 600}, _key_pem(), algorithm="RS256")
    response = tenant.call("GET", f"users/{upn}/contacts", token=forged)
    assert response.status_code == 401


def test_expired_token_is_refused(tenant, upn):
    tenant.control("POST", "/tokens", {"lifetime_seconds": 1}, expect=200)
    try:
        short = tenant.msal_app().acquire_token_for_client(SCOPE)
    finally:
        tenant.control("POST", "/tokens", {"lifetime_seconds": 3600}, expect=200)
    assert short["expires_in"] == 1
    time.sleep(2.1)
    response = tenant.call("GET", f"users/{upn}/contacts", token=short["access_token"])
    assert response.status_code == 401 and error_code(response) == "InvalidAuthenticationToken"
    assert "expired" in response.json()["error"]["message"]


def test_control_api_expires_every_token(tenant, upn):
    token = tenant.token(fresh=True)
    assert tenant.call("GET", f"users/{upn}/contacts", token=token).status_code == 200
    tenant.control("POST", "/tokens/expire", expect=200)
    response = tenant.call("GET", f"users/{upn}/contacts", token=token)
    assert response.status_code == 401 and error_code(response) == "InvalidAuthenticationToken"
    assert tenant.call("GET", f"users/{upn}/contacts", token=tenant.token(fresh=True)).status_code == 200


def test_users_and_unknown_user(tenant, upn):
    me = tenant.call("GET", f"users/{upn}").json()
    assert me["userPrincipalName"] == upn and me["mail"] == upn
    by_id = tenant.call("GET", f"users/{me['id']}/contacts")
    assert by_id.status_code == 200
    missing = tenant.call("GET", "users/nobody@sandbox.test/contacts")
    assert missing.status_code == 404 and error_code(missing) == "ErrorInvalidUser"
    me_call = tenant.call("GET", "me/contacts")
    assert me_call.status_code == 400 and "delegated" in me_call.json()["error"]["message"]
    assert json.loads(tenant.control("GET", "/users").text)["users"]


def test_instance_discovery_endpoint(tenant):
    tid = tenant.app["tenant_id"]
    answer = tenant.http.get(f"{tenant.url}/common/discovery/instance", params={
        "api-version": "1.1", "authorization_endpoint": f"{tenant.url}/{tid}/oauth2/v2.0/authorize"}).json()
    assert answer["tenant_discovery_endpoint"] == f"{tenant.url}/{tid}/v2.0/.well-known/openid-configuration"
    assert tenant.http.get(answer["tenant_discovery_endpoint"]).status_code == 200


def test_client_secret_basic(tenant):
    tid = tenant.app["tenant_id"]
    response = tenant.http.post(f"{tenant.url}/{tid}/oauth2/v2.0/token",
                                auth=(tenant.app["client_id"], tenant.app["client_secret"]),
                                data={"grant_type": "client_credentials", "scope": SCOPE[0]})
    assert response.status_code == 200 and response.json()["access_token"]
    response = tenant.http.post(f"{tenant.url}/{tid}/oauth2/v2.0/token", auth=(tenant.app["client_id"], "wrong"),
                                data={"grant_type": "client_credentials", "scope": SCOPE[0]})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"

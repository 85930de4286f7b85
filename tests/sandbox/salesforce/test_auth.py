"""Authentication: JWT bearer and password grants, SOAP login through simple-salesforce, session expiry."""

import datetime as dt
import json
import xml.etree.ElementTree as ET

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceExpiredSession

from .conftest import DATA, JWT_GRANT, reference


def _token_call(org, **data):
    return org.session().post(f"{org.url}/services/oauth2/token", data=data)


def test_jwt_bearer_token_has_the_documented_shape(org):
    user = org.user()
    response = _token_call(org, grant_type=JWT_GRANT, assertion=org.assertion(user["username"]))
    assert response.status_code == 200
    body = response.json()
    expected = reference("docs_oauth_jwt_bearer_response.json")
    assert set(expected) <= set(body)
    assert {key: type(value) for key, value in body.items() if key in expected} == \
        {key: type(value) for key, value in expected.items()}
    assert body["instance_url"] == org.url
    assert body["token_type"] == "Bearer"
    assert body["id"].endswith("/" + user["id"])
    assert "refresh_token" not in body


def test_simple_salesforce_jwt_login_unchanged(org):
    """simple-salesforce's own JWT code: it signs with the connected app's key and posts to login.salesforce.com,
    which the test session resolves to the sandbox."""
    user = org.user()
    sf = Salesforce(username=user["username"], consumer_key=org.consumer_key,
                    privatekey_file=str(org.app_dir / "private-key.pem"), domain="login", session=org.session())
    assert sf.sf_instance == org.url.removeprefix("https://")
    found = sf.query(format_soql("SELECT Id, Username FROM User WHERE Id = {}", user["id"]))
    assert found["records"][0]["Username"] == user["username"]


@pytest.mark.parametrize("case, error, description", [
    ("bad_signature", "invalid_grant", "invalid assertion"),
    ("wrong_consumer_key", "invalid_client_id", "client identifier invalid"),
    ("expired", "invalid_grant", "expired authorization code"),
    ("unknown_user", "invalid_grant", "user hasn't approved this consumer"),
    ("wrong_audience", "invalid_grant", "audience is invalid"),
    ("garbage", "invalid_grant", "invalid assertion"),
])
def test_jwt_bearer_failures_answer_the_oauth_error_json(org, case, error, description):
    user = org.user()
    if case == "bad_signature":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        assertion = org.assertion(user["username"], key=other)
    elif case == "wrong_consumer_key":
        assertion = org.assertion(user["username"], iss="3MVG9someoneElsesApp")
    elif case == "expired":
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        assertion = org.assertion(user["username"], exp=int(past.timestamp()))
    elif case == "unknown_user":
        assertion = org.assertion("nobody@sandbox.test")
    elif case == "wrong_audience":
        assertion = org.assertion(user["username"], aud="https://evil.example.com")
    else:
        assertion = "not-a-jwt"
    response = _token_call(org, grant_type=JWT_GRANT, assertion=assertion)
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}
    shape = reference("restforce_auth_error_response.json")
    assert set(response.json()) == set(shape)
    if case == "unknown_user":
        assert response.json() == reference("simple_salesforce_oauth_token_error_invalid_grant_not_approved.json")


def test_connected_app_registered_through_the_control_api(org):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "second app")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=9))
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    org.control("POST", "/connected-apps", {"consumer_key": "3MVG9second", "certificate_pem": pem}, expect=201)
    org.control("POST", "/connected-apps", {"consumer_key": "x", "certificate_pem": "nope"}, expect=400)
    user = org.user()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    ok = _token_call(org, grant_type=JWT_GRANT, assertion=org.assertion(user["username"], iss="3MVG9second",
                                                                        key=key_pem))
    assert ok.status_code == 200, ok.text
    # The second app's key is not accepted for the first app's consumer key.
    bad = _token_call(org, grant_type=JWT_GRANT, assertion=org.assertion(user["username"], key=key_pem))
    assert bad.json()["error_description"] == "invalid assertion"


def test_password_grant(org):
    user = org.user()
    ok = _token_call(org, grant_type="password", client_id="any", username=user["username"], password="sandbox")
    assert ok.status_code == 200
    expected = reference("simple_salesforce_oauth_token_response_success.json")
    assert set(expected) <= set(ok.json())
    bad = _token_call(org, grant_type="password", client_id="any", username=user["username"], password="nope")
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_grant", "error_description": "authentication failure"}
    assert _token_call(org, grant_type="magic").json()["error"] == "unsupported_grant_type"


def test_simple_salesforce_soap_login_unchanged(org):
    user = org.user()
    captured = json.loads((DATA / "simple_salesforce_captured_requests.json").read_text())[0]
    headers = {key: value for key, value in captured["headers"].items() if key not in ("Content-Length", "Host")}
    raw = org.session().post(f"{org.url}/services/Soap/u/59.0", headers=headers,
                             data=captured["body"].replace("user@example.com", user["username"])
                             .replace("pwTOKEN", "sandbox").encode())
    assert raw.status_code == 200, raw.text
    names = {element.tag.split("}")[-1] for element in ET.fromstring(raw.content).iter()}
    recorded = {e.tag.split("}")[-1] for e in ET.fromstring(
        (DATA / "simple_salesforce_soap_login_response_success.xml").read_bytes()).iter()}
    assert {"loginResponse", "serverUrl", "sessionId", "userId", "userInfo", "organizationId",
            "sessionSecondsValid", "passwordExpired"} <= names & recorded
    sf = Salesforce(username=user["username"], password="sandbox", security_token="", domain="login",
                    session=org.session())
    assert sf.sf_instance == org.url.removeprefix("https://")
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] >= 1


def test_soap_login_fault_matches_the_recorded_fault(org):
    user = org.user()
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        Salesforce(username=user["username"], password="wrong", security_token="", domain="login",
                   session=org.session())
    assert failure.value.code == "INVALID_LOGIN"
    body = (DATA / "simple_salesforce_captured_requests.json").read_text()
    soap = json.loads(body)[0]["body"].replace("user@example.com", user["username"])
    wrong = org.session().post(f"{org.url}/services/Soap/u/59.0", data=soap.encode(),
                               headers={"content-type": "text/xml", "SOAPAction": "login"})
    recorded = ET.fromstring((DATA / "simple_salesforce_soap_login_fault_invalid_login.xml").read_bytes())
    answered = ET.fromstring(wrong.content)
    assert wrong.status_code == 500
    assert [(e.tag, (e.text or "").strip()) for e in answered.iter()] == \
        [(e.tag, (e.text or "").strip()) for e in recorded.iter()]
    raw = org.session().post(f"{org.url}/services/Soap/u/59.0", data="<not xml", headers={"SOAPAction": "login"})
    assert raw.status_code == 500 and "<faultcode>" in raw.text


def test_expired_token_answers_invalid_session_id_exactly(fresh_org):
    org = fresh_org
    user = org.user()
    org.control("POST", "/settings", {"session_lifetime_seconds": 60}, expect=200)
    try:
        sf = org.sf(user)
        assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0
        org.control("POST", "/settings", {"clock_offset_seconds": 61}, expect=200)
        raw = org.rest(sf.session_id, "GET", "/query", params={"q": "SELECT Id FROM Contact"})
        assert raw.status_code == 401
        assert raw.json() == reference("restforce_expired_session_response.json")
        with pytest.raises(SalesforceExpiredSession):
            sf.query("SELECT Id FROM Contact")
    finally:
        org.control("POST", "/settings", {"clock_offset_seconds": 0, "session_lifetime_seconds": 7200}, expect=200)


def test_identity_url_from_the_token_response(org):
    user = org.user()
    session = org.session()
    token = session.post(f"{org.url}/services/oauth2/token", data={
        "grant_type": "password", "client_id": "x", "username": user["username"], "password": "sandbox"}).json()
    identity = session.get(token["id"], headers={"Authorization": f"Bearer {token['access_token']}"})
    assert identity.status_code == 200
    assert identity.json()["user_id"] == user["id"] and identity.json()["username"] == user["username"]
    assert session.get(token["id"]).status_code == 401


def test_missing_or_bogus_token_is_invalid_session(org):
    for header in ({}, {"Authorization": "Bearer 00Dbogus!token"}, {"Authorization": "Basic abc"}):
        response = org.session().get(f"{org.url}/services/data/v59.0/limits", headers=header)
        assert response.status_code == 401
        assert response.json() == reference("restforce_expired_session_response.json")


def test_control_api_expires_sessions(org):
    user = org.user()
    token = org.token(user["username"])
    assert org.rest(token, "GET", "/limits").status_code == 200
    assert org.control("POST", "/sessions/expire", {"username": user["username"]}).json()["expired"] >= 1
    assert org.rest(token, "GET", "/limits").status_code == 401

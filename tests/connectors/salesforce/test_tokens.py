"""JWT bearer tokens: the flow, the process-wide cache, renewal after INVALID_SESSION_ID, and what a bad
connection or an unknown user turns into."""

import threading
from dataclasses import replace

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sync.connectors.base import NeedsAttention, TransientError
from sync.connectors.salesforce import (
    JWT_LIFETIME_SECONDS,
    SalesforceClient,
    TokenCache,
    build_assertion,
    jwt_audience,
    request_token,
)
from sync.engine import CreateRequest, SyncObject
from tests.connectors.salesforce.conftest import owned_by


def test_assertion_claims_are_the_bearer_flow(org, user):
    token = build_assertion(org.settings, user.username, now=1_800_000_000)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "RS256"
    assert claims == {"iss": org.settings.consumer_key, "sub": user.username, "aud": org.url,
                      "exp": 1_800_000_000 + JWT_LIFETIME_SECONDS}


@pytest.mark.parametrize(("login_url", "audience"), [
    ("https://login.salesforce.com/", "https://login.salesforce.com"),
    ("https://test.salesforce.com", "https://test.salesforce.com"),
    ("https://acme.my.salesforce.com", "https://login.salesforce.com"),
    ("https://acme--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"),
    ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
])
def test_audience_is_the_login_url_or_the_cloud_login_host(login_url, audience):
    assert jwt_audience(login_url) == audience


def test_token_is_obtained_once_and_shared_by_clients_of_the_same_user(org, user):
    cache = TokenCache()
    first = SalesforceClient(org.settings, user.username, tokens=cache)
    second = SalesforceClient(org.settings, user.username, tokens=cache)
    assert first.user_info().id == user.id
    assert second.user_info().username == user.username
    assert first.calls.by_operation.get("token") == 1
    assert "token" not in second.calls.by_operation
    other = org.user()
    assert SalesforceClient(org.settings, other.username, tokens=cache).user_info().id == other.id


def test_concurrent_clients_request_one_token(org, user):
    cache = TokenCache()
    clients = [SalesforceClient(org.settings, user.username, tokens=cache) for _ in range(6)]
    errors = []

    def work(client):
        try:
            client.user_info()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(client.calls.by_operation.get("token", 0) for client in clients) == 1


def test_session_expired_mid_run_is_renewed_once_and_the_call_retried(org, user):
    client = org.client(user)
    client.user_info()
    org.fault("/services/data", 401, "INVALID_SESSION_ID", count=1)
    assert client.user_info().id == user.id
    assert client.calls.by_operation["token"] == 2
    assert client.calls.by_operation["query"] == 3  # the first, the refused one, the retry


def test_a_session_refused_twice_is_transient(org, user):
    client = org.client(user)
    client.user_info()
    org.fault("/services/data", 401, "INVALID_SESSION_ID", count=2)
    with pytest.raises(TransientError) as failure:
        client.user_info()
    assert failure.value.code == "INVALID_SESSION_ID"
    assert client.user_info().id == user.id  # and the next run gets through


def test_a_key_that_does_not_match_the_certificate_needs_attention(org, user):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    client = org.client(user, private_key_pem=other_key)
    with pytest.raises(NeedsAttention) as failure:
        client.user_info()
    assert failure.value.code == "invalid_grant"
    assert "certificate" in failure.value.action


def test_garbage_instead_of_a_key_needs_attention(org, user):
    with pytest.raises(NeedsAttention) as failure:
        org.client(user, private_key_pem="not a key").user_info()
    assert failure.value.code == "INVALID_PRIVATE_KEY"


def test_unknown_user_needs_pre_authorisation(org):
    with pytest.raises(NeedsAttention) as failure:
        org.client("nobody@sandbox.test").user_info()
    assert failure.value.code == "invalid_grant"
    assert "Pre-authorise nobody@sandbox.test" in failure.value.action


def test_unknown_consumer_key_needs_attention(org, user):
    with pytest.raises(NeedsAttention) as failure:
        org.client(user, consumer_key="3MVGnot-registered").user_info()
    assert failure.value.code == "invalid_client_id"
    assert "consumer key" in failure.value.action


def test_token_endpoint_unavailable_is_transient(org, user):
    org.fault("/services/oauth2/token", 503, "SERVER_UNAVAILABLE", count=1)
    with pytest.raises(TransientError) as failure:
        org.client(user).user_info()
    assert failure.value.code == "SERVER_UNAVAILABLE"


def test_untrusted_certificate_needs_attention_not_retries(org, user):
    with pytest.raises(NeedsAttention) as failure:
        SalesforceClient(replace(org.settings, verify=True), user.username, tokens=TokenCache()).user_info()
    assert failure.value.code == "TLS_ERROR"


def test_unreachable_org_is_transient(org, user):
    with pytest.raises(TransientError) as failure:
        org.client(user, login_url="https://127.0.0.1:9").user_info()
    assert failure.value.code == "CONNECTION_ERROR"


def test_session_expired_during_a_write_is_renewed_and_nothing_is_written_twice(org, user):
    client = org.client(user)
    side = client.side(SyncObject.CONTACTS, owned_by(user))
    side.changes(None)
    org.fault("/services/data/*/composite", 401, "INVALID_SESSION_ID", count=1)
    results = side.create([CreateRequest({"last_name": f"Once {i}"}) for i in range(3)])
    assert all(r.ok and r.version for r in results)
    assert client.calls.by_operation["token"] == 2
    assert client.calls.by_operation["POST composite/sobjects"] == 2
    assert len(side.changes(None).records) == 3


def test_plain_http_beyond_this_machine_is_refused_before_any_request(org, user):
    """The last line of defence for a connection saved before the https rule: no signed assertion goes out."""
    insecure = replace(org.settings, login_url="http://login.example.com")
    with pytest.raises(NeedsAttention) as caught:
        request_token(insecure, user.username, org.http())
    assert caught.value.code == "insecure_url" and "https" in caught.value.action

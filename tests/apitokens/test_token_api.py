"""API tokens at the API's door: `Authorization: Token <key>` authenticates while the token is active; expired,
revoked and unknown tokens get 401 with a sentence; an address that keeps sending invalid tokens gets 429."""

from datetime import timedelta

import pytest
from django.conf import settings as project_settings
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apitokens.auth import TokenFailures
from apitokens.models import ApiToken
from apitokens.services import issue_token, revoke_token
from tests.factories import make_token

pytestmark = pytest.mark.django_db
ME = "/api/v1/me/"


def with_token(key: str, address: str = "127.0.0.1", **headers) -> APIClient:
    client = APIClient(REMOTE_ADDR=address, **headers)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_an_active_token_authenticates_with_the_accounts_role(api_user):
    response = with_token(issue_token(api_user, "job").key).get(ME)
    assert response.status_code == 200 and response.json() == {"username": api_user.username, "role": "api"}


@pytest.mark.parametrize("state", ["expired", "revoked", "unknown", "malformed"])
def test_invalid_tokens_get_401_with_a_sentence(api_user, state):
    issued = issue_token(api_user, "job")
    key = issued.key
    if state == "expired":
        ApiToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "revoked":
        revoke_token(issued.token)
    elif state == "unknown":
        key = "sync_" + "A" * 43
    else:
        key = f"{key} extra"
    response = with_token(key).get(ME)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    detail = response.json()["detail"]
    assert detail.endswith(".") and detail[0].isupper()


def test_the_failure_limits_default_to_20_in_5_minutes():
    assert project_settings.API_TOKEN_FAILURES_LIMIT == 20
    assert project_settings.API_TOKEN_FAILURES_WINDOW_SECONDS == 300


@pytest.fixture
def limit(settings):
    settings.API_TOKEN_FAILURES_LIMIT = 3
    settings.API_TOKEN_FAILURES_WINDOW_SECONDS = 60
    return 3


def test_too_many_invalid_tokens_get_429_with_retry_after_even_with_a_valid_token(api_user, limit):
    bad, good = with_token("sync_wrong"), with_token(make_token(api_user))
    for _ in range(limit):
        assert bad.get(ME).status_code == 401
    for client in (bad, good):
        response = client.get(ME)
        assert response.status_code == 429
        assert 1 <= int(response["Retry-After"]) <= 60
        assert response.json()["detail"].startswith("Too many requests from your address carried an invalid API")
        assert "Try again in" in response.json()["detail"]


def test_other_addresses_are_not_blocked(api_user, limit):
    for _ in range(limit):
        with_token("sync_wrong").get(ME)
    assert with_token(make_token(api_user), address="10.0.0.2").get(ME).status_code == 200


def test_valid_tokens_do_not_count(api_user, limit):
    good = with_token(make_token(api_user))
    for _ in range(limit * 3):
        assert good.get(ME).status_code == 200


def test_a_forged_forwarded_for_header_does_not_escape_the_count(api_user, limit):
    for n in range(limit):
        with_token("sync_wrong", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").get(ME)
    forged = with_token(make_token(api_user), HTTP_X_FORWARDED_FOR="198.51.100.77")
    assert forged.get(ME).status_code == 429


def test_behind_a_proxy_the_address_the_proxy_saw_counts(api_user, limit, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"address": "10.0.0.2"}
    for _ in range(limit):
        with_token("sync_wrong", HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.9", **proxy).get(ME)
    key = make_token(api_user)
    blocked = with_token(key, HTTP_X_FORWARDED_FOR="192.0.2.55, 203.0.113.9", **proxy).get(ME)
    assert blocked.status_code == 429  # the client's own (leftmost) entries are not trusted
    assert with_token(key, HTTP_X_FORWARDED_FOR="10.0.0.3", **proxy).get(ME).status_code == 200


def test_the_block_lifts_when_the_window_has_passed(api_user, limit, monkeypatch):
    clock = [1_000_000.0]
    monkeypatch.setattr(TokenFailures, "timer", lambda self: clock[0])
    for _ in range(limit):
        with_token("sync_wrong").get(ME)
        clock[0] += 10
    good = with_token(make_token(api_user))
    response = good.get(ME)
    # Failures at 0 s, 10 s and 20 s, now 30 s: the first leaves the 60 s window at 60 s.
    assert response.status_code == 429 and response["Retry-After"] == "30"
    clock[0] += 30
    assert good.get(ME).status_code == 200
    assert with_token("sync_wrong").get(ME).status_code == 401  # one failure back in the window: under the limit


def test_requests_without_a_token_are_not_throttled(admin_user, limit, client):
    for _ in range(limit):
        with_token("sync_wrong").get(ME)
    client.force_login(admin_user)
    assert client.get(ME).status_code == 200  # session authentication
    assert APIClient().get(ME).status_code == 401  # no credentials: the usual challenge


def test_the_openapi_schema_describes_token_authentication():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert scheme == {"type": "apiKey", "in": "header", "name": "Authorization",
                      "description": 'Token-based authentication with required prefix "Token"'}

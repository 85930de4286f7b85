"""The Salesforce token cache follows the credentials: a token is kept per login URL, consumer key, user and key
fingerprint, and saving a connection forgets this process's tokens, so a test with a changed key signs in with it."""

from dataclasses import replace

import pytest

from sandbox.runner import start_sandbox
from sandbox.services import connect_to_sandbox
from sync.connections import check_connection, save_connection
from sync.connectors.base import SalesforceSettings
from sync.connectors.salesforce import TOKENS
from sync.connectors.salesforce.auth import token_key
from sync.models import Connection
from tests.sync.test_connections_api import private_key_pem

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    sandbox = start_sandbox(tmp_path_factory.mktemp("tokens-sandbox"), seed="demo")
    yield sandbox
    sandbox.stop()


@pytest.fixture
def connected(running):
    TOKENS.clear()
    connect_to_sandbox(running.hub.data_dir, running.salesforce_url, running.ews_endpoint)
    result = check_connection("salesforce")
    assert result["ok"], result
    assert TOKENS._tokens  # the integration user's token is cached
    yield
    TOKENS.clear()


def test_the_key_is_part_of_the_tokens_key():
    settings = SalesforceSettings(login_url="https://login.salesforce.com/", consumer_key="3MVG9",
                                  private_key_pem=private_key_pem())
    same = replace(settings, login_url="https://LOGIN.salesforce.com")
    other_key = replace(settings, private_key_pem=private_key_pem(1))
    assert token_key(settings, "Ann@example.com") == token_key(same, "ann@example.com")
    assert token_key(settings, "ann@example.com") != token_key(other_key, "ann@example.com")
    assert private_key_pem() not in str(token_key(settings, "ann@example.com"))  # a fingerprint, not the key


def test_a_garbage_key_is_not_answered_by_a_cached_token(connected):
    """A row whose key is garbage (saved before keys were checked): the test signs again, and fails."""
    connection = Connection.objects.get(kind="salesforce")
    connection.set_secret("-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----")
    connection.save()
    result = check_connection("salesforce")
    assert result == {"ok": False, "detail": "The connected app's private key cannot sign a token. Paste the "
                                             "connected app's RSA private key (PEM) into the Salesforce connection."}


def test_a_changed_key_is_used_at_once(connected, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        save_connection("salesforce", secret=private_key_pem(1))  # a real key, not the connected app's
    assert not TOKENS._tokens  # saving forgot this process's tokens
    result = check_connection("salesforce")
    assert result["ok"] is False and "(code invalid_grant)" in result["detail"], result


def test_an_unchanged_connection_keeps_its_tokens(connected, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        save_connection("salesforce", version="")  # nothing changed: nothing saved, nothing forgotten
    assert TOKENS._tokens
    assert check_connection("salesforce")["ok"]

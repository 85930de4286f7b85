"""The last test of each connection is kept on the connection (not in one person's session): the Connections page
and the API show it to everyone, a change of the settings clears it, a refused (busy) test keeps nothing."""

import pytest
from django.utils import timezone

from alerts.causes import connection_tests_failed
from sync.connections import ConnectionTestBusy, check_connection, one_test_at_a_time, save_connection
from sync.models import Connection

pytestmark = pytest.mark.django_db
URL = "/sync/connections/"
API = "/api/v1/connections/"
EWS = {"url": "https://mail.example.com/EWS/Exchange.asmx", "username": "svc-sync", "auth_type": "ntlm"}


@pytest.fixture
def exchange():
    return save_connection("exchange", secret="service-password", **EWS)


@pytest.fixture
def failing(monkeypatch):
    """The check answers that the service account was refused (what the EWS connector's sentence would say)."""
    def refused(kind):
        return {"ok": False, "detail": "Exchange refused the service account's password (401): enter it again."}
    monkeypatch.setattr("sync.connections._check", refused)


def test_a_test_on_the_page_is_kept_and_shown_to_every_other_person(client, support_user, admin_user, exchange,
                                                                    failing):
    client.force_login(support_user)
    response = client.post(URL, {"kind": "exchange", "test": "1"})
    assert response.status_code == 200 and "Does not work." in response.content.decode()
    exchange.refresh_from_db()
    assert exchange.last_test_ok is False and "refused the service account" in exchange.last_test_detail
    assert timezone.now() - exchange.last_test_at < timezone.timedelta(minutes=1)

    client.force_login(admin_user)  # another person, another session
    page = client.get(URL).content.decode()
    assert "Does not work." in page and "Exchange refused the service account" in page and "Last test:" in page
    assert [f.key for f in connection_tests_failed()] == ["connection_failed:test:exchange"]


def test_a_page_never_tested_shows_no_result(client, support_user, exchange):
    client.force_login(support_user)
    page = client.get(URL).content.decode()
    assert "Last test:" not in page and "Does not work." not in page


def test_changing_the_settings_clears_the_last_test(exchange, failing):
    check_connection("exchange")
    saved = save_connection("exchange", version="Exchange2019")
    assert (saved.last_test_at, saved.last_test_ok, saved.last_test_detail) == (None, None, "")
    exchange.refresh_from_db()
    assert exchange.last_test_at is None and connection_tests_failed() == []


def test_saving_the_same_settings_keeps_the_last_test(exchange, failing):
    check_connection("exchange")
    save_connection("exchange", **EWS)
    exchange.refresh_from_db()
    assert exchange.last_test_ok is False


def test_a_test_refused_while_another_runs_keeps_nothing(exchange, failing):
    with one_test_at_a_time("connection-exchange", "busy"), pytest.raises(ConnectionTestBusy):
        check_connection("exchange")
    exchange.refresh_from_db()
    assert exchange.last_test_at is None


def test_a_test_of_a_kind_not_configured_is_answered_on_the_page_but_kept_nowhere(client, support_user):
    client.force_login(support_user)
    page = client.post(URL, {"kind": "graph", "test": "1"}).content.decode()
    assert "No Microsoft Graph connection is configured." in page
    assert not Connection.objects.exists()


def test_the_api_answers_the_test_with_its_time_and_shows_the_last_test(support_client_api, exchange, failing):
    answer = support_client_api.post(f"{API}exchange/test/")
    assert answer.status_code == 200
    assert answer.json()["ok"] is False
    shown = support_client_api.get(f"{API}exchange/").json()
    assert shown["last_test_ok"] is False and shown["last_test_at"]
    assert shown["last_test_detail"].startswith("Exchange refused the service account")
    listed = {c["kind"]: c for c in support_client_api.get(API).json()["results"]}
    assert listed["exchange"]["last_test_ok"] is False and "last_test_ok" not in listed["graph"]


def test_anonymous_and_roleless_callers_may_not_test(anonymous_client, outsider_client_api, exchange, failing):
    assert anonymous_client.post(f"{API}exchange/test/").status_code == 401
    assert outsider_client_api.post(f"{API}exchange/test/").status_code == 403
    exchange.refresh_from_db()
    assert exchange.last_test_at is None


def test_against_the_sandbox_a_broken_connection_fails_and_a_repaired_one_passes(connected):
    """End to end: the emulated org refuses a sign-in for a user it does not know; the failure is kept and is an
    alert cause, and the passing test after the repair ends it."""
    salesforce = Connection.objects.get(kind="salesforce")
    assert check_connection("salesforce")["ok"] is True
    user = salesforce.username
    save_connection("salesforce", username="nobody@sandbox.test")

    failed = check_connection("salesforce")

    assert failed["ok"] is False
    salesforce.refresh_from_db()
    assert salesforce.last_test_ok is False and salesforce.last_test_detail == failed["detail"]
    assert [f.key for f in connection_tests_failed()] == ["connection_failed:test:salesforce"]
    save_connection("salesforce", username=user)
    assert check_connection("salesforce")["ok"] is True
    salesforce.refresh_from_db()
    assert salesforce.last_test_ok is True and connection_tests_failed() == []

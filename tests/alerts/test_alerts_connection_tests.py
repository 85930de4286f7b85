"""A connection whose last test failed is alerted (issue 18 item 5, "when a connection fails"): once per repeat
period, with a sentence saying what happened and what to do, until a test passes or the settings change."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from alerts.causes import connection_tests_failed
from alerts.models import Alert, Cause
from alerts.services import tick
from sync.connections import store_test_result
from sync.models import Connection

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
REFUSED = "Salesforce refused the sign-in (invalid_grant): check the connected app's consumer key, then test again."


def stored(kind: str, ok: bool | None, detail: str = REFUSED, at: datetime = NOW) -> Connection:
    return Connection.objects.create(kind=kind, url="https://login.example.com", last_test_at=at,
                                     last_test_ok=ok, last_test_detail=detail)


def test_only_a_failed_last_test_is_a_cause():
    stored("salesforce", False)
    stored("exchange", None, "No active user's mailbox is routed to EWS.")  # nothing to test with: not a failure
    stored("graph", True, "The app obtained a token and reached ann@example.com.")

    found = connection_tests_failed()

    assert [(f.cause, f.key, f.code) for f in found] == [
        (Cause.CONNECTION_FAILED, "connection_failed:test:salesforce", "connection_test_failed")]
    assert found[0].subject == "The Salesforce org connection failed its test"
    body = found[0].body
    assert "was tested at 2026-03-02 10:00 UTC and does not work" in body and REFUSED in body
    assert "Correct its settings on the console's Connections page and test it again" in body
    assert all(line.rstrip().endswith(".") for line in body.splitlines())


def test_a_failed_test_is_alerted_once_per_period_and_a_passing_test_ends_it(alert_settings, settings):
    settings.ALERTS_REPEAT_HOURS = 24
    stored("salesforce", False)

    first = tick(NOW)
    assert [a.cause_key for a in first] == ["connection_failed:test:salesforce"]
    assert [m.subject for m in mail.outbox] == ["[Sync console] The Salesforce org connection failed its test"]
    assert tick(NOW + timedelta(hours=1)) == []  # still failing, but already alerted within the period

    store_test_result("salesforce", {"ok": True, "detail": "Token obtained for amelia.hart@sandbox.test."})
    assert connection_tests_failed() == []
    assert tick(NOW + timedelta(hours=25)) == []  # ended: nothing is alerted once the period is over either
    assert Alert.objects.count() == 1


def test_a_test_with_nothing_to_test_with_is_kept_as_neither_passed_nor_failed():
    stored("exchange", True)
    store_test_result("exchange", {"ok": False, "in_use": False, "detail": "No active user's mailbox is routed."})
    connection = Connection.objects.get(kind="exchange")
    assert connection.last_test_ok is None and connection.last_test_detail == "No active user's mailbox is routed."
    assert connection_tests_failed() == []

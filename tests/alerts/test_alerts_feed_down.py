"""A change feed that fails or a listener that stops is alerted: grouped, with what happened and what to do, and not
repeated within the period."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from alerts.causes import FEED_GRACE, feeds_down
from alerts.models import Alert, Cause
from alerts.services import tick
from sync.feeds.coverage import LISTENER_KEY
from sync.models import ChangeFeed, MailboxSubscription
from tests.factories import make_user

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
REFUSED = ("The integration user sync@example.com may not read the Contact records the org feed needs. Give "
           "sync@example.com the View All Data permission.")


def failed_feed(key: str, since: datetime, code: str = "INSUFFICIENT_ACCESS", message: str = REFUSED,
                kind: str = ChangeFeed.Kind.SALESFORCE) -> ChangeFeed:
    return ChangeFeed.objects.create(kind=kind, key=key, state=ChangeFeed.State.FAILED, error_code=code,
                                     error_message=message, failed_since=since)


def test_failed_salesforce_feeds_with_the_same_code_make_one_alert_naming_them(alert_settings):
    failed_feed("contacts", NOW - timedelta(minutes=30))
    failed_feed("tasks", NOW - timedelta(minutes=10))
    failed_feed("events", NOW - timedelta(minutes=1))  # within the grace: one failed poll is no news yet

    created = tick(NOW)

    [alert] = [a for a in created if a.cause == Cause.FEED_DOWN]
    assert alert.code == "INSUFFICIENT_ACCESS" and alert.cause_key == "feed_down:salesforce:INSUFFICIENT_ACCESS"
    assert alert.subject == "Salesforce org feed failing for contacts, tasks (INSUFFICIENT_ACCESS)"
    assert "has failed since 2026-12-06 03:30 UTC" in alert.body and REFUSED in alert.body
    assert "sync at their configuration's interval, so no change is lost" in alert.body
    [message] = mail.outbox
    assert "Salesforce org feed failing" in message.subject


def test_a_failed_feed_is_not_alerted_again_within_the_period(alert_settings, settings):
    settings.ALERTS_REPEAT_HOURS = 24
    failed_feed("contacts", NOW - timedelta(hours=1))
    assert len(tick(NOW)) == 1
    assert tick(NOW + timedelta(hours=2)) == []
    assert [a.cause_key for a in tick(NOW + timedelta(hours=25))] == ["feed_down:salesforce:INSUFFICIENT_ACCESS"]


def test_the_grace_is_what_the_module_says():
    failed_feed("contacts", NOW - FEED_GRACE)
    assert [f.key for f in feeds_down(NOW)] == ["feed_down:salesforce:INSUFFICIENT_ACCESS"]
    assert feeds_down(NOW - timedelta(seconds=1)) == []


def test_the_listener_that_stopped_is_alerted_with_what_to_do(alert_settings):
    ChangeFeed.objects.create(
        kind=ChangeFeed.Kind.LISTENER, key=LISTENER_KEY, heartbeat_at=NOW - timedelta(minutes=5),
        state=ChangeFeed.State.FAILED, error_code="listener_stopped",
        error_message="The listener stopped beating its heartbeat, so changes are not pushed.")

    [alert] = tick(NOW)

    assert alert.cause == Cause.FEED_DOWN and alert.cause_key == "feed_down:listener"
    assert alert.subject == "The change feed listener is not running"
    assert "has not beaten its heartbeat since 2026-12-06 03:55 UTC" in alert.body
    assert "Start the `listener` process" in alert.body


def test_a_running_or_never_started_listener_is_not_alerted(alert_settings):
    ChangeFeed.objects.create(kind=ChangeFeed.Kind.LISTENER, key=LISTENER_KEY)  # made by the dispatcher's look
    assert tick(NOW) == []
    ChangeFeed.objects.filter(kind=ChangeFeed.Kind.LISTENER).update(heartbeat_at=NOW - timedelta(seconds=5),
                                                                    lease_owner="host:1")
    assert tick(NOW) == []


def test_failed_subscriptions_are_one_alert_per_protocol_naming_the_users(alert_settings):
    for n in range(3):
        user = make_user(f"sub{n}@example.com")
        MailboxSubscription.objects.create(user=user, object="contacts", protocol="ews",
                                           state=MailboxSubscription.State.FAILED,
                                           error_message="Exchange refused the subscription: the mailbox is gone.")
    MailboxSubscription.objects.create(user=make_user("fine@example.com"), object="contacts", protocol="graph")

    [alert] = tick(NOW)

    assert alert.cause_key == "feed_down:subscriptions:ews" and alert.user_count == 3
    assert alert.subject == "EWS subscriptions failing for 3 users"
    assert alert.users == ["sub0@example.com", "sub1@example.com", "sub2@example.com"]
    assert "the mailbox is gone" in alert.body


def test_graph_delta_polling_that_failed_is_alerted(alert_settings):
    failed_feed("", NOW - timedelta(minutes=20), code="graph_delta_failed", kind=ChangeFeed.Kind.GRAPH_DELTA,
                message="Every Graph delta read failed (4): the token was refused.")
    [alert] = tick(NOW)
    assert alert.subject == "Graph delta polling failing (graph_delta_failed)"
    assert "token was refused" in alert.body
    assert Alert.objects.filter(cause=Cause.FEED_DOWN).count() == 1

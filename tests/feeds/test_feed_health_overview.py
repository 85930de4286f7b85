"""The change feeds' health in words (sync.feeds.health): every state says what it means, a feed nobody polls is
never shown healthy, and the Salesforce calls per hour add up runs and the org feed against the allocation."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from sync.feeds.coverage import LISTENER_KEY
from sync.feeds.health import LISTENER_DOWN, chart_data, feeds_overview, salesforce_calls_by_hour
from sync.models import ChangeFeed, MailboxSubscription, SyncRun
from tests.factories import make_user

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 6, 4, 30, tzinfo=UTC)


def listener(heartbeat_at=NOW, **values) -> ChangeFeed:
    return ChangeFeed.objects.create(kind=ChangeFeed.Kind.LISTENER, key=LISTENER_KEY, heartbeat_at=heartbeat_at,
                                     lease_owner="host-1:4242", state=ChangeFeed.State.HEALTHY, **values)


def salesforce_feed(key: str, **values) -> ChangeFeed:
    values = {"state": ChangeFeed.State.HEALTHY, "last_poll_at": NOW - timedelta(seconds=10), "lag_seconds": 4.0,
              **values}
    return ChangeFeed.objects.create(kind=ChangeFeed.Kind.SALESFORCE, key=key, **values)


def feed_of(overview: dict, object_type: str) -> dict:
    return next(feed for feed in overview["salesforce"] if feed["object"] == object_type)


def test_nothing_running_says_so_for_every_part():
    overview = feeds_overview(NOW)
    assert overview["listener"]["alive"] is False and overview["listener"]["state"] == "down"
    assert overview["listener"]["message"] == LISTENER_DOWN
    assert "Start `manage.py listen` (the `listener` process)" in overview["listener"]["message"]
    assert overview["problems"] == [LISTENER_DOWN] and overview["ok"] is False
    for feed in overview["salesforce"]:
        assert feed["state"] == "off" and "has not run yet" in feed["message"]
    assert "No EWS mailbox has a streaming subscription" in overview["subscriptions"]["ews"]["message"]
    assert "GRAPH_NOTIFICATION_URL is not set" in overview["subscriptions"]["graph"]["message"]
    assert overview["graph_delta"]["state"] == "down"


def test_healthy_feeds_with_a_running_listener():
    listener()
    salesforce_feed("contacts", last_change_at=NOW - timedelta(minutes=3), api_calls=12)
    overview = feeds_overview(NOW)
    assert overview["listener"]["state"] == "running" and "host-1:4242" in overview["listener"]["message"]
    contacts = feed_of(overview, "contacts")
    assert contacts["state"] == "healthy" and contacts["api_calls"] == 12 and contacts["lag_seconds"] == 4.0
    assert contacts["message"].startswith("Healthy: polled ")
    assert feed_of(overview, "events")["state"] == "off"
    assert overview["ok"] is True and overview["problems"] == []


def test_failed_and_behind_feeds_say_their_cause():
    listener()
    cause = ("The integration user sync@example.com may not read the Contact records the org feed needs. Give "
             "sync@example.com the View All Data permission.")
    salesforce_feed("contacts", state=ChangeFeed.State.FAILED, error_code="INSUFFICIENT_ACCESS",
                    error_message=cause, failed_since=NOW - timedelta(minutes=20))
    salesforce_feed("events", state=ChangeFeed.State.BEHIND, lag_seconds=400.0)
    overview = feeds_overview(NOW)
    contacts, events = feed_of(overview, "contacts"), feed_of(overview, "events")
    assert contacts["state"] == "failed" and contacts["badge"] == "danger"
    assert contacts["message"].startswith(cause) and "failing since" in contacts["message"]
    assert events["state"] == "behind" and "7 minutes behind Salesforce" in events["message"]
    assert "nothing is lost" in events["message"]
    assert overview["problems"] == [contacts["message"], events["message"]]


def test_a_feed_nobody_polls_is_not_shown_healthy():
    """The row says healthy, but the listener's heartbeat is stale: changes are not read, and the page says so."""
    listener(heartbeat_at=NOW - timedelta(minutes=10),
             error_message="The listener stopped beating its heartbeat, so changes are not pushed.")
    salesforce_feed("contacts", last_poll_at=NOW - timedelta(minutes=10))
    overview = feeds_overview(NOW)
    contacts = feed_of(overview, "contacts")
    assert contacts["stored_state"] == "healthy" and contacts["state"] == "stale"
    assert "not read by the org feed now" in contacts["message"] and LISTENER_DOWN in contacts["message"]
    assert overview["listener"]["message"].startswith(LISTENER_DOWN)
    assert "Its last heartbeat was" in overview["listener"]["message"]
    assert "stopped beating its heartbeat" in overview["listener"]["message"]


def test_subscriptions_counted_per_protocol_and_object_with_the_latest_errors(settings):
    settings.GRAPH_NOTIFICATION_URL = "https://sync.example.com/graph/notifications/"
    listener()
    ann, bob = make_user("ann@example.com", name="Ann Archer"), make_user("bob@example.com")
    MailboxSubscription.objects.create(user=ann, object="contacts", protocol="ews", subscription_id="s1")
    MailboxSubscription.objects.create(user=ann, object="events", protocol="ews", subscription_id="s2",
                                       state=MailboxSubscription.State.FAILED,
                                       error_message="Exchange refused the subscription: the mailbox is full.")
    MailboxSubscription.objects.create(user=bob, object="contacts", protocol="graph", subscription_id="g1",
                                       expires_at=NOW + timedelta(days=1))
    MailboxSubscription.objects.create(user=bob, object="tasks", protocol="graph", subscription_id="g2",
                                       expires_at=NOW - timedelta(minutes=1))  # lapsed: counts as failed
    overview = feeds_overview(NOW)
    ews, graph = overview["subscriptions"]["ews"], overview["subscriptions"]["graph"]
    assert (ews["active"], ews["failed"]) == (1, 1)
    assert ews["objects"]["contacts"]["active"] == 1 and ews["objects"]["events"]["failed"] == 1
    assert (graph["active"], graph["failed"]) == (1, 1) and graph["objects"]["tasks"]["failed"] == 1
    assert "https://sync.example.com/graph/notifications/" in graph["message"]
    assert overview["graph_delta"]["state"] == "off"
    [error] = overview["subscription_errors"]
    assert error["user"] == "Ann Archer" and error["protocol"] == "ews" and "mailbox is full" in error["error_message"]
    assert ews["message"] in overview["problems"] and graph["message"] in overview["problems"]


def test_graph_delta_polling_states(settings):
    settings.GRAPH_NOTIFICATION_URL = ""
    listener()
    ChangeFeed.objects.create(kind=ChangeFeed.Kind.GRAPH_DELTA, state=ChangeFeed.State.FAILED,
                              error_message="Every Graph delta read failed (3): the token was refused.")
    overview = feeds_overview(NOW)
    assert overview["graph_delta"]["state"] == "failed"
    assert "token was refused" in overview["subscriptions"]["graph"]["message"]
    assert overview["graph_delta"]["message"] in overview["problems"]


def test_the_overview_takes_a_fixed_number_of_queries(django_assert_max_num_queries):
    listener()
    for n in range(3):
        salesforce_feed(("contacts", "events", "tasks")[n])
    for n in range(6):
        user = make_user(f"u{n}@example.com")
        MailboxSubscription.objects.create(user=user, object="contacts", protocol="ews",
                                           state=MailboxSubscription.State.FAILED, error_message="Refused.")
    with django_assert_max_num_queries(12):
        feeds_overview(NOW)


def test_salesforce_calls_by_hour_adds_runs_and_the_org_feed():
    user = make_user("calls@example.com")
    now = timezone.now()
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    SyncRun.objects.create(user=user, object="contacts", trigger="change", state="succeeded", finished_at=now,
                           api_calls={"salesforce": 3, "exchange": 1}, salesforce_api_allocation=120_000,
                           salesforce_api_used=500)
    SyncRun.objects.create(user=user, object="events", trigger="change", state="succeeded",
                           finished_at=now - timedelta(hours=2), api_calls={"salesforce": 2})
    SyncRun.objects.create(user=user, object="tasks", trigger="schedule", state="succeeded",
                           finished_at=now - timedelta(hours=30), api_calls={"salesforce": 50})  # too old
    key = hour.strftime("%Y-%m-%dT%H")
    before = (hour - timedelta(hours=2)).strftime("%Y-%m-%dT%H")
    salesforce_feed("contacts", cursor={"calls_by_hour": {key: 4, before: 1, "2020-01-01T00": 9}})
    salesforce_feed("events", cursor={"calls_by_hour": {key: 2, "not an hour": 5}})
    calls = salesforce_calls_by_hour(now=now)
    assert len(calls["hours"]) == 24 and calls["hours"][-1]["hour"] == hour
    assert calls["hours"][-1] == {"hour": hour, "runs": 3, "feed": 6, "total": 9}
    assert calls["hours"][-3] == {"hour": hour - timedelta(hours=2), "runs": 2, "feed": 1, "total": 3}
    assert (calls["runs"], calls["feed"], calls["busiest"]) == (5, 7, 9)
    assert calls["allocation"] == 120_000 and calls["hourly_share"] == 5000.0
    assert calls["busiest_share"] == 0.2
    data = chart_data(calls)
    assert data["labels"][-1] == hour.isoformat().replace("+00:00", "Z")
    assert data["runs"][-1] == 3 and data["feed"][-1] == 6 and data["hourly_share"] == 5000.0


def test_calls_by_hour_takes_the_allocation_from_the_org_feed_when_no_run_reported():
    salesforce_feed("contacts", cursor={"api_usage": {"used": 10, "allocation": 48_000, "at": NOW.isoformat()}})
    calls = salesforce_calls_by_hour(now=NOW)
    assert calls["allocation"] == 48_000 and calls["hourly_share"] == 2000.0
    assert calls["runs"] == calls["feed"] == 0


def test_calls_by_hour_without_any_allocation():
    calls = salesforce_calls_by_hour(hours=6, now=NOW)
    assert len(calls["hours"]) == 6 and calls["hourly_share"] is None and calls["busiest_share"] is None

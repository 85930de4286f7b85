"""The listener: one active per deployment (a lease), a standby takes over when it lapses, its heartbeat is what
coverage reads, and a dirty object is queued by the listener itself as soon as its debounce has passed."""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from sync.feeds import listener as listener_module
from sync.feeds.coverage import listener_alive
from sync.feeds.dirty import mark_dirty
from sync.feeds.listener import Listener, claim_listener
from sync.models import ChangeFeed, SyncRun
from tests.factories import make_configuration, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def polls(monkeypatch):
    """The feeds' polls, counted per listener owner instead of reaching any end."""
    calls: list[str] = []
    monkeypatch.setattr(listener_module.salesforce, "poll_feeds", lambda: calls.append("salesforce") or 30)
    monkeypatch.setattr(listener_module.graph_delta, "poll_deltas", lambda: calls.append("graph") or 60)
    return calls


def test_only_one_listener_holds_the_lease_until_it_lapses(settings):
    settings.LISTENER_LEASE_SECONDS = 60
    now = timezone.now()
    assert claim_listener("a", now)
    assert not claim_listener("b", now + timedelta(seconds=30))
    assert claim_listener("a", now + timedelta(seconds=30))  # renewing its own
    assert claim_listener("b", now + timedelta(seconds=91))  # a's lease lapsed: the standby takes over
    assert not claim_listener("a", now + timedelta(seconds=92))
    assert ChangeFeed.objects.get(kind=ChangeFeed.Kind.LISTENER).lease_owner == "b"


def test_a_second_listener_stands_by_and_polls_nothing(polls, settings):
    settings.GRAPH_NOTIFICATION_URL = ""
    first = Listener(owner="first", ews_streams=False)
    second = Listener(owner="second", ews_streams=False)
    first.tick()
    assert first.active and polls == ["salesforce", "graph"]
    second.tick()
    assert not second.active and polls == ["salesforce", "graph"]
    assert listener_alive()


def test_graph_deltas_are_not_polled_when_notifications_are_pushed(polls, settings):
    settings.GRAPH_NOTIFICATION_URL = "https://sync.example.com/graph/notifications/"
    Listener(owner="only", ews_streams=False).tick()
    assert polls == ["salesforce"]


def test_the_listener_queues_a_dirty_object_once_its_debounce_passed(polls, enqueued, settings):
    settings.SYNC_DEBOUNCE_SECONDS = 0
    configuration = make_configuration(data_settings={
        "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}})
    user = make_user(configuration=configuration)
    from sync.dispatch import dispatch_due

    dispatch_due()  # the first syncs
    SyncRun.objects.update(state=SyncRun.State.SUCCEEDED, finished_at=timezone.now())
    from users.models import UserObjectState

    UserObjectState.objects.update(next_due_at=timezone.now() + timedelta(hours=6), state="in_sync")
    mark_dirty([user.pk], ["contacts"], now=timezone.now() - timedelta(seconds=1))
    Listener(owner="only", ews_streams=False).tick()
    run = SyncRun.objects.filter(state=SyncRun.State.QUEUED).get()
    assert (run.user_id, run.object, run.trigger) == (user.pk, "contacts", SyncRun.Trigger.CHANGE)


def test_a_stopped_listener_lets_go_its_lease_and_says_the_feeds_are_off(monkeypatch):
    stop = threading.Event()
    # The first poll asks the listener to stop (as SIGTERM would): run() returns after that tick.
    monkeypatch.setattr(listener_module.salesforce, "poll_feeds", lambda: stop.set() or 30)
    monkeypatch.setattr(listener_module.graph_delta, "poll_deltas", lambda: 60)
    # The test's connection holds its transaction: the loop must not close it between ticks.
    monkeypatch.setattr(listener_module, "close_old_connections", lambda: None)
    listening = Listener(owner="only", stop=stop, ews_streams=False)
    listening.run()
    assert listening.active
    row = ChangeFeed.objects.get(kind=ChangeFeed.Kind.LISTENER)
    assert row.lease_owner == "" and row.state == ChangeFeed.State.OFF
    assert "manage.py listen" in row.error_message
    assert not listener_alive()


def test_taking_the_lease_asks_for_graph_subscriptions_at_once(polls, monkeypatch, settings):
    """Until a Graph mailbox has a subscription its objects poll: the listener does not wait for beat's first
    15-minute tick, it sends the task when it takes the lease (once)."""
    sent = []
    monkeypatch.setattr(listener_module.current_app, "send_task", lambda name, **options: sent.append(name))
    settings.GRAPH_NOTIFICATION_URL = "https://sync.example.com/graph/notifications/"
    listening = Listener(owner="only", ews_streams=False)
    listening.tick()
    listening._next["heartbeat"] = 0  # the next tick renews the lease: no second request
    listening.tick()
    assert sent == ["sync.tasks.ensure_graph_subscriptions"]
    settings.GRAPH_NOTIFICATION_URL = ""
    Listener(owner="other", ews_streams=False)._kick_graph_subscriptions()
    assert sent == ["sync.tasks.ensure_graph_subscriptions"]

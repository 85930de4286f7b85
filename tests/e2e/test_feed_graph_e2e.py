"""The Graph change feed end to end: the sandbox's Graph emulator subscribes the product's own endpoint (Django's
live server as GRAPH_NOTIFICATION_URL), posts change and lifecycle notifications to it, and the product marks
exactly the changed user's object dirty; renewal before expiry; the delta poll where no URL is configured."""

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.utils import timezone

from sync.feeds.graph import ensure_subscriptions
from sync.feeds.graph_delta import poll_deltas
from sync.models import ChangeFeed, MailboxSubscription, RecordLink
from sync.tasks import graph_subscription_lifecycle
from tests.e2e.conftest import World
from tests.e2e.test_created_then_deleted import create_in_salesforce
from tests.e2e.test_sync_user import sync
from users.models import UserObjectState

pytestmark = pytest.mark.e2e

BOTH = {"direction": "both", "conflict_behavior": "salesforce_wins"}
OBJECTS = {"contacts": BOTH, "events": BOTH, "tasks": BOTH}
DEADLINE_SECONDS = 20


@pytest.fixture
def graph_feed_world(sandbox, transactional_db, live_server, settings, monkeypatch):
    """Graph mailboxes, the product connected to the sandbox, notifications posted to the live server, and
    lifecycle tasks run at once by the endpoint (no worker)."""
    settings.GRAPH_NOTIFICATION_URL = f"{live_server.url}/graph/notifications/"
    monkeypatch.setattr("sync.graph_notifications.schedule_lifecycle", _run_lifecycle_tasks)
    world = World(sandbox, "graph")
    yield world
    world.clear_faults()


def _run_lifecycle_tasks(work) -> None:
    """The lifecycle tasks run in the process that would have queued them (what the endpoint sends is checked
    in tests/feeds/test_feed_graph_endpoint.py)."""
    for item in work:
        graph_subscription_lifecycle(item.subscription, item.action)


def _person(world):
    person = world.person(protocol="graph")
    world.configure(person, **OBJECTS)
    person.outlook._folder(create=True)  # the first sync would create it: contacts are watched in it
    return person


def _control(world, method: str, path: str, body: dict | None = None) -> dict:
    response = world.http().request(method, f"{world.sandbox.graph_url}/_sandbox/{path}", json=body, timeout=30)
    assert response.status_code < 300, response.text
    return response.json()


def _dirty(person) -> set[str]:
    return set(UserObjectState.objects.filter(user=person.sync_user, dirty_at__isnull=False)
               .values_list("object", flat=True))


def _clean() -> None:
    UserObjectState.objects.update(dirty_at=None, dirty_full=False)


def _wait_for(condition, what: str):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {DEADLINE_SECONDS} s: {what}")


def _row(person, object_type: str) -> MailboxSubscription:
    return MailboxSubscription.objects.get(user=person.sync_user, object=object_type, protocol="graph")


def _emulated(world, subscription_id: str) -> dict | None:
    listing = _control(world, "GET", "graph/subscriptions")["subscriptions"]
    return next((s for s in listing if s["id"] == subscription_id), None)


def _settled(world, person) -> None:
    """Wait until the emulator has delivered everything for the person's subscriptions (nothing pending)."""
    ids = {_row(person, o).subscription_id for o in OBJECTS}
    _wait_for(lambda: all(not (_emulated(world, i) or {}).get("pending") for i in ids), "deliveries drained")


# ---- notifications -------------------------------------------------------------------------------------------------
def test_a_change_in_outlook_marks_exactly_that_users_object_dirty(graph_feed_world):
    world = graph_feed_world
    ada, ben = _person(world), _person(world)
    summary = ensure_subscriptions()
    assert summary.created == 6 and summary.failed == 0
    assert _dirty(ada) == _dirty(ben) == set(OBJECTS)  # created: changes before it were never notified
    for person in (ada, ben):
        for object_type in OBJECTS:
            row = _row(person, object_type)
            assert row.state == "active" and row.client_state and row.expires_at > timezone.now() + timedelta(days=2)
            assert _emulated(world, row.subscription_id)["notificationUrl"].endswith("/graph/notifications/")
    _clean()

    contact = ada.outlook.create_contact("Grace", "Hopper", "grace@example.com")
    assert _wait_for(lambda: _dirty(ada), "Ada's contacts marked dirty") == {"contacts"}
    _settled(world, ada)
    assert _dirty(ada) == {"contacts"} and _dirty(ben) == set()

    _clean()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    ada.outlook.create_event("Review", start, start + timedelta(hours=1))
    assert _wait_for(lambda: _dirty(ada), "Ada's events marked dirty") == {"events"}

    _clean()
    ben.outlook.create_task("Call Grace")
    assert _wait_for(lambda: _dirty(ben), "Ben's tasks marked dirty") == {"tasks"}
    _settled(world, ben)
    assert _dirty(ada) == set() and _dirty(ben) == {"tasks"}

    _clean()
    ada.outlook.delete_contact(contact)
    assert _wait_for(lambda: _dirty(ada), "Ada's contacts marked dirty by a deletion") == {"contacts"}
    assert _row(ada, "contacts").last_event_at is not None


def test_missed_marks_dirty_and_subscription_removed_creates_a_new_one(graph_feed_world):
    world = graph_feed_world
    ada = _person(world)
    ensure_subscriptions()
    _clean()
    events = _row(ada, "events")
    _control(world, "POST", "graph/subscriptions/lifecycle", {"event": "missed", "subscription":
                                                               events.subscription_id})
    assert _wait_for(lambda: _dirty(ada), "missed marked the events dirty") == {"events"}
    assert _row(ada, "events").subscription_id == events.subscription_id

    _clean()
    contacts = _row(ada, "contacts")
    _control(world, "POST", "graph/subscriptions/lifecycle", {"event": "subscriptionRemoved",
                                                               "subscription": contacts.subscription_id})
    renewed = _wait_for(lambda: (row := _row(ada, "contacts")).subscription_id != contacts.subscription_id
                        and row.state == "active" and row, "a new contacts subscription")
    assert _emulated(world, contacts.subscription_id) is None
    assert _emulated(world, renewed.subscription_id) is not None
    assert renewed.client_state != contacts.client_state
    assert _dirty(ada) == {"contacts"}

    # The new subscription works: a change is notified through it.
    _clean()
    ada.outlook.create_contact("Ada", "Lovelace")
    assert _wait_for(lambda: _dirty(ada), "a change through the new subscription") == {"contacts"}


def test_reauthorization_required_is_answered_and_the_subscription_kept(graph_feed_world):
    world = graph_feed_world
    ada = _person(world)
    ensure_subscriptions()
    _clean()
    tasks = _row(ada, "tasks")
    soon = timezone.now() + timedelta(hours=3)  # as if nearly expired: the renewal that follows shows
    MailboxSubscription.objects.filter(pk=tasks.pk).update(expires_at=soon)
    _control(world, "POST", "graph/subscriptions/lifecycle", {"event": "reauthorizationRequired",
                                                               "subscription": tasks.subscription_id})
    assert _wait_for(lambda: _emulated(world, tasks.subscription_id)["reauthorizationRequired"] is False
                     and _row(ada, "tasks").expires_at > soon + timedelta(days=1), "reauthorized and renewed")
    assert _row(ada, "tasks").subscription_id == tasks.subscription_id
    assert _dirty(ada) == set()


def test_renewal_before_expiry_and_recreation_after_graph_dropped_one(graph_feed_world, monkeypatch):
    world = graph_feed_world
    ada = _person(world)
    ensure_subscriptions()
    _clean()
    assert ensure_subscriptions().created == ensure_subscriptions().renewed == 0  # nothing due: no calls

    soon = timezone.now() + timedelta(hours=3)
    MailboxSubscription.objects.filter(user=ada.sync_user, object="events").update(expires_at=soon)
    before = _row(ada, "events").subscription_id
    summary = ensure_subscriptions()
    assert (summary.renewed, summary.created) == (1, 0)
    row = _row(ada, "events")
    assert row.subscription_id == before and row.expires_at > timezone.now() + timedelta(days=2)
    emulated = datetime.fromisoformat(_emulated(world, before)["expirationDateTime"].replace("Z", "+00:00"))
    assert emulated > timezone.now() + timedelta(days=2)
    assert _dirty(ada) == set()  # a renewal loses nothing

    # Graph dropped a subscription (expired there): the renewal finds it gone, a new one is made, the gap is dirty.
    _control(world, "POST", "graph/subscriptions/expire", {"subscription": _row(ada, "tasks").subscription_id})
    MailboxSubscription.objects.filter(user=ada.sync_user, object="tasks").update(expires_at=soon)
    summary = ensure_subscriptions()
    assert (summary.renewed, summary.created) == (0, 1)
    assert _dirty(ada) == {"tasks"}

    # Many due at once: a beat run renews the most urgent first, up to its cap, and leaves the rest to the next.
    monkeypatch.setattr("sync.feeds.graph.MAX_CHANGES_PER_RUN", 1)
    MailboxSubscription.objects.filter(user=ada.sync_user, object="contacts").update(expires_at=soon)
    MailboxSubscription.objects.filter(user=ada.sync_user, object="events").update(expires_at=soon - timedelta(hours=1))
    assert ensure_subscriptions().renewed == 1
    assert _row(ada, "events").expires_at > timezone.now() + timedelta(days=2)
    assert _row(ada, "contacts").expires_at == soon
    assert ensure_subscriptions().renewed == 1
    assert _row(ada, "contacts").expires_at > timezone.now() + timedelta(days=2)

    # A user no longer synced: the subscriptions are deleted at Graph too.
    ada.sync_user.active = False
    ada.sync_user.save(update_fields=["active"])
    ids = [_row(ada, o).subscription_id for o in OBJECTS]
    assert ensure_subscriptions().deleted == 3
    assert not MailboxSubscription.objects.filter(user=ada.sync_user).exists()
    assert all(_emulated(world, i) is None for i in ids)


def test_a_missing_contacts_folder_is_a_failed_row_until_the_first_sync_creates_it(graph_feed_world):
    world = graph_feed_world
    ada = world.person(protocol="graph")
    world.configure(ada, contacts=BOTH)
    summary = ensure_subscriptions()
    assert (summary.created, summary.failed) == (0, 1)
    row = _row(ada, "contacts")
    assert row.state == "failed" and not row.subscription_id
    assert "Salesforce_Sync" in row.error_message and row.error_message.endswith(".")
    _clean()
    ada.outlook._folder(create=True)
    assert ensure_subscriptions().created == 1
    assert _row(ada, "contacts").state == "active" and _dirty(ada) == {"contacts"}


# ---- delta polling (no notification URL) -------------------------------------------------------------------------
def test_delta_poll_marks_dirty_on_change_and_costs_one_request_per_folder_when_idle(graph_feed_world, settings):
    world = graph_feed_world
    settings.GRAPH_NOTIFICATION_URL = ""
    ada, ben = _person(world), _person(world)
    now = timezone.now()
    assert poll_deltas(now) == settings.GRAPH_DELTA_POLL_SECONDS
    assert _dirty(ada) == _dirty(ben) == set(OBJECTS)  # the first read only starts the round: nothing known before
    assert poll_deltas(now + timedelta(seconds=10)) == pytest.approx(settings.GRAPH_DELTA_POLL_SECONDS - 10)
    _clean()

    requests_before = _control(world, "GET", "stats")["calls_by_user"]
    now += timedelta(seconds=settings.GRAPH_DELTA_POLL_SECONDS)
    poll_deltas(now)
    calls = _control(world, "GET", "stats")["calls_by_user"]
    for person in (ada, ben):
        assert calls.get(person.username, 0) - requests_before.get(person.username, 0) == len(OBJECTS)
    assert _dirty(ada) == _dirty(ben) == set()  # idle: nothing marked

    ada.outlook.create_contact("Grace", "Hopper")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    ben.outlook.create_event("Planning", start, start + timedelta(hours=1))
    now += timedelta(seconds=settings.GRAPH_DELTA_POLL_SECONDS)
    poll_deltas(now)
    assert _dirty(ada) == {"contacts"} and _dirty(ben) == {"events"}

    feed = ChangeFeed.objects.get(kind="graph_delta", key="")
    assert feed.state == "healthy" and feed.last_poll_at == now and feed.api_calls > 0
    assert feed.cursor["objects"] == 6

    # Graph forgot a delta link: a new round, and the gap marks the object dirty.
    _clean()
    _control(world, "POST", "delta/expire")
    now += timedelta(seconds=settings.GRAPH_DELTA_POLL_SECONDS)
    poll_deltas(now)
    assert _dirty(ada) == _dirty(ben) == set(OBJECTS)


def test_the_syncs_own_writes_to_outlook_mark_nothing_but_a_later_edit_does(graph_feed_world, settings):
    """Items the sync created in Outlook come back through the feed with the version their links hold: an echo."""
    world = graph_feed_world
    settings.GRAPH_NOTIFICATION_URL = ""
    ada = _person(world)
    for object_type in OBJECTS:
        create_in_salesforce(ada, object_type)
    now = timezone.now()
    poll_deltas(now)
    assert sync(ada) == 0
    assert RecordLink.objects.filter(user=ada.sync_user).count() == 3
    _clean()
    now += timedelta(seconds=settings.GRAPH_DELTA_POLL_SECONDS)
    poll_deltas(now)
    assert _dirty(ada) == set()

    (contact,) = ada.outlook.contacts()
    ada.outlook.update_contact(contact["id"], job_title="Analyst")
    now += timedelta(seconds=settings.GRAPH_DELTA_POLL_SECONDS)
    poll_deltas(now)
    assert _dirty(ada) == {"contacts"}


def test_turning_the_notification_url_off_deletes_the_subscriptions_and_the_poll_takes_over(graph_feed_world,
                                                                                           settings):
    world = graph_feed_world
    ada = _person(world)
    ensure_subscriptions()
    ids = [_row(ada, o).subscription_id for o in OBJECTS]
    settings.GRAPH_NOTIFICATION_URL = ""
    now = timezone.now()
    poll_deltas(now)
    assert ensure_subscriptions().deleted == 3
    assert all(_emulated(world, i) is None for i in ids)
    assert all(not _row(ada, o).subscription_id for o in OBJECTS)
    _clean()
    poll_deltas(now + timedelta(seconds=settings.GRAPH_DELTA_POLL_SECONDS))
    assert _dirty(ada) == set()  # the delta links the poll keeps survived the clean-up
    ada.outlook.create_task("Call Grace")
    poll_deltas(now + timedelta(seconds=2 * settings.GRAPH_DELTA_POLL_SECONDS))
    assert _dirty(ada) == {"tasks"}


def test_delta_poll_failures_are_a_state_with_a_sentence(graph_feed_world, settings):
    world = graph_feed_world
    settings.GRAPH_NOTIFICATION_URL = ""
    ada = _person(world)
    now = timezone.now()
    poll_deltas(now)
    world.fault(world.sandbox.graph_url, operation="*", status=403, error_code="ErrorAccessDenied", count=100)
    try:
        poll_deltas(now + timedelta(seconds=settings.GRAPH_DELTA_POLL_SECONDS))
    finally:
        world.clear_faults()
    feed = ChangeFeed.objects.get(kind="graph_delta", key="")
    assert feed.state == "failed" and feed.failed_since is not None
    assert "ErrorAccessDenied" in feed.error_message and feed.error_message.endswith(".")
    row = _row(ada, "contacts")
    assert row.state == "failed" and "permission" in row.error_message.lower()
    # Reachable again: healthy, and the row active.
    poll_deltas(now + timedelta(seconds=2 * settings.GRAPH_DELTA_POLL_SECONDS))
    assert ChangeFeed.objects.get(kind="graph_delta", key="").state == "healthy"
    assert _row(ada, "contacts").state == "active"


def test_the_endpoint_answers_graphs_handshake_through_the_live_server(graph_feed_world, live_server):
    response = requests.post(f"{live_server.url}/graph/notifications/?validationToken=hello%20graph", timeout=10)
    assert (response.status_code, response.text) == (200, "hello graph")

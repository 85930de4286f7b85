"""Dirty-driven dispatch: a change feed's mark makes a run after the debounce, the longest wait is served first
(nobody starves at any size), a run's claim clears the mark, and covered objects are swept instead of polled."""

from datetime import timedelta

import pytest
from django.utils import timezone

from configurations.services import create_configuration
from sync.dispatch import dispatch_due
from sync.feeds.coverage import covered, watch_feeds
from sync.feeds.dirty import clear_on_claim, mark_dirty
from sync.models import ChangeFeed, MailboxSubscription, SyncRun
from users.models import SyncState, SyncUser, UserObjectState

pytestmark = pytest.mark.django_db


@pytest.fixture
def configuration():
    return create_configuration({
        "name": "Sales", "profiles": ["Standard User"],
        "data_settings": {"contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}},
    })


def in_sync_users(count: int, *, due_in: timedelta) -> list[SyncUser]:
    """`count` users of the configuration's profile, each with contacts in sync and due `due_in` from now."""
    SyncUser.objects.bulk_create([
        SyncUser(salesforce_id=f"005{n:012d}", username=f"user{n}@example.com", email=f"user{n}@example.com",
                 profile="Standard User")
        for n in range(1, count + 1)
    ], batch_size=2000)
    users = list(SyncUser.objects.order_by("pk"))
    now = timezone.now()
    UserObjectState.objects.bulk_create([
        UserObjectState(user=user, object="contacts", state=SyncState.IN_SYNC, next_due_at=now + due_in,
                        salesforce_watermark=now, exchange_sync_state="state")
        for user in users
    ], batch_size=2000)
    return users


def test_a_change_makes_a_run_only_after_the_debounce(configuration, enqueued, settings):
    settings.SYNC_DEBOUNCE_SECONDS = 3
    users = in_sync_users(3, due_in=timedelta(hours=6))
    now = timezone.now()
    assert dispatch_due(now=now).count == 0
    assert mark_dirty([users[1].pk], ["contacts"], now=now) == 1
    assert dispatch_due(now=now + timedelta(seconds=1)).count == 0  # more changes may come: one run for all
    mark_dirty([users[1].pk], ["contacts"], now=now + timedelta(seconds=2))  # keeps the first change's time
    result = dispatch_due(now=now + timedelta(seconds=3))
    assert [(run.user_id, run.object, run.trigger, run.full) for run in result.runs] == [
        (users[1].pk, "contacts", SyncRun.Trigger.CHANGE, False)
    ]
    assert SyncRun.objects.get().trigger == SyncRun.Trigger.CHANGE


def test_a_gap_too_old_for_an_incremental_read_asks_for_a_full_run(configuration, enqueued):
    users = in_sync_users(1, due_in=timedelta(hours=6))
    now = timezone.now()
    mark_dirty([users[0].pk], ["contacts"], full=True, now=now - timedelta(seconds=10))
    (run,) = dispatch_due(now=now).runs
    assert run.full


def test_mark_dirty_touches_only_the_named_users_and_objects(configuration):
    users = in_sync_users(3, due_in=timedelta(hours=6))
    UserObjectState.objects.create(user=users[0], object="events")
    assert mark_dirty([users[0].pk, users[2].pk], ["contacts"]) == 2
    assert mark_dirty([], ["contacts"]) == 0
    dirty = set(UserObjectState.objects.filter(dirty_at__isnull=False).values_list("user_id", "object"))
    assert dirty == {(users[0].pk, "contacts"), (users[2].pk, "contacts")}
    assert mark_dirty(None, ["events"]) == 1


def test_the_claim_clears_only_a_mark_made_before_it():
    from tests.factories import make_user

    user = make_user()
    state, _ = UserObjectState.objects.get_or_create(user=user, object="contacts")
    now = timezone.now()
    assert clear_on_claim(state.pk, now) is False  # not dirty: nothing to clear
    mark_dirty([user.pk], ["contacts"], full=True, now=now - timedelta(seconds=5))
    assert clear_on_claim(state.pk, now) is True
    state.refresh_from_db()
    assert state.dirty_at is None and not state.dirty_full
    # A change during the run (after its claim) stays for the next run.
    mark_dirty([user.pk], ["contacts"], now=now + timedelta(seconds=1))
    assert clear_on_claim(state.pk, now) is False
    state.refresh_from_db()
    assert state.dirty_at is not None


def test_nobody_starves_when_many_more_are_due_than_a_tick_takes(configuration, enqueued, settings):
    """Thirty times more due users than a tick takes (6,000, 200 per tick), and every run finishes at once and is
    due again at once: the users who waited longest go first, so every one of them is dispatched within 30 ticks
    (an unordered LIMIT served the same ones again and again)."""
    settings.SYNC_DISPATCH_BATCH = 200
    users = in_sync_users(6_000, due_in=-timedelta(minutes=5))
    UserObjectState.objects.update(next_due_at=timezone.now() - timedelta(minutes=5))
    dispatched: set[int] = set()
    now = timezone.now()
    for tick in range(30):
        now += timedelta(seconds=30)
        result = dispatch_due(now=now)
        assert result.count == 200, f"tick {tick}"
        dispatched.update(run.user_id for run in result.runs)
        # The runs end at once and their users are due again right away (the worst case for starvation).
        SyncRun.objects.filter(state=SyncRun.State.QUEUED).update(state=SyncRun.State.SUCCEEDED, finished_at=now)
        UserObjectState.objects.filter(user_id__in=[run.user_id for run in result.runs]).update(next_due_at=now)
    assert dispatched == {user.pk for user in users}


def listener_beating(now):
    ChangeFeed.objects.update_or_create(kind=ChangeFeed.Kind.LISTENER, key="", defaults={"heartbeat_at": now})


def salesforce_feed_polled(object_type, now, state=ChangeFeed.State.HEALTHY):
    ChangeFeed.objects.update_or_create(kind=ChangeFeed.Kind.SALESFORCE, key=object_type,
                                        defaults={"state": state, "last_poll_at": now})


def test_an_object_is_covered_only_when_every_end_it_reads_has_a_live_feed(settings):
    from tests.factories import make_user

    settings.GRAPH_NOTIFICATION_URL = ""
    user = make_user()
    now = timezone.now()
    assert not covered(user.pk, "contacts", "both", "ews", now)  # no listener at all: polled as before
    listener_beating(now)
    salesforce_feed_polled("contacts", now)
    assert covered(user.pk, "contacts", "salesforce_to_outlook", "ews", now)  # reads Salesforce only
    assert not covered(user.pk, "contacts", "both", "ews", now)  # no subscription on the mailbox yet
    MailboxSubscription.objects.create(user=user, object="contacts", protocol="ews", subscription_id="s1")
    assert covered(user.pk, "contacts", "both", "ews", now)
    assert not covered(user.pk, "contacts", "both", "graph", now)
    # A stale heartbeat, a failed feed, or a failed subscription: polled again.
    assert not covered(user.pk, "contacts", "both", "ews", now + timedelta(minutes=5))
    salesforce_feed_polled("contacts", now, state=ChangeFeed.State.FAILED)
    assert not covered(user.pk, "contacts", "salesforce_to_outlook", "ews", now)
    assert covered(user.pk, "contacts", "outlook_to_salesforce", "ews", now)
    MailboxSubscription.objects.update(state=MailboxSubscription.State.FAILED)
    assert not covered(user.pk, "contacts", "outlook_to_salesforce", "ews", now)


def test_a_listener_that_stops_is_a_gap_every_object_is_marked_dirty(configuration):
    users = in_sync_users(2, due_in=timedelta(hours=6))
    now = timezone.now()
    listener_beating(now)
    salesforce_feed_polled("contacts", now)
    assert watch_feeds(now) == []
    assert watch_feeds(now + timedelta(seconds=30)) == []
    assert not UserObjectState.objects.filter(dirty_at__isnull=False).exists()
    later = now + timedelta(minutes=10)
    assert set(watch_feeds(later)) == {"listener", "salesforce:contacts"}
    assert set(UserObjectState.objects.filter(dirty_at__isnull=False).values_list("user_id", flat=True)) == {
        u.pk for u in users}
    listener = ChangeFeed.objects.get(kind=ChangeFeed.Kind.LISTENER)
    assert listener.state == ChangeFeed.State.FAILED and "manage.py listen" in listener.error_message
    UserObjectState.objects.update(dirty_at=None)
    assert watch_feeds(later + timedelta(seconds=30)) == []  # a gap is marked once, not at every tick


def test_a_graph_subscription_that_lapsed_is_a_gap(configuration):
    (user,) = in_sync_users(1, due_in=timedelta(hours=6))
    now = timezone.now()
    MailboxSubscription.objects.create(user=user, object="contacts", protocol="graph", subscription_id="g1",
                                       expires_at=now - timedelta(minutes=1))
    watch_feeds(now)
    subscription = MailboxSubscription.objects.get()
    assert subscription.state == MailboxSubscription.State.FAILED and "renewed" in subscription.error_message
    assert UserObjectState.objects.get(user=user).dirty_at is not None


def test_a_covered_object_is_swept_and_an_uncovered_one_polls_at_the_interval(configuration, settings):
    from sync.runner import _schedule
    from tests.factories import make_user

    settings.SYNC_SWEEP_HOURS = 6
    user = make_user()
    now = timezone.now()
    configuration.sync_interval_minutes = 10
    assert _schedule(configuration, "both", user.pk, "contacts", "ews") == (10, False)  # no feeds: polling
    listener_beating(now)
    salesforce_feed_polled("contacts", now)
    MailboxSubscription.objects.create(user=user, object="contacts", protocol="ews", subscription_id="s1")
    assert _schedule(configuration, "both", user.pk, "contacts", "ews") == (360, True)
    configuration.sync_mode = "schedule"
    assert _schedule(configuration, "both", user.pk, "contacts", "ews") == (10, False)


def test_a_settled_mark_is_due_at_once(configuration, enqueued, settings):
    """A poll already gathered every change since the last one (the Salesforce org feed): no debounce to wait."""
    settings.SYNC_DEBOUNCE_SECONDS = 3
    users = in_sync_users(2, due_in=timedelta(hours=6))
    now = timezone.now()
    mark_dirty([users[0].pk], ["contacts"], settled=True, now=now)
    mark_dirty([users[1].pk], ["contacts"], now=now)
    assert [run.user_id for run in dispatch_due(now=now).runs] == [users[0].pk]


def test_outlook_changes_seen_while_a_run_holds_the_lease_are_checked_when_it_ends(configuration):
    """The run's own write is notified before the run stored its version: held, it is recognised at the end and
    marks nothing; a real change held the same way marks the object for the next run."""
    from sync.feeds.dirty import report_outlook_changes, settle_held_changes
    from sync.models import RecordLink

    (user,) = in_sync_users(1, due_in=timedelta(hours=6))
    state = UserObjectState.objects.get(user=user)
    now = timezone.now()
    UserObjectState.objects.filter(pk=state.pk).update(lease_owner="run", lease_expires_at=now + timedelta(minutes=5))
    assert report_outlook_changes(user.pk, "contacts", {"AAA": "ck2"}, now=now)  # held, not marked
    state.refresh_from_db()
    assert state.dirty_at is None and state.held_changes == {"AAA": "ck2"}
    # The run commits the link with the version it wrote, releases its lease, and settles: an echo, nothing marked.
    RecordLink.objects.create(user=user, object="contacts", salesforce_id="003000000000001", outlook_id="AAA",
                              outlook_version="ck2")
    UserObjectState.objects.filter(pk=state.pk).update(lease_owner="", lease_expires_at=None)
    assert not settle_held_changes(state.pk)
    state.refresh_from_db()
    assert state.dirty_at is None and state.held_changes == {}
    # A real change (another version, or a deletion) held during a run marks the object once the run ends.
    UserObjectState.objects.filter(pk=state.pk).update(lease_owner="run", lease_expires_at=now + timedelta(minutes=5))
    report_outlook_changes(user.pk, "contacts", {"AAA": "ck3", "BBB": ""}, now=now)
    UserObjectState.objects.filter(pk=state.pk).update(lease_owner="", lease_expires_at=None)
    assert settle_held_changes(state.pk)
    state.refresh_from_db()
    assert state.dirty_at is not None
    # No run under way: the sync's own write marks nothing, a real change marks at once.
    UserObjectState.objects.filter(pk=state.pk).update(dirty_at=None)
    assert not report_outlook_changes(user.pk, "contacts", {"AAA": 'W/"ck2"'}, now=now)
    assert report_outlook_changes(user.pk, "contacts", {"AAA": "ck9"}, now=now)

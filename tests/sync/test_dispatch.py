"""The dispatcher picks exactly the due users' synced objects, in a constant number of queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from configurations.services import create_configuration, update_configuration
from sync.dispatch import dispatch_due
from sync.models import SyncRun
from users.models import SyncState, SyncUser, UserObjectState
from users.services import add_sync_user, assign_users

pytestmark = pytest.mark.django_db


def make_users(count: int, start: int = 1) -> list[SyncUser]:
    return [
        add_sync_user({"salesforce_id": f"005{n:012d}", "username": f"user{n}@example.com",
                       "email": f"user{n}@example.com", "profile": "Standard User"})
        for n in range(start, start + count)
    ]


@pytest.fixture
def configuration():
    return create_configuration({
        "name": "Sales",
        "data_settings": {
            "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"},
            "events": {"direction": "salesforce_to_outlook", "conflict_behavior": "salesforce_wins"},
        },
    })


def pairs(runs):
    return sorted((run.user_id, run.object) for run in runs)


def test_new_assigned_users_are_due_for_their_synced_objects(
    configuration, enqueued, django_capture_on_commit_callbacks
):
    users = make_users(3)
    assign_users(configuration, [u.username for u in users[:2]])
    with django_capture_on_commit_callbacks(execute=True):
        result = dispatch_due()
    assert pairs(result.runs) == sorted((u.pk, o) for u in users[:2] for o in ("contacts", "events"))
    assert all(run.full and run.trigger == "schedule" for run in result.runs)
    assert len(enqueued) == 4
    stored = list(SyncRun.objects.all())
    assert pairs(stored) == pairs(result.runs)
    assert all(r.state == "queued" and r.full and r.counts == {} and r.api_calls == {} and r.created_at
               for r in stored)


def test_queued_or_running_objects_are_not_dispatched_twice(configuration, enqueued):
    (user,) = make_users(1)
    assign_users(configuration, [user.username])
    assert dispatch_due().count == 2
    assert dispatch_due().count == 0


def test_needs_attention_waits_and_schedule_is_honoured(configuration, enqueued):
    users = make_users(3)
    assign_users(configuration, [u.username for u in users])
    now = timezone.now()
    UserObjectState.objects.filter(user=users[0]).update(state=SyncState.NEEDS_ATTENTION, next_due_at=None)
    UserObjectState.objects.filter(user=users[1]).update(state=SyncState.IN_SYNC,
                                                         next_due_at=now + timedelta(minutes=5),
                                                         salesforce_watermark=now)
    UserObjectState.objects.filter(user=users[2]).update(state=SyncState.IN_SYNC,
                                                         next_due_at=now - timedelta(seconds=1),
                                                         salesforce_watermark=now)
    result = dispatch_due()
    assert pairs(result.runs) == [(users[2].pk, "contacts"), (users[2].pk, "events")]
    assert not any(run.full for run in result.runs)


def test_leased_objects_wait_until_the_lease_expires(configuration, enqueued):
    (user,) = make_users(1)
    assign_users(configuration, [user.username])
    now = timezone.now()
    UserObjectState.objects.filter(user=user, object="contacts").update(
        lease_owner="worker-1", lease_expires_at=now + timedelta(minutes=1))
    UserObjectState.objects.filter(user=user, object="events").update(
        lease_owner="dead-worker", lease_expires_at=now - timedelta(minutes=1))
    assert pairs(dispatch_due().runs) == [(user.pk, "events")]


def test_configuration_change_takes_effect_at_next_dispatch(configuration, enqueued):
    (user,) = make_users(1)
    assign_users(configuration, [user.username])
    UserObjectState.objects.filter(user=user, object="tasks").update(state=SyncState.DISABLED, next_due_at=None)
    SyncRun.objects.all().delete()
    assert {r.object for r in dispatch_due().runs} == {"contacts", "events"}
    update_configuration(configuration, {"data_settings": {"tasks": {"direction": "both",
                                                                     "conflict_behavior": "outlook_wins"}}})
    assert [r.object for r in dispatch_due().runs] == ["tasks"]


def test_inactive_and_unassigned_users_are_never_due(configuration, enqueued):
    users = make_users(2)
    assign_users(configuration, [users[0].username])
    SyncUser.objects.filter(pk=users[0].pk).update(active=False)
    assert dispatch_due().count == 0
    update_configuration(configuration, {"active": False})
    SyncUser.objects.filter(pk=users[0].pk).update(active=True)
    assert dispatch_due().count == 0


def test_query_count_does_not_grow_with_users(configuration, enqueued):
    make_users(3)
    assign_users(configuration, [f"user{n}@example.com" for n in range(1, 4)])
    with CaptureQueriesContext(connection) as few:
        assert dispatch_due().count == 6
    make_users(30, start=10)
    assign_users(configuration, [f"user{n}@example.com" for n in range(10, 40)])
    with CaptureQueriesContext(connection) as many:
        assert dispatch_due().count == 60
    assert len(many.captured_queries) == len(few.captured_queries)


def test_a_running_run_blocks_only_while_its_lease_holds(configuration, enqueued):
    (user,) = make_users(1)
    assign_users(configuration, [user.username])
    runs = dispatch_due().runs
    SyncRun.objects.filter(pk__in=[r.pk for r in runs]).update(state="running")
    now = timezone.now()
    UserObjectState.objects.filter(user=user, object="contacts").update(
        lease_owner="worker-1", lease_expires_at=now + timedelta(minutes=1))
    UserObjectState.objects.filter(user=user, object="events").update(
        lease_owner="killed-worker", lease_expires_at=now - timedelta(seconds=1))
    assert pairs(dispatch_due().runs) == [(user.pk, "events")]


def test_runs_are_sent_after_commit_to_their_queue_at_once_and_stamped_sent(
    configuration, enqueued, django_capture_on_commit_callbacks
):
    first, second = make_users(2)
    assign_users(configuration, [first.username, second.username])
    UserObjectState.objects.filter(user=second).update(state=SyncState.IN_SYNC, salesforce_watermark=timezone.now(),
                                                       next_due_at=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        result = dispatch_due()
        assert enqueued == []
    assert enqueued == result.runs
    queues = {(run.user_id, run.object): queue for run, queue in zip(enqueued, enqueued.queues, strict=True)}
    assert queues == {(first.pk, "contacts"): "initial", (first.pk, "events"): "initial",
                      (second.pk, "contacts"): "sync", (second.pk, "events"): "sync"}
    # Sent for immediate delivery (the seam takes no delay at all), and recorded as sent once.
    assert all(run.sent_at is not None and run.sends == 1 for run in SyncRun.objects.all())

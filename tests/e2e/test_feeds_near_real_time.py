"""Near real time end to end, with the product's real processes: a Celery worker, beat and the change-feed listener
(`manage.py listen`) against the sandbox. A contact changed in Salesforce reaches the user's Exchange contacts
folder, and an event changed in Exchange reaches Salesforce, each within seconds and by a run the change triggered
(trigger `change`); after that run the object is next due only at the safety-net sweep, hours away: nothing polls.

The Salesforce org feed polls every 2 s here (SALESFORCE_FEED_SECONDS) to keep the test short; EWS changes are
pushed over the listener's streaming subscriptions.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from sync.models import ChangeFeed, MailboxSubscription, RecordLink, SyncRun
from tests.processes import celery_beat, celery_worker, listener, wait_for
from users.models import UserObjectState

pytestmark = pytest.mark.e2e

BOTH = {"direction": "both", "conflict_behavior": "salesforce_wins"}
SYNCED = ("contacts", "events")
DEADLINE_SECONDS = 60
# Every process of a test gets these (the Salesforce feed polls every 2 s instead of every 30 s).
FAST_FEEDS = {"SALESFORCE_FEED_SECONDS": "2"}


# ---- helpers shared with test_feeds_listener_faults.py ------------------------------------------------------------
@contextlib.contextmanager
def product(tmp_path: Path, *, with_listener: bool = True, **env: str):
    """A worker, beat (every 5 s) and, unless told otherwise, a listener, all sharing the test database; their
    logs are printed if the block fails, so a timed-out wait says why.

    Not every 2 s: beat's tasks expire after one interval, and the filesystem broker (no REDIS_URL) hands the worker
    about one message a second, so at 2 s two of each tick's three tasks expired before the worker read them and
    `watch_feeds` (in dispatch_due_syncs) hardly ever ran."""
    logs = {name: tmp_path / f"{name}.log" for name in ("worker", "beat", "listener")}
    try:
        with celery_worker("sync,initial,default", log_path=logs["worker"], **env), \
                celery_beat(tmp_path / "beat-schedule", interval_seconds=5, log_path=logs["beat"], **env), \
                (listener(log_path=logs["listener"], **env) if with_listener else contextlib.nullcontext()) as one:
            yield one
    except BaseException:
        print_logs(*logs.values())
        raise


def print_logs(*paths: Path) -> None:
    for path in paths:
        if path.exists():
            print(f"---- {path.name} (last lines) ----")
            print("\n".join(path.read_text(errors="replace").splitlines()[-60:]))


def state_of(person, object_type: str) -> UserObjectState | None:
    return UserObjectState.objects.filter(user=person.sync_user, object=object_type).first()


def busy(person, objects=SYNCED) -> bool:
    """Whether a run of these objects is queued or running, or a change waits for one."""
    return SyncRun.objects.filter(user=person.sync_user, object__in=objects,
                                  state__in=[SyncRun.State.QUEUED, SyncRun.State.RUNNING]).exists() or \
        UserObjectState.objects.filter(user=person.sync_user, object__in=objects, dirty_at__isnull=False).exists()


def wait_until_quiet(person, objects=SYNCED, timeout: float = DEADLINE_SECONDS) -> None:
    """Wait until nothing is queued, running or dirty for these objects, twice in a row a second apart (a gap run
    the listener's start triggered may follow a first sync)."""
    calm: list[bool] = []

    def quiet() -> bool:
        calm.append(not busy(person, objects))
        return len(calm) >= 2 and calm[-1] and calm[-2]

    wait_for(quiet, timeout, interval=1, message=f"no run queued, running or waiting for {', '.join(objects)}")


def runs_since(person, object_type: str, moment: datetime):
    return SyncRun.objects.filter(user=person.sync_user, object=object_type, created_at__gte=moment)


def wait_for_sweep_schedule(person, object_type: str) -> UserObjectState:
    """Wait for the object's run to end with its next run at the sweep (SYNC_SWEEP_HOURS), not the interval."""
    def on_sweep():
        state = state_of(person, object_type)
        horizon = timezone.now() + timedelta(hours=settings.SYNC_SWEEP_HOURS) - timedelta(minutes=10)
        return state if state and not state.lease_owner and state.next_due_at and state.next_due_at > horizon \
            else None

    return wait_for(on_sweep, DEADLINE_SECONDS, interval=0.5,
                    message=f"{object_type} next due at the sweep ({settings.SYNC_SWEEP_HOURS} h away)")


def assert_changed_by_change_runs_then_on_sweep(person, object_type: str, changed_at: datetime) -> None:
    """The runs since the change were all triggered by it (an echo of the run's own write may add one: see the
    notes of issue 14), none failed, and once they are done the object is next due at the sweep."""
    wait_until_quiet(person, [object_type])
    state = wait_for_sweep_schedule(person, object_type)
    runs = list(runs_since(person, object_type, changed_at).values_list("trigger", "state", "full"))
    assert runs and all(run == (SyncRun.Trigger.CHANGE, SyncRun.State.SUCCEEDED, False) for run in runs), runs
    assert state.dirty_at is None and state.state == "in_sync"
    print(f"{object_type}: {len(runs)} change run(s) after the change")


def first_event_start() -> datetime:
    return (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


# ---- the scenario --------------------------------------------------------------------------------------------------
def test_changes_on_either_side_reach_the_other_within_seconds_and_nothing_polls(live_world, tmp_path):
    person = live_world.person()
    live_world.configure(person, contacts=BOTH, events=BOTH)
    person.outlook._folder(create=True)  # its contacts are watched in it from the listener's start
    contact_id = person.salesforce.Contact.create({"FirstName": "Grace", "LastName": "Hopper",
                                                   "Title": "Rear admiral"})["id"]
    start = first_event_start()
    event_item = person.outlook.create_event("Design review", start, start + timedelta(hours=1))

    with product(tmp_path, **FAST_FEEDS):
        # The first syncs (beat dispatches objects never synced) link both records on both ends.
        wait_for(lambda: RecordLink.objects.filter(user=person.sync_user, object__in=SYNCED).count() == 2,
                 DEADLINE_SECONDS, interval=1, message="the first syncs to link the contact and the event")
        wait_for(lambda: MailboxSubscription.objects.filter(user=person.sync_user, protocol="ews",
                                                            state="active").count() == len(SYNCED),
                 DEADLINE_SECONDS, message="EWS streaming subscriptions on the contacts folder and the calendar")
        wait_until_quiet(person)

        # Salesforce → Exchange: the org feed sees the change, the user's contacts run.
        changed_at = timezone.now()
        person.salesforce.Contact.update(contact_id, {"Title": "Commodore"})
        wait_for(lambda: [c for c in person.outlook.contacts() if c["job_title"] == "Commodore"],
                 DEADLINE_SECONDS, interval=1, message="the Salesforce change in the Exchange contacts folder")
        seconds = (timezone.now() - changed_at).total_seconds()
        assert_changed_by_change_runs_then_on_sweep(person, "contacts", changed_at)
        print(f"Salesforce → Exchange in {seconds:.1f} s")

        # Exchange → Salesforce: the streaming subscription on the calendar reports the change.
        wait_until_quiet(person)
        changed_at = timezone.now()
        person.outlook.update_event(event_item, subject="Design review (moved)")
        query = "SELECT Subject FROM Event WHERE Subject = 'Design review (moved)'"
        wait_for(lambda: person.salesforce.query(query)["totalSize"] == 1, DEADLINE_SECONDS, interval=1,
                 message="the Exchange change in Salesforce")
        seconds = (timezone.now() - changed_at).total_seconds()
        assert_changed_by_change_runs_then_on_sweep(person, "events", changed_at)
        print(f"Exchange → Salesforce in {seconds:.1f} s")

        # Nothing else ran meanwhile: no schedule run, and the contacts (unchanged since) were not read again.
        assert not runs_since(person, "contacts", changed_at).exists()
        assert not SyncRun.objects.filter(user=person.sync_user, trigger=SyncRun.Trigger.SCHEDULE,
                                          created_at__gte=changed_at).exists()
        feed = ChangeFeed.objects.get(kind=ChangeFeed.Kind.SALESFORCE, key="contacts")
        assert feed.state == ChangeFeed.State.HEALTHY and feed.last_change_at is not None

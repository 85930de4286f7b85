"""The change-feed listener under faults, with real processes against the sandbox (issue 14, point 5):

- killed (SIGKILL) mid-stream: a change made in Exchange while it is down is still synced, because beat's
  `watch_feeds` turns its stale heartbeat into a gap (every object marked dirty) and the objects fall back to their
  configuration's interval; started again, it marks what it subscribes dirty and the objects go back to the sweep;
- two listeners started by mistake: one holds the lease and only one set of EWS subscriptions exists in Exchange;
  killing the active one lets the standby take over once the lease lapses.

Every process gets a short stale time and lease (LISTENER_STALE_SECONDS, LISTENER_LEASE_SECONDS) so the gaps show
within seconds; the listener beats its heartbeat every 5 s.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from sync.feeds.coverage import LISTENER_KEY
from sync.models import ChangeFeed, MailboxSubscription, RecordLink, SyncRun
from tests.e2e.test_feeds_near_real_time import (
    BOTH,
    DEADLINE_SECONDS,
    first_event_start,
    print_logs,
    product,
    runs_since,
    state_of,
    wait_for_sweep_schedule,
    wait_until_quiet,
)
from tests.processes import kill_hard, listener, wait_for

pytestmark = pytest.mark.e2e

FAULT_ENV = {"SALESFORCE_FEED_SECONDS": "2", "LISTENER_STALE_SECONDS": "12", "LISTENER_LEASE_SECONDS": "10"}
INTERVAL_MINUTES = 10  # the configurations' default interval, what an uncovered object polls at


@pytest.fixture
def streams_notice_dead_readers(live_world):
    """The EWS emulator's stream heartbeat every 2 s instead of 60 s, for the module's tests.

    A listener killed with SIGKILL leaves its GetStreamingEvents connection open at the emulator until a write to it
    fails, holding its subscriptions (a new connection for the same subscription would end it with
    ErrorNewEventStreamConnectionOpened, as Exchange does, but the next listener may subscribe afresh). A heartbeat
    every 2 s makes the dead connection fail within seconds, as it would on a real server within its minute."""
    url = f"{live_world.sandbox.exchange_url}/_sandbox/ews/subscriptions/settings"
    before = live_world.http().get(url, timeout=30).json()
    response = live_world.http().post(url, json={"heartbeat_seconds": 2}, timeout=30)
    assert response.status_code == 200, response.text
    yield
    live_world.http().post(url, json={"heartbeat_seconds": before["heartbeat_seconds"]}, timeout=30)


def listener_row() -> ChangeFeed | None:
    return ChangeFeed.objects.filter(kind=ChangeFeed.Kind.LISTENER, key=LISTENER_KEY).first()


def subscribed(person, objects) -> bool:
    return MailboxSubscription.objects.filter(user=person.sync_user, protocol="ews", object__in=objects,
                                              state=MailboxSubscription.State.ACTIVE).count() == len(objects)


def salesforce_feed_polled(object_type: str) -> bool:
    return ChangeFeed.objects.filter(kind=ChangeFeed.Kind.SALESFORCE, key=object_type, state="healthy",
                                     last_poll_at__isnull=False).exists()


def in_salesforce(person, subject: str) -> bool:
    rows = person.salesforce.query_all("SELECT Subject FROM Event")["records"]
    return any(row["Subject"] == subject for row in rows)


def create_event(person, subject: str) -> str:
    start = first_event_start()
    return person.outlook.create_event(subject, start, start + timedelta(hours=1))


# ---- (a) killed mid-stream -----------------------------------------------------------------------------------------
def test_a_listener_killed_mid_stream_loses_nothing_and_its_restart_resumes(live_world, tmp_path,
                                                                            streams_notice_dead_readers):
    person = live_world.person()
    live_world.configure(person, events=BOTH)
    create_event(person, "Before the crash")
    try:
        # The listener first, so that the first sync already ends covered by both feeds (on the sweep schedule).
        with listener(log_path=tmp_path / "listener-1.log", **FAULT_ENV) as doomed:
            wait_for(lambda: subscribed(person, ["events"]) and salesforce_feed_polled("events"), DEADLINE_SECONDS,
                     message="the listener's EWS subscription on the calendar and its Salesforce feed's first poll")
            with product(tmp_path, with_listener=False, **FAULT_ENV):
                wait_for(lambda: RecordLink.objects.filter(user=person.sync_user, object="events").exists(),
                         DEADLINE_SECONDS, interval=1, message="the first sync of the events")
                wait_until_quiet(person, ["events"])
                wait_for_sweep_schedule(person, "events")
                assert listener_row().state == ChangeFeed.State.HEALTHY

                # Killed as a pulled plug would: no release of its lease, no word to anyone.
                kill_hard(doomed)
                killed_at = timezone.now()
                create_event(person, "While the listener was down")

                # Beat sees the heartbeat go stale: a gap, so the events run and sync what changed meanwhile.
                wait_for(lambda: in_salesforce(person, "While the listener was down"), DEADLINE_SECONDS, interval=1,
                         message="the change made while the listener was down in Salesforce")
                wait_until_quiet(person, ["events"])
                row = listener_row()
                assert (row.state, row.error_code) == (ChangeFeed.State.FAILED, "listener_stopped")
                assert "manage.py listen" in row.error_message and row.error_message.endswith(".")
                gap_runs = list(runs_since(person, "events", killed_at).values_list("trigger", "state"))
                assert gap_runs and all(run == ("change", "succeeded") for run in gap_runs), gap_runs
                # Not covered any more: the object polls at its configuration's interval, not the sweep.
                state = state_of(person, "events")
                assert state.next_due_at <= timezone.now() + timedelta(minutes=INTERVAL_MINUTES, seconds=30)

                # Started again: it takes the lapsed lease, marks what it subscribes dirty (its start is a gap),
                # and the run that follows finds the feeds live again, so the object goes back to the sweep.
                with listener(log_path=tmp_path / "listener-2.log", **FAULT_ENV):
                    restarted_at = timezone.now()
                    wait_for(lambda: listener_row().state == ChangeFeed.State.HEALTHY, DEADLINE_SECONDS,
                             message="the restarted listener to hold the lease")
                    wait_for(lambda: runs_since(person, "events", restarted_at).filter(trigger="change").exists(),
                             DEADLINE_SECONDS, message="a catch-up run after the listener's restart")
                    wait_until_quiet(person, ["events"])
                    wait_for_sweep_schedule(person, "events")

                    # And it streams again: a change in Exchange reaches Salesforce within seconds.
                    changed_at = timezone.now()
                    create_event(person, "After the restart")
                    wait_for(lambda: in_salesforce(person, "After the restart"), DEADLINE_SECONDS, interval=1,
                             message="a change made after the restart in Salesforce")
                    wait_until_quiet(person, ["events"])
                    wait_for_sweep_schedule(person, "events")
                    assert set(runs_since(person, "events", changed_at).values_list("trigger", flat=True)) == \
                        {"change"}
    except BaseException:
        print_logs(tmp_path / "listener-1.log", tmp_path / "listener-2.log")
        raise
    assert not SyncRun.objects.filter(user=person.sync_user, state=SyncRun.State.FAILED).exists()


# ---- (b) two listeners ---------------------------------------------------------------------------------------------
OWNER = re.compile(r"listener (\S+) starting")


def owner_of(log_path: Path) -> str | None:
    """The lease owner name a listener process chose (its first log line says it)."""
    found = OWNER.search(log_path.read_text(errors="replace")) if log_path.exists() else None
    return found.group(1) if found else None


def stand_bys(log_path: Path) -> int:
    return log_path.read_text(errors="replace").count("stands by") if log_path.exists() else 0


def emulated_subscriptions(world, mailbox: str) -> list[dict]:
    response = world.http().get(f"{world.sandbox.exchange_url}/_sandbox/ews/subscriptions",
                                params={"mailbox": mailbox}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["subscriptions"]


def test_two_listeners_one_holds_the_lease_and_the_standby_takes_over(live_world, tmp_path,
                                                                       streams_notice_dead_readers):
    person = live_world.person()
    live_world.configure(person, events=BOTH, tasks=BOTH)
    logs = [tmp_path / "listener-a.log", tmp_path / "listener-b.log"]
    try:
        with listener(log_path=logs[0], **FAULT_ENV) as first, listener(log_path=logs[1], **FAULT_ENV) as second:
            processes = dict(zip(logs, (first, second), strict=True))
            owners = wait_for(lambda: all(owner_of(log) for log in logs) and {owner_of(log): log for log in logs},
                              DEADLINE_SECONDS, message="both listeners to start")
            active_owner = wait_for(lambda: (row := listener_row()) and row.lease_owner in owners and
                                    row.lease_owner, DEADLINE_SECONDS, message="one listener to hold the lease")
            (standby_owner,) = set(owners) - {active_owner}
            standby_log = owners[standby_owner]
            wait_for(lambda: subscribed(person, ["events", "tasks"]), DEADLINE_SECONDS,
                     message="the EWS subscriptions on the calendar and the tasks")
            # The standby has looked at the lease twice since and kept out: still one set of subscriptions.
            seen = stand_bys(standby_log)
            wait_for(lambda: stand_bys(standby_log) >= seen + 2, DEADLINE_SECONDS,
                     message="the standby to stand by twice more")
            held = set(MailboxSubscription.objects.filter(user=person.sync_user)
                       .values_list("subscription_id", flat=True))
            emulated = emulated_subscriptions(live_world, person.username)
            assert {s["id"] for s in emulated} == held and len(held) == 2, emulated
            assert all(s["connected"] for s in emulated)
            assert listener_row().lease_owner == active_owner
            assert f"listener {standby_owner} holds the lease" not in standby_log.read_text()

            # The active one dies; once its lease lapses the standby takes over and holds the same subscriptions.
            kill_hard(processes[owners[active_owner]])
            killed_at = timezone.now()
            wait_for(lambda: listener_row().lease_owner == standby_owner, DEADLINE_SECONDS,
                     message="the standby to take the lease over")
            took_over = timezone.now()
            row = listener_row()
            assert row.state == ChangeFeed.State.HEALTHY and row.heartbeat_at >= killed_at
            assert f"listener {standby_owner} holds the lease" in standby_log.read_text()

            wait_for(lambda: (found := emulated_subscriptions(live_world, person.username))
                     and all(s["connected"] for s in found) and found, DEADLINE_SECONDS,
                     message="the standby's stream to read the mailbox's subscriptions")
            emulated = emulated_subscriptions(live_world, person.username)
            active_ids = {s["id"] for s in emulated if s["state"] != "expired"}
            held = set(MailboxSubscription.objects.filter(user=person.sync_user, state="active")
                       .values_list("subscription_id", flat=True))
            assert active_ids == held and len(held) == 2, emulated

            # The new active listener streams: a change in the mailbox reaches it.
            person.outlook.create_task("Call the listener's standby")
            wait_for(lambda: MailboxSubscription.objects.filter(user=person.sync_user, object="tasks",
                                                                last_event_at__gte=took_over).exists(),
                     DEADLINE_SECONDS, message="the task's change reported through the standby's stream")
    except BaseException:
        print_logs(*logs)
        raise

"""Idle cost of near-real-time sync: what N users cost per hour while nothing changes anywhere.

    .venv/bin/python benchmarks/idle_cost.py --users N --minutes M [--exchange ews|graph] [--logs DIR]

Starts the sandbox, PostgreSQL and Redis of its own, one Celery worker (thread pool), beat, the listener (and the
web app for Graph notifications), N users on a near-real-time configuration syncing contacts, events and tasks both
ways, at the product's default settings; waits until every first sync is done and the system is quiet (nothing
running or dirty, the feeds up, every object scheduled only for its sweep); then for M minutes with no change
anywhere counts Salesforce calls (the org feed's, made as the integration user, apart from the users'), Exchange
calls, runs and Celery tasks. Then it measures what one safety-net sweep run and one change-triggered run cost in
Salesforce calls (a few of each), and projects the share of an Enterprise org's daily API allocation 1,000 users
would use at the defaults with 10% of them changing one record an hour. Prints the figures and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import feeds_system  # noqa: E402
from benchmarks.chaos import snapshot  # noqa: E402
from benchmarks.feeds_system import OBJECTS, System, difference, say  # noqa: E402

PROJECTED_USERS = 1000
CHANGING_SHARE = 0.10  # of users changing one record per hour
ALLOCATION = 100_000 + 1_000 * PROJECTED_USERS  # Enterprise: 100,000 a day plus 1,000 per licence


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=10, help="the idle window")
    parser.add_argument("--exchange", choices=("ews", "graph"), default="ews", help="what serves the mailboxes")
    parser.add_argument("--records", type=int, default=1, help="records per object and end before the first sync")
    parser.add_argument("--samples", type=int, default=2, help="users whose sweep and change runs are measured")
    parser.add_argument("--concurrency", type=int, default=16, help="the worker's threads")
    parser.add_argument("--settle-minutes", type=float, default=20, help="the longest wait for quiet")
    parser.add_argument("--logs", type=Path, help="copy every process's log here before cleaning up")
    return parser.parse_args()


def main() -> int:
    args = arguments()
    if not snapshot.in_snapshot():
        return feeds_system.run_from_copy("benchmarks/idle_cost.py")
    if args.logs is not None:
        args.logs = Path(os.environ.get("CHAOS_CWD", ".")) / args.logs
    feeds_system.catch_signals()
    system = System(args.exchange, args.users, records=args.records, concurrency=args.concurrency)
    try:
        say(f"idle cost: {args.exchange}, {args.users} users, {args.minutes:g} idle minutes; code: "
            f"{os.environ[snapshot.MARKER]}; machine: {feeds_system.machine()}")
        system.start()
        say(f"first syncs: {system.wait_first_syncs(timeout=max(600, args.users * 6))}")
        quiet = system.wait_quiet(60, args.settle_minutes * 60, until_swept=True)
        say(f"quiet: {quiet}")
        idle = measure_idle(system, args.minutes)
        sweep = measure_sweeps(system, args.samples)
        change = measure_changes(system, args.samples)
        result = report(args, system, quiet, idle, sweep, change)
        print(json.dumps(result), flush=True)
        return 0
    except KeyboardInterrupt:
        say("idle cost: interrupted; stopping everything it started")
        return 130
    finally:
        feeds_system.ignore_signals()
        system.close(args.logs)


def measure_idle(system: System, minutes: float) -> dict:
    from django.utils import timezone

    from sandbox.services import INTEGRATION_USER
    from sync.models import ChangeFeed

    say(f"idle window: {minutes:g} minutes with no change anywhere ...")
    feed_calls_before = dict(ChangeFeed.objects.filter(kind=ChangeFeed.Kind.SALESFORCE).values_list("key",
                                                                                                    "api_calls"))
    before, marks, began, clock = system.sandbox_stats(), system.log_marks(), timezone.now(), time.monotonic()
    polls = feeds_system.FeedPolls().start()
    deadline = clock + minutes * 60
    while time.monotonic() < deadline:
        time.sleep(min(60.0, max(0.0, deadline - time.monotonic())))
        say(f"  {(time.monotonic() - clock) / 60:4.1f} min: {system.health()}")
    after, end_marks, hours = system.sandbox_stats(), system.log_marks(), (time.monotonic() - clock) / 3600
    feed_polls = polls.stop()
    feed_calls_after = dict(ChangeFeed.objects.filter(kind=ChangeFeed.Kind.SALESFORCE).values_list("key",
                                                                                                   "api_calls"))
    usernames = {p.username for p in system.people}
    salesforce_by_user = difference(after["salesforce"]["calls_by_user"], before["salesforce"]["calls_by_user"])
    ews_ops = difference(after["exchange"]["calls"], before["exchange"]["calls"])
    graph_calls = difference(after["graph"]["calls"], before["graph"]["calls"])
    runs = feeds_system.runs_since(began, system.user_ids)
    return {
        "hours": hours,
        "salesforce_by_user": salesforce_by_user,
        "org_feed_calls": salesforce_by_user.get(INTEGRATION_USER, 0),
        "user_salesforce_calls": sum(v for k, v in salesforce_by_user.items() if k in usernames),
        "other_salesforce_calls": sum(v for k, v in salesforce_by_user.items()
                                      if k not in usernames and k != INTEGRATION_USER),
        "org_usage": after["salesforce"]["api_usage"]["used"] - before["salesforce"]["api_usage"]["used"],
        "feed_row_calls": {k: feed_calls_after.get(k, 0) - feed_calls_before.get(k, 0) for k in feed_calls_after},
        "feed_polls": dict(feed_polls),
        "ews_ops": ews_ops,
        "ews_feed_calls": sum(v for k, v in ews_ops.items() if k in feeds_system.EWS_FEED_OPERATIONS),
        "ews_sync_calls": sum(v for k, v in ews_ops.items() if k not in feeds_system.EWS_FEED_OPERATIONS),
        "graph_calls": graph_calls,
        "graph_subscription_calls": sum(v for k, v in graph_calls.items() if "subscription" in k.lower()),
        "graph_notifications": difference(after["graph"].get("notifications", {}),
                                          before["graph"].get("notifications", {})),
        "runs": runs,
        "tasks": feeds_system.tasks_received(system.log_lines("worker", marks, end_marks)),
        "beat": feeds_system.beat_sent(system.log_lines("beat", marks, end_marks)),
    }


def _sample_users(system: System, count: int) -> list:
    return system.people[:max(1, min(count, len(system.people)))]


def _wait_runs(system: System, began, expected: int, timeout: float) -> list:
    """The runs created since `began`, once at least `expected` exist and every one of them has ended."""
    from sync.models import SyncRun

    deadline = time.monotonic() + timeout
    while True:
        runs = feeds_system.runs_since(began, system.user_ids)
        ended = [r for r in runs if r.state not in (SyncRun.State.QUEUED, SyncRun.State.RUNNING)]
        if (len(runs) >= expected and len(ended) == len(runs)) or time.monotonic() > deadline:
            return runs
        time.sleep(2)


def measure_sweeps(system: System, samples: int) -> dict:
    """Bring the safety-net sweep of a few users' objects forward (their `next_due_at` set to now, as when the
    SYNC_SWEEP_HOURS elapse): beat's dispatcher queues them as incremental scheduled runs; their Salesforce calls."""
    from django.utils import timezone

    from users.models import UserObjectState

    people = _sample_users(system, samples)
    say(f"sweep runs: bringing {len(people)} user(s)' sweeps forward ...")
    began = timezone.now()
    UserObjectState.objects.filter(user_id__in=[p.sync_user_id for p in people]).update(next_due_at=began)
    runs = _wait_runs(system, began, len(people) * len(OBJECTS), timeout=180)
    sweeps = [r for r in runs if r.trigger == "schedule" and not r.full]
    calls = [feeds_system.salesforce_calls(r) for r in sweeps]
    return {"runs": len(runs), "sweeps": len(sweeps), "calls": calls,
            "per_run": sum(calls) / len(calls) if calls else None,
            "states": sorted({r.state for r in runs})}


def measure_changes(system: System, samples: int) -> dict:
    """One update per object on each end for a few users, one at a time: each change waits for its run, and for
    the echo of that run's own write if one comes, before the next is made (otherwise a change on the other end
    would ride on the same run). Every run that follows counts against the changes that caused it."""
    from django.utils import timezone

    people = _sample_users(system, samples)
    system.wait_quiet(20, 300)
    say(f"change runs: {len(people) * len(OBJECTS) * 2} updates, one at a time, on both ends for {len(people)} "
        f"user(s) ...")
    began = timezone.now()
    made = Counter()
    log: list[str] = []
    for side in ("salesforce", "outlook"):
        for person in people:
            for object_type in OBJECTS:
                records = [r for r in system.ledger.records[(person.index, object_type)].values()
                           if r.state == "alive"]
                if not records:
                    continue
                moment = timezone.now()
                outcome = system.ledger._attempt(person, records[0], side, "update", system.ledger._value())
                made[f"{side}:{outcome}"] += 1
                log.append(f"{(timezone.now() - began).total_seconds():5.1f} s: {object_type} of "
                           f"{person.username} updated on {side} ({outcome})")
                if outcome == "applied":
                    _wait_for_run(system, person.sync_user_id, object_type, moment, timeout=200)
    changes = made.get("salesforce:applied", 0) + made.get("outlook:applied", 0)
    quiet = system.wait_quiet(20, 300)
    runs = feeds_system.runs_since(began, system.user_ids)
    calls = sum(feeds_system.salesforce_calls(r) for r in runs)
    return {"changes": changes, "made": dict(made), "runs": len(runs), "salesforce_calls": calls,
            "per_change": calls / changes if changes else None, "quiet": quiet["quiet"],
            "by_trigger": dict(Counter(r.trigger for r in runs)),
            "log": log + [f"{(r.created_at - began).total_seconds():5.1f} s: run {r.pk} {r.object} of user "
                          f"{r.user_id} ({r.trigger}) calls {r.api_calls} counts {r.counts}" for r in runs]}


ECHO_PATIENCE_SECONDS = 15  # an echo of the run's own write arrives within seconds (EWS, Graph) ...


def _wait_for_run(system: System, user_id: int, object_type: str, since, timeout: float) -> None:
    """Until a run of the object created after `since` has ended and the object stayed clean (not dirty, nothing
    queued or running) for ECHO_PATIENCE_SECONDS; the Salesforce feed's echo would come within its interval, and
    is left to the final wait."""
    from sync.models import SyncRun
    from users.models import UserObjectState

    deadline = time.monotonic() + timeout
    clean_since = None
    while time.monotonic() < deadline:
        runs = SyncRun.objects.filter(user_id=user_id, object=object_type, created_at__gt=since)
        busy = runs.filter(state__in=[SyncRun.State.QUEUED, SyncRun.State.RUNNING]).exists()
        dirty = UserObjectState.objects.filter(user_id=user_id, object=object_type, dirty_at__isnull=False).exists()
        if runs.exists() and not busy and not dirty:
            clean_since = clean_since or time.monotonic()
            if time.monotonic() - clean_since >= ECHO_PATIENCE_SECONDS:
                return
        else:
            clean_since = None
        time.sleep(1)
    say(f"  no run of user {user_id}'s {object_type} ended within {timeout:.0f} s of the change; going on")


def report(args, system: System, quiet: dict, idle: dict, sweep: dict, change: dict) -> dict:
    from django.conf import settings

    users, hours = len(system.people), idle["hours"]
    user_hours = users * hours
    runs = idle["runs"]
    sync_tasks = sum(v for k, v in idle["tasks"].items() if k == "sync.tasks.sync_run")
    exchange_calls = sum(idle["ews_ops"].values()) + sum(idle["graph_calls"].values())
    polls = sum(idle["feed_polls"].values())
    per_poll = idle["org_feed_calls"] / polls if polls else 1.0

    say("\n==== idle cost ====")
    say(f"{args.exchange}, {users} users, idle window {hours * 60:.1f} min; machine: {feeds_system.machine()}")
    say(f"quiet before the window: {quiet}")
    say(f"Salesforce calls by user in the window: {dict(idle['salesforce_by_user'])}")
    say(f"  org feed (integration user): {idle['org_feed_calls']} in {polls} polls {idle['feed_polls']}; "
        f"feed rows counted {idle['feed_row_calls']}")
    say(f"  synced users: {idle['user_salesforce_calls']}; anyone else: {idle['other_salesforce_calls']}; "
        f"org API usage grew by {idle['org_usage']}")
    say(f"EWS operations: {dict(idle['ews_ops'])} (streaming {idle['ews_feed_calls']}, "
        f"users' syncs {idle['ews_sync_calls']})")
    say(f"Graph calls: {dict(idle['graph_calls'])}; notifications {dict(idle['graph_notifications'])}")
    say(f"runs created: {len(runs)} {dict(Counter((r.object, r.trigger) for r in runs))}")
    say(f"tasks the worker received: {dict(idle['tasks'])}")
    say(f"tasks beat sent: {dict(idle['beat'])}")
    say(f"sweep runs measured: {sweep}")
    say(f"change runs measured: { {k: v for k, v in change.items() if k != 'log'} }")
    for line in sorted(change["log"]):
        say(f"    {line}")

    sf_per_user_hour = idle["user_salesforce_calls"] / user_hours
    feed_per_hour = idle["org_feed_calls"] / hours
    # The projection: with 100 changes an hour spread over three objects, each object's feed sees a change every
    # few minutes and stays on its busy interval (SALESFORCE_FEED_SECONDS).
    feed_day = len(OBJECTS) * per_poll * 86400 / settings.SALESFORCE_FEED_SECONDS
    sweeps_day = PROJECTED_USERS * len(OBJECTS) * (24 / settings.SYNC_SWEEP_HOURS) * (sweep["per_run"] or 0)
    changes_day = PROJECTED_USERS * CHANGING_SHARE * 24 * (change["per_change"] or 0)
    idle_day = sf_per_user_hour * PROJECTED_USERS * 24
    total = feed_day + sweeps_day + changes_day + idle_day
    share = total / ALLOCATION
    say("\nprojection for 1,000 users at the defaults, 10% of them changing one record an hour:")
    say(f"  org feed: {len(OBJECTS)} objects x {per_poll:.2f} calls per poll x 86,400 s / "
        f"{settings.SALESFORCE_FEED_SECONDS} s = {feed_day:,.0f} calls/day "
        f"(measured while idle: {feed_per_hour * 24:,.0f}/day; idle interval "
        f"{settings.SALESFORCE_FEED_IDLE_SECONDS} s after 10 quiet minutes)")
    say(f"  sweeps: 1,000 users x {len(OBJECTS)} objects x {24 / settings.SYNC_SWEEP_HOURS:g} a day x "
        f"{sweep['per_run'] or 0:.2f} calls per incremental run = {sweeps_day:,.0f} calls/day")
    say(f"  changes: 100/h x 24 x {change['per_change'] or 0:.2f} calls per change (runs and echoes) = "
        f"{changes_day:,.0f} calls/day")
    say(f"  per-user idle calls: {sf_per_user_hour:.3f}/user/h x 1,000 x 24 = {idle_day:,.0f} calls/day")
    say(f"  total {total:,.0f} / allocation {ALLOCATION:,} (100,000 + 1,000 x 1,000) = {share:.2%}")
    say(f"tasks per idle user per hour: sync runs {len(runs)} / {user_hours:.2f} user-hours; beat's own ticks "
        f"{sum(idle['beat'].values())} in the window (not per user); sync tasks the worker received {sync_tasks}")
    say("")
    return {
        "exchange": args.exchange, "users": users, "minutes": round(hours * 60, 1),
        "salesforce_calls_per_idle_user_hour": round(sf_per_user_hour, 3),
        "org_feed_salesforce_calls_per_hour": round(feed_per_hour, 1),
        "exchange_calls_per_idle_user_hour": round(exchange_calls / user_hours, 3),
        "tasks_per_idle_user_hour": round(len(runs) / user_hours, 3),
        "beat_tasks_per_hour": round(sum(idle["beat"].values()) / hours, 1),
        "allocation_share_1000_users": round(share, 4),
        "salesforce_calls_per_sweep_run": sweep["per_run"],
        "salesforce_calls_per_change": change["per_change"],
    }


if __name__ == "__main__":
    sys.exit(main())

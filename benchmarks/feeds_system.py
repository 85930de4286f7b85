"""The whole near-real-time system for the change-feed benchmarks (`benchmarks/idle_cost.py`, `benchmarks/latency.py`).

Built on the chaos run's deployment (benchmarks/chaos): a private PostgreSQL and Redis, the sandbox's emulators, and
as supervised subprocesses one Celery worker with a thread pool, beat, the listener (`manage.py listen`) and, when
Graph notifications are pushed, the web app (gunicorn) whose `/graph/notifications/` GRAPH_NOTIFICATION_URL names.
N sandbox users get one near-real-time configuration syncing contacts, events and tasks both ways, at the product's
default settings (no shortened timings).

A benchmark runs from a copy of the working tree taken when it starts (`run_from_copy`), so that edits made while
it runs never reach the processes it started (they import modules lazily, and restart after a crash).

What it reads: the sandbox's call counters (`/_sandbox/stats` of each emulator), the product's database (runs,
feed rows, subscription rows, object states) and the worker's and beat's logs (tasks received, tasks sent).
"""

from __future__ import annotations

import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.chaos import snapshot
from benchmarks.chaos.deployment import WORKER_QUEUES, Deployment, Managed, free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
OBJECTS = ("contacts", "events", "tasks")
# EWS operations the listener's streaming subscriptions use; every other operation is a user's sync.
EWS_FEED_OPERATIONS = ("Subscribe", "GetStreamingEvents", "Unsubscribe", "GetEvents")


def run_from_copy(script: str) -> int:
    """Copy the working tree (the feeds are not committed yet, so `git archive` would miss them) into a temporary
    directory, run `script` again from there with the same arguments, and remove the copy afterwards. Signals are
    passed on; the run stops what it started before this returns."""
    destination = Path(tempfile.mkdtemp(prefix="feeds-bench-src-"))
    try:
        shutil.copytree(ROOT, destination, ignore=snapshot.IGNORED, dirs_exist_ok=True)
        taken = f"a copy of the working tree taken at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        env = {**os.environ, snapshot.MARKER: taken, "CHAOS_CWD": os.getcwd()}
        child = subprocess.Popen([sys.executable, str(destination / script), *sys.argv[1:]], cwd=destination,
                                 env=env)

        def forward(signum, frame):
            child.send_signal(signum)

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, forward)
        return child.wait()
    finally:
        shutil.rmtree(destination, ignore_errors=True)


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def catch_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)


def ignore_signals() -> None:
    """While cleaning up: a second Ctrl-C must not cut it short."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)


class System:
    """The deployment plus the synced users; `start()` brings everything up, `close()` stops it all."""

    def __init__(self, protocol: str, users: int, *, records: int = 1, concurrency: int = 16, seed: int = 1):
        self.protocol = protocol
        self.user_count = users
        self.records = records
        self.concurrency = concurrency
        self.rng = random.Random(seed)
        self.work = Path(tempfile.mkdtemp(prefix="feeds-bench-"))
        self.env = {
            "DJANGO_SETTINGS_MODULE": "syncadmin.settings",
            "SYNCADMIN_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "SECRETS_KEY": secrets.token_urlsafe(50),
            "SYNCADMIN_VAR_DIR": str(self.work / "var"),
            "LOG_LEVEL": "INFO",
        }
        self.web_port: int | None = None
        if protocol == "graph":
            self.web_port = free_port()
            self.env["GRAPH_NOTIFICATION_URL"] = f"http://127.0.0.1:{self.web_port}/graph/notifications/"
        self.deployment = Deployment(self.work, protocol, self.env)
        self.people: list = []
        self.ledger = None
        self._graph_asked = -1e9

    # ---- bringing it up ----------------------------------------------------------------------------------------
    def start(self) -> None:
        say(f"starting PostgreSQL, Redis and the sandbox ({self.protocol}) in {self.work} ...")
        self.deployment.start_services()
        os.environ.update(self.deployment.env)
        import django

        django.setup()
        # Django is set up only now (the database is this run's own): the modules that use it come after.
        from benchmarks.chaos import setup
        from benchmarks.chaos.ledger import Ledger

        self.deployment.migrate()
        self.deployment.start_sandbox()
        say(f"creating {self.user_count} sandbox users ...")
        self.people = setup.people(self.deployment, self.user_count)
        self.ledger = Ledger(self.people, self.rng, 60)
        if self.records:
            say(f"seeding {self.records} record(s) per object and end for each user ...")
            self.ledger.seed(self.records)
        setup.configure(self.people, name="Benchmark: near real time, everything both ways", interval_minutes=None)
        self._add_processes()
        self.deployment.start_processes()
        if self.web_port is not None:
            wait_for_port(self.web_port, 60, "the web app")

    def _add_processes(self) -> None:
        logs = self.deployment.logs
        managed = self.deployment.managed
        managed["worker"] = Managed("worker", [
            "celery", "-A", "syncadmin", "worker", "-Q", WORKER_QUEUES, "--pool", "threads", "--concurrency",
            str(self.concurrency), "--loglevel", "INFO", "--hostname", "bench-worker@%h"], logs / "worker.log")
        self.deployment.add_beat()
        managed["listener"] = Managed("listener", ["django", "listen"], logs / "listener.log")
        if self.web_port is not None:
            managed["web"] = Managed("web", [
                "gunicorn", "syncadmin.wsgi", "--bind", f"127.0.0.1:{self.web_port}", "--workers", "1",
                "--threads", "8", "--access-logfile", "-"], logs / "web.log")

    def close(self, keep_logs: Path | None = None) -> None:
        if keep_logs is not None:
            self.deployment.keep_logs(keep_logs)
        self.deployment.close()

    @property
    def user_ids(self) -> list[int]:
        return [p.sync_user_id for p in self.people]

    # ---- waiting -----------------------------------------------------------------------------------------------
    def wait_first_syncs(self, timeout: float) -> str:
        from benchmarks.chaos import setup

        return setup.wait_first_syncs(self.people, timeout)

    def wait_quiet(self, quiet_seconds: float, timeout: float, *, until_swept: bool = False) -> dict:
        """Wait until nothing runs or is dirty for `quiet_seconds` in a row, with the feeds up (and, `until_swept`,
        every object scheduled only for its safety-net sweep, not for its polling interval). Answers what it saw
        last (`quiet` False when `timeout` passed first)."""
        began = time.monotonic()
        quiet_since = None
        reported = 0.0
        state = self.health()
        while time.monotonic() - began < timeout:
            state = self.health()
            calm = (state["busy_runs"] == 0 and state["dirty_objects"] == 0 and state["listener"] == "healthy"
                    and state["salesforce_feeds_live"] == len(OBJECTS)
                    and state["subscriptions_active"] >= state["subscriptions_expected"]
                    and (not until_swept or state["objects_polling"] == 0)
                    and self.deployment.all_running())
            quiet_since = (quiet_since or time.monotonic()) if calm else None
            if state["subscriptions_active"] < state["subscriptions_expected"]:
                self._ask_for_graph_subscriptions()
            if quiet_since and time.monotonic() - quiet_since >= quiet_seconds:
                return {**state, "quiet": True, "waited_s": round(time.monotonic() - began)}
            if time.monotonic() - reported > 30:
                reported = time.monotonic()
                say(f"  waiting for quiet: {state}")
            time.sleep(2)
        return {**state, "quiet": False, "waited_s": round(time.monotonic() - began)}

    def _ask_for_graph_subscriptions(self) -> None:
        """Beat sends `ensure_graph_subscriptions` every 15 minutes and not at its start, so a new deployment's Graph
        mailboxes would poll for up to 15 minutes: send the task once (and again every 5 minutes while some are
        missing), saying so."""
        if self.protocol != "graph" or time.monotonic() - self._graph_asked < 300:
            return
        from syncadmin.celery import app

        self._graph_asked = time.monotonic()
        app.send_task("sync.tasks.ensure_graph_subscriptions", queue="default")
        say("  Graph subscriptions missing: sent sync.tasks.ensure_graph_subscriptions (beat sends it only every "
            "15 minutes, the first time 15 minutes after it starts)")

    def health(self) -> dict:
        """Runs in flight, dirty objects, feed and subscription states, and objects due within the hour."""
        from datetime import timedelta

        from django.db.models import Q
        from django.utils import timezone

        from sync.feeds.coverage import salesforce_feed_live
        from sync.models import ChangeFeed, MailboxSubscription, SyncRun
        from users.models import UserObjectState

        now = timezone.now()
        states = UserObjectState.objects.filter(user_id__in=self.user_ids)
        listener = ChangeFeed.objects.filter(kind=ChangeFeed.Kind.LISTENER, key="").values_list("state",
                                                                                                 flat=True).first()
        pushed = self.protocol == "ews" or bool(self.env.get("GRAPH_NOTIFICATION_URL"))
        return {
            "busy_runs": SyncRun.objects.filter(state__in=[SyncRun.State.QUEUED, SyncRun.State.RUNNING]).count(),
            "dirty_objects": states.filter(dirty_at__isnull=False).count(),
            "listener": listener or "missing",
            "salesforce_feeds_live": sum(salesforce_feed_live(o, now) for o in OBJECTS),
            "subscriptions_active": MailboxSubscription.objects.filter(
                user_id__in=self.user_ids, protocol=self.protocol, state=MailboxSubscription.State.ACTIVE).count(),
            "subscriptions_expected": len(self.people) * len(OBJECTS) if pushed else 0,
            "objects_polling": states.filter(Q(next_due_at__lt=now + timedelta(hours=1))).count(),
        }

    # ---- counters ----------------------------------------------------------------------------------------------
    def sandbox_stats(self) -> dict:
        """Each emulator's call counters (`/_sandbox/stats`), as they stand now."""
        from benchmarks.chaos.ends import http_session

        http = http_session(str(self.deployment.ca_path))
        bases = {"salesforce": self.deployment.salesforce_url, "exchange": self.deployment.exchange_url,
                 "graph": self.deployment.graph_url}
        return {name: http.get(f"{base}/_sandbox/stats", timeout=60).json() for name, base in bases.items()}

    def log_marks(self) -> dict[str, int]:
        """Where each process's log ends now: `log_lines` reads what was written after it."""
        return {name: (item.log_path.stat().st_size if item.log_path.exists() else 0)
                for name, item in self.deployment.managed.items()}

    def log_lines(self, name: str, since: dict[str, int], until: dict[str, int]) -> list[str]:
        path = self.deployment.managed[name].log_path
        with open(path, "rb") as handle:
            handle.seek(since.get(name, 0))
            data = handle.read(max(0, until.get(name, 0) - since.get(name, 0)))
        return data.decode("utf-8", "replace").splitlines()


def difference(after: dict, before: dict) -> Counter:
    """A counter's growth between two readings (keys only in `after` count in full)."""
    return Counter({key: value - before.get(key, 0) for key, value in after.items() if value != before.get(key, 0)})


TASK_RECEIVED = re.compile(r"Task ([\w.]+)\[[^\]]+\] received")
BEAT_SENT = re.compile(r"Sending due task \S+ \(([\w.]+)\)")


def tasks_received(lines: list[str]) -> Counter:
    """Celery tasks the worker received, by task name (its INFO log)."""
    return Counter(match.group(1) for line in lines if (match := TASK_RECEIVED.search(line)))


def beat_sent(lines: list[str]) -> Counter:
    """Tasks beat sent, by task name (its INFO log)."""
    return Counter(match.group(1) for line in lines if (match := BEAT_SENT.search(line)))


class FeedPolls:
    """Counts the Salesforce org feed's polls: a thread samples each feed row's `last_poll_at` every second."""

    def __init__(self):
        self.polls: Counter = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="feed-polls", daemon=True)

    def start(self) -> FeedPolls:
        self._thread.start()
        return self

    def stop(self) -> Counter:
        self._stop.set()
        self._thread.join(timeout=10)
        return self.polls

    def _watch(self) -> None:
        from django.db import connection

        from sync.models import ChangeFeed

        seen: dict[str, object] = {}
        try:
            while not self._stop.wait(1):
                rows = ChangeFeed.objects.filter(kind=ChangeFeed.Kind.SALESFORCE).values_list("key", "last_poll_at")
                for key, polled in rows:
                    if key in seen and polled != seen[key]:
                        self.polls[key] += 1
                    seen[key] = polled
        finally:
            connection.close()


def runs_since(moment: datetime, user_ids: list[int]) -> list:
    from sync.models import SyncRun

    return list(SyncRun.objects.filter(created_at__gte=moment, user_id__in=user_ids).order_by("created_at"))


def salesforce_calls(run) -> int:
    return int((run.api_calls or {}).get("salesforce", 0))


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.4999)))
    return round(ordered[rank - 1], 1)


def machine() -> str:
    """The machine and its load, for the figures' context."""
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"


def say(message: str) -> None:
    print(message, flush=True)

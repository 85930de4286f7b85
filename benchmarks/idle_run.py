"""Benchmark: CPU time of an idle incremental run (neither end reports a change) with 100 and 20,000 links.

    .venv/bin/python benchmarks/idle_run.py [--links 100 20000] [--runs 7]

Uses a throwaway SQLite database in a temporary directory. One user syncs contacts both ways; after a first (empty)
full sync sets the watermarks and the scope fingerprint, the user's links are inserted directly and each run goes
through the real runner (`sync.runner.execute_run`: lease, scope, link table, engine, outcome) with ends that report
no change. CPU time comes from `time.process_time()` around each run; the median of `--runs` runs is reported, with
the SQL statements of one run. Target (issue 14): 20,000 links within 2x of 100 links. The last line is JSON with
`idle_run_cpu_ms_100`, `idle_run_cpu_ms_20000` and `ratio`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sync.connectors.base import CallCounter  # noqa: E402 - Django-free, like the engine
from sync.engine import ChangeSet, Side  # noqa: E402

EPOCH_WATERMARK = "2026-01-01T00:00:00+00:00"


class QuietSide:
    """One end's side for one object that never has anything to report; counts what the engine asks of it."""

    def __init__(self, side: Side, calls: Counter):
        self.side, self.calls = side, calls
        self.watermark = EPOCH_WATERMARK if side is Side.SALESFORCE else "sync-state-1"

    def changes(self, watermark):
        self.calls["changes"] += 1
        return ChangeSet(self.side, full=watermark is None, watermark=self.watermark)

    def fetch(self, record_ids):
        self.calls["fetch"] += 1
        return {}

    def lookup(self, request):
        self.calls["lookup"] += 1
        return []

    def lookup_many(self, requests):
        self.calls["lookup"] += 1
        return [[] for _ in requests]

    def create(self, requests):
        raise AssertionError("an idle run must not create")

    update = delete = create


class QuietEnd:
    """Stands in for a connector's client (as tests/sync/test_runner.py's FakeEnd does) with quiet sides."""

    def __init__(self, side: Side):
        self.side_name, self.calls, self.asked = side, CallCounter(), Counter()

    def side(self, object_type, options, create_folder=True):
        self.calls.add("changes")
        return QuietSide(self.side_name, self.asked)

    def permissions(self, object_type):
        return SimpleNamespace(read=True, create=True, edit=True, delete=True)

    def api_usage(self):
        return None


def measure(n_links: int, runs: int) -> tuple[float, int]:
    """Median CPU milliseconds of an idle incremental run for a user with `n_links` links, and its SQL statements."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from configurations.services import create_configuration
    from sync.models import RecordLink, SyncRun
    from sync.queue import queue_run
    from sync.runner import Clients, execute_run
    from users.services import add_sync_user, assign_users

    user = add_sync_user({"salesforce_id": f"005{n_links:012d}", "username": f"idle{n_links}@example.com",
                          "email": f"idle{n_links}@example.com", "profile": "Standard User"})
    configuration = create_configuration({
        "name": f"Idle {n_links}",
        "data_settings": {"contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}},
    })
    assign_users(configuration, [user.username])
    clients = Clients(salesforce=QuietEnd(Side.SALESFORCE), exchange=QuietEnd(Side.OUTLOOK))
    first = execute_run(queue_run(user, "contacts", SyncRun.Trigger.COMMAND).pk, clients=clients)
    assert first.full and first.state == SyncRun.State.SUCCEEDED, first.error_message
    RecordLink.objects.bulk_create(
        (RecordLink(user=user, object="contacts", salesforce_id=f"003{i:012d}", outlook_id=f"AAMkAG{i:040d}",
                    salesforce_version="2026-01-01T00:00:00.000+0000", outlook_version=f"CQAAABYAAAA{i:020d}",
                    content_hash=f"{i:064x}") for i in range(n_links)),
        batch_size=2000,
    )
    timings, statements = [], 0
    for _ in range(runs):
        run = queue_run(user, "contacts", SyncRun.Trigger.SCHEDULE)
        with CaptureQueriesContext(connection) as queries:
            started = time.process_time()
            run = execute_run(run.pk, clients=clients)
            timings.append((time.process_time() - started) * 1000)
        assert not run.full and run.state == SyncRun.State.SUCCEEDED, run.error_message
        statements = len(queries)
    asked = dict(clients.salesforce.asked + clients.exchange.asked)
    print(f"{n_links:>6} links: {statistics.median(timings):7.1f} ms CPU per idle run (median of {runs}; "
          f"min {min(timings):.1f}, max {max(timings):.1f}), {statements} SQL statements, asked of the ends: {asked}")
    return statistics.median(timings), statements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--links", type=int, nargs="+", default=[100, 20_000])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="idle-run-bench-")
    os.environ.update({"SYNCADMIN_VAR_DIR": workdir, "DJANGO_SETTINGS_MODULE": "syncadmin.settings",
                       "DATABASE_URL": f"sqlite:///{workdir}/bench.sqlite3", "LOG_LEVEL": "WARNING"})

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    creation = connection.creation
    test_db = creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        from sync import queue

        queue.send_run = lambda run, **options: None  # measure the run, not the broker
        figures = {n: measure(n, args.runs) for n in args.links}
    finally:
        creation.destroy_test_db(test_db, verbosity=0)
        teardown_test_environment()
    small, large = min(figures), max(figures)
    result = {f"idle_run_cpu_ms_{n}": round(ms, 2) for n, (ms, _) in sorted(figures.items())}
    result.update({f"idle_run_sql_statements_{n}": count for n, (_, count) in sorted(figures.items())})
    result["ratio"] = round(figures[large][0] / figures[small][0], 2)
    print(f"ratio {large} / {small} links: {result['ratio']} (target: at most 2)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

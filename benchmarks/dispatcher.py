"""Benchmark: one dispatcher tick over 10,000 due users: time and SQL queries.

    .venv/bin/python benchmarks/dispatcher.py [--users 10000] [--database-url postgres://postgres@127.0.0.1/bench]

Uses a throwaway database (SQLite in a temporary directory unless --database-url names a PostgreSQL database,
which this script creates and drops). Every user is assigned a configuration syncing contacts and events and is
due; the dispatcher creates one run per user and object (the tasks themselves are not sent). It is run twice
with a tenth and all of the users, to show that its query count does not grow with them.
Target: under 2 s for 10,000 users.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="dispatcher-bench-")
    os.environ.update({"SYNCADMIN_VAR_DIR": workdir, "DJANGO_SETTINGS_MODULE": "syncadmin.settings",
                       "DATABASE_URL": args.database_url or f"sqlite:///{workdir}/bench.sqlite3",
                       "LOG_LEVEL": "WARNING"})

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, setup_test_environment, teardown_test_environment

    setup_test_environment()
    from django.conf import settings

    settings.SYNC_DISPATCH_BATCH = args.users
    creation = connection.creation
    test_db = creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        from configurations.services import create_configuration
        from sync import dispatch, queue
        from sync.models import SyncRun
        from users.models import SyncUser, UserObjectState
        from users.services import assign_users, ensure_object_states

        queue.send_run = lambda run, **options: None  # measure the dispatcher, not the broker
        configuration = create_configuration({"name": "Bench", "data_settings": {
            "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"},
            "events": {"direction": "both", "conflict_behavior": "salesforce_wins"}}})
        users = [SyncUser(salesforce_id=f"005{n:012d}AAA", username=f"user{n}@example.com",
                          email=f"user{n}@example.com") for n in range(args.users)]
        SyncUser.objects.bulk_create(users, batch_size=2000)
        ensure_object_states(SyncUser.objects.all())
        assign_users(configuration, list(SyncUser.objects.values_list("username", flat=True)))
        print(f"{args.users} users, each due for contacts and events; database: {connection.vendor}")

        for share in (10, 1):
            SyncRun.objects.all().delete()
            UserObjectState.objects.update(next_due_at=None)
            limit = args.users // share
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                result = dispatch.dispatch_due(limit=limit)
                elapsed = time.perf_counter() - started
            print(f"dispatch of {limit:>6} due users: {elapsed * 1000:8.1f} ms, {len(queries):>3} queries, "
                  f"{result.count} runs queued")
    finally:
        creation.destroy_test_db(test_db, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()

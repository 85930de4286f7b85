"""Benchmark: assign 10,000 synced users in one call, then list them through the API.

    .venv/bin/python benchmarks/assignment.py [--users 10000] [--database-url postgres://postgres@127.0.0.1/bench]

Uses a throwaway database (an SQLite file in a temporary directory unless --database-url names one; a PostgreSQL
database named there is created and dropped by this script), migrates it, and prints the time and the number of
SQL queries of each step. Target: assigning 10,000 users takes under 2 s, and a users list page takes the same
number of queries whatever the number of users.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temporary directory")
    parser.add_argument("--verbose", action="store_true", help="show each step's slowest queries")
    return parser.parse_args()


VERBOSE = False


@contextmanager
def measured(label: str, results: list):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
    results.append((label, elapsed, len(queries)))
    print(f"{label:<62} {elapsed * 1000:>9.1f} ms {len(queries):>6} queries", flush=True)
    if VERBOSE:
        for query in sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:3]:
            print(f"    {float(query['time']) * 1000:8.1f} ms  {query['sql'][:110]}")


def main() -> int:
    global VERBOSE
    args = parse_args()
    VERBOSE = args.verbose
    workdir = tempfile.mkdtemp(prefix="assignment-bench-")
    os.environ["SYNCADMIN_VAR_DIR"] = workdir
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{workdir}/bench.sqlite3"
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncadmin.settings")

    import django

    django.setup()
    from django.db import connection

    # A fresh, migrated database: SQLite in the temporary directory, or PostgreSQL's test_<name> (dropped after).
    if connection.vendor == "sqlite":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"{workdir}/bench-test.sqlite3"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        run(args.users)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    return 0


def run(count: int) -> None:
    from django.db import connection
    from rest_framework.test import APIClient

    from configurations import services
    from syncadmin.roles import ADMIN
    from syncadmin.services import create_account, issue_token
    from users import services as user_services
    from users.models import SyncUser, salesforce_id_checksum
    from users.services import ensure_object_states

    print(f"database: {connection.vendor}; users: {count}")
    base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

    def sfid(number: int) -> str:
        digits = ""
        for _ in range(10):
            digits = base62[number % 62] + digits
            number //= 62
        return "0058d" + digits + salesforce_id_checksum("0058d" + digits)

    results: list = []
    with measured(f"create {count} synced users + {3 * count} object states (setup)", results):
        SyncUser.objects.bulk_create(
            [
                SyncUser(salesforce_id=sfid(n), username=f"user{n}@example.com", email=f"mailbox{n}@example.org",
                         name=f"User {n}", profile="Standard User" if n % 2 else "Sales Rep")
                for n in range(1, count + 1)
            ],
            batch_size=1000,
        )
        ensure_object_states(list(SyncUser.objects.only("pk")))
    admin = create_account("bench-admin", ADMIN, password="bench-password-not-secret")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(admin)}")
    emea = services.create_configuration({"name": "Sales EMEA", "profiles": ["Sales Rep"]}, actor=admin)
    apac = services.create_configuration({"name": "Sales APAC"}, actor=admin)

    # Mixed identifiers, as a REST client would send them.
    users = list(SyncUser.objects.order_by("pk").values_list("pk", "username", "email"))
    identifiers = [(u[0], u[1], u[2])[i % 3] for i, u in enumerate(users)]

    with measured(f"assign_users(): {count} users, one call (service)", results):
        result = user_services.assign_users(emea, identifiers, actor=admin)
    assert len(result.assigned) == count, {k: len(v) for k, v in result.as_dict().items()}
    with measured(f"assign_users() again: {count} unchanged (idempotent)", results):
        result = user_services.assign_users(emea, identifiers, actor=admin)
    assert len(result.unchanged) == count
    with measured(f"POST /configurations/{{id}}/assign/: {count} users move (API)", results):
        response = client.post(f"/api/v1/configurations/{apac.pk}/assign/", {"users": identifiers}, format="json")
    assert response.status_code == 200 and len(response.json()["moved"]) == count, response.status_code
    with measured("GET /users/ (first page)", results):
        response = client.get("/api/v1/users/")
    assert response.status_code == 200 and response.json()["count"] == count
    last = (count + 49) // 50
    with measured(f"GET /users/?page={last} (last page)", results):
        assert client.get(f"/api/v1/users/?page={last}").status_code == 200
    with measured(f"GET /users/?configuration={apac.pk}&state=not_started&search=user1", results):
        assert client.get(f"/api/v1/users/?configuration={apac.pk}&state=not_started&search=user1").status_code == 200
    with measured("GET /configurations/{id}/users/ (first page)", results):
        assert client.get(f"/api/v1/configurations/{apac.pk}/users/").json()["count"] == count
    with measured(f"POST /configurations/{{id}}/unassign/: {count} users (API)", results):
        response = client.post(f"/api/v1/configurations/{apac.pk}/unassign/", {"users": identifiers}, format="json")
    assert len(response.json()["unassigned"]) == count
    assignment = results[1][1]
    print(f"\nassignment of {count} users: {assignment:.3f} s (target < 2 s): {'OK' if assignment < 2 else 'SLOW'}")


if __name__ == "__main__":
    sys.exit(main())

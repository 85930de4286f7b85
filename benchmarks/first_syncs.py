"""Throughput of first syncs: 200 sandbox users synced by two Celery worker processes.

    python benchmarks/first_syncs.py [--users 200] [--contacts 25] [--tasks 10] [--workers 2]
                                     [--database-url postgres://...] [--redis-url redis://...]

Creates the users in the sandbox, each owning `--contacts` contacts and `--tasks` tasks in Salesforce, assigns them
a configuration syncing both objects both ways, queues every first sync with one dispatcher tick, and lets
`--workers` worker processes (one task at a time each) run them. Prints the elapsed time, records per second, and
Salesforce and EWS calls per user (from the sandbox's own counters). Uses a throwaway SQLite database and a
filesystem broker unless a PostgreSQL database and Redis are named.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--contacts", type=int, default=25)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="first-syncs-"))
    env = {"DJANGO_SETTINGS_MODULE": "syncadmin.settings", "SYNCADMIN_VAR_DIR": str(work / "var"),
           "DATABASE_URL": args.database_url or f"sqlite:///{work / 'db.sqlite3'}", "LOG_LEVEL": "WARNING",
           "SYNC_DISPATCH_JITTER_SECONDS": "0"}
    os.environ.update(env)
    if args.redis_url:
        os.environ["REDIS_URL"] = args.redis_url
    else:
        os.environ.pop("REDIS_URL", None)

    import django

    django.setup()
    import requests
    from django.core.management import call_command
    from simple_salesforce import Salesforce

    from configurations.services import create_configuration
    from sandbox.demo import PASSWORD
    from sandbox.runner import start_sandbox
    from sandbox.services import connect_to_sandbox
    from sync.dispatch import dispatch_due
    from users.models import SyncState, SyncUser, UserObjectState
    from users.services import add_sync_user, assign_users

    call_command("migrate", verbosity=0)
    sandbox = start_sandbox(work / "sandbox", seed="empty")
    http = requests.Session()
    http.verify, http.trust_env = str(sandbox.ca_path), False
    workers = []
    try:
        connect_to_sandbox(sandbox.hub.data_dir, sandbox.salesforce_url, sandbox.ews_endpoint)
        print(f"Creating {args.users} users with {args.contacts} contacts and {args.tasks} tasks each ...", flush=True)
        for n in range(args.users):
            email = f"user{n:04d}@sandbox.test"
            created = sandbox.hub.create_user(username=email, email=email, first_name="User", last_name=f"{n:04d}",
                                              profile="Standard User")
            add_sync_user({"salesforce_id": created["salesforce_id"], "username": email, "email": email})
            token = http.post(f"{sandbox.salesforce_url}/services/oauth2/token", data={
                "grant_type": "password", "client_id": "bench", "username": email, "password": PASSWORD}).json()
            sf = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=http,
                            version="62.0")
            records = [{"attributes": {"type": "Contact"}, "FirstName": f"C{i}", "LastName": f"U{n}",
                        "Email": f"c{i}.u{n}@example.com"} for i in range(args.contacts)]
            records += [{"attributes": {"type": "Task"}, "Subject": f"Task {i} of {n}", "Status": "Not Started",
                         "Priority": "Normal"} for i in range(args.tasks)]
            for start in range(0, len(records), 200):
                sf.restful("composite/sobjects", method="POST",
                           json={"allOrNone": True, "records": records[start:start + 200]})
        configuration = create_configuration({"name": "Throughput", "data_settings": {
            "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"},
            "tasks": {"direction": "both", "conflict_behavior": "salesforce_wins"}}})
        assign_users(configuration, list(SyncUser.objects.values_list("username", flat=True)))
        for url in (sandbox.salesforce_url, sandbox.exchange_url):
            http.delete(f"{url}/_sandbox/stats")

        child_env = {**os.environ}
        for number in range(args.workers):
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "syncadmin", "worker", "-Q", "sync,initial,default",
                 "--concurrency", "1", "--loglevel", "WARNING", "--hostname", f"bench{number}@%h",
                 "--without-gossip", "--without-mingle"],
                cwd=ROOT, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(5)  # let the workers connect before the clock starts
        started = time.perf_counter()
        queued = dispatch_due(limit=args.users).count
        total = UserObjectState.objects.filter(object__in=["contacts", "tasks"]).count()
        while True:
            done = UserObjectState.objects.filter(object__in=["contacts", "tasks"],
                                                  state__in=[SyncState.IN_SYNC, SyncState.ERROR,
                                                             SyncState.NEEDS_ATTENTION]).count()
            if done >= total or time.perf_counter() - started > 1800:
                break
            time.sleep(1)
        elapsed = time.perf_counter() - started
        failed = UserObjectState.objects.filter(object__in=["contacts", "tasks"]).exclude(
            state=SyncState.IN_SYNC).count()
        sf_calls = sum(http.get(f"{sandbox.salesforce_url}/_sandbox/stats").json()["calls_by_user"].values())
        ews_calls = sum(http.get(f"{sandbox.exchange_url}/_sandbox/stats").json()["calls_by_user"].values())
        records = args.users * (args.contacts + args.tasks)
        print(f"{queued} first syncs ({args.users} users x contacts, tasks) by {args.workers} workers: "
              f"{elapsed:.1f} s, {records / elapsed:.0f} records/s, {failed} not in_sync")
        print(f"per user: {sf_calls / args.users:.1f} Salesforce calls, {ews_calls / args.users:.1f} EWS calls")
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
        sandbox.stop()


if __name__ == "__main__":
    main()

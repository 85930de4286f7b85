"""API calls of real syncs against the sandbox: an initial sync of 5,000 contacts and 1,000 events, then an
incremental sync with nothing changed. Prints the calls each end received (from the sandbox's own counters)
beside the minimum the batch sizes allow.

    python benchmarks/sync_calls.py [--contacts 5000] [--events 1000]

Contacts start in Salesforce (read in pages of 2,000, written to Exchange); events start in Outlook (read by
SyncFolderItems, written to Salesforce in collections of 200), so both directions' batching is measured.
"""

import argparse
import math
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="sync-calls-"))
os.environ.update({"DJANGO_SETTINGS_MODULE": "syncadmin.settings", "SYNCADMIN_VAR_DIR": str(WORK / "var"),
                   "DATABASE_URL": f"sqlite:///{WORK / 'db.sqlite3'}", "LOG_LEVEL": "WARNING"})
os.environ.pop("REDIS_URL", None)

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.core.management import call_command  # noqa: E402
from exchangelib import (  # noqa: E402
    BASIC,
    IMPERSONATION,
    Account,
    Build,
    CalendarItem,
    Configuration,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
    Version,
)
from simple_salesforce import Salesforce  # noqa: E402

from configurations.services import create_configuration  # noqa: E402
from sandbox.demo import PASSWORD, SERVICE_ACCOUNT  # noqa: E402
from sandbox.runner import start_sandbox  # noqa: E402
from sandbox.services import connect_to_sandbox  # noqa: E402
from sync.models import SyncRun  # noqa: E402
from sync.queue import queue_run  # noqa: E402
from sync.runner import execute_run  # noqa: E402
from users.services import add_sync_user, assign_users  # noqa: E402


def session(ca: Path) -> requests.Session:
    http = requests.Session()
    http.verify, http.trust_env = str(ca), False
    return http


def stats(http: requests.Session, url: str, who: str) -> int:
    return http.get(f"{url}/_sandbox/stats").json()["calls_by_user"].get(who, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    sandbox = start_sandbox(WORK / "sandbox", seed="empty")
    http = session(sandbox.ca_path)
    try:
        connect_to_sandbox(sandbox.hub.data_dir, sandbox.salesforce_url, sandbox.ews_endpoint)
        email = "bench@sandbox.test"
        created = sandbox.hub.create_user(username=email, email=email, first_name="Bench", last_name="Mark",
                                          profile="Standard User")
        user = add_sync_user({"salesforce_id": created["salesforce_id"], "username": email, "email": email})
        configuration = create_configuration({
            "name": "Benchmark",
            "data_settings": {"contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"},
                              "events": {"direction": "both", "conflict_behavior": "salesforce_wins"}},
            "data_sets": {"contacts": {"scope": "my_contacts"}, "events": {"days_back": 30, "days_ahead": 365}},
        })
        assign_users(configuration, [email])

        token = http.post(f"{sandbox.salesforce_url}/services/oauth2/token", data={
            "grant_type": "password", "client_id": "bench", "username": email, "password": PASSWORD}).json()
        sf = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=http,
                        version="62.0")
        print(f"Seeding {args.contacts} contacts in Salesforce and {args.events} events in Outlook ...", flush=True)
        for start in range(0, args.contacts, 200):
            records = [{"attributes": {"type": "Contact"}, "FirstName": f"First{n}", "LastName": f"Last{n}",
                        "Email": f"contact{n}@example.com", "Title": "Buyer"}
                       for n in range(start, min(start + 200, args.contacts))]
            sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
        account = Account(primary_smtp_address=email, autodiscover=False, access_type=IMPERSONATION,
                          config=Configuration(service_endpoint=sandbox.ews_endpoint,
                                               credentials=Credentials(SERVICE_ACCOUNT, PASSWORD), auth_type=BASIC,
                                               version=Version(build=Build(15, 1, 2507, 6))))
        base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        utc = EWSTimeZone("UTC")
        items = [CalendarItem(account=account, folder=account.calendar, subject=f"Meeting {n}",
                              start=EWSDateTime.from_datetime(base + timedelta(hours=n)).astimezone(utc),
                              end=EWSDateTime.from_datetime(base + timedelta(hours=n, minutes=30)).astimezone(utc))
                 for n in range(args.events)]
        for start in range(0, len(items), 100):
            account.bulk_create(folder=account.calendar, items=items[start:start + 100])

        minimum = {
            "contacts": {"salesforce": math.ceil(args.contacts / 2000)},
            "events": {"salesforce": math.ceil(args.events / 200)},
        }
        print(f"\n{'sync':<34}{'records':>8}{'SF calls':>10}{'SF minimum':>12}{'EWS calls':>11}{'seconds':>9}")
        rounds = (("initial", True), ("next (reads back own writes)", False), ("steady, no change", False))
        for label, full in rounds:
            for name, count in (("contacts", args.contacts), ("events", args.events)):
                sf_before = stats(http, sandbox.salesforce_url, email)
                ews_before = stats(http, sandbox.exchange_url, email)
                started = time.perf_counter()
                run = execute_run(queue_run(user, name, SyncRun.Trigger.COMMAND, full=full).pk)
                seconds = time.perf_counter() - started
                assert run.state == SyncRun.State.SUCCEEDED and not run.error_code, (run.error_code,
                                                                                     run.error_message)
                sf_calls = stats(http, sandbox.salesforce_url, email) - sf_before
                ews_calls = stats(http, sandbox.exchange_url, email) - ews_before
                floor = minimum[name]["salesforce"] if full else 2
                print(f"{name + ' ' + label:<34}{count:>8}{sf_calls:>10}{floor:>12}{ews_calls:>11}{seconds:>9.1f}")
        print("\nSF minimum: initial = ceil(N/2000) query pages (contacts, read) or ceil(N/200) collection writes "
              "(events, written);\nincremental = 2 (changed records + deletions). Calls include the token request "
              "and permission checks (describe) of a first run.\nThe sync right after a first sync reads the items "
              "that sync wrote back from Exchange's change feed once\n(recognised as its own writes: nothing is "
              "written); after that an unchanged object costs 1 SyncFolderItems call.")
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()

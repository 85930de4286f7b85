"""Mailbox requests for a series-heavy calendar with series synced as series, on Graph and on EWS: a mailbox with
`--series` weekly series (every other one with an occurrence edited on its own, so synced as its occurrences),
read in full once and then incrementally while nothing changes. Prints the requests each connector counted, by
operation, and a JSON line `{"graph_full", "graph_idle", "ews_full", "ews_idle"}`.

    python benchmarks/series_reads.py [--series 100]

Against the sandbox's emulators (started here, on free ports); only the Exchange side is read (no engine run).
"""

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from exchangelib import (  # noqa: E402
    IMPERSONATION,
    Account,
    Build,
    CalendarItem,
    Configuration,
    Credentials,
    EWSDate,
    EWSDateTime,
    FailFast,
    Version,
)
from exchangelib.items import SEND_TO_NONE  # noqa: E402
from exchangelib.recurrence import Recurrence, WeeklyPattern  # noqa: E402
from exchangelib.transport import BASIC  # noqa: E402

from sandbox.runner import start_sandbox  # noqa: E402
from sync.connectors.base import EwsSettings, GraphSettings, ObjectOptions  # noqa: E402
from sync.connectors.ews import EwsMailbox, register_salesforce_id  # noqa: E402
from sync.connectors.graph import GraphMailbox  # noqa: E402
from sync.engine import SyncObject  # noqa: E402

SERVICE = ("sync-service@sandbox.test", "sandbox")
FIRST = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
OPTIONS = ObjectOptions(window_start="2026-03-01T00:00:00+00:00", window_end="2026-04-30T23:59:59+00:00",
                        series_as_series=True)


def graph_series(sandbox, app: dict, email: str, count: int) -> None:
    http = requests.Session()
    http.verify, http.trust_env = str(sandbox.ca_path), False
    token = http.post(f"{sandbox.graph_url}/{app['tenant_id']}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": app["client_id"], "client_secret": app["client_secret"],
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    base = f"{sandbox.graph_url}/v1.0/users/{email}"
    for n in range(count):
        start = FIRST + timedelta(days=n % 5, minutes=5 * n)
        master = http.post(f"{base}/calendar/events", json={
            "subject": f"Series {n}", "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {"dateTime": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "recurrence": {"pattern": {"type": "weekly", "interval": 1,
                                       "daysOfWeek": [start.strftime("%A").lower()]},
                           "range": {"type": "numbered", "startDate": start.date().isoformat(),
                                     "numberOfOccurrences": 8}}}).json()
        if n % 2:
            second = http.get(f"{base}/events/{master['id']}/instances", params={
                "startDateTime": "2026-03-01T00:00:00Z", "endDateTime": "2026-04-30T00:00:00Z"}).json()["value"][1]
            http.patch(f"{base}/events/{second['id']}", json={"subject": f"Series {n} (moved room)"})


def ews_series(sandbox, email: str, count: int) -> None:
    config = Configuration(service_endpoint=sandbox.ews_endpoint, credentials=Credentials(*SERVICE),
                           auth_type=BASIC, version=Version(build=Build(15, 1, 2507)), retry_policy=FailFast())
    account = Account(primary_smtp_address=email, config=config, autodiscover=False, access_type=IMPERSONATION)
    for n in range(count):
        start = FIRST + timedelta(days=n % 5, minutes=5 * n)
        item = CalendarItem(account=account, folder=account.calendar, subject=f"Series {n}",
                            start=EWSDateTime.from_datetime(start),
                            end=EWSDateTime.from_datetime(start + timedelta(minutes=30)),
                            recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[start.isoweekday()]),
                                                  start=EWSDate(start.year, start.month, start.day), number=8))
        item.save(send_meeting_invitations=SEND_TO_NONE)
        if n % 2:
            week = EWSDateTime.from_datetime(start + timedelta(days=7))
            second = next(e for e in account.calendar.view(start=week - timedelta(hours=1),
                                                             end=week + timedelta(hours=1))
                          if e.subject == f"Series {n}")
            second.subject = f"Series {n} (moved room)"
            second.save(update_fields=["subject"], send_meeting_invitations=SEND_TO_NONE)


def reads(mailbox) -> tuple[tuple[int, dict], tuple[int, dict]]:
    full = mailbox.side(SyncObject.EVENTS, OPTIONS).changes(None)
    full_calls, full_by = mailbox.calls.calls, dict(mailbox.calls.by_operation)
    mailbox.calls.calls = 0
    mailbox.calls.by_operation.clear()
    idle = mailbox.side(SyncObject.EVENTS, OPTIONS).changes(full.watermark)
    assert not idle.records and not idle.deleted and not idle.reshaped, "an idle read reported changes"
    return (full_calls, full_by), (mailbox.calls.calls, dict(mailbox.calls.by_operation))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="series-reads-"))
    sandbox = start_sandbox(work / "sandbox", seed="empty", graph_port=0)
    register_salesforce_id()
    try:
        app = json.loads((work / "sandbox" / "graph" / "app.json").read_text())
        graph_email = "series-graph@sandbox.test"
        sandbox.hub.create_user(username=graph_email, email=graph_email, first_name="Series", last_name="Graph",
                                profile="Standard User")
        graph_series(sandbox, app, graph_email, args.series)
        ews_email = sandbox.hub.exchange.create_mailbox(email="series-ews@sandbox.test", display_name="Series EWS")
        ews_series(sandbox, ews_email, args.series)

        graph = GraphMailbox(GraphSettings(tenant_id=app["tenant_id"], client_id=app["client_id"],
                                           client_secret=app["client_secret"], authority_url=sandbox.graph_url,
                                           graph_url=sandbox.graph_url, verify=str(sandbox.ca_path)), graph_email)
        ews = EwsMailbox(EwsSettings(ews_url=sandbox.ews_endpoint, username=SERVICE[0], password=SERVICE[1]),
                         ews_email)
        results = {}
        print(f"\n{args.series} weekly series, every other one with an occurrence edited on its own")
        print(f"{'read':<28}{'requests':>9}  by operation")
        for name, mailbox in (("graph", graph), ("ews", ews)):
            (full, full_by), (idle, idle_by) = reads(mailbox)
            results[f"{name}_full"], results[f"{name}_idle"] = full, idle
            for label, calls, by in ((f"{name}: full read", full, full_by), (f"{name}: idle incremental", idle,
                                                                             idle_by)):
                shown = ", ".join(f"{k} {v}" for k, v in sorted(by.items()))
                print(f"{label:<28}{calls:>9}  {shown}")
        print(json.dumps(results))
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()

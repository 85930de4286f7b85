"""Microsoft Graph requests per sync against the sandbox's Graph emulator: an initial sync of 5,000 contacts
(created in Outlook from Salesforce), the next sync (which reads back its own writes), and idle incremental
syncs of contacts, events and tasks. Prints the requests the connector counted, by operation, beside what the
emulator itself counted; the target for an idle sync is one delta request per synced folder.

    python benchmarks/graph_calls.py [--contacts 5000]

Salesforce is the engine's in-memory side here, so that only Graph is measured (benchmarks/sync_calls.py measures
both ends through the whole product).
"""

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from sandbox.runner import start_sandbox  # noqa: E402
from sync.connectors.base import GraphSettings, ObjectOptions  # noqa: E402
from sync.connectors.graph import BATCH_SIZE, GraphMailbox  # noqa: E402
from sync.engine import DataSetting, Direction, Side, SyncObject, reset_sync, run_sync  # noqa: E402
from sync.engine.memory import MemoryLinkStore, MemorySide, MemoryWatermarks  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=5000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="graph-calls-"))
    sandbox = start_sandbox(work / "sandbox", seed="empty", graph_port=0)
    http = requests.Session()
    http.verify, http.trust_env = str(sandbox.ca_path), False
    try:
        app = json.loads((work / "sandbox" / "graph" / "app.json").read_text())
        settings = GraphSettings(tenant_id=app["tenant_id"], client_id=app["client_id"],
                                 client_secret=app["client_secret"], authority_url=sandbox.graph_url,
                                 graph_url=sandbox.graph_url, verify=str(sandbox.ca_path))
        email = "bench@sandbox.test"
        sandbox.hub.create_user(username=email, email=email, first_name="Bench", last_name="Mark",
                                profile="Standard User")

        salesforce = MemorySide(Side.SALESFORCE, SyncObject.CONTACTS)
        for n in range(args.contacts):
            salesforce.add({"first_name": f"First{n}", "last_name": f"Last{n}", "email": f"contact{n}@example.com",
                            "title": "Buyer", "city": "Lyon"}, record_id=f"003{n:015d}")
        sides = {
            SyncObject.CONTACTS: salesforce,
            SyncObject.EVENTS: MemorySide(Side.SALESFORCE, SyncObject.EVENTS),
            SyncObject.TASKS: MemorySide(Side.SALESFORCE, SyncObject.TASKS),
        }
        state = {o: (MemoryLinkStore(), MemoryWatermarks()) for o in sides}
        setting = DataSetting(Direction.SALESFORCE_TO_OUTLOOK)
        options = ObjectOptions(window_start="2026-01-01T00:00:00+00:00", window_end="2026-12-31T23:59:59+00:00")

        def sync(object_type: SyncObject, full: bool | None) -> tuple[int, dict[str, int], int, float, int]:
            """One run; full=None: a reset first (links and watermarks forgotten), then a full matching run."""
            http.delete(f"{sandbox.graph_url}/_sandbox/stats")
            mailbox = GraphMailbox(settings, email)
            links, marks = state[object_type]
            if full is None:
                reset_sync(links, marks)
                full = True
            started = time.monotonic()
            outcome = run_sync(object_type, setting, sides[object_type], mailbox.side(object_type, options), links,
                               marks, full=full)
            seconds = time.monotonic() - started
            assert outcome.ok, outcome.issues[:3]
            stats = http.get(f"{sandbox.graph_url}/_sandbox/stats").json()
            # HTTP requests for this mailbox as the emulator saw them (a $batch once)
            served = stats.get("requests_by_user", stats["calls_by_user"]).get(email, 0)
            creates = outcome.applied[("outlook", "create")]
            return mailbox.calls.calls, dict(mailbox.calls.by_operation), served, seconds, creates

        print(f"\n{'sync':<40}{'Graph requests':>15}{'emulator':>10}{'seconds':>9}  by operation")
        rounds = [
            (f"contacts: initial ({args.contacts:,} created)", SyncObject.CONTACTS, True),
            ("contacts: next (reads back own writes)", SyncObject.CONTACTS, False),
            ("contacts: idle incremental", SyncObject.CONTACTS, False),
            (f"contacts: reset, full read ({args.contacts:,} relinked)", SyncObject.CONTACTS, None),
            ("events: initial (empty)", SyncObject.EVENTS, True),
            ("events: idle incremental", SyncObject.EVENTS, False),
            ("tasks: initial (empty)", SyncObject.TASKS, True),
            ("tasks: idle incremental", SyncObject.TASKS, False),
        ]
        idle = {}
        for label, object_type, full in rounds:
            calls, by_operation, served, seconds, creates = sync(object_type, full)
            if full is None:
                assert creates == 0, f"a reset re-created {creates} contacts"
            shown = ", ".join(f"{k} {v}" for k, v in sorted(by_operation.items()))
            print(f"{label:<40}{calls:>15}{served:>10}{seconds:>9.1f}  {shown}")
            if "idle" in label:
                idle[object_type] = calls
        print(f"\nwrites: {math.ceil(args.contacts / BATCH_SIZE)} $batch requests at least for {args.contacts:,} "
              f"creates ({BATCH_SIZE} per batch); idle target: 1 delta request per synced folder")
        verdict = "met" if all(v == 1 for v in idle.values()) else "NOT met"
        print(f"idle incremental syncs: {idle and {k.value: v for k, v in idle.items()}} → target {verdict}")
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()

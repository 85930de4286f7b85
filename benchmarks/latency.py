"""Change-to-visible latency of near-real-time sync: how long a change made on one end takes to show on the other.

    .venv/bin/python benchmarks/latency.py --users N --changes C [--exchange ews|graph] [--per-minute 30]
        [--timeout 120] [--logs DIR]

Starts the same system as benchmarks/idle_cost.py (sandbox, worker, beat, listener, and the web app for Graph
notifications; the product's default settings), waits until the first syncs are done and the system is quiet, then
makes C changes at random, spread over time (`--per-minute`): a create or an update of a contact, event or task, on
either end, through the real clients (simple-salesforce against the sandbox as the user; exchangelib for EWS, the
Graph REST API for Graph). Each change is timed from the moment its write returned until a read of the other end
(by key, about once a second) shows it; a change not visible within `--timeout` seconds is a miss. Prints p50, p95
and max per direction, the misses, and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import feeds_system  # noqa: E402
from benchmarks.chaos import snapshot  # noqa: E402
from benchmarks.feeds_system import OBJECTS, System, percentile, say  # noqa: E402

DIRECTIONS = {"salesforce": "salesforce_to_outlook", "outlook": "outlook_to_salesforce"}
OTHER = {"salesforce": "outlook", "outlook": "salesforce"}
POLL_SECONDS = 1.0


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--exchange", choices=("ews", "graph"), default="ews", help="what serves the mailboxes")
    parser.add_argument("--per-minute", type=float, default=30, help="changes made per minute, evenly spaced")
    parser.add_argument("--timeout", type=float, default=120, help="seconds after which a change is a miss")
    parser.add_argument("--records", type=int, default=1, help="records per object and end before the first sync")
    parser.add_argument("--concurrency", type=int, default=16, help="the worker's threads")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--logs", type=Path, help="copy every process's log here before cleaning up")
    return parser.parse_args()


@dataclass
class Change:
    number: int
    person: object
    object: str
    side: str  # the end the change was made on
    op: str
    key: str
    value: str
    made_at: float = 0.0  # when the write returned (monotonic)
    write_seconds: float = 0.0
    seen_after: float | None = None
    other_id: str | None = None
    write_failed: bool = False
    error: str | None = None

    @property
    def direction(self) -> str:
        return DIRECTIONS[self.side]


class Readers:
    """A second pair of clients per user, for reading the other end while the first pair writes; one reader per
    (user, end) at a time (the clients are not shared between threads)."""

    def __init__(self, system: System):
        self.system = system
        self._ends: dict = {}
        self._locks: dict = {}
        self._guard = threading.Lock()

    def _end(self, person, side: str):
        from benchmarks.chaos.ends import OutlookEnd, SalesforceEnd

        with self._guard:
            key = (person.index, side)
            if key not in self._ends:
                deployment = self.system.deployment
                if side == "salesforce":
                    self._ends[key] = SalesforceEnd(deployment.salesforce_url, str(deployment.ca_path),
                                                    person.username)
                else:
                    template = person.outlook
                    self._ends[key] = OutlookEnd(template.protocol, template.mailbox,
                                                 ews_endpoint=template.ews_endpoint, graph_url=template.graph_url,
                                                 graph_app=template.graph_app, ca_path=template.ca_path)
                self._locks[key] = threading.Lock()
            return self._ends[key], self._locks[key]

    def find(self, person, side: str, object_type: str, key: str, value: str) -> str | None:
        """The id of the record carrying `key` with `value` on that end, or None."""
        end, lock = self._end(person, side)
        with lock:
            if side == "salesforce":
                return _salesforce_find(end, object_type, key, value)
            items = end.list(object_type)
        return next((item.id for item in items if item.key == key and item.value == value), None)


SALESFORCE_LOOKUP = {
    "contacts": ("SELECT Id, Title FROM Contact WHERE LastName = '{key}'", "Title"),
    "events": ("SELECT Id, Location FROM Event WHERE Subject = '{key}'", "Location"),
    "tasks": ("SELECT Id, Subject FROM Task WHERE Subject LIKE '{key} %'", "Subject"),
}


def _salesforce_find(end, object_type: str, key: str, value: str) -> str | None:
    """One query for the record by its key (keys are made of letters, digits and dashes: nothing to escape)."""
    soql, field = SALESFORCE_LOOKUP[object_type]
    rows = end._call(lambda sf: sf.query(soql.format(key=key))["records"])
    for row in rows:
        found = row[field].partition(" ")[2] if object_type == "tasks" else row[field]
        if found == value:
            return row["Id"]
    return None


class Changes:
    """Chooses and makes the changes, and remembers which records exist on both ends (the ones an update may
    touch) and which have a change in flight (left alone until it is seen, so each timing is one change's)."""

    def __init__(self, system: System, rng):
        self.system = system
        self.ledger = system.ledger
        self.rng = rng
        self.lock = threading.Lock()
        self.busy: set[str] = set()
        self.number = 0

    def settled(self, person, object_type: str) -> list:
        with self.lock:
            return [r for r in self.ledger.records[(person.index, object_type)].values()
                    if r.state == "alive" and r.key not in self.busy and not r.pending]

    def choose(self) -> Change:
        person = self.rng.choice(self.system.people)
        object_type = self.rng.choice(OBJECTS)
        side = self.rng.choice(("salesforce", "outlook"))
        candidates = self.settled(person, object_type)
        op = "update" if candidates and self.rng.random() < 0.5 else "create"
        with self.lock:
            self.number += 1
            number = self.number
        value = f"L{number:05d}"
        record = self.ledger._new_record(person, object_type) if op == "create" else self.rng.choice(candidates)
        with self.lock:
            self.busy.add(record.key)
        return Change(number, person, object_type, side, op, record.key, value)

    def make(self, change: Change) -> None:
        record = self.ledger.records[(change.person.index, change.object)][change.key]
        began = time.monotonic()
        outcome = self.ledger._attempt(change.person, record, change.side, change.op, change.value)
        change.made_at = time.monotonic()
        change.write_seconds = change.made_at - began
        if outcome != "applied":
            change.write_failed = True
            change.error = f"the {change.op} on {change.side} was {outcome}"

    def done(self, change: Change) -> None:
        ids = self.ledger.ids.setdefault((change.person.index, change.object, OTHER[change.side]), {})
        if change.other_id:
            ids[change.key] = change.other_id
        with self.lock:
            self.busy.discard(change.key)


def watch(change: Change, readers: Readers, changes: Changes, timeout: float) -> Change:
    """Read the other end about once a second until the change shows there (or `timeout`)."""
    try:
        if change.write_failed:
            return change
        deadline = change.made_at + timeout
        while time.monotonic() < deadline:
            began = time.monotonic()
            try:
                found = readers.find(change.person, OTHER[change.side], change.object, change.key, change.value)
            except Exception as exc:  # noqa: BLE001 - a failed read is retried until the deadline
                found, change.error = None, f"read failed: {type(exc).__name__}: {exc}"[:200]
            if found:
                change.seen_after, change.other_id, change.error = time.monotonic() - change.made_at, found, None
                return change
            time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - began)))
        return change
    finally:
        changes.done(change)


def main() -> int:
    args = arguments()
    if not snapshot.in_snapshot():
        return feeds_system.run_from_copy("benchmarks/latency.py")
    if args.logs is not None:
        args.logs = Path(os.environ.get("CHAOS_CWD", ".")) / args.logs
    feeds_system.catch_signals()
    system = System(args.exchange, args.users, records=args.records, concurrency=args.concurrency, seed=args.seed)
    try:
        say(f"latency: {args.exchange}, {args.users} users, {args.changes} changes at {args.per_minute:g}/min; "
            f"code: {os.environ[snapshot.MARKER]}; machine: {feeds_system.machine()}")
        system.start()
        say(f"first syncs: {system.wait_first_syncs(timeout=max(600, args.users * 6))}")
        say(f"quiet: {system.wait_quiet(30, 20 * 60)}")
        done = run_changes(system, args)
        result = report(args, system, done)
        print(json.dumps(result), flush=True)
        return 0
    except KeyboardInterrupt:
        say("latency: interrupted; stopping everything it started")
        return 130
    finally:
        feeds_system.ignore_signals()
        system.close(args.logs)


def run_changes(system: System, args) -> list[Change]:
    changes = Changes(system, system.rng)
    readers = Readers(system)
    spacing = 60.0 / args.per_minute
    say(f"making {args.changes} changes, one every {spacing:.1f} s ...")
    futures = []
    # Enough watchers for every change in flight until its timeout.
    with ThreadPoolExecutor(max_workers=min(64, int(args.timeout / spacing) + 4)) as pool:
        start = time.monotonic()
        for index in range(args.changes):
            time.sleep(max(0.0, start + index * spacing - time.monotonic()))
            change = changes.choose()
            changes.make(change)
            futures.append(pool.submit(watch, change, readers, changes, args.timeout))
            if (index + 1) % 20 == 0:
                seen = [f.result() for f in futures if f.done()]
                say(f"  {index + 1} changes made; {sum(c.seen_after is not None for c in seen)} seen so far; "
                    f"{system.health()}")
        return [future.result() for future in futures]


def report(args, system: System, done: list[Change]) -> dict:
    say("\n==== latency ====")
    say(f"{args.exchange}, {len(system.people)} users, {len(done)} changes at {args.per_minute:g}/min, timeout "
        f"{args.timeout:g} s; machine: {feeds_system.machine()}")
    result = {"exchange": args.exchange, "users": len(system.people), "changes": len(done),
              "latency_p50_s": {}, "latency_p95_s": {}, "latency_max_s": {}, "misses": {}, "failed_writes": {}}
    for side, direction in DIRECTIONS.items():
        mine = [c for c in done if c.side == side]
        written = [c for c in mine if not c.write_failed]
        seen = [c.seen_after for c in written if c.seen_after is not None]
        misses = [c for c in written if c.seen_after is None]
        result["latency_p50_s"][direction] = percentile(seen, 0.50)
        result["latency_p95_s"][direction] = percentile(seen, 0.95)
        result["latency_max_s"][direction] = round(max(seen), 1) if seen else None
        result["misses"][direction] = len(misses)
        result["failed_writes"][direction] = len(mine) - len(written)
        by_kind = Counter(f"{c.object}:{c.op}" for c in mine)
        say(f"{direction}: {len(mine)} changes {dict(by_kind)}; seen {len(seen)}, p50 "
            f"{result['latency_p50_s'][direction]} s, p95 {result['latency_p95_s'][direction]} s, max "
            f"{result['latency_max_s'][direction]} s; misses {len(misses)}; failed writes "
            f"{len(mine) - len(written)}")
        for kind in sorted(by_kind):
            times = [c.seen_after for c in mine if f"{c.object}:{c.op}" == kind and c.seen_after is not None]
            say(f"    {kind:<16} p50 {percentile(times, 0.5)} s, max {round(max(times), 1) if times else None} s")
        for change in misses[:10]:
            say(f"  miss: #{change.number} {change.object} {change.op} {change.key} = {change.value} on {side} "
                f"for {change.person.username}: {change.error or 'not visible within the timeout'}")
    writes = sorted(c.write_seconds * 1000 for c in done)
    if writes:
        say(f"the writes themselves took p50 {writes[len(writes) // 2]:.0f} ms, max {writes[-1]:.0f} ms")
    say(f"system after the changes: {system.health()}")
    say("")
    return result


if __name__ == "__main__":
    sys.exit(main())

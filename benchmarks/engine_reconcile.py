"""Benchmark: reconcile 100,000 contacts with 10% changed; prints CPU time per record and peak memory.

Run: `.venv/bin/python benchmarks/engine_reconcile.py [--records N] [--changed-share 0.1]`

Both sides present full change sets (the most work reconcile ever does: every link is evaluated). Unchanged
records carry the version token stored on their link, so they are skipped without hashing; changed records carry
a new token and new content, so they are hashed and planned as Outlook updates. CPU time comes from
`time.process_time()` (best of three runs); peak memory from `tracemalloc` in a separate run, at three sizes to
show it grows linearly.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sync.engine import (
    ChangeSet,
    DataSetting,
    Direction,
    Link,
    Side,
    SideRecord,
    SyncObject,
    reconcile,
    schema_for,
)
from sync.engine.memory import MemoryLinkStore

SCHEMA = schema_for(SyncObject.CONTACTS)
SETTING = DataSetting(Direction.BOTH)


def contact(i: int, changed: bool) -> dict[str, str]:
    return {
        "first_name": f"First{i}", "last_name": f"Last{i}", "email": f"person{i}@example.com",
        "company": f"Company {i % 997}", "title": "Buyer" if not changed else "Head of Buying",
        "business_phone": f"+1 555 {i:07d}", "city": "Springfield", "country": "US",
        "notes": f"Met at the fair in {2000 + i % 25}.",
    }


def build(n: int, changed_share: float) -> tuple[ChangeSet, ChangeSet, MemoryLinkStore, int]:
    changed_every = round(1 / changed_share) if changed_share else 0
    links = MemoryLinkStore()
    sf_records, ol_records, batch = [], [], []
    changed = 0
    for i in range(n):
        fields = contact(i, False)
        content_hash = SCHEMA.content_hash(fields)
        batch.append(Link(f"003{i:012d}", f"AAMk{i:012d}", salesforce_version="v1", outlook_version="k1",
                          content_hash=content_hash))
        is_changed = bool(changed_every) and i % changed_every == 0
        changed += is_changed
        sf_records.append(SideRecord(f"003{i:012d}", "v2" if is_changed else "v1", contact(i, is_changed)))
        ol_records.append(SideRecord(f"AAMk{i:012d}", "k1", fields, salesforce_id=f"003{i:012d}"))
        if len(batch) == 10_000:
            links.commit(batch, [])
            batch = []
    links.commit(batch, [])
    return (ChangeSet.of(Side.SALESFORCE, sf_records, full=True), ChangeSet.of(Side.OUTLOOK, ol_records, full=True),
            links, changed)


def cpu_seconds(n: int, changed_share: float) -> tuple[float, int, int]:
    sf, ol, links, changed = build(n, changed_share)
    best = float("inf")
    writes = 0
    for _ in range(3):
        gc.collect()
        start = time.process_time()
        plan = reconcile(SyncObject.CONTACTS, SETTING, sf, ol, links)
        best = min(best, time.process_time() - start)
        writes = len(plan.writes)
    return best, changed, writes


def peak_bytes(n: int, changed_share: float) -> int:
    sf, ol, links, _ = build(n, changed_share)
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    reconcile(SyncObject.CONTACTS, SETTING, sf, ol, links)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--changed-share", type=float, default=0.1)
    args = parser.parse_args()
    n = args.records

    unchanged_total, _, _ = cpu_seconds(n, 0.0)
    per_unchanged = unchanged_total / n
    total, changed, writes = cpu_seconds(n, args.changed_share)
    per_changed = (total - per_unchanged * (n - changed)) / max(changed, 1)
    assert writes == changed, (writes, changed)

    print(f"reconcile {n:,} contacts, {changed:,} changed ({args.changed_share:.0%}), both sides full change sets")
    print(f"  CPU total (10% changed): {total:.3f} s   ({total / n * 1e6:.2f} µs per record on average)")
    print(f"  CPU per unchanged record: {per_unchanged * 1e6:.2f} µs   (target < 10 µs; all-unchanged run: "
          f"{unchanged_total:.3f} s)")
    print(f"  CPU per changed record:   {per_changed * 1e6:.2f} µs   (target < 100 µs)")
    print(f"  plan: {writes:,} writes")
    print("  peak memory inside reconcile (tracemalloc; inputs excluded):")
    for size in (n // 4, n // 2, n):
        peak = peak_bytes(size, args.changed_share)
        print(f"    {size:>9,} records: {peak / 2**20:7.1f} MiB   ({peak / size:,.0f} bytes per record)")


if __name__ == "__main__":
    main()

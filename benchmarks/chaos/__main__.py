"""The chaos run: start a production-style deployment (its own PostgreSQL and Redis, the sandbox, two Celery
workers and beat), give N sandbox users a configuration syncing contacts, events and tasks both ways
(`salesforce_wins`), edit both ends at random for `--minutes` while injecting faults one at a time, then let it
settle and check both ends against the ledger. Prints a summary, then one JSON line; exits 1 if a problem was found.

    .venv/bin/python -m benchmarks.chaos [--minutes 15] [--users 20] [--protocol ews|graph] [--seed 1]
        [--edits-per-minute 40] [--settle-minutes 6] [--logs DIR]

Everything it starts is stopped, and its temporary directories removed, when it ends (also on Ctrl-C);
`--logs DIR` keeps a copy of every process's log first.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.chaos import snapshot
from benchmarks.chaos.deployment import Deployment

# Short timings so that a fault's effects play out, and everything converges, within minutes (see
# syncadmin/settings.py): beat every 5 s, a killed worker's lease lapses after 20 s, lost runs are sent again after
# 10 s, back-off from 5 s up to a minute.
TIMINGS = {
    "CELERY_BEAT_INTERVAL_SECONDS": "5",
    "SYNC_QUEUED_RUN_RESEND_SECONDS": "10",
    "SYNC_LEASE_SECONDS": "20",
    "SYNC_BACKOFF_BASE_SECONDS": "5",
    "SYNC_BACKOFF_CAP_SECONDS": "60",
    "SYNC_QUEUED_RUN_STALE_SECONDS": "60",
    "SYNC_BUSY_RETRY_SECONDS": "5",
    "SYNC_DISPATCH_JITTER_SECONDS": "10",
}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15, help="how long to edit and inject faults (15)")
    parser.add_argument("--users", type=int, default=20, help="synced sandbox users (20)")
    parser.add_argument("--protocol", choices=("ews", "graph"), default="ews", help="what serves the mailboxes")
    parser.add_argument("--seed", type=int, default=1, help="the random seed: edits, faults and their timing")
    parser.add_argument("--edits-per-minute", type=float, default=40)
    parser.add_argument("--records", type=int, default=3, help="records per object and end before the first sync")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2, help="processes per worker")
    parser.add_argument("--settle-minutes", type=float, default=6, help="how long to wait for quiet at the end")
    parser.add_argument("--faults", help="only these faults, comma-separated (default: every fault, in turn)")
    parser.add_argument("--logs", type=Path, help="copy every process's log here before cleaning up")
    return parser.parse_args()


def environment(work: Path) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "syncadmin.settings",
        "SYNCADMIN_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECRETS_KEY": secrets.token_urlsafe(50),
        "SYNCADMIN_VAR_DIR": str(work / "var"),
        "LOG_LEVEL": "INFO",
        # A timing set in the caller's environment wins (e.g. SYNC_LEASE_SECONDS=300 for the production default).
        **{name: os.environ.get(name, value) for name, value in TIMINGS.items()},
    }


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    args = arguments()
    if not snapshot.in_snapshot():
        return snapshot.run_from_snapshot()
    if args.logs is not None:
        args.logs = Path(os.environ.get("CHAOS_CWD", ".")) / args.logs
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    deployment = Deployment(work, args.protocol, environment(work))
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)
    stop = threading.Event()
    editor: threading.Thread | None = None
    wall = time.monotonic()
    try:
        print(f"chaos: {args.protocol}, {args.users} users, {args.minutes:g} minutes, seed {args.seed}; "
              f"code: {os.environ[snapshot.MARKER]}; working in {work}", flush=True)
        deployment.start_services()
        os.environ.update(deployment.env)
        import django

        django.setup()
        # Django is set up only now (the database is this run's own): the modules that use it come after.
        from benchmarks.chaos import product, setup
        from benchmarks.chaos.check import compare, settle
        from benchmarks.chaos.faults import Faults
        from benchmarks.chaos.ledger import Ledger

        deployment.migrate()
        deployment.start_sandbox()
        people = setup.people(deployment, args.users)
        ledger = Ledger(people, rng, args.edits_per_minute)
        faults = Faults(deployment, ledger, people, args.protocol, rng,
                        only=args.faults.split(",") if args.faults else None)
        print(f"seeding {args.records} records per object and end for {len(people)} users ...", flush=True)
        ledger.seed(args.records)
        setup.configure(people)
        for number in range(1, args.workers + 1):
            deployment.add_worker(f"chaos-w{number}", args.concurrency)
        deployment.add_beat()
        deployment.start_processes()
        first = setup.wait_first_syncs(people, timeout=600)
        print(f"first syncs: {first}", flush=True)

        print(f"editing and injecting faults for {args.minutes:g} minutes ...", flush=True)
        ledger.started = time.time()
        editor = threading.Thread(target=ledger.run, args=(stop,), name="chaos-edits", daemon=True)
        editor.start()
        faults.started = time.monotonic()
        faults.run(stop, args.minutes * 60)
        stop.set()
        editor.join(timeout=120)
        faults.clear()

        print("faults cleared; waiting for the deployment to settle ...", flush=True)
        settled, settle_seconds = settle(deployment, ledger, people, args.settle_minutes * 60)
        print(f"settled: {settled} after {settle_seconds:.0f} s; checking both ends against the ledger ...",
              flush=True)
        result = compare(ledger, people)
        runs = product.run_summary()
        summary = {
            "protocol": args.protocol, "minutes": args.minutes, "users": args.users, "seed": args.seed,
            "code": os.environ[snapshot.MARKER],
            "edits": sum(v for k, v in ledger.stats.items() if k.split(":")[0] in ("create", "update", "delete"))
            + sum(v for k, v in ledger.stats.items() if k.startswith("conflict:")),
            "faults": dict(faults.counts),
            **{k: result["totals"][k] for k in ("duplicates", "lost_changes", "unpropagated_deletes",
                                                 "stuck_objects")},
            "unexpected_records": result["totals"]["unexpected_records"],
            "unexpected_exits": len(deployment.unexpected_exits()),
            "settled": settled,
            "failed_runs_by_code": runs.get("failed_by_code"),
            "record_errors_by_code": runs.get("record_errors_by_code"),
            "wall_seconds": round(time.monotonic() - wall),
        }
        details = result["problems"] + [{"problem": "unexpected_exit", **e} for e in deployment.unexpected_exits()]
        report(args, ledger, faults, result, runs, settle_seconds, details)
        summary["details"] = details[:20]
        print(json.dumps(summary, default=str), flush=True)
        problems = sum(summary[k] for k in ("duplicates", "lost_changes", "unpropagated_deletes", "stuck_objects",
                                            "unexpected_records", "unexpected_exits"))
        return 1 if problems else 0
    except KeyboardInterrupt:
        print("chaos: interrupted; stopping everything it started", file=sys.stderr, flush=True)
        return 130
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        stop.set()
        if editor is not None:
            editor.join(timeout=30)
        if args.logs:
            deployment.keep_logs(args.logs)
        deployment.close()


def report(args, ledger, faults, result, runs: dict, settle_seconds: float, details: list[dict]) -> None:
    """The human summary, before the JSON line."""
    edits = dict(sorted(ledger.stats.items()))
    print("\n==== chaos run ====")
    print(f"protocol {args.protocol}, {args.users} users, {args.minutes:g} minutes, seed {args.seed}")
    print(f"ledger: {ledger.counts()}")
    print(f"edit attempts and outcomes: {edits}")
    print(f"faults ({sum(faults.counts.values())}):")
    for entry in faults.log:
        print(f"  {entry['at_s']:7.1f} s  {entry['fault']:<28} {entry['seconds']:5.1f} s  {entry['detail']}")
    print(f"runs: {runs.get('runs')}; failed by code: {runs.get('failed_by_code')}")
    print(f"record errors by code: {runs.get('record_errors_by_code')}")
    print(f"settled in {settle_seconds:.0f} s")
    print(f"check: {result['totals']}")
    for observation in ledger.observations[:20]:
        print(f"  observed: {observation}")
    for problem in details[:50]:
        print(f"  problem: {json.dumps(problem, default=str)[:1500]}")
    if args.logs:
        (args.logs).mkdir(parents=True, exist_ok=True)
        (args.logs / "problems.json").write_text(json.dumps(
            {"problems": details, "observations": ledger.observations, "faults": faults.log}, default=str,
            indent=1))
        print(f"logs and problems.json kept in {args.logs}")
    print()


if __name__ == "__main__":
    sys.exit(main())

"""`manage.py sync_user`: one user's sync in the foreground, with a progress bar; `--reset` goes through the same
reset operation as the console and the API (refused while a run is working on the object); `--dry-run` prints the
plan a sync would apply now and writes nothing (sync.previews)."""

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from sync.leases import SyncUnavailable
from sync.models import SyncRun
from sync.options import OBJECTS, synced_objects
from sync.planning import plan_lines, plan_object
from sync.queue import queue_run
from sync.runner import execute_run, give_up
from users.operations import reset_sync
from users.services import effective_configuration, find_user


class ProgressBar:
    """A one-line progress bar on a terminal (plain lines otherwise)."""

    WIDTH = 30

    def __init__(self, stream, label: str):
        self.stream, self.label = stream, label
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.last = -1.0

    def __call__(self, done: int, total: int) -> None:
        share = done / total if total else 1.0
        if self.tty:
            filled = int(share * self.WIDTH)
            self.stream.write(f"\r{self.label:<9} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total}")
            self.stream.flush()
        elif share - self.last >= 0.25 or done == total:
            self.stream.write(f"{self.label}: {done}/{total} writes\n")
            self.last = share

    def end(self) -> None:
        if self.tty:
            self.stream.write("\n")


def describe(run: SyncRun) -> str:
    parts = []
    for side in ("salesforce", "outlook"):
        counts = run.counts.get(side) or {}
        changes = ", ".join(f"{n} {kind}d" if kind != "stamp" else f"{n} stamped" for kind, n in counts.items())
        parts.append(f"{side.title()}: {changes or 'no change'}")
    calls = run.api_calls or {}
    seconds = run.duration.total_seconds() if run.duration else 0
    exchange = "Graph" if run.exchange_protocol == "graph" else "EWS"
    return (f"{'; '.join(parts)} ({seconds:.1f} s, {calls.get('salesforce', 0)} Salesforce and "
            f"{calls.get('exchange', 0)} {exchange} calls)")


class Command(BaseCommand):
    help = "Run one user's sync in the foreground; exit code 0 only if every object synced without error."

    def add_arguments(self, parser):
        parser.add_argument("user", help="the synced user: id, Salesforce username or e-mail address")
        parser.add_argument("--objects", help=f"comma-separated, of {','.join(OBJECTS)} (default: all synced)")
        parser.add_argument("--reset", action="store_true",
                            help="forget links and watermarks first, then a full matching sync")
        parser.add_argument("--dry-run", action="store_true",
                            help="print what a sync would do now (read both ends, write nothing) and exit 0")

    def handle(self, *args, user, objects, reset, dry_run=False, **options):
        synced_user = find_user(user)
        if synced_user is None:
            raise CommandError(f"no synced user {user!r} (give an id, a Salesforce username or an e-mail address)")
        effective = effective_configuration(synced_user)
        if effective is None:
            raise CommandError(f"{synced_user} has no active configuration: assign one first")
        available = synced_objects(effective.configuration)
        wanted = [o.strip() for o in objects.split(",") if o.strip()] if objects else available
        unknown = [o for o in wanted if o not in available]
        if unknown:
            raise CommandError(f"{effective.configuration.name} does not sync {', '.join(unknown)}; "
                               f"it syncs {', '.join(available) or 'nothing'}")
        if dry_run:
            if reset:
                raise CommandError("--dry-run and --reset do not go together: a dry run changes nothing")
            self.stdout.write(f"Dry run for {synced_user} with {effective.configuration.name!r} (via "
                              f"{effective.via}): nothing is written.")
            for name in wanted:
                for line in plan_lines(name, plan_object(synced_user, name)):
                    self.stdout.write(line)
            return
        reset_runs = {}
        if reset:
            try:
                # Queued but not sent to the workers: this command runs them itself, below.
                reset_runs = {run.object: run for run in reset_sync(synced_user, wanted, send=False)}
            except SyncUnavailable as exc:
                raise CommandError(f"not reset: {exc}") from exc
            self.stdout.write(f"Reset {', '.join(wanted)} for {synced_user}: links and watermarks cleared.")

        self.stdout.write(f"Syncing {synced_user} with {effective.configuration.name!r} (via {effective.via})")
        all_ok = True
        for name in wanted:
            run = reset_runs.get(name) or queue_run(synced_user, name, SyncRun.Trigger.COMMAND)
            bar = ProgressBar(self.stdout, name)
            started = time.monotonic()
            try:
                run = execute_run(run.pk, on_progress=bar)
            except SyncUnavailable as exc:
                bar.end()
                give_up(run.pk, exc)
                self.stderr.write(f"{name}: {exc}")
                all_ok = False
                continue
            bar.end()
            run.refresh_from_db()
            ok = run.state == SyncRun.State.SUCCEEDED and not run.error_code
            all_ok &= ok
            kind = "full" if run.full else "incremental"
            line = f"{name}: {kind} sync {run.state} in {time.monotonic() - started:.1f} s. {describe(run)}"
            self.stdout.write(line)
            if run.error_code:
                self.stderr.write(f"{name}: {run.error_code}: {run.error_message}")
            for error in run.record_errors.all()[:20]:
                self.stderr.write(f"  {error.side} {error.record_id}: {error.code}: {error.message}")
        if not all_ok:
            sys.exit(1)

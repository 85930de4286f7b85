"""Running one queued SyncRun: claim the user's object, build the two ends, let the engine sync, and record how it
ended.

The engine (sync/engine/) decides; the connectors (sync/connectors/) talk to the ends; this module wires them to
the database: the link table, the watermarks in UserObjectState, and the SyncRun row with its counts, API calls
and record errors. What a result means for the object's state and schedule is decided in sync.outcome.
"""

from __future__ import annotations

import logging
import random
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from configurations.models import SyncMode
from configurations.soql import DataSetError
from sync import engine, outcome
from sync.connections import (
    Route,
    open_mailbox,
    required_permissions,
    salesforce_client,
)
from sync.connectors.base import ConnectorError, NeedsAttention, TransientError
from sync.connectors.protocols import MailboxEnd, SalesforceEnd
from sync.error_words import describe_error, describe_run_error
from sync.feeds.coverage import covered
from sync.feeds.dirty import clear_on_claim, settle_held_changes
from sync.guard_advice import guard_message
from sync.leases import SyncUnavailable, claim, lease_owner, release
from sync.linkstore import DjangoLinkStore, DjangoWatermarks
from sync.merges import merged_conflicts
from sync.models import RecordError, SyncRun
from sync.options import engine_setting, resolve_scope
from sync.outcome import RunResult
from sync.progress import BlamedSide, LeaseLost, Progress, ProgressCallback, TrackedSide, blamed_on
from users.models import SyncState, SyncUser, UserObjectState
from users.services import refresh_object_states

log = logging.getLogger(__name__)

# The errors that mean "the database is unreachable", as opposed to a statement it refused.
DATABASE_OUTAGE = (OperationalError, InterfaceError)


@dataclass
class Clients:
    """The two ends for one user; built per run (tokens are cached process-wide by the connector)."""

    salesforce: SalesforceEnd
    exchange: MailboxEnd


def build_clients(user: SyncUser, route: Route | None = None) -> Clients:
    """Salesforce as the user, and the user's mailbox on the Exchange connection that serves it (EWS or Graph); an
    error says which end it came from (`blamed_on`)."""
    with blamed_on("salesforce"):
        salesforce = salesforce_client(user.username)
    with blamed_on("exchange"):
        return Clients(salesforce=salesforce, exchange=open_mailbox(user, route))


def mark_failed(runs: QuerySet[SyncRun], code: str, message: str, now: datetime | None = None) -> int:
    """End runs that could not finish by themselves (their worker died, or they never got the lease) as failed."""
    return runs.update(state=SyncRun.State.FAILED, finished_at=now or timezone.now(), error_code=code,
                       error_message=message)


def give_up(run_id: int, exc: SyncUnavailable) -> None:
    """A queued run that never got its object's lease: failed as `already_running`."""
    mark_failed(SyncRun.objects.filter(pk=run_id, state=SyncRun.State.QUEUED), "already_running", str(exc))


def reset_links(user: SyncUser, objects: list[str]) -> None:
    """Forget the user's links and watermarks for these objects, touching no record (DESIGN.md §5 reset)."""
    with transaction.atomic():
        for object_type in objects:
            state, _ = UserObjectState.objects.select_for_update().get_or_create(user=user, object=object_type)
            engine.reset_sync(DjangoLinkStore(user.pk, object_type), DjangoWatermarks(state))


# ---- one run -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ending:
    """How a run ended: its result, the error to show (code, sentence), and what the schedule needs."""

    result: RunResult
    error: tuple[str, str] | None = None
    retry_after: float | None = None
    interval_minutes: int | None = None
    sweep: bool = False  # interval_minutes is the safety-net sweep (feeds cover the object), not polling
    end: str = ""  # the end whose answer stopped the run (SyncRun.error_end)


@dataclass
class _Job:
    run: SyncRun
    state: UserObjectState
    progress: Progress
    given: Clients | None  # ends supplied by the caller (tests, the sandbox), else built from the connections
    clients: Clients | None = None  # the ends this run used, for its API-call counts


def execute_run(
    run_id: int,
    *,
    clients: Clients | None = None,
    guards: engine.Guards | None = None,
    on_progress: ProgressCallback | None = None,
) -> SyncRun:
    """Run a queued SyncRun to its end and record what happened; never raises for a failure of the ends.

    Claim the object's lease, start, resolve the configuration and options, build the ends, let the engine sync,
    classify the result, finish. Raises SyncUnavailable when another run holds the lease (the run stays queued)."""
    run = SyncRun.objects.select_related("user").get(pk=run_id)
    if run.state in SyncRun.TERMINAL_STATES:
        return run  # a redelivered task: the run already ended
    state, _ = UserObjectState.objects.get_or_create(user=run.user, object=run.object)
    owner = lease_owner()
    if not claim(state, owner):
        running = SyncRun.objects.filter(user=run.user, object=run.object, state=SyncRun.State.RUNNING).first()
        raise SyncUnavailable(f"{run.user} is already syncing {run.object}", running.pk if running else None)
    try:
        previous_state = _start(run, state)
        job = _Job(run, state, Progress(run, state, owner, on_progress), given=clients)
        try:
            ending = _sync(job, guards, previous_state)
        except (DataSetError, ConnectorError) as exc:
            ending = _failure(exc)
        except LeaseLost:
            return _overtaken(run, job.clients)
        except DATABASE_OUTAGE:
            raise
        except Exception:  # a defect of ours: the run says so, the log has the traceback, the worker lives on
            log.exception("sync run %s for %s/%s stopped on an unexpected error", run.pk, run.user_id, run.object)
            ending = Ending(RunResult.TRANSIENT_FAILURE, (
                "internal_error",
                "The sync stopped on an unexpected error in this product, so it did not finish. What it had saved is "
                "kept and the next run tries again; if this keeps happening, report it with the worker's log.",
            ))
        return finish(run, state, ending.result, clients=job.clients, error=ending.error, error_end=ending.end,
                      retry_after=ending.retry_after, interval_minutes=ending.interval_minutes,
                      sweep=ending.sweep)
    except DATABASE_OUTAGE as exc:
        raise RunInterrupted(run.pk, owner) from exc
    finally:
        with suppress(*DATABASE_OUTAGE):  # the lease expires by itself; RunInterrupted releases it when it can
            release(state, owner)
            # Outlook changes notified while this run held the lease: its own writes are dropped now that their
            # versions are stored, anything else marks the object for the next run.
            settle_held_changes(state.pk)


def _overtaken(run: SyncRun, clients: Clients | None) -> SyncRun:
    """End a run whose object another run took over: only the run row is ours to write (the state row is the
    other run's now)."""
    run.state, run.finished_at = SyncRun.State.FAILED, timezone.now()
    run.api_calls = _api_calls(clients)
    run.error_code = "lease_lost"
    run.error_message = (
        "This run was paused longer than its lease allows (a slow end or a stalled worker), and another run took "
        "over the object, so this one stopped before writing more. What it had written is kept; nothing needs doing."
    )
    run.save(update_fields=["state", "finished_at", "api_calls", "error_code", "error_message", "counts"])
    log.warning("sync run %s for %s/%s: lease lost, stopped", run.pk, run.user_id, run.object)
    return run


class RunInterrupted(Exception):
    """The database became unreachable while a run held its object: the run and its lease wait to be closed."""

    def __init__(self, run_id: int, owner: str):
        super().__init__(f"sync run {run_id} was interrupted by a database outage")
        self.run_id, self.owner = run_id, owner


def close_interrupted(interrupted: RunInterrupted) -> None:
    """Once the database answers again: end the interrupted run as failed with the real reason (not as a lost
    worker), schedule its object's retry with back-off, and release its lease. Raises while the database is down."""
    run = SyncRun.objects.select_related("user").get(pk=interrupted.run_id)
    state = UserObjectState.objects.get(user=run.user, object=run.object)
    if run.state == SyncRun.State.RUNNING:
        finish(run, state, RunResult.TRANSIENT_FAILURE, error=(
            "database_unavailable",
            "The product's database became unreachable during this run, so it stopped before it finished. What it "
            "had saved is kept and the next run carries on from there; nothing needs doing unless it happens again.",
        ))
    release(state, interrupted.owner)


def _start(run: SyncRun, state: UserObjectState) -> str:
    """Mark the run running (and any other running run of the object lost); answer the object's previous state."""
    now = timezone.now()
    # We hold the lease: any other run still marked running lost its worker (killed mid-run).
    mark_failed(
        SyncRun.objects.filter(user=run.user, object=run.object, state=SyncRun.State.RUNNING).exclude(pk=run.pk),
        "worker_lost", "The worker running this sync stopped before it finished; the next run took over.", now)
    if run.started_at is not None:
        # Started before: its worker died (the message came again). Keep that attempt's timing.
        run.attempts = [*run.attempts, {"started_at": run.started_at.isoformat(), "ended": "worker_lost"}]
    run.state, run.started_at, run.deferred_until = SyncRun.State.RUNNING, now, None
    # The change that marked the object dirty is read by this run: clear the mark before reading, so a change made
    # from now on marks it again (sync.feeds.dirty). A gap too old to read incrementally asks for a full run.
    if clear_on_claim(state.pk, now) and not run.full:
        run.full = True
    run.save(update_fields=["state", "started_at", "deferred_until", "attempts", "full"])
    state.refresh_from_db()
    previous_state = state.state
    # If this worker dies, the object is due again as soon as the lease runs out (the finish sets the real date).
    UserObjectState.objects.filter(pk=state.pk).update(
        state=SyncState.INITIAL_SYNC if run.full else SyncState.SYNCING, last_run_at=now,
        next_due_at=now + timedelta(seconds=settings.SYNC_LEASE_SECONDS),
    )
    return previous_state


def _sync(job: _Job, guards: engine.Guards | None, previous_state: str) -> Ending:
    """Resolve what to sync, build the ends, run the engine and record its outcome; connector errors propagate."""
    run, state, user = job.run, job.state, job.run.user
    scope = resolve_scope(user, run.object, run.started_at)
    if isinstance(scope, tuple):
        return Ending(RunResult.DISABLED, scope)
    configuration, data_setting, route = scope.configuration, scope.data_setting, scope.route
    options, fingerprint = scope.options, scope.fingerprint

    job.clients = job.given
    if not run.full and fingerprint != state.scope_fingerprint:
        # The data setting, data set, window or mailbox route changed since the watermarks were taken (series
        # synced as series or as occurrences among them): read everything.
        run.full = True
        run.save(update_fields=["full"])
    run.exchange_protocol = route.protocol
    run.save(update_fields=["exchange_protocol"])
    job.clients = clients = job.clients or build_clients(user, route)
    _follow_mailbox(run, state, route.protocol)
    if run.full or previous_state in (SyncState.NEEDS_ATTENTION, SyncState.NOT_STARTED):
        with blamed_on("salesforce"):
            check_permissions(clients, run.object, data_setting.direction)
    with blamed_on("salesforce"):
        salesforce_side = BlamedSide(clients.salesforce.side(run.object, options), "salesforce")
    # The contacts folder is created by a first sync or after a reset (no Exchange watermark yet), never otherwise.
    first_or_reset = DjangoWatermarks(state).get(engine.Side.OUTLOOK) is None
    with blamed_on("exchange"):
        exchange_side = BlamedSide(clients.exchange.side(run.object, options, create_folder=first_or_reset), "exchange")
    release = UserObjectState.objects.filter(pk=state.pk, release_scope_exits=True).exists()
    synced = engine.run_sync(
        run.object,
        engine_setting(data_setting, release_scope_exits=release),
        TrackedSide(salesforce_side, job.progress),
        TrackedSide(exchange_side, job.progress),
        DjangoLinkStore(user.pk, run.object),
        DjangoWatermarks(state),
        full=run.full,
        guards=guards,
        on_plan=lambda plan: job.progress.planned(len(plan.writes)),
    )

    if synced.watermarks_advanced:
        # The admin's one-shot "keep them and unlink" is spent once a run has applied it.
        extra = {"release_scope_exits": False} if release else {}
        UserObjectState.objects.filter(pk=state.pk).update(scope_fingerprint=fingerprint, **extra)
    _record_outcome(run, synced)
    if synced.refusal is not None:
        message = guard_message(synced.refusal, user, configuration, run.object, state.last_success_at)
        return Ending(RunResult.NEEDS_ATTENTION, (f"guard_{synced.refusal.code}", message))
    if data_setting.auto_relate and run.object == "events":
        _auto_relate(run, synced, salesforce_side, exchange_side)
    interval, sweep = _schedule(configuration, data_setting.direction, user.pk, run.object, route.protocol)
    if synced.failures:
        message = f"{len(synced.failures)} record(s) could not be synced; they are retried at the next sync."
        return Ending(RunResult.RECORD_ERRORS, ("record_errors", message), interval_minutes=interval, sweep=sweep)
    return Ending(RunResult.SUCCEEDED, interval_minutes=interval, sweep=sweep)


def _schedule(configuration, direction: str, user_id: int, object_type: str, protocol: str) -> tuple[int, bool]:
    """The minutes until the object is due again, and whether that is the safety-net sweep: near real time with
    every end it reads covered by a live feed → SYNC_SWEEP_HOURS (changes trigger runs in between); otherwise the
    configuration's interval (polling)."""
    if configuration.sync_mode == SyncMode.NEAR_REAL_TIME and covered(user_id, object_type, direction, protocol):
        return settings.SYNC_SWEEP_HOURS * 60, True
    return configuration.sync_interval_minutes, False


def _failure(exc: DataSetError | ConnectorError) -> Ending:
    """Classify an error that stopped the run: a person must act, or it is retried with back-off."""
    if isinstance(exc, DataSetError):
        return Ending(RunResult.NEEDS_ATTENTION, ("data_set_invalid", f"The data set cannot be compiled: {exc}"))
    end = getattr(exc, "end", "")
    if isinstance(exc, NeedsAttention):
        return Ending(RunResult.NEEDS_ATTENTION, (exc.code, describe_error(exc)), end=end)
    if isinstance(exc, TransientError):
        return Ending(RunResult.TRANSIENT_FAILURE, (exc.code, describe_run_error(exc, end)),
                      retry_after=exc.retry_after, end=end)
    return Ending(RunResult.PERMANENT_FAILURE, (exc.code, describe_run_error(exc, end)), end=end)


def _follow_mailbox(run: SyncRun, state: UserObjectState, protocol: str) -> None:
    """A mailbox now served by the other Exchange protocol (moved to Exchange Online, or a routing change): the
    links' Outlook ids and the Exchange watermark belong to the old one, so forget them like a reset does and
    read both ends in full. Items stamped with their Salesforce id are linked again, never duplicated."""
    synced_with = state.exchange_protocol or ("ews" if state.exchange_sync_state or state.last_success_at else "")
    if synced_with and synced_with != protocol:
        log.info("%s's %s moved from %s to %s: links forgotten, full matching sync", run.user, run.object,
                 synced_with, protocol)
        reset_links(run.user, [run.object])
        state.refresh_from_db()
        if not run.full:
            run.full = True
            run.save(update_fields=["full"])
    if state.exchange_protocol != protocol:
        UserObjectState.objects.filter(pk=state.pk).update(exchange_protocol=protocol)
        state.exchange_protocol = protocol


def check_permissions(clients: Clients, object_type: str, direction: str) -> None:
    permissions = clients.salesforce.permissions(object_type)
    missing = [name for name in required_permissions(direction) if not getattr(permissions, name)]
    if missing:
        raise NeedsAttention(
            "salesforce_permission_missing",
            f"The user's Salesforce profile lacks the {', '.join(missing)} permission on {object_type}.",
            f"Grant {', '.join(missing)} on {object_type} in the user's profile, or change the data setting's "
            "direction.",
        )


def _auto_relate(run: SyncRun, synced: engine.SyncOutcome, salesforce_side, exchange_side) -> None:
    """Relate the events this run wrote to Salesforce to the contacts (or one lead) among their Outlook attendees.

    Best effort after the sync itself: a failure is recorded on the run and tried again when the event next
    changes; it never fails the run.
    """
    written = {a.source_id for a in synced.plan.actions
               if a.kind in (engine.ActionKind.CREATE, engine.ActionKind.UPDATE)
               and a.side is engine.Side.SALESFORCE and a.source_id}
    if not written:
        return
    links = DjangoLinkStore(run.user_id, run.object)
    links.prefetch((), written)  # one batched read instead of one query per event
    salesforce_of = {oid: link.salesforce_id for oid in written
                     if (link := links.by_outlook_id(oid)) is not None and link.salesforce_id}
    try:
        attendees = exchange_side.attendee_addresses(list(salesforce_of))
        related = salesforce_side.relate_to_people(
            {salesforce_of[oid]: found for oid, found in attendees.items() if found})
    except ConnectorError as exc:
        RecordError.objects.create(run=run, side="salesforce", code="auto_relate_failed",
                                   message=f"{exc.code}: {exc.message}", transient=isinstance(exc, TransientError))
        return
    run.counts = {**run.counts, "related": len(related)}


def _record_outcome(run: SyncRun, synced: engine.SyncOutcome) -> None:
    """The run's counts: writes per side and action, the pairs it linked (each successful create, each match) and
    dropped without a write, and the conflicts it decided. A refused plan was not applied: it did none of these."""
    counts: dict = {"salesforce": {}, "outlook": {}, "links": 0, "unlinked": 0, "conflicts": 0}
    for (side, kind), number in synced.applied.items():
        if side in ("salesforce", "outlook"):
            counts[side][kind] = counts[side].get(kind, 0) + number
            if kind == "create":
                counts["links"] += number
    if synced.refusal is None:
        matched = (engine.ActionKind.LINK, engine.ActionKind.UPDATE)  # a pair with no link before the run
        counts["links"] += sum(1 for a in synced.plan.actions if a.kind in matched and a.previous is None)
        counts["unlinked"] = sum(1 for a in synced.plan.actions if a.kind is engine.ActionKind.UNLINK)
        counts["conflicts"] = len(synced.plan.conflicts)
        merged, merged_total = merged_conflicts(synced.plan)
        if merged_total:
            counts["merged"], counts["merged_total"] = merged, merged_total
    run.counts = counts
    RecordError.objects.bulk_create(
        RecordError(
            run=run,
            side=str(issue.side),
            record_id=issue.record_id or "",
            code=issue.code[:100],
            message=issue.message,
            transient=issue.transient,
        )
        for issue in synced.issues
    )


# ---- the end of a run --------------------------------------------------------------------------------------------


def _api_calls(clients: Clients | None) -> dict:
    if clients is None:
        return {"salesforce": 0, "exchange": 0}
    return {"salesforce": clients.salesforce.calls.calls, "exchange": clients.exchange.calls.calls}


def finish(
    run: SyncRun,
    state: UserObjectState,
    result: RunResult,
    *,
    clients: Clients | None = None,
    error: tuple[str, str] | None = None,
    error_end: str = "",
    retry_after: float | None = None,
    interval_minutes: int | None = None,
    sweep: bool = False,
    now: datetime | None = None,
) -> SyncRun:
    """Record how a run ended on the run and on its user's object; sync.outcome says what the result means."""
    now = now or timezone.now()
    run.state = outcome.run_state(result)
    run.finished_at = now
    run.api_calls = _api_calls(clients)
    usage = clients.salesforce.api_usage() if clients is not None else None
    if usage:
        run.salesforce_api_used, run.salesforce_api_allocation = usage
    run.error_code, run.error_message = error if error else ("", "")
    run.error_end = error_end if error else ""
    run.save(update_fields=["state", "finished_at", "api_calls", "error_code", "error_message", "error_end",
                            "counts", "salesforce_api_used", "salesforce_api_allocation"])

    failures = outcome.failures_after(result, state.consecutive_failures)
    update: dict = {
        "state": outcome.state_after(result), "progress_done": 0, "progress_total": None,
        "consecutive_failures": failures,
        "next_due_at": outcome.next_due(
            result, now, consecutive_failures=failures, interval_minutes=interval_minutes, retry_after=retry_after,
            backoff_base_seconds=settings.SYNC_BACKOFF_BASE_SECONDS,
            backoff_cap_seconds=settings.SYNC_BACKOFF_CAP_SECONDS,
            # Sweeps spread over a tenth of their interval, so users synced together are not all swept together.
            spread_seconds=random.uniform(0, (interval_minutes or 0) * 6 if sweep
                                          else settings.SYNC_DISPATCH_JITTER_SECONDS),
        ),
    }
    if outcome.synced(result):
        update["last_success_at"] = now
    if result is RunResult.SUCCEEDED:
        update.update(last_error_code="", last_error_message="")
    elif error:
        update.update(last_error_code=error[0][:100], last_error_message=error[1])
    UserObjectState.objects.filter(pk=state.pk).update(**update)
    # A configuration change saved while this run was under way has set the object's state already; the update
    # above may have written over it with the old configuration's outcome: put it right at once.
    refresh_object_states([run.user_id])
    log.info("sync run %s for %s/%s: %s %s", run.pk, run.user_id, run.object, run.state, run.error_code)
    return run

"""Sync operations: run one user's object sync, reset it, and the settings the connectors are built from.

The engine (sync/engine/) decides; the connectors (sync/connectors/) talk to the ends; this module wires them to
the database: the link table, the watermarks in UserObjectState, and a SyncRun row per job with its counts, API
calls and record errors. Views, the API, the commands and the Celery tasks all call these functions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from configurations.models import DataSet, DataSetting, Direction, EventScope, OutlookConfiguration
from configurations.soql import DataSetError, compile_where
from sync import engine
from sync.connections import (
    Route,
    describe_error,
    mailbox_route,
    open_mailbox,
    required_permissions,
    salesforce_settings,
)
from sync.connectors.base import (
    ConnectorError,
    NeedsAttention,
    ObjectOptions,
    PermanentError,
    TransientError,
)
from sync.linkstore import DjangoLinkStore, DjangoWatermarks
from sync.models import RecordError, SyncRun
from users.models import ExchangeRoute, SyncState, SyncUser, UserObjectState
from users.services import effective_configuration

log = logging.getLogger(__name__)

OBJECTS = ("contacts", "events", "tasks")


class SyncUnavailable(Exception):
    """A run cannot start: the user's sync is running already, or there is nothing to sync."""

    def __init__(self, message: str, running_run_id: int | None = None):
        super().__init__(message)
        self.running_run_id = running_run_id


# ---- what one run needs ------------------------------------------------------------------------------------------


def object_options(data_setting: DataSetting, data_set: DataSet, user: SyncUser, now: datetime,
                   route: Route | None = None) -> ObjectOptions:
    """The connectors' view of a data setting and data set for one user, at one moment (events' window).

    Series are synced as series only for mailboxes served by EWS: the Graph connector presents a series as its
    occurrences, so the Salesforce side must then do the same (or a series would be synced twice)."""
    window_start = window_end = None
    if data_setting.object == "events":
        today = now.astimezone(UTC).date()
        window_start = datetime.combine(today - timedelta(days=data_set.days_back), datetime.min.time(), UTC)
        window_end = datetime.combine(today + timedelta(days=data_set.days_ahead), datetime.max.time(), UTC)
    return ObjectOptions(
        where=compile_where(data_set, user.salesforce_id, now, data_setting=data_setting),
        contacts_folder=data_setting.folder or "Salesforce_Sync",
        sync_private_events=data_setting.sync_private_events,
        event_category=data_setting.event_category if data_setting.event_scope == EventScope.CATEGORY else None,
        excluded_addresses=tuple(a.strip().lower() for a in data_setting.excluded_addresses or () if a.strip()),
        window_start=window_start.isoformat() if window_start else None,
        window_end=window_end.replace(microsecond=0).isoformat() if window_end else None,
        record_limit=data_set.record_limit,
        auto_relate=data_setting.auto_relate,
        series_as_series=(route or mailbox_route(user)).protocol == ExchangeRoute.EWS,
    )


def scope_fingerprint(data_setting: DataSetting, options: ObjectOptions) -> str:
    """A hash of everything that decides what syncs and how; the event/task windows make it change daily."""
    described = {
        "direction": data_setting.direction, "conflict_behavior": data_setting.conflict_behavior,
        "propagate_deletions": data_setting.propagate_deletions, "options": dataclasses.asdict(options),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


def engine_setting(data_setting: DataSetting) -> engine.DataSetting:
    return engine.DataSetting(
        direction=engine.Direction(data_setting.direction),
        conflict_behavior=engine.ConflictBehavior(data_setting.conflict_behavior),
        propagate_deletions=data_setting.propagate_deletions,
    )


def synced_objects(configuration: OutlookConfiguration) -> list[str]:
    """The objects a configuration syncs (direction other than `none`), in a stable order."""
    directions = dict(configuration.data_settings.values_list("object", "direction"))
    return [name for name in OBJECTS if directions.get(name, Direction.NONE) != Direction.NONE]


# ---- one sync per user and object at a time ---------------------------------------------------------------------


def queued_run_stale_after() -> timedelta:
    """A queued run older than this is taken as lost (its message with it, e.g. a broker restarted without its data)
    and no longer blocks its user's object."""
    return timedelta(seconds=settings.SYNC_QUEUED_RUN_STALE_SECONDS)


def _lease_owner() -> str:
    return f"{socket.gethostname()}:{uuid.uuid4().hex[:12]}"


def claim(state: UserObjectState, owner: str, now: datetime | None = None) -> bool:
    """Take the state row's lease by compare-and-set: only one claimant wins, and an expired lease is free."""
    now = now or timezone.now()
    taken = (
        UserObjectState.objects.filter(pk=state.pk)
        .filter(Q(lease_owner="") | Q(lease_expires_at__lt=now))
        .update(lease_owner=owner, lease_expires_at=now + timedelta(seconds=settings.SYNC_LEASE_SECONDS))
    )
    return taken == 1


def renew(state: UserObjectState, owner: str) -> None:
    """Extend a held lease: a long run keeps its claim while it makes progress."""
    UserObjectState.objects.filter(pk=state.pk, lease_owner=owner).update(
        lease_expires_at=timezone.now() + timedelta(seconds=settings.SYNC_LEASE_SECONDS)
    )


def release(state: UserObjectState, owner: str) -> None:
    UserObjectState.objects.filter(pk=state.pk, lease_owner=owner).update(lease_owner="", lease_expires_at=None)


# ---- running ---------------------------------------------------------------------------------------------------


def queue_run(
    user: SyncUser, object_type: str, trigger: str, *, requested_by=None, full: bool | None = None
) -> SyncRun:
    """A SyncRun row in `queued`: a first sync (or a reset) reads everything and matches; others are incremental."""
    state, _ = UserObjectState.objects.get_or_create(user=user, object=object_type)
    if full is None:
        full = trigger == SyncRun.Trigger.RESET or state.state == SyncState.NOT_STARTED or (
            state.salesforce_watermark is None and not state.exchange_sync_state
        )
    return SyncRun.objects.create(
        user=user, object=object_type, trigger=trigger, requested_by=requested_by, full=full
    )


@dataclass
class Clients:
    """The two ends for one user; built per run (tokens are cached process-wide by the connector)."""

    salesforce: object
    exchange: object


def build_clients(user: SyncUser, route: Route | None = None) -> Clients:
    """Salesforce as the user, and the user's mailbox on the Exchange connection that serves it (EWS or Graph)."""
    from sync.connectors.salesforce import SalesforceClient

    return Clients(
        salesforce=SalesforceClient(salesforce_settings(), user.username),
        exchange=open_mailbox(user, route),
    )


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


def _check_permissions(clients: Clients, object_type: str, direction: str) -> None:
    permissions = clients.salesforce.permissions(object_type)
    missing = [name for name in required_permissions(direction) if not getattr(permissions, name)]
    if missing:
        raise NeedsAttention(
            "salesforce_permission_missing",
            f"The user's Salesforce profile lacks the {', '.join(missing)} permission on {object_type}.",
            f"Grant {', '.join(missing)} on {object_type} in the user's profile, or change the data setting's "
            "direction.",
        )


ProgressCallback = Callable[[int, int], None]


class _Progress:
    """Counts the writes a run has made; records them on the run and the state row, and renews the lease."""

    def __init__(self, run: SyncRun, state: UserObjectState, owner: str, callback: ProgressCallback | None):
        self.run, self.state, self.owner, self.callback = run, state, owner, callback
        self.done, self.total = 0, 0

    def planned(self, total: int) -> None:
        self.total = total
        self._save()

    def advance(self, count: int) -> None:
        self.done += count
        self._save()

    def _save(self) -> None:
        self.total = max(self.total, self.done)  # stamping Outlook items after Salesforce creates adds writes
        SyncRun.objects.filter(pk=self.run.pk).update(progress_done=self.done, progress_total=self.total)
        renew(self.state, self.owner)
        UserObjectState.objects.filter(pk=self.state.pk).update(progress_done=self.done,
                                                                progress_total=self.total)
        if self.callback:
            self.callback(self.done, self.total)


class _TrackedSide:
    """A side connector that reports each batch of writes to the run's progress."""

    def __init__(self, inner, progress: _Progress):
        self._inner, self._progress = inner, progress
        self.side = inner.side

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def _write(self, method: str, requests):
        results = getattr(self._inner, method)(requests)
        self._progress.advance(len(results))
        return results

    def create(self, requests):
        return self._write("create", requests)

    def update(self, requests):
        return self._write("update", requests)

    def delete(self, record_ids):
        return self._write("delete", record_ids)


def execute_run(
    run_id: int,
    *,
    clients: Clients | None = None,
    guards: engine.Guards | None = None,
    on_progress: ProgressCallback | None = None,
) -> SyncRun:
    """Run a queued SyncRun to its end and record what happened; never raises for a failure of the ends."""
    run = SyncRun.objects.select_related("user").get(pk=run_id)
    if run.state in SyncRun.TERMINAL_STATES:
        return run  # a redelivered task: the run already ended
    user = run.user
    state, _ = UserObjectState.objects.get_or_create(user=user, object=run.object)
    owner = _lease_owner()
    if not claim(state, owner):
        running = SyncRun.objects.filter(user=user, object=run.object, state=SyncRun.State.RUNNING).first()
        raise SyncUnavailable(f"{user} is already syncing {run.object}", running.pk if running else None)
    try:
        return _execute_claimed(run, state, clients, guards, _Progress(run, state, owner, on_progress))
    finally:
        release(state, owner)


def _execute_claimed(
    run: SyncRun, state: UserObjectState, clients: Clients | None, guards, progress: _Progress
) -> SyncRun:
    user = run.user
    now = timezone.now()
    # We hold the lease: any other run still marked running lost its worker (killed mid-run).
    SyncRun.objects.filter(user=user, object=run.object, state=SyncRun.State.RUNNING).exclude(pk=run.pk).update(
        state=SyncRun.State.FAILED, finished_at=now, error_code="worker_lost",
        error_message="The worker running this sync stopped before it finished; the next run took over.")
    run.state, run.started_at = SyncRun.State.RUNNING, now
    run.save(update_fields=["state", "started_at"])
    state.refresh_from_db()
    previous_state = state.state
    # If this worker dies, the object is due again as soon as the lease runs out (the finish sets the real date).
    UserObjectState.objects.filter(pk=state.pk).update(
        state=SyncState.INITIAL_SYNC if run.full else SyncState.SYNCING, last_run_at=now,
        next_due_at=now + timedelta(seconds=settings.SYNC_LEASE_SECONDS),
    )

    effective = effective_configuration(user)
    if effective is None or not user.active:
        reason = "no configuration is assigned" if user.active else "the user is inactive"
        return _finish(run, state, SyncState.DISABLED, error=("not_assigned", f"Nothing to sync: {reason}."))
    configuration = effective.configuration
    data_setting = configuration.data_settings.filter(object=run.object).first()
    data_set = configuration.data_sets.filter(object=run.object).first()
    if data_setting is None or data_setting.direction == Direction.NONE or data_set is None:
        return _finish(run, state, SyncState.DISABLED,
                       error=("object_not_synced", f"{configuration.name} does not sync {run.object}."))

    try:
        route = mailbox_route(user)
        options = object_options(data_setting, data_set, user, now, route)
        fingerprint = scope_fingerprint(data_setting, options)
        if not run.full and fingerprint != state.scope_fingerprint:
            # The data setting, data set, window or mailbox route changed since the watermarks were taken (series
            # synced as series or as occurrences among them): read everything.
            run.full = True
            run.save(update_fields=["full"])
        run.exchange_protocol = route.protocol
        run.save(update_fields=["exchange_protocol"])
        clients = clients or build_clients(user, route)
        _follow_mailbox(run, state, route.protocol)
        if run.full or previous_state in (SyncState.NEEDS_ATTENTION, SyncState.NOT_STARTED):
            _check_permissions(clients, run.object, data_setting.direction)
        salesforce_side = clients.salesforce.side(run.object, options)
        exchange_side = clients.exchange.side(run.object, options)
        outcome = engine.run_sync(
            run.object,
            engine_setting(data_setting),
            _TrackedSide(salesforce_side, progress),
            _TrackedSide(exchange_side, progress),
            DjangoLinkStore(user.pk, run.object),
            DjangoWatermarks(state),
            full=run.full,
            guards=guards,
            on_plan=lambda plan: progress.planned(len(plan.writes)),
        )
    except DataSetError as exc:
        return _finish(run, state, SyncState.NEEDS_ATTENTION, clients=clients,
                       error=("data_set_invalid", f"The data set cannot be compiled: {exc}"))
    except NeedsAttention as exc:
        message = describe_error(exc)
        return _finish(run, state, SyncState.NEEDS_ATTENTION, clients=clients, error=(exc.code, message))
    except TransientError as exc:
        return _finish(run, state, SyncState.ERROR, clients=clients, error=(exc.code, exc.message),
                       retry_after=exc.retry_after)
    except (PermanentError, ConnectorError) as exc:
        return _finish(run, state, SyncState.ERROR, clients=clients, error=(exc.code, exc.message))

    if outcome.watermarks_advanced:
        UserObjectState.objects.filter(pk=state.pk).update(scope_fingerprint=fingerprint)
    _record_outcome(run, outcome)
    if data_setting.auto_relate and outcome.refusal is None and run.object == "events":
        _auto_relate(run, outcome, salesforce_side, exchange_side)
    if outcome.refusal is not None:
        return _finish(run, state, SyncState.NEEDS_ATTENTION, clients=clients,
                       error=(f"guard_{outcome.refusal.code}", outcome.refusal.reason))
    failed = [issue for issue in outcome.issues if not _informational(issue)]
    if failed:
        return _finish(run, state, SyncState.ERROR, clients=clients, succeeded=True,
                       error=("record_errors", f"{len(failed)} record(s) could not be synced; they are retried "
                                               "at the next sync."),
                       interval=configuration.sync_interval_minutes)
    return _finish(run, state, SyncState.IN_SYNC, clients=clients, interval=configuration.sync_interval_minutes)


def _auto_relate(run: SyncRun, outcome, salesforce_side, exchange_side) -> None:
    """Relate the events this run wrote to Salesforce to the contacts (or one lead) among their Outlook attendees.

    Best effort after the sync itself: a failure is recorded on the run and tried again when the event next
    changes; it never fails the run.
    """
    written = {a.source_id for a in outcome.plan.actions
               if a.kind in (engine.ActionKind.CREATE, engine.ActionKind.UPDATE)
               and a.side is engine.Side.SALESFORCE and a.source_id}
    if not written:
        return
    links = DjangoLinkStore(run.user_id, run.object)
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


# Per-record outcomes that are the product's policy rather than a failure: recorded on the run, never an error
# state. Graph cannot change or delete a meeting the mailbox organizes without e-mailing its attendees.
INFORMATIONAL_CODES = frozenset({"stamp_unresolved", "meeting_not_updated", "meeting_not_deleted"})


def _informational(issue) -> bool:
    return issue.code in INFORMATIONAL_CODES


def _record_outcome(run: SyncRun, outcome) -> None:
    counts: dict = {"salesforce": {}, "outlook": {}, "links": 0, "conflicts": len(outcome.plan.conflicts)}
    for (side, kind), number in outcome.applied.items():
        if side in ("salesforce", "outlook"):
            counts[side][kind] = counts[side].get(kind, 0) + number
        else:
            counts["links"] += number
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
        for issue in outcome.issues
    )


def _api_calls(clients: Clients | None) -> dict:
    if clients is None:
        return {"salesforce": 0, "exchange": 0}
    return {"salesforce": clients.salesforce.calls.calls, "exchange": clients.exchange.calls.calls}


def _finish(
    run: SyncRun,
    state: UserObjectState,
    new_state: str,
    *,
    clients: Clients | None = None,
    error: tuple[str, str] | None = None,
    succeeded: bool | None = None,
    retry_after: float | None = None,
    interval: int | None = None,
) -> SyncRun:
    now = timezone.now()
    ok = succeeded if succeeded is not None else new_state in (SyncState.IN_SYNC, SyncState.DISABLED)
    run.state = SyncRun.State.SUCCEEDED if ok else SyncRun.State.FAILED
    run.finished_at = now
    run.api_calls = _api_calls(clients)
    usage = clients.salesforce.api_usage() if clients is not None else None
    if usage:
        run.salesforce_api_used, run.salesforce_api_allocation = usage
    run.error_code, run.error_message = error if error else ("", "")
    run.save(update_fields=["state", "finished_at", "api_calls", "error_code", "error_message", "counts",
                            "salesforce_api_used", "salesforce_api_allocation"])

    update: dict = {"state": new_state, "progress_done": 0, "progress_total": None}
    if new_state == SyncState.IN_SYNC or (ok and new_state == SyncState.ERROR):
        update.update(last_success_at=now, consecutive_failures=0)
    if new_state == SyncState.IN_SYNC:
        update.update(last_error_code="", last_error_message="")
    elif error:
        update.update(last_error_code=error[0][:100], last_error_message=error[1])
    if new_state == SyncState.ERROR and not ok:
        failures = state.consecutive_failures + 1
        delay = min(settings.SYNC_BACKOFF_BASE_SECONDS * 2 ** (failures - 1), settings.SYNC_BACKOFF_CAP_SECONDS)
        update.update(consecutive_failures=failures,
                      next_due_at=now + timedelta(seconds=max(delay, retry_after or 0)))
    elif new_state in (SyncState.NEEDS_ATTENTION, SyncState.DISABLED):
        update["next_due_at"] = None  # not retried until something changes
    else:
        update["next_due_at"] = now + timedelta(minutes=interval or 10)
    UserObjectState.objects.filter(pk=state.pk).update(**update)
    log.info("sync run %s for %s/%s: %s %s", run.pk, run.user_id, run.object, run.state, run.error_code)
    return run


def reset_links(user: SyncUser, objects: list[str]) -> None:
    """Forget the user's links and watermarks for these objects, touching no record (DESIGN.md §5 reset)."""
    with transaction.atomic():
        for object_type in objects:
            state, _ = UserObjectState.objects.select_for_update().get_or_create(user=user, object=object_type)
            engine.reset_sync(DjangoLinkStore(user.pk, object_type), DjangoWatermarks(state))


# ---- sync now, reset --------------------------------------------------------------------------------------------


def _enqueue_runs(runs: list[SyncRun]) -> None:
    from sync.tasks import sync_run

    for run in runs:
        sync_run.apply_async(args=[run.pk], queue="initial" if run.full else "sync")


@transaction.atomic
def request_sync(
    user: SyncUser, objects: list[str] | None = None, *, requested_by=None, reset: bool = False
) -> list[SyncRun]:
    """Sync now (or reset, then a full matching sync) for some or all of the user's synced objects.

    Raises SyncUnavailable when the user has nothing to sync, or when one of the objects already has a run
    queued or running (its id is in the exception, for the API's 409). The runs are enqueued after commit.
    """
    user = SyncUser.objects.select_for_update().get(pk=user.pk)
    effective = effective_configuration(user)
    if effective is None or not user.active:
        raise SyncUnavailable(f"{user} has no active configuration: assign one first")
    synced = synced_objects(effective.configuration)
    wanted = list(dict.fromkeys(objects)) if objects else synced
    unknown = [name for name in wanted if name not in OBJECTS]
    if unknown:
        raise ValueError(f"unknown objects: {', '.join(unknown)}; use {', '.join(OBJECTS)}")
    not_synced = [name for name in wanted if name not in synced]
    if not_synced:
        raise SyncUnavailable(f"{effective.configuration.name} does not sync {', '.join(not_synced)}")
    now = timezone.now()
    leased = UserObjectState.objects.filter(user=user, object__in=wanted, lease_expires_at__gte=now).exclude(
        lease_owner="").values_list("object", flat=True)
    busy = (
        SyncRun.objects.filter(user=user, object__in=wanted)
        .filter(Q(state=SyncRun.State.QUEUED, created_at__gte=now - queued_run_stale_after())
                | Q(state=SyncRun.State.RUNNING, object__in=list(leased)))
        .order_by("-created_at")
        .first()
    )
    if busy is not None:
        raise SyncUnavailable(f"{user}'s {busy.object} sync is {busy.state} (run {busy.pk})", busy.pk)
    if reset:
        reset_links(user, wanted)
    trigger = SyncRun.Trigger.RESET if reset else SyncRun.Trigger.MANUAL
    runs = [queue_run(user, name, trigger, requested_by=requested_by, full=True if reset else None)
            for name in wanted]
    transaction.on_commit(lambda: _enqueue_runs(runs))
    return runs

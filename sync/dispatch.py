"""The dispatcher: which users' objects are due, and one queued run (and task) for each.

Due means: the user is active and has an effective configuration that syncs the object; the object's state is
not `needs_attention` (a person must act first); no run of it is queued or running; and either a change feed marked
it dirty at least SYNC_DEBOUNCE_SECONDS ago (a `change` run: the changes made within the debounce ride along), or its
`next_due_at` has passed (a `schedule` run: the configuration's interval, the safety-net sweep of an object whose
feeds are live, or a retry), or it has never been scheduled (`not_started`, or `disabled` until its configuration
began syncing it). A configuration or assignment change therefore takes effect at the next dispatch, without a
restart. (The change itself already set the objects it stopped to `disabled` and those it started to `not_started`;
the dispatcher first re-applies that to the due objects whose run ended under the old configuration after the
change; a run's end does the same for its own user.)

The users who have waited longest are served first (their earliest due time or first unsynced change), so nobody
starves at any size, whatever SYNC_DISPATCH_BATCH allows per call.

One statement whatever the number of users: an INSERT … SELECT of the due states (the due users, their effective
configuration and its data settings are subqueries). Tasks are sent through the queue seam after the transaction
commits, for immediate delivery: the load is spread by each object's due time, which the runner sets with a random
share of SYNC_DISPATCH_JITTER_SECONDS (sync.outcome.next_due), never by delayed messages the broker may lose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from configurations.models import DataSetting, Direction
from sync.leases import busy_runs
from sync.models import SyncRun
from sync.queue import enqueue_runs
from users.models import SyncState, SyncUser, UserObjectState
from users.services import refresh_object_states, with_effective_configuration


@dataclass
class Dispatched:
    runs: list[SyncRun]

    @property
    def count(self) -> int:
        return len(self.runs)


EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _due_states(now) -> Q:
    never_scheduled = Q(next_due_at__isnull=True, state__in=[SyncState.NOT_STARTED, SyncState.DISABLED])
    # A change feed marked it, and SYNC_DEBOUNCE_SECONDS passed: the changes made in the meantime ride along.
    changed = Q(dirty_at__lte=now - timedelta(seconds=settings.SYNC_DEBOUNCE_SECONDS))
    return (
        (Q(next_due_at__lte=now) | never_scheduled | changed)
        & ~Q(state=SyncState.NEEDS_ATTENTION)
        & (Q(lease_owner="") | Q(lease_expires_at__lt=now))
    )


def _waiting_since():
    """When a due object became due: its due time or its first unsynced change, whichever came first (the epoch
    when it was never scheduled). The dispatcher serves the longest wait first, so nobody starves at any size."""
    return Case(
        When(dirty_at__isnull=False, next_due_at__lt=F("dirty_at"), then=F("next_due_at")),
        When(dirty_at__isnull=False, then=F("dirty_at")),
        When(next_due_at__isnull=False, then=F("next_due_at")),
        default=Value(EPOCH),
        output_field=DateTimeField(),
    )


def _active_run(now):
    """A run that keeps the outer state row's user and object busy (the one rule, in sync.leases)."""
    return busy_runs(now).filter(user_id=OuterRef("user_id"), object=OuterRef("object"))


@transaction.atomic
def dispatch_due(limit: int | None = None, now=None) -> Dispatched:
    """Queue one run for every due (user, object), at most `limit` users per call; enqueue after commit.

    The runs are inserted by one INSERT … SELECT built from the querysets below (no row is loaded into Python:
    10,000 users cost the same few statements as ten).
    """
    now = now or timezone.now()
    limit = limit or settings.SYNC_DISPATCH_BATCH
    refresh_object_states(due_by=now)
    due_state = UserObjectState.objects.filter(_due_states(now), user_id=OuterRef("pk")).exclude(
        Exists(_active_run(now))
    )
    longest_wait = due_state.annotate(waiting=_waiting_since()).order_by("waiting").values("waiting")[:1]
    due_users = (
        with_effective_configuration(SyncUser.objects.filter(active=True))
        .filter(effective_configuration_id__isnull=False)
        .filter(Exists(due_state))
        .annotate(waiting=Subquery(longest_wait))
        .order_by("waiting", "pk")
        .values("pk")[:limit]
    )
    effective = with_effective_configuration(SyncUser.objects.filter(pk=OuterRef("user_id"))).values(
        "effective_configuration_id"
    )[:1]
    synced = DataSetting.objects.filter(configuration_id=OuterRef("configuration_id"), object=OuterRef("object"))
    states = (
        UserObjectState.objects.filter(_due_states(now), user_id__in=Subquery(due_users))
        .exclude(Exists(_active_run(now)))
        .annotate(configuration_id=Subquery(effective))
        .filter(Exists(synced.exclude(direction=Direction.NONE)))
        .annotate(first=ExpressionWrapper(
            Q(state=SyncState.NOT_STARTED) | Q(salesforce_watermark__isnull=True, exchange_sync_state="")
            | Q(dirty_full=True),
            output_field=BooleanField(),
        ))
        .annotate(trigger=Case(
            When(Q(dirty_at__isnull=False) & (Q(next_due_at__isnull=True) | Q(next_due_at__gt=now)),
                 then=Value(SyncRun.Trigger.CHANGE.value)),
            default=Value(SyncRun.Trigger.SCHEDULE.value),
            output_field=CharField(),
        ))
        .order_by()
        .values_list("user_id", "object", "first", "trigger")
    )
    runs = _insert_runs(states, now)
    transaction.on_commit(lambda: enqueue_runs(runs))
    return Dispatched(runs)


def _insert_runs(states, now) -> list[SyncRun]:
    """INSERT INTO syncrun (…) SELECT user_id, object, first, <constants> FROM (states) RETURNING …"""
    quote = connection.ops.quote_name
    select_sql, select_params = states.query.sql_with_params()
    json_empty = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    constants = {
        "state": ("%s", SyncRun.State.QUEUED),
        "created_at": ("%s", now),
        "counts": (json_empty, "{}"),
        "api_calls": (json_empty, "{}"),
        "error_code": ("%s", ""),
        "error_end": ("%s", ""),
        "exchange_protocol": ("%s", ""),
        "error_message": ("%s", ""),
        "progress_done": ("%s", 0),
        "sends": ("%s", 0),
        "attempts": (json_empty, "[]"),
    }
    columns = ["user_id", "object", "full", "trigger", *constants]
    sql = (
        f"INSERT INTO {quote(SyncRun._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608
        f"SELECT due.*, {', '.join(placeholder for placeholder, _ in constants.values())} "
        f"FROM ({select_sql}) due "
        f"RETURNING {quote('id')}, {quote('user_id')}, {quote('object')}, {quote('full')}, {quote('trigger')}"
    )
    # The constants' placeholders come before the subquery's in the statement.
    params = [*(connection.ops.adapt_datetimefield_value(value) if name == "created_at" else value
                for name, (_, value) in constants.items()), *select_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [SyncRun(pk=pk, user_id=user_id, object=object_type, full=bool(full), trigger=trigger,
                    state=SyncRun.State.QUEUED, created_at=now) for pk, user_id, object_type, full, trigger in rows]

"""Read-only summaries of the sync for the dashboard: states, failing users, runs and records over time."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Case, Count, F, IntegerField, Value, When
from django.db.models.functions import TruncHour
from django.utils import timezone

from sync.models import SyncRun
from users.models import SyncState, UserObjectState

FAILING_STATES = (SyncState.NEEDS_ATTENTION, SyncState.ERROR)


@dataclass
class HourBar:
    hour: datetime
    succeeded: int = 0
    failed: int = 0
    to_salesforce: int = 0  # records written in Salesforce during the hour
    to_outlook: int = 0

    @property
    def total(self) -> int:
        return self.succeeded + self.failed


@dataclass
class Overview:
    states: dict[str, int]
    failing: list[UserObjectState]
    hours: list[HourBar]
    records_written: Counter = field(default_factory=Counter)
    api_calls: Counter = field(default_factory=Counter)
    salesforce_api: tuple[int, int, datetime] | None = None  # used, allocation, as of

    @property
    def salesforce_api_share(self) -> int:
        used, allocation, _ = self.salesforce_api or (0, 0, None)
        return min(100, round(100 * used / allocation)) if allocation else 0

    @property
    def busiest_hour(self) -> int:
        return max((bar.total for bar in self.hours), default=0) or 1

    @property
    def most_records(self) -> int:
        return max((bar.to_salesforce + bar.to_outlook for bar in self.hours), default=0) or 1

    @property
    def runs(self) -> int:
        return sum(bar.total for bar in self.hours)

    @property
    def failed_runs(self) -> int:
        return sum(bar.failed for bar in self.hours)


def overview(now: datetime | None = None, failing_limit: int = 10) -> Overview:
    """The last 24 hours and the present state, in a handful of queries whatever the number of users."""
    now = now or timezone.now()
    since = now - timedelta(hours=24)
    states = dict(
        UserObjectState.objects.filter(user__active=True).values_list("state").annotate(n=Count("id")).order_by()
    )
    failing = list(
        UserObjectState.objects.filter(user__active=True, state__in=FAILING_STATES)
        .select_related("user")
        .annotate(rank=Case(When(state=SyncState.NEEDS_ATTENTION, then=Value(0)), default=Value(1),
                            output_field=IntegerField()))
        # Ties broken by name, so that every database lists the same users (PostgreSQL sorts NULLs first).
        .order_by("rank", "-consecutive_failures", F("last_run_at").desc(nulls_last=True), "user__username",
                  "object")[:failing_limit]
    )
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    hours = {start + timedelta(hours=n): HourBar(start + timedelta(hours=n)) for n in range(24)}
    rows = (SyncRun.objects.filter(created_at__gte=start).annotate(hour=TruncHour("created_at"))
            .values_list("hour", "state").annotate(n=Count("id")).order_by())
    for hour, state, number in rows:
        bar = hours.get(hour)
        if bar is None:
            continue
        if state == SyncRun.State.SUCCEEDED:
            bar.succeeded += number
        elif state == SyncRun.State.FAILED:
            bar.failed += number
    written, calls = Counter(), Counter()
    finished = SyncRun.objects.filter(finished_at__gte=since).values_list("finished_at", "counts", "api_calls")
    for finished_at, counts, api_calls in finished:
        bar = hours.get(finished_at.replace(minute=0, second=0, microsecond=0))
        for side in ("salesforce", "outlook"):
            for kind, number in (counts or {}).get(side, {}).items():
                if kind in ("create", "update", "delete") and isinstance(number, int):
                    written[side] += number
                    if bar is not None:
                        if side == "salesforce":
                            bar.to_salesforce += number
                        else:
                            bar.to_outlook += number
        for end, number in (api_calls or {}).items():
            if isinstance(number, int):
                calls[end] += number
    latest = (SyncRun.objects.filter(salesforce_api_allocation__isnull=False).order_by("-finished_at")
              .values_list("salesforce_api_used", "salesforce_api_allocation", "finished_at").first())
    return Overview(states, failing, list(hours.values()), written, calls, latest)

"""Read-only summaries of the sync for the dashboard: states, failing users grouped by error, the health of each end,
runs and records over time."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    F,
    IntegerField,
    Max,
    Q,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, RowNumber, TruncDate, TruncHour
from django.utils import timezone

from sync.models import Connection, SyncRun
from users.models import ExchangeRoute, SyncState, UserObjectState

FAILING_STATES = (SyncState.NEEDS_ATTENTION, SyncState.ERROR)
USERS_PER_ERROR = 5  # users named under each error code; the rest are counted
FAILING_SHARE = 50  # percent of an end's runs failing on it in the last hour: the end is shown as failing


@dataclass
class ErrorGroup:
    """The users' objects failing with one error code (blank: no code), with a few of them to open."""

    code: str
    state: str  # needs_attention or error: what a person has to do differs
    objects: int
    users: int
    message: str  # the first one's message: the same code says the same thing, up to names
    examples: list[UserObjectState] = field(default_factory=list)

    @property
    def more(self) -> int:
        return self.objects - len(self.examples)


@dataclass
class EndHealth:
    """One end (Salesforce, Exchange through EWS, Exchange Online through Graph) as the runs saw it: of the runs that
    reached it in the last hour, how many failed on its answer; and when it last answered a run without error."""

    key: str  # salesforce | ews | graph
    label: str
    configured: bool
    runs: int = 0  # runs that ended in the last hour and reached this end
    failed: int = 0  # of which stopped by this end's answer
    last_success: datetime | None = None  # within the last 24 hours
    errors: Counter = field(default_factory=Counter)  # the failures' codes

    @property
    def share(self) -> int:
        return round(100 * self.failed / self.runs) if self.runs else 0

    @property
    def status(self) -> str:
        """unused (no connection, no run), idle (no run in the hour), ok, degraded (some fail), failing."""
        if not self.runs:
            return "idle" if self.configured or self.last_success else "unused"
        if not self.failed:
            return "ok"
        return "failing" if self.share >= FAILING_SHARE else "degraded"

    @property
    def top_errors(self) -> list[tuple[str, int]]:
        return self.errors.most_common(3)


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
    error_groups: list[ErrorGroup] = field(default_factory=list)
    ends: list[EndHealth] = field(default_factory=list)
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
    return Overview(states, failing, list(hours.values()), error_groups(), end_health(now), written, calls, latest)


def error_groups(per_group: int = USERS_PER_ERROR) -> list[ErrorGroup]:
    """Active users' failing objects grouped by error code, those a person must act on first, then the largest
    groups; each with its first few users. Two queries whatever the number of users."""
    failing = UserObjectState.objects.filter(user__active=True, state__in=FAILING_STATES)
    groups = {
        (code, state): ErrorGroup(code, state, objects, users, "")
        for code, state, objects, users in failing.values_list("last_error_code", "state")
        .annotate(objects=Count("id"), users=Count("user", distinct=True)).order_by()
    }
    ranked = failing.select_related("user").annotate(rank=Window(
        RowNumber(), partition_by=[F("last_error_code"), F("state")],
        order_by=[F("last_run_at").desc(nulls_last=True), F("user__username").asc(), F("object").asc()],
    )).filter(rank__lte=per_group)
    for row in ranked.order_by("last_error_code", "state", "rank"):
        group = groups.get((row.last_error_code, row.state))
        if group is not None:
            group.examples.append(row)
            group.message = group.message or row.last_error_message
    return sorted(groups.values(), key=lambda g: (g.state != SyncState.NEEDS_ATTENTION, -g.objects, g.code))


def end_health(now: datetime | None = None) -> list[EndHealth]:
    """Salesforce, then each Exchange protocol in use: the share of the last hour's runs that failed on its answer
    (`SyncRun.error_end`), and its last success in the last day. A full Exchange outage shows there, while
    Salesforce, which answered those runs, stays well. Three queries."""
    now = now or timezone.now()
    configured = set(Connection.objects.values_list("kind", flat=True))
    ends = {
        "salesforce": EndHealth("salesforce", "Salesforce", Connection.Kind.SALESFORCE in configured),
        ExchangeRoute.EWS: EndHealth(ExchangeRoute.EWS, "Exchange (EWS)", Connection.Kind.EXCHANGE in configured),
        ExchangeRoute.GRAPH: EndHealth(ExchangeRoute.GRAPH, "Exchange Online (Graph)",
                                       Connection.Kind.GRAPH in configured),
    }
    reached = SyncRun.objects.exclude(exchange_protocol="")  # runs that got as far as the ends
    called = {end: Case(When(**{f"api_calls__{end}__gt": 0}, then=Value(True)), default=Value(False))
              for end in ("salesforce", "exchange")}
    last_hour = (reached.filter(finished_at__gte=now - timedelta(hours=1))
                 .values_list("exchange_protocol", "state", "error_end", "error_code")
                 .annotate(salesforce=called["salesforce"], exchange=called["exchange"], n=Count("id"))
                 .order_by())
    for protocol, state, error_end, code, asked_salesforce, asked_exchange, number in last_hour:
        failed_on = error_end if state == SyncRun.State.FAILED else ""
        exchange = ends.get(protocol)
        # A run reached an end if it called it, or if the end's (lack of) answer stopped it.
        if asked_salesforce or failed_on == "salesforce":
            ends["salesforce"].runs += number
        if exchange is not None and (asked_exchange or failed_on == "exchange"):
            exchange.runs += number
        failed = ends["salesforce"] if failed_on == "salesforce" else exchange if failed_on == "exchange" else None
        if failed is not None:
            failed.failed += number
            failed.errors[code or "unknown"] += number
    answered = reached.filter(finished_at__gte=now - timedelta(hours=24))
    not_salesforce = ~Q(state=SyncRun.State.FAILED, error_end="salesforce")
    not_exchange = ~Q(state=SyncRun.State.FAILED, error_end="exchange")
    latest = answered.aggregate(
        salesforce=Max("finished_at", filter=not_salesforce & Q(api_calls__salesforce__gt=0)),
        ews=Max("finished_at", filter=not_exchange & Q(exchange_protocol=ExchangeRoute.EWS, api_calls__exchange__gt=0)),
        graph=Max("finished_at", filter=not_exchange & Q(exchange_protocol=ExchangeRoute.GRAPH,
                                                         api_calls__exchange__gt=0)),
    )
    for key, end in ends.items():
        end.last_success = latest[key]
    return [end for end in ends.values() if end.key == "salesforce" or end.status != "unused"]


# ---- trends: the last 14 days ---------------------------------------------------------------------------------------

TREND_DAYS = 14
TREND_CODES = 5  # error codes charted each on their own; the rest are summed as "other"


@dataclass
class TrendDay:
    day: date
    succeeded: int = 0
    failed: int = 0
    to_salesforce: int = 0  # records written in Salesforce (created, updated, deleted)
    to_outlook: int = 0
    salesforce_calls: int = 0  # the sync's own Salesforce API calls
    exchange_calls: int = 0
    org_api_used: int | None = None  # the org's use of its daily allocation as last reported that day (peak)
    api_allocation: int | None = None
    failures: Counter = field(default_factory=Counter)  # failed runs by error code

    @property
    def failure_codes(self) -> list[tuple[str, int]]:
        """(code, failed runs), most first (templates cannot call Counter.most_common: a lookup answers 0)."""
        return self.failures.most_common()

    @property
    def org_api_share(self) -> float | None:
        """The org's peak use that day as a percentage of its allocation (what the alerts threshold compares)."""
        if not self.api_allocation or self.org_api_used is None:
            return None
        return round(100 * self.org_api_used / self.api_allocation, 1)

    @property
    def own_api_share(self) -> float | None:
        """The sync's own Salesforce calls that day as a percentage of the allocation."""
        return round(100 * self.salesforce_calls / self.api_allocation, 2) if self.api_allocation else None


@dataclass
class Trends:
    days: list[TrendDay]
    codes: list[str]  # the error codes charted, most frequent first ("other" last when there are more)

    def as_dict(self) -> dict:
        """The charts' data (labels and series), as the dashboard's script reads it."""
        days = self.days
        return {
            "labels": [d.day.isoformat() for d in days],
            "runs": {"succeeded": [d.succeeded for d in days], "failed": [d.failed for d in days]},
            "failures": {code: [_code_count(d, code, self.codes) for d in days] for code in self.codes},
            "records": {"salesforce": [d.to_salesforce for d in days], "outlook": [d.to_outlook for d in days]},
            "api": {"org_share": [d.org_api_share for d in days], "own_share": [d.own_api_share for d in days],
                    "salesforce_calls": [d.salesforce_calls for d in days],
                    "allocation": [d.api_allocation for d in days]},
        }

    @property
    def runs(self) -> int:
        return sum(d.succeeded + d.failed for d in self.days)

    @property
    def failed(self) -> int:
        return sum(d.failed for d in self.days)


def _code_count(day: TrendDay, code: str, charted: list[str]) -> int:
    if code == "other":
        return sum(n for c, n in day.failures.items() if c not in charted)
    return day.failures.get(code, 0)


def _number(path: str):
    """A number inside a run's JSON column (``counts__salesforce__create``), NULL when absent."""
    return Cast(KT(path), BigIntegerField())


def trends(now: datetime | None = None, days: int = TREND_DAYS) -> Trends:
    """Runs that ended in each of the last ``days`` days (the server's time zone), today included: succeeded and
    failed, failures by error code, records written on each side, API calls against the Salesforce allocation.
    Three aggregate queries whatever the number of runs."""
    now = timezone.localtime(now or timezone.now())
    first = now.date() - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first, time.min))
    by_day = {first + timedelta(days=n): TrendDay(first + timedelta(days=n)) for n in range(days)}
    ended = SyncRun.objects.filter(finished_at__gte=since, state__in=[SyncRun.State.SUCCEEDED, SyncRun.State.FAILED])
    day = TruncDate("finished_at", tzinfo=timezone.get_current_timezone())
    rows = ended.annotate(day=day).values("day").order_by().annotate(
        succeeded=Count("id", filter=Q(state=SyncRun.State.SUCCEEDED)),
        failed=Count("id", filter=Q(state=SyncRun.State.FAILED)),
        **{f"{side}_{kind}": Sum(_number(f"counts__{side}__{kind}"))
           for side in ("salesforce", "outlook") for kind in ("create", "update", "delete")},
        salesforce_calls=Sum(_number("api_calls__salesforce")),
        exchange_calls=Sum(_number("api_calls__exchange")),
        org_api_used=Max("salesforce_api_used"),
        api_allocation=Max("salesforce_api_allocation"),
    )
    for row in rows:
        entry = by_day.get(row["day"])
        if entry is None:
            continue
        entry.succeeded, entry.failed = row["succeeded"], row["failed"]
        entry.to_salesforce = sum(row[f"salesforce_{k}"] or 0 for k in ("create", "update", "delete"))
        entry.to_outlook = sum(row[f"outlook_{k}"] or 0 for k in ("create", "update", "delete"))
        entry.salesforce_calls = row["salesforce_calls"] or 0
        entry.exchange_calls = row["exchange_calls"] or 0
        entry.org_api_used, entry.api_allocation = row["org_api_used"], row["api_allocation"]
    totals: Counter = Counter()
    failures = (ended.filter(state=SyncRun.State.FAILED).annotate(day=day).values_list("day", "error_code")
                .annotate(n=Count("id")).order_by())
    for failed_day, code, number in failures:
        if failed_day in by_day:
            by_day[failed_day].failures[code or "unknown"] += number
            totals[code or "unknown"] += number
    codes = [code for code, _ in totals.most_common(TREND_CODES)]
    if len(totals) > TREND_CODES:
        codes.append("other")
    return Trends(list(by_day.values()), codes)

"""What must be alerted now, grouped: one `Found` per cause and code however many users share it. Each finder runs
a fixed number of queries, whatever the number of users."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Exists, Max, OuterRef, Q

from alerts.models import AlertSettings, Cause
from audit.models import AuditEntry
from sync.models import SyncRun
from users.models import SyncState, UserObjectState

LISTED = 50  # usernames kept per group (the count covers them all)
FIRST_LOOK_BACK = timedelta(hours=1)  # the first tick looks this far back for failed runs and connection tests
END_NAMES = {"salesforce": "Salesforce", "exchange": "Exchange"}


@dataclass
class Found:
    cause: str
    key: str  # the same key is alerted at most once per repeat period
    code: str
    subject: str
    body: str
    users: list[str] = field(default_factory=list)
    user_count: int = 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _listed(users: list[str], count: int) -> str:
    shown = ", ".join(users[:10])
    return shown + (f" and {count - 10} more" if count > 10 else "")


def _users_by_code(states) -> dict[str, list[str]]:
    """Usernames per error code for these object states, sorted, at most LISTED per code (one query)."""
    by_code: dict[str, list[str]] = defaultdict(list)
    for code, username in states.values_list("last_error_code", "user__username").order_by(
            "last_error_code", "user__username").distinct():
        if len(by_code[code]) < LISTED and username not in by_code[code]:
            by_code[code].append(username)
    return by_code


def _grouped(states) -> list[tuple[str, int, int, str]]:
    """(code, users, objects, one of the messages) per error code (one query)."""
    return list(states.values_list("last_error_code").annotate(
        users=Count("user", distinct=True), objects=Count("id"), message=Max("last_error_message"))
        .order_by("last_error_code"))


def needs_attention() -> list[Found]:
    states = UserObjectState.objects.filter(state=SyncState.NEEDS_ATTENTION, user__active=True)
    names = _users_by_code(states)
    found = []
    for code, users, objects, message in _grouped(states):
        code = code or "unknown"
        found.append(Found(
            Cause.NEEDS_ATTENTION, f"{Cause.NEEDS_ATTENTION}:{code}", code,
            f"{_plural(users, 'user')} need{'s' if users == 1 else ''} attention ({code})",
            f"{_plural(users, 'user')} ({_plural(objects, 'synced object')}) stopped syncing until someone acts: "
            f"{message or 'no message was recorded.'}\nUsers: {_listed(names[code or ''], users)}.\n"
            "Open each user's page in the console to see what to do.",
            names[code or ""], users))
    return found


def persisting_errors(after_minutes: int, now: datetime) -> list[Found]:
    """Objects in `error` whose first failed run since their last success ended at least `after_minutes` ago."""
    cutoff = now - timedelta(minutes=after_minutes)
    failed = SyncRun.objects.filter(user=OuterRef("user"), object=OuterRef("object"), state=SyncRun.State.FAILED,
                                    finished_at__lte=cutoff)
    states = UserObjectState.objects.filter(state=SyncState.ERROR, user__active=True).alias(
        has_old_failure=Exists(failed),
        has_old_failure_since_success=Exists(failed.filter(finished_at__gt=OuterRef("last_success_at"))),
    ).filter(Q(last_success_at__isnull=True, has_old_failure=True) | Q(has_old_failure_since_success=True))
    names = _users_by_code(states)
    found = []
    for code, users, objects, message in _grouped(states):
        code = code or "unknown"
        found.append(Found(
            Cause.ERROR_PERSISTS, f"{Cause.ERROR_PERSISTS}:{code}", code,
            f"{_plural(users, 'user')} failing for over {after_minutes} minutes ({code})",
            f"{_plural(users, 'user')} ({_plural(objects, 'synced object')}) have failed to sync for more than "
            f"{after_minutes} minutes with {code}: {message or 'no message was recorded.'}\n"
            f"Users: {_listed(names[code or ''], users)}.\nThe sync keeps retrying with back-off; see the users' "
            "pages and the dashboard's health of each end.",
            names[code or ""], users))
    return found


def connection_failures(since: datetime, now: datetime) -> list[Found]:
    """Runs that an end's answer stopped (`SyncRun.error_end`), and users' connection tests that failed, since the
    last tick: one group per end and code."""
    runs = SyncRun.objects.filter(state=SyncRun.State.FAILED, finished_at__gt=since, finished_at__lte=now).exclude(
        error_end="")
    groups: dict[tuple[str, str], dict] = {}
    for end, code, message, username in runs.values_list("error_end", "error_code", "error_message",
                                                         "user__username").order_by("error_end", "error_code"):
        group = groups.setdefault((end, code or "unknown"), {"users": set(), "message": message, "runs": 0})
        group["users"].add(username)
        group["runs"] += 1
    tests = AuditEntry.objects.filter(action=AuditEntry.Action.USER_CONNECTION_TESTED, at__gt=since, at__lte=now)
    for end in ("salesforce", "exchange"):
        for subject, changes in tests.filter(**{f"changes__{end}__ok": False}).values_list("subject", "changes"):
            group = groups.setdefault((end, "connection_test_failed"), {"users": set(), "runs": 0,
                                                                        "message": changes[end].get("detail", "")})
            group["users"].add(subject)
    found = []
    for (end, code), group in sorted(groups.items()):
        users = sorted(group["users"])
        what = (f"{_plural(group['runs'], 'sync run')} stopped on {END_NAMES.get(end, end)}'s answer"
                if group["runs"] else f"Connection tests to {END_NAMES.get(end, end)} failed")
        found.append(Found(
            Cause.CONNECTION_FAILED, f"{Cause.CONNECTION_FAILED}:{end}:{code}", code,
            f"{END_NAMES.get(end, end)} connection failing for {_plural(len(users), 'user')} ({code})",
            f"{what} for {_plural(len(users), 'user')}: {group['message'] or 'no message was recorded.'}\n"
            f"Users: {_listed(users, len(users))}.\nCheck the connection on the console's Connections page.",
            users[:LISTED], len(users)))
    return found


def api_share(threshold: float) -> list[Found]:
    """The org's Salesforce API use as the latest run reported it, when it has passed `threshold` of the allocation."""
    latest = (SyncRun.objects.filter(salesforce_api_allocation__gt=0, salesforce_api_used__isnull=False,
                                     finished_at__isnull=False)
              .order_by("-finished_at").values_list("salesforce_api_used", "salesforce_api_allocation", "finished_at")
              .first())
    if latest is None:
        return []
    used, allocation, at = latest
    if used / allocation < threshold:
        return []
    share = round(100 * used / allocation)
    return [Found(
        Cause.API_SHARE, Cause.API_SHARE, "api_share",
        f"Salesforce API use at {share} % of the daily allocation",
        f"The Salesforce org has used {used} of its {allocation} daily API requests ({share} %, reported by a sync "
        f"run at {at:%Y-%m-%d %H:%M} UTC); the alert is set at {round(threshold * 100)} %. When the allocation is "
        "used up, Salesforce refuses every sync until its 24-hour window frees requests: lengthen the "
        "configurations' sync intervals or ask Salesforce for a larger allocation.")]


def find_causes(row: AlertSettings, now: datetime) -> list[Found]:
    since = max(row.evaluated_until or now - FIRST_LOOK_BACK, now - timedelta(days=1))
    return [*needs_attention(), *persisting_errors(row.after_minutes, now), *connection_failures(since, now),
            *api_share(row.api_share_threshold)]

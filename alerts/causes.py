"""What must be alerted now, grouped: one `Found` per cause and code however many users share it. Each finder runs
a fixed number of queries, whatever the number of users."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Exists, Max, OuterRef, Q

from alerts.models import AlertSettings, Cause
from audit.models import AuditEntry
from sync.feeds.coverage import LISTENER_KEY, listener_alive
from sync.models import ChangeFeed, Connection, MailboxSubscription, SyncRun
from users.models import SyncState, UserObjectState

LISTED = 50  # usernames kept per group (the count covers them all)
FIRST_LOOK_BACK = timedelta(hours=1)  # the first tick looks this far back for failed runs and connection tests
END_NAMES = {"salesforce": "Salesforce", "exchange": "Exchange"}
# A feed that failed is alerted once it has stayed failed this long: one failed poll that the next one clears (a
# network blip) is no news, and meanwhile its objects sync at their interval, so nothing is lost.
FEED_GRACE = timedelta(minutes=5)
MEANWHILE = "Meanwhile the objects it serves sync at their configuration's interval, so no change is lost."
PROTOCOL_NAMES = {"ews": "EWS", "graph": "Microsoft Graph"}


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


def connection_tests_failed() -> list[Found]:
    """Connections whose last test (the Connections page's or the API's "Test") failed: one cause per connection,
    which lasts until a test passes or the connection's settings change (either replaces the kept result). One
    query."""
    found = []
    for connection in Connection.objects.filter(last_test_ok=False).order_by("kind"):
        label = connection.get_kind_display()
        found.append(Found(
            Cause.CONNECTION_FAILED, f"{Cause.CONNECTION_FAILED}:test:{connection.kind}", "connection_test_failed",
            f"The {label} connection failed its test",
            f"The {label} connection was tested at {connection.last_test_at:%Y-%m-%d %H:%M} UTC and does not work: "
            f"{connection.last_test_detail or 'no message was recorded.'}\nEvery sync that needs this connection "
            "fails until it works. Correct its settings on the console's Connections page and test it again; the "
            "alert ends once a test passes."))
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


def _listener_stopped(now: datetime) -> list[Found]:
    """The listener that ran and stopped (a stale heartbeat, or stopped on purpose); one never started is not news:
    nothing was pushed before either."""
    row = ChangeFeed.objects.filter(kind=ChangeFeed.Kind.LISTENER, key=LISTENER_KEY).first()
    if row is None or listener_alive(now) or not (row.heartbeat_at or row.error_message):
        return []
    since = f" since {row.heartbeat_at:%Y-%m-%d %H:%M} UTC" if row.heartbeat_at else ""
    return [Found(
        Cause.FEED_DOWN, f"{Cause.FEED_DOWN}:listener", row.error_code or "listener_stopped",
        "The change feed listener is not running",
        f"The listener (`manage.py listen`) has not beaten its heartbeat{since}, so no change is pushed: "
        f"{row.error_message or 'it stopped without saying why.'}\nEvery object syncs at its configuration's "
        "interval until it runs again. Start the `listener` process (docker-compose service or Procfile entry) and "
        "check its log for why it stopped.")]


def _feeds_failed(now: datetime) -> list[Found]:
    """Salesforce org feeds and Graph delta polling failed for longer than FEED_GRACE: one group per kind and code."""
    failed = ChangeFeed.objects.filter(
        kind__in=[ChangeFeed.Kind.SALESFORCE, ChangeFeed.Kind.GRAPH_DELTA], state=ChangeFeed.State.FAILED,
        failed_since__lte=now - FEED_GRACE).order_by("kind", "error_code", "key")
    groups: dict[tuple[str, str], list[ChangeFeed]] = defaultdict(list)
    for feed in failed:
        groups[(feed.kind, feed.error_code or "unknown")].append(feed)
    found = []
    for (kind, code), feeds in groups.items():
        first = feeds[0]
        since = min(feed.failed_since for feed in feeds)
        if kind == ChangeFeed.Kind.SALESFORCE:
            objects = ", ".join(feed.key for feed in feeds)
            subject = f"Salesforce org feed failing for {objects} ({code})"
            what = f"The Salesforce org feed for {objects} has failed since {since:%Y-%m-%d %H:%M} UTC"
        else:
            subject = f"Graph delta polling failing ({code})"
            what = f"Polling Graph mailboxes for changes (delta) has failed since {since:%Y-%m-%d %H:%M} UTC"
        found.append(Found(
            Cause.FEED_DOWN, f"{Cause.FEED_DOWN}:{kind}:{code}", code, subject,
            f"{what}: {first.error_message or 'no message was recorded.'}\n{MEANWHILE} The Connections page's "
            "Change feeds section shows each feed's state."))
    return found


def _subscriptions_failed() -> list[Found]:
    """Mailbox subscriptions (EWS streaming, Graph notifications) that failed: one group per protocol, naming
    the users (one query)."""
    rows = (MailboxSubscription.objects.filter(state=MailboxSubscription.State.FAILED, user__active=True)
            .values_list("protocol", "user__username", "error_message").order_by("protocol", "user__username"))
    groups: dict[str, dict] = {}
    for protocol, username, message in rows:
        group = groups.setdefault(protocol, {"users": [], "count": 0, "message": message})
        group["count"] += 1
        if username not in group["users"]:
            group["users"].append(username)
    found = []
    for protocol, group in groups.items():
        users, name = group["users"], PROTOCOL_NAMES.get(protocol, protocol)
        found.append(Found(
            Cause.FEED_DOWN, f"{Cause.FEED_DOWN}:subscriptions:{protocol}", f"{protocol}_subscription_failed",
            f"{name} subscriptions failing for {_plural(len(users), 'user')}",
            f"{_plural(group['count'], 'mailbox subscription')} ({name}) failed, so those folders' changes are not "
            f"pushed: {group['message'] or 'no message was recorded.'}\nUsers: {_listed(users, len(users))}.\n"
            f"{MEANWHILE} The Connections page's Change feeds section lists the latest errors.",
            users[:LISTED], len(users)))
    return found


def feeds_down(now: datetime) -> list[Found]:
    """The change feeds that stopped: the listener, a Salesforce org feed, Graph delta polling, mailbox
    subscriptions. Each says what happened and what to do; a fixed number of queries."""
    return [*_listener_stopped(now), *_feeds_failed(now), *_subscriptions_failed()]


def find_causes(row: AlertSettings, now: datetime) -> list[Found]:
    since = max(row.evaluated_until or now - FIRST_LOOK_BACK, now - timedelta(days=1))
    return [*needs_attention(), *persisting_errors(row.after_minutes, now), *connection_failures(since, now),
            *connection_tests_failed(), *api_share(row.api_share_threshold), *feeds_down(now)]

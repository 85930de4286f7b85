"""How the change feeds stand, in words, for the Connections page, the dashboard and `GET /api/v1/feeds/`.

Read only. Every part has a `state` and a `message`: a sentence that says what the state means for the users' syncs
and, when something is wrong, its cause and what to do. A feed whose row says healthy but that nobody drives (the
listener stopped) shows as `stale`, never as healthy: what counts is whether changes are reported now
(`sync.feeds.coverage`). `salesforce_calls_by_hour` is the dashboard's chart of the org's calls against its share of
the daily allocation.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import BigIntegerField, Count, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, TruncHour
from django.utils import timezone

from sync.feeds.coverage import LISTENER_KEY, listener_alive, salesforce_feed_live
from sync.models import ChangeFeed, MailboxSubscription, SyncRun
from users.models import SyncObject

PROTOCOLS = (("ews", "EWS"), ("graph", "Graph"))
RECENT_ERRORS = 10  # subscription errors listed, newest first
BEHIND_LAG_POLLS = 5  # a behind feed lagging more than this many polls says so; otherwise a poll brought a mass change
HOUR_KEY = "%Y-%m-%dT%H"  # the org feed's cursor["calls_by_hour"] keys, in UTC

LISTENER_DOWN = ("The listener is not running: changes are picked up at each configuration's interval. Start "
                 "`manage.py listen` (the `listener` process).")
# What each display state looks like: the console's badge colour and the word on it.
BADGES = {
    "healthy": ("success", "Healthy"),
    "starting": ("info", "Starting"),
    "behind": ("warning", "Behind"),
    "stale": ("warning", "Not polled"),
    "failed": ("danger", "Failed"),
    "off": ("secondary", "Off"),
    "down": ("danger", "Not running"),
    "running": ("success", "Running"),
}


def _when(value: datetime | None) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S %Z}" if value else "never"


def _seconds(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value < 120:
        return f"{value:.0f} seconds"
    return f"{value / 60:.0f} minutes"


def _folders(number: int, verb: str = "") -> str:
    """'1 folder streams', '3 folders stream': a count with its noun (and verb) agreeing."""
    one = number == 1
    noun = "folder" if one else "folders"
    return f"{number} {noun}" + (f" {verb}{'s' if one else ''}" if verb else "")


def _badge(state: str) -> dict:
    colour, label = BADGES[state]
    return {"state": state, "badge": colour, "state_label": label}


def listener_health(now: datetime) -> dict:
    """The listener: alive (a heartbeat within LISTENER_STALE_SECONDS), who holds the lease, and what it last said."""
    row = ChangeFeed.objects.filter(kind=ChangeFeed.Kind.LISTENER, key=LISTENER_KEY).first()
    alive = listener_alive(now)
    heartbeat = row.heartbeat_at if row else None
    if alive:
        message = (f"The listener is running ({row.lease_owner or 'owner not recorded'}): changes are pushed as they "
                   "happen.")
    else:
        message = LISTENER_DOWN
        if heartbeat:
            message += f" Its last heartbeat was {_when(heartbeat)}."
        if row and row.error_message:
            message += f" {row.error_message}"
    return {
        "alive": alive, **_badge("running" if alive else "down"), "heartbeat_at": heartbeat,
        "lease_owner": row.lease_owner if row else "", "lease_expires_at": row.lease_expires_at if row else None,
        "error_message": row.error_message if row else "", "message": message,
    }


def _salesforce_message(object_type: str, row: ChangeFeed | None, state: str, listener_up: bool) -> str:
    label = SyncObject(object_type).label
    if row is None:
        return (f"The Salesforce org feed for {label.lower()} has not run yet: it starts with the listener, once a "
                f"configuration syncs {label.lower()} in near real time.")
    if state == "failed":
        since = f" (failing since {_when(row.failed_since)})" if row.failed_since else ""
        return (row.error_message or f"The Salesforce org feed for {label.lower()} failed without a recorded "
                "cause: the listener's log has the details.") + since
    if state == "stale":
        cause = (LISTENER_DOWN if not listener_up else
                 f"The listener has not polled it since {_when(row.last_poll_at)}: the listener's log says why.")
        return (f"{label} changes in Salesforce are not read by the org feed now, so {label.lower()} sync at each "
                f"configuration's interval. {cause}")
    if state == "behind":
        lagging = (row.lag_seconds or 0) > BEHIND_LAG_POLLS * settings.SALESFORCE_FEED_SECONDS
        why = row.error_message or (f"it is {_seconds(row.lag_seconds)} behind Salesforce" if lagging else
                                    "its last poll brought a mass change (thousands of records at once)")
        return (f"The Salesforce org feed for {label.lower()} is behind: {why.rstrip('.')}. Changes reach users "
                "later than usual until it catches up; nothing is lost.")
    if state == "starting":
        return f"The Salesforce org feed for {label.lower()} is starting: its first poll has not finished yet."
    if state == "off":
        return (f"Off: no configuration syncs {label.lower()} from Salesforce in near real time, so the org feed "
                "does not read them.")
    return (f"Healthy: polled {_when(row.last_poll_at)}, {_seconds(row.lag_seconds)} behind Salesforce; a change "
            "reaches its users' next run within seconds.")


def salesforce_feeds(now: datetime, listener_up: bool) -> list[dict]:
    """Each synced object's org feed (kind `salesforce`), one entry per object whether its row exists or not."""
    rows = {row.key: row for row in ChangeFeed.objects.filter(kind=ChangeFeed.Kind.SALESFORCE)}
    feeds = []
    for object_type in SyncObject.values:
        row = rows.get(object_type)
        stored = row.state if row else "off"
        state = stored
        if stored in (ChangeFeed.State.HEALTHY, ChangeFeed.State.BEHIND) and not salesforce_feed_live(object_type,
                                                                                                       now):
            state = "stale"
        feeds.append({
            "object": object_type, "label": SyncObject(object_type).label, **_badge(state), "stored_state": stored,
            "last_poll_at": row.last_poll_at if row else None, "lag_seconds": row.lag_seconds if row else None,
            "last_change_at": row.last_change_at if row else None, "error_code": row.error_code if row else "",
            "error_message": row.error_message if row else "", "failed_since": row.failed_since if row else None,
            "api_calls": row.api_calls if row else 0,
            "message": _salesforce_message(object_type, row, state, listener_up),
        })
    return feeds


def _subscription_counts(now: datetime) -> dict[str, dict]:
    """Per protocol: active and failed subscriptions, in all and per object. An active one past its expiry counts
    as failed: it reports nothing any more."""
    live = Q(state=MailboxSubscription.State.ACTIVE) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    lapsed = Q(state=MailboxSubscription.State.FAILED) | (Q(state=MailboxSubscription.State.ACTIVE)
                                                          & Q(expires_at__lte=now))
    rows = (MailboxSubscription.objects.filter(user__active=True).values("protocol", "object").order_by()
            .annotate(active=Count("id", filter=live), failed=Count("id", filter=lapsed)))
    counts = {protocol: {"label": label, "active": 0, "failed": 0,
                         "objects": {o: {"label": SyncObject(o).label, "active": 0, "failed": 0}
                                     for o in SyncObject.values}}
              for protocol, label in PROTOCOLS}
    for row in rows:
        entry = counts.get(row["protocol"])
        if entry is None or row["object"] not in entry["objects"]:
            continue
        for name in ("active", "failed"):
            entry[name] += row[name]
            entry["objects"][row["object"]][name] += row[name]
    return counts


def _recent_errors() -> list[dict]:
    rows = (MailboxSubscription.objects.exclude(error_message="").exclude(state=MailboxSubscription.State.ACTIVE)
            .filter(user__active=True).select_related("user").order_by("-updated_at", "-pk")[:RECENT_ERRORS])
    return [{"user_id": row.user_id, "user": row.user.name or row.user.username, "username": row.user.username,
             "object": row.object, "protocol": row.protocol, "state": row.state, "error_message": row.error_message,
             "at": row.updated_at} for row in rows]


def _ews_message(counts: dict, listener_up: bool) -> str:
    active, failed = counts["active"], counts["failed"]
    if not active and not failed:
        return ("No EWS mailbox has a streaming subscription: EWS mailboxes sync at each configuration's interval "
                "(subscriptions are made by the listener for objects synced in near real time).")
    if not listener_up:
        return (f"The EWS streaming subscriptions ({_folders(active)}) are held by the listener, which is not "
                "running: EWS mailboxes sync at each configuration's interval until it runs again.")
    text = f"{_folders(active, 'stream')} their changes to the listener (EWS)."
    if failed:
        text += (f" {_folders(failed)} could not be subscribed: those objects sync at their configuration's "
                 "interval; the latest errors say why.")
    return text


def _graph_message(counts: dict, delta: dict, url: str) -> str:
    active, failed = counts["active"], counts["failed"]
    failures = (f"{_folders(failed, 'report')} no changes (a Graph subscription or delta read failed, or "
                "expired): those objects sync at their configuration's interval; the latest errors say why. "
                if failed else "")
    if url:
        return failures + (f"Microsoft Graph posts change notifications to {url}; {_folders(active)} "
                           f"{'is' if active == 1 else 'are'} subscribed.")
    return (f"{failures}GRAPH_NOTIFICATION_URL is not set, so Graph mailboxes are not notified of changes: the "
            f"listener reads their changes (delta) every {settings.GRAPH_DELTA_POLL_SECONDS} seconds instead "
            f"({_folders(active)} at present). {delta['message']}")


def graph_delta_health(now: datetime, listener_up: bool, url: str) -> dict:
    row = ChangeFeed.objects.filter(kind=ChangeFeed.Kind.GRAPH_DELTA).first()
    stored = row.state if row else "off"
    state = stored
    if url:
        state, message = "off", "Off: Graph change notifications are used instead of delta polling."
    elif stored in (ChangeFeed.State.HEALTHY, ChangeFeed.State.BEHIND) and not listener_up:
        state, message = "stale", LISTENER_DOWN
    elif stored == ChangeFeed.State.FAILED:
        message = row.error_message or "Every Graph delta read failed: the listener's log has the details."
    elif stored == ChangeFeed.State.BEHIND:
        message = row.error_message or "Some Graph delta reads fail or take too long: changes are seen late."
    elif stored == ChangeFeed.State.HEALTHY:
        message = f"Delta polling is healthy: last poll {_when(row.last_poll_at)}."
    elif not listener_up:
        state, message = "down", LISTENER_DOWN
    elif row is None:
        message = ("Delta polling has not run yet: the listener starts it once a Graph mailbox is synced in near "
                   "real time.")
    else:
        message = "No Graph mailbox is synced in near real time, so nothing is polled."
    return {**_badge(state), "stored_state": stored, "last_poll_at": row.last_poll_at if row else None,
            "lag_seconds": row.lag_seconds if row else None, "last_change_at": row.last_change_at if row else None,
            "error_message": row.error_message if row else "", "failed_since": row.failed_since if row else None,
            "api_calls": row.api_calls if row else 0, "objects": (row.cursor or {}).get("objects") if row else None,
            "message": message}


def feeds_overview(now: datetime | None = None) -> dict:
    """Every feed's health, each with a sentence; `problems` gathers the sentences of what is not healthy (empty:
    every feed in use reports its changes). A fixed number of queries whatever the number of users."""
    now = now or timezone.now()
    listener = listener_health(now)
    up = listener["alive"]
    salesforce = salesforce_feeds(now, up)
    counts = _subscription_counts(now)
    url = settings.GRAPH_NOTIFICATION_URL
    delta = graph_delta_health(now, up, url)
    counts["ews"]["message"] = _ews_message(counts["ews"], up)
    counts["graph"]["message"] = _graph_message(counts["graph"], delta, url)
    problems = [] if up else [listener["message"]]
    problems += [feed["message"] for feed in salesforce if feed["state"] in ("failed", "behind")
                 or (feed["state"] == "stale" and up)]
    if delta["state"] in ("failed", "behind"):
        problems.append(delta["message"])
    for protocol in ("ews", "graph"):
        if counts[protocol]["failed"]:
            problems.append(counts[protocol]["message"])
    return {
        "at": now,
        "ok": not problems,
        "listener": listener,
        "salesforce": salesforce,
        "subscriptions": counts,
        "subscription_errors": _recent_errors(),
        "graph_delta": delta,
        "graph_notifications": {"url_set": bool(url), "url": url},
        "problems": problems,
    }


def _number(path: str):
    return Cast(KT(path), BigIntegerField())


def salesforce_calls_by_hour(hours: int = 24, now: datetime | None = None) -> dict:
    """Salesforce calls per UTC hour over the last `hours` hours, this hour included: those of sync runs (by the
    hour they finished) and those of the org feed (its `calls_by_hour`), with the hourly share of the org's daily
    allocation (the latest a run reported, else the org feed's) to draw them against."""
    now = now or timezone.now()
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    starts = [current - timedelta(hours=n) for n in range(hours - 1, -1, -1)]
    runs: Counter = Counter()
    finished = (SyncRun.objects.filter(finished_at__gte=starts[0]).annotate(hour=TruncHour("finished_at", tzinfo=UTC))
                .values("hour").order_by().annotate(calls=Sum(_number("api_calls__salesforce"))))
    for row in finished:
        runs[row["hour"].astimezone(UTC)] += row["calls"] or 0
    feed: Counter = Counter()
    usage = None
    for cursor in ChangeFeed.objects.filter(kind=ChangeFeed.Kind.SALESFORCE).values_list("cursor", flat=True):
        for key, calls in ((cursor or {}).get("calls_by_hour") or {}).items():
            try:
                hour = datetime.strptime(key, HOUR_KEY).replace(tzinfo=UTC)
            except (TypeError, ValueError):
                continue
            if isinstance(calls, int):
                feed[hour] += calls
        reported = (cursor or {}).get("api_usage") or {}
        if isinstance(reported.get("allocation"), int) and (usage is None or reported.get("at", "") > usage["at"]):
            usage = {"allocation": reported["allocation"], "at": reported.get("at", "")}
    allocation = (SyncRun.objects.filter(salesforce_api_allocation__isnull=False).order_by("-finished_at")
                  .values_list("salesforce_api_allocation", flat=True).first())
    if allocation is None and usage is not None:
        allocation = usage["allocation"]
    share = round(allocation / 24, 1) if allocation else None
    rows = [{"hour": start, "runs": runs[start], "feed": feed[start], "total": runs[start] + feed[start]}
            for start in starts]
    busiest = max((row["total"] for row in rows), default=0)
    return {
        "hours": rows, "allocation": allocation, "hourly_share": share,
        "runs": sum(row["runs"] for row in rows), "feed": sum(row["feed"] for row in rows), "busiest": busiest,
        "busiest_share": round(100 * busiest / share, 1) if share else None,
    }


def chart_data(calls: dict) -> dict:
    """`salesforce_calls_by_hour` as the dashboard's chart reads it (JSON: hours as ISO 8601 in UTC)."""
    return {"labels": [row["hour"].isoformat().replace("+00:00", "Z") for row in calls["hours"]],
            "runs": [row["runs"] for row in calls["hours"]], "feed": [row["feed"] for row in calls["hours"]],
            "hourly_share": calls["hourly_share"], "allocation": calls["allocation"]}

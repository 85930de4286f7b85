"""The Salesforce org feed: one integration identity reads, per synced object, what changed since the feed's
watermark (one ``queryAll``, deletions included) and marks dirty the objects of the users whose data set can hold
each change, so nothing is read for a user whose data did not change.

Each object's position and health is a ``ChangeFeed`` row (kind ``salesforce``, key ``contacts|events|tasks``):

- ``watermark``: the highest SystemModstamp seen, and at least Salesforce's clock minus ``OVERLAP`` (so that it
  moves on while nothing changes). Each read starts ``OVERLAP`` before it, because Salesforce stamps a record when
  its transaction starts and commits it later; ``cursor["routed"]`` keeps the (Id, SystemModstamp) pairs already
  routed inside that window, so nothing is routed twice and nothing committed late is missed.
- The first poll ever starts at now: the runs' own first syncs read everything, there is no backlog to route.
- A watermark older than the recycle bin keeps deletions (or a read the org refuses for age) marks every user of
  the object dirty with ``full=True`` and starts again at now. So does a feed that recovers after failing (a gap,
  marked once, without ``full``: the users' incremental runs read what they missed).
- ``state``: ``healthy``; ``behind`` when one poll brings more than ``BEHIND_ROWS`` new rows or the lag exceeds
  ``BEHIND_INTERVALS`` polls; ``failed`` with a sentence saying the cause and what to do (the objects are then not
  covered: ``sync.feeds.coverage`` reads ``state`` and ``last_poll_at``); ``off`` when no configuration syncs the
  object in near real time.
- ``api_calls`` and ``cursor["calls_by_hour"]`` (UTC hour → calls, 48 hours) are what the dashboard charts;
  ``cursor["api_usage"]`` is the org's daily use at the last read (``{"used", "allocation", "at"}``, from
  ``Sforce-Limit-Info``). OAuth token requests do not count against the allocation and are not counted.

Routing is correct first, then cheap: filters on fields are not evaluated (a user whose scope matches is marked even
if a filter would leave the record out: the run decides), and "all I can see" marks every user with that scope.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from configurations.models import ContactScope, DataSet, DataSetting, Direction, SyncMode
from sync.connections import integration_username, salesforce_client
from sync.connectors.base import ConnectorError, NeedsAttention
from sync.connectors.salesforce import SalesforceClient
from sync.connectors.salesforce.errors import ACCESS_CODES
from sync.connectors.salesforce.feed import TOO_OLD_CODES, FeedChange, parse_stamp, read_changes
from sync.connectors.salesforce.side import DELETIONS_KEPT
from sync.error_words import describe_error
from sync.feeds.dirty import mark_dirty
from sync.mappings import salesforce as mapping
from sync.models import ChangeFeed, RecordLink
from sync.options import OBJECTS
from users.models import SyncUser
from users.services import with_effective_configuration

log = logging.getLogger(__name__)

# Salesforce stamps a record when its transaction starts and commits it later: each read reaches this far back.
OVERLAP = timedelta(seconds=60)
# After this long without a change the feed polls every SALESFORCE_FEED_IDLE_SECONDS instead.
QUIET_BEFORE_IDLE = timedelta(minutes=10)
# queryAll sees deletions only while they are in the recycle bin (15 days; the Salesforce side keeps a day's margin).
RECYCLE_BIN = DELETIONS_KEPT
BEHIND_ROWS = 5000  # one poll bringing more rows than this: a mass change, the feed says it is behind
BEHIND_INTERVALS = 5  # a lag above this many poll intervals: behind
CALL_HOURS_KEPT = 48
MARK_BATCH = 500  # users per mark_dirty call
LINK_BATCH = 500  # Salesforce ids per link query
# Where the feed's sentences say the objects go while it does not work (the dispatcher's fallback).
UNCOVERED = "Until it works again, {object} sync on their configuration's schedule."
# Calls that do not count against the org's API allocation (OAuth token requests).
NOT_API_CALLS = frozenset({"token"})


@dataclass
class Audience:
    """The users who sync one object in near real time, indexed the ways a change reaches them."""

    user_ids: set[int] = field(default_factory=set)
    by_owner: dict[str, set[int]] = field(default_factory=dict)  # OwnerId → users whose data set takes their own
    by_account_owner: dict[str, set[int]] = field(default_factory=dict)  # Account.OwnerId → "contacts on my accounts"
    everything_visible: set[int] = field(default_factory=set)  # "all contacts I can see"

    def owners(self, change: FeedChange) -> set[int]:
        """The users whose data set takes the changed record by its owner or its account's owner (filters not
        evaluated); "all I can see" users are routed apart, as every change concerns them."""
        return self.by_owner.get(change.owner_id or "", set()) | self.by_account_owner.get(
            change.account_owner_id or "", set())


def near_real_time_settings() -> Iterable[DataSetting]:
    """The data settings of active near-real-time configurations that sync their object (direction not none)."""
    return DataSetting.objects.filter(
        configuration__active=True, configuration__sync_mode=SyncMode.NEAR_REAL_TIME,
    ).exclude(direction=Direction.NONE)


def fed_objects() -> list[str]:
    """The objects the feed polls: those some active configuration syncs in near real time."""
    synced = set(near_real_time_settings().values_list("object", flat=True))
    return [name for name in OBJECTS if name in synced]


def audience(object_type: str) -> Audience:
    """Who syncs the object in near real time: active users whose effective configuration syncs it."""
    configuration_ids = set(near_real_time_settings().filter(object=object_type)
                            .values_list("configuration_id", flat=True))
    scopes = dict(DataSet.objects.filter(object=object_type, configuration_id__in=configuration_ids)
                  .values_list("configuration_id", "scope"))
    users = (with_effective_configuration(SyncUser.objects.filter(active=True))
             .filter(effective_configuration_id__in=configuration_ids)
             .values_list("pk", "salesforce_id", "effective_configuration_id"))
    found = Audience()
    for pk, salesforce_id, configuration_id in users:
        found.user_ids.add(pk)
        scope = scopes.get(configuration_id, ContactScope.MY_CONTACTS) if object_type == "contacts" else None
        if scope == ContactScope.ALL_VISIBLE:
            found.everything_visible.add(pk)
        elif scope == ContactScope.MY_ACCOUNTS_CONTACTS:
            found.by_account_owner.setdefault(salesforce_id, set()).add(pk)
        else:  # my contacts; events and tasks always sync the user's own
            found.by_owner.setdefault(salesforce_id, set()).add(pk)
    return found


def _copies(object_type: str, record_ids: list[str]) -> dict[str, dict[int, datetime | None]]:
    """Who holds a copy of each record (a RecordLink), with the version each copy was synced at."""
    held: dict[str, dict[int, datetime | None]] = {}
    for start in range(0, len(record_ids), LINK_BATCH):
        rows = RecordLink.objects.filter(object=object_type, salesforce_id__in=record_ids[start:start + LINK_BATCH])
        for user_id, salesforce_id, version in rows.values_list("user_id", "salesforce_id", "salesforce_version"):
            held.setdefault(salesforce_id, {})[user_id] = parse_stamp(version)
    return held


def route(object_type: str, changes: list[FeedChange], users: Audience) -> set[int]:
    """The users whose object a batch of changes makes dirty: those whose data set can hold each record, plus every
    user holding a copy of it (a record that left a scope, changed owner or was deleted must reach them), less the
    users whose copy is at exactly this version (the sync wrote it: an echo)."""
    if not changes:
        return set()
    copies = _copies(object_type, list(dict.fromkeys(change.id for change in changes)))
    marked: set[int] = set()
    echoed_everywhere: set[int] | None = None  # users for whom every change of the batch is an echo
    for change in changes:
        holders = copies.get(change.id, {})
        echoed = {user_id for user_id, version in holders.items() if version == change.modstamp}
        marked |= ((users.owners(change) | holders.keys()) & users.user_ids) - echoed
        echoed_everywhere = echoed if echoed_everywhere is None else echoed_everywhere & echoed
    return marked | (users.everything_visible - (echoed_everywhere or set()))


def _mark(user_ids: Iterable[int], object_type: str, *, full: bool = False, now: datetime) -> None:
    # A poll gathers every change since the last one: nothing to wait for, the runs are due at once (settled).
    ordered = sorted(user_ids)
    for start in range(0, len(ordered), MARK_BATCH):
        mark_dirty(ordered[start:start + MARK_BATCH], [object_type], full=full, settled=True, now=now)


# ---- polling ------------------------------------------------------------------------------------------------------


def poll_interval(feed: ChangeFeed, now: datetime) -> timedelta:
    """Every SALESFORCE_FEED_SECONDS; every SALESFORCE_FEED_IDLE_SECONDS after ten minutes without a change, and
    while the feed is failing (a refused sign-in is not retried every half minute)."""
    quiet_since = feed.last_change_at or _started_at(feed) or now
    if feed.state == ChangeFeed.State.FAILED or now - quiet_since >= QUIET_BEFORE_IDLE:
        return timedelta(seconds=settings.SALESFORCE_FEED_IDLE_SECONDS)
    return timedelta(seconds=settings.SALESFORCE_FEED_SECONDS)


def _started_at(feed: ChangeFeed) -> datetime | None:
    return parse_stamp(feed.cursor.get("started_at"))


def _due_at(feed: ChangeFeed, now: datetime) -> datetime:
    return feed.last_poll_at + poll_interval(feed, now) if feed.last_poll_at else now


def poll_feeds(now: datetime | None = None) -> float:
    """Poll every object's feed that is due; answer the seconds until the next poll is due.

    Only objects some active configuration syncs in near real time are polled (their feed rows are created on the
    way); the feed of an object nobody syncs so any more is switched off, and starts again at now when one does.
    One integration client serves every object of a call (its token is cached process-wide)."""
    now = now or timezone.now()
    objects = fed_objects()
    for feed in ChangeFeed.objects.filter(kind=ChangeFeed.Kind.SALESFORCE).exclude(key__in=objects).exclude(
            state=ChangeFeed.State.OFF):
        _switch_off(feed)
    feeds = [ChangeFeed.objects.get_or_create(kind=ChangeFeed.Kind.SALESFORCE, key=name,
                                              defaults={"state": ChangeFeed.State.STARTING})[0] for name in objects]
    poller = _Poller()
    try:
        for feed in feeds:
            if _due_at(feed, now) <= now and _claim(feed, now):
                poller.poll(feed, now)
    finally:
        poller.close()
    if not feeds:
        return float(settings.SALESFORCE_FEED_IDLE_SECONDS)
    return max(0.0, min((_due_at(feed, now) - now).total_seconds() for feed in feeds))


def _switch_off(feed: ChangeFeed) -> None:
    """No configuration syncs the object in near real time: stop polling it, and forget the position (changes
    made while off reach nobody who needs them; a restart begins at now)."""
    feed.state = ChangeFeed.State.OFF
    feed.watermark = None
    feed.cursor = {key: value for key, value in feed.cursor.items() if key == "calls_by_hour"}
    feed.error_code, feed.error_message, feed.failed_since, feed.lag_seconds = "", "", None, None
    feed.save()


def _claim(feed: ChangeFeed, now: datetime) -> bool:
    """Take this poll (compare-and-set on ``last_poll_at``): two pollers by mistake never read the same window."""
    claimed = ChangeFeed.objects.filter(pk=feed.pk, last_poll_at=feed.last_poll_at).update(last_poll_at=now)
    if claimed:
        feed.last_poll_at = now
    return bool(claimed)


class _Poller:
    """One integration client for a round of polls, opened at the first poll that needs it."""

    def __init__(self) -> None:
        self.client: SalesforceClient | None = None
        self.username = ""

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def _client(self) -> SalesforceClient:
        if self.client is None:
            self.username = integration_username()
            self.client = salesforce_client(self.username)
        return self.client

    def poll(self, feed: ChangeFeed, now: datetime) -> None:
        object_type = feed.key
        before = dict(self.client.calls.by_operation) if self.client else {}
        gap = False
        if feed.watermark is None:
            _anchor(feed, now)
        elif now - feed.watermark > RECYCLE_BIN:
            # Deletions this old are out of the recycle bin: only a full read with matching finds what changed.
            _restart_full(feed, now)
        elif feed.state == ChangeFeed.State.FAILED:
            gap = True  # what changed while failing is not read here: the users' own runs read it, once it works
            _anchor(feed, now)
        try:
            client = self._client()
            try:
                changes = read_changes(client, object_type, feed.watermark - OVERLAP)
            except ConnectorError as exc:
                if exc.code not in TOO_OLD_CODES:
                    raise
                _restart_full(feed, now)
                changes = read_changes(client, object_type, feed.watermark - OVERLAP)
        except Exception as exc:  # noqa: BLE001 - every failure becomes the feed's state, with its cause
            self._count(feed, before, now)
            _fail(feed, exc, self.username or "(not named)", now)
            return
        self._count(feed, before, now)
        if gap:
            _mark(audience(object_type).user_ids, object_type, now=now)
        _advance(feed, changes, client, now)

    def _count(self, feed: ChangeFeed, before: dict[str, int], now: datetime) -> None:
        after = self.client.calls.by_operation if self.client else {}
        calls = sum(n - before.get(operation, 0) for operation, n in after.items() if operation not in NOT_API_CALLS)
        feed.api_calls += calls
        hour = now.astimezone(UTC).strftime("%Y-%m-%dT%H")
        oldest = (now - timedelta(hours=CALL_HOURS_KEPT - 1)).astimezone(UTC).strftime("%Y-%m-%dT%H")
        by_hour = {key: n for key, n in feed.cursor.get("calls_by_hour", {}).items() if key >= oldest}
        if calls:
            by_hour[hour] = by_hour.get(hour, 0) + calls
        feed.cursor["calls_by_hour"] = by_hour
        usage = self.client.api_usage() if self.client else None
        if usage:
            feed.cursor["api_usage"] = {"used": usage[0], "allocation": usage[1], "at": now.isoformat()}


def _anchor(feed: ChangeFeed, now: datetime) -> None:
    """Start reading at now: no backlog (the caller marks whoever needs a full or gap run)."""
    feed.watermark = now
    feed.cursor["routed"] = {}
    feed.cursor["anchored"] = True
    feed.cursor.setdefault("started_at", now.isoformat())


def _restart_full(feed: ChangeFeed, now: datetime) -> None:
    """The feed's position is past what Salesforce can still tell: every user of the object reads everything and
    matches (marked at once, whether or not this poll's read then works), and the feed starts again at now."""
    _mark(audience(feed.key).user_ids, feed.key, full=True, now=now)
    _anchor(feed, now)


def _advance(feed: ChangeFeed, changes: list[FeedChange], client: SalesforceClient, now: datetime) -> None:
    """Route what is new in a read, then move the watermark and keep the pairs the next read may bring again."""
    routed: dict[str, str] = dict(feed.cursor.get("routed", {}))
    new = [change for change in changes if routed.get(change.id) != mapping.format_datetime(change.modstamp)]
    if new:
        _mark(route(feed.key, new, audience(feed.key)), feed.key, now=now)
        feed.last_change_at = now
    server_now = client.server_time or now
    # A watermark set from this machine's clock (an anchor) may run ahead of Salesforce's: only Salesforce's own
    # stamps and clock count then, so a skewed clock never skips a change.
    candidates = [change.modstamp for change in changes] + [server_now - OVERLAP]
    if not feed.cursor.get("anchored"):
        candidates.append(feed.watermark)
    feed.watermark = max(candidates)
    for change in new:
        routed[change.id] = mapping.format_datetime(change.modstamp)
    window_start = feed.watermark - OVERLAP
    feed.cursor["routed"] = {record_id: stamp for record_id, stamp in routed.items()
                             if parse_stamp(stamp) >= window_start}
    feed.cursor["anchored"] = False
    # How far behind Salesforce the feed's view is: the watermark trails the clock by OVERLAP by design (each read
    # starts that much earlier), so only what lies beyond it is lag.
    feed.lag_seconds = max(0.0, (server_now - feed.watermark - OVERLAP).total_seconds())
    feed.state = ChangeFeed.State.HEALTHY
    interval = poll_interval(feed, now)
    if len(new) > BEHIND_ROWS or feed.lag_seconds > BEHIND_INTERVALS * interval.total_seconds():
        feed.state = ChangeFeed.State.BEHIND
    feed.error_code, feed.error_message, feed.failed_since = "", "", None
    feed.save()


def _fail(feed: ChangeFeed, exc: Exception, username: str, now: datetime) -> None:
    """The feed failed: its state says so in a sentence with the cause and what to do; the next poll retries."""
    feed.error_code, feed.error_message = failure_words(exc, feed.key, username)
    if feed.state != ChangeFeed.State.FAILED or feed.failed_since is None:
        feed.failed_since = now
    feed.state = ChangeFeed.State.FAILED
    feed.save()


def failure_words(exc: Exception, object_type: str, username: str) -> tuple[str, str]:
    """(code, sentence) for a failed poll: what failed, why, what to do, and what happens meanwhile."""
    sobject = mapping.sobject_name(object_type)
    uncovered = UNCOVERED.format(object=object_type.capitalize())
    if not isinstance(exc, ConnectorError):
        log.exception("the Salesforce org feed for %s failed", object_type, exc_info=exc)
        return (type(exc).__name__, f"The Salesforce org feed for {object_type} stopped on an unexpected error "
                                    f"({type(exc).__name__}): the server's log has the details. {uncovered}")
    reason = describe_error(exc)
    code = exc.code
    if code.startswith("salesforce_"):  # no connection, no integration user, an unreadable key: our own words
        lead = f"The Salesforce org feed for {object_type} cannot start."
    elif isinstance(exc, NeedsAttention) and (code in ACCESS_CODES or code in ("INVALID_TYPE", "INVALID_FIELD",
                                                                              "MISSING_PERMISSION")):
        lead = (f"The integration user {username} may not read the {sobject} records the org feed needs. Give "
                f"{username} the View All Data permission (or a profile that sees every synced record).")
    elif isinstance(exc, NeedsAttention) and code.islower():  # OAuth's codes are lower case: the token was refused
        lead = f"The Salesforce org feed for {object_type} cannot sign in as the integration user {username}."
    else:
        lead = f"The Salesforce org feed for {object_type} could not read its changes; it tries again at its next poll."
    return code[:100], f"{lead} {reason} {uncovered}"

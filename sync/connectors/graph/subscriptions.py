"""Graph change notifications for one mailbox: subscriptions (create, renew, reauthorize, delete) on its synced
contact folder, calendar and To Do list, and the cheap "signal" delta read that stands in for them where no public
notification URL exists (the ids that changed since the last read, nothing else).

What a feed may ask of Graph about a mailbox's changes, in one place; errors are classified like every other Graph
request (`errors.classify`), plus the two answers a feed handles itself: a subscription or folder gone (`NotFound`)
and a delta link no longer known (`SyncStateGone`)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sync.connectors.base import ConnectorError, NeedsAttention, PermanentError, TransientError
from sync.connectors.exchange import DEFAULT_WINDOW, folder_missing
from sync.connectors.graph.errors import NotFound
from sync.connectors.graph.mailbox import GraphMailbox
from sync.engine.records import SyncObject
from sync.mappings.datetimes import iso_utc

log = logging.getLogger(__name__)

# Graph's longest subscription on Outlook contacts, events and To Do tasks is 4,230 minutes (To Do's limit, the
# strictest); a little less leaves room for clock skew between this server and Graph.
SUBSCRIPTION_MINUTES = 4200
CHANGE_TYPES = "created,updated,deleted"
SIGNAL_PAGE = 1000  # Prefer: odata.maxpagesize of a signal read (only ids: pages are small)
_OPERATION = {SyncObject.CONTACTS: "contacts/delta", SyncObject.EVENTS: "calendarView/delta",
              SyncObject.TASKS: "todo/tasks/delta"}


def new_client_state() -> str:
    """A secret Graph echoes in every notification of one subscription (Graph allows up to 128 characters)."""
    return secrets.token_urlsafe(48)


def expiry_from(now: datetime) -> datetime:
    """When a subscription created or renewed at `now` should expire: as late as Graph allows, less a margin."""
    return (now + timedelta(minutes=SUBSCRIPTION_MINUTES)).astimezone(UTC).replace(microsecond=0)


def version_of(etag: str | None) -> str:
    """The item version inside an @odata.etag (`W/"CQAAABYAAAB..."` → `CQAAABYAAAB...`): what the Graph side stores
    as a link's Outlook version (the changeKey; To Do tasks have none, their etag is stored whole)."""
    text = (etag or "").strip()
    if text.startswith("W/"):
        text = text[2:]
    return text.strip('"')


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass(frozen=True)
class Subscription:
    """A subscription as Graph answered it."""

    id: str
    resource: str
    expires_at: datetime
    client_state: str


@dataclass
class Signal:
    """What one signal delta read found: the items changed since the last link (id → @odata.etag, blank when Graph
    sent none), the ids removed, and the link for the next read. `first`: the read only established the link (a
    new round: nothing is known about changes before it)."""

    changed: dict[str, str] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    delta_link: str = ""
    first: bool = False


class GraphSubscriptions:
    """Change notification subscriptions and signal delta reads of one mailbox, through its `GraphMailbox`."""

    def __init__(self, mailbox: GraphMailbox, *, contacts_folder: str = "Salesforce_Sync"):
        self.mailbox = mailbox
        self.contacts_folder = contacts_folder

    # ---- where an object's items are -----------------------------------------------------------------------------
    def collection(self, object_type: SyncObject | str) -> str:
        """The path (under /v1.0) of the collection the sync reads for an object: the sync contact folder's
        contacts, the calendar's events, the default To Do list's tasks. Contacts and tasks cost one request to find
        the folder or list; a missing contact folder raises `NeedsAttention` (the first sync creates it)."""
        object_type = SyncObject(object_type)
        user = self.mailbox.user_path
        if object_type is SyncObject.CONTACTS:
            folder = self.mailbox.contacts_folder_id(self.contacts_folder, create=False)
            return f"{user}/contactFolders/{quote(folder, safe='=-_')}/contacts"
        if object_type is SyncObject.EVENTS:
            return f"{user}/events"
        return f"{user}/todo/lists/{quote(self.mailbox.default_task_list(), safe='=-_')}/tasks"

    # ---- subscriptions ---------------------------------------------------------------------------------------------
    def create(self, object_type: SyncObject | str, notification_url: str, *, now: datetime,
               client_state: str | None = None) -> Subscription:
        """Subscribe to created, updated and deleted items of the object's collection; lifecycle notifications go
        to the same URL. Graph validates the URL (the handshake) before it answers."""
        try:
            resource = self.collection(object_type).lstrip("/")
        except NotFound as e:
            raise self._gone(SyncObject(object_type), e) from None
        state = client_state or new_client_state()
        expires = expiry_from(now)
        body = {"changeType": CHANGE_TYPES, "notificationUrl": notification_url,
                "lifecycleNotificationUrl": notification_url, "resource": resource,
                "expirationDateTime": iso_utc(expires), "clientState": state}
        try:
            answer = self.mailbox.send("POST", "/subscriptions", "subscriptions", body=body)
        except NotFound as e:  # the folder or list went away between finding it and subscribing
            raise self._gone(SyncObject(object_type), e) from None
        except PermanentError as e:
            # Graph answers 400 when the notification URL failed its validation handshake (or refused the
            # resource): a person must make the URL reachable from Microsoft's servers.
            raise NeedsAttention(
                e.code or "subscription_refused",
                f"Microsoft Graph refused to create a change notification subscription for {self.mailbox.mailbox}'s "
                f"{SyncObject(object_type).value} (code {e.code}).",
                f"Check that GRAPH_NOTIFICATION_URL ({notification_url}) is this server's public https address of "
                "/graph/notifications/ and reachable from the internet; until it works the object is synced by the "
                "safety-net sweep.", own_words=True) from None
        data = answer.body if isinstance(answer.body, Mapping) else {}
        if not data.get("id"):
            raise TransientError("subscription_incomplete", "Microsoft Graph answered a subscription request "
                                 "without the subscription's id. The feed tries again by itself.", own_words=True)
        log.info("subscribed to %s of %s (subscription %s)", resource, self.mailbox.mailbox, data["id"])
        return Subscription(str(data["id"]), resource, _instant(data.get("expirationDateTime")) or expires, state)

    def _gone(self, object_type: SyncObject, error: NotFound) -> ConnectorError:
        if object_type is SyncObject.CONTACTS:
            return folder_missing(self.contacts_folder)
        return PermanentError(error.code or "ResourceNotFound", f"Microsoft Graph found no {object_type.value} "
                              f"collection to watch in {self.mailbox.mailbox} (code {error.code or 'ResourceNotFound'})"
                              ". The next sync of the object says what to do.", own_words=True)

    def renew(self, subscription_id: str, *, now: datetime) -> datetime:
        """Push the subscription's expiry as far as Graph allows. Raises `NotFound` if Graph no longer has it."""
        expires = expiry_from(now)
        answer = self.mailbox.send("PATCH", f"/subscriptions/{quote(subscription_id, safe='-')}", "subscriptions",
                                   body={"expirationDateTime": iso_utc(expires)})
        data = answer.body if isinstance(answer.body, Mapping) else {}
        return _instant(data.get("expirationDateTime")) or expires

    def reauthorize(self, subscription_id: str) -> None:
        """Answer a `reauthorizationRequired` lifecycle notification (Graph checks the app's access again). Raises
        `NotFound` if Graph no longer has the subscription."""
        self.mailbox.send("POST", f"/subscriptions/{quote(subscription_id, safe='-')}/reauthorize", "subscriptions")

    def delete(self, subscription_id: str) -> bool:
        """Delete a subscription; False if Graph no longer had it (nothing to do)."""
        try:
            self.mailbox.send("DELETE", f"/subscriptions/{quote(subscription_id, safe='-')}", "subscriptions")
        except NotFound:
            return False
        return True

    # ---- the signal delta read (no notification URL) ---------------------------------------------------------------
    def signal(self, object_type: SyncObject | str, delta_link: str | None, *,
               window: tuple[datetime | None, datetime | None] = (None, None)) -> Signal:
        """Follow the object's own delta link (only ids are asked for), or start a new round when there is none.

        An idle mailbox costs one request per object. `window` bounds the events' calendarView as the side's data
        set does (none: a year either side of today, the side's default). Raises `SyncStateGone` when Graph no
        longer knows the link (start again with None) and `NotFound` when the folder or list is gone.
        """
        object_type = SyncObject(object_type)
        signal = Signal(first=not delta_link)
        prefer = f"odata.maxpagesize={SIGNAL_PAGE}"
        params: dict[str, str] | None = None
        if delta_link:
            path = delta_link
        elif object_type is SyncObject.EVENTS:
            now = datetime.now(UTC)
            today = datetime(now.year, now.month, now.day, tzinfo=UTC)
            lo, hi = window[0] or today - DEFAULT_WINDOW, window[1] or today + DEFAULT_WINDOW
            path = f"{self.mailbox.user_path}/calendarView/delta"
            params = {"startDateTime": iso_utc(lo), "endDateTime": iso_utc(hi)}
        else:
            path = f"{self.collection(object_type)}/delta"
            params = {"$select": "id"}
        operation = _OPERATION[object_type]
        answer = self.mailbox.send("GET", path, operation, params=params, headers={"Prefer": prefer})
        while True:
            page = answer.body if isinstance(answer.body, Mapping) else {}
            for item in page.get("value", []):
                item_id = str(item.get("id") or "")
                if not item_id:
                    continue
                if "@removed" in item:
                    signal.changed.pop(item_id, None)
                    signal.removed.add(item_id)
                else:
                    signal.changed[item_id] = str(item.get("@odata.etag") or "")
                    signal.removed.discard(item_id)
            if page.get("@odata.deltaLink"):
                signal.delta_link = str(page["@odata.deltaLink"])
                return signal
            next_link = page.get("@odata.nextLink")
            if not next_link:
                raise TransientError("delta_incomplete", "A Microsoft Graph delta page had neither a next link nor "
                                     "a delta link. The feed tries again by itself.", own_words=True)
            answer = self.mailbox.send("GET", str(next_link), operation, headers={"Prefer": prefer})

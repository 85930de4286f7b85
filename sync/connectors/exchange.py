"""What the two Exchange connectors (EWS in `ews/`, Microsoft Graph in `graph/`) share, written once.

The Salesforce-id property both stamp items with, the scope rules a data set's options impose on contacts and
events, the "contacts folder is missing" answer, instant parsing, the default window and the per-thread request
counter. Free of exchangelib and msal so that either connector (and anything that only needs these rules) loads
without the other's library.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sync.connectors.base import CallCounter, NeedsAttention, ObjectOptions
from sync.engine.records import Side, SyncObject
from sync.mappings.datetimes import to_utc

log = logging.getLogger(__name__)

# ---- the Salesforce id on Exchange items ---------------------------------------------------------------------------

# A named MAPI property in our own property set: Outlook keeps it on the item, it survives moves and edits, and both
# EWS (FindItem) and Graph ($filter) can restrict on it; a mailbox moved from on-premises to Exchange Online keeps
# its stamps. The GUID is this product's and must never change (stamped items depend on it).
SALESFORCE_ID_PROPERTY_SET = "8d2f4c61-3a7e-4b0c-9f15-5e7d2a9c0b43"
SALESFORCE_ID_PROPERTY_NAME = "SalesforceId"

# Events without a data-set window are read (EWS: series expanded) over this much either side of today.
DEFAULT_WINDOW = timedelta(days=365)


# ---- scope: what a data set's options keep ---------------------------------------------------------------------


def is_excluded(address: str | None, excluded: Iterable[str]) -> bool:
    """Whether an e-mail address is excluded: by the exact address, or by "@domain" (or "domain") entries."""
    if not address:
        return False
    address = address.strip().lower()
    domain = address.rpartition("@")[2]
    for entry in excluded:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry.startswith("@"):
            if domain == entry[1:] or domain.endswith("." + entry[1:]):
                return True
        elif "@" in entry:
            if address == entry:
                return True
        elif domain == entry:
            return True
    return False


def event_in_window(start: Any, end: Any, window_start: datetime | None, window_end: datetime | None) -> bool:
    """Whether an event overlaps [window_start, window_end] (dates count as UTC midnights)."""
    s, e = to_utc(start), to_utc(end)
    if s is None:
        return False
    e = e or s
    if window_end is not None and s > to_utc(window_end):
        return False
    return not (window_start is not None and e < to_utc(window_start))


def event_kept_by_options(options: ObjectOptions, *, private: bool, categories: Iterable[str],
                          organizer: str | None = None) -> bool:
    """Whether the data setting keeps an event, its window aside: private events only when they are synced, only
    events in the configured Outlook category (if one is), never one organized by an excluded address."""
    if private and not options.sync_private_events:
        return False
    category = options.event_category
    if category and category.casefold() not in {c.casefold() for c in categories}:
        return False
    return not is_excluded(organizer, options.excluded_addresses)


# ---- the contacts folder -------------------------------------------------------------------------------------------


class ContactsFolders:
    """The contacts folder's rule on both protocols: found by name under the mailbox's Contacts; created only where
    the caller allows it (a first sync, a reset), otherwise its absence is `folder_missing` for a person to resolve.
    A mailbox class provides the protocol's own `find_contacts_folder` and `create_contacts_folder`."""

    mailbox: str

    def find_contacts_folder(self, name: str) -> str | None:
        raise NotImplementedError

    def create_contacts_folder(self, name: str) -> str:
        raise NotImplementedError

    def contacts_folder_id(self, name: str, *, create: bool = False) -> str:
        folder_id = self.find_contacts_folder(name)
        if folder_id is None:
            if not create:
                raise folder_missing(name)
            folder_id = self.create_contacts_folder(name)
            log.info("created contacts folder %r in %s", name, self.mailbox)
        return folder_id

    def ensure_contacts_folder(self, name: str) -> bool:
        """Create the contacts folder `name` unless it exists; True if it was created."""
        if self.find_contacts_folder(name) is not None:
            return False
        self.create_contacts_folder(name)
        return True


# ---- a mailbox's per-object side ------------------------------------------------------------------------------


class MailboxSide:
    """What a mailbox's side for one object starts with on either protocol: the mailbox, the object and its
    options, the data set's window as instants, and the mailbox's call counter (the engine's `Side.OUTLOOK`).

    `create_folder`: whether a read from scratch may create a missing contacts folder. The runner allows it only on
    a first sync and after a reset (no Exchange watermark stored); any other full read (a changed data setting, an
    expired sync state) reports the missing folder instead, so that a folder the user deleted is never re-created
    silently (and the empty-side guard never mistakes it for a mailbox emptied)."""

    side = Side.OUTLOOK

    def __init__(self, mailbox: Any, object_type: SyncObject, options: ObjectOptions, *, create_folder: bool = True):
        self.mailbox = mailbox
        self.object_type = object_type
        self.options = options
        self.create_folder = create_folder
        self.window_start = parse_instant(options.window_start)
        self.window_end = parse_instant(options.window_end)

    @property
    def calls(self) -> CallCounter:
        return self.mailbox.calls


# ---- shared answers and parsing ------------------------------------------------------------------------------------


def folder_missing(name: str) -> NeedsAttention:
    """The contacts folder the sync reads is gone: a person recreates it or resets the contact sync."""
    return NeedsAttention("contacts_folder_missing",
                          f"The contacts folder {name!r} is missing from the mailbox (deleted or renamed in Outlook), "
                          "so the contact sync stopped and deleted nothing.",
                          "Reset the user's contact sync (it creates the folder again and fills it), or recreate "
                          "the folder in Outlook.")


def parse_instant(value: str | None) -> datetime | None:
    """A window bound (ISO date-time, naive meaning UTC) as an aware UTC datetime; None for none."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# ---- counting requests made below the connector's own code -------------------------------------------------------

# exchangelib's HTTP adapter and msal's session make requests the connectors do not call directly; they count them
# on the counter of the mailbox whose call is running in this thread.
_LOCAL = threading.local()


@contextlib.contextmanager
def counting(counter: CallCounter) -> Iterator[None]:
    """Count the requests made in this thread inside the block on `counter`."""
    previous = getattr(_LOCAL, "counter", None)
    _LOCAL.counter = counter
    try:
        yield
    finally:
        _LOCAL.counter = previous


def current_counter() -> CallCounter | None:
    """The counter of the mailbox call running in this thread, if any."""
    return getattr(_LOCAL, "counter", None)


# Said on the run, per meeting, when `ObjectOptions.update_organized_meetings` is off (both mailbox connectors).
MEETING_NOT_UPDATED = (
    "This meeting is organized by the user and has attendees, so Salesforce's change was not written to Outlook: "
    "updating it would send the attendees an update from Exchange. To write such changes, turn on 'Update meetings "
    "the user organizes' in the configuration's events settings; otherwise change the meeting in Outlook.")

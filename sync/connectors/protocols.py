"""What the rest of the product may ask of the two ends, declared once.

The runner, the user operations and the connection checks talk to a Salesforce end and a mailbox end only through
these protocols; the connector packages (`salesforce/`, `ews/`, `graph/`) implement them. What an end can do is a
property of the end (`supports_series`, `protocol`, `reached_how`), never a question asked of the route elsewhere.
The per-object sides extend the engine's `SideConnector`, which is what the sync algorithm itself needs (reads,
batched writes, and `lookup_many`: a run's lookups of pending creates and match candidates, a batch per side).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from sync.connectors.base import CallCounter, ObjectOptions
from sync.engine import SideConnector, SyncObject


class ObjectAccess(Protocol):
    """A Salesforce user's permissions on one object."""

    read: bool
    create: bool
    edit: bool
    delete: bool


class SalesforceIdentity(Protocol):
    """Who a Salesforce token was obtained for."""

    id: str
    username: str


@runtime_checkable
class SalesforceSideEnd(SideConnector, Protocol):
    """One user's Salesforce records of one object."""

    supports_series: bool

    @property
    def calls(self) -> CallCounter: ...

    def relate_to_people(self, attendees: Mapping[str, Sequence[str]]) -> dict[str, str]:
        """Relate events (Salesforce ids) to the contacts, or one lead, with these attendee addresses."""
        ...


@runtime_checkable
class SalesforceEnd(Protocol):
    """The Salesforce org as one synced user (every read and write under that user's sharing)."""

    calls: CallCounter

    def side(self, object_type: SyncObject | str, options: ObjectOptions | None = None) -> SalesforceSideEnd: ...

    def permissions(self, object_type: SyncObject | str) -> ObjectAccess: ...

    def user_info(self) -> SalesforceIdentity: ...

    def api_usage(self) -> tuple[int, int] | None:
        """The org's (used, allocation) daily API requests as last reported, or None before any call."""
        ...


@runtime_checkable
class MailboxSideEnd(SideConnector, Protocol):
    """One mailbox's items of one object (contacts in the sync folder, the primary calendar, tasks)."""

    supports_series: bool

    @property
    def calls(self) -> CallCounter: ...

    def attendee_addresses(self, item_ids: Sequence[str]) -> dict[str, list[str]]:
        """The attendees' e-mail addresses of these events, by item id."""
        ...


@runtime_checkable
class MailboxEnd(Protocol):
    """One user's mailbox on the Exchange connection that serves it (EWS or Microsoft Graph)."""

    protocol: str  # the route's name for it ("ews" | "graph"), recorded on each run
    supports_series: bool  # a recurring series can be read and written as one item
    reached_how: str  # how the product reaches the mailbox, in words ("by impersonation over EWS")
    calls: CallCounter

    def side(self, object_type: SyncObject | str, options: ObjectOptions | None = None, *,
             create_folder: bool = True) -> MailboxSideEnd:
        """The mailbox's side for one object; `create_folder`: a read from scratch may create a missing contacts
        folder (the runner allows it only on a first sync and after a reset)."""
        ...

    def check(self, contacts_folder: str = "Salesforce_Sync") -> dict[str, Any]:
        """Reach the mailbox: {"mailbox": address, "contacts_folder_present": bool}."""
        ...

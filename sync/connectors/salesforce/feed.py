"""The org-level change feed's read: what changed in one object since a time, as the integration user sees it.

One ``queryAll`` (so deletions come too, with ``IsDeleted``) of the records stamped at or after a time, ordered by
``SystemModstamp`` then ``Id`` and paged through ``nextRecordsUrl``, selecting only what routing a change to users
needs: who owns the record (and, for contacts, who owns its account). The product syncs events by owner only
(``configurations.soql``: ``OwnerId = <user>``), never as an invitee, so no EventRelation is read. The caller
(``sync.feeds.salesforce``) keeps the watermark and decides who each change concerns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync.connectors.salesforce.client import SalesforceClient
from sync.connectors.salesforce.soql import soql_datetime
from sync.engine.records import SyncObject
from sync.mappings import salesforce as mapping

# What routing needs, per object: the id, whether it was deleted, its version and its owner (for contacts, also
# its account's owner: "contacts on my accounts" routes to him).
FEED_FIELDS: dict[SyncObject, tuple[str, ...]] = {
    SyncObject.CONTACTS: ("Id", "IsDeleted", "SystemModstamp", "OwnerId", "AccountId", "Account.OwnerId"),
    SyncObject.EVENTS: ("Id", "IsDeleted", "SystemModstamp", "OwnerId"),
    SyncObject.TASKS: ("Id", "IsDeleted", "SystemModstamp", "OwnerId"),
}
# Error codes with which an org refuses a read that reaches too far back (getDeleted's word for it; a queryAll
# past the recycle bin is answered the same way by some orgs): the feed then starts again from now.
TOO_OLD_CODES = frozenset({"INVALID_REPLICATION_DATE"})


@dataclass(frozen=True)
class FeedChange:
    """One record that changed (or was deleted) since the feed's last read, with what routing needs."""

    id: str
    modstamp: datetime  # SystemModstamp: the version the Salesforce side stores in RecordLink.salesforce_version
    deleted: bool
    owner_id: str | None
    account_owner_id: str | None = None  # contacts only: the owner of the contact's account


def parse_stamp(value: Any) -> datetime | None:
    """A SystemModstamp (``2026-12-06T04:00:00.000+0000`` or ISO-8601) as aware UTC, milliseconds kept; None for a
    blank or unreadable value (a link written before its version was known)."""
    try:
        return mapping.parse_datetime(value) if value else None
    except (TypeError, ValueError):
        return None


def feed_query(object_type: SyncObject | str, since: datetime) -> str:
    """The SOQL of one feed read: the object's routing fields of every record stamped at or after `since`."""
    object_type = SyncObject(object_type)
    fields = ", ".join(FEED_FIELDS[object_type])
    sobject = mapping.sobject_name(object_type)
    return (f"SELECT {fields} FROM {sobject} WHERE SystemModstamp >= {soql_datetime(since)} "  # noqa: S608
            "ORDER BY SystemModstamp, Id")


def read_changes(client: SalesforceClient, object_type: SyncObject | str, since: datetime) -> list[FeedChange]:
    """Every record of the object stamped at or after `since`, deleted ones included, oldest first.

    One ``queryAll`` call, plus one per further page of 2,000 rows (``client.calls`` counts them; the org's API use
    is then ``client.api_usage()`` and its clock ``client.server_time``). Errors are the connector's classified ones
    (``sync.connectors.base``); a code in ``TOO_OLD_CODES`` means `since` is further back than the org will read."""
    object_type = SyncObject(object_type)
    rows = client.query(feed_query(object_type, since), include_deleted=True,
                        what=mapping.sobject_name(object_type))
    return [_change(row) for row in rows]


def _change(row: Mapping[str, Any]) -> FeedChange:
    account = row.get("Account")
    stamp = parse_stamp(row.get("SystemModstamp"))
    assert stamp is not None, "Salesforce stamps every record"
    return FeedChange(
        id=str(row["Id"]), modstamp=stamp, deleted=bool(row.get("IsDeleted")), owner_id=row.get("OwnerId") or None,
        account_owner_id=(account.get("OwnerId") or None) if isinstance(account, Mapping) else None,
    )

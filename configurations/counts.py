"""Record counts: how many records a configuration's saved data settings and data sets would sync for one user,
counted on the side each object's direction reads.

Salesforce to Outlook reads Salesforce (a ``COUNT()`` of the data set, asked as the user, so their permissions and
sharing apply, with the record limit); Outlook to Salesforce reads the user's mailbox (the items the connector that
serves it, EWS or Graph, would read in scope: the contacts folder, the primary calendar in the events' window and
category, the tasks); both ways reads both. Nothing is written: a missing contacts folder is not created. Each end is
asked within the interactive deadline, so the page never waits on a slow end for long.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone

from configurations import soql
from configurations.models import Direction, OutlookConfiguration, SyncObject
from sync.connections import open_mailbox, salesforce_settings
from sync.connectors.base import INTERACTIVE_SECONDS, ConnectorError, NeedsAttention, TransientError, interactive
from sync.connectors.salesforce import SalesforceClient
from sync.error_words import describe_error
from sync.options import object_options
from sync.routing import mailbox_route
from users.models import SyncUser

SALESFORCE, OUTLOOK = "salesforce", "outlook"
# The ends each direction reads its records from (a "both ways" object reads, and syncs from, each of them).
READS = {
    Direction.SALESFORCE_TO_OUTLOOK: (SALESFORCE,),
    Direction.OUTLOOK_TO_SALESFORCE: (OUTLOOK,),
    Direction.BOTH: (SALESFORCE, OUTLOOK),
}
# Where each end's records are, in the words the page shows beside the count.
_WHERE = {
    (SALESFORCE, "contacts"): "Salesforce contacts",
    (SALESFORCE, "events"): "Salesforce events",
    (SALESFORCE, "tasks"): "Salesforce tasks",
    (OUTLOOK, "contacts"): "Outlook contacts in the folder {folder}",
    (OUTLOOK, "events"): "Outlook events in the primary calendar",
    (OUTLOOK, "tasks"): "Outlook tasks",
}


@dataclass
class SideCount:
    """One end's count for one object: ``count`` (after the record limit) or ``error``, in plain words."""

    side: str  # "salesforce" | "outlook"
    where: str  # what was counted, in words ("Salesforce contacts", "Outlook events in the primary calendar")
    count: int | None = None
    matching: int | None = None  # before the record limit (Salesforce)
    limited: bool = False
    note: str = ""
    error: str = ""

    def as_dict(self) -> dict:
        return {
            "side": self.side,
            "where": self.where,
            "count": self.count,
            "matching": self.matching,
            "limited": self.limited,
            "note": self.note,
            "error": self.error,
        }


@dataclass
class ObjectCount:
    object: str
    label: str
    direction: str
    direction_label: str
    reads: list[SideCount] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "object": self.object,
            "label": self.label,
            "direction": self.direction,
            "direction_label": self.direction_label,
            "reads": [r.as_dict() for r in self.reads],
        }


class CountsUnavailable(Exception):
    """No end that the configuration reads can be asked at all (no connection); the message says what to do."""


def record_counts(configuration: OutlookConfiguration, user: SyncUser) -> list[ObjectCount]:
    """Per object the configuration syncs, the count on each end its direction reads, for ``user``.

    An end without a connection gets its sentence on each of its counts; when no end that is read has a
    connection, CountsUnavailable says so once."""
    settings = {s.object: s for s in configuration.data_settings.all()}
    data_sets = {d.object: d for d in configuration.data_sets.all()}
    syncing = [o for o in SyncObject if o.value in settings and settings[o.value].direction != Direction.NONE]
    if not syncing:
        return []
    ends = {end for o in syncing for end in READS[settings[o.value].direction]}
    route = mailbox_route(user)
    opened, missing = _open(ends, user, route)
    if not opened:
        raise CountsUnavailable(" ".join(missing[end] for end in (SALESFORCE, OUTLOOK) if end in missing))
    now = timezone.now()
    answers = []
    try:
        for sync_object in syncing:
            setting, data_set = settings[sync_object.value], data_sets[sync_object.value]
            answer = ObjectCount(
                sync_object.value, sync_object.label, setting.direction, setting.get_direction_display()
            )
            for end in READS[setting.direction]:
                where = _WHERE[(end, sync_object.value)].format(folder=repr(setting.folder or "Salesforce_Sync"))
                read = SideCount(end, where)
                if end in missing:
                    read.error = missing[end]
                elif end == SALESFORCE:
                    _count_salesforce(read, opened[SALESFORCE], user, setting, data_set)
                else:
                    _count_outlook(read, opened[OUTLOOK], user, setting, data_set, now, route)
                answer.reads.append(read)
            answers.append(answer)
    finally:
        if SALESFORCE in opened:
            opened[SALESFORCE].close()
    return answers


def _open(ends: set[str], user: SyncUser, route) -> tuple[dict, dict[str, str]]:
    """The ends to read, opened (no request is made yet); and those without a usable connection, each with the
    sentence that says what to do."""
    opened, missing = {}, {}
    if SALESFORCE in ends:
        try:
            opened[SALESFORCE] = SalesforceClient(salesforce_settings(), user.username)
        except ConnectorError as exc:
            missing[SALESFORCE] = f"No Salesforce connection to ask. {describe_error(exc)}"
    if OUTLOOK in ends:
        try:
            opened[OUTLOOK] = open_mailbox(user, route)
        except ConnectorError as exc:
            missing[OUTLOOK] = f"No Exchange connection to ask for the mailbox. {describe_error(exc)}"
    return opened, missing


def _failed(read: SideCount, exc: Exception, deadline, end: str) -> None:
    timed_out = deadline.expired or (isinstance(exc, TransientError) and exc.code == "TIMEOUT")
    if timed_out:
        read.error = (
            f"{end} did not answer within {deadline.seconds:g} seconds, so this was not counted. Try again "
            "later; the sync itself is not limited to that time."
        )
    else:
        read.error = describe_error(exc)


def _count_salesforce(read: SideCount, client: SalesforceClient, user: SyncUser, setting, data_set) -> None:
    with interactive(INTERACTIVE_SECONDS) as deadline:
        try:
            where = soql.compile_where(data_set, user.salesforce_id, data_setting=setting)
        except soql.DataSetError as exc:
            read.error = f"The data set cannot be compiled: {exc}"
            return
        query = f"SELECT COUNT() FROM {soql.SOBJECTS[setting.object]}"  # noqa: S608 - allow-listed object names
        if where:
            query += f" WHERE {where}"
        try:
            total = int(client.call(query, lambda api: api.query(query)["totalSize"]))
        except ConnectorError as exc:
            _failed(read, exc, deadline, "Salesforce")
            return
        except (KeyError, TypeError, ValueError):
            read.error = "Salesforce's answer had no record count; try again, and report it if it persists."
            return
    limit = data_set.record_limit
    read.matching = total
    read.limited = limit is not None and total > limit
    read.count = min(total, limit) if read.limited else total


def _count_outlook(read: SideCount, mailbox, user: SyncUser, setting, data_set, now, route) -> None:
    """The items a full read of the mailbox side keeps in scope (the same read a first sync makes, minus the
    folder's creation)."""
    with interactive(INTERACTIVE_SECONDS) as deadline:
        try:
            options = object_options(setting, data_set, user, now, route)
            side = mailbox.side(setting.object, options, create_folder=False)
            read.count = len(side.changes(None).records)
        except NeedsAttention as exc:
            if exc.code != "contacts_folder_missing":
                read.error = describe_error(exc)
                return
            read.count = 0
            read.note = (
                f"The folder {setting.folder or 'Salesforce_Sync'!r} is not in the mailbox: a first sync or "
                "a reset creates it empty; any other sync stops until it is recreated."
            )
        except ConnectorError as exc:
            _failed(read, exc, deadline, "Exchange")

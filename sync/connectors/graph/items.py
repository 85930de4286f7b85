"""What the Graph side's reads and writes share about items: the Salesforce-id stamp (an extended property, or a
To Do linked resource), how events are asked for, batch URLs, and the guard that keeps internal answers inside."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode

from sync.connectors.base import PermanentError, TransientError
from sync.connectors.exchange import SALESFORCE_ID_PROPERTY_NAME, SALESFORCE_ID_PROPERTY_SET, folder_missing
from sync.connectors.graph.errors import NotFound, SyncStateGone
from sync.engine.records import SyncObject
from sync.mappings import graph as mapping

if TYPE_CHECKING:
    from sync.connectors.graph.side import GraphSide

T = TypeVar("T")

# The same named MAPI property as the EWS connector writes (sync.connectors.exchange), in Graph's id syntax.
SALESFORCE_ID_PROPERTY = f"String {{{SALESFORCE_ID_PROPERTY_SET}}} Name {SALESFORCE_ID_PROPERTY_NAME}"
# To Do tasks have no extended properties: the Salesforce id is the externalId of a linkedResource of ours.
LINKED_APPLICATION = "Salesforce Sync"


def guarded(method: Callable[..., T]) -> Callable[..., T]:
    """Only the connector's exceptions leave a public method: a 404 of what we addressed (the contact folder
    vanished mid-run, an item id no longer valid) or a 410 outside a delta round are classified here."""

    @functools.wraps(method)
    def wrapper(self: GraphSide, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except NotFound as e:
            if self.object_type is SyncObject.CONTACTS:
                raise folder_missing(self.options.contacts_folder) from None
            raise PermanentError(e.code or "ResourceNotFound", str(e)) from None
        except SyncStateGone as e:
            raise TransientError("SyncStateNotFound", str(e)) from None

    return wrapper


UTC_PREFER = 'outlook.timezone="UTC"'
# Event reads other than delta: times in UTC, bodies as text (Exchange Online stores most bodies as HTML).
READ_PREFER = f'{UTC_PREFER}, outlook.body-content-type="text"'


def is_organized_meeting(item: Mapping[str, Any]) -> bool:
    return bool(item.get("isOrganizer")) and bool(mapping.event_attendees(item))


def query(params: Mapping[str, str]) -> str:
    """A query string for a URL inside a $batch (percent-encoded like any URL; `$` kept for readability)."""
    return "?" + urlencode(params, quote_via=quote, safe="$,")


def linked_resource(salesforce_id: str) -> dict[str, str]:
    return {"applicationName": LINKED_APPLICATION, "externalId": salesforce_id,
            "displayName": f"Salesforce {salesforce_id}"}


def strip_nulls_for_create(body: dict[str, Any]) -> dict[str, Any]:
    # On create, null means nothing: leave it out (some properties refuse an explicit null on POST).
    return {k: v for k, v in body.items() if v is not None}

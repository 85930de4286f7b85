"""The Microsoft Graph connector (Exchange Online): the only package of the product that talks to Graph or msal.

`GraphMailbox(settings, mailbox)` reaches one mailbox with an app-only token (msal client credentials, secret or
certificate); `mailbox.side(object_type, options)` is the engine's `SideConnector` for contacts (the
`Salesforce_Sync` contact folder), events (the primary calendar's calendarView over the data set's window) or
tasks (Microsoft To Do's default list). Same public surface and semantics as `sync.connectors.ews`, so the
orchestration uses either; what both share is in `sync.connectors.exchange`. Field conversions live in
`sync.mappings.graph`; errors are classified in `errors`, once. See docs/connector-graph.md.
"""

from sync.connectors.graph.errors import classify
from sync.connectors.graph.items import LINKED_APPLICATION, SALESFORCE_ID_PROPERTY
from sync.connectors.graph.mailbox import GraphMailbox
from sync.connectors.graph.side import GraphSide
from sync.connectors.graph.transport import BATCH_SIZE, forget_token_caches

__all__ = [
    "BATCH_SIZE",
    "LINKED_APPLICATION",
    "SALESFORCE_ID_PROPERTY",
    "GraphMailbox",
    "GraphSide",
    "classify",
    "forget_token_caches",
]

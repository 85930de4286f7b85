"""The Exchange Web Services connector: the only package of the product that imports exchangelib.

`EwsMailbox(settings, email)` reaches one mailbox through the service account (impersonation, fixed endpoint,
explicit auth type and version: no autodiscover, no version probe); `mailbox.side(object_type, options)` is the
engine's `SideConnector` for contacts (the `Salesforce_Sync` subfolder of the contacts folder), events (the primary
calendar) or tasks (the default tasks folder). Field conversions live in `sync.mappings.exchange`; the error
classification of DESIGN.md §6 happens in `errors`, once; what EWS shares with the Graph connector is in
`sync.connectors.exchange`. See docs/connector-ews.md.
"""

from sync.connectors.ews.errors import classify
from sync.connectors.ews.mailbox import EwsMailbox
from sync.connectors.ews.properties import (
    SALESFORCE_ID_FIELD,
    SalesforceIdProperty,
    deregister_salesforce_id,
    register_salesforce_id,
)
from sync.connectors.ews.side import EwsSide
from sync.connectors.ews.transport import AUTH_TYPES, VERSIONS, build_configuration

__all__ = [
    "AUTH_TYPES",
    "SALESFORCE_ID_FIELD",
    "VERSIONS",
    "EwsMailbox",
    "EwsSide",
    "SalesforceIdProperty",
    "build_configuration",
    "classify",
    "deregister_salesforce_id",
    "register_salesforce_id",
]

"""The Salesforce connector: the only package that imports simple-salesforce or sends HTTP to Salesforce.

- `auth`: the OAuth 2.0 JWT bearer flow per synced user (``sub`` = the user, so Salesforce's own permissions and
  sharing apply to every read and write), tokens cached process-wide and renewed once when Salesforce answers
  ``INVALID_SESSION_ID``.
- `transport`: the counting HTTP session and what Salesforce reports in its headers (API usage, its clock).
- `errors`: every failure classified once, as one of the exceptions of ``sync.connectors.base`` (or, inside a
  batch, as a `WriteError`).
- `client`: `SalesforceClient` (one per user and run): the per-object sides, object permissions, the users list
  for ``import_users``, the org's API usage and the calls this client made.
- `side`, `series`, `soql`: `SalesforceSide`, the engine's `SideConnector` per object: full and incremental reads
  over the data set (SOQL), recurring series, lookups, and batched writes through sObject Collections with
  per-record errors.

See docs/connector-salesforce.md.
"""

from sync.connectors.salesforce.auth import (
    JWT_LIFETIME_SECONDS,
    TOKENS,
    TokenCache,
    build_assertion,
    jwt_audience,
    request_token,
)
from sync.connectors.salesforce.client import ObjectPermissions, SalesforceClient, SalesforceUser
from sync.connectors.salesforce.side import SalesforceSide

__all__ = [
    "JWT_LIFETIME_SECONDS",
    "TOKENS",
    "ObjectPermissions",
    "SalesforceClient",
    "SalesforceSide",
    "SalesforceUser",
    "TokenCache",
    "build_assertion",
    "jwt_audience",
    "request_token",
]

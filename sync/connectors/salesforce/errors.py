"""Salesforce's failures in our words, classified once: what is worth retrying (`TransientError`), what a person
must fix (`NeedsAttention`) and what is recorded and passed over (`PermanentError`), for whole calls, for the token
endpoint and for the network; the per-record codes of sObject Collections are sorted here too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceError

from sync.connectors.base import NeedsAttention, PermanentError, TransientError

REQUEST_LIMIT_RETRY_AFTER = 3600.0  # the daily allocation is a rolling 24 h window: look again in an hour

# Per-record status codes worth retrying; any other per-record code is permanent.
TRANSIENT_RECORD_CODES = frozenset({
    "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG", "UNKNOWN_EXCEPTION",
    "ALL_OR_NONE_OPERATION_ROLLED_BACK", "QUERY_TIMEOUT",
})
ACCESS_CODES = frozenset({"INSUFFICIENT_ACCESS_OR_READONLY", "INSUFFICIENT_ACCESS"})
GONE_CODES = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND", "INVALID_CROSS_REFERENCE_KEY"})
# Whole-call error codes worth retrying (besides any 5xx).
TRANSIENT_CALL_CODES = frozenset({
    "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION", "REQUEST_RUNNING_TOO_LONG", "QUERY_TIMEOUT", "UNABLE_TO_LOCK_ROW",
    "INVALID_QUERY_LOCATOR",
})
# Whole-call error codes a person must fix (permissions, org features).
ATTENTION_CALL_CODES = frozenset({
    "INVALID_TYPE", "INSUFFICIENT_ACCESS", "INSUFFICIENT_ACCESS_OR_READONLY", "API_DISABLED_FOR_ORG",
    "API_CURRENTLY_DISABLED", "FUNCTIONALITY_NOT_ENABLED", "INVALID_FIELD",
})


def network_error(exc: requests.RequestException, where: str) -> TransientError | NeedsAttention:
    """A request that got no answer: a TLS failure needs a person, a timeout or a refused connection passes."""
    if isinstance(exc, requests.exceptions.SSLError):
        return NeedsAttention("TLS_ERROR", f"the TLS connection to {where} failed: {exc}",
                              action="Check the Salesforce connection's CA bundle (TLS trust) and login URL.")
    if isinstance(exc, requests.Timeout):
        return TransientError("TIMEOUT", f"Salesforce did not answer in time ({where})")
    return TransientError("CONNECTION_ERROR", f"cannot reach Salesforce at {where}: {exc}")


def first_error(content: Any) -> tuple[str, str]:
    """(code, message) of the first error in an error body (REST list, OAuth object, or text)."""
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        return str(content[0].get("errorCode") or ""), str(content[0].get("message") or "")
    if isinstance(content, Mapping):
        return str(content.get("errorCode") or content.get("error") or ""), str(
            content.get("message") or content.get("error_description") or "")
    return "", str(content or "")[:300]


def classify_call_error(exc: SalesforceError, username: str, what: str) -> TransientError | PermanentError | \
        NeedsAttention:
    """One whole-request failure as transient, permanent or needing a person (`what`: e.g. "Contact")."""
    code, message = first_error(exc.content)
    status = int(exc.status or 0)
    if code == "REQUEST_LIMIT_EXCEEDED":
        return TransientError(code, f"the org's daily API request limit is used up: {message}",
                              retry_after=REQUEST_LIMIT_RETRY_AFTER)
    if status == 429:
        return TransientError(code or "TOO_MANY_REQUESTS", message or "throttled", retry_after=60.0)
    if status >= 500 or code in TRANSIENT_CALL_CODES:
        return TransientError(code or f"HTTP_{status}", message or f"Salesforce answered {status}")
    if code in ATTENTION_CALL_CODES:
        if code == "INVALID_FIELD":
            action = (f"Give {username}'s profile read access (field-level security) to the {what} fields the "
                      "sync uses, or check the data set's filters.")
        elif code == "INVALID_TYPE" or code.startswith("INSUFFICIENT_ACCESS"):
            action = f"Give {username}'s profile (or a permission set) the Read permission on {what} records."
        else:
            action = "Enable API access for the org and for the user's profile ('API Enabled')."
        return NeedsAttention(code, f"{what}: {message}", action=action)
    return PermanentError(code or f"HTTP_{status}", message or f"Salesforce answered {status}")


def oauth_error(error: str, description: str, username: str) -> NeedsAttention:
    """The token endpoint's refusal, with what a person should change in the connected app or the connection."""
    text = description.lower()
    if error in ("invalid_client_id", "invalid_client"):
        action = "Check the connected app's consumer key in the Salesforce connection."
    elif "approve" in text or "not pre-authorized" in text or "not authorized" in text:
        action = (f"Pre-authorise {username} for the connected app: in its policies choose 'Admin approved users "
                  "are pre-authorized' and add the user's profile or a permission set to the app.")
    elif "audience" in text:
        action = ("Set the connection's login URL to https://login.salesforce.com (production), "
                  "https://test.salesforce.com (sandbox) or the org's own login URL.")
    elif "assertion" in text or "signature" in text:
        action = ("Upload the certificate that matches the private key to the connected app ('Use digital "
                  "signatures'), or paste the matching private key into the Salesforce connection.")
    elif "expired" in text:
        action = "Check this server's clock: the signed token request is valid for three minutes only."
    elif "inactive" in text or "user" in text:
        action = f"Check that {username} exists and is active in Salesforce, or stop syncing this user."
    else:
        action = "Check the Salesforce connection (login URL, consumer key, certificate) and the user's access."
    return NeedsAttention(error, f"Salesforce refused a token for {username}: {description}", action=action)


def missing_permission(username: str, sobject: str, *permissions: str) -> NeedsAttention:
    """The NeedsAttention for object permissions the user lacks (read, create, edit, delete)."""
    verbs = " or ".join(permissions)
    names = ", ".join(f"'{p.capitalize()}'" for p in permissions)
    action = f"Give {username}'s profile (or a permission set) the {names} permission on {sobject} records"
    if "read" in permissions:
        action += ", or stop syncing this object for the user."
    else:
        action += ", or change the data setting's direction so that nothing is written to Salesforce."
    return NeedsAttention("MISSING_PERMISSION", f"{username} may not {verbs} {sobject} records in Salesforce",
                          action=action)

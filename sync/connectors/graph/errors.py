"""Graph error answers in the connector's terms (DESIGN.md §6), once: `classify` for a whole request, `item_error`
for one request of a $batch, and the two answers the connector handles itself (a gone delta token, a 404 of the
thing addressed)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import requests

from sync.connectors.base import ConnectorError, NeedsAttention, PermanentError, TransientError
from sync.engine.apply import WriteError

log = logging.getLogger(__name__)

_MAILBOX_CODES = frozenset(
    {
        "ErrorInvalidUser",
        "MailboxNotEnabledForRESTAPI",
        "MailboxNotHostedInExchangeOnline",
        "ErrorNonExistentMailbox",
        "ErrorMailboxNotFound",
        "UserNotFound",
    }
)
_PERMISSION_ACTION = (
    "Grant the app registration the application permissions Contacts.ReadWrite, "
    "Calendars.ReadWrite and Tasks.ReadWrite.All with admin consent, and check that no "
    "application access policy excludes this mailbox."
)
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504, 509})
GONE_CODES = frozenset({"syncstatenotfound", "syncstateinvalid", "resyncrequired"})


def error_of(body: Any) -> tuple[str, str]:
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return str(error.get("code") or ""), str(error.get("message") or "")
        if isinstance(error, str):
            return error, str(body.get("error_description") or "")
    return "", str(body)[:300] if body else ""


def unreachable(error: Exception, what: str = "Microsoft Graph") -> ConnectorError:
    """A request that got no HTTP answer: TLS refused, no connection, no answer in time. Our sentence; the
    library's text goes to the log."""
    log.warning("%s unreachable: %s: %s", what, type(error).__name__, error)
    if isinstance(error, requests.exceptions.SSLError):
        return NeedsAttention(
            "tls_error",
            f"The TLS connection to {what} failed: its certificate is not trusted by "
            "the Graph connection, or is not for this host name (code tls_error).",
            "Check the Graph and authority URLs and the trusted CA certificate on the Connections page.",
            own_words=True,
        )
    if isinstance(error, requests.exceptions.Timeout):
        return TransientError(
            "timeout", f"{what} did not answer in time (code timeout). The sync tries again by itself.", own_words=True
        )
    return TransientError(
        "connection_error",
        f"{what} could not be reached (code connection_error). The sync tries "
        "again by itself; check that this server can reach it (proxy, firewall, DNS).",
        own_words=True,
    )


def retry_after(headers: Mapping[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def http_words(status: int) -> str:
    """ "HTTP 503 (service unavailable)": a status as support staff read it."""
    try:
        return f"HTTP {status} ({HTTPStatus(status).phrase.lower()})"
    except ValueError:
        return f"HTTP {status}"


def _codes(status: int, code: str) -> str:
    """Graph's own codes beside our sentence: "HTTP 403, code ErrorAccessDenied"."""
    return f"HTTP {status}, code {code}" if code else f"HTTP {status}"


def mailbox_error(status: int, code: str, message: str) -> NeedsAttention | None:
    """An error about the mailbox or the app's rights rather than one item: stop and tell a person. Our sentence
    with Graph's codes; Graph's own text goes to the log."""
    if status == 401:
        found = NeedsAttention(
            "unauthorized",
            f"Microsoft Graph refused the app's token ({_codes(status, code)}).",
            "Check the app registration (client id, secret or certificate) and its admin consent.",
            own_words=True,
        )
    elif status == 403:
        found = NeedsAttention(
            "access_denied",
            f"Microsoft Graph refused the app access to this mailbox ({_codes(status, code)}).",
            _PERMISSION_ACTION,
            own_words=True,
        )
    elif status == 404 and (code in _MAILBOX_CODES or (code == "ResourceNotFound" and "user" in message.lower())):
        found = NeedsAttention(
            "mailbox_not_found",
            f"Exchange Online has no mailbox for the user's e-mail address ({_codes(status, code)}).",
            "Check the user's e-mail address and that the mailbox is in Exchange Online.",
            own_words=True,
        )
    else:
        return None
    log.warning("Graph answered %s %s: %s", status, code, message)
    return found


def throttled(status: int, code: str, wait: float | None) -> TransientError:
    """Graph still throttling (429) or unavailable (503) after the waits allowed in-process: its Retry-After
    becomes the object's next due time."""
    pause = f" and asked for a pause of {wait:g} seconds" if wait else ""
    what = "is throttling the app" if status == 429 else f"answered {http_words(status)}"
    return TransientError(
        code or f"http_{status}",
        f"Microsoft Graph {what}{pause} ({_codes(status, code)}). The sync waits and tries again "
        "by itself; if it happens often, fewer mailboxes per app registration or a longer sync "
        "interval help.",
        retry_after=wait,
        own_words=True,
    )


def classify(status: int, body: Any, headers: Mapping[str, str] | None = None) -> ConnectorError:
    """The connector exception for a Graph error answer (DESIGN.md §6): our sentence (what failed, on which end,
    what to do) with the HTTP status and Graph's code beside it; Graph's message goes to the log."""
    code, message = error_of(body)
    attention = mailbox_error(status, code, message)
    if attention is not None:
        return attention
    log.warning("Graph answered %s %s: %s", status, code, message)
    if status == 429:
        return throttled(status, code, retry_after(headers or {}))
    if status in TRANSIENT_STATUS:
        return TransientError(
            code or f"http_{status}",
            f"Microsoft Graph answered {http_words(status)} ({_codes(status, code)}). The sync "
            "tries again by itself; if it goes on, check Microsoft 365's service health.",
            retry_after=retry_after(headers or {}),
            own_words=True,
        )
    return PermanentError(
        code or f"http_{status}",
        f"Microsoft Graph refused the sync's request with {http_words(status)} "
        f"({_codes(status, code)}). Microsoft Graph's reference explains the code; the sync tries "
        "again later.",
        own_words=True,
    )


class SyncStateGone(Exception):
    """410 Gone / SyncStateNotFound: the delta token is no longer known; read in full."""


class NotFound(Exception):
    """A 404 for the thing addressed (an item or folder), not the mailbox."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


def item_error(status: int, body: Any, headers: Mapping[str, str]) -> WriteError:
    """One request of a $batch that failed, in our words with Graph's codes (its message goes to the log)."""
    code, message = error_of(body)
    log.info("Graph refused an item: %s %s: %s", status, code, message)
    if status in (409, 412):
        return WriteError(
            code or "ErrorIrresolvableConflict",
            "The item was changed in Outlook meanwhile; it is read again at the next sync.",
            True,
        )
    if status in TRANSIENT_STATUS:
        return WriteError(
            code or f"http_{status}",
            f"Microsoft Graph could not save the item for now "
            f"({_codes(status, code)}); it is tried again at the next sync.",
            True,
        )
    return WriteError(
        code or f"http_{status}",
        f"Microsoft Graph refused the item ({_codes(status, code)}): "
        "correct the record (Microsoft Graph's reference explains the code); the other items were "
        "synced.",
        False,
    )


# 400 answers that mean "there is no such item": a malformed id, an occurrence deleted from its series.
GONE_OCCURRENCE = frozenset(
    {"ErrorCalendarOccurrenceIsDeletedFromRecurrence", "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange"}
)
NO_SUCH_ITEM = frozenset({"ErrorInvalidIdMalformed", "ErrorInvalidId", *GONE_OCCURRENCE})

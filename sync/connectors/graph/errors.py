"""Graph error answers in the connector's terms (DESIGN.md §6), once: `classify` for a whole request, `item_error`
for one request of a $batch, and the two answers the connector handles itself (a gone delta token, a 404 of the
thing addressed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync.connectors.base import ConnectorError, NeedsAttention, PermanentError, TransientError
from sync.engine.apply import WriteError

_MAILBOX_CODES = frozenset({"ErrorInvalidUser", "MailboxNotEnabledForRESTAPI", "MailboxNotHostedInExchangeOnline",
                            "ErrorNonExistentMailbox", "ErrorMailboxNotFound", "UserNotFound"})
_PERMISSION_ACTION = ("grant the app registration the application permissions Contacts.ReadWrite, "
                      "Calendars.ReadWrite and Tasks.ReadWrite.All with admin consent, and check that no "
                      "application access policy excludes this mailbox")
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


def retry_after(headers: Mapping[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def mailbox_error(status: int, code: str, message: str) -> NeedsAttention | None:
    """An error about the mailbox or the app's rights rather than one item: stop and tell a person."""
    if status == 401:
        return NeedsAttention("unauthorized", f"{code}: {message}".strip(": "),
                              "check the app registration (client id, secret or certificate) and its admin consent")
    if status == 403:
        return NeedsAttention("access_denied", f"{code}: {message}".strip(": "), _PERMISSION_ACTION)
    if status == 404 and (code in _MAILBOX_CODES or (code == "ResourceNotFound" and "user" in message.lower())):
        return NeedsAttention("mailbox_not_found", f"{code}: {message}",
                              "check the user's e-mail address and that the mailbox is in Exchange Online")
    return None


def classify(status: int, body: Any, headers: Mapping[str, str] | None = None) -> ConnectorError:
    """The connector exception for a Graph error answer (DESIGN.md §6)."""
    code, message = error_of(body)
    attention = mailbox_error(status, code, message)
    if attention is not None:
        return attention
    if status in TRANSIENT_STATUS:
        return TransientError(code or f"http_{status}", message, retry_after=retry_after(headers or {}))
    return PermanentError(code or f"http_{status}", message)


class SyncStateGone(Exception):
    """410 Gone / SyncStateNotFound: the delta token is no longer known; read in full."""


class NotFound(Exception):
    """A 404 for the thing addressed (an item or folder), not the mailbox."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


def item_error(status: int, body: Any, headers: Mapping[str, str]) -> WriteError:
    code, message = error_of(body)
    if status in (409, 412):
        return WriteError(code or "ErrorIrresolvableConflict",
                          "changed in Outlook meanwhile; it is read again next run", True)
    return WriteError(code or f"http_{status}", message, status in TRANSIENT_STATUS)

# 400 answers that mean "there is no such item": a malformed id, an occurrence deleted from its series.
GONE_OCCURRENCE = frozenset({"ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                              "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange"})
NO_SUCH_ITEM = frozenset({"ErrorInvalidIdMalformed", "ErrorInvalidId", *GONE_OCCURRENCE})

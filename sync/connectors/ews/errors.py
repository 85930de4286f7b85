"""EWS errors in the connector's terms (DESIGN.md §6), once: `classify` for whole calls, `item_error` for one item
of a batch, and the exchangelib services that hand back per-item errors instead of raising them."""

from __future__ import annotations

import logging
import socket
from http import HTTPStatus

import requests
from exchangelib.errors import (
    CASError,
    ErrorAccessDenied,
    ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange,
    ErrorCalendarOccurrenceIsDeletedFromRecurrence,
    ErrorImpersonateUserDenied,
    ErrorImpersonationFailed,
    ErrorInternalServerError,
    ErrorInternalServerTransientError,
    ErrorIrresolvableConflict,
    ErrorItemNotFound,
    ErrorMailboxMoveInProgress,
    ErrorMailboxStoreUnavailable,
    ErrorNonExistentMailbox,
    ErrorServerBusy,
    ErrorTimeoutExpired,
    EWSError,
    MalformedResponseError,
    RateLimitError,
    RedirectError,
    ResponseMessageError,
    UnauthorizedError,
)
from exchangelib.fields import FieldPath
from exchangelib.services import CreateItem, DeleteItem, GetItem, UpdateItem

from sync.connectors.base import ConnectorError, NeedsAttention, PermanentError, TransientError
from sync.engine.apply import WriteError
from sync.mappings import exchange as mapping

log = logging.getLogger(__name__)

GET_BATCH = 100  # items per GetItem
WRITE_BATCH = 100  # items per CreateItem / UpdateItem / DeleteItem
# Per-item answers that mean the item (or the occurrence) is not there: left out of reads, deleted for deletes.
MISSING = (
    ErrorItemNotFound,
    ErrorCalendarOccurrenceIsDeletedFromRecurrence,
    ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange,
)

# What a person does about each needs-attention answer, with the code we report it under.
_ATTENTION: dict[type[Exception], tuple[str, str, str]] = {
    ErrorImpersonateUserDenied: (
        "impersonation_denied",
        "Exchange refused to let the service account act for this mailbox",
        "Grant the service account the ApplicationImpersonation role for it.",
    ),
    ErrorImpersonationFailed: (
        "impersonation_denied",
        "Exchange refused to let the service account act for this mailbox",
        "Grant the service account the ApplicationImpersonation role for it.",
    ),
    ErrorNonExistentMailbox: (
        "mailbox_not_found",
        "Exchange has no mailbox for the user's e-mail address",
        "Check the user's e-mail address, or create the mailbox.",
    ),
    ErrorAccessDenied: (
        "access_denied",
        "Exchange refused the service account access to this mailbox",
        "Check the service account's rights on the mailbox.",
    ),
    UnauthorizedError: (
        "unauthorized",
        "Exchange refused the service account's user name or password",
        "Check the service account's user name and password on the Connections page, and its "
        "authentication (basic or NTLM).",
    ),
}
# EWS answers that say the server itself has a passing problem: tried again later, with back-off.
_TRANSIENT = (
    ErrorTimeoutExpired,
    ErrorInternalServerTransientError,
    ErrorInternalServerError,
    ErrorMailboxStoreUnavailable,
    ErrorMailboxMoveInProgress,
)
_TIMEOUTS = (requests.exceptions.Timeout, socket.timeout, TimeoutError)
_CONNECTION_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError, ConnectionError)


def _code(error: BaseException) -> str:
    return type(error).__name__


def _chain(error: BaseException) -> list[BaseException]:
    """The error and what it was raised from or while handling, nearest first (exchangelib re-raises HTTP failures,
    TLS and connection errors as its own classes, and a given-up back-off inside the handler of its cause)."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(seen) < 12 and not any(current is s for s in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _http_status(chain: list[BaseException]) -> int | None:
    for error in chain:
        status = getattr(error, "http_status", None)  # tagged by transport._RetryPolicy
        if isinstance(error, CASError):
            status = status or getattr(error.response, "status_code", None)
        if isinstance(status, int) and status != 200:
            return status
    return None


def _http_words(status: int) -> str:
    try:
        return f"HTTP {status} ({HTTPStatus(status).phrase.lower()})"
    except ValueError:
        return f"HTTP {status}"


def _said(
    kind: type[ConnectorError], code: str, sentence: str, *, action: str = "", retry_after: float | None = None
) -> ConnectorError:
    """A connector error whose message is our sentence (what failed, on which end, with the end's code)."""
    if kind is NeedsAttention:
        return NeedsAttention(code, sentence, action, own_words=True)
    text = f"{sentence} {action}".strip()
    if kind is TransientError:
        return TransientError(code, text, retry_after=retry_after, own_words=True)
    return PermanentError(code, text, own_words=True)


def classify(error: BaseException) -> ConnectorError:
    """The connector exception for an exchangelib / requests error (DESIGN.md §6), in our words.

    The real cause decides, not the back-off that followed it: an HTTP status from the web server, a TLS or
    connection failure, Exchange throttling the service account (ErrorServerBusy, with its BackOffMilliseconds),
    an EWS answer (a SOAP fault or response code). The library's text goes to the log."""
    classified = _classify(error)
    log.warning("EWS call failed, reported as %s: %s: %s", classified.code, _code(error), error)
    return classified


def _classify(error: BaseException) -> ConnectorError:
    chain = _chain(error)
    if any(isinstance(e, requests.exceptions.SSLError) or _is_openssl(e) for e in chain):
        return _said(
            NeedsAttention,
            "tls_error",
            "The TLS connection to Exchange failed: its certificate is not trusted by the EWS connection, "
            "or is not for this host name (code tls_error).",
            action="Check the EWS URL and the trusted CA certificate on the Connections page.",
        )
    for cls, (code, sentence, action) in _ATTENTION.items():
        if isinstance(error, cls):
            return _said(NeedsAttention, code, f"{sentence} (code {_code(error)}).", action=action)
    status = _http_status(chain)
    if status is not None:
        return _http_failure(status)
    if any(isinstance(e, _TIMEOUTS) for e in chain):
        return _said(
            TransientError,
            "timeout",
            "Exchange did not answer in time (code timeout).",
            action="The sync tries again by itself; if it goes on, check that the Exchange server is up "
            "and not overloaded.",
        )
    if any(isinstance(e, _CONNECTION_ERRORS) for e in chain):
        return _said(
            TransientError,
            "connection_error",
            "Exchange could not be reached: the connection to the EWS URL failed (code connection_error).",
            action="The sync tries again by itself; check that the EWS URL is right and that this server can reach it.",
        )
    busy = next((e for e in chain if isinstance(e, ErrorServerBusy)), None)
    if isinstance(error, RateLimitError) or busy is not None:
        wait = getattr(busy, "back_off", None) or (error.wait if isinstance(error, RateLimitError) else None)
        pause = f" and asked for a pause of {wait:g} seconds" if wait else ""
        return _said(
            TransientError,
            "ErrorServerBusy",
            f"Exchange is throttling the service account{pause} (code ErrorServerBusy).",
            action="The sync waits and tries again by itself; if it happens often, ask the Exchange "
            "administrators to relax the service account's throttling policy.",
            retry_after=float(wait) if wait else None,
        )
    if isinstance(error, _TRANSIENT):
        return _said(
            TransientError,
            _code(error),
            f"Exchange reported a passing problem of its own (code {_code(error)}).",
            action="The sync tries again by itself; if it goes on, ask the Exchange administrators.",
        )
    if isinstance(error, ResponseMessageError):  # the server answered with an EWS error code
        return _said(
            PermanentError,
            _code(error),
            f"Exchange refused the sync's request (code {_code(error)}).",
            action="Look the code up in Microsoft's EWS reference or ask the Exchange administrators; "
            "the sync tries again later.",
        )
    if isinstance(error, RedirectError):
        return _said(
            NeedsAttention,
            "http_redirect",
            "Exchange answered with a redirect instead of EWS: the EWS URL is not the final one (code http_redirect).",
            action="Enter the URL it redirects to on the Connections page.",
        )
    if isinstance(error, MalformedResponseError):
        return _said(
            PermanentError,
            "malformed_response",
            "Exchange's answer was not an EWS answer (code malformed_response).",
            action="Check that the EWS URL points at Exchange's EWS endpoint.",
        )
    return _said(
        PermanentError,
        _code(error),
        f"The request to Exchange failed (code {_code(error)}).",
        action="The server's log has the details; the sync tries again later.",
    )


def _http_failure(status: int) -> ConnectorError:
    """A failure of Exchange's web server (no EWS answer), by HTTP status."""
    said = _http_words(status)
    code = f"http_{status}"
    if status in (403, 404):
        return _said(
            NeedsAttention,
            code,
            f"Exchange's web server answered {said} instead of EWS (code {code}).",
            action="Check the EWS URL on the Connections page (it ends in /EWS/Exchange.asmx) and that "
            "EWS is enabled for the service account.",
        )
    if status >= 500:
        return _said(
            TransientError,
            code,
            f"Exchange's web server answered {said} instead of an EWS answer, also when asked again (code {code}).",
            action="The sync tries again by itself; if it goes on, ask the Exchange administrators to "
            "check the EWS application on the server.",
        )
    return _said(
        PermanentError,
        code,
        f"Exchange's web server refused the request with {said} (code {code}).",
        action="Check the EWS URL and the connection's settings on the Connections page.",
    )


def _is_openssl(error: BaseException) -> bool:
    return type(error).__module__.startswith("OpenSSL")


PASSTHROUGH = (TransientError, NeedsAttention, PermanentError)


def item_error(error: BaseException) -> WriteError:
    """A per-item failure inside a batch, in our words with Exchange's code (the library's text goes to the log)."""
    code = _code(error)
    log.info("EWS refused an item: %s: %s", code, error)
    if isinstance(error, ErrorIrresolvableConflict):
        return WriteError(code, "The item was changed in Outlook meanwhile; it is read again at the next sync.", True)
    if isinstance(error, MISSING):
        return WriteError(code, f"The item is no longer in Outlook (code {code}).", False)
    if isinstance(classify_quietly(error), TransientError):
        return WriteError(
            code, f"Exchange could not save the item for now (code {code}); it is tried again at the next sync.", True
        )
    return WriteError(
        code,
        f"Exchange refused the item (code {code}): correct the record (Microsoft's EWS reference "
        "explains the code); the other items were synced.",
        False,
    )


def classify_quietly(error: BaseException) -> ConnectorError:
    """`classify` without the log line (for per-item errors, logged once by `item_error`)."""
    return _classify(error)


# ---- services that return per-item errors instead of raising them --------------------------------------------------


class _PerItem:
    # Every per-message error comes back as an exception instance in the result list, in request order, so one bad
    # item never hides the others' results (exchangelib raises most codes, losing the rest of the batch).
    ERRORS_TO_CATCH_IN_RESPONSE = (EWSError,)


class _GetItem(_PerItem, GetItem):
    pass


class _CreateItem(_PerItem, CreateItem):
    pass


class _DeleteItem(_PerItem, DeleteItem):
    pass


_OUR_LABELS: dict[str, tuple[str, ...]] = {
    "email_addresses": ("EmailAddress1",),
    "phone_numbers": tuple(mapping.PHONE_LABELS.values()),
    "physical_addresses": ("Business",),
}


class _UpdateItem(_PerItem, UpdateItem):
    """UpdateItem that touches only the indexed entries we map (exchangelib would delete every other label)."""

    def _update_elems(self, target, fieldnames):  # type: ignore[no-untyped-def]
        plain = [name for name in fieldnames if name not in _OUR_LABELS]
        if plain:
            yield from super()._update_elems(target=target, fieldnames=plain)
        for name in (n for n in fieldnames if n in _OUR_LABELS):
            field = target.get_field_by_fieldname(name)
            values = {v.label: v for v in (getattr(target, name) or [])}
            for label in _OUR_LABELS[name]:
                entry = values.get(label)
                for subfield in field.value_cls.supported_fields(version=self.account.version):
                    path = FieldPath(field=field, label=label, subfield=subfield)
                    value = getattr(entry, subfield.name) if entry is not None else None
                    if value:
                        yield self._set_field_elem(
                            target_model=type(target),
                            field_path=path,
                            value=field.value_cls(label=label, **{subfield.name: value}),
                        )
                    else:
                        yield self._delete_field_elem(field_path=path)

"""EWS errors in the connector's terms (DESIGN.md §6), once: `classify` for whole calls, `item_error` for one item
of a batch, and the exchangelib services that hand back per-item errors instead of raising them."""

from __future__ import annotations

import requests
from exchangelib.errors import (
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
    RateLimitError,
    ResponseMessageError,
    TransportError,
    UnauthorizedError,
)
from exchangelib.fields import FieldPath
from exchangelib.services import CreateItem, DeleteItem, GetItem, UpdateItem

from sync.connectors.base import NeedsAttention, PermanentError, TransientError
from sync.engine.apply import WriteError
from sync.mappings import exchange as mapping

GET_BATCH = 100  # items per GetItem
WRITE_BATCH = 100  # items per CreateItem / UpdateItem / DeleteItem
# Per-item answers that mean the item (or the occurrence) is not there: left out of reads, deleted for deletes.
MISSING = (ErrorItemNotFound, ErrorCalendarOccurrenceIsDeletedFromRecurrence,
           ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange)

_ATTENTION: dict[type[Exception], tuple[str, str]] = {
    ErrorImpersonateUserDenied: ("impersonation_denied",
                                 "grant the service account the ApplicationImpersonation role for this mailbox"),
    ErrorImpersonationFailed: ("impersonation_denied",
                               "grant the service account the ApplicationImpersonation role for this mailbox"),
    ErrorNonExistentMailbox: ("mailbox_not_found", "check the user's e-mail address or create the mailbox"),
    ErrorAccessDenied: ("access_denied", "check the service account's rights on this mailbox"),
    UnauthorizedError: ("unauthorized", "check the Exchange service account's user name and password"),
}
_TRANSIENT = (ErrorTimeoutExpired, ErrorInternalServerTransientError, ErrorInternalServerError,
              ErrorMailboxStoreUnavailable, ErrorMailboxMoveInProgress, requests.exceptions.ConnectionError,
              requests.exceptions.Timeout)


def _code(error: BaseException) -> str:
    return type(error).__name__


def classify(error: BaseException) -> Exception:
    """The connector exception for an exchangelib / requests error (DESIGN.md §6)."""
    if isinstance(error, RateLimitError):  # FaultTolerance gave up: the server asked for a longer back-off
        return TransientError("ErrorServerBusy", str(error), retry_after=float(error.wait))
    if isinstance(error, ErrorServerBusy):
        return TransientError("ErrorServerBusy", str(error), retry_after=error.back_off)
    for cls, (code, action) in _ATTENTION.items():
        if isinstance(error, cls):
            return NeedsAttention(code, str(error), action)
    if isinstance(error, _TRANSIENT):
        return TransientError(_code(error), str(error))
    if isinstance(error, ResponseMessageError):  # the server answered with an EWS error code
        return PermanentError(_code(error), str(error))
    if isinstance(error, TransportError):
        text = str(error)
        if "CERTIFICATE" in text.upper() or "SSL" in text.upper():
            return NeedsAttention("tls_error", text, "check the EWS URL and the CA bundle the connection trusts")
        return TransientError(_code(error), text)
    if isinstance(error, EWSError):
        return PermanentError(_code(error), str(error))
    return PermanentError(_code(error), str(error))


PASSTHROUGH = (TransientError, NeedsAttention, PermanentError)


def item_error(error: BaseException) -> WriteError:
    """A per-item failure inside a batch."""
    if isinstance(error, ErrorIrresolvableConflict):
        return WriteError(_code(error), "changed in Outlook meanwhile; it is read again next run", True)
    classified = classify(error)
    return WriteError(_code(error), str(error), isinstance(classified, TransientError))


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
                        yield self._set_field_elem(target_model=type(target), field_path=path,
                                                   value=field.value_cls(label=label, **{subfield.name: value}))
                    else:
                        yield self._delete_field_elem(field_path=path)

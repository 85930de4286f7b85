"""Connector errors in our words: what failed, on which end, and what to do, with the end's own code beside it; the
end's own text (a response body, a library's message) goes to the log, never to a page (issue 15)."""

from __future__ import annotations

import logging
import re

from sync.connectors.base import ConnectorError, NeedsAttention, PermanentError, TransientError

log = logging.getLogger(__name__)


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ")")) else f"{text}."


# Needs-attention codes whose message is our own sentence wherever they are raised (no end chooses these codes for
# a needs-attention error: the one path where an end does, Salesforce's token refusal, says its text is the end's).
_OWN_MESSAGE_CODES = frozenset({"contacts_folder_missing", "task_list_missing", "missing_credential",
                                "MISSING_PERMISSION", "salesforce_permission_missing", "insecure_url",
                                "forbidden_address"})
# What the codes mean, in our words, for the errors whose message is the end's (or a library's) text.
_CODE_SENTENCES = {
    **dict.fromkeys(("tls_error", "sslerror"), "The TLS connection failed: the server's certificate is not trusted, "
                                              "or is not for this name."),
    **dict.fromkeys(("timeout", "readtimeout", "connecttimeout", "errortimeoutexpired"),
                    "The server did not answer in time."),
    **dict.fromkeys(("connection_error", "connectionerror", "login_unreachable", "transporterror"),
                    "The server could not be reached."),
    **dict.fromkeys(("invalid_grant", "invalid_client_id", "invalid_client", "unauthorized_client", "invalid_scope",
                     "invalid_request"), "The sign-in was refused."),
    **dict.fromkeys(("unauthorized", "invalid_session_id"), "The server refused the credentials."),
    **dict.fromkeys(("access_denied", "insufficient_access", "insufficient_access_or_readonly", "invalid_type"),
                    "Access was refused."),
    "impersonation_denied": "The service account may not impersonate this mailbox.",
    "mailbox_not_found": "The mailbox was not found.",
    "tenant_not_found": "The tenant's sign-in settings could not be read.",
    "invalid_private_key": "The private key cannot sign a token.",
    "invalid_certificate": "The certificate cannot be read.",
    "invalid_field": "A field the sync uses cannot be read.",
    "invalid_settings": "The connection's settings are not supported.",
    "errorserverbusy": "The server is busy.",
    "request_limit_exceeded": "The org's daily API request limit is used up.",
    **dict.fromkeys(("api_disabled_for_org", "api_currently_disabled", "functionality_not_enabled"),
                    "The API is not enabled for this org or user."),
}
_CLASS_SENTENCES = {NeedsAttention: "The request was refused.",
                    TransientError: "The server could not answer now: try again in a few minutes.",
                    PermanentError: "The request was refused."}


def _code(code: str) -> str:
    """An end's error code as shown: letters, digits and a few separators only, so it can carry no sentence."""
    return re.sub(r"[^A-Za-z0-9_.:-]", "", code)[:64]


def describe_error(exc: Exception) -> str:
    """A connector error in plain sentences of ours: what failed, then what to do. The end's own error code is kept
    (e.g. ``invalid_grant``, ``INVALID_FIELD``); the end's text (a response body, a library's message) is not shown,
    it goes to the log."""
    if not isinstance(exc, ConnectorError):
        log.warning("unexpected error in a connection check", exc_info=exc)
        return f"The check failed unexpectedly ({type(exc).__name__}): the server's log has the details."
    ours = exc.own_words or (exc.own_words is None and isinstance(exc, NeedsAttention)
                             and exc.code in _OWN_MESSAGE_CODES)
    if ours:
        text = _sentence(exc.message)
    else:
        log.info("%s %s: %s", type(exc).__name__, exc.code, exc.message)
        sentence = _CODE_SENTENCES.get(exc.code.lower()) or next(
            (words for cls, words in _CLASS_SENTENCES.items() if isinstance(exc, cls)), "The request failed.")
        code = _code(exc.code)
        text = f"{sentence[:-1]} (code {code})." if code else sentence
    if isinstance(exc, NeedsAttention) and exc.action:
        text = f"{text} {_sentence(exc.action)}"
    return text


_END_NAMES = {"salesforce": "Salesforce", "exchange": "Exchange"}


def describe_run_error(exc: ConnectorError, end: str = "") -> str:
    """The sentence a run that an end stopped records for support staff: what failed, on which end (``end``:
    "salesforce" or "exchange", when known), and what happens next or what to do, with the end's code beside it.
    An error already in our words (``own_words``) is kept as it is; the end's own text goes to the log only."""
    if exc.own_words or isinstance(exc, NeedsAttention):
        return describe_error(exc)
    log.info("%s %s from %s: %s", type(exc).__name__, exc.code, end or "an end", exc.message)
    where = _END_NAMES.get(end, "The other end")
    sentence = _CODE_SENTENCES.get(exc.code.lower())
    code = _code(exc.code)
    said = f"{where} answered: {sentence[:-1]}" if sentence else (
        f"{where} could not answer this run" if isinstance(exc, TransientError) else f"{where} refused this run")
    text = f"{said} (code {code})." if code else f"{said}."
    if isinstance(exc, TransientError):
        wait = exc.retry_after or 0
        later = f" in about {round(wait / 60)} minutes" if wait >= 90 else ""
        return (f"{text} The sync tries again by itself{later}, backing off while this lasts; nothing needs doing "
                "unless it goes on.")
    return (f"{text} The sync tries again later; if this goes on, check the {where} connection and the user's "
            "access there.")

"""Graph errors name their real cause (issue 15, item 5): our sentence with the HTTP status and Graph's own code;
Graph's message stays in the log; a long Retry-After becomes the error's retry_after, not a wait."""

import pytest

from sync.connectors.base import NeedsAttention, PermanentError, TransientError
from sync.connectors.graph import errors
from sync.engine import CreateRequest, SyncObject
from sync.error_words import describe_error

GRAPH_TEXT = "An internal server error occurred"


def assert_our_words(error, *needles: str) -> None:
    assert error.own_words is True
    for needle in needles:
        assert needle in error.message, error.message
    assert GRAPH_TEXT not in describe_error(error)


def test_a_server_error_names_the_status_and_graphs_code(mailbox, control):
    mark = mailbox.side(SyncObject.TASKS).changes(None).watermark
    control.fault(operation="todo", status=500, error_code="generalException", count=10)
    with pytest.raises(TransientError) as caught:
        mailbox.side(SyncObject.TASKS).changes(mark)
    assert caught.value.code == "generalException"
    assert_our_words(caught.value, "Microsoft Graph", "HTTP 500", "generalException", "tries again")


def test_a_long_throttling_names_the_pause(mailbox, control):
    side = mailbox.side(SyncObject.TASKS)
    side.changes(None)
    control.fault(operation="todo", status=429, error_code="TooManyRequests", retry_after=60, count=1)
    with pytest.raises(TransientError) as caught:
        side.create([CreateRequest({"subject": "c"})])
    assert caught.value.retry_after == pytest.approx(60.0)
    assert_our_words(caught.value, "throttling", "60 seconds", "HTTP 429, code TooManyRequests")


@pytest.mark.parametrize(
    ("status", "code", "kind", "words"),
    [
        (403, "ErrorAccessDenied", NeedsAttention, "refused the app access"),
        (401, "InvalidAuthenticationToken", NeedsAttention, "refused the app's token"),
        (400, "ErrorInvalidProperty", PermanentError, "HTTP 400 (bad request)"),
        (503, "ServiceUnavailable", TransientError, "HTTP 503 (service unavailable)"),
    ],
)
def test_each_status_is_a_sentence_with_its_codes(status, code, kind, words):
    error = errors.classify(status, {"error": {"code": code, "message": GRAPH_TEXT}}, {})
    assert isinstance(error, kind)
    assert_our_words(error, words, f"HTTP {status}, code {code}")


def test_a_refused_item_is_a_sentence_with_its_codes():
    failed = errors.item_error(400, {"error": {"code": "ErrorInvalidProperty", "message": GRAPH_TEXT}}, {})
    assert failed.code == "ErrorInvalidProperty" and not failed.transient
    assert "HTTP 400, code ErrorInvalidProperty" in failed.message and GRAPH_TEXT not in failed.message

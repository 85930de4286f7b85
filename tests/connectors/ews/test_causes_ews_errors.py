"""EWS errors name their real cause (issue 15, item 5): an HTTP status of the web server, Exchange's throttling with
its BackOffMilliseconds, a SOAP fault, TLS and connection failures, each a sentence of ours with the end's code;
the library's text stays in the log; in-process back-off stays within a few seconds per call."""

import dataclasses
import logging
import socket

import pytest
from exchangelib import FaultTolerance
from exchangelib import util as exchangelib_util
from exchangelib.protocol import CachingProtocol

from sync.connectors.base import NeedsAttention, PermanentError, TransientError
from sync.connectors.ews import EwsMailbox
from sync.engine import CreateRequest, SyncObject, UpdateRequest
from sync.error_words import describe_error

LIBRARY_WORDS = ("Max timeout", "gave up", "Reraised", "Caused by", "Traceback", "<html")


@pytest.fixture
def slept(monkeypatch):
    """The seconds exchangelib sleeps between retries (its back-off), recorded instead of slept."""
    waits: list[float] = []
    monkeypatch.setattr(exchangelib_util.time, "sleep", waits.append)
    yield waits
    # A back-off belongs to the service account's protocol, shared by every test: with sleeping faked, it would
    # still be pending for the next test.
    for protocol, _ in list(CachingProtocol._protocol_cache.values()):
        if isinstance(getattr(protocol, "retry_policy", None), FaultTolerance):
            protocol.retry_policy.back_off_until = None


@pytest.fixture
def production_mailbox(settings, email):
    """The connector with the product's own retry allowance (the fixture's settings shorten it)."""
    defaults = type(settings)(ews_url="", username="", password="")
    return EwsMailbox(dataclasses.replace(settings, max_wait_seconds=defaults.max_wait_seconds), email)


def assert_our_words(error, *needles: str) -> None:
    assert error.own_words is True
    for needle in needles:
        assert needle in error.message, error.message
    for word in LIBRARY_WORDS:
        assert word not in error.message and word not in describe_error(error), error.message


def test_an_http_500_page_is_named_as_such_not_as_throttling(production_mailbox, control, slept):
    control.fault(operation="SyncFolderItems", status=500, count=10)  # IIS's error page, every time
    with pytest.raises(TransientError) as caught:
        production_mailbox.side(SyncObject.TASKS).changes(None)
    error = caught.value
    assert error.code == "http_500" and error.retry_after is None
    assert_our_words(error, "HTTP 500", "Exchange", "tries again")
    assert 0 < sum(slept) <= 5  # retried a little in-process, never ~10 s per attempt


def test_one_http_500_is_retried_within_the_call(production_mailbox, control, slept):
    control.fault(operation="SyncFolderItems", status=500, count=1)
    production_mailbox.side(SyncObject.TASKS).changes(None)
    assert sum(slept) <= 2


def test_a_long_server_back_off_is_not_waited_in_process(production_mailbox, control, slept):
    control.fault(operation="SyncFolderItems", status=500, error_code="ErrorServerBusy", back_off_ms=30000)
    with pytest.raises(TransientError) as caught:
        production_mailbox.side(SyncObject.TASKS).changes(None)
    error = caught.value
    assert error.code == "ErrorServerBusy" and error.retry_after == pytest.approx(30.0)
    assert_our_words(error, "throttling", "30 seconds", "(code ErrorServerBusy)")
    assert sum(slept) == 0


def test_a_short_server_back_off_is_waited_in_process(production_mailbox, control, slept):
    control.fault(operation="SyncFolderItems", status=500, error_code="ErrorServerBusy", back_off_ms=1500)
    production_mailbox.side(SyncObject.TASKS).changes(None)
    assert sum(slept) == pytest.approx(1.5, abs=0.5)


def test_a_soap_fault_names_exchanges_code(mailbox, control):
    control.fault(operation="SyncFolderItems", status=500, error_code="ErrorMailboxStoreUnavailable", count=10)
    with pytest.raises(TransientError) as caught:
        mailbox.side(SyncObject.TASKS).changes(None)
    assert caught.value.code == "ErrorMailboxStoreUnavailable"
    assert_our_words(caught.value, "Exchange", "(code ErrorMailboxStoreUnavailable)")

    control.clear_faults()
    control.fault(operation="SyncFolderItems", status=500, error_code="ErrorQuotaExceeded", count=1)
    with pytest.raises(PermanentError) as caught:
        mailbox.side(SyncObject.TASKS).changes(None)
    assert caught.value.code == "ErrorQuotaExceeded"
    assert_our_words(caught.value, "Exchange refused", "(code ErrorQuotaExceeded)")


def test_an_untrusted_certificate_is_a_tls_error(settings, email, sandbox):
    # The Salesforce emulator speaks https with the sandbox's own CA, which the system does not trust.
    https = dataclasses.replace(settings, ews_url=f"{sandbox.salesforce_url}/EWS/Exchange.asmx", verify=True)
    with pytest.raises(NeedsAttention) as caught:
        EwsMailbox(https, email).side(SyncObject.TASKS).changes(None)
    assert caught.value.code == "tls_error"
    assert_our_words(caught.value, "TLS", "certificate")
    assert "CA certificate" in caught.value.action


def test_a_closed_port_is_a_connection_error(settings, email, slept):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    closed = dataclasses.replace(settings, ews_url=f"http://127.0.0.1:{port}/EWS/Exchange.asmx")
    with pytest.raises(TransientError) as caught:
        EwsMailbox(closed, email).side(SyncObject.TASKS).changes(None)
    assert caught.value.code == "connection_error"
    assert_our_words(caught.value, "could not be reached", "EWS URL")


def test_task_writes_leave_no_library_warning_in_the_log(mailbox, plain, caplog):
    """exchangelib warned "'percent_complete' must be 100 when 'status' is 'Completed'" on every completed task the
    sync wrote (issue 15, item 12): the sync now sends the percentage that goes with the status."""
    side = mailbox.side(SyncObject.TASKS)
    side.changes(None)
    with caplog.at_level(logging.WARNING, logger="exchangelib"):
        made = side.create(
            [
                CreateRequest({"subject": "Done", "status": "Completed"}),
                CreateRequest({"subject": "Open", "status": "Not Started"}),
            ]
        )
        assert all(r.ok for r in made)
        assert side.update(
            [
                UpdateRequest(made[1].record_id, {"subject": "Open", "status": "Completed"}),
                UpdateRequest(made[0].record_id, {"subject": "Done", "status": "In Progress"}),
            ]
        )
    assert not [r for r in caplog.records if "percent_complete" in r.getMessage()]
    done = plain.tasks.get(id=made[1].record_id)
    assert (done.status, done.percent_complete) == ("Completed", 100)

"""One GetStreamingEvents connection (`sync.connectors.ews.streaming`) against the sandbox's EWS emulator: `close()`
ends it at once whenever it lands, even before the server's answer arrived; a failing stream comes back at once as
the connector's error (the reader pauses itself, and can be stopped while it does), never waiting inside exchangelib;
and open streams never hold the HTTP sessions the feed's ordinary calls (subscribing) need, so exchangelib shrinking
its pool after a throttling answer cannot wait on a stream that stays open for up to 30 minutes."""

from __future__ import annotations

import threading
import uuid

import pytest
import requests

from sync.connections import ews_settings
from sync.connectors.base import TransientError
from sync.connectors.ews.streaming import EwsStreaming
from tests.feeds.test_feed_ews_stream import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def control(connected):
    """POST to the EWS emulator's control API; every fault is cleared afterwards."""
    session = requests.Session()
    session.verify = str(connected.ca_path)

    def post(path: str, body: dict) -> dict:
        response = session.post(f"{connected.exchange_url}/_sandbox/{path}", json=body, timeout=10)
        assert response.status_code in (200, 201), response.text
        return response.json()

    # The heartbeat a real Exchange sends when nothing happens: a missed close would wait this long.
    post("ews/subscriptions/settings", {"heartbeat_seconds": 60})
    yield post
    session.delete(f"{connected.exchange_url}/_sandbox/faults", timeout=10)


@pytest.fixture
def mailbox(connected):
    email = f"conn-{uuid.uuid4().hex[:8]}@sandbox.test"
    connected.hub.exchange.create_mailbox(email=email, display_name="Stream Connection")
    return email


class Reader:
    """`batches()` of one connection read in a thread, as the feed's reader does."""

    def __init__(self, connection):
        self.connection = connection
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for _ in self.connection.batches():
                pass
        except BaseException as e:  # handed to the test
            self.error = e


def test_a_connection_closed_before_the_servers_answer_ends_at_once(control, mailbox):
    streaming = EwsStreaming(ews_settings())
    subscription_id = streaming.subscribe(mailbox, "tasks")
    # The answer's headers come 1.5 s after the request: close() lands while the request is in flight.
    control("faults", {"operation": "GetStreamingEvents", "status": 200, "latency_ms": 1500})
    connection = streaming.connect(mailbox, [subscription_id], minutes=1)
    reader = Reader(connection)
    wait_for(lambda: connection._service is not None, what="the request under way")
    connection.close()
    reader.thread.join(timeout=10)
    assert not reader.thread.is_alive(), "the stream went on after close() (until the next heartbeat, 60 s)"
    assert reader.error is None


def test_a_failing_stream_is_reported_at_once_without_retrying_inside(connected, control, mailbox):
    streaming = EwsStreaming(ews_settings())
    subscription_id = streaming.subscribe(mailbox, "tasks")
    ordinary = streaming.mailbox(mailbox).account.protocol
    pool_before = ordinary.session_pool_size
    faults = control("faults", {"operation": "GetStreamingEvents", "status": 200, "count": 3,
                                "error_code": "ErrorInternalServerTransientError"})
    assert faults["faults"][0]["remaining"] == 3
    reader = Reader(streaming.connect(mailbox, [subscription_id], minutes=1))
    reader.thread.join(timeout=15)
    assert not reader.thread.is_alive(), "the failing stream did not come back"
    assert isinstance(reader.error, TransientError), reader.error
    listing = requests.get(f"{connected.exchange_url}/_sandbox/faults", verify=str(connected.ca_path),
                           timeout=10).json()["faults"]
    assert listing[0]["remaining"] == 2, "exchangelib retried the stream itself (sleeping where close() can't reach)"
    assert ordinary.session_pool_size >= pool_before, "a stream's failure shrank the pool the ordinary calls use"


def test_open_streams_hold_no_session_of_the_ordinary_calls(control, mailbox):
    streaming = EwsStreaming(ews_settings())
    ids = [streaming.subscribe(mailbox, name) for name in ("events", "tasks")]
    ordinary = streaming.mailbox(mailbox).account.protocol
    readers = []
    try:
        for subscription_id in ids:
            streaming.open_connections += 1
            readers.append(Reader(streaming.connect(mailbox, [subscription_id], minutes=1)))
        wait_for(lambda: all(r.connection._service is not None and r.connection._service._streaming_response
                             is not None for r in readers), what="both streams open")
        assert ordinary._session_pool.qsize() == ordinary.session_pool_size, \
            "an open stream holds a session of the pool that subscribing uses"
        # An ordinary call while both streams are open, throttled once: exchangelib shrinks the pool, which takes
        # an idle session; it must not wait for a stream to end.
        control("faults", {"operation": "Subscribe", "status": 200, "count": 1, "error_code": "ErrorServerBusy",
                           "back_off_ms": 100})
        done = threading.Event()
        threading.Thread(target=lambda: (streaming.subscribe(mailbox, "events"), done.set()), daemon=True).start()
        assert done.wait(15), "subscribing waited on the open streams"
    finally:
        for reader in readers:
            reader.connection.close()
        for reader in readers:
            reader.thread.join(timeout=10)

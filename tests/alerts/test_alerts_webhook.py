"""Webhook delivery: signed JSON, retried with back-off as a row (never a delayed message), refused for forbidden
addresses."""

import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError

from alerts.delivery import SIGNATURE_HEADER, TIMESTAMP_HEADER, deliver_due
from alerts.models import Alert, AlertSettings, Cause, Channel
from alerts.services import tick, update_settings
from tests.alerts.test_alerts_causes import users_needing_attention

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SECRET = "a shared secret of some length"


class Receiver:
    """A local HTTP server answering the statuses it is given, in turn, and keeping what it received."""

    def __init__(self, statuses: list[int]):
        self.statuses = list(statuses)
        self.received: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # http.server's hook name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backoff(settings):
    settings.ALERTS_BACKOFF_BASE_SECONDS = 60
    settings.ALERTS_BACKOFF_CAP_SECONDS = 3600
    settings.ALERTS_MAX_ATTEMPTS = 3


def test_a_webhook_alert_is_signed_and_retried_with_back_off_until_delivered(db, backoff):
    with Receiver([503, 500]) as receiver:
        update_settings({"webhook_url": receiver.url, "webhook_secret": SECRET})
        users_needing_attention(200)

        [alert] = tick(NOW)
        alert.refresh_from_db()
        assert (alert.channel, alert.state, alert.attempts) == (Channel.WEBHOOK, Alert.State.PENDING, 1)
        assert alert.last_error == "The webhook answered HTTP 503; it is tried again later."
        first_wait = alert.next_attempt_at - NOW
        assert timedelta(seconds=60) <= first_wait <= timedelta(seconds=66)

        assert deliver_due(NOW + first_wait - timedelta(seconds=1)) == 0  # not due yet: it waits as a row
        assert deliver_due(NOW + first_wait) == 1
        alert.refresh_from_db()
        assert alert.attempts == 2 and alert.state == Alert.State.PENDING
        second_wait = alert.next_attempt_at - (NOW + first_wait)
        assert timedelta(seconds=120) <= second_wait <= timedelta(seconds=132)  # doubled

        assert deliver_due(alert.next_attempt_at) == 1
        alert.refresh_from_db()
        assert alert.state == Alert.State.DELIVERED and alert.last_error == ""

    assert len(receiver.received) == 3
    headers, body = receiver.received[-1]
    expected = hmac.new(SECRET.encode(), headers[TIMESTAMP_HEADER].encode() + b"." + body, hashlib.sha256)
    assert headers[SIGNATURE_HEADER] == "sha256=" + expected.hexdigest()
    assert headers["Content-Type"] == "application/json"
    sent = json.loads(body)
    assert (sent["cause"], sent["code"], sent["user_count"], sent["attempt"]) == (
        "needs_attention", "FOLDER_MISSING", 200, 3)
    assert len(sent["users"]) == 50


def test_a_webhook_that_keeps_failing_is_given_up_after_the_last_attempt(db, backoff):
    with Receiver([500, 500, 500, 500]) as receiver:
        update_settings({"webhook_url": receiver.url, "webhook_secret": SECRET})
        users_needing_attention(1)
        [alert] = tick(NOW)
        for _ in range(2):
            alert.refresh_from_db()
            deliver_due(alert.next_attempt_at)
    alert.refresh_from_db()
    assert (alert.state, alert.attempts, alert.next_attempt_at) == (Alert.State.FAILED, 3, None)
    assert len(receiver.received) == 3


def test_a_receiver_refusing_the_alert_is_not_retried(db, backoff):
    with Receiver([404]) as receiver:
        update_settings({"webhook_url": receiver.url, "webhook_secret": SECRET})
        users_needing_attention(1)
        [alert] = tick(NOW)
    alert.refresh_from_db()
    assert alert.state == Alert.State.FAILED
    assert alert.last_error == ("The webhook answered HTTP 404; it refuses the alert, so it is not tried again: "
                                "check the receiver.")


@pytest.mark.parametrize(("url", "reason"), [
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("https://metadata.google.internal/x", "metadata.google.internal is a cloud metadata service"),
    ("https://0.0.0.0:8080/", "0.0.0.0 is an unspecified address"),
    ("https://[fe80::1]/", "fe80::1 is a link-local address"),
    ("http://example.com/plain-http", "Use an https URL for the webhook"),
])
def test_a_webhook_url_the_ssrf_guard_refuses_is_not_saved(db, url, reason):
    with pytest.raises(ValidationError) as refused:
        update_settings({"webhook_url": url, "webhook_secret": SECRET})
    assert list(refused.value.message_dict) == ["webhook_url"]
    message = refused.value.message_dict["webhook_url"][0]
    assert message.startswith(reason if reason.startswith("Use") else f"Alerts may not be sent there: {reason}.")
    assert AlertSettings.load().webhook_url == ""


def test_an_alert_to_a_forbidden_address_is_refused_at_send_time_too(db, backoff):
    """A URL saved before the guard (or whose name now resolves elsewhere) is checked again when sending."""
    update_settings({"webhook_url": "https://hooks.example.com/x", "webhook_secret": SECRET})
    alert = Alert.objects.create(cause=Cause.API_SHARE, cause_key="api_share", subject="s", body="b",
                                 channel=Channel.WEBHOOK, recipients=["http://169.254.169.254/"], next_attempt_at=NOW)
    deliver_due(NOW)
    alert.refresh_from_db()
    assert alert.state == Alert.State.FAILED
    assert alert.last_error.startswith("Nothing was sent: 169.254.169.254 is a cloud metadata address.")

"""Sending alerts: e-mail through Django's e-mail backend, webhooks as signed JSON. A failed delivery waits as a row
(`next_attempt_at`, exponential back-off with jitter, capped) and the next due tick tries again; nothing waits in
the broker.

Webhook signature: header ``X-Alert-Signature: sha256=<hex>``, the HMAC-SHA256 under the shared secret of
``<X-Alert-Timestamp>.<raw body>`` (the timestamp in Unix seconds, also sent as a header), so a receiver can both
check the sender and refuse old replays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import smtplib
import time
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils import timezone

from alerts.models import Alert, AlertSettings, Channel
from sync.connectors.base import destination_problem, guard
from syncadmin.crypto import SecretUnreadable, decrypt

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Alert-Signature"
TIMESTAMP_HEADER = "X-Alert-Timestamp"
WEBHOOK_TIMEOUT = (5, 10)
CLAIM = timedelta(minutes=5)  # a delivery claimed by one tick is not taken by another for this long
BATCH = 50  # deliveries per tick at most; the rest are due at the next tick
RETRIED_STATUSES = {408, 425, 429}


class DeliveryFailed(Exception):
    """A delivery did not go through; `permanent` ones are not tried again."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def payload(alert: Alert) -> dict:
    return {
        "id": alert.pk, "cause": alert.cause, "code": alert.code, "subject": alert.subject, "message": alert.body,
        "users": alert.users, "user_count": alert.user_count, "created_at": alert.created_at.isoformat(),
        "attempt": alert.attempts,
    }


def send_webhook(alert: Alert, secret: str) -> None:
    url = alert.recipients[0]
    problem = destination_problem(url)
    if problem:
        raise DeliveryFailed(f"Nothing was sent: {problem}. Point the webhook at the receiver's own address on the "
                             "Alerts page.", permanent=True)
    body = json.dumps(payload(alert), separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "User-Agent": "sync-console-alerts",
               TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, timestamp, body)}
    try:
        with guard(requests.Session()) as session:
            response = session.post(url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        raise DeliveryFailed(f"The webhook could not be reached ({type(exc).__name__}); it is tried again "
                             "later.") from exc
    except Exception as exc:  # the guard refuses a forbidden peer address with its own sentence
        raise DeliveryFailed(str(exc), permanent=True) from exc
    if 200 <= response.status_code < 300:
        return
    permanent = 400 <= response.status_code < 500 and response.status_code not in RETRIED_STATUSES
    raise DeliveryFailed(f"The webhook answered HTTP {response.status_code}"
                         + ("; it refuses the alert, so it is not tried again: check the receiver." if permanent
                            else "; it is tried again later."), permanent=permanent)


def send_email(alert: Alert) -> None:
    message = EmailMessage(f"[Sync console] {alert.subject}", alert.body, settings.DEFAULT_FROM_EMAIL,
                           list(alert.recipients), connection=get_connection(timeout=settings.EMAIL_TIMEOUT))
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"The mail server {settings.EMAIL_HOST}:{settings.EMAIL_PORT} did not take the alert "
                             f"({type(exc).__name__}: {exc}); it is tried again later.") from exc


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt: base * 2^(attempts - 1), capped, with up to 10 % jitter."""
    seconds = min(settings.ALERTS_BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1),
                  settings.ALERTS_BACKOFF_CAP_SECONDS)
    return timedelta(seconds=seconds * (1 + random.random() / 10))  # jitter, not a secret


def _secret(row: AlertSettings) -> str:
    try:
        return decrypt(row.webhook_secret_encrypted) if row.webhook_secret_encrypted else ""
    except SecretUnreadable as exc:
        raise DeliveryFailed("The webhook's shared secret cannot be read with this server's SECRETS_KEY: set the "
                             "secret again on the Alerts page.", permanent=True) from exc


def deliver(alert: Alert, row: AlertSettings, now: datetime) -> None:
    """One attempt; the row says how it went (delivered, due again later, or failed for good)."""
    try:
        if alert.channel == Channel.WEBHOOK:
            secret = _secret(row)
            if not secret:
                raise DeliveryFailed("No shared secret is set for the webhook: set one on the Alerts page.",
                                     permanent=True)
            send_webhook(alert, secret)
        else:
            send_email(alert)
    except DeliveryFailed as exc:
        logger.warning("Alert %s (%s) not delivered, attempt %s: %s", alert.pk, alert.channel, alert.attempts, exc)
        given_up = exc.permanent or alert.attempts >= settings.ALERTS_MAX_ATTEMPTS
        Alert.objects.filter(pk=alert.pk).update(
            state=Alert.State.FAILED if given_up else Alert.State.PENDING, last_error=str(exc),
            next_attempt_at=None if given_up else now + backoff(alert.attempts))
        return
    Alert.objects.filter(pk=alert.pk).update(state=Alert.State.DELIVERED, delivered_at=timezone.now(), last_error="",
                                             next_attempt_at=None)


def deliver_due(now: datetime | None = None, *, secret_of: AlertSettings | None = None) -> int:
    """Send the alerts whose time has come (first tries and retries), each claimed by compare-and-set so that two
    ticks never send one twice. Returns how many were attempted."""
    now = now or timezone.now()
    row = secret_of or AlertSettings.load()
    due = list(Alert.objects.filter(state=Alert.State.PENDING, next_attempt_at__lte=now)
               .order_by("next_attempt_at", "pk")[:BATCH])
    attempted = 0
    for alert in due:
        claimed = Alert.objects.filter(pk=alert.pk, state=Alert.State.PENDING, attempts=alert.attempts).update(
            attempts=alert.attempts + 1, next_attempt_at=now + CLAIM)
        if not claimed:
            continue
        alert.attempts += 1
        attempted += 1
        deliver(alert, row, now)
    return attempted

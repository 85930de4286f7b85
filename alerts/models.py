"""Where alerts go (one `AlertSettings` row) and every alert the product sent or is still sending (`Alert`).

An alert waits as a row until it is delivered: the beat tick sends what is due, a failed delivery waits again with
back-off (`next_attempt_at`), never as a delayed broker message (see docs/reliability.md).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AlertSettings(models.Model):
    """The one row of alert settings (`AlertSettings.load()`)."""

    emails = models.JSONField(default=list, blank=True)
    webhook_url = models.URLField(max_length=500, blank=True, default="")
    # Fernet-encrypted (syncadmin.crypto) like the connections' secrets; never shown again once saved.
    webhook_secret_encrypted = models.TextField(blank=True, default="", editable=False)
    after_minutes = models.PositiveIntegerField(default=60)
    digest = models.BooleanField(default=False)
    api_share_threshold = models.FloatField(default=0.8)
    # The tick's bookkeeping: where the last evaluation stopped (runs and tests after it are new) and the last digest.
    evaluated_until = models.DateTimeField(null=True, blank=True)
    last_digest_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "alert settings"
        verbose_name_plural = "alert settings"
        permissions = [("manage_alerts", "Can set where alerts go")]

    def __str__(self) -> str:
        return "Alert settings"

    @classmethod
    def load(cls) -> AlertSettings:
        row, _ = cls.objects.get_or_create(pk=1)
        return row

    @property
    def has_secret(self) -> bool:
        return bool(self.webhook_secret_encrypted)


class Cause(models.TextChoices):
    NEEDS_ATTENTION = "needs_attention", "Needs attention"
    ERROR_PERSISTS = "error_persists", "Error persists"
    CONNECTION_FAILED = "connection_failed", "Connection failed"
    API_SHARE = "api_share", "Salesforce API use"
    FEED_DOWN = "feed_down", "Change feed down"
    DIGEST = "digest", "Daily digest"


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"


class Alert(models.Model):
    """One alert on one channel: what caused it (grouped: one row for every user failing with the same code), to
    whom it goes, and how its delivery stands."""

    class State(models.TextChoices):
        PENDING = "pending", "Sending"  # due at next_attempt_at (first try or a retry)
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"  # gave up after the last attempt
        HELD = "held", "Held for the digest"
        DIGESTED = "digested", "Sent in a digest"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    cause = models.CharField(max_length=20, choices=Cause.choices)
    # What makes two alerts "the same cause" (e.g. "needs_attention:FOLDER_MISSING"): not repeated within the period.
    cause_key = models.CharField(max_length=200)
    code = models.CharField(max_length=100, blank=True, default="")
    subject = models.CharField(max_length=255)
    body = models.TextField()
    users = models.JSONField(default=list, blank=True)  # usernames, at most USERS_LISTED of them
    user_count = models.PositiveIntegerField(default=0)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    recipients = models.JSONField(default=list, blank=True)  # e-mail addresses, or [webhook URL]
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    digest = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="included")

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="alert_due"),
            models.Index(fields=["cause_key", "-created_at"], name="alert_cause_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.channel}: {self.subject}"

    @property
    def delivered(self) -> bool:
        if self.state == self.State.DIGESTED:
            return self.digest is not None and self.digest.state == self.State.DELIVERED
        return self.state == self.State.DELIVERED

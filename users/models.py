"""Synced users (a Salesforce user and their Exchange mailbox) and their per-object sync state."""

import functools
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError
from django.db import models

from configurations.models import OutlookConfiguration, SyncObject
from sync.mappings.salesforce_ids import checksum as salesforce_id_checksum

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def normalize_user_id(value: str) -> str:
    """The 18-character form of a Salesforce user id (``005`` prefix); raises ValidationError otherwise."""
    if not isinstance(value, str) or len(value) not in (15, 18) or any(c not in _BASE62 for c in value):
        raise ValidationError("Enter a 15- or 18-character Salesforce id.", code="invalid")
    if not value.startswith("005"):
        raise ValidationError("A Salesforce user id starts with 005.", code="not_a_user")
    if len(value) == 18 and salesforce_id_checksum(value[:15]) != value[15:]:
        raise ValidationError("The last three characters of this 18-character id do not match.", code="checksum")
    return value if len(value) == 18 else value + salesforce_id_checksum(value)


def validate_user_id(value: str) -> None:
    normalize_user_id(value)


def normalize_time_zone(value: str | None) -> str:
    """An IANA time zone name as zoneinfo knows it ("Europe/Paris"), blank for none (UTC); raises ValidationError."""
    name = str(value or "").strip()
    if not name:
        return ""
    if name not in _time_zones():
        raise ValidationError(
            f"There is no time zone called {name[:64]!r}: enter an IANA name such as Europe/Paris (Salesforce's "
            "time zone keys are such names), or leave it blank for UTC.", code="unknown_time_zone")
    return name


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_time_zone(value: str) -> None:
    normalize_time_zone(value)


class ExchangeRoute(models.TextChoices):
    """Which Exchange connection serves a user's mailbox: decided by the connections (blank), or forced."""

    AUTOMATIC = "", "Automatic (by the connections' routing)"
    EWS = "ews", "Exchange (EWS)"
    GRAPH = "graph", "Exchange Online (Microsoft Graph)"


class SyncUser(models.Model):
    salesforce_id = models.CharField(max_length=18, unique=True, validators=[validate_user_id])
    username = models.CharField(max_length=255, unique=True)
    email = models.EmailField(max_length=254, unique=True, help_text="The Exchange mailbox.")
    name = models.CharField(max_length=255, blank=True, default="")
    profile = models.CharField(max_length=255, blank=True, default="", db_index=True)
    active = models.BooleanField(default=True)
    exchange_route = models.CharField(
        max_length=10, choices=ExchangeRoute.choices, blank=True, default=ExchangeRoute.AUTOMATIC,
        help_text="Force this mailbox to one Exchange connection (a hybrid organisation's exceptions).",
    )
    # The user's own time zone (Salesforce's User.TimeZoneSidKey, an IANA name): all-day events are written to the
    # mailbox from midnight to midnight there. Blank: UTC.
    time_zone = models.CharField(max_length=64, blank=True, default="", validators=[validate_time_zone],
                                 help_text="IANA time zone name (e.g. Europe/Paris); blank for UTC.")
    # The direct assignment; it wins over a profile assignment (see users.services.effective_configuration).
    configuration = models.ForeignKey(
        OutlookConfiguration, null=True, blank=True, on_delete=models.SET_NULL, related_name="direct_users"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["username"]
        permissions = [
            ("sync_now", "Can start a user's sync now"),
            ("reset_sync", "Can reset a user's sync"),
            ("test_connection", "Can test a user's connections"),
        ]

    def __str__(self) -> str:
        return self.username

    def save(self, *args, **kwargs):
        # Salesforce usernames and mailboxes are case-insensitive: store them lower-case so lookups can be exact.
        self.username = self.username.strip().lower()
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)


class SyncState(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    INITIAL_SYNC = "initial_sync", "Initial sync"
    IN_SYNC = "in_sync", "In sync"
    SYNCING = "syncing", "Syncing"
    ERROR = "error", "Error"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"
    DISABLED = "disabled", "Disabled"


class UserObjectState(models.Model):
    """Where one user's sync of one object stands; the dispatcher selects on ``state`` and ``next_due_at``."""

    user = models.ForeignKey(SyncUser, on_delete=models.CASCADE, related_name="object_states")
    object = models.CharField(max_length=16, choices=SyncObject.choices)
    state = models.CharField(max_length=20, choices=SyncState.choices, default=SyncState.NOT_STARTED)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    next_due_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_error_code = models.CharField(max_length=100, blank=True, default="")
    last_error_message = models.TextField(blank=True, default="")
    # Salesforce: the SystemModstamp high-water mark; Exchange: the SyncFolderItems state (opaque text).
    salesforce_watermark = models.DateTimeField(null=True, blank=True)
    exchange_sync_state = models.TextField(blank=True, default="")
    # What the watermarks were taken under (data setting, data set, window by the day): when it changes, the next
    # run reads everything, so records that entered or left the scope without changing are not missed.
    scope_fingerprint = models.CharField(max_length=64, blank=True, default="")
    # The Exchange protocol (ews | graph) the links' Outlook ids and the Exchange watermark belong to; blank
    # before the first sync (and for syncs older than Graph support, which were all EWS).
    exchange_protocol = models.CharField(max_length=10, blank=True, default="")
    # One-shot choice made when a configuration change was saved ("keep them and unlink"): the next run that
    # applies releases the Outlook copies of records leaving the scope instead of deleting them, then clears it.
    release_scope_exits = models.BooleanField(default=False)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    # Set by a change feed (sync.feeds.dirty): the first unsynced change's time, kept until a run claims the object
    # (the claim clears it before reading, so a change made during the run marks it again). `dirty_full` asks that
    # run to read everything and match (a feed gap too old for an incremental read).
    dirty_at = models.DateTimeField(null=True, blank=True)
    dirty_full = models.BooleanField(default=False)
    # Outlook changes reported while a run held the lease ({item id: version}), checked once the run has committed
    # its links: the run's own writes come back as notifications before their versions are stored (sync.feeds.dirty).
    held_changes = models.JSONField(default=dict, blank=True)
    # Who is running this user's sync, and until when the claim holds (one sync per user at a time).
    lease_owner = models.CharField(max_length=255, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user", "object"]
        constraints = [
            models.UniqueConstraint(fields=["user", "object"], name="user_object_state_unique"),
        ]
        indexes = [
            models.Index(fields=["state", "next_due_at"], name="object_state_due"),
            models.Index(fields=["next_due_at"], name="object_state_next_due"),
            models.Index(fields=["dirty_at"], name="object_state_dirty"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}/{self.object}: {self.state}"

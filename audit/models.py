"""The audit trail: one row per change made through a service (configurations, assignments, synced users,
connections), saying who did it, when, to what, and what changed."""

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """One change: who, when, what (before and after).

    The configuration and the synced user an entry is about are referenced without a database constraint so that
    entries outlive them (``configuration_name`` and ``subject`` keep their names). Secrets never appear here: a
    changed secret is recorded as changed, never by value.
    """

    class Action(models.TextChoices):
        CONFIGURATION_CREATED = "configuration.created"
        CONFIGURATION_UPDATED = "configuration.updated"
        CONFIGURATION_DELETED = "configuration.deleted"
        USERS_ASSIGNED = "assignment.assigned"
        USERS_MOVED_AWAY = "assignment.moved_away"
        ASSIGNMENTS_IMPORTED = "assignment.imported"
        USERS_UNASSIGNED = "assignment.unassigned"
        USER_ADDED = "user.added"
        USER_ROUTED = "user.routed"
        USER_SYNC_REQUESTED = "user.sync_requested"
        USER_RESET = "user.reset"
        USER_CONNECTION_TESTED = "user.connection_tested"
        USERS_IMPORTED = "users.imported"
        USERS_BULK = "users.bulk_action"
        CONNECTION_CREATED = "connection.created"
        CONNECTION_UPDATED = "connection.updated"
        API_TOKEN_ISSUED = "api_token.issued"  # noqa: S105 - an action name, not a secret
        API_TOKEN_REVOKED = "api_token.revoked"  # noqa: S105 - an action name, not a secret
        ACCOUNT_CREATED = "account.created"
        ACCOUNT_ROLE_CHANGED = "account.role_changed"
        ACCOUNT_DEACTIVATED = "account.deactivated"
        ACCOUNT_REACTIVATED = "account.reactivated"
        ACCOUNT_PASSWORD_RESET = "account.password_reset"  # noqa: S105 - an action name, not a secret
        ALERT_SETTINGS_CHANGED = "alerts.settings_changed"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=40, choices=Action.choices)
    configuration = models.ForeignKey(
        "configurations.OutlookConfiguration",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    configuration_name = models.CharField(max_length=120, blank=True, default="")
    # What else the entry is about, in words (a synced user's username, a connection's name), and the synced
    # user's id when it is one (a plain id: this app sits below ``users`` and entries outlive the users).
    subject = models.CharField(max_length=255, blank=True, default="")
    subject_user_id = models.BigIntegerField(null=True, blank=True)
    summary = models.CharField(max_length=255, blank=True, default="")
    # {"before": {...}, "after": {...}} for edits (only the fields that changed); lists of users for assignments.
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "configurations_auditentry"  # the table this model had when it lived in ``configurations``
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["configuration", "-at"], name="audit_by_configuration"),
            models.Index(fields=["subject_user_id", "-at"], name="audit_by_subject_user"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or 'system'}: {self.summary or self.action}"

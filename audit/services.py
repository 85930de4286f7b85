"""Writing the audit trail. Services call ``record`` inside their own transaction, so an entry exists exactly when
the change it describes does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from audit.models import AuditEntry

if TYPE_CHECKING:  # for annotations only: entries name configurations and users without depending on them
    from configurations.models import OutlookConfiguration
    from users.models import SyncUser


def actor_fields(actor) -> dict:
    """The actor columns for a person (a Django user), or none for the system (tasks, commands without a user)."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {"actor": None, "actor_name": ""}
    return {"actor": actor, "actor_name": actor.get_username()[:150]}


def record(
    action: str,
    actor=None,
    configuration: OutlookConfiguration | None = None,
    summary: str = "",
    changes: dict | None = None,
    *,
    subject: str = "",
    subject_user: SyncUser | None = None,
) -> AuditEntry:
    """Write one entry. ``subject_user`` names the synced user an operation was about (``subject`` then defaults
    to their username); ``subject`` alone names anything else (a connection)."""
    if subject_user is not None and not subject:
        subject = subject_user.username
    return AuditEntry.objects.create(
        action=action,
        configuration_id=configuration.pk if configuration is not None else None,
        configuration_name=configuration.name if configuration is not None else "",
        subject=subject[:255],
        subject_user_id=subject_user.pk if subject_user is not None else None,
        summary=summary[:255],
        changes=changes or {},
        **actor_fields(actor),
    )


def diff(before: Any, after: Any) -> tuple[Any, Any]:
    """The parts of two JSON-like values that differ, as (before, after); dicts are compared key by key."""
    if isinstance(before, dict) and isinstance(after, dict):
        old, new = {}, {}
        for key in list(before) + [k for k in after if k not in before]:
            if before.get(key) != after.get(key):
                old[key], new[key] = diff(before.get(key), after.get(key))
        return old, new
    return before, after

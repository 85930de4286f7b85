"""What a tripped mass-delete guard tells support staff when the cause is a change of scope, not a loss.

The engine's guards (sync.engine.reconcile) stop a run that would remove many synced records and say what to check
on the ends. When the object's data setting or data set changed since the user's last successful sync (or the user
moved to another configuration), that change is the likely cause: the message then names it from the audit trail
(what, when, by whom), says how many records the run would have removed, and what to do (reset to re-link under
the new scope, or revert the change).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone

from audit.models import AuditEntry
from configurations.models import DataSet, DataSetting, OutlookConfiguration
from sync.engine import Refusal
from users.models import SyncUser

_AREAS = (("data_settings", "data setting", DataSetting), ("data_sets", "data set", DataSet))


@dataclass(frozen=True)
class ScopeChange:
    """The latest change of what a user's object syncs, as the audit trail has it."""

    what: str  # "the events data setting of 'Sales' changed (event scope: “All events” → …)"
    at: datetime
    by: str
    changes: int  # how many such changes since the last successful sync


def scope_change(
    user: SyncUser, configuration: OutlookConfiguration, object_type: str, since: datetime | None
) -> ScopeChange | None:
    """The latest change since `since` to the configuration's data setting or data set of `object_type`, or the
    user's move to this configuration; None without one (or without a successful sync to compare with)."""
    if since is None:
        return None
    entries = AuditEntry.objects.filter(
        configuration_id=configuration.pk,
        at__gt=since,
        action__in=(AuditEntry.Action.CONFIGURATION_UPDATED, AuditEntry.Action.USERS_ASSIGNED),
    ).order_by("-at", "-id")
    found = [(entry, what) for entry in entries if (what := _described(entry, user, configuration, object_type))]
    if not found:
        return None
    entry, what = found[0]
    return ScopeChange(what, entry.at, entry.actor_name or "the system", len(found))


def guard_message(
    refusal: Refusal, user: SyncUser, configuration: OutlookConfiguration, object_type: str, since: datetime | None
) -> str:
    """The sentence stored for a refused run: the guard's own advice, or, after a change of scope, that change and
    what to do about it."""
    change = scope_change(user, configuration, object_type, since)
    if change is None:
        return refusal.reason
    count = f"{refusal.count} synced {object_type}" if refusal.count else f"many synced {object_type}"
    when = timezone.localtime(change.at).strftime("%-d %b %Y at %H:%M %Z")
    more = (
        f" (and {change.changes - 1} earlier change{'s' if change.changes > 2 else ''})" if change.changes > 1 else ""
    )
    what = change.what[0].upper() + change.what[1:]
    return (
        f"This sync would have removed {count}, so it stopped and removed nothing. {what} since the user's last "
        f"successful sync, on {when} by {change.by}{more}. If the new scope is intended, reset the user's "
        f"{object_type} sync: it re-links what is in the new scope and deletes nothing. Otherwise revert the "
        "change on the configuration, then sync again."
    )


def _described(entry: AuditEntry, user: SyncUser, configuration: OutlookConfiguration, object_type: str) -> str:
    """The entry in words if it changed what the user's object syncs, else ""."""
    if entry.action == AuditEntry.Action.USERS_ASSIGNED:
        moved = [pk for pks in (entry.changes.get("moved_users") or {}).values() for pk in pks]
        if user.pk in (entry.changes.get("assigned_users") or []) or user.pk in moved:
            return f"the user was moved to the configuration {configuration.name!r}"
        return ""
    before, after = entry.changes.get("before") or {}, entry.changes.get("after") or {}
    parts = []
    for key, label, model in _AREAS:
        new = (after.get(key) or {}).get(object_type)
        if not isinstance(new, dict) or not new:
            continue
        old = (before.get(key) or {}).get(object_type) or {}
        fields = ", ".join(_field_change(model, name, old.get(name), value) for name, value in new.items())
        parts.append(f"the {object_type} {label} of {configuration.name!r} changed ({fields})")
    return " and ".join(parts)


def _field_change(model: type, name: str, old: Any, new: Any) -> str:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        label, choices = name.replace("_", " "), {}
    else:
        label, choices = str(field.verbose_name), {k: str(v) for k, v in field.flatchoices}
    if isinstance(old, list | dict) or isinstance(new, list | dict):
        return f"{label} changed"
    return f"{label}: {_value(choices.get(old, old))} → {_value(choices.get(new, new))}"


def _value(value: Any) -> str:
    if value in (None, ""):
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"“{value}”" if isinstance(value, str) else str(value)

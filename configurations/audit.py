"""Writing and reading the audit trail; services call ``record`` inside their own transaction."""

from __future__ import annotations

from typing import Any

from configurations.models import AuditEntry, OutlookConfiguration


def actor_fields(actor) -> dict:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {"actor": None, "actor_name": ""}
    return {"actor": actor, "actor_name": actor.get_username()[:150]}


def record(
    action: str,
    actor=None,
    configuration: OutlookConfiguration | None = None,
    summary: str = "",
    changes: dict | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        action=action,
        configuration_id=configuration.pk if configuration is not None else None,
        configuration_name=configuration.name if configuration is not None else "",
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

"""What one run of one user's object needs to know: its scope (the data setting and data set in force, the
connectors' options, the scope fingerprint), the engine's data setting, and which objects a configuration syncs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from configurations.models import DataSet, DataSetting, Direction, EventScope, OutlookConfiguration
from configurations.services import Proposed
from configurations.soql import compile_where
from sync import engine
from sync.connections import mailbox_class
from sync.connectors.base import ObjectOptions
from sync.routing import Route, mailbox_route
from users.models import SyncUser
from users.services import effective_configuration

OBJECTS = ("contacts", "events", "tasks")


def object_options(data_setting: DataSetting, data_set: DataSet, user: SyncUser, now: datetime,
                   route: Route | None = None) -> ObjectOptions:
    """The connectors' view of a data setting and data set for one user, at one moment (events' window).

    Series are synced as series only when the mailbox's connector supports them (EWS and Graph both do; a connector
    that presented a series as its occurrences would need the Salesforce side to do the same, or a series would be
    synced twice)."""
    window_start = window_end = None
    if data_setting.object == "events":
        today = now.astimezone(UTC).date()
        window_start = datetime.combine(today - timedelta(days=data_set.days_back), datetime.min.time(), UTC)
        window_end = datetime.combine(today + timedelta(days=data_set.days_ahead), datetime.max.time(), UTC)
    return ObjectOptions(
        where=compile_where(data_set, user.salesforce_id, now, data_setting=data_setting),
        contacts_folder=data_setting.folder or "Salesforce_Sync",
        sync_private_events=data_setting.sync_private_events,
        event_category=data_setting.event_category if data_setting.event_scope == EventScope.CATEGORY else None,
        excluded_addresses=tuple(a.strip().lower() for a in data_setting.excluded_addresses or () if a.strip()),
        window_start=window_start.isoformat() if window_start else None,
        window_end=window_end.replace(microsecond=0).isoformat() if window_end else None,
        record_limit=data_set.record_limit,
        auto_relate=data_setting.auto_relate,
        update_organized_meetings=data_setting.update_organized_meetings and data_setting.direction in (
            Direction.SALESFORCE_TO_OUTLOOK, Direction.BOTH),
        series_as_series=mailbox_class(route or mailbox_route(user)).supports_series,
    )


def scope_fingerprint(data_setting: DataSetting, options: ObjectOptions) -> str:
    """A hash of everything that decides what syncs and how; the event/task windows make it change daily.

    Whether organized meetings are updated is left out: it decides how a write is sent, not which records sync, so
    turning it on or off (or adding it) never forces a full sync."""
    described_options = dataclasses.asdict(options)
    described_options.pop("update_organized_meetings", None)
    described = {
        "direction": data_setting.direction, "conflict_behavior": data_setting.conflict_behavior,
        "propagate_deletions": data_setting.propagate_deletions, "options": described_options,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


def engine_setting(data_setting: DataSetting, *, release_scope_exits: bool = False) -> engine.DataSetting:
    """The engine's (pure) copy of a data setting: direction, conflict behaviour, deletions, and whether this run
    keeps (releases) the Outlook copies of records leaving the scope (the admin's one-shot choice)."""
    return engine.DataSetting(
        direction=engine.Direction(data_setting.direction),
        conflict_behavior=engine.ConflictBehavior(data_setting.conflict_behavior),
        propagate_deletions=data_setting.propagate_deletions,
        release_scope_exits=release_scope_exits,
        merge_fields=data_setting.merge_fields and data_setting.direction == Direction.BOTH,
    )


def synced_objects(configuration: OutlookConfiguration) -> list[str]:
    """The objects a configuration syncs (direction other than `none`), in a stable order."""
    directions = dict(configuration.data_settings.values_list("object", "direction"))
    return [name for name in OBJECTS if directions.get(name, Direction.NONE) != Direction.NONE]


@dataclass(frozen=True)
class Scope:
    """What one user's object syncs with: the configuration's data setting and data set, the connectors' options
    at this moment, their fingerprint, and the Exchange route that serves the mailbox."""

    configuration: OutlookConfiguration
    data_setting: DataSetting
    data_set: DataSet
    options: ObjectOptions
    fingerprint: str
    route: Route


def resolve_scope(user: SyncUser, object_type: str, now: datetime,
                  proposed: Proposed | None = None) -> Scope | tuple[str, str]:
    """The scope a run of the user's object has now, or why nothing syncs (error code, sentence).

    `proposed` replaces the user's effective configuration with an unsaved one (an impact preview)."""
    if proposed is None:
        effective = effective_configuration(user)
        if effective is None or not user.active:
            reason = "no configuration is assigned" if user.active else "the user is inactive"
            return ("not_assigned", f"Nothing to sync: {reason}.")
        configuration = effective.configuration
        data_setting = configuration.data_settings.filter(object=object_type).first()
        data_set = configuration.data_sets.filter(object=object_type).first()
    else:
        if not user.active:
            return ("not_assigned", "Nothing to sync: the user is inactive.")
        configuration = proposed.configuration
        data_setting, data_set = proposed.data_settings.get(object_type), proposed.data_sets.get(object_type)
    if data_setting is None or data_setting.direction == Direction.NONE or data_set is None:
        return ("object_not_synced", f"{configuration.name} does not sync {object_type}.")
    route = mailbox_route(user)
    options = object_options(data_setting, data_set, user, now, route)
    return Scope(configuration, data_setting, data_set, options, scope_fingerprint(data_setting, options), route)

"""Operations on Outlook Configurations: create, update, delete.

Each function is one business operation, atomic, and writes its audit entry in the same transaction. The API, the
console, the admin and tasks call these; nothing else changes configurations. Assigning users is an operation on
users (``users.services.assign_users``). A change that starts or stops an object for users (a direction, the
configuration's activity, its profiles, its deletion) brings their object states in line in the same transaction
(``users.services.refresh_object_states``), for the users it applied to before and after.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from audit import services as audit
from audit.models import AuditEntry
from configurations.models import (
    DataSet,
    DataSetting,
    OutlookConfiguration,
    ProfileAssignment,
    SyncObject,
    data_set_values,
    data_setting_values,
)
from configurations.validation import (
    ConfigurationInvalid,
    apply_setting_defaults,
    validate_configuration_fields,
    validate_data_set,
    validate_data_setting,
)
from users.models import UserObjectState
from users.services import assigned_user_ids, refresh_object_states

CONFIGURATION_FIELDS = ("name", "description", "active", "sync_mode", "sync_interval_minutes")


def snapshot(configuration: OutlookConfiguration) -> dict:
    """The configuration as the API shows it (also what the audit trail compares); uses prefetched rows."""
    settings = {s.object: data_setting_values(s) for s in configuration.data_settings.all()}
    data_sets = {d.object: data_set_values(d) for d in configuration.data_sets.all()}
    return {
        **{name: getattr(configuration, name) for name in CONFIGURATION_FIELDS},
        "profiles": sorted(p.profile for p in configuration.profile_assignments.all()),
        "data_settings": {o: settings[o] for o in SyncObject.values if o in settings},
        "data_sets": {o: data_sets[o] for o in SyncObject.values if o in data_sets},
    }


def _prefetched(pk: int) -> OutlookConfiguration:
    return OutlookConfiguration.objects.prefetch_related("data_settings", "data_sets", "profile_assignments").get(
        pk=pk
    )


def _clean_strings(values: dict) -> dict:
    values = dict(values)
    if isinstance(values.get("name"), str):
        values["name"] = values["name"].strip()
    profiles = values.get("profiles")
    if isinstance(profiles, list) and all(isinstance(p, str) for p in profiles):
        values["profiles"] = sorted({p.strip() for p in profiles})
    return values


@dataclass
class _Plan:
    values: dict
    rows: list  # (DataSetting | DataSet, merged values), one per object and kind


def _plan(configuration: OutlookConfiguration | None, values: dict) -> _Plan:
    """Merge the change into the stored configuration and check every rule; raises ConfigurationInvalid with all
    the errors at once. Writes nothing."""
    values = _clean_strings(values)
    errors = validate_configuration_fields(values, instance=configuration)
    if configuration is None:
        if "name" not in values:
            errors.setdefault("name", []).append("This field is required.")
        settings_by_object, sets_by_object = {}, {}
    else:
        settings_by_object = {s.object: s for s in configuration.data_settings.all()}
        sets_by_object = {d.object: d for d in configuration.data_sets.all()}
    changes_by_group = {}
    for group in ("data_settings", "data_sets"):
        changes = values.get(group)
        changes = {} if changes is None else changes
        if not isinstance(changes, dict):
            errors[group] = ["Enter an object keyed by contacts, events and tasks."]
            changes = {}
        for key in sorted(set(changes) - set(SyncObject.values)):
            errors.setdefault(group, {})[key] = ["Not an object; use contacts, events or tasks."]
        changes_by_group[group] = changes
    setting_changes, set_changes = changes_by_group["data_settings"], changes_by_group["data_sets"]
    rows = []
    for sync_object in SyncObject.values:
        setting = settings_by_object.get(sync_object) or DataSetting(object=sync_object)
        merged = apply_setting_defaults(sync_object, data_setting_values(setting), setting_changes.get(sync_object, {}))
        object_errors = validate_data_setting(sync_object, merged)
        if object_errors:
            errors.setdefault("data_settings", {})[sync_object] = object_errors
        rows.append((setting, merged))

        data_set = sets_by_object.get(sync_object) or DataSet(object=sync_object)
        merged = {**data_set_values(data_set), **set_changes.get(sync_object, {})}
        object_errors = validate_data_set(sync_object, merged)
        if object_errors:
            errors.setdefault("data_sets", {})[sync_object] = object_errors
        rows.append((data_set, merged))
    if errors:
        raise ConfigurationInvalid(errors)
    return _Plan(values, rows)


def check_configuration(values: dict, configuration: OutlookConfiguration | None = None) -> dict:
    """The errors that saving ``values`` (a new configuration, or a change to ``configuration``) would meet, in
    the API's shape; an empty dict if it would save. For live validation in forms; writes nothing."""
    try:
        _plan(configuration, values)
    except ConfigurationInvalid as exc:
        return exc.errors
    return {}


@dataclass(frozen=True)
class Proposed:
    """A configuration as a change would leave it, in memory only (never saved): for an impact preview."""

    configuration: OutlookConfiguration
    data_settings: dict[str, DataSetting]
    data_sets: dict[str, DataSet]


def propose(configuration: OutlookConfiguration, values: dict) -> Proposed:
    """The configuration with the change ``values`` (PATCH semantics) applied in memory; raises
    ConfigurationInvalid like saving would. Writes nothing."""
    configuration = _prefetched(configuration.pk)
    plan = _plan(configuration, values)
    copy = OutlookConfiguration(pk=configuration.pk, **{name: plan.values.get(name, getattr(configuration, name))
                                                        for name in CONFIGURATION_FIELDS})
    settings, data_sets = {}, {}
    for row, merged in plan.rows:
        kept = {f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields
                if f.attname not in ("id", "configuration_id")}
        unsaved = type(row)(**{**kept, **merged})
        (settings if isinstance(row, DataSetting) else data_sets)[row.object] = unsaved
    return Proposed(copy, settings, data_sets)


def _write(configuration: OutlookConfiguration, plan: _Plan) -> None:
    values = plan.values
    for name in CONFIGURATION_FIELDS:
        if name in values:
            setattr(configuration, name, values[name])
    try:
        with transaction.atomic():
            configuration.save()
    except IntegrityError:
        # A concurrent create won the race for the name (the database's case-insensitive constraint).
        raise ConfigurationInvalid({"name": ["A configuration with this name already exists."]}) from None
    for row, merged in plan.rows:
        if not row.pk or any(getattr(row, k) != v for k, v in merged.items()):
            for key, value in merged.items():
                setattr(row, key, value)
            row.configuration = configuration
            row.save()
    if "profiles" in values:
        wanted = set(values["profiles"])
        ProfileAssignment.objects.filter(configuration=configuration).exclude(profile__in=wanted).delete()
        have = set(ProfileAssignment.objects.filter(configuration=configuration).values_list("profile", flat=True))
        try:
            with transaction.atomic():
                ProfileAssignment.objects.bulk_create(
                    [ProfileAssignment(profile=p, configuration=configuration) for p in sorted(wanted - have)]
                )
        except IntegrityError:
            raise ConfigurationInvalid(
                {"profiles": ["A profile was just assigned to another configuration; it belongs to at most one."]}
            ) from None


@transaction.atomic
def create_configuration(values: dict, actor=None) -> OutlookConfiguration:
    """A new configuration. Objects left out get a data setting that does not sync (``none``) and the default
    data set; ``values`` has the API's shape (name, description, active, sync_mode, sync_interval_minutes,
    profiles, data_settings and data_sets keyed by object; sync_mode left out is near real time)."""
    plan = _plan(None, values)
    configuration = OutlookConfiguration()
    _write(configuration, plan)
    refresh_object_states(assigned_user_ids(configuration.pk))
    configuration = _prefetched(configuration.pk)
    after = snapshot(configuration)
    audit.record(
        AuditEntry.Action.CONFIGURATION_CREATED,
        actor,
        configuration,
        summary=f"Created configuration {configuration.name!r}",
        changes={"before": None, "after": after},
    )
    return configuration


ON_SCOPE_EXIT_CHOICES = ("delete", "keep")
ON_SCOPE_EXIT_INVALID = (
    'Choose "delete" (the Outlook copies of records leaving the scope are deleted) or "keep" (they stay in '
    "Outlook, unlinked, and are never synced again unless their record comes back into scope)."
)


def _scope_changed_objects(before: dict, after: dict) -> list[str]:
    """The objects whose data setting or data set a change touched (what can take records out of scope)."""
    return [o for o in SyncObject.values
            if before["data_settings"].get(o) != after["data_settings"].get(o)
            or before["data_sets"].get(o) != after["data_sets"].get(o)]


@transaction.atomic
def update_configuration(configuration: OutlookConfiguration, changes: dict, actor=None,
                         on_scope_exit: str | None = None) -> OutlookConfiguration:
    """Apply a partial change (PATCH semantics: nested data settings and data sets merge field by field; a list
    of profiles or filters replaces the old one). No audit entry when nothing changed.

    ``on_scope_exit`` is the admin's choice for records the change takes out of scope: ``"delete"`` their Outlook
    copies (DESIGN.md §5; also what happens when no choice is given), or ``"keep"`` them unlinked. The choice is
    stored, one-shot, on the object states of the users the configuration applies to, for the objects whose data
    setting or data set changed; the next run of each consumes it (``sync.runner``). ``None`` leaves a choice made
    by an earlier save that no run has consumed yet as it is."""
    if on_scope_exit is not None and on_scope_exit not in ON_SCOPE_EXIT_CHOICES:
        raise ConfigurationInvalid({"on_scope_exit": [ON_SCOPE_EXIT_INVALID]})
    OutlookConfiguration.objects.select_for_update().filter(pk=configuration.pk).first()  # one change at a time
    configuration = _prefetched(configuration.pk)
    before = snapshot(configuration)
    applied_to = assigned_user_ids(configuration.pk)
    _write(configuration, _plan(configuration, changes))
    configuration = _prefetched(configuration.pk)
    after = snapshot(configuration)
    if before != after:
        users = applied_to + assigned_user_ids(configuration.pk)
        refresh_object_states(users)
        scoped = _scope_changed_objects(before, after)
        if scoped and on_scope_exit is not None:
            UserObjectState.objects.filter(user_id__in=users, object__in=scoped).update(
                release_scope_exits=on_scope_exit == "keep")
        old, new = audit.diff(before, after)
        audit_changes = {"before": old, "after": new}
        if scoped and on_scope_exit is not None:
            audit_changes["on_scope_exit"] = on_scope_exit
        kept = " (copies of records leaving the scope kept, unlinked)" if scoped and on_scope_exit == "keep" else ""
        audit.record(
            AuditEntry.Action.CONFIGURATION_UPDATED,
            actor,
            configuration,
            summary=f"Changed {', '.join(sorted(new))} of {configuration.name!r}{kept}",
            changes=audit_changes,
        )
    return configuration


@transaction.atomic
def delete_configuration(configuration: OutlookConfiguration, actor=None) -> None:
    """Delete it; its directly assigned users lose their direct assignment (and fall back to their profile's)."""
    configuration = OutlookConfiguration.objects.select_for_update().get(pk=configuration.pk)
    before = snapshot(_prefetched(configuration.pk))
    user_ids = list(configuration.direct_users.values_list("pk", flat=True))
    applied_to = assigned_user_ids(configuration.pk)
    audit.record(
        AuditEntry.Action.CONFIGURATION_DELETED,
        actor,
        configuration,
        summary=f"Deleted configuration {configuration.name!r} ({len(user_ids)} users directly assigned)",
        changes={"before": before, "after": None, "unassigned_users": user_ids},
    )
    configuration.delete()
    refresh_object_states(applied_to)

"""The console's configuration form: HTML form fields to the API's shape and back, and errors to their fields.

The rules are not here: values go to ``configurations.services`` (``check_configuration``, ``create_configuration``,
``update_configuration``), whose errors, nested like the API's, are attached to the fields they name.

Live validation (htmx, with static/syncadmin/configuration-form.js) posts the names of the fields the admin has
touched (``touched``): only their errors are shown, so nobody is told "Enter a name." before reaching the name. A
plain submit (no ``touched``) shows every error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings as django_settings

from configurations import soql
from configurations.models import (
    ConflictBehavior,
    ContactScope,
    DataSet,
    DataSetting,
    Direction,
    EventScope,
    OutlookConfiguration,
    SyncMode,
    SyncObject,
    data_set_values,
    data_setting_values,
)
from configurations.validation import (
    ALLOWED_DIRECTIONS,
    OPTION_DEFAULTS,
    REQUIRED_CONFLICT_BEHAVIOR,
    apply_setting_defaults,
    option_applies,
)

# Why a direction fixes (or leaves open) the conflict behaviour, in the words an admin reads beside the choice.
CONFLICT_EXPLANATIONS = {
    Direction.NONE: "Nothing syncs, so there are no conflicts to settle.",
    Direction.SALESFORCE_TO_OUTLOOK: "Outlook changes are never sent back, so Salesforce always wins.",
    Direction.OUTLOOK_TO_SALESFORCE: "Salesforce changes are never sent to Outlook, so Outlook always wins.",
    Direction.BOTH: "When a record changed on both sides since the last sync, this side's version is kept.",
}
DIRECTION_ARROWS = {
    Direction.NONE: "—",
    Direction.SALESFORCE_TO_OUTLOOK: "→",
    Direction.OUTLOOK_TO_SALESFORCE: "←",
    Direction.BOTH: "⇄",
}
MAX_FILTER_ROWS = soql.MAX_FILTERS
# What the value of a filter looks like, per field type (and for a list of values), shown in the empty value box.
VALUE_HINTS = {
    soql.FieldType.STRING: "Text",
    soql.FieldType.ID: "15- or 18-character Salesforce id",
    soql.FieldType.BOOLEAN: "true or false",
    soql.FieldType.INTEGER: "A whole number",
    soql.FieldType.NUMBER: "A number",
    soql.FieldType.DATE: "YYYY-MM-DD",
    soql.FieldType.DATETIME: "YYYY-MM-DDTHH:MM:SSZ",
}
TYPE_LABELS = {
    soql.FieldType.STRING: "text",
    soql.FieldType.ID: "Salesforce id",
    soql.FieldType.BOOLEAN: "true/false",
    soql.FieldType.INTEGER: "whole number",
    soql.FieldType.NUMBER: "number",
    soql.FieldType.DATE: "date",
    soql.FieldType.DATETIME: "date and time",
}
_SETTING_TEXT = ("folder", "event_category")
_FLAGS = {
    SyncObject.CONTACTS: ("propagate_deletions", "merge_fields"),
    SyncObject.EVENTS: ("sync_private_events", "auto_relate", "update_organized_meetings", "propagate_deletions",
                        "merge_fields"),
    SyncObject.TASKS: ("propagate_deletions", "merge_fields"),
}
_DAYS = {
    SyncObject.CONTACTS: (),
    SyncObject.EVENTS: ("days_back", "days_ahead"),
    SyncObject.TASKS: ("closed_days_back",),
}


def _number(raw: str) -> Any:
    """A whole number if the text is one; otherwise the text itself, so the rules report it on its field."""
    raw = raw.strip()
    try:
        return int(raw)
    except ValueError:
        return raw


def _lines(raw: str, commas: bool = False) -> list[str]:
    """Non-blank lines; ``commas`` also splits on commas (addresses have none, profile names may)."""
    if commas:
        raw = raw.replace(",", "\n")
    return [part.strip() for part in raw.splitlines() if part.strip()]


def _filter_value(op: str, raw: str) -> Any:
    if op == "in":
        return [part.strip() for part in raw.split(",") if part.strip()]
    if op == "is_empty":
        lowered = raw.strip().lower()
        if lowered in ("", "true", "yes"):
            return True
        if lowered in ("false", "no"):
            return False
    return raw


def _filter_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@dataclass
class ObjectForm:
    """One object's data setting and data set as the form shows them."""

    object: str
    setting: dict
    data_set: dict
    filters: list[dict] = field(default_factory=list)  # {"field", "op", "value"} as text
    errors: dict = field(default_factory=dict)  # {"setting": {...}, "data_set": {...}}

    @property
    def label(self) -> str:
        return SyncObject(self.object).label

    @property
    def direction(self) -> str:
        return self.setting.get("direction", Direction.NONE)

    @property
    def syncs(self) -> bool:
        return self.direction != Direction.NONE

    @property
    def direction_choices(self) -> list[tuple[str, str]]:
        return [(d.value, d.label) for d in ALLOWED_DIRECTIONS[SyncObject(self.object)]]

    @property
    def direction_unlisted(self) -> bool:
        """A posted direction the object does not offer (shown, with its error, rather than silently replaced)."""
        return self.direction not in {value for value, _ in self.direction_choices}

    @property
    def conflict_choices(self) -> list[dict]:
        """Each behaviour with whether this direction allows it; a one-way direction fixes the checked one."""
        required = REQUIRED_CONFLICT_BEHAVIOR.get(self.direction)
        current = required or self.setting.get("conflict_behavior", ConflictBehavior.SALESFORCE_WINS)
        return [
            {
                "value": behavior.value,
                "label": behavior.label,
                "allowed": required is None or behavior == required,
                "checked": behavior == current,
            }
            for behavior in ConflictBehavior
        ]

    @property
    def conflict_fixed(self) -> bool:
        return self.direction in REQUIRED_CONFLICT_BEHAVIOR

    @property
    def conflict_explanation(self) -> str:
        return CONFLICT_EXPLANATIONS.get(self.direction, "")

    @property
    def arrow(self) -> str:
        return DIRECTION_ARROWS.get(self.direction, "")

    @property
    def excluded_text(self) -> str:
        return "\n".join(self.setting.get("excluded_addresses") or [])

    @property
    def allowed_fields(self) -> list[dict]:
        """The fields a filter may use, by their Salesforce label, each with its API name and type."""
        labels = soql.FIELD_LABELS.get(self.object, {})
        fields = [
            {"name": name, "label": labels.get(name, name), "type": TYPE_LABELS[kind]}
            for name, kind in soql.ALLOWED_FIELDS[self.object].items()
        ]
        return sorted(fields, key=lambda f: (f["label"].casefold(), f["name"]))

    @property
    def filter_rows(self) -> list[dict]:
        """The filters with their errors (the services key them by position), and for each the operators its
        field's type takes (``op_unlisted`` when the chosen one is not among them: shown, with its error)."""
        errors = self.errors.get("data_set", {}).get("filters")
        by_index = errors if isinstance(errors, dict) else {}
        rows = []
        for i, row in enumerate(self.filters):
            kind = soql.field_type(self.object, row["field"])
            operators = [(op, operator_label(op, kind)) for op in soql.operators_for(kind)]
            rows.append({
                **row,
                "index": i,
                "id": f"id_{self.object}-filters-{i}",
                "errors": by_index.get(str(i), {}),
                "operators": operators,
                "op_unlisted": row["op"] not in {op for op, _ in operators},
                "label": soql.FIELD_LABELS.get(self.object, {}).get(row["field"], ""),
                "type": TYPE_LABELS.get(kind, ""),
                "placeholder": "Values, comma-separated" if row["op"] == "in" else VALUE_HINTS.get(kind, "Value"),
            })
        return rows

    @property
    def filter_list_errors(self) -> list[str]:
        errors = self.errors.get("data_set", {}).get("filters")
        return errors if isinstance(errors, list) else []

    @property
    def filter_summaries(self) -> list[str]:
        """The filters in words, for read-only pages: ``MailingCountry equals France``."""
        return [f"{row['field']} {OPERATOR_LABELS.get(row['op'], row['op'])} {row['value']}" for row in self.filters]

    @property
    def may_add_filter(self) -> bool:
        return len(self.filters) < MAX_FILTER_ROWS

    @property
    def shows_auto_relate(self) -> bool:
        return self.object == SyncObject.EVENTS and option_applies(self.object, self.direction, "auto_relate")

    @property
    def shows_update_organized_meetings(self) -> bool:
        return self.object == SyncObject.EVENTS and option_applies(self.object, self.direction,
                                                                   "update_organized_meetings")

    @property
    def shows_merge_fields(self) -> bool:
        return option_applies(self.object, self.direction, "merge_fields")

    @property
    def shows_propagate_deletions(self) -> bool:
        return option_applies(self.object, self.direction, "propagate_deletions")

    @property
    def deletion_note(self) -> str:
        """Where deletions are not a choice, what happens to them instead (beside the hidden option)."""
        if self.direction == Direction.SALESFORCE_TO_OUTLOOK:
            return "A deletion in Salesforce always deletes the Outlook copy."
        if self.direction == Direction.OUTLOOK_TO_SALESFORCE:
            return "A deletion in Outlook always deletes the Salesforce copy."
        return ""


OPERATOR_LABELS = {
    "equals": "equals",
    "not_equals": "does not equal",
    "contains": "contains",
    "starts_with": "starts with",
    "in": "is one of (comma-separated)",
    "greater_than": "is greater than",
    "less_than": "is less than",
    "is_empty": "is empty (true/false)",
}
# Where a type reads better with other words: dates come after or before one another.
_TYPED_OPERATOR_LABELS = {
    soql.FieldType.DATE: {"greater_than": "is after", "less_than": "is before"},
    soql.FieldType.DATETIME: {"greater_than": "is after", "less_than": "is before"},
}


def operator_label(op: str, kind: soql.FieldType | None = None) -> str:
    return _TYPED_OPERATOR_LABELS.get(kind, {}).get(op) or OPERATOR_LABELS.get(op, op)


def sync_mode_choices() -> list[tuple[str, str]]:
    """The sync modes as the form offers them: what each means for when users' changes sync."""
    hours = django_settings.SYNC_SWEEP_HOURS
    return [
        (SyncMode.NEAR_REAL_TIME, "Near real time (changes sync within seconds; a safety-net sync every "
                                  f"{hours} hour{'' if hours == 1 else 's'})"),
        (SyncMode.SCHEDULE, "On a schedule (every N minutes)"),
    ]


class ConfigurationForm:
    """The whole configuration form: built from a configuration, from defaults, or from posted data."""

    def __init__(self, fields: dict, objects: list[ObjectForm], configuration: OutlookConfiguration | None = None):
        self.fields = fields
        self.objects = objects
        self.configuration = configuration
        self.errors: dict = {}
        # The names of the fields the admin has touched, in live validation; None: show every error.
        self.touched: set[str] | None = None

    operators = [(op, OPERATOR_LABELS[op]) for op in soql.OPERATORS]
    contact_scopes = ContactScope.choices

    @property
    def sync_modes(self) -> list[tuple[str, str]]:
        return sync_mode_choices()

    @property
    def sweep_hours(self) -> int:
        return django_settings.SYNC_SWEEP_HOURS
    event_scopes = EventScope.choices

    @classmethod
    def initial(cls, snapshot: dict | None = None, configuration: OutlookConfiguration | None = None):
        """From ``services.snapshot`` of a configuration, or the defaults of a new one."""
        if snapshot is None:
            snapshot = {
                "name": "",
                "description": "",
                "active": True,
                "sync_mode": SyncMode.NEAR_REAL_TIME,
                "sync_interval_minutes": 10,
                "profiles": [],
                "data_settings": {o: data_setting_values(DataSetting(object=o)) for o in SyncObject.values},
                "data_sets": {o: data_set_values(DataSet(object=o)) for o in SyncObject.values},
            }
        fields = {
            "name": snapshot["name"],
            "description": snapshot["description"],
            "active": snapshot["active"],
            "sync_mode": snapshot["sync_mode"],
            "sync_interval_minutes": str(snapshot["sync_interval_minutes"]),
            "profiles": "\n".join(snapshot["profiles"]),
        }
        objects = []
        for sync_object in SyncObject.values:
            data_set = dict(snapshot["data_sets"][sync_object])
            filters = [
                {"field": f.get("field", ""), "op": f.get("op", ""), "value": _filter_text(f.get("value"))}
                for f in data_set.get("filters") or []
            ]
            objects.append(ObjectForm(sync_object, dict(snapshot["data_settings"][sync_object]), data_set, filters))
        return cls(fields, objects, configuration)

    @classmethod
    def from_post(cls, data, configuration: OutlookConfiguration | None = None, action: str = ""):
        """From the posted form; ``action`` adds (``add-filter:<object>``) or removes
        (``remove-filter:<object>:<index>``) a filter row.

        In live validation (``touched`` posted) a blank filter row stays on the page, and a row whose operator
        does not apply to its field (the field just changed) takes the field type's first operator; a plain submit
        leaves blank rows out and reports such an operator."""
        touched = set(data["touched"].split()) if "touched" in data else None
        live = touched is not None
        fields = {
            "name": data.get("name", ""),
            "description": data.get("description", ""),
            "active": bool(data.get("active")),
            "sync_mode": data.get("sync_mode", SyncMode.NEAR_REAL_TIME),
            "sync_interval_minutes": data.get("sync_interval_minutes", ""),
            "profiles": data.get("profiles", ""),
        }
        objects = []
        for sync_object in SyncObject.values:
            prefix = f"{sync_object}-"
            setting: dict[str, Any] = {"direction": data.get(prefix + "direction", Direction.NONE)}
            if data.get(prefix + "conflict_behavior"):
                setting["conflict_behavior"] = data[prefix + "conflict_behavior"]
            for name in _FLAGS[SyncObject(sync_object)]:
                setting[name] = bool(data.get(prefix + name))
            if sync_object == SyncObject.CONTACTS and prefix + "folder" in data:
                setting["folder"] = data[prefix + "folder"].strip()
            if sync_object == SyncObject.EVENTS:
                setting["event_scope"] = data.get(prefix + "event_scope", EventScope.ALL)
                setting["event_category"] = data.get(prefix + "event_category", "").strip()
            if sync_object != SyncObject.TASKS:
                setting["excluded_addresses"] = _lines(data.get(prefix + "excluded_addresses", ""), commas=True)
            if sync_object == SyncObject.CONTACTS and "folder" not in setting:
                # Contacts that just started syncing: show the folder the services would give them.
                setting = apply_setting_defaults(sync_object, None, setting)
            data_set: dict[str, Any] = {}
            if sync_object == SyncObject.CONTACTS:
                data_set["scope"] = data.get(prefix + "scope", ContactScope.MY_CONTACTS)
            for name in _DAYS[SyncObject(sync_object)]:
                data_set[name] = _number(data.get(prefix + name, ""))
            limit = data.get(prefix + "record_limit", "").strip()
            data_set["record_limit"] = _number(limit) if limit else None
            filters = []
            for index in range(MAX_FILTER_ROWS + 5):
                row = {key: data.get(f"{prefix}filters-{index}-{key}", "") for key in ("field", "op", "value")}
                if f"{prefix}filters-{index}-field" not in data:
                    continue
                if action == f"remove-filter:{sync_object}:{index}":
                    continue
                kind = soql.field_type(sync_object, row["field"])
                if live and kind is not None and row["op"] not in soql.operators_for(kind):
                    row["op"] = soql.operators_for(kind)[0]
                if live or row["field"] or row["value"]:
                    filters.append(row)
            if action == f"add-filter:{sync_object}":
                filters.append({"field": "", "op": "equals", "value": ""})
            objects.append(ObjectForm(sync_object, setting, data_set, filters))
        form = cls(fields, objects, configuration)
        form.touched = touched
        return form

    def values(self, drop_conflict_for: str | None = None) -> dict:
        """The API-shaped values the services take. ``drop_conflict_for`` (an object) leaves that object's
        conflict behaviour out so a just-chosen one-way direction brings its required one."""
        values: dict[str, Any] = {
            "name": self.fields["name"],
            "description": self.fields["description"],
            "active": self.fields["active"],
            "sync_mode": self.fields["sync_mode"],
            "sync_interval_minutes": _number(str(self.fields["sync_interval_minutes"])),
            "profiles": _lines(self.fields["profiles"]),
            "data_settings": {},
            "data_sets": {},
        }
        for form in self.objects:
            setting = dict(form.setting)
            if form.object == drop_conflict_for or (
                setting.get("direction") == Direction.NONE and "conflict_behavior" in setting
            ):
                setting.pop("conflict_behavior", None)
            if form.object == SyncObject.CONTACTS and setting.get("direction") == Direction.NONE:
                setting.pop("folder", None)  # the services clear it: a setting that does not sync has no folder
            if setting.get("event_scope") == EventScope.ALL:
                setting["event_category"] = ""
            if form.syncs:
                # Options the direction does not read are not on the page: the services give them their defaults.
                for option in OPTION_DEFAULTS:
                    if not option_applies(form.object, form.direction, option):
                        setting.pop(option, None)
            values["data_settings"][form.object] = setting
            data_set = dict(form.data_set)
            data_set["filters"] = [
                {"field": row["field"], "op": row["op"], "value": _filter_value(row["op"], row["value"])}
                for row in form.filters
            ]
            values["data_sets"][form.object] = data_set
        return values

    def set_errors(self, errors: dict) -> None:
        """Attach the services' errors (the API's shape) to the fields they name; in live validation, only those
        of the fields the admin has touched."""
        self.errors = {key: value for key, value in errors.items() if key not in ("data_settings", "data_sets")}
        settings = errors.get("data_settings") if isinstance(errors.get("data_settings"), dict) else {}
        data_sets = errors.get("data_sets") if isinstance(errors.get("data_sets"), dict) else {}
        for form in self.objects:
            form.errors = {"setting": settings.get(form.object) or {}, "data_set": data_sets.get(form.object) or {}}
        if self.touched is not None:
            self._keep_touched_errors()

    def _keep_touched_errors(self) -> None:
        touched = self.touched or set()
        self.errors = {key: value for key, value in self.errors.items() if key in touched}
        for form in self.objects:
            prefix = f"{form.object}-"
            setting = {k: v for k, v in form.errors["setting"].items() if prefix + k in touched}
            data_set = {k: v for k, v in form.errors["data_set"].items() if k == "filters" or prefix + k in touched}
            filters = data_set.get("filters")
            if isinstance(filters, dict):  # per row and key; a row's own errors once any of its fields was touched
                kept = {}
                for index, row_errors in filters.items():
                    names = {f"{prefix}filters-{index}-{key}" for key in ("field", "op", "value")}
                    row = {k: v for k, v in row_errors.items()
                           if f"{prefix}filters-{index}-{k}" in touched or (k not in ("field", "op", "value")
                                                                            and names & touched)}
                    if row:
                        kept[index] = row
                if kept:
                    data_set["filters"] = kept
                else:
                    data_set.pop("filters")
            form.errors = {"setting": setting, "data_set": data_set}

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(f.errors.get("setting") or f.errors.get("data_set") for f in self.objects)

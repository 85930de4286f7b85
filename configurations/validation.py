"""The rules an Outlook Configuration must follow, in one place, reported per field.

Every entry point (the API's serializers and the console's forms, both through ``configurations.services``) ends up
here; the admin site only reads. The models know no rules: this module imports them, never the other way round.
Errors come back as dicts in the API's shape: ``{"field": ["message", ...]}``, nested for nested objects, and a
list aligned with the items for lists of filters.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from configurations import soql
from configurations.models import (
    DATA_SET_FIELDS,
    DEFAULT_CONTACTS_FOLDER,
    MAX_DAYS,
    MAX_SYNC_INTERVAL_MINUTES,
    SETTING_FIELDS,
    ConflictBehavior,
    ContactScope,
    Direction,
    EventScope,
    OutlookConfiguration,
    ProfileAssignment,
    SyncMode,
    SyncObject,
)

Errors = dict[str, Any]

# The conflict behaviour a one-way direction requires (Salesforce's own rule: the source side wins).
REQUIRED_CONFLICT_BEHAVIOR = {
    Direction.SALESFORCE_TO_OUTLOOK: ConflictBehavior.SALESFORCE_WINS,
    Direction.OUTLOOK_TO_SALESFORCE: ConflictBehavior.OUTLOOK_WINS,
}
# Directions each object may take: contacts never sync from Outlook to Salesforce only.
ALLOWED_DIRECTIONS = {
    SyncObject.CONTACTS: (Direction.NONE, Direction.SALESFORCE_TO_OUTLOOK, Direction.BOTH),
    SyncObject.EVENTS: tuple(Direction),
    SyncObject.TASKS: tuple(Direction),
}
# Options only some directions read (DESIGN.md §5; sync.engine.records.DataSetting.deletion_propagates and
# sync.runner's auto-relate), with the value that changes nothing. Elsewhere the form hides them and the rules
# refuse any other value, so that no saved option looks as if it did something. A direction of ``none`` syncs nothing
# and keeps its options as they are, for when the object syncs again.
OPTION_DEFAULTS = {"auto_relate": False, "propagate_deletions": True, "merge_fields": False,
                   "update_organized_meetings": False}
_WRITES_TO_SALESFORCE = (Direction.OUTLOOK_TO_SALESFORCE, Direction.BOTH)
_WRITES_TO_OUTLOOK = (Direction.SALESFORCE_TO_OUTLOOK, Direction.BOTH)
MAX_RECORD_LIMIT = 1_000_000
MAX_EXCLUDED_ADDRESSES = 1000
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Names people read (a configuration's, a profile's, a folder's, a category's, a synced user's) hold no control
# characters and no bidirectional-text controls (embeddings, overrides, isolates and the implicit marks, which make
# text display differently from what it is), and at least one character that shows: whitespace and invisible
# formatting characters (zero-width spaces and joiners, soft hyphen, variation selectors, Hangul and Braille blanks)
# alone do not make a name. Free text (a description) may also hold line breaks and tabs. The classes read alike in
# Python and in the ECMA-262 patterns of the OpenAPI schema, which publishes exactly the rule enforced here.
_CONTROL_CLASS = r"\u0000-\u001f\u007f-\u009f"
# The same, less tab, line feed and carriage return.
_TEXT_CONTROL_CLASS = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"
_BIDI_CLASS = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_INVISIBLE_CLASS = (
    r"\u0009-\u000d\u0020\u00a0\u00ad\u034f\u115f\u1160\u1680\u180b-\u180e\u2000-\u200d\u2028\u2029\u202f"
    r"\u205f-\u2064\u206a-\u206f\u2800\u3000\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb"
)
_BIDI = re.compile(f"[{_BIDI_CLASS}]")
_NAME_CONTROLS = re.compile(f"[{_CONTROL_CLASS}]")
_TEXT_CONTROLS = re.compile(f"[{_TEXT_CONTROL_CLASS}]")
_VISIBLE = re.compile(f"[^{_CONTROL_CLASS}{_BIDI_CLASS}{_INVISIBLE_CLASS}]")
NAME_PATTERN = (f"^[^{_CONTROL_CLASS}{_BIDI_CLASS}]*[^{_CONTROL_CLASS}{_BIDI_CLASS}{_INVISIBLE_CLASS}]"
                f"[^{_CONTROL_CLASS}{_BIDI_CLASS}]*$")
# Non-empty: the schema offers the empty string beside it for fields that may be blank.
TEXT_PATTERN = f"^[^{_TEXT_CONTROL_CLASS}{_BIDI_CLASS}]+$"


class ConfigurationInvalid(Exception):
    """A configuration change broke a rule; ``errors`` is in the API's shape."""

    def __init__(self, errors: Errors):
        super().__init__(errors)
        self.errors = errors


def _add(errors: Errors, field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def text_errors(value: str, what: str = "name", multiline: bool = False) -> list[str]:
    """What is wrong with ``value`` as a name people read (``what`` says which, in the messages), or as free text
    when ``multiline``: control characters, bidirectional-text controls, nothing visible. Empty when it is fine."""
    errors = []
    if (_TEXT_CONTROLS if multiline else _NAME_CONTROLS).search(value):
        allowed = " (line breaks and tabs are fine)" if multiline else ""
        errors.append(f"The {what} contains control characters; remove them{allowed}.")
    if _BIDI.search(value):
        errors.append(f"The {what} contains bidirectional-text control characters (such as U+202E), which make it "
                      "display differently from what it is; remove them.")
    if not multiline and not _VISIBLE.search(value):
        errors.append(f"The {what} has no visible character once spaces and invisible characters are left out; "
                      f"enter a {what} people can read.")
    return errors


def default_conflict_behavior(direction: str) -> str:
    return REQUIRED_CONFLICT_BEHAVIOR.get(direction, ConflictBehavior.SALESFORCE_WINS)


def option_applies(sync_object: str, direction: str, option: str) -> bool:
    """Whether a sync in ``direction`` reads ``option`` (always True for options every direction reads).

    auto_relate relates the events written to Salesforce, so only directions that write Outlook's events there use
    it. propagate_deletions is a choice only in ``both``, and for events from Outlook to Salesforce: one way from
    Salesforce, a Salesforce deletion always deletes the Outlook copy, and so does an Outlook task deletion one way
    from Outlook. merge_fields merges a record changed on both sides, which only ``both`` sees.
    update_organized_meetings decides how Salesforce's changes are written to Outlook, so it needs a direction that
    writes to Outlook.
    """
    if option == "merge_fields":
        return direction == Direction.BOTH
    if option == "update_organized_meetings":
        return direction in _WRITES_TO_OUTLOOK
    if option == "auto_relate":
        return direction in _WRITES_TO_SALESFORCE
    if option == "propagate_deletions":
        return direction == Direction.BOTH or (
            sync_object == SyncObject.EVENTS and direction == Direction.OUTLOOK_TO_SALESFORCE
        )
    return True


def _pointless_option_message(sync_object: str, direction: str, option: str) -> str:
    label = Direction(direction).label
    if option == "merge_fields":
        return (f"Merging fields does nothing with {label}: only both ways can see a record changed on both sides. "
                "Set merge_fields to false, or choose both ways.")
    if option == "update_organized_meetings":
        return (f"Updating meetings the user organizes does nothing with {label}: the sync never writes events to "
                "Outlook then. Set update_organized_meetings to false, or choose Salesforce to Outlook or Both ways.")
    if option == "auto_relate":
        return (f"Relating events to attendees does nothing with {label}: it relates the events written to "
                "Salesforce, so it needs Outlook to Salesforce or Both ways. Set auto_relate to false, or choose one "
                "of those directions.")
    if direction == Direction.SALESFORCE_TO_OUTLOOK:
        what = "a deletion in Salesforce always deletes the Outlook copy"
    else:
        what = f"a deletion in Outlook always deletes the Salesforce copy of {sync_object}"
    return (f"With {label}, {what}; propagate_deletions is a choice only when both sides sync (and for events from "
            "Outlook to Salesforce). Set it to true, or leave it out.")


def normalize_excluded_address(entry: str) -> str:
    entry = entry.strip().lower()
    return entry[1:] if entry.startswith("@") else entry


def validate_data_setting(sync_object: str, values: dict) -> Errors:
    """The errors of one object's data setting (an empty dict when it is valid)."""
    errors: Errors = {}
    sync_object = SyncObject(sync_object)
    for key in sorted(set(values) - set(SETTING_FIELDS[sync_object])):
        _add(errors, key, f"Not an option of {sync_object}.")
    direction = values.get("direction", Direction.NONE)
    conflict = values.get("conflict_behavior", ConflictBehavior.SALESFORCE_WINS)
    if direction not in Direction.values:
        _add(errors, "direction", f"Choose one of: {', '.join(Direction.values)}.")
    elif direction not in ALLOWED_DIRECTIONS[sync_object]:
        _add(errors, "direction", "Contacts cannot sync from Outlook to Salesforce only; choose both ways instead.")
    if conflict not in ConflictBehavior.values:
        _add(errors, "conflict_behavior", f"Choose one of: {', '.join(ConflictBehavior.values)}.")
    elif direction in REQUIRED_CONFLICT_BEHAVIOR and conflict != REQUIRED_CONFLICT_BEHAVIOR[direction]:
        required = REQUIRED_CONFLICT_BEHAVIOR[direction]
        _add(errors, "conflict_behavior", f"{Direction(direction).label} requires {required} ({required.label}).")
    if sync_object == SyncObject.CONTACTS:
        folder = values.get("folder", "")
        if not isinstance(folder, str):
            _add(errors, "folder", "Enter a folder name.")
        elif direction == Direction.NONE and folder:
            _add(errors, "folder", "A data setting that does not sync (direction none) has no folder.")
        elif direction != Direction.NONE and not folder.strip():
            _add(errors, "folder", "Enter the Outlook contacts folder to sync into.")
        elif len(folder) > 255 or _CONTROL.search(folder) or folder != folder.strip() or "\\" in folder:
            _add(errors, "folder", "Enter a folder name of at most 255 characters, without backslashes, "
                                   "control characters or surrounding spaces.")
        elif folder:
            for message in text_errors(folder, "folder name"):
                _add(errors, "folder", message)
    if sync_object == SyncObject.EVENTS:
        scope = values.get("event_scope", EventScope.ALL)
        category = values.get("event_category", "")
        if scope not in EventScope.values:
            _add(errors, "event_scope", f"Choose one of: {', '.join(EventScope.values)}.")
        elif scope == EventScope.CATEGORY and not (isinstance(category, str) and category.strip()):
            _add(errors, "event_category", "Enter the Outlook category whose events sync.")
        elif scope == EventScope.ALL and category:
            _add(errors, "event_category", "A category only applies when the event scope is category.")
        if isinstance(category, str) and (len(category) > 255 or _CONTROL.search(category)):
            _add(errors, "event_category", "Enter a category name of at most 255 characters.")
        elif isinstance(category, str) and category:
            for message in text_errors(category, "category"):
                _add(errors, "event_category", message)
    for flag in ("sync_private_events", "propagate_deletions", "auto_relate", "merge_fields",
                 "update_organized_meetings"):
        if flag in values and not isinstance(values[flag], bool):
            _add(errors, flag, "Enter true or false.")
        elif (
            flag in OPTION_DEFAULTS
            and flag in SETTING_FIELDS[sync_object]
            and values.get(flag, OPTION_DEFAULTS[flag]) != OPTION_DEFAULTS[flag]
            and direction in Direction.values
            and direction != Direction.NONE
            and not option_applies(sync_object, direction, flag)
        ):
            _add(errors, flag, _pointless_option_message(sync_object, direction, flag))
    if "excluded_addresses" in values:
        entries = values["excluded_addresses"]
        if not isinstance(entries, list):
            _add(errors, "excluded_addresses", "Enter a list of e-mail addresses and domains.")
        elif len(entries) > MAX_EXCLUDED_ADDRESSES:
            _add(errors, "excluded_addresses", f"Enter at most {MAX_EXCLUDED_ADDRESSES} addresses.")
        else:
            for entry in entries:
                if not _is_address_or_domain(entry):
                    message = f"{str(entry)[:80]!r} is neither an e-mail address nor a domain."
                    _add(errors, "excluded_addresses", message)
    return errors


def _is_address_or_domain(entry: Any) -> bool:
    if not isinstance(entry, str) or not entry.strip():
        return False
    entry = normalize_excluded_address(entry)
    if "@" in entry:
        try:
            validate_email(entry)
        except ValidationError:
            return False
        return True
    return bool(_DOMAIN.match(entry))


def validate_data_set(sync_object: str, values: dict) -> Errors:
    """The errors of one object's data set, including each filter's (checked by the SOQL compiler's rules)."""
    errors: Errors = {}
    sync_object = SyncObject(sync_object)
    for key in sorted(set(values) - set(DATA_SET_FIELDS[sync_object])):
        _add(errors, key, f"Not an option of the {sync_object} data set.")
    if "scope" in values and values["scope"] not in ContactScope.values:
        _add(errors, "scope", f"Choose one of: {', '.join(ContactScope.values)}.")
    for name in ("days_back", "days_ahead", "closed_days_back"):
        if name in values and not _whole_number_between(values[name], 0, MAX_DAYS):
            _add(errors, name, f"Enter a whole number of days from 0 to {MAX_DAYS}.")
    limit = values.get("record_limit")
    if limit is not None and not _whole_number_between(limit, 1, MAX_RECORD_LIMIT):
        _add(errors, "record_limit", f"Enter a limit from 1 to {MAX_RECORD_LIMIT}, or null for no limit.")
    if "filters" in values:
        filter_errors = soql.filter_errors(sync_object, values["filters"])
        if filter_errors:
            errors["filters"] = filter_errors
    return errors


def _whole_number_between(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


SYNC_MODE_INVALID = ('Choose "near_real_time" (changes sync within seconds, with a safety-net sync every '
                     'SYNC_SWEEP_HOURS hours) or "schedule" (every sync_interval_minutes).')


def validate_configuration_fields(values: dict, instance: OutlookConfiguration | None = None) -> Errors:
    """Name (unique, case-insensitively), sync mode, interval and profiles (each in at most one configuration)."""
    errors: Errors = {}
    if "name" in values:
        name = values["name"]
        if not isinstance(name, str) or not name.strip():
            _add(errors, "name", "Enter a name.")
        elif len(name) > 120:
            _add(errors, "name", "Enter at most 120 characters.")
        elif problems := text_errors(name, "name"):
            errors.setdefault("name", []).extend(problems)
        else:
            others = OutlookConfiguration.objects.filter(name__iexact=name.strip())
            if instance is not None and instance.pk:
                others = others.exclude(pk=instance.pk)
            if others.exists():
                _add(errors, "name", "A configuration with this name already exists.")
    description = values.get("description")
    if isinstance(description, str) and (problems := text_errors(description, "description", multiline=True)):
        errors.setdefault("description", []).extend(problems)
    if "sync_interval_minutes" in values and not _whole_number_between(
        values["sync_interval_minutes"], 1, MAX_SYNC_INTERVAL_MINUTES
    ):
        _add(errors, "sync_interval_minutes", f"Enter a whole number of minutes from 1 to {MAX_SYNC_INTERVAL_MINUTES}.")
    if "sync_mode" in values and values["sync_mode"] not in SyncMode.values:
        _add(errors, "sync_mode", SYNC_MODE_INVALID)
    if "profiles" in values:
        profiles = values["profiles"]
        if not isinstance(profiles, list) or not all(isinstance(p, str) and p.strip() for p in profiles):
            _add(errors, "profiles", "Enter a list of profile names.")
        elif problems := [f"{p[:80]!r}: {message}" for p in profiles for message in text_errors(p, "profile name")]:
            errors.setdefault("profiles", []).extend(problems)
        else:
            taken = ProfileAssignment.objects.filter(profile__in=[p.strip() for p in profiles]).select_related(
                "configuration"
            )
            if instance is not None and instance.pk:
                taken = taken.exclude(configuration=instance)
            for assignment in taken:
                _add(
                    errors,
                    "profiles",
                    f"Profile {assignment.profile!r} already belongs to configuration "
                    f"{assignment.configuration.name!r}; a profile belongs to at most one configuration.",
                )
    return errors


def apply_setting_defaults(sync_object: str, current: dict | None, changes: dict) -> dict:
    """The data setting after ``changes``, with the defaults a client may leave out filled in.

    A changed direction brings its required conflict behaviour unless the change names one; contacts moving to
    ``none`` lose their folder, and contacts starting to sync get the default folder, unless the change names one.
    An option the direction does not read (``option_applies``) goes back to the value that changes nothing unless
    the change names it (then the rules refuse any other value).
    """
    values = dict(current or {"direction": Direction.NONE, "conflict_behavior": ConflictBehavior.SALESFORCE_WINS})
    values.update(changes)
    direction = values.get("direction")
    if "direction" in changes and "conflict_behavior" not in changes and direction in REQUIRED_CONFLICT_BEHAVIOR:
        values["conflict_behavior"] = REQUIRED_CONFLICT_BEHAVIOR[direction]
    if sync_object == SyncObject.CONTACTS and "folder" not in changes:
        if direction == Direction.NONE:
            values["folder"] = ""
        elif not values.get("folder"):
            values["folder"] = DEFAULT_CONTACTS_FOLDER
    if direction in Direction.values and direction != Direction.NONE:
        for option, default in OPTION_DEFAULTS.items():
            if option in values and option not in changes and not option_applies(sync_object, direction, option):
                values[option] = default
    entries = values.get("excluded_addresses")
    if isinstance(entries, list) and all(isinstance(e, str) for e in entries):
        values["excluded_addresses"] = list(dict.fromkeys(normalize_excluded_address(e) for e in entries))
    return values

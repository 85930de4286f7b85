"""The audit trail's filters on the console page: who made the change, what kind of thing it was about, the
action, and one synced user or one configuration; and what an entry says changed (field names, never values)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q, QuerySet

from audit.models import AuditEntry
from users.services import resolve_users

# What an entry is about, from its action's first word ("configuration.updated": a configuration). Actions added
# later get a kind of their own, named after that word.
OBJECT_LABELS = {"configuration": "Configurations", "assignment": "Assignments", "user": "Synced users",
                 "connection": "Connections"}
_SAME_KIND = {"users": "user"}  # "users.imported" is about synced users too
SYSTEM = "system"  # how the trail names changes made without a person (the scheduler, commands)


def object_kind(action: str) -> str:
    prefix = action.split(".", 1)[0]
    return _SAME_KIND.get(prefix, prefix)


def action_label(action: str) -> str:
    """An action in words, sentence case ("Connection updated")."""
    try:
        label = str(AuditEntry.Action(action).label)
    except ValueError:
        label = action
    return label.capitalize()


def object_choices() -> list[tuple[str, str]]:
    kinds = dict.fromkeys(object_kind(action) for action in AuditEntry.Action.values)
    return [(kind, OBJECT_LABELS.get(kind, kind.replace("_", " ").capitalize())) for kind in kinds]


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150, label="Who",
                            help_text=f"Part of a username, or {SYSTEM} for the scheduler's and commands' changes.")
    object = forms.ChoiceField(required=False, label="About")
    action = forms.ChoiceField(required=False, label="Action")
    user = forms.CharField(required=False, max_length=254, label="Synced user",
                           help_text="Id, username or e-mail address.")
    configuration = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1, label="Configuration")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["object"].choices = [("", "Anything"), *object_choices()]
        self.fields["action"].choices = [("", "Any action"),
                                         *((value, action_label(value)) for value in AuditEntry.Action.values)]

    def clean_actor(self) -> str:
        return self.cleaned_data["actor"].strip()

    def clean_user(self) -> int | None:
        value = self.cleaned_data["user"].strip()
        if not value:
            return None
        found, _ = resolve_users([value])
        if not found:
            raise forms.ValidationError(f"No synced user matches {value!r}: enter an id, a username or an e-mail "
                                        "address.")
        return found[0][1]["pk"]


def filter_entries(queryset: QuerySet, params) -> tuple[QuerySet, AuditFilterForm]:
    """The entries matching the query parameters, and the bound form (whose errors name any bad parameter); with bad
    parameters, no entries. An empty parameter filters nothing."""
    form = AuditFilterForm(params or None)
    if not form.is_bound:
        return queryset, form
    if not form.is_valid():
        return queryset.none(), form
    wanted = form.cleaned_data
    if wanted["actor"]:
        matches = Q(actor_name__icontains=wanted["actor"])
        if wanted["actor"].lower() == SYSTEM:
            matches |= Q(actor_name="")
        queryset = queryset.filter(matches)
    if wanted["object"]:
        prefixes = [prefix for prefix, kind in _SAME_KIND.items() if kind == wanted["object"]] + [wanted["object"]]
        matches = Q()
        for prefix in prefixes:
            matches |= Q(action__startswith=f"{prefix}.")
        queryset = queryset.filter(matches)
    if wanted["action"]:
        queryset = queryset.filter(action=wanted["action"])
    if wanted["user"] is not None:
        queryset = queryset.filter(subject_user_id=wanted["user"])
    if wanted["configuration"] is not None:
        queryset = queryset.filter(configuration_id=wanted["configuration"])
    return queryset, form


MAX_FIELDS = 8


def _paths(value: Any, prefix: str = "") -> list[str]:
    """The leaf field names of a JSON-like dict, dotted ("data_settings.contacts.direction")."""
    if not isinstance(value, dict) or not value:
        return [prefix] if prefix else []
    names: list[str] = []
    for key, inner in value.items():
        names += _paths(inner, f"{prefix}.{key}" if prefix else str(key))
    return names


def changed_fields(changes: Any) -> list[str]:
    """The names of the fields an entry says changed: every changed field of an edit, the fields set by a creation,
    and "secret" when a secret changed. Names only: values (and secrets, which entries never hold) are not shown."""
    if not isinstance(changes, dict):
        return []
    before, after = changes.get("before"), changes.get("after")
    names: list[str] = []
    if isinstance(after, dict) and isinstance(before, dict):
        names = list(dict.fromkeys(_paths(before) + _paths(after)))
    elif isinstance(after, dict):  # created: the fields it was created with
        names = [str(key) for key, value in after.items() if value not in (None, "", [], {}, False)]
    # Alphabetical: PostgreSQL's jsonb keeps no key order (shorter keys first), so stored order is no order at all.
    names.sort()
    if changes.get("secret"):
        names.append("secret")
    return names

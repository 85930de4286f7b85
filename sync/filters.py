"""One filter for sync runs, used by the console's runs page and the API's list alike."""

from __future__ import annotations

from django import forms
from django.db.models import QuerySet

from configurations.models import SyncObject
from sync.models import SyncRun
from users.services import resolve_users


class RunFilterForm(forms.Form):
    user = forms.CharField(
        required=False, max_length=254, label="User", help_text="Id, username or e-mail address.",
    )
    object = forms.ChoiceField(required=False, choices=[("", "Any object"), *SyncObject.choices])
    state = forms.ChoiceField(required=False, choices=[("", "Any state"), *SyncRun.State.choices])
    trigger = forms.ChoiceField(required=False, choices=[("", "Any trigger"), *SyncRun.Trigger.choices])

    def clean_user(self) -> int | None:
        value = self.cleaned_data["user"].strip()
        if not value:
            return None
        found, _ = resolve_users([value])
        if not found:
            raise forms.ValidationError(f"No synced user matches {value!r}.")
        return found[0][1]["pk"]


def filter_runs(queryset: QuerySet, params) -> tuple[QuerySet, RunFilterForm]:
    """The runs matching the query parameters, and the bound form (whose errors name any bad parameter);
    with bad parameters, no runs."""
    form = RunFilterForm(params or None)
    if not form.is_bound:
        return queryset, form
    if not form.is_valid():
        return queryset.none(), form
    filters = {key: value for key, value in form.cleaned_data.items() if value not in (None, "")}
    if "user" in filters:
        filters["user_id"] = filters.pop("user")
    return queryset.filter(**filters), form

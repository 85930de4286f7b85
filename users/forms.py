"""Forms of the users console pages."""

from django import forms

from configurations.models import SyncObject


class ResetForm(forms.Form):
    """The objects to reset: only those the user's configuration syncs are offered."""

    objects = forms.MultipleChoiceField(
        label="Objects to reset",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one object to reset."},
    )

    def __init__(self, *args, synced: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        labels = dict(SyncObject.choices)
        self.fields["objects"].choices = [(name, labels[name]) for name in synced]

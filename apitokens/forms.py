"""The console's form to issue an API token."""

from datetime import timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from apitokens.services import NAME_MAX_LENGTH

EXPIRY_CHOICES = [("", "Never"), ("30", "In 30 days"), ("90", "In 90 days"), ("180", "In 180 days"),
                  ("365", "In a year")]


class IssueTokenForm(forms.Form):
    user = forms.ModelChoiceField(
        label="Account", queryset=get_user_model().objects.none(),
        error_messages={"required": "Choose the account the token authenticates as.",
                        "invalid_choice": "That account does not exist or is disabled; choose another."},
    )
    name = forms.CharField(
        label="Name", max_length=NAME_MAX_LENGTH, help_text="Who or what uses it, e.g. \"CRM provisioning job\".",
        error_messages={"required": "Give the token a name that says who uses it, for example the integration's "
                                    "name."},
    )
    expires_in = forms.ChoiceField(label="Expires", choices=EXPIRY_CHOICES, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["user"].label_from_instance = lambda user: user.get_username()

    def expires_at(self):
        days = self.cleaned_data.get("expires_in")
        return timezone.now() + timedelta(days=int(days)) if days else None

"""The console's alert settings form: the API's fields in a page's words (addresses one per line, a share in %)."""

from django import forms

from alerts.models import AlertSettings


class AlertSettingsForm(forms.Form):
    emails = forms.CharField(
        label="E-mail addresses", required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One address per line (or separated by commas). Leave empty to send no e-mail.")
    webhook_url = forms.CharField(
        label="Webhook URL", required=False, max_length=500,
        help_text="Alerts are POSTed there as JSON, signed with the shared secret. Leave empty for no webhook.")
    webhook_secret = forms.CharField(
        label="Shared secret", required=False, max_length=200, widget=forms.PasswordInput(render_value=False),
        help_text="16 characters or more. Leave empty to keep the one saved.")
    after_minutes = forms.IntegerField(
        label="Alert an error that lasts more than (minutes)", min_value=1, max_value=7 * 24 * 60,
        error_messages={"required": "Give the number of minutes, from 1 to 10080 (a week).",
                        "invalid": "Give a whole number of minutes, from 1 to 10080 (a week)."},
        help_text="A user whose sync keeps failing this long is alerted.")
    api_share_percent = forms.IntegerField(
        label="Alert when Salesforce API use passes (%)", min_value=1, max_value=100,
        error_messages={"required": "Give the share in %, from 1 to 100.",
                        "invalid": "Give the share as a whole number of %, from 1 to 100."},
        help_text="Share of the org's daily API allocation, as the last sync run reported it.")
    digest = forms.BooleanField(
        label="Send one daily digest instead of each alert as it happens", required=False)

    @classmethod
    def initial_from(cls, row: AlertSettings) -> "AlertSettingsForm":
        return cls(initial={"emails": "\n".join(row.emails), "webhook_url": row.webhook_url,
                            "after_minutes": row.after_minutes, "digest": row.digest,
                            "api_share_percent": round(row.api_share_threshold * 100)})

    def as_settings(self) -> dict:
        data = self.cleaned_data
        return {"emails": data["emails"], "webhook_url": data["webhook_url"], "webhook_secret": data["webhook_secret"],
                "after_minutes": data["after_minutes"], "digest": data["digest"],
                "api_share_threshold": data["api_share_percent"] / 100}


# The service's field names, where the form names them otherwise.
FORM_FIELD = {"api_share_threshold": "api_share_percent"}

"""The Connection form, shared by the console's Connections page and the admin site."""

from django import forms

from sync.models import Connection


class ConnectionForm(forms.ModelForm):
    """The secret is write-only: blank keeps the stored one, and the stored one is never shown."""

    url = forms.URLField(max_length=500, assume_scheme="https", label="URL")
    secret = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text="Salesforce: the connected app's private key (PEM). Exchange: the service account's password. "
        "Leave blank to keep the stored secret.",
    )

    class Meta:
        model = Connection
        fields = ["kind", "url", "username", "client_id", "auth_type", "version", "verify_tls", "ca_certificate"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                continue
            widget.attrs.setdefault("class", "form-select" if isinstance(widget, forms.Select) else "form-control")
        self.fields["ca_certificate"].widget.attrs["rows"] = 3
        self.fields["auth_type"].required = False  # Exchange only; Salesforce forms do not show it

    def clean(self):
        cleaned = super().clean()
        cleaned["auth_type"] = cleaned.get("auth_type") or Connection.AuthType.BASIC
        has_secret = bool(cleaned.get("secret")) or (self.instance.pk and self.instance.has_secret)
        if not has_secret:
            self.add_error("secret", "Enter the secret: there is none stored yet.")
        if cleaned.get("kind") == Connection.Kind.SALESFORCE and not cleaned.get("client_id"):
            self.add_error("client_id", "Enter the connected app's consumer key.")
        if cleaned.get("kind") == Connection.Kind.EXCHANGE and not cleaned.get("username"):
            self.add_error("username", "Enter the service account's user name.")
        return cleaned

    def save(self, commit=True):
        if self.cleaned_data.get("secret"):
            self.instance.set_secret(self.cleaned_data["secret"])
        return super().save(commit)

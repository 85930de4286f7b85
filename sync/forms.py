"""The Connection forms: one per kind for the console's Connections page, and one with every field for the admin.

They turn HTML input into settings; the rules and the saving are the connection service's (``sync.connections``),
the same as for the API.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

from sync.connections import CONNECTION_FIELDS, new_connection, save_connection, validate_connection
from sync.connectors.base import GraphSettings
from sync.models import Connection

DEFAULT_URLS = {
    Connection.Kind.SALESFORCE: "https://login.salesforce.com",
    Connection.Kind.GRAPH: GraphSettings.graph_url,
}


def _https_urls(field, **kwargs):
    """Model fields to form fields, URLs assuming https when typed without a scheme."""
    if isinstance(field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return field.formfield(**kwargs)


class ConnectionForm(forms.ModelForm):
    """The secret is write-only: blank keeps the stored one, and the stored one is never shown."""

    secret = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text="Salesforce: the connected app's private key (PEM). Exchange: the service account's password. "
        "Graph: the client secret, or the certificate's private key and certificate (PEM). "
        "Leave blank to keep the stored secret, unless you change where the connection points (URL, account, "
        "tenant or app): a stored secret is never sent to a new endpoint.",
    )

    secret_label = "Secret"  # noqa: S105 - a label
    kind: str | None = None  # the console's forms are each for one kind; the admin's form for any

    class Meta:
        model = Connection
        formfield_callback = _https_urls
        labels = {"url": "URL"}
        fields = ["kind", "url", "username", "client_id", "tenant_id", "authority_url", "auth_type", "version",
                  "mailbox_routing", "mailbox_domains", "verify_tls", "ca_certificate"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                continue
            widget.attrs.setdefault("class", "form-select" if isinstance(widget, forms.Select) else "form-control")
        for name in ("ca_certificate", "mailbox_domains"):
            if name in self.fields:
                self.fields[name].widget.attrs["rows"] = 3
        if "auth_type" in self.fields:
            self.fields["auth_type"].required = False  # a kind without a choice (Salesforce) gets its default
            allowed = Connection.AUTH_TYPES.get(self.kind, ())
            if allowed:  # the console's per-kind forms offer only their kind's authentications
                self.fields["auth_type"].choices = [(a.value, a.label) for a in allowed]
                self.fields["auth_type"].initial = allowed[0]
        if not self.instance.pk and self.kind in DEFAULT_URLS:
            self.initial.setdefault("url", DEFAULT_URLS[self.kind])

    @property
    def connection_kind(self) -> str:
        return self.kind or self.cleaned_data.get("kind") or self.instance.kind

    def settings(self) -> dict:
        """The connection settings this form edits, as cleaned (the kind and the secret are not settings)."""
        return {name: self.cleaned_data[name] for name in CONNECTION_FIELDS
                if name in self.fields and name in self.cleaned_data}

    def _post_clean(self):
        # In place of ModelForm's own model validation: the connection service's check, which includes it and adds
        # what each kind needs to connect, so the console, the admin and the API refuse the same input in the same
        # words. Fields the form already refused keep the form's error alone.
        kind = self.connection_kind
        if kind not in Connection.Kind.values:
            return
        if not self.instance.pk:
            self.instance = new_connection(kind)
        try:
            validate_connection(self.instance, secret=self.cleaned_data.get("secret"), **self.settings())
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                if name not in self.errors:
                    self.add_error(name if name in self.fields else None, messages)

    def save(self, commit=True, *, actor=None):
        """Save through the connection service (one transaction, an audit entry naming `actor`). With `commit`
        false: the checked, unsaved connection, as ModelForm gives it."""
        if not commit:
            return super().save(commit=False)
        self.instance = save_connection(self.connection_kind, secret=self.cleaned_data.get("secret"), actor=actor,
                                        **self.settings())
        return self.instance


class SalesforceConnectionForm(ConnectionForm):
    class Meta(ConnectionForm.Meta):
        fields = ["kind", "url", "client_id", "username", "version", "verify_tls", "ca_certificate"]
        labels = {"url": "Login URL", "client_id": "Consumer key", "username": "Integration user",
                  "version": "API version"}
        help_texts = {"url": "https://login.salesforce.com, https://test.salesforce.com or your My Domain.",
                      "client_id": "From the connected app; its certificate matches the private key below.",
                      "username": "A user pre-authorised for the connected app; its token lists users for import and "
                                  "reads the org's change feed, so it must see every synced record (View All Data, "
                                  "or a profile that sees them).",
                      "version": "Blank: 62.0."}

    field_order = ["url", "client_id", "secret", "username", "version"]
    secret_label = "Private key (PEM)"  # noqa: S105 - a label
    kind = Connection.Kind.SALESFORCE


class EwsConnectionForm(ConnectionForm):
    class Meta(ConnectionForm.Meta):
        fields = ["kind", "url", "username", "auth_type", "version", "verify_tls", "ca_certificate"]
        labels = {"url": "EWS URL", "username": "Service account", "auth_type": "Authentication",
                  "version": "Exchange version"}
        help_texts = {"url": "e.g. https://mail.example.com/EWS/Exchange.asmx",
                      "username": "Holds the ApplicationImpersonation role on the synced mailboxes.",
                      "version": "Exchange2013, Exchange2016 or Exchange2019 (blank: Exchange2016)."}

    field_order = ["url", "username", "secret", "auth_type", "version"]
    secret_label = "Password"  # noqa: S105 - a label
    kind = Connection.Kind.EXCHANGE


class GraphConnectionForm(ConnectionForm):
    class Meta(ConnectionForm.Meta):
        fields = ["kind", "url", "tenant_id", "client_id", "auth_type", "authority_url", "mailbox_routing",
                  "mailbox_domains", "verify_tls", "ca_certificate"]
        labels = {"url": "Graph URL", "tenant_id": "Tenant", "client_id": "Application (client) id",
                  "auth_type": "Authentication", "authority_url": "Authority URL",
                  "mailbox_routing": "Mailboxes served", "mailbox_domains": "Mailbox domains"}
        help_texts = {
            "url": "https://graph.microsoft.com (national clouds have their own).",
            "client_id": "The app registration, with the application permissions Contacts.ReadWrite, "
                         "Calendars.ReadWrite and Tasks.ReadWrite.All.",
            "mailbox_routing": "The mailboxes it does not serve go to the Exchange (EWS) connection; a user can "
                               "also be routed one by one on their page.",
        }

    field_order = ["url", "tenant_id", "client_id", "auth_type", "secret", "mailbox_routing", "mailbox_domains",
                   "authority_url"]
    secret_label = "Client secret or certificate"  # noqa: S105 - a label
    kind = Connection.Kind.GRAPH


FORMS: dict[str, type[ConnectionForm]] = {
    Connection.Kind.SALESFORCE: SalesforceConnectionForm,
    Connection.Kind.EXCHANGE: EwsConnectionForm,
    Connection.Kind.GRAPH: GraphConnectionForm,
}


def connection_form(kind: str, *args, **kwargs) -> ConnectionForm:
    """The console form for one kind of connection."""
    return FORMS[kind](*args, **kwargs)

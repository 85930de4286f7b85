"""What the sync remembers: the connections to the two ends, the link table, and every run with its errors."""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from configurations.models import SyncObject
from syncadmin import crypto


class Connection(models.Model):
    """One end: the Salesforce org (JWT bearer flow), the on-premises Exchange endpoint (EWS with a service
    account), or Exchange Online (Microsoft Graph with an app registration). A hybrid organisation configures both
    Exchange kinds; ``sync.routing.mailbox_route`` decides which one serves each mailbox.

    The secret (the connected app's private key, the service account's password, or the app registration's client
    secret or certificate) is stored encrypted and is never shown back: read it with ``secret`` in code, set it with
    ``set_secret``.
    """

    class Kind(models.TextChoices):
        SALESFORCE = "salesforce", "Salesforce org"
        EXCHANGE = "exchange", "Exchange (EWS)"
        GRAPH = "graph", "Exchange Online (Microsoft Graph)"

    class AuthType(models.TextChoices):
        BASIC = "basic", "Basic"
        NTLM = "ntlm", "NTLM"
        CLIENT_SECRET = "client_secret", "Client secret"
        CERTIFICATE = "certificate", "Certificate"

    class MailboxRouting(models.TextChoices):
        ALL = "all", "Every mailbox"
        DOMAINS = "domains", "Mailboxes in the listed domains"
        USERS = "users", "Only users routed to it one by one"

    EXCHANGE_KINDS = (Kind.EXCHANGE, Kind.GRAPH)
    AUTH_TYPES = {
        Kind.SALESFORCE: (),
        Kind.EXCHANGE: (AuthType.BASIC, AuthType.NTLM),
        Kind.GRAPH: (AuthType.CLIENT_SECRET, AuthType.CERTIFICATE),
    }

    kind = models.CharField(max_length=20, choices=Kind.choices, unique=True)
    url = models.URLField(
        max_length=500, help_text="Salesforce: the login URL. Exchange: the EWS URL (…/EWS/Exchange.asmx). "
        "Graph: the Graph endpoint (https://graph.microsoft.com)."
    )
    tenant_id = models.CharField(
        max_length=255, blank=True, default="",
        help_text="Graph: the directory (tenant) id, or the tenant's verified domain.",
    )
    authority_url = models.URLField(
        max_length=500, blank=True, default="",
        help_text="Graph: where tokens come from (blank: https://login.microsoftonline.com).",
    )
    mailbox_routing = models.CharField(
        max_length=10, choices=MailboxRouting.choices, default=MailboxRouting.ALL,
        help_text="Graph: which mailboxes it serves; the others go to the EWS connection.",
    )
    mailbox_domains = models.TextField(
        blank=True, default="",
        help_text="Graph, when routing by domain: the mailbox domains in Exchange Online, one per line.",
    )
    username = models.CharField(
        max_length=255, blank=True, default="",
        help_text="Exchange: the service account with impersonation rights. Salesforce: the integration user "
        "whose token lists users for import and reads the org's change feed: it must see every synced record "
        "(View All Data, or a profile that sees them).",
    )
    client_id = models.CharField(
        max_length=255, blank=True, default="", help_text="Salesforce: the connected app's consumer key."
    )
    secret_encrypted = models.TextField(blank=True, default="", editable=False)
    auth_type = models.CharField(max_length=20, choices=AuthType.choices, default=AuthType.BASIC)
    version = models.CharField(
        max_length=30, blank=True, default="",
        help_text="Salesforce: API version (e.g. 62.0). Exchange: Exchange2013, Exchange2016 or Exchange2019.",
    )
    verify_tls = models.BooleanField(default=True)
    ca_certificate = models.TextField(
        blank=True, default="", help_text="PEM of a private CA to trust (blank: the system's trusted CAs)."
    )
    updated_at = models.DateTimeField(auto_now=True)
    # The last "Test" of the connection (Connections page or API), kept so that every page and process sees it and a
    # failed one is alerted (alerts.causes): when, whether it worked (None: nothing to test with, e.g. no mailbox
    # routed to it), and the sentence it answered. A change of the settings clears it: it said nothing about them.
    last_test_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_test_ok = models.BooleanField(null=True, blank=True, editable=False)
    last_test_detail = models.TextField(blank=True, default="", editable=False)

    class Meta:
        ordering = ["kind"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.url}"

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted)

    def set_secret(self, value: str) -> None:
        self.secret_encrypted = crypto.encrypt(value)

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)

    @property
    def domains(self) -> list[str]:
        """The mailbox domains listed for routing, lower-case, without a leading @."""
        return parse_domains(self.mailbox_domains)

    def clean(self) -> None:
        errors = {}
        allowed = self.AUTH_TYPES.get(self.kind, ())
        if allowed and self.auth_type not in allowed:
            labels = " or ".join(str(self.AuthType(a).label) for a in allowed)
            errors["auth_type"] = f"{self.get_kind_display()} authenticates with {labels}."
        if self.kind == self.Kind.GRAPH:
            if not self.tenant_id.strip():
                errors["tenant_id"] = "Enter the tenant (directory) id or the tenant's domain."
            if not self.client_id.strip():
                errors["client_id"] = "Enter the app registration's application (client) id."
            if self.mailbox_routing == self.MailboxRouting.DOMAINS:
                try:
                    if not parse_domains(self.mailbox_domains, strict=True):
                        errors["mailbox_domains"] = "List at least one domain, or choose another routing."
                except ValueError as exc:
                    errors["mailbox_domains"] = str(exc)
        if errors:
            raise ValidationError(errors)


def parse_domains(text: str, *, strict: bool = False) -> list[str]:
    """Domains from text (one per line, or separated by commas or spaces), lower-case, without a leading @.

    With `strict`, something that is not a domain name raises ValueError naming it.
    """
    out = []
    for token in text.replace(",", " ").split():
        domain = token.strip().lstrip("@").lower().rstrip(".")
        if not domain:
            continue
        if strict and not _DOMAIN.fullmatch(domain):
            raise ValueError(f"{token!r} is not a domain name (e.g. online.example.com).")
        if domain not in out:
            out.append(domain)
    return out


_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")


class LinkState(models.TextChoices):
    LINKED = "linked", "Linked"
    PENDING_CREATE_SALESFORCE = "pending_create_salesforce", "Being created in Salesforce"
    PENDING_CREATE_OUTLOOK = "pending_create_outlook", "Being created in Outlook"
    RELEASED = "released", "Kept in Outlook, unlinked"


class SideChoice(models.TextChoices):
    SALESFORCE = "salesforce", "Salesforce"
    OUTLOOK = "outlook", "Outlook"


class RecordLink(models.Model):
    """A Salesforce record and the Exchange item it is synced with, for one user and object (the link table)."""

    user = models.ForeignKey("users.SyncUser", on_delete=models.CASCADE, related_name="links")
    object = models.CharField(max_length=16, choices=SyncObject.choices)
    # NULL, not "", while a side has no id yet (a pending create): NULLs never collide in the unique constraints.
    salesforce_id = models.CharField(max_length=18, null=True, blank=True)  # noqa: DJ001
    outlook_id = models.CharField(max_length=512, null=True, blank=True)  # noqa: DJ001
    state = models.CharField(max_length=30, choices=LinkState.choices, default=LinkState.LINKED)
    salesforce_version = models.CharField(max_length=64, blank=True, default="")
    outlook_version = models.CharField(max_length=512, blank=True, default="")
    content_hash = models.CharField(max_length=64, blank=True, default="")
    # A tombstone: the copy on this side is gone and the deletion was deliberately not propagated.
    gone = models.CharField(max_length=12, choices=SideChoice.choices, blank=True, default="")
    gone_out_of_scope = models.BooleanField(default=False)
    needs_retry = models.BooleanField(default=False)
    # The Outlook item was linked (created by the sync, or matched by a run that died) after the last stored Exchange
    # feed read: the next run checks it still exists, as the feed never reports an item created and deleted between
    # two reads.
    outlook_unseen = models.BooleanField(default=False)
    # The field digest of the synced content (sync.engine.merge): compact JSON of one short hash per field, read to
    # merge a record changed on both sides field by field. Blank for links that predate it (filled as they sync).
    field_hashes = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "object", "salesforce_id"], name="link_unique_salesforce_id"),
            models.UniqueConstraint(fields=["user", "object", "outlook_id"], name="link_unique_outlook_id"),
        ]
        indexes = [
            # The org feed routes a changed record to every user holding a copy of it (sync.feeds.salesforce).
            models.Index(fields=["object", "salesforce_id"], name="link_by_salesforce_id"),
            # The links every incremental run revisits (sync.linkstore): pending creates, failed writes, and Outlook
            # items a stored feed read has not seen yet.
            models.Index(
                fields=["user", "object"],
                condition=~models.Q(state="linked") | models.Q(needs_retry=True) | models.Q(outlook_unseen=True),
                name="link_revisit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.object}: {self.salesforce_id} ↔ {self.outlook_id} ({self.state})"


class SyncRun(models.Model):
    """One sync job of one user's object: what triggered it, how it went, what it did. Support staff read these."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Sync now"
        RESET = "reset", "Reset"
        COMMAND = "command", "Command line"
        CHANGE = "change", "Change"  # a change feed marked the object dirty (sync.feeds)

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    TERMINAL_STATES = (State.SUCCEEDED, State.FAILED)

    user = models.ForeignKey("users.SyncUser", on_delete=models.CASCADE, related_name="runs")
    object = models.CharField(max_length=16, choices=SyncObject.choices)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    full = models.BooleanField(default=False, help_text="Read everything and match (first sync, reset).")
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # {"salesforce": {"create": n, "update": n, "delete": n}, "outlook": {...}, "links": n, "unlinked": n,
    #  "conflicts": n}: links = pairs linked by this run (created or matched), unlinked = pairs dropped unwritten.
    counts = models.JSONField(default=dict, blank=True)
    api_calls = models.JSONField(default=dict, blank=True)  # {"salesforce": n, "exchange": n}
    # The Exchange protocol that served the mailbox in this run: ews | graph (blank: the run never reached it).
    exchange_protocol = models.CharField(max_length=10, blank=True, default="")
    # The org's daily API requests as Salesforce reported them at the end of the run (Sforce-Limit-Info).
    salesforce_api_used = models.PositiveIntegerField(null=True, blank=True)
    salesforce_api_allocation = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=100, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    # The end whose answer stopped the run (blank: nothing did, or the cause is ours: a guard, the data set, a
    # lost worker). The dashboard's health per end reads it; `exchange_protocol` says which Exchange.
    error_end = models.CharField(max_length=12, blank=True, default="",
                                 choices=[("salesforce", "Salesforce"), ("exchange", "Exchange")])
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    # The queue's own bookkeeping (sync.queue): when the run's task message was last published and how often, and
    # until when a run that found its object busy waits before it is sent again. No delay is ever left to the
    # broker: a delayed message dies with a broker restart, a row does not.
    sent_at = models.DateTimeField(null=True, blank=True)
    sends = models.PositiveSmallIntegerField(default=0)
    deferred_until = models.DateTimeField(null=True, blank=True)
    # The earlier starts of a run whose worker died mid-run and whose message came again:
    # [{"started_at": iso, "ended": "worker_lost"}]; started_at is the current attempt's.
    attempts = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["user", "object", "-created_at"], name="run_user_object_recent"),
            models.Index(fields=["state"], name="run_state"),
        ]

    def __str__(self) -> str:
        return f"run {self.pk}: {self.user_id}/{self.object} {self.state}"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class RecordError(models.Model):
    """One record that could not be synced in a run, with the end's own error code and message."""

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="record_errors")
    side = models.CharField(max_length=12, choices=SideChoice.choices)
    record_id = models.CharField(max_length=512, blank=True, default="")
    code = models.CharField(max_length=100)
    message = models.TextField(blank=True, default="")
    transient = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.side} {self.record_id}: {self.code}"


class Preview(models.Model):
    """A dry run of one user's sync, or the impact of a configuration change, computed by a worker: what a sync
    would do, read from both ends and never applied (sync.previews). Support staff and admins read the result."""

    class Kind(models.TextChoices):
        DRY_RUN = "dry_run", "Dry run"
        IMPACT = "impact", "Impact preview"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    TERMINAL_STATES = (State.DONE, State.FAILED)

    kind = models.CharField(max_length=16, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    # The dry run's user; the impact preview's configuration (kept when the configuration is deleted later).
    user = models.ForeignKey("users.SyncUser", null=True, blank=True, on_delete=models.CASCADE,
                             related_name="previews")
    configuration = models.ForeignKey("configurations.OutlookConfiguration", null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+")
    # What was asked: {"objects": [...]} for a dry run; {"change": {...}} | {"assign": [...]} | {"unassign": [...]}
    # | {"delete": true} for an impact preview.
    request = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    progress = models.JSONField(default=dict, blank=True)  # {"done": n, "total": n, "step": "..."}
    result = models.JSONField(null=True, blank=True)
    error_message = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"preview {self.pk}: {self.kind} {self.state}"


class ChangeFeed(models.Model):
    """One change feed's position and health: the Salesforce org feed of one object, or the listener itself.

    The listener (``manage.py listen``) holds the ``listener`` row's lease (one active listener per deployment)
    and beats its heartbeat there; each Salesforce object's feed keeps its watermark and the ids it already routed
    at that watermark (``cursor``), so a restart resumes where it stopped and nothing is routed twice. Support pages
    read ``state`` and ``error_message``: a feed that falls behind or fails says so, with its cause.
    """

    class Kind(models.TextChoices):
        LISTENER = "listener", "Listener"
        SALESFORCE = "salesforce", "Salesforce org feed"
        GRAPH_DELTA = "graph_delta", "Graph delta polling"

    class State(models.TextChoices):
        OFF = "off", "Off"
        STARTING = "starting", "Starting"
        HEALTHY = "healthy", "Healthy"
        BEHIND = "behind", "Behind"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    key = models.CharField(max_length=40, blank=True, default="", help_text="The object (contacts, events, tasks).")
    state = models.CharField(max_length=12, choices=State.choices, default=State.OFF)
    watermark = models.DateTimeField(null=True, blank=True)
    cursor = models.JSONField(default=dict, blank=True)
    last_poll_at = models.DateTimeField(null=True, blank=True)
    last_change_at = models.DateTimeField(null=True, blank=True)
    lag_seconds = models.FloatField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=255, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=100, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    failed_since = models.DateTimeField(null=True, blank=True)
    api_calls = models.PositiveIntegerField(default=0, help_text="Calls made to the end since the row was created.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "key"]
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="change_feed_unique")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.key}".strip()


class MailboxSubscription(models.Model):
    """A push subscription on one user's Exchange folder (EWS streaming, or Graph change notifications).

    ``subscription_id`` is the server's; ``watermark`` the last EWS watermark seen (blank for Graph);
    ``client_state`` the secret Graph echoes in each notification (checked before anything is marked dirty).
    """

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        FAILED = "failed", "Failed"
        REMOVED = "removed", "Removed"

    user = models.ForeignKey("users.SyncUser", on_delete=models.CASCADE, related_name="subscriptions")
    object = models.CharField(max_length=16, choices=SyncObject.choices)
    protocol = models.CharField(max_length=10, choices=[("ews", "EWS"), ("graph", "Graph")])
    subscription_id = models.CharField(max_length=512, blank=True, default="", db_index=True)
    client_state = models.CharField(max_length=128, blank=True, default="")
    watermark = models.TextField(blank=True, default="")
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user", "object"]
        constraints = [
            models.UniqueConstraint(fields=["user", "object", "protocol"], name="mailbox_subscription_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.protocol} {self.user_id}/{self.object}: {self.state}"

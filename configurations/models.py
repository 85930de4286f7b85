"""Outlook Configurations: what syncs (data sets), how (data settings) and for whom (profiles).

The rules they follow are in ``configurations.validation``; the models hold data and know no rules, so that the
rules can use the models and not the other way round."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower


class SyncObject(models.TextChoices):
    CONTACTS = "contacts", "Contacts"
    EVENTS = "events", "Events"
    TASKS = "tasks", "Tasks"


class Direction(models.TextChoices):
    NONE = "none", "Don't sync"
    SALESFORCE_TO_OUTLOOK = "salesforce_to_outlook", "Salesforce to Outlook"
    OUTLOOK_TO_SALESFORCE = "outlook_to_salesforce", "Outlook to Salesforce"
    BOTH = "both", "Both ways"


class ConflictBehavior(models.TextChoices):
    SALESFORCE_WINS = "salesforce_wins", "Salesforce wins"
    OUTLOOK_WINS = "outlook_wins", "Outlook wins"


class EventScope(models.TextChoices):
    ALL = "all", "All events"
    CATEGORY = "category", "Only events in an Outlook category"


class ContactScope(models.TextChoices):
    MY_CONTACTS = "my_contacts", "My contacts"
    MY_ACCOUNTS_CONTACTS = "my_accounts_contacts", "Contacts on my accounts"
    ALL_VISIBLE = "all_visible", "All contacts I can see"


DEFAULT_CONTACTS_FOLDER = "Salesforce_Sync"
MAX_SYNC_INTERVAL_MINUTES = 7 * 24 * 60
MAX_DAYS = 3650


class SyncMode(models.TextChoices):
    NEAR_REAL_TIME = "near_real_time", "Near real time"
    SCHEDULE = "schedule", "On a schedule"


class OutlookConfiguration(models.Model):
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, default="")
    active = models.BooleanField(default=True)
    sync_interval_minutes = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(MAX_SYNC_INTERVAL_MINUTES)]
    )
    # Near real time: the change feeds trigger runs, with a safety-net sweep every SYNC_SWEEP_HOURS (and the
    # interval whenever a feed an object depends on is not healthy). On a schedule: every interval, as polling.
    sync_mode = models.CharField(max_length=20, choices=SyncMode.choices, default=SyncMode.NEAR_REAL_TIME)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="configuration_name_unique_ci"),
            models.CheckConstraint(
                condition=models.Q(sync_interval_minutes__gte=1), name="configuration_interval_at_least_one_minute"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class DataSetting(models.Model):
    """How one object syncs for a configuration: direction, who wins a conflict, and the object's options."""

    configuration = models.ForeignKey(OutlookConfiguration, on_delete=models.CASCADE, related_name="data_settings")
    object = models.CharField(max_length=16, choices=SyncObject.choices)
    direction = models.CharField(max_length=32, choices=Direction.choices, default=Direction.NONE)
    conflict_behavior = models.CharField(
        max_length=32, choices=ConflictBehavior.choices, default=ConflictBehavior.SALESFORCE_WINS
    )
    # Contacts: the Outlook contacts folder the sync owns (empty when the direction is ``none``).
    folder = models.CharField(max_length=255, blank=True, default="")
    # Events.
    sync_private_events = models.BooleanField(default=False)
    event_scope = models.CharField(max_length=16, choices=EventScope.choices, default=EventScope.ALL)
    event_category = models.CharField(max_length=255, blank=True, default="")
    auto_relate = models.BooleanField(default=False)
    # Events written to Outlook: a change from Salesforce to a meeting the mailbox organizes (one with attendees) is
    # written, which makes Exchange send the attendees an update; off, such meetings are left as they are.
    update_organized_meetings = models.BooleanField(default=False)
    # All objects.
    propagate_deletions = models.BooleanField(default=True)
    # Both ways only: a record changed on both sides is merged field by field (sync.engine.merge); the conflict
    # behaviour then decides only the fields changed on both sides.
    merge_fields = models.BooleanField(default=False)
    # Contacts and events: e-mail addresses (``a@b.com``) and domains (``b.com``) that never sync.
    excluded_addresses = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["configuration", "object"]
        constraints = [
            models.UniqueConstraint(fields=["configuration", "object"], name="data_setting_one_per_object"),
        ]

    def __str__(self) -> str:
        return f"{self.configuration_id}/{self.object}: {self.direction}"


class DataSet(models.Model):
    """Which records of one object sync for a configuration; compiles to SOQL (see ``configurations.soql``)."""

    configuration = models.ForeignKey(OutlookConfiguration, on_delete=models.CASCADE, related_name="data_sets")
    object = models.CharField(max_length=16, choices=SyncObject.choices)
    # Contacts.
    scope = models.CharField(max_length=32, choices=ContactScope.choices, default=ContactScope.MY_CONTACTS)
    # Field filters for every object: [{"field": "MailingCountry", "op": "equals", "value": "France"}, ...]
    filters = models.JSONField(default=list, blank=True)
    record_limit = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    # Events: end date from ``days_back`` ago to start date ``days_ahead`` from now.
    days_back = models.PositiveIntegerField(default=30, validators=[MaxValueValidator(MAX_DAYS)])
    days_ahead = models.PositiveIntegerField(default=365, validators=[MaxValueValidator(MAX_DAYS)])
    # Tasks: open tasks, plus closed ones due in the last ``closed_days_back`` days.
    closed_days_back = models.PositiveIntegerField(default=30, validators=[MaxValueValidator(MAX_DAYS)])

    class Meta:
        ordering = ["configuration", "object"]
        constraints = [
            models.UniqueConstraint(fields=["configuration", "object"], name="data_set_one_per_object"),
            models.CheckConstraint(
                condition=models.Q(record_limit__isnull=True) | models.Q(record_limit__gt=0),
                name="data_set_record_limit_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.configuration_id}/{self.object}"


class ProfileAssignment(models.Model):
    """A Salesforce profile assigned to a configuration; a profile belongs to at most one configuration."""

    profile = models.CharField(max_length=255, unique=True)
    configuration = models.ForeignKey(
        OutlookConfiguration, on_delete=models.CASCADE, related_name="profile_assignments"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["profile"]
        indexes = [models.Index(fields=["configuration", "profile"], name="profile_assignment_by_config")]

    def __str__(self) -> str:
        return f"{self.profile} → {self.configuration_id}"


SETTING_FIELDS = {
    SyncObject.CONTACTS: ("direction", "conflict_behavior", "folder", "propagate_deletions", "excluded_addresses",
                          "merge_fields"),
    SyncObject.EVENTS: (
        "direction",
        "conflict_behavior",
        "sync_private_events",
        "event_scope",
        "event_category",
        "propagate_deletions",
        "auto_relate",
        "update_organized_meetings",
        "excluded_addresses",
        "merge_fields",
    ),
    SyncObject.TASKS: ("direction", "conflict_behavior", "propagate_deletions", "merge_fields"),
}
DATA_SET_FIELDS = {
    SyncObject.CONTACTS: ("scope", "filters", "record_limit"),
    SyncObject.EVENTS: ("days_back", "days_ahead", "filters", "record_limit"),
    SyncObject.TASKS: ("closed_days_back", "filters", "record_limit"),
}


def data_setting_values(setting: DataSetting) -> dict:
    """The options that apply to the setting's object, as a plain dict (the API's shape)."""
    return {name: getattr(setting, name) for name in SETTING_FIELDS[SyncObject(setting.object)]}


def data_set_values(data_set: DataSet) -> dict:
    return {name: getattr(data_set, name) for name in DATA_SET_FIELDS[SyncObject(data_set.object)]}

"""Admin site: the audit trail is read-only (entries are written by the services, never by hand)."""

from django.contrib import admin

from audit.models import AuditEntry
from syncadmin.admin import ReadOnlyAdmin


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor_name", "action", "configuration_name", "subject", "summary")
    list_filter = ("action",)
    search_fields = ("actor_name", "configuration_name", "subject", "summary")
    date_hierarchy = "at"
    readonly_fields = ("at", "actor_name", "action", "configuration_id", "configuration_name", "subject",
                       "subject_user_id", "summary", "changes")
    fields = readonly_fields

"""Admin site: synced users and their per-object state, read-only (changes go through the services)."""

from django.contrib import admin

from syncadmin.admin import ReadOnlyAdmin
from users.models import SyncUser, UserObjectState


class UserObjectStateInline(admin.TabularInline):
    model = UserObjectState
    extra = 0
    can_delete = False
    fields = ("object", "state", "exchange_protocol", "last_run_at", "last_success_at", "next_due_at",
              "consecutive_failures", "last_error_code", "last_error_message")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SyncUser)
class SyncUserAdmin(ReadOnlyAdmin):
    list_display = ("username", "email", "name", "profile", "active", "configuration", "exchange_route")
    list_filter = ("active", "configuration", "profile", "exchange_route")
    search_fields = ("username", "email", "name", "salesforce_id")
    list_select_related = ("configuration",)
    inlines = (UserObjectStateInline,)


@admin.register(UserObjectState)
class UserObjectStateAdmin(ReadOnlyAdmin):
    list_display = ("user", "object", "state", "next_due_at", "consecutive_failures", "last_error_code")
    list_filter = ("object", "state")
    search_fields = ("user__username", "user__email")
    list_select_related = ("user",)

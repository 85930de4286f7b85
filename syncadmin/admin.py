from django.contrib import admin

from syncadmin.models import Heartbeat


class ReadOnlyAdmin(admin.ModelAdmin):
    """Changes go through the services (validation + audit), so the admin site only reads."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdmin):
    """Written by the workers only: a heartbeat added or deleted by hand would make /healthz lie."""

    list_display = ("name", "seen_at")

"""Admin site: configurations are read here and changed through the console or the API (whose services audit
every change; the trail itself is in the ``audit`` app)."""

from django.contrib import admin, messages

from configurations import services
from configurations.models import DataSet, DataSetting, OutlookConfiguration, ProfileAssignment
from syncadmin.admin import ReadOnlyAdmin


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class DataSettingInline(ReadOnlyInline):
    model = DataSetting
    fields = ("object", "direction", "conflict_behavior", "folder", "propagate_deletions", "merge_fields",
              "update_organized_meetings")


class DataSetInline(ReadOnlyInline):
    model = DataSet
    fields = ("object", "scope", "filters", "record_limit", "days_back", "days_ahead", "closed_days_back")


class ProfileAssignmentInline(ReadOnlyInline):
    model = ProfileAssignment
    fields = ("profile", "created_at")
    readonly_fields = ("created_at",)


@admin.register(OutlookConfiguration)
class OutlookConfigurationAdmin(ReadOnlyAdmin):
    list_display = ("name", "active", "sync_interval_minutes", "updated_at")
    list_filter = ("active",)
    search_fields = ("name", "description")
    inlines = (DataSettingInline, DataSetInline, ProfileAssignmentInline)
    actions = ("activate", "deactivate")

    def _set_active(self, request, queryset, active: bool) -> None:
        # Through the service, so the change is validated and audited like any other.
        for configuration in queryset:
            services.update_configuration(configuration, {"active": active}, actor=request.user)
        state = "active" if active else "inactive"
        self.message_user(request, f"{queryset.count()} configuration(s) now {state}.", messages.SUCCESS)

    @admin.action(description="Activate the selected configurations", permissions=["toggle"])
    def activate(self, request, queryset):
        self._set_active(request, queryset, True)

    @admin.action(description="Deactivate the selected configurations", permissions=["toggle"])
    def deactivate(self, request, queryset):
        self._set_active(request, queryset, False)

    def has_toggle_permission(self, request) -> bool:
        return request.user.has_perm("configurations.change_outlookconfiguration")


@admin.register(ProfileAssignment)
class ProfileAssignmentAdmin(ReadOnlyAdmin):
    list_display = ("profile", "configuration", "created_at")
    search_fields = ("profile", "configuration__name")
    list_select_related = ("configuration",)


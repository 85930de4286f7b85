"""Admin site for the sync app: connections are changed through the same service as the console and the API;
runs and links are read-only."""

from django.contrib import admin
from django.db import models

from sync.forms import ConnectionForm
from sync.models import Connection, RecordError, RecordLink, SyncRun
from syncadmin.admin import ReadOnlyAdmin


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = ("kind", "url", "username", "has_secret", "updated_at")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # as the console's forms

    def get_readonly_fields(self, request, obj=None):
        # Connections are saved by kind: changing a stored one's kind would change another connection.
        return ("kind",) if obj is not None else ()

    def save_model(self, request, obj, form, change):
        # Through the connection service (its checks, one transaction, an audit entry), like the console and the
        # API. The admin goes on with `obj` (its log entry, its redirect), so it learns the saved row's id.
        obj.pk = form.save(actor=request.user).pk

    @admin.display(boolean=True, description="secret stored")
    def has_secret(self, obj):
        return obj.has_secret

    def has_delete_permission(self, request, obj=None):
        # Deleting a connection would stop every sync it serves, unaudited: change its settings instead.
        return False


class RecordErrorInline(admin.TabularInline):
    model = RecordError
    extra = 0
    can_delete = False
    readonly_fields = ("side", "record_id", "code", "message", "transient", "created_at")


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ("pk", "user", "object", "trigger", "state", "created_at", "finished_at")
    list_filter = ("state", "object", "trigger")
    search_fields = ("user__username", "user__email")
    list_select_related = ("user",)
    readonly_fields = [f.name for f in SyncRun._meta.fields]
    inlines = [RecordErrorInline]


@admin.register(RecordLink)
class RecordLinkAdmin(ReadOnlyAdmin):
    list_display = ("user", "object", "salesforce_id", "state", "updated_at")
    list_filter = ("object", "state")
    search_fields = ("salesforce_id", "outlook_id", "user__username")
    list_select_related = ("user",)
    readonly_fields = [f.name for f in RecordLink._meta.fields]

"""The Django admin's view of API tokens: superusers only, read-only, never a key or its hash; revoking goes through
the service (audited). Tokens are issued on the console's API tokens page or with ``createtoken``."""

from django.contrib import admin, messages

from apitokens.models import ApiToken
from apitokens.services import revoke_token
from syncadmin.admin import ReadOnlyAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ("name", "user", "prefix", "created_at", "expires_at", "last_used_at", "state")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    fields = ("user", "name", "prefix", "created_at", "created_by", "expires_at", "last_used_at", "revoked_at",
              "revoked_by", "state")
    readonly_fields = fields
    actions = ["revoke"]

    # Non-superuser staff (admin-role accounts) neither see the model nor open its pages.
    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    @admin.display(description="state")
    def state(self, obj: ApiToken) -> str:
        return obj.current_state.label

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        revoked = sum(revoke_token(token, actor=request.user) for token in queryset.select_related("user"))
        self.message_user(request, f"{revoked} token(s) revoked; they authenticate nobody from now on.",
                          messages.SUCCESS)

"""DRF permissions built on the roles' model permissions (see ``syncadmin.roles``)."""

from rest_framework.permissions import DjangoModelPermissions, IsAuthenticated

from syncadmin.roles import role_of


class ModelPermissions(DjangoModelPermissions):
    """Django model permissions, with reading requiring the ``view`` permission too (no role, no data)."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }


def permission_required(*perms: str) -> type:
    """A permission class requiring every named Django permission, for actions that are not plain CRUD."""

    class HasPermissions(IsAuthenticated):
        def has_permission(self, request, view):
            return super().has_permission(request, view) and request.user.has_perms(perms)

    HasPermissions.__name__ = f"Requires({', '.join(perms)})"
    return HasPermissions


class HasRole(IsAuthenticated):
    """Any of the roles (admin, support, api): for what every API user may read, such as the API's schema and docs;
    an account without a role is refused (403), a request without credentials too (401)."""

    def has_permission(self, request, view):
        return super().has_permission(request, view) and role_of(request.user) is not None

"""DRF permissions built on the roles' model permissions (see ``syncadmin.roles``)."""

from rest_framework.permissions import DjangoModelPermissions, IsAuthenticated


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

"""The REST API under /api/v1/: each app registers its viewsets on this router."""

from django.urls import include, path
from rest_framework.routers import APIRootView, DefaultRouter

from alerts.api import AlertViewSet, alert_settings
from audit.api import AuditEntryViewSet
from configurations import api as configurations_api
from configurations.api import ConfigurationViewSet
from sync import api as sync_api
from sync import preview_api
from syncadmin import views
from syncadmin.permissions import HasRole
from users import api as users_api
from users import api_bulk


class ApiRoot(APIRootView):
    """The list of the API's endpoints, for the API's roles (DRF's own root view lets anyone read it)."""

    permission_classes = [HasRole]


# No ".json" suffix routes: every path ends with a slash (the contract), and the suffixed variants of the custom
# actions answered 500 (their views take no `format`).
router = DefaultRouter()
router.include_format_suffixes = False
router.APIRootView = ApiRoot
router.register("configurations", ConfigurationViewSet, basename="configuration")
router.register("users", users_api.SyncUserViewSet, basename="syncuser")
router.register("audit", AuditEntryViewSet, basename="audit")
router.register("sync-runs", sync_api.SyncRunViewSet, basename="syncrun")
router.register("connections", sync_api.ConnectionViewSet, basename="connection")
router.register("alerts", AlertViewSet, basename="alert")

urlpatterns = [
    path("me/", views.me, name="me"),
    path("alerts/settings/", alert_settings, name="alert-settings"),
    path("users/import/", users_api.import_users, name="user-import"),
    path("users/bulk/", api_bulk.bulk_action, name="user-bulk"),
    path("configurations/<int:pk>/users.csv", configurations_api.users_csv, name="configuration-users-csv"),
    path("assignments/import/", configurations_api.import_assignments, name="assignment-import"),
    path("sync-runs.csv", sync_api.runs_csv_export, name="syncrun-csv"),
    path("feeds/", sync_api.feeds, name="feeds"),
    path("users/<int:pk>/sync/", users_api.sync_now, name="user-sync"),
    path("users/<int:pk>/reset/", users_api.reset, name="user-reset"),
    path("users/<int:pk>/test-connection/", users_api.test_connection, name="user-test-connection"),
    path("users/<int:pk>/dry-run/", preview_api.dry_run, name="user-dry-run"),
    path("previews/<int:pk>/", preview_api.preview_detail, name="preview-detail"),
    path("", include(router.urls)),
]

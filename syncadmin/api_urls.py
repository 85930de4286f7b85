"""The REST API under /api/v1/: each app registers its viewsets on this router."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from configurations.api import AuditEntryViewSet, ConfigurationViewSet
from sync import api as sync_api
from syncadmin import views
from users.api import SyncUserViewSet

router = DefaultRouter()
router.register("configurations", ConfigurationViewSet, basename="configuration")
router.register("users", SyncUserViewSet, basename="syncuser")
router.register("audit", AuditEntryViewSet, basename="audit")
router.register("sync-runs", sync_api.SyncRunViewSet, basename="syncrun")
router.register("connections", sync_api.ConnectionViewSet, basename="connection")

urlpatterns = [
    path("me/", views.me, name="me"),
    path("users/import/", sync_api.import_users, name="user-import"),
    path("users/<int:pk>/sync/", sync_api.sync_now, name="user-sync"),
    path("users/<int:pk>/reset/", sync_api.reset, name="user-reset"),
    path("users/<int:pk>/test-connection/", sync_api.test_connection, name="user-test-connection"),
    path("", include(router.urls)),
]

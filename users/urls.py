"""Console pages of the users app (server-rendered, htmx)."""

from django.urls import path

from sync import preview_views
from users import explorer_views, views

app_name = "users"

urlpatterns = [
    path("", views.user_list, name="list"),
    path("bulk/", views.user_bulk, name="bulk"),
    path("import-assignments/", views.user_import_assignments, name="import_assignments"),
    path("<int:pk>/", views.user_detail, name="detail"),
    path("<int:pk>/sync-now/", views.user_sync_now, name="sync_now"),
    path("<int:pk>/test-connection/", views.user_test_connection, name="test_connection"),
    path("<int:pk>/reset/", views.user_reset, name="reset"),
    path("<int:pk>/route/", views.user_route, name="route"),
    path("<int:pk>/dry-run/", preview_views.user_dry_run, name="dry_run"),
    path("<int:pk>/records/", explorer_views.user_records, name="records"),
]

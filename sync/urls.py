"""Console pages of the sync app (server-rendered, htmx)."""

from django.urls import path

from sync import preview_views, views

app_name = "sync"

urlpatterns = [
    path("runs/", views.run_list, name="runs"),
    path("runs.csv", views.run_export, name="runs_csv"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/progress/", views.run_progress, name="run_progress"),
    path("connections/", views.connections, name="connections"),
    path("previews/<int:pk>/", preview_views.preview_detail, name="preview"),
]

"""Console pages of the configurations app (server-rendered, htmx)."""

from django.urls import path

from configurations import views
from sync import preview_views

app_name = "configurations"

urlpatterns = [
    path("", views.configuration_list, name="list"),
    path("new/", views.configuration_create, name="create"),
    path("new/validate/", views.configuration_validate, name="validate_new"),
    path("<int:pk>/", views.configuration_detail, name="detail"),
    path("<int:pk>/edit/", views.configuration_edit, name="edit"),
    path("<int:pk>/edit/validate/", views.configuration_validate, name="validate"),
    path("<int:pk>/preview/", views.configuration_preview, name="preview"),
    path("<int:pk>/delete/", views.configuration_delete, name="delete"),
    path("<int:pk>/impact/", preview_views.configuration_impact, name="impact"),
    path("<int:pk>/users/search/", views.configuration_search, name="search"),
    path("<int:pk>/users/assign/", views.configuration_assign, name="assign"),
    path("<int:pk>/users/unassign/", views.configuration_unassign, name="unassign"),
]

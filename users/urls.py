"""Console pages of the users app (server-rendered, htmx)."""

from django.urls import path

from users import views

app_name = "users"

urlpatterns = [
    path("", views.user_list, name="list"),
    path("<int:pk>/", views.user_detail, name="detail"),
    path("<int:pk>/sync-now/", views.user_sync_now, name="sync_now"),
    path("<int:pk>/test-connection/", views.user_test_connection, name="test_connection"),
    path("<int:pk>/reset/", views.user_reset, name="reset"),
    path("<int:pk>/route/", views.user_route, name="route"),
]

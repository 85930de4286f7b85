from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from syncadmin import views
from syncadmin.api_views import DocsView, SchemaView

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("configurations/", include("configurations.urls")),
    path("users/", include("users.urls")),
    path("sync/", include("sync.urls")),
    path("audit/", include("audit.urls")),
    path("api-tokens/", include("apitokens.urls")),
    path("api/v1/", include(("syncadmin.api_urls", "api"), namespace="api")),
    # The schema and its docs page need a role that may use the API (anonymous: 401, or the login page for the docs).
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", DocsView.as_view(url_name="schema"), name="api-docs"),
]

# Unknown paths under /api/ answer JSON like the rest of the API (only with DEBUG off: DEBUG shows Django's page).
handler404 = "syncadmin.api_views.not_found"

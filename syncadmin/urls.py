from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from sync.graph_notifications import graph_notifications
from syncadmin import account_views, views
from syncadmin.api_views import DocsView, SchemaView

# The Accounts page (admins only): who may log in to the console or use the API, with which role.
ACCOUNTS = [
    path("", account_views.account_list, name="list"),
    path("<int:pk>/role/", account_views.account_role, name="role"),
    path("<int:pk>/password/", account_views.account_password, name="password"),
    path("<int:pk>/deactivate/", account_views.account_deactivate, name="deactivate"),
    path("<int:pk>/reactivate/", account_views.account_reactivate, name="reactivate"),
]

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", account_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/", include((ACCOUNTS, "accounts"))),
    path("admin/", admin.site.urls),
    path("configurations/", include("configurations.urls")),
    path("users/", include("users.urls")),
    path("sync/", include("sync.urls")),
    path("audit/", include("audit.urls")),
    path("api-tokens/", include("apitokens.urls")),
    path("alerts/", include("alerts.urls")),
    # Microsoft Graph's change notifications: no session or token (each proves itself by its client state).
    path("graph/notifications/", graph_notifications, name="graph-notifications"),
    path("api/v1/", include(("syncadmin.api_urls", "api"), namespace="api")),
    # The schema and its docs page need a role that may use the API (anonymous: 401, or the login page for the docs).
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", DocsView.as_view(url_name="schema"), name="api-docs"),
]

# Unknown paths under /api/ answer JSON like the rest of the API (only with DEBUG off: DEBUG shows Django's page).
handler404 = "syncadmin.api_views.not_found"
# Refusals say which role the account has and which the page needs, and are logged as one line.
handler403 = "syncadmin.views.permission_denied"

"""Project-level API views: the schema (/api/schema/) and its browsable docs (/api/docs/), for the API's roles only;
and the 404 of a path nothing serves, in JSON under /api/ as every other API answer is."""

from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.exceptions import NotAuthenticated

from syncadmin.permissions import HasRole


class SchemaView(SpectacularAPIView):
    """The schema at /api/schema/: for the API's roles (it maps every operation an attacker could try)."""

    permission_classes = [HasRole]


class DocsView(SpectacularSwaggerView):
    """The browsable docs at /api/docs/: for the API's roles; a browser without a session goes to the login page
    (and comes back), since the page is read by people."""

    permission_classes = [HasRole]

    def handle_exception(self, exc):
        if isinstance(exc, NotAuthenticated):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)


def not_found(request, exception):
    """The project's 404 handler (with DEBUG off): JSON for API paths, Django's page for the console's."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Nothing is served at this path; check it against the schema at /api/schema/."},
                            status=404)
    return defaults.page_not_found(request, exception)

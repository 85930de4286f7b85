"""Project-level API views: the schema (/api/schema/) and its browsable docs (/api/docs/), for the API's roles only;
the 404 of a path nothing serves, in JSON under /api/ as every other API answer is; and the API's exception handler,
which names a missing object in the product's words ("Configuration 7 does not exist.")."""

import re

from django.apps import apps
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, JsonResponse
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.exceptions import NotAuthenticated, NotFound
from rest_framework.views import exception_handler as drf_exception_handler

from syncadmin.api_errors import missing_object, object_noun
from syncadmin.permissions import HasRole

# Django's get_object_or_404 says which model it looked in, by class name; DRF's own says nothing (a malformed id).
_GET_OBJECT_OR_404 = re.compile(r"^No (?P<model>\w+) matches the given query\.$")


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


def exception_handler(exc, context):
    """DRF's handler (settings ``REST_FRAMEWORK["EXCEPTION_HANDLER"]``), with one change made here for every view:
    an object named in the path that does not exist answers 404 ``{"detail": "Configuration 7 does not exist."}``
    instead of Django's "No OutlookConfiguration matches the given query." (the internal class name)."""
    if isinstance(exc, Http404) and (message := _missing_object_message(exc, context)):
        exc = NotFound(message)
    return drf_exception_handler(exc, context)


def _missing_object_message(exc: Http404, context: dict) -> str | None:
    """Which object of which model was not found: the model from Django's message, else from the view's queryset;
    the identifier from the path (the view's lookup keyword, ``pk`` for the function views)."""
    view = context.get("view")
    kwargs = context.get("kwargs") or {}
    model = None
    if match := _GET_OBJECT_OR_404.match(str(exc)):
        model = next((m for m in apps.get_models() if m._meta.object_name == match["model"]), None)
    if model is None:
        model = getattr(getattr(view, "queryset", None), "model", None)
    lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", None) or "pk"
    identifier = kwargs.get(lookup, kwargs.get("pk"))
    if model is None or identifier is None:
        return None
    return missing_object(object_noun(model), identifier)

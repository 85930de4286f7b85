"""The OpenAPI schema's own rules: every operation documents the error statuses it can answer, in one place rather than
on each view, so that clients never meet an undocumented status. (Its views are in ``syncadmin.api_views``: this module
is DRF's schema class, loaded while DRF's views are, so it imports none.)

- 400: an operation that takes a body or query parameters (``{"field": ["message", ...]}``, nested like the body; or
  ``{"detail": "JSON parse error - ..."}`` for a body that is not the JSON it should be);
- 401: no or unknown credentials; 403: an account whose role does not allow the operation;
- 404: an object in the path that does not exist (named in the product's words, with an example:
  ``{"detail": "Configuration 7 does not exist."}``, see ``syncadmin.api_errors``), or a page past the end of a list;
- 413: a body over the parser's limit (``syncadmin.parsers``);
- 429: too many invalid API tokens from the client's address (``apitokens``), for every authenticated operation.

Statuses an operation documents itself (``@extend_schema(responses=...)``) are kept as they are, and given the
description below when they came without one. A query parameter
declared with the extension ``x-allow-empty`` gets ``allowEmptyValue`` (for filters where an empty value means "any"),
and a serializer with ``refuses_unknown_fields = True`` gets ``additionalProperties: false``.
"""

from __future__ import annotations

import re

from django.urls import Resolver404, resolve
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import inline_serializer
from rest_framework import permissions, serializers

from syncadmin.api_errors import missing_object, object_noun

Detail = inline_serializer("ErrorDetail", {
    "detail": serializers.CharField(help_text="What happened and what to do, in a sentence."),
})
VALIDATION_ERRORS = {
    "type": "object",
    "description": "The errors of each field that was not accepted: a list of sentences per field, nested as the "
                   "request body nests (a list's items by their index); `detail` for a body that is not JSON.",
    "additionalProperties": {},
}
_BODY_METHODS = ("POST", "PUT", "PATCH")
# Descriptions for statuses an operation declares itself without one (``responses={409: dict}``).
DESCRIPTIONS = {
    "400": "Not accepted: the errors of each field.",
    "409": "Cannot be done now: `detail` says why, and what to do.",
    "503": "A service the operation needs (the task queue, Salesforce) is unreachable for now: try again later.",
}
_PATH_PARAMETER = re.compile(r"\{[^}]+\}")
_QUIET = (permissions.AllowAny, permissions.IsAuthenticated)


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        for parameter in operation.get("parameters", []):
            # A filter read as a form reads it (an empty value filters nothing) says so with this extension; an
            # empty page is the first page.
            if parameter.pop("x-allow-empty", False) or (parameter["in"], parameter["name"]) == ("query", "page"):
                parameter["allowEmptyValue"] = True
        responses = operation["responses"]
        detail = self.resolve_serializer(Detail, "response").ref
        for code, description, schema in self._errors(operation):
            if code not in responses:
                schema = detail if schema is None else schema
                responses[code] = {"description": description, "content": {"application/json": {"schema": schema}}}
        for code, response in responses.items():
            if not response.get("description") and code in DESCRIPTIONS:
                response["description"] = DESCRIPTIONS[code]
        media = responses.get("404", {}).get("content", {}).get("application/json")
        if media is not None and (example := self._missing_example()):
            media.setdefault("example", example)
        return operation

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if getattr(serializer, "refuses_unknown_fields", False):
            schema["additionalProperties"] = False
        return schema

    def _errors(self, operation) -> list[tuple[str, str, dict | None]]:
        checks = self.view.get_permissions()
        takes_body = self.method in _BODY_METHODS and "requestBody" in operation
        queries = [p for p in operation.get("parameters", []) if p["in"] == "query" and p["name"] != "page"]
        errors = []
        if takes_body or queries:
            errors.append(("400", "Not accepted: the errors of each field.", VALIDATION_ERRORS))
        if not all(isinstance(check, permissions.AllowAny) for check in checks):
            errors.append(("401", "No credentials, or credentials that authenticate nobody.", None))
            errors.append(("429", "Too many requests with an invalid token from this address: wait (Retry-After).",
                           None))
        if not all(type(check) in _QUIET for check in checks):
            errors.append(("403", "The account's role does not allow this operation.", None))
        if "{" in self.path or self._is_list_view():
            errors.append(("404", self._not_found_description(), None))
        if takes_body:
            errors.append(("413", "The request body is over the size limit.", None))
        return errors


    def _not_found_description(self) -> str:
        if "{" not in self.path:
            return "No such page of the list."
        model = self._path_model()
        what = f"No such {object_noun(model).lower()}" if model is not None else "No such object"
        return what + (", or no such page of the list." if self._is_list_view() else ".")

    def _missing_example(self) -> dict | None:
        """``{"detail": "Configuration 7 does not exist."}`` for a path that names an object by its id."""
        model = self._path_model()
        if model is None or "{id}" not in self.path:
            return None
        return {"detail": missing_object(object_noun(model), 7)}

    def _path_model(self):
        """The model of the object the path names: the view's own, or (for a function view under an object's
        path, such as /users/{id}/sync/) the model of the view that serves the object's path."""
        model = getattr(getattr(self.view, "queryset", None), "model", None)
        if model is not None or "{" not in self.path:
            return model
        object_path = _PATH_PARAMETER.sub("0", self.path.split("}/", 1)[0] + "}/")
        try:
            match = resolve(object_path)
        except Resolver404:
            return None
        view_class = getattr(match.func, "cls", None) or getattr(match.func, "view_class", None)
        return getattr(getattr(view_class, "queryset", None), "model", None)

"""The OpenAPI schema's own rules: every operation documents the error statuses it can answer, in one place rather than
on each view, so that clients never meet an undocumented status. (Its views are in ``syncadmin.api_views``: this module
is DRF's schema class, loaded while DRF's views are, so it imports none.)

- 400: an operation that takes a body or query parameters (``{"field": ["message", ...]}``, nested like the body; or
  ``{"detail": "JSON parse error - ..."}`` for a body that is not the JSON it should be);
- 401: no or unknown credentials; 403: an account whose role does not allow the operation;
- 404: an object in the path that does not exist, or a page past the end of a list;
- 413: a body over the parser's limit (``syncadmin.parsers``);
- 429: too many invalid API tokens from the client's address (``apitokens``), for every authenticated operation.

Statuses an operation documents itself (``@extend_schema(responses=...)``) are kept as they are. A query parameter
declared with the extension ``x-allow-empty`` gets ``allowEmptyValue`` (for filters where an empty value means "any"),
and a serializer with ``refuses_unknown_fields = True`` gets ``additionalProperties: false``.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import inline_serializer
from rest_framework import permissions, serializers

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
            errors.append(("404", "No such object, or no such page of the list.", None))
        if takes_body:
            errors.append(("413", "The request body is over the size limit.", None))
        return errors


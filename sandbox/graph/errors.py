"""Graph's error body (``{"error": {"code", "message", "innerError"}}``) and the exception handlers raise."""

import uuid
from datetime import UTC, datetime


class GraphError(Exception):
    """An error answer: HTTP status, Graph error code, message, extra headers (Retry-After, WWW-Authenticate)."""

    def __init__(self, status: int, code: str, message: str, headers: list[tuple[str, str]] | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.headers = list(headers or [])


def error_body(code: str, message: str, client_request_id: str | None = None) -> dict:
    request_id = str(uuid.uuid4())
    return {"error": {"code": code, "message": message, "innerError": {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id, "client-request-id": client_request_id or request_id}}}


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def not_found(message: str = "The specified object was not found in the store.",
              code: str = "ErrorItemNotFound") -> GraphError:
    return GraphError(404, code, message)


def unknown_property(name: str, type_name: str) -> GraphError:
    # What Graph's OData layer answers for a property the type does not define, in $select, $filter or $orderby.
    return GraphError(400, "RequestBroker--ParseUri",
                      f"Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'.")


def body_property(name: str, type_name: str) -> GraphError:
    # ... and for one in a request body.
    return GraphError(400, "RequestBodyRead",
                      f"The property '{name}' does not exist on type 'microsoft.graph.{type_name}'. Make sure to "
                      "only use property names that are defined by the type or mark the type as open type.")

"""The control API under ``/_sandbox/`` (JSON): users, faults, stats, reset, settings, connected apps, sessions.

Faults match a request when ``operation`` is ``*`` or a prefix of the request path (e.g.
``/services/data/v59.0/composite``; ``/services/data/*/composite`` matches any version). ``count`` requests get
the fault (``null`` = until cleared); ``status`` 0 or absent with ``latency_ms`` only delays the request.
An ``INVALID_SESSION_ID`` fault also revokes the caller's session, as a real expiry does.
"""

import fnmatch
import json

from werkzeug.wrappers import Request, Response

from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.http import json_response

DEFAULT_MESSAGES = {
    "SERVER_UNAVAILABLE": "Server temporarily unavailable, please try again later.",
    "REQUEST_LIMIT_EXCEEDED": "TotalRequests Limit exceeded.",
    "INVALID_SESSION_ID": "Session expired or invalid",
    "UNKNOWN_EXCEPTION": "An unexpected error occurred. Please include this ErrorId if you contact support.",
    "REQUEST_RUNNING_TOO_LONG": "Your request was running for too long, and has been stopped.",
    "UNABLE_TO_LOCK_ROW": "unable to obtain exclusive access to this record",
}
SETTINGS = ("api_allocation", "session_lifetime_seconds", "clock_offset_seconds")


def control_error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


class Control:
    def __init__(self, emulator):
        self.emulator = emulator

    # -- faults ----------------------------------------------------------------------------------
    def take_fault(self, request: Request) -> dict | None:
        with self.emulator.lock:
            for fault in self.emulator.faults:
                operation = fault["operation"]
                path = request.path
                matches = operation == "*" or path.startswith(operation) or \
                    ("*" in operation and fnmatch.fnmatchcase(path, operation + "*"))
                if not matches:
                    continue
                if fault["count"] is not None:
                    fault["count"] -= 1
                    if fault["count"] <= 0:
                        self.emulator.faults.remove(fault)
                return dict(fault)
        return None

    def fault_response(self, fault: dict, request: Request, user: dict | None) -> Response:
        code = fault.get("error_code") or "SERVER_UNAVAILABLE"
        if code == "INVALID_SESSION_ID":
            token = self.emulator.auth.token_of(request)
            if token:
                self.emulator.auth.expire(token=token)
        message = fault.get("message") or DEFAULT_MESSAGES.get(code, code)
        if request.path.startswith("/services/oauth2/"):
            return json_response({"error": code.lower(), "error_description": message}, int(fault["status"]))
        return json_response([{"message": message, "errorCode": code}], int(fault["status"]))

    # -- routing ---------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        route = request.path[len("/_sandbox"):].rstrip("/")
        method = request.method
        try:
            body = json.loads(request.get_data(as_text=True) or "{}") if method in ("POST", "PUT", "PATCH") else {}
        except json.JSONDecodeError as exc:
            return control_error(400, f"invalid JSON: {exc}")
        if not isinstance(body, dict):
            return control_error(400, "expected a JSON object")
        em = self.emulator
        if route == "/users" and method == "POST":
            fields = ("username", "email", "first_name", "last_name", "profile")
            missing = [name for name in ("username", "email", "last_name", "profile") if not body.get(name)]
            if missing:
                return control_error(400, f"missing: {', '.join(missing)}")
            try:
                kwargs = {name: body.get(name, "") for name in fields}
                kwargs["time_zone"] = body.get("time_zone") or None  # TimeZoneSidKey; the org's default (GMT)
                result = em.hub.create_user(**kwargs) if em.hub is not None else {
                    "salesforce_id": em.create_user(**kwargs), "mailbox": None}
            except ValueError as exc:
                return control_error(400, str(exc))
            return json_response(result, 201)
        if route == "/faults" and method == "POST":
            return self.add_fault(body)
        if route == "/faults" and method == "DELETE":
            with em.lock:
                em.faults.clear()
            return json_response({"faults": []})
        if route == "/faults" and method == "GET":
            return json_response({"faults": list(em.faults)})
        if route == "/stats" and method == "GET":
            used, allocation = em.api_usage()
            return json_response({"calls": dict(em.calls), "calls_by_user": dict(em.calls_by_user),
                                  "api_usage": {"used": used, "allocation": allocation}})
        if route == "/stats" and method == "DELETE":
            em.calls.clear()
            em.calls_by_user.clear()
            return json_response({"calls": {}, "calls_by_user": {}})
        if route == "/reset" and method == "POST":
            if em.hub is not None:
                em.hub.reset()
            else:
                em.reset()
            return json_response({"reset": True})
        if route == "/settings" and method in ("GET", "POST"):
            return self.settings(body if method == "POST" else {})
        if route == "/connected-apps" and method == "POST":
            try:
                em.auth.register_app(str(body["consumer_key"]), str(body["certificate_pem"]))
            except (KeyError, ValueError) as exc:
                return control_error(400, f"need consumer_key and a PEM certificate_pem: {exc}")
            return json_response({"consumer_key": body["consumer_key"]}, 201)
        if route == "/sessions/expire" and method == "POST":
            return json_response({"expired": em.auth.expire(username=body.get("username"))})
        return control_error(404, f"no control endpoint {method} /_sandbox{route}")

    def add_fault(self, body: dict) -> Response:
        operation = body.get("operation")
        if not isinstance(operation, str) or not operation:
            return control_error(400, "operation (a path prefix or *) is required")
        try:
            status = int(body.get("status") or 0)
            latency = float(body.get("latency_ms") or 0)
            count = body.get("count", 1)
            count = None if count is None else int(count)
        except (TypeError, ValueError):
            return control_error(400, "status, latency_ms and count must be numbers")
        if status and not 400 <= status <= 599:
            return control_error(400, "status must be an HTTP error status (400-599)")
        if not status and not latency:
            return control_error(400, "a fault needs a status or a latency_ms")
        fault = {"operation": operation, "status": status, "error_code": body.get("error_code"),
                 "message": body.get("message"), "latency_ms": latency, "count": count}
        with self.emulator.lock:
            self.emulator.faults.append(fault)
        return json_response(fault, 201)

    def settings(self, body: dict) -> Response:
        em = self.emulator
        unknown = [key for key in body if key not in (*SETTINGS, "api_usage")]
        if unknown:
            return control_error(400, f"unknown settings: {', '.join(unknown)}; known: {', '.join(SETTINGS)}, "
                                      "api_usage")
        try:
            for key in SETTINGS:
                if key in body:
                    value = float(body[key])
                    em.store.set_kv(f"setting:{key}", int(value) if key != "clock_offset_seconds" else value)
            if "api_usage" in body:
                em.store.set_kv("api_usage", {"window_start": em.now().timestamp(), "count": int(body["api_usage"])})
        except (TypeError, ValueError):
            raise ApiError(400, "INVALID_SETTING", "settings must be numbers") from None
        used, _ = em.api_usage()
        return json_response({**{key: em.setting(key) for key in SETTINGS}, "api_usage": used})

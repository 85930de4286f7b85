"""The Microsoft Graph emulator: a WSGI app serving the identity platform (/{tenant}/…), Graph v1.0 (/v1.0/…) for
contacts, calendar and To Do, JSON batching, and the /_sandbox/ control API."""

import base64
import json
import logging
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qsl, unquote

from sandbox.graph import routes, seed
from sandbox.graph.auth import Identity, TokenError
from sandbox.graph.batch import run_batch
from sandbox.graph.common import Ctx
from sandbox.graph.control import handle_control
from sandbox.graph.errors import GraphError, bad_request, error_body
from sandbox.graph.odata import Query
from sandbox.graph.store import Store
from sandbox.graph.subscriptions import Subscriptions

log = logging.getLogger(__name__)

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 410: "Gone", 412: "Precondition Failed",
           415: "Unsupported Media Type", 424: "Failed Dependency", 429: "Too Many Requests",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
DEFAULT_FAULT_CODES = {429: "TooManyRequests", 503: "ServiceUnavailable", 500: "InternalServerError",
                       502: "BadGateway", 504: "GatewayTimeout", 401: "InvalidAuthenticationToken",
                       403: "ErrorAccessDenied", 400: "BadRequest", 404: "ErrorItemNotFound", 409: "ErrorConflict"}
USER_PROPS = {"id", "displayName", "givenName", "surname", "mail", "userPrincipalName", "jobTitle", "mobilePhone",
              "officeLocation", "preferredLanguage", "businessPhones"}
MAX_BODY = 4 * 1024 * 1024


class GraphEmulator:
    def __init__(self, data_dir: Path, hub=None):
        self.data_dir, self.hub = Path(data_dir), hub
        self.store = Store(self.data_dir)
        self.identity = Identity(self.data_dir)
        self.faults: list[dict] = []
        self.fault_lock = threading.Lock()
        self.calls: Counter = Counter()
        self.calls_by_user: Counter = Counter()
        self.batched: Counter = Counter()
        self.requests_by_user: Counter = Counter()  # HTTP requests: a $batch once per mailbox it addresses
        self.subscriptions = Subscriptions(self)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    # ---- hub interface -----------------------------------------------------------------------------------------
    @property
    def app_path(self) -> Path:
        return self.data_dir / "app.json"

    @property
    def mailboxes(self) -> set[str]:
        return set(self.store.mailboxes)

    def create_mailbox(self, *, email: str, display_name: str) -> str:
        with self.store.lock:
            mb = self.store.create_mailbox(email, display_name)
            self.store.flush()
        return mb["upn"]

    def reset(self) -> None:
        with self.store.lock:
            self.store.wipe()
        self.subscriptions.clear()
        with self.fault_lock:
            self.faults.clear()
            self.calls.clear()
            self.calls_by_user.clear()
            self.batched.clear()
            self.requests_by_user.clear()

    def seed_demo(self) -> None:
        seed.seed_demo(self)

    # ---- faults and statistics ---------------------------------------------------------------------------------
    def take_fault(self, names: list[str]) -> dict | None:
        with self.fault_lock:
            for fault in self.faults:
                op = fault["operation"]
                if fault["remaining"] > 0 and (op == "*" or any(
                        n == op or n.startswith(op.rstrip("/") + "/") or f"/{op}" in n for n in names)):
                    fault["remaining"] -= 1
                    return dict(fault)
        return None

    def apply_fault(self, names: list[str]) -> None:
        fault = self.take_fault(names)
        if fault is None:
            return
        if fault["latency_ms"]:
            time.sleep(min(fault["latency_ms"], 120_000) / 1000)
        status = fault["status"]
        if status >= 400:
            headers = []
            if fault.get("retry_after") is not None:
                headers.append(("Retry-After", str(fault["retry_after"])))
            code = fault.get("error_code") or DEFAULT_FAULT_CODES.get(status, "UnknownError")
            messages = {429: "Please retry again later.",  # Graph's documented throttling answer
                        503: "The service is temporarily unavailable. Please retry again later."}
            raise GraphError(status, code, messages.get(status, f"Injected fault ({status})."), headers)

    def count(self, name: str, user: str | None, batched: bool) -> None:
        with self.fault_lock:
            (self.batched if batched else self.calls)[name] += 1
            if user:
                self.calls_by_user[user] += 1

    def user_of(self, path: str) -> str | None:
        """The mailbox a Graph path (after /v1.0) addresses: its UPN, or the segment as given if unknown."""
        segments = [unquote(p) for p in path.split("?", 1)[0].split("/") if p]
        if len(segments) < 2 or segments[0].lower() != "users":
            return None
        with self.store.lock:
            mb = self.store.mailbox(segments[1])
        return mb["upn"] if mb else segments[1].lower()

    def count_request(self, users) -> None:
        with self.fault_lock:
            for user in {u for u in users if u}:
                self.requests_by_user[user] += 1

    # ---- WSGI --------------------------------------------------------------------------------------------------
    def wsgi_app(self, environ, start_response):
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "GET").upper()
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        base = f"{environ.get('wsgi.url_scheme', 'https')}://{environ.get('HTTP_HOST') or environ.get('SERVER_NAME')}"
        client_request_id = headers.get("client-request-id")
        try:
            raw = self._read(environ)
            if path == "/_sandbox" or path.startswith("/_sandbox/"):
                status, out_headers, body = handle_control(self, method, path, raw, base)
            elif path.startswith("/v1.0/") or path == "/v1.0":
                status, out_headers, payload = self.handle_graph_http(method, path[len("/v1.0"):],
                                                                      environ.get("QUERY_STRING", ""), headers, raw,
                                                                      base)
                body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
            else:
                status, out_headers, body = self.handle_identity(method, path, environ.get("QUERY_STRING", ""),
                                                                 headers, raw, base)
        except GraphError as e:
            status, out_headers = e.status, [("Content-Type", JSON_TYPE), *e.headers]
            body = json.dumps(error_body(e.code, e.message, client_request_id)).encode()
        except Exception:
            log.exception("Graph emulator failed on %s %s", method, path)
            status, out_headers = 500, [("Content-Type", JSON_TYPE)]
            body = json.dumps(error_body("InternalServerError", "An internal server error occurred.",
                                         client_request_id)).encode()
        request_id = str(uuid.uuid4())
        out_headers = [*out_headers, ("request-id", request_id), ("client-request-id", client_request_id or request_id),
                       ("x-ms-ags-diagnostic", '{"ServerInfo":{"DataCenter":"Sandbox","Slice":"E","Ring":"5",'
                                               '"ScaleUnit":"000","RoleInstance":"SANDBOX"}}'),
                       ("Strict-Transport-Security", "max-age=31536000"), ("Content-Length", str(len(body)))]
        start_response(f"{status} {REASONS.get(status, 'Status')}", out_headers)
        return [body] if method != "HEAD" else [b""]

    @staticmethod
    def _read(environ) -> bytes:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            raise GraphError(413, "RequestEntityTooLarge", "The request body is too large.")
        return environ["wsgi.input"].read(length) if length > 0 else b""

    # ---- identity platform -------------------------------------------------------------------------------------
    def handle_identity(self, method, path, query, headers, raw, base):
        parts = [p for p in path.split("/") if p]
        args = dict(parse_qsl(query, keep_blank_values=True))
        js = [("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-store, no-cache")]
        if parts[:1] == ["common"] and parts[1:] == ["discovery", "instance"] and method == "GET":
            host = base.split("://", 1)[1]
            return 200, js, json.dumps(self.identity.instance_discovery(
                base, host, args.get("authorization_endpoint", ""))).encode()
        if len(parts) >= 2:
            tenant, rest = parts[0], "/".join(parts[1:])
            if rest == "v2.0/.well-known/openid-configuration" and method == "GET":
                if not self.identity.knows_tenant(tenant) and tenant not in ("common", "organizations"):
                    return 400, js, json.dumps({"error": "invalid_tenant", "error_description":
                                                f"AADSTS90002: Tenant '{tenant}' not found."}).encode()
                return 200, js, json.dumps(self.identity.openid_configuration(base, tenant)).encode()
            if rest == "discovery/v2.0/keys" and method == "GET":
                return 200, js, json.dumps(self.identity.jwks()).encode()
            if rest == "oauth2/v2.0/token":
                if method != "POST":
                    return 405, js, json.dumps({"error": "invalid_request",
                                                "error_description": "AADSTS900561: The endpoint only accepts POST "
                                                                     "requests."}).encode()
                self.count("POST token", None, False)
                form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
                basic = headers.get("authorization", "")
                if basic.lower().startswith("basic ") and "client_secret" not in form:  # client_secret_basic
                    try:
                        user, _, secret = base64.b64decode(basic[6:].strip()).decode().partition(":")
                    except (ValueError, UnicodeDecodeError):
                        user, secret = "", ""
                    form.setdefault("client_id", unquote(user))
                    form["client_secret"] = unquote(secret)
                try:
                    self.apply_fault(["token"])
                    answer = self.identity.issue_token(base, tenant, form)
                except GraphError as e:  # an injected fault, answered as the identity platform does
                    err = TokenError(e.status, "temporarily_unavailable" if e.status >= 500 or e.status == 429
                                     else "invalid_request", 50196, e.message)
                    return e.status, js + e.headers, json.dumps(err.body()).encode()
                except TokenError as e:
                    return e.status, js, json.dumps(e.body()).encode()
                return 200, js, json.dumps(answer).encode()
        return 404, [("Content-Type", "text/plain")], b"Not found"

    # ---- Graph -------------------------------------------------------------------------------------------------
    def handle_graph_http(self, method, path, query, headers, raw, base):
        """A request from the network: authenticate, then either a batch or one Graph request."""
        is_batch = path.rstrip("/") == "/$batch"
        if not is_batch:
            self.count_request([self.user_of(path)])
        claims = self.identity.authenticate(headers.get("authorization", ""))
        if is_batch:
            if method != "POST":
                raise GraphError(405, "BadRequest", "The $batch endpoint only accepts POST.")
            self.count("POST $batch", None, False)
            self.apply_fault(["$batch"])
            return 200, [("Content-Type", JSON_TYPE)], run_batch(self, raw, headers, base)
        body = None
        if method in ("POST", "PATCH", "PUT") and raw:
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                raise bad_request("Unable to read JSON request payload. Please ensure Content-Type header is set and "
                                  "payload is of valid JSON format.") from None
        segments = [unquote(s) for s in path.split("/") if s]
        if segments and segments[0].lower() == "subscriptions":
            return self._subscriptions(method, segments[1:], body, claims, base)
        return self.handle_graph(method, path, query, headers, body, base, batched=False)

    def _subscriptions(self, method, rest, body, claims, base):
        """/v1.0/subscriptions…, counted and faulted like the other routes (``subscriptions/{id}`` for one)."""
        template = "/".join(["subscriptions", *(["{id}"] if rest else []), *rest[1:]])
        user = None
        if rest:
            with self.subscriptions.lock:
                sub = self.subscriptions.items.get(rest[0])
            user = sub["mailbox"] if sub else None
        elif method == "POST" and isinstance(body, dict) and isinstance(body.get("resource"), str):
            user = self.user_of("/" + body["resource"].strip("/"))
        self.count(f"{method} {template}", user, False)
        self.apply_fault(["/".join(["subscriptions", *rest]), template])
        status, payload = self.subscriptions.handle(method, rest, body, claims, base)
        out = [("Content-Type", JSON_TYPE), ("OData-Version", "4.0")] if payload is not None else []
        return status, out, payload

    def handle_graph(self, method, path, query, headers, body, base, *, batched: bool):
        """One Graph request (from the network or from a batch): (status, headers, JSON body or None)."""
        args = {}
        for k, v in parse_qsl(query, keep_blank_values=True):
            if k in args:
                raise bad_request(f"Query option '{k}' was specified more than once, but it must be specified at "
                                  "most once.")
            args[k] = v
        segments = [unquote(s) for s in path.split("/") if s]
        if not segments:
            raise bad_request("Invalid request: no resource.")
        if segments[0].lower() == "me":
            raise bad_request("/me request is only valid with delegated authentication flow.")
        if segments[0].lower() != "users":
            raise bad_request(f"Resource not found for the segment '{segments[0]}'.")
        if len(segments) == 1:
            return self._users(method, args, base, batched)
        user_segment = segments[1]
        rest = routes.split("/".join(segments[2:]))
        with self.store.lock:
            known = self.store.mailbox(user_segment)
        # Counted and faulted before taking the store lock, so that an injected latency delays only this request.
        if not rest:
            name = f"{method} users/{{id}}"
            self.count(name, known["upn"] if known else None, batched)
            self.apply_fault([name.split(" ", 1)[1]])
        else:
            handler, template, ids = routes.match(method, rest)
            name = template or routes.template_of(rest)
            self.count(f"{method} {name}", known["upn"] if known else user_segment.lower(), batched)
            self.apply_fault(["/".join(rest), name])
        with self.store.lock:
            mb = self.store.mailbox(user_segment)
            if not rest:
                return self._user(method, mb, user_segment, args, base)
            if mb is None:
                raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user_segment}' is invalid.")
            if handler is None:
                if ids:
                    raise GraphError(405, "ErrorInvalidRequest",
                                     f"The OData request is not supported: method {method} on this resource.")
                raise bad_request(f"Resource not found for the segment '{rest[-1]}'.")
            ctx = Ctx(emu=self, store=self.store, mb=mb, method=method, rel_path="/".join(rest), args=args,
                      headers=dict(headers), body=body, base=base, user_segment=user_segment)
            try:
                status, payload = handler(ctx, *ids)
            finally:
                self.store.flush()
            out = [("Content-Type", JSON_TYPE), ("OData-Version", "4.0"), *ctx.extra_headers]
            if payload is not None and "@odata.etag" in payload and status in (200, 201):
                out.append(("ETag", payload["@odata.etag"]))
            if status == 204:
                out = [h for h in out if h[0] != "Content-Type"]
            return status, out, payload

    def _user_json(self, mb: dict) -> dict:
        first, _, last = mb["display_name"].partition(" ")
        return {"businessPhones": [], "displayName": mb["display_name"], "givenName": first or None,
                "jobTitle": None, "mail": mb["upn"], "mobilePhone": None, "officeLocation": None,
                "preferredLanguage": "en-US", "surname": last or None, "userPrincipalName": mb["upn"],
                "id": mb["user_id"]}

    def _user(self, method, mb, user_segment, args, base):
        if method != "GET":
            raise GraphError(405, "Request_BadRequest", "The emulator does not change users through Graph.")
        if mb is None:
            raise GraphError(404, "Request_ResourceNotFound",
                             f"Resource '{user_segment}' does not exist or one of its queried reference-property "
                             "objects are not present.")
        q = Query(args, {"$select"}, "user", USER_PROPS)
        obj = self._user_json(mb)
        if q.select:
            obj = {k: v for k, v in obj.items() if k in q.select or k == "id"}
        return 200, [("Content-Type", JSON_TYPE)], {"@odata.context": f"{base}/v1.0/$metadata#users/$entity", **obj}

    def _users(self, method, args, base, batched):
        self.count(f"{method} users", None, batched)
        self.apply_fault(["users"])
        if method != "GET":
            raise GraphError(405, "Request_BadRequest", "The emulator does not create users through Graph; use "
                                                        "POST /_sandbox/users.")
        q = Query(args, {"$select", "$filter", "$top"}, "user", USER_PROPS)
        with self.store.lock:
            rows = [self._user_json(mb) for mb in sorted(self.store.mailboxes.values(), key=lambda m: m["upn"])]
        rows = [r for r in rows if q.matches(r)][: q.top or 100]
        if q.select:
            rows = [{k: v for k, v in r.items() if k in q.select or k == "id"} for r in rows]
        return 200, [("Content-Type", JSON_TYPE)], {"@odata.context": f"{base}/v1.0/$metadata#users", "value": rows}

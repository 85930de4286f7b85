"""The Exchange Web Services emulator: a WSGI app serving /EWS/Exchange.asmx and the /_sandbox/ control API."""

import base64
import binascii
import logging
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from lxml import etree

from sandbox.demo import PASSWORD, SERVICE_ACCOUNT
from sandbox.exchange import folders, hierarchy, itemops, notifyops, seed, soap, strict, sync
from sandbox.exchange.context import Context
from sandbox.exchange.control import handle_control
from sandbox.exchange.recurrence import zone
from sandbox.exchange.soap import EwsError, SoapFault, child, error_message, local
from sandbox.exchange.store import Store
from sandbox.exchange.subscriptions import HEARTBEAT_SECONDS, STREAMING_EXPIRY_SECONDS, SubscriptionRegistry

log = logging.getLogger(__name__)

OPERATIONS = {
    "GetFolder": folders.get_folder, "FindFolder": folders.find_folder, "CreateFolder": folders.create_folder,
    "UpdateFolder": folders.update_folder, "DeleteFolder": folders.delete_folder,
    "FindItem": itemops.find_item, "GetItem": itemops.get_item, "CreateItem": itemops.create_item,
    "UpdateItem": itemops.update_item, "DeleteItem": itemops.delete_item, "MoveItem": itemops.move_item,
    "CopyItem": itemops.copy_item,
    "SyncFolderItems": sync.sync_folder_items, "SyncFolderHierarchy": hierarchy.sync_folder_hierarchy,
    "ResolveNames": sync.resolve_names, "ConvertId": sync.convert_id,
    "Subscribe": notifyops.subscribe, "GetEvents": notifyops.get_events, "Unsubscribe": notifyops.unsubscribe,
    "GetStreamingEvents": notifyops.get_streaming_events,
}
EWS_PATH = "/ews/exchange.asmx"
# IIS keeps connections open; werkzeug's development server always adds "Connection: close", which exchangelib
# reads as a throttling disconnect. Announcing keep-alive on plain HTTP errors keeps their meaning (401, 500).
KEEP_ALIVE = ("Connection", "keep-alive")
IIS_ERROR_PAGE = b"<html><body><h1>Server Error in '/EWS' Application.</h1></body></html>"


class ExchangeEmulator:
    def __init__(self, data_dir: Path, hub, *, streaming_expiry_seconds: float = STREAMING_EXPIRY_SECONDS,
                 heartbeat_seconds: float = HEARTBEAT_SECONDS):
        self.data_dir, self.hub = Path(data_dir), hub
        self.store = Store(self.data_dir)
        # Notification subscriptions live in memory only, like Exchange's (a restart loses them).
        self.subscriptions = SubscriptionRegistry(streaming_expiry_seconds=streaming_expiry_seconds,
                                                  heartbeat_seconds=heartbeat_seconds)
        self.store.on_item_event = self.subscriptions.record
        self.faults: list[dict] = []
        self.fault_lock = threading.Lock()
        self.calls: Counter = Counter()
        self.calls_by_user: Counter = Counter()
        self.response_observers: list = []  # callables(operation, status, body bytes); tests validate responses
        self.validate_requests = True
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    # ---- hub interface -----------------------------------------------------------------------------------------
    @property
    def mailboxes(self) -> set[str]:
        return set(self.store.mailboxes)

    def create_mailbox(self, *, email, display_name) -> str:
        with self.store.lock:
            mb = self.store.create_mailbox(email, display_name)
            self.store.flush()
        return mb["email"]

    def reset(self) -> None:
        with self.store.lock:
            self.store.wipe()
        self.subscriptions.reset()
        with self.fault_lock:
            self.faults.clear()
            self.calls.clear()
            self.calls_by_user.clear()

    def seed_demo(self) -> None:
        seed.seed_demo(self)

    def close(self) -> None:
        """The server is stopping: end open GetStreamingEvents connections now (ConnectionStatus Closed)."""
        self.subscriptions.close()

    # ---- WSGI --------------------------------------------------------------------------------------------------
    def wsgi_app(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        try:
            if path.startswith("/_sandbox/") or path == "/_sandbox":
                status, headers, body = handle_control(self, environ)
            elif path.lower() == EWS_PATH:
                status, headers, body = self._handle_ews(environ)
            else:
                status, headers, body = 404, [("Content-Type", "text/plain")], b"Not found"
        except Exception:
            log.exception("EWS emulator failed on %s", path)
            fault = SoapFault("ErrorInternalServerError", soap.default_message("ErrorInternalServerError"))
            status, headers, body = 500, [("Content-Type", "text/xml; charset=utf-8")], \
                soap.serialize(soap.fault_envelope(fault))
        if path.lower() == EWS_PATH:
            headers = [*headers, *_exchange_headers(environ, status)]
        reason = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
                  404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error"}.get(status, "Status")
        if not isinstance(body, bytes):
            # A GetStreamingEvents stream: no Content-Length, so werkzeug sends it chunked, flushing each envelope.
            start_response(f"{status} {reason}", headers)
            return body
        headers = [*headers, ("Content-Length", str(len(body)))]
        start_response(f"{status} {reason}", headers)
        return [body]

    def _authenticate(self, environ) -> str | None:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return None
        user = user.lower()
        if password != PASSWORD:
            return None
        if user == SERVICE_ACCOUNT or user in self.store.mailboxes:
            return user
        return None

    def _handle_ews(self, environ):
        xml = [("Content-Type", "text/xml; charset=utf-8")]
        user = self._authenticate(environ)
        if user is None:
            return 401, [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Basic realm="sandbox.test"'),
                         KEEP_ALIVE], b"401 Unauthorized"
        if environ.get("REQUEST_METHOD") != "POST":
            return 405, [("Content-Type", "text/plain"), ("Allow", "POST")], b"Method Not Allowed"
        op, status, body = "Unknown", 500, b""
        try:
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > soap.MAX_REQUEST_BYTES:
                raise SoapFault("ErrorInvalidRequest", "The request is too large.", client_fault=True)
            raw = environ["wsgi.input"].read(min(length, soap.MAX_REQUEST_BYTES + 1)) if length else b""
            env = soap.parse_request(raw)
            header = child(env, "Header", ns=soap.SOAP_NS)
            body_el = child(env, "Body", ns=soap.SOAP_NS)
            if body_el is None or len(body_el) != 1:
                raise SoapFault("ErrorInvalidRequest", "The SOAP body must hold exactly one request.",
                                client_fault=True)
            req = body_el[0]
            op = local(req.tag)
            acting_email = self._impersonated(header) or user
            with self.fault_lock:
                self.calls[op] += 1
                self.calls_by_user[acting_email] += 1
            injected = self._take_fault(op)
            if injected and injected.get("latency_ms"):
                time.sleep(min(float(injected["latency_ms"]), 120_000) / 1000)
            if injected and injected.get("status", 500) >= 500:
                code = injected.get("error_code")
                if not code:
                    # What IIS answers when the EWS application itself falls over.
                    return 500, [("Content-Type", "text/html"), KEEP_ALIVE], IIS_ERROR_PAGE
                extra = {"BackOffMilliseconds": int(injected.get("back_off_ms") or 0)} \
                    if code == "ErrorServerBusy" else {}
                raise SoapFault(code, soap.default_message(code), detail_values=extra)
            self._check_version(header)
            if req.tag != soap.m(op) or op not in OPERATIONS:
                if self.validate_requests:
                    soap.validate(req)
                # Exchange's general "the requested operation is invalid" (ResponseCode reference), as a fault
                # without a SOAP header: exchangelib raises it at once instead of retrying older versions.
                if op in strict.schema_operations():
                    raise SoapFault("ErrorInvalidOperation", f"The operation {op} is not supported by this server.")
                # Not an operation at all (a response element, say): Exchange's fault for a malformed request.
                raise SoapFault("ErrorInvalidRequest", "The request is invalid.")
            if self.validate_requests:
                soap.validate(req)
            strict.check_header(header)
            resp = self._dispatch(op, req, header, user, injected)
            if isinstance(resp, notifyops.EventStream):
                return 200, xml, self._observed_stream(resp)
            status, body = 200, soap.serialize(soap.envelope(resp))
        except SoapFault as fault:
            status, body = fault.http_status, soap.serialize(soap.fault_envelope(fault))
        for observer in list(self.response_observers):
            observer(op, status, body)
        return status, xml, body

    def _observed_stream(self, stream):
        yield b""  # werkzeug sends the status line and headers now: the client knows the connection is open
        for body in stream.envelopes():
            for observer in list(self.response_observers):
                observer("GetStreamingEvents", 200, body)
            yield body

    def _impersonated(self, header) -> str | None:
        imp = child(header, "ExchangeImpersonation")
        if imp is None:
            return None
        sid = child(imp, "ConnectingSID")
        for name in ("PrimarySmtpAddress", "SmtpAddress", "PrincipalName"):
            el = child(sid, name)
            if el is not None and el.text:
                return el.text.strip().lower()
        return "sid:" + (child(sid, "SID").text or "") if child(sid, "SID") is not None else "unknown"

    @staticmethod
    def _check_version(header) -> None:
        rsv = child(header, "RequestServerVersion")
        if rsv is not None and rsv.get("Version") not in soap.SUPPORTED_VERSIONS:
            raise SoapFault("ErrorInvalidServerVersion",
                            "The specified server version is invalid.")

    def _take_fault(self, op: str) -> dict | None:
        with self.fault_lock:
            for fault in self.faults:
                if fault["operation"] in (op, "*") and fault["remaining"] > 0:
                    fault["remaining"] -= 1
                    return dict(fault)
        return None

    def _dispatch(self, op, req, header, user, injected) -> etree._Element:
        tz_def = child(child(header, "TimeZoneContext"), "TimeZoneDefinition")
        tz = zone(tz_def.get("Id") if tz_def is not None else None)
        with self.store.lock:
            target = self._impersonated(header)
            if target is not None:
                mb = self.store.mailbox(target)
                if user != SERVICE_ACCOUNT and target != user:
                    raise SoapFault("ErrorImpersonateUserDenied",
                                    "The account does not have permission to impersonate the requested user.")
                if mb is None:
                    raise SoapFault("ErrorNonExistentMailbox",
                                    f"The SMTP address {target} has no mailbox associated with it.")
                ctx = Context(self.store, op, user, mb, True, tz)
            else:
                ctx = Context(self.store, op, user, self.store.mailbox(user), False, tz)
            ctx.subscriptions, ctx.stream = self.subscriptions, None
            root, msgs = soap.response_root(op)
            if injected and injected.get("error_code"):
                # An injected per-message error: every requested object fails and nothing is changed.
                for _ in range(max(1, _request_count(op, req))):
                    error_message(msgs, op, EwsError(injected["error_code"]))
                return root
            try:
                strict.check_request(op, req, self.store.mailboxes)
                OPERATIONS[op](ctx, req, msgs)
                if ctx.stream is not None:
                    return ctx.stream
            except EwsError as err:
                # A request-wide problem found outside a per-object step (e.g. a bad property path in the shape):
                # Exchange answers it in every response message.
                for rm in list(msgs):
                    msgs.remove(rm)
                for _ in range(max(1, _request_count(op, req))):
                    error_message(msgs, op, err)
            finally:
                self.store.flush()
            return root


def _exchange_headers(environ, status: int) -> list[tuple[str, str]]:
    """The HTTP headers Exchange puts on every EWS answer, errors included: a request id for support, the client's
    own request id when it asks for it back, and the back end's status (learn.microsoft.com, "Instrumenting client
    requests for EWS and REST in Exchange")."""
    headers = [("request-id", str(uuid.uuid4())), ("X-BackEndHttpStatus", str(status)),
               ("X-FEServer", "SANDBOX"), ("X-BEServer", "SANDBOX"), ("Cache-Control", "private")]
    client_id = environ.get("HTTP_CLIENT_REQUEST_ID", "")
    if client_id and environ.get("HTTP_RETURN_CLIENT_REQUEST_ID", "").lower() == "true":
        headers.append(("client-request-id", client_id[:100]))
    return headers


def _request_count(op: str, req) -> int:
    """How many response messages a request gets (one per requested item/folder)."""
    container = {"GetFolder": "FolderIds", "FindFolder": "ParentFolderIds", "CreateFolder": "Folders",
                 "UpdateFolder": "FolderChanges", "DeleteFolder": "FolderIds", "FindItem": "ParentFolderIds",
                 "GetItem": "ItemIds", "CreateItem": "Items", "UpdateItem": "ItemChanges", "DeleteItem": "ItemIds",
                 "MoveItem": "ItemIds", "CopyItem": "ItemIds",
                 "ConvertId": "SourceIds"}.get(op)
    el = child(req, container, ns=soap.M) if container else None
    return len(el) if el is not None else 1

"""The REST API under ``/services/data/``: routing, accounting, and the query / sObject / describe / limits /
replication endpoints, with the conditional ``If-Unmodified-Since`` on sObject Rows. sObject Collections live in
``sobject_collections.py``, the Composite resource in ``composite.py``."""

import datetime as dt
import re
from email.utils import parsedate_to_datetime

from werkzeug.wrappers import Request, Response

from sandbox.salesforce import ids, limits, schema, soql
from sandbox.salesforce.access import Access
from sandbox.salesforce.composite import Composite
from sandbox.salesforce.dml import Dml
from sandbox.salesforce.errors import ApiError, RecordError, not_found
from sandbox.salesforce.http import json_response, parse_json
from sandbox.salesforce.query import PAGE_SIZE, Cursors, run
from sandbox.salesforce.sobject_collections import Collections
from sandbox.salesforce.values import format_datetime, parse_datetime

MIN_VERSION, MAX_VERSION = 52, 66
_VERSION = re.compile(r"^v(\d{2})\.0$")
REPLICATION_DAYS = 30


def version_label(number: int) -> str:
    season = ("Spring", "Summer", "Winter")[(number - 52 + 1) % 3]
    year = 2021 + (number - 51) // 3 + (1 if season == "Winter" else 0)
    return f"{season} '{year % 100:02d}"


class Rest:
    def __init__(self, emulator):
        self.emulator = emulator
        self.store = emulator.store
        self.cursors = Cursors()
        self.collections = Collections(self)
        self.composite = Composite(self, range(MIN_VERSION, MAX_VERSION + 1))

    def handle(self, request: Request, fault: dict | None) -> Response:
        parts = [part for part in request.path.split("/") if part]
        if parts[:2] != ["services", "data"]:
            raise not_found()
        if len(parts) == 2:
            body = [{"label": version_label(n), "url": f"/services/data/v{n}.0", "version": f"{n}.0"}
                    for n in range(MIN_VERSION, MAX_VERSION + 1)]
            return json_response(body)
        match = _VERSION.match(parts[2])
        if not match or not MIN_VERSION <= int(match.group(1)) <= MAX_VERSION:
            raise not_found()
        version = f"{match.group(1)}.0"
        user = self.emulator.auth.user_for(request)
        rest_parts = parts[3:]
        pattern = self.pattern(rest_parts)
        with self.emulator.lock:
            self.emulator.calls[f"{request.method} /services/data/v{{version}}{pattern}"] += 1
            self.emulator.calls_by_user[user["Username"]] += 1
        header = self.emulator.limit_header
        if fault is not None and fault.get("status"):
            response = self.emulator.control.fault_response(fault, request, user)
            response.headers.set(*header())
            return response
        used, allocation = self.emulator.api_usage()
        if used >= allocation:
            raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", headers=[header()])
        self.emulator.count_api_call()
        try:
            response = self.route(request, version, rest_parts, Access(self.store, user))
        except ApiError as exc:
            exc.headers.append(header())
            raise
        response.headers.set(*header())
        return response

    @staticmethod
    def pattern(parts: list[str]) -> str:
        out = []
        for index, part in enumerate(parts):
            if ids.is_well_formed(part) and index > 0:
                out.append("{id}")
            elif index > 0 and parts[index - 1] in ("query", "queryAll"):
                out.append("{locator}")
            else:
                out.append(part)
        return "/" + "/".join(out) if out else ""

    def route(self, request: Request, version: str, parts: list[str], access: Access) -> Response:
        method = request.method

        def allow(*methods):
            if method not in methods:
                raise ApiError(405, "METHOD_NOT_ALLOWED",
                               f"HTTP Method '{method}' not allowed. Allowed are {','.join(methods)}")

        if not parts:
            allow("GET")
            base = f"/services/data/v{version}"
            return json_response({name: f"{base}/{name}" for name in
                                  ("sobjects", "query", "queryAll", "limits", "composite")})
        head, rest = parts[0], parts[1:]
        if head == "limits" and not rest:
            allow("GET")
            used, allocation = self.emulator.api_usage()
            return json_response(limits.body(used, allocation))
        if head in ("query", "queryAll"):
            allow("GET")
            return json_response(self.query(request, version, rest, access, include_deleted=head == "queryAll"))
        if head == "sobjects":
            return self.sobjects(request, version, rest, access, allow)
        if head == "composite" and rest[:1] == ["sobjects"]:
            return self.collections.handle(request, version, rest[1:], access, allow)
        if head == "composite" and not rest:
            allow("POST")
            return self.composite.handle(request, access)
        raise not_found()

    # -- query -------------------------------------------------------------------------------------
    def query(self, request: Request, version: str, rest: list[str], access: Access, include_deleted: bool):
        if rest:
            with self.emulator.lock:
                return self.cursors.next_page(rest[0], version, access.user_id)
        text = request.args.get("q")
        if not text or not text.strip():
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        now = self.emulator.now()
        with self.emulator.lock:
            query = soql.parse(text, access, now.date(), now)
            rows = run(query, self.store, access, include_deleted)
            if query.count:
                return {"totalSize": len(rows), "done": True, "records": []}
            batch = PAGE_SIZE
            options = request.headers.get("Sforce-Query-Options", "")
            found = re.search(r"batchSize=(\d+)", options)
            if found:
                batch = min(PAGE_SIZE, max(200, int(found.group(1))))
            return self.cursors.page(query, rows, 0, version, batch, None, access.user_id)

    # -- sobjects ----------------------------------------------------------------------------------
    def sobjects(self, request, version, rest, access: Access, allow) -> Response:
        if not rest:
            allow("GET")
            return json_response({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [
                schema.global_entry(obj, version, access.perms(obj.name)) for obj in schema.OBJECTS.values()
                if access.can(obj.name, "read")]})
        obj = schema.sobject(rest[0])
        if obj is None or not access.can(obj.name, "read"):
            raise not_found()
        if len(rest) == 1:
            allow("GET", "POST")
            if request.method == "GET":
                return json_response({"objectDescribe": schema.global_entry(obj, version, access.perms(obj.name)),
                                      "recentItems": []})
            return self.create(request, obj, access)
        if rest[1] == "describe" and len(rest) == 2:
            allow("GET")
            return json_response(schema.describe(obj, version, access.perms(obj.name)))
        if rest[1] in ("updated", "deleted") and len(rest) == 2:
            allow("GET")
            return json_response(self.replication(request, obj, access, rest[1]))
        if len(rest) == 2:
            allow("GET", "PATCH", "DELETE")
            return self.record(request, version, obj, rest[1], access)
        raise not_found()

    def create(self, request: Request, obj, access: Access) -> Response:
        body = parse_json(request)
        with self.emulator.lock:
            dml = Dml(self.emulator, access)
            try:
                record = dml.create(obj, body if body is not None else {})
            except RecordError as exc:
                raise exc.as_api_error() from None
            dml.commit()
        return json_response({"id": record["Id"], "success": True, "errors": []}, 201)

    def record(self, request: Request, version: str, obj, record_id: str, access: Access) -> Response:
        full_id = ids.normalize(record_id)
        if full_id is None or ids.type_of(full_id) != obj.name:
            raise ApiError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: "
                                             f"{record_id}")
        since = unmodified_since(request) if request.method in ("GET", "PATCH") else None
        if request.method == "GET":
            with self.emulator.lock:
                self.check_unmodified(obj, full_id, access, since)
                return json_response(self.get(request, version, obj, full_id, access))
        body = parse_json(request) if request.method == "PATCH" else None
        with self.emulator.lock:
            self.check_unmodified(obj, full_id, access, since)
            dml = Dml(self.emulator, access)
            try:
                if request.method == "PATCH":
                    dml.update(obj, full_id, body if body is not None else {})
                else:
                    dml.delete(full_id, obj)
            except RecordError as exc:
                if exc.status_code == "INVALID_CROSS_REFERENCE_KEY":
                    raise not_found() from None
                raise exc.as_api_error() from None
            dml.commit()
        return Response(status=204)

    def check_unmodified(self, obj, full_id: str, access: Access, since: dt.datetime | None) -> None:
        """412 when the record changed after `since` (its LastModifiedDate, to the second as Salesforce compares:
        an HTTP date has no fractions). A record that is gone or hidden is left to the usual 404."""
        if since is None:
            return
        record = self.store.get(full_id)
        if record is None or record.get("IsDeleted") or not access.can_see(obj.name, record):
            return
        modified = parse_datetime(record.get("LastModifiedDate"))
        if modified is not None and modified.replace(microsecond=0) > since:
            raise ApiError(412, "PRECONDITION_FAILED", "The record was modified after the date in the "
                                                       "If-Unmodified-Since header; read it again and retry.")

    def get(self, request: Request, version: str, obj, full_id: str, access: Access) -> dict:
        record = self.store.get(full_id)
        if record is None or record.get("IsDeleted") or not access.can_see(obj.name, record):
            raise not_found()
        names = list(obj.fields)
        if request.args.get("fields"):
            names = []
            for name in request.args["fields"].split(","):
                f = obj.field(name.strip())
                if f is None:
                    raise ApiError(400, "INVALID_FIELD",
                                   f"No such column '{name.strip()}' on entity '{obj.name}'. If you are attempting "
                                   "to use a custom field, be sure to append the '__c' after the custom field name. "
                                   "Please reference your WSDL or the describe call for the appropriate names.")
                names.append(f.name)
            if "Id" not in names:
                names.append("Id")
        out = {"attributes": {"type": obj.name, "url": f"/services/data/v{version}/sobjects/{obj.name}/{full_id}"}}
        out.update({name: record.get(name) for name in names})
        return out

    # -- replication -------------------------------------------------------------------------------
    def replication(self, request: Request, obj, access: Access, kind: str) -> dict:
        now = self.emulator.now()
        bounds = {}
        for name in ("start", "end"):
            text = request.args.get(name)
            if not text:
                raise ApiError(400, "MISSING_ARGUMENT", f"Missing required query parameter: {name}")
            parsed = parse_datetime(text.replace(" ", "+"))
            if parsed is None:
                raise ApiError(400, "INVALID_REPLICATION_DATE", f"{name} is not a valid dateTime: {text}")
            bounds[name] = parsed.replace(second=0, microsecond=0)
        start, end = bounds["start"], bounds["end"]
        earliest = (now - dt.timedelta(days=REPLICATION_DAYS)).replace(second=0, microsecond=0)
        if start >= end:
            raise ApiError(400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate")
        if start < earliest:
            raise ApiError(400, "INVALID_REPLICATION_DATE",
                           f"startDate cannot be more than {REPLICATION_DAYS} days ago")
        covered = min(end, now.replace(second=0, microsecond=0))
        low, high = format_datetime(start), format_datetime(covered)
        with self.emulator.lock:
            records = self.store.of_type(obj.name)
            if kind == "updated":
                found = sorted(r["Id"] for r in records if not r.get("IsDeleted") and
                               low <= r["SystemModstamp"] < high and access.can_see(obj.name, r))
                return {"ids": found, "latestDateCovered": high}
            deleted = sorted(((r["Id"], r["_deletedDate"]) for r in records if r.get("IsDeleted") and
                              low <= r.get("_deletedDate", "") < high and access.can_see(obj.name, r)),
                             key=lambda pair: pair[1])
        return {"deletedRecords": [{"id": rid, "deletedDate": when} for rid, when in deleted],
                "earliestDateAvailable": format_datetime(earliest), "latestDateCovered": high}


def unmodified_since(request: Request) -> dt.datetime | None:
    """The instant of an ``If-Unmodified-Since`` header (an HTTP date), None without one; 400 when unreadable."""
    text = request.headers.get("If-Unmodified-Since")
    if text is None:
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        when = None
    if when is None:
        raise ApiError(400, "INVALID_HEADER_TYPE", f"The If-Unmodified-Since header is not a valid HTTP date: "
                                                   f"{text}. Send a date such as 'Tue, 23 Mar 2026 10:15:30 GMT'.")
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)

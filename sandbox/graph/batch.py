"""JSON batching (POST /v1.0/$batch): up to 20 requests, each answered with its own status, headers and body;
``dependsOn`` orders requests and a request whose dependency failed answers 424 Failed Dependency."""

import hashlib
import json

from sandbox.graph.errors import GraphError, bad_request, error_body

MAX_REQUESTS = 20
METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE"}


def _parse(raw: bytes) -> list[dict]:
    try:
        body = json.loads(raw or b"")
    except (ValueError, UnicodeDecodeError):
        raise bad_request("Unable to read JSON request payload. Please ensure Content-Type header is set and payload "
                          "is of valid JSON format.") from None
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise bad_request("Invalid batch payload format: a 'requests' array is required.")
    requests = body["requests"]
    if not requests:
        raise bad_request("Invalid batch payload format: the batch contains no requests.")
    if len(requests) > MAX_REQUESTS:
        raise bad_request(f"Invalid batch payload format: the batch contains {len(requests)} requests, more than the "
                          f"limit of {MAX_REQUESTS}.")
    seen = set()
    for r in requests:
        if not isinstance(r, dict):
            raise bad_request("Invalid batch payload format: every request is an object.")
        rid = r.get("id")
        if not isinstance(rid, str) or not rid:
            raise bad_request("Invalid batch payload format: every request needs an 'id'.")
        if rid.lower() in seen:
            raise bad_request(f"Batch request ids must be unique; '{rid}' is repeated.")
        seen.add(rid.lower())
        if not isinstance(r.get("method"), str) or r["method"].upper() not in METHODS:
            raise bad_request(f"Request id : {rid} has an invalid or missing 'method'.")
        if not isinstance(r.get("url"), str) or not r["url"]:
            raise bad_request(f"Request id : {rid} has an invalid or missing 'url'.")
        headers = r.get("headers") or {}
        if not isinstance(headers, dict):
            raise bad_request(f"Request id : {rid} has invalid 'headers'.")
        if "body" in r and r["body"] is not None and not any(k.lower() == "content-type" for k in headers):
            raise bad_request(f"Write request id : {rid} does not contain Content-Type header or body.")
        deps = r.get("dependsOn") or []
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise bad_request(f"Request id : {rid} has an invalid 'dependsOn'.")
    ids = {r["id"].lower() for r in requests}
    for r in requests:
        for d in r.get("dependsOn") or []:
            if d.lower() not in ids or d.lower() == r["id"].lower():
                raise bad_request(f"Request id : {r['id']} depends on '{d}', which is not another request of the "
                                  "batch.")
    return requests


def _order(requests: list[dict]) -> list[dict]:
    by_id = {r["id"].lower(): r for r in requests}
    done, order, visiting = set(), [], set()

    def visit(r):
        key = r["id"].lower()
        if key in done:
            return
        if key in visiting:
            raise bad_request(f"The batch's dependsOn graph has a cycle through request '{r['id']}'.")
        visiting.add(key)
        for d in r.get("dependsOn") or []:
            visit(by_id[d.lower()])
        visiting.discard(key)
        done.add(key)
        order.append(r)

    for r in requests:
        visit(r)
    return order


def run_batch(emu, raw: bytes, outer_headers: dict, base: str) -> dict:
    requests = _order(_parse(raw))
    emu.count_request([emu.user_of("/" + r["url"].lstrip("/")) for r in requests
                       if not r["url"].lower().startswith(("http://", "https://"))])
    statuses: dict[str, int] = {}
    responses = []
    for r in requests:
        rid = r["id"]
        failed = [d for d in r.get("dependsOn") or [] if not 200 <= statuses.get(d.lower(), 0) < 300]
        if failed:
            status = 424
            payload = error_body("FailedDependency", f"The request depends on request '{failed[0]}', which failed.")
            headers = [("Content-Type", "application/json")]
        else:
            status, headers, payload = _one(emu, r, outer_headers, base)
        statuses[rid.lower()] = status
        entry = {"id": rid, "status": status, "headers": dict(headers)}
        if payload is not None:
            entry["body"] = payload
        responses.append(entry)
    if not any(r.get("dependsOn") for r in requests):
        # Parallel requests: Graph answers in no particular order (clients correlate by id), and neither do we.
        responses.sort(key=lambda e: hashlib.sha1(e["id"].encode()).hexdigest())  # noqa: S324 - not security
    return {"responses": responses}


def _one(emu, r: dict, outer_headers: dict, base: str):
    url = r["url"]
    if url.lower().startswith(("http://", "https://")):
        return 400, [("Content-Type", "application/json")], error_body(
            "BadRequest", "Invalid request URL: batch request URLs are relative to the version (e.g. /users/…).")
    path, _, query = url.partition("?")
    path = "/" + path.lstrip("/")
    headers = {k.lower(): str(v) for k, v in (r.get("headers") or {}).items()}
    headers.setdefault("client-request-id", outer_headers.get("client-request-id", ""))
    try:
        status, out_headers, payload = emu.handle_graph(r["method"].upper(), path, query, headers, r.get("body"),
                                                        base, batched=True)
    except GraphError as e:
        return e.status, [("Content-Type", "application/json"), *e.headers], error_body(e.code, e.message)
    kept = [(k, v) for k, v in out_headers if k.lower() in ("content-type", "location", "etag", "odata-version",
                                                             "retry-after", "preference-applied")]
    return status, [("Cache-Control", "no-cache"), *kept], payload

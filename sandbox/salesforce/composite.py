"""The Composite resource (``POST /composite``): up to 25 subrequests in one call, run in order, each answered as
the resource it names would answer it alone, with ``@{referenceId.path}`` references to earlier answers and
``allOrNone`` either way. The call counts once against the API allocation, as in Salesforce."""

import json
import re

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.http import json_response, parse_json

MAX_SUBREQUESTS = 25
_REFERENCE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_REFERENCE = re.compile(r"@\{([A-Za-z][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_URL = re.compile(r"^/services/data/(v\d{2}\.0)(/.*)?$")
_METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
# Headers a subrequest may not set (Salesforce takes them from the composite request itself).
_OWN_HEADERS = frozenset({"accept", "authorization", "content-type"})
HALTED = "The transaction was rolled back since another operation in the same transaction failed."


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_INPUT", message)


class Composite:
    def __init__(self, rest, versions: range):
        self.rest = rest
        self.emulator = rest.emulator
        self.versions = versions  # the API versions a subrequest's url may name

    def handle(self, request: Request, access) -> object:
        body = parse_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
            raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of the request body: expected an "
                                                     "object with a 'compositeRequest' array at [line:1, column:1]")
        subrequests = body["compositeRequest"]
        if not subrequests:
            raise _invalid("The compositeRequest array must contain at least 1 subrequest.")
        if len(subrequests) > MAX_SUBREQUESTS:
            raise ApiError(400, "LIMIT_EXCEEDED", f"Exceeded max limit of subrequests allowed in composite request: "
                                                  f"{MAX_SUBREQUESTS}")
        all_or_none = body.get("allOrNone", False)
        if not isinstance(all_or_none, bool):
            raise ApiError(400, "JSON_PARSER_ERROR",
                           f"Cannot deserialize instance of boolean from value {all_or_none} at [line:1, column:1]")
        seen: set[str] = set()
        for sub in subrequests:
            self._validate(sub, seen)
        with self.emulator.lock:  # one transaction: nobody else writes between the subrequests
            before = dict(self.emulator.store.records) if all_or_none else None
            answers = self._run(subrequests, request, access, all_or_none)
            if before is not None and any(answer["httpStatusCode"] >= 400 for answer in answers):
                self.emulator.store.restore(before)
                answers = [answer if answer["httpStatusCode"] >= 400 else self._halted(answer["referenceId"])
                           for answer in answers]
        return json_response({"compositeResponse": answers})

    @staticmethod
    def _validate(sub, seen: set[str]) -> None:
        if not isinstance(sub, dict):
            raise _invalid("Each subrequest must be a JSON object.")
        reference_id, method, url = sub.get("referenceId"), sub.get("method"), sub.get("url")
        if not isinstance(reference_id, str) or not _REFERENCE_ID.match(reference_id):
            raise _invalid(f"Invalid reference id: {reference_id}. Reference ids must start with a letter and hold "
                           "only letters, digits and underscores.")
        if reference_id in seen:
            raise _invalid(f"Duplicate reference id: {reference_id}. Each subrequest needs its own.")
        seen.add(reference_id)
        if method not in _METHODS:
            raise _invalid(f"Invalid HTTP method for subrequest {reference_id}: {method}.")
        if not isinstance(url, str) or not url.startswith("/services/data/"):
            raise _invalid(f"The url of subrequest {reference_id} must start with /services/data/.")
        headers = sub.get("httpHeaders", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise _invalid(f"The httpHeaders of subrequest {reference_id} must be an object of strings.")
        if any(name.lower() in _OWN_HEADERS for name in headers):
            raise _invalid(f"Subrequest {reference_id} may not set Accept, Authorization or Content-Type.")

    def _run(self, subrequests: list, request: Request, access, all_or_none: bool) -> list[dict]:
        answers: list[dict] = []
        bodies: dict[str, object] = {}
        failed = False
        for sub in subrequests:
            reference_id = sub["referenceId"]
            if failed and all_or_none:
                answers.append(self._halted(reference_id))
                continue
            try:
                url = self._resolve(sub["url"], bodies)
                payload = self._resolve(sub["body"], bodies) if "body" in sub else None
                status, headers, body = self._one(sub["method"], url, payload, sub.get("httpHeaders", {}),
                                                  request, access)
            except ApiError as exc:
                status, headers, body = exc.status, {}, exc.body()
            answers.append({"body": body, "httpHeaders": headers, "httpStatusCode": status,
                            "referenceId": reference_id})
            if status < 400:
                bodies[reference_id] = body
            failed = failed or status >= 400
        return answers

    @staticmethod
    def _halted(reference_id: str) -> dict:
        return {"body": [{"errorCode": "PROCESSING_HALTED", "message": HALTED}], "httpHeaders": {},
                "httpStatusCode": 400, "referenceId": reference_id}

    def _one(self, method: str, url: str, payload, headers: dict, request: Request, access):
        match = _URL.match(url.split("?", 1)[0])
        if not match:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        version = match.group(1)[1:]
        if int(version.split(".")[0]) not in self.versions:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        parts = [part for part in (match.group(2) or "").split("/") if part]
        if parts[:1] == ["composite"]:
            raise _invalid("A composite subrequest cannot itself be a composite request.")
        builder = EnvironBuilder(path=url, method=method, headers={**headers},
                                 data=json.dumps(payload) if payload is not None else None,
                                 content_type="application/json" if payload is not None else None,
                                 base_url=request.host_url)
        try:
            sub_request = builder.get_request()
        finally:
            builder.close()
        response = self.rest.route(sub_request, version, parts, access)
        text = response.get_data(as_text=True)
        body = json.loads(text) if text.strip() else None
        out_headers = {}
        if response.status_code == 201 and isinstance(body, dict) and body.get("id") and len(parts) >= 2:
            out_headers["Location"] = f"/services/data/v{version}/sobjects/{parts[1]}/{body['id']}"
        return response.status_code, out_headers, body

    def _resolve(self, value, bodies: dict[str, object]):
        """Replace ``@{referenceId.path}`` with the value at that path in an earlier subrequest's answer."""
        if isinstance(value, dict):
            return {key: self._resolve(item, bodies) for key, item in value.items()}
        if isinstance(value, list):
            return [self._resolve(item, bodies) for item in value]
        if not isinstance(value, str) or "@{" not in value:
            return value

        def lookup(found: re.Match) -> str:
            current = bodies.get(found.group(1))
            if current is None:
                raise _invalid(f"Invalid reference specified. No value for {found.group(1)} found in "
                               f"{found.group(0)}. Provided referenceId ('{found.group(1)}') must be of a "
                               "subrequest that ran before and succeeded.")
            for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", found.group(2)):
                name, index = step
                try:
                    current = current[int(index)] if index else current[name]  # type: ignore[index]
                except (KeyError, IndexError, TypeError):
                    raise _invalid(f"Invalid reference specified. No value for {found.group(0)} found.") from None
            return str(current)

        return _REFERENCE.sub(lookup, value)

"""sObject Collections (``/composite/sobjects``): create, update and delete up to 200 records, ``allOrNone``
either way, per-record ``SaveResult`` errors with ``statusCode``; plus retrieve (``GET .../{Type}?ids=``)."""

from werkzeug.wrappers import Request, Response

from sandbox.salesforce import ids, schema
from sandbox.salesforce.dml import Dml
from sandbox.salesforce.errors import ApiError, RecordError, not_found
from sandbox.salesforce.http import json_response, parse_json

MAX_RECORDS = 200
ROLLED_BACK = RecordError("ALL_OR_NONE_OPERATION_ROLLED_BACK",
                          "Record rolled back because not all records were valid and the request was using "
                          "AllOrNone header")


def too_many() -> ApiError:
    return ApiError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into "
                                              "this call")


class Collections:
    def __init__(self, rest):
        self.rest = rest
        self.emulator = rest.emulator

    def handle(self, request: Request, version: str, rest: list[str], access, allow) -> Response:
        if len(rest) == 1:
            allow("GET")
            return json_response(self.retrieve(request, version, rest[0], access))
        if rest:
            raise not_found()
        allow("POST", "PATCH", "DELETE")
        if request.method == "DELETE":
            raw = request.args.get("ids", "")
            record_ids = [part.strip() for part in raw.split(",") if part.strip()]
            if not record_ids:
                raise ApiError(400, "REQUIRED_FIELD_MISSING", "At least 1 Id is required.")
            if len(record_ids) > MAX_RECORDS:
                raise too_many()
            all_or_none = request.args.get("allOrNone", "false").lower() == "true"
            return json_response(self.save(access, "delete", record_ids, all_or_none))
        body = parse_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise ApiError(400, "JSON_PARSER_ERROR",
                           "Cannot deserialize instance of the request body: expected an object with a 'records' "
                           "array at [line:1, column:1]")
        records = body["records"]
        if not records:
            raise ApiError(400, "REQUIRED_FIELD_MISSING", "At least 1 record is required.", ["records"])
        if len(records) > MAX_RECORDS:
            raise too_many()
        all_or_none = body.get("allOrNone", False)
        if not isinstance(all_or_none, bool):
            raise ApiError(400, "JSON_PARSER_ERROR",
                           f"Cannot deserialize instance of boolean from value {all_or_none} at [line:1, column:1]")
        operation = "create" if request.method == "POST" else "update"
        return json_response(self.save(access, operation, records, all_or_none))

    def save(self, access, operation: str, items: list, all_or_none: bool) -> list:
        with self.emulator.lock:
            dml = Dml(self.emulator, access)
            results, failed = [], False
            for item in items:
                before = dict(dml.pending)
                try:
                    record_id = self.one(dml, operation, item)
                    results.append({"id": record_id, "success": True, "errors": []})
                except RecordError as exc:
                    dml.pending = before
                    failed = True
                    result = {"success": False, "errors": [exc.as_dict()]}
                    known = item if operation == "delete" else (item.get("Id") if isinstance(item, dict) else None)
                    if operation != "create" and isinstance(known, str):
                        result = {"id": ids.normalize(known) or known, **result}
                    results.append(result)
            if all_or_none and failed:
                rolled = []
                for result in results:
                    if result["success"]:
                        entry = {"success": False, "errors": [ROLLED_BACK.as_dict()]}
                        if operation != "create":
                            entry = {"id": result["id"], **entry}
                        rolled.append(entry)
                    else:
                        rolled.append(result)
                return rolled
            dml.commit()
            return results

    def one(self, dml: Dml, operation: str, item) -> str:
        if operation == "delete":
            return dml.delete(item)["Id"]
        if not isinstance(item, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of SObject from a non-object "
                                                     "value at [line:1, column:1]")
        attributes = item.get("attributes")
        type_name = attributes.get("type") if isinstance(attributes, dict) else None
        obj = schema.sobject(type_name or "")
        if not type_name:
            raise RecordError("INVALID_TYPE", "Must specify a type in attributes")
        if obj is None or not dml.access.can(obj.name, "read"):
            raise RecordError("INVALID_TYPE", f"sObject type '{type_name}' is not supported.")
        if operation == "create":
            return dml.create(obj, item)["Id"]
        record_id = item.get("Id") or item.get("id")
        if not record_id:
            raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        body = {key: value for key, value in item.items() if key not in ("Id", "id")}
        return dml.update(obj, record_id, body)["Id"]

    def retrieve(self, request: Request, version: str, type_name: str, access) -> list:
        obj = schema.sobject(type_name)
        if obj is None or not access.can(obj.name, "read"):
            raise not_found()
        wanted = [part.strip() for part in request.args.get("ids", "").split(",") if part.strip()]
        fields = [part.strip() for part in request.args.get("fields", "").split(",") if part.strip()]
        if not wanted:
            raise ApiError(400, "REQUIRED_FIELD_MISSING", "At least 1 Id is required.", ["ids"])
        if not fields:
            raise ApiError(400, "REQUIRED_FIELD_MISSING", "At least 1 field is required.", ["fields"])
        if len(wanted) > 2000:
            raise too_many()
        names = []
        for name in fields:
            f = obj.field(name)
            if f is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'")
            names.append(f.name)
        out = []
        for record_id in wanted:
            full_id = ids.normalize(record_id)
            record = self.emulator.store.get(full_id) if full_id else None
            if full_id is None:
                raise ApiError(400, "MALFORMED_ID", f"malformed id {record_id}")
            if record is None or record.get("IsDeleted") or ids.type_of(full_id) != obj.name or \
                    not access.can_see(obj.name, record):
                out.append(None)
                continue
            entry = {"attributes": {"type": obj.name,
                                    "url": f"/services/data/v{version}/sobjects/{obj.name}/{full_id}"}}
            entry.update({name: record.get(name) for name in names})
            entry.setdefault("Id", full_id)
            out.append(entry)
        return out

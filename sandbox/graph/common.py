"""What the resource modules share: the request context, body checks, extended properties, shaping of answers
($select, $expand, @odata.etag), collections with paging, If-Match, and date-time/time-zone conversions."""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sandbox.graph.errors import GraphError, bad_request, body_property
from sandbox.graph.ids import change_key, etag
from sandbox.graph.odata import Query, page_size, parse_datetime

try:  # exchangelib ships the CLDR Windows <-> IANA table; it is a dependency of the product anyway.
    from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP
except ImportError:  # pragma: no cover
    MS_TIMEZONE_TO_IANA_MAP = {}

EXT_ID = re.compile(r"^\s*(\w+)\s+\{([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})\}"
                    r"\s+(Name\s+(.+)|Id\s+(0x[0-9A-Fa-f]+))\s*$")
EXT_TAG = re.compile(r"^\s*(\w+)\s+(0x[0-9A-Fa-f]{4})\s*$")
EXT_TYPES = {"string", "integer", "boolean", "systemtime", "long", "short", "double", "currency", "float",
             "binary", "clsid", "applicationtime", "object"}
DEFAULT_PAGE = 10


@dataclass
class Ctx:
    """One Graph request as the handlers see it."""

    emu: object
    store: object
    mb: dict
    method: str
    rel_path: str  # after /v1.0/users/{user}/
    args: dict
    headers: dict  # lower-case names
    body: object
    base: str  # https://host:port
    user_segment: str  # as it appeared in the URL
    extra_headers: list = field(default_factory=list)

    @property
    def prefer(self) -> str:
        return self.headers.get("prefer", "")

    def url(self, path: str, params: dict | None = None) -> str:
        u = f"{self.base}/v1.0/users/{quote(self.user_segment, safe='@.')}/{path}"
        return u + ("?" + urlencode(params, safe="$'(),:/", quote_via=quote) if params else "")

    def context(self, suffix: str) -> str:
        return f"{self.base}/v1.0/$metadata#users('{quote(self.user_segment, safe='@.')}')/{suffix}"


# ---- bodies -----------------------------------------------------------------------------------------------------
def json_body(ctx: Ctx) -> dict:
    if ctx.body is None:
        raise bad_request("Empty Payload. JSON content expected.")
    if not isinstance(ctx.body, dict):
        raise GraphError(400, "RequestBodyRead", "Invalid JSON: an object was expected.")
    return ctx.body


def check_properties(body: dict, writable: set, readonly: set, type_name: str) -> dict:
    """The writable properties of a body; unknown ones are Graph's RequestBodyRead error, read-only ones dropped."""
    out = {}
    for key, value in body.items():
        if key.startswith("@odata."):
            continue
        if key in writable:
            out[key] = value
        elif key not in readonly:
            raise body_property(key, type_name)
    return out


def expect(value, kinds, name: str, type_name: str):
    if value is not None and not isinstance(value, kinds):
        raise GraphError(400, "RequestBodyRead",
                         f"Cannot convert the value of property '{name}' on type 'microsoft.graph.{type_name}'.")
    return value


def expect_enum(value, allowed: tuple, name: str):
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in {a.lower() for a in allowed}:
        raise GraphError(400, "RequestBodyRead",
                         f"Cannot convert the literal '{value}' to the expected type 'microsoft.graph.{name}'.")
    return next(a for a in allowed if a.lower() == value.lower())


# ---- extended properties ----------------------------------------------------------------------------------------
def canonical_ext_id(raw: str) -> str:
    m = EXT_ID.match(raw or "")
    if m and m.group(1).lower() in EXT_TYPES:
        kind = m.group(1)[0].upper() + m.group(1)[1:]
        if m.group(4) is not None:
            return f"{kind} {{{m.group(2).lower()}}} Name {m.group(4)}"
        return f"{kind} {{{m.group(2).lower()}}} Id {m.group(5).lower()}"
    m = EXT_TAG.match(raw or "")
    if m and m.group(1).lower() in EXT_TYPES:
        return f"{m.group(1)[0].upper() + m.group(1)[1:]} {m.group(2).lower()}"
    raise GraphError(400, "ErrorInvalidProperty", f"The extended property id '{raw}' is not valid.")


def write_extended(rec: dict, values) -> None:
    if not isinstance(values, list):
        raise GraphError(400, "RequestBodyRead", "singleValueExtendedProperties must be a collection.")
    for entry in values:
        if not isinstance(entry, dict) or set(entry) - {"id", "value", "@odata.type"} or "id" not in entry:
            raise GraphError(400, "RequestBodyRead",
                             "A singleValueLegacyExtendedProperty needs exactly 'id' and 'value'.")
        if entry.get("value") is not None and not isinstance(entry["value"], str):
            raise GraphError(400, "RequestBodyRead", "The value of an extended property is a string.")
        pid = canonical_ext_id(entry["id"])
        if entry.get("value") is None:
            rec["ext"].pop(pid, None)
        else:
            rec["ext"][pid] = entry["value"]


def ext_list(ext: dict) -> list[dict]:
    return [{"id": k, "value": v} for k, v in ext.items()]


def ext_matches(stored_id: str, wanted: str) -> bool:
    try:
        return canonical_ext_id(wanted) == stored_id
    except GraphError:
        return False


# ---- answers ----------------------------------------------------------------------------------------------------
def shape(obj: dict, ext: dict, query: Query | None, expandable: dict | None = None) -> dict:
    """Apply $select and $expand to a full representation; ``expandable`` maps navigation names to values."""
    out = dict(obj)
    if query is not None and query.select is not None:
        keep = {"id", "@odata.etag", *query.select}
        out = {k: v for k, v in out.items() if k in keep}
    if query is not None:
        for name, ids in query.expand.items():
            if name == "singleValueExtendedProperties":
                out[name] = [e for e in ext_list(ext) if ids is None or any(ext_matches(e["id"], i) for i in ids)]
            elif name == "multiValueExtendedProperties":
                out[name] = []
            elif expandable and name in expandable:
                out[name] = expandable[name]
            else:
                raise GraphError(400, "RequestBroker--ParseUri",
                                 f"Parsing OData Select and Expand failed: Could not find a property named '{name}' "
                                 f"on type 'microsoft.graph.{query.type_name}'.")
    return out


def filter_view(obj: dict, ext: dict) -> dict:
    """What $filter sees: the representation plus its extended properties."""
    return {**obj, "singleValueExtendedProperties": ext_list(ext)}


def collection(ctx: Ctx, query: Query, rows: list[tuple[dict, dict, dict | None]], context: str,
               path: str, default_page: int = DEFAULT_PAGE) -> dict:
    """rows: (full representation, ext, expandables). Filters, orders, counts and pages with $skip."""
    rows = [r for r in rows if query.matches(filter_view(r[0], r[1]))]
    objs = {id(r[0]): r for r in rows}
    ordered = [objs[id(o)] for o in query.order([r[0] for r in rows])]
    size, _asked = page_size(ctx.prefer, default_page)
    if query.top is not None:
        size = query.top
    page = ordered[query.skip: query.skip + size]
    out = {"@odata.context": ctx.context(context)}
    if query.count:
        out["@odata.count"] = len(ordered)
    out["value"] = [shape(o, ext, query, exp) for o, ext, exp in page]
    if query.skip + size < len(ordered):
        params = {k: v for k, v in ctx.args.items() if k.lower() != "$skip"}
        params["$skip"] = str(query.skip + size)
        out["@odata.nextLink"] = ctx.url(path, params)
    return out


def check_if_match(ctx: Ctx, current_ck: str) -> None:
    wanted = ctx.headers.get("if-match")
    if not wanted or wanted.strip() == "*":
        return
    tags = [t.strip() for t in wanted.split(",")]
    if etag(current_ck) not in tags and f'"{current_ck}"' not in tags and current_ck not in tags:
        raise GraphError(412, "ErrorIrresolvableConflict",
                         "The send or update operation could not be performed because the change key passed in the "
                         "request does not match the current change key for the item.")


def ck_of(rec: dict) -> str:
    return change_key(rec["id"], rec["version"])


def base_props(rec: dict, ck: str | None = None) -> dict:
    ck = ck or ck_of(rec)
    return {"@odata.etag": etag(ck), "id": rec["id"], "createdDateTime": rec["created"],
            "lastModifiedDateTime": rec["modified"], "changeKey": ck}


# ---- date-times and time zones ----------------------------------------------------------------------------------
def zone(name: str | None):
    if not name or name.upper() in ("UTC", "Z", "ETC/UTC", "COORDINATED UNIVERSAL TIME"):
        return UTC
    iana = MS_TIMEZONE_TO_IANA_MAP.get(name, name)
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        raise GraphError(400, "TimeZoneNotSupportedException",
                         "A valid TimeZone value must be specified. The following TimeZone value is not supported: "
                         f"'{name}'.") from None


def read_dttz(value, name: str, type_name: str) -> tuple[datetime, str]:
    """A dateTimeTimeZone → (aware UTC datetime, the time zone name as given)."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise GraphError(400, "RequestBodyRead",
                         f"Property '{name}' on type 'microsoft.graph.{type_name}' needs a dateTimeTimeZone value.")
    extra = set(value) - {"dateTime", "timeZone", "@odata.type"}
    if extra:
        raise body_property(sorted(extra)[0], "dateTimeTimeZone")
    tz_name = value.get("timeZone") or "UTC"
    tz = zone(tz_name)
    text = value["dateTime"]
    try:
        parsed = parse_datetime(text) if text.endswith("Z") or re.search(r"[+-]\d{2}:\d{2}$", text) else \
            parse_datetime(text).replace(tzinfo=None).replace(tzinfo=tz).astimezone(UTC)
    except ValueError:
        raise GraphError(400, "RequestBodyRead",
                         f"Cannot convert the literal '{text}' to the expected type 'Edm.DateTime'.") from None
    return parsed, tz_name


def write_dttz(value: datetime, tz_name: str | None) -> dict:
    tz = zone(tz_name) if tz_name else UTC
    local = value.astimezone(tz)
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}0",
            "timeZone": tz_name or "UTC"}


def utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_window(ctx: Ctx, required: bool = True) -> tuple[datetime, datetime] | None:
    start = next((v for k, v in ctx.args.items() if k.lower() == "startdatetime"), None)
    end = next((v for k, v in ctx.args.items() if k.lower() == "enddatetime"), None)
    if start is None or end is None:
        if not required:
            return None
        missing = "startDateTime" if start is None else "endDateTime"
        raise GraphError(400, "ErrorInvalidParameter",
                         f"This request requires a time window specified by the query string parameters "
                         f"StartDateTime and EndDateTime. Missing: {missing}.")
    try:
        s, e = parse_datetime(start), parse_datetime(end)
    except ValueError:
        raise GraphError(400, "ErrorInvalidParameter",
                         "The value of the parameter 'StartDateTime' or 'EndDateTime' is not valid.") from None
    if e < s:
        raise GraphError(400, "ErrorInvalidParameter", "The parameter 'EndDateTime' must be later than StartDateTime.")
    return s, e

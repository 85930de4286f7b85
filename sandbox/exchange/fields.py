"""Item properties: property paths (FieldURI, IndexedFieldURI, ExtendedFieldURI), item shapes, updates.

Stored properties are the elements the client sent. What Exchange computes (ids, timestamps, display names, task
status rules, calendar bookkeeping) is added when an item is materialized for a response or a restriction.
"""

import copy
import re
from datetime import UTC, datetime

from lxml import etree

from sandbox.exchange import schema_order as so
from sandbox.exchange.soap import EwsError, T, child, children, local, t

ORDER = {
    "Contact": so.ITEM_ORDER + so.CONTACT_ORDER,
    "CalendarItem": so.ITEM_ORDER + so.CALENDAR_ITEM_ORDER,
    "Task": so.ITEM_ORDER + so.TASK_ORDER,
    "Message": so.ITEM_ORDER + so.MESSAGE_ORDER,
    # Items of other classes that folders a sync reads hold (issue 17, item 7): distribution lists beside contacts,
    # generic items of any message class (meeting messages among them, served under their own element).
    "DistributionList": so.ITEM_ORDER + so.DISTRIBUTION_LIST_ORDER,
    "Item": so.ITEM_ORDER,
}
ITEM_CLASS = {"Contact": "IPM.Contact", "CalendarItem": "IPM.Appointment", "Task": "IPM.Task", "Message": "IPM.Note",
              "DistributionList": "IPM.DistList", "Item": "IPM"}
DEFAULT_FOLDER = {"Contact": "contacts", "CalendarItem": "calendar", "Task": "tasks", "Message": "drafts",
                  "DistributionList": "contacts", "Item": "drafts"}
INDEXED = {"EmailAddress": "EmailAddresses", "PhoneNumber": "PhoneNumbers", "ImAddress": "ImAddresses",
           "PhysicalAddress": "PhysicalAddresses"}
READ_ONLY = {
    "ItemId", "ParentFolderId", "DateTimeCreated", "LastModifiedTime", "LastModifiedName", "Size", "HasAttachments",
    "EffectiveRights", "CalendarItemType", "FirstOccurrence", "LastOccurrence", "ModifiedOccurrences",
    "DeletedOccurrences", "ConflictingMeetings", "AdjacentMeetings", "ConflictingMeetingCount",
    "AdjacentMeetingCount", "Organizer", "IsRecurring", "AppointmentState", "IsComplete", "ChangeCount",
    "Duration", "IsCancelled", "IsMeeting", "MyResponseType", "DateTimeStamp", "ConversationId",
}
DEFAULT_SHAPE = {
    "Contact": {"ItemId", "ParentFolderId", "ItemClass", "Subject", "HasAttachments", "FileAs", "DisplayName",
                "GivenName", "Surname", "CompanyName", "EmailAddresses", "PhoneNumbers", "PhysicalAddresses",
                "JobTitle", "Department", "Birthday", "Categories"},
    "CalendarItem": {"ItemId", "ParentFolderId", "ItemClass", "Subject", "Sensitivity", "HasAttachments", "Start",
                     "End", "IsAllDayEvent", "LegacyFreeBusyStatus", "Location", "CalendarItemType", "Organizer",
                     "IsRecurring", "UID", "Categories"},
    "Task": {"ItemId", "ParentFolderId", "ItemClass", "Subject", "HasAttachments", "DueDate", "StartDate",
             "Status", "PercentComplete", "IsComplete", "Importance", "Categories"},
    "Message": {"ItemId", "ParentFolderId", "ItemClass", "Subject", "HasAttachments", "Importance",
                "DateTimeReceived"},
    "DistributionList": {"ItemId", "ParentFolderId", "ItemClass", "Subject", "HasAttachments", "DisplayName",
                         "FileAs", "Categories"},
    "Item": {"ItemId", "ParentFolderId", "ItemClass", "Subject", "HasAttachments", "Importance", "Categories"},
}
PROPERTY_SETS = {
    "Meeting": "6ed8da90-450b-101b-98da-00aa003f1305", "Appointment": "00062002-0000-0000-c000-000000000046",
    "Common": "00062008-0000-0000-c000-000000000046", "PublicStrings": "00020329-0000-0000-c000-000000000046",
    "Address": "00062004-0000-0000-c000-000000000046", "InternetHeaders": "00020386-0000-0000-c000-000000000046",
    "CalendarAssistant": "11000e07-b51b-40d6-af21-caa85edab1d0", "Task": "00062003-0000-0000-c000-000000000046",
    "UnifiedMessaging": "4442858e-a9e3-4e80-b900-317a210cc15b", "Sharing": "00062040-0000-0000-c000-000000000046",
}
PHYSICAL_ORDER = so.PHYSICAL_ADDRESS_ORDER
_DT = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$")
TOP_LEVEL_DATES = so.DATETIME_FIELDS


# ---- property paths ----------------------------------------------------------------------------------------------
def _number(text: str) -> int:
    text = text.strip()
    return int(text, 16) if text.lower().startswith("0x") else int(text, 10)


def ext_key(uri: etree._Element) -> str:
    """A canonical key for an extended property: by tag, or by property set and name or id."""
    tag = uri.get("PropertyTag")
    if tag:
        try:
            return f"tag:0x{_number(tag):04x}"
        except ValueError:
            raise EwsError("ErrorInvalidExtendedPropertyValue", "Invalid PropertyTag.") from None
    pset = (uri.get("PropertySetId") or PROPERTY_SETS.get(uri.get("DistinguishedPropertySetId") or "", "")
            or uri.get("DistinguishedPropertySetId") or "").lower()
    if not pset or (uri.get("PropertyName") is None and uri.get("PropertyId") is None):
        raise EwsError("ErrorInvalidExtendedProperty",
                       "An extended property needs a PropertyTag, or a property set with a name or an id.")
    if uri.get("PropertyName") is not None:
        return f"{pset}:name:{uri.get('PropertyName')}"
    try:
        return f"{pset}:id:{_number(uri.get('PropertyId'))}"
    except ValueError:
        raise EwsError("ErrorInvalidExtendedPropertyValue", "Invalid PropertyId.") from None


def parse_path(elem: etree._Element) -> tuple:
    """FieldURI -> ('field', Name); IndexedFieldURI -> ('indexed', Container, Key, Sub); Extended -> ('ext', key)."""
    name = local(elem.tag)
    if name == "FieldURI":
        uri = elem.get("FieldURI") or ""
        return ("field", uri.split(":", 1)[-1])
    if name == "IndexedFieldURI":
        parts = (elem.get("FieldURI") or "").split(":")
        container = INDEXED.get(parts[1] if len(parts) > 1 else "", parts[-1])
        return ("indexed", container, elem.get("FieldIndex"), parts[2] if len(parts) > 2 else None)
    if name == "ExtendedFieldURI":
        # The request's own spelling of the path rides along: answers echo it, as Exchange does.
        return ("ext", ext_key(elem), tuple(sorted(elem.attrib.items())))
    raise EwsError("ErrorInvalidPropertyRequest", f"Unsupported property path {name}.")


def path_elements(parent) -> list[etree._Element]:
    if parent is None:
        return []
    return [c for c in parent if local(c.tag) in ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI")]


# ---- values ------------------------------------------------------------------------------------------------------
def to_utc_text(text: str, default_tz=UTC) -> str:
    m = _DT.match(text or "")
    if not m:
        return text
    base, _frac, tz = m.groups()
    dt = datetime.fromisoformat(base)
    if tz is None:
        dt = dt.replace(tzinfo=default_tz)
    elif tz == "Z":
        dt = dt.replace(tzinfo=UTC)
    else:
        dt = datetime.fromisoformat(base + tz)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_dt(text: str) -> datetime | None:
    m = _DT.match((text or "").strip())
    if not m:
        return None
    return datetime.fromisoformat(to_utc_text(text.strip()).replace("Z", "+00:00"))


def fmt_dt(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def text_of(elem) -> str | None:
    return None if elem is None else (elem.text or "")


def leaf(name: str, text) -> etree._Element:
    el = etree.Element(t(name), nsmap={"t": T})
    el.text = str(text)
    return el


def bool_text(v: bool) -> str:
    return "true" if v else "false"


# ---- updates -----------------------------------------------------------------------------------------------------
def check_settable(kind: str, name: str) -> None:
    if name not in ORDER[kind] or name in READ_ONLY or name == "ExtendedProperty":
        raise EwsError("ErrorInvalidPropertySet", f"The property {name} cannot be set on a {kind}.")


def normalize_value(name: str, value: etree._Element, ctx_tz) -> etree._Element:
    value = copy.deepcopy(value)
    if name in TOP_LEVEL_DATES and value.text:
        value.text = to_utc_text(value.text.strip(), ctx_tz)
    elif name in so.BOOLEAN_FIELDS and value.text:
        value.text = {"1": "true", "0": "false"}.get(value.text.strip(), value.text.strip())
    return value


def set_field(rec: dict, kind: str, value: etree._Element, ctx_tz) -> str:
    """Store a property element as given (merging indexed entries); return the changed property name."""
    name = local(value.tag)
    if name == "ExtendedProperty":
        uri = child(value, "ExtendedFieldURI")
        if uri is None:
            raise EwsError("ErrorInvalidExtendedProperty")
        key = ext_key(uri)
        rec["ext"][key] = copy.deepcopy(value)
        return "ext:" + key
    check_settable(kind, name)
    if name in INDEXED.values() and name in rec["fields"]:
        existing = rec["fields"][name]
        for entry in children(value, "Entry"):
            old = next((e for e in children(existing, "Entry") if e.get("Key") == entry.get("Key")), None)
            if old is None or name != "PhysicalAddresses":
                if old is not None:
                    existing.replace(old, copy.deepcopy(entry))
                else:
                    existing.append(copy.deepcopy(entry))
                continue
            merged = {local(c.tag): c for c in old}
            merged.update({local(c.tag): copy.deepcopy(c) for c in entry})
            for c in list(old):
                old.remove(c)
            for sub_name in PHYSICAL_ORDER:
                if sub_name in merged:
                    old.append(merged[sub_name])
        return name
    rec["fields"][name] = normalize_value(name, value, ctx_tz)
    return name


def append_field(rec: dict, kind: str, value: etree._Element, ctx_tz) -> str:
    name = local(value.tag)
    check_settable(kind, name)
    existing = rec["fields"].get(name)
    if existing is None:
        rec["fields"][name] = normalize_value(name, value, ctx_tz)
    elif len(value):
        for c in value:
            existing.append(copy.deepcopy(c))
    else:
        existing.text = (existing.text or "") + (value.text or "")
    return name


def delete_field(rec: dict, kind: str, path: tuple) -> str:
    if path[0] == "ext":
        rec["ext"].pop(path[1], None)
        return "ext:" + path[1]
    if path[0] == "field":
        check_settable(kind, path[1])
        rec["fields"].pop(path[1], None)
        return path[1]
    _, container, key, subname = path
    existing = rec["fields"].get(container)
    if existing is not None:
        for entry in children(existing, "Entry"):
            if entry.get("Key") != key:
                continue
            if subname:
                for c in children(entry, subname):
                    entry.remove(c)
            if not subname or not len(entry):
                existing.remove(entry)
        if not len(existing):
            del rec["fields"][container]
    return container


# ---- rendering ---------------------------------------------------------------------------------------------------
def render(kind: str, props: dict, ext: dict, shape: str, paths: list[tuple], tag: str | None = None):
    """Build a t:<kind> element holding the requested properties, in schema order."""
    if shape == "IdOnly":
        names = {"ItemId"}
    elif shape == "AllProperties":
        names = set(props)
    else:
        names = set(DEFAULT_SHAPE.get(kind, ())) & set(props) | {"ItemId"}
    indexed: dict[str, set] = {}
    ext_keys: dict[str, tuple] = {}
    for p in paths:
        if p[0] == "field":
            names.add(p[1])
        elif p[0] == "indexed":
            indexed.setdefault(p[1], set()).add(p[2])
        else:
            ext_keys[p[1]] = p[2]
    out = etree.Element(t(tag or kind), nsmap={"t": T})
    for name in ORDER[kind]:
        if name == "ExtendedProperty":
            for key in sorted(ext_keys):
                if key in ext:
                    prop = copy.deepcopy(ext[key])
                    uri = child(prop, "ExtendedFieldURI")
                    uri.attrib.clear()
                    for name, value in ext_keys[key]:
                        uri.set(name, value)
                    out.append(prop)
            continue
        if name in names and name in props:
            out.append(copy.deepcopy(props[name]))
        elif name in indexed and name in props:
            el = copy.deepcopy(props[name])
            for entry in children(el, "Entry"):
                if entry.get("Key") not in indexed[name]:
                    el.remove(entry)
            if len(el):
                out.append(el)
    return out

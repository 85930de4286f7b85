"""Item model: resolving ids (items, occurrences, masters), and materializing stored items as Exchange shows them."""

import copy
import hashlib
from datetime import UTC, datetime, time, timedelta

from lxml import etree

from sandbox.exchange import recurrence as rec
from sandbox.exchange.fields import ITEM_CLASS, bool_text, fmt_dt, leaf, parse_dt, text_of
from sandbox.exchange.ids import make_change_key, make_id, parse_change_key, parse_id
from sandbox.exchange.soap import EwsError, T, local, t

HORIZON = timedelta(days=366 * 5)


def _ids_el(name: str, id_: str, ck: str) -> etree._Element:
    el = etree.Element(t(name), nsmap={"t": T})
    el.set("Id", id_)
    el.set("ChangeKey", ck)
    return el


def _mailbox_el(name: str, display: str, email: str) -> etree._Element:
    el = etree.Element(t(name), nsmap={"t": T})
    mbx = etree.SubElement(el, t("Mailbox"))
    etree.SubElement(mbx, t("Name")).text = display
    etree.SubElement(mbx, t("EmailAddress")).text = email
    etree.SubElement(mbx, t("RoutingType")).text = "SMTP"
    etree.SubElement(mbx, t("MailboxType")).text = "Mailbox"
    return el


def effective_rights() -> etree._Element:
    el = etree.Element(t("EffectiveRights"), nsmap={"t": T})
    for name in ("CreateAssociated", "CreateContents", "CreateHierarchy", "Delete", "Modify", "Read",
                 "ViewPrivateItems"):
        etree.SubElement(el, t(name)).text = "true"
    return el


# ---- id resolution -----------------------------------------------------------------------------------------------
def resolve(store, elem, check_access):
    """Resolve ItemId / OccurrenceItemId / RecurringMasterItemId to (mailbox, item, occurrence index or None)."""
    name = local(elem.tag)
    if name == "OccurrenceItemId":
        mb, master, _ = resolve_plain(store, elem.get("RecurringMasterId"), check_access)
        index = int(elem.get("InstanceIndex"))
        _check_occurrence(master, index)
        return mb, master, index
    if name == "RecurringMasterItemId":
        mb, item, index = resolve_plain(store, elem.get("OccurrenceId"), check_access)
        if item["kind"] != "CalendarItem" or "Recurrence" not in item["fields"]:
            raise EwsError("ErrorItemNotFound")
        return mb, item, None
    mb, item, index = resolve_plain(store, elem.get("Id"), check_access)
    if elem.get("ChangeKey"):
        parse_change_key(elem.get("ChangeKey"))
    return mb, item, index


def resolve_plain(store, id_: str, check_access):
    kind, email, seq, index = parse_id(id_)
    if kind == "F":
        raise EwsError("ErrorCannotUseFolderIdForItemId", "A folder id cannot be used as an item id.")
    mb = store.mailbox(email)
    if mb is None:
        raise EwsError("ErrorItemNotFound")
    check_access(mb)
    item = mb["items"].get(make_id("I", email, seq))
    if item is None:
        raise EwsError("ErrorItemNotFound")
    if kind == "O":
        _check_occurrence(item, index)
        return mb, item, index
    return mb, item, None


def _check_occurrence(master, index: int) -> None:
    if master["kind"] != "CalendarItem" or "Recurrence" not in master["fields"]:
        raise EwsError("ErrorItemNotFound")
    if index < 1:
        raise EwsError("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
                       "Occurrence index is out of recurrence range.")
    if index in master["deleted_occ"]:
        raise EwsError("ErrorCalendarOccurrenceIsDeletedFromRecurrence", "Occurrence was deleted from the recurrence.")
    if occurrence_at(master, index) is None:
        raise EwsError("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
                       "Occurrence index is out of recurrence range.")


# ---- calendar ----------------------------------------------------------------------------------------------------
def series_zone(fields: dict):
    tz = fields.get("StartTimeZone")
    return rec.zone(tz.get("Id") if tz is not None else None)


def start_end(fields: dict):
    start = parse_dt(text_of(fields.get("Start")))
    end = parse_dt(text_of(fields.get("End")))
    if start is None:
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if end is None:
        end = start + timedelta(minutes=30)
    return start, end


def series(master: dict, until: datetime | None = None):
    """All (index, start, end) of a recurring master up to ``until`` (open series) including deleted ones."""
    start, end = start_end(master["fields"])
    return rec.expand(master["fields"]["Recurrence"], start, end, series_zone(master["fields"]),
                      until or start + HORIZON)


def occurrence_at(master: dict, index: int):
    for i, s, e in series(master):
        if i == index:
            return s, e
        if i > index:
            break
    return None


def occurrence_id(mb_email: str, master: dict, index: int) -> str:
    return make_id("O", mb_email, master["seq"], index)


def make_uid(item_id: str) -> str:
    return "040000008200E00074C5B7101A82E00800000000" + hashlib.sha256(item_id.encode()).hexdigest()[:40].upper()


def _duration(start: datetime, end: datetime) -> str:
    secs = max(0, int((end - start).total_seconds()))
    days, rem = divmod(secs, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, seconds = divmod(rem, 60)
    out = "P" + (f"{days}D" if days else "")
    if hours or minutes or seconds or not days:
        out += "T" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + \
            (f"{seconds}S" if seconds or not (hours or minutes) else "")
    return out


def _occ_info(name, mb_email, master, index, start, end, original) -> etree._Element:
    exc = master["exceptions"].get(str(index))
    el = etree.Element(t(name), nsmap={"t": T})
    el.append(_ids_el("ItemId", occurrence_id(mb_email, master, index),
                      make_change_key(exc["change"] if exc else master["change"])))
    etree.SubElement(el, t("Start")).text = fmt_dt(start)
    etree.SubElement(el, t("End")).text = fmt_dt(end)
    etree.SubElement(el, t("OriginalStart")).text = fmt_dt(original)
    return el


def _calendar_props(props: dict, mb: dict, item: dict, index, fields: dict) -> None:
    start, end = start_end(fields)
    props["Start"], props["End"] = leaf("Start", fmt_dt(start)), leaf("End", fmt_dt(end))
    for name, default in (("IsAllDayEvent", "false"), ("LegacyFreeBusyStatus", "Busy"),
                          ("ReminderMinutesBeforeStart", "15"), ("AllowNewTimeProposal", "true"),
                          ("ConferenceType", "0"), ("IsOnlineMeeting", "false")):
        props.setdefault(name, leaf(name, default))
    props.setdefault("UID", leaf("UID", make_uid(item["id"])))
    props["DateTimeStamp"] = leaf("DateTimeStamp", item["created"])
    attendees = any(n in fields for n in ("RequiredAttendees", "OptionalAttendees", "Resources"))
    props["IsMeeting"] = leaf("IsMeeting", bool_text(attendees))
    props["IsCancelled"] = leaf("IsCancelled", "false")
    props["MeetingRequestWasSent"] = leaf("MeetingRequestWasSent", "false")
    props.setdefault("IsResponseRequested", leaf("IsResponseRequested", bool_text(attendees)))
    props["MyResponseType"] = leaf("MyResponseType", "Organizer")
    props["Organizer"] = _mailbox_el("Organizer", mb["display_name"], mb["email"])
    props["ConflictingMeetingCount"] = leaf("ConflictingMeetingCount", "0")
    props["AdjacentMeetingCount"] = leaf("AdjacentMeetingCount", "0")
    props["Duration"] = leaf("Duration", _duration(start, end))
    props["AppointmentSequenceNumber"] = leaf("AppointmentSequenceNumber", "0")
    props["AppointmentState"] = leaf("AppointmentState", "1" if attendees else "0")
    for name in ("StartTimeZone", "EndTimeZone"):
        if name not in props:
            el = etree.Element(t(name), nsmap={"t": T})
            el.set("Id", "UTC")
            el.set("Name", "(UTC) Coordinated Universal Time")
            props[name] = el
    recurring = "Recurrence" in item["fields"]
    if index is not None:
        occ = occurrence_at(item, index)
        exc = item["exceptions"].get(str(index))
        if exc is None:
            s, e = occ
            props["Start"], props["End"] = leaf("Start", fmt_dt(s)), leaf("End", fmt_dt(e))
            props["Duration"] = leaf("Duration", _duration(s, e))
        props["CalendarItemType"] = leaf("CalendarItemType", "Exception" if exc else "Occurrence")
        props["IsRecurring"] = leaf("IsRecurring", "true")
        props["RecurrenceId"] = leaf("RecurrenceId", fmt_dt(occ[0]))
        props["OriginalStart"] = leaf("OriginalStart", fmt_dt(occ[0]))
        props.pop("Recurrence", None)
        return
    if not recurring:
        props["CalendarItemType"] = leaf("CalendarItemType", "Single")
        props["IsRecurring"] = leaf("IsRecurring", "false")
        return
    # Exchange reports IsRecurring=false on a recurring master; CalendarItemType tells masters apart.
    props["CalendarItemType"] = leaf("CalendarItemType", "RecurringMaster")
    props["IsRecurring"] = leaf("IsRecurring", "false")
    occs = list(series(item))
    live = [o for o in occs if o[0] not in item["deleted_occ"]]
    if live:
        props["FirstOccurrence"] = _occ_info("FirstOccurrence", mb["email"], item, live[0][0],
                                             *_occ_times(item, live[0]), live[0][1])
        if not rec.is_open_ended(item["fields"]["Recurrence"]):
            props["LastOccurrence"] = _occ_info("LastOccurrence", mb["email"], item, live[-1][0],
                                                *_occ_times(item, live[-1]), live[-1][1])
    if item["exceptions"]:
        mod = etree.Element(t("ModifiedOccurrences"), nsmap={"t": T})
        for idx in sorted(item["exceptions"], key=int):
            occ = next((o for o in occs if o[0] == int(idx)), None)
            if occ is not None:
                mod.append(_occ_info("Occurrence", mb["email"], item, occ[0], *_occ_times(item, occ), occ[1]))
        if len(mod):
            props["ModifiedOccurrences"] = mod
    if item["deleted_occ"]:
        dele = etree.Element(t("DeletedOccurrences"), nsmap={"t": T})
        for idx in sorted(item["deleted_occ"]):
            occ = next((o for o in occs if o[0] == idx), None)
            if occ is not None:
                d = etree.SubElement(dele, t("DeletedOccurrence"))
                etree.SubElement(d, t("Start")).text = fmt_dt(occ[1])
        if len(dele):
            props["DeletedOccurrences"] = dele


def _occ_times(master, occ):
    exc = master["exceptions"].get(str(occ[0]))
    if exc:
        return start_end(exc["fields"])
    return occ[1], occ[2]


# ---- values Exchange adjusts on save -----------------------------------------------------------------------------
# Exchange truncates a Subject to 255 characters ("The subject is limited to 255 characters", the EWS Subject
# element reference) and refuses a longer given, middle or surname with ErrorPropertyUpdate; every other text
# property keeps the 4,000 characters exchangelib's own test_text_field_settings sets against a real server.
# Characters are .NET's (UTF-16 code units); a cut never splits a surrogate pair.
TRUNCATED_TEXT = {"Subject": 255}
REFUSED_TEXT = {"GivenName": 255, "MiddleName": 255, "Surname": 255}


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def utf16_cut(text: str, limit: int) -> str:
    """The longest prefix of `text` of at most `limit` UTF-16 code units."""
    if utf16_len(text) <= limit:
        return text
    units = text.encode("utf-16-le")[: limit * 2]
    return units.decode("utf-16-le", errors="ignore")  # a lone high surrogate at the end is dropped


def apply_text_limits(fields: dict) -> None:
    for name, limit in REFUSED_TEXT.items():
        if name in fields and utf16_len(text_of(fields[name]) or "") > limit:
            raise EwsError("ErrorPropertyUpdate", f"An object within a change description contains an invalid "
                                                  f"value for property {name}: it is longer than {limit} characters.")
    for name, limit in TRUNCATED_TEXT.items():
        if name in fields and not len(fields[name]):
            fields[name].text = utf16_cut(fields[name].text or "", limit)


def normalize_all_day(fields: dict, request_tz) -> None:
    """Exchange stores an all-day event from local midnight to local midnight in the item's time zone (or the
    request's): a start is moved back to the midnight before it, an end forward to the midnight after it
    ("Create all-day events by using EWS in Exchange", Microsoft Learn)."""
    if (text_of(fields.get("IsAllDayEvent")) or "").strip() != "true":
        return
    start, end = parse_dt(text_of(fields.get("Start"))), parse_dt(text_of(fields.get("End")))
    start_tz = _zone_of(fields.get("StartTimeZone"), request_tz)
    end_tz = _zone_of(fields.get("EndTimeZone"), start_tz)
    if start is not None:
        local_start = start.astimezone(start_tz)
        midnight = datetime.combine(local_start.date(), time(0), tzinfo=start_tz)
        fields["Start"] = leaf("Start", fmt_dt(midnight))
    if end is not None:
        local_end = end.astimezone(end_tz)
        midnight = datetime.combine(local_end.date(), time(0), tzinfo=end_tz)
        if local_end.replace(tzinfo=None) != midnight.replace(tzinfo=None):
            midnight = datetime.combine(local_end.date() + timedelta(days=1), time(0), tzinfo=end_tz)
        fields["End"] = leaf("End", fmt_dt(midnight))


def _zone_of(element, default):
    if element is None or not element.get("Id"):
        return default
    return rec.zone(element.get("Id"))


# ---- contacts and tasks ------------------------------------------------------------------------------------------
# Exchange computes a contact's FileAs and Subject when the client does not set them; once a client deletes them
# (DeleteItemField), they stay deleted: `cleared` lists them.
COMPUTED_CONTACT = ("FileAs", "Subject")


def _contact_props(props: dict, fields: dict, cleared=()) -> None:
    given, middle, surname = (text_of(fields.get(n)) or "" for n in ("GivenName", "MiddleName", "Surname"))
    display = text_of(fields.get("DisplayName")) or " ".join(p for p in (given, middle, surname) if p)
    if not display:
        display = text_of(fields.get("CompanyName")) or ""
    props.setdefault("DisplayName", leaf("DisplayName", display))
    file_as = f"{surname}, {given}" if surname and given else display
    if "FileAs" not in cleared:
        props.setdefault("FileAs", leaf("FileAs", file_as))
    if "Subject" not in cleared:
        props.setdefault("Subject", leaf("Subject", display))
    props.setdefault("ContactSource", leaf("ContactSource", "Store"))
    props.setdefault("HasPicture", leaf("HasPicture", "false"))
    cn = etree.Element(t("CompleteName"), nsmap={"t": T})
    for src, dst in (("GivenName", "FirstName"), ("MiddleName", "MiddleName"), ("Surname", "LastName"),
                     ("Generation", "Suffix"), ("Initials", "Initials")):
        if src in fields:
            etree.SubElement(cn, t(dst)).text = text_of(fields[src])
    etree.SubElement(cn, t("FullName")).text = display
    if "Nickname" in fields:
        etree.SubElement(cn, t("Nickname")).text = text_of(fields["Nickname"])
    # CompleteNameType lists Title, FirstName, MiddleName, LastName, Suffix, Initials, FullName, Nickname in order.
    props["CompleteName"] = cn


STATUS_DESCRIPTION = {"NotStarted": "Not Started", "InProgress": "In Progress", "Completed": "Completed",
                      "WaitingOnOthers": "Waiting on someone else", "Deferred": "Deferred"}


def _task_props(props: dict, mb: dict, item: dict) -> None:
    status = text_of(props.get("Status")) or "NotStarted"
    props["Status"] = leaf("Status", status)
    props.setdefault("PercentComplete", leaf("PercentComplete", "100" if status == "Completed" else "0"))
    props["IsComplete"] = leaf("IsComplete", bool_text(status == "Completed"))
    props["StatusDescription"] = leaf("StatusDescription", STATUS_DESCRIPTION.get(status, status))
    props["ChangeCount"] = leaf("ChangeCount", str(item["updates"] + 1))
    props["IsRecurring"] = leaf("IsRecurring", bool_text("Recurrence" in item["fields"]))
    props["IsTeamTask"] = leaf("IsTeamTask", "false")
    props["IsAssignmentEditable"] = leaf("IsAssignmentEditable", "0")
    props["DelegationState"] = leaf("DelegationState", "NoMatch")
    props.setdefault("Owner", leaf("Owner", mb["display_name"]))


def normalize_task(fields: dict, now: str) -> None:
    """Exchange's task rules: Completed <-> 100 %, a completion date when completed, InProgress when started."""
    status = text_of(fields.get("Status")) or "NotStarted"
    pct = text_of(fields.get("PercentComplete"))
    pct_val = float(pct) if pct not in (None, "") else None
    if pct_val is not None and not 0 <= pct_val <= 100:
        raise EwsError("ErrorInvalidPercentCompleteValue", "PercentComplete must be between 0 and 100.")
    if status == "Completed":
        fields["PercentComplete"] = leaf("PercentComplete", "100")
        fields.setdefault("CompleteDate", leaf("CompleteDate", now))
    elif pct_val == 100:
        fields["Status"] = leaf("Status", "Completed")
        fields.setdefault("CompleteDate", leaf("CompleteDate", now))
    else:
        fields.pop("CompleteDate", None)
        if pct_val and status == "NotStarted":
            fields["Status"] = leaf("Status", "InProgress")


def _recurrence_with_zone(recurrence, tz) -> etree._Element:
    """Exchange answers a recurrence's StartDate/EndDate as dates with the series' UTC offset ('2014-01-07-08:00')."""
    out = copy.deepcopy(recurrence)
    for el in out.iter(t("StartDate"), t("EndDate")):
        text = (el.text or "").strip()
        if len(text) != 10:
            continue
        try:
            day = datetime.fromisoformat(text)
        except ValueError:
            continue
        offset = day.replace(tzinfo=tz).utcoffset() or timedelta(0)
        if not offset:
            el.text = text + "Z"
        else:
            minutes = int(offset.total_seconds() // 60)
            sign = "+" if minutes >= 0 else "-"
            el.text = f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return out


# ---- materialize -------------------------------------------------------------------------------------------------
def materialize(mb: dict, item: dict, index: int | None = None) -> tuple[dict, dict]:
    """Return (props, ext) for an item (or one occurrence of a master): stored properties plus computed ones."""
    fields, ext, change = item["fields"], item["ext"], item["change"]
    if index is not None and str(index) in item["exceptions"]:
        exc = item["exceptions"][str(index)]
        fields, ext, change = exc["fields"], exc["ext"], exc["change"]
    props = dict(fields)
    kind = item["kind"]
    item_id = item["id"] if index is None else occurrence_id(mb["email"], item, index)
    props["ItemId"] = _ids_el("ItemId", item_id, make_change_key(change))
    folder = mb["folders"][item["folder"]]
    props["ParentFolderId"] = _ids_el("ParentFolderId", folder["id"], make_change_key(folder["change"], True))
    props.setdefault("ItemClass", leaf("ItemClass", ITEM_CLASS[kind]))
    props.setdefault("Sensitivity", leaf("Sensitivity", "Normal"))
    props.setdefault("Importance", leaf("Importance", "Normal"))
    size = sum(len(etree.tostring(v)) for v in fields.values()) + 300
    props["Size"] = leaf("Size", str(size))
    props["DateTimeReceived"] = leaf("DateTimeReceived", item["created"])
    props.setdefault("DateTimeSent", leaf("DateTimeSent", item["created"]))
    props["DateTimeCreated"] = leaf("DateTimeCreated", item["created"])
    for name in ("IsSubmitted", "IsDraft", "IsFromMe", "IsResend", "IsUnmodified", "HasAttachments",
                 "IsAssociated"):
        props.setdefault(name, leaf(name, "false"))
    props.setdefault("ReminderIsSet", leaf("ReminderIsSet", "false"))
    if kind != "CalendarItem":
        props.setdefault("ReminderMinutesBeforeStart", leaf("ReminderMinutesBeforeStart", "0"))
    props.setdefault("Culture", leaf("Culture", "en-US"))
    props["EffectiveRights"] = effective_rights()
    props["LastModifiedName"] = leaf("LastModifiedName", mb["display_name"])
    props["LastModifiedTime"] = leaf("LastModifiedTime", item["modified"])
    if "Recurrence" in props and index is None:
        props["Recurrence"] = _recurrence_with_zone(props["Recurrence"], series_zone(fields) if kind == "CalendarItem"
                                                    else UTC)
    if kind == "CalendarItem":
        _calendar_props(props, mb, item, index, fields)
    elif kind == "Contact":
        _contact_props(props, fields, item.get("cleared", ()))
    elif kind == "Task":
        _task_props(props, mb, item)
    elif kind == "Message":
        props.setdefault("IsRead", leaf("IsRead", "false"))
    elif kind == "DistributionList":
        _distribution_list_props(props, fields)
    return props, ext


# Generic items whose message class Exchange serves under an element of its own (a meeting message in a calendar).
CLASS_ELEMENTS = (("IPM.Schedule.Meeting.Request", "MeetingRequest"), ("IPM.Schedule.Meeting.Canceled",
                  "MeetingCancellation"), ("IPM.Schedule.Meeting.Resp", "MeetingResponse"))


def element_name(item: dict, props: dict) -> str:
    """The element an item is served as: its kind, or for a generic item the element its message class has."""
    if item["kind"] == "Item":
        item_class = text_of(props.get("ItemClass")) or ""
        return next((name for prefix, name in CLASS_ELEMENTS if item_class.startswith(prefix)), "Item")
    return item["kind"]


def _distribution_list_props(props: dict, fields: dict) -> None:
    """A distribution list's computed names: FileAs and Subject follow its DisplayName."""
    display = text_of(fields.get("DisplayName")) or text_of(fields.get("Subject")) or ""
    props.setdefault("DisplayName", leaf("DisplayName", display))
    props.setdefault("FileAs", leaf("FileAs", display))
    props.setdefault("Subject", leaf("Subject", display))
    props.setdefault("ContactSource", leaf("ContactSource", "Store"))

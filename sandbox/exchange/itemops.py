"""Item operations: FindItem (incl. CalendarView), GetItem, CreateItem, UpdateItem, DeleteItem."""

import copy

from lxml import etree

from sandbox.exchange import aqs
from sandbox.exchange import recurrence as rec
from sandbox.exchange.fields import (
    DEFAULT_FOLDER,
    ORDER,
    append_field,
    delete_field,
    fmt_dt,
    leaf,
    parse_dt,
    parse_path,
    path_elements,
    render,
    set_field,
    text_of,
)
from sandbox.exchange.ids import make_change_key, parse_change_key
from sandbox.exchange.items import (
    COMPUTED_CONTACT,
    apply_text_limits,
    element_name,
    make_uid,
    materialize,
    normalize_all_day,
    normalize_task,
    occurrence_at,
    occurrence_id,
    resolve,
    series,
    start_end,
)
from sandbox.exchange.restrictions import matches, sort
from sandbox.exchange.soap import EwsError, child, local, sub, success_message, t
from sandbox.exchange.store import now_iso
from sandbox.exchange.taskrecurrence import regenerate

SERIES_FIELDS = {"Start", "End", "Recurrence", "StartTimeZone", "EndTimeZone", "IsAllDayEvent"}


def _shape(req, ctx):
    shape = child(req, "ItemShape", ns=ctx.M)
    base = (child(shape, "BaseShape").text or "Default").strip()
    paths = [parse_path(p) for p in path_elements(child(shape, "AdditionalProperties"))]
    return base, paths


def render_row(mb, item, index, base, paths):
    props, ext = materialize(mb, item, index)
    return render(item["kind"], props, ext, base, paths, tag=element_name(item, props))


# ---- FindItem ----------------------------------------------------------------------------------------------------
def find_item(ctx, req, msgs):
    base, paths = _shape(req, ctx)
    restriction = child(req, "Restriction", ns=ctx.M)
    order = child(req, "SortOrder", ns=ctx.M)
    cal_view = child(req, "CalendarView", ns=ctx.M)
    contacts_view = child(req, "ContactsView", ns=ctx.M)
    query = aqs.parse(text_of(child(req, "QueryString", ns=ctx.M)) or "")  # checked by strict.check_request
    for pid in child(req, "ParentFolderIds", ns=ctx.M):
        with ctx.per_message(msgs):
            mb, folder = ctx.store.resolve_folder(ctx.acting, pid, ctx.check_access)
            if req.get("Traversal") in ("SoftDeleted", "Associated"):
                items = []
            else:
                items = sorted(ctx.store.folder_items(mb, folder["id"]), key=lambda i: i["seq"], reverse=True)
            if cal_view is not None:
                if folder["kind"] != "CalendarFolder":
                    raise EwsError("ErrorCalendarFolderIsInvalidForCalendarView",
                                   "A CalendarView needs a calendar folder.")
                if restriction is not None:
                    raise EwsError("ErrorInvalidRestriction",
                                   "Restrictions and sort order may not be specified for a CalendarView.")
                rows, attrs = _calendar_view(mb, items, cal_view)
            else:
                rows = [(i, None) for i in items]
                mats = {}

                def getter(row, mats=mats, mb=mb):
                    key = (row[0]["id"], row[1])
                    if key not in mats:
                        mats[key] = materialize(mb, row[0], row[1])
                    return mats[key]

                if restriction is not None:
                    rows = [r for r in rows if matches(restriction, *getter(r))]
                if query is not None:
                    rows = [r for r in rows if aqs.matches(query, getter(r)[0], r[0]["kind"])]
                if contacts_view is not None:
                    rows = _contacts_view(rows, contacts_view, getter)
                rows = sort(rows, order, getter)
                rows, attrs = ctx.page(rows, req)
            rm = success_message(msgs, "FindItem")
            root = sub(rm, "m:RootFolder", **attrs)
            container = sub(root, "Items")
            for item, index in rows:
                container.append(render_row(mb, item, index, base, paths))


def _contacts_view(rows, view, getter):
    lo, hi = (view.get("InitialName") or "").casefold(), (view.get("FinalName") or "").casefold()
    out = []
    for r in rows:
        name = text_of(getter(r)[0].get("DisplayName")) or ""
        if (not lo or name.casefold() >= lo) and (not hi or name.casefold() <= hi):
            out.append(r)
    out.sort(key=lambda r: (text_of(getter(r)[0].get("DisplayName")) or "").casefold())
    max_entries = view.get("MaxEntriesReturned")
    return out[: int(max_entries)] if max_entries else out


def _calendar_view(mb, items, view):
    lo, hi = parse_dt(view.get("StartDate")), parse_dt(view.get("EndDate"))
    if lo is None or hi is None or hi < lo:
        raise EwsError("ErrorCalendarViewRangeTooBig" if hi and lo and hi < lo else "ErrorInvalidRequest",
                       "The CalendarView start and end dates are invalid.")
    if (hi - lo).days > 2 * 366:
        raise EwsError("ErrorCalendarViewRangeTooBig", "The CalendarView range is larger than two years.")
    found = []
    for item in items:
        if item["kind"] != "CalendarItem":
            continue
        if "Recurrence" not in item["fields"]:
            s, e = start_end(item["fields"])
            if _in_view(s, e, lo, hi):
                found.append((s, item, None))
            continue
        for index, s, e in series(item, until=hi):
            if index in item["deleted_occ"]:
                continue
            exc = item["exceptions"].get(str(index))
            if exc:
                s, e = start_end(exc["fields"])
            elif s >= hi:
                break
            if _in_view(s, e, lo, hi):
                found.append((s, item, index))
    found.sort(key=lambda r: (r[0], r[1]["seq"], r[2] or 0))
    rows = [(item, index) for _, item, index in found]
    max_entries = view.get("MaxEntriesReturned")
    total = len(rows)
    if max_entries is not None and int(max_entries) < total:
        rows = rows[: int(max_entries)]
    return rows, {"TotalItemsInView": total, "IncludesLastItemInRange": "true" if len(rows) == total else "false"}


def _in_view(start, end, lo, hi) -> bool:
    """Exchange's CalendarView edges: items ending before StartDate and items starting on or after EndDate are left
    out (the CalendarView element reference), so an item ending exactly at StartDate is in the view."""
    return start < hi and end >= lo


# ---- GetItem -----------------------------------------------------------------------------------------------------
def get_item(ctx, req, msgs):
    base, paths = _shape(req, ctx)
    for id_el in child(req, "ItemIds", ns=ctx.M):
        with ctx.per_message(msgs):
            mb, item, index = resolve(ctx.store, id_el, ctx.check_access)
            rm = success_message(msgs, "GetItem")
            sub(rm, "m:Items").append(render_row(mb, item, index, base, paths))


# ---- CreateItem --------------------------------------------------------------------------------------------------
def _adjust(kind: str, fields: dict, request_tz) -> None:
    """What Exchange does to values as it saves them: text limits, all-day events from midnight to midnight."""
    apply_text_limits(fields)
    if kind == "CalendarItem":
        normalize_all_day(fields, request_tz)


def _validate(kind: str, fields: dict, now: str) -> None:
    if kind == "CalendarItem":
        start, end = parse_dt(text_of(fields.get("Start"))), parse_dt(text_of(fields.get("End")))
        if start and end and end < start:
            raise EwsError("ErrorCalendarEndDateIsEarlierThanStartDate")
        if "Recurrence" in fields:
            pattern = rec.Pattern(fields["Recurrence"])
            if pattern.end_date and pattern.start_date and pattern.end_date < pattern.start_date:
                raise EwsError("ErrorCalendarInvalidRecurrence", "The recurrence ends before it starts.")
    if kind == "Task":
        normalize_task(fields, now)


def create_item(ctx, req, msgs):
    saved = child(req, "SavedItemFolderId", ns=ctx.M)
    disposition = req.get("MessageDisposition")
    for elem in child(req, "Items", ns=ctx.M):
        with ctx.per_message(msgs):
            kind = local(elem.tag)
            if kind not in ORDER:
                raise EwsError("ErrorInvalidItemForOperationCreateItem" if kind != "DistributionList"
                               else "ErrorInvalidOperation", f"{kind} items are not supported by this server.")
            if kind == "CalendarItem" and req.get("SendMeetingInvitations") is None:
                raise EwsError("ErrorSendMeetingInvitationsRequired",
                               "SendMeetingInvitations is required for calendar items.")
            if kind == "Message" and disposition is None:
                raise EwsError("ErrorMessageDispositionRequired", "MessageDisposition is required for messages.")
            if saved is not None:
                mb, folder = ctx.store.resolve_folder(ctx.acting, saved[0], ctx.check_access)
            else:
                target = "sentitems" if kind == "Message" and disposition != "SaveOnly" else DEFAULT_FOLDER[kind]
                mb, folder = ctx.store.resolve_folder(ctx.acting, _distinguished(target), ctx.check_access)
            _check_folder_class(kind, folder)
            record = {"fields": {}, "ext": {}}
            for value in elem:
                set_field(record, kind, value, ctx.tz)
            now = now_iso()
            _adjust(kind, record["fields"], ctx.tz)
            _validate(kind, record["fields"], now)
            item = ctx.store.new_item(mb, folder, kind)
            item["fields"], item["ext"] = record["fields"], record["ext"]
            if kind == "CalendarItem":
                item["fields"].setdefault("UID", leaf("UID", make_uid(item["id"])))
            rm = success_message(msgs, "CreateItem")
            _item_id(sub(rm, "m:Items"), kind, item["id"], item["change"])


FOLDER_CLASS_FOR = {
    "Contact": ("IPF.Contact", "ErrorCannotCreateContactInNonContactFolder"),
    "CalendarItem": ("IPF.Appointment", "ErrorCannotCreateCalendarItemInNonCalendarFolder"),
    "Task": ("IPF.Task", "ErrorCannotCreateTaskInNonTaskFolder"),
}


def _check_folder_class(kind: str, folder: dict) -> None:
    """Exchange creates contacts, calendar items and tasks only in folders of their class."""
    if kind in FOLDER_CLASS_FOR:
        cls, code = FOLDER_CLASS_FOR[kind]
        if not (folder["class"] or "").startswith(cls):
            raise EwsError(code, f"A {kind} can only be created in a folder of class {cls}.")


def _distinguished(name):
    el = etree.Element(t("DistinguishedFolderId"))
    el.set("Id", name)
    return el


def _item_id(parent, kind, id_, change):
    el = etree.SubElement(parent, t(kind))
    ie = etree.SubElement(el, t("ItemId"))
    ie.set("Id", id_)
    ie.set("ChangeKey", make_change_key(change))


# ---- UpdateItem --------------------------------------------------------------------------------------------------
def update_item(ctx, req, msgs):
    policy = req.get("ConflictResolution") or "AutoResolve"
    for change in child(req, "ItemChanges", ns=ctx.M):
        with ctx.per_message(msgs):
            id_el = change[0]
            mb, item, index = resolve(ctx.store, id_el, ctx.check_access)
            if item["kind"] == "CalendarItem" and req.get("SendMeetingInvitationsOrCancellations") is None:
                raise EwsError("ErrorSendMeetingInvitationsOrCancellationsRequired",
                               "SendMeetingInvitationsOrCancellations is required for calendar items.")
            exc = item["exceptions"].get(str(index)) if index is not None else None
            target = exc if exc is not None else item
            if index is not None and exc is None:
                target = _new_exception(item, index)
            ck = id_el.get("ChangeKey")
            if not ck and policy == "NeverOverwrite":
                raise EwsError("ErrorChangeKeyRequiredForWriteOperations",
                               "A ChangeKey is required with ConflictResolution NeverOverwrite.")
            known = parse_change_key(ck) if ck else None
            record = {"fields": {k: copy.deepcopy(v) for k, v in target["fields"].items()},
                      "ext": {k: copy.deepcopy(v) for k, v in target["ext"].items()}}
            changed, deleted = set(), set()
            for upd in child(change, "Updates"):
                op = local(upd.tag)
                path = parse_path(upd[0])
                if op == "DeleteItemField":
                    deleted.add(delete_field(record, item["kind"], path))
                    changed |= deleted
                    continue
                value_holder = upd[1] if len(upd) > 1 else None
                if value_holder is None or not len(value_holder):
                    raise EwsError("ErrorIncorrectUpdatePropertyCount",
                                   "An object within a change description must contain one and only one property.")
                value = value_holder[0]
                if path[0] == "field" and local(value.tag) != path[1]:
                    raise EwsError("ErrorInvalidPropertySet",
                                   f"The property {local(value.tag)} does not match {path[1]}.")
                if op == "AppendToItemField":
                    if path[0] != "field" or path[1] not in ("Body", "RequiredAttendees", "OptionalAttendees",
                                                            "Resources", "Categories"):
                        raise EwsError("ErrorInvalidPropertyAppend", "This property cannot be appended to.")
                    changed.add(append_field(record, item["kind"], value, ctx.tz))
                else:
                    changed.add(set_field(record, item["kind"], value, ctx.tz))
            if index is not None and changed & {"Recurrence"}:
                raise EwsError("ErrorInvalidPropertySet", "An occurrence's recurrence cannot be changed.")
            if known is not None and known < target["change"] and policy != "AlwaysOverwrite":
                stale = policy == "NeverOverwrite" or any(
                    target["field_changes"].get(name, 0) > known for name in changed)
                if stale:
                    raise EwsError("ErrorIrresolvableConflict")
            now = now_iso()
            _adjust(item["kind"], record["fields"], ctx.tz)
            _validate(item["kind"], record["fields"], now)
            # Completing a recurring task's occurrence splits it off as a one-off (whose id the response names).
            one_off = regenerate(ctx.store, mb, item, target["fields"], record, index, ctx.tz, now)
            new_change = ctx.store.next_change()
            target["fields"], target["ext"] = record["fields"], record["ext"]
            if item["kind"] == "Contact":
                cleared = (set(target.get("cleared", ())) | deleted) - set(record["fields"])
                target["cleared"] = sorted(n for n in cleared if n in COMPUTED_CONTACT)
            for name in changed:
                target["field_changes"][name] = new_change
            target["change"] = new_change
            if index is not None:
                item["exceptions"][str(index)] = target
            elif item["kind"] == "CalendarItem" and changed & SERIES_FIELDS:
                item["exceptions"], item["deleted_occ"] = {}, []
            item["change"] = new_change
            if not (item["kind"] == "Message" and changed == {"IsRead"}):
                item["content_change"] = new_change  # a read-flag-only change syncs as ReadFlagChange
            item["modified"] = now
            item["updates"] += 1
            if item["kind"] == "CalendarItem":
                # Meeting messages are not delivered (strict.py refuses them to this sandbox's mailboxes); what an
                # update asked to send is kept, per item, for the control API (GET /_sandbox/mailboxes/{email}).
                item.setdefault("meeting_sends", []).append(req.get("SendMeetingInvitationsOrCancellations"))
            ctx.store.item_modified(mb, item)
            rm = success_message(msgs, "UpdateItem")
            if one_off is not None:
                _item_id(sub(rm, "m:Items"), item["kind"], one_off["id"], one_off["change"])
            else:
                _item_id(sub(rm, "m:Items"), item["kind"],
                         occurrence_id(mb["email"], item, index) if index is not None else item["id"], new_change)
            sub(sub(rm, "m:ConflictResults"), "Count", "0")


def _new_exception(master: dict, index: int) -> dict:
    start, end = occurrence_at(master, index)
    fields = {k: copy.deepcopy(v) for k, v in master["fields"].items() if k not in ("Recurrence",)}
    fields["Start"], fields["End"] = leaf("Start", fmt_dt(start)), leaf("End", fmt_dt(end))
    return {"fields": fields, "ext": {k: copy.deepcopy(v) for k, v in master["ext"].items()},
            "change": master["change"], "field_changes": {}, "original_start": fmt_dt(start)}


# ---- DeleteItem --------------------------------------------------------------------------------------------------
def delete_item(ctx, req, msgs):
    delete_type = req.get("DeleteType")
    for id_el in child(req, "ItemIds", ns=ctx.M):
        with ctx.per_message(msgs):
            mb, item, index = resolve(ctx.store, id_el, ctx.check_access)
            if item["kind"] == "CalendarItem" and req.get("SendMeetingCancellations") is None:
                raise EwsError("ErrorSendMeetingCancellationsRequired",
                               "SendMeetingCancellations is required for calendar items.")
            if item["kind"] == "Task" and req.get("AffectedTaskOccurrences") is None:
                raise EwsError("ErrorAffectedTaskOccurrencesRequired",
                               "AffectedTaskOccurrences is required for tasks.")
            if index is not None:
                item["exceptions"].pop(str(index), None)
                item["deleted_occ"] = sorted(set(item["deleted_occ"]) | {index})
                item["change"] = item["content_change"] = ctx.store.next_change()  # the series changed
                item["modified"] = now_iso()
                ctx.store.item_modified(mb, item)
            elif delete_type == "MoveToDeletedItems" and \
                    mb["folders"][item["folder"]]["distinguished"] != "deleteditems":
                ctx.store.remove_item(mb, item, moved=True)
                folder = mb["folders"][ctx.store.distinguished_id(mb, "deleteditems")]
                moved = ctx.store.new_item(mb, folder, item["kind"], moved_from=item)
                for key in ("fields", "ext", "exceptions", "deleted_occ", "created", "updates"):
                    moved[key] = item[key]
            else:
                ctx.store.remove_item(mb, item)
            success_message(msgs, "DeleteItem")




# ---- MoveItem / CopyItem -----------------------------------------------------------------------------------------
def move_item(ctx, req, msgs):
    _move_or_copy(ctx, req, msgs, keep_original=False)


def copy_item(ctx, req, msgs):
    _move_or_copy(ctx, req, msgs, keep_original=True)


def _move_or_copy(ctx, req, msgs, keep_original: bool):
    ids = list(child(req, "ItemIds", ns=ctx.M))
    try:
        target_mb, target = ctx.store.resolve_folder(ctx.acting, child(req, "ToFolderId", ns=ctx.M)[0],
                                                     ctx.check_access)
    except EwsError as e:
        for _ in ids:
            ctx.error(msgs, e)
        return
    for id_el in ids:
        with ctx.per_message(msgs):
            mb, item, index = resolve(ctx.store, id_el, ctx.check_access)
            if index is not None:
                raise EwsError("ErrorCalendarCannotMoveOrCopyOccurrence",
                               "Occurrences of a recurring series cannot be moved or copied.")
            if mb is not target_mb:
                raise EwsError("ErrorCrossMailboxMoveCopy", "Items cannot be moved or copied between mailboxes.")
            new = ctx.store.new_item(mb, target, item["kind"], copied_from=item if keep_original else None,
                                     moved_from=None if keep_original else item)
            for key in ("fields", "ext", "exceptions"):
                new[key] = {k: copy.deepcopy(v) for k, v in item[key].items()}
            new["deleted_occ"] = list(item["deleted_occ"])
            if item.get("cleared"):
                new["cleared"] = list(item["cleared"])
            if item["kind"] == "CalendarItem" and keep_original:
                new["fields"]["UID"] = leaf("UID", make_uid(new["id"]))
            if not keep_original:
                new["created"], new["updates"] = item["created"], item["updates"]
                ctx.store.remove_item(mb, item, moved=True)
            rm = success_message(msgs, ctx.op)
            _item_id(sub(rm, "m:Items"), item["kind"], new["id"], new["change"])

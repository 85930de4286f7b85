"""Contact folders and contacts (Outlook personal contacts), with their delta query."""

import copy

from sandbox.graph import delta
from sandbox.graph.common import (
    base_props,
    check_if_match,
    check_properties,
    ck_of,
    collection,
    expect,
    json_body,
    shape,
    write_extended,
)
from sandbox.graph.errors import GraphError, not_found
from sandbox.graph.odata import Query, parse_datetime

STRING_PROPS = ("assistantName", "businessHomePage", "companyName", "department", "displayName", "fileAs",
                "generation", "givenName", "initials", "jobTitle", "manager", "middleName", "mobilePhone",
                "nickName", "officeLocation", "personalNotes", "profession", "spouseName", "surname", "title",
                "yomiCompanyName", "yomiGivenName", "yomiSurname")
LIST_PROPS = ("businessPhones", "categories", "children", "homePhones", "imAddresses")
ADDRESS_PROPS = ("businessAddress", "homeAddress", "otherAddress")
ADDRESS_KEYS = {"street", "city", "state", "countryOrRegion", "postalCode"}
WRITABLE = {*STRING_PROPS, *LIST_PROPS, *ADDRESS_PROPS, "birthday", "emailAddresses", "singleValueExtendedProperties"}
READONLY = {"id", "changeKey", "createdDateTime", "lastModifiedDateTime", "parentFolderId"}
PROPERTIES = WRITABLE | READONLY | {"multiValueExtendedProperties", "extensions", "photo"}
FOLDER_PROPS = {"id", "displayName", "parentFolderId", "childFolders", "contacts", "singleValueExtendedProperties",
                "multiValueExtendedProperties"}
ITEM_OPTIONS = {"$select", "$expand"}
LIST_OPTIONS = {"$select", "$expand", "$filter", "$orderby", "$top", "$skip", "$count"}


# ---- folders ----------------------------------------------------------------------------------------------------
def default_folder(mb: dict) -> dict:
    return next(f for f in mb["contact_folders"].values() if f.get("default"))


def folder_json(f: dict) -> dict:
    return {"id": f["id"], "displayName": f["props"]["displayName"], "parentFolderId": f["parent"]}


def get_folder(mb: dict, folder_id: str) -> dict:
    f = mb["contact_folders"].get(folder_id)
    if f is None:
        raise not_found("The specified folder could not be found in the store.", "ErrorItemNotFound")
    return f


def list_folders(ctx):
    q = Query(ctx.args, LIST_OPTIONS, "contactFolder", FOLDER_PROPS)
    parent = default_folder(ctx.mb)["id"]
    rows = [(folder_json(f), f["ext"], None) for f in ctx.mb["contact_folders"].values() if f["parent"] == parent]
    return 200, collection(ctx, q, rows, "contactFolders", "contactFolders")


def create_folder(ctx):
    body = check_properties(json_body(ctx), {"displayName", "parentFolderId", "singleValueExtendedProperties"},
                            {"id"}, "contactFolder")
    name = body.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise GraphError(400, "ErrorInvalidParameter", "The displayName of a folder must not be empty.")
    parent = default_folder(ctx.mb)
    if body.get("parentFolderId"):
        parent = get_folder(ctx.mb, body["parentFolderId"])
    if any(f["parent"] == parent["id"] and f["props"]["displayName"].lower() == name.lower()
           for f in ctx.mb["contact_folders"].values()):
        raise GraphError(409, "ErrorFolderExists", "A folder with the specified name already exists.")
    f = ctx.store.new_record(ctx.mb, "contact_folders", "F", {"displayName": name}, parent=parent["id"])
    if "singleValueExtendedProperties" in body:
        write_extended(f, body["singleValueExtendedProperties"])
    ctx.extra_headers.append(("Location", ctx.url(f"contactFolders('{f['id']}')")))
    return 201, {"@odata.context": ctx.context("contactFolders/$entity"), **folder_json(f)}


def get_folder_h(ctx, folder_id):
    q = Query(ctx.args, ITEM_OPTIONS, "contactFolder", FOLDER_PROPS)
    f = get_folder(ctx.mb, folder_id)
    return 200, {"@odata.context": ctx.context("contactFolders/$entity"), **shape(folder_json(f), f["ext"], q)}


def update_folder(ctx, folder_id):
    f = get_folder(ctx.mb, folder_id)
    body = check_properties(json_body(ctx), {"displayName", "singleValueExtendedProperties"}, {"id", "parentFolderId"},
                            "contactFolder")
    if "displayName" in body:
        if not isinstance(body["displayName"], str) or not body["displayName"].strip():
            raise GraphError(400, "ErrorInvalidParameter", "The displayName of a folder must not be empty.")
        f["props"]["displayName"] = body["displayName"]
    if "singleValueExtendedProperties" in body:
        write_extended(f, body["singleValueExtendedProperties"])
    ctx.store.changed(ctx.mb, f)
    return 200, {"@odata.context": ctx.context("contactFolders/$entity"), **folder_json(f)}


def delete_folder(ctx, folder_id):
    f = get_folder(ctx.mb, folder_id)
    if f.get("default"):
        raise GraphError(403, "ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted.")
    doomed = {f["id"]}
    grew = True
    while grew:
        more = {x["id"] for x in ctx.mb["contact_folders"].values() if x["parent"] in doomed} - doomed
        grew = bool(more)
        doomed |= more
    for fid in doomed:
        ctx.mb["contact_folders"].pop(fid, None)
    for cid in [c["id"] for c in ctx.mb["contacts"].values() if c["folder"] in doomed]:
        del ctx.mb["contacts"][cid]
    others = ctx.mb.get("other_items", {})
    for iid in [i["id"] for i in others.values() if i["folder"] in doomed]:
        del others[iid]
    ctx.store.touch(ctx.mb)
    return 204, None


# ---- contacts ---------------------------------------------------------------------------------------------------
def contact_json(rec: dict) -> dict:
    p = rec["props"]
    out = base_props(rec)
    out["categories"] = p.get("categories", [])
    out["parentFolderId"] = rec["folder"]
    out["birthday"] = p.get("birthday")
    for name in ("fileAs", "displayName", "givenName", "initials", "middleName", "nickName", "surname", "title",
                 "yomiGivenName", "yomiSurname", "yomiCompanyName", "generation"):
        out[name] = p.get(name, "" if name == "fileAs" else None)
    for name in ("imAddresses", "jobTitle", "companyName", "department", "officeLocation", "profession",
                 "businessHomePage", "assistantName", "manager", "homePhones", "mobilePhone", "businessPhones",
                 "spouseName", "personalNotes", "children", "emailAddresses", "homeAddress", "businessAddress",
                 "otherAddress"):
        if name in LIST_PROPS or name == "emailAddresses":
            out[name] = p.get(name, [])
        elif name in ADDRESS_PROPS:
            out[name] = p.get(name, {})
        else:
            out[name] = p.get(name)
    return out


def _validate(body: dict) -> dict:
    for name in STRING_PROPS:
        expect(body.get(name), str, name, "contact")
    for name in LIST_PROPS:
        if name in body:
            if body[name] is None:
                body[name] = []
            expect(body[name], list, name, "contact")
            if not all(isinstance(x, str) for x in body[name]):
                raise GraphError(400, "RequestBodyRead", f"'{name}' is a collection of strings.")
    for name in ADDRESS_PROPS:
        if name in body:
            value = body[name] or {}
            expect(value, dict, name, "contact")
            unknown = set(value) - ADDRESS_KEYS - {"@odata.type"}
            if unknown:
                raise GraphError(400, "RequestBodyRead",
                                 f"The property '{sorted(unknown)[0]}' does not exist on type "
                                 "'microsoft.graph.physicalAddress'. Make sure to only use property names that are "
                                 "defined by the type or mark the type as open type.")
            body[name] = {k: value[k] for k in ("street", "city", "state", "countryOrRegion", "postalCode")
                          if value.get(k) is not None}
    if "emailAddresses" in body:
        value = body["emailAddresses"] or []
        expect(value, list, "emailAddresses", "contact")
        cleaned = []
        for e in value:
            if not isinstance(e, dict) or set(e) - {"name", "address", "@odata.type"}:
                raise GraphError(400, "RequestBodyRead", "An emailAddress has only 'name' and 'address'.")
            address = e.get("address")
            cleaned.append({"name": e.get("name") if e.get("name") is not None else address, "address": address})
        if len(cleaned) > 3:
            raise GraphError(400, "ErrorInvalidProperty", "A contact has at most three e-mail addresses.")
        body["emailAddresses"] = cleaned
    if body.get("birthday") is not None:
        try:
            body["birthday"] = parse_datetime(expect(body["birthday"], str, "birthday", "contact")).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            raise GraphError(400, "RequestBodyRead",
                             f"Cannot convert the literal '{body['birthday']}' to the expected type "
                             "'Edm.DateTimeOffset'.") from None
    return body


def _apply(rec: dict, body: dict) -> None:
    ext = body.pop("singleValueExtendedProperties", None)
    rec["props"].update(body)
    p = rec["props"]
    if "displayName" not in body and {"givenName", "middleName", "surname"} & set(body):
        # Exchange builds the display name from the name parts when none is given.
        p["displayName"] = " ".join(x for x in (p.get("givenName"), p.get("middleName"), p.get("surname")) if x)
    if ext is not None:
        write_extended(rec, ext)


def get_contact(mb: dict, contact_id: str, folder_id: str | None = None) -> dict:
    rec = mb["contacts"].get(contact_id)
    if rec is None or (folder_id is not None and rec["folder"] != folder_id):
        raise not_found()
    return rec


def list_contacts(ctx, folder_id=None):
    q = Query(ctx.args, LIST_OPTIONS, "contact", PROPERTIES)
    folder = get_folder(ctx.mb, folder_id) if folder_id else default_folder(ctx.mb)
    rows = [(contact_json(c), c["ext"], None) for c in ctx.mb["contacts"].values() if c["folder"] == folder["id"]]
    path = f"contactFolders/{folder_id}/contacts" if folder_id else "contacts"
    return 200, collection(ctx, q, rows, path if not folder_id else f"contactFolders('{folder_id}')/contacts", path)


def create_contact(ctx, folder_id=None):
    folder = get_folder(ctx.mb, folder_id) if folder_id else default_folder(ctx.mb)
    body = _validate(check_properties(json_body(ctx), WRITABLE, READONLY, "contact"))
    rec = ctx.store.new_record(ctx.mb, "contacts", "C", {}, folder=folder["id"])
    _apply(rec, body)
    ctx.extra_headers.append(("Location", ctx.url(f"contacts('{rec['id']}')")))
    return 201, {"@odata.context": ctx.context("contacts/$entity"), **contact_json(rec)}


def get_contact_h(ctx, contact_id, folder_id=None):
    q = Query(ctx.args, ITEM_OPTIONS, "contact", PROPERTIES)
    rec = get_contact(ctx.mb, contact_id, folder_id)
    return 200, {"@odata.context": ctx.context("contacts/$entity"), **shape(contact_json(rec), rec["ext"], q)}


def update_contact(ctx, contact_id, folder_id=None):
    rec = get_contact(ctx.mb, contact_id, folder_id)
    check_if_match(ctx, ck_of(rec))
    body = _validate(check_properties(json_body(ctx), WRITABLE, READONLY, "contact"))
    _apply(rec, body)
    ctx.store.changed(ctx.mb, rec)
    return 200, {"@odata.context": ctx.context("contacts/$entity"), **contact_json(rec)}


def delete_contact(ctx, contact_id, folder_id=None):
    rec = get_contact(ctx.mb, contact_id, folder_id)
    check_if_match(ctx, ck_of(rec))
    del ctx.mb["contacts"][rec["id"]]
    ctx.store.touch(ctx.mb)
    return 204, None


def move_contact(store, mb: dict, contact_id: str, folder_id: str) -> dict:
    """What a user does in Outlook (drag to another folder): Exchange gives the moved item a new id."""
    rec = get_contact(mb, contact_id)
    folder = get_folder(mb, folder_id)
    del mb["contacts"][rec["id"]]
    moved = store.new_record(mb, "contacts", "C", rec["props"], folder=folder["id"])
    moved["ext"], moved["created"] = rec["ext"], rec["created"]
    return moved


def copy_contact(store, mb: dict, contact_id: str, folder_id: str) -> dict:
    """What a user does in Outlook (copy to a folder, or Ctrl+drag): a new item with the same properties, extended
    properties included (Exchange's CopyItem); the original stays where it was."""
    rec = get_contact(mb, contact_id)
    folder = get_folder(mb, folder_id)
    copied = store.new_record(mb, "contacts", "C", copy.deepcopy(rec["props"]), folder=folder["id"])
    copied["ext"] = copy.deepcopy(rec["ext"])
    return copied


# Items of other classes a contacts folder or the calendar can hold (contact groups, notes, meeting messages):
# Graph has no resource for them in those collections (personal contact groups are one of the gaps between EWS and
# Graph), so they are kept apart and never listed by contacts, events, calendarView or their delta queries.
OTHER_CLASSES = ("IPM.DistList", "IPM.StickyNote", "IPM.Note", "IPM.Post", "IPM.Schedule.Meeting.Request",
                 "IPM.Schedule.Meeting.Canceled", "IPM.Activity")


def add_other_item(store, mb: dict, folder_id: str, item_class: str, subject: str) -> dict:
    """An item of another class in a contact folder (by id) or in the calendar (``calendar``)."""
    if item_class not in OTHER_CLASSES:
        raise GraphError(400, "ErrorInvalidParameter",
                         f"itemClass must be one of {', '.join(OTHER_CLASSES)}; contacts and events are made with "
                         "Graph itself.")
    if folder_id != "calendar":
        get_folder(mb, folder_id)
    mb.setdefault("other_items", {})
    return store.new_record(mb, "other_items", "I", {"itemClass": item_class, "subject": subject}, folder=folder_id)


def contacts_delta(ctx, folder_id):
    def unsupported(name):
        return GraphError(400, "ErrorInvalidUrlQuery",
                          "The following parameters are not supported with change tracking over the 'Contacts' "
                          f"resource: '{name}'.")

    folder = get_folder(ctx.mb, folder_id)
    tokens = {"$skiptoken", "$deltatoken"}
    first = not any(k.lower() in tokens for k in ctx.args)
    q = Query(ctx.args, {"$select", *tokens}, "contact", PROPERTIES, unsupported_message=unsupported)

    def entries(scope):
        return [(c["id"], ck_of(c)) for c in ctx.mb["contacts"].values() if c["folder"] == folder["id"]]

    def render(cid, options, scope):
        rec = ctx.mb["contacts"].get(cid)
        if rec is None or rec["folder"] != folder["id"]:
            return None
        obj = contact_json(rec)
        if options.get("select"):
            keep = {"id", "@odata.etag", *options["select"]}
            obj = {k: v for k, v in obj.items() if k in keep}
        return obj

    path = f"contactFolders/{folder_id}/contacts/delta"
    return 200, delta.run(ctx, kind="contacts", scope={"folder": folder["id"]}, path=path,
                          context="Collection(contact)", entries=entries, render=render,
                          options={"select": q.select} if first else {})


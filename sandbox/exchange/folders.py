"""Folder operations: GetFolder, FindFolder, CreateFolder, UpdateFolder, DeleteFolder."""

from lxml import etree

from sandbox.exchange import schema_order as so
from sandbox.exchange.fields import leaf, parse_path, path_elements
from sandbox.exchange.ids import make_change_key
from sandbox.exchange.items import effective_rights
from sandbox.exchange.restrictions import matches
from sandbox.exchange.soap import EwsError, T, child, local, sub, success_message, t
from sandbox.exchange.store import FOLDER_KIND_BY_CLASS

FOLDER_ORDERS = {"Folder": so.FOLDER_ORDER, "CalendarFolder": so.CALENDAR_FOLDER_ORDER,
                 "ContactsFolder": so.CONTACTS_FOLDER_ORDER, "TasksFolder": so.TASKS_FOLDER_ORDER}
DEFAULT_CLASS = {"CalendarFolder": "IPF.Appointment", "ContactsFolder": "IPF.Contact", "TasksFolder": "IPF.Task",
                 "Folder": "IPF.Note"}
DEFAULT_FOLDER_SHAPE = {"FolderId", "DisplayName", "TotalCount", "ChildFolderCount", "UnreadCount"}


def folder_props(store, mb: dict, folder: dict) -> dict:
    props = {}
    fid = etree.Element(t("FolderId"), nsmap={"t": T})
    fid.set("Id", folder["id"])
    fid.set("ChangeKey", make_change_key(folder["change"], folder=True))
    props["FolderId"] = fid
    parent = mb["folders"].get(folder["parent"]) if folder["parent"] else None
    if parent is not None:
        pid = etree.Element(t("ParentFolderId"), nsmap={"t": T})
        pid.set("Id", parent["id"])
        pid.set("ChangeKey", make_change_key(parent["change"], folder=True))
        props["ParentFolderId"] = pid
    if folder["class"]:
        props["FolderClass"] = leaf("FolderClass", folder["class"])
    props["DisplayName"] = leaf("DisplayName", folder["name"])
    props["TotalCount"] = leaf("TotalCount", str(len(store.folder_items(mb, folder["id"]))))
    props["ChildFolderCount"] = leaf("ChildFolderCount", str(len(store.subfolders(mb, folder["id"], False))))
    props["EffectiveRights"] = effective_rights()
    if folder["distinguished"]:
        props["DistinguishedFolderId"] = leaf("DistinguishedFolderId", folder["distinguished"])
    props["PermissionSet"] = permission_set(folder["kind"] == "CalendarFolder")
    props["UnreadCount"] = leaf("UnreadCount", "0")
    return props


def permission_set(calendar: bool) -> etree._Element:
    """A new mailbox's folder permissions: Default and Anonymous have none, except free/busy on the calendar."""
    el = etree.Element(t("PermissionSet"), nsmap={"t": T})
    container = etree.SubElement(el, t("CalendarPermissions" if calendar else "Permissions"))
    for user, level in (("Default", "FreeBusyTimeOnly" if calendar else "None"), ("Anonymous", "None")):
        perm = etree.SubElement(container, t("CalendarPermission" if calendar else "Permission"))
        uid = etree.SubElement(perm, t("UserId"))
        etree.SubElement(uid, t("DistinguishedUser")).text = user
        for name in ("CanCreateItems", "CanCreateSubFolders", "IsFolderOwner", "IsFolderVisible", "IsFolderContact"):
            etree.SubElement(perm, t(name)).text = "false"
        etree.SubElement(perm, t("EditItems")).text = "None"
        etree.SubElement(perm, t("DeleteItems")).text = "None"
        etree.SubElement(perm, t("ReadItems")).text = "TimeOnly" if level == "FreeBusyTimeOnly" else "None"
        etree.SubElement(perm, t("CalendarPermissionLevel" if calendar else "PermissionLevel")).text = level
    return el


def render_folder(store, mb, folder, shape_elem) -> etree._Element:
    base = (child(shape_elem, "BaseShape").text or "").strip() if shape_elem is not None else "Default"
    props = folder_props(store, mb, folder)
    names = {"FolderId"} if base == "IdOnly" else set(props) if base == "AllProperties" else set(DEFAULT_FOLDER_SHAPE)
    for p in path_elements(child(shape_elem, "AdditionalProperties")):
        path = parse_path(p)
        if path[0] == "field":
            names.add(path[1])
    el = etree.Element(t(folder["kind"]), nsmap={"t": T})
    for name in FOLDER_ORDERS[folder["kind"]]:
        if name in names and name in props:
            el.append(props[name])
    return el


def get_folder(ctx, req, msgs):
    shape = child(req, "FolderShape", ns=ctx.M)
    for fid in child(req, "FolderIds", ns=ctx.M):
        with ctx.per_message(msgs):
            mb, folder = ctx.store.resolve_folder(ctx.acting, fid, ctx.check_access)
            rm = success_message(msgs, "GetFolder")
            sub(rm, "m:Folders").append(render_folder(ctx.store, mb, folder, shape))


def find_folder(ctx, req, msgs):
    shape = child(req, "FolderShape", ns=ctx.M)
    deep = req.get("Traversal") == "Deep"
    restriction = child(req, "Restriction", ns=ctx.M)
    for pid in child(req, "ParentFolderIds", ns=ctx.M):
        with ctx.per_message(msgs):
            mb, parent = ctx.store.resolve_folder(ctx.acting, pid, ctx.check_access)
            found = [] if req.get("Traversal") == "SoftDeleted" else ctx.store.subfolders(mb, parent["id"], deep)
            if restriction is not None:
                found = [f for f in found if matches(restriction, folder_props(ctx.store, mb, f), {})]
            found.sort(key=lambda f: f["name"].casefold())
            page, attrs = ctx.page(found, req)
            rm = success_message(msgs, "FindFolder")
            root = sub(rm, "m:RootFolder", **attrs)
            container = sub(root, "Folders")
            for f in page:
                container.append(render_folder(ctx.store, mb, f, shape))


def _folder_kind(elem) -> tuple[str, str | None]:
    kind = local(elem.tag)
    if kind == "SearchFolder":
        raise EwsError("ErrorInvalidOperation", "Search folders are not supported by this server.")
    cls_el = child(elem, "FolderClass")
    cls = cls_el.text.strip() if cls_el is not None and cls_el.text else DEFAULT_CLASS.get(kind)
    kind = FOLDER_KIND_BY_CLASS.get(cls, kind if kind != "Folder" else "Folder")
    return kind, cls


def create_folder(ctx, req, msgs):
    pid = child(req, "ParentFolderId", ns=ctx.M)[0]
    folders = list(child(req, "Folders", ns=ctx.M))
    try:
        mb, parent = ctx.store.resolve_folder(ctx.acting, pid, ctx.check_access)
    except EwsError as e:
        for _ in folders:
            ctx.error(msgs, e)
        return
    for elem in folders:
        with ctx.per_message(msgs):
            name_el = child(elem, "DisplayName")
            name = (name_el.text or "").strip() if name_el is not None else ""
            if not name:
                raise EwsError("ErrorFolderSave",
                               "A folder needs a DisplayName.")
            if any(f["name"].casefold() == name.casefold() for f in ctx.store.subfolders(mb, parent["id"], False)):
                raise EwsError("ErrorFolderExists")
            kind, cls = _folder_kind(elem)
            folder = ctx.store.create_folder(mb, parent, name, cls, kind)
            rm = success_message(msgs, "CreateFolder")
            el = etree.SubElement(sub(rm, "m:Folders"), t(kind))
            fid = sub(el, "FolderId")
            fid.set("Id", folder["id"])
            fid.set("ChangeKey", make_change_key(folder["change"], folder=True))


def update_folder(ctx, req, msgs):
    for change in child(req, "FolderChanges", ns=ctx.M):
        with ctx.per_message(msgs):
            mb, folder = ctx.store.resolve_folder(ctx.acting, change[0], ctx.check_access)
            for upd in child(change, "Updates"):
                path = parse_path(upd[0])
                if path[0] != "field" or path[1] not in ("DisplayName", "FolderClass"):
                    raise EwsError("ErrorInvalidPropertySet", f"Cannot change {path[1:]} on a folder.")
                if local(upd.tag) == "DeleteFolderField":
                    raise EwsError("ErrorInvalidPropertyDelete", f"Cannot delete {path[1]}.")
                value = child(upd[1], path[1]) if len(upd) > 1 else None
                if value is None or not (value.text or "").strip():
                    raise EwsError("ErrorInvalidPropertySet", f"Missing value for {path[1]}.")
                if folder["distinguished"] and path[1] == "DisplayName":
                    raise EwsError("ErrorInvalidOperation", "Distinguished folders cannot be renamed.")
                folder["name" if path[1] == "DisplayName" else "class"] = value.text.strip()
            folder["change"] = ctx.store.next_change()
            ctx.store.touch(mb)
            rm = success_message(msgs, "UpdateFolder")
            el = etree.SubElement(sub(rm, "m:Folders"), t(folder["kind"]))
            fid = sub(el, "FolderId")
            fid.set("Id", folder["id"])
            fid.set("ChangeKey", make_change_key(folder["change"], folder=True))


def delete_folder(ctx, req, msgs):
    delete_type = req.get("DeleteType")
    for fid in child(req, "FolderIds", ns=ctx.M):
        with ctx.per_message(msgs):
            mb, folder = ctx.store.resolve_folder(ctx.acting, fid, ctx.check_access)
            if folder["distinguished"]:
                raise EwsError("ErrorDeleteDistinguishedFolder")
            if delete_type == "MoveToDeletedItems" and not _under(mb, folder, "deleteditems"):
                folder["parent"] = ctx.store.distinguished_id(mb, "deleteditems")
                folder["change"] = ctx.store.next_change()
                ctx.store.touch(mb)
            else:
                ctx.store.delete_folder(mb, folder)
            success_message(msgs, "DeleteFolder")


def _under(mb, folder, name) -> bool:
    f = folder
    while f is not None and f["parent"]:
        f = mb["folders"].get(f["parent"])
        if f is not None and f["distinguished"] == name:
            return True
    return False

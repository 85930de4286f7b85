"""Folder operations: GetFolder, FindFolder, CreateFolder, UpdateFolder, DeleteFolder."""

from lxml import etree

from sandbox.exchange import schema_order as so
from sandbox.exchange.fields import ext_key, leaf, parse_path, path_elements
from sandbox.exchange.ids import make_change_key
from sandbox.exchange.items import effective_rights
from sandbox.exchange.restrictions import matches
from sandbox.exchange.soap import EwsError, T, child, local, sub, success_message, t
from sandbox.exchange.store import folder_kind_for_class

FOLDER_ORDERS = {"Folder": so.FOLDER_ORDER, "CalendarFolder": so.CALENDAR_FOLDER_ORDER,
                 "ContactsFolder": so.CONTACTS_FOLDER_ORDER, "TasksFolder": so.TASKS_FOLDER_ORDER}
# A typed folder's implied class. A generic t:Folder created without a FolderClass has none, and reads back without
# one, as on Exchange (exchangelib's generic Folder has CONTAINER_CLASS None).
DEFAULT_CLASS = {"CalendarFolder": "IPF.Appointment", "ContactsFolder": "IPF.Contact", "TasksFolder": "IPF.Task"}
# What CreateFolder and UpdateFolder may set on a folder (exchangelib's writable folder fields: folder_class, name,
# permission_set; plus extended properties). The other FolderType elements are computed by the server.
WRITABLE = {"FolderClass", "DisplayName", "PermissionSet"}
# Writable on Exchange, but this emulator keeps no retention policies: refused, never dropped.
NOT_IMPLEMENTED = {"PolicyTag", "ArchiveTag"}
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
    if folder.get("permissions"):
        props["PermissionSet"] = etree.fromstring(folder["permissions"])
    return props


def folder_ext(folder: dict) -> dict:
    """A folder's extended properties as elements, by canonical key (the store keeps them as XML text)."""
    return {key: etree.fromstring(text) for key, text in folder.get("ext", {}).items()}


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
    ext_paths = {}
    for p in path_elements(child(shape_elem, "AdditionalProperties")):
        path = parse_path(p)
        if path[0] == "field":
            names.add(path[1])
        elif path[0] == "ext":
            ext_paths[path[1]] = path[2]
        else:
            raise EwsError("ErrorInvalidPropertyRequest", "Folders have no indexed properties.")
    el = etree.Element(t(folder["kind"]), nsmap={"t": T})
    ext = folder_ext(folder)
    for name in FOLDER_ORDERS[folder["kind"]]:
        if name == "ExtendedProperty":
            for key in sorted(k for k in ext_paths if k in ext):
                prop = ext[key]
                uri = child(prop, "ExtendedFieldURI")
                uri.attrib.clear()
                for attr, value in ext_paths[key]:  # answers echo the request's spelling of the path
                    uri.set(attr, value)
                el.append(prop)
        elif name in names and name in props:
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
                found = [f for f in found if matches(restriction, folder_props(ctx.store, mb, f), folder_ext(f))]
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
    given = cls_el.text.strip() if cls_el is not None and cls_el.text else None
    if kind != "Folder" and given is not None:
        # "If you try to create an instance of a specific class and also set the FolderClass property, the
        # ErrorNoFolderClassOverride error is thrown" (Working with folders by using EWS). exchangelib sends every
        # folder as a generic t:Folder with its class, which is the documented way.
        raise EwsError("ErrorNoFolderClassOverride",
                       f"A {kind} has an implied folder class; create a generic Folder with the class {given}.")
    cls = given or DEFAULT_CLASS.get(kind)
    return (folder_kind_for_class(cls) if kind == "Folder" else kind), cls


def _folder_property(kind: str, value, *, creating: bool):
    """The (name, value) a folder property element sets, or an error as Exchange answers it."""
    name = local(value.tag)
    if name == "ExtendedProperty":
        uri = child(value, "ExtendedFieldURI")
        if uri is None:
            raise EwsError("ErrorInvalidExtendedProperty")
        return "ext:" + ext_key(uri), etree.tostring(value, encoding="unicode")
    if name in NOT_IMPLEMENTED:
        raise EwsError("ErrorInvalidOperation", f"The sandbox keeps no retention policies: {name} cannot be set.")
    if name not in WRITABLE:
        if name not in FOLDER_ORDERS[kind]:
            raise EwsError("ErrorInvalidPropertySet", f"A {kind} has no property {name}.")
        raise EwsError("ErrorInvalidPropertySet", f"The folder property {name} is read-only.")
    if name == "PermissionSet":
        return name, etree.tostring(value, encoding="unicode")
    text = (value.text or "").strip()
    if not text:
        raise EwsError("ErrorFolderSave" if creating else "ErrorInvalidPropertySet", f"{name} cannot be empty.")
    return name, text


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
            props = dict(_folder_property(kind, value, creating=True) for value in elem)
            folder = ctx.store.create_folder(mb, parent, name, cls, kind)
            if "PermissionSet" in props:
                folder["permissions"] = props["PermissionSet"]
            ext = {key[4:]: text for key, text in props.items() if key.startswith("ext:")}
            if ext:
                folder["ext"] = ext
            rm = success_message(msgs, "CreateFolder")
            el = etree.SubElement(sub(rm, "m:Folders"), t(kind))
            fid = sub(el, "FolderId")
            fid.set("Id", folder["id"])
            fid.set("ChangeKey", make_change_key(folder["change"], folder=True))


def update_folder(ctx, req, msgs):
    for change in child(req, "FolderChanges", ns=ctx.M):
        with ctx.per_message(msgs):
            mb, folder = ctx.store.resolve_folder(ctx.acting, change[0], ctx.check_access)
            updated = {"name": folder["name"], "class": folder["class"],
                       "permissions": folder.get("permissions"), "ext": dict(folder.get("ext", {}))}
            for upd in child(change, "Updates"):
                _apply_folder_update(ctx, mb, folder, upd, updated)
            folder["name"], folder["class"] = updated["name"], updated["class"]
            folder["permissions"], folder["ext"] = updated["permissions"], updated["ext"]
            folder["change"] = ctx.store.next_change()
            ctx.store.touch(mb)
            rm = success_message(msgs, "UpdateFolder")
            el = etree.SubElement(sub(rm, "m:Folders"), t(folder["kind"]))
            fid = sub(el, "FolderId")
            fid.set("Id", folder["id"])
            fid.set("ChangeKey", make_change_key(folder["change"], folder=True))


def _apply_folder_update(ctx, mb, folder, upd, updated) -> None:
    """One SetFolderField / AppendToFolderField / DeleteFolderField, applied to `updated` (all or nothing)."""
    op, path = local(upd.tag), parse_path(upd[0])
    if path[0] == "indexed":
        raise EwsError("ErrorInvalidPropertyRequest", "Folders have no indexed properties.")
    if op == "AppendToFolderField":
        raise EwsError("ErrorInvalidPropertyAppend", "Folder properties cannot be appended to.")
    if op == "DeleteFolderField":
        if path[0] == "ext":
            updated["ext"].pop(path[1], None)
        elif path[1] == "PermissionSet":
            updated["permissions"] = None
        else:
            raise EwsError("ErrorInvalidPropertyDelete", f"The folder property {path[1]} cannot be deleted.")
        return
    holder = upd[1] if len(upd) > 1 else None
    if holder is None or len(holder) != 1:
        raise EwsError("ErrorIncorrectUpdatePropertyCount",
                       "An object within a change description must contain one and only one property.")
    name, value = _folder_property(folder["kind"], holder[0], creating=False)
    if name != ("ext:" + path[1] if path[0] == "ext" else path[1]):
        raise EwsError("ErrorInvalidPropertySet", f"The property {local(holder[0].tag)} does not match the path.")
    if name.startswith("ext:"):
        updated["ext"][name[4:]] = value
    elif name == "PermissionSet":
        updated["permissions"] = value
    elif name == "FolderClass":
        if folder_kind_for_class(value) != folder["kind"]:
            # Responsecode reference: setting the class of a typed folder to another type's class.
            raise EwsError("ErrorObjectTypeChanged",
                           f"The folder class {value} would change this {folder['kind']} into another folder type.")
        updated["class"] = value
    else:
        if folder["distinguished"]:
            raise EwsError("ErrorInvalidOperation", "Distinguished folders cannot be renamed.")
        siblings = ctx.store.subfolders(mb, folder["parent"], False) if folder["parent"] else []
        if any(f is not folder and f["name"].casefold() == value.casefold() for f in siblings):
            raise EwsError("ErrorFolderExists")
        updated["name"] = value


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

"""SyncFolderItems, ResolveNames and ConvertId."""

import base64
import binascii
import json

from lxml import etree

from sandbox.exchange.fields import leaf, render, text_of
from sandbox.exchange.ids import parse_id
from sandbox.exchange.itemops import _shape, render_row
from sandbox.exchange.items import materialize
from sandbox.exchange.soap import EwsError, T, child, children, error_message, local, sub, success_message, t

_STATE_PREFIX = b"EWSSYNC1"


def encode_state(folder_id: str, watermark: int, epoch: int, kind: str = "items") -> str:
    state = {"f": folder_id, "w": watermark, "e": epoch, "k": kind}
    return base64.b64encode(_STATE_PREFIX + json.dumps(state).encode()).decode()


def decode_state(text: str, folder_id: str, epoch: int, kind: str = "items") -> int:
    try:
        raw = base64.b64decode(text.strip().encode(), validate=True)
        if not raw.startswith(_STATE_PREFIX):
            raise ValueError
        data = json.loads(raw[len(_STATE_PREFIX):])
        watermark = int(data["w"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise EwsError("ErrorInvalidSyncStateData") from None
    if data.get("f") != folder_id or data.get("e", 0) != epoch or data.get("k", "items") != kind:
        raise EwsError("ErrorInvalidSyncStateData", "The synchronization state belongs to another folder.")
    return watermark


def sync_folder_items(ctx, req, msgs):
    base, paths = _shape(req, ctx)
    with ctx.per_message(msgs):
        folder_el = child(req, "SyncFolderId", ns=ctx.M)[0]
        mb, folder = ctx.store.resolve_folder(ctx.acting, folder_el, ctx.check_access)
        state_el = child(req, "SyncState", ns=ctx.M)
        has_state = state_el is not None and (state_el.text or "").strip()
        watermark = decode_state(state_el.text, folder["id"], ctx.store.epoch) if has_state else 0
        ignore = {i.get("Id") for i in children(child(req, "Ignore", ns=ctx.M), "ItemId")}
        limit = int(text_of(child(req, "MaxChangesReturned", ns=ctx.M)))
        changes = []
        for item in ctx.store.folder_items(mb, folder["id"]):
            if item["change"] > watermark:
                if item["created_change"] > watermark:
                    kind = "Create"
                elif item.get("content_change", item["change"]) > watermark:
                    kind = "Update"
                else:
                    kind = "ReadFlagChange"
                changes.append((item["change"], kind, item))
        for item_id, (deleted, created) in mb["tombstones"].get(folder["id"], {}).items():
            if deleted > watermark and created <= watermark:
                changes.append((deleted, "Delete", item_id))
        changes.sort(key=lambda c: c[0])
        page, rest = changes[:limit], changes[limit:]
        new_watermark = page[-1][0] if rest else max(ctx.store.change, watermark)
        rm = success_message(msgs, "SyncFolderItems")
        sub(rm, "m:SyncState", encode_state(folder["id"], new_watermark, ctx.store.epoch))
        sub(rm, "m:IncludesLastItemInRange", "false" if rest else "true")
        container = sub(rm, "m:Changes")
        for _change, kind, obj in page:
            if (obj["id"] if kind != "Delete" else obj) in ignore:
                continue
            el = sub(container, kind)
            if kind == "Delete":
                sub(el, "ItemId", Id=obj)
            elif kind == "ReadFlagChange":
                props, _ = materialize(mb, obj)
                el.append(props["ItemId"])
                sub(el, "IsRead", text_of(obj["fields"].get("IsRead")) or "false")
            else:
                el.append(render_row(mb, obj, None, base, paths))


# ---- ResolveNames ------------------------------------------------------------------------------------------------
def _matches(query: str, display: str, email: str) -> bool:
    q = query.casefold()
    if q.startswith("smtp:"):
        return email.casefold() == q[5:]
    d, e = display.casefold(), email.casefold()
    return e == q or e.split("@")[0].startswith(q) or d.startswith(q) or any(w.startswith(q) for w in d.split())


def resolve_names(ctx, req, msgs):
    entry = (text_of(child(req, "UnresolvedEntry", ns=ctx.M)) or "").strip()
    scope = req.get("SearchScope") or "ActiveDirectoryContacts"
    full = (req.get("ReturnFullContactData") or "false") == "true"
    found = []
    if "Contacts" in scope and ctx.acting is not None:
        for item in ctx.acting["items"].values():
            if item["kind"] != "Contact":
                continue
            props, _ = materialize(ctx.acting, item)
            emails = [e.text or "" for e in (props.get("EmailAddresses") if "EmailAddresses" in props else [])]
            display = text_of(props.get("DisplayName")) or ""
            for email in emails[:1]:
                if _matches(entry, display, email):
                    found.append(("Contact", display, email, item, props))
    if "ActiveDirectory" in scope:
        for mb in sorted(ctx.store.mailboxes.values(), key=lambda x: x["email"]):
            if _matches(entry, mb["display_name"], mb["email"]):
                found.append(("Mailbox", mb["display_name"], mb["email"], None, None))
    if not entry or not found:
        error_message(msgs, "ResolveNames", EwsError("ErrorNameResolutionNoResults"))
        return
    if len(found) > 1:
        rm = error_message(msgs, "ResolveNames", EwsError("ErrorNameResolutionMultipleResults"), "Warning")
    else:
        rm = success_message(msgs, "ResolveNames")
    rs = sub(rm, "m:ResolutionSet", TotalItemsInView=len(found), IncludesLastItemInRange="true")
    for mtype, display, email, item, props in found[:100]:
        res = sub(rs, "Resolution")
        mbx = sub(res, "Mailbox")
        sub(mbx, "Name", display)
        sub(mbx, "EmailAddress", email)
        sub(mbx, "RoutingType", "SMTP")
        sub(mbx, "MailboxType", mtype)
        if item is not None:
            sub(mbx, "ItemId", Id=item["id"], ChangeKey=props["ItemId"].get("ChangeKey"))
        if full:
            if props is None:
                given, _, surname = display.partition(" ")
                emails = etree.Element(t("EmailAddresses"), nsmap={"t": T})
                sub(emails, "Entry", email, Key="EmailAddress1")
                props = {"DisplayName": leaf("DisplayName", display), "GivenName": leaf("GivenName", given),
                         "Surname": leaf("Surname", surname), "EmailAddresses": emails,
                         "ContactSource": leaf("ContactSource", "ActiveDirectory")}
            names = ["DisplayName", "GivenName", "Surname", "CompanyName", "EmailAddresses", "PhoneNumbers",
                     "PhysicalAddresses", "JobTitle", "Department", "ContactSource"]
            res.append(_contact(props, names))


def _contact(props, names):
    contact = render("Contact", props, {}, "IdOnly", [("field", n) for n in names])
    for el in contact.findall(t("ItemId")):
        contact.remove(el)
    return contact


# ---- ConvertId ---------------------------------------------------------------------------------------------------
def convert_id(ctx, req, msgs):
    dest = req.get("DestinationFormat")
    for src in child(req, "SourceIds", ns=ctx.M):
        with ctx.per_message(msgs):
            if local(src.tag) != "AlternateId":
                raise EwsError("ErrorInvalidIdMalformed", "Only mailbox ids can be converted.")
            mailbox = src.get("Mailbox") or ""
            if "@" not in mailbox:
                raise EwsError("ErrorInvalidSmtpAddress", "The SMTP address format is invalid.")
            raw = _raw_id(src.get("Format"), src.get("Id") or "")
            ews_id = base64.b64encode(raw).decode()
            _kind, email, _seq, _idx = parse_id(ews_id)
            mb = ctx.store.mailbox(email)
            if mb is None or email != mailbox.lower():
                raise EwsError("ErrorItemNotFound")
            rm = success_message(msgs, "ConvertId")
            alt = sub(rm, "m:AlternateId")
            alt.set("{http://www.w3.org/2001/XMLSchema-instance}type", "t:AlternateIdType")
            alt.set("Format", dest)
            alt.set("Id", _format_id(dest, raw))
            alt.set("Mailbox", mb["email"])


def _raw_id(fmt: str, value: str) -> bytes:
    try:
        if fmt in ("EwsId", "EwsLegacyId", "OwaId", "StoreId"):
            raw = base64.b64decode(value.encode(), validate=True)
        elif fmt == "EntryId":
            raw = base64.b64decode(value.encode(), validate=True)[4:]
        elif fmt == "HexEntryId":
            raw = bytes.fromhex(value)[4:]
        else:
            raise ValueError
    except (binascii.Error, ValueError):
        raise EwsError("ErrorInvalidIdMalformed") from None
    parse_id(base64.b64encode(raw).decode())
    return raw


def _format_id(fmt: str, raw: bytes) -> str:
    if fmt == "EntryId":
        return base64.b64encode(b"\x00\x00\x00\x00" + raw).decode()
    if fmt == "HexEntryId":
        return (b"\x00\x00\x00\x00" + raw).hex().upper()
    return base64.b64encode(raw).decode()

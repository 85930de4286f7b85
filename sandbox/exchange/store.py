"""Mailbox state: folders, items, tombstones and the global change counter, persisted as atomic JSON snapshots.

Items keep their properties as lxml elements in the EWS types namespace, keyed by element name, so that anything
exchangelib can set round-trips unchanged. One JSON file per mailbox is rewritten after each request that changed it.
"""

import hashlib
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from sandbox.exchange.ids import make_change_key, make_id, parse_id
from sandbox.exchange.soap import EwsError, child, local

# name -> (seq, element kind, FolderClass, DisplayName, parent name)
DISTINGUISHED = {
    "root": (1, "Folder", None, "Root", None),
    "msgfolderroot": (2, "Folder", "IPF.Note", "Top of Information Store", "root"),
    "calendar": (3, "CalendarFolder", "IPF.Appointment", "Calendar", "msgfolderroot"),
    "contacts": (4, "ContactsFolder", "IPF.Contact", "Contacts", "msgfolderroot"),
    "tasks": (5, "TasksFolder", "IPF.Task", "Tasks", "msgfolderroot"),
    "deleteditems": (6, "Folder", "IPF.Note", "Deleted Items", "msgfolderroot"),
    "inbox": (7, "Folder", "IPF.Note", "Inbox", "msgfolderroot"),
    "drafts": (8, "Folder", "IPF.Note", "Drafts", "msgfolderroot"),
    "sentitems": (9, "Folder", "IPF.Note", "Sent Items", "msgfolderroot"),
    "outbox": (10, "Folder", "IPF.Note", "Outbox", "msgfolderroot"),
    "junkemail": (11, "Folder", "IPF.Note", "Junk Email", "msgfolderroot"),
    "notes": (12, "Folder", "IPF.StickyNote", "Notes", "msgfolderroot"),
    "journal": (13, "Folder", "IPF.Journal", "Journal", "msgfolderroot"),
    "conversationhistory": (14, "Folder", "IPF.Note.Microsoft.Conversation", "Conversation History",
                            "msgfolderroot"),
    "syncissues": (15, "Folder", "IPF.Note", "Sync Issues", "msgfolderroot"),
    "conflicts": (16, "Folder", "IPF.Note", "Conflicts", "syncissues"),
    "localfailures": (17, "Folder", "IPF.Note", "Local Failures", "syncissues"),
    "serverfailures": (18, "Folder", "IPF.Note", "Server Failures", "syncissues"),
    "recipientcache": (19, "ContactsFolder", "IPF.Contact.RecipientCache", "Recipient Cache", "contacts"),
    "searchfolders": (20, "Folder", None, "Finder", "root"),
    "recoverableitemsroot": (21, "Folder", None, "Recoverable Items", "root"),
    "recoverableitemsdeletions": (22, "Folder", None, "Deletions", "recoverableitemsroot"),
    "recoverableitemsversions": (23, "Folder", None, "Versions", "recoverableitemsroot"),
    "recoverableitemspurges": (24, "Folder", None, "Purges", "recoverableitemsroot"),
    "recoverableitemsdiscoveryholds": (25, "Folder", None, "DiscoveryHolds", "recoverableitemsroot"),
    # Hidden contacts folders Exchange 2013+ keeps below Contacts (Lync/Skype quick contacts and IM list).
    "quickcontacts": (26, "ContactsFolder", "IPF.Contact.MOC.QuickContacts", "{06967759-274D-40B2-A3EB-D7F9E73727D7}",
                      "contacts"),
    "imcontactlist": (27, "ContactsFolder", "IPF.Contact.MOC.ImContactList", "{A9E2BC46-B3A0-4243-B315-60D991004455}",
                      "contacts"),
}
# DistinguishedFolderId names an Exchange 2016 server knows (the schema's enumeration up to Exchange 2016). A known
# name whose folder this mailbox lacks (no archive, no Unified Messaging, no public folders, ...) answers
# ErrorFolderNotFound; a name only Exchange Online knows answers ErrorInvalidOperation, "The distinguished folder name
# is unrecognized." (both seen from a real Exchange 2019 in exchangelib issue #1301).
KNOWN_DISTINGUISHED = frozenset((
    "calendar", "contacts", "deleteditems", "drafts", "inbox", "journal", "notes", "outbox", "sentitems", "tasks",
    "msgfolderroot", "publicfoldersroot", "root", "junkemail", "searchfolders", "voicemail", "recoverableitemsroot",
    "recoverableitemsdeletions", "recoverableitemsversions", "recoverableitemspurges",
    "recoverableitemsdiscoveryholds", "archiveroot", "archivemsgfolderroot", "archivedeleteditems", "archiveinbox",
    "archiverecoverableitemsroot", "archiverecoverableitemsdeletions", "archiverecoverableitemsversions",
    "archiverecoverableitemspurges", "archiverecoverableitemsdiscoveryholds", "syncissues", "conflicts",
    "localfailures", "serverfailures", "recipientcache", "quickcontacts", "conversationhistory", "adminauditlogs",
    "todosearch", "mycontacts", "imcontactlist", "peopleconnect", "favorites",
))
FIRST_FREE_SEQ = 100
FOLDER_KIND_BY_CLASS = {"IPF.Appointment": "CalendarFolder", "IPF.Contact": "ContactsFolder", "IPF.Task": "TasksFolder"}


def folder_kind_for_class(cls: str | None) -> str:
    """The folder type Exchange makes for a folder class: IPF.Contact and its subclasses (IPF.Contact.X) are contacts
    folders, and so on; any other class, or none, is a generic Folder."""
    for prefix, kind in FOLDER_KIND_BY_CLASS.items():
        if cls and (cls == prefix or cls.startswith(prefix + ".")):
            return kind
    return "Folder"


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    def __init__(self, data_dir: Path):
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.change = 0
        self.epoch = 0  # bumped by every reset, so that ids and sync states from before a reset never match
        self.mailboxes: dict[str, dict] = {}
        self.dirty: set[str] = set()
        # The one hook every item change goes through, whichever operation made it: callable(mailbox email, event
        # kind, **ids) -- the emulator's subscription registry (notifications).
        self.on_item_event = None
        self._load()

    # ---- persistence -------------------------------------------------------------------------------------------
    def _file(self, email: str) -> Path:
        return self.dir / "mailboxes" / (hashlib.sha256(email.encode()).hexdigest()[:16] + ".json")

    def _load(self) -> None:
        meta = self.dir / "meta.json"
        if meta.exists():
            data = json.loads(meta.read_text())
            self.change, self.epoch = data["change"], data.get("epoch", 0)
        for path in sorted((self.dir / "mailboxes").glob("*.json")) if (self.dir / "mailboxes").exists() else []:
            mb = json.loads(path.read_text())
            for item in mb["items"].values():
                _inflate(item)
                for exc in item.get("exceptions", {}).values():
                    _inflate(exc)
            self.mailboxes[mb["email"]] = mb
        # Never hand out a change number twice, even if a crash came between a mailbox write and meta.json.
        for mb in self.mailboxes.values():
            numbers = [i["change"] for i in mb["items"].values()] + [f["change"] for f in mb["folders"].values()]
            numbers += [d for stones in mb["tombstones"].values() for d, _created in stones.values()]
            self.change = max([self.change, *numbers])

    def flush(self) -> None:
        with self.lock:
            if not self.dirty:
                return
            (self.dir / "mailboxes").mkdir(exist_ok=True)
            for email in sorted(self.dirty):
                path = self._file(email)
                mb = self.mailboxes.get(email)
                if mb is None:
                    path.unlink(missing_ok=True)
                    continue
                _atomic_write(path, json.dumps(_deflate_mailbox(mb), ensure_ascii=False))
            _atomic_write(self.dir / "meta.json", json.dumps({"change": self.change, "epoch": self.epoch}))
            self.dirty.clear()

    def wipe(self) -> None:
        with self.lock:
            self.dirty = set(self.mailboxes)
            self.mailboxes.clear()
            self.epoch += 1
            self.flush()

    # ---- counters ----------------------------------------------------------------------------------------------
    def next_change(self) -> int:
        self.change += 1
        return self.change

    def next_seq(self, mb: dict) -> int:
        mb["seq"] += 1
        return mb["seq"]

    def touch(self, mb: dict) -> None:
        self.dirty.add(mb["email"])

    # ---- mailboxes ---------------------------------------------------------------------------------------------
    def create_mailbox(self, email: str, display_name: str) -> dict:
        email = email.lower()
        with self.lock:
            if email in self.mailboxes:
                self.mailboxes[email]["display_name"] = display_name
                self.touch(self.mailboxes[email])
                return self.mailboxes[email]
            mb = {"email": email, "display_name": display_name, "seq": (self.epoch << 32) + FIRST_FREE_SEQ,
                  "folders": {}, "items": {},
                  "tombstones": {}}
            for name, (seq, kind, cls, title, parent) in DISTINGUISHED.items():
                fid = make_id("F", email, seq)
                mb["folders"][fid] = {
                    "id": fid, "parent": make_id("F", email, DISTINGUISHED[parent][0]) if parent else None,
                    "name": title, "class": cls, "kind": kind, "distinguished": name, "change": self.next_change(),
                }
                mb["folders"][fid]["created_change"] = mb["folders"][fid]["change"]
            self.mailboxes[email] = mb
            self.touch(mb)
            return mb

    def mailbox(self, email: str) -> dict | None:
        return self.mailboxes.get((email or "").lower())

    # ---- folders -----------------------------------------------------------------------------------------------
    def distinguished_id(self, mb: dict, name: str) -> str:
        return make_id("F", mb["email"], DISTINGUISHED[name][0])

    def resolve_folder(self, acting: dict, elem, check_access) -> tuple[dict, dict]:
        """Resolve a FolderId / DistinguishedFolderId element to (mailbox, folder)."""
        name = local(elem.tag)
        if name == "DistinguishedFolderId":
            mbx = child(elem, "Mailbox")
            mb = acting
            if mbx is not None and child(mbx, "EmailAddress") is not None:
                mb = self.mailbox(child(mbx, "EmailAddress").text)
                if mb is None:
                    raise EwsError("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
            check_access(mb)
            if elem.get("Id") not in KNOWN_DISTINGUISHED:
                raise EwsError("ErrorInvalidOperation", "The distinguished folder name is unrecognized.")
            fid = make_id("F", mb["email"], DISTINGUISHED[elem.get("Id")][0]) if elem.get("Id") in DISTINGUISHED \
                else None
            if fid is None or fid not in mb["folders"]:
                raise EwsError("ErrorFolderNotFound")
            return mb, mb["folders"][fid]
        kind, email, _seq, _idx = parse_id(elem.get("Id"))
        if kind != "F":
            raise EwsError("ErrorCannotUseItemIdForFolderId", "An item id cannot be used as a folder id.")
        mb = self.mailbox(email)
        if mb is None or elem.get("Id") not in mb["folders"]:
            raise EwsError("ErrorFolderNotFound")
        check_access(mb)
        return mb, mb["folders"][elem.get("Id")]

    def subfolders(self, mb: dict, folder_id: str, deep: bool) -> list[dict]:
        out = []
        for f in mb["folders"].values():
            if f["parent"] == folder_id:
                out.append(f)
                if deep:
                    out.extend(self.subfolders(mb, f["id"], True))
        return out

    def create_folder(self, mb: dict, parent: dict, name: str, cls: str | None, kind: str) -> dict:
        fid = make_id("F", mb["email"], self.next_seq(mb))
        change = self.next_change()
        folder = {"id": fid, "parent": parent["id"], "name": name, "class": cls, "kind": kind, "distinguished": None,
                  "change": change, "created_change": change}
        mb["folders"][fid] = folder
        parent["change"] = self.next_change()
        self.touch(mb)
        return folder

    def ancestors(self, mb: dict, folder: dict) -> list[str]:
        out, f = [], folder
        while f is not None and f["parent"]:
            out.append(f["parent"])
            f = mb["folders"].get(f["parent"])
        return out

    def delete_folder(self, mb: dict, folder: dict) -> None:
        deleted = self.next_change()
        stones = mb.setdefault("folder_tombstones", {})
        for sub in [*self.subfolders(mb, folder["id"], deep=True), folder]:
            stones[sub["id"]] = [deleted, sub.get("created_change", 0), self.ancestors(mb, sub)]
            for iid in [i["id"] for i in mb["items"].values() if i["folder"] == sub["id"]]:
                del mb["items"][iid]
            mb["tombstones"].pop(sub["id"], None)
            mb["folders"].pop(sub["id"], None)
        self.touch(mb)

    def folder_items(self, mb: dict, folder_id: str) -> list[dict]:
        return [i for i in mb["items"].values() if i["folder"] == folder_id]

    # ---- items -------------------------------------------------------------------------------------------------
    def new_item(self, mb: dict, folder: dict, kind: str, *, moved_from: dict | None = None,
                 copied_from: dict | None = None) -> dict:
        """A new item in `folder`; `moved_from` / `copied_from` name the item it replaces or copies, so that
        notifications report a MovedEvent / CopiedEvent instead of a CreatedEvent."""
        seq = self.next_seq(mb)
        change = self.next_change()
        ts = now_iso()
        item = {"id": make_id("I", mb["email"], seq), "seq": seq, "folder": folder["id"], "kind": kind,
                "fields": {}, "ext": {}, "created": ts, "modified": ts, "change": change, "created_change": change,
                "content_change": change,
                "field_changes": {}, "exceptions": {}, "deleted_occ": [], "updates": 0}
        mb["items"][item["id"]] = item
        self.touch(mb)
        origin = moved_from or copied_from
        if origin is not None:
            self._emit(mb, "MovedEvent" if moved_from else "CopiedEvent", item, old=origin)
        else:
            self._emit(mb, "CreatedEvent", item)
            if kind == "Message" and folder.get("distinguished") == "inbox":
                self._emit(mb, "NewMailEvent", item)
        return item

    def remove_item(self, mb: dict, item: dict, *, moved: bool = False) -> None:
        """Delete an item (a tombstone for sync); `moved` when it lives on as a new item elsewhere (new_item with
        moved_from reports that move)."""
        mb["items"].pop(item["id"], None)
        mb["tombstones"].setdefault(item["folder"], {})[item["id"]] = [self.next_change(), item["created_change"]]
        self.touch(mb)
        if not moved:
            self._emit(mb, "DeletedEvent", item)

    def item_modified(self, mb: dict, item: dict) -> None:
        """Call after changing an item in place (its fields, an occurrence, its change number)."""
        self.touch(mb)
        self._emit(mb, "ModifiedEvent", item)

    def _emit(self, mb: dict, kind: str, item: dict, old: dict | None = None) -> None:
        if self.on_item_event is None:
            return
        parent = mb["folders"].get(item["folder"], {"id": item["folder"], "change": 0})
        ids = {"item_id": item["id"], "change_key": make_change_key(item["change"]), "parent_id": parent["id"],
               "parent_change_key": make_change_key(parent["change"], folder=True)}
        if old is not None:
            old_parent = mb["folders"].get(old["folder"], {"id": old["folder"], "change": 0})
            ids |= {"old_item_id": old["id"], "old_change_key": make_change_key(old["change"]),
                    "old_parent_id": old_parent["id"],
                    "old_parent_change_key": make_change_key(old_parent["change"], folder=True)}
        self.on_item_event(mb["email"], kind, **ids)

    def change_key(self, item: dict) -> str:
        return make_change_key(item["change"])


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _inflate(rec: dict) -> None:
    rec["fields"] = {k: etree.fromstring(v) for k, v in rec["fields"].items()}
    rec["ext"] = {k: etree.fromstring(v) for k, v in rec["ext"].items()}


def _deflate(rec: dict) -> dict:
    out = dict(rec)
    out["fields"] = {k: etree.tostring(v, encoding="unicode") for k, v in rec["fields"].items()}
    out["ext"] = {k: etree.tostring(v, encoding="unicode") for k, v in rec["ext"].items()}
    return out


def _deflate_mailbox(mb: dict) -> dict:
    out = dict(mb)
    items = {}
    for iid, item in mb["items"].items():
        d = _deflate(item)
        d["exceptions"] = {k: _deflate(v) for k, v in item.get("exceptions", {}).items()}
        items[iid] = d
    out["items"] = items
    return out

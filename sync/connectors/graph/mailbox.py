"""One Exchange Online mailbox through Microsoft Graph: its contact folder, its default To Do list, the connection
check, and the per-object sides (`GraphMailbox.side`)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from sync.connectors.base import CallCounter, GraphSettings, NeedsAttention, ObjectOptions
from sync.connectors.exchange import ContactsFolders
from sync.connectors.graph.errors import NotFound
from sync.connectors.graph.side import GraphSide
from sync.connectors.graph.transport import GraphTransport
from sync.engine.records import SyncObject

log = logging.getLogger(__name__)


class GraphMailbox(ContactsFolders, GraphTransport):
    """One Exchange Online mailbox through Microsoft Graph; hands out side connectors and counts Graph requests."""

    protocol = "graph"
    # A series master is read and written as one item (ObjectOptions.series_as_series; see graph.series).
    supports_series = True
    reached_how = "through Microsoft Graph"

    def __init__(self, settings: GraphSettings, mailbox: str, *, calls: CallCounter | None = None,
                 time_zone: str = ""):
        super().__init__(settings, calls=calls)
        self.mailbox = mailbox.strip().lower()
        self.time_zone = time_zone or ""  # the owner's zone (IANA; blank: UTC): all-day events' midnights
        self.user_path = f"/users/{quote(self.mailbox, safe='@.')}"

    # ---- folders ---------------------------------------------------------------------------------------------------
    def find_contacts_folder(self, name: str) -> str | None:
        """The id of the contact folder called `name` (one request), or None."""
        escaped = name.replace("'", "''")
        answer = self.send("GET", f"{self.user_path}/contactFolders", "contactFolders",
                           params={"$filter": f"displayName eq '{escaped}'", "$select": "id,displayName"})
        for folder in (answer.body or {}).get("value", []):
            if str(folder.get("displayName", "")).casefold() == name.casefold():
                return str(folder["id"])
        return None

    def ensure_contacts_folder(self, name: str) -> bool:
        """Create the contact folder `name` unless it exists; True if it was created."""
        try:
            return super().ensure_contacts_folder(name)
        except NotFound as e:
            raise NeedsAttention("mailbox_not_found", str(e),
                                 "check the user's e-mail address and that the mailbox is in Exchange Online") from None

    def create_contacts_folder(self, name: str) -> str:
        answer = self.send("POST", f"{self.user_path}/contactFolders", "contactFolders", body={"displayName": name})
        log.info("created contact folder %r in %s", name, self.mailbox)
        return str(answer.body["id"])

    def default_task_list(self) -> str:
        """The id of the user's default To Do list (wellknownListName defaultList)."""
        for page in self.pages(f"{self.user_path}/todo/lists", "todo/lists"):
            for task_list in page.get("value", []):
                if task_list.get("wellknownListName") == "defaultList":
                    return str(task_list["id"])
        raise NeedsAttention("task_list_missing", f"{self.mailbox} has no default To Do list",
                             "open Microsoft To Do once for this user so that the default list exists")

    def check(self, contacts_folder: str = "Salesforce_Sync") -> dict[str, Any]:
        """Whether the mailbox is reachable with the app's token and has the contacts folder (raises like any call)."""
        try:
            folder_id = self.find_contacts_folder(contacts_folder)
        except NotFound as e:
            raise NeedsAttention("mailbox_not_found", str(e),
                                 "check the user's e-mail address and that the mailbox is in Exchange Online") from None
        return {"ok": True, "mailbox": self.mailbox, "contacts_folder": contacts_folder,
                "contacts_folder_present": folder_id is not None}

    def side(self, object_type: SyncObject | str, options: ObjectOptions | None = None, *,
             create_folder: bool = True) -> GraphSide:
        return GraphSide(self, SyncObject(object_type), options or ObjectOptions(), create_folder=create_folder)

"""One mailbox over EWS, reached by impersonation: the exchangelib account, its folders, the connection check,
and the per-object sides (`EwsMailbox.side`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import requests
from exchangelib import IMPERSONATION, Account, EWSTimeZone, Q
from exchangelib.errors import EWSError, TransportError
from exchangelib.folders import Contacts, DistinguishedFolderId, Folder, FolderCollection, Root
from exchangelib.folders.base import BaseFolder
from exchangelib.properties import Mailbox
from exchangelib.services import CreateFolder

from sync.connectors.base import CallCounter, EwsSettings, ObjectOptions, PermanentError
from sync.connectors.ews.errors import PASSTHROUGH, classify
from sync.connectors.ews.properties import register_salesforce_id
from sync.connectors.ews.side import EwsSide
from sync.connectors.ews.transport import RETRY_WAIT_SECONDS, build_configuration, retry_budget
from sync.connectors.exchange import ContactsFolders, counting
from sync.engine.records import SyncObject


class EwsMailbox(ContactsFolders):
    """One mailbox reached by impersonation; hands out the per-object side connectors and counts EWS calls."""

    protocol = "ews"
    supports_series = True  # a recurring series can be read and written as one item
    reached_how = "by impersonation over EWS"

    def __init__(self, settings: EwsSettings, mailbox: str, *, calls: CallCounter | None = None,
                 time_zone: str = "", streams: bool = False):
        register_salesforce_id()
        self.settings = settings
        self.streams = streams  # reached for GetStreamingEvents connections (see transport.build_configuration)
        self.mailbox = mailbox.strip().lower()
        # The owner's zone (IANA; blank: UTC): all-day events are written midnight to midnight there (see
        # convert.model_kwargs). The account itself stays in UTC: every other date-time is written as an instant.
        self.time_zone = time_zone or ""
        self.calls = calls if calls is not None else CallCounter()
        self._account: Account | None = None
        self._root: Root | None = None

    # ---- exchangelib plumbing --------------------------------------------------------------------------------------
    @property
    def account(self) -> Account:
        if self._account is None:
            account = Account(primary_smtp_address=self.mailbox,
                              config=build_configuration(self.settings, streams=self.streams), autodiscover=False,
                              access_type=IMPERSONATION, default_timezone=EWSTimeZone("UTC"))
            account.protocol.TIMEOUT = self.settings.timeout_seconds
            account.protocol.RETRY_WAIT = RETRY_WAIT_SECONDS
            self._account = account
        return self._account

    @contextlib.contextmanager
    def ews(self, keep: tuple[type[Exception], ...] = ()) -> Iterator[None]:
        """Count the EWS calls made inside, and turn exchangelib's errors (but `keep`) into the connector's."""
        with counting(self.calls), retry_budget():
            try:
                yield
            except PASSTHROUGH:
                raise
            except keep:
                raise
            except (EWSError, TransportError, requests.exceptions.RequestException) as e:
                raise classify(e) from e

    def distinguished(self, name: str, cls: type[BaseFolder] = Folder) -> BaseFolder:
        """A folder object for a distinguished folder, without a GetFolder round trip."""
        if self._root is None:
            self._root = Root(account=self.account, _distinguished_id=DistinguishedFolderId(
                id="msgfolderroot", mailbox=Mailbox(email_address=self.mailbox)))
        return cls(root=self._root, _distinguished_id=DistinguishedFolderId(
            id=name, mailbox=Mailbox(email_address=self.mailbox)))

    def folder_by_id(self, folder_id: str, cls: type[BaseFolder] = Folder) -> BaseFolder:
        self.distinguished("msgfolderroot")  # ensures the root
        return cls(root=self._root, id=folder_id)

    # ---- folders ---------------------------------------------------------------------------------------------------
    def find_contacts_folder(self, name: str) -> str | None:
        """The id of the contacts subfolder called `name` (one FindFolder), or None."""
        parent = self.distinguished("contacts", Contacts)
        with self.ews():
            found = list(FolderCollection(account=self.account, folders=[parent]).find_folders(
                q=Q(name=name), depth="Shallow"))
        for folder in found:
            if isinstance(folder, Exception):
                raise classify(folder)
            if (folder.name or "").casefold() == name.casefold():
                return folder.id
        return None

    def create_contacts_folder(self, name: str) -> str:
        parent = self.distinguished("contacts", Contacts)
        with self.ews():
            result = list(CreateFolder(account=self.account).call(
                parent_folder=parent, folders=[Contacts(root=parent.root, name=name, folder_class="IPF.Contact")]))
        if not result or isinstance(result[0], Exception):
            raise classify(result[0]) if result else PermanentError("ErrorFolderSave", "no folder created")
        return result[0].id

    def check(self, contacts_folder: str = "Salesforce_Sync") -> dict[str, Any]:
        """Whether the mailbox is reachable by impersonation and has the contacts folder (raises like any call)."""
        folder_id = self.find_contacts_folder(contacts_folder)
        return {"ok": True, "mailbox": self.mailbox, "contacts_folder": contacts_folder,
                "contacts_folder_present": folder_id is not None}

    def side(self, object_type: SyncObject | str, options: ObjectOptions | None = None, *,
             create_folder: bool = True) -> EwsSide:
        return EwsSide(self, SyncObject(object_type), options or ObjectOptions(), create_folder=create_folder)

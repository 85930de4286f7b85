"""Folder details as Exchange has them (issue 17 item 8): a generic folder made without a class has none, typed
folders keep their class, UpdateFolder takes what Exchange takes and refuses read-only properties with Exchange's
errors, and the mailbox answers each well-known folder name as Exchange 2016 does."""

import pytest
import requests
from exchangelib import ExtendedProperty
from exchangelib.errors import (
    ErrorFolderNotFound,
    ErrorInvalidOperation,
        ErrorObjectTypeChanged,
)
from exchangelib.folders import Contacts, DistinguishedFolderId, Folder, FolderCollection, Tasks
from exchangelib.properties import Mailbox
from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
ENVELOPE = """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
    xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
  <s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>
  <s:Body>{body}</s:Body>
</s:Envelope>"""


def _post(sandbox, mailbox, body: str):
    r = requests.post(sandbox.ews_endpoint, data=ENVELOPE.format(body=body).encode(), auth=(mailbox, "sandbox"),
                      headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)
    assert r.status_code == 200, r.text[:400]
    return etree.fromstring(r.content)


def _codes(root) -> list[str]:
    return [rc.text for rc in root.iter(f"{{{M}}}ResponseCode")]


def _update(folder_id: str, update: str) -> str:
    return f"""<m:UpdateFolder><m:FolderChanges><t:FolderChange><t:FolderId Id="{folder_id}"/>
        <t:Updates>{update}</t:Updates></t:FolderChange></m:FolderChanges></m:UpdateFolder>"""


class FolderStamp(ExtendedProperty):
    property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
    property_name = "EmuStrictStamp"
    property_type = "String"


def test_generic_folder_without_class_reads_back_without_one(account, sandbox, mailbox):
    plain = Folder(parent=account.inbox, name="Plain")
    plain.save()
    root = _post(sandbox, mailbox, f"""<m:GetFolder><m:FolderShape><t:BaseShape>AllProperties</t:BaseShape>
        </m:FolderShape><m:FolderIds><t:FolderId Id="{plain.id}"/></m:FolderIds></m:GetFolder>""")
    folder = root.find(f".//{{{M}}}Folders/{{{T}}}Folder")
    assert folder is not None and folder.find(f"{{{T}}}FolderClass") is None
    assert (account.inbox / "Plain").folder_class is None
    # A generic folder given a typed class becomes that type, subclasses included (Exchange picks the strong type).
    custom = Folder(parent=account.inbox, name="Custom contacts", folder_class="IPF.Contact.Custom")
    custom.save()
    root = _post(sandbox, mailbox, f"""<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape>
        </m:FolderShape><m:FolderIds><t:FolderId Id="{custom.id}"/></m:FolderIds></m:GetFolder>""")
    assert root.find(f".//{{{M}}}Folders/{{{T}}}ContactsFolder") is not None


def test_typed_folder_refuses_a_class(account, sandbox, mailbox):
    Contacts(parent=account.contacts, name="Implied").save()  # exchangelib sends a generic t:Folder with the class
    assert (account.contacts / "Implied").folder_class == "IPF.Contact"
    root = _post(sandbox, mailbox, """<m:CreateFolder><m:ParentFolderId><t:DistinguishedFolderId Id="contacts"/>
        </m:ParentFolderId><m:Folders><t:ContactsFolder><t:FolderClass>IPF.Contact</t:FolderClass>
        <t:DisplayName>Typed</t:DisplayName></t:ContactsFolder></m:Folders></m:CreateFolder>""")
    assert _codes(root) == ["ErrorNoFolderClassOverride"]
    with pytest.raises(ErrorFolderNotFound):
        account.contacts / "Typed"


def test_update_folder_takes_what_exchange_takes(account):
    Folder.register("stamp", FolderStamp)
    try:
        folder = Tasks(parent=account.tasks, name="Project")
        folder.save()
        folder.name, folder.stamp = "Project renamed", "s-1"
        folder.save(update_fields=["name", "stamp"])
        again = account.tasks / "Project renamed"
        assert again.stamp == "s-1" and again.folder_class == "IPF.Task"
        folder.folder_class = "IPF.Contact"
        with pytest.raises(ErrorObjectTypeChanged):
            folder.save(update_fields=["folder_class"])
        folder.stamp = None
        folder.save(update_fields=["stamp"])  # a None value is sent as DeleteFolderField
        assert (account.tasks / "Project renamed").stamp is None
    finally:
        Folder.deregister("stamp")


def test_update_folder_refuses_read_only_and_undeletable(account, sandbox, mailbox):
    folder = Folder(parent=account.inbox, name="Fixed")
    folder.save()
    read_only = _post(sandbox, mailbox, _update(folder.id, """<t:SetFolderField>
        <t:FieldURI FieldURI="folder:TotalCount"/><t:Folder><t:TotalCount>5</t:TotalCount></t:Folder>
        </t:SetFolderField>"""))
    assert _codes(read_only) == ["ErrorInvalidPropertySet"]
    undeletable = _post(sandbox, mailbox, _update(folder.id, """<t:DeleteFolderField>
        <t:FieldURI FieldURI="folder:DisplayName"/></t:DeleteFolderField>"""))
    assert _codes(undeletable) == ["ErrorInvalidPropertyDelete"]
    retention = _post(sandbox, mailbox, _update(folder.id, """<t:SetFolderField>
        <t:FieldURI FieldURI="folder:PolicyTag"/><t:Folder>
        <t:PolicyTag IsExplicit="true">c6c9e3ba-7ad5-4bfc-8e4b-d1e3e4d3e9a1</t:PolicyTag></t:Folder>
        </t:SetFolderField>"""))
    assert _codes(retention) == ["ErrorInvalidOperation"]
    assert (account.inbox / "Fixed").name == "Fixed"


def test_well_known_folder_names_answer_as_exchange_2016(account, mailbox):
    def get(name):
        folders = [Folder(root=account.root, _distinguished_id=DistinguishedFolderId(
            id=name, mailbox=Mailbox(email_address=mailbox)))]
        return next(iter(FolderCollection(account=account, folders=folders).resolve()))

    assert get("quickcontacts").folder_class == "IPF.Contact.MOC.QuickContacts"
    assert get("recoverableitemsdiscoveryholds").name == "DiscoveryHolds"
    assert isinstance(get("voicemail"), ErrorFolderNotFound)  # known name, no Unified Messaging here
    assert isinstance(get("archiveinbox"), ErrorFolderNotFound)  # known name, no archive mailbox
    unknown = get("directory")  # an Exchange Online name
    assert isinstance(unknown, ErrorInvalidOperation) and "unrecognized" in str(unknown)
    # exchangelib's own walk over the well-known folders copes with every answer.
    names = {f.name for f in account.root.walk()}
    assert {"Inbox", "Contacts", "Calendar", "DiscoveryHolds"} <= names

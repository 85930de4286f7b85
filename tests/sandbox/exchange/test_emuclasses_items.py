"""Items of other classes in contacts folders and calendars, through unchanged exchangelib (issue 17, item 7).

Real contacts folders hold distribution lists beside contacts, and folders can hold generic items of any message
class. Microsoft's reference lists `Item` and `DistributionList` among the items CreateItem creates ("Items
(CreateItem)") and SyncFolderItems reports ("Create (ItemSync)"); a meeting request comes back as `MeetingRequest`.
"""

import requests
from exchangelib import Contact, EWSDateTime, EWSTimeZone, Mailbox
from exchangelib.folders import Contacts
from exchangelib.items import DistributionList, Item, MeetingRequest
from exchangelib.properties import Member


def _folder(account):
    folder = Contacts(parent=account.contacts, name="Salesforce_Sync")
    folder.save()
    return folder


def test_a_distribution_list_lives_beside_contacts(account):
    folder = _folder(account)
    Contact(folder=folder, given_name="Ada", surname="Lovelace", display_name="Ada Lovelace").save()
    team = DistributionList(folder=folder, display_name="Sales team",
                            members=[Member(mailbox=Mailbox(email_address="ada@example.com", name="Ada"))])
    team.save()

    got = folder.get(id=team.id)
    assert isinstance(got, DistributionList)
    assert got.display_name == "Sales team" and got.file_as == "Sales team" and got.subject == "Sales team"
    assert got.item_class == "IPM.DistList"
    assert [m.mailbox.email_address for m in got.members] == ["ada@example.com"]

    everything = list(folder.all())
    assert sorted(type(i).__name__ for i in everything) == ["Contact", "DistributionList"]
    assert folder.filter(item_class="IPM.DistList").count() == 1

    created = [item for kind, item in folder.sync_items(sync_state=None) if kind == "create"]
    assert sorted(type(i).__name__ for i in created) == ["Contact", "DistributionList"]

    got.display_name = "Sales team EMEA"
    got.save(update_fields=["display_name"])
    assert folder.get(id=team.id).display_name == "Sales team EMEA"
    got.delete()
    assert [type(i).__name__ for i in folder.all()] == ["Contact"]


def _create_raw(sandbox, mailbox, folder: str, item_class: str, subject: str) -> None:
    """CreateItem of a generic item with a message class (exchangelib sends no ItemClass: it is read-only there)."""
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
  <soap:Header><t:RequestServerVersion Version="Exchange2016"/></soap:Header>
  <soap:Body><m:CreateItem MessageDisposition="SaveOnly">
    <m:SavedItemFolderId><t:DistinguishedFolderId Id="{folder}"/></m:SavedItemFolderId>
    <m:Items><t:Item><t:ItemClass>{item_class}</t:ItemClass><t:Subject>{subject}</t:Subject></t:Item></m:Items>
  </m:CreateItem></soap:Body></soap:Envelope>"""
    response = requests.post(sandbox.ews_endpoint, data=body.encode(), auth=(mailbox, "sandbox"), timeout=30,
                             headers={"Content-Type": "text/xml; charset=utf-8"})
    assert response.status_code == 200 and b'ResponseClass="Success"' in response.content, response.text


def test_generic_items_of_any_class_are_stored_and_served(sandbox, mailbox, account):
    folder = _folder(account)
    note = Item(folder=folder, subject="A note kept with the contacts")
    note.save()
    got = folder.get(id=note.id)
    assert type(got) is Item and got.item_class == "IPM" and got.subject == note.subject

    _create_raw(sandbox, mailbox, "calendar", "IPM.Schedule.Meeting.Request", "Quarterly review")
    assert [type(i) for i in account.calendar.all()] == [MeetingRequest]
    start = EWSDateTime(2020, 1, 1, tzinfo=EWSTimeZone("UTC"))
    assert list(account.calendar.view(start=start, end=start.replace(year=2021))) == []  # calendar items only
    created = [item for kind, item in account.calendar.sync_items(sync_state=None) if kind == "create"]
    assert [type(i).__name__ for i in created] == ["MeetingRequest"]

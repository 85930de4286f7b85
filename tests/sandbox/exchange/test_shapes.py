"""Base shapes other clients use (Default, AllProperties), checked on raw answers; every answer is schema-validated
by the conftest, so AllProperties of each item kind exercises every computed property against the schema."""

import datetime

import pytest
import requests
from exchangelib import CalendarItem, Contact, EWSDateTime, EWSTimeZone, Message, Task
from exchangelib.items import SEND_TO_NONE
from exchangelib.properties import Attendee, Mailbox
from exchangelib.recurrence import Recurrence, WeeklyPattern
from lxml import etree

UTC = EWSTimeZone("UTC")
T = "http://schemas.microsoft.com/exchange/services/2006/types"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"

ENVELOPE = """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
    xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
  <s:Header><t:RequestServerVersion Version="Exchange2016"/>
    <t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{mailbox}</t:PrimarySmtpAddress>
    </t:ConnectingSID></t:ExchangeImpersonation></s:Header>
  <s:Body>{body}</s:Body>
</s:Envelope>"""


@pytest.fixture
def soap(sandbox, mailbox):
    def _soap(body: str):
        r = requests.post(sandbox.ews_endpoint, data=ENVELOPE.format(mailbox=mailbox, body=body).encode(),
                          auth=("sync-service@sandbox.test", "sandbox"), timeout=30,
                          headers={"Content-Type": "text/xml; charset=utf-8"})
        assert r.status_code == 200, r.text[:500]
        return etree.fromstring(r.content)

    return _soap


def get_item(soap, item_id, shape):
    root = soap(f"<m:GetItem><m:ItemShape><t:BaseShape>{shape}</t:BaseShape></m:ItemShape>"
                f'<m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds></m:GetItem>')
    items = root.find(f".//{{{M}}}Items")
    assert items is not None and len(items) == 1
    return {etree.QName(c).localname for c in items[0]}, items[0]


def test_shapes_for_every_item_kind(account, soap):
    contact = Contact(folder=account.contacts, display_name="Shape Contact", given_name="Shape", surname="Contact",
                      body="hidden in default", company_name="Shapes Ltd")
    contact.save()
    names, _ = get_item(soap, contact.id, "Default")
    assert {"ItemId", "DisplayName", "GivenName", "CompanyName"} <= names and "Body" not in names
    names, _ = get_item(soap, contact.id, "AllProperties")
    assert {"Body", "CompleteName", "EffectiveRights", "LastModifiedTime", "DateTimeCreated", "ItemClass"} <= names
    names, _ = get_item(soap, contact.id, "IdOnly")
    assert names == {"ItemId"}
    start = EWSDateTime(2025, 2, 3, 9, tzinfo=UTC)
    master = CalendarItem(folder=account.calendar, subject="Shape series", start=start,
                          end=start + datetime.timedelta(hours=1),
                          required_attendees=[Attendee(mailbox=Mailbox(email_address="a@x.test"),
                                                       response_type="Accept")],
                          recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1]),
                                                start=start.date(), number=4))
    master.save(send_meeting_invitations=SEND_TO_NONE)
    occurrences = list(account.calendar.view(start=start, end=start + datetime.timedelta(days=30)))
    occurrences[1].subject = "Changed one"
    occurrences[1].save(update_fields=["subject"], send_meeting_invitations=SEND_TO_NONE)
    occurrences[2].delete(send_meeting_cancellations=SEND_TO_NONE)
    names, el = get_item(soap, master.id, "AllProperties")
    assert {"Recurrence", "FirstOccurrence", "LastOccurrence", "ModifiedOccurrences", "DeletedOccurrences",
            "Organizer", "RequiredAttendees", "UID", "Duration"} <= names
    assert el.find(f"{{{T}}}CalendarItemType").text == "RecurringMaster"
    names, el = get_item(soap, occurrences[1].id, "AllProperties")
    assert el.find(f"{{{T}}}CalendarItemType").text == "Exception" and "Recurrence" not in names
    names, el = get_item(soap, occurrences[0].id, "Default")
    assert el.find(f"{{{T}}}CalendarItemType").text == "Occurrence"
    task = Task(folder=account.tasks, subject="Shape task", status="Completed")
    task.save()
    names, el = get_item(soap, task.id, "AllProperties")
    assert {"Status", "PercentComplete", "IsComplete", "CompleteDate", "StatusDescription"} <= names
    message = Message(folder=account.inbox, subject="Shape message", body="Body")
    message.save()
    names, _ = get_item(soap, message.id, "AllProperties")
    assert {"Subject", "Body", "IsRead", "ItemClass"} <= names


def test_find_item_all_properties_and_calendar_view(account, soap):
    start = EWSDateTime(2025, 5, 5, 9, tzinfo=UTC)
    CalendarItem(folder=account.calendar, subject="Single", start=start,
                 end=start + datetime.timedelta(hours=1)).save(send_meeting_invitations=SEND_TO_NONE)
    root = soap('<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape>'
                '</m:ItemShape><m:CalendarView StartDate="2025-05-01T00:00:00Z" EndDate="2025-05-31T00:00:00Z"/>'
                '<m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>')
    items = root.find(f".//{{{T}}}Items")
    assert [i.find(f"{{{T}}}Subject").text for i in items] == ["Single"]
    assert root.find(f".//{{{M}}}RootFolder").get("TotalItemsInView") == "1"
    root = soap('<m:FindFolder Traversal="Deep"><m:FolderShape><t:BaseShape>AllProperties</t:BaseShape>'
                '</m:FolderShape><m:ParentFolderIds><t:DistinguishedFolderId Id="root"/></m:ParentFolderIds>'
                "</m:FindFolder>")
    assert int(root.find(f".//{{{M}}}RootFolder").get("TotalItemsInView")) >= 23


def test_calendar_view_needs_a_calendar_folder(soap):
    root = soap('<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>'
                '<m:CalendarView StartDate="2025-05-01T00:00:00Z" EndDate="2025-05-31T00:00:00Z"/>'
                '<m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds></m:FindItem>')
    assert root.find(f".//{{{M}}}ResponseCode").text == "ErrorCalendarFolderIsInvalidForCalendarView"
    root = soap('<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>'
                '<t:FolderId Id="AAMkSQAAAAAAAABlAAAAAHRlc3RlcjFAc2FuZGJveC50ZXN0"/></m:FolderIds></m:GetFolder>')
    assert root.find(f".//{{{M}}}ResponseCode").text == "ErrorCannotUseItemIdForFolderId"


def test_bad_property_path_fails_every_message(soap):
    root = soap('<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>'
                '<t:AdditionalProperties><t:ExtendedFieldURI PropertySetId="c11ff724-aa03-4555-9952-8fa248a11c3e" '
                'PropertyType="String"/>'
                '</t:AdditionalProperties></m:ItemShape><m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/>'
                '<t:DistinguishedFolderId Id="tasks"/></m:ParentFolderIds></m:FindItem>')
    codes = [rm.find(f"{{{M}}}ResponseCode").text for rm in root.find(f".//{{{M}}}ResponseMessages")]
    assert codes == ["ErrorInvalidExtendedProperty"] * 2


def test_property_tags_in_decimal_and_hex_are_one_property(soap):
    root = soap('<m:CreateItem><m:Items><t:Contact><t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="00014925" '
                'PropertyType="Short"/><t:Value>7</t:Value></t:ExtendedProperty><t:DisplayName>Tagged</t:DisplayName>'
                "</t:Contact></m:Items></m:CreateItem>")
    item_id = root.find(f".//{{{T}}}ItemId").get("Id")
    got = soap('<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>'
               '<t:ExtendedFieldURI PropertyTag="0x3A4D" PropertyType="Short"/></t:AdditionalProperties>'
               f'</m:ItemShape><m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds></m:GetItem>')
    assert got.find(f".//{{{T}}}ExtendedProperty/{{{T}}}Value").text == "7"
    # The answer spells the path the way the request did.
    assert got.find(f".//{{{T}}}ExtendedProperty/{{{T}}}ExtendedFieldURI").get("PropertyTag") == "0x3A4D"

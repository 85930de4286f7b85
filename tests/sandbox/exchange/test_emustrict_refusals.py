"""Never silently ignore (issue 17 item 9, EWS): FindItem's QueryString is searched the way the QueryString reference
documents (AQS over subject, body and names), and each schema-valid part of a request the emulator does not implement
is refused with ErrorInvalidOperation instead of being answered as if done."""

from datetime import datetime, timedelta

import pytest
import requests
from exchangelib import EWSDateTime, EWSTimeZone
from exchangelib.errors import ErrorInvalidOperation
from exchangelib.items import CalendarItem, Contact, Task
from exchangelib.properties import Attendee, Mailbox
from lxml import etree

M = "http://schemas.microsoft.com/exchange/services/2006/messages"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
ERRORS = "http://schemas.microsoft.com/exchange/services/2006/errors"
ENVELOPE = """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
    xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
  <s:Header><t:RequestServerVersion Version="Exchange2016"/>{header}</s:Header>
  <s:Body>{body}</s:Body>
</s:Envelope>"""
FIND = """<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>{shape}</m:ItemShape>
  {before}<m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds>{after}</m:FindItem>"""


def _post(sandbox, mailbox, body: str, header: str = ""):
    return requests.post(sandbox.ews_endpoint, data=ENVELOPE.format(header=header, body=body).encode(),
                         auth=(mailbox, "sandbox"), headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)


def _answer(response) -> tuple[str, str]:
    root = etree.fromstring(response.content)
    if response.status_code == 500:
        return "fault", root.find(f".//{{{ERRORS}}}ResponseCode").text
    return "message", root.find(f".//{{{M}}}ResponseCode").text


@pytest.fixture
def people(account):
    folder = account.contacts
    Contact(folder=folder, given_name="Jane", surname="Roe", display_name="Jane Roe", company_name="Initech",
            body="Met at the budget review in Lyon.").save()
    Contact(folder=folder, given_name="John", surname="Smith", display_name="John Smith",
            company_name="Acme Corporation").save()
    Contact(folder=folder, given_name="Ann", surname="Lee", display_name="Ann Lee", company_name="Acme Windows").save()
    return folder


def _names(qs) -> list[str]:
    return sorted(c.display_name for c in qs)


def test_query_string_searches_words_by_prefix(people):
    assert _names(people.filter("roe")) == ["Jane Roe"]  # a name
    assert _names(people.filter("acm")) == ["Ann Lee", "John Smith"]  # a prefix of the company's word
    assert _names(people.filter("budget lyon")) == ["Jane Roe"]  # both words, in the body
    assert _names(people.filter("body:budget")) == ["Jane Roe"]
    assert _names(people.filter("subject:budget")) == []  # the body's words are not the subject's
    assert _names(people.filter("smith OR lee")) == ["Ann Lee", "John Smith"]
    assert _names(people.filter("acme NOT windows")) == ["John Smith"]
    assert _names(people.filter("kind:contacts")) == ["Ann Lee", "Jane Roe", "John Smith"]
    assert _names(people.filter("nobody")) == []


def test_query_string_quotes_match_whole_words_in_order(people):
    assert _names(people.filter('"acme corporation"')) == ["John Smith"]
    assert _names(people.filter('"acm corp"')) == []  # quoted words are whole words
    assert _names(people.filter('"acm corp"*')) == ["John Smith"]  # "..."* makes them ordered prefixes
    assert _names(people.filter('"corporation acme"')) == []  # in order


def test_query_string_on_calendar_and_tasks(account):
    tz = EWSTimeZone("UTC")
    start = EWSDateTime.from_datetime(datetime(2026, 3, 2, 9, tzinfo=tz))
    CalendarItem(folder=account.calendar, subject="Budget review", start=start, end=start + timedelta(hours=1),
                 location="Room 4").save()
    CalendarItem(folder=account.calendar, subject="Team lunch", start=start, end=start + timedelta(hours=1)).save()
    Task(folder=account.tasks, subject="Prepare budget").save()
    assert [i.subject for i in account.calendar.filter('subject:"budget review"')] == ["Budget review"]
    assert [i.subject for i in account.calendar.filter("subject:(review budget)")] == ["Budget review"]
    assert [i.subject for i in account.tasks.filter("budget")] == ["Prepare budget"]


def test_query_string_parts_not_implemented_are_refused(people):
    with pytest.raises(ErrorInvalidOperation, match="last"):
        list(people.filter("received:last week"))
    with pytest.raises(ErrorInvalidOperation, match="foo"):
        list(people.filter("foo:bar"))


@pytest.mark.parametrize("shape,before,after,code", [
    ("", "", '<m:QueryString ReturnHighlightTerms="true">roe</m:QueryString>', "ErrorInvalidOperation"),
    ("", """<m:Restriction><t:Exists><t:FieldURI FieldURI="item:Subject"/></t:Exists></m:Restriction>""",
     "<m:QueryString>roe</m:QueryString>", "ErrorInvalidOperation"),
    ("", """<m:DistinguishedGroupBy Order="Ascending"><t:StandardGroupBy>ConversationTopic</t:StandardGroupBy>
     </m:DistinguishedGroupBy>""", "", "ErrorInvalidOperation"),
    ("<t:IncludeMimeContent>true</t:IncludeMimeContent>", "", "", "ErrorInvalidOperation"),
    ("<t:BodyType>Text</t:BodyType>", "", "", "ErrorInvalidOperation"),
])
def test_find_item_parts_not_implemented_are_refused(sandbox, mailbox, shape, before, after, code):
    r = _post(sandbox, mailbox, FIND.format(shape=shape, before=before, after=after))
    assert _answer(r) == ("message", code), r.text[:600]
    assert b"sandbox does not implement" in r.content or b"QueryString cannot" in r.content


def test_header_parts_not_implemented_are_refused(sandbox, mailbox):
    body = FIND.format(shape="", before="", after="")
    assert _answer(_post(sandbox, mailbox, body)) == ("message", "NoError")
    unknown_zone = '<t:TimeZoneContext><t:TimeZoneDefinition Id="Atlantis Standard Time"/></t:TimeZoneContext>'
    assert _answer(_post(sandbox, mailbox, body, unknown_zone)) == ("fault", "ErrorTimeZone")
    ms = "<t:DateTimePrecision>Milliseconds</t:DateTimePrecision>"
    assert _answer(_post(sandbox, mailbox, body, ms)) == ("fault", "ErrorInvalidOperation")


def test_meeting_requests_to_sandbox_mailboxes_are_refused(sandbox, account, mailbox):
    other = sandbox.hub.exchange.create_mailbox(email="emustrict-invitee@sandbox.test", display_name="Invitee")
    start = EWSDateTime.from_datetime(datetime(2026, 3, 3, 9, tzinfo=EWSTimeZone("UTC")))
    meeting = CalendarItem(folder=account.calendar, subject="Planning", start=start, end=start + timedelta(hours=1),
                           required_attendees=[Attendee(mailbox=Mailbox(email_address=other))])
    with pytest.raises(ErrorInvalidOperation, match="delivers no mail"):
        meeting.save(send_meeting_invitations="SendToAllAndSaveCopy")
    # Outside addresses leave the organisation unseen: the organizer's copy is saved, as Exchange does.
    outside = CalendarItem(folder=account.calendar, subject="Vendor call", start=start,
                           end=start + timedelta(hours=1),
                           required_attendees=[Attendee(mailbox=Mailbox(email_address="buyer@client.test"))])
    outside.save(send_meeting_invitations="SendToAllAndSaveCopy")
    meeting.save(send_meeting_invitations="SendToNone")
    assert sorted(i.subject for i in account.calendar.all()) == ["Planning", "Vendor call"]

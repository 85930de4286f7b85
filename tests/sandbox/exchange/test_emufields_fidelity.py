"""Issue 17, items 1-5: the EWS emulator adjusts and matches values as Exchange does, through unchanged exchangelib
(raw SOAP only where exchangelib cannot say it: a "1"/"0" constant).

1. all-day events are stored from local midnight to local midnight in the item's time zone ("Create all-day events
   by using EWS in Exchange", Microsoft Learn);
2. a CalendarView returns an item ending exactly at its StartDate, never one starting at its EndDate (the
   CalendarView element reference: refs/ews/msdocs/calendarview.md);
3. a Subject is cut to 255 characters, an over-long given/middle/surname is refused with ErrorPropertyUpdate, any
   other text (BusinessHomePage included) keeps its 4,000 characters (exchangelib's test_text_field_settings, run
   against real servers: tests/test_items/test_basics.py @527d240; the Subject element reference);
4. a boolean restriction constant "1"/"0" matches like "true"/"false" (xs:boolean);
5. a contact's Subject or FileAs deleted with DeleteItemField stays deleted.
"""

import contextlib
import datetime

import pytest
import requests
from exchangelib import CalendarItem, Contact, EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.errors import ErrorPropertyUpdate
from exchangelib.items import SAVE_ONLY, SEND_TO_NONE
from exchangelib.services import CreateItem
from lxml import etree

from .conftest import make_account

UTC = EWSTimeZone("UTC")
PARIS = EWSTimeZone("Europe/Paris")
NEW_YORK = EWSTimeZone("America/New_York")
AUCKLAND = EWSTimeZone("Pacific/Auckland")
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"


def _stored(sandbox, mailbox, item_id):
    mb = sandbox.hub.exchange.store.mailbox(mailbox)
    return mb["items"][item_id]["fields"]


# ---- 1. all-day events ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("tz", "day"), [
    (PARIS, (2026, 3, 29)),  # the night Paris moves its clocks forward
    (NEW_YORK, (2026, 11, 1)),  # the night New York moves them back
    (AUCKLAND, (2026, 4, 5)),  # east of UTC: its midnights are the day before in UTC
])
def test_all_day_event_is_stored_from_local_midnight_to_local_midnight(sandbox, mailbox, tz, day):
    acc = make_account(sandbox, mailbox, tz=tz)
    start = EWSDateTime(*day, 10, 23, tzinfo=tz)
    end = EWSDateTime(*day, 15, 40, tzinfo=tz) + datetime.timedelta(days=1)
    item = CalendarItem(folder=acc.calendar, subject="Offsite", start=start, end=end, is_all_day=True)
    item.save(send_meeting_invitations=SEND_TO_NONE)

    got = acc.calendar.get(id=item.id)
    first = datetime.date(*day)
    # Start pushed back to the midnight before it, end forward to the midnight after it: two whole days.
    assert (got.start, got.end) == (first, first + datetime.timedelta(days=1))
    fields = _stored(sandbox, mailbox, item.id)
    local_start = EWSDateTime.from_string(fields["Start"].text).astimezone(tz)
    local_end = EWSDateTime.from_string(fields["End"].text).astimezone(tz)
    assert (local_start.date(), local_start.hour, local_start.minute) == (first, 0, 0)
    assert (local_end.date(), local_end.hour, local_end.minute) == (first + datetime.timedelta(days=2), 0, 0)


def test_an_event_made_all_day_by_an_update_is_normalised_too(sandbox, mailbox):
    acc = make_account(sandbox, mailbox, tz=PARIS)
    start = EWSDateTime(2026, 7, 14, 9, 30, tzinfo=PARIS)
    item = CalendarItem(folder=acc.calendar, subject="Parade", start=start, end=start + datetime.timedelta(hours=2))
    item.save(send_meeting_invitations=SEND_TO_NONE)
    item.is_all_day = True
    item.save(update_fields=["is_all_day"], send_meeting_invitations=SEND_TO_NONE)
    got = acc.calendar.get(id=item.id)
    assert (got.start, got.end) == (EWSDate(2026, 7, 14), EWSDate(2026, 7, 14))
    assert _stored(sandbox, mailbox, item.id)["Start"].text == "2026-07-13T22:00:00Z"


# ---- 2. CalendarView edges --------------------------------------------------------------------------------------
def test_calendar_view_returns_an_item_ending_at_its_start_and_none_starting_at_its_end(account):
    edge = EWSDateTime(2026, 5, 4, 12, tzinfo=UTC)
    hour = datetime.timedelta(hours=1)
    for subject, start in (("Ends at the view start", edge - hour), ("Inside", edge + hour),
                           ("Starts at the view end", edge + 3 * hour), ("Before", edge - 3 * hour)):
        CalendarItem(folder=account.calendar, subject=subject, start=start, end=start + hour).save(
            send_meeting_invitations=SEND_TO_NONE)
    view = account.calendar.view(start=edge, end=edge + 3 * hour)
    assert [i.subject for i in view] == ["Ends at the view start", "Inside"]


# ---- 3. text limits ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _longer(model, *names):
    """Lift exchangelib's own 255-character check on these fields, as its test_text_field_settings does to see
    what the server does with longer values."""
    fields = [model.get_field_by_fieldname(name) for name in names]
    before = [f.max_length for f in fields]
    for f in fields:
        f.max_length = 4000
    try:
        yield
    finally:
        for f, length in zip(fields, before, strict=True):
            f.max_length = length


def _create(account, folder, item):
    """CreateItem as exchangelib's service sends it: the new item's id, or its error raised."""
    (result,) = CreateItem(account=account).call(items=[item], folder=folder, message_disposition=SAVE_ONLY,
                                                 send_meeting_invitations=SEND_TO_NONE)
    if isinstance(result, Exception):
        raise result
    return result.id


def test_subject_is_cut_to_255_characters_counted_as_exchange_does(account):
    long = "Quarterly review " + "é" * 200 + "🙂" * 40  # 217 + 80 UTF-16 code units
    with _longer(CalendarItem, "subject"):
        item_id = _create(account, account.calendar, CalendarItem(
            account=account, folder=account.calendar, subject=long, start=EWSDateTime(2026, 6, 1, 9, tzinfo=UTC),
            end=EWSDateTime(2026, 6, 1, 10, tzinfo=UTC)))
    got = account.calendar.get(id=item_id)
    assert len(got.subject.encode("utf-16-le")) // 2 <= 255
    assert long.startswith(got.subject) and len(got.subject) == 217 + 19  # never half a surrogate pair


def test_over_long_names_are_refused_and_other_text_is_kept(sandbox, mailbox, account):
    contact = Contact(account=account, folder=account.contacts, display_name="Ann Lee", given_name="Ann",
                      surname="Lee")
    _create(account, account.contacts, contact)
    for name in ("given_name", "middle_name", "surname"):
        too_long = Contact(account=account, folder=account.contacts, display_name="X", **{name: "N" * 256})
        with _longer(Contact, name), pytest.raises(ErrorPropertyUpdate):
            _create(account, account.contacts, too_long)
    fits = Contact(account=account, folder=account.contacts, display_name="Y", given_name="N" * 255)
    _create(account, account.contacts, fits)
    page = "Home page with spaces: " + "x." * 1988  # a text, not a URI: Exchange keeps it
    title = "T" * 4000
    kept = Contact(account=account, folder=account.contacts, display_name="Z", business_homepage=page,
                   job_title=title)
    item_id = _create(account, account.contacts, kept)
    fields = _stored(sandbox, mailbox, item_id)
    assert fields["BusinessHomePage"].text == page and fields["JobTitle"].text == title


# ---- 4. yes/no constants ----------------------------------------------------------------------------------------
def _find_all_day(sandbox, mailbox, constant: str) -> list[str]:
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="{M}" xmlns:t="{T}">
  <s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>
  <s:Body>
    <m:FindItem Traversal="Shallow">
      <m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>
      <m:Restriction><t:IsEqualTo><t:FieldURI FieldURI="calendar:IsAllDayEvent"/>
        <t:FieldURIOrConstant><t:Constant Value="{constant}"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>
      <m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds>
    </m:FindItem>
  </s:Body>
</s:Envelope>"""
    response = requests.post(sandbox.ews_endpoint, data=body.encode(), auth=(mailbox, "sandbox"), timeout=30,
                             headers={"Content-Type": "text/xml; charset=utf-8"})
    assert response.status_code == 200, response.text[:500]
    return [e.text for e in etree.fromstring(response.content).iter(f"{{{T}}}Subject")]


def test_boolean_constants_one_and_zero_match_like_true_and_false(sandbox, mailbox, account):
    CalendarItem(folder=account.calendar, subject="Holiday", start=EWSDate(2026, 8, 3), end=EWSDate(2026, 8, 3),
                 is_all_day=True).save(send_meeting_invitations=SEND_TO_NONE)
    start = EWSDateTime(2026, 8, 4, 9, tzinfo=UTC)
    CalendarItem(folder=account.calendar, subject="Call", start=start, end=start + datetime.timedelta(hours=1)).save(
        send_meeting_invitations=SEND_TO_NONE)
    assert _find_all_day(sandbox, mailbox, "1") == _find_all_day(sandbox, mailbox, "true") == ["Holiday"]
    assert _find_all_day(sandbox, mailbox, "0") == _find_all_day(sandbox, mailbox, "false") == ["Call"]
    assert [i.subject for i in account.calendar.filter(is_all_day=True)] == ["Holiday"]


# ---- 5. deleted fields stay deleted -----------------------------------------------------------------------------
def test_deleted_subject_and_file_as_stay_deleted(account):
    contact = Contact(folder=account.contacts, display_name="Bob Stone", given_name="Bob", surname="Stone")
    contact.save()
    got = account.contacts.get(id=contact.id)
    assert (got.subject, got.file_as) == ("Bob Stone", "Stone, Bob")  # computed by Exchange when not given
    contact.subject = None
    contact.file_as = None
    contact.save(update_fields=["subject", "file_as"])
    got = account.contacts.get(id=contact.id)
    assert (got.subject, got.file_as) == (None, None)
    contact.job_title = "Buyer"  # another change does not bring them back
    contact.save(update_fields=["job_title"])
    got = account.contacts.get(id=contact.id)
    assert (got.subject, got.file_as, got.job_title) == (None, None, "Buyer")
    contact.subject = "Bob (supplier)"  # setting one again keeps what is set
    contact.save(update_fields=["subject"])
    assert account.contacts.get(id=contact.id).subject == "Bob (supplier)"

"""Meetings this mailbox organizes through the EWS connector: by default Salesforce's changes to them are not
written (`meeting_not_updated`, a policy the run records); with `update_organized_meetings` they are, sent with
SendToAllAndSaveCopy as Outlook sends an organizer's update; everything else is written with SendToNone, and the
sync's own stamp never notifies anyone."""

import datetime as dt
from dataclasses import replace

import requests
from exchangelib import Attendee, CalendarItem, EWSDateTime, EWSTimeZone, Mailbox
from exchangelib.items import SEND_TO_NONE

from sync.connectors.base import ObjectOptions
from sync.connectors.ews import SALESFORCE_ID_FIELD
from sync.engine import SyncObject, UpdateRequest

UTC = dt.UTC
EWS_UTC = EWSTimeZone("UTC")
WINDOW = ObjectOptions(window_start="2026-03-01T00:00:00+00:00", window_end="2026-04-30T23:59:59+00:00")
MOVED = {"subject": "Board (moved)", "start": dt.datetime(2026, 3, 10, 9, tzinfo=UTC),
         "end": dt.datetime(2026, 3, 10, 10, tzinfo=UTC), "is_all_day": False}


def _add(plain, subject, attendees=()):
    item = CalendarItem(account=plain, folder=plain.calendar, subject=subject,
                        start=EWSDateTime(2026, 3, 10, 8, tzinfo=EWS_UTC),
                        end=EWSDateTime(2026, 3, 10, 9, tzinfo=EWS_UTC),
                        required_attendees=[Attendee(mailbox=Mailbox(email_address=a), response_type="Unknown")
                                            for a in attendees] or None)
    item.save(send_meeting_invitations=SEND_TO_NONE)
    return item.id


def _sends(sandbox, email, item_id):
    listing = requests.get(f"{sandbox.exchange_url}/_sandbox/mailboxes/{email}", timeout=10).json()
    return next(i["meeting_sends"] for f in listing["folders"] for i in f["items"] if i["id"] == item_id)


def test_by_default_an_organized_meeting_only_gets_the_stamp(mailbox, plain, sandbox, email):
    meeting, alone = _add(plain, "Board", ("ann@client.test",)), _add(plain, "Focus")
    side = mailbox.side(SyncObject.EVENTS, WINDOW)
    results = side.update([UpdateRequest(meeting, MOVED), UpdateRequest(alone, {**MOVED, "subject": "Focus (moved)"}),
                           UpdateRequest(meeting, None, "00U000000000000077")])
    assert [r.ok for r in results] == [False, True, True]
    assert results[0].error.code == "meeting_not_updated" and not results[0].error.transient
    assert "Update meetings the user organizes" in results[0].error.message
    board = plain.calendar.get(id=meeting)
    assert board.subject == "Board" and getattr(board, SALESFORCE_ID_FIELD) == "00U000000000000077"
    assert plain.calendar.get(id=alone).subject == "Focus (moved)"
    assert _sends(sandbox, email, meeting) == ["SendToNone"]  # the stamp, which notifies nobody
    assert _sends(sandbox, email, alone) == ["SendToNone"]


def test_with_the_option_the_update_is_sent_to_all_attendees(mailbox, plain, sandbox, email):
    meeting, alone = _add(plain, "Board", ("ann@client.test", "bob@client.test")), _add(plain, "Focus")
    side = mailbox.side(SyncObject.EVENTS, replace(WINDOW, update_organized_meetings=True))
    results = side.update([UpdateRequest(meeting, MOVED), UpdateRequest(alone, {**MOVED, "subject": "Focus (moved)"})])
    assert all(r.ok for r in results) and results[0].version
    board = plain.calendar.get(id=meeting)
    assert board.subject == "Board (moved)" and board.start == EWSDateTime(2026, 3, 10, 9, tzinfo=EWS_UTC)
    assert results[0].version == board.changekey
    assert _sends(sandbox, email, meeting) == ["SendToAllAndSaveCopy"]
    assert _sends(sandbox, email, alone) == ["SendToNone"]  # an appointment without attendees notifies nobody
    stamped = side.update([UpdateRequest(meeting, None, "00U000000000000078")])
    # the sync's own stamp is nothing the attendees see: it is written without telling them
    assert stamped[0].ok and _sends(sandbox, email, meeting) == ["SendToAllAndSaveCopy", "SendToNone"]

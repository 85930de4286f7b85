"""Meetings this mailbox organizes through the Graph connector with `update_organized_meetings`: Salesforce's change
is PATCHed and Graph sends the attendees an update (the emulator counts it); without the option the meeting only
gets the stamp (tests/connectors/graph/test_graph_events.py), and deletions are never sent either way."""

import datetime as dt
from dataclasses import replace

from sync.connectors.base import ObjectOptions
from sync.engine import SyncObject, UpdateRequest

UTC = dt.UTC
WINDOW = ObjectOptions(window_start="2026-03-01T00:00:00+00:00", window_end="2026-04-30T23:59:59+00:00")
MOVED = {"subject": "Board (moved)", "start": dt.datetime(2026, 3, 10, 9, tzinfo=UTC),
         "end": dt.datetime(2026, 3, 10, 10, tzinfo=UTC), "is_all_day": False}


def when(text: str) -> dict:
    return {"dateTime": text, "timeZone": "UTC"}


def _updates_sent(plain, event_id: str) -> int:
    """The emulator's count of updates sent to the meeting's attendees (its control API, beside /v1.0/)."""
    control = plain.base.replace("/v1.0/users/", "/_sandbox/mailboxes/")
    listing = plain.session.get(control, timeout=10).json()
    return next(e["updates_sent"] for e in listing["events"] if e["id"] == event_id)


def test_with_the_option_an_organized_meeting_is_patched_and_the_attendees_are_told(mailbox, plain):
    meeting = plain.add_event(subject="Board", start=when("2026-03-10T08:00:00"), end=when("2026-03-10T09:00:00"),
                              attendees=[{"emailAddress": {"address": "ann@client.test"}, "type": "required"}])
    side = mailbox.side(SyncObject.EVENTS, replace(WINDOW, update_organized_meetings=True))
    stamped = side.update([UpdateRequest(meeting["id"], None, "00U000000000000077")])
    assert stamped[0].ok and _updates_sent(plain, meeting["id"]) == 0  # the stamp is nothing attendees see
    results = side.update([UpdateRequest(meeting["id"], MOVED)])
    assert results[0].ok and results[0].version
    after = plain.event(meeting["id"])
    assert after["subject"] == "Board (moved)" and after["start"]["dateTime"].startswith("2026-03-10T09:00:00")
    assert _updates_sent(plain, meeting["id"]) == 1
    # deleting such a meeting would send cancellations: still refused, whatever the option says
    assert side.delete([meeting["id"]])[0].error.code == "meeting_not_deleted"


def test_without_the_option_nothing_is_sent(mailbox, plain):
    meeting = plain.add_event(subject="Board", start=when("2026-03-10T08:00:00"), end=when("2026-03-10T09:00:00"),
                              attendees=[{"emailAddress": {"address": "ann@client.test"}, "type": "required"}])
    results = mailbox.side(SyncObject.EVENTS, WINDOW).update([UpdateRequest(meeting["id"], MOVED)])
    assert results[0].error.code == "meeting_not_updated"
    assert "updating it would send the attendees an update from Exchange" in results[0].error.message
    assert plain.event(meeting["id"])["subject"] == "Board" and _updates_sent(plain, meeting["id"]) == 0

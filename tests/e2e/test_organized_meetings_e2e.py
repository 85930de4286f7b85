"""Meetings the mailbox organizes, end to end on EWS and on Graph: by default Salesforce's changes to them are not
written to Outlook (the run says so for each one, the object stays in sync); with the events option
`update_organized_meetings` they are written, and Exchange is asked to send the attendees an update (the emulators
record what was asked: EWS's SendMeetingInvitationsOrCancellations, Graph's updates to the attendees). Attendees'
responses, which change the organizer's copy, never start an update loop on either protocol."""

from datetime import UTC, datetime, timedelta

import pytest
from exchangelib.recurrence import WeeklyPattern

from sync.models import RecordError, SyncRun
from tests.e2e.test_sync_user import at, last_run, sf_rows, sync
from users.models import SyncState, UserObjectState

pytestmark = pytest.mark.e2e

BOTH = {"direction": "both", "conflict_behavior": "salesforce_wins"}
GUESTS = ("guest@example.com", "cfo@example.com")


def subject_in_outlook(person, item_id: str) -> str:
    return {e["id"]: e for e in person.outlook.events()}[item_id]["subject"]


def updates_sent(person, item_id: str) -> int:
    """How many updates the attendees were sent (EWS: UpdateItems that asked to send to them)."""
    sent = person.outlook.meeting_updates_sent(item_id)
    if isinstance(sent, int):
        return sent
    return sum(1 for value in sent if value != "SendToNone")


def nothing_written(person) -> bool:
    counts = last_run(person, "events").counts
    return counts["salesforce"] == {} and counts["outlook"] == {}


def a_synced_meeting(world, **events):
    person = world.person()
    world.configure(person, events={**BOTH, **events})
    meeting = person.outlook.create_event("Board meeting", at(28), at(29), attendees=GUESTS)
    assert sync(person) == 0
    (row,) = sf_rows(person, "SELECT Id, Subject FROM Event")
    assert row["Subject"] == "Board meeting"
    return person, meeting, row["Id"]


def test_by_default_a_salesforce_change_to_an_organized_meeting_is_not_written_and_the_run_says_so(either_world):
    person, meeting, salesforce_id = a_synced_meeting(either_world)
    person.salesforce.Event.update(salesforce_id, {"Subject": "Renamed in Salesforce"})
    assert sync(person) == 0
    run = last_run(person, "events")
    assert run.state == SyncRun.State.SUCCEEDED and run.error_code == ""
    (error,) = RecordError.objects.filter(run=run)
    assert error.code == "meeting_not_updated" and error.record_id == meeting
    assert "updating it would send the attendees an update from Exchange" in error.message
    assert "Update meetings the user organizes" in error.message
    assert subject_in_outlook(person, meeting) == "Board meeting"
    assert updates_sent(person, meeting) == 0
    state = UserObjectState.objects.get(user=person.sync_user, object="events")
    assert state.state == SyncState.IN_SYNC


def test_with_the_option_on_the_change_is_written_and_the_attendees_are_sent_an_update(either_world):
    person, meeting, salesforce_id = a_synced_meeting(either_world, update_organized_meetings=True)
    assert updates_sent(person, meeting) == 0  # the sync's own stamp notified nobody
    person.salesforce.Event.update(salesforce_id, {"Subject": "Renamed in Salesforce"})
    assert sync(person) == 0
    run = last_run(person, "events")
    assert run.state == SyncRun.State.SUCCEEDED and not RecordError.objects.filter(run=run).exists()
    assert subject_in_outlook(person, meeting) == "Renamed in Salesforce"
    assert updates_sent(person, meeting) == 1
    if person.outlook.protocol == "ews":
        assert person.outlook.meeting_updates_sent(meeting)[-1] == "SendToAllAndSaveCopy"
    assert sync(person) == 0 and nothing_written(person)  # the write is not read back as an Outlook change


def test_an_appointment_without_attendees_is_updated_either_way_and_notifies_nobody(either_world):
    person = either_world.person()
    either_world.configure(person, events=BOTH)
    alone = person.outlook.create_event("Focus time", at(30), at(31))
    assert sync(person) == 0
    (row,) = sf_rows(person, "SELECT Id FROM Event")
    person.salesforce.Event.update(row["Id"], {"Subject": "Deep work"})
    assert sync(person) == 0
    assert not RecordError.objects.filter(run=last_run(person, "events")).exists()
    assert subject_in_outlook(person, alone) == "Deep work"
    assert updates_sent(person, alone) == 0


def monday_at(hour: int) -> datetime:
    today = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return today + timedelta(days=(7 - today.weekday()) % 7 + 7)


@pytest.mark.parametrize("option", [False, True])
def test_attendee_responses_never_start_an_update_loop(either_world, option):
    """A response changes the organizer's copy (a new version) but nothing synced: nothing is written either way,
    and with the option on no update is sent to the attendees because of it."""
    person = either_world.person()
    either_world.configure(person, events={**BOTH, "update_organized_meetings": option})
    meeting = person.outlook.create_event("Customer call", at(26), at(27), attendees=GUESTS)
    start = monday_at(15)
    series = person.outlook.create_series("Weekly review", start, start + timedelta(minutes=30),
                                          WeeklyPattern(interval=1, weekdays=[1]), count=4, attendees=GUESTS)
    assert sync(person) == 0
    assert sync(person) == 0 and nothing_written(person)
    for item_id in (meeting, series):
        person.outlook.attendee_responds(item_id, "guest@example.com", "accepted")
        assert sync(person) == 0 and nothing_written(person)
        person.outlook.attendee_responds(item_id, "cfo@example.com", "declined")
        assert sync(person) == 0 and nothing_written(person)
    assert sync(person) == 0 and nothing_written(person)
    assert updates_sent(person, meeting) == 0 and updates_sent(person, series) == 0
    assert sorted(row["Subject"] for row in sf_rows(person, "SELECT Subject FROM Event WHERE IsRecurrence = true "
                                                             "OR RecurrenceActivityId = null")) \
        == ["Customer call", "Weekly review"]

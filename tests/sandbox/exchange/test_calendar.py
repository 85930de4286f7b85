"""Calendar items through unchanged exchangelib: time zones, all-day, attendees, recurrence with exceptions, views."""

import datetime

import pytest
from exchangelib import CalendarItem, EWSDate, EWSDateTime, EWSTimeZone, ExtendedProperty
from exchangelib.errors import ErrorCalendarOccurrenceIsDeletedFromRecurrence, ErrorItemNotFound
from exchangelib.items import SEND_TO_NONE
from exchangelib.properties import Attendee, Mailbox
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    Recurrence,
    RelativeMonthlyPattern,
    WeeklyPattern,
)

from .conftest import make_account

UTC = EWSTimeZone("UTC")
PARIS = EWSTimeZone("Europe/Paris")
NEW_YORK = EWSTimeZone("America/New_York")


class SalesforceEventId(ExtendedProperty):
    property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
    property_name = "SalesforceId"
    property_type = "String"


@pytest.fixture(autouse=True, scope="module")
def _register():
    CalendarItem.register("salesforce_id", SalesforceEventId)
    yield
    CalendarItem.deregister("salesforce_id")


def test_single_meeting_round_trips_with_time_zone(account):
    start = EWSDateTime(2025, 3, 10, 9, 30, tzinfo=PARIS)
    item = CalendarItem(
        folder=account.calendar, subject="Quarterly review", start=start, end=start + datetime.timedelta(hours=1),
        location="Room 4", body="Agenda: numbers", categories=["Customer"], sensitivity="Normal",
        legacy_free_busy_status="Tentative", reminder_is_set=True, reminder_minutes_before_start=10,
        importance="High", salesforce_id="00U000000000001",
        required_attendees=[Attendee(mailbox=Mailbox(email_address="ann@client.test", name="Ann"),
                                     response_type="Accept")],
        optional_attendees=[Attendee(mailbox=Mailbox(email_address="bob@client.test"), response_type="Unknown")],
    )
    item.save(send_meeting_invitations=SEND_TO_NONE)
    got = account.calendar.get(id=item.id)
    assert got.subject == "Quarterly review" and got.location == "Room 4" and got.body == "Agenda: numbers"
    assert got.start == start and got.end == start + datetime.timedelta(hours=1)
    assert got._start_timezone == PARIS or got.start.astimezone(PARIS).hour == 9
    assert got.legacy_free_busy_status == "Tentative" and got.reminder_minutes_before_start == 10
    assert got.categories == ["Customer"] and got.importance == "High"
    assert got.salesforce_id == "00U000000000001"
    assert [(a.mailbox.email_address, a.response_type) for a in got.required_attendees] == \
        [("ann@client.test", "Accept")]
    assert got.optional_attendees[0].mailbox.email_address == "bob@client.test"
    assert got.organizer.email_address == account.primary_smtp_address
    assert got.type == "Single" and got.is_meeting is True and got.uid
    assert got.duration == "PT1H"


def test_all_day_and_private_appointment(account):
    item = CalendarItem(folder=account.calendar, subject="Doctor", start=EWSDate(2025, 4, 2),
                        end=EWSDate(2025, 4, 3), is_all_day=True, sensitivity="Private",
                        legacy_free_busy_status="OOF")
    item.save(send_meeting_invitations=SEND_TO_NONE)
    got = account.calendar.get(id=item.id)
    assert got.is_all_day is True and got.sensitivity == "Private" and got.legacy_free_busy_status == "OOF"
    assert got.start == EWSDate(2025, 4, 2) and got.end == EWSDate(2025, 4, 3)
    assert got.is_meeting is False


def test_update_moves_meeting_and_changekey(account):
    start = EWSDateTime(2025, 5, 1, 14, tzinfo=NEW_YORK)
    item = CalendarItem(folder=account.calendar, subject="Call", start=start,
                        end=start + datetime.timedelta(minutes=30))
    item.save(send_meeting_invitations=SEND_TO_NONE)
    key = item.changekey
    item.start = start + datetime.timedelta(days=1)
    item.end = start + datetime.timedelta(days=1, minutes=45)
    item.location = "Zoom"
    item.save(update_fields=["start", "end", "location"], send_meeting_invitations=SEND_TO_NONE)
    assert item.changekey != key
    got = account.calendar.get(id=item.id)
    assert got.start == start + datetime.timedelta(days=1) and got.location == "Zoom"
    assert got.end - got.start == datetime.timedelta(minutes=45)


def test_filter_on_start_range_and_calendar_view(account):
    base = EWSDateTime(2025, 6, 2, 10, tzinfo=UTC)
    for day in range(5):
        CalendarItem(folder=account.calendar, subject=f"Day {day}", start=base + datetime.timedelta(days=day),
                     end=base + datetime.timedelta(days=day, hours=1)).save(send_meeting_invitations=SEND_TO_NONE)
    in_range = account.calendar.filter(start__range=(base + datetime.timedelta(days=1),
                                                     base + datetime.timedelta(days=3)))
    assert sorted(i.subject for i in in_range) == ["Day 1", "Day 2", "Day 3"]
    assert {i.subject for i in account.calendar.filter(subject__startswith="Day", start__gt=base)} == \
        {"Day 1", "Day 2", "Day 3", "Day 4"}
    view = account.calendar.view(start=base + datetime.timedelta(hours=10), end=base + datetime.timedelta(days=3))
    assert [i.subject for i in view] == ["Day 1", "Day 2"]


def _weekly_master(account, subject="Standup", count=None, end_date=None):
    start = EWSDateTime(2025, 1, 6, 9, tzinfo=PARIS)  # a Monday
    if count:
        boundary = NumberedPattern(start=EWSDate(2025, 1, 6), number=count)
    elif end_date:
        boundary = EndDatePattern(start=EWSDate(2025, 1, 6), end=end_date)
    else:
        boundary = NoEndPattern(start=EWSDate(2025, 1, 6))
    master = CalendarItem(folder=account.calendar, subject=subject, start=start,
                          end=start + datetime.timedelta(minutes=15),
                          recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1, 3]),
                                                boundary=boundary))
    master.save(send_meeting_invitations=SEND_TO_NONE)
    return master, start


def test_recurring_series_expands_in_calendar_view_across_dst(account):
    master, start = _weekly_master(account, count=20)
    got = account.calendar.get(id=master.id)
    assert got.type == "RecurringMaster"
    assert isinstance(got.recurrence.pattern, WeeklyPattern)
    assert got.first_occurrence.start == start
    assert got.last_occurrence is not None
    view = list(account.calendar.view(start=EWSDateTime(2025, 1, 1, tzinfo=UTC),
                                      end=EWSDateTime(2025, 6, 1, tzinfo=UTC)))
    assert len(view) == 20
    assert all(o.type == "Occurrence" and o.subject == "Standup" for o in view)
    # Mondays and Wednesdays at 09:00 Paris time, before and after the switch to summer time.
    assert {o.start.astimezone(PARIS).hour for o in view} == {9}
    assert {o.start.astimezone(PARIS).weekday() for o in view} == {0, 2}
    assert view[-1].start.astimezone(PARIS).date() == EWSDate(2025, 3, 12)
    # Occurrences can be fetched by id and by master + index.
    third = account.calendar.get(id=view[2].id)
    assert third.start == view[2].start and third.type == "Occurrence"
    by_index = got.occurrence(3)
    by_index.refresh()
    assert by_index.start == view[2].start and by_index.id == view[2].id


def test_modified_and_deleted_exceptions(account):
    master, _ = _weekly_master(account, subject="Sync meeting", count=6)
    occurrences = list(account.calendar.view(start=EWSDateTime(2025, 1, 1, tzinfo=UTC),
                                             end=EWSDateTime(2025, 2, 1, tzinfo=UTC)))
    assert len(occurrences) == 6
    moved = occurrences[1]
    original_start = moved.start
    moved.start = moved.start + datetime.timedelta(hours=2)
    moved.end = moved.end + datetime.timedelta(hours=2)
    moved.subject = "Sync meeting (moved)"
    moved.save(update_fields=["start", "end", "subject"], send_meeting_invitations=SEND_TO_NONE)
    deleted_id, deleted_start = occurrences[3].id, occurrences[3].start
    occurrences[3].delete(send_meeting_cancellations=SEND_TO_NONE)
    got = account.calendar.get(id=master.id)
    assert len(got.modified_occurrences) == 1 and len(got.deleted_occurrences) == 1
    assert got.modified_occurrences[0].start == moved.start
    assert got.deleted_occurrences[0].start == deleted_start
    view = list(account.calendar.view(start=EWSDateTime(2025, 1, 1, tzinfo=UTC),
                                      end=EWSDateTime(2025, 2, 1, tzinfo=UTC)))
    assert len(view) == 5
    exc = next(v for v in view if v.type == "Exception")
    assert exc.subject == "Sync meeting (moved)" and exc.start == moved.start
    assert exc.original_start == original_start
    with pytest.raises(ErrorCalendarOccurrenceIsDeletedFromRecurrence):
        account.calendar.get(id=deleted_id)
    # Fetching the master through an occurrence
    master_again = account.calendar.get(id=view[0].id).recurring_master()
    master_again.refresh()
    assert master_again.id == got.id and master_again.type == "RecurringMaster"
    # Deleting the master removes the whole series
    got.delete(send_meeting_cancellations=SEND_TO_NONE)
    assert list(account.calendar.view(start=EWSDateTime(2025, 1, 1, tzinfo=UTC),
                                      end=EWSDateTime(2025, 2, 1, tzinfo=UTC))) == []
    with pytest.raises(ErrorItemNotFound):
        account.calendar.get(id=view[0].id)


def test_other_patterns(account):
    start = EWSDateTime(2025, 1, 31, 8, tzinfo=UTC)
    monthly = CalendarItem(folder=account.calendar, subject="Month end", start=start,
                           end=start + datetime.timedelta(hours=1),
                           recurrence=Recurrence(pattern=AbsoluteMonthlyPattern(interval=1, day_of_month=31),
                                                 start=EWSDate(2025, 1, 31), number=4))
    monthly.save(send_meeting_invitations=SEND_TO_NONE)
    second_tuesday = CalendarItem(folder=account.calendar, subject="Board", start=EWSDateTime(2025, 1, 14, 8,
                                                                                              tzinfo=UTC),
                                  end=EWSDateTime(2025, 1, 14, 9, tzinfo=UTC),
                                  recurrence=Recurrence(pattern=RelativeMonthlyPattern(interval=2, weekday=2,
                                                                                       week_number=2),
                                                        start=EWSDate(2025, 1, 14), number=3))
    second_tuesday.save(send_meeting_invitations=SEND_TO_NONE)
    daily = CalendarItem(folder=account.calendar, subject="Daily", start=EWSDateTime(2025, 1, 1, 7, tzinfo=UTC),
                         end=EWSDateTime(2025, 1, 1, 7, 15, tzinfo=UTC),
                         recurrence=Recurrence(pattern=DailyPattern(interval=3), start=EWSDate(2025, 1, 1),
                                               end=EWSDate(2025, 1, 10)))
    daily.save(send_meeting_invitations=SEND_TO_NONE)
    view = list(account.calendar.view(start=EWSDateTime(2025, 1, 1, tzinfo=UTC),
                                      end=EWSDateTime(2025, 12, 31, tzinfo=UTC)))
    by_subject = {}
    for v in view:
        by_subject.setdefault(v.subject, []).append(v.start.date())
    assert by_subject["Month end"] == [datetime.date(2025, 1, 31), datetime.date(2025, 2, 28),
                                       datetime.date(2025, 3, 31), datetime.date(2025, 4, 30)]
    assert by_subject["Board"] == [datetime.date(2025, 1, 14), datetime.date(2025, 3, 11),
                                   datetime.date(2025, 5, 13)]
    assert by_subject["Daily"] == [datetime.date(2025, 1, 1), datetime.date(2025, 1, 4), datetime.date(2025, 1, 7),
                                   datetime.date(2025, 1, 10)]


def test_open_ended_series_in_a_later_window(account):
    _weekly_master(account, subject="Forever")
    view = list(account.calendar.view(start=EWSDateTime(2026, 3, 1, tzinfo=UTC),
                                      end=EWSDateTime(2026, 3, 8, tzinfo=UTC)))
    assert [v.start.astimezone(PARIS).weekday() for v in view] == [0, 2]


def test_end_before_start_is_refused(account):
    start = EWSDateTime(2025, 1, 1, 10, tzinfo=UTC)
    item = CalendarItem(folder=account.calendar, subject="Backwards", start=start,
                        end=start + datetime.timedelta(hours=1))
    item.save(send_meeting_invitations=SEND_TO_NONE)
    from exchangelib.errors import ErrorCalendarEndDateIsEarlierThanStartDate

    item.end = start - datetime.timedelta(hours=1)
    with pytest.raises((ErrorCalendarEndDateIsEarlierThanStartDate, ValueError)):
        item.save(update_fields=["end"], send_meeting_invitations=SEND_TO_NONE)


def test_account_timezone_is_respected(sandbox, mailbox):
    acc = make_account(sandbox, mailbox, tz=NEW_YORK)
    start = EWSDateTime(2025, 7, 4, 12, tzinfo=NEW_YORK)
    item = CalendarItem(folder=acc.calendar, subject="Lunch", start=start, end=start + datetime.timedelta(hours=1))
    item.save(send_meeting_invitations=SEND_TO_NONE)
    got = acc.calendar.get(id=item.id)
    assert got.start == start and got.start.astimezone(NEW_YORK).hour == 12


def test_all_day_event_in_a_local_time_zone(sandbox, mailbox):
    acc = make_account(sandbox, mailbox, tz=PARIS)
    item = CalendarItem(folder=acc.calendar, subject="Bastille Day", start=EWSDate(2025, 7, 14),
                        end=EWSDate(2025, 7, 15), is_all_day=True)
    item.save(send_meeting_invitations=SEND_TO_NONE)
    got = acc.calendar.get(id=item.id)
    assert got.is_all_day is True
    assert (got.start, got.end) == (EWSDate(2025, 7, 14), EWSDate(2025, 7, 15))
    view = list(acc.calendar.view(start=EWSDateTime(2025, 7, 14, 12, tzinfo=PARIS),
                                  end=EWSDateTime(2025, 7, 14, 13, tzinfo=PARIS)))
    assert [v.subject for v in view] == ["Bastille Day"]

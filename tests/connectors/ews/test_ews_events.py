"""Events through the EWS connector: scope (private, window, category), time zones, all-day, recurring series."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from exchangelib import CalendarItem, EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.items import SEND_TO_NONE
from exchangelib.recurrence import DailyPattern, Recurrence, WeeklyPattern
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.connectors.base import ObjectOptions
from sync.connectors.ews import SALESFORCE_ID_FIELD
from sync.connectors.ews import series as ews_series
from sync.engine import CreateRequest, LookupRequest, SyncObject, UpdateRequest
from sync.engine.canonical import schema_for

PARIS = EWSTimeZone("Europe/Paris")
NEW_YORK = EWSTimeZone("America/New_York")
UTC = dt.UTC
EWS_UTC = EWSTimeZone("UTC")
WINDOW = ObjectOptions(window_start="2026-03-01T00:00:00+00:00", window_end="2026-04-30T23:59:59+00:00")
EVENTS = schema_for(SyncObject.EVENTS)


def add_event(plain, **fields):
    item = CalendarItem(account=plain, folder=plain.calendar, **fields)
    item.save(send_meeting_invitations=SEND_TO_NONE)
    return item


def at(tz, *args):
    return EWSDateTime(*args, tzinfo=EWS_UTC if tz is UTC else tz)


def test_full_read_scope_time_zones_and_all_day(mailbox, plain):
    meeting = add_event(plain, subject="Review", location="Room 4", start=at(PARIS, 2026, 3, 10, 9, 30),
                        end=at(PARIS, 2026, 3, 10, 10, 30), body="Agenda", legacy_free_busy_status="Tentative")
    holiday = add_event(plain, subject="Holiday", start=EWSDate(2026, 3, 16), end=EWSDate(2026, 3, 17),
                        is_all_day=True, legacy_free_busy_status="OOF")
    private = add_event(plain, subject="Doctor", start=at(PARIS, 2026, 3, 11, 8), end=at(PARIS, 2026, 3, 11, 9),
                        sensitivity="Private")
    before = add_event(plain, subject="Old", start=at(UTC, 2026, 1, 5, 8), end=at(UTC, 2026, 1, 5, 9))
    after = add_event(plain, subject="Later", start=at(UTC, 2026, 6, 5, 8), end=at(UTC, 2026, 6, 5, 9))

    full = mailbox.side(SyncObject.EVENTS, WINDOW).changes(None)
    assert full.full and set(full.records) == {meeting.id, holiday.id}
    assert full.records[meeting.id].fields == {
        "subject": "Review", "location": "Room 4", "start": dt.datetime(2026, 3, 10, 8, 30, tzinfo=UTC),
        "end": dt.datetime(2026, 3, 10, 9, 30, tzinfo=UTC), "is_all_day": False, "is_private": False,
        "show_as": "tentative", "description": "Agenda"}
    # exchangelib's inclusive last day (3/17) becomes the canonical exclusive end (3/18)
    assert full.records[holiday.id].fields["start"] == dt.date(2026, 3, 16)
    assert full.records[holiday.id].fields["end"] == dt.date(2026, 3, 18)
    assert full.records[holiday.id].fields["show_as"] == "out_of_office"

    # out-of-scope items are still fetchable, marked out of scope (the engine asks for linked ones)
    fetched = mailbox.side(SyncObject.EVENTS, WINDOW).fetch([private.id, before.id, after.id, meeting.id])
    assert {i: r.in_scope for i, r in fetched.items()} == {private.id: False, before.id: False, after.id: False,
                                                           meeting.id: True}
    with_private = mailbox.side(SyncObject.EVENTS, ObjectOptions(
        sync_private_events=True, window_start=WINDOW.window_start, window_end=WINDOW.window_end)).changes(None)
    assert set(with_private.records) == {meeting.id, holiday.id, private.id}
    assert with_private.records[private.id].fields["is_private"] is True


def test_category_scope(mailbox, plain):
    tagged = add_event(plain, subject="Tagged", start=at(UTC, 2026, 3, 3, 8), end=at(UTC, 2026, 3, 3, 9),
                       categories=["Salesforce"])
    add_event(plain, subject="Untagged", start=at(UTC, 2026, 3, 4, 8), end=at(UTC, 2026, 3, 4, 9))
    options = ObjectOptions(event_category="salesforce", window_start=WINDOW.window_start,
                            window_end=WINDOW.window_end)
    assert set(mailbox.side(SyncObject.EVENTS, options).changes(None).records) == {tagged.id}


def test_recurring_series_sync_as_occurrences_inside_the_window(mailbox, plain, control, email):
    weekly = add_event(plain, subject="Standup", start=at(PARIS, 2026, 3, 2, 9), end=at(PARIS, 2026, 3, 2, 9, 15),
                       recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1]),
                                             start=EWSDate(2026, 2, 2), number=20))
    options = ObjectOptions(window_start="2026-03-01T00:00:00+00:00", window_end="2026-03-31T23:59:59+00:00")
    full = mailbox.side(SyncObject.EVENTS, options).changes(None)
    starts = sorted(r.fields["start"] for r in full.records.values())
    # 09:00 in Paris: 08:00 UTC, and 07:00 UTC once summer time starts (29 March 2026)
    assert starts == [dt.datetime(2026, 3, d, 8 if d < 29 else 7, 0, tzinfo=UTC) for d in (2, 9, 16, 23, 30)]
    assert weekly.id not in full.records and all(r.fields["subject"] == "Standup" for r in full.records.values())
    occurrence_ids = set(full.records)

    # nothing changed: one SyncFolderItems
    control.reset_stats()
    quiet = mailbox.side(SyncObject.EVENTS, options).changes(full.watermark)
    assert quiet.records == {} and quiet.deleted == set()
    assert control.stats()["calls"] == {"SyncFolderItems": 1} and control.calls(email) == 1

    # the series changes: its occurrences are reported again, with the new content
    weekly.subject = "Daily standup"
    weekly.save(update_fields=["subject"], send_meeting_invitations=SEND_TO_NONE)
    changed = mailbox.side(SyncObject.EVENTS, options).changes(quiet.watermark)
    assert set(changed.records) == occurrence_ids and not changed.deleted
    assert {r.fields["subject"] for r in changed.records.values()} == {"Daily standup"}

    # one occurrence deleted in Outlook: reported deleted
    third = sorted(changed.records.values(), key=lambda r: r.fields["start"])[2]
    plain.calendar.get(id=third.id).delete(send_meeting_cancellations=SEND_TO_NONE)
    one_gone = mailbox.side(SyncObject.EVENTS, options).changes(changed.watermark)
    assert one_gone.deleted == {third.id} and third.id not in one_gone.records

    # the series deleted: every occurrence we reported is deleted
    weekly_id = weekly.id
    plain.calendar.get(id=weekly_id).delete(send_meeting_cancellations=SEND_TO_NONE)
    all_gone = mailbox.side(SyncObject.EVENTS, options).changes(one_gone.watermark)
    assert all_gone.deleted >= occurrence_ids - {third.id} and all_gone.records == {}


def test_window_moving_reexpands_series(mailbox, plain):
    add_event(plain, subject="Daily", start=at(UTC, 2026, 3, 1, 7), end=at(UTC, 2026, 3, 1, 7, 30),
              recurrence=Recurrence(pattern=DailyPattern(interval=1), start=EWSDate(2026, 3, 1), number=10))
    march_1_3 = ObjectOptions(window_start="2026-03-01T00:00:00+00:00", window_end="2026-03-03T23:00:00+00:00")
    first = mailbox.side(SyncObject.EVENTS, march_1_3).changes(None)
    assert len(first.records) == 3
    march_3_5 = ObjectOptions(window_start="2026-03-03T00:00:00+00:00", window_end="2026-03-05T23:00:00+00:00")
    moved = mailbox.side(SyncObject.EVENTS, march_3_5).changes(first.watermark)
    in_scope = sorted(r.fields["start"].day for r in moved.records.values() if r.in_scope)
    left = sorted(r.fields["start"].day for r in moved.records.values() if not r.in_scope)
    assert in_scope == [3, 4, 5]
    # 1 and 2 March left the window: reported out of scope (so the engine never takes them for deletions)
    assert left == [1, 2] and moved.deleted == set()


def test_create_update_stamp_lookup_events(mailbox, plain):
    side = mailbox.side(SyncObject.EVENTS, WINDOW)
    side.changes(None)
    timed = {"subject": "Call", "location": "Phone", "start": dt.datetime(2026, 3, 12, 14, 0, tzinfo=UTC),
             "end": dt.datetime(2026, 3, 12, 14, 45, tzinfo=UTC), "is_all_day": False, "is_private": True,
             "show_as": "busy", "description": "line 1\nline 2"}
    all_day = {"subject": "Offsite", "start": dt.date(2026, 3, 20), "end": dt.date(2026, 3, 22), "is_all_day": True,
               "show_as": "out_of_office"}
    results = side.create([CreateRequest(timed, "00U000000000001AAA"), CreateRequest(all_day, "00U000000000002AAA")])
    assert all(r.ok for r in results)
    call = plain.calendar.get(id=results[0].record_id)
    assert call.start == at(UTC, 2026, 3, 12, 14) and call.sensitivity == "Private"
    assert call.legacy_free_busy_status == "Busy" and getattr(call, SALESFORCE_ID_FIELD) == "00U000000000001AAA"
    offsite = plain.calendar.get(id=results[1].record_id)
    assert offsite.is_all_day and offsite.start == EWSDate(2026, 3, 20) and offsite.end == EWSDate(2026, 3, 21)

    # what the connector reads back is what it was given (canonically)
    back = mailbox.side(SyncObject.EVENTS, ObjectOptions(sync_private_events=True)).fetch(
        [r.record_id for r in results])
    assert EVENTS.canonicalize(back[results[0].record_id].fields) == EVENTS.canonicalize(timed)
    assert EVENTS.canonicalize(back[results[1].record_id].fields) == EVENTS.canonicalize(all_day)

    moved = {**timed, "start": dt.datetime(2026, 3, 13, 9, 0, tzinfo=UTC),
             "end": dt.datetime(2026, 3, 13, 10, 0, tzinfo=UTC), "is_private": False}
    update = side.update([UpdateRequest(results[0].record_id, moved)])
    assert update[0].ok and update[0].version != results[0].version
    call = plain.calendar.get(id=results[0].record_id)
    assert call.start == at(UTC, 2026, 3, 13, 9) and call.sensitivity == "Normal"

    found = side.lookup(LookupRequest(SyncObject.EVENTS, "00U000000000002AAA", {}, ()))
    assert [r.id for r in found] == [results[1].record_id]


def test_meeting_organised_by_an_excluded_address_is_out_of_scope(mailbox, plain):
    options = ObjectOptions(excluded_addresses=(plain.primary_smtp_address,),
                            window_start=WINDOW.window_start, window_end=WINDOW.window_end)
    add_event(plain, subject="Mine", start=at(UTC, 2026, 3, 3, 8), end=at(UTC, 2026, 3, 3, 9))
    assert mailbox.side(SyncObject.EVENTS, options).changes(None).records == {}


@pytest.mark.parametrize("tz", [PARIS, NEW_YORK])
def test_series_keep_their_local_time_in_other_zones(mailbox, plain, tz):
    add_event(plain, subject="Board", start=at(tz, 2026, 3, 5, 18), end=at(tz, 2026, 3, 5, 19),
              recurrence=Recurrence(pattern=WeeklyPattern(interval=2, weekdays=[4]), start=EWSDate(2026, 3, 5),
                                    number=3))
    records = mailbox.side(SyncObject.EVENTS, WINDOW).changes(None).records
    starts = sorted(r.fields["start"] for r in records.values())
    assert [s.astimezone(tz).hour for s in starts] == [18, 18, 18]
    assert [s.astimezone(tz).date() for s in starts] == [dt.date(2026, 3, 5), dt.date(2026, 3, 19),
                                                         dt.date(2026, 4, 2)]


def test_stamping_an_occurrence_keeps_it_in_the_series(mailbox, plain):
    add_event(plain, subject="Weekly", start=at(UTC, 2026, 3, 2, 10), end=at(UTC, 2026, 3, 2, 11),
              recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1]), start=EWSDate(2026, 3, 2),
                                    number=3))
    side = mailbox.side(SyncObject.EVENTS, WINDOW)
    full = side.changes(None)
    first = min(full.records.values(), key=lambda r: r.fields["start"])
    stamped = side.update([UpdateRequest(first.id, None, "00U00000000000SAAA")])
    assert stamped[0].ok and stamped[0].record_id == first.id
    after = mailbox.side(SyncObject.EVENTS, WINDOW).changes(full.watermark)
    assert after.records[first.id].salesforce_id == "00U00000000000SAAA"
    assert EVENTS.canonicalize(after.records[first.id].fields) == EVENTS.canonicalize(first.fields)
    assert len(after.records) == 3 and not after.deleted


zones = st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Sydney"])


# Fewer examples than the profile: each one round-trips through the EWS emulator; the mailbox is shared on purpose.
@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(day=st.integers(0, 58), minute=st.integers(0, 24 * 60 - 1), length=st.integers(0, 600), zone=zones,
       all_day=st.booleans(), days=st.integers(1, 3))
def test_event_fields_round_trip_through_the_sandbox(mailbox, day, minute, length, zone, all_day, days):
    side = mailbox.side(SyncObject.EVENTS, ObjectOptions())
    if all_day:
        start = dt.date(2026, 3, 1) + dt.timedelta(days=day)
        fields = {"subject": "All day", "start": start, "end": start + dt.timedelta(days=days), "is_all_day": True,
                  "show_as": "free"}
    else:
        local = dt.datetime(2026, 3, 1, tzinfo=ZoneInfo(zone)) + dt.timedelta(days=day, minutes=minute)
        fields = {"subject": "Timed", "start": local, "end": local + dt.timedelta(minutes=length),
                  "is_all_day": False, "show_as": "tentative", "location": zone}
    created = side.create([CreateRequest(fields)])[0]
    assert created.ok
    back = side.fetch([created.record_id])[created.record_id]
    assert EVENTS.canonicalize(back.fields) == EVENTS.canonicalize(fields)
    assert back.version == created.version


def test_event_call_budget(mailbox, plain, control, email):
    for day in (3, 4, 5):
        add_event(plain, subject=f"Single {day}", start=at(UTC, 2026, 3, day, 8), end=at(UTC, 2026, 3, day, 9))
    series = add_event(plain, subject="Series", start=at(UTC, 2026, 3, 2, 10), end=at(UTC, 2026, 3, 2, 11),
                       recurrence=Recurrence(pattern=DailyPattern(interval=1), start=EWSDate(2026, 3, 2), number=4))
    control.reset_stats()
    full = mailbox.side(SyncObject.EVENTS, WINDOW).changes(None)
    assert len(full.records) == 7
    # SyncFolderItems, GetItem (singles), GetItem (series uid), FindItem (CalendarView), GetItem (occurrences)
    assert control.stats()["calls"] == {"SyncFolderItems": 1, "GetItem": 3, "FindItem": 1}
    series.subject = "Series!"
    series.save(update_fields=["subject"], send_meeting_invitations=SEND_TO_NONE)
    control.reset_stats()
    changed = mailbox.side(SyncObject.EVENTS, WINDOW).changes(full.watermark)
    assert len(changed.records) == 4 and not changed.deleted
    assert control.stats()["calls"] == {"SyncFolderItems": 1, "GetItem": 2, "FindItem": 1}
    assert control.calls(email) == 4


def test_a_full_calendar_view_is_split_until_nothing_is_cut_off(mailbox, plain, monkeypatch):
    monkeypatch.setattr(ews_series, "CALENDAR_VIEW_PAGE", 4)
    add_event(plain, subject="Daily", start=at(UTC, 2026, 3, 2, 7), end=at(UTC, 2026, 3, 2, 8),
              recurrence=Recurrence(pattern=DailyPattern(interval=1), start=EWSDate(2026, 3, 2), number=15))
    records = mailbox.side(SyncObject.EVENTS, WINDOW).changes(None).records
    assert sorted(r.fields["start"].day for r in records.values()) == list(range(2, 17))


def test_an_event_turns_all_day_and_back(mailbox, plain):
    side = mailbox.side(SyncObject.EVENTS, WINDOW)
    timed = {"subject": "Flexible", "start": dt.datetime(2026, 3, 24, 9, tzinfo=UTC),
             "end": dt.datetime(2026, 3, 24, 10, tzinfo=UTC), "is_all_day": False}
    record_id = side.create([CreateRequest(timed)])[0].record_id
    all_day = {"subject": "Flexible", "start": dt.date(2026, 3, 24), "end": dt.date(2026, 3, 25), "is_all_day": True}
    assert side.update([UpdateRequest(record_id, all_day)])[0].ok
    item = plain.calendar.get(id=record_id)
    assert item.is_all_day and item.start == EWSDate(2026, 3, 24) and item.end == EWSDate(2026, 3, 24)
    assert EVENTS.canonicalize(side.fetch([record_id])[record_id].fields) == EVENTS.canonicalize(
        {**all_day, "show_as": "busy"})
    assert side.update([UpdateRequest(record_id, timed)])[0].ok
    assert EVENTS.canonicalize(side.fetch([record_id])[record_id].fields) == EVENTS.canonicalize(
        {**timed, "show_as": "busy"})

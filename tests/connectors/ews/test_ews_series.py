"""Recurring series synced as series (ObjectOptions.series_as_series): one record per series Salesforce can hold,
the others as their occurrences; reshaping between the two; writing series."""

import datetime as dt

from exchangelib import EWSDate, EWSTimeZone
from exchangelib.items import SEND_TO_NONE
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    DailyPattern,
    Recurrence,
    RelativeMonthlyPattern,
    WeeklyPattern,
)

from sync.connectors.base import ObjectOptions
from sync.engine import CreateRequest, SyncObject, UpdateRequest
from tests.connectors.ews.test_ews_events import add_event, at

PARIS = EWSTimeZone("Europe/Paris")
UTC = dt.UTC
SERIES = ObjectOptions(window_start="2026-03-01T00:00:00+00:00", window_end="2026-04-30T23:59:59+00:00",
                       series_as_series=True)
OCCURRENCES = ObjectOptions(window_start=SERIES.window_start, window_end=SERIES.window_end)


def test_a_series_salesforce_can_hold_is_one_record(mailbox, plain):
    weekly = add_event(plain, subject="Standup", start=at(PARIS, 2026, 3, 2, 9), end=at(PARIS, 2026, 3, 2, 9, 15),
                       recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1, 3]),
                                             start=EWSDate(2026, 3, 2), end=EWSDate(2026, 4, 29)))
    counted = add_event(plain, subject="Course", start=at(UTC, 2026, 3, 5, 14), end=at(UTC, 2026, 3, 5, 16),
                        recurrence=Recurrence(pattern=DailyPattern(interval=7), start=EWSDate(2026, 3, 5), number=6))
    endless = add_event(plain, subject="Forever", start=at(UTC, 2026, 3, 3, 7), end=at(UTC, 2026, 3, 3, 8),
                        recurrence=Recurrence(pattern=AbsoluteMonthlyPattern(interval=1, day_of_month=3),
                                              start=EWSDate(2026, 3, 3)))
    full = mailbox.side(SyncObject.EVENTS, SERIES).changes(None)
    assert weekly.id in full.records and counted.id in full.records and endless.id not in full.records
    standup = full.records[weekly.id].fields
    assert standup["recurrence"] == "pattern=weekly;interval=1;days=MO,WE;until=2026-04-29;tz=Europe/Paris"
    assert standup["start"] == dt.datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # 09:00 Paris, the first occurrence
    # a count becomes the last occurrence's date
    assert full.records[counted.id].fields["recurrence"] == "pattern=daily;interval=7;until=2026-04-09;tz=UTC"
    # the series without an end is synced as its occurrences inside the window, as before
    forever = [r for r in full.records.values() if r.fields["subject"] == "Forever"]
    assert sorted(r.fields["start"].day for r in forever) == [3, 3] and all(not r.fields.get("recurrence")
                                                                       for r in forever)
    # with the switch off: occurrences only, exactly as before
    off = mailbox.side(SyncObject.EVENTS, OCCURRENCES).changes(None)
    assert weekly.id not in off.records and len(off.records) == 18 + 6 + 2 and not off.reshaped
    # the occurrences of the series presented whole, and the master presented as occurrences, are named as reshaped
    # (links an earlier sync made to them in the other shape are replaced)
    assert len(full.reshaped) == 18 + 6 + 1 and endless.id in full.reshaped and not full.reshaped & set(full.records)


def test_an_exception_turns_a_series_into_occurrences_and_back(mailbox, plain):
    weekly = add_event(plain, subject="Sync", start=at(UTC, 2026, 3, 2, 9), end=at(UTC, 2026, 3, 2, 10),
                       recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1]),
                                             start=EWSDate(2026, 3, 2), number=4))
    side = mailbox.side(SyncObject.EVENTS, SERIES)
    full = side.changes(None)
    assert set(full.records) == {weekly.id}
    quiet = mailbox.side(SyncObject.EVENTS, SERIES).changes(full.watermark)
    assert not quiet.records and not quiet.deleted and not quiet.reshaped

    # one occurrence moved: Salesforce cannot hold that series, its occurrences are records now
    second = plain.calendar.view(start=at(UTC, 2026, 3, 9), end=at(UTC, 2026, 3, 10))
    (occurrence,) = [o for o in second if o.subject == "Sync"]
    occurrence.start, occurrence.end = at(UTC, 2026, 3, 9, 11), at(UTC, 2026, 3, 9, 12)
    occurrence.save(update_fields=["start", "end"], send_meeting_invitations=SEND_TO_NONE)
    changed = mailbox.side(SyncObject.EVENTS, SERIES).changes(quiet.watermark)
    assert changed.reshaped == {weekly.id} and not changed.deleted
    assert sorted(r.fields["start"] for r in changed.records.values()) == [
        at(UTC, 2026, 3, 2, 9), at(UTC, 2026, 3, 9, 11), at(UTC, 2026, 3, 16, 9), at(UTC, 2026, 3, 23, 9)]
    occurrence_ids = set(changed.records)
    # a full read says the same: the master is no record any more (a link to it is replaced, not taken as deleted)
    full_again = mailbox.side(SyncObject.EVENTS, SERIES).changes(None)
    assert set(full_again.records) == occurrence_ids and weekly.id in full_again.reshaped

    # the series' pattern edited in Outlook drops the exception: one record again, its occurrences reshaped
    master = plain.calendar.get(id=weekly.id)
    master.recurrence = Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1]), start=EWSDate(2026, 3, 2),
                                   number=3)
    master.save(update_fields=["recurrence"], send_meeting_invitations=SEND_TO_NONE)
    back = mailbox.side(SyncObject.EVENTS, SERIES).changes(changed.watermark)
    assert set(back.records) == {weekly.id} and back.reshaped == occurrence_ids and not back.deleted
    assert back.records[weekly.id].fields["recurrence"].startswith("pattern=weekly;interval=1;days=MO;until=2026-03-16")

    # the series deleted: deleted
    plain.calendar.get(id=weekly.id).delete(send_meeting_cancellations=SEND_TO_NONE)
    gone = mailbox.side(SyncObject.EVENTS, SERIES).changes(back.watermark)
    assert gone.deleted == {weekly.id} and not gone.records


def test_series_are_written_as_series(mailbox, plain):
    side = mailbox.side(SyncObject.EVENTS, SERIES)
    side.changes(None)
    fields = {"subject": "Board", "start": dt.datetime(2026, 3, 5, 15, 0, tzinfo=UTC),
              "end": dt.datetime(2026, 3, 5, 16, 0, tzinfo=UTC), "show_as": "busy",
              "recurrence": "pattern=monthly_nth;interval=1;days=TH;instance=first;until=2026-06-30;tz=Europe/Paris"}
    (created,) = side.create([CreateRequest(fields, "00U000000000009AAA")])
    assert created.ok
    item = plain.calendar.get(id=created.record_id)
    assert item.type == "RecurringMaster" and isinstance(item.recurrence.pattern, RelativeMonthlyPattern)
    starts = [o.start for o in plain.calendar.view(start=at(UTC, 2026, 3, 1), end=at(UTC, 2026, 7, 1))
              if o.subject == "Board"]
    # first Thursday of each month, 16:00 in Paris all along (15:00 UTC in winter, 14:00 UTC in summer)
    assert [s.astimezone(PARIS).hour for s in starts] == [16, 16, 16, 16]
    assert [s.astimezone(EWSTimeZone("UTC")).day for s in starts] == [5, 2, 7, 4]
    read = mailbox.side(SyncObject.EVENTS, SERIES).changes(None).records[created.record_id]
    assert read.fields["recurrence"] == fields["recurrence"] and read.fields["start"] == fields["start"]

    # an update changes the pattern (Exchange regenerates the occurrences)
    weekly = {**fields, "recurrence": "pattern=weekly;interval=2;days=TH;until=2026-04-30;tz=Europe/Paris"}
    (updated,) = mailbox.side(SyncObject.EVENTS, SERIES).update([UpdateRequest(created.record_id, weekly)])
    assert updated.ok
    again = mailbox.side(SyncObject.EVENTS, SERIES).changes(None).records[created.record_id]
    assert again.fields["recurrence"] == weekly["recurrence"]
    assert isinstance(plain.calendar.get(id=created.record_id).recurrence.pattern, WeeklyPattern)


def test_all_day_series_round_trip(mailbox, plain):
    holiday = add_event(plain, subject="Office closed", start=EWSDate(2026, 3, 6), end=EWSDate(2026, 3, 6),
                        is_all_day=True, recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[5]),
                                                               start=EWSDate(2026, 3, 6), number=3))
    record = mailbox.side(SyncObject.EVENTS, SERIES).changes(None).records[holiday.id]
    assert (record.fields["start"], record.fields["end"]) == (dt.date(2026, 3, 6), dt.date(2026, 3, 7))
    assert record.fields["recurrence"].startswith("pattern=weekly;interval=1;days=FR;until=2026-03-20")

    side = mailbox.side(SyncObject.EVENTS, SERIES)
    side.changes(None)
    fields = {"subject": "Stocktake", "start": dt.date(2026, 3, 31), "end": dt.date(2026, 4, 1), "is_all_day": True,
              "recurrence": "pattern=monthly;interval=1;day=31;until=2026-06-30;tz=UTC"}
    (created,) = side.create([CreateRequest(fields)])
    assert created.ok
    days = sorted(o.start for o in plain.calendar.view(start=at(UTC, 2026, 3, 1), end=at(UTC, 2026, 7, 1))
                  if o.subject == "Stocktake")
    # the 31st, or the month's last day where it has none
    assert [(d.month, d.day) for d in days] == [(3, 31), (4, 30), (5, 31), (6, 30)]
    read = mailbox.side(SyncObject.EVENTS, SERIES).changes(None).records[created.record_id]
    assert {k: read.fields.get(k) for k in fields} == fields

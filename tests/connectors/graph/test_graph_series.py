"""Recurring series synced as series on Graph (ObjectOptions.series_as_series): one record per series master
Salesforce can hold, the others as their occurrences inside the window; reshaping between the two when an occurrence
is edited or cancelled on its own (also when delta does not report the cancellation); writing series."""

import datetime as dt
from urllib.parse import quote

import requests

from sync.connectors.base import ObjectOptions
from sync.engine import CreateRequest, SyncObject, UpdateRequest

UTC = dt.UTC
SERIES = ObjectOptions(window_start="2026-03-01T00:00:00+00:00", window_end="2026-04-30T23:59:59+00:00",
                       series_as_series=True)


def when(text: str, zone: str = "UTC") -> dict:
    return {"dateTime": text, "timeZone": zone}


def weekly(plain, subject: str, first: str, *, count: int | None = None, until: str | None = None,
           days: tuple[str, ...] = ("monday",), zone: str = "UTC") -> dict:
    span = ({"type": "numbered", "numberOfOccurrences": count} if count else
            {"type": "endDate", "endDate": until} if until else {"type": "noEnd"})
    return plain.add_event(subject=subject, start=when(f"{first}T09:00:00", zone), end=when(f"{first}T09:30:00", zone),
                           recurrence={"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": list(days)},
                                       "range": {"startDate": first, "recurrenceTimeZone": zone, **span}})


def instances(plain, master_id: str) -> list[dict]:
    return plain.get(f"/events/{master_id}/instances", startDateTime="2026-03-01T00:00:00Z",
                     endDateTime="2026-04-30T23:59:59Z")["value"]


def test_a_series_salesforce_can_hold_is_one_record(mailbox, plain):
    standup = weekly(plain, "Standup", "2026-03-02", until="2026-04-29", days=("monday", "wednesday"),
                     zone="Europe/Paris")
    course = weekly(plain, "Course", "2026-03-05", count=6, days=("thursday",))
    endless = weekly(plain, "Forever", "2026-03-03", days=("tuesday",))
    single = plain.add_event(subject="Lunch", start=when("2026-03-04T12:00:00"), end=when("2026-03-04T13:00:00"))
    full = mailbox.side(SyncObject.EVENTS, SERIES).changes(None)
    assert {standup["id"], course["id"], single["id"]} <= set(full.records) and endless["id"] not in full.records
    fields = full.records[standup["id"]].fields
    assert fields["recurrence"] == "pattern=weekly;interval=1;days=MO,WE;until=2026-04-29;tz=Europe/Paris"
    assert fields["start"] == dt.datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # 09:00 Paris, the first occurrence
    # a count becomes the last occurrence's date
    assert full.records[course["id"]].fields["recurrence"] == \
        "pattern=weekly;interval=1;days=TH;until=2026-04-09;tz=UTC"
    # the series without an end is synced as its occurrences inside the window (no stamp of their own)
    forever = [r for r in full.records.values() if r.fields["subject"] == "Forever"]
    assert len(forever) == 9 and all(not r.fields.get("recurrence") and r.salesforce_id is None for r in forever)
    # the occurrences of the series presented whole, and the master presented as occurrences, are named as reshaped
    assert endless["id"] in full.reshaped and not full.reshaped & set(full.records)
    assert len(full.reshaped) == 18 + 6 + 1

    # nothing changed: the delta round and one list of the masters modified since (none judged again)
    before = mailbox.calls.calls
    quiet = mailbox.side(SyncObject.EVENTS, SERIES).changes(full.watermark)
    assert quiet.records == {} and quiet.deleted == set() and quiet.reshaped == set()
    assert mailbox.calls.calls - before == 2
    # the series renamed: one record again, with the new subject (occurrences never appear)
    plain.patch(f"/events/{standup['id']}", {"subject": "Daily standup"})
    renamed = mailbox.side(SyncObject.EVENTS, SERIES).changes(quiet.watermark)
    assert set(renamed.records) == {standup["id"]} and renamed.records[standup["id"]].fields["subject"] == \
        "Daily standup" and not renamed.deleted and not renamed.reshaped


def test_an_exception_turns_a_series_into_occurrences_and_back(mailbox, plain):
    series = weekly(plain, "Sync", "2026-03-02", count=4)
    full = mailbox.side(SyncObject.EVENTS, SERIES).changes(None)
    assert set(full.records) == {series["id"]}
    third = instances(plain, series["id"])[2]
    plain.patch(f"/events/{third['id']}", {"subject": "Sync (moved room)"})
    split = mailbox.side(SyncObject.EVENTS, SERIES).changes(full.watermark)
    # the series is now its four occurrences, one of them the exception; the series record is reshaped, not deleted
    assert split.reshaped == {series["id"]} and not split.deleted and len(split.records) == 4
    assert sorted(r.fields["subject"] for r in split.records.values()) == ["Sync"] * 3 + ["Sync (moved room)"]
    # an occurrence edited on its own again: only it is reported, still as an occurrence
    first = instances(plain, series["id"])[0]
    plain.patch(f"/events/{first['id']}", {"location": {"displayName": "Room 2"}})
    again = mailbox.side(SyncObject.EVENTS, SERIES).changes(split.watermark)
    assert again.records[first["id"]].fields["location"] == "Room 2" and not again.reshaped and not again.deleted
    # new times for the whole series drop its exceptions (as Exchange does): one series record again
    plain.patch(f"/events/{series['id']}", {"start": when("2026-03-02T10:00:00"), "end": when("2026-03-02T10:30:00")})
    whole = mailbox.side(SyncObject.EVENTS, SERIES).changes(again.watermark)
    assert set(whole.records) == {series["id"]} and whole.reshaped == set(split.records) and not whole.deleted
    assert whole.records[series["id"]].fields["start"] == dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_a_cancelled_occurrence_delta_does_not_report_is_found_in_the_instances(mailbox, plain, control, email):
    requests.post(f"{control.base}/mailboxes/{quote(email)}/quirks", json={"delta_skips_cancelled_occurrences": True},
                  verify=control.verify, timeout=20).raise_for_status()
    held = weekly(plain, "Held", "2026-03-03", count=5, days=("tuesday",))
    split = weekly(plain, "Split", "2026-03-04", days=("wednesday",))  # no end: synced as occurrences
    full = mailbox.side(SyncObject.EVENTS, SERIES).changes(None)
    assert held["id"] in full.records and split["id"] not in full.records
    plain.delete(f"/events/{instances(plain, held['id'])[1]['id']}")
    second_split = instances(plain, split["id"])[1]
    plain.delete(f"/events/{second_split['id']}")
    # delta says nothing about either cancellation ...
    assert plain.get("/calendarView/delta", startDateTime="2026-03-01T00:00:00Z",
                     endDateTime="2026-04-30T23:59:59Z")["value"]
    after = mailbox.side(SyncObject.EVENTS, SERIES).changes(full.watermark)
    # ... yet the series held whole becomes its four remaining occurrences, and the other loses the cancelled one
    assert held["id"] in after.reshaped and second_split["id"] in after.deleted
    assert sorted(r.fields["start"].day for r in after.records.values() if r.fields["subject"] == "Held") == \
        [3, 17, 24, 31]


def test_a_series_that_leaves_the_window_is_out_of_scope_not_deleted(mailbox, plain):
    series = weekly(plain, "Quarterly", "2026-03-02", count=3)
    full = mailbox.side(SyncObject.EVENTS, SERIES).changes(None)
    assert set(full.records) == {series["id"]}
    plain.patch(f"/events/{series['id']}", {"start": when("2026-08-03T09:00:00"), "end": when("2026-08-03T09:30:00"),
                                           "recurrence": {"pattern": {"type": "weekly", "interval": 1,
                                                                      "daysOfWeek": ["monday"]},
                                                          "range": {"type": "numbered", "startDate": "2026-08-03",
                                                                    "numberOfOccurrences": 3}}})
    moved = mailbox.side(SyncObject.EVENTS, SERIES).changes(full.watermark)
    assert series["id"] not in moved.deleted and moved.records[series["id"]].in_scope is False


def test_series_are_written_as_series(mailbox, plain):
    side = mailbox.side(SyncObject.EVENTS, SERIES)
    text = "pattern=weekly;interval=2;days=TU,TH;until=2026-04-30;tz=Europe/Paris"
    fields = {"subject": "Pipeline review", "start": dt.datetime(2026, 3, 3, 13, 0, tzinfo=UTC),
              "end": dt.datetime(2026, 3, 3, 14, 0, tzinfo=UTC), "is_all_day": False, "recurrence": text}
    (created,) = side.create([CreateRequest(fields, "00U000000000001AAA")])
    assert created.error is None
    master = plain.event(created.record_id)
    assert master["type"] == "seriesMaster" and master["recurrence"]["pattern"]["daysOfWeek"] == ["tuesday",
                                                                                                   "thursday"]
    assert len(instances(plain, created.record_id)) == 10  # every other week (weeks start on Sunday)
    read = mailbox.side(SyncObject.EVENTS, SERIES).changes(None)
    assert read.records[created.record_id].fields["recurrence"] == text
    assert read.records[created.record_id].salesforce_id == "00U000000000001AAA"
    # the series shortened from Salesforce: the master's range follows, still one series
    side = mailbox.side(SyncObject.EVENTS, SERIES)
    side.fetch([created.record_id])
    shorter = {**fields, "recurrence": text.replace("2026-04-30", "2026-03-31")}
    (updated,) = side.update([UpdateRequest(created.record_id, shorter)])
    assert updated.error is None
    assert len(instances(plain, created.record_id)) == 5
    again = mailbox.side(SyncObject.EVENTS, SERIES).changes(read.watermark)
    assert again.records[created.record_id].fields["recurrence"] == shorter["recurrence"]


def test_an_attendee_response_is_a_new_version_of_the_same_series(mailbox, plain, control, email):
    series = plain.add_event(subject="Customer call", start=when("2026-03-02T15:00:00"),
                             end=when("2026-03-02T15:30:00"),
                             attendees=[{"emailAddress": {"address": "buyer@example.com"}, "type": "required"}],
                             recurrence={"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                                         "range": {"type": "numbered", "startDate": "2026-03-02",
                                                   "numberOfOccurrences": 4}})
    full = mailbox.side(SyncObject.EVENTS, SERIES).changes(None)
    requests.post(f"{control.base}/mailboxes/{quote(email)}/events/{series['id']}/response",
                  json={"attendee": "buyer@example.com", "response": "accepted"}, verify=control.verify,
                  timeout=20).raise_for_status()
    answered = mailbox.side(SyncObject.EVENTS, SERIES).changes(full.watermark)
    # the series is read again (its occurrences changed version), as one record with the same content
    before, after = full.records[series["id"]], answered.records[series["id"]]
    assert after.version != before.version and after.fields == before.fields
    assert set(answered.records) == {series["id"]} and not answered.reshaped and not answered.deleted

"""Events through the Graph connector: scope (private, window, category), time zones, all-day, series as their
occurrences inside the window, window moves, writes and stamps."""

import datetime as dt

from sync.connectors.base import ObjectOptions
from sync.connectors.graph import SALESFORCE_ID_PROPERTY, GraphMailbox
from sync.engine import CreateRequest, LookupRequest, SyncObject, UpdateRequest
from sync.engine.canonical import schema_for

UTC = dt.UTC
WINDOW = ObjectOptions(window_start="2026-03-01T00:00:00+00:00", window_end="2026-04-30T23:59:59+00:00")
EVENTS = schema_for(SyncObject.EVENTS)
STAMP = f"singleValueExtendedProperties($filter=id eq '{SALESFORCE_ID_PROPERTY}')"


def when(text: str, zone: str = "UTC") -> dict:
    return {"dateTime": text, "timeZone": zone}


def test_full_read_scope_time_zones_and_all_day(mailbox, plain):
    meeting = plain.add_event(subject="Review", location={"displayName": "Room 4"},
                              start=when("2026-03-10T09:30:00", "Europe/Paris"),
                              end=when("2026-03-10T10:30:00", "Europe/Paris"),
                              body={"contentType": "html", "content": "<p>Agenda</p>"}, showAs="tentative")
    holiday = plain.add_event(subject="Holiday", isAllDay=True, start=when("2026-03-16T00:00:00"),
                              end=when("2026-03-18T00:00:00"), showAs="oof")
    private = plain.add_event(subject="Doctor", start=when("2026-03-11T08:00:00"), end=when("2026-03-11T09:00:00"),
                              sensitivity="private")
    before = plain.add_event(subject="Old", start=when("2026-01-05T08:00:00"), end=when("2026-01-05T09:00:00"))
    after = plain.add_event(subject="Later", start=when("2026-06-05T08:00:00"), end=when("2026-06-05T09:00:00"))

    full = mailbox.side(SyncObject.EVENTS, WINDOW).changes(None)
    assert full.full and set(full.records) == {meeting["id"], holiday["id"]}
    assert full.records[meeting["id"]].fields == {
        "subject": "Review", "location": "Room 4", "start": dt.datetime(2026, 3, 10, 8, 30, tzinfo=UTC),
        "end": dt.datetime(2026, 3, 10, 9, 30, tzinfo=UTC), "is_all_day": False, "is_private": False,
        "show_as": "tentative", "description": "Agenda"}
    assert full.records[holiday["id"]].fields["start"] == dt.date(2026, 3, 16)
    assert full.records[holiday["id"]].fields["end"] == dt.date(2026, 3, 18)
    assert full.records[holiday["id"]].fields["show_as"] == "out_of_office"

    # out-of-scope items are still fetchable, marked out of scope (the engine asks for linked ones)
    fetched = mailbox.side(SyncObject.EVENTS, WINDOW).fetch([private["id"], before["id"], after["id"],
                                                             meeting["id"]])
    assert {i: r.in_scope for i, r in fetched.items()} == {private["id"]: False, before["id"]: False,
                                                           after["id"]: False, meeting["id"]: True}
    with_private = mailbox.side(SyncObject.EVENTS, ObjectOptions(
        sync_private_events=True, window_start=WINDOW.window_start, window_end=WINDOW.window_end)).changes(None)
    assert set(with_private.records) == {meeting["id"], holiday["id"], private["id"]}
    assert with_private.records[private["id"]].fields["is_private"] is True


def test_category_and_organizer_scope(mailbox, plain):
    tagged = plain.add_event(subject="Tagged", start=when("2026-03-03T08:00:00"), end=when("2026-03-03T09:00:00"),
                             categories=["Salesforce"])
    plain.add_event(subject="Untagged", start=when("2026-03-04T08:00:00"), end=when("2026-03-04T09:00:00"))
    options = ObjectOptions(event_category="salesforce", window_start=WINDOW.window_start,
                            window_end=WINDOW.window_end)
    assert set(mailbox.side(SyncObject.EVENTS, options).changes(None).records) == {tagged["id"]}
    mine = ObjectOptions(excluded_addresses=(mailbox.mailbox,), window_start=WINDOW.window_start,
                         window_end=WINDOW.window_end)
    assert mailbox.side(SyncObject.EVENTS, mine).changes(None).records == {}  # the organizer is excluded


def test_recurring_series_sync_as_occurrences_inside_the_window(mailbox, plain, control, email):
    weekly = plain.add_event(
        subject="Standup", start=when("2026-03-02T09:00:00", "Europe/Paris"),
        end=when("2026-03-02T09:15:00", "Europe/Paris"),
        recurrence={"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                    "range": {"type": "numbered", "startDate": "2026-02-02", "numberOfOccurrences": 20,
                              "recurrenceTimeZone": "Europe/Paris"}})
    options = ObjectOptions(window_start="2026-03-01T00:00:00+00:00", window_end="2026-03-31T23:59:59+00:00")
    full = mailbox.side(SyncObject.EVENTS, options).changes(None)
    starts = sorted(r.fields["start"] for r in full.records.values())
    # 09:00 in Paris: 08:00 UTC, and 07:00 UTC once summer time starts (29 March 2026)
    assert starts == [dt.datetime(2026, 3, d, 8 if d < 29 else 7, 0, tzinfo=UTC) for d in (2, 9, 16, 23, 30)]
    assert weekly["id"] not in full.records and all(r.fields["subject"] == "Standup" for r in full.records.values())

    # nothing changed: one delta request
    control.reset_stats()
    before = mailbox.calls.calls
    quiet = mailbox.side(SyncObject.EVENTS, options).changes(full.watermark)
    assert quiet.records == {} and quiet.deleted == set()
    assert mailbox.calls.calls - before == 1 and control.calls(email) == 1

    # the series changes: its occurrences are reported again, with the new content
    plain.patch(f"/events/{weekly['id']}", {"subject": "Daily standup"})
    changed = mailbox.side(SyncObject.EVENTS, options).changes(quiet.watermark)
    assert set(changed.records) == set(full.records) and not changed.deleted
    assert {r.fields["subject"] for r in changed.records.values()} == {"Daily standup"}

    # one occurrence deleted in Outlook: reported deleted
    third = sorted(changed.records.values(), key=lambda r: r.fields["start"])[2]
    plain.delete(f"/events/{third.id}")
    one_gone = mailbox.side(SyncObject.EVENTS, options).changes(changed.watermark)
    assert third.id in one_gone.deleted and third.id not in one_gone.records


def test_window_moving_starts_a_new_round_and_leavers_are_not_deleted(mailbox, plain):
    plain.add_event(subject="Daily", start=when("2026-03-01T07:00:00"), end=when("2026-03-01T07:30:00"),
                    recurrence={"pattern": {"type": "daily", "interval": 1},
                                "range": {"type": "numbered", "startDate": "2026-03-01", "numberOfOccurrences": 10}})
    march_1_3 = ObjectOptions(window_start="2026-03-01T00:00:00+00:00", window_end="2026-03-03T23:00:00+00:00")
    first = mailbox.side(SyncObject.EVENTS, march_1_3).changes(None)
    assert len(first.records) == 3
    march_3_5 = ObjectOptions(window_start="2026-03-03T00:00:00+00:00", window_end="2026-03-05T23:00:00+00:00")
    moved = mailbox.side(SyncObject.EVENTS, march_3_5).changes(first.watermark)
    assert moved.full and sorted(r.fields["start"].day for r in moved.records.values()) == [3, 4, 5]
    # the engine fetches linked records missing from a full change set: those that left are out of scope
    left = mailbox.side(SyncObject.EVENTS, march_3_5).fetch(list(first.records))
    assert sorted(r.fields["start"].day for r in left.values() if not r.in_scope) == [1, 2]


def test_an_event_moved_out_of_the_window_is_out_of_scope_not_deleted(mailbox, plain):
    inside = plain.add_event(subject="Move me", start=when("2026-03-10T08:00:00"), end=when("2026-03-10T09:00:00"))
    doomed = plain.add_event(subject="Delete me", start=when("2026-03-11T08:00:00"), end=when("2026-03-11T09:00:00"))
    mark = mailbox.side(SyncObject.EVENTS, WINDOW).changes(None).watermark
    plain.patch(f"/events/{inside['id']}", {"start": when("2026-08-10T08:00:00"), "end": when("2026-08-10T09:00:00")})
    plain.delete(f"/events/{doomed['id']}")
    round1 = mailbox.side(SyncObject.EVENTS, WINDOW).changes(mark)
    assert round1.deleted == {doomed["id"]}
    assert round1.records[inside["id"]].in_scope is False


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
    call = plain.event(results[0].record_id, expand=STAMP)
    assert call["start"]["dateTime"].startswith("2026-03-12T14:00:00") and call["sensitivity"] == "private"
    assert call["showAs"] == "busy" and call["singleValueExtendedProperties"][0]["value"] == "00U000000000001AAA"
    assert not call.get("attendees")  # the sync never invites anyone
    offsite = plain.event(results[1].record_id)
    assert offsite["isAllDay"] and offsite["start"]["dateTime"].startswith("2026-03-20T00:00:00")
    assert offsite["end"]["dateTime"].startswith("2026-03-22T00:00:00")

    # what the connector reads back is what it was given (canonically)
    back = mailbox.side(SyncObject.EVENTS, ObjectOptions(sync_private_events=True)).fetch(
        [r.record_id for r in results])
    assert EVENTS.canonicalize(back[results[0].record_id].fields) == EVENTS.canonicalize(timed)
    assert EVENTS.canonicalize(back[results[1].record_id].fields) == EVENTS.canonicalize(all_day)

    found = mailbox.side(SyncObject.EVENTS, WINDOW).lookup(LookupRequest(SyncObject.EVENTS, "00U000000000002AAA",
                                                                         {}, ()))
    assert [r.id for r in found] == [results[1].record_id] and found[0].salesforce_id == "00U000000000002AAA"

    moved = {**timed, "start": dt.datetime(2026, 3, 13, 9, 0, tzinfo=UTC),
             "end": dt.datetime(2026, 3, 13, 10, 0, tzinfo=UTC), "is_private": False}
    updated = side.update([UpdateRequest(results[0].record_id, moved)])
    assert updated[0].ok and updated[0].version == plain.event(results[0].record_id)["changeKey"]
    again = mailbox.side(SyncObject.EVENTS, WINDOW).fetch([results[0].record_id])[results[0].record_id]
    assert EVENTS.canonicalize(again.fields) == EVENTS.canonicalize(moved) and again.in_scope
    assert again.salesforce_id == "00U000000000001AAA"  # an update keeps the stamp


def test_attendee_addresses(mailbox, plain):
    meeting = plain.add_event(subject="Deal", start=when("2026-03-10T08:00:00"), end=when("2026-03-10T09:00:00"),
                              attendees=[{"emailAddress": {"address": "Ann@Client.test"}, "type": "required"},
                                         {"emailAddress": {"address": mailbox.mailbox}, "type": "required"},
                                         {"emailAddress": {"address": "bob@rival.test"}, "type": "optional"}])
    side = mailbox.side(SyncObject.EVENTS, ObjectOptions(excluded_addresses=("@rival.test",)))
    assert side.attendee_addresses([meeting["id"], "AAMkAGI2missing"]) == {meeting["id"]: ["ann@client.test"]}


def test_many_changed_events_read_their_stamps_from_one_page(mailbox, email):
    side = mailbox.side(SyncObject.EVENTS, WINDOW)
    mark = side.changes(None).watermark
    made = side.create([CreateRequest({"subject": f"E{i}", "start": dt.datetime(2026, 3, 2, 8, tzinfo=UTC)
                                       + dt.timedelta(hours=i), "end": dt.datetime(2026, 3, 2, 9, tzinfo=UTC)
                                       + dt.timedelta(hours=i)}, f"00U{i:015d}") for i in range(45)])
    assert all(r.ok for r in made) and mailbox.calls.by_operation["$batch"] == 3
    reader = GraphMailbox(mailbox.settings, email)
    changed = reader.side(SyncObject.EVENTS, WINDOW).changes(mark)
    assert {r.salesforce_id for r in changed.records.values()} == {f"00U{i:015d}" for i in range(45)}
    assert reader.calls.by_operation == {"calendarView/delta": 1, "calendarView": 1}


def test_occurrences_that_delta_sends_bare_are_read_whole(mailbox, plain, monkeypatch):
    """Graph's calendarView/delta sends a series' occurrences with id, type, seriesMasterId, start and end only
    (microsoftgraph/microsoft-graph-docs#7632, #22197): their content comes from the calendar view."""
    plain.add_event(subject="Weekly", location={"displayName": "Room 1"},
                    start=when("2026-03-02T10:00:00"), end=when("2026-03-02T10:30:00"),
                    recurrence={"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                                "range": {"type": "numbered", "startDate": "2026-03-02", "numberOfOccurrences": 3}},
                    singleValueExtendedProperties=[{"id": SALESFORCE_ID_PROPERTY, "value": "00U000000000000042"}])
    reader = mailbox.side(SyncObject.EVENTS, WINDOW)
    real = reader._delta

    def bare_occurrences(link):
        changed, removed, delta = real(link)
        keep = ("@odata.etag", "id", "type", "seriesMasterId", "start", "end")
        return ({i: {k: v for k, v in item.items() if k in keep} if item.get("type") == "occurrence" else item
                 for i, item in changed.items()}, removed, delta)

    monkeypatch.setattr(reader, "_delta", bare_occurrences)
    full = reader.changes(None)
    assert len(full.records) == 3
    for record in full.records.values():
        assert record.fields["subject"] == "Weekly" and record.fields["location"] == "Room 1"
        assert record.version  # the change key of the occurrence, from the calendar view


def test_meetings_the_mailbox_organizes_are_never_changed_or_deleted_through_graph(mailbox, plain):
    meeting = plain.add_event(subject="Board", start=when("2026-03-10T08:00:00"), end=when("2026-03-10T09:00:00"),
                              attendees=[{"emailAddress": {"address": "ann@client.test"}, "type": "required"}])
    alone = plain.add_event(subject="Focus", start=when("2026-03-10T10:00:00"), end=when("2026-03-10T11:00:00"))
    side = mailbox.side(SyncObject.EVENTS, WINDOW)
    results = side.delete([meeting["id"], alone["id"], "AAMkAGI2gone"])
    assert [r.ok for r in results] == [False, True, True]
    assert results[0].error.code == "meeting_not_deleted" and not results[0].error.transient
    assert plain.event(meeting["id"])["subject"] == "Board"  # still there: no cancellation was sent
    assert plain.call("GET", f"/events/{alone['id']}", expect=404) is not None
    # read in this run already: no second look before deleting
    reader = mailbox.side(SyncObject.EVENTS, WINDOW)
    reader.changes(None)
    before = mailbox.calls.by_operation.get("$batch", 0)
    assert reader.delete([meeting["id"]])[0].error.code == "meeting_not_deleted"
    assert mailbox.calls.by_operation.get("$batch", 0) == before

    # nor changed (Graph would send the attendees an update); stamping it is fine
    results = reader.update([UpdateRequest(meeting["id"], {"subject": "Board (moved)",
                                                           "start": dt.datetime(2026, 3, 10, 9, tzinfo=UTC),
                                                           "end": dt.datetime(2026, 3, 10, 10, tzinfo=UTC)}),
                             UpdateRequest(meeting["id"], None, "00U000000000000077")])
    assert results[0].error.code == "meeting_not_updated" and results[1].ok
    after = plain.event(meeting["id"], expand=STAMP)
    assert after["subject"] == "Board" and after["singleValueExtendedProperties"][0]["value"] == "00U000000000000077"

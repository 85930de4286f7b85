"""Recurring series synced as series (ObjectOptions.series_as_series) against the sandbox org: an intact series is
one record and its occurrences none; an occurrence edited or deleted on its own turns the series into its
occurrences (the series record is then reshaped, never lost); series are written with their pattern."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from sync.engine import CreateRequest, SyncObject, UpdateRequest
from sync.engine.canonical import schema_for
from tests.connectors.salesforce.conftest import owned_by

EVENTS = SyncObject.EVENTS


def series_options(user):
    return replace(owned_by(user), series_as_series=True)


def weekly(sf, subject="Weekly sync", **extra):
    return sf.Event.create({
        "Subject": subject, "StartDateTime": "2026-12-01T09:00:00Z", "DurationInMinutes": 30,
        "IsRecurrence": True, "RecurrenceType": "RecursWeekly", "RecurrenceInterval": 1,
        "RecurrenceDayOfWeekMask": 4, "RecurrenceStartDateTime": "2026-12-01T09:00:00Z",
        "RecurrenceEndDateOnly": "2027-01-31", "RecurrenceTimeZoneSidKey": "Europe/Paris", **extra})["id"]


def occurrences(sf, master):
    return sf.query_all(f"SELECT Id, StartDateTime FROM Event WHERE RecurrenceActivityId = '{master}' "  # noqa: S608
                        "AND IsRecurrence = false ORDER BY StartDateTime")["records"]


def test_an_intact_series_is_one_record(org, user):
    sf = org.sf(user)
    master = weekly(sf)
    single = sf.Event.create({"Subject": "Lunch", "StartDateTime": "2026-12-02T12:00:00Z",
                              "DurationInMinutes": 60})["id"]
    children = [row["Id"] for row in occurrences(sf, master)]
    assert len(children) == 9  # Tuesdays from 1 Dec to 26 Jan

    full = org.client(user).side(EVENTS, series_options(user)).changes(None)
    assert set(full.records) == {master, single} and full.reshaped == set(children)
    fields = full.records[master].fields
    assert fields["recurrence"] == "pattern=weekly;interval=1;days=TU;until=2027-01-31;tz=Europe/Paris"
    assert fields["start"] == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert fields["end"] == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)

    off = org.client(user).side(EVENTS, owned_by(user)).changes(None)  # the switch off: occurrences, as before
    assert set(off.records) == {single, *children} and not off.reshaped


def test_an_occurrence_edited_alone_turns_the_series_into_occurrences(org, user):
    sf = org.sf(user)
    master = weekly(sf, "Team call")
    side = org.client(user).side(EVENTS, series_options(user))
    first = side.changes(None)
    assert master in first.records
    quiet = org.client(user).side(EVENTS, series_options(user)).changes(first.watermark)
    # records stamped at the watermark come back unchanged (same version): the engine takes them as unchanged
    assert all(record.version == first.records[i].version for i, record in quiet.records.items())
    assert not quiet.deleted and master not in quiet.reshaped

    third = occurrences(sf, master)[2]["Id"]
    sf.Event.update(third, {"Subject": "Team call (moved)", "StartDateTime": "2026-12-15T11:00:00Z"})
    changed = org.client(user).side(EVENTS, series_options(user)).changes(first.watermark)
    assert changed.reshaped == {master} and master not in changed.records
    children = {row["Id"] for row in occurrences(sf, master)}
    assert set(changed.records) >= children and changed.records[third].fields["subject"] == "Team call (moved)"
    assert all(not r.fields.get("recurrence") for r in changed.records.values())
    full = org.client(user).side(EVENTS, series_options(user)).changes(None)
    assert master in full.reshaped and children <= set(full.records)

    # an occurrence deleted alone: the series is not intact either
    other = weekly(sf, "Review")
    sf.Event.delete(occurrences(sf, other)[0]["Id"])
    after = org.client(user).side(EVENTS, series_options(user)).changes(None)
    assert other in after.reshaped and len([r for r in after.records.values()
                                            if r.fields["subject"] == "Review"]) == 8


def test_series_are_written_as_series_and_read_back_equal(org, user):
    side = org.client(user).side(EVENTS, series_options(user))
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    fields = {"subject": "Standup", "start": start, "end": start + timedelta(minutes=15), "show_as": "busy",
              "recurrence": "pattern=weekly;interval=1;days=MO,WE;until=2026-04-29;tz=Europe/Paris"}
    (created,) = side.create([CreateRequest(fields)])
    assert created.ok, created.error
    sf = org.sf(user)
    row = sf.Event.get(created.record_id)
    assert row["IsRecurrence"] and row["RecurrenceType"] == "RecursWeekly" and row["RecurrenceDayOfWeekMask"] == 10
    children = occurrences(sf, created.record_id)
    assert len(children) == 18
    # 09:00 in Paris on both sides of the change to summer time (29 March)
    assert children[0]["StartDateTime"].startswith("2026-03-02T08:00") and \
        children[-1]["StartDateTime"].startswith("2026-04-29T07:00")
    read = org.client(user).side(EVENTS, series_options(user)).changes(None).records[created.record_id]
    schema = schema_for(EVENTS)
    assert schema.content_hash(read.fields) == schema.content_hash(fields)

    monthly = {**fields, "recurrence": "pattern=monthly_nth;interval=1;days=MO;instance=last;until=2026-06-30;tz=UTC"}
    (updated,) = side.update([UpdateRequest(created.record_id, monthly)])
    assert updated.ok, updated.error
    assert [c["StartDateTime"][:10] for c in occurrences(sf, created.record_id)] == [
        "2026-03-30", "2026-04-27", "2026-05-25", "2026-06-29"]

    # a single event cannot become a series in Salesforce: a clear record error, nothing half written
    single = side.create([CreateRequest({"subject": "Once", "start": start, "end": start + timedelta(hours=1)})])[0]
    # (also when this run has not read the event: the connector asks Salesforce first)
    again = org.client(user).side(EVENTS, series_options(user))
    again.changes(None)
    (refused,) = again.update([UpdateRequest(single.record_id, {**monthly, "subject": "Once"})])
    assert refused.error is not None and refused.error.code == "SERIES_SHAPE_CHANGED"
    unread = org.client(user).side(EVENTS, series_options(user))
    (refused,) = unread.update([UpdateRequest(single.record_id, {**monthly, "subject": "Once"})])
    assert refused.error is not None and refused.error.code == "SERIES_SHAPE_CHANGED"
    (refused,) = unread.update([UpdateRequest(created.record_id, {"subject": "Standup", "start": start,
                                                                  "end": start + timedelta(minutes=15)})])
    assert refused.error is not None and refused.error.code == "SERIES_SHAPE_CHANGED"
    assert sf.Event.get(single.record_id)["RecurrenceType"] is None


def test_all_day_series_are_intact_and_round_trip(org, user):
    side = org.client(user).side(EVENTS, series_options(user))
    fields = {"subject": "Trade fair", "start": date(2026, 5, 4), "end": date(2026, 5, 5), "is_all_day": True,
              "recurrence": "pattern=yearly_nth;interval=1;days=MO;instance=first;month=5;until=2028-12-31;tz=UTC"}
    (created,) = side.create([CreateRequest(fields)])
    assert created.ok, created.error
    sf = org.sf(user)
    assert [c["StartDateTime"][:10] for c in occurrences(sf, created.record_id)] == [
        "2026-05-04", "2027-05-03", "2028-05-01"]
    full = org.client(user).side(EVENTS, series_options(user)).changes(None)
    assert set(full.records) == {created.record_id} and len(full.reshaped) == 3
    read = full.records[created.record_id]
    assert {k: read.fields.get(k) for k in fields} == fields

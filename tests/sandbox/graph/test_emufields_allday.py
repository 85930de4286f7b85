"""Issue 17, item 1 on Graph: an all-day event's start and end are floating dates. Graph answers the wall-clock
midnights of the zone the event was made in, labelled with the zone the client asked for, never converted (an
all-day day off made in UTC-3 reads 00:00 "UTC", not 03:00: microsoftgraph/msgraph-sdk-javascript#1158; Microsoft
Q&A "Graph API - Events with property isAllDay"); times of other events are converted as usual."""

import pytest

WINDOW = {"startDateTime": "2026-03-27T00:00:00Z", "endDateTime": "2026-04-02T00:00:00Z"}


@pytest.mark.parametrize("zone", ["Romance Standard Time", "Pacific/Auckland", "America/Sao_Paulo"])
def test_all_day_event_reads_as_its_own_midnights_whatever_zone_is_asked_for(mb, zone):
    created = mb.ok("post", "calendar/events", 201, json={
        "subject": "Offsite", "isAllDay": True,
        "start": {"dateTime": "2026-03-29T00:00:00", "timeZone": zone},
        "end": {"dateTime": "2026-03-31T00:00:00", "timeZone": zone}})
    assert created["start"] == {"dateTime": "2026-03-29T00:00:00.0000000", "timeZone": "UTC"}
    assert created["end"] == {"dateTime": "2026-03-31T00:00:00.0000000", "timeZone": "UTC"}
    asked = mb.ok("get", f"events/{created['id']}", headers={"Prefer": 'outlook.timezone="Tokyo Standard Time"'})
    assert asked["start"] == {"dateTime": "2026-03-29T00:00:00.0000000", "timeZone": "Tokyo Standard Time"}
    listed = mb.ok("get", "calendarView", params=WINDOW, headers={"Prefer": 'outlook.timezone="UTC"'})
    assert [(e["start"]["dateTime"], e["end"]["dateTime"]) for e in listed["value"]] == [
        ("2026-03-29T00:00:00.0000000", "2026-03-31T00:00:00.0000000")]


def test_a_timed_event_is_still_converted(mb):
    created = mb.ok("post", "calendar/events", 201, json={
        "subject": "Call", "start": {"dateTime": "2026-03-30T09:00:00", "timeZone": "Romance Standard Time"},
        "end": {"dateTime": "2026-03-30T10:00:00", "timeZone": "Romance Standard Time"}})
    assert created["start"] == {"dateTime": "2026-03-30T07:00:00.0000000", "timeZone": "UTC"}

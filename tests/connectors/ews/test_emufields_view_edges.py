"""Issue 17, item 2: Exchange's CalendarView returns an item ending exactly at the view's StartDate (and none
starting at its EndDate). The connector reads a series' occurrences through views it halves while they come back
full: occurrences ending on the window's start and on the split points are read once each, none missed, none
counted twice; and all-day events (item 1) read as the dates their owner sees, whatever their time zone."""

import datetime as dt
from types import SimpleNamespace

import pytest
from exchangelib import EWSDate, EWSTimeZone
from exchangelib.recurrence import DailyPattern, Recurrence
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.connectors.base import ObjectOptions
from sync.connectors.ews import series as series_module
from sync.connectors.ews.convert import _all_day_last_day
from sync.engine import SyncObject
from tests.connectors.ews.test_ews_events import add_event, at

UTC = dt.UTC
WINDOW = ObjectOptions(window_start="2026-03-01T00:00:00+00:00", window_end="2026-04-30T23:59:59+00:00")
# The expansion range is [2026-03-01, 2026-05-01): its first halving splits it at 2026-03-31T00:00Z.


@pytest.mark.parametrize("page", [series_module.CALENDAR_VIEW_PAGE, 7, 2])
def test_occurrences_on_the_edges_of_split_views_are_read_once(mailbox, plain, monkeypatch, page):
    # Every occurrence ends at a midnight: the first exactly at the window's start, one at the first split point.
    master = add_event(plain, subject="Night shift", start=at(UTC, 2026, 2, 28, 23), end=at(UTC, 2026, 3, 1, 0),
                       recurrence=Recurrence(pattern=DailyPattern(interval=1), start=EWSDate(2026, 2, 28),
                                             number=70))
    monkeypatch.setattr(series_module, "CALENDAR_VIEW_PAGE", page)
    side = mailbox.side(SyncObject.EVENTS, WINDOW)
    found = side._occurrence_ids([master.id])[master.id]
    assert len(found) == len(set(found)) == 62  # 28 Feb (ends at the start) to 30 Apr (starts before the end)
    records = side.changes(None).records
    starts = sorted(r.fields["start"] for r in records.values() if r.fields["subject"] == "Night shift")
    assert len(starts) == 62 and starts[0] == dt.datetime(2026, 2, 28, 23, tzinfo=UTC)
    assert dt.datetime(2026, 3, 30, 23, tzinfo=UTC) in starts  # the one ending on the first split point


@pytest.mark.parametrize(("zone", "day"), [("Europe/Paris", (2026, 3, 29)), ("America/New_York", (2026, 11, 1)),
                                           ("Pacific/Auckland", (2026, 4, 5))])
def test_all_day_events_read_as_their_owners_dates_across_daylight_saving(mailbox, plain, zone, day):
    tz = EWSTimeZone(zone)
    first = dt.date(*day)
    # An Outlook user in that zone makes a two-day all-day event with sloppy times: Exchange keeps local midnights.
    item = add_event(plain, subject="Offsite", is_all_day=True, start=at(tz, *day, 10, 23),
                     end=at(tz, *day, 15, 40) + dt.timedelta(days=1))
    window = ObjectOptions(window_start=f"{first - dt.timedelta(days=5)}T00:00:00+00:00",
                           window_end=f"{first + dt.timedelta(days=5)}T00:00:00+00:00")
    fields = mailbox.side(SyncObject.EVENTS, window).changes(None).records[item.id].fields
    assert fields["is_all_day"] is True
    assert (fields["start"], fields["end"]) == (first, first + dt.timedelta(days=2))  # the end is exclusive


ALL_ZONES = ["Europe/Paris", "America/New_York", "Pacific/Auckland", "Australia/Lord_Howe", "America/St_Johns",
             "Asia/Kolkata", "UTC", "America/Santiago"]


@settings(max_examples=300)
@given(first=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2060, 12, 31)), days=st.integers(1, 20),
       zone=st.sampled_from(ALL_ZONES))
def test_an_all_day_events_last_day_comes_from_its_duration_whatever_the_clocks_did(first, days, zone):
    """What Exchange stores (local midnights), as exchangelib hands it over (the first day, the zone, Duration)."""
    tz = EWSTimeZone(zone)
    start = dt.datetime(first.year, first.month, first.day, tzinfo=tz)
    last = first + dt.timedelta(days=days - 1)
    end = dt.datetime(last.year, last.month, last.day, tzinfo=tz) + dt.timedelta(days=1)  # wall-clock midnight
    seconds = int(end.timestamp() - start.timestamp())
    duration = f"P{seconds // 86400}DT{seconds % 86400 // 3600}H{seconds % 3600 // 60}M"
    item = SimpleNamespace(start=first, duration=duration, _start_timezone=tz, _end_timezone=tz)
    assert _all_day_last_day(item) == last

"""All-day events are written from midnight to midnight in their owner's zone (issue 17, item 1 follow-up): Graph
gets the zone with the floating midnights, EWS gets it as the item's start and end zone."""

import datetime as dt

from exchangelib import EWSTimeZone

from sync.connectors.ews.convert import model_kwargs, own_zone
from sync.engine import SyncObject
from sync.mappings import exchange as ews
from sync.mappings import graph

ALL_DAY = {"subject": "Holiday", "is_all_day": True, "start": dt.date(2026, 12, 24), "end": dt.date(2026, 12, 26)}


def test_graph_writes_all_day_midnights_in_the_owners_zone():
    body = graph.to_graph(SyncObject.EVENTS, ALL_DAY, time_zone="Europe/Paris")
    assert body["start"] == {"dateTime": "2026-12-24T00:00:00", "timeZone": "Europe/Paris"}
    assert body["end"] == {"dateTime": "2026-12-26T00:00:00", "timeZone": "Europe/Paris"}
    # no zone known: UTC, as before
    assert graph.to_graph(SyncObject.EVENTS, ALL_DAY)["start"] == {"dateTime": "2026-12-24T00:00:00",
                                                                    "timeZone": "UTC"}


def test_graph_writes_timed_events_as_utc_instants_whatever_the_owners_zone():
    timed = {"subject": "Call", "start": dt.datetime(2026, 12, 24, 9, tzinfo=dt.UTC),
             "end": dt.datetime(2026, 12, 24, 10, tzinfo=dt.UTC)}
    body = graph.to_graph(SyncObject.EVENTS, timed, time_zone="Pacific/Auckland")
    assert body["start"] == {"dateTime": "2026-12-24T09:00:00", "timeZone": "UTC"}


def test_ews_all_day_items_carry_the_zone_given():
    kwargs = model_kwargs(SyncObject.EVENTS, ews.event_to_ews(ALL_DAY), "Pacific/Auckland")
    assert kwargs["_start_timezone"] == kwargs["_end_timezone"] == EWSTimeZone("Pacific/Auckland")
    assert model_kwargs(SyncObject.EVENTS, ews.event_to_ews(ALL_DAY))["_start_timezone"] == EWSTimeZone("UTC")
    timed = {"subject": "Call", "start": dt.datetime(2026, 12, 24, 9, tzinfo=dt.UTC),
             "end": dt.datetime(2026, 12, 24, 10, tzinfo=dt.UTC)}
    assert "_start_timezone" not in model_kwargs(SyncObject.EVENTS, ews.event_to_ews(timed), "Europe/Paris")


def test_an_items_own_zone_is_kept_unless_it_is_utc():
    class Item:
        def __init__(self, zone):
            self._start_timezone = EWSTimeZone(zone) if zone else None

    assert own_zone(Item("Asia/Tokyo")) == EWSTimeZone("Asia/Tokyo")
    assert own_zone(Item("UTC")) is None  # what the product wrote before it knew its users' zones
    assert own_zone(Item(None)) is None


def test_a_graph_events_own_zone_is_kept_unless_it_is_utc_or_custom():
    assert graph.own_zone({"originalStartTimeZone": "Tokyo Standard Time"}) == "Tokyo Standard Time"
    assert graph.own_zone({"originalStartTimeZone": "Asia/Tokyo"}) == "Asia/Tokyo"
    for zone in ("UTC", "tzone://Microsoft/Utc", "tzone://Microsoft/Custom", "", None):
        assert graph.own_zone({"originalStartTimeZone": zone}) is None


def test_the_owners_zone_goes_to_graph_by_its_windows_name():
    from sync.connectors.graph.writes import graph_zone

    assert graph_zone("Europe/Paris") == "Romance Standard Time"
    assert graph_zone("Pacific/Auckland") == "New Zealand Standard Time"
    assert graph_zone("GMT") == graph_zone("") == "UTC"

"""Issue 17, item 1 over the field maps: an all-day event keeps its days through every end's representation, in any
zone and across daylight-saving changes: Salesforce (first day and minutes), EWS (dates, inclusive last day) and
Graph (floating midnights, as the Graph emulator answers an event made in any zone)."""

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.graph.events import _when_out
from sync.engine import SyncObject
from sync.engine.canonical import schema_for
from sync.mappings import exchange as ews
from sync.mappings import graph
from sync.mappings import salesforce as sf

EVENTS = schema_for(SyncObject.EVENTS)
ZONES = ["Romance Standard Time", "Eastern Standard Time", "New Zealand Standard Time", "UTC",
         "Pacific/Chatham", "America/St_Johns", "Asia/Kolkata"]
IANA = {"Romance Standard Time": "Europe/Paris", "Eastern Standard Time": "America/New_York",
        "New Zealand Standard Time": "Pacific/Auckland"}


@settings(max_examples=300)
@given(first=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2060, 12, 31)), days=st.integers(1, 15),
       zone=st.sampled_from(ZONES), asked=st.sampled_from([None, "UTC", "Tokyo Standard Time", "Pacific/Honolulu"]))
def test_all_day_days_survive_every_end(first, days, zone, asked):
    canonical = EVENTS.canonicalize({"subject": "Offsite", "is_all_day": True, "show_as": "busy", "start": first,
                                     "end": first + dt.timedelta(days=days)})
    # Salesforce: a first day and a length in minutes.
    body = sf.to_salesforce(SyncObject.EVENTS, canonical)
    assert (body["ActivityDate"], body["DurationInMinutes"]) == (first.isoformat(), 1440 * days)
    assert EVENTS.canonicalize(sf.to_canonical(SyncObject.EVENTS, {**body, "IsAllDayEvent": True})) == canonical
    # EWS: dates with an inclusive last day, as exchangelib hands them over.
    assert EVENTS.canonicalize(ews.event_from_ews(ews.event_to_ews(canonical))) == canonical
    # Graph: made by a user in `zone` (its local midnights, stored as instants), read in the zone asked for.
    tz = ZoneInfo(IANA.get(zone, zone))
    stored = {"isAllDay": True, "startTimeZone": zone, "endTimeZone": zone}
    start = dt.datetime(first.year, first.month, first.day, tzinfo=tz)
    end_day = first + dt.timedelta(days=days)
    end = dt.datetime(end_day.year, end_day.month, end_day.day, tzinfo=tz)
    item = {"subject": "Offsite", "isAllDay": True, "showAs": "busy",
            "start": _when_out(start, stored, "start", asked), "end": _when_out(end, stored, "end", asked)}
    assert EVENTS.canonicalize(graph.event_from_graph(item)) == canonical
    # Graph: what the product writes reads back the same.
    written = graph.event_to_graph(canonical)
    assert EVENTS.canonicalize(graph.event_from_graph({**written, "isAllDay": True})) == canonical

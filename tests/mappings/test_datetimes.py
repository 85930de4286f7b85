"""The one set of date/time coercions (sync.mappings.datetimes) every field map uses."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sync.engine import canonical
from sync.mappings.datetimes import iso_milliseconds, iso_utc, iso_wall, to_date, to_utc

PARIS = ZoneInfo("Europe/Paris")


def test_instants_are_utc_to_the_whole_second():
    assert to_utc(None) is None and to_utc("") is None
    assert to_utc(dt.datetime(2026, 3, 2, 9, 30, 15, 999999, tzinfo=PARIS)) == dt.datetime(2026, 3, 2, 8, 30, 15,
                                                                                            tzinfo=dt.UTC)
    assert to_utc(dt.datetime(2026, 3, 2, 8)) == dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC)  # naive: UTC
    assert to_utc("2026-03-02T08:00:00Z") == to_utc("2026-03-02T09:00:00+01:00") == to_utc("2026-03-02T08:00:00")
    assert to_utc(dt.date(2026, 3, 2)) == dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    with pytest.raises(TypeError):
        to_utc(12)


def test_salesforce_stamps_keep_their_milliseconds():
    stamp = to_utc("2026-11-22T10:00:00.250+0000", whole_seconds=False)
    assert stamp == dt.datetime(2026, 11, 22, 10, 0, 0, 250000, tzinfo=dt.UTC)
    assert iso_milliseconds(stamp) == "2026-11-22T10:00:00.250+0000"


def test_dates_are_taken_as_written():
    assert to_date(None) is None and to_date("") is None
    late = dt.datetime(2026, 3, 2, 23, 30, tzinfo=ZoneInfo("Pacific/Auckland"))  # the day before in UTC
    assert to_date(late) == dt.date(2026, 3, 2)
    assert to_date(" 2026-03-02T10:00:00Z") == dt.date(2026, 3, 2)
    assert type(to_date(type("SubDate", (dt.date,), {})(2026, 3, 2))) is dt.date


def test_iso_formats():
    moment = dt.datetime(2026, 3, 2, 9, 30, tzinfo=PARIS)
    assert iso_utc(moment) == "2026-03-02T08:30:00Z"
    assert iso_wall(moment) == "2026-03-02T08:30:00"


# The engine may import nothing outside itself, so its canonical form keeps its own normalisers; they must agree with
# the mappings' coercions on every value, or a record written by a map would read as changed to the engine.
_instants = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1),
                         timezones=st.sampled_from([dt.UTC, PARIS, ZoneInfo("America/New_York")]))


@given(_instants)
@example(dt.datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=dt.UTC))  # before 1970: floored, not truncated
def test_the_engine_compares_instants_as_the_maps_write_them(value):
    assert canonical.DATETIME(value) == to_utc(value)
    assert canonical.DATETIME(value.isoformat()) == to_utc(value.isoformat())
    assert canonical.DATETIME(value.replace(tzinfo=None)) == to_utc(value.replace(tzinfo=None))


@given(st.one_of(st.dates(), _instants))
def test_the_engine_compares_dates_as_the_maps_write_them(value):
    assert canonical.DATE(value) == to_date(value)
    assert canonical.DATE(value.isoformat()) == to_date(value.isoformat())

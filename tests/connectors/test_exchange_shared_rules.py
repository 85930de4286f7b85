"""What the EWS and Graph connectors share (sync.connectors.exchange): scope rules, the folder-missing answer,
instant parsing, and the capabilities each end declares. Pure: no sandbox."""

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from sync.connectors.base import ObjectOptions
from sync.connectors.ews import EwsMailbox, EwsSide
from sync.connectors.exchange import (
    event_in_window,
    event_kept_by_options,
    folder_missing,
    is_excluded,
    parse_instant,
)
from sync.connectors.graph import GraphMailbox, GraphSide

instants = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2090, 1, 1),
                        timezones=st.just(dt.UTC))


def test_excluded_addresses():
    excluded = ("boss@corp.test", "@rival.test", "spam.test")
    assert is_excluded("BOSS@corp.test", excluded)
    assert is_excluded("a@rival.test", excluded) and is_excluded("a@eu.rival.test", excluded)
    assert is_excluded("x@spam.test", excluded)
    assert not is_excluded("boss2@corp.test", excluded) and not is_excluded("a@notrival.test", excluded)
    assert not is_excluded(None, excluded) and not is_excluded("a@b.test", ())


@given(start=instants, minutes=st.integers(0, 600))
def test_window_is_an_overlap_test(start, minutes):
    end = start + dt.timedelta(minutes=minutes)
    assert event_in_window(start, end, start - dt.timedelta(days=1), start + dt.timedelta(days=1))
    assert event_in_window(start, end, end, None)  # touching the window's start counts
    assert not event_in_window(start, end, end + dt.timedelta(seconds=1), None)
    assert not event_in_window(start, end, None, start - dt.timedelta(seconds=1))
    assert event_in_window(start, end, None, None)


def test_an_events_privacy_category_and_organizer_decide_with_the_options():
    plain = ObjectOptions()
    assert event_kept_by_options(plain, private=False, categories=[])
    assert not event_kept_by_options(plain, private=True, categories=[])
    assert event_kept_by_options(ObjectOptions(sync_private_events=True), private=True, categories=[])
    tagged = ObjectOptions(event_category="CRM")
    assert event_kept_by_options(tagged, private=False, categories=["crm", "Other"])
    assert not event_kept_by_options(tagged, private=False, categories=["Other"])
    excluding = ObjectOptions(excluded_addresses=("@rival.test",))
    assert not event_kept_by_options(excluding, private=False, categories=[], organizer="Bob@Rival.test")
    assert event_kept_by_options(excluding, private=False, categories=[], organizer="ann@client.test")


def test_a_missing_contacts_folder_needs_a_person():
    error = folder_missing("Salesforce_Sync")
    assert error.code == "contacts_folder_missing" and "'Salesforce_Sync'" in error.message and error.action


def test_window_bounds_are_utc_instants():
    assert parse_instant(None) is None and parse_instant("") is None
    assert parse_instant("2026-03-02T08:00:00") == dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC)
    assert parse_instant("2026-03-02T09:00:00+01:00") == dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC)


def test_series_support_is_a_property_of_the_end():
    assert EwsMailbox.supports_series is True and EwsSide.supports_series is True
    assert GraphMailbox.supports_series is True and GraphSide.supports_series is True
    assert (EwsMailbox.protocol, GraphMailbox.protocol) == ("ews", "graph")

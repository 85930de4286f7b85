"""The pure EWS field map: round trips (hypothesis), time zones, all-day dates, picklists."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.engine import SyncObject
from sync.engine.canonical import schema_for
from sync.mappings import exchange as m

CONTACTS, EVENTS, TASKS = (schema_for(o) for o in (SyncObject.CONTACTS, SyncObject.EVENTS, SyncObject.TASKS))
ZONES = [ZoneInfo(z) for z in ("UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe",
                               "Pacific/Chatham", "America/St_Johns")]

text = st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30))
multiline = st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                                               blacklist_characters="\x00\r"), max_size=60))
dates = st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2090, 12, 31))
# Real instants shown in any zone (never a wall-clock time that a DST change skips)
utc_instants = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2080, 1, 1),
                            timezones=st.just(dt.UTC))
instants = st.tuples(utc_instants, st.sampled_from(ZONES)).map(lambda t: t[0].astimezone(t[1]))
emails = st.one_of(st.none(), st.builds("{}@{}.test".format, st.from_regex(r"[A-Za-z0-9._%+-]{1,12}", fullmatch=True),
                                         st.from_regex(r"[a-z0-9-]{1,10}", fullmatch=True)))


@given(st.fixed_dictionaries({
    "first_name": text, "last_name": text, "email": emails, "company": text, "title": text, "department": text,
    "business_phone": text, "mobile_phone": text, "home_phone": text, "fax": text, "street": multiline,
    "city": text, "state": text, "postal_code": text, "country": text, "birthday": st.one_of(st.none(), dates),
    "notes": multiline}))
def test_contact_round_trip(fields):
    view = m.contact_to_ews(fields)
    assert CONTACTS.canonicalize(m.contact_from_ews(view)) == CONTACTS.canonicalize(fields)


@given(start=instants, minutes=st.integers(0, 60 * 24 * 3), subject=text, location=text, description=multiline,
       private=st.booleans(), show_as=st.sampled_from([None, "busy", "free", "out_of_office", "tentative"]),
       view_zone=st.sampled_from(ZONES))
def test_timed_event_round_trip_through_any_time_zone(start, minutes, subject, location, description, private,
                                                      show_as, view_zone):
    fields = {"subject": subject, "location": location, "start": start,
              "end": start + dt.timedelta(minutes=minutes), "is_all_day": False, "is_private": private,
              "show_as": show_as, "description": description}
    view = m.event_to_ews(fields)
    assert view["start"].tzinfo == dt.UTC and view["end"] >= view["start"]
    # EWS answers in whatever zone the item was saved in: the instant is what counts
    view = {**view, "start": view["start"].astimezone(view_zone), "end": view["end"].astimezone(view_zone)}
    expected = EVENTS.canonicalize({**fields, "show_as": show_as or "busy"})
    assert EVENTS.canonicalize(m.event_from_ews(view)) == expected


@given(start=dates, days=st.integers(1, 30))
def test_all_day_event_round_trip_keeps_dates(start, days):
    fields = {"subject": "Off", "start": start, "end": start + dt.timedelta(days=days), "is_all_day": True}
    view = m.event_to_ews(fields)
    assert view["start"] == start and view["end"] == start + dt.timedelta(days=days - 1)  # exchangelib: last day
    assert EVENTS.canonicalize(m.event_from_ews(view)) == EVENTS.canonicalize({**fields, "show_as": "busy"})


def test_all_day_wire_values_are_midnights_in_the_event_zone():
    paris = ZoneInfo("Europe/Paris")
    wire = {"is_all_day": True, "start": dt.datetime(2026, 3, 2, tzinfo=paris),
            "end": dt.datetime(2026, 3, 3, tzinfo=paris)}
    got = m.event_from_ews(wire)
    assert (got["start"], got["end"]) == (dt.date(2026, 3, 2), dt.date(2026, 3, 3))
    assert m.event_to_ews({"is_all_day": True, "start": dt.date(2026, 3, 2), "end": dt.date(2026, 3, 2)})["end"] \
        == dt.date(2026, 3, 2)  # a zero-length all-day event still covers its day


@given(st.fixed_dictionaries({
    "subject": text, "due_date": st.one_of(st.none(), dates),
    "status": st.sampled_from(["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"]),
    "priority": st.sampled_from(["High", "Normal", "Low"]),
    "reminder_at": st.one_of(st.none(), instants), "description": multiline}))
def test_task_round_trip(fields):
    assert TASKS.canonicalize(m.task_from_ews(m.task_to_ews(fields))) == TASKS.canonicalize(fields)


@pytest.mark.parametrize(("ews", "canonical"), [("NotStarted", "Not Started"), ("InProgress", "In Progress"),
                                                ("Completed", "Completed"),
                                                ("WaitingOnOthers", "Waiting on someone else"),
                                                ("Deferred", "Deferred")])
def test_task_status_picklist(ews, canonical):
    assert m.task_from_ews({"status": ews})["status"] == canonical
    assert m.task_to_ews({"status": canonical.upper()})["status"] == ews


def test_show_as_and_sensitivity():
    assert [m.event_from_ews({"legacy_free_busy_status": s})["show_as"]
            for s in ("Free", "Busy", "OOF", "Tentative", "WorkingElsewhere", "NoData")] == \
        ["free", "busy", "out_of_office", "tentative", "busy", None]
    assert m.event_to_ews({"show_as": "Out_Of_Office"})["legacy_free_busy_status"] == "OOF"
    assert [m.event_from_ews({"sensitivity": s})["is_private"] for s in ("Normal", "Personal", "Private",
                                                                          "Confidential")] == [False, False, True,
                                                                                               True]
    assert m.event_to_ews({"is_private": True})["sensitivity"] == "Private"


def test_contact_view_shape_and_email_case():
    view = m.contact_to_ews({"first_name": " Ann ", "email": "Ann@Acme.TEST", "fax": "1", "city": "Paris",
                             "business_phone": ""})
    assert view["email_addresses"] == {"EmailAddress1": "ann@acme.test"}
    assert view["phone_numbers"] == {"BusinessFax": "1"}
    assert view["physical_addresses"] == {"Business": {"street": None, "city": "Paris", "state": None,
                                                       "zipcode": None, "country": None}}
    assert m.contact_to_ews({})["physical_addresses"] == {} and m.contact_to_ews({})["email_addresses"] == {}


def test_html_bodies_read_as_text():
    html = ("<html><head><style>p{color:red}</style></head><body><p>Hello&nbsp;<b>Ann</b>,</p>"
            "<div>line two</div><br><p></p></body></html>")
    assert m.body_text({"body": html, "body_is_html": True}) == "Hello Ann,\nline two"
    assert m.body_text({"body": "a\r\nb", "body_is_html": False}) == "a\nb"
    assert m.body_text({"body": "  ", "body_is_html": False}) is None


def test_every_canonical_field_is_mapped():
    for object_type, maps in m.FIELD_MAPS.items():
        assert {f.canonical for f in maps} | m.UNMAPPED[object_type] == set(schema_for(object_type).names)

"""Canonical records and content hashing: what must compare equal does, what differs does not."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.engine import SyncObject, match_keys, match_records, schema_for
from sync.engine.records import Side, SideRecord

CONTACTS, EVENTS, TASKS = (schema_for(o) for o in SyncObject)
PARIS = timezone(timedelta(hours=1))


def test_whitespace_and_email_case_do_not_change_the_hash():
    a = {"first_name": " Ann ", "last_name": "Lee", "email": "Ann.Lee@Example.COM", "company": "Acme  Corp"}
    b = {"first_name": "Ann", "last_name": "Lee ", "email": "ann.lee@example.com", "company": "Acme Corp"}
    assert CONTACTS.content_hash(a) == CONTACTS.content_hash(b)
    assert CONTACTS.content_hash(a) != CONTACTS.content_hash({**b, "company": "Acme Inc"})


def test_empty_values_and_unknown_fields_do_not_change_the_hash():
    base = {"subject": "Call", "due_date": "2026-03-02"}
    assert TASKS.content_hash(base) == TASKS.content_hash({**base, "status": "", "description": "  \n ",
                                                           "sf_only_field": 42})


def test_multiline_text_line_endings_are_normalised():
    assert TASKS.content_hash({"description": "a  \r\nb\r\n\r\n"}) == TASKS.content_hash({"description": "a\nb"})
    assert TASKS.content_hash({"description": "a\nb"}) != TASKS.content_hash({"description": "a b"})


def test_time_zones_are_converted_to_utc_and_sub_seconds_dropped():
    utc = {"subject": "Demo", "start": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
           "end": datetime(2026, 3, 2, 10, 0, tzinfo=UTC)}
    local = {"subject": "Demo", "start": datetime(2026, 3, 2, 10, 0, 0, 123000, tzinfo=PARIS),
             "end": "2026-03-02T11:00:00+01:00"}
    assert EVENTS.content_hash(utc) == EVENTS.content_hash(local)
    assert EVENTS.canonicalize(local)["start"] == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert EVENTS.content_hash(utc) != EVENTS.content_hash({**utc, "start": datetime(2026, 3, 2, 9, 1, tzinfo=UTC)})


def test_all_day_events_compare_by_date_never_shifted_through_utc():
    sf = {"subject": "Holiday", "is_all_day": True, "start": date(2026, 3, 2), "end": date(2026, 3, 3)}
    ews = {"subject": "Holiday", "is_all_day": True, "start": datetime(2026, 3, 2, 0, 0, tzinfo=PARIS),
           "end": datetime(2026, 3, 3, 0, 0, tzinfo=PARIS)}
    assert EVENTS.canonicalize(ews)["start"] == date(2026, 3, 2)
    assert EVENTS.content_hash(sf) == EVENTS.content_hash(ews)
    timed = {**sf, "is_all_day": False}
    assert EVENTS.content_hash(timed) != EVENTS.content_hash(sf)


def test_fields_a_side_does_not_map_are_ignored():
    schema = CONTACTS.without(["fax", "birthday"])
    a = {"last_name": "Lee", "fax": "1", "birthday": "1980-01-01"}
    assert schema.content_hash(a) == schema.content_hash({"last_name": "Lee", "fax": "2"})
    assert CONTACTS.content_hash(a) != CONTACTS.content_hash({"last_name": "Lee", "fax": "2"})
    assert "fax" not in schema.canonicalize(a)
    with pytest.raises(ValueError, match="unknown"):
        CONTACTS.without(["nickname"])


text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)


@given(st.fixed_dictionaries({}, optional={name: text for name in TASKS.names if name not in
                                           ("due_date", "reminder_at")}))
def test_canonicalize_is_idempotent_and_the_hash_depends_only_on_canonical_content(fields):
    once = TASKS.canonicalize(fields)
    assert TASKS.canonicalize(once) == once
    assert TASKS.content_hash(fields) == TASKS.content_hash(once)


@given(st.datetimes(timezones=st.timezones()), st.datetimes(timezones=st.timezones()))
def test_equal_instants_hash_equal_and_different_instants_differ(a, b):
    ha = EVENTS.content_hash({"subject": "x", "start": a})
    hb = EVENTS.content_hash({"subject": "x", "start": b})
    same_second = a.astimezone(UTC).replace(microsecond=0) == b.astimezone(UTC).replace(microsecond=0)
    assert (ha == hb) is same_second


# ---- matching keys -------------------------------------------------------------------------------------------

def rec(record_id: str, **fields) -> SideRecord:
    return SideRecord(record_id, "1", fields)


def test_contacts_match_by_email_then_by_name_and_company_case_insensitively():
    result = match_records(
        CONTACTS,
        [rec("s1", email="A@x.com", last_name="One"), rec("s2", first_name="Bo", last_name="Ek", company="ACME")],
        [rec("o1", email="a@X.com", last_name="Other"), rec("o2", first_name="bo", last_name="EK", company="acme")],
    )
    assert sorted((s.id, o.id, why) for s, o, why in result.pairs) == [
        ("s1", "o1", "match_email"), ("s2", "o2", "match_name_company")]


def test_contacts_with_same_name_but_different_emails_are_different_people():
    result = match_records(CONTACTS, [rec("s1", first_name="Bo", last_name="Ek", email="bo@a.com")],
                           [rec("o1", first_name="Bo", last_name="Ek", email="bo@b.com")])
    assert not result.pairs and not result.ambiguous


def test_events_match_by_subject_start_and_end():
    start, end = "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"
    result = match_records(EVENTS, [rec("s1", subject="Demo", start=start, end=end),
                                    rec("s2", subject="Demo", start=start, end="2026-03-02T11:00:00Z")],
                           [rec("o1", subject="demo", start="2026-03-02T10:00:00+01:00", end=end)])
    assert [(s.id, o.id) for s, o, _ in result.pairs] == [("s1", "o1")]


def test_tasks_match_by_subject_and_due_date_or_subject_alone_without_due_date():
    result = match_records(TASKS, [rec("s1", subject="Call", due_date="2026-03-02"), rec("s2", subject="Call")],
                           [rec("o1", subject="call"), rec("o2", subject="Call", due_date="2026-03-03"),
                            rec("o3", subject="Call", due_date="2026-03-02")])
    assert sorted((s.id, o.id) for s, o, _ in result.pairs) == [("s1", "o3"), ("s2", "o1")]


def test_ambiguous_key_is_reported_for_every_record_that_shares_it():
    result = match_records(TASKS, [rec("s1", subject="Call"), rec("s2", subject="call")], [rec("o1", subject="CALL")])
    assert not result.pairs
    assert sorted((side, r.id) for side, r, _ in result.ambiguous) == [
        (Side.OUTLOOK, "o1"), (Side.SALESFORCE, "s1"), (Side.SALESFORCE, "s2")]


def test_records_without_keys_never_match():
    assert match_keys(SyncObject.TASKS, {}) == (None,)
    assert match_keys(SyncObject.CONTACTS, {"company": "Acme"}) == (None, None)

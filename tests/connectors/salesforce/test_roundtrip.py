"""Round-trips through the sandbox: canonical records written by the connector and read back by it are the same
records by the engine's measure (its canonical form and content hash), all-day events and time zones included."""

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.engine import CreateRequest, SyncObject, UpdateRequest, schema_for
from sync.mappings import salesforce as mapping
from tests.connectors.salesforce.conftest import owned_by

# Fewer examples than the profile: each one round-trips through the Salesforce emulator. The `writer` fixture is
# shared by the examples on purpose: each example creates, reads back and deletes its own records.
PROPERTY = settings(max_examples=12,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)
zones = st.sampled_from([UTC, ZoneInfo("Europe/Paris"), ZoneInfo("America/Los_Angeles"), ZoneInfo("Australia/Sydney"),
                         timezone(timedelta(hours=5, minutes=30))])
moments = st.builds(lambda naive, zone: naive.replace(tzinfo=zone),
                    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31)), zones)
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))

timed_event = st.builds(
    lambda subject, start, minutes, private, show_as, description: {
        "subject": subject, "start": start, "end": start + timedelta(minutes=minutes), "is_private": private,
        "show_as": show_as, "description": description},
    words, moments, st.integers(min_value=0, max_value=14 * 1440), st.booleans(),
    st.sampled_from(["busy", "free", "out_of_office"]), st.none() | words)
all_day_event = st.builds(
    lambda subject, start, length, zone, as_datetime: {
        "subject": subject, "is_all_day": True, "show_as": "busy",
        "start": datetime(start.year, start.month, start.day, tzinfo=zone) if as_datetime else start,
        "end": (lambda end: datetime(end.year, end.month, end.day, tzinfo=zone) if as_datetime else end)(
            start + timedelta(days=length))},
    words, days, st.integers(min_value=1, max_value=14), zones, st.booleans())
task = st.builds(
    lambda subject, due, status, priority, reminder: {
        "subject": subject, "due_date": due, "status": status, "priority": priority, "reminder_at": reminder},
    words, st.none() | days, st.sampled_from(mapping.TASK_STATUSES), st.sampled_from(mapping.TASK_PRIORITIES),
    st.none() | moments)
contact = st.fixed_dictionaries(
    # Salesforce requires a last name: one of whitespace only is no name at all once normalised.
    {"last_name": words.map(lambda w: w[:80]).filter(lambda w: w.split())},
    optional={"first_name": words, "title": words, "department": words, "city": words, "country": words,
              "street": words, "notes": words, "business_phone": st.from_regex(r"\+[0-9]{6,15}", fullmatch=True),
              "email": st.from_regex(r"[a-z]{1,10}@[a-z]{1,10}\.test", fullmatch=True), "birthday": days})


@pytest.fixture(scope="module")
def writer(org):
    person = org.user()
    return person, org.client(person)


def round_trip(writer, object_type, records):
    person, client = writer
    side = client.side(object_type, owned_by(person))
    results = side.create([CreateRequest(fields) for fields in records])
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    found = side.fetch([r.record_id for r in results])
    schema = schema_for(object_type).without(mapping.read_only_fields(object_type))
    for fields, result in zip(records, results, strict=True):
        back = found[result.record_id]
        assert back.version == result.version
        assert schema.canonicalize(back.fields) == schema.canonicalize(fields)
        assert schema.content_hash(back.fields) == schema.content_hash(fields)
    side.delete([r.record_id for r in results])


@PROPERTY
@given(records=st.lists(timed_event | all_day_event, min_size=1, max_size=8))
def test_events_round_trip_through_salesforce(writer, records):
    round_trip(writer, SyncObject.EVENTS, records)


@PROPERTY
@given(records=st.lists(task, min_size=1, max_size=8))
def test_tasks_round_trip_through_salesforce(writer, records):
    round_trip(writer, SyncObject.TASKS, records)


@PROPERTY
@given(records=st.lists(contact, min_size=1, max_size=8))
def test_contacts_round_trip_through_salesforce(writer, records):
    round_trip(writer, SyncObject.CONTACTS, records)


def test_switching_an_event_between_timed_and_all_day(org, user):
    side = org.client(user).side(SyncObject.EVENTS, owned_by(user))
    [created] = side.create([CreateRequest({"subject": "Offsite", "start": "2026-06-01T09:00:00+02:00",
                                            "end": "2026-06-01T17:00:00+02:00"})])
    all_day = {"subject": "Offsite", "is_all_day": True, "start": date(2026, 6, 1), "end": date(2026, 6, 3)}
    assert side.update([UpdateRequest(created.record_id, all_day)])[0].ok
    record = side.fetch([created.record_id])[created.record_id]
    assert (record.fields["is_all_day"], record.fields["start"], record.fields["end"]) == \
        (True, date(2026, 6, 1), date(2026, 6, 3))
    timed = {"subject": "Offsite", "start": datetime(2026, 6, 2, 7, tzinfo=UTC),
             "end": datetime(2026, 6, 2, 8, tzinfo=UTC)}
    assert side.update([UpdateRequest(created.record_id, timed)])[0].ok
    record = side.fetch([created.record_id])[created.record_id]
    assert (record.fields["is_all_day"], record.fields["start"], record.fields["end"]) == \
        (False, timed["start"], timed["end"])

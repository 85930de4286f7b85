"""The same canonical records written through the EWS connector (EWS emulator) and the Graph connector (Graph
emulator) read back the same: a mailbox moved to Exchange Online syncs the same content."""

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.connectors.base import EwsSettings, ObjectOptions
from sync.connectors.ews import EwsMailbox, deregister_salesforce_id
from sync.connectors.graph import GraphMailbox
from sync.engine import CreateRequest, SyncObject
from sync.engine.canonical import schema_for

# Fewer examples than the profile: each one round-trips through both emulators. The `both` fixture is shared by the
# examples on purpose: each example creates, reads back and deletes its own items.
EXAMPLES = settings(max_examples=15,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=25)
lines = st.lists(words, min_size=1, max_size=3).map("\n".join)
days = st.dates(min_value=dt.date(2026, 3, 1), max_value=dt.date(2026, 4, 20))
instants = st.datetimes(min_value=dt.datetime(2026, 3, 1), max_value=dt.datetime(2026, 4, 20),
                        timezones=st.just(dt.UTC)).map(lambda d: d.replace(microsecond=0))
WIDE = ObjectOptions(sync_private_events=True)

contacts = st.fixed_dictionaries({"last_name": words}, optional={
    "first_name": words, "email": st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.test", fullmatch=True), "company": words,
    "title": words, "department": words, "business_phone": st.from_regex(r"\+[0-9]{6,12}", fullmatch=True),
    "mobile_phone": st.from_regex(r"\+[0-9]{6,12}", fullmatch=True),
    "home_phone": st.from_regex(r"\+[0-9]{6,12}", fullmatch=True),
    "fax": st.from_regex(r"\+[0-9]{6,12}", fullmatch=True), "street": lines, "city": words, "state": words,
    "postal_code": words, "country": words,
    "birthday": st.dates(min_value=dt.date(1940, 1, 1), max_value=dt.date(2010, 12, 31)), "notes": lines})
timed = st.builds(lambda subject, start, minutes, private, show_as, description, location: {
    "subject": subject, "start": start, "end": start + dt.timedelta(minutes=minutes), "is_all_day": False,
    "is_private": private, "show_as": show_as, "description": description, "location": location},
    words, instants, st.integers(0, 600), st.booleans(), st.sampled_from(["busy", "free", "tentative",
                                                                          "out_of_office"]),
    st.none() | lines, st.none() | words)
all_day = st.builds(lambda subject, start, length: {
    "subject": subject, "start": start, "end": start + dt.timedelta(days=length), "is_all_day": True,
    "show_as": "free"}, words, days, st.integers(1, 5))
tasks = st.fixed_dictionaries({"subject": words}, optional={
    "due_date": days, "status": st.sampled_from(["Not Started", "In Progress", "Completed",
                                                 "Waiting on someone else", "Deferred"]),
    "priority": st.sampled_from(["High", "Normal", "Low"]), "reminder_at": instants, "description": lines})


@pytest.fixture(scope="module", autouse=True)
def _leave_exchangelib_as_found():
    yield
    deregister_salesforce_id()


@pytest.fixture(scope="module")
def both(sandbox, settings):
    email = "parity@sandbox.test"
    sandbox.hub.create_user(username=email, email=email, first_name="Pari", last_name="Ty", profile="Standard User")
    ews = EwsMailbox(EwsSettings(ews_url=sandbox.ews_endpoint, username="sync-service@sandbox.test",
                                           password="sandbox", max_wait_seconds=2), email)
    graph = GraphMailbox(settings, email)
    for mailbox in (ews, graph):
        mailbox.side(SyncObject.CONTACTS).changes(None)  # creates the contacts folder
    return ews, graph


def read_back_through_both(both, object_type: SyncObject, fields: dict) -> tuple[dict, dict]:
    schema = schema_for(object_type)
    out = []
    for mailbox in both:
        side = mailbox.side(object_type, WIDE)
        [made] = side.create([CreateRequest(fields, "003000000000000AAA")])
        assert made.ok, made.error
        record = mailbox.side(object_type, WIDE).fetch([made.record_id])[made.record_id]
        assert record.salesforce_id == "003000000000000AAA"
        side.delete([made.record_id])
        out.append(schema.canonicalize(record.fields))
    return out[0], out[1]


@EXAMPLES
@given(contacts)
def test_contacts_read_back_the_same_through_ews_and_graph(both, fields):
    through_ews, through_graph = read_back_through_both(both, SyncObject.CONTACTS, fields)
    assert through_graph == through_ews == schema_for(SyncObject.CONTACTS).canonicalize(fields)


@EXAMPLES
@given(timed | all_day)
def test_events_read_back_the_same_through_ews_and_graph(both, fields):
    through_ews, through_graph = read_back_through_both(both, SyncObject.EVENTS, fields)
    assert through_graph == through_ews == schema_for(SyncObject.EVENTS).canonicalize(fields)


@EXAMPLES
@given(tasks)
def test_tasks_read_back_the_same_through_ews_and_graph(both, fields):
    through_ews, through_graph = read_back_through_both(both, SyncObject.TASKS, fields)
    expected = schema_for(SyncObject.TASKS).canonicalize(
        {"status": "Not Started", "priority": "Normal", **fields})
    assert through_graph == through_ews == expected

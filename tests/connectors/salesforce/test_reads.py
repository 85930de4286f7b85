"""Reads: full and incremental change sets over the data set, watermarks, fetch, lookup, and their call counts."""

from datetime import UTC, date, datetime, timedelta

from simple_salesforce.format import format_soql

from sync.connectors.base import ObjectOptions
from sync.engine import LookupRequest, Side, SyncObject, match_keys, schema_for
from sync.mappings.salesforce import parse_datetime
from tests.connectors.salesforce.conftest import owned_by

CONTACTS = SyncObject.CONTACTS


def new_contacts(sf, count, **values):
    records = [{"attributes": {"type": "Contact"}, "LastName": f"Person{i}", **values} for i in range(count)]
    ids = []
    for start in range(0, count, 200):
        answer = sf.restful("composite/sobjects", method="POST",
                            json={"allOrNone": True, "records": records[start:start + 200]})
        ids += [item["id"] for item in answer]
    return ids


def test_full_read_maps_the_data_set_and_takes_the_highest_stamp(org, user):
    sf = org.sf(user)
    account = sf.Account.create({"Name": "Northwind"})["id"]
    mine = sf.Contact.create({"FirstName": "Ada", "LastName": "Lovelace", "Email": "Ada@Example.com",
                              "AccountId": account, "Birthdate": "1815-12-10", "MailingCity": "London",
                              "Phone": "+44 20 7946 0000", "Description": "line one\nline two"})["id"]
    other = org.user()
    org.sf(other).Contact.create({"LastName": "Not mine"})
    side = org.client(user).side(CONTACTS, owned_by(user))
    change_set = side.changes(None)
    assert change_set.full and change_set.side is Side.SALESFORCE
    assert list(change_set.records) == [mine]
    record = change_set.records[mine]
    stamp = sf.Contact.get(mine)["SystemModstamp"]
    assert record.version == stamp and record.in_scope
    assert parse_datetime(change_set.watermark) == parse_datetime(stamp)
    assert record.fields["company"] == "Northwind" and record.fields["email"] == "Ada@Example.com"
    assert record.fields["birthday"] == date(1815, 12, 10) and record.fields["city"] == "London"
    assert schema_for(CONTACTS).canonicalize(record.fields)["email"] == "ada@example.com"


def test_empty_full_read_still_gives_a_watermark(org, user):
    change_set = org.client(user).side(CONTACTS, owned_by(user)).changes(None)
    assert change_set.records == {} and change_set.full
    assert parse_datetime(change_set.watermark) < datetime.now(UTC)


def test_full_read_pages_through_2000_records_per_call(org, user):
    ids = new_contacts(org.sf(user), 2050)
    client = org.client(user)
    client.user_info()  # the token, out of the count
    before = client.calls.calls
    change_set = client.side(CONTACTS, owned_by(user)).changes(None)
    assert set(change_set.records) == set(ids)
    assert client.calls.calls - before == 2


def test_record_limit_keeps_the_most_recently_changed(org, user):
    sf = org.sf(user)
    ids = new_contacts(sf, 5)
    sf.Contact.update(ids[0], {"Title": "Latest"})
    options = owned_by(user)
    limited = ObjectOptions(where=options.where, record_limit=1)
    change_set = org.client(user).side(CONTACTS, limited).changes(None)
    assert list(change_set.records) == [ids[0]]


def test_incremental_reports_created_updated_deleted_and_left_scope(org, user):
    sf = org.sf(user)
    keep, change, remove, leave = new_contacts(sf, 4, Department="Sales")
    options = owned_by(user, "Department = 'Sales'")
    side = org.client(user).side(CONTACTS, options)
    start = side.changes(None)
    assert set(start.records) == {keep, change, remove, leave}
    created = sf.Contact.create({"LastName": "Newcomer", "Department": "Sales"})["id"]
    sf.Contact.update(change, {"Title": "CFO"})
    sf.Contact.delete(remove)
    sf.Contact.update(leave, {"Department": "Support"})
    outside = sf.Contact.create({"LastName": "Elsewhere", "Department": "Support"})["id"]
    change_set = side.changes(start.watermark)
    assert not change_set.full
    assert change_set.deleted == {remove}
    seen = {i: r.version for i, r in start.records.items()}
    news = {i: r for i, r in change_set.records.items() if seen.get(i) != r.version}
    assert {i for i, r in news.items() if r.in_scope} == {created, change}
    assert news[change].fields["title"] == "CFO"
    assert {i for i, r in news.items() if not r.in_scope} == {leave, outside}
    # `keep` was written in the same call as the others, at the watermark: it may come again, unchanged.
    assert keep not in news
    assert parse_datetime(change_set.watermark) > parse_datetime(start.watermark)


def test_incremental_with_nothing_changed_costs_two_calls(org, user):
    new_contacts(org.sf(user), 3)
    client = org.client(user)
    side = client.side(CONTACTS, owned_by(user))
    watermark = side.changes(None).watermark
    sf_calls, own_calls = org.calls_of(user), client.calls.calls
    change_set = side.changes(watermark)
    assert org.calls_of(user) - sf_calls == 2
    assert client.calls.calls - own_calls == 2
    assert client.calls.by_operation["queryAll"] == 1
    assert change_set.deleted == set() and change_set.watermark == watermark
    # Only what was stamped at the watermark itself may come again, with the version already seen.
    assert all(parse_datetime(r.version) == parse_datetime(watermark) for r in change_set.records.values())


def test_records_stamped_at_the_watermark_are_not_missed(org, user):
    sf = org.sf(user)
    first = new_contacts(sf, 1)[0]
    side = org.client(user).side(CONTACTS, owned_by(user))
    watermark = side.changes(None).watermark
    assert parse_datetime(watermark) == parse_datetime(sf.Contact.get(first)["SystemModstamp"])
    assert first in side.changes(watermark).records  # >= : a same-millisecond write would show too


def test_a_quiet_data_set_still_moves_its_watermark_on(org, user):
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    change_set = org.client(user).side(CONTACTS, owned_by(user)).changes(hour_ago.isoformat())
    assert not change_set.full and change_set.records == {}
    moved = parse_datetime(change_set.watermark)
    assert datetime.now(UTC) - timedelta(minutes=16) < moved < datetime.now(UTC) - timedelta(minutes=14)


def test_a_watermark_older_than_the_recycle_bin_gets_a_full_read(org, user):
    [contact] = new_contacts(org.sf(user), 1)
    client = org.client(user)
    client.user_info()
    before = client.calls.calls
    change_set = client.side(CONTACTS, owned_by(user)).changes(
        (datetime.now(UTC) - timedelta(days=15)).isoformat())
    assert change_set.full and set(change_set.records) == {contact}
    assert client.calls.calls - before == 1


def test_watermark_accepts_a_stored_datetime(org, user):
    new_contacts(org.sf(user), 1)
    side = org.client(user).side(CONTACTS, owned_by(user))
    watermark = side.changes(None).watermark
    again = side.changes(datetime.fromisoformat(watermark))
    assert again.watermark == watermark


def test_events_leave_out_series_masters_and_keep_their_occurrences(org, user):
    sf = org.sf(user)
    single = sf.Event.create({"Subject": "Demo", "StartDateTime": "2026-12-01T09:00:00Z",
                              "DurationInMinutes": 30})["id"]
    master = sf.Event.create({"Subject": "Weekly", "StartDateTime": "2026-12-01T09:00:00Z", "DurationInMinutes": 30,
                     "IsRecurrence": True, "RecurrenceType": "RecursWeekly", "RecurrenceInterval": 1,
                     "RecurrenceDayOfWeekMask": 4, "RecurrenceStartDateTime": "2026-12-01T09:00:00Z",
                     "RecurrenceEndDateOnly": "2027-01-31"})["id"]
    occurrences = {row["Id"] for row in sf.query_all(format_soql(
        "SELECT Id FROM Event WHERE RecurrenceActivityId = {} AND IsRecurrence = false", master))["records"]}
    assert occurrences
    change_set = org.client(user).side(SyncObject.EVENTS, owned_by(user)).changes(None)
    assert master not in change_set.records
    assert set(change_set.records) == {single, *occurrences}
    assert all(change_set.records[i].fields["subject"] == "Weekly" for i in occurrences)


def test_fetch_tells_in_scope_out_of_scope_and_missing_apart(org, user):
    sf = org.sf(user)
    inside, outside, gone = new_contacts(sf, 3, Department="Sales")
    sf.Contact.update(outside, {"Department": "Support"})
    sf.Contact.delete(gone)
    client = org.client(user)
    client.user_info()
    side = client.side(CONTACTS, owned_by(user, "Department = 'Sales'"))
    before = client.calls.calls
    found = side.fetch([inside, outside, gone, "not-an-id"])
    assert set(found) == {inside, outside}
    assert found[inside].in_scope and not found[outside].in_scope
    assert client.calls.calls - before == 2
    before = client.calls.calls
    assert set(side.fetch([inside])) == {inside}
    assert client.calls.calls - before == 1  # all in scope: no second query
    assert side.fetch([inside[:15]])[inside[:15]].id == inside  # 15-character ids are understood


def test_lookup_finds_a_contact_by_email_or_by_name_and_company(org, user):
    sf = org.sf(user)
    account = sf.Account.create({"Name": "Helios Energy"})["id"]
    by_email = sf.Contact.create({"LastName": "Mail", "Email": "lena@helios.test"})["id"]
    by_name = sf.Contact.create({"FirstName": "Jonas", "LastName": "Berg", "AccountId": account})["id"]
    side = org.client(user).side(CONTACTS, owned_by(user))
    schema = schema_for(CONTACTS)

    def lookup(fields):
        canonical = schema.canonicalize(fields)
        return [r.id for r in side.lookup(LookupRequest(CONTACTS, None, canonical, match_keys(CONTACTS, canonical)))]

    assert lookup({"last_name": "Other", "email": "LENA@helios.test"}) == [by_email]
    assert lookup({"first_name": "jonas", "last_name": "BERG", "company": "helios energy"}) == [by_name]
    assert lookup({"first_name": "Jonas", "last_name": "Berg", "company": "Other Ltd"}) == []


def test_lookup_finds_events_and_tasks_by_their_keys(org, user):
    sf = org.sf(user)
    timed = sf.Event.create({"Subject": "Kick-off", "StartDateTime": "2026-12-02T10:00:00+01:00",
                             "EndDateTime": "2026-12-02T11:30:00+01:00"})["id"]
    all_day = sf.Event.create({"Subject": "Fair", "IsAllDayEvent": True, "ActivityDate": "2026-12-03",
                               "DurationInMinutes": 2880})["id"]
    task = sf.Task.create({"Subject": "Send quote", "ActivityDate": "2026-12-04"})["id"]
    undated = sf.Task.create({"Subject": "Send quote"})["id"]
    client = org.client(user)
    events = client.side(SyncObject.EVENTS, owned_by(user))
    tasks = client.side(SyncObject.TASKS, owned_by(user))

    def ids(side, object_type, fields):
        return [r.id for r in side.lookup(LookupRequest(object_type, None, fields, ()))]

    start = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert ids(events, SyncObject.EVENTS, {"subject": "kick-off", "start": start,
                                           "end": datetime(2026, 12, 2, 10, 30, tzinfo=UTC)}) == [timed]
    assert ids(events, SyncObject.EVENTS, {"subject": "Kick-off", "start": start,
                                           "end": datetime(2026, 12, 2, 11, 0, tzinfo=UTC)}) == []
    assert ids(events, SyncObject.EVENTS, {"subject": "Fair", "is_all_day": True, "start": date(2026, 12, 3),
                                           "end": date(2026, 12, 5)}) == [all_day]
    assert ids(tasks, SyncObject.TASKS, {"subject": "Send quote", "due_date": date(2026, 12, 4)}) == [task]
    assert ids(tasks, SyncObject.TASKS, {"subject": "Send quote"}) == [undated]
    assert ids(tasks, SyncObject.TASKS, {"due_date": date(2026, 12, 4)}) == []


def test_lookup_many_answers_each_request_in_few_calls(org, user):
    sf = org.sf(user)
    starts = [datetime(2026, 12, 7, 8, tzinfo=UTC) + timedelta(hours=i) for i in range(25)]
    answer = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Event"}, "Subject": f"Slot {i}", "StartDateTime": start.isoformat(),
         "DurationInMinutes": 30} for i, start in enumerate(starts)]})
    ids = [item["id"] for item in answer]
    client = org.client(user)
    client.user_info()
    side = client.side(SyncObject.EVENTS, owned_by(user))
    requests = [LookupRequest(SyncObject.EVENTS, None, {"subject": f"slot {i}", "start": start,
                                                        "end": start + timedelta(minutes=30)}, ())
                for i, start in enumerate(starts)]
    requests.insert(3, LookupRequest(SyncObject.EVENTS, None, {"subject": "Nothing like it", "start": starts[0],
                                                               "end": starts[0]}, ()))
    requests.insert(5, LookupRequest(SyncObject.EVENTS, None, {}, ()))
    before = client.calls.calls
    found = side.lookup_many(requests)
    assert client.calls.calls - before == 2  # 26 keyed requests, 20 to a query
    assert [[r.id for r in records] for records in found] == \
        [[ids[0]], [ids[1]], [ids[2]], [], [ids[3]], [], *([i] for i in ids[4:])]

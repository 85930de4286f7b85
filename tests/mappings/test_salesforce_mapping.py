"""The Salesforce field maps, without Salesforce: field pairs, all-day events, time zones, picklists, and
round-trips (canonical → write body → what Salesforce stores → canonical) property-tested."""

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.engine import SyncObject, schema_for
from sync.engine.recurrence import Recurrence
from sync.mappings import salesforce as m

PARIS = ZoneInfo("Europe/Paris")
CONTACTS, EVENTS, TASKS = SyncObject.CONTACTS, SyncObject.EVENTS, SyncObject.TASKS


def stored(object_type, body, **server):
    """What a query returns after Salesforce saved `body`: derived fields as the server computes them."""
    row = {"Id": "003000000000001AAA", "SystemModstamp": "2026-11-22T10:00:00.000+0000", **body, **server}
    if object_type is EVENTS and body.get("IsAllDayEvent"):
        start = date.fromisoformat(body["ActivityDate"])
        row["StartDateTime"] = f"{start.isoformat()}T00:00:00.000+0000"
        last = start + timedelta(days=body["DurationInMinutes"] // 1440 - 1)
        row["EndDateTime"] = f"{last.isoformat()}T00:00:00.000+0000"
    return row


def test_soql_fields_select_the_version_and_every_mapped_field():
    assert m.soql_fields(CONTACTS)[:2] == ["Id", "SystemModstamp"]
    assert "Account.Name" in m.soql_fields(CONTACTS)
    assert {"ActivityDate", "DurationInMinutes", "IsAllDayEvent", "ShowAs"} <= set(m.soql_fields(EVENTS))
    assert {"IsReminderSet", "ReminderDateTime", "ActivityDate"} <= set(m.soql_fields(TASKS))
    for object_type in SyncObject:
        fields = m.soql_fields(object_type)
        assert len(fields) == len(set(fields))


def test_every_canonical_field_is_mapped_and_company_is_read_only():
    for object_type in SyncObject:
        assert m.unmapped_fields(object_type) == frozenset()
        assert {item.canonical for item in m.MAPS[object_type]} == set(schema_for(object_type).names)
    assert m.read_only_fields(CONTACTS) == {"company"}
    assert m.read_only_fields(EVENTS) == frozenset()


def test_contact_fields_both_ways():
    row = {"FirstName": "Léa", "LastName": "Dubois", "Email": "lea@example.fr", "Account": {"Name": "Helios SA"},
           "Title": "CFO", "Department": "Finance", "Phone": "1", "MobilePhone": "2", "HomePhone": "3", "Fax": "4",
           "MailingStreet": "12 Rue de la Paix\nBât. B", "MailingCity": "Paris", "MailingState": "IDF",
           "MailingPostalCode": "75008", "MailingCountry": "France", "Birthdate": "1990-02-28",
           "Description": "Met at the fair"}
    canonical = m.to_canonical(CONTACTS, row)
    assert canonical == {
        "first_name": "Léa", "last_name": "Dubois", "email": "lea@example.fr", "company": "Helios SA",
        "title": "CFO", "department": "Finance", "business_phone": "1", "mobile_phone": "2", "home_phone": "3",
        "fax": "4", "street": "12 Rue de la Paix\nBât. B", "city": "Paris", "state": "IDF", "postal_code": "75008",
        "country": "France", "birthday": date(1990, 2, 28), "notes": "Met at the fair"}
    body = m.to_salesforce(CONTACTS, canonical)
    assert "Account.Name" not in body and "AccountId" not in body  # company is never written
    assert {k: v for k, v in row.items() if k != "Account"} == body


def test_contact_without_account_and_empty_values():
    canonical = m.to_canonical(CONTACTS, {"LastName": "Solo", "Account": None, "Title": "  "})
    assert canonical["company"] is None and canonical["title"] is None
    body = m.to_salesforce(CONTACTS, {"last_name": "Solo", "title": ""})
    assert body["Title"] is None and body["Email"] is None  # an update clears what the record no longer has


def test_timed_event_in_any_time_zone_is_written_in_utc():
    body = m.to_salesforce(EVENTS, {"subject": "Demo", "start": datetime(2026, 3, 29, 1, 30, tzinfo=PARIS),
                                    "end": "2026-03-29T03:30:00+02:00", "is_private": True, "show_as": "free"})
    assert body["StartDateTime"] == "2026-03-29T00:30:00.000+0000"  # before the DST switch: +01:00
    assert body["EndDateTime"] == "2026-03-29T01:30:00.000+0000"  # after it: +02:00
    assert (body["IsAllDayEvent"], body["IsPrivate"], body["ShowAs"]) == (False, True, "Free")
    assert "ActivityDate" not in body and "DurationInMinutes" not in body
    canonical = m.to_canonical(EVENTS, stored(EVENTS, body))
    assert canonical["start"] == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert canonical["end"].utcoffset() == timedelta(0)


def test_naive_datetimes_are_utc():
    body = m.to_salesforce(EVENTS, {"subject": "x", "start": datetime(2026, 1, 1, 9), "end": "2026-01-01T10:00:00"})
    assert (body["StartDateTime"], body["EndDateTime"]) == ("2026-01-01T09:00:00.000+0000",
                                                            "2026-01-01T10:00:00.000+0000")


def test_all_day_event_uses_activity_date_and_whole_days():
    body = m.to_salesforce(EVENTS, {"subject": "Fair", "is_all_day": True, "start": date(2026, 12, 1),
                                    "end": date(2026, 12, 4)})
    assert (body["IsAllDayEvent"], body["ActivityDate"], body["DurationInMinutes"]) == (True, "2026-12-01", 4320)
    assert "StartDateTime" not in body and "EndDateTime" not in body
    canonical = m.to_canonical(EVENTS, stored(EVENTS, body))
    assert (canonical["start"], canonical["end"]) == (date(2026, 12, 1), date(2026, 12, 4))


def test_all_day_dates_are_never_shifted_through_utc():
    # Local midnight in Paris is 23:00 UTC the day before: the day must stay the 2nd.
    body = m.to_salesforce(EVENTS, {"subject": "Holiday", "is_all_day": True,
                                    "start": datetime(2026, 3, 2, tzinfo=PARIS),
                                    "end": datetime(2026, 3, 3, tzinfo=PARIS)})
    assert (body["ActivityDate"], body["DurationInMinutes"]) == ("2026-03-02", 1440)


def test_all_day_event_read_from_salesforce_has_an_exclusive_end():
    row = {"Subject": "Day off", "IsAllDayEvent": True, "ActivityDate": "2026-12-24", "DurationInMinutes": 1440,
           "StartDateTime": "2026-12-24T00:00:00.000+0000", "EndDateTime": "2026-12-24T00:00:00.000+0000"}
    canonical = m.to_canonical(EVENTS, row)
    assert (canonical["start"], canonical["end"], canonical["is_all_day"]) == \
        (date(2026, 12, 24), date(2026, 12, 25), True)
    without_duration = {**row, "DurationInMinutes": None, "EndDateTime": "2026-12-26T00:00:00.000+0000"}
    assert m.to_canonical(EVENTS, without_duration)["end"] == date(2026, 12, 27)


def test_an_all_day_event_with_no_end_lasts_one_day():
    body = m.to_salesforce(EVENTS, {"subject": "x", "is_all_day": True, "start": "2026-05-01"})
    assert (body["ActivityDate"], body["DurationInMinutes"]) == ("2026-05-01", 1440)


@pytest.mark.parametrize(("salesforce", "canonical"), [
    ("Busy", "busy"), ("Free", "free"), ("OutOfOffice", "out_of_office"), ("WorkingElsewhere", "busy"),
    (None, None),
])
def test_show_as_read(salesforce, canonical):
    assert m.to_canonical(EVENTS, {"ShowAs": salesforce})["show_as"] == canonical


@pytest.mark.parametrize(("canonical", "salesforce"), [
    ("busy", "Busy"), ("free", "Free"), ("out_of_office", "OutOfOffice"), ("tentative", "Busy"), ("Free", "Free"),
])
def test_show_as_written(canonical, salesforce):
    assert m.to_salesforce(EVENTS, {"show_as": canonical})["ShowAs"] == salesforce


def test_unknown_show_as_is_left_to_salesforce():
    assert "ShowAs" not in m.to_salesforce(EVENTS, {"show_as": "elsewhere"})
    assert "ShowAs" not in m.to_salesforce(EVENTS, {})


def test_task_fields_both_ways():
    row = {"Subject": "Send quote", "ActivityDate": "2026-12-02", "Status": "Waiting on someone else",
           "Priority": "High", "Description": "v2", "IsReminderSet": True,
           "ReminderDateTime": "2026-12-02T07:00:00.000+0000"}
    canonical = m.to_canonical(TASKS, row)
    assert canonical == {"subject": "Send quote", "due_date": date(2026, 12, 2), "status": "Waiting on someone else",
                         "priority": "High", "reminder_at": datetime(2026, 12, 2, 7, tzinfo=UTC),
                         "description": "v2"}
    assert m.to_salesforce(TASKS, canonical) == row


def test_task_reminder_is_only_read_when_set():
    row = {"Subject": "x", "IsReminderSet": False, "ReminderDateTime": "2026-12-02T07:00:00.000+0000"}
    assert m.to_canonical(TASKS, row)["reminder_at"] is None
    body = m.to_salesforce(TASKS, {"subject": "x"})
    assert (body["IsReminderSet"], body["ReminderDateTime"]) == (False, None)


def test_task_picklists_are_matched_loosely_and_unknown_values_left_out():
    body = m.to_salesforce(TASKS, {"subject": "x", "status": "in  progress", "priority": "LOW"})
    assert (body["Status"], body["Priority"]) == ("In Progress", "Low")
    body = m.to_salesforce(TASKS, {"subject": "x", "status": "Closed - No Answer", "priority": None})
    assert "Status" not in body and "Priority" not in body
    assert m.to_canonical(TASKS, {"Status": "Closed - No Answer"})["status"] == "Closed - No Answer"


def test_salesforce_datetime_formats_are_all_understood():
    for text in ("2026-11-22T10:00:00.000+0000", "2026-11-22T10:00:00Z", "2026-11-22T11:00:00+01:00",
                 "2026-11-22T10:00:00.000Z"):
        assert m.parse_datetime(text) == datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert m.format_datetime(datetime(2026, 11, 22, 11, 0, 0, 250000, tzinfo=timezone(timedelta(hours=1)))) == \
        "2026-11-22T10:00:00.250+0000"


# ---- property tests: what goes into Salesforce comes back the same, by the engine's measure ---------------------

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30)
zones = st.sampled_from([UTC, PARIS, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata"),
                         timezone(timedelta(hours=-9, minutes=-30))])
moments = st.builds(lambda naive, zone: naive.replace(tzinfo=zone),
                    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)), zones)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


@given(st.fixed_dictionaries({}, optional={
    **{name: text for name in schema_for(CONTACTS).names if name not in ("birthday", "email", "company")},
    "email": st.emails(), "birthday": days}))
def test_contacts_round_trip(canonical):
    schema = schema_for(CONTACTS).without(m.read_only_fields(CONTACTS))
    back = m.to_canonical(CONTACTS, stored(CONTACTS, m.to_salesforce(CONTACTS, canonical)))
    assert schema.canonicalize(back) == schema.canonicalize(canonical)


@given(subject=text, location=text, description=text, start=moments,
       minutes=st.integers(min_value=0, max_value=14 * 1440), private=st.booleans(),
       show_as=st.sampled_from([None, "busy", "free", "out_of_office"]))
def test_timed_events_round_trip(subject, location, description, start, minutes, private, show_as):
    canonical = {"subject": subject, "location": location, "description": description, "start": start,
                 "end": start + timedelta(minutes=minutes), "is_private": private, "show_as": show_as}
    back = m.to_canonical(EVENTS, stored(EVENTS, m.to_salesforce(EVENTS, canonical), ShowAs=None))
    if show_as is None:
        back["show_as"] = None  # Salesforce's default (Busy) stands in for "not said"
    else:
        back["show_as"] = m.to_canonical(EVENTS, {"ShowAs": m.to_salesforce(EVENTS, canonical)["ShowAs"]})["show_as"]
    schema = schema_for(EVENTS)
    assert schema.canonicalize(back) == schema.canonicalize(canonical)


@given(start=days, length=st.integers(min_value=1, max_value=14), zone=zones, as_datetime=st.booleans())
def test_all_day_events_round_trip(start, length, zone, as_datetime):
    end = start + timedelta(days=length)
    if as_datetime:  # Outlook gives all-day bounds as local midnights
        start_value, end_value = (datetime(d.year, d.month, d.day, tzinfo=zone) for d in (start, end))
    else:
        start_value, end_value = start, end
    canonical = {"subject": "All day", "is_all_day": True, "start": start_value, "end": end_value}
    back = m.to_canonical(EVENTS, stored(EVENTS, m.to_salesforce(EVENTS, canonical)))
    assert (back["start"], back["end"]) == (start, end)
    schema = schema_for(EVENTS)
    assert schema.content_hash(back) == schema.content_hash(canonical)


@given(subject=text, due=st.none() | days, reminder=st.none() | moments, description=text,
       status=st.sampled_from(m.TASK_STATUSES), priority=st.sampled_from(m.TASK_PRIORITIES))
def test_tasks_round_trip(subject, due, reminder, description, status, priority):
    canonical = {"subject": subject, "due_date": due, "reminder_at": reminder, "description": description,
                 "status": status, "priority": priority}
    back = m.to_canonical(TASKS, stored(TASKS, m.to_salesforce(TASKS, canonical)))
    schema = schema_for(TASKS)
    assert schema.canonicalize(back) == schema.canonicalize(canonical)


# ---- recurring series ----------------------------------------------------------------------------------------

def _series_row(**fields):
    return {"Id": "00U000000000001AAA", "Subject": "Review", "StartDateTime": "2026-03-03T09:00:00.000+0000",
            "EndDateTime": "2026-03-03T10:00:00.000+0000", "IsRecurrence": True, "RecurrenceInterval": 1,
            "RecurrenceStartDateTime": "2026-03-03T09:00:00.000+0000", "RecurrenceEndDateOnly": "2026-06-30",
            "RecurrenceTimeZoneSidKey": "Europe/Paris", **fields}


@pytest.mark.parametrize("fields, recurrence", [
    ({"RecurrenceType": "RecursDaily", "RecurrenceInterval": 3}, "pattern=daily;interval=3"),
    ({"RecurrenceType": "RecursEveryWeekday"}, "pattern=weekly;interval=1;days=MO,TU,WE,TH,FR"),
    ({"RecurrenceType": "RecursWeekly", "RecurrenceInterval": 2, "RecurrenceDayOfWeekMask": 4 + 16},
     "pattern=weekly;interval=2;days=TU,TH"),
    ({"RecurrenceType": "RecursMonthly", "RecurrenceDayOfMonth": 3}, "pattern=monthly;interval=1;day=3"),
    ({"RecurrenceType": "RecursMonthlyNth", "RecurrenceInstance": "First", "RecurrenceDayOfWeekMask": 4},
     "pattern=monthly_nth;interval=1;days=TU;instance=first"),
    ({"RecurrenceType": "RecursYearly", "RecurrenceMonthOfYear": "March", "RecurrenceDayOfMonth": 3,
      "RecurrenceInterval": None}, "pattern=yearly;interval=1;day=3;month=3"),
    ({"RecurrenceType": "RecursYearlyNth", "RecurrenceMonthOfYear": "March", "RecurrenceInstance": "First",
      "RecurrenceDayOfWeekMask": 4, "RecurrenceInterval": None},
     "pattern=yearly_nth;interval=1;days=TU;instance=first;month=3"),
])
def test_series_patterns_both_ways(fields, recurrence):
    canonical = m.to_canonical(EVENTS, _series_row(**fields))
    assert canonical["recurrence"] == f"{recurrence};until=2026-06-30;tz=Europe/Paris"
    written = m.to_salesforce(EVENTS, canonical)
    assert "IsRecurrence" not in written  # create-only: the connector adds it to creates
    again = m.to_canonical(EVENTS, {**_series_row(), **written, "IsRecurrence": True})
    assert again["recurrence"] == canonical["recurrence"] and again["start"] == canonical["start"]


def test_a_series_starting_on_a_day_its_pattern_skips_starts_on_its_first_occurrence():
    row = _series_row(RecurrenceType="RecursWeekly", RecurrenceDayOfWeekMask=16)  # Thursdays, range from a Tuesday
    canonical = m.to_canonical(EVENTS, row)
    assert canonical["start"].isoformat() == "2026-03-05T09:00:00+00:00"
    assert canonical["end"].isoformat() == "2026-03-05T10:00:00+00:00"


def test_what_fits_salesforce_follows_its_limits_per_frequency():
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)

    def fits(text):
        return m.fits_salesforce({"start": start, "end": start, "recurrence": text})

    assert fits("pattern=daily;interval=1;until=2026-06-09")  # 100 days
    assert not fits("pattern=daily;interval=1;until=2026-06-10")  # 101
    assert fits("pattern=weekly;interval=1;days=MO,TU,WE,TH,FR;until=2026-07-17")  # every weekday: 100
    assert not fits("pattern=weekly;interval=1;days=MO,WE;until=2026-09-30")  # weekly: 62 > 53
    assert fits("pattern=monthly;interval=1;day=2;until=2030-12-31")  # 58 months
    assert not fits("pattern=yearly;interval=1;day=2;month=3;until=2035-12-31")  # 10 years > 9
    assert not fits("pattern=daily;interval=1")  # no end
    weekdays = Recurrence.parse("pattern=weekly;interval=1;days=MO,TU,WE,TH,FR;until=2026-07-17")
    assert m.recurrence_to_salesforce(weekdays, start, False)["RecurrenceType"] == "RecursEveryWeekday"

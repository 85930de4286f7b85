"""Recurring event series: occurrence dates per pattern, and the occurrence records through the API."""

import pytest
from simple_salesforce import format_soql
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.salesforce.errors import RecordError
from sandbox.salesforce.recurrence import occurrence_dates


def _dates(**fields) -> list[str]:
    record = {"RecurrenceStartDateTime": "2026-11-02T09:00:00.000+0000", "RecurrenceEndDateOnly": "2026-11-30",
              **fields}
    return [day.isoformat() for day in occurrence_dates(record)]


@pytest.mark.parametrize("fields, expected", [
    ({"RecurrenceType": "RecursDaily", "RecurrenceInterval": 10}, ["2026-11-02", "2026-11-12", "2026-11-22"]),
    ({"RecurrenceType": "RecursEveryWeekday", "RecurrenceEndDateOnly": "2026-11-09"},
     ["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05", "2026-11-06", "2026-11-09"]),
    # Monday (2) and Wednesday (8), every second week, from Monday 2 November
    ({"RecurrenceType": "RecursWeekly", "RecurrenceInterval": 2, "RecurrenceDayOfWeekMask": 10},
     ["2026-11-02", "2026-11-04", "2026-11-16", "2026-11-18", "2026-11-30"]),
    ({"RecurrenceType": "RecursMonthly", "RecurrenceInterval": 1, "RecurrenceDayOfMonth": 31,
      "RecurrenceEndDateOnly": "2027-02-28"}, ["2026-11-30", "2026-12-31", "2027-01-31", "2027-02-28"]),
    # the last Friday (32) of every month
    ({"RecurrenceType": "RecursMonthlyNth", "RecurrenceInterval": 1, "RecurrenceInstance": "Last",
      "RecurrenceDayOfWeekMask": 32, "RecurrenceEndDateOnly": "2027-01-31"},
     ["2026-11-27", "2026-12-25", "2027-01-29"]),
    ({"RecurrenceType": "RecursYearly", "RecurrenceMonthOfYear": "March", "RecurrenceDayOfMonth": 15,
      "RecurrenceEndDateOnly": "2029-01-01"}, ["2027-03-15", "2028-03-15"]),
    ({"RecurrenceType": "RecursYearlyNth", "RecurrenceMonthOfYear": "November", "RecurrenceInstance": "First",
      "RecurrenceDayOfWeekMask": 2, "RecurrenceEndDateOnly": "2028-12-31"},
     ["2026-11-02", "2027-11-01", "2028-11-06"]),
])
def test_occurrence_dates(fields, expected):
    assert _dates(**fields) == expected


@pytest.fixture(scope="module")
def sf(org):
    return org.sf(org.user())


def _series(sf, **extra):
    body = {"Subject": "Standup", "Location": "Teams", "StartDateTime": "2026-11-02T09:00:00Z",
            "DurationInMinutes": 15, "IsRecurrence": True, "RecurrenceType": "RecursWeekly",
            "RecurrenceInterval": 1, "RecurrenceDayOfWeekMask": 10,
            "RecurrenceStartDateTime": "2026-11-02T09:00:00Z", "RecurrenceEndDateOnly": "2026-11-15", **extra}
    return sf.Event.create(body)["id"]


def _occurrences(sf, series_id):
    soql = format_soql("SELECT Id, Subject, StartDateTime, EndDateTime, IsRecurrence, RecurrenceActivityId "
                       "FROM Event WHERE RecurrenceActivityId = {} AND IsRecurrence = false "
                       "ORDER BY StartDateTime", series_id)
    return sf.query(soql)["records"]


def test_a_series_creates_its_occurrences(sf):
    series = _series(sf)
    master = sf.Event.get(series)
    assert master["IsRecurrence"] is True and master["RecurrenceActivityId"] == series
    occurrences = _occurrences(sf, series)
    assert [o["StartDateTime"] for o in occurrences] == [
        "2026-11-02T09:00:00.000+0000", "2026-11-04T09:00:00.000+0000", "2026-11-09T09:00:00.000+0000",
        "2026-11-11T09:00:00.000+0000"]
    assert all(o["EndDateTime"][11:16] == "09:15" and o["Subject"] == "Standup" for o in occurrences)


def test_editing_the_series_updates_or_regenerates_occurrences(sf):
    series = _series(sf)
    sf.Event.update(series, {"Subject": "Daily standup"})
    assert {o["Subject"] for o in _occurrences(sf, series)} == {"Daily standup"}
    sf.Event.update(series, {"RecurrenceDayOfWeekMask": 32})  # Fridays only now
    assert [o["StartDateTime"][:10] for o in _occurrences(sf, series)] == ["2026-11-06", "2026-11-13"]
    sf.Event.delete(series)
    assert _occurrences(sf, series) == []
    deleted = sf.query_all(format_soql("SELECT Id FROM Event WHERE RecurrenceActivityId = {}", series),
                           include_deleted=True)
    assert deleted["totalSize"] == 7  # the series, 4 first occurrences and 2 regenerated ones


@pytest.mark.parametrize("extra, code", [
    ({"RecurrenceType": "RecursDaily", "RecurrenceInterval": 1, "RecurrenceEndDateOnly": "2027-06-01"},
     "FIELD_INTEGRITY_EXCEPTION"),
    ({"RecurrenceType": "RecursMonthly", "RecurrenceInterval": 1}, "REQUIRED_FIELD_MISSING"),
    ({"RecurrenceEndDateOnly": "2026-10-01"}, "FIELD_INTEGRITY_EXCEPTION"),
    ({"RecurrenceDayOfWeekMask": 200}, "FIELD_INTEGRITY_EXCEPTION"),
])
def test_invalid_series_are_refused(sf, extra, code):
    with pytest.raises(SalesforceMalformedRequest) as failure:
        _series(sf, **extra)
    assert failure.value.content[0]["errorCode"] == code


def test_is_recurrence_cannot_be_switched_on_later(sf):
    single = sf.Event.create({"Subject": "One-off", "StartDateTime": "2026-11-02T09:00:00Z", "DurationInMinutes": 5})
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Event.update(single["id"], {"IsRecurrence": True})
    assert failure.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


@pytest.mark.parametrize("fields, limit", [
    ({"RecurrenceType": "RecursDaily", "RecurrenceInterval": 1, "RecurrenceEndDateOnly": "2027-02-10"}, 100),
    ({"RecurrenceType": "RecursWeekly", "RecurrenceInterval": 1, "RecurrenceDayOfWeekMask": 2,
      "RecurrenceEndDateOnly": "2027-11-30"}, 53),
    ({"RecurrenceType": "RecursMonthly", "RecurrenceInterval": 1, "RecurrenceDayOfMonth": 2,
      "RecurrenceEndDateOnly": "2031-10-30"}, 59),
    ({"RecurrenceType": "RecursYearly", "RecurrenceMonthOfYear": "November", "RecurrenceDayOfMonth": 2,
      "RecurrenceEndDateOnly": "2035-12-31"}, 9),
])
def test_occurrence_limits_per_frequency(fields, limit):
    """Salesforce's limits (Knowledge Article 000212481): daily 100, weekly 53, monthly 59, yearly 9."""
    with pytest.raises(RecordError, match=f"more than {limit} occurrences"):
        _dates(**fields)
    record = {"RecurrenceStartDateTime": "2026-11-02T09:00:00.000+0000", **fields}
    fewer = {**record, "RecurrenceEndDateOnly": occurrence_dates_until(record, limit)}
    assert len(occurrence_dates(fewer)) == limit


def occurrence_dates_until(record: dict, count: int) -> str:
    """The date of the `count`th occurrence, found by shortening the range one day at a time."""
    import datetime as dt

    end = dt.date.fromisoformat(record["RecurrenceEndDateOnly"])
    while True:
        try:
            dates = occurrence_dates({**record, "RecurrenceEndDateOnly": end.isoformat()})
        except RecordError:  # still over the limit
            end -= dt.timedelta(days=1)
            continue
        assert len(dates) == count
        return end.isoformat()

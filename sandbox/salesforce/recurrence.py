"""Recurring event series: the dates a Salesforce recurrence pattern produces, and the occurrence records.

As in Salesforce, the series record (``IsRecurrence = true``) is kept and each occurrence is an Event of its own
with ``IsRecurrence = false`` and ``RecurrenceActivityId`` = the series record's id (the series record points at
itself). Dates and times of day are those of ``RecurrenceStartDateTime`` in ``RecurrenceTimeZoneSidKey`` (GMT when
not set), so daylight saving moves the GMT times as in Salesforce. At most as many occurrences as Salesforce allows
for the frequency (daily 100, weekly 53, monthly 59, yearly 9).
"""

import calendar
import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sandbox.salesforce.errors import RecordError
from sandbox.salesforce.values import parse_date, parse_datetime

MAX_OCCURRENCES = 100
# Salesforce's occurrence limits per frequency (Knowledge Article 000212481): daily and every weekday 100, weekly 53,
# monthly 59, yearly 9.
LIMITS = {"RecursDaily": 100, "RecursEveryWeekday": 100, "RecursWeekly": 53, "RecursMonthly": 59,
          "RecursMonthlyNth": 59, "RecursYearly": 9, "RecursYearlyNth": 9}
INSTANCES = {"First": 0, "Second": 1, "Third": 2, "Fourth": 3, "Last": -1}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
# Salesforce's day-of-week mask: Sunday 1, Monday 2, Tuesday 4 ... Saturday 64; Python weekday(): Monday 0.
MASK_BIT = {6: 1, 0: 2, 1: 4, 2: 8, 3: 16, 4: 32, 5: 64}
SERIES_FIELDS = ("Subject", "Location", "Description", "ShowAs", "IsPrivate", "WhoId", "WhatId", "AccountId",
                 "OwnerId", "IsAllDayEvent", "DurationInMinutes", "IsReminderSet")
PATTERN_FIELDS = ("RecurrenceStartDateTime", "RecurrenceEndDateOnly", "RecurrenceType", "RecurrenceInterval",
                  "RecurrenceDayOfWeekMask", "RecurrenceDayOfMonth", "RecurrenceInstance", "RecurrenceMonthOfYear")


def _fail(message: str, fields: list) -> RecordError:
    return RecordError("FIELD_INTEGRITY_EXCEPTION", message, fields)


def _nth_weekday(year: int, month: int, mask: int, instance: str) -> dt.date | None:
    days = [dt.date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)
            if MASK_BIT[dt.date(year, month, d).weekday()] & mask]
    index = INSTANCES[instance]
    return days[index] if -len(days) <= index < len(days) else None


def _add_months(day: dt.date, months: int) -> tuple[int, int]:
    index = day.year * 12 + day.month - 1 + months
    return index // 12, index % 12 + 1


def _zone(record: dict):
    try:
        return ZoneInfo(record.get("RecurrenceTimeZoneSidKey") or "GMT")
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _local_start(record: dict) -> dt.datetime:
    return parse_datetime(record["RecurrenceStartDateTime"]).astimezone(_zone(record))


def occurrence_dates(record: dict) -> list[dt.date]:
    start = _local_start(record).date()
    end = parse_date(record["RecurrenceEndDateOnly"])
    kind = record["RecurrenceType"]
    interval = record.get("RecurrenceInterval") or 1
    mask = record.get("RecurrenceDayOfWeekMask") or 0
    day_of_month = record.get("RecurrenceDayOfMonth")
    instance = record.get("RecurrenceInstance")
    month_name = record.get("RecurrenceMonthOfYear")
    needed = {"RecursMonthly": ["RecurrenceDayOfMonth"],
              "RecursYearly": ["RecurrenceMonthOfYear", "RecurrenceDayOfMonth"],
              "RecursMonthlyNth": ["RecurrenceInstance"],
              "RecursYearlyNth": ["RecurrenceInstance", "RecurrenceMonthOfYear"]}
    missing = [name for name in needed.get(kind, []) if not record.get(name)]
    if missing:
        raise RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
    if interval < 1 or (day_of_month is not None and not 1 <= day_of_month <= 31):
        raise _fail("Recurrence Interval / Day of Month: value outside of valid range",
                    ["RecurrenceInterval", "RecurrenceDayOfMonth"])
    dates: list[dt.date] = []
    limit = LIMITS.get(kind, MAX_OCCURRENCES)

    def add(day):
        if day is not None and start <= day <= end and day not in dates:
            dates.append(day)
        if len(dates) > limit:
            raise _fail(f"The recurring series would have more than {limit} occurrences",
                        ["RecurrenceEndDateOnly"])

    if kind in ("RecursDaily", "RecursEveryWeekday", "RecursWeekly"):
        week_start = start - dt.timedelta(days=(start.weekday() + 1) % 7)
        day = start
        while day <= end:
            if kind == "RecursDaily":
                if (day - start).days % interval == 0:
                    add(day)
            elif kind == "RecursEveryWeekday":
                if day.weekday() < 5:
                    add(day)
            elif ((day - week_start).days // 7) % interval == 0 and MASK_BIT[day.weekday()] & mask:
                add(day)
            day += dt.timedelta(days=1)
    else:
        step = 12 if kind.startswith("RecursYearly") else interval
        month_index = MONTHS.index(month_name) + 1 if month_name else None
        first = dt.date(start.year, month_index or start.month, 1)
        if first > start.replace(day=1) and kind.startswith("RecursYearly"):
            first = dt.date(start.year - 1, month_index, 1)
        offset = 0
        while True:
            year, month = _add_months(first, offset)
            if dt.date(year, month, 1) > end:
                break
            if kind in ("RecursMonthly", "RecursYearly"):
                last = calendar.monthrange(year, month)[1]
                add(dt.date(year, month, min(day_of_month, last)))
            else:
                add(_nth_weekday(year, month, mask, instance))
            offset += step
    return sorted(dates)


def build_occurrences(series: dict, new_id) -> list[dict]:
    """The occurrence records of a series record (new ids from ``new_id()``)."""
    start = _local_start(series)
    out = []
    for day in occurrence_dates(series):
        begin = dt.datetime(day.year, day.month, day.day, start.hour, start.minute,
                            tzinfo=start.tzinfo).astimezone(dt.UTC)
        if series.get("IsAllDayEvent"):
            begin = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        occurrence = dict.fromkeys(series)
        occurrence.update({name: series.get(name) for name in SERIES_FIELDS})
        occurrence.update(Id=new_id(), IsRecurrence=False, RecurrenceActivityId=series["Id"], IsDeleted=False,
                          IsChild=False, IsGroupEvent=False, IsArchived=False)
        occurrence["_start"] = begin
        out.append(occurrence)
    if not out:
        raise _fail("The recurrence pattern produces no occurrence between Recurrence Begins and Recurrence Ends",
                    ["RecurrenceEndDateOnly"])
    return out

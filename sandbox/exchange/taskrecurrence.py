"""Recurring tasks: what Exchange does when the current occurrence of a recurring task is completed.

Microsoft's UpdateItem (task) reference: setting the status of a recurring task (regenerating or not) to Completed
generates a one-off task, whose Id and ChangeKey the UpdateItem response carries; the Id that was sent stays valid
and stands for the next occurrence. For the last occurrence the task itself is completed and keeps its Id. The
one-off is a copy of the task (MS-OXOTASK: the copy is the completed instance), so it keeps extended properties.
"""

import calendar
import copy
from datetime import date, datetime, timedelta

from sandbox.exchange import recurrence as rec
from sandbox.exchange.fields import fmt_dt, leaf, parse_dt, text_of
from sandbox.exchange.soap import child, local

MAX_DAYS = 366 * 30


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _range(recurrence):
    """(end date or None, count or None) of a task recurrence's range element."""
    end = count = None
    for el in recurrence:
        name = local(el.tag)
        if name == "EndDateRecurrence" and child(el, "EndDate") is not None:
            end = rec._date(child(el, "EndDate").text)
        elif name == "NumberedRecurrence" and child(el, "NumberOfOccurrences") is not None:
            count = int(child(el, "NumberOfOccurrences").text)
    return end, count


def next_date(item: dict, fields: dict, due_local: date | None, today: date) -> date | None:
    """The date of the occurrence after the current one, or None when the current one is the last."""
    recurrence = fields["Recurrence"]
    pattern = recurrence[0]
    kind = local(pattern.tag)
    end, count = _range(recurrence)
    done = item.get("task_occurrences_done", 0) + 1  # occurrences completed so far, this one included
    if kind.endswith("Regeneration"):
        # A regenerating task comes back the pattern's interval after the day the last one was completed.
        interval = int(text_of(child(pattern, "Interval")) or 1)
        if kind == "DailyRegeneration":
            nxt = today + timedelta(days=interval)
        elif kind == "WeeklyRegeneration":
            nxt = today + timedelta(weeks=interval)
        elif kind == "MonthlyRegeneration":
            nxt = _add_months(today, interval)
        else:
            nxt = _add_months(today, 12 * interval)
        if (count is not None and done >= count) or (end is not None and nxt > end):
            return None
        return nxt
    pat = rec.Pattern(recurrence)
    first = pat.start_date or due_local or today
    anchor = due_local or first
    d, n = first, 0
    for _ in range(MAX_DAYS):
        if pat.end_date and d > pat.end_date:
            return None
        if pat.count is not None and n >= pat.count:
            return None
        if pat.matches(d, first):
            n += 1
            if d > anchor:
                return None if pat.count is not None and n > pat.count else d
        d += timedelta(days=1)
    return None


def _shift(fields: dict, name: str, days: int) -> None:
    value = parse_dt(text_of(fields.get(name)))
    if value is not None:
        fields[name] = leaf(name, fmt_dt(value + timedelta(days=days)))


def regenerate(store, mb: dict, item: dict, before: dict, record: dict, index, tz, now: str) -> dict | None:
    """After an update of `item` to `record` (its new fields and ext): if that completed the current occurrence of a
    recurring task with more to come, create the completed one-off and move `record` to the next occurrence.
    Returns the one-off item (whose id the UpdateItem response carries), else None."""
    fields = record["fields"]
    if item["kind"] != "Task" or index is not None or "Recurrence" not in fields:
        return None
    if text_of(fields.get("Status")) != "Completed" or text_of(before.get("Status")) == "Completed":
        return None
    due = parse_dt(text_of(fields.get("DueDate")))
    due_local = due.astimezone(tz).date() if due is not None else None
    today = datetime.fromisoformat(now.replace("Z", "+00:00")).astimezone(tz).date()
    nxt = next_date(item, fields, due_local, today)
    if nxt is None:
        return None  # the last occurrence: the task itself is completed
    one_off = store.new_item(mb, mb["folders"][item["folder"]], "Task")
    one_off["fields"] = {k: copy.deepcopy(v) for k, v in fields.items() if k != "Recurrence"}
    one_off["ext"] = {k: copy.deepcopy(v) for k, v in record["ext"].items()}
    days = (nxt - (due_local or today)).days
    if due is None:
        fields["DueDate"] = leaf("DueDate", fmt_dt(datetime.combine(nxt, datetime.min.time(), tz)))
    else:
        _shift(fields, "DueDate", days)
    _shift(fields, "StartDate", days)
    fields["Status"] = leaf("Status", "NotStarted")
    fields["PercentComplete"] = leaf("PercentComplete", "0")
    fields.pop("CompleteDate", None)
    item["task_occurrences_done"] = item.get("task_occurrences_done", 0) + 1
    return one_off

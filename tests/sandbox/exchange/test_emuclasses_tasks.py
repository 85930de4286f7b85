"""Recurring tasks as Exchange serves them, through unchanged exchangelib (issue 17, item 6).

Microsoft's reference for UpdateItem on tasks ("Updating the current occurrence of a recurring task",
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/updateitem-operation-task, which
exchangelib cites in `Item.save`): setting a recurring task's status to Completed generates a one-off task; the
response carries that new task's Id and ChangeKey; the Id sent stays valid and now stands for the next occurrence.
For the last occurrence (and for a task that does not recur) the response returns the same Id. The generated task is
a copy (MS-OXOTASK, PidLidTaskDeadOccurrence: "the copy ... is the completed instance"), so it keeps the item's
extended properties. IsRecurring "indicates whether a ... task is part of a recurring item".
"""

import datetime
from decimal import Decimal

import pytest
from exchangelib import EWSDate, ExtendedProperty, Task
from exchangelib.recurrence import (
    DailyRegeneration,
    NoEndPattern,
    NumberedPattern,
    TaskRecurrence,
    WeeklyPattern,
)


class SalesforceTaskStamp(ExtendedProperty):
    property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
    property_name = "SalesforceId"
    property_type = "String"


@pytest.fixture(autouse=True, scope="module")
def _register():
    Task.register("emuclasses_stamp", SalesforceTaskStamp)
    yield
    Task.deregister("emuclasses_stamp")


def weekly(start: EWSDate, boundary=None) -> TaskRecurrence:
    return TaskRecurrence(pattern=WeeklyPattern(interval=1, weekdays=[start.isoweekday()], first_day_of_week=1),
                          boundary=boundary or NoEndPattern(start=start))


def test_a_recurring_task_says_it_recurs(account):
    series = Task(folder=account.tasks, subject="Weekly report", due_date=EWSDate(2025, 3, 3),
                  recurrence=weekly(EWSDate(2025, 3, 3)))
    series.save()
    single = Task(folder=account.tasks, subject="Call Ada", due_date=EWSDate(2025, 3, 3))
    single.save()
    assert account.tasks.get(id=series.id).is_recurring is True
    assert account.tasks.get(id=single.id).is_recurring is False


def test_completing_a_recurring_task_splits_off_the_completed_occurrence(account):
    series = Task(folder=account.tasks, subject="Weekly report", due_date=EWSDate(2025, 3, 3),
                  start_date=EWSDate(2025, 3, 1), recurrence=weekly(EWSDate(2025, 3, 3)),
                  emuclasses_stamp="00T000000000042")
    series.save()
    series_id = series.id
    series.status = "Completed"
    series.save(update_fields=["status"])
    assert series.id != series_id  # the response names the new one-off task (exchangelib takes its id)

    done = account.tasks.get(id=series.id)
    assert (done.status, done.is_complete, done.percent_complete) == ("Completed", True, 100)
    assert done.complete_date is not None
    assert done.is_recurring is False and done.recurrence is None
    assert done.due_date == EWSDate(2025, 3, 3) and done.subject == "Weekly report"
    assert done.emuclasses_stamp == "00T000000000042"  # a copy keeps the item's extended properties

    nxt = account.tasks.get(id=series_id)  # the id sent is still valid: the next occurrence
    assert (nxt.status, nxt.is_complete, nxt.percent_complete) == ("NotStarted", False, 0)
    assert nxt.complete_date is None and nxt.is_recurring is True
    assert nxt.due_date == EWSDate(2025, 3, 10) and nxt.start_date == EWSDate(2025, 3, 8)
    assert account.tasks.filter(subject="Weekly report").count() == 2

    # A sync client sees the one-off as a new item and the series as changed.
    changes = {(kind, getattr(item, "id", None)) for kind, item in account.tasks.sync_items(sync_state=None)}
    assert ("create", done.id) in changes and ("create", series_id) in changes


def test_the_last_occurrence_completes_the_task_itself(account):
    series = Task(folder=account.tasks, subject="Twice", due_date=EWSDate(2025, 3, 3),
                  recurrence=weekly(EWSDate(2025, 3, 3), NumberedPattern(start=EWSDate(2025, 3, 3), number=2)))
    series.save()
    series_id = series.id
    series.status = "Completed"
    series.save(update_fields=["status"])
    assert series.id != series_id
    last = account.tasks.get(id=series_id)
    assert last.due_date == EWSDate(2025, 3, 10)
    last.status = "Completed"
    last.save(update_fields=["status"])
    assert last.id == series_id  # no occurrence left: the same id comes back
    assert account.tasks.get(id=series_id).status == "Completed"
    assert account.tasks.filter(subject="Twice").count() == 2


def test_a_regenerating_task_comes_back_after_completion(account):
    series = Task(folder=account.tasks, subject="Water plants", due_date=EWSDate(2025, 3, 3),
                  recurrence=TaskRecurrence(pattern=DailyRegeneration(interval=3),
                                            boundary=NoEndPattern(start=EWSDate(2025, 3, 3))))
    series.save()
    series_id = series.id
    series.percent_complete = Decimal(100)  # Exchange's rules: 100 % is Completed
    series.save(update_fields=["percent_complete"])
    done = account.tasks.get(id=series.id)
    nxt = account.tasks.get(id=series_id)
    assert done.status == "Completed" and nxt.status == "NotStarted"
    # Regenerating: the next one is due the pattern's interval after the day the last one was completed.
    completed_on = datetime.date.fromisoformat(done.complete_date.ewsformat()[:10])  # a UTC date-time
    assert nxt.due_date == completed_on + datetime.timedelta(days=3)


def test_a_plain_task_keeps_its_id_when_completed(account):
    task = Task(folder=account.tasks, subject="Once", due_date=EWSDate(2025, 3, 3))
    task.save()
    task_id = task.id
    task.status = "Completed"
    task.save(update_fields=["status"])
    assert task.id == task_id and account.tasks.filter(subject="Once").count() == 1

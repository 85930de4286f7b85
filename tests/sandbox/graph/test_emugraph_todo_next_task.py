"""Recurring To Do tasks in a mailbox with the quirk `todo_completion_creates_next_task` (sandbox/graph/todo.py):
completing the open occurrence leaves that task completed, without its recurrence, and creates the next occurrence
as a NEW task (a new id) with the same recurrence, linked resources copied; the last occurrence is simply completed.
The delta query reports both.
"""

from datetime import timedelta

from tests.sandbox.graph.test_emugraph_todo_recurrence import MONDAY, _delta_round, _due, _tasks_path, _weekly


def _next_as_new_task(tenant, mb) -> None:
    answer = tenant.control("POST", f"/mailboxes/{mb.upn}/quirks", {"todo_completion_creates_next_task": True},
                            expect=200)
    assert answer.json()["quirks"]["todo_completion_creates_next_task"] is True


def test_completing_creates_the_next_occurrence_as_a_new_task(tenant, mb):
    _next_as_new_task(tenant, mb)
    base = _tasks_path(mb)
    created = mb.ok("post", base, 201, json={
        "title": "Weekly report", "dueDateTime": _due(MONDAY), "recurrence": _weekly(),
        "reminderDateTime": {"dateTime": f"{MONDAY.isoformat()}T09:00:00", "timeZone": "UTC"}, "isReminderOn": True,
        "linkedResources": [{"applicationName": "Salesforce Sync", "displayName": "Task", "externalId": "00T1"}]})
    _, link = _delta_round(mb, f"{base}/delta", **{"$expand": "linkedResources"})

    answer = mb.ok("patch", f"{base}/{created['id']}", json={"status": "completed"})
    assert answer["id"] == created["id"] and answer["status"] == "completed" and answer["completedDateTime"]
    assert answer["dueDateTime"]["dateTime"].startswith(MONDAY.isoformat()) and "recurrence" not in answer

    tasks = {t["id"]: t for t in mb.ok("get", base, params={"$expand": "linkedResources"})["value"]}
    assert len(tasks) == 2
    (following,) = [t for t in tasks.values() if t["id"] != created["id"]]
    nxt = MONDAY + timedelta(weeks=1)
    assert following["status"] == "notStarted" and "completedDateTime" not in following
    assert following["dueDateTime"]["dateTime"].startswith(nxt.isoformat())
    assert following["reminderDateTime"]["dateTime"].startswith(f"{nxt.isoformat()}T09:00:00")
    assert following["recurrence"] == created["recurrence"] and following["title"] == "Weekly report"
    assert [r["externalId"] for r in following["linkedResources"]] == ["00T1"]
    assert following["linkedResources"][0]["id"] != tasks[created["id"]]["linkedResources"][0]["id"]

    changed, _ = _delta_round(mb, link)
    assert {t["id"]: t["status"] for t in changed} == {created["id"]: "completed", following["id"]: "notStarted"}

    # Completing the new task goes on the same way: one more task, each occurrence its own.
    again = mb.ok("patch", f"{base}/{following['id']}", json={"status": "completed"})
    assert again["id"] == following["id"] and again["status"] == "completed"
    dues = sorted((t["dueDateTime"]["dateTime"][:10], t["status"]) for t in mb.ok("get", base)["value"])
    assert dues == [(MONDAY.isoformat(), "completed"), (nxt.isoformat(), "completed"),
                    ((nxt + timedelta(weeks=1)).isoformat(), "notStarted")]


def test_the_last_occurrence_creates_no_new_task(tenant, mb):
    _next_as_new_task(tenant, mb)
    base = _tasks_path(mb)
    created = mb.ok("post", base, 201, json={
        "title": "Twice", "dueDateTime": _due(MONDAY),
        "recurrence": {**_weekly(), "range": {"type": "numbered", "startDate": MONDAY.isoformat(),
                                               "numberOfOccurrences": 2}}})
    mb.ok("patch", f"{base}/{created['id']}", json={"status": "completed"})
    (second,) = [t for t in mb.ok("get", base)["value"] if t["id"] != created["id"]]
    last = mb.ok("patch", f"{base}/{second['id']}", json={"status": "completed"})
    assert last["status"] == "completed" and last["id"] == second["id"]
    assert sorted(t["status"] for t in mb.ok("get", base)["value"]) == ["completed", "completed"]


def test_without_the_quirk_the_task_itself_moves_on(mb):
    base = _tasks_path(mb)
    created = mb.ok("post", base, 201, json={"title": "Weekly", "dueDateTime": _due(MONDAY), "recurrence": _weekly()})
    answer = mb.ok("patch", f"{base}/{created['id']}", json={"status": "completed"})
    assert answer["id"] == created["id"] and answer["status"] == "notStarted"

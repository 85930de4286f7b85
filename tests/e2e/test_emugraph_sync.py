"""What a sync meets in Exchange Online mailboxes through Microsoft Graph (issue 17, items 6, 7 and 11 on Graph),
end to end against the sandbox with the mailbox on the Graph emulator.

- Recurring To Do tasks: completing the open occurrence splits it off as a completed task and moves the recurring
  task (same id) on to its next due date. The Salesforce task linked to the recurring task follows its open
  occurrence; each completed occurrence becomes one completed Salesforce task; nothing is duplicated, whichever side
  completed it (the EWS path's rule, tests/e2e/test_emuclasses_sync.py).
- Items of other classes in synced folders (a contact group beside the contacts, a meeting message in the calendar):
  Graph's contacts and events collections never list them, so nothing but contacts and events syncs.
- Contacts moved or copied into the sync folder in Outlook (Graph v1.0 has no move or copy for contacts; the
  sandbox's control API does what Outlook does): a moved-in contact syncs once, a moved-out one leaves the scope as
  a deletion does, a copy is matched, never created twice; moved back in, it is synced again, once.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from sync.models import RecordError
from tests.e2e.test_sync_user import last_run, sf_rows, sync

pytestmark = pytest.mark.e2e

BOTH = {"direction": "both", "conflict_behavior": "salesforce_wins"}


def _no_record_errors(person, allowed: frozenset = frozenset()) -> None:
    errors = RecordError.objects.filter(run__user=person.sync_user).exclude(code__in=allowed)
    assert not errors.exists(), list(errors.values_list("code", "message"))


def _control(world, method: str, path: str, body: dict | None = None) -> dict:
    response = world.http().request(method, f"{world.sandbox.graph_url}/_sandbox/{path}", json=body, timeout=30)
    assert response.status_code < 300, response.text
    return response.json()


# ---- item 6: recurring To Do tasks ---------------------------------------------------------------------------------
def _sf_tasks(person) -> list[tuple[str, str, str]]:
    return sorted((r["Subject"], r["ActivityDate"], r["Status"])
                  for r in sf_rows(person, "SELECT Subject, ActivityDate, Status FROM Task"))


def _todo_tasks(person) -> list[tuple[str, str, str]]:
    outlook = person.outlook
    return sorted((t["title"], t["dueDateTime"]["dateTime"][:10], t["status"])
                  for t in outlook._all(f"todo/lists/{outlook._list()}/tasks"))


def test_recurring_todo_task_completed_in_outlook_then_in_salesforce_never_duplicates(graph_world):
    world = graph_world
    person = world.person()
    world.configure(person, tasks=BOTH)
    first = timezone.now().date() + timedelta(days=1)
    d1, d2, d3 = (first + timedelta(weeks=n) for n in range(3))
    weekday = first.strftime("%A").lower()
    outlook = person.outlook
    tasks_path = f"todo/lists/{outlook._list()}/tasks"
    series = outlook._call("POST", tasks_path, {
        "title": "Weekly report", "dueDateTime": {"dateTime": f"{first.isoformat()}T00:00:00", "timeZone": "UTC"},
        "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [weekday]},
                       "range": {"type": "noEnd", "startDate": first.isoformat()}}})
    assert sync(person) == 0
    assert _sf_tasks(person) == [("Weekly report", d1.isoformat(), "Not Started")]

    # Completed in To Do: the completed occurrence is split off, the recurring task moves on.
    outlook._call("PATCH", f"{tasks_path}/{series['id']}", {"status": "completed"})
    assert sync(person) == 0
    assert _sf_tasks(person) == [("Weekly report", d1.isoformat(), "Completed"),
                                 ("Weekly report", d2.isoformat(), "Not Started")]
    assert sync(person) == 0  # converged
    assert len(_todo_tasks(person)) == 2 and len(_sf_tasks(person)) == 2

    # Completed in Salesforce: the sync completes the occurrence in To Do, which splits it off again.
    (open_task,) = [r for r in sf_rows(person, "SELECT Id, Status FROM Task") if r["Status"] == "Not Started"]
    person.salesforce.Task.update(open_task["Id"], {"Status": "Completed"})
    assert sync(person) == 0
    assert sync(person) == 0
    assert _todo_tasks(person) == [("Weekly report", d1.isoformat(), "completed"),
                                   ("Weekly report", d2.isoformat(), "completed"),
                                   ("Weekly report", d3.isoformat(), "notStarted")]
    assert outlook._call("GET", f"{tasks_path}/{series['id']}")["dueDateTime"]["dateTime"][:10] == d3.isoformat()
    assert _sf_tasks(person) == [("Weekly report", d1.isoformat(), "Completed"),
                                 ("Weekly report", d2.isoformat(), "Completed"),
                                 ("Weekly report", d3.isoformat(), "Not Started")]
    assert sync(person) == 0
    assert sync(person, "--reset") == 0  # a full read with matching pairs them all again
    assert len(_sf_tasks(person)) == 3 and len(_todo_tasks(person)) == 3
    assert last_run(person, "tasks").state == "succeeded"
    _no_record_errors(person)


# ---- item 7: items of other classes --------------------------------------------------------------------------------
def test_contact_groups_and_other_items_in_synced_folders_are_never_synced(graph_world):
    world = graph_world
    person = world.person()
    world.configure(person, contacts=BOTH, events=BOTH)
    assert sync(person) == 0  # creates Salesforce_Sync
    outlook = person.outlook
    outlook.create_contact("Ada", "Lovelace", "ada@example.com")
    folder = outlook._folder()
    mailbox = f"mailboxes/{person.username}"
    for folder_id, item_class, subject in ((folder, "IPM.DistList", "Sales team"),
                                           (folder, "IPM.StickyNote", "A note kept with the contacts"),
                                           ("calendar", "IPM.Schedule.Meeting.Request", "Quarterly review")):
        _control(world, "POST", f"{mailbox}/items", {"folder_id": folder_id, "itemClass": item_class,
                                                      "subject": subject})
    assert sync(person) == 0
    assert sync(person, "--reset") == 0  # a full read with matching skips them too
    assert [r["LastName"] for r in sf_rows(person, "SELECT LastName FROM Contact")] == ["Lovelace"]
    assert sf_rows(person, "SELECT Subject FROM Event") == []
    assert len(_control(world, "GET", mailbox)["other_items"]) == 3
    for object_type in ("contacts", "events"):
        assert last_run(person, object_type).state == "succeeded"
    _no_record_errors(person)


# ---- item 11: contacts moved or copied into the sync folder --------------------------------------------------------
def test_contacts_moved_in_sync_once_moved_out_leave_moved_back_return_and_copies_are_matched(graph_world):
    world = graph_world
    person = world.person()
    world.configure(person, contacts={**BOTH, "propagate_deletions": True})
    assert sync(person) == 0
    outlook = person.outlook
    folder = outlook._folder()
    friends = outlook._call("POST", "contactFolders", {"displayName": "Friends"})["id"]
    mailbox = f"mailboxes/{person.username}"

    def card(given: str, surname: str) -> str:
        return outlook._call("POST", f"contactFolders/{friends}/contacts", {
            "givenName": given, "surname": surname, "displayName": f"{given} {surname}",
            "emailAddresses": [{"address": f"{given.lower()}@example.com"}]})["id"]

    def act(action: str, contact_id: str, folder_id: str) -> str:
        return _control(world, "POST", f"{mailbox}/contacts/{contact_id}/{action}", {"folder_id": folder_id})["id"]

    def in_folder(surname: str) -> str:
        return next(c["id"] for c in outlook.contacts() if c["surname"] == surname)

    def sf_names() -> list[str]:
        return sorted(r["LastName"] for r in sf_rows(person, "SELECT LastName FROM Contact"))

    act("move", card("Ada", "Lovelace"), folder)  # moved in: a new id in the sync folder
    assert sync(person) == 0
    assert sync(person) == 0
    (ada_sf,) = [r["Id"] for r in sf_rows(person, "SELECT Id FROM Contact")]

    # Moved out, it leaves the scope as a deletion does (deletions propagate here); moved back in (carrying the
    # stamp of the Salesforce contact its leaving deleted), it is synced again, once, and never deleted.
    ada = act("move", in_folder("Lovelace"), friends)
    assert sync(person) == 0
    assert sf_names() == []
    act("move", ada, folder)
    assert sync(person) == 0
    assert sync(person) == 0
    assert sf_names() == ["Lovelace"] and [c["surname"] for c in outlook.contacts()] == ["Lovelace"]
    assert sf_rows(person, "SELECT Id FROM Contact")[0]["Id"] != ada_sf

    # A copy of a contact Salesforce holds but the folder does not, and copies of one already synced: matched.
    grace_sf = person.salesforce.Contact.create({"FirstName": "Grace", "LastName": "Hopper",
                                                 "Email": "grace@example.com"})["id"]
    act("copy", card("Grace", "Hopper"), folder)
    assert sync(person) == 0
    assert sf_names() == ["Hopper", "Lovelace"]
    assert grace_sf in {r["Id"] for r in sf_rows(person, "SELECT Id FROM Contact")}
    act("copy", in_folder("Lovelace"), friends)  # a copy out of the folder is no business of the sync
    act("copy", in_folder("Lovelace"), folder)  # a second card inside: the stamped original stays linked
    assert sync(person) == 0
    assert sf_names() == ["Hopper", "Lovelace"]
    copies = RecordError.objects.filter(run__user=person.sync_user, code="copy_of_synced")
    assert copies.exists() and "copy of one already synced" in copies.first().message

    act("move", in_folder("Hopper"), friends)  # moved out
    assert sync(person) == 0
    assert sf_names() == ["Lovelace"]
    assert sorted(c["surname"] for c in outlook.contacts()) == ["Lovelace", "Lovelace"]
    _no_record_errors(person, allowed=frozenset({"copy_of_synced"}))

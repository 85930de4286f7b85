"""What a sync meets in real mailboxes (issue 17, items 6, 7 and 11), end to end against the sandbox.

- Recurring tasks: completing the current occurrence makes Exchange split it off as a completed one-off task and move
  the recurring task to its next occurrence. The Salesforce task linked to the recurring task follows its open
  occurrence; each completed occurrence becomes one completed Salesforce task; nothing is duplicated, whichever side
  completed it.
- Synced folders holding items of other classes (distribution lists and generic items beside contacts, meeting
  messages in the calendar): skipped with no error and no duplicate.
- Contacts moved or copied into the sync folder (Lightning Sync's advice is "move, do not copy"): a moved-in contact
  syncs once, a moved-out one leaves the scope as a deletion does, a copy is matched, never created twice.
"""

from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from exchangelib import Contact, EWSDate, Mailbox, Task
from exchangelib.folders import Contacts
from exchangelib.indexed_properties import EmailAddress
from exchangelib.items import DistributionList, Item
from exchangelib.properties import Member
from exchangelib.recurrence import NoEndPattern, TaskRecurrence, WeeklyPattern

from sandbox.demo import PASSWORD
from sync.models import RecordError
from tests.e2e.test_sync_user import last_run, sf_rows, sync

pytestmark = pytest.mark.e2e

BOTH = {"direction": "both", "conflict_behavior": "salesforce_wins"}


def _no_record_errors(person, allowed: frozenset = frozenset()) -> None:
    errors = RecordError.objects.filter(run__user=person.sync_user).exclude(code__in=allowed)
    assert not errors.exists(), list(errors.values_list("code", "message"))


def _sf_tasks(person) -> list[tuple[str, str, str]]:
    return sorted((r["Subject"], r["ActivityDate"], r["Status"])
                  for r in sf_rows(person, "SELECT Subject, ActivityDate, Status FROM Task"))


def _outlook_tasks(person) -> list[tuple[str, str, str]]:
    return sorted((t.subject, t.due_date.isoformat(), t.status) for t in person.mailbox.tasks.all())


# ---- item 6: recurring tasks ---------------------------------------------------------------------------------------
def test_recurring_task_completed_in_outlook_then_in_salesforce_never_duplicates(world):
    person = world.person()
    world.configure(person, tasks=BOTH)
    first = timezone.now().date() + timedelta(days=1)
    d1, d2, d3 = (first + timedelta(weeks=n) for n in range(3))
    series = Task(folder=person.mailbox.tasks, subject="Weekly report", due_date=EWSDate.from_date(first),
                  recurrence=TaskRecurrence(pattern=WeeklyPattern(interval=1, weekdays=[first.isoweekday()]),
                                            boundary=NoEndPattern(start=EWSDate.from_date(first))))
    series.save()
    series_id = series.id
    assert sync(person) == 0
    assert _sf_tasks(person) == [("Weekly report", d1.isoformat(), "Not Started")]

    # Completed in Outlook: Exchange keeps the completed occurrence as a one-off and moves the series on.
    series.status = "Completed"
    series.save(update_fields=["status"])
    assert sync(person) == 0
    assert _sf_tasks(person) == [("Weekly report", d1.isoformat(), "Completed"),
                                 ("Weekly report", d2.isoformat(), "Not Started")]
    assert sync(person) == 0  # converged
    assert len(_outlook_tasks(person)) == 2 and len(_sf_tasks(person)) == 2

    # Completed in Salesforce: the sync completes the occurrence in Outlook, where Exchange regenerates again.
    (open_task,) = [r for r in sf_rows(person, "SELECT Id, Status FROM Task") if r["Status"] == "Not Started"]
    person.salesforce.Task.update(open_task["Id"], {"Status": "Completed"})
    assert sync(person) == 0
    assert sync(person) == 0
    assert _outlook_tasks(person) == [("Weekly report", d1.isoformat(), "Completed"),
                                      ("Weekly report", d2.isoformat(), "Completed"),
                                      ("Weekly report", d3.isoformat(), "NotStarted")]
    assert person.mailbox.tasks.get(id=series_id).due_date == EWSDate.from_date(d3)  # the series lives on
    assert _sf_tasks(person) == [("Weekly report", d1.isoformat(), "Completed"),
                                 ("Weekly report", d2.isoformat(), "Completed"),
                                 ("Weekly report", d3.isoformat(), "Not Started")]
    assert sync(person) == 0
    assert len(_sf_tasks(person)) == 3 and len(_outlook_tasks(person)) == 3
    _no_record_errors(person)


# ---- item 7: other item classes ------------------------------------------------------------------------------------
def _meeting_request(world, person, subject: str) -> None:
    """A meeting message in the calendar (raw CreateItem: exchangelib keeps ItemClass read-only)."""
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
  <soap:Header><t:RequestServerVersion Version="Exchange2016"/></soap:Header>
  <soap:Body><m:CreateItem MessageDisposition="SaveOnly">
    <m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId>
    <m:Items><t:Item><t:ItemClass>IPM.Schedule.Meeting.Request</t:ItemClass><t:Subject>{subject}</t:Subject>
    </t:Item></m:Items></m:CreateItem></soap:Body></soap:Envelope>"""
    response = requests.post(world.sandbox.ews_endpoint, data=body.encode(), auth=(person.username, PASSWORD),
                             headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)
    assert b'ResponseClass="Success"' in response.content, response.text


def test_distribution_lists_and_other_items_in_synced_folders_are_skipped(world):
    person = world.person()
    world.configure(person, contacts=BOTH, events=BOTH)
    assert sync(person) == 0  # creates Salesforce_Sync
    folder = person.mailbox.contacts // "Salesforce_Sync"
    person.outlook.create_contact("Ada", "Lovelace", "ada@example.com")
    team = DistributionList(folder=folder, display_name="Sales team",
                            members=[Member(mailbox=Mailbox(email_address="ada@example.com", name="Ada"))])
    team.save()
    Item(folder=folder, subject="A note kept with the contacts").save()
    Item(folder=person.mailbox.calendar, subject="Some other calendar item").save()
    _meeting_request(world, person, "Quarterly review")
    assert sync(person) == 0
    assert [r["LastName"] for r in sf_rows(person, "SELECT LastName FROM Contact")] == ["Lovelace"]
    assert sf_rows(person, "SELECT Subject FROM Event") == []

    team.display_name = "Sales team EMEA"  # an update of a skipped item is still skipped
    team.save(update_fields=["display_name"])
    assert sync(person) == 0
    assert sync(person, "--reset") == 0  # a full read with matching skips them too
    assert [r["LastName"] for r in sf_rows(person, "SELECT LastName FROM Contact")] == ["Lovelace"]
    assert sf_rows(person, "SELECT Subject FROM Event") == []
    assert sorted(type(i).__name__ for i in folder.all()) == ["Contact", "DistributionList", "Item"]
    for object_type in ("contacts", "events"):
        assert last_run(person, object_type).state == "succeeded"
    _no_record_errors(person)


# ---- item 11: contacts moved or copied into the sync folder --------------------------------------------------------
def test_contacts_moved_in_sync_once_moved_out_leave_and_copies_are_matched(world):
    person = world.person()
    world.configure(person, contacts={**BOTH, "propagate_deletions": True})
    assert sync(person) == 0
    folder = person.mailbox.contacts // "Salesforce_Sync"
    elsewhere = Contacts(parent=person.mailbox.contacts, name="Friends")
    elsewhere.save()

    ada = Contact(folder=elsewhere, given_name="Ada", surname="Lovelace", display_name="Ada Lovelace",
                  email_addresses=[EmailAddress(email="ada@example.com", label="EmailAddress1")])
    ada.save()
    moved = ada.move(folder)  # MoveItem: a new id in the new folder
    assert sync(person) == 0
    assert sync(person) == 0
    assert [r["LastName"] for r in sf_rows(person, "SELECT LastName FROM Contact")] == ["Lovelace"]

    # A copy of a contact already synced, and a copy of one Salesforce holds but the folder does not: matched.
    grace_sf = person.salesforce.Contact.create({"FirstName": "Grace", "LastName": "Hopper",
                                                 "Email": "grace@example.com"})["id"]
    grace = Contact(folder=elsewhere, given_name="Grace", surname="Hopper", display_name="Grace Hopper",
                    email_addresses=[EmailAddress(email="grace@example.com", label="EmailAddress1")])
    grace.save()
    grace.copy(folder)
    assert sync(person) == 0
    rows = sf_rows(person, "SELECT Id, LastName FROM Contact")
    assert sorted(r["LastName"] for r in rows) == ["Hopper", "Lovelace"]
    assert grace_sf in {r["Id"] for r in rows}
    assert sorted(c.surname for c in folder.all()) == ["Hopper", "Lovelace"]

    in_folder = folder.get(id=moved) if isinstance(moved, str) else folder.get(surname="Lovelace")
    in_folder.copy(elsewhere)  # a copy out of the folder is no business of the sync
    in_folder.copy(folder)  # a second copy inside: the stamped original stays linked, the copy is matched
    assert sync(person) == 0
    assert sorted(r["LastName"] for r in sf_rows(person, "SELECT LastName FROM Contact")) == ["Hopper", "Lovelace"]

    # Moved out of the folder: the contact leaves the sync's scope as a deletion does (deletions propagate here).
    folder.get(surname="Hopper").move(elsewhere)
    assert sync(person) == 0
    assert [r["LastName"] for r in sf_rows(person, "SELECT LastName FROM Contact")] == ["Lovelace"]
    copies = RecordError.objects.filter(run__user=person.sync_user, code="copy_of_synced")
    assert copies.exists() and "copy of one already synced" in copies.first().message
    _no_record_errors(person, allowed=frozenset({"copy_of_synced"}))

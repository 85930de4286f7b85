"""Whole syncs of one user through `sync_user`, against the sandbox, checked on both ends with the real clients.

Each test traces to DESIGN.md §5: directions, conflicts, deletions, private events, first-sync matching, reset,
and faults in the middle of a sync.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from exchangelib import CalendarItem, Contact, EWSDateTime, EWSTimeZone, Task
from exchangelib.folders import Contacts
from exchangelib.indexed_properties import EmailAddress

from sync.models import RecordLink, SyncRun

pytestmark = pytest.mark.e2e
UTC = EWSTimeZone("UTC")


def sync(person, *args: str) -> int:
    try:
        call_command("sync_user", person.username, *args)
    except SystemExit as exc:
        return exc.code
    return 0


def last_run(person, object_type: str) -> SyncRun:
    return SyncRun.objects.filter(user=person.sync_user, object=object_type).latest("pk")


def sf_rows(person, soql: str) -> list[dict]:
    return person.salesforce.query_all(soql)["records"]


def folder_of(person):
    return person.mailbox.contacts // "Salesforce_Sync"


def at(hours: int) -> EWSDateTime:
    moment = (timezone.now() + timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)
    return EWSDateTime.from_datetime(moment).astimezone(UTC)


def test_contacts_both_ways_with_conflicts_and_deletions(world):
    person = world.person()
    world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    ada = person.salesforce.Contact.create({"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com"})

    assert sync(person) == 0
    run = last_run(person, "contacts")
    assert run.salesforce_api_allocation and 0 < run.salesforce_api_used <= run.salesforce_api_allocation
    folder = folder_of(person)
    (item,) = folder.all()
    assert (item.given_name, item.surname, item.email_addresses[0].email) == ("Ada", "Lovelace", "ada@example.com")

    Contact(folder=folder, given_name="Grace", surname="Hopper", display_name="Grace Hopper",
            email_addresses=[EmailAddress(email="grace@example.com", label="EmailAddress1")]).save()
    assert sync(person) == 0
    assert sorted(r["LastName"] for r in sf_rows(person, "SELECT LastName FROM Contact")) == ["Hopper", "Lovelace"]

    # Changed on both sides: Salesforce wins, and its version is written to Outlook.
    person.salesforce.Contact.update(ada["id"], {"Title": "Countess"})
    item = folder.get(id=item.id)
    item.job_title = "Analyst"
    item.save()
    assert sync(person) == 0
    assert folder.get(id=item.id).job_title == "Countess"
    assert person.salesforce.Contact.get(ada["id"])["Title"] == "Countess"

    # Nothing changed: nothing written.
    assert sync(person) == 0
    counts = last_run(person, "contacts").counts
    assert counts["salesforce"] == {} and counts["outlook"] == {}

    # Deleted in Outlook: deleted in Salesforce (deletions propagate by default).
    folder.get(id=item.id).delete()
    assert sync(person) == 0
    assert [r["LastName"] for r in sf_rows(person, "SELECT LastName FROM Contact")] == ["Hopper"]


def test_salesforce_to_outlook_overwrites_outlook_and_never_writes_salesforce(world):
    person = world.person()
    world.configure(person, contacts={"direction": "salesforce_to_outlook", "conflict_behavior": "salesforce_wins"})
    alan = person.salesforce.Contact.create({"FirstName": "Alan", "LastName": "Turing", "Title": "Mathematician"})
    assert sync(person) == 0
    folder = folder_of(person)
    (item,) = folder.all()

    item.job_title = "Codebreaker"  # an Outlook edit never reaches Salesforce...
    item.save()
    Contact(folder=folder, given_name="Only", surname="InOutlook", display_name="Only InOutlook").save()
    assert sync(person) == 0
    assert person.salesforce.Contact.get(alan["id"])["Title"] == "Mathematician"
    assert [r["LastName"] for r in sf_rows(person, "SELECT LastName FROM Contact")] == ["Turing"]

    person.salesforce.Contact.update(alan["id"], {"Department": "Hut 8"})  # ...and is overwritten by the next SF change
    assert sync(person) == 0
    item = folder.get(id=item.id)
    assert (item.job_title, item.department) == ("Mathematician", "Hut 8")

    person.salesforce.Contact.delete(alan["id"])  # a Salesforce deletion removes the Outlook copy
    assert sync(person) == 0
    assert sorted(c.surname for c in folder.all()) == ["InOutlook"]


def test_events_outlook_to_salesforce_private_events_stay_out(world):
    person = world.person()
    world.configure(person, events={"direction": "outlook_to_salesforce", "conflict_behavior": "outlook_wins",
                                    "propagate_deletions": True})
    meeting = CalendarItem(account=person.mailbox, folder=person.mailbox.calendar, subject="Quarterly review",
                           start=at(24), end=at(25), location="Room 4")
    meeting.save()
    CalendarItem(account=person.mailbox, folder=person.mailbox.calendar, subject="Doctor", start=at(48),
                 end=at(49), sensitivity="Private").save()

    assert sync(person) == 0
    (event,) = sf_rows(person, "SELECT Id, Subject, Location, StartDateTime, EndDateTime FROM Event")
    assert (event["Subject"], event["Location"]) == ("Quarterly review", "Room 4")

    person.salesforce.Event.update(event["Id"], {"Subject": "Renamed in Salesforce"})  # never sent to Outlook
    assert sync(person) == 0
    assert person.mailbox.calendar.get(id=meeting.id).subject == "Quarterly review"

    person.mailbox.calendar.get(id=meeting.id).delete()
    assert sync(person) == 0
    assert sf_rows(person, "SELECT Id FROM Event") == []


def test_tasks_both_ways(world):
    person = world.person()
    world.configure(person, tasks={"direction": "both", "conflict_behavior": "outlook_wins"})
    due = (timezone.now() + timedelta(days=3)).date()
    task = person.salesforce.Task.create({"Subject": "Send proposal", "ActivityDate": due.isoformat(),
                                          "Status": "Not Started", "Priority": "High"})
    assert sync(person) == 0
    (item,) = person.mailbox.tasks.all()
    assert (item.subject, item.importance) == ("Send proposal", "High")

    item.status = "Completed"
    item.percent_complete = Decimal(100)
    item.save()
    assert sync(person) == 0
    assert person.salesforce.Task.get(task["id"])["Status"] == "Completed"

    Task(folder=person.mailbox.tasks, subject="Call back Ada").save()
    assert sync(person) == 0
    assert sorted(r["Subject"] for r in sf_rows(person, "SELECT Subject FROM Task")) == [
        "Call back Ada", "Send proposal"]


def test_first_sync_matches_instead_of_duplicating_and_reset_relinks(world):
    person = world.person()
    world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    for n in range(3):
        person.salesforce.Contact.create({"FirstName": f"P{n}", "LastName": "Same", "Email": f"p{n}@example.com"})
    folder = Contacts(parent=person.mailbox.contacts, name="Salesforce_Sync")
    folder.save()
    for n in range(3):
        Contact(folder=folder, given_name=f"P{n}", surname="Same", display_name=f"P{n} Same",
                email_addresses=[EmailAddress(email=f"P{n}@Example.com", label="EmailAddress1")]).save()

    assert sync(person) == 0
    assert folder_of(person).all().count() == 3
    assert len(sf_rows(person, "SELECT Id FROM Contact")) == 3
    assert RecordLink.objects.filter(user=person.sync_user, state="linked").count() == 3

    assert sync(person, "--reset") == 0
    run = last_run(person, "contacts")
    assert run.full and run.trigger == "reset"
    assert "create" not in run.counts["salesforce"] and "create" not in run.counts["outlook"]
    assert folder_of(person).all().count() == 3 and len(sf_rows(person, "SELECT Id FROM Contact")) == 3


def test_a_failing_salesforce_mid_sync_loses_nothing_and_duplicates_nothing(world):
    person = world.person()
    world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    folder = Contacts(parent=person.mailbox.contacts, name="Salesforce_Sync")
    folder.save()
    for n in range(5):
        Contact(folder=folder, given_name=f"Out{n}", surname="Look", display_name=f"Out{n} Look").save()
    person.salesforce.Contact.create({"FirstName": "In", "LastName": "Salesforce"})
    world.fault(world.sandbox.salesforce_url, operation="/services/data/v62.0/composite", status=503,
                error_code="SERVER_UNAVAILABLE", count=1)

    assert sync(person) == 1
    failed = last_run(person, "contacts")
    assert failed.state == "failed" or failed.record_errors.exists()

    assert sync(person) == 0
    assert sync(person) == 0
    rows = sf_rows(person, "SELECT FirstName, LastName FROM Contact")
    names = sorted(f"{r['FirstName']} {r['LastName']}" for r in rows)
    assert names == ["In Salesforce", *[f"Out{n} Look" for n in range(5)]]
    assert sorted(c.given_name for c in folder_of(person).all()) == ["In", *[f"Out{n}" for n in range(5)]]


def _salesforce_event(person, subject: str) -> dict:
    start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    return person.salesforce.Event.create({"Subject": subject, "StartDateTime": start.isoformat(),
                                           "EndDateTime": (start + timedelta(hours=1)).isoformat()})


def _outlook_event(person, subject: str):
    item = CalendarItem(account=person.mailbox, folder=person.mailbox.calendar, subject=subject, start=at(30),
                        end=at(31))
    item.save()
    return item


SALESFORCE_SOURCE = {
    "events": (_salesforce_event, lambda p: p.mailbox.calendar, "Event"),
    "tasks": (lambda p, subject: p.salesforce.Task.create({"Subject": subject, "Status": "Not Started"}),
              lambda p: p.mailbox.tasks, "Task"),
}


@pytest.mark.parametrize("object_type", ["events", "tasks"])
def test_salesforce_to_outlook_for_events_and_tasks(world, object_type):
    person = world.person()
    world.configure(person, **{object_type: {"direction": "salesforce_to_outlook",
                                             "conflict_behavior": "salesforce_wins"}})
    make, folder_of_object, sobject = SALESFORCE_SOURCE[object_type]
    record = make(person, "From Salesforce")
    assert sync(person) == 0
    (item,) = folder_of_object(person).all()
    assert item.subject == "From Salesforce"

    item.subject = "Edited in Outlook"  # never sent to Salesforce
    item.save()
    assert sync(person) == 0
    assert getattr(person.salesforce, sobject).get(record["id"])["Subject"] == "From Salesforce"

    getattr(person.salesforce, sobject).delete(record["id"])  # deletions follow Salesforce
    assert sync(person) == 0
    assert folder_of_object(person).all().count() == 0


def test_events_both_ways_with_outlook_winning(world):
    person = world.person()
    world.configure(person, events={"direction": "both", "conflict_behavior": "outlook_wins"})
    from_salesforce = _salesforce_event(person, "Planned in Salesforce")
    _outlook_event(person, "Planned in Outlook")
    assert sync(person) == 0
    assert sorted(i.subject for i in person.mailbox.calendar.all()) == ["Planned in Outlook", "Planned in Salesforce"]
    assert sorted(r["Subject"] for r in sf_rows(person, "SELECT Subject FROM Event")) == [
        "Planned in Outlook", "Planned in Salesforce"]

    # Changed on both sides: Outlook wins.
    (item,) = person.mailbox.calendar.filter(subject="Planned in Salesforce")
    item.location = "Outlook room"
    item.save()
    person.salesforce.Event.update(from_salesforce["id"], {"Location": "Salesforce room"})
    assert sync(person) == 0
    assert person.salesforce.Event.get(from_salesforce["id"])["Location"] == "Outlook room"
    assert person.mailbox.calendar.get(id=item.id).location == "Outlook room"


def test_tasks_outlook_to_salesforce(world):
    person = world.person()
    world.configure(person, tasks={"direction": "outlook_to_salesforce", "conflict_behavior": "outlook_wins"})
    Task(folder=person.mailbox.tasks, subject="From Outlook").save()
    assert sync(person) == 0
    (row,) = sf_rows(person, "SELECT Id, Subject FROM Task")
    assert row["Subject"] == "From Outlook"
    person.salesforce.Task.update(row["Id"], {"Subject": "Edited in Salesforce"})  # never sent to Outlook
    (item,) = person.mailbox.tasks.all()
    assert sync(person) == 0
    assert person.mailbox.tasks.get(id=item.id).subject == "From Outlook"
    item.delete()  # task deletions always follow the source
    assert sync(person) == 0
    assert sf_rows(person, "SELECT Id FROM Task") == []


def test_events_are_related_to_the_contact_or_the_one_lead_among_their_attendees(world):
    from exchangelib import Attendee, Mailbox

    person = world.person()
    world.configure(person, events={"direction": "outlook_to_salesforce", "conflict_behavior": "outlook_wins",
                                    "auto_relate": True})
    ada = person.salesforce.Contact.create({"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com"})
    lead = person.salesforce.Lead.create({"LastName": "Babbage", "Company": "Engines Ltd",
                                          "Email": "charles@example.com"})

    def meeting(subject: str, *addresses: str) -> None:
        CalendarItem(account=person.mailbox, folder=person.mailbox.calendar, subject=subject, start=at(26),
                     end=at(27), required_attendees=[Attendee(mailbox=Mailbox(email_address=a),
                                                              response_type="Unknown") for a in addresses]).save()

    meeting("With a contact", "stranger@example.com", "ADA@example.com")
    meeting("With a lead", "charles@example.com")
    meeting("With nobody known", "stranger@example.com")
    assert sync(person) == 0
    who = {r["Subject"]: r["WhoId"] for r in sf_rows(person, "SELECT Subject, WhoId FROM Event")}
    assert who == {"With a contact": ada["id"], "With a lead": lead["id"], "With nobody known": None}
    assert last_run(person, "events").counts["related"] == 2

    assert sync(person) == 0  # relating bumped the events' versions: recognised, nothing written back
    counts = last_run(person, "events").counts
    assert counts["salesforce"] == {} and counts["outlook"] == {}

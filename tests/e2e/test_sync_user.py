"""Whole syncs of one user through `sync_user`, against the sandbox, checked on both ends with the real clients.

Each test traces to DESIGN.md §5: directions, conflicts, deletions, private events, first-sync matching, reset,
and faults in the middle of a sync. Every scenario runs twice: with the mailbox on the EWS emulator (on-premises
Exchange) and on the Graph emulator (Exchange Online); `person.outlook` reaches it through that protocol's own
client (tests/e2e/outlook.py).
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from sync.models import RecordLink, SyncRun

pytestmark = pytest.mark.e2e


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


def at(hours: int) -> datetime:
    return (timezone.now() + timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def only(rows: list[dict]) -> dict:
    (row,) = rows
    return row


def test_contacts_both_ways_with_conflicts_and_deletions(either_world):
    world = either_world
    person = world.person()
    outlook = person.outlook
    world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    ada = person.salesforce.Contact.create({"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com"})

    assert sync(person) == 0
    run = last_run(person, "contacts")
    assert run.salesforce_api_allocation and 0 < run.salesforce_api_used <= run.salesforce_api_allocation
    item = only(outlook.contacts())
    assert (item["given_name"], item["surname"], item["email"]) == ("Ada", "Lovelace", "ada@example.com")

    outlook.create_contact("Grace", "Hopper", "grace@example.com")
    assert sync(person) == 0
    assert sorted(r["LastName"] for r in sf_rows(person, "SELECT LastName FROM Contact")) == ["Hopper", "Lovelace"]

    # Changed on both sides: Salesforce wins, and its version is written to Outlook.
    person.salesforce.Contact.update(ada["id"], {"Title": "Countess"})
    outlook.update_contact(item["id"], job_title="Analyst")
    assert sync(person) == 0
    assert {c["id"]: c for c in outlook.contacts()}[item["id"]]["job_title"] == "Countess"
    assert person.salesforce.Contact.get(ada["id"])["Title"] == "Countess"

    # Nothing changed: nothing written.
    assert sync(person) == 0
    counts = last_run(person, "contacts").counts
    assert counts["salesforce"] == {} and counts["outlook"] == {}

    # Deleted in Outlook: deleted in Salesforce (deletions propagate by default).
    outlook.delete_contact(item["id"])
    assert sync(person) == 0
    assert [r["LastName"] for r in sf_rows(person, "SELECT LastName FROM Contact")] == ["Hopper"]


def test_salesforce_to_outlook_overwrites_outlook_and_never_writes_salesforce(either_world):
    world = either_world
    person = world.person()
    outlook = person.outlook
    world.configure(person, contacts={"direction": "salesforce_to_outlook", "conflict_behavior": "salesforce_wins"})
    alan = person.salesforce.Contact.create({"FirstName": "Alan", "LastName": "Turing", "Title": "Mathematician"})
    assert sync(person) == 0
    item = only(outlook.contacts())

    outlook.update_contact(item["id"], job_title="Codebreaker")  # an Outlook edit never reaches Salesforce...
    outlook.create_contact("Only", "InOutlook")
    assert sync(person) == 0
    assert person.salesforce.Contact.get(alan["id"])["Title"] == "Mathematician"
    assert [r["LastName"] for r in sf_rows(person, "SELECT LastName FROM Contact")] == ["Turing"]

    person.salesforce.Contact.update(alan["id"], {"Department": "Hut 8"})  # ...and is overwritten by the next SF change
    assert sync(person) == 0
    item = {c["id"]: c for c in outlook.contacts()}[item["id"]]
    assert (item["job_title"], item["department"]) == ("Mathematician", "Hut 8")

    person.salesforce.Contact.delete(alan["id"])  # a Salesforce deletion removes the Outlook copy
    assert sync(person) == 0
    assert sorted(c["surname"] for c in outlook.contacts()) == ["InOutlook"]


def test_events_outlook_to_salesforce_private_events_stay_out(either_world):
    world = either_world
    person = world.person()
    outlook = person.outlook
    world.configure(person, events={"direction": "outlook_to_salesforce", "conflict_behavior": "outlook_wins",
                                    "propagate_deletions": True})
    meeting = outlook.create_event("Quarterly review", at(24), at(25), location="Room 4")
    outlook.create_event("Doctor", at(48), at(49), private=True)

    assert sync(person) == 0
    (event,) = sf_rows(person, "SELECT Id, Subject, Location, StartDateTime, EndDateTime FROM Event")
    assert (event["Subject"], event["Location"]) == ("Quarterly review", "Room 4")
    assert datetime.fromisoformat(event["StartDateTime"].replace("+0000", "+00:00")) == at(24)

    person.salesforce.Event.update(event["Id"], {"Subject": "Renamed in Salesforce"})  # never sent to Outlook
    assert sync(person) == 0
    assert {e["id"]: e for e in outlook.events()}[meeting]["subject"] == "Quarterly review"

    outlook.delete_event(meeting)
    assert sync(person) == 0
    assert sf_rows(person, "SELECT Id FROM Event") == []


def test_tasks_both_ways(either_world):
    world = either_world
    person = world.person()
    outlook = person.outlook
    world.configure(person, tasks={"direction": "both", "conflict_behavior": "outlook_wins"})
    due = (timezone.now() + timedelta(days=3)).date()
    task = person.salesforce.Task.create({"Subject": "Send proposal", "ActivityDate": due.isoformat(),
                                          "Status": "Not Started", "Priority": "High"})
    assert sync(person) == 0
    item = only(outlook.tasks())
    assert (item["subject"], item["importance"]) == ("Send proposal", "high")

    outlook.update_task(item["id"], completed=True)
    assert sync(person) == 0
    assert person.salesforce.Task.get(task["id"])["Status"] == "Completed"

    outlook.create_task("Call back Ada")
    assert sync(person) == 0
    assert sorted(r["Subject"] for r in sf_rows(person, "SELECT Subject FROM Task")) == [
        "Call back Ada", "Send proposal"]


def test_first_sync_matches_instead_of_duplicating_and_reset_relinks(either_world):
    world = either_world
    person = world.person()
    outlook = person.outlook
    world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    for n in range(3):
        person.salesforce.Contact.create({"FirstName": f"P{n}", "LastName": "Same", "Email": f"p{n}@example.com"})
    for n in range(3):
        outlook.create_contact(f"P{n}", "Same", f"P{n}@Example.com")

    assert sync(person) == 0
    assert len(outlook.contacts()) == 3
    assert len(sf_rows(person, "SELECT Id FROM Contact")) == 3
    assert RecordLink.objects.filter(user=person.sync_user, state="linked").count() == 3

    assert sync(person, "--reset") == 0
    run = last_run(person, "contacts")
    assert run.full and run.trigger == "reset"
    assert "create" not in run.counts["salesforce"] and "create" not in run.counts["outlook"]
    assert len(outlook.contacts()) == 3 and len(sf_rows(person, "SELECT Id FROM Contact")) == 3


def test_a_failing_salesforce_mid_sync_loses_nothing_and_duplicates_nothing(either_world):
    world = either_world
    person = world.person()
    world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    for n in range(5):
        person.outlook.create_contact(f"Out{n}", "Look")
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
    assert sorted(c["given_name"] for c in person.outlook.contacts()) == ["In", *[f"Out{n}" for n in range(5)]]


def _salesforce_event(person, subject: str) -> dict:
    start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    return person.salesforce.Event.create({"Subject": subject, "StartDateTime": start.isoformat(),
                                           "EndDateTime": (start + timedelta(hours=1)).isoformat()})


SALESFORCE_SOURCE = {
    "events": (_salesforce_event, "Event"),
    "tasks": (lambda p, subject: p.salesforce.Task.create({"Subject": subject, "Status": "Not Started"}), "Task"),
}


@pytest.mark.parametrize("object_type", ["events", "tasks"])
def test_salesforce_to_outlook_for_events_and_tasks(either_world, object_type):
    world = either_world
    person = world.person()
    outlook = person.outlook
    world.configure(person, **{object_type: {"direction": "salesforce_to_outlook",
                                             "conflict_behavior": "salesforce_wins"}})
    make, sobject = SALESFORCE_SOURCE[object_type]
    listing = outlook.events if object_type == "events" else outlook.tasks
    record = make(person, "From Salesforce")
    assert sync(person) == 0
    item = only(listing())
    assert item["subject"] == "From Salesforce"

    # Never sent to Salesforce:
    if object_type == "events":
        outlook.update_event(item["id"], subject="Edited in Outlook")
    else:
        outlook.update_task(item["id"], subject="Edited in Outlook")
    assert sync(person) == 0
    assert getattr(person.salesforce, sobject).get(record["id"])["Subject"] == "From Salesforce"

    getattr(person.salesforce, sobject).delete(record["id"])  # deletions follow Salesforce
    assert sync(person) == 0
    assert listing() == []


def test_events_both_ways_with_outlook_winning(either_world):
    world = either_world
    person = world.person()
    outlook = person.outlook
    world.configure(person, events={"direction": "both", "conflict_behavior": "outlook_wins"})
    from_salesforce = _salesforce_event(person, "Planned in Salesforce")
    outlook.create_event("Planned in Outlook", at(30), at(31))
    assert sync(person) == 0
    assert sorted(e["subject"] for e in outlook.events()) == ["Planned in Outlook", "Planned in Salesforce"]
    assert sorted(r["Subject"] for r in sf_rows(person, "SELECT Subject FROM Event")) == [
        "Planned in Outlook", "Planned in Salesforce"]

    # Changed on both sides: Outlook wins.
    item = next(e for e in outlook.events() if e["subject"] == "Planned in Salesforce")
    outlook.update_event(item["id"], location="Outlook room")
    person.salesforce.Event.update(from_salesforce["id"], {"Location": "Salesforce room"})
    assert sync(person) == 0
    assert person.salesforce.Event.get(from_salesforce["id"])["Location"] == "Outlook room"
    assert {e["id"]: e for e in outlook.events()}[item["id"]]["location"] == "Outlook room"


def test_tasks_outlook_to_salesforce(either_world):
    world = either_world
    person = world.person()
    outlook = person.outlook
    world.configure(person, tasks={"direction": "outlook_to_salesforce", "conflict_behavior": "outlook_wins"})
    outlook.create_task("From Outlook")
    assert sync(person) == 0
    (row,) = sf_rows(person, "SELECT Id, Subject FROM Task")
    assert row["Subject"] == "From Outlook"
    person.salesforce.Task.update(row["Id"], {"Subject": "Edited in Salesforce"})  # never sent to Outlook
    item = only(outlook.tasks())
    assert sync(person) == 0
    assert only(outlook.tasks())["subject"] == "From Outlook"
    outlook.delete_task(item["id"])  # task deletions always follow the source
    assert sync(person) == 0
    assert sf_rows(person, "SELECT Id FROM Task") == []


def test_events_are_related_to_the_contact_or_the_one_lead_among_their_attendees(either_world):
    world = either_world
    person = world.person()
    world.configure(person, events={"direction": "outlook_to_salesforce", "conflict_behavior": "outlook_wins",
                                    "auto_relate": True})
    ada = person.salesforce.Contact.create({"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com"})
    lead = person.salesforce.Lead.create({"LastName": "Babbage", "Company": "Engines Ltd",
                                          "Email": "charles@example.com"})

    def meeting(subject: str, *addresses: str) -> None:
        person.outlook.create_event(subject, at(26), at(27), attendees=addresses)

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

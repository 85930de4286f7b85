"""Recurring series end to end through `sync_user`, every scenario with mailboxes on EWS and again on Graph: a series
both ends can hold as one is synced as one series, others as their occurrences inside the window; changes of shape
and the upgrade from occurrence links converge without duplicates or loss. Checked on both ends with the real
clients (tests/e2e/outlook.py)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from exchangelib.recurrence import DailyPattern, WeeklyPattern

from sync import options as options_module
from sync.models import RecordLink
from tests.e2e.test_sync_user import last_run, sf_rows, sync

pytestmark = pytest.mark.e2e

BOTH = {"direction": "both", "conflict_behavior": "salesforce_wins", "propagate_deletions": False}


@pytest.fixture
def world(either_world):
    """Each scenario once with mailboxes on EWS and once on Graph."""
    return either_world


def monday_at(hour: int, weeks: int = 1) -> datetime:
    """A Monday `weeks` weeks from now at `hour`:00 UTC (well inside the events window of 30 days back, 90 ahead)."""
    today = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return today + timedelta(days=(7 - today.weekday()) % 7 + 7 * weeks)


def events(person, extra: str = "") -> list[dict]:
    return sf_rows(person, "SELECT Id, Subject, IsRecurrence, RecurrenceActivityId, RecurrenceType, "  # noqa: S608
                           f"RecurrenceDayOfWeekMask, RecurrenceEndDateOnly, StartDateTime FROM Event {extra}")


def series_rows(person) -> list[dict]:
    return [row for row in events(person) if row["IsRecurrence"]]


def singles(person) -> list[dict]:
    return [row for row in events(person) if not row["IsRecurrence"] and not row["RecurrenceActivityId"]]


def calendar_items(person) -> list[dict]:
    """Series masters and single events in Outlook: id, subject, kind (series or single)."""
    return person.outlook.calendar_items()


def entry_between(person, subject: str, start: datetime, end: datetime) -> dict:
    return next(e for e in person.outlook.calendar_entries(start, end) if e["subject"] == subject)


def nothing_written(person) -> bool:
    counts = last_run(person, "events").counts
    return counts["salesforce"] == {} and counts["outlook"] == {}


def test_an_outlook_series_becomes_one_salesforce_recurring_event(world):
    person = world.person()
    world.configure(person, events=BOTH)
    start = monday_at(9)
    master = person.outlook.create_series("Standup", start, start + timedelta(minutes=15),
                                          WeeklyPattern(interval=1, weekdays=[1, 3]), count=10, tz="Europe/Paris")

    assert sync(person) == 0
    (series,) = series_rows(person)
    assert (series["Subject"], series["RecurrenceType"], series["RecurrenceDayOfWeekMask"]) == \
        ("Standup", "RecursWeekly", 2 + 8)
    # Salesforce generated the ten occurrences itself; nothing else was created on either side
    assert len(events(person, f"WHERE RecurrenceActivityId = '{series['Id']}' AND IsRecurrence = false")) == 10
    assert singles(person) == []
    assert [(i["id"], i["kind"]) for i in calendar_items(person)] == [(master, "series")]
    assert RecordLink.objects.filter(user=person.sync_user, object="events").count() == 1

    assert sync(person) == 0 and nothing_written(person)

    # renamed in Outlook: the Salesforce series follows, still one series
    person.outlook.update_event(master, subject="Daily standup")
    assert sync(person) == 0
    assert [row["Subject"] for row in series_rows(person)] == ["Daily standup"] and singles(person) == []


def test_a_salesforce_series_becomes_one_outlook_series(world):
    person = world.person()
    world.configure(person, events=BOTH)
    start = monday_at(14)
    created = person.salesforce.Event.create({
        "Subject": "Pipeline review", "StartDateTime": start.isoformat(), "DurationInMinutes": 60,
        "IsRecurrence": True, "RecurrenceType": "RecursWeekly", "RecurrenceInterval": 2,
        "RecurrenceDayOfWeekMask": 2, "RecurrenceStartDateTime": start.isoformat(),
        "RecurrenceEndDateOnly": (start + timedelta(weeks=8)).date().isoformat(), "RecurrenceTimeZoneSidKey": "GMT"})

    assert sync(person) == 0
    (item,) = calendar_items(person)
    assert (item["subject"], item["kind"]) == ("Pipeline review", "series")
    assert person.outlook.series_interval(item["id"]) == 2
    shown = person.outlook.calendar_entries(start - timedelta(days=1), start + timedelta(weeks=9))
    assert [e["start"].astimezone(UTC) for e in shown] == [start + timedelta(weeks=2 * n) for n in range(5)]
    assert [row["Id"] for row in series_rows(person)] == [created["id"]]
    assert sync(person) == 0 and nothing_written(person)

    # deleted in Salesforce: the Outlook series goes (a Salesforce deletion is sent: propagate is per setting)
    person.salesforce.Event.delete(created["id"])
    world.configure(person, events={**BOTH, "propagate_deletions": True})
    assert sync(person) == 0
    assert calendar_items(person) == []


def test_a_series_salesforce_cannot_hold_syncs_as_its_occurrences(world):
    person = world.person()
    world.configure(person, events=BOTH)
    start = monday_at(7, weeks=0)
    endless = person.outlook.create_series("Gym", start, start + timedelta(hours=1), DailyPattern(interval=7))

    assert sync(person) == 0
    assert series_rows(person) == []
    rows = singles(person)
    shown = [e for e in person.outlook.calendar_entries(start - timedelta(days=31), start + timedelta(days=91))
             if e["subject"] == "Gym"]
    # every occurrence inside the window (up to 90 days ahead) is one Salesforce event, none twice
    assert len(rows) == len(shown) >= 12 and {r["Subject"] for r in rows} == {"Gym"}
    assert len({r["StartDateTime"] for r in rows}) == len(rows)
    assert [i["id"] for i in calendar_items(person)] == [endless]
    assert sync(person) == 0 and nothing_written(person)


def test_an_exception_added_in_outlook_converges_to_occurrences_and_back(world):
    person = world.person()
    world.configure(person, events=BOTH)
    start = monday_at(10)
    master = person.outlook.create_series("Planning", start, start + timedelta(hours=1),
                                          WeeklyPattern(interval=1, weekdays=[1]), count=6)
    assert sync(person) == 0
    assert [row["Subject"] for row in series_rows(person)] == ["Planning"] and singles(person) == []

    # one occurrence moved in Outlook: Salesforce cannot hold that as a series any more
    second = entry_between(person, "Planning", start + timedelta(days=6), start + timedelta(days=8))
    person.outlook.move_occurrence(second["id"], timedelta(hours=3))
    assert sync(person) == 0
    assert series_rows(person) == []  # the Salesforce series was replaced (although deletions do not propagate)
    starts = sorted(datetime.fromisoformat(r["StartDateTime"].replace("+0000", "+00:00")) for r in singles(person))
    expected = [start + timedelta(weeks=n) for n in range(6)]
    expected[1] += timedelta(hours=3)
    assert starts == expected
    assert len(events(person)) == 6  # no occurrence of the old Salesforce series is left behind
    run = last_run(person, "events")
    assert run.counts["salesforce"] == {"delete": 1, "create": 6}
    assert sync(person) == 0 and nothing_written(person)

    # the pattern edited in Outlook (which drops the exception): one series again, the six singles replaced
    person.outlook.end_series_after(master, 4)
    assert sync(person) == 0
    assert len(series_rows(person)) == 1
    assert singles(person) == [] and len(events(person)) == 1 + 4
    assert [(i["id"], i["kind"]) for i in calendar_items(person)] == [(master, "series")]
    assert sync(person) == 0 and nothing_written(person)


def test_an_occurrence_cancelled_in_outlook_converges_to_occurrences(world):
    """On Graph as Exchange Online does it: calendarView delta says nothing of the cancellation."""
    person = world.person()
    world.configure(person, events=BOTH)
    if person.outlook.protocol == "graph":
        person.outlook.hide_cancellations_from_delta()
    start = monday_at(11)
    person.outlook.create_series("Review", start, start + timedelta(hours=1), WeeklyPattern(interval=1, weekdays=[1]),
                                 count=5)
    assert sync(person) == 0
    assert [row["Subject"] for row in series_rows(person)] == ["Review"] and singles(person) == []

    third = entry_between(person, "Review", start + timedelta(days=13), start + timedelta(days=15))
    person.outlook.delete_event(third["id"])
    assert sync(person) == 0
    assert series_rows(person) == []  # the Salesforce series was replaced by the four occurrences left
    starts = sorted(datetime.fromisoformat(r["StartDateTime"].replace("+0000", "+00:00")) for r in singles(person))
    assert starts == [start + timedelta(weeks=n) for n in (0, 1, 3, 4)]
    assert len(events(person)) == 4
    assert sync(person) == 0 and nothing_written(person)


def test_attendee_responses_to_a_series_never_start_an_update_loop(graph_world):
    """On Graph, a response changes the organizer's series (and every occurrence's version), nothing synced."""
    person = graph_world.person()
    graph_world.configure(person, events=BOTH)
    start = monday_at(15)
    master = person.outlook.create_series("Customer call", start, start + timedelta(minutes=30),
                                          WeeklyPattern(interval=1, weekdays=[1]), count=4,
                                          attendees=("buyer@example.com", "cfo@example.com"))
    assert sync(person) == 0
    assert [row["Subject"] for row in series_rows(person)] == ["Customer call"]
    person.outlook.attendee_responds(master, "buyer@example.com", "accepted")
    assert sync(person) == 0 and nothing_written(person)
    person.outlook.attendee_responds(master, "cfo@example.com", "declined")
    assert sync(person) == 0 and nothing_written(person)
    assert sync(person) == 0 and nothing_written(person)
    assert [row["Subject"] for row in series_rows(person)] == ["Customer call"]


def test_upgrade_from_occurrence_links_converges_without_duplicates(world, monkeypatch):
    person = world.person()
    world.configure(person, events=BOTH)
    start = monday_at(8)
    # (a) an Outlook series, (b) a Salesforce series, (c) the same series made by the user on both sides
    outlook_only = person.outlook.create_series("Outlook weekly", start, start + timedelta(minutes=30),
                                                WeeklyPattern(interval=1, weekdays=[1]), count=5)
    sf_start = start + timedelta(days=1, hours=2)
    salesforce_only = person.salesforce.Event.create({
        "Subject": "Salesforce weekly", "StartDateTime": sf_start.isoformat(), "DurationInMinutes": 45,
        "IsRecurrence": True, "RecurrenceType": "RecursWeekly", "RecurrenceInterval": 1,
        "RecurrenceDayOfWeekMask": 4, "RecurrenceStartDateTime": sf_start.isoformat(),
        "RecurrenceEndDateOnly": (sf_start + timedelta(weeks=3)).date().isoformat(),
        "RecurrenceTimeZoneSidKey": "GMT"})["id"]
    both_start = start + timedelta(days=2, hours=4)
    shared_outlook = person.outlook.create_series("Shared daily", both_start, both_start + timedelta(hours=1),
                                                  DailyPattern(interval=1),
                                                  until=(both_start + timedelta(days=4)).date())
    shared_salesforce = person.salesforce.Event.create({
        "Subject": "Shared daily", "StartDateTime": both_start.isoformat(), "DurationInMinutes": 60,
        "IsRecurrence": True, "RecurrenceType": "RecursDaily", "RecurrenceInterval": 1,
        "RecurrenceStartDateTime": both_start.isoformat(),
        "RecurrenceEndDateOnly": (both_start + timedelta(days=4)).date().isoformat(),
        "RecurrenceTimeZoneSidKey": "GMT"})["id"]

    # Synced the way it was before series were synced as series: occurrences only.
    old = options_module.object_options
    monkeypatch.setattr(options_module, "object_options",
                        lambda *args, **kwargs: replace(old(*args, **kwargs), series_as_series=False))
    assert sync(person) == 0
    assert len(singles(person)) == 5 and len(series_rows(person)) == 2
    old_links = RecordLink.objects.filter(user=person.sync_user, object="events").count()
    assert old_links == 5 + 4 + 5  # occurrence pairs: 5 copied to Salesforce, 4 to Outlook, 5 matched
    assert len(calendar_items(person)) == 2 + 4  # two series and the four copies of the Salesforce occurrences
    user_made = {outlook_only, shared_outlook, salesforce_only, shared_salesforce}

    monkeypatch.undo()
    assert sync(person) == 0  # a full read: the scope fingerprint changed
    assert last_run(person, "events").full
    # Salesforce: the two series the user made plus one for the Outlook series; no single copies left
    series = {row["Subject"]: row["Id"] for row in series_rows(person)}
    assert sorted(series) == ["Outlook weekly", "Salesforce weekly", "Shared daily"]
    assert series["Salesforce weekly"] == salesforce_only and series["Shared daily"] == shared_salesforce
    assert singles(person) == []
    # Outlook: the two series the user made plus one for the Salesforce series; the occurrence copies gone
    items = calendar_items(person)
    assert sorted((i["subject"], i["kind"]) for i in items) == [
        ("Outlook weekly", "series"), ("Salesforce weekly", "series"), ("Shared daily", "series")]
    assert {outlook_only, shared_outlook} <= {i["id"] for i in items}
    assert {salesforce_only, shared_salesforce} <= {row["Id"] for row in series_rows(person)}
    assert len(user_made) == 4
    links = RecordLink.objects.filter(user=person.sync_user, object="events")
    assert links.count() == 3
    counts = last_run(person, "events").counts
    # the shared series were matched (subject, first start, pattern): neither copied nor deleted
    assert counts["salesforce"].get("create") == 1 and counts["outlook"].get("create") == 1
    assert sync(person) == 0 and nothing_written(person)

    # Later an occurrence of the upgraded Outlook series is moved: its occurrences (which still carry the stamps of
    # the copies the upgrade replaced) become Salesforce events again; none is lost, none is deleted in Outlook.
    third = entry_between(person, "Outlook weekly", start + timedelta(days=13), start + timedelta(days=15))
    person.outlook.move_occurrence(third["id"], timedelta(hours=1))
    world.configure(person, events={**BOTH, "propagate_deletions": True})
    assert sync(person) == 0
    shown = [e for e in person.outlook.calendar_entries(start - timedelta(days=1), start + timedelta(weeks=6))
             if e["subject"] == "Outlook weekly"]
    assert len(shown) == 5
    assert sorted(r["StartDateTime"][:16] for r in singles(person)) == sorted(
        e["start"].strftime("%Y-%m-%dT%H:%M") for e in shown)
    assert "Outlook weekly" not in {row["Subject"] for row in series_rows(person)}
    assert sync(person) == 0 and nothing_written(person)


def test_a_salesforce_occurrence_edited_alone_is_never_lost(world):
    """Outlook cannot take one occurrence's own edit into a series it was written as: the series then syncs as its
    occurrences, the edited one included."""
    person = world.person()
    world.configure(person, events=BOTH)
    start = monday_at(16)
    created = person.salesforce.Event.create({
        "Subject": "Forecast", "StartDateTime": start.isoformat(), "DurationInMinutes": 30,
        "IsRecurrence": True, "RecurrenceType": "RecursDaily", "RecurrenceInterval": 1,
        "RecurrenceStartDateTime": start.isoformat(),
        "RecurrenceEndDateOnly": (start + timedelta(days=3)).date().isoformat(), "RecurrenceTimeZoneSidKey": "GMT"})
    assert sync(person) == 0
    assert [i["kind"] for i in calendar_items(person)] == ["series"]

    children = events(person, f"WHERE RecurrenceActivityId = '{created['id']}' AND IsRecurrence = false "
                              "ORDER BY StartDateTime")
    person.salesforce.Event.update(children[1]["Id"], {"Subject": "Forecast (with finance)"})
    assert sync(person) == 0
    items = calendar_items(person)
    assert sorted(i["subject"] for i in items) == ["Forecast", "Forecast", "Forecast", "Forecast (with finance)"]
    assert {i["kind"] for i in items} == {"single"}
    assert [row["Id"] for row in series_rows(person)] == [created["id"]]  # Salesforce keeps its series
    assert RecordLink.objects.filter(user=person.sync_user, object="events").count() == 4
    assert sync(person) == 0 and nothing_written(person)

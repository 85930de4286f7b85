"""Issue 17, item 1 follow-up, end to end on both Exchange protocols: an all-day event written by the sync lies from
midnight to midnight in its owner's time zone (Salesforce's User.TimeZoneSidKey), as Outlook on the owner's desk
makes one, not in UTC (which Outlook in Paris shows from 01:00 to 01:00). Exchange keeps an all-day event midnight
to midnight in the item's own zone (learn.microsoft.com, "Create all-day events by using EWS in Exchange")."""

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from exchangelib import IMPERSONATION, Account, CalendarItem, EWSDateTime, EWSTimeZone
from exchangelib.items import SEND_TO_NONE

from tests.e2e.conftest import Person
from tests.e2e.outlook import EwsOutlook, GraphOutlook
from tests.e2e.test_emufields_all_day import ZONES, configure, next_clock_change, quiet
from tests.e2e.test_sync_user import last_run, only, sync
from users.models import SyncUser
from users.operations import import_users
from users.services import add_sync_user, set_exchange_route

pytestmark = pytest.mark.e2e


def person_in(world, zone: str) -> Person:
    """A sandbox user whose Salesforce time zone is `zone`, added as the import would add them."""
    name = f"u{uuid.uuid4().hex[:8]}"
    email = f"{name}@sandbox.test"
    created = world.sandbox.hub.create_user(username=email, email=email, first_name="Pat", last_name=name,
                                            profile="Standard User", time_zone=zone)
    salesforce = world._salesforce(email)
    row = salesforce.User.get(created["salesforce_id"])
    assert row["TimeZoneSidKey"] == zone
    sync_user = add_sync_user({"salesforce_id": created["salesforce_id"], "username": email, "email": email,
                               "name": f"Pat {name}", "profile": "Standard User", "time_zone": row["TimeZoneSidKey"]})
    mailbox = Account(primary_smtp_address=email, config=world.ews_config, autodiscover=False,
                      access_type=IMPERSONATION)
    if world.protocol == "graph":
        set_exchange_route(sync_user, "graph")
        sync_user.refresh_from_db()
        outlook = GraphOutlook(world.sandbox.graph_url, world.graph_app, email, str(world.sandbox.ca_path))
    else:
        outlook = EwsOutlook(mailbox)
    return Person(sync_user, email, salesforce, mailbox, outlook)


def midnight(day: date, zone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone))


def stored(world, person, subject: str) -> tuple[str, datetime | str, datetime | str]:
    """(the start zone, the start, the end) of the one event with this subject, as the mailbox holds them.

    EWS: the instants themselves (IsAllDayEvent left out of the read, so exchangelib does not turn them into dates).
    Graph: originalStartTimeZone and the wall-clock start and end (all-day midnights are floating there)."""
    if world.protocol == "ews":
        item = only([i for i in person.mailbox.calendar.all().only(
            "subject", "start", "end", "_start_timezone", "_end_timezone") if i.subject == subject])
        assert item._end_timezone.key == item._start_timezone.key
        return item._start_timezone.key, item.start, item.end
    (event,) = [e for e in person.outlook._all("calendar/events") if e["subject"] == subject]
    assert event["isAllDay"] is True
    return event["originalStartTimeZone"], event["start"]["dateTime"][:19], event["end"]["dateTime"][:19]


@pytest.mark.parametrize("zone", ["Europe/Paris", "Pacific/Auckland"])
def test_all_day_events_from_salesforce_lie_midnight_to_midnight_in_the_owners_zone(either_world, zone):
    person = person_in(either_world, zone)
    assert person.sync_user.time_zone == zone
    configure(person)
    day = next_clock_change(zone)  # over the night the clocks change, too

    person.salesforce.Event.create({"Subject": "Holiday", "IsAllDayEvent": True, "ActivityDate": str(day),
                                    "DurationInMinutes": 2880})
    assert sync(person) == 0, last_run(person, "events").error_message
    if either_world.protocol == "ews":
        assert stored(either_world, person, "Holiday") == (
            zone, midnight(day, zone), midnight(day + timedelta(days=2), zone))
    else:
        tz, start, end = stored(either_world, person, "Holiday")
        assert tz in (zone, ZONES.get(zone))
        assert (start, end) == (f"{day}T00:00:00", f"{day + timedelta(days=2)}T00:00:00")
    quiet(person)

    # Changed in Salesforce: still the owner's midnights, and the same days.
    row = only(person.salesforce.query_all("SELECT Id FROM Event WHERE Subject = 'Holiday'")["records"])
    person.salesforce.Event.update(row["Id"], {"Subject": "Holiday (booked)", "DurationInMinutes": 1440})
    assert sync(person) == 0, last_run(person, "events").error_message
    if either_world.protocol == "ews":
        assert stored(either_world, person, "Holiday (booked)") == (
            zone, midnight(day, zone), midnight(day + timedelta(days=1), zone))
    else:
        tz, start, end = stored(either_world, person, "Holiday (booked)")
        assert (start, end) == (f"{day}T00:00:00", f"{day + timedelta(days=1)}T00:00:00")
    quiet(person)


def test_an_update_keeps_an_all_day_events_own_zone(either_world):
    """Made in Outlook on a trip to Tokyo by a Paris user: changed from Salesforce, it stays on Tokyo's midnights."""
    world = either_world
    person = person_in(world, "Europe/Paris")
    configure(person)
    first = date.today() + timedelta(days=10)
    if world.protocol == "ews":
        tokyo = EWSTimeZone("Asia/Tokyo")
        account = Account(primary_smtp_address=person.username, config=world.ews_config, autodiscover=False,
                          access_type=IMPERSONATION, default_timezone=tokyo)
        CalendarItem(folder=account.calendar, subject="Tokyo fair", is_all_day=True,
                     start=EWSDateTime(first.year, first.month, first.day, tzinfo=tokyo),
                     end=EWSDateTime(first.year, first.month, first.day, tzinfo=tokyo) + timedelta(days=1),
                     ).save(send_meeting_invitations=SEND_TO_NONE)
    else:
        wall = {"timeZone": "Tokyo Standard Time"}
        person.outlook._call("POST", "calendar/events", {
            "subject": "Tokyo fair", "isAllDay": True, "start": {"dateTime": f"{first}T00:00:00", **wall},
            "end": {"dateTime": f"{first + timedelta(days=1)}T00:00:00", **wall}})
    assert sync(person) == 0, last_run(person, "events").error_message
    row = only(person.salesforce.query_all(
        "SELECT Id, ActivityDate FROM Event WHERE Subject = 'Tokyo fair'")["records"])
    assert row["ActivityDate"] == str(first)
    quiet(person)

    person.salesforce.Event.update(row["Id"], {"Subject": "Tokyo fair (stand 12)"})
    assert sync(person) == 0, last_run(person, "events").error_message
    if world.protocol == "ews":
        assert stored(world, person, "Tokyo fair (stand 12)") == (
            "Asia/Tokyo", midnight(first, "Asia/Tokyo"), midnight(first + timedelta(days=1), "Asia/Tokyo"))
    else:
        assert stored(world, person, "Tokyo fair (stand 12)") == (
            "Tokyo Standard Time", f"{first}T00:00:00", f"{first + timedelta(days=1)}T00:00:00")
    quiet(person)


def test_the_user_import_takes_each_users_time_zone_from_salesforce(world):
    name = f"u{uuid.uuid4().hex[:8]}"
    world.sandbox.hub.create_user(username=f"{name}@sandbox.test", email=f"{name}@sandbox.test", first_name="Kiri",
                                  last_name=name, profile="Standard User", time_zone="Pacific/Auckland")
    import_users()
    assert SyncUser.objects.get(username=f"{name}@sandbox.test").time_zone == "Pacific/Auckland"
    assert SyncUser.objects.get(username="amelia.hart@sandbox.test").time_zone == "GMT"  # the org's default

"""Issue 17, item 1, end to end on both Exchange protocols: an all-day event keeps its days across daylight saving
changes and time zones, both ways. Exchange stores one from local midnight to local midnight in the event's zone
(EWS); Graph answers its midnights as floating dates; Salesforce keeps a first day and a length in minutes."""

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from exchangelib import IMPERSONATION, Account, CalendarItem, EWSDateTime, EWSTimeZone
from exchangelib.items import SEND_TO_NONE

from configurations.services import create_configuration
from tests.e2e.test_sync_user import last_run, only, sync
from users.services import assign_users

pytestmark = pytest.mark.e2e

ZONES = {"Europe/Paris": "Romance Standard Time", "America/New_York": "Eastern Standard Time",
         "Pacific/Auckland": "New Zealand Standard Time"}


def next_clock_change(zone: str) -> date:
    """The next day (two or more days from now) on which the zone moves its clocks: always within a year."""
    tz, day = ZoneInfo(zone), datetime.now(UTC).date() + timedelta(days=2)
    while datetime(day.year, day.month, day.day, tzinfo=tz).utcoffset() == \
            datetime(day.year, day.month, day.day, 23, tzinfo=tz).utcoffset():
        day += timedelta(days=1)
    return day


def configure(person) -> None:
    configuration = create_configuration({
        "name": f"config-{uuid.uuid4().hex[:8]}",
        "data_settings": {"events": {"direction": "both", "conflict_behavior": "salesforce_wins"}},
        "data_sets": {"events": {"days_back": 30, "days_ahead": 400}},
    })
    assign_users(configuration, [person.username])


def quiet(person) -> None:
    assert sync(person) == 0
    counts = last_run(person, "events").counts
    assert counts["salesforce"] == {} and counts["outlook"] == {}, counts


class OwnersCalendar:
    """The mailbox as its owner in `zone` sees it: all-day events made there and their days as shown there."""

    def __init__(self, world, person, zone: str):
        self.world, self.person, self.zone = world, person, zone
        if world.protocol == "ews":
            self.account = Account(primary_smtp_address=person.username, config=world.ews_config,
                                   autodiscover=False, access_type=IMPERSONATION, default_timezone=EWSTimeZone(zone))

    def create_all_day(self, subject: str, first: date, days: int) -> str:
        if self.world.protocol == "ews":
            tz = EWSTimeZone(self.zone)  # as Outlook on a desk in that zone writes it
            item = CalendarItem(folder=self.account.calendar, subject=subject, is_all_day=True,
                                start=EWSDateTime(first.year, first.month, first.day, tzinfo=tz),
                                end=EWSDateTime(first.year, first.month, first.day, tzinfo=tz) + timedelta(days=days))
            item.save(send_meeting_invitations=SEND_TO_NONE)
            return item.id
        wall = {"timeZone": ZONES[self.zone]}
        return self.person.outlook._call("POST", "calendar/events", {
            "subject": subject, "isAllDay": True, "start": {"dateTime": f"{first}T00:00:00", **wall},
            "end": {"dateTime": f"{first + timedelta(days=days)}T00:00:00", **wall}})["id"]

    def days(self, subject: str) -> tuple[bool, date, date]:
        """(all day, first day, day after the last) of the one event with this subject."""
        if self.world.protocol == "ews":
            item = only([i for i in self.account.calendar.all() if i.subject == subject])
            # The stored midnights in the item's zone: exchangelib's own all-day end takes 24 hours off in UTC, a day
            # early after the clocks go forward (IsAllDayEvent left out of this read, the instants stay as stored).
            (raw,) = self.account.fetch(ids=[item], only_fields=["start", "end", "_start_timezone", "_end_timezone"])
            return (item.is_all_day, raw.start.astimezone(raw._start_timezone).date(),
                    raw.end.astimezone(raw._end_timezone).date())
        (event,) = [e for e in self.person.outlook._all("calendar/events") if e["subject"] == subject]
        return (event["isAllDay"], date.fromisoformat(event["start"]["dateTime"][:10]),
                date.fromisoformat(event["end"]["dateTime"][:10]))


@pytest.mark.parametrize("zone", list(ZONES))
def test_all_day_events_keep_their_days_across_clock_changes_both_ways(either_world, zone):
    person = either_world.person()
    configure(person)
    owner = OwnersCalendar(either_world, person, zone)
    change = next_clock_change(zone)

    # Made in Outlook over the night the clocks change: Salesforce gets the same two days.
    owner.create_all_day("Offsite", change - timedelta(days=1), 2)
    assert sync(person) == 0, last_run(person, "events").error_message
    row = only(person.salesforce.query_all(
        "SELECT Id, IsAllDayEvent, ActivityDate, DurationInMinutes FROM Event WHERE Subject = 'Offsite'")["records"])
    assert (row["IsAllDayEvent"], row["ActivityDate"], row["DurationInMinutes"]) == (
        True, str(change - timedelta(days=1)), 2880)
    quiet(person)

    # Changed in Salesforce: Outlook keeps the event on the same days as its owner sees them.
    person.salesforce.Event.update(row["Id"], {"Subject": "Offsite (agenda sent)"})
    assert sync(person) == 0
    assert owner.days("Offsite (agenda sent)") == (True, change - timedelta(days=1), change + timedelta(days=1))
    quiet(person)

    # Made in Salesforce on the day of the change: Outlook shows that day.
    person.salesforce.Event.create({"Subject": "Holiday", "IsAllDayEvent": True, "ActivityDate": str(change),
                                    "DurationInMinutes": 1440})
    assert sync(person) == 0
    assert owner.days("Holiday") == (True, change, change + timedelta(days=1))
    quiet(person)

"""The deterministic demo seed, the same shape as the EWS emulator's (``sandbox/exchange/seed.py``): for every demo
user five personal contacts, six calendar items (two single meetings, a weekly stand-up with its third occurrence
moved and its fifth cancelled, a monthly forecast series, an all-day trade fair, a private appointment) and three
To Do tasks. Items are created through the same handlers Graph requests use."""

from datetime import date

from sandbox.demo import DEMO_USERS
from sandbox.exchange.seed import PEOPLE
from sandbox.graph import contacts, events, todo
from sandbox.graph.common import Ctx

TZ = "W. Europe Standard Time"


def _ctx(emu, mb, body=None, method="POST") -> Ctx:
    return Ctx(emu=emu, store=emu.store, mb=mb, method=method, rel_path="", args={}, headers={}, body=body,
               base="https://localhost", user_segment=mb["upn"])


def _contact(i: int, person) -> dict:
    first, last, company, title, dept, city, country = person
    email = f"{first.lower()}.{last.lower()}@{company.split()[0].lower()}.example"
    return {"givenName": first, "surname": last, "displayName": f"{first} {last}", "fileAs": f"{last}, {first}",
            "companyName": company, "jobTitle": title, "department": dept,
            "emailAddresses": [{"name": f"{first} {last}", "address": email}],
            "businessAddress": {"street": f"{10 + i} Market Street", "city": city, "countryOrRegion": country,
                                "postalCode": str(1000 + 37 * i)},
            "businessPhones": [f"+1 555 01{i:02d}"], "mobilePhone": f"+1 555 02{i:02d}",
            "birthday": f"{1970 + 3 * i}-0{1 + i % 9}-1{i % 10}T00:00:00Z",
            "categories": ["Customer" if i % 2 else "Partner"],
            "personalNotes": f"Met {first} at the {2019 + i % 5} partner summit."}


def _event(subject, start, end, *, tz=TZ, location=None, sensitivity="normal", all_day=False, attendees=(),
           recurrence=None, body=None, show_as="busy") -> dict:
    ev = {"subject": subject, "sensitivity": sensitivity, "isAllDay": all_day, "showAs": show_as,
          "start": {"dateTime": start, "timeZone": tz}, "end": {"dateTime": end, "timeZone": tz}}
    if body:
        ev["body"] = {"contentType": "text", "content": body}
    if location:
        ev["location"] = {"displayName": location}
    if attendees:
        ev["attendees"] = [{"type": "required", "emailAddress": {"name": name, "address": email},
                            "status": {"response": response, "time": "0001-01-01T00:00:00Z"}}
                           for name, email, response in attendees]
    if recurrence:
        ev["recurrence"] = recurrence
    return ev


def _calendar(n: int, people) -> list[dict]:
    a, b = people[n % len(people)], people[(n + 1) % len(people)]
    mail = f"{a[0].lower()}.{a[1].lower()}@{a[2].split()[0].lower()}.example"
    weekly = {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"},
              "range": {"type": "noEnd", "startDate": "2026-01-05", "recurrenceTimeZone": TZ}}
    monthly = {"pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["tuesday"], "index": "first"},
               "range": {"type": "numbered", "startDate": "2026-01-06", "numberOfOccurrences": 24,
                         "recurrenceTimeZone": "UTC"}}
    day = 1 + n
    # The EWS seed's times are UTC instants; here they are given in UTC too, so both mailboxes agree.
    return [
        _event(f"Pipeline review with {a[2]}", f"2026-12-{day:02d}T09:00:00", f"2026-12-{day:02d}T10:00:00",
               tz="UTC", location="Meeting room 2", attendees=[(f"{a[0]} {a[1]}", mail, "accepted")],
               body="Review open opportunities and next steps."),
        _event(f"Lunch with {b[0]} {b[1]}", f"2026-12-{day + 7:02d}T11:30:00", f"2026-12-{day + 7:02d}T13:00:00",
               tz="UTC", location=f"{b[5]} bistro", show_as="tentative"),
        _event("Team stand-up", "2026-01-05T09:30:00", "2026-01-05T09:45:00", recurrence=weekly, location="Teams"),
        _event("Monthly sales forecast", "2026-01-06T14:00:00", "2026-01-06T15:00:00", recurrence=monthly, tz="UTC"),
        _event("Trade fair", "2026-12-14T00:00:00", "2026-12-16T00:00:00", all_day=True, tz="UTC", show_as="oof",
               location="Exhibition centre"),
        _event("Dentist", f"2026-12-{day + 3:02d}T15:00:00", f"2026-12-{day + 3:02d}T16:00:00", tz="UTC",
               sensitivity="private", body="Private appointment."),
    ]


def seed_demo(emu) -> None:
    store = emu.store
    with store.lock:
        for n, user in enumerate(DEMO_USERS):
            mb = store.mailbox(user.email)
            if mb is None:
                continue
            people = PEOPLE[n % 3:] + PEOPLE[: n % 3]
            for i, person in enumerate(people[:5]):
                contacts.create_contact(_ctx(emu, mb, _contact(i, person)))
            ids = []
            for ev in _calendar(n, people):
                _status, obj = events.create_event(_ctx(emu, mb, ev))
                ids.append(obj["id"])
            # The weekly stand-up: its third occurrence (2026-01-19) moved by an hour, its fifth cancelled.
            master = mb["events"][ids[2]]
            third = events.occurrence_id(mb, master, date(2026, 1, 19))
            events.update_event(_ctx(emu, mb, {"start": {"dateTime": "2026-01-19T09:30:00", "timeZone": "UTC"},
                                               "end": {"dateTime": "2026-01-19T09:45:00", "timeZone": "UTC"}},
                                     "PATCH"), third)
            events.delete_event(_ctx(emu, mb, None, "DELETE"), events.occurrence_id(mb, master, date(2026, 2, 2)))
            default_list = next(tl for tl in mb["todo_lists"].values() if tl.get("default"))
            for task in (
                {"title": f"Send proposal to {people[0][2]}", "importance": "high", "status": "inProgress",
                 "dueDateTime": {"dateTime": "2026-12-04T00:00:00", "timeZone": "UTC"},
                 "body": {"contentType": "text", "content": "Include the volume discount."}},
                {"title": f"Call {people[1][0]} {people[1][1]} back", "status": "notStarted",
                 "dueDateTime": {"dateTime": "2026-12-08T00:00:00", "timeZone": "UTC"}},
                {"title": "Update CRM notes", "importance": "low", "status": "completed",
                 "dueDateTime": {"dateTime": "2026-11-20T00:00:00", "timeZone": "UTC"}},
            ):
                todo.create_task(_ctx(emu, mb, task), default_list["id"])
        store.flush()

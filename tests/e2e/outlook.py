"""A user's mailbox seen from outside the product, through either protocol's own client: exchangelib for the EWS
emulator, plain HTTPS requests for the Graph emulator. The end-to-end scenarios arrange and check Outlook through
this one small surface, so that each of them runs against both Exchange connectors unchanged.

Records come back as plain dicts with the same keys whatever the protocol:
contacts ``id, given_name, surname, email, job_title, department``; events ``id, subject, location``;
tasks ``id, subject, importance, status`` (importance and status lower-case: ``high``, ``completed``, ...);
calendar items (series masters and single events) ``id, subject, kind`` (``series`` or ``single``); calendar
entries ``id, subject, type, start`` (type lower-case: ``single``, ``occurrence``, ``exception``). Series patterns
are given as exchangelib patterns (DailyPattern, WeeklyPattern) on both protocols.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

import requests
from exchangelib import Account, Attendee, CalendarItem, Contact, EWSDate, EWSDateTime, EWSTimeZone, Mailbox, Task
from exchangelib.folders import Contacts
from exchangelib.indexed_properties import EmailAddress
from exchangelib.items import SEND_TO_NONE
from exchangelib.recurrence import DailyPattern, Recurrence, WeeklyPattern

FOLDER = "Salesforce_Sync"


class EwsOutlook:
    protocol = "ews"

    def __init__(self, account: Account, control: str | None = None, verify: str | None = None):
        self.account = account
        self.control = control  # the EWS emulator's control API for this mailbox (/_sandbox/mailboxes/{email})
        self.http = requests.Session()
        self.http.verify = verify if verify is not None else True
        self.http.trust_env = False

    # ---- contacts ----
    def _folder(self, create: bool = False):
        try:
            return self.account.contacts // FOLDER
        except Exception:
            if not create:
                raise
            folder = Contacts(parent=self.account.contacts, name=FOLDER)
            folder.save()
            return folder

    def contacts(self) -> list[dict]:
        return [{"id": c.id, "given_name": c.given_name, "surname": c.surname,
                 "email": c.email_addresses[0].email if c.email_addresses else None,
                 "job_title": c.job_title, "department": c.department} for c in self._folder().all()]

    def create_contact(self, given_name: str, surname: str, email: str | None = None) -> str:
        contact = Contact(folder=self._folder(create=True), given_name=given_name, surname=surname,
                          display_name=f"{given_name} {surname}",
                          email_addresses=[EmailAddress(email=email, label="EmailAddress1")] if email else None)
        contact.save()
        return contact.id

    def update_contact(self, item_id: str, *, job_title: str) -> None:
        contact = self._folder().get(id=item_id)
        contact.job_title = job_title
        contact.save()

    def delete_contact(self, item_id: str) -> None:
        self._folder().get(id=item_id).delete()

    # ---- events ----
    def events(self) -> list[dict]:
        return [{"id": e.id, "subject": e.subject, "location": e.location} for e in self.account.calendar.all()]

    def create_event(self, subject: str, start: datetime, end: datetime, *, location: str | None = None,
                     private: bool = False, attendees: tuple[str, ...] = ()) -> str:
        item = CalendarItem(
            account=self.account, folder=self.account.calendar, subject=subject,
            start=EWSDateTime.from_datetime(start), end=EWSDateTime.from_datetime(end), location=location,
            sensitivity="Private" if private else "Normal",
            required_attendees=[Attendee(mailbox=Mailbox(email_address=a), response_type="Unknown")
                                for a in attendees] or None)
        item.save()
        return item.id

    def create_series(self, subject: str, start: datetime, end: datetime, pattern, *, until=None,
                      count: int | None = None, tz: str = "UTC", attendees: tuple[str, ...] = ()) -> str:
        """A recurring series: `pattern` an exchangelib pattern; no `until` and no `count`: no end."""
        zone = EWSTimeZone(tz)
        first = EWSDateTime.from_datetime(start).astimezone(zone)
        boundary = {"end": EWSDate(until.year, until.month, until.day)} if until else \
            {"number": count} if count else {}
        item = CalendarItem(
            account=self.account, folder=self.account.calendar, subject=subject,
            start=first, end=EWSDateTime.from_datetime(end).astimezone(zone),
            recurrence=Recurrence(pattern=pattern, start=EWSDate(first.year, first.month, first.day), **boundary),
            required_attendees=[Attendee(mailbox=Mailbox(email_address=a), response_type="Unknown")
                                for a in attendees] or None)
        item.save()
        return item.id

    def attendee_responds(self, item_id: str, attendee: str, response: str = "accepted") -> None:
        """An attendee answers a meeting this mailbox organizes (the emulator records it on the organizer's copy);
        `response` in Graph's words (accepted, tentativelyAccepted, declined)."""
        answer = self.http.post(f"{self.control}/response", json={
            "item_id": item_id, "attendee": attendee, "response": _EWS_RESPONSES[response]})
        assert answer.status_code == 200, answer.text

    def meeting_updates_sent(self, item_id: str) -> list[str]:
        """What each UpdateItem of this calendar item asked Exchange to send (SendMeetingInvitationsOrCancellations
        values, oldest first), as the emulator recorded them."""
        answer = self.http.get(self.control)
        assert answer.status_code == 200, answer.text
        return next(i["meeting_sends"] for f in answer.json()["folders"] for i in f["items"] if i["id"] == item_id)

    def calendar_entries(self, start: datetime, end: datetime) -> list[dict]:
        """What Outlook's calendar shows between two moments: singles, occurrences and exceptions."""
        return [{"id": e.id, "subject": e.subject, "type": (e.type or "").lower(),
                 "start": datetime.fromtimestamp(e.start.timestamp(), UTC)}
                for e in self.account.calendar.view(start=EWSDateTime.from_datetime(start),
                                                    end=EWSDateTime.from_datetime(end))]

    def calendar_items(self) -> list[dict]:
        """The calendar's items: series masters and single events (no occurrences)."""
        return [{"id": i.id, "subject": i.subject, "kind": "series" if i.type == "RecurringMaster" else "single"}
                for i in self.account.calendar.all().only("id", "subject", "type")]

    def series_interval(self, master_id: str) -> int:
        return self.account.calendar.get(id=master_id).recurrence.pattern.interval

    def move_occurrence(self, occurrence_id: str, by: timedelta) -> None:
        """Moves one occurrence on its own (it becomes an exception)."""
        item = self.account.calendar.get(id=occurrence_id)
        item.start, item.end = item.start + by, item.end + by
        item.save(update_fields=["start", "end"], send_meeting_invitations=SEND_TO_NONE)

    def end_series_after(self, master_id: str, count: int) -> None:
        """The series' pattern edited to end after `count` occurrences (which drops its exceptions)."""
        item = self.account.calendar.get(id=master_id)
        item.recurrence = Recurrence(pattern=item.recurrence.pattern, start=item.recurrence.boundary.start,
                                     number=count)
        item.save(update_fields=["recurrence"], send_meeting_invitations=SEND_TO_NONE)

    def update_event(self, item_id: str, **fields) -> None:
        item = self.account.calendar.get(id=item_id)
        for name, value in fields.items():
            setattr(item, name, value)
        item.save()

    def delete_event(self, item_id: str) -> None:
        self.account.calendar.get(id=item_id).delete()

    # ---- tasks ----
    def tasks(self) -> list[dict]:
        return [{"id": t.id, "subject": t.subject, "importance": (t.importance or "").lower(),
                 "status": _status_key(t.status)} for t in self.account.tasks.all()]

    def create_task(self, subject: str) -> str:
        task = Task(folder=self.account.tasks, subject=subject)
        task.save()
        return task.id

    def update_task(self, item_id: str, *, subject: str | None = None, completed: bool = False) -> None:
        task = self.account.tasks.get(id=item_id)
        if subject is not None:
            task.subject = subject
        if completed:
            task.status = "Completed"
            task.percent_complete = Decimal(100)
        task.save()

    def delete_task(self, item_id: str) -> None:
        self.account.tasks.get(id=item_id).delete()


_EWS_RESPONSES = {"accepted": "Accept", "tentativelyAccepted": "Tentative", "declined": "Decline"}


def _status_key(status: str | None) -> str:
    """EWS's ``NotStarted`` / Graph's ``notStarted`` → ``notstarted``."""
    return (status or "").replace(" ", "").lower()


class GraphOutlook:
    """The Graph emulator through plain requests and an app-only token (client credentials with the secret)."""

    protocol = "graph"

    def __init__(self, graph_url: str, registration: dict, mailbox: str, verify: str):
        self.base = f"{graph_url}/v1.0/users/{quote(mailbox)}"
        self.control = f"{graph_url}/_sandbox/mailboxes/{quote(mailbox)}"
        self.http = requests.Session()
        self.http.verify = verify
        self.http.trust_env = False
        token = self.http.post(f"{graph_url}/{registration['tenant_id']}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": registration["client_id"],
            "client_secret": registration["client_secret"], "scope": "https://graph.microsoft.com/.default"})
        token.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def _call(self, method: str, path: str, body: dict | None = None, **params) -> dict:
        response = self.http.request(method, f"{self.base}/{path}", json=body, params=params or None)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else {}

    def _all(self, path: str, **params) -> list[dict]:
        page = self._call("GET", path, **params)
        rows = list(page["value"])
        while page.get("@odata.nextLink"):
            response = self.http.get(page["@odata.nextLink"])
            assert response.status_code == 200, response.text
            page = response.json()
            rows += page["value"]
        return rows

    # ---- contacts ----
    def _folder(self, create: bool = False) -> str:
        found = self._call("GET", "contactFolders", **{"$filter": f"displayName eq '{FOLDER}'"})["value"]
        if found:
            return found[0]["id"]
        assert create, f"no {FOLDER} contact folder"
        return self._call("POST", "contactFolders", {"displayName": FOLDER})["id"]

    def contacts(self) -> list[dict]:
        return [{"id": c["id"], "given_name": c.get("givenName"), "surname": c.get("surname"),
                 "email": (c.get("emailAddresses") or [{}])[0].get("address"), "job_title": c.get("jobTitle"),
                 "department": c.get("department")}
                for c in self._all(f"contactFolders/{self._folder()}/contacts")]

    def create_contact(self, given_name: str, surname: str, email: str | None = None) -> str:
        body = {"givenName": given_name, "surname": surname, "displayName": f"{given_name} {surname}"}
        if email:
            body["emailAddresses"] = [{"address": email, "name": f"{given_name} {surname}"}]
        return self._call("POST", f"contactFolders/{self._folder(create=True)}/contacts", body)["id"]

    def update_contact(self, item_id: str, *, job_title: str) -> None:
        self._call("PATCH", f"contacts/{item_id}", {"jobTitle": job_title})

    def delete_contact(self, item_id: str) -> None:
        self._call("DELETE", f"contacts/{item_id}")

    # ---- events ----
    def events(self) -> list[dict]:
        return [{"id": e["id"], "subject": e.get("subject"), "location": (e.get("location") or {}).get("displayName")
                 or None} for e in self._all("calendar/events")]

    def create_event(self, subject: str, start: datetime, end: datetime, *, location: str | None = None,
                     private: bool = False, attendees: tuple[str, ...] = ()) -> str:
        body = {"subject": subject, "start": _graph_time(start), "end": _graph_time(end),
                "sensitivity": "private" if private else "normal",
                "attendees": [{"emailAddress": {"address": a}, "type": "required"} for a in attendees]}
        if location:
            body["location"] = {"displayName": location}
        return self._call("POST", "calendar/events", body)["id"]

    def update_event(self, item_id: str, **fields) -> None:
        body = {}
        if "subject" in fields:
            body["subject"] = fields["subject"]
        if "location" in fields:
            body["location"] = {"displayName": fields["location"]}
        self._call("PATCH", f"events/{item_id}", body)

    def delete_event(self, item_id: str) -> None:
        self._call("DELETE", f"events/{item_id}")

    def create_series(self, subject: str, start: datetime, end: datetime, pattern, *, until=None,
                      count: int | None = None, tz: str = "UTC", attendees: tuple[str, ...] = ()) -> str:
        """A recurring series: `pattern` an exchangelib DailyPattern or WeeklyPattern (converted to Graph's
        patternedRecurrence); no `until` and no `count`: no end."""
        zone = EWSTimeZone(tz)
        first = start.astimezone(zone)
        if isinstance(pattern, WeeklyPattern):
            days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
            graph_pattern = {"type": "weekly", "interval": pattern.interval,
                             "daysOfWeek": [days[_weekday(w) - 1] for w in pattern.weekdays]}
        else:
            assert isinstance(pattern, DailyPattern), "the scenarios use daily and weekly patterns"
            graph_pattern = {"type": "daily", "interval": pattern.interval}
        span = {"type": "endDate", "endDate": until.isoformat()} if until else \
            {"type": "numbered", "numberOfOccurrences": count} if count else {"type": "noEnd"}
        local = end.astimezone(zone)
        body = {"subject": subject,
                "start": {"dateTime": first.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": tz},
                "end": {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": tz},
                "recurrence": {"pattern": graph_pattern,
                               "range": {"startDate": first.date().isoformat(), "recurrenceTimeZone": tz, **span}},
                "attendees": [{"emailAddress": {"address": a}, "type": "required"} for a in attendees]}
        return self._call("POST", "calendar/events", body)["id"]

    def attendee_responds(self, event_id: str, attendee: str, response: str = "accepted") -> None:
        """An attendee answers a meeting this mailbox organizes (the emulator records it on the organizer's copy)."""
        answer = self.http.post(f"{self.control}/events/{event_id}/response",
                                json={"attendee": attendee, "response": response})
        assert answer.status_code == 200, answer.text

    def meeting_updates_sent(self, event_id: str) -> int:
        """How many updates Graph sent the attendees of this meeting (the emulator counts them; none delivered)."""
        answer = self.http.get(self.control)
        assert answer.status_code == 200, answer.text
        return next(e["updates_sent"] for e in answer.json()["events"] if e["id"] == event_id)

    def calendar_entries(self, start: datetime, end: datetime) -> list[dict]:
        """What Outlook's calendar shows between two moments: singles, occurrences and exceptions."""
        rows = self._all("calendarView", startDateTime=start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                         endDateTime=end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        return [{"id": e["id"], "subject": e.get("subject"),
                 "type": {"singleinstance": "single"}.get(e["type"].lower(), e["type"].lower()),
                 "start": _utc(e["start"])} for e in rows]

    def calendar_items(self) -> list[dict]:
        """The calendar's items: series masters and single events (no occurrences)."""
        return [{"id": e["id"], "subject": e.get("subject"),
                 "kind": "series" if e.get("type") == "seriesMaster" else "single"}
                for e in self._all("calendar/events")]

    def series_interval(self, master_id: str) -> int:
        return self._call("GET", f"events/{master_id}")["recurrence"]["pattern"]["interval"]

    def move_occurrence(self, occurrence_id: str, by: timedelta) -> None:
        """Moves one occurrence on its own (it becomes an exception)."""
        entry = self._call("GET", f"events/{occurrence_id}")
        start, end = _utc(entry["start"]) + by, _utc(entry["end"]) + by
        self._call("PATCH", f"events/{occurrence_id}", {"start": _graph_time(start), "end": _graph_time(end)})

    def hide_cancellations_from_delta(self) -> None:
        """Exchange Online's known gap, reproduced by the emulator: a cancelled occurrence is not reported by
        calendarView delta."""
        response = self.http.post(f"{self.control}/quirks", json={"delta_skips_cancelled_occurrences": True})
        assert response.status_code == 200, response.text

    def end_series_after(self, master_id: str, count: int) -> None:
        """The series' pattern edited to end after `count` occurrences (which drops its exceptions)."""
        recurrence = self._call("GET", f"events/{master_id}")["recurrence"]
        recurrence["range"].update(type="numbered", numberOfOccurrences=count, endDate="0001-01-01")
        self._call("PATCH", f"events/{master_id}", {"recurrence": recurrence})

    # ---- tasks (Microsoft To Do, the default list) ----
    def _list(self) -> str:
        lists = self._call("GET", "todo/lists")["value"]
        return next(x["id"] for x in lists if x.get("wellknownListName") == "defaultList")

    def tasks(self) -> list[dict]:
        return [{"id": t["id"], "subject": t.get("title"), "importance": (t.get("importance") or "").lower(),
                 "status": _status_key(t.get("status"))} for t in self._all(f"todo/lists/{self._list()}/tasks")]

    def create_task(self, subject: str) -> str:
        return self._call("POST", f"todo/lists/{self._list()}/tasks", {"title": subject})["id"]

    def update_task(self, item_id: str, *, subject: str | None = None, completed: bool = False) -> None:
        body = {}
        if subject is not None:
            body["title"] = subject
        if completed:
            body["status"] = "completed"
        self._call("PATCH", f"todo/lists/{self._list()}/tasks/{item_id}", body)

    def delete_task(self, item_id: str) -> None:
        self._call("DELETE", f"todo/lists/{self._list()}/tasks/{item_id}")


def _weekday(value) -> int:
    names = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    return names.index(value) + 1 if isinstance(value, str) else int(value)


def _utc(value: dict) -> datetime:
    """A Graph dateTimeTimeZone as an aware UTC datetime."""
    text = value["dateTime"].split(".")[0]
    zone = value.get("timeZone") or "UTC"
    moment = datetime.fromisoformat(text)
    return (moment.replace(tzinfo=UTC) if zone.upper() in ("UTC", "Z") else
            moment.replace(tzinfo=EWSTimeZone(zone))).astimezone(UTC)


def _graph_time(moment: datetime) -> dict:
    offset = moment.utcoffset()
    assert offset is not None and offset.total_seconds() == 0, "the scenarios use UTC times"
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}

"""The deterministic demo seed: for every demo user, personal contacts, a calendar (single meetings, a weekly
series with a moved and a cancelled occurrence, a monthly series, an all-day event, a private appointment) and
tasks. Items are created through the same operation handlers the SOAP endpoint uses."""

from lxml import etree

from sandbox.demo import DEMO_USERS
from sandbox.exchange import itemops
from sandbox.exchange.context import Context
from sandbox.exchange.recurrence import zone
from sandbox.exchange.soap import M, T, response_root

NS = f'xmlns:m="{M}" xmlns:t="{T}"'

PEOPLE = (
    ("Olivia", "Bennett", "Northwind Traders", "Purchasing Manager", "Purchasing", "London", "United Kingdom"),
    ("Lucas", "Moreau", "Contoso Pharmaceuticals", "Head of IT", "IT", "Lyon", "France"),
    ("Sofia", "Rossi", "Fabrikam Foods", "CFO", "Finance", "Milan", "Italy"),
    ("Noah", "Fischer", "Adventure Works", "Operations Director", "Operations", "Munich", "Germany"),
    ("Maya", "Johansson", "Tailspin Toys", "Marketing Lead", "Marketing", "Gothenburg", "Sweden"),
    ("Ethan", "Walsh", "Litware Inc.", "Procurement Officer", "Procurement", "Dublin", "Ireland"),
    ("Aiko", "Tanaka", "Wide World Importers", "Logistics Manager", "Logistics", "Osaka", "Japan"),
)


def _contact(i: int, person) -> str:
    first, last, company, title, dept, city, country = person
    email = f"{first.lower()}.{last.lower()}@{company.split()[0].lower()}.example"
    return f"""<t:Contact>
      <t:Body BodyType="Text">Met {first} at the {2019 + i % 5} partner summit.</t:Body>
      <t:Categories><t:String>{"Customer" if i % 2 else "Partner"}</t:String></t:Categories>
      <t:FileAs>{last}, {first}</t:FileAs><t:DisplayName>{first} {last}</t:DisplayName>
      <t:GivenName>{first}</t:GivenName><t:CompanyName>{company}</t:CompanyName>
      <t:EmailAddresses><t:Entry Key="EmailAddress1">{email}</t:Entry></t:EmailAddresses>
      <t:PhysicalAddresses><t:Entry Key="Business"><t:Street>{10 + i} Market Street</t:Street>
        <t:City>{city}</t:City><t:CountryOrRegion>{country}</t:CountryOrRegion>
        <t:PostalCode>{1000 + 37 * i}</t:PostalCode></t:Entry></t:PhysicalAddresses>
      <t:PhoneNumbers><t:Entry Key="BusinessPhone">+1 555 01{i:02d}</t:Entry>
        <t:Entry Key="MobilePhone">+1 555 02{i:02d}</t:Entry></t:PhoneNumbers>
      <t:Birthday>{1970 + 3 * i}-0{1 + i % 9}-1{i % 10}T00:00:00Z</t:Birthday>
      <t:Department>{dept}</t:Department><t:JobTitle>{title}</t:JobTitle>
      <t:Surname>{last}</t:Surname></t:Contact>"""


def _event(subject, start, end, *, tz="W. Europe Standard Time", location=None, sensitivity="Normal",
           all_day=False, attendees=(), recurrence=None, body=None, free_busy="Busy") -> str:
    parts = [f"<t:Subject>{subject}</t:Subject>", f"<t:Sensitivity>{sensitivity}</t:Sensitivity>"]
    if body:
        parts.append(f'<t:Body BodyType="Text">{body}</t:Body>')
    parts += [f"<t:Start>{start}</t:Start>", f"<t:End>{end}</t:End>",
              f"<t:IsAllDayEvent>{'true' if all_day else 'false'}</t:IsAllDayEvent>",
              f"<t:LegacyFreeBusyStatus>{free_busy}</t:LegacyFreeBusyStatus>"]
    if location:
        parts.append(f"<t:Location>{location}</t:Location>")
    if attendees:
        parts.append("<t:RequiredAttendees>" + "".join(
            f"<t:Attendee><t:Mailbox><t:Name>{name}</t:Name><t:EmailAddress>{email}</t:EmailAddress>"
            f"</t:Mailbox><t:ResponseType>{response}</t:ResponseType></t:Attendee>"
            for name, email, response in attendees) + "</t:RequiredAttendees>")
    if recurrence:
        parts.append(f"<t:Recurrence>{recurrence}</t:Recurrence>")
    parts += [f'<t:StartTimeZone Id="{tz}"/>', f'<t:EndTimeZone Id="{tz}"/>']
    return "<t:CalendarItem>" + "".join(parts) + "</t:CalendarItem>"


def _task(subject, due, status, pct, importance="Normal", body=None) -> str:
    return (f"<t:Task><t:Subject>{subject}</t:Subject>"
            + (f'<t:Body BodyType="Text">{body}</t:Body>' if body else "")
            + f"<t:Importance>{importance}</t:Importance><t:DueDate>{due}</t:DueDate>"
            f"<t:PercentComplete>{pct}</t:PercentComplete><t:Status>{status}</t:Status></t:Task>")


def _calendar(n: int, people) -> list[str]:
    a, b = people[n % len(people)], people[(n + 1) % len(people)]
    mail = f"{a[0].lower()}.{a[1].lower()}@{a[2].split()[0].lower()}.example"
    weekly = ("<t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek>"
              "</t:WeeklyRecurrence><t:NoEndRecurrence><t:StartDate>2026-01-05</t:StartDate></t:NoEndRecurrence>")
    monthly = ("<t:RelativeMonthlyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Tuesday</t:DaysOfWeek>"
               "<t:DayOfWeekIndex>First</t:DayOfWeekIndex></t:RelativeMonthlyRecurrence>"
               "<t:NumberedRecurrence><t:StartDate>2026-01-06</t:StartDate>"
               "<t:NumberOfOccurrences>24</t:NumberOfOccurrences></t:NumberedRecurrence>")
    day = 1 + n
    return [
        _event(f"Pipeline review with {a[2]}", f"2026-12-{day:02d}T09:00:00Z", f"2026-12-{day:02d}T10:00:00Z",
               location="Meeting room 2", attendees=[(f"{a[0]} {a[1]}", mail, "Accept")],
               body="Review open opportunities and next steps."),
        _event(f"Lunch with {b[0]} {b[1]}", f"2026-12-{day + 7:02d}T11:30:00Z", f"2026-12-{day + 7:02d}T13:00:00Z",
               location=f"{b[5]} bistro", free_busy="Tentative"),
        _event("Team stand-up", "2026-01-05T08:30:00Z", "2026-01-05T08:45:00Z", recurrence=weekly,
               location="Teams"),
        _event("Monthly sales forecast", "2026-01-06T14:00:00Z", "2026-01-06T15:00:00Z", recurrence=monthly,
               tz="UTC"),
        _event("Trade fair", "2026-12-14T00:00:00Z", "2026-12-16T00:00:00Z", all_day=True, tz="UTC",
               free_busy="OOF", location="Exhibition centre"),
        _event("Dentist", f"2026-12-{day + 3:02d}T15:00:00Z", f"2026-12-{day + 3:02d}T16:00:00Z",
               sensitivity="Private", body="Private appointment."),
    ]


def _run(ctx, handler, operation: str, body: str, attrs: str = "") -> list[str]:
    """Run one operation handler on a request built from XML text; return the item ids it answered."""
    req = etree.fromstring(f"<m:{operation} {NS} {attrs}>{body}</m:{operation}>")
    root, msgs = response_root(operation)
    ctx.op = operation
    handler(ctx, req, msgs)
    failed = [rm for rm in msgs if rm.get("ResponseClass") != "Success"]
    if failed:
        raise RuntimeError(f"demo seed: {operation} failed: {etree.tostring(failed[0])[:300]!r}")
    return [e.get("Id") for e in root.iter(f"{{{T}}}ItemId")]


def seed_demo(emu) -> None:
    store = emu.store
    with store.lock:
        for n, user in enumerate(DEMO_USERS):
            mb = store.mailbox(user.email)
            if mb is None:
                continue
            ctx = Context(store, "CreateItem", user.email, mb, True, zone("UTC"))
            people = PEOPLE[n % 3:] + PEOPLE[: n % 3]
            contacts = "".join(_contact(i, p) for i, p in enumerate(people[:5]))
            _run(ctx, itemops.create_item, "CreateItem", f"<m:Items>{contacts}</m:Items>")
            ids = _run(ctx, itemops.create_item, "CreateItem", f"<m:Items>{''.join(_calendar(n, people))}</m:Items>",
                       'SendMeetingInvitations="SendToNone"')
            # The weekly stand-up: its third occurrence moved by an hour, its fifth cancelled.
            master = ids[2]
            moved = (f'<m:ItemChanges><t:ItemChange><t:OccurrenceItemId RecurringMasterId="{master}" '
                     'InstanceIndex="3"/><t:Updates>'
                     '<t:SetItemField><t:FieldURI FieldURI="calendar:Start"/><t:CalendarItem>'
                     "<t:Start>2026-01-19T09:30:00Z</t:Start></t:CalendarItem></t:SetItemField>"
                     '<t:SetItemField><t:FieldURI FieldURI="calendar:End"/><t:CalendarItem>'
                     "<t:End>2026-01-19T09:45:00Z</t:End></t:CalendarItem></t:SetItemField>"
                     "</t:Updates></t:ItemChange></m:ItemChanges>")
            _run(ctx, itemops.update_item, "UpdateItem", moved,
                 'ConflictResolution="AlwaysOverwrite" SendMeetingInvitationsOrCancellations="SendToNone"')
            _run(ctx, itemops.delete_item, "DeleteItem",
                 f'<m:ItemIds><t:OccurrenceItemId RecurringMasterId="{master}" InstanceIndex="5"/></m:ItemIds>',
                 'DeleteType="HardDelete" SendMeetingCancellations="SendToNone"')
            tasks = [
                _task(f"Send proposal to {people[0][2]}", "2026-12-04T00:00:00Z", "InProgress", 50, "High",
                      "Include the volume discount."),
                _task(f"Call {people[1][0]} {people[1][1]} back", "2026-12-08T00:00:00Z", "NotStarted", 0),
                _task("Update CRM notes", "2026-11-20T00:00:00Z", "Completed", 100, "Low"),
            ]
            _run(ctx, itemops.create_item, "CreateItem", f"<m:Items>{''.join(tasks)}</m:Items>")
        store.flush()

"""The demo org: accounts, contacts, leads, events (some recurring, all-day or private) and tasks that look real.

Deterministic (a seeded RNG); dates are relative to the day the seed runs, so the calendar looks current.
Records go through the same validation as API writes, created as their owner.
"""

import datetime as dt
import random

from sandbox.salesforce import schema
from sandbox.salesforce.access import Access
from sandbox.salesforce.dml import Dml
from sandbox.salesforce.values import format_date, format_datetime

SEED = 20261122
FIRST = ["Alice", "Hugo", "Léa", "Lukas", "Sofia", "Oliver", "Emma", "Noah", "Mia", "Liam", "Ines", "Jonas",
         "Clara", "Mateo", "Freya", "Arjun", "Yuki", "Amara", "Elias", "Nora", "Tomás", "Zoé", "Felix", "Hannah",
         "Omar", "Greta", "Lucas", "Maja", "Rafael", "Ingrid", "Samuel", "Anaïs", "Theo", "Priya", "Erik", "Chiara"]
LAST = ["Dubois", "Schmidt", "Johnson", "Andersson", "Rossi", "García", "Müller", "Bernard", "Smith", "Nakamura",
        "O'Brien", "Kowalski", "Jensen", "Moreau", "Fischer", "Brown", "Novak", "Laurent", "Silva", "Berg",
        "Wagner", "Taylor", "Petit", "Costa", "Lindgren", "Weber", "Martin", "Clarke", "Richter", "Fontaine"]
COMPANY_A = ["Northwind", "Bluewater", "Alpine", "Evergreen", "Silverline", "Redwood", "Helios", "Granite",
             "Lumen", "Orchid", "Harbor", "Nordic", "Summit", "Cobalt", "Meridian", "Atlas", "Falcon", "Juniper",
             "Sterling", "Aurora"]
COMPANY_B = ["Logistics", "Pharma", "Energy", "Foods", "Analytics", "Robotics", "Textiles", "Capital", "Media",
             "Engineering", "Hotels", "Telecom"]
SUFFIX = ["SA", "GmbH", "Ltd", "Inc.", "AB", "S.p.A.", "BV"]
PLACES = [("Paris", "Île-de-France", "75008", "France"), ("Lyon", "Auvergne-Rhône-Alpes", "69002", "France"),
          ("Berlin", "Berlin", "10117", "Germany"), ("Munich", "Bavaria", "80331", "Germany"),
          ("London", "England", "EC2V 7HH", "United Kingdom"), ("Manchester", "England", "M1 1AE", "United Kingdom"),
          ("Stockholm", "Stockholm", "111 52", "Sweden"), ("Milan", "Lombardy", "20121", "Italy"),
          ("New York", "NY", "10001", "United States"), ("Chicago", "IL", "60601", "United States"),
          ("San Francisco", "CA", "94105", "United States"), ("Amsterdam", "North Holland", "1012 AB", "Netherlands")]
STREETS = ["12 Rue de la Paix", "45 Friedrichstraße", "221 Baker Street", "8 Drottninggatan", "350 Fifth Avenue",
           "17 Via Torino", "90 Keizersgracht", "1 Market Street", "77 Rue Mercière", "5 King Street"]
TITLES = ["CEO", "CFO", "Head of Sales", "Procurement Manager", "IT Director", "Office Manager", "VP Marketing",
          "Operations Lead", "Account Executive", "Project Manager", "Buyer", "Chief of Staff"]
MEETINGS = ["Quarterly business review", "Product demo", "Contract negotiation", "Discovery call", "Kick-off",
            "Renewal discussion", "Lunch", "Site visit", "Pricing workshop", "Steering committee"]
TASKS = ["Send proposal", "Follow up on quote", "Call back", "Prepare QBR deck", "Update contract",
         "Send case study", "Book site visit", "Check invoice status", "Introduce to support team"]


def seed_demo(emulator) -> None:
    rng = random.Random(SEED)
    store = emulator.store
    users = sorted(store.of_type("User"), key=lambda u: u["Username"])
    if not users:
        return
    now = emulator.now().replace(second=0, microsecond=0)
    today = now.date()
    accesses = {user["Id"]: Access(store, user) for user in users}
    obj = schema.OBJECTS

    dml = Dml(emulator, accesses[users[0]["Id"]])

    def create(owner_id: str, sobject: str, values: dict) -> dict:
        dml.access = accesses[owner_id]
        return dml.create(obj[sobject], values)

    accounts = []
    names = set()
    while len(accounts) < 36:
        name = f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)} {rng.choice(SUFFIX)}"
        if name in names:
            continue
        names.add(name)
        city, state, postcode, country = rng.choice(PLACES)
        owner = rng.choice(users)["Id"]
        accounts.append(create(owner, "Account", {
            "Name": name, "Type": rng.choice(["Prospect", "Customer - Direct", "Customer - Channel"]),
            "Industry": rng.choice(schema.INDUSTRIES[:-1]), "BillingStreet": rng.choice(STREETS),
            "BillingCity": city, "BillingState": state, "BillingPostalCode": postcode, "BillingCountry": country,
            "Phone": f"+{rng.randint(1, 49)} {rng.randint(100, 999)} {rng.randint(100000, 999999)}",
            "Website": "https://www." + name.split()[0].lower() + name.split()[1].lower() + ".example",
            "NumberOfEmployees": rng.choice([12, 45, 120, 800, 2500, 14000]),
            "AnnualRevenue": float(rng.choice([1, 5, 20, 75, 300])) * 1_000_000,
        }))
    contacts = []
    for index in range(320):
        account = rng.choice(accounts) if index % 12 else None
        first, last = rng.choice(FIRST), rng.choice(LAST)
        domain = (account["Website"].split("www.")[1] if account else "mail.example")
        city, state, postcode, country = (account["BillingCity"], account["BillingState"],
                                          account["BillingPostalCode"], account["BillingCountry"]) if account \
            else rng.choice(PLACES)
        owner = account["OwnerId"] if account and rng.random() < 0.85 else rng.choice(users)["Id"]
        values = {"OwnerId": owner,
            "FirstName": first, "LastName": last, "AccountId": account["Id"] if account else None,
            "Email": f"{first.lower()}.{last.lower().replace(chr(39), '')}{index}@{domain}".encode("ascii", "ignore")
            .decode(),
            "Title": rng.choice(TITLES),
            "Phone": f"+{rng.randint(1, 49)} {rng.randint(10, 99)} {rng.randint(1000000, 9999999)}",
            "MobilePhone": f"+{rng.randint(1, 49)} 7{rng.randint(10000000, 99999999)}" if rng.random() < 0.6 else None,
            "MailingStreet": rng.choice(STREETS), "MailingCity": city, "MailingState": state,
            "MailingPostalCode": postcode, "MailingCountry": country,
            "LeadSource": rng.choice(schema.LEAD_SOURCES), "Salutation": rng.choice(["Mr.", "Ms.", "Dr.", None]),
            "Birthdate": format_date(dt.date(rng.randint(1960, 1998), rng.randint(1, 12), rng.randint(1, 28)))
            if rng.random() < 0.4 else None,
            "Interests__c": ";".join(sorted(rng.sample(["Golf", "Tennis", "Sailing", "Wine", "Cycling", "Opera"],
                                                       rng.randint(0, 2)))) or None,
        }
        contacts.append(create(account["OwnerId"] if account else owner, "Contact", values))
    for _ in range(40):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        city, state, postcode, country = rng.choice(PLACES)
        create(rng.choice(users)["Id"], "Lead", {
            "FirstName": first, "LastName": last, "Company": f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)}",
            "Email": f"{first.lower()}.{last.lower().replace(chr(39), '')}@lead.example".encode("ascii", "ignore")
            .decode(),
            "City": city, "Country": country, "Status": rng.choice(["Open - Not Contacted", "Working - Contacted"]),
            "LeadSource": rng.choice(schema.LEAD_SOURCES), "Rating": rng.choice(["Hot", "Warm", "Cold"]),
        })
    _seed_activities(rng, create, {a["Id"]: a for a in accounts}, contacts, today)
    dml.commit()


def _seed_activities(rng, create, accounts, contacts, today) -> None:
    def what(contact):
        account = accounts.get(contact["AccountId"])
        return account["Id"] if account and account["OwnerId"] == contact["OwnerId"] else None

    for index in range(180):
        contact = rng.choice(contacts)
        owner = contact["OwnerId"]
        day = today + dt.timedelta(days=rng.randint(-30, 60))
        values = {"Subject": f"{rng.choice(MEETINGS)} – {contact['LastName']}", "WhoId": contact["Id"],
                  "WhatId": what(contact), "Location": rng.choice(["Teams", "Zoom", "Client office",
                                                                          "Our office", "Café Central", None]),
                  "Description": "Agenda: introductions, status, next steps." if rng.random() < 0.5 else None,
                  "ShowAs": rng.choice(["Busy", "Busy", "Busy", "Free", "OutOfOffice"]),
                  "IsPrivate": rng.random() < 0.1}
        if index % 11 == 0:
            values.update(IsAllDayEvent=True, ActivityDate=format_date(day),
                          DurationInMinutes=1440 * rng.choice([1, 1, 2]), Subject=f"Trade fair – {contact['LastName']}")
        else:
            start = dt.datetime(day.year, day.month, day.day, rng.randint(7, 16), rng.choice([0, 30]),
                                tzinfo=dt.UTC)
            values.update(StartDateTime=format_datetime(start), DurationInMinutes=rng.choice([30, 30, 45, 60, 90]))
        if index % 23 == 5:
            start = dt.datetime(today.year, today.month, today.day, 9, 0, tzinfo=dt.UTC) - \
                dt.timedelta(days=rng.randint(0, 20))
            values.update(StartDateTime=format_datetime(start), DurationInMinutes=30, IsAllDayEvent=False,
                          IsRecurrence=True, RecurrenceType="RecursWeekly", RecurrenceInterval=1,
                          RecurrenceDayOfWeekMask=rng.choice([2, 4, 8, 16, 10]),
                          RecurrenceStartDateTime=format_datetime(start),
                          RecurrenceEndDateOnly=format_date(start.date() + dt.timedelta(weeks=12)),
                          RecurrenceTimeZoneSidKey="Europe/Paris", Subject=f"Weekly sync – {contact['LastName']}")
            values.pop("ActivityDate", None)
        event = create(owner, "Event", values)
        if index % 7 == 0:
            others = [c for c in rng.sample(contacts, 3) if c["Id"] != contact["Id"]][:2]
            for other in others:
                if other["OwnerId"] == owner or other.get("AccountId") == contact.get("AccountId"):
                    create(owner, "EventRelation", {"EventId": event["Id"], "RelationId": other["Id"],
                                                    "Status": rng.choice(["New", "Accepted", "Declined"])})
    for index in range(140):
        contact = rng.choice(contacts)
        status = rng.choice(["Not Started", "In Progress", "Completed", "Completed", "Waiting on someone else",
                             "Deferred"])
        due = today + dt.timedelta(days=rng.randint(-40, 30))
        create(contact["OwnerId"], "Task", {
            "Subject": f"{rng.choice(TASKS)} – {contact['LastName']}", "WhoId": contact["Id"],
            "WhatId": what(contact), "ActivityDate": format_date(due), "Status": status,
            "Priority": rng.choice(["High", "Normal", "Normal", "Low"]),
            "Description": "Mentioned during the last call." if index % 3 == 0 else None,
        })

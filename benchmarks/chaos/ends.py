"""Both ends of one sandbox user, reached from outside the product through the real clients: simple-salesforce as
the user (password grant) and the mailbox through tests/e2e/outlook.py (exchangelib with impersonation for EWS,
plain HTTPS for the Graph emulator).

Each ledger record is one Salesforce record and one Outlook item that carry the same key, with one value the chaos
run changes:

| object | key | value |
|---|---|---|
| contacts | LastName / surname (`C-u03-0042`) | Title / job title |
| events | Subject / subject (`E-u03-0042`) | Location / location |
| tasks | first word of Subject / subject (`T-u03-0042`) | the rest of the subject |

Every call may fail (the fault run is on); the ledger decides what a failure means by reading the end again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from exchangelib import BASIC, IMPERSONATION, Account, Build, Configuration, Credentials, Version
from exchangelib.indexed_properties import EmailAddress
from exchangelib.items import Contact
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession

from sandbox.demo import PASSWORD, SERVICE_ACCOUNT
from tests.e2e.outlook import FOLDER, EwsOutlook, GraphOutlook

OBJECTS = ("contacts", "events", "tasks")
KEY = re.compile(r"^[CET]-u\d+-\d+$")
SOBJECTS = {"contacts": "Contact", "events": "Event", "tasks": "Task"}
SOQL = {
    "contacts": "SELECT Id, LastName, Title FROM Contact",
    "events": "SELECT Id, Subject, Location FROM Event",
    "tasks": "SELECT Id, Subject FROM Task",
}


@dataclass(frozen=True)
class Item:
    key: str
    id: str
    value: str | None


def split_subject(subject: str | None) -> tuple[str, str | None]:
    key, _, rest = (subject or "").partition(" ")
    return key, rest or None


def http_session(ca_path: str) -> requests.Session:
    session = requests.Session()
    session.verify = ca_path
    session.trust_env = False
    return session


class SalesforceEnd:
    """The user's Salesforce, through simple-salesforce; logs in again when the session was expired."""

    name = "salesforce"

    def __init__(self, url: str, ca_path: str, username: str):
        self.url, self.ca_path, self.username = url, ca_path, username
        self.client: Salesforce | None = None

    def _login(self) -> Salesforce:
        http = http_session(self.ca_path)
        response = http.post(f"{self.url}/services/oauth2/token", data={
            "grant_type": "password", "client_id": "chaos", "username": self.username, "password": PASSWORD},
            timeout=120)
        response.raise_for_status()
        token = response.json()
        self.client = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=http,
                                 version="62.0")
        return self.client

    def _call(self, action):
        client = self.client or self._login()
        try:
            return action(client)
        except SalesforceExpiredSession:
            return action(self._login())

    def list(self, object_type: str) -> list[Item]:
        rows = self._call(lambda sf: sf.query_all(SOQL[object_type])["records"])
        items = []
        for row in rows:
            if object_type == "contacts":
                key, value = row["LastName"], row["Title"]
            elif object_type == "events":
                key, value = row["Subject"], row["Location"]
            else:
                key, value = split_subject(row["Subject"])
            if key and KEY.match(key):
                items.append(Item(key, row["Id"], value))
        return items

    def create(self, object_type: str, key: str, value: str, start: datetime) -> str:
        if object_type == "contacts":
            body = {"FirstName": "Chaos", "LastName": key, "Email": f"{key.lower()}@chaos.test", "Title": value}
        elif object_type == "events":
            body = {"Subject": key, "Location": value, "StartDateTime": start.isoformat(),
                    "EndDateTime": (start + timedelta(hours=1)).isoformat()}
        else:
            body = {"Subject": f"{key} {value}", "Status": "Not Started", "Priority": "Normal"}
        sobject = SOBJECTS[object_type]
        return self._call(lambda sf: getattr(sf, sobject).create(body))["id"]

    def update(self, object_type: str, item_id: str, key: str, value: str) -> None:
        field = {"contacts": "Title", "events": "Location", "tasks": "Subject"}[object_type]
        body = {field: f"{key} {value}" if object_type == "tasks" else value}
        sobject = SOBJECTS[object_type]
        self._call(lambda sf: getattr(sf, sobject).update(item_id, body))

    def delete(self, object_type: str, item_id: str) -> None:
        sobject = SOBJECTS[object_type]
        self._call(lambda sf: getattr(sf, sobject).delete(item_id))


class OutlookEnd:
    """The user's mailbox through the protocol that serves it; a new Graph token when the old one was expired."""

    name = "outlook"

    def __init__(self, protocol: str, mailbox: str, *, ews_endpoint: str, graph_url: str, graph_app: dict,
                 ca_path: str):
        self.protocol, self.mailbox = protocol, mailbox
        self.ews_endpoint, self.graph_url, self.graph_app, self.ca_path = ews_endpoint, graph_url, graph_app, ca_path
        self.client: EwsOutlook | GraphOutlook | None = None

    def _connect(self) -> EwsOutlook | GraphOutlook:
        if self.protocol == "graph":
            self.client = GraphOutlook(self.graph_url, self.graph_app, self.mailbox, self.ca_path)
        else:
            config = Configuration(service_endpoint=self.ews_endpoint, credentials=Credentials(SERVICE_ACCOUNT,
                                   PASSWORD), auth_type=BASIC, version=Version(build=Build(15, 1, 2507, 6)))
            self.client = EwsOutlook(Account(primary_smtp_address=self.mailbox, config=config, autodiscover=False,
                                             access_type=IMPERSONATION))
        return self.client

    def _call(self, action):
        client = self.client or self._connect()
        try:
            return action(client)
        except AssertionError as exc:  # GraphOutlook asserts on the status: a 401 is an expired token
            if " 401 " not in str(exc):
                raise
            return action(self._connect())

    def list(self, object_type: str) -> list[Item]:
        if object_type == "contacts":
            rows = self._call(lambda c: c.contacts())
            pairs = [(row["surname"], row["id"], row["job_title"]) for row in rows]
        elif object_type == "events":
            rows = self._call(lambda c: c.events())
            pairs = [(row["subject"], row["id"], row["location"]) for row in rows]
        else:
            rows = self._call(lambda c: c.tasks())
            pairs = [(*split_subject(row["subject"])[:1], row["id"], split_subject(row["subject"])[1]) for row in rows]
        return [Item(key, item_id, value or None) for key, item_id, value in pairs if key and KEY.match(key)]

    def has_folder(self) -> bool:
        """Whether the contacts' sync folder exists (the chaos run never makes it itself once the sync has)."""
        try:
            self._call(lambda c: c._folder())
        except Exception:  # noqa: BLE001 - either client's "not found"
            return False
        return True

    def create(self, object_type: str, key: str, value: str, start: datetime) -> str:
        if object_type == "contacts":
            return self._call(lambda c: self._create_contact(c, key, value))
        if object_type == "events":
            return self._call(lambda c: c.create_event(key, start, start + timedelta(hours=1), location=value))
        return self._call(lambda c: c.create_task(f"{key} {value}"))

    @staticmethod
    def _create_contact(client, key: str, value: str) -> str:
        email = f"{key.lower()}@chaos.test"
        if isinstance(client, GraphOutlook):
            body = {"givenName": "Chaos", "surname": key, "displayName": f"Chaos {key}", "jobTitle": value,
                    "emailAddresses": [{"address": email, "name": f"Chaos {key}"}]}
            return client._call("POST", f"contactFolders/{client._folder(create=True)}/contacts", body)["id"]
        contact = Contact(folder=client._folder(create=True), given_name="Chaos", surname=key,
                          display_name=f"Chaos {key}", job_title=value,
                          email_addresses=[EmailAddress(email=email, label="EmailAddress1")])
        contact.save()
        return contact.id

    def update(self, object_type: str, item_id: str, key: str, value: str) -> None:
        if object_type == "contacts":
            self._call(lambda c: c.update_contact(item_id, job_title=value))
        elif object_type == "events":
            self._call(lambda c: c.update_event(item_id, location=value))
        else:
            self._call(lambda c: c.update_task(item_id, subject=f"{key} {value}"))

    def delete(self, object_type: str, item_id: str) -> None:
        action = {"contacts": "delete_contact", "events": "delete_event", "tasks": "delete_task"}[object_type]
        self._call(lambda c: getattr(c, action)(item_id))

    def delete_sync_folder(self) -> None:
        """Delete the contacts' sync folder, as a user would in Outlook (the fault "deleted sync folder")."""
        def delete(client):
            if isinstance(client, GraphOutlook):
                client._call("DELETE", f"contactFolders/{client._folder()}")
            else:
                (client.account.contacts // FOLDER).delete()
        self._call(delete)

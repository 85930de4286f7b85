"""The EWS change feed against the sandbox's EWS emulator: streaming subscriptions held by `run_streams`, changes
made by exchangelib in a mailbox marking exactly that user's object dirty, echoes of the sync's own writes marking
nothing, gaps (an expired subscription, the feed's start) marking dirty, and `stop` ending the feed at once."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from datetime import timedelta

import pytest
import requests
from exchangelib import (
    IMPERSONATION,
    UTC,
    Account,
    Build,
    CalendarItem,
    Configuration,
    Contact,
    Credentials,
    EWSDateTime,
    FailFast,
    Task,
    Version,
)
from exchangelib.folders import Contacts
from exchangelib.transport import BASIC

from configurations.services import create_configuration
from sandbox.demo import PASSWORD, SERVICE_ACCOUNT
from sync.feeds.ews import EwsFeed, run_streams
from sync.models import MailboxSubscription, RecordLink
from users.models import SyncUser, UserObjectState
from users.services import add_sync_user, assign_users

pytestmark = pytest.mark.django_db(transaction=True)

OBJECTS = ("contacts", "events", "tasks")
_numbers = itertools.count(1)


def wait_for(condition, timeout: float = 15.0, what: str = "the condition"):
    """Poll `condition` until it answers something truthy (then answer it), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def dirty(user: SyncUser) -> set[str]:
    return set(UserObjectState.objects.filter(user=user, dirty_at__isnull=False).values_list("object", flat=True))


def clear_dirty() -> None:
    UserObjectState.objects.update(dirty_at=None, dirty_full=False)


class Person:
    """A synced user whose configuration syncs contacts, events and tasks, with a mailbox in the EWS emulator that
    the test reaches through unchanged exchangelib (its own protocol, as Outlook would be)."""

    def __init__(self, sandbox, configuration, *, contacts_folder: bool = True):
        n = next(_numbers)
        self.email = f"stream{n}-{uuid.uuid4().hex[:6]}@sandbox.test"
        sandbox.hub.exchange.create_mailbox(email=self.email, display_name=f"Stream {n}")
        self.user = add_sync_user({"salesforce_id": f"005{n:012d}", "username": self.email, "email": self.email})
        assign_users(configuration, [self.email])
        config = Configuration(service_endpoint=sandbox.ews_endpoint,
                               credentials=Credentials(SERVICE_ACCOUNT, PASSWORD), auth_type=BASIC,
                               version=Version(build=Build(15, 1, 2507)), retry_policy=FailFast())
        self.account = Account(primary_smtp_address=self.email, config=config, autodiscover=False,
                               access_type=IMPERSONATION, default_timezone=UTC)
        if contacts_folder:
            Contacts(parent=self.account.contacts, name="Salesforce_Sync").save()

    @property
    def contacts_folder(self):
        return self.account.contacts // "Salesforce_Sync"

    def create(self, name: str):
        subject = f"item {uuid.uuid4().hex[:6]}"
        if name == "contacts":
            item = Contact(folder=self.contacts_folder, given_name="Ada", surname=subject, display_name=subject)
        elif name == "events":
            start = EWSDateTime.now(tz=UTC).replace(microsecond=0) + timedelta(days=1)
            item = CalendarItem(folder=self.account.calendar, subject=subject, start=start,
                                end=start + timedelta(hours=1))
        else:
            item = Task(folder=self.account.tasks, subject=subject)
        item.save()
        return item

    def rows(self) -> dict[str, MailboxSubscription]:
        return {r.object: r for r in MailboxSubscription.objects.filter(user=self.user, protocol="ews")}


@pytest.fixture
def configuration(connected):
    return create_configuration({"name": f"Streams {uuid.uuid4().hex[:6]}", "data_settings": {
        name: {"direction": "both", "conflict_behavior": "salesforce_wins"} for name in OBJECTS}})


class RunningFeed:
    def __init__(self):
        self.stop = threading.Event()
        self.thread = threading.Thread(target=run_streams, args=(self.stop,), daemon=True)
        self.thread.start()

    def end(self, within: float = 3.0) -> float:
        started = time.monotonic()
        self.stop.set()
        self.thread.join(timeout=within)
        assert not self.thread.is_alive(), f"run_streams did not end within {within} s of stop"
        return time.monotonic() - started


@pytest.fixture
def start_feed(settings):
    settings.EWS_STREAM_RECONCILE_SECONDS = 1
    settings.EWS_STREAM_CONNECTION_MINUTES = 1
    feeds: list[RunningFeed] = []

    def start() -> RunningFeed:
        feeds.append(RunningFeed())
        return feeds[-1]

    yield start
    for running in feeds:
        if running.thread.is_alive():
            running.end()


def subscribed(*people: Person) -> bool:
    """Every object of these people has an active subscription and was marked dirty by the feed's start."""
    for person in people:
        rows = person.rows()
        if set(rows) != set(OBJECTS) or any(r.state != "active" or not r.subscription_id for r in rows.values()):
            return False
        if dirty(person.user) != set(OBJECTS):
            return False
    return True


def test_changes_mark_exactly_that_users_object_dirty(connected, configuration, start_feed, settings):
    settings.EWS_STREAM_GROUP_SIZE = 4  # six subscriptions: two connections, each with both users' folders
    ada, ben = Person(connected, configuration), Person(connected, configuration)
    clear_dirty()
    start_feed()
    wait_for(lambda: subscribed(ada, ben), what="both users subscribed and marked dirty at the start")
    clear_dirty()

    for name in OBJECTS:
        item = ada.create(name)
        wait_for(lambda: dirty(ada.user), what=f"a created {name} item marking Ada dirty")
        assert dirty(ada.user) == {name} and dirty(ben.user) == set()
        clear_dirty()

        item.refresh()
        if name == "contacts":
            item.job_title = "Engineer"
        else:
            item.body = "changed"
        item.save()
        wait_for(lambda: dirty(ada.user), what=f"an updated {name} item marking Ada dirty")
        assert dirty(ada.user) == {name} and dirty(ben.user) == set()
        clear_dirty()

        item.delete()
        wait_for(lambda: dirty(ada.user), what=f"a deleted {name} item marking Ada dirty")
        assert dirty(ada.user) == {name} and dirty(ben.user) == set()
        clear_dirty()

    ben.create("tasks")
    wait_for(lambda: dirty(ben.user), what="Ben's task marking Ben dirty")
    assert dirty(ben.user) == {"tasks"} and dirty(ada.user) == set()
    assert all(r.last_event_at is not None for r in ada.rows().values())


def test_an_echo_of_the_syncs_own_write_marks_nothing(connected, configuration, start_feed, monkeypatch):
    ada = Person(connected, configuration)
    gate, handled = threading.Event(), []  # handled: the (item id, change key) of each event the feed handled
    gate.set()
    original = EwsFeed.on_events

    def gated(self, events):
        events = list(events)
        gate.wait(timeout=30)
        original(self, events)
        handled.extend((e.item_id, e.change_key) for e in events)

    monkeypatch.setattr(EwsFeed, "on_events", gated)
    start_feed()
    wait_for(lambda: subscribed(ada), what="Ada subscribed")
    clear_dirty()
    contact = ada.create("contacts")
    wait_for(lambda: (contact.id, contact.changekey) in handled, what="the contact's creation handled")
    assert dirty(ada.user) == {"contacts"}
    clear_dirty()

    # The sync writes the contact and stores the change key it got back before the event is handled.
    gate.clear()
    contact.job_title = "Written by the sync"
    contact.save()
    RecordLink.objects.create(user=ada.user, object="contacts", salesforce_id="003000000000001",
                              outlook_id=contact.id, outlook_version=contact.changekey)
    gate.set()
    wait_for(lambda: (contact.id, contact.changekey) in handled, what="the echo's event handled")
    assert dirty(ada.user) == set()

    # The same item changed by someone else (a change key the link does not have) is a change.
    contact.job_title = "Changed in Outlook"
    contact.save()
    wait_for(lambda: dirty(ada.user), what="a change by someone else marking Ada dirty")
    assert dirty(ada.user) == {"contacts"}


def emulated_subscriptions(sandbox, email: str) -> set[str]:
    """The ids of the streaming subscriptions the EWS emulator holds for a mailbox (its control API)."""
    return {s["id"] for s in _listing(sandbox, email)}


def _listing(sandbox, email: str) -> list[dict]:
    response = requests.get(f"{sandbox.exchange_url}/_sandbox/ews/subscriptions", params={"mailbox": email},
                            verify=str(sandbox.ca_path), timeout=10)
    response.raise_for_status()
    return response.json()["subscriptions"]


def test_an_expired_subscription_is_subscribed_again_and_marks_dirty(connected, configuration, start_feed):
    ada, ben = Person(connected, configuration), Person(connected, configuration)
    start_feed()
    wait_for(lambda: subscribed(ada, ben), what="both users subscribed")
    clear_dirty()
    before = {name: row.subscription_id for name, row in ada.rows().items()}

    response = requests.post(f"{connected.exchange_url}/_sandbox/ews/subscriptions/expire",
                             json={"mailbox": ada.email}, verify=str(connected.ca_path), timeout=10)
    assert response.ok, response.text

    wait_for(lambda: dirty(ada.user) == set(OBJECTS), what="Ada's objects marked dirty after the gap")
    assert dirty(ben.user) == set()
    renewed = wait_for(lambda: (rows := ada.rows()) and all(
        r.state == "active" and r.subscription_id != before[n] for n, r in rows.items()) and rows,
        what="Ada's subscriptions renewed")
    assert {r.subscription_id for r in renewed.values()} <= emulated_subscriptions(connected, ada.email)

    # The renewed subscriptions are read again: a change is seen.
    clear_dirty()
    ada.create("tasks")
    wait_for(lambda: dirty(ada.user), what="a task in the renewed subscription marking Ada dirty")
    assert dirty(ada.user) == {"tasks"}


def test_stop_ends_the_feed_promptly_with_streams_open(connected, configuration, start_feed):
    ada = Person(connected, configuration)
    running = start_feed()
    wait_for(lambda: subscribed(ada), what="Ada subscribed")
    streams = wait_for(lambda: [t for t in threading.enumerate() if t.name.startswith("ews-stream-")],
                       what="a stream open")
    assert running.end(within=3.0) < 3.0
    for thread in streams:
        thread.join(timeout=3.0)
        assert not thread.is_alive(), "a reader thread outlived the feed"


def test_a_user_no_longer_synced_loses_the_subscription(connected, configuration, start_feed):
    ada, ben = Person(connected, configuration), Person(connected, configuration)
    start_feed()
    wait_for(lambda: subscribed(ada, ben), what="both users subscribed")
    ben_ids = {r.subscription_id for r in ben.rows().values()}
    assert ben_ids <= emulated_subscriptions(connected, ben.email)

    SyncUser.objects.filter(pk=ben.user.pk).update(active=False)
    wait_for(lambda: not ben.rows(), what="Ben's subscription rows deleted")
    wait_for(lambda: not ben_ids & emulated_subscriptions(connected, ben.email),
             what="Ben's subscriptions ended at Exchange")
    assert set(ada.rows()) == set(OBJECTS)

    # Only the objects the effective configuration syncs are followed.
    ada_ids = {n: r.subscription_id for n, r in ada.rows().items()}
    contacts_only = create_configuration({"name": f"Contacts {uuid.uuid4().hex[:6]}", "data_settings": {
        "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}}})
    assign_users(contacts_only, [ada.email])
    wait_for(lambda: set(ada.rows()) == {"contacts"}, what="Ada's event and task subscriptions dropped")
    assert ada.rows()["contacts"].subscription_id == ada_ids["contacts"]
    clear_dirty()
    ben.create("tasks")
    ada.create("tasks")
    ada.create("contacts")
    wait_for(lambda: dirty(ada.user), what="Ada's contact marking her dirty")
    assert dirty(ada.user) == {"contacts"} and dirty(ben.user) == set()


def test_a_folder_that_cannot_be_subscribed_is_a_failed_row_with_the_reason(connected, configuration, start_feed,
                                                                            settings):
    settings.EWS_STREAM_RETRY_SECONDS = 1
    ada = Person(connected, configuration, contacts_folder=False)  # no Salesforce_Sync folder yet
    start_feed()
    # The first reconcile saves the rows as it goes and marks the subscribed objects dirty (the feed's start is a
    # gap) at its end: wait for those marks too, or they could land after the clear_dirty below.
    rows = wait_for(lambda: (rows := ada.rows()) and set(rows) == set(OBJECTS) and rows["contacts"].state == "failed"
                    and rows["events"].state == rows["tasks"].state == "active"
                    and dirty(ada.user) == {"events", "tasks"} and rows, what="Ada's rows and the start's marks")
    message = rows["contacts"].error_message
    assert "'Salesforce_Sync' is missing" in message and message.endswith(".") and not rows["contacts"].subscription_id

    # Once the folder exists (the first sync creates it), the retry subscribes it and marks the object dirty.
    clear_dirty()
    Contacts(parent=ada.account.contacts, name="Salesforce_Sync").save()
    wait_for(lambda: ada.rows()["contacts"].state == "active", what="the contacts folder subscribed on a retry")
    assert dirty(ada.user) == {"contacts"} and ada.rows()["contacts"].error_message == ""
    ada.create("contacts")
    clear_dirty()
    ada.create("contacts")
    wait_for(lambda: dirty(ada.user), what="a contact in the new folder marking Ada dirty")


def test_a_broken_stream_marks_its_objects_dirty_and_is_opened_again(connected, configuration, start_feed, settings):
    settings.EWS_STREAM_BACKOFF_MAX_SECONDS = 1
    ada = Person(connected, configuration)
    control = f"{connected.exchange_url}/_sandbox/faults"
    response = requests.post(control, json={"operation": "GetStreamingEvents", "status": 200, "count": 5,
                                            "error_code": "ErrorInternalServerTransientError"},
                             verify=str(connected.ca_path), timeout=10)
    assert response.status_code == 201, response.text
    try:
        start_feed()
        wait_for(lambda: subscribed(ada), what="Ada subscribed")
        clear_dirty()
        # Each failed attempt is a gap for what the stream covers.
        wait_for(lambda: dirty(ada.user) == set(OBJECTS), what="the broken stream marking Ada's objects dirty")
        wait_for(lambda: all(f["remaining"] == 0 for f in requests.get(
            control, verify=str(connected.ca_path), timeout=10).json()["faults"]), what="the faults used up")
        assert all(r.state == "active" for r in ada.rows().values())
        # The stream is open again: a change is seen.
        wait_for(lambda: all(s["connected"] for s in _listing(connected, ada.email)), what="the stream reopened")
        clear_dirty()
        ada.create("events")
        wait_for(lambda: dirty(ada.user), what="an event marking Ada dirty after the stream was reopened")
        assert dirty(ada.user) == {"events"}
    finally:
        requests.delete(control, verify=str(connected.ca_path), timeout=10)



def stream_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ews-stream-") and t.is_alive()]


def test_small_connections_merge_without_losing_a_change(connected, configuration, start_feed, settings):
    """Ben, added while the feed runs, gets a connection of his own at once; the two half-full connections then
    merge into one at their natural ends (one minute here), and every change made meanwhile is seen."""
    settings.EWS_STREAM_GROUP_SIZE = 6
    ada = Person(connected, configuration)
    start_feed()
    wait_for(lambda: subscribed(ada), what="Ada subscribed")
    ben = Person(connected, configuration)
    wait_for(lambda: subscribed(ben), what="Ben subscribed while the feed runs")
    wait_for(lambda: len(stream_threads()) == 2, what="Ben's own connection opened at once")

    # The emulator's clock runs ahead ten seconds per round of changes, so that the connections' one-minute
    # ConnectionTimeout comes in a few seconds instead of a minute of waiting, with changes made all along.
    registry = connected.hub.exchange.subscriptions
    ahead = [0.0]
    registry.clock = lambda: time.monotonic() + ahead[0]
    try:
        deadline = time.monotonic() + 200
        changes = 0
        while len(stream_threads()) > 1:
            assert time.monotonic() < deadline, "the two connections were not merged"
            for person in (ada, ben):
                clear_dirty()
                person.create("tasks")
                changes += 1
                wait_for(lambda p=person: dirty(p.user) == {"tasks"}, timeout=10, what=f"change {changes} seen")
            ahead[0] += 10
    finally:
        registry.clock = time.monotonic
    assert changes > 2
    listing = _listing(connected, ada.email) + _listing(connected, ben.email)
    assert len(listing) == 6 and all(s["connected"] for s in listing)
    clear_dirty()
    ben.create("contacts")
    wait_for(lambda: dirty(ben.user), what="Ben's contact over the merged connection")
    assert dirty(ben.user) == {"contacts"} and dirty(ada.user) == set()

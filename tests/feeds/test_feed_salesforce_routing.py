"""The Salesforce org feed (sync.feeds.salesforce) against the sandbox's Salesforce emulator: changes made from
outside (simple-salesforce, as their owners or as an administrator) mark exactly the right users' objects dirty,
echoes of the sync's own writes mark nothing, and a quiet poll costs one call per object."""

import uuid
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from simple_salesforce import Salesforce

from sandbox.demo import PASSWORD
from sandbox.services import INTEGRATION_USER
from sync.feeds.salesforce import poll_feeds
from sync.models import ChangeFeed, RecordLink
from tests.factories import make_configuration
from users.models import UserObjectState
from users.services import add_sync_user, assign_users, ensure_object_states

pytestmark = pytest.mark.django_db

BOTH = {"direction": "both", "conflict_behavior": "salesforce_wins"}
STEP = timedelta(seconds=31)  # just past SALESFORCE_FEED_SECONDS: every poll of a test is due


def _http(sandbox) -> requests.Session:
    session = requests.Session()
    session.verify, session.trust_env = str(sandbox.ca_path), False
    return session


def api_as(sandbox, username: str) -> Salesforce:
    """simple-salesforce signed in as a sandbox user (the password grant), to change data from outside."""
    token = _http(sandbox).post(f"{sandbox.salesforce_url}/services/oauth2/token", data={
        "grant_type": "password", "client_id": "tests", "username": username, "password": PASSWORD}).json()
    return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=_http(sandbox),
                      version="62.0")


class Org:
    """The sandbox org, a clock for the polls, and helpers to make synced users and read their dirty marks."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.admin = api_as(sandbox, INTEGRATION_USER)  # a Sales Manager: sees and edits every record
        self.now = timezone.now()

    def person(self, scope: str | None = "my_contacts", objects=("contacts",)):
        """A Salesforce user, synced (contacts in `scope`) when `scope` is given; answers (SyncUser or None, id)."""
        email = f"feed{uuid.uuid4().hex[:8]}@sandbox.test"
        created = self.sandbox.hub.create_user(username=email, email=email, first_name="Fay", last_name="Feed",
                                               profile="Standard User")
        if scope is None:
            return None, created["salesforce_id"]
        user = add_sync_user({"salesforce_id": created["salesforce_id"], "username": email, "email": email,
                              "profile": "Standard User"})
        configuration = make_configuration(data_settings=dict.fromkeys(objects, BOTH),
                                           data_sets={"contacts": {"scope": scope}})
        assign_users(configuration, [user.pk])
        ensure_object_states([user])
        return user, created["salesforce_id"]

    def poll(self) -> float:
        self.now += STEP
        return poll_feeds(now=self.now)

    def start(self) -> None:
        """The first poll (the feed starts at now), then no user dirty: each test sees only its own change."""
        poll_feeds(now=self.now)
        UserObjectState.objects.update(dirty_at=None, dirty_full=False)

    def contact(self, owner_id: str, **fields) -> str:
        return self.admin.Contact.create({"LastName": f"C{uuid.uuid4().hex[:6]}", "OwnerId": owner_id,
                                          **fields})["id"]

    def stamp(self, contact_id: str) -> str:
        return self.admin.Contact.get(contact_id)["SystemModstamp"]


def dirty(object_type: str = "contacts") -> set[int]:
    return set(UserObjectState.objects.filter(object=object_type, dirty_at__isnull=False)
               .values_list("user_id", flat=True))


def link(user, salesforce_id: str, version: str = "2026-01-01T00:00:00.000+0000") -> RecordLink:
    return RecordLink.objects.create(user=user, object="contacts", salesforce_id=salesforce_id,
                                     outlook_id=f"AAMk{uuid.uuid4().hex}", salesforce_version=version)


@pytest.fixture
def org(connected) -> Org:
    return Org(connected)


def test_a_contact_changed_in_salesforce_marks_exactly_its_owners_contacts(org):
    ann, ann_id = org.person(objects=("contacts", "events"))
    bob, _ = org.person()
    org.start()
    contact = org.contact(ann_id)
    org.poll()
    assert dirty() == {ann.pk}
    assert dirty("events") == set()
    feed = ChangeFeed.objects.get(kind="salesforce", key="contacts")
    assert feed.state == ChangeFeed.State.HEALTHY and feed.last_change_at == org.now

    UserObjectState.objects.update(dirty_at=None)
    org.admin.Contact.update(contact, {"Title": "CTO"})
    org.poll()
    assert dirty() == {ann.pk}
    UserObjectState.objects.update(dirty_at=None)
    org.poll()  # the same change read again inside the overlap window is not routed twice
    assert dirty() == set()
    assert bob.pk not in dirty()


def test_contacts_on_my_accounts_route_to_the_account_owner(org):
    cleo, cleo_id = org.person(scope="my_accounts_contacts")
    mine, _ = org.person(scope="my_contacts")
    _, outsider_id = org.person(scope=None)  # owns the contact, syncs nothing
    account = org.admin.Account.create({"Name": "Cleo's account", "OwnerId": cleo_id})["id"]
    org.start()
    org.contact(outsider_id, AccountId=account)
    org.poll()
    assert dirty() == {cleo.pk}
    assert mine.pk not in dirty()


def test_all_i_can_see_marks_every_user_with_that_scope(org):
    wide, _ = org.person(scope="all_visible")
    writer, _ = org.person(scope="all_visible")
    narrow, _ = org.person(scope="my_contacts")
    _, outsider_id = org.person(scope=None)
    org.start()
    org.contact(outsider_id)
    org.poll()
    assert dirty() == {wide.pk, writer.pk}
    assert narrow.pk not in dirty()

    UserObjectState.objects.update(dirty_at=None)
    contact = org.contact(outsider_id)
    link(writer, contact, org.stamp(contact))  # the writer's own sync created it: an echo for the writer only
    org.poll()
    assert dirty() == {wide.pk}


def test_an_owner_change_marks_the_old_owner_through_the_link_and_the_new(org):
    old, old_id = org.person()
    new, new_id = org.person()
    bystander, _ = org.person()
    contact = org.contact(old_id)
    link(old, contact, org.stamp(contact))
    org.start()
    org.admin.Contact.update(contact, {"OwnerId": new_id})
    org.poll()
    assert dirty() == {old.pk, new.pk}
    assert bystander.pk not in dirty()


def test_a_deletion_marks_the_user_holding_the_copy(org):
    holder, _ = org.person()
    _, outsider_id = org.person(scope=None)
    other, _ = org.person()
    contact = org.contact(outsider_id)
    link(holder, contact, org.stamp(contact))
    org.start()
    org.admin.Contact.delete(contact)
    org.poll()
    assert dirty() == {holder.pk}
    assert other.pk not in dirty()


def test_an_echo_of_the_syncs_own_write_marks_nothing(org):
    ann, ann_id = org.person()
    contact = org.contact(ann_id)
    org.start()
    org.admin.Contact.update(contact, {"Title": "Written by the sync"})
    link(ann, contact, org.stamp(contact))  # what the Salesforce side stores after its write: the SystemModstamp
    org.poll()
    assert dirty() == set()
    org.admin.Contact.update(contact, {"Title": "Changed by a person"})
    org.poll()
    assert dirty() == {ann.pk}


def test_a_quiet_poll_marks_nothing_and_costs_one_call_per_object(org):
    org.person(objects=("contacts", "events", "tasks"))
    org.start()
    org.poll()  # the overlap window of the first poll is behind us now
    feeds = {feed.key: feed.api_calls for feed in ChangeFeed.objects.filter(kind="salesforce")}
    assert set(feeds) == {"contacts", "events", "tasks"}
    before = _http(org.sandbox).get(f"{org.sandbox.salesforce_url}/_sandbox/stats").json()

    org.now += timedelta(minutes=1)
    org.poll()

    after = _http(org.sandbox).get(f"{org.sandbox.salesforce_url}/_sandbox/stats").json()
    assert {feed.key: feed.api_calls - feeds[feed.key] for feed in ChangeFeed.objects.filter(kind="salesforce")} == {
        "contacts": 1, "events": 1, "tasks": 1}
    assert after["calls_by_user"][INTEGRATION_USER] - before["calls_by_user"][INTEGRATION_USER] == 3
    assert dirty() == dirty("events") == dirty("tasks") == set()
    feed = ChangeFeed.objects.get(kind="salesforce", key="tasks")
    assert sum(feed.cursor["calls_by_hour"].values()) == feed.api_calls
    assert feed.cursor["api_usage"]["allocation"] > 0
    assert feed.state == ChangeFeed.State.HEALTHY and feed.lag_seconds < 150

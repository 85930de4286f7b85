"""A change that starts or stops an object for users sets their object states in the same transaction (issue 15
item 1): `disabled`, with the reason, when nothing syncs it for the user; `not_started`, due at once, when a change
starts it again. Configurations (create, update, delete), assignments, profiles and the import all go through
``users.services.refresh_object_states``; the dispatcher re-applies it to runs that ended under the old
configuration."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.utils import timezone

from configurations.services import create_configuration, delete_configuration, update_configuration
from configurations.validation import ConfigurationInvalid
from sync.dispatch import dispatch_due
from sync.reports import overview
from tests.factories import make_user
from users import operations
from users.models import SyncState, SyncUser, UserObjectState
from users.services import add_sync_user, assign_users, unassign_users

pytestmark = pytest.mark.django_db

BOTH = {"direction": "both", "conflict_behavior": "salesforce_wins"}
NONE = {"direction": "none"}


def everything(name: str, **values):
    return create_configuration(
        {"name": name, "data_settings": dict.fromkeys(("contacts", "events", "tasks"), BOTH), **values}
    )


def states(user) -> dict[str, str]:
    return dict(UserObjectState.objects.filter(user=user).values_list("object", "state"))


def row(user, sync_object: str) -> UserObjectState:
    return UserObjectState.objects.get(user=user, object=sync_object)


def synced_a_while_ago(*users):
    """Each user's synced objects in sync five minutes ago, due again in five minutes."""
    now = timezone.now()
    UserObjectState.objects.filter(user__in=users).exclude(state=SyncState.DISABLED).update(
        state=SyncState.IN_SYNC,
        next_due_at=now + timedelta(minutes=5),
        last_success_at=now - timedelta(minutes=5),
        salesforce_watermark=now - timedelta(minutes=5),
        consecutive_failures=0,
    )


def test_narrowing_a_configuration_disables_the_object_for_every_user_it_applies_to():
    sales = everything("Sales", profiles=["Sales Rep"])
    by_profile = make_user(profile="Sales Rep")
    direct = make_user(profile="Other", configuration=sales)
    bystander = make_user(profile="Other", configuration=everything("Other"))
    synced_a_while_ago(by_profile, direct, bystander)

    update_configuration(sales, {"data_settings": {"events": NONE}})

    for user in (by_profile, direct):
        assert states(user) == {"contacts": "in_sync", "events": "disabled", "tasks": "in_sync"}
        events = row(user, "events")
        assert events.next_due_at is None
        assert events.last_error_code == "object_not_synced"
        assert events.last_error_message == (
            "The configuration 'Sales' does not sync events. Change its data setting for events to sync them."
        )
        assert events.last_success_at is not None and events.salesforce_watermark is not None  # history kept
    assert set(states(bystander).values()) == {"in_sync"}


def test_widening_it_again_makes_the_object_not_started_and_due_at_once():
    sales = everything("Sales", profiles=["Sales Rep"])
    user = make_user(profile="Sales Rep")
    synced_a_while_ago(user)
    update_configuration(sales, {"data_settings": {"tasks": NONE}})
    assert states(user)["tasks"] == "disabled"

    update_configuration(sales, {"data_settings": {"tasks": BOTH}})

    tasks = row(user, "tasks")
    assert (tasks.state, tasks.next_due_at, tasks.last_error_code, tasks.last_error_message) == (
        "not_started",
        None,
        "",
        "",
    )
    assert states(user)["contacts"] == "in_sync"  # untouched
    assert [r.object for r in dispatch_due().runs] == ["tasks"]


def test_deactivating_and_reactivating_a_configuration():
    sales = everything("Sales", profiles=["Sales Rep"])
    user = make_user(profile="Sales Rep")
    synced_a_while_ago(user)

    update_configuration(sales, {"active": False})
    assert set(states(user).values()) == {"disabled"}
    assert row(user, "contacts").last_error_code == "not_assigned"
    assert "no active configuration applies" in row(user, "contacts").last_error_message

    update_configuration(sales, {"active": True})
    assert set(states(user).values()) == {"not_started"}


def test_a_profile_taken_off_a_configuration_disables_its_users_and_one_put_on_starts_them():
    sales = everything("Sales", profiles=["Sales Rep", "Manager"])
    rep, manager = make_user(profile="Sales Rep"), make_user(profile="Manager")
    synced_a_while_ago(rep, manager)

    update_configuration(sales, {"profiles": ["Manager"]})
    assert set(states(rep).values()) == {"disabled"}
    assert set(states(manager).values()) == {"in_sync"}

    update_configuration(sales, {"profiles": ["Manager", "Sales Rep"]})
    assert set(states(rep).values()) == {"not_started"}


def test_a_new_configuration_starts_its_profiles_users_objects():
    user = make_user(profile="Sales Rep")
    assert set(states(user).values()) == {"disabled"}  # nothing applies to them yet
    create_configuration({"name": "Sales", "profiles": ["Sales Rep"], "data_settings": {"contacts": BOTH}})
    assert states(user) == {"contacts": "not_started", "events": "disabled", "tasks": "disabled"}


def test_deleting_a_configuration_disables_its_users_or_falls_back_to_their_profiles():
    everything("Fallback", profiles=["Sales Rep"])
    pilot = create_configuration({"name": "Pilot", "data_settings": {"contacts": BOTH, "events": BOTH}})
    falls_back = make_user(profile="Sales Rep", configuration=pilot)
    stranded = make_user(profile="Other", configuration=pilot)
    synced_a_while_ago(falls_back, stranded)
    UserObjectState.objects.filter(user=falls_back, object="tasks").update(state=SyncState.DISABLED)

    delete_configuration(pilot)

    # The fallback configuration syncs tasks too: what was disabled starts, what synced goes on.
    assert states(falls_back) == {"contacts": "in_sync", "events": "in_sync", "tasks": "not_started"}
    assert set(states(stranded).values()) == {"disabled"}


def test_assigning_moving_and_unassigning_users():
    contacts_only = create_configuration({"name": "Contacts", "data_settings": {"contacts": BOTH}})
    events_only = create_configuration({"name": "Events", "data_settings": {"events": BOTH}})
    user = make_user(profile="Other")
    assert set(states(user).values()) == {"disabled"}

    assign_users(contacts_only, [user.username])
    assert states(user) == {"contacts": "not_started", "events": "disabled", "tasks": "disabled"}
    synced_a_while_ago(user)

    assign_users(events_only, [user.username])  # moves the user
    assert states(user) == {"contacts": "disabled", "events": "not_started", "tasks": "disabled"}

    unassign_users(events_only, [user.username])
    assert set(states(user).values()) == {"disabled"}


def test_an_invalid_change_changes_no_state():
    sales = everything("Sales", profiles=["Sales Rep"])
    user = make_user(profile="Sales Rep")
    synced_a_while_ago(user)
    with pytest.raises(ConfigurationInvalid):
        update_configuration(sales, {"data_settings": {"events": NONE}, "sync_interval_minutes": 0})
    assert set(states(user).values()) == {"in_sync"}


def test_states_change_in_the_same_transaction_as_the_configuration():
    sales = everything("Sales", profiles=["Sales Rep"])
    user = make_user(profile="Sales Rep")
    synced_a_while_ago(user)
    with pytest.raises(RuntimeError), transaction.atomic():
        update_configuration(sales, {"data_settings": {"events": NONE}})
        assert states(user)["events"] == "disabled"
        raise RuntimeError("the surrounding transaction fails")
    assert states(user)["events"] == "in_sync"


def test_the_import_disables_users_whose_profile_lost_its_configuration_or_who_left(monkeypatch):
    everything("Sales", profiles=["Sales Rep"])
    moved, left, renamed = (
        make_user(f"{name}@example.com", profile="Sales Rep") for name in ("moved", "left", "renamed")
    )
    synced_a_while_ago(moved, left, renamed)
    people = [
        SimpleNamespace(
            id=moved.salesforce_id, username=moved.username, email=moved.email, name="Moved", profile="Intern"
        ),
        SimpleNamespace(
            id=renamed.salesforce_id,
            username=renamed.username,
            email=renamed.email,
            name="A new name",
            profile="Sales Rep",
        ),
    ]
    monkeypatch.setattr(operations, "integration_username", lambda: "integration@example.com")
    monkeypatch.setattr(
        operations, "salesforce_client", lambda username: SimpleNamespace(list_active_users=lambda: people)
    )

    operations.import_users()

    assert set(states(moved).values()) == {"disabled"}
    assert set(states(left).values()) == {"disabled"}
    assert row(left, "contacts").last_error_code == "user_inactive"
    assert set(states(renamed).values()) == {"in_sync"}


def test_the_dispatcher_disables_an_object_whose_run_ended_after_the_change(enqueued):
    sales = everything("Sales", profiles=["Sales Rep"])
    user = make_user(profile="Sales Rep")
    synced_a_while_ago(user)
    update_configuration(sales, {"data_settings": {"events": NONE}})
    # A run that began before the change ends under the old configuration and writes "in sync, due again".
    UserObjectState.objects.filter(user=user, object="events").update(
        state=SyncState.IN_SYNC, next_due_at=timezone.now() - timedelta(seconds=1)
    )

    runs = dispatch_due().runs

    assert states(user)["events"] == "disabled"
    assert runs == []


def test_the_dashboard_counts_what_a_narrowed_configuration_stopped():
    sales = everything("Sales", profiles=["Sales Rep"])
    users = [make_user(profile="Sales Rep") for _ in range(3)]
    synced_a_while_ago(*users)
    update_configuration(sales, {"data_settings": {"events": NONE}})
    counts = overview(timezone.now()).states
    assert counts["disabled"] == 3 and counts["in_sync"] == 6
    assert SyncUser.objects.count() == 3


def test_a_user_assigned_to_a_configuration_that_skips_an_object_is_told_why():
    """Added unassigned (every object disabled: not assigned), then assigned to a configuration that syncs contacts
    only: events and tasks stay disabled, now because that configuration does not sync them."""
    user = add_sync_user({"salesforce_id": "005000000000777", "username": "why@example.com",
                          "email": "why@example.com", "profile": "Nobody's profile"})
    assert {s.last_error_code for s in user.object_states.all()} == {"not_assigned"}
    configuration = create_configuration({"name": "Contacts only", "data_settings": {
        "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}}})
    assign_users(configuration, [user.username])
    states = {s.object: s for s in user.object_states.all()}
    assert states["contacts"].state == SyncState.NOT_STARTED
    assert states["events"].state == SyncState.DISABLED and states["events"].last_error_code == "object_not_synced"
    assert "Contacts only" in states["tasks"].last_error_message

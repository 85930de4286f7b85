"""Effective configuration: direct beats profile, a second direct assignment moves, inactive assigns nobody.
The one-user function and the queryset annotation must always agree (one rule)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from configurations import services as configuration_services
from configurations.models import OutlookConfiguration
from tests.factories import make_configuration, make_user
from users import services as user_services
from users.models import SyncUser
from users.services import effective_configuration, with_effective_configuration

pytestmark = pytest.mark.django_db


def effective(user):
    found = effective_configuration(user)
    return (found.configuration.name, found.via) if found else None


def test_no_assignment_no_configuration():
    assert effective(make_user(profile="Nobody's")) is None


def test_profile_assignment():
    make_configuration("Sales", profiles=["Sales Rep"])
    assert effective(make_user(profile="Sales Rep")) == ("Sales", "profile")


def test_direct_assignment_wins_over_profile():
    make_configuration("Sales", profiles=["Sales Rep"])
    direct = make_configuration("Pilot")
    assert effective(make_user(profile="Sales Rep", configuration=direct)) == ("Pilot", "user")


def test_assigning_to_a_second_configuration_moves_the_user():
    first, second = make_configuration("First"), make_configuration("Second")
    user = make_user()
    user_services.assign_users(first, [user.pk])
    user_services.assign_users(second, [user.pk])
    assert effective(user) == ("Second", "user")
    assert SyncUser.objects.filter(configuration=first).count() == 0


def test_an_inactive_profile_configuration_assigns_nobody():
    make_configuration("Sales", profiles=["Sales Rep"], active=False)
    assert effective(make_user(profile="Sales Rep")) is None


def test_an_inactive_direct_configuration_assigns_nobody_not_even_the_profile_one():
    make_configuration("Sales", profiles=["Sales Rep"])
    paused = make_configuration("Paused", active=False)
    assert effective(make_user(profile="Sales Rep", configuration=paused)) is None


def test_reactivating_restores_it():
    paused = make_configuration("Paused", active=False)
    user = make_user(configuration=paused)
    configuration_services.update_configuration(paused, {"active": True})
    assert effective(user) == ("Paused", "user")


def test_removing_the_direct_assignment_falls_back_to_the_profile():
    make_configuration("Sales", profiles=["Sales Rep"])
    pilot = make_configuration("Pilot")
    user = make_user(profile="Sales Rep", configuration=pilot)
    user_services.unassign_users(pilot, [user.pk])
    assert effective(user) == ("Sales", "profile")


def test_the_function_accepts_an_id_and_a_missing_user():
    make_configuration("Sales", profiles=["Sales Rep"])
    user = make_user(profile="Sales Rep")
    assert effective_configuration(user.pk).as_dict()["via"] == "profile"
    assert effective_configuration(987654) is None


def test_queryset_annotation_in_one_query(django_assert_num_queries):
    sales = make_configuration("Sales", profiles=["Sales Rep"])
    pilot = make_configuration("Pilot")
    for _ in range(5):
        make_user(profile="Sales Rep")
        make_user(profile="Sales Rep", configuration=pilot)
        make_user(profile="Other")
    with django_assert_num_queries(1):
        rows = list(with_effective_configuration().values_list("effective_configuration_id", "effective_via"))
    assert sorted(rows, key=str) == sorted([(sales.pk, "profile")] * 5 + [(pilot.pk, "user")] * 5
                                           + [(None, None)] * 5, key=str)


def test_dispatcher_candidates():
    make_configuration("Sales", profiles=["Sales Rep"])
    due = make_user(profile="Sales Rep")
    make_user(profile="Sales Rep", active=False)
    make_user(profile="Other")
    candidates = with_effective_configuration(SyncUser.objects.filter(active=True)).filter(
        effective_configuration_id__isnull=False
    )
    assert list(candidates) == [due]


class TestOneRule(HypothesisTestCase):
    """Random worlds of configurations, profiles and users: the one-user answer equals the queryset's."""

    @settings(max_examples=25)  # fewer than the profile: each example writes configurations and users
    @given(
        configurations=st.lists(st.tuples(st.booleans(), st.sets(st.sampled_from("PQR"))), min_size=1, max_size=3),
        users=st.lists(st.tuples(st.sampled_from("PQRS"), st.integers(min_value=-1, max_value=2)), max_size=6),
    )
    def test_single_and_bulk_agree(self, configurations, users):
        created, taken = [], set()
        for index, (active, profiles) in enumerate(configurations):
            profiles = sorted(set(profiles) - taken)
            taken |= set(profiles)
            created.append(make_configuration(f"C{index}", active=active, profiles=profiles))
        people = [
            make_user(profile=profile, configuration=created[direct] if 0 <= direct < len(created) else None)
            for profile, direct in users
        ]
        bulk = {u.pk: (u.effective_configuration_id, u.effective_via) for u in with_effective_configuration()}
        for user in people:
            single = effective_configuration(user)
            assert bulk[user.pk] == ((single.configuration.pk, single.via) if single else (None, None))
            # And the rule itself, spelled out.
            if user.configuration_id is not None:
                expected = user.configuration_id if user.configuration.active else None
            else:
                expected = next((c.pk for c in created if c.active and user.profile in
                                 c.profile_assignments.values_list("profile", flat=True)), None)
            assert bulk[user.pk][0] == expected
        OutlookConfiguration.objects.all().delete()
        SyncUser.objects.all().delete()

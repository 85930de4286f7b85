"""The configurations endpoints: shapes, defaults, PATCH semantics, delete."""

import pytest

from configurations.models import DataSet, DataSetting, OutlookConfiguration, ProfileAssignment
from tests.factories import make_configuration, make_user

URL = "/api/v1/configurations/"

CONTRACT_EXAMPLE = {
    "name": "Sales EMEA", "description": "", "active": True, "sync_interval_minutes": 10,
    "profiles": ["Standard User"],
    "data_settings": {
        "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins", "folder": "Salesforce_Sync"},
        "events": {"direction": "outlook_to_salesforce", "conflict_behavior": "outlook_wins",
                   "sync_private_events": False, "propagate_deletions": True, "auto_relate": True},
        "tasks": {"direction": "none", "conflict_behavior": "salesforce_wins"},
    },
    "data_sets": {
        "contacts": {"scope": "my_contacts",
                     "filters": [{"field": "MailingCountry", "op": "equals", "value": "France"}],
                     "record_limit": 5000},
        "events": {"days_back": 30, "days_ahead": 365},
        "tasks": {"closed_days_back": 30},
    },
}


def _contains(actual, expected):
    if isinstance(expected, dict):
        return all(k in actual and _contains(actual[k], v) for k, v in expected.items())
    return actual == expected


pytestmark = pytest.mark.django_db


def test_create_the_contract_example(admin_client_api):
    response = admin_client_api.post(URL, CONTRACT_EXAMPLE, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert _contains(body, CONTRACT_EXAMPLE)
    # sync_mode is optional in the contract's payload and answered with its default.
    assert set(body) == set(CONTRACT_EXAMPLE) | {"id", "created_at", "updated_at", "sync_mode"}
    assert body["sync_mode"] == "near_real_time"
    assert DataSetting.objects.filter(configuration_id=body["id"]).count() == 3
    assert DataSet.objects.filter(configuration_id=body["id"]).count() == 3
    assert admin_client_api.get(f"{URL}{body['id']}/").json() == body


def test_create_with_only_a_name_defaults_to_nothing_syncing(admin_client_api):
    body = admin_client_api.post(URL, {"name": "Minimal"}, format="json").json()
    assert body["active"] is True
    assert body["sync_interval_minutes"] == 10
    assert body["profiles"] == []
    assert {o: s["direction"] for o, s in body["data_settings"].items()} == {
        "contacts": "none", "events": "none", "tasks": "none"}
    assert body["data_settings"]["contacts"]["folder"] == ""
    assert body["data_sets"] == {
        "contacts": {"scope": "my_contacts", "filters": [], "record_limit": None},
        "events": {"days_back": 30, "days_ahead": 365, "filters": [], "record_limit": None},
        "tasks": {"closed_days_back": 30, "filters": [], "record_limit": None},
    }


def test_a_direction_brings_its_conflict_behaviour_and_folder(admin_client_api):
    body = admin_client_api.post(URL, {"name": "One way", "data_settings": {
        "contacts": {"direction": "salesforce_to_outlook"},
        "events": {"direction": "outlook_to_salesforce"},
    }}, format="json").json()
    assert body["data_settings"]["contacts"] == {
        "direction": "salesforce_to_outlook", "conflict_behavior": "salesforce_wins", "folder": "Salesforce_Sync",
        "propagate_deletions": True, "excluded_addresses": [], "merge_fields": False}
    assert body["data_settings"]["events"]["conflict_behavior"] == "outlook_wins"


def test_list_paginates(admin_client_api):
    for index in range(3):
        make_configuration(f"C{index}")
    body = admin_client_api.get(URL).json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3
    assert [c["name"] for c in body["results"]] == ["C0", "C1", "C2"]


def test_list_query_count_does_not_grow(admin_client_api, django_assert_max_num_queries):
    make_configuration("first")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    admin_client_api.get(URL)  # the token's first use of the minute records its last-used time: not per page
    with CaptureQueriesContext(connection) as few:
        admin_client_api.get(URL)
    for index in range(10):
        make_configuration(f"more {index}", profiles=[f"P{index}"])
    with CaptureQueriesContext(connection) as many:
        assert admin_client_api.get(URL).json()["count"] == 11
    assert len(many) == len(few)


def test_patch_merges_nested_objects(admin_client_api):
    configuration = make_configuration(**CONTRACT_EXAMPLE)
    response = admin_client_api.patch(f"{URL}{configuration.pk}/", {
        "description": "EMEA sales reps",
        "data_settings": {"contacts": {"direction": "salesforce_to_outlook"}},
        "data_sets": {"events": {"days_ahead": 90}},
    }, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["description"] == "EMEA sales reps"
    assert body["data_settings"]["contacts"]["direction"] == "salesforce_to_outlook"
    assert body["data_settings"]["contacts"]["folder"] == "Salesforce_Sync"  # kept
    assert body["data_settings"]["events"] == admin_client_api.get(f"{URL}{configuration.pk}/").json()[
        "data_settings"]["events"]
    assert body["data_sets"]["events"] == {"days_back": 30, "days_ahead": 90, "filters": [], "record_limit": None}
    assert body["data_sets"]["contacts"]["filters"] == CONTRACT_EXAMPLE["data_sets"]["contacts"]["filters"]


def test_patch_direction_none_drops_the_folder(admin_client_api):
    configuration = make_configuration(data_settings={"contacts": {"direction": "both", "folder": "CRM"}})
    body = admin_client_api.patch(f"{URL}{configuration.pk}/", {"data_settings": {"contacts": {
        "direction": "none"}}}, format="json").json()
    assert body["data_settings"]["contacts"]["folder"] == ""


def test_patch_profiles_replaces_them(admin_client_api):
    configuration = make_configuration(profiles=["A", "B"])
    body = admin_client_api.patch(f"{URL}{configuration.pk}/", {"profiles": ["B", "C", " C "]}, format="json").json()
    assert body["profiles"] == ["B", "C"]
    assert set(ProfileAssignment.objects.values_list("profile", flat=True)) == {"B", "C"}


def test_rename_and_keep_own_name(admin_client_api):
    configuration = make_configuration("Old")
    assert admin_client_api.patch(f"{URL}{configuration.pk}/", {"name": "Old"}, format="json").status_code == 200
    assert admin_client_api.patch(f"{URL}{configuration.pk}/", {"name": "New"}, format="json").json()["name"] == "New"


def test_put_is_not_offered(admin_client_api):
    configuration = make_configuration()
    assert admin_client_api.put(f"{URL}{configuration.pk}/", {"name": "X"}, format="json").status_code == 405


def test_delete_unassigns_direct_users(admin_client_api):
    configuration = make_configuration(profiles=["Standard User"])
    user = make_user(configuration=configuration)
    assert admin_client_api.delete(f"{URL}{configuration.pk}/").status_code == 204
    assert not OutlookConfiguration.objects.exists()
    assert not ProfileAssignment.objects.exists()
    user.refresh_from_db()
    assert user.configuration is None
    assert admin_client_api.get(f"{URL}{configuration.pk}/").status_code == 404


@pytest.mark.parametrize("bad", ["abc", "0", "99999999999999999999999"])
def test_unknown_ids_are_404(admin_client_api, bad):
    assert admin_client_api.get(f"{URL}{bad}/").status_code == 404


def test_malformed_json_is_400(admin_client_api):
    response = admin_client_api.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400

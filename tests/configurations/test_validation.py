"""Every rule of a configuration, checked through the validation functions and reported per field by the API."""

import pytest

from configurations.models import DataSet, DataSetting, OutlookConfiguration
from configurations.services import check_configuration
from configurations.validation import (
    apply_setting_defaults,
    validate_configuration_fields,
    validate_data_set,
    validate_data_setting,
)
from tests.factories import make_configuration

URL = "/api/v1/configurations/"


class TestDataSettingRules:
    def test_salesforce_to_outlook_requires_salesforce_wins(self):
        errors = validate_data_setting(
            "events", {"direction": "salesforce_to_outlook", "conflict_behavior": "outlook_wins"}
        )
        assert list(errors) == ["conflict_behavior"]
        assert "salesforce_wins" in errors["conflict_behavior"][0]

    def test_outlook_to_salesforce_requires_outlook_wins(self):
        errors = validate_data_setting(
            "tasks", {"direction": "outlook_to_salesforce", "conflict_behavior": "salesforce_wins"}
        )
        assert list(errors) == ["conflict_behavior"]
        assert "outlook_wins" in errors["conflict_behavior"][0]

    @pytest.mark.parametrize("conflict", ["salesforce_wins", "outlook_wins"])
    def test_both_and_none_accept_either_behaviour(self, conflict):
        assert validate_data_setting("events", {"direction": "both", "conflict_behavior": conflict}) == {}
        assert validate_data_setting("tasks", {"direction": "none", "conflict_behavior": conflict}) == {}

    def test_contacts_cannot_be_outlook_to_salesforce(self):
        errors = validate_data_setting(
            "contacts",
            {"direction": "outlook_to_salesforce", "conflict_behavior": "outlook_wins", "folder": "Salesforce_Sync"},
        )
        assert list(errors) == ["direction"]

    def test_none_has_no_folder(self):
        errors = validate_data_setting("contacts", {"direction": "none", "folder": "Salesforce_Sync"})
        assert list(errors) == ["folder"]

    def test_a_syncing_contacts_setting_needs_a_folder(self):
        assert list(validate_data_setting("contacts", {"direction": "both", "folder": ""})) == ["folder"]

    @pytest.mark.parametrize("folder", [" padded", "a\\b", "tab\there", "x" * 256])
    def test_folder_names_are_sane(self, folder):
        assert list(validate_data_setting("contacts", {"direction": "both", "folder": folder})) == ["folder"]

    def test_options_of_other_objects_are_refused(self):
        errors = validate_data_setting("tasks", {"direction": "none", "folder": "x", "auto_relate": True})
        assert set(errors) == {"folder", "auto_relate"}

    def test_category_scope_needs_a_category_and_only_then(self):
        assert list(validate_data_setting("events", {"event_scope": "category"})) == ["event_category"]
        assert list(validate_data_setting("events", {"event_scope": "all", "event_category": "CRM"})) == [
            "event_category"
        ]
        assert validate_data_setting("events", {"event_scope": "category", "event_category": "CRM"}) == {}

    def test_excluded_addresses_are_emails_or_domains(self):
        ok = {"excluded_addresses": ["ceo@example.com", "example.org", "@partner.co.uk"]}
        assert validate_data_setting("contacts", ok) == {}
        errors = validate_data_setting("contacts", {"excluded_addresses": ["not an address", "x@", "-bad-.com", 5]})
        assert len(errors["excluded_addresses"]) == 4

    def test_defaults_follow_the_direction(self):
        assert apply_setting_defaults("contacts", None, {"direction": "salesforce_to_outlook"}) == {
            "direction": "salesforce_to_outlook", "conflict_behavior": "salesforce_wins", "folder": "Salesforce_Sync",
        }
        current = {"direction": "both", "conflict_behavior": "outlook_wins", "folder": "Mine"}
        assert apply_setting_defaults("contacts", current, {"direction": "none"})["folder"] == ""
        assert apply_setting_defaults("events", {"direction": "both", "conflict_behavior": "salesforce_wins"},
                                      {"direction": "outlook_to_salesforce"})["conflict_behavior"] == "outlook_wins"
        # An explicit contradiction is not silently fixed.
        explicit = apply_setting_defaults("events", None, {"direction": "outlook_to_salesforce",
                                                           "conflict_behavior": "salesforce_wins"})
        assert explicit["conflict_behavior"] == "salesforce_wins"
        assert apply_setting_defaults("contacts", None, {"excluded_addresses": ["@A.com", "a.com", "B@x.io"]})[
            "excluded_addresses"
        ] == ["a.com", "b@x.io"]

    @pytest.mark.django_db
    def test_the_services_check_the_same_rules(self):
        errors = check_configuration({"name": "x", "data_settings": {"contacts": {
            "direction": "outlook_to_salesforce", "conflict_behavior": "outlook_wins", "folder": "F"}}})
        assert list(errors["data_settings"]["contacts"]) == ["direction"]


class TestDataSetRules:
    @pytest.mark.parametrize(
        ("sync_object", "values", "field"),
        [
            ("contacts", {"scope": "everyone"}, "scope"),
            ("contacts", {"record_limit": 0}, "record_limit"),
            ("contacts", {"record_limit": -5}, "record_limit"),
            ("events", {"days_back": -1}, "days_back"),
            ("events", {"days_ahead": 3651}, "days_ahead"),
            ("events", {"days_ahead": True}, "days_ahead"),
            ("tasks", {"closed_days_back": -1}, "closed_days_back"),
            ("tasks", {"scope": "my_contacts"}, "scope"),
            ("contacts", {"filters": [{"field": "Nope", "op": "equals", "value": "x"}]}, "filters"),
        ],
    )
    def test_ranges_and_shapes(self, sync_object, values, field):
        assert field in validate_data_set(sync_object, values)

    def test_valid_data_sets(self):
        assert validate_data_set("contacts", {"scope": "all_visible", "record_limit": None, "filters": []}) == {}
        assert validate_data_set("events", {"days_back": 0, "days_ahead": 0, "record_limit": 1}) == {}

    @pytest.mark.django_db
    def test_the_services_report_filter_errors_by_position(self):
        errors = check_configuration({"name": "x", "data_sets": {"contacts": {
            "filters": [{"field": "Nope", "op": "equals", "value": "x"}]}}})
        assert errors["data_sets"]["contacts"]["filters"]["0"]["field"][0].startswith("Unknown field")

    def test_the_models_know_no_rules(self):
        # The rules live in configurations.validation, which imports the models; a model importing the rules back
        # would close a cycle.
        assert "clean" not in vars(DataSetting) and "clean" not in vars(DataSet)


@pytest.mark.django_db
class TestConfigurationRules:
    def test_names_are_unique_case_insensitively(self):
        make_configuration("Sales EMEA")
        assert "name" in validate_configuration_fields({"name": "sales emea"})
        assert validate_configuration_fields({"name": "Sales APAC"}) == {}

    def test_renaming_to_its_own_name_is_fine(self):
        configuration = make_configuration("Sales EMEA")
        assert validate_configuration_fields({"name": "Sales EMEA"}, instance=configuration) == {}

    @pytest.mark.parametrize("minutes", [0, -1, 7 * 24 * 60 + 1, True])
    def test_interval_range(self, minutes):
        assert "sync_interval_minutes" in validate_configuration_fields({"sync_interval_minutes": minutes})

    def test_a_profile_belongs_to_at_most_one_configuration(self):
        owner = make_configuration("A", profiles=["Standard User"])
        other = make_configuration("B")
        errors = validate_configuration_fields({"profiles": ["Standard User"]}, instance=other)
        assert "'A'" in errors["profiles"][0]
        assert validate_configuration_fields({"profiles": ["Standard User"]}, instance=owner) == {}

    def test_the_database_also_refuses_a_second_owner_of_a_profile(self):
        from django.db import IntegrityError

        from configurations.models import ProfileAssignment

        make_configuration("A", profiles=["Standard User"])
        with pytest.raises(IntegrityError):
            ProfileAssignment.objects.create(profile="Standard User", configuration=make_configuration("B"))

    def test_the_database_refuses_duplicate_names_in_another_case(self):
        from django.db import IntegrityError

        make_configuration("Sales")
        with pytest.raises(IntegrityError):
            OutlookConfiguration.objects.create(name="SALES")


@pytest.mark.django_db
class TestErrorsThroughTheAPI:
    def post(self, client, payload):
        response = client.post(URL, {"name": "Cfg", **payload}, format="json")
        assert response.status_code == 400, response.content
        return response.json()

    def test_conflict_rule_nested_under_object(self, admin_client_api):
        body = self.post(admin_client_api, {"data_settings": {"events": {
            "direction": "salesforce_to_outlook", "conflict_behavior": "outlook_wins"}}})
        assert list(body) == ["data_settings"]
        assert list(body["data_settings"]["events"]) == ["conflict_behavior"]

    def test_contacts_outlook_to_salesforce(self, admin_client_api):
        body = self.post(admin_client_api, {"data_settings": {"contacts": {"direction": "outlook_to_salesforce"}}})
        assert list(body["data_settings"]["contacts"]) == ["direction"]

    def test_none_with_folder(self, admin_client_api):
        body = self.post(admin_client_api, {"data_settings": {"contacts": {"direction": "none", "folder": "X"}}})
        assert body == {"data_settings": {"contacts": {"folder": [
            "A data setting that does not sync (direction none) has no folder."]}}}

    def test_every_error_at_once(self, admin_client_api):
        make_configuration("Taken", profiles=["Sales"])
        body = self.post(admin_client_api, {
            "name": "taken",
            "profiles": ["Sales"],
            "data_settings": {"tasks": {"direction": "outlook_to_salesforce", "conflict_behavior": "salesforce_wins"}},
            "data_sets": {"contacts": {"filters": [{"field": "Nope", "op": "equals", "value": "x"}]}},
        })
        assert set(body) == {"name", "profiles", "data_settings", "data_sets"}
        assert list(body["data_sets"]["contacts"]["filters"]) == ["0"]
        assert list(body["data_sets"]["contacts"]["filters"]["0"]) == ["field"]

    def test_unknown_operator_and_value_type(self, admin_client_api):
        body = self.post(admin_client_api, {"data_sets": {"contacts": {"filters": [
            {"field": "Email", "op": "is_empty"},
            {"field": "Email", "op": "regex", "value": ".*"},
        ]}}})
        assert list(body["data_sets"]["contacts"]["filters"]) == ["1"]
        assert list(body["data_sets"]["contacts"]["filters"]["1"]) == ["op"]
        body = self.post(admin_client_api, {"data_sets": {"contacts": {"filters": [
            {"field": "Account.NumberOfEmployees", "op": "greater_than", "value": "many"}]}}})
        assert list(body["data_sets"]["contacts"]["filters"]["0"]) == ["value"]

    def test_field_of_another_object(self, admin_client_api):
        body = self.post(admin_client_api, {"data_sets": {"events": {"filters": [
            {"field": "MailingCountry", "op": "equals", "value": "France"}]}}})
        assert "Unknown field for events" in body["data_sets"]["events"]["filters"]["0"]["field"][0]

    @pytest.mark.parametrize(
        ("payload", "path"),
        [
            ({"sync_interval_minutes": 0}, ["sync_interval_minutes"]),
            ({"data_sets": {"events": {"days_back": -1}}}, ["data_sets", "events", "days_back"]),
            ({"data_sets": {"contacts": {"record_limit": 0}}}, ["data_sets", "contacts", "record_limit"]),
            ({"data_sets": {"contacts": {"scope": "mine"}}}, ["data_sets", "contacts", "scope"]),
            ({"data_settings": {"tasks": {"folder": "X"}}}, ["data_settings", "tasks", "folder"]),
            ({"data_settings": {"notes": {}}}, ["data_settings", "notes"]),
            ({"data_settings": {"events": {"direction": "sideways"}}}, ["data_settings", "events", "direction"]),
            ({"data_settings": "both"}, ["data_settings", "non_field_errors"]),
            ({"profiles": [""]}, ["profiles"]),
            ({"color": "blue"}, ["color"]),
        ],
    )
    def test_field_errors(self, admin_client_api, payload, path):
        body = self.post(admin_client_api, payload)
        for key in path:
            assert key in body, body
            body = body[key]
        assert OutlookConfiguration.objects.count() == 0

    def test_missing_name(self, admin_client_api):
        response = admin_client_api.post(URL, {}, format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["name"]

    def test_patch_is_validated_against_the_stored_values(self, admin_client_api):
        configuration = make_configuration(data_settings={"events": {"direction": "outlook_to_salesforce"}})
        response = admin_client_api.patch(f"{URL}{configuration.pk}/", {"data_settings": {"events": {
            "conflict_behavior": "salesforce_wins"}}}, format="json")
        assert response.status_code == 400
        assert list(response.json()["data_settings"]["events"]) == ["conflict_behavior"]


@pytest.mark.django_db
def test_check_configuration_reports_without_writing():

    configuration = make_configuration("Sales")
    assert check_configuration({"name": "Other"}) == {}
    assert check_configuration({"description": "x"}) == {"name": ["This field is required."]}
    errors = check_configuration({"data_settings": {"contacts": {"direction": "outlook_to_salesforce"}}},
                                 configuration)
    assert list(errors["data_settings"]["contacts"]) == ["direction"]
    assert check_configuration({"data_sets": []}, configuration) == {
        "data_sets": ["Enter an object keyed by contacts, events and tasks."]}
    assert OutlookConfiguration.objects.count() == 1

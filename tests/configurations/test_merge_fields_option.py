"""The merge-fields option of a data setting (issue 19, part 2): offered per object, both ways only, in the API and
the console form, shown on the configuration page, and handed to the engine."""

import pytest
from django.urls import reverse

from configurations.models import DataSetting, OutlookConfiguration
from sync.options import engine_setting
from tests.factories import make_configuration

pytestmark = pytest.mark.django_db

URL = "/api/v1/configurations/"


def test_the_api_takes_merge_fields_for_each_object_both_ways(admin_client_api):
    response = admin_client_api.post(URL, {"name": "Merging", "data_settings": {
        "contacts": {"direction": "both", "merge_fields": True},
        "events": {"direction": "both", "merge_fields": True},
        "tasks": {"direction": "both"},
    }}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["data_settings"]["contacts"]["merge_fields"] is True
    assert body["data_settings"]["events"]["merge_fields"] is True
    assert body["data_settings"]["tasks"]["merge_fields"] is False
    setting = DataSetting.objects.get(configuration_id=body["id"], object="contacts")
    assert setting.merge_fields and engine_setting(setting).merge_fields


@pytest.mark.parametrize("direction", ["salesforce_to_outlook", "outlook_to_salesforce"])
def test_the_api_refuses_merge_fields_with_a_one_way_direction(admin_client_api, direction):
    response = admin_client_api.post(URL, {"name": "One way", "data_settings": {
        "events": {"direction": direction, "merge_fields": True}}}, format="json")
    assert response.status_code == 400
    [message] = response.json()["data_settings"]["events"]["merge_fields"]
    assert "only both ways can see a record changed on both sides" in message
    assert message.endswith("Set merge_fields to false, or choose both ways.")


def test_the_api_refuses_a_merge_fields_that_is_not_a_boolean(admin_client_api):
    response = admin_client_api.post(URL, {"name": "Bad", "data_settings": {
        "tasks": {"direction": "both", "merge_fields": "sometimes"}}}, format="json")
    assert response.status_code == 400
    assert "merge_fields" in response.json()["data_settings"]["tasks"]


def test_leaving_both_ways_turns_merging_off(admin_client_api):
    configuration = make_configuration("Was merging")
    created = admin_client_api.patch(f"{URL}{configuration.pk}/", {"data_settings": {
        "tasks": {"direction": "both", "merge_fields": True}}}, format="json")
    assert created.status_code == 200, created.content
    response = admin_client_api.patch(f"{URL}{configuration.pk}/", {"data_settings": {
        "tasks": {"direction": "outlook_to_salesforce"}}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["data_settings"]["tasks"]["merge_fields"] is False


def test_the_engine_merges_only_both_ways_even_if_a_row_says_otherwise():
    configuration = make_configuration("Odd row")
    setting = DataSetting(configuration=configuration, object="tasks", direction="salesforce_to_outlook",
                          merge_fields=True)
    assert not engine_setting(setting).merge_fields


def test_the_form_offers_merge_fields_both_ways_and_the_page_shows_it(admin_client):
    response = admin_client.post(reverse("configurations:create"), {
        "name": "Form", "description": "", "active": "1", "sync_interval_minutes": "15", "profiles": "",
        "contacts-direction": "both", "contacts-conflict_behavior": "salesforce_wins", "contacts-folder": "CRM",
        "contacts-propagate_deletions": "1", "contacts-merge_fields": "1", "contacts-excluded_addresses": "",
        "contacts-scope": "my_contacts", "contacts-record_limit": "",
        "events-direction": "salesforce_to_outlook", "events-conflict_behavior": "salesforce_wins",
        "events-merge_fields": "1", "events-event_scope": "all", "events-event_category": "",
        "events-excluded_addresses": "", "events-days_back": "7", "events-days_ahead": "90",
        "events-record_limit": "", "tasks-direction": "none", "tasks-closed_days_back": "30",
        "tasks-record_limit": "",
    })
    assert response.status_code == 302
    configuration = OutlookConfiguration.objects.get(name="Form")
    settings = {s.object: s for s in configuration.data_settings.all()}
    assert settings["contacts"].merge_fields is True
    assert settings["events"].merge_fields is False  # not on the page for a one-way direction: the default stands
    edit = admin_client.get(reverse("configurations:edit", args=[configuration.pk])).content.decode()
    assert 'name="contacts-merge_fields"' in edit and 'name="events-merge_fields"' not in edit
    detail = admin_client.get(reverse("configurations:detail", args=[configuration.pk])).content.decode()
    assert "Merge fields" in detail and "keeps the changes to different fields" in detail

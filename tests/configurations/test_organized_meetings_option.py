"""The events option `update_organized_meetings` (issue 19): off by default, offered only with directions that write
events to Outlook, in the API and the console form with a sentence saying what it means, shown on the configuration
page, and handed to the mailbox connectors (without forcing a full sync when it changes)."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from configurations.models import DataSet, DataSetting, OutlookConfiguration
from sync.options import object_options, scope_fingerprint
from tests.factories import make_configuration, make_user

pytestmark = pytest.mark.django_db

URL = "/api/v1/configurations/"
MEANING = "Updating a meeting you organize sends the attendees an update from Exchange."


def test_the_api_takes_it_for_events_and_it_is_off_by_default(admin_client_api):
    response = admin_client_api.post(URL, {"name": "Meetings", "data_settings": {
        "events": {"direction": "both", "update_organized_meetings": True}}}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["data_settings"]["events"]["update_organized_meetings"] is True
    default = admin_client_api.post(URL, {"name": "Default", "data_settings": {
        "events": {"direction": "salesforce_to_outlook"}}}, format="json")
    assert default.status_code == 201, default.content
    assert default.json()["data_settings"]["events"]["update_organized_meetings"] is False


def test_the_api_refuses_it_where_the_sync_never_writes_events_to_outlook(admin_client_api):
    response = admin_client_api.post(URL, {"name": "One way", "data_settings": {
        "events": {"direction": "outlook_to_salesforce", "update_organized_meetings": True}}}, format="json")
    assert response.status_code == 400
    [message] = response.json()["data_settings"]["events"]["update_organized_meetings"]
    assert "the sync never writes events to Outlook then" in message
    assert message.endswith("Set update_organized_meetings to false, or choose Salesforce to Outlook or Both ways.")


@pytest.mark.parametrize("settings_of", ["contacts", "tasks"])
def test_the_api_refuses_it_for_other_objects(admin_client_api, settings_of):
    response = admin_client_api.post(URL, {"name": "Wrong object", "data_settings": {
        settings_of: {"direction": "both", "update_organized_meetings": True}}}, format="json")
    assert response.status_code == 400
    assert "update_organized_meetings" in response.json()["data_settings"][settings_of]


def test_the_api_refuses_a_value_that_is_not_a_boolean(admin_client_api):
    response = admin_client_api.post(URL, {"name": "Bad", "data_settings": {
        "events": {"direction": "both", "update_organized_meetings": "sometimes"}}}, format="json")
    assert response.status_code == 400
    assert "update_organized_meetings" in response.json()["data_settings"]["events"]


def test_the_connectors_get_it_only_where_events_are_written_to_outlook_and_no_full_sync_follows():
    configuration = make_configuration("Meetings")
    user = make_user(configuration=configuration)
    data_set = DataSet(configuration=configuration, object="events")
    now = datetime(2026, 12, 6, tzinfo=UTC)
    on = DataSetting(configuration=configuration, object="events", direction="both", update_organized_meetings=True)
    off = DataSetting(configuration=configuration, object="events", direction="both")
    odd = DataSetting(configuration=configuration, object="events", direction="outlook_to_salesforce",
                      update_organized_meetings=True)
    assert object_options(on, data_set, user, now).update_organized_meetings is True
    assert object_options(off, data_set, user, now).update_organized_meetings is False
    assert object_options(odd, data_set, user, now).update_organized_meetings is False
    # how a write is sent decides nothing about what syncs: turning it on keeps the scope (no full sync)
    assert scope_fingerprint(on, object_options(on, data_set, user, now)) == \
        scope_fingerprint(off, object_options(off, data_set, user, now))


def _form(**events):
    return {
        "name": "Form", "description": "", "active": "1", "sync_interval_minutes": "15", "profiles": "",
        "contacts-direction": "none", "contacts-conflict_behavior": "salesforce_wins", "contacts-folder": "",
        "contacts-excluded_addresses": "", "contacts-scope": "my_contacts", "contacts-record_limit": "",
        "events-direction": "both", "events-conflict_behavior": "salesforce_wins", "events-event_scope": "all",
        "events-event_category": "", "events-excluded_addresses": "", "events-days_back": "7",
        "events-days_ahead": "90", "events-record_limit": "", "tasks-direction": "none",
        "tasks-closed_days_back": "30", "tasks-record_limit": "", **events,
    }


def test_the_form_offers_it_with_what_it_means_and_the_page_shows_it(admin_client):
    response = admin_client.post(reverse("configurations:create"), _form(**{"events-update_organized_meetings": "1"}))
    assert response.status_code == 302
    configuration = OutlookConfiguration.objects.get(name="Form")
    assert configuration.data_settings.get(object="events").update_organized_meetings is True
    detail = admin_client.get(reverse("configurations:detail", args=[configuration.pk])).content.decode()
    assert "Meetings the user organizes" in detail and "Exchange sends the attendees an update" in detail
    edit = admin_client.get(reverse("configurations:edit", args=[configuration.pk])).content.decode()
    assert 'name="events-update_organized_meetings" id="id_events-update_organized_meetings" value="1" checked' \
        in edit and MEANING in edit


def test_the_form_leaves_it_off_unless_ticked_and_the_page_says_what_off_means(admin_client):
    response = admin_client.post(reverse("configurations:create"), _form())
    assert response.status_code == 302
    configuration = OutlookConfiguration.objects.get(name="Form")
    assert configuration.data_settings.get(object="events").update_organized_meetings is False
    detail = admin_client.get(reverse("configurations:detail", args=[configuration.pk])).content.decode()
    assert "not changed from Salesforce (Exchange would send the attendees an update)" in detail


def test_the_form_does_not_offer_it_one_way_to_salesforce(admin_client):
    response = admin_client.post(reverse("configurations:create"), _form(**{
        "events-direction": "outlook_to_salesforce", "events-conflict_behavior": "outlook_wins"}))
    assert response.status_code == 302
    configuration = OutlookConfiguration.objects.get(name="Form")
    edit = admin_client.get(reverse("configurations:edit", args=[configuration.pk])).content.decode()
    assert 'name="events-update_organized_meetings"' not in edit


def test_leaving_the_directions_that_write_to_outlook_turns_it_off(admin_client_api):
    configuration = make_configuration("Was updating")
    created = admin_client_api.patch(f"{URL}{configuration.pk}/", {"data_settings": {
        "events": {"direction": "both", "update_organized_meetings": True}}}, format="json")
    assert created.status_code == 200, created.content
    response = admin_client_api.patch(f"{URL}{configuration.pk}/", {"data_settings": {
        "events": {"direction": "outlook_to_salesforce"}}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["data_settings"]["events"]["update_organized_meetings"] is False

"""A configuration's sync mode: near real time (the default) or on a schedule, through the API, the form, the pages,
the services' audit trail and the impact preview."""

import pytest
from django.urls import reverse
from lxml import html

from audit.models import AuditEntry
from configurations import services
from configurations.models import OutlookConfiguration, SyncMode
from configurations.validation import SYNC_MODE_INVALID
from sync.models import Preview
from tests.configurations.test_views import _form
from tests.factories import make_configuration

pytestmark = pytest.mark.django_db
URL = "/api/v1/configurations/"


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_the_api_defaults_to_near_real_time_and_takes_a_schedule(admin_client_api):
    body = admin_client_api.post(URL, {"name": "Default"}, format="json").json()
    assert body["sync_mode"] == "near_real_time"
    body = admin_client_api.post(URL, {"name": "Polled", "sync_mode": "schedule", "sync_interval_minutes": 30},
                                 format="json").json()
    assert body["sync_mode"] == "schedule" and body["sync_interval_minutes"] == 30
    assert OutlookConfiguration.objects.get(name="Polled").sync_mode == SyncMode.SCHEDULE


@pytest.mark.parametrize("value", ["realtime", None, 3])
def test_the_api_refuses_an_unknown_mode_in_words(admin_client_api, value):
    response = admin_client_api.post(URL, {"name": "Wrong", "sync_mode": value}, format="json")
    assert response.status_code == 400
    assert response.json()["sync_mode"] == [SYNC_MODE_INVALID]
    assert not OutlookConfiguration.objects.filter(name="Wrong").exists()


def test_a_patch_changes_the_mode_and_the_audit_trail_says_so(admin_client_api):
    configuration = make_configuration("Sales")
    response = admin_client_api.patch(f"{URL}{configuration.pk}/", {"sync_mode": "schedule"}, format="json")
    assert response.status_code == 200 and response.json()["sync_mode"] == "schedule"
    entry = AuditEntry.objects.filter(action=AuditEntry.Action.CONFIGURATION_UPDATED).latest("pk")
    assert entry.changes["before"] == {"sync_mode": "near_real_time"}
    assert entry.changes["after"] == {"sync_mode": "schedule"}
    assert "sync_mode" in entry.summary


def test_the_services_check_the_mode_like_the_api():
    with pytest.raises(services.ConfigurationInvalid) as refused:
        services.create_configuration({"name": "Bad", "sync_mode": "sometimes"})
    assert refused.value.errors == {"sync_mode": [SYNC_MODE_INVALID]}


def test_the_impact_preview_takes_a_mode_change(admin_client_api):
    configuration = make_configuration("Sales")  # the preview's task is sent on commit: never, in this test
    response = admin_client_api.post(f"{URL}{configuration.pk}/impact/", {"sync_mode": "schedule"}, format="json")
    assert response.status_code == 202, response.content
    assert Preview.objects.get().request == {"change": {"sync_mode": "schedule"}}
    bad = admin_client_api.post(f"{URL}{configuration.pk}/impact/", {"sync_mode": "never"}, format="json")
    assert bad.status_code == 400 and bad.json()["sync_mode"] == [SYNC_MODE_INVALID]


def test_the_form_offers_both_modes_with_near_real_time_chosen(admin_client, settings):
    settings.SYNC_SWEEP_HOURS = 6
    page = admin_client.get(reverse("configurations:create"))
    document = html.fromstring(page.content)
    labels = [" ".join(label.text_content().split()) for label in document.xpath("//fieldset[contains(@class, "
                                                                                  "'sync-mode')]//label")]
    assert labels == ["Near real time (changes sync within seconds; a safety-net sync every 6 hours)",
                      "On a schedule (every N minutes)"]
    [checked] = document.xpath("//input[@name='sync_mode'][@checked]")
    assert checked.get("value") == "near_real_time"
    help_text = document.xpath("//div[@id='id_sync_interval_minutes-help']")[0].text_content()
    assert "Applies on a schedule, and in near real time whenever a change feed is down." in help_text


def test_the_form_saves_the_mode_and_the_pages_say_it(admin_client):
    response = admin_client.post(reverse("configurations:create"), _form(sync_mode="schedule"))
    configuration = OutlookConfiguration.objects.get(name="Sales EMEA")
    assert response.status_code == 302 and configuration.sync_mode == SyncMode.SCHEDULE
    detail = admin_client.get(response["Location"]).content.decode()
    assert "Syncs on a schedule, every 15 minutes." in detail
    edit = html.fromstring(admin_client.get(reverse("configurations:edit", args=[configuration.pk])).content)
    assert edit.xpath("//input[@name='sync_mode'][@checked]")[0].get("value") == "schedule"

    admin_client.post(reverse("configurations:edit", args=[configuration.pk]), _form(sync_mode="near_real_time"))
    configuration.refresh_from_db()
    assert configuration.sync_mode == SyncMode.NEAR_REAL_TIME
    detail = " ".join(admin_client.get(reverse("configurations:detail", args=[configuration.pk]))
                      .content.decode().split())
    assert "Syncs in near real time: changes sync within seconds" in detail
    assert "every 15 minutes while a change feed is down" in detail
    listing = " ".join(admin_client.get(reverse("configurations:list")).content.decode().split())
    assert "near real time" in listing


def test_a_form_without_the_mode_keeps_near_real_time(admin_client):
    """An older page (or a script) posting no sync_mode gets the default, not an error."""
    admin_client.post(reverse("configurations:create"), _form())
    assert OutlookConfiguration.objects.get(name="Sales EMEA").sync_mode == SyncMode.NEAR_REAL_TIME


def test_a_posted_unknown_mode_is_an_error_beside_the_field(admin_client):
    response = admin_client.post(reverse("configurations:create"), _form(sync_mode="hourly"))
    assert response.status_code == 400  # the form again, with the message
    document = html.fromstring(response.content)
    assert SYNC_MODE_INVALID in document.xpath("//div[@id='id_sync_mode-errors']")[0].text_content()
    assert not OutlookConfiguration.objects.filter(name="Sales EMEA").exists()

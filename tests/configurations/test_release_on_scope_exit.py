"""The admin's choice for records a configuration change takes out of scope: delete the copies, or keep them and
unlink (issue 18 item 1). Stored one-shot on the affected users' object states; audited; the API's PATCH field."""

import pytest

from audit.models import AuditEntry
from configurations.services import update_configuration
from configurations.validation import ConfigurationInvalid
from tests.factories import make_configuration, make_user
from users.models import UserObjectState

URL = "/api/v1/configurations/"
NARROWED = {"data_sets": {"contacts": {"filters": [{"field": "MailingCountry", "op": "equals", "value": "France"}]}}}

pytestmark = pytest.mark.django_db


@pytest.fixture
def sales():
    configuration = make_configuration("Sales", data_settings={
        "contacts": {"direction": "salesforce_to_outlook", "conflict_behavior": "salesforce_wins"},
        "tasks": {"direction": "both", "conflict_behavior": "salesforce_wins"}})
    user = make_user(configuration=configuration)
    return configuration, user


def _marks(user) -> dict[str, bool]:
    return dict(UserObjectState.objects.filter(user=user).values_list("object", "release_scope_exits"))


def test_release_keep_marks_the_changed_objects_only_and_is_audited(sales):
    configuration, user = sales
    update_configuration(configuration, NARROWED, on_scope_exit="keep")
    marks = _marks(user)
    assert marks["contacts"] is True and marks["tasks"] is False
    entry = AuditEntry.objects.filter(action=AuditEntry.Action.CONFIGURATION_UPDATED).latest("pk")
    assert entry.changes["on_scope_exit"] == "keep"
    assert "kept, unlinked" in entry.summary


def test_release_delete_clears_an_unconsumed_keep_and_no_choice_leaves_it(sales):
    configuration, user = sales
    update_configuration(configuration, NARROWED, on_scope_exit="keep")
    update_configuration(configuration, {"data_sets": {"contacts": {"record_limit": 100}}})
    assert _marks(user)["contacts"] is True
    update_configuration(configuration, {"data_sets": {"contacts": {"record_limit": 200}}}, on_scope_exit="delete")
    assert _marks(user)["contacts"] is False


def test_release_service_refuses_another_value(sales):
    configuration, _ = sales
    with pytest.raises(ConfigurationInvalid) as caught:
        update_configuration(configuration, NARROWED, on_scope_exit="archive")
    assert "on_scope_exit" in caught.value.errors


def test_release_api_patch_accepts_keep(admin_client_api, sales):
    configuration, user = sales
    response = admin_client_api.patch(f"{URL}{configuration.pk}/", {**NARROWED, "on_scope_exit": "keep"},
                                      format="json")
    assert response.status_code == 200, response.content
    assert "on_scope_exit" not in response.json()
    assert _marks(user)["contacts"] is True


@pytest.mark.parametrize("value", ["archive", 5, None, ["keep"]])
def test_release_api_patch_refuses_other_values_with_a_sentence(admin_client_api, sales, value):
    configuration, user = sales
    response = admin_client_api.patch(f"{URL}{configuration.pk}/", {**NARROWED, "on_scope_exit": value},
                                      format="json")
    assert response.status_code == 400, response.content
    message = response.json()["on_scope_exit"][0]
    assert message.startswith("Choose") and message.endswith(".")
    assert _marks(user)["contacts"] is False


def test_release_api_post_ignores_the_field(admin_client_api):
    response = admin_client_api.post(URL, {"name": "New", "on_scope_exit": "keep"}, format="json")
    assert response.status_code == 201, response.content


def _console_form(**overrides) -> dict:
    from tests.configurations.test_views import _form
    return _form(name="Sales", profiles="", **overrides)


def test_release_console_save_with_keep(client, admin_user, sales):
    configuration, user = sales
    client.force_login(admin_user)
    response = client.post(f"/configurations/{configuration.pk}/edit/", _console_form(on_scope_exit="keep"))
    assert response.status_code == 302
    assert _marks(user)["contacts"] is True


def test_release_console_refuses_another_value_with_a_sentence_and_shows_the_choice_again(client, admin_user, sales):
    configuration, user = sales
    client.force_login(admin_user)
    response = client.post(f"/configurations/{configuration.pk}/edit/", _console_form(on_scope_exit="archive"))
    assert response.status_code == 400
    body = response.content.decode()
    assert "Choose &quot;delete&quot;" in body and 'name="on_scope_exit"' in body
    assert _marks(user)["contacts"] is False

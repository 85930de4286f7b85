"""The configuration form's live validation speaks only of touched fields; filters offer the operators of their
field's type, by Salesforce label; options a direction does not read are neither shown nor saved."""

import pytest
from django.urls import reverse

from configurations import services
from configurations.models import OutlookConfiguration
from tests.configurations.test_views import _form
from tests.factories import make_configuration

pytestmark = pytest.mark.django_db

VALIDATE = "configurations:validate_new"


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _live(client, touched: str, url: str | None = None, **fields):
    response = client.post(url or reverse(VALIDATE), {**_form(**fields), "touched": touched}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response


def test_an_untouched_field_has_no_error_yet(admin_client):
    response = _live(admin_client, "contacts-direction", name="")
    body = response.content.decode()
    assert "Enter a name." not in body
    assert "cannot be saved yet" not in body
    assert response.context["form"].errors == {}


def test_a_touched_field_has_its_error(admin_client):
    body = _live(admin_client, "contacts-direction name", name="").content.decode()
    assert "Enter a name." in body
    assert "cannot be saved yet" in body


def test_without_touched_fields_every_error_shows(admin_client):
    """A plain submit, or a client without the form's script: the server says everything."""
    response = admin_client.post(reverse(VALIDATE), _form(name=""), HTTP_HX_REQUEST="true")
    assert "Enter a name." in response.content.decode()


def test_a_new_filter_row_is_not_red(admin_client):
    response = admin_client.post(
        reverse(VALIDATE), {**_form(), "touched": "name", "action": "add-filter:contacts"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    contacts = response.context["form"].objects[0]
    assert [row["field"] for row in contacts.filter_rows] == ["MailingCountry", ""]
    assert contacts.errors["data_set"] == {}
    assert "is-invalid" not in body
    # The row stays while other fields change (it used to vanish at the next change).
    again = _live(
        admin_client,
        "name",
        **{"contacts-filters-1-field": "", "contacts-filters-1-op": "equals", "contacts-filters-1-value": ""},
    )
    assert len(again.context["form"].objects[0].filter_rows) == 2
    # Once touched and left empty, it asks for a field in a sentence, not with the allow-list.
    touched = _live(
        admin_client,
        "contacts-filters-1-field",
        **{"contacts-filters-1-field": "", "contacts-filters-1-op": "equals", "contacts-filters-1-value": ""},
    )
    assert touched.context["form"].objects[0].errors["data_set"]["filters"] == {
        "1": {"field": ["Choose a field to filter on."]}
    }


def test_a_blank_filter_row_is_left_out_when_saving(admin_client):
    response = admin_client.post(
        reverse("configurations:create"),
        _form(**{"contacts-filters-1-field": "", "contacts-filters-1-op": "equals", "contacts-filters-1-value": ""}),
    )
    assert response.status_code == 302
    saved = services.snapshot(OutlookConfiguration.objects.get())
    assert saved["data_sets"]["contacts"]["filters"] == [{"field": "MailingCountry", "op": "equals", "value": "France"}]


def test_a_field_offers_the_operators_of_its_type_by_label(admin_client):
    response = _live(
        admin_client,
        "contacts-filters-0-field",
        **{
            "contacts-filters-0-field": "Birthdate",
            "contacts-filters-0-op": "contains",
            "contacts-filters-0-value": "",
        },
    )
    contacts = response.context["form"].objects[0]
    (row,) = contacts.filter_rows
    # The operator chosen for the previous (text) field gives way to the date's first one.
    assert row["op"] == "equals"
    assert [label for _, label in row["operators"]] == [
        "equals",
        "does not equal",
        "is one of (comma-separated)",
        "is after",
        "is before",
        "is empty (true/false)",
    ]
    assert row["label"] == "Birthdate" and row["type"] == "date" and row["placeholder"] == "YYYY-MM-DD"
    body = response.content.decode()
    assert '<option value="MailingCountry" >Mailing Country · MailingCountry</option>' in body
    assert "contains" not in body.split('id="id_contacts-filters-0-op"')[1].split("</select>")[0]
    boolean = _live(
        admin_client,
        "",
        **{
            "contacts-filters-0-field": "DoNotCall",
            "contacts-filters-0-op": "equals",
            "contacts-filters-0-value": "true",
        },
    )
    assert [op for op, _ in boolean.context["form"].objects[0].filter_rows[0]["operators"]] == ["equals", "not_equals"]


def test_a_plain_submit_keeps_an_operator_its_field_does_not_take_and_says_so(admin_client):
    response = admin_client.post(
        reverse("configurations:create"),
        _form(
            **{
                "contacts-filters-0-field": "Birthdate",
                "contacts-filters-0-op": "contains",
                "contacts-filters-0-value": "1",
            }
        ),
    )
    assert response.status_code == 400
    (row,) = response.context["form"].objects[0].filter_rows
    assert row["op"] == "contains" and row["op_unlisted"]
    assert row["errors"]["op"][0].startswith("contains does not apply to Birthdate (a date field); choose one of:")


def test_options_the_direction_does_not_read_are_not_offered(admin_client):
    one_way = _live(admin_client, "").content.decode()  # events: Salesforce to Outlook
    assert 'id="id_events-auto_relate"' not in one_way
    assert "Relate events to attendees" not in one_way
    assert 'id="id_events-propagate_deletions"' not in one_way
    assert "A deletion in Salesforce always deletes the Outlook copy." in one_way
    both = _live(admin_client, "", **{"events-direction": "both"}).content.decode()
    assert "Relate events to attendees" in both and 'id="id_events-propagate_deletions"' in both
    from_outlook = _live(
        admin_client, "", **{"events-direction": "outlook_to_salesforce", "events-conflict_behavior": "outlook_wins"}
    ).content.decode()
    assert "Relate events to attendees" in from_outlook and 'id="id_events-propagate_deletions"' in from_outlook
    tasks = _live(
        admin_client, "", **{"tasks-direction": "outlook_to_salesforce", "tasks-conflict_behavior": "outlook_wins"}
    ).content.decode()
    assert 'id="id_tasks-propagate_deletions"' not in tasks
    assert "A deletion in Outlook always deletes the Salesforce copy." in tasks


def test_a_hidden_option_is_kept_on_the_page_but_not_saved(admin_client):
    """Switching to a direction that does not read an option and back keeps the admin's choice on the page; saving
    with the one-way direction stores the option's neutral value, and no error."""
    configuration = make_configuration(
        "Events both",
        data_settings={"events": {"direction": "both", "auto_relate": True, "propagate_deletions": False}},
    )
    url = reverse("configurations:validate", args=[configuration.pk])
    detour = _live(
        admin_client,
        "events-direction",
        url=url,
        **{"name": "Events both", "events-direction": "salesforce_to_outlook", "events-auto_relate": "1"},
    )
    body = detour.content.decode()
    assert '<input type="hidden" name="events-auto_relate" value="1">' in body
    assert 'name="events-propagate_deletions"' not in body  # false: nothing to carry
    assert detour.context["form"].objects[1].errors == {"setting": {}, "data_set": {}}
    saved = admin_client.post(
        reverse("configurations:edit", args=[configuration.pk]),
        _form(**{"name": "Events both", "events-direction": "salesforce_to_outlook", "events-auto_relate": "1"}),
    )
    assert saved.status_code == 302
    events = services.snapshot(OutlookConfiguration.objects.get(pk=configuration.pk))["data_settings"]["events"]
    assert events["auto_relate"] is False and events["propagate_deletions"] is True


def test_a_chosen_direction_brings_its_conflict_behaviour_without_an_error(admin_client):
    """The form's script names the changed field in HX-Trigger (htmx itself names the form)."""
    response = admin_client.post(
        reverse(VALIDATE),
        {
            **_form(**{"contacts-direction": "salesforce_to_outlook", "contacts-conflict_behavior": "outlook_wins"}),
            "touched": "contacts-direction contacts-conflict_behavior",
        },
        HTTP_HX_REQUEST="true",
        HTTP_HX_TRIGGER="id_contacts-direction",
    )
    assert response.context["form"].objects[0].errors["setting"] == {}

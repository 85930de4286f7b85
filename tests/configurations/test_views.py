"""The configuration console pages: roles, create/edit/delete through the forms, live validation, assignment."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEntry
from configurations import services
from configurations.models import OutlookConfiguration
from tests.factories import make_configuration, make_user
from users.models import SyncUser

pytestmark = pytest.mark.django_db


def _form(**overrides) -> dict:
    """A valid posted form: contacts both ways, events Salesforce to Outlook, tasks not synced."""
    data = {
        "name": "Sales EMEA",
        "description": "Field sales",
        "active": "1",
        "sync_interval_minutes": "15",
        "profiles": "Sales User\nSales Manager, EMEA",
        "contacts-direction": "both",
        "contacts-conflict_behavior": "outlook_wins",
        "contacts-folder": "CRM",
        "contacts-propagate_deletions": "1",
        "contacts-excluded_addresses": "ceo@example.com, cfo@example.com\n@example.org",
        "contacts-scope": "my_accounts_contacts",
        "contacts-record_limit": "",
        "contacts-filters-0-field": "MailingCountry",
        "contacts-filters-0-op": "equals",
        "contacts-filters-0-value": "France",
        "events-direction": "salesforce_to_outlook",
        "events-conflict_behavior": "salesforce_wins",
        "events-event_scope": "all",
        "events-event_category": "",
        "events-excluded_addresses": "",
        "events-days_back": "7",
        "events-days_ahead": "90",
        "events-record_limit": "500",
        "tasks-direction": "none",
        "tasks-closed_days_back": "30",
        "tasks-record_limit": "",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def support_client(client, support_user):
    client.force_login(support_user)
    return client


@pytest.fixture
def configuration():
    return make_configuration(
        "Sales",
        profiles=["Sales User"],
        data_settings={"contacts": {"direction": "both"}, "events": {"direction": "salesforce_to_outlook"}},
    )


# Roles


def _pages(configuration):
    pk = configuration.pk
    return {
        "list": reverse("configurations:list"),
        "detail": reverse("configurations:detail", args=[pk]),
        "create": reverse("configurations:create"),
        "edit": reverse("configurations:edit", args=[pk]),
        "delete": reverse("configurations:delete", args=[pk]),
    }


def _changes(configuration):
    pk = configuration.pk
    return [
        reverse("configurations:create"),
        reverse("configurations:edit", args=[pk]),
        reverse("configurations:delete", args=[pk]),
        reverse("configurations:validate", args=[pk]),
        reverse("configurations:validate_new"),
        reverse("configurations:assign", args=[pk]),
        reverse("configurations:unassign", args=[pk]),
    ]


def test_anonymous_visitors_are_sent_to_the_login_page(client, configuration):
    for url in [*_pages(configuration).values(), *_changes(configuration)]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


@pytest.mark.parametrize("who", ["api_user", "outsider"])
def test_accounts_without_a_console_role_are_refused(client, configuration, who, request):
    client.force_login(request.getfixturevalue(who))
    for url in _pages(configuration).values():
        assert client.get(url).status_code == 403, url
    for url in _changes(configuration):
        assert client.post(url, _form()).status_code == 403, url
    assert OutlookConfiguration.objects.count() == 1


def test_support_reads_without_controls_and_every_change_is_refused(support_client, configuration):
    user = make_user(name="Ann Direct", configuration=configuration)
    page = support_client.get(reverse("configurations:list"))
    assert page.status_code == 200 and "Sales" in page.content.decode()
    assert "New configuration" not in page.content.decode()
    page = support_client.get(reverse("configurations:detail", args=[configuration.pk]))
    body = page.content.decode()
    assert page.status_code == 200 and "Ann Direct" in body
    for control in ("Edit</a>", "Delete</a>", "Unassign selected", "Assign users", 'name="users"'):
        assert control not in body, control
    for url in _pages(configuration).values():
        if url not in (reverse("configurations:list"), reverse("configurations:detail", args=[configuration.pk])):
            assert support_client.get(url).status_code == 403, url
    for url in _changes(configuration):
        assert support_client.post(url, {**_form(), "users": [user.pk]}).status_code == 403, url
    user.refresh_from_db()
    assert user.configuration == configuration
    assert OutlookConfiguration.objects.get().name == "Sales"


# List


def test_list_shows_counts_and_directions(admin_client, configuration):
    make_user(configuration=configuration)
    make_user(configuration=configuration)
    make_user(profile="Sales User")  # through the profile
    make_user(profile="Sales User", configuration=make_configuration("Other"))  # direct elsewhere wins
    page = admin_client.get(reverse("configurations:list"))
    rows = {row["configuration"].name: row for row in page.context["rows"]}
    assert (rows["Sales"]["direct"], rows["Sales"]["via_profile"]) == (2, 1)
    assert (rows["Other"]["direct"], rows["Other"]["via_profile"]) == (1, 0)
    body = page.content.decode()
    assert "Contacts: Both ways" in body and "Events: Salesforce to Outlook" in body
    assert "Tasks: Don&#x27;t sync" in body
    assert reverse("configurations:detail", args=[configuration.pk]) in body


def test_list_takes_a_constant_number_of_queries(admin_client):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(reverse("configurations:list")).status_code == 200
        return len(queries)

    make_configuration("One", profiles=["P1"])
    few = count()
    for number in range(8):
        configuration = make_configuration(f"More {number}", profiles=[f"Profile {number}"])
        make_user(configuration=configuration)
        make_user(profile=f"Profile {number}")
    assert count() == few


# Create and edit


def test_admin_creates_a_configuration_through_the_form(admin_client, admin_user):
    response = admin_client.post(reverse("configurations:create"), _form())
    configuration = OutlookConfiguration.objects.get(name="Sales EMEA")
    assert response.status_code == 302
    assert response["Location"] == reverse("configurations:detail", args=[configuration.pk])
    saved = services.snapshot(configuration)
    assert saved["sync_interval_minutes"] == 15 and saved["profiles"] == ["Sales Manager, EMEA", "Sales User"]
    assert saved["data_settings"]["contacts"] == {
        "direction": "both",
        "conflict_behavior": "outlook_wins",
        "folder": "CRM",
        "propagate_deletions": True,
        "excluded_addresses": ["ceo@example.com", "cfo@example.com", "example.org"],
        "merge_fields": False,
    }
    assert saved["data_settings"]["events"]["conflict_behavior"] == "salesforce_wins"
    assert saved["data_sets"]["contacts"]["filters"] == [{"field": "MailingCountry", "op": "equals", "value": "France"}]
    assert saved["data_sets"]["events"]["record_limit"] == 500
    assert saved["data_settings"]["tasks"]["direction"] == "none"
    assert AuditEntry.objects.get(action=AuditEntry.Action.CONFIGURATION_CREATED).actor == admin_user
    page = admin_client.get(response["Location"])
    assert "Configuration “Sales EMEA” created." in page.content.decode()


def test_new_form_starts_from_the_defaults(admin_client):
    page = admin_client.get(reverse("configurations:create"))
    body = page.content.decode()
    assert page.status_code == 200
    assert page.context["form"].fields["sync_interval_minutes"] == "10"
    assert 'value="10"' in body.split('id="id_sync_interval_minutes"')[1].split(">")[0]
    # Contacts do not offer Outlook to Salesforce only.
    contacts = body.split('id="id_contacts-direction"')[1].split("</select>")[0]
    assert "outlook_to_salesforce" not in contacts
    events = body.split('id="id_events-direction"')[1].split("</select>")[0]
    assert "outlook_to_salesforce" in events


def _errors(response) -> dict:
    form = response.context["form"]
    return {
        "form": form.errors,
        **{f.object: f.errors for f in form.objects},
    }


def test_errors_are_shown_per_field_with_the_apis_messages(admin_client):
    make_configuration("Taken", profiles=["Sales User"])
    response = admin_client.post(
        reverse("configurations:create"),
        _form(
            name="taken",
            sync_interval_minutes="soon",
            **{
                "contacts-direction": "outlook_to_salesforce",
                "events-direction": "salesforce_to_outlook",
                "events-conflict_behavior": "outlook_wins",
                "events-days_back": "-3",
                "contacts-excluded_addresses": "not an address!",
                "contacts-filters-0-field": "Password__c",
                "contacts-filters-1-field": "Account.NumberOfEmployees",
                "contacts-filters-1-op": "greater_than",
                "contacts-filters-1-value": "many",
            },
        ),
    )
    assert response.status_code == 400
    assert OutlookConfiguration.objects.filter(name="Sales EMEA").count() == 0
    errors = _errors(response)
    assert errors["form"]["name"] == ["A configuration with this name already exists."]
    assert errors["form"]["sync_interval_minutes"] == ["Enter a whole number of minutes from 1 to 10080."]
    assert "already belongs to configuration 'Taken'" in errors["form"]["profiles"][0]
    assert errors["contacts"]["setting"]["direction"] == [
        "Contacts cannot sync from Outlook to Salesforce only; choose both ways instead."
    ]
    assert errors["events"]["setting"]["conflict_behavior"] == [
        "Salesforce to Outlook requires salesforce_wins (Salesforce wins)."
    ]
    assert errors["events"]["data_set"]["days_back"] == ["Enter a whole number of days from 0 to 3650."]
    assert "neither an e-mail address nor a domain" in errors["contacts"]["setting"]["excluded_addresses"][0]
    filters = errors["contacts"]["data_set"]["filters"]
    assert filters["0"]["field"][0].startswith("Unknown field for contacts")
    assert filters["1"]["value"] == ["Enter a whole number."]
    body = response.content.decode()
    # The messages stand beside their fields (described by them), and the page says why it did not save.
    assert 'aria-describedby="id_contacts-direction-errors"' in body
    assert 'id="id_events-conflict_behavior-errors"' in body
    assert "Contacts cannot sync from Outlook to Salesforce only" in body
    assert "cannot be saved yet" in body


def test_unparseable_input_is_a_message_never_a_500(admin_client):
    response = admin_client.post(
        reverse("configurations:create"),
        _form(**{"contacts-direction": "sideways", "contacts-record_limit": "lots", "contacts-scope": "everyone",
                 "events-event_scope": "category", "events-event_category": ""}),
    )
    assert response.status_code == 400
    errors = _errors(response)
    assert errors["contacts"]["setting"]["direction"][0].startswith("Choose one of")
    assert errors["contacts"]["data_set"]["record_limit"][0].startswith("Enter a limit from 1")
    assert errors["contacts"]["data_set"]["scope"][0].startswith("Choose one of")
    assert errors["events"]["setting"]["event_category"] == ["Enter the Outlook category whose events sync."]


def test_edit_shows_the_stored_values_and_saves_changes(admin_client, configuration, admin_user):
    page = admin_client.get(reverse("configurations:edit", args=[configuration.pk]))
    assert page.status_code == 200
    assert 'value="Salesforce_Sync"' in page.content.decode()
    response = admin_client.post(
        reverse("configurations:edit", args=[configuration.pk]),
        _form(name="Sales (renamed)", profiles="Sales User", **{"tasks-direction": "outlook_to_salesforce"}),
    )
    assert response.status_code == 302
    saved = services.snapshot(OutlookConfiguration.objects.get(pk=configuration.pk))
    assert saved["name"] == "Sales (renamed)"
    assert saved["data_settings"]["tasks"]["direction"] == "outlook_to_salesforce"
    assert saved["data_settings"]["tasks"]["conflict_behavior"] == "outlook_wins"  # the one the direction requires
    assert AuditEntry.objects.filter(action=AuditEntry.Action.CONFIGURATION_UPDATED, actor=admin_user).exists()


def test_contacts_set_to_none_lose_their_folder(admin_client, configuration):
    data = _form(name="Sales", profiles="Sales User", **{"contacts-direction": "none"})
    data.pop("contacts-conflict_behavior")
    data["contacts-folder"] = "CRM"  # a stale field from the page before: not an error, the folder goes
    response = admin_client.post(reverse("configurations:edit", args=[configuration.pk]), data)
    assert response.status_code == 302
    saved = services.snapshot(OutlookConfiguration.objects.get(pk=configuration.pk))
    assert saved["data_settings"]["contacts"]["folder"] == ""


def test_filter_rows_are_added_and_removed_without_saving(admin_client):
    url = reverse("configurations:create")
    response = admin_client.post(url, _form(action="add-filter:events"))
    assert response.status_code == 200 and not OutlookConfiguration.objects.exists()
    events = response.context["form"].objects[1]
    assert len(events.filters) == 1
    assert 'id="id_events-filters-0-field"' in response.content.decode()
    response = admin_client.post(url, _form(action="remove-filter:contacts:0"))
    assert response.context["form"].objects[0].filters == []
    assert not OutlookConfiguration.objects.exists()


def test_in_and_is_empty_filters_are_typed_from_the_text(admin_client):
    response = admin_client.post(
        reverse("configurations:create"),
        _form(**{
            "contacts-filters-0-field": "LeadSource",
            "contacts-filters-0-op": "in",
            "contacts-filters-0-value": "Web, Phone",
            "contacts-filters-1-field": "Email",
            "contacts-filters-1-op": "is_empty",
            "contacts-filters-1-value": "false",
        }),
    )
    assert response.status_code == 302
    filters = services.snapshot(OutlookConfiguration.objects.get(name="Sales EMEA"))["data_sets"]["contacts"]["filters"]
    assert filters == [
        {"field": "LeadSource", "op": "in", "value": ["Web", "Phone"]},
        {"field": "Email", "op": "is_empty", "value": False},
    ]


# Live validation


def test_live_validation_rerenders_the_errors_and_saves_nothing(admin_client):
    response = admin_client.post(
        reverse("configurations:validate_new"),
        _form(name="", **{"events-days_ahead": "99999"}),
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="form-body"' in body and "<html" not in body
    assert "Enter a name." in body and "Enter a whole number of days from 0 to 3650." in body
    assert not OutlookConfiguration.objects.exists()
    ok = admin_client.post(reverse("configurations:validate_new"), _form(), HTTP_HX_REQUEST="true")
    assert "cannot be saved yet" not in ok.content.decode()


def test_choosing_a_one_way_direction_fixes_the_conflict_behaviour(admin_client, configuration):
    # The page had "both" with Outlook wins; the admin now picks Salesforce to Outlook for contacts.
    data = _form(name="Sales", profiles="Sales User", **{"contacts-direction": "salesforce_to_outlook"})
    response = admin_client.post(
        reverse("configurations:validate", args=[configuration.pk]),
        data,
        HTTP_HX_REQUEST="true",
        HTTP_HX_TRIGGER="id_contacts-direction",
    )
    contacts = response.context["form"].objects[0]
    assert contacts.errors["setting"] == {}
    choices = {c["value"]: c for c in contacts.conflict_choices}
    assert choices["salesforce_wins"]["checked"] and choices["salesforce_wins"]["allowed"]
    assert not choices["outlook_wins"]["allowed"]
    body = response.content.decode()
    radio = body.split('id="id_contacts-conflict_behavior-outlook_wins"')[1].split(">")[0]
    assert "disabled" in radio and "checked" not in radio
    assert "Outlook changes are never sent back, so Salesforce always wins." in body
    # Without the direction having just changed, the same contradiction is reported on the conflict field.
    response = admin_client.post(
        reverse("configurations:validate", args=[configuration.pk]), data, HTTP_HX_REQUEST="true"
    )
    assert response.context["form"].objects[0].errors["setting"]["conflict_behavior"] == [
        "Salesforce to Outlook requires salesforce_wins (Salesforce wins)."
    ]


def test_direction_none_offers_no_conflict_choice_nor_options(admin_client):
    response = admin_client.post(reverse("configurations:validate_new"), _form(), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert 'name="tasks-conflict_behavior"' not in body
    assert "Nothing syncs, so there are no conflicts to settle." in body
    assert 'hidden id="tasks-details"' in body
    assert 'name="contacts-folder"' in body
    none_contacts = admin_client.post(
        reverse("configurations:validate_new"), _form(**{"contacts-direction": "none"}), HTTP_HX_REQUEST="true"
    )
    assert 'name="contacts-folder"' not in none_contacts.content.decode()


# Delete


def test_delete_confirmation_counts_the_users_who_lose_it_then_deletes(admin_client, configuration, admin_user):
    make_user(configuration=configuration)
    make_user(configuration=configuration, profile="Sales User")
    make_user(profile="Sales User")
    make_user(profile="Sales User")
    make_user(profile="Sales User")
    url = reverse("configurations:delete", args=[configuration.pk])
    page = admin_client.get(url)
    body = page.content.decode()
    assert (page.context["direct"], page.context["via_profile"]) == (2, 3)
    assert ("2 users</strong> directly assigned (profiles Sales User, Standard User) have no other configuration to "
            "fall back to: their syncs stop.") in body
    assert "3 users</strong> through the profile Sales User lose their configuration" in body
    response = admin_client.post(url)
    assert response.status_code == 302 and response["Location"] == reverse("configurations:list")
    assert not OutlookConfiguration.objects.exists()
    assert SyncUser.objects.filter(configuration__isnull=False).count() == 0
    assert AuditEntry.objects.get(action=AuditEntry.Action.CONFIGURATION_DELETED).actor == admin_user
    assert "Configuration “Sales” deleted." in admin_client.get(response["Location"]).content.decode()


def test_missing_configuration_is_a_404(admin_client):
    assert admin_client.get(reverse("configurations:detail", args=[999])).status_code == 404
    assert admin_client.post(reverse("configurations:edit", args=[999]), _form()).status_code == 404


# Assignment


def test_detail_shows_where_each_users_configuration_comes_from(admin_client, configuration):
    make_user(name="Dora Direct", configuration=configuration)
    make_user(name="Pat Profile", profile="Sales User")
    make_user(name="Otto Other", profile="Sales User", configuration=make_configuration("Other"))
    page = admin_client.get(reverse("configurations:detail", args=[configuration.pk]))
    body = page.content.decode()
    names = {u.name: u for u in page.context["users"]}
    assert set(names) == {"Dora Direct", "Pat Profile"}
    assert names["Dora Direct"].effective_via == "user" and names["Pat Profile"].effective_via == "profile"
    assert "Directly" in body and "Via profile" in body and "via profile Sales User" in body


def test_search_finds_users_by_name_username_or_email(admin_client, configuration):
    make_user("ann@corp.example", name="Ann Archer", email="ann.mailbox@example.org")
    make_user("bob@corp.example", name="Bob Baker", email="robert@example.org")
    url = reverse("configurations:search", args=[configuration.pk])
    for query, expected in (("archer", ["Ann Archer"]), ("bob@corp", ["Bob Baker"]), ("robert@", ["Bob Baker"]),
                            ("corp.example", ["Ann Archer", "Bob Baker"]), ("nobody", [])):
        response = admin_client.get(url, {"q": query}, HTTP_HX_REQUEST="true")
        assert [u.name for u in response.context["results"]] == expected, query
    assert "No user matches" in admin_client.get(url, {"q": "nobody"}).content.decode()
    # Without JavaScript the same search runs on the configuration page.
    page = admin_client.get(reverse("configurations:detail", args=[configuration.pk]), {"q": "archer"})
    assert [u.name for u in page.context["results"]] == ["Ann Archer"]


def test_search_is_the_users_lists_search(admin_client, admin_client_api, configuration):
    """One filter (users.filters): the configuration page's search finds whom the users list and the API find."""
    ann = make_user("ann@corp.example", name="Ann Archer")
    make_user("bob@corp.example", name="Bob Baker")
    url = reverse("configurations:search", args=[configuration.pk])
    for query in ("Archer", ann.salesforce_id[:12], "corp.example"):
        found = [u.username for u in admin_client.get(url, {"q": query}).context["results"]]
        listed = [u["username"] for u in admin_client_api.get("/api/v1/users/", {"search": query}).json()["results"]]
        on_list_page = [row["user"].username for row in admin_client.get("/users/", {"search": query}).context["rows"]]
        assert found == listed == on_list_page, query
    assert list(admin_client.get(url, {"q": "x" * 300}).context["results"]) == []  # too long for the filter


def test_admin_assigns_several_users_and_unassigns(admin_client, configuration, admin_user):
    other = make_configuration("Other")
    ann = make_user(name="Ann")
    bob = make_user(name="Bob", configuration=other)
    cid = make_user(name="Cid", configuration=configuration)
    response = admin_client.post(
        reverse("configurations:assign", args=[configuration.pk]), {"users": [ann.pk, bob.pk, cid.pk]}, follow=True
    )
    assert "1 user assigned; 1 user moved here from another configuration; 1 user already assigned." in (
        response.content.decode()
    )
    assert set(SyncUser.objects.filter(configuration=configuration).values_list("name", flat=True)) == {
        "Ann", "Bob", "Cid"
    }
    assert AuditEntry.objects.filter(action=AuditEntry.Action.USERS_ASSIGNED, actor=admin_user).exists()
    response = admin_client.post(
        reverse("configurations:unassign", args=[configuration.pk]), {"users": [ann.pk, bob.pk]}, follow=True
    )
    assert "2 users unassigned." in response.content.decode()
    assert list(SyncUser.objects.filter(configuration=configuration).values_list("name", flat=True)) == ["Cid"]


def test_assigning_nobody_says_so(admin_client, configuration):
    response = admin_client.post(reverse("configurations:assign", args=[configuration.pk]), {}, follow=True)
    assert "Select at least one user to assign." in response.content.decode()
    response = admin_client.post(
        reverse("configurations:unassign", args=[configuration.pk]), {"users": ["x"]}, follow=True
    )
    assert "Select at least one directly assigned user" in response.content.decode()


# Record-count preview


def test_preview_without_a_salesforce_connection_says_so(admin_client, configuration):
    user = make_user(name="Ann")
    response = admin_client.post(
        reverse("configurations:preview", args=[configuration.pk]), {"user": user.username}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert "answers" not in response.context
    assert body.count("No Salesforce connection to ask. No Salesforce connection is configured.") == 1
    assert "Enter it on the Connections page" in body


def test_preview_names_an_unknown_user_in_plain_words(support_client, configuration):
    url = reverse("configurations:preview", args=[configuration.pk])
    assert "No synced user matches “ghost”." in support_client.post(url, {"user": "ghost"}).content.decode()
    assert "Enter a user&#x27;s username" in support_client.post(url, {"user": " "}).content.decode()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    from sandbox.runner import start_sandbox

    running = start_sandbox(tmp_path_factory.mktemp("sandbox"), seed="empty")
    yield running
    running.stop()


def test_preview_counts_each_data_sets_records_as_the_user_in_the_sandbox(admin_client, sandbox):
    import requests
    from simple_salesforce import Salesforce

    from sandbox.demo import PASSWORD as SANDBOX_PASSWORD
    from sandbox.services import connect_to_sandbox

    connect_to_sandbox(sandbox.hub.data_dir, sandbox.salesforce_url, sandbox.ews_endpoint)
    created = sandbox.hub.create_user(username="pia@sandbox.test", email="pia@sandbox.test", first_name="Pia",
                                      last_name="Preview", profile="Standard User")
    other = sandbox.hub.create_user(username="olaf@sandbox.test", email="olaf@sandbox.test", first_name="Olaf",
                                    last_name="Other", profile="Standard User")
    make_user("pia@sandbox.test", name="Pia Preview", email="pia@sandbox.test",
                     salesforce_id=created["salesforce_id"])

    def as_user(username):
        http = requests.Session()
        http.verify, http.trust_env = str(sandbox.ca_path), False
        token = http.post(f"{sandbox.salesforce_url}/services/oauth2/token", data={
            "grant_type": "password", "client_id": "tests", "username": username, "password": SANDBOX_PASSWORD}).json()
        return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=http,
                          version="62.0")

    pia = as_user("pia@sandbox.test")
    for number, country in enumerate(["France", "France", "Spain"]):
        pia.Contact.create({"FirstName": f"C{number}", "LastName": "Mine", "MailingCountry": country})
    assert other["salesforce_id"] != created["salesforce_id"]
    as_user("olaf@sandbox.test").Contact.create(
        {"LastName": "Not mine", "MailingCountry": "France"}
    )
    pia.Task.create({"Subject": "Call back", "Status": "Not Started"})
    configuration = make_configuration(
        "Preview",
        data_settings={"contacts": {"direction": "both"}, "tasks": {"direction": "salesforce_to_outlook"}},
        data_sets={"contacts": {"filters": [{"field": "MailingCountry", "op": "equals", "value": "France"}]},
                   "tasks": {"record_limit": 5}},
    )
    response = admin_client.post(reverse("configurations:preview", args=[configuration.pk]),
                                 {"user": "pia@sandbox.test"})
    # Counted where each direction reads (issue 15): contacts both ways on both sides, tasks in Salesforce.
    answers = {a.label: {r.side: r for r in a.reads} for a in response.context["answers"]}
    assert set(answers) == {"Contacts", "Tasks"}
    assert not answers["Contacts"]["salesforce"].error and answers["Contacts"]["salesforce"].count == 2
    assert answers["Contacts"]["outlook"].count == 0  # no Salesforce_Sync folder yet
    assert set(answers["Tasks"]) == {"salesforce"}
    assert answers["Tasks"]["salesforce"].count == 1 and not answers["Tasks"]["salesforce"].limited
    body = response.content.decode()
    assert "<strong>2</strong> records: Salesforce contacts" in body
    assert "<strong>1</strong> record: Salesforce tasks" in body

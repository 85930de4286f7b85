"""The record explorer's API (GET /api/v1/users/{id}/records/ and …/records/explain/) and its console panel, against
the sandbox: who may ask, bad input as 400 with the field named, and the answers; nothing written."""

import pytest
from django.test import Client

from sync.models import RecordLink, SyncRun
from tests.conftest import PASSWORD
from tests.factories import make_user
from tests.sync.test_explorer_service import BOTH, assigned, person, sync, writes

pytestmark = pytest.mark.django_db


def _records(pk: int) -> str:
    return f"/api/v1/users/{pk}/records/"


def _explain(pk: int) -> str:
    return f"/api/v1/users/{pk}/records/explain/"


def test_only_roles_read_the_explorer(anonymous_client, outsider_client_api):
    user = make_user()
    for url in (_records(user.pk), _explain(user.pk)):
        assert anonymous_client.get(url, {"object": "contacts", "q": "ann"}).status_code == 401
        assert outsider_client_api.get(url, {"object": "contacts", "q": "ann"}).status_code == 403


def test_bad_input_is_a_400_naming_the_field(support_client_api):
    user = make_user()
    response = support_client_api.get(_records(user.pk), {"object": "notes", "q": ""})
    assert response.status_code == 400
    assert set(response.json()) == {"object", "q"}
    response = support_client_api.get(_explain(user.pk), {"object": "contacts"})
    assert response.status_code == 400
    assert response.json() == {"q": [
        "Enter an e-mail address, a name, a subject, a Salesforce id or an Outlook item id."]}
    response = support_client_api.get(_explain(user.pk), {"object": "contacts", "q": "ann", "outlook_id": "AAMk"})
    assert response.json() == {"non_field_errors": [
        "Name the record by exactly one of salesforce_id, outlook_id or q."]}
    response = support_client_api.get(_explain(user.pk), {"object": "contacts", "salesforce_id": "nope"})
    assert response.status_code == 400 and "salesforce_id" in response.json()
    assert support_client_api.get(_records(999999), {"object": "contacts", "q": "x"}).status_code == 404
    assert support_client_api.get(_explain("abc"), {"object": "contacts", "q": "x"}).status_code == 404


def test_search_and_explain_over_the_api_write_nothing(support_client_api, connected):
    user, salesforce, _ = person(connected)
    assigned(user, data_settings={"contacts": BOTH})
    contact = salesforce.Contact.create({"FirstName": "Ada", "LastName": "Api", "Email": "ada.api@example.com"})["id"]
    assert sync(user, "contacts").state == SyncRun.State.SUCCEEDED
    unsynced = salesforce.Contact.create({"FirstName": "Una", "LastName": "Synced"})["id"]
    link = RecordLink.objects.get(user=user, salesforce_id=contact)
    before = writes(connected)

    found = support_client_api.get(_records(user.pk), {"object": "contacts", "q": "Ada Api"})
    explained = support_client_api.get(_explain(user.pk), {"object": "contacts", "salesforce_id": contact})
    new = support_client_api.get(_explain(user.pk), {"object": "contacts", "q": "Una"})

    assert found.status_code == explained.status_code == new.status_code == 200
    (row,) = found.json()["results"]
    assert (row["name"], row["link"]["outlook_id"]) == ("Ada Api", link.outlook_id)
    body = explained.json()
    assert set(body) >= {"link", "salesforce", "outlook", "verdict", "reasons"}
    assert body["verdict"] == "linked"
    assert body["link"]["state"] == "linked" and body["link"]["last_synced_at"]
    assert body["salesforce"]["fields"]["email"] == "ada.api@example.com"
    assert (new.json()["verdict"], new.json()["salesforce"]["id"]) == ("would_create", unsynced)
    assert writes(connected) == before


def _console(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_the_panel_shows_the_verdict_in_sentences(support_user, connected):
    user, salesforce, _ = person(connected)
    assigned(user, data_settings={"contacts": BOTH},
             data_sets={"contacts": {"filters": [{"field": "MailingCountry", "op": "equals", "value": "France"}]}})
    salesforce.Contact.create({"FirstName": "Sven", "LastName": "Sweden", "Email": "sven@example.com",
                               "MailingCountry": "Sweden"})
    client = _console(support_user)

    page = client.get(f"/users/{user.pk}/")
    partial = client.get(f"/users/{user.pk}/records/", {"object": "contacts", "q": "sven@example.com"},
                         HTTP_HX_REQUEST="true")
    plain = client.get(f"/users/{user.pk}/records/", {"object": "contacts", "q": "sven@example.com"})
    refused = client.get(f"/users/{user.pk}/records/", {"object": "contacts", "q": ""})

    assert "Find a record" in page.content.decode()
    body = partial.content.decode()
    assert partial.status_code == 200 and "<html" not in body
    assert "Out of scope" in body
    assert "It fails the data set&#x27;s filter 1: MailingCountry equals France." in body
    assert plain.status_code == 200 and "It fails the data set&#x27;s filter 1" in plain.content.decode()
    assert refused.status_code == 400
    assert "Enter an e-mail address, a name, a subject, a Salesforce id or an Outlook item id." in (
        refused.content.decode())

"""The API's answers to hostile or odd requests (issue 16, item 7): each is a 400 (or 413) naming what is wrong,
never a server error, and nothing is saved. Also: the schema and its docs are for the API's roles only."""

from datetime import UTC, datetime

import pytest

from configurations import soql
from configurations.models import OutlookConfiguration
from configurations.validation import NAME_PATTERN, text_errors
from syncadmin.parsers import JSONParser
from tests.configurations.test_views import _form as valid_form
from tests.factories import make_configuration, make_user

pytestmark = pytest.mark.django_db
URL = "/api/v1/configurations/"


def _post(client, body: str):
    return client.post(URL, body, content_type="application/json")


# ---- the parser: depth, size, text -------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [JSONParser.MAX_DEPTH + 1, 5_000, 100_000])
def test_a_deeply_nested_body_is_400_not_500(admin_client_api, depth):
    body = '{"name": "Deep", "description": ' + "[" * depth + "]" * depth + "}"
    response = _post(admin_client_api, body)
    assert response.status_code == 400, response.content
    assert "nest more than" in response.json()["detail"]
    assert not OutlookConfiguration.objects.exists()


def test_the_deepest_legitimate_body_is_accepted(admin_client_api):
    body = {"name": "In list", "data_sets": {"contacts": {"filters": [
        {"field": "MailingCountry", "op": "in", "value": ["France", "Spain"]}]}}}
    assert admin_client_api.post(URL, body).status_code == 201


def test_a_body_over_the_limit_is_413(admin_client_api, monkeypatch):
    monkeypatch.setattr(JSONParser, "MAX_BYTES", 1000)
    response = _post(admin_client_api, '{"name": "' + "x" * 2000 + '"}')
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


def test_an_unpaired_surrogate_is_400(admin_client_api):
    response = _post(admin_client_api, '{"name": "Lone \\ud800 half"}')
    assert response.status_code == 400
    assert "surrogate" in response.json()["detail"]


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_only_json_is_read(admin_client_api, content_type):
    response = admin_client_api.post(URL, "name=Form", content_type=content_type)
    assert response.status_code == 415
    assert not OutlookConfiguration.objects.exists()


@pytest.mark.parametrize("value", [1, 0, "true", "yes", None])
def test_booleans_are_true_or_false_only(admin_client_api, value):
    response = admin_client_api.post(URL, {"name": "Flags", "active": value})
    assert response.status_code == 400
    assert "active" in response.json()


# ---- names people read ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "Sales\u202eAMEE",      # right-to-left override: shows as "SalesEEMA"
    "Sales\u2066EMEA\u2069",  # an isolate
    "Sales\nEMEA",          # a control character
    "\u200b\u200b",         # zero-width spaces only
    " \u3000\u00ad ",       # spaces and a soft hyphen only
    "\u2800",               # a Braille blank
])
def test_names_with_hidden_or_reordering_characters_are_400_naming_the_field(admin_client_api, name):
    response = admin_client_api.post(URL, {"name": name})
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["name"]
    assert not OutlookConfiguration.objects.exists()


def test_other_names_follow_the_same_rule(admin_client_api):
    response = admin_client_api.post(URL, {
        "name": "Fine", "description": "Two\nlines are fine \u202e but not this", "profiles": ["Sales\u202e"],
        "data_settings": {"events": {"direction": "both", "event_scope": "category", "event_category": "\u200b"}},
    })
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"description", "profiles", "data_settings"}
    assert set(errors["data_settings"]["events"]) == {"event_category"}
    added = admin_client_api.post("/api/v1/users/", {
        "salesforce_id": "005000000000001", "username": "ann@example.com", "email": "ann@example.com",
        "name": "Ann\u202e", "profile": "\u200b"})
    assert added.status_code == 400
    assert set(added.json()) == {"name", "profile"}


def test_ordinary_names_in_any_script_are_accepted(admin_client_api):
    for name in ["Ventes Île-de-France", "مبيعات", "営業部", "Sales 👩‍💼 team", "a\u200db"]:
        assert admin_client_api.post(URL, {"name": name}).status_code == 201, name


def test_the_schema_pattern_is_the_rule():
    import re

    samples = ["ok", "\u200b", "a\u202eb", "a\nb", " x ", "\u3000", "x\u200d", "a\x85", "營業", ""]
    for sample in samples:
        assert bool(re.fullmatch(NAME_PATTERN, sample)) == (not text_errors(sample)), repr(sample)


def test_the_console_form_refuses_them_too(admin_user, client):
    client.force_login(admin_user)
    refused = client.post("/configurations/new/", valid_form(name="Sales\u202eAMEE"))
    assert not OutlookConfiguration.objects.exists()
    assert "bidirectional-text control characters" in refused.content.decode()
    assert client.post("/configurations/new/", valid_form()).status_code == 302


# ---- datetimes at the calendar's edges ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "0001-01-01T00:00:00+01:00",   # before year 1 in UTC: overflow
    "9999-12-31T23:59:59-01:00",   # after year 9999 in UTC: overflow
    "0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z", "0001-01-01", "1699-12-31T23:59:59Z", "4000-12-31T00:00:01Z",
])
def test_datetime_filters_at_the_calendars_edges_are_400(admin_client_api, value):
    response = admin_client_api.post(URL, {"name": "Edges", "data_sets": {"contacts": {"filters": [
        {"field": "CreatedDate", "op": "greater_than", "value": value}]}}})
    assert response.status_code == 400, response.content
    assert "range Salesforce accepts" in response.json()["data_sets"]["contacts"]["filters"]["0"]["value"][0]


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "1699-12-31"])
def test_date_filters_outside_salesforces_range_are_400(admin_client_api, value):
    response = admin_client_api.post(URL, {"name": "Dates", "data_sets": {"contacts": {"filters": [
        {"field": "Birthdate", "op": "equals", "value": value}]}}})
    assert response.status_code == 400


def test_soql_datetime_literals_always_have_four_digit_years():
    assert soql.datetime_literal(datetime(1, 1, 1)) == "0001-01-01T00:00:00Z"
    assert soql.datetime_literal(datetime(999, 3, 4, 5, 6, 7, tzinfo=UTC)) == "0999-03-04T05:06:07Z"
    edges = soql.data_set_view("contacts", scope="all_visible", filters=[
        {"field": "CreatedDate", "op": "greater_than", "value": "1700-01-01T00:00:00Z"},
        {"field": "LastModifiedDate", "op": "less_than", "value": "4000-12-31"}])
    assert soql.compile_where(edges, "005000000000001AAA") == (
        "CreatedDate > 1700-01-01T00:00:00Z AND LastModifiedDate < 4000-12-31T00:00:00Z")


# ---- the schema, its docs and the API's root are for the API's roles ------------------------------------------------


def test_the_schema_needs_an_api_role(anonymous_client, outsider_client_api, support_client_api, api_client):
    assert anonymous_client.get("/api/schema/").status_code == 401
    assert outsider_client_api.get("/api/schema/").status_code == 403
    for client in (support_client_api, api_client):
        assert client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").status_code == 200


def test_the_docs_page_sends_a_browser_to_the_login(client, outsider, support_user):
    response = client.get("/api/docs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/api/docs/")
    client.force_login(outsider)
    assert client.get("/api/docs/").status_code == 403
    client.force_login(support_user)
    assert client.get("/api/docs/").status_code == 200


def test_the_api_root_needs_an_api_role(anonymous_client, outsider_client_api, api_client):
    assert anonymous_client.get("/api/v1/").status_code == 401
    assert outsider_client_api.get("/api/v1/").status_code == 403
    assert api_client.get("/api/v1/").status_code == 200


def test_every_operation_documents_its_errors(admin_client_api):
    schema = admin_client_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert "401" in codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= codes, (method, path)
            assert "multipart/form-data" not in operation.get("requestBody", {}).get("content", {})


def test_unknown_api_paths_answer_json(admin_client_api):
    response = admin_client_api.get("/api/v1/configurations/0.5/audit/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "schema" in response.json()["detail"]


def test_user_ids_the_database_cannot_hold_are_unknown_not_500(admin_client_api):
    configuration = make_configuration("Big ids")
    make_user()
    response = admin_client_api.post(f"{URL}{configuration.pk}/assign/", {"users": [2**80, -1, "x" * 254]})
    assert response.status_code == 200
    assert len(response.json()["unknown"]) == 3

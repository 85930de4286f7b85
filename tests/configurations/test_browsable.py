"""The browsable API (HTML) renders every page of this issue for a logged-in admin."""

import pytest

from audit.models import AuditEntry
from tests.factories import make_configuration, make_user

pytestmark = pytest.mark.django_db


def test_html_pages_render(client, admin_user):
    configuration = make_configuration("Sales", profiles=["Sales Rep"], data_sets={"contacts": {
        "filters": [{"field": "MailingCountry", "op": "equals", "value": "France"}]}})
    user = make_user(profile="Sales Rep")
    client.force_login(admin_user)
    for url in [
        "/api/v1/",
        "/api/v1/configurations/",
        f"/api/v1/configurations/{configuration.pk}/",
        f"/api/v1/configurations/{configuration.pk}/users/",
        f"/api/v1/configurations/{configuration.pk}/audit/",
        f"/api/v1/configurations/{configuration.pk}/assign/",
        "/api/v1/users/",
        f"/api/v1/users/{user.pk}/",
        "/api/v1/audit/",
        f"/api/v1/audit/{AuditEntry.objects.first().pk}/",
    ]:
        response = client.get(url, HTTP_ACCEPT="text/html")
        assert response.status_code in (200, 405), (url, response.status_code)
        assert response["Content-Type"].startswith("text/html"), url


def test_the_schema_documents_this_issues_endpoints(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    for path, methods in {
        "/api/v1/configurations/": {"get", "post"},
        "/api/v1/configurations/{id}/": {"get", "patch", "delete"},
        "/api/v1/configurations/{id}/assign/": {"post"},
        "/api/v1/configurations/{id}/unassign/": {"post"},
        "/api/v1/configurations/{id}/users/": {"get"},
        "/api/v1/configurations/{id}/audit/": {"get"},
        "/api/v1/users/": {"get", "post"},
        "/api/v1/users/{id}/": {"get"},
        "/api/v1/audit/": {"get"},
        "/api/v1/audit/{id}/": {"get"},
    }.items():
        assert methods <= set(paths[path]), path
    assert "put" not in paths["/api/v1/configurations/{id}/"]
    users_page = paths["/api/v1/configurations/{id}/users/"]["get"]["responses"]["200"]["content"]["application/json"]
    assert users_page["schema"]["$ref"].endswith("PaginatedSyncUserList")

"""The API's answers as its schema documents them: the assignment answer's four lists, a missing object named in the
product's words (never the model's class name), and options that do nothing for a direction refused with a sentence.
"""

import pytest

from sync.models import SyncRun
from tests.factories import make_configuration, make_user

pytestmark = pytest.mark.django_db


def _schema(client) -> dict:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_the_schema_documents_every_list_of_the_assignment_answers(api_client):
    schemas = _schema(api_client)["components"]["schemas"]
    assigned = schemas["AssignmentResult"]
    assert set(assigned["properties"]) == {"assigned", "moved", "unchanged", "unknown"}
    assert set(assigned["required"]) == {"assigned", "moved", "unchanged", "unknown"}
    assert all(p["type"] == "array" and p["description"] for p in assigned["properties"].values())
    assert set(schemas["UnassignmentResult"]["properties"]) == {"unassigned", "unchanged", "unknown"}


def test_the_schema_documents_the_400_and_404_of_every_operation(api_client):
    paths = _schema(api_client)["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation["responses"]
            for code in ("400", "404"):
                if code in responses:
                    assert responses[code]["description"], (method, path, code)
            if "{id}" in path:
                assert "404" in responses, (method, path)
    not_found = paths["/api/v1/configurations/{id}/"]["get"]["responses"]["404"]
    assert not_found["description"] == "No such configuration."
    assert not_found["content"]["application/json"]["example"] == {"detail": "Configuration 7 does not exist."}
    sync_now = paths["/api/v1/users/{id}/sync/"]["post"]["responses"]
    assert sync_now["404"]["content"]["application/json"]["example"] == {"detail": "User 7 does not exist."}


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("get", "/api/v1/configurations/999/", "Configuration 999 does not exist."),
        ("patch", "/api/v1/configurations/999/", "Configuration 999 does not exist."),
        ("delete", "/api/v1/configurations/999/", "Configuration 999 does not exist."),
        ("post", "/api/v1/configurations/999/assign/", "Configuration 999 does not exist."),
        ("get", "/api/v1/configurations/999/users/", "Configuration 999 does not exist."),
        ("get", "/api/v1/users/999/", "User 999 does not exist."),
        ("post", "/api/v1/users/999/sync/", "User 999 does not exist."),  # a function view: Django's get_object_or_404
        ("post", "/api/v1/users/999/test-connection/", "User 999 does not exist."),
        ("get", "/api/v1/sync-runs/999/", "Run 999 does not exist."),
        ("get", "/api/v1/configurations/abc/", "Configuration abc does not exist."),  # not even a number
    ],
)
def test_a_missing_object_is_named_in_our_words(admin_client_api, method, path, expected):
    body = {"users": [1]} if path.endswith("assign/") else {}
    response = getattr(admin_client_api, method)(path, body, format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": expected}


def test_a_page_past_the_end_is_still_a_page_past_the_end(admin_client_api):
    response = admin_client_api.get("/api/v1/configurations/", {"page": 9})
    assert response.status_code == 404
    assert "does not exist" not in response.json()["detail"]


def test_existing_objects_are_still_found(admin_client_api):
    configuration = make_configuration("Found")
    user = make_user()
    run = SyncRun.objects.create(user=user, object="contacts", trigger="schedule")
    for path in (
        f"/api/v1/configurations/{configuration.pk}/",
        f"/api/v1/users/{user.pk}/",
        f"/api/v1/sync-runs/{run.pk}/",
    ):
        assert admin_client_api.get(path).status_code == 200, path


URL = "/api/v1/configurations/"
AUTO_RELATE_REFUSED = (
    "Relating events to attendees does nothing with Salesforce to Outlook: it relates the events written to "
    "Salesforce, so it needs Outlook to Salesforce or Both ways. Set auto_relate to false, or choose one of those "
    "directions."
)


def test_relating_events_one_way_from_salesforce_is_refused_in_a_sentence(admin_client_api):
    response = admin_client_api.post(
        URL,
        {"name": "Pointless", "data_settings": {"events": {"direction": "salesforce_to_outlook", "auto_relate": True}}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"data_settings": {"events": {"auto_relate": [AUTO_RELATE_REFUSED]}}}


@pytest.mark.parametrize(
    ("sync_object", "direction", "says"),
    [
        ("contacts", "salesforce_to_outlook", "a deletion in Salesforce always deletes the Outlook copy"),
        ("events", "salesforce_to_outlook", "a deletion in Salesforce always deletes the Outlook copy"),
        ("tasks", "outlook_to_salesforce", "a deletion in Outlook always deletes the Salesforce copy of tasks"),
    ],
)
def test_turning_off_deletions_where_they_always_follow_is_refused(admin_client_api, sync_object, direction, says):
    response = admin_client_api.post(
        URL,
        {"name": "Pointless", "data_settings": {sync_object: {"direction": direction, "propagate_deletions": False}}},
        format="json",
    )
    assert response.status_code == 400
    (message,) = response.json()["data_settings"][sync_object]["propagate_deletions"]
    assert says in message and message.endswith("Set it to true, or leave it out.")


@pytest.mark.parametrize(
    ("sync_object", "setting"),
    [
        ("events", {"direction": "outlook_to_salesforce", "auto_relate": True, "propagate_deletions": False}),
        ("events", {"direction": "both", "auto_relate": True, "propagate_deletions": False}),
        ("contacts", {"direction": "both", "propagate_deletions": False}),
        ("tasks", {"direction": "both", "propagate_deletions": False}),
        # Nothing syncs: the options stay as they are, for when the object syncs again.
        ("events", {"direction": "none", "auto_relate": True, "propagate_deletions": False}),
    ],
)
def test_options_the_direction_reads_are_accepted(admin_client_api, sync_object, setting):
    response = admin_client_api.post(URL, {"name": "Useful", "data_settings": {sync_object: setting}}, format="json")
    assert response.status_code == 201, response.json()
    saved = response.json()["data_settings"][sync_object]
    assert {key: saved[key] for key in setting} == setting


def test_a_new_direction_puts_options_it_does_not_read_back_to_their_neutral_value(admin_client_api):
    """Like the conflict behaviour a one-way direction requires: the client need not unset them itself."""
    configuration = make_configuration(
        "Was both", data_settings={"events": {"direction": "both", "auto_relate": True, "propagate_deletions": False}}
    )
    response = admin_client_api.patch(
        f"{URL}{configuration.pk}/",
        {"data_settings": {"events": {"direction": "salesforce_to_outlook"}}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    events = response.json()["data_settings"]["events"]
    assert events["auto_relate"] is False and events["propagate_deletions"] is True
    paused = admin_client_api.patch(
        f"{URL}{configuration.pk}/",
        {"data_settings": {"events": {"direction": "both", "auto_relate": True}}},
        format="json",
    )
    assert paused.status_code == 200
    paused = admin_client_api.patch(
        f"{URL}{configuration.pk}/", {"data_settings": {"events": {"direction": "none"}}}, format="json"
    )
    assert paused.json()["data_settings"]["events"]["auto_relate"] is True

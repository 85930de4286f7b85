"""Schema-driven fuzzing of this issue's endpoints with schemathesis: valid and invalid requests, as an admin.

No request may end in a server error, and responses must match the published schema. The number of requests is
small by default (a few seconds); ``API_FUZZ_EXAMPLES=5000`` (for instance) runs a longer campaign.
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from syncadmin.services import issue_token
from syncadmin.wsgi import application
from tests.factories import make_configuration, make_user
from tests.test_openapi_conformance import api_schema_document

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "200"))  # requests in total, over every operation
OUR_PATHS = r"^/api/v1/(configurations|users|audit|sync-runs)/"
OURS = {
    "POST /api/v1/users/{id}/sync/", "POST /api/v1/users/{id}/reset/", "POST /api/v1/users/{id}/test-connection/",
    "POST /api/v1/users/import/", "GET /api/v1/sync-runs/", "GET /api/v1/sync-runs/{id}/",
    "GET /api/v1/configurations/", "POST /api/v1/configurations/", "GET /api/v1/configurations/{id}/",
    "PATCH /api/v1/configurations/{id}/", "DELETE /api/v1/configurations/{id}/",
    "POST /api/v1/configurations/{id}/assign/", "POST /api/v1/configurations/{id}/unassign/",
    "GET /api/v1/configurations/{id}/users/", "GET /api/v1/configurations/{id}/audit/",
    "GET /api/v1/users/", "POST /api/v1/users/", "GET /api/v1/users/{id}/",
    "GET /api/v1/audit/", "GET /api/v1/audit/{id}/",
}

# The schema needs a role to read, and there is no database at import time: the document is built as the view does.
schema = schemathesis.openapi.from_dict(api_schema_document()).include(path_regex=OUR_PATHS)
schema.app = application


def _operations():
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert labels >= OURS, sorted(labels)
    return operations


@pytest.fixture
def keep_the_test_connection():
    """Like Django's test client: the WSGI requests must not close the test transaction's connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@pytest.mark.usefixtures("keep_the_test_connection")
def test_no_server_errors_and_conformant_successes(admin_user):
    configuration = make_configuration("Fuzz target", profiles=["Standard User"])
    user = make_user(profile="Standard User")
    from sync.models import SyncRun

    run = SyncRun.objects.create(user=user, object="contacts", trigger="schedule")
    token = issue_token(admin_user)
    strategies = []
    for operation in _operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies.append(operation.as_strategy(generation_mode=mode))
            if "{id}" in operation.path:
                # Also aim at rows that exist, so the happy paths of detail routes get exercised.
                existing = (user.pk if operation.path.startswith("/api/v1/users/") else
                            run.pk if operation.path.startswith("/api/v1/sync-runs/") else configuration.pk)
                strategies.append(operation.as_strategy(generation_mode=mode, path_parameters={"id": existing}))

    # The campaign's own size (API_FUZZ_EXAMPLES); schemathesis' strategies trip every health check by design.
    @settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(strategies))
    def run(case):
        response = case.call(headers={"Authorization": f"Token {token}"})
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    run()

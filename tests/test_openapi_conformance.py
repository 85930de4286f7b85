"""The API keeps its OpenAPI schema: schemathesis sends valid and invalid requests to every operation, in process
(the WSGI app), as an admin and as support staff, and checks every answer with its stateless checks: no server
error, every status and content type documented, every body as the schema says, invalid requests refused and valid
ones accepted (less the business rules tests/schemathesis.toml lists).

Bounded for `make test` (marked e2e: `make test-fast` leaves it out); ``API_CONFORMANCE_EXAMPLES=2000`` runs a longer
campaign. Against a running server, with the stateful checks too:

    python manage.py createtoken someone --create --role admin      # its last line is the token
    st --config-file tests/schemathesis.toml run http://127.0.0.1:8000/api/schema/ -c all \\
       -H "Authorization: Token <token>"
"""

import json
import os
from pathlib import Path

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS as REGISTRY
from schemathesis.checks import load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from sync.models import SyncRun
from syncadmin.roles import ADMIN, SUPPORT
from syncadmin.services import create_account
from syncadmin.wsgi import application
from tests.factories import make_configuration, make_token, make_user

pytestmark = pytest.mark.e2e  # about half a minute: in `make test`, not in `make test-fast`

EXAMPLES = int(os.environ.get("API_CONFORMANCE_EXAMPLES", "250"))  # requests per role, over every operation
CONFIG = Path(__file__).with_name("schemathesis.toml")
# Stateless checks (the stateful ones need a run's history: the CLI runs them). `ignored_auth` needs the schema's
# security schemes, which the token authentication does not declare yet.
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
          "response_schema_conformance", "negative_data_rejection", "positive_data_acceptance",
          "missing_required_header", "unsupported_method"]


def api_schema_document() -> dict:
    """The document /api/schema/ serves (built the same way, without a request, so no database is needed)."""
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


def _schema():
    loaded = schemathesis.openapi.from_dict(api_schema_document(), config=SchemathesisConfig.from_path(CONFIG))
    loaded.app = application
    return loaded


SCHEMA = _schema()


@pytest.fixture
def keep_the_test_connection():
    """Like Django's test client: the WSGI requests must not close the test transaction's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _check_functions():
    load_all_checks()
    return REGISTRY.get_by_names(CHECKS)


def test_the_served_schema_is_the_one_tested(admin_client_api):
    served = admin_client_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert served["paths"] == api_schema_document()["paths"]


@pytest.mark.django_db
@pytest.mark.usefixtures("keep_the_test_connection")
@pytest.mark.parametrize("role", [ADMIN, SUPPORT])
def test_every_operation_keeps_the_schema(role):
    configuration = make_configuration("Conformance", profiles=["Standard User"], data_settings={
        "contacts": {"direction": "both"}})
    user = make_user(profile="Standard User")
    run = SyncRun.objects.create(user=user, object="contacts", trigger="schedule")
    token = make_token(create_account(f"conformance-{role}", role))
    existing = {"/api/v1/users/": user.pk, "/api/v1/sync-runs/": run.pk, "/api/v1/configurations/": configuration.pk,
                "/api/v1/connections/": "salesforce"}
    strategies = []
    for result in SCHEMA.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies.append(operation.as_strategy(generation_mode=mode))
            # Also aim at rows that exist, so that the detail routes' answers are checked, not only their 404s.
            for prefix, value in existing.items():
                if operation.path.startswith(prefix) and "{" in operation.path:
                    name = operation.path[len(prefix):].split("}")[0].lstrip("{")
                    strategies.append(operation.as_strategy(generation_mode=mode, path_parameters={name: value}))
    checks = _check_functions()

    # The campaign's own size; schemathesis' strategies trip Hypothesis' health checks by design.
    @settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck), deadline=None)
    @given(case=st.one_of(strategies))
    def conforms(case):
        case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=checks)

    conforms()

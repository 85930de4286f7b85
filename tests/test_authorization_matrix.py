"""The authorization matrix (issue 16, item 8): every URL pattern of the project, for five callers, for each HTTP
method, answers what ONE table below says.

The callers: nobody (``anonymous``); a logged-in account without a role (``no_role``); a REST client of the ``api``
role with its token (``api``); a logged-in ``support`` engineer; a logged-in ``admin`` (a role, not a superuser).

For each URL the table names the methods it serves and what each caller gets: ``OK`` (served: any answer below 500
that is not a refusal and not a 404), a refusal (401, 403, or a redirect to the console's or the admin site's login
page), or exact statuses. A method the row does not name must be refused to everyone (401, 403, 405 or a login
redirect): no URL serves a method nobody wrote down. A URL with no row fails: add it to the matrix.

Path parameters are filled with real objects' ids (one set of objects for the module); each request runs in a
savepoint that is rolled back, so a DELETE or a reset changes nothing for the next caller, and nothing is queued.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone

from apitokens.models import ApiToken
from audit.models import AuditEntry
from sync.models import Connection, Preview, RecordLink, SyncRun
from syncadmin.models import Heartbeat
from syncadmin.roles import ADMIN, SUPPORT
from syncadmin.services import create_account
from tests.factories import make_configuration, make_token, make_user

CALLERS = ("anonymous", "no_role", "api", "support", "admin")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ANY = METHODS  # the view does not look at the method (Django's function views without a method decorator)

OK = "ok"
LOGIN = "login"  # 302 to the console's login page
ADMIN_LOGIN = "admin-login"  # 302 to the admin site's login page
REFUSALS = {401, 403, 405, LOGIN, ADMIN_LOGIN}


def _policy(anonymous, no_role, api, support, admin) -> dict[str, object]:
    return dict(zip(CALLERS, (anonymous, no_role, api, support, admin), strict=True))


PUBLIC = _policy(OK, OK, OK, OK, OK)
# The console (session login): pages for admin and support; changes for admin. The api role has no console login.
CONSOLE = _policy(LOGIN, 403, LOGIN, OK, OK)
CONSOLE_ADMIN = _policy(LOGIN, 403, LOGIN, 403, OK)
# The REST API (token or session): reading and the support operations for every role; changes for admin and api.
API_READ = _policy(401, 403, OK, OK, OK)
API_OPERATE = API_READ  # sync now, reset, test a connection: support staff too
API_CHANGE = _policy(401, 403, OK, 403, OK)
# The admin site: staff only (the admin role); what the admin role may do there is per model, below.
ADMIN_SITE = _policy(ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, OK)
ADMIN_SITE_403 = _policy(ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403)
ADMIN_SITE_404 = _policy(ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 404)


@dataclass(frozen=True)
class Row:
    """What one URL serves: a policy per method; ``body`` is sent with POST, PUT and PATCH."""

    methods: dict[str, dict]
    body: dict | None = None


def row(methods, policy, body=None, **more: dict) -> Row:
    """``row(("GET", "POST"), CONSOLE)``, with other methods' policies as keywords (``POST=CONSOLE_ADMIN``)."""
    return Row({**dict.fromkeys(methods, policy), **more}, body)


# ---- the table: URL name (or route, for unnamed ones; fnmatch patterns allowed) -> Row ----------------------------

TABLE: dict[str, Row] = {
    # The project's own pages.
    "dashboard": row(ANY, CONSOLE),
    "healthz": row(("GET",), _policy(*[(200, 503)] * 5)),  # anyone: up or down
    # Microsoft Graph posts here: no session or token; each notification's clientState is checked.
    "graph-notifications": row(("POST",), PUBLIC),
    # A logged-in caller is sent on to the dashboard, whatever the method.
    "login": row(("GET", "POST", "PUT"), PUBLIC, PATCH=_policy(405, OK, 405, OK, OK),
                 DELETE=_policy(405, OK, 405, OK, OK)),
    "logout": row(("POST",), _policy(LOGIN, LOGIN, LOGIN, LOGIN, LOGIN)),  # everyone ends on the login page
    # Configurations (console): read by support, changed by admins only; preview is a read.
    "configurations:list": row(ANY, CONSOLE),
    "configurations:detail": row(ANY, CONSOLE),
    "configurations:create": row(("GET", "POST"), CONSOLE_ADMIN),
    "configurations:validate_new": row(("POST",), CONSOLE_ADMIN),
    "configurations:edit": row(("GET", "POST"), CONSOLE_ADMIN),
    "configurations:validate": row(("POST",), CONSOLE_ADMIN),
    "configurations:preview": row(("POST",), CONSOLE),
    "configurations:delete": row(("GET", "POST"), CONSOLE_ADMIN),
    "configurations:search": row(("GET",), CONSOLE_ADMIN),
    "configurations:assign": row(("POST",), CONSOLE_ADMIN),
    "configurations:unassign": row(("POST",), CONSOLE_ADMIN),
    "configurations:impact": row(("POST",), CONSOLE_ADMIN),  # previews a change only those who may make it
    # Synced users (console): support may sync now, test and reset; routing a mailbox is for admins.
    "users:list": row(ANY, CONSOLE),
    "users:detail": row(ANY, CONSOLE),
    "users:sync_now": row(("POST",), CONSOLE),
    "users:test_connection": row(("POST",), CONSOLE),
    "users:reset": row(("GET", "POST"), CONSOLE),
    "users:route": row(("POST",), CONSOLE_ADMIN),
    "users:dry_run": row(("POST",), CONSOLE),  # reads both ends, writes nothing
    "users:records": row(("GET",), CONSOLE),  # the record explorer panel: reads only
    "users:bulk": row(("POST",), CONSOLE),  # each action checks its own permission (assign: admins)
    "users:import_assignments": row(("POST",), CONSOLE_ADMIN),
    # Runs and connections (console): saving a connection is for admins (testing one is for support too).
    "sync:runs": row(ANY, CONSOLE),
    "sync:run": row(ANY, CONSOLE),
    "sync:runs_csv": row(ANY, CONSOLE),
    "sync:run_progress": row(ANY, CONSOLE),
    "sync:preview": row(("GET",), CONSOLE),
    "sync:connections": row(("GET", "PUT", "PATCH", "DELETE"), CONSOLE, body={"kind": "salesforce"},
                            POST=CONSOLE_ADMIN),
    # The audit trail page: admins and support. API tokens page: admins only.
    "audit:*": row(ANY, CONSOLE),
    "apitokens:list": row(ANY, CONSOLE_ADMIN),
    "apitokens:revoke": row(("POST",), CONSOLE_ADMIN),
    # Accounts page: admins only. Changing one's own password: any console user.
    "accounts:list": row(("GET", "POST"), CONSOLE_ADMIN),
    "accounts:role": row(("POST",), CONSOLE_ADMIN),
    "accounts:password": row(("POST",), CONSOLE_ADMIN),
    "accounts:deactivate": row(("POST",), CONSOLE_ADMIN),
    "accounts:reactivate": row(("POST",), CONSOLE_ADMIN),
    "password_change": row(("GET", "POST"), CONSOLE),
    # Alerts page: admins only; the SMTP sink's mail page exists under DEBUG only (tests run without: 404).
    "alerts:page": row(("GET", "POST"), CONSOLE_ADMIN),
    "alerts:mail": row(("GET",), _policy(LOGIN, 403, LOGIN, 403, 404)),
    # The REST API.
    "api:api-root": row(("GET",), API_READ),
    "api:feeds": row(("GET",), API_READ),
    "api:me": row(("GET",), _policy(401, OK, OK, OK, OK)),  # any account: who am I, which role
    "api:configuration-list": row(("GET",), API_READ, POST=API_CHANGE),
    "api:configuration-detail": row(("GET",), API_READ, PATCH=API_CHANGE, DELETE=API_CHANGE),
    "api:configuration-users": row(("GET",), API_READ),
    "api:configuration-audit": row(("GET",), API_READ),
    "api:configuration-record-counts": row(("GET",), API_READ),
    "api:configuration-assign": row(("POST",), API_CHANGE),
    "api:configuration-unassign": row(("POST",), API_CHANGE),
    "api:syncuser-list": row(("GET",), API_READ, POST=API_CHANGE),
    "api:syncuser-detail": row(("GET",), API_READ, PATCH=API_CHANGE),
    "api:syncuser-records": row(("GET",), API_READ),  # the record explorer: reads only
    "api:syncuser-explain-record": row(("GET",), API_READ),
    "api:user-import": row(("POST",), API_CHANGE),
    "api:user-bulk": row(("POST",), API_OPERATE),  # each action checks its own permission (assign: admin, api)
    "api:configuration-users-csv": row(("GET",), API_READ),
    "api:assignment-import": row(("POST",), API_CHANGE),
    "api:user-sync": row(("POST",), API_OPERATE),
    "api:user-reset": row(("POST",), API_OPERATE),
    "api:user-test-connection": row(("POST",), API_OPERATE),
    "api:user-dry-run": row(("POST",), API_OPERATE),  # reads both ends, writes nothing: support staff too
    "api:preview-detail": row(("GET",), API_READ),
    "api:configuration-impact": row(("POST",), API_CHANGE),  # previews a change only those who may make it
    "api:audit-list": row(("GET",), API_READ),
    "api:audit-detail": row(("GET",), API_READ),
    "api:syncrun-list": row(("GET",), API_READ),
    "api:syncrun-csv": row(("GET",), API_READ),
    "api:syncrun-detail": row(("GET",), API_READ),
    "api:connection-list": row(("GET",), API_READ),
    "api:connection-detail": row(("GET",), API_READ, PUT=API_CHANGE, PATCH=API_CHANGE),
    "api:connection-test": row(("POST",), API_OPERATE),
    "api:alert-settings": row(("GET", "PUT"), API_CHANGE, body={"after_minutes": 30}),  # admins and api only
    "api:alert-list": row(("GET",), API_CHANGE),
    # The schema and its docs: any role that may use the API; a browser without a session goes to the login.
    "schema": row(("GET",), API_READ),
    "api-docs": row(("GET",), _policy(LOGIN, 403, OK, OK, OK)),
    # The admin site's own pages (its model pages follow, from ADMIN_SITE_MODELS).
    "admin:index": row(ANY, ADMIN_SITE),
    "admin:app_list": row(ANY, ADMIN_SITE),
    "admin:login": row(("GET", "POST", "PUT"), PUBLIC),
    # Django's admin sends a non-staff caller of its logout to its index (then its login); staff log out by POST.
    "admin:logout": row(("GET", "PUT", "PATCH", "DELETE"), _policy(302, 302, 302, 302, 405),
                        POST=_policy(302, 302, 302, 302, LOGIN)),
    "admin:password_change": row(("GET", "POST", "PUT"), ADMIN_SITE),
    "admin:password_change_done": row(("GET",), ADMIN_SITE),
    "admin:jsi18n": row(("GET",), ADMIN_SITE),
    "admin:autocomplete": row(("GET",), ADMIN_SITE_403),  # without its parameters: refused even to staff
    "admin:view_on_site": row(ANY, ADMIN_SITE_404),  # no model here has a public page
    "admin:auth_user_password_change": row(ANY, ADMIN_SITE_403),  # superusers only
    "admin/(?P<url>.*)$": row(ANY, ADMIN_SITE_404),
}

# What the admin role may do on each model's pages of the admin site ("" = nothing: the model is for superusers).
# Changes go through the services, so the domain's models are read-only there; connections are saved through the
# connection service (its checks and audit entry) and never deleted there (it would be unaudited).
ADMIN_SITE_MODELS = {
    "auth.group": "", "auth.user": "", "axes.accessattempt": "", "axes.accesslog": "", "axes.accessfailurelog": "",
    "syncadmin.heartbeat": "", "apitokens.apitoken": "",
    "audit.auditentry": "view",
    "configurations.outlookconfiguration": "view", "configurations.profileassignment": "view",
    "users.syncuser": "view", "users.userobjectstate": "view",
    "sync.syncrun": "view", "sync.recordlink": "view",
    "sync.connection": "view add change",
}


def _admin_model_rows(model: str, rights: str) -> dict[str, Row]:
    app, name = model.split(".")
    may = rights.split()

    def only(right: str) -> dict:
        return ADMIN_SITE if right in may else ADMIN_SITE_403

    reads = only("view" if "view" in may else "change")
    prefix = f"admin:{app}_{name}"
    return {
        f"{prefix}_changelist": row(ANY, reads),
        f"{prefix}_add": row(ANY, only("add")),
        f"{prefix}_change": row(ANY, reads, POST=only("change")),
        f"{prefix}_delete": row(ANY, only("delete")),
        f"{prefix}_history": row(ANY, reads),
        f"admin/{app}/{name}/<path:object_id>/": row(ANY, ADMIN_SITE),  # redirects to the change page
    }


for _model, _rights in ADMIN_SITE_MODELS.items():
    TABLE.update(_admin_model_rows(_model, _rights))


# ---- the URLs, as the resolver has them ------------------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    route: str  # the whole route, prefixes joined
    name: str | None

    @property
    def key(self) -> str:
        return self.name or self.route


def _walk(patterns, prefix: str = "", namespace: str | None = None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield Pattern(prefix + str(pattern.pattern), name)


PATTERNS = list(_walk(get_resolver().url_patterns))


def _row_for(pattern: Pattern) -> Row | None:
    if pattern.key in TABLE:
        return TABLE[pattern.key]
    return next((row for key, row in TABLE.items() if fnmatch.fnmatchcase(pattern.key, key)), None)


# ---- the objects behind the path parameters ---------------------------------------------------------------------


@dataclass
class World:
    clients: dict[str, dict]  # caller -> how it authenticates (session cookie, token header)
    ids: dict[str, str]  # what a path parameter names -> an existing object's id


# Console and API paths whose `pk` names an object of this kind.
PATH_OBJECTS = (
    ("configurations/", "configuration"), ("users/", "sync_user"), ("sync/runs/", "run"),
    ("api-tokens/", "token"), ("accounts/", "account"), ("api/v1/configurations/", "configuration"),
    ("api/v1/users/", "sync_user"),
    ("api/v1/audit/", "audit_entry"), ("api/v1/sync-runs/", "run"), ("api/v1/previews/", "preview"),
    ("sync/previews/", "preview"),
)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """One set of accounts and objects for the whole module, rolled back at its end."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield _build_world()
        transaction.set_rollback(True)


def _session(user) -> dict:
    client = Client()
    client.force_login(user)
    return {"cookie": client.cookies[settings.SESSION_COOKIE_NAME].value}


def _build_world() -> World:
    password = "matrix password 1234"
    no_role = get_user_model().objects.create_user("matrix-no-role", password=password)
    support = create_account("matrix-support", SUPPORT, password=password)
    admin = create_account("matrix-admin", ADMIN, password=password)
    api = create_account("matrix-api", "api")
    configuration = make_configuration("Matrix", profiles=["Matrix Profile"], data_settings={
        "contacts": {"direction": "both"}})
    sync_user = make_user(profile="Matrix Profile")
    run = SyncRun.objects.create(user=sync_user, object="contacts", trigger="schedule")
    link = RecordLink.objects.create(user=sync_user, object="contacts", salesforce_id="003000000000001AAA")
    connection = Connection.objects.create(kind="exchange", url="https://127.0.0.1:9/EWS/Exchange.asmx")
    preview = Preview.objects.create(kind=Preview.Kind.DRY_RUN, user=sync_user)
    Heartbeat.objects.create(name="matrix", seen_at=timezone.now())
    api_key = make_token(api)
    token_row = ApiToken.objects.get(user=api)
    logged = {"user_agent": "matrix", "ip_address": "127.0.0.1", "username": "nobody", "http_accept": "*/*",
              "path_info": "/accounts/login/"}
    attempt = AccessAttempt.objects.create(**logged, get_data="", post_data="", failures_since_start=1)
    access_log = AccessLog.objects.create(**logged)
    failure_log = AccessFailureLog.objects.create(**logged)
    by_model = {
        "auth.group": admin.groups.get().pk, "auth.user": no_role.pk, "axes.accessattempt": attempt.pk,
        "axes.accesslog": access_log.pk, "axes.accessfailurelog": failure_log.pk,
        "syncadmin.heartbeat": Heartbeat.objects.get().pk, "apitokens.apitoken": token_row.pk,
        "audit.auditentry": AuditEntry.objects.first().pk, "configurations.outlookconfiguration": configuration.pk,
        "configurations.profileassignment": configuration.profile_assignments.get().pk,
        "users.syncuser": sync_user.pk, "users.userobjectstate": sync_user.object_states.first().pk,
        "sync.syncrun": run.pk, "sync.recordlink": link.pk, "sync.connection": connection.pk,
    }
    ids = {
        "configuration": configuration.pk, "sync_user": sync_user.pk, "run": run.pk, "token": token_row.pk,
        "account": support.pk, "preview": preview.pk,
        "audit_entry": AuditEntry.objects.first().pk, "content_type_id": ContentType.objects.get_for_model(
            type(sync_user)).pk, "view_on_site_object": sync_user.pk,
        **{f"admin:{model}": pk for model, pk in by_model.items()},
    }
    clients = {
        "anonymous": {},
        "no_role": _session(no_role),
        "api": {"token": api_key},
        "support": _session(support),
        "admin": _session(admin),
    }
    return World(clients, {key: str(value) for key, value in ids.items()})


def _value(route: str, parameter: str, converter: str | None, world: World) -> str:
    plain = route.replace("^", "")
    if parameter == "format":
        return ".json" if converter == "drf_format_suffix" else "json"
    fixed = {"kind": "salesforce", "app_label": "configurations", "url": "no-such-page/"}
    if parameter in fixed:
        return fixed[parameter]
    if parameter == "content_type_id":
        return world.ids["content_type_id"]
    if plain.startswith("admin/r/"):
        return world.ids["view_on_site_object"]
    if plain.startswith("admin/"):  # an admin page's object: admin/<app>/<model>/<object_id>/...
        app, model = plain.split("/")[1:3]
        return world.ids[f"admin:{app}.{model}"]
    for prefix, kind in sorted(PATH_OBJECTS, key=lambda item: -len(item[0])):
        if plain.startswith(prefix):
            return world.ids[kind]
    raise LookupError(f"no object for the path parameter {parameter!r} of {route!r}: add it to PATH_OBJECTS")


def _url(pattern: Pattern, world: World) -> str:
    route = pattern.route

    def converter(match: re.Match) -> str:
        return _value(route, match["name"], match["converter"], world)

    def group(match: re.Match) -> str:
        return _value(route, match["name"], None, world)

    path = re.sub(r"\(\?P<(?P<name>\w+)>(?:[^()]|\([^()]*\))*\)", group, route)
    path = re.sub(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>", converter, path)
    path = "/" + path.replace("^", "").replace("$", "").replace("\\.", ".").replace("/?", "/")
    assert resolve(path).route.replace("^", "") == route.replace("^", ""), f"{path} does not resolve to {route}"
    return path


# ---- one request, and what its answer is ------------------------------------------------------------------------


def _call(method: str, url: str, caller: dict, body: dict | None):
    client = Client()
    if "cookie" in caller:
        client.cookies[settings.SESSION_COOKIE_NAME] = caller["cookie"]
    extra = {"HTTP_AUTHORIZATION": f"Token {caller['token']}"} if "token" in caller else {}
    data, content_type = b"", None
    if method in ("POST", "PUT", "PATCH"):
        if url.startswith("/api/"):
            data, content_type = json.dumps(body or {}), "application/json"
        else:
            data, content_type = urlencode(body or {}), "application/x-www-form-urlencoded"
    with transaction.atomic():  # whatever the request changes is undone before the next one
        response = client.generic(method, url, data, content_type=content_type or "application/octet-stream",
                                  **extra)
        transaction.set_rollback(True)
    return response


def _outcome(response) -> object:
    if response.status_code in (301, 302, 303, 307, 308):
        location = response["Location"]
        if location.startswith(settings.LOGIN_URL if settings.LOGIN_URL.startswith("/") else "/accounts/login/"):
            return LOGIN
        if location.startswith("/admin/login/"):
            return ADMIN_LOGIN
    return response.status_code


def _meets(outcome: object, expected: object) -> bool:
    if isinstance(expected, tuple):
        return outcome in expected
    if expected == OK:
        return isinstance(outcome, int) and outcome < 500 and outcome not in REFUSALS and outcome != 404
    return outcome == expected


# ---- the test ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("pattern", PATTERNS, ids=[pattern.route for pattern in PATTERNS])
def test_authorization_matrix(world, pattern):
    found = _row_for(pattern)
    assert found is not None, (
        f"{pattern.route} ({pattern.key}) has no row in the authorization matrix: add it to TABLE in "
        "tests/test_authorization_matrix.py, with what each caller may do")
    url = _url(pattern, world)
    wrong = []
    for method in METHODS:
        for caller in CALLERS:
            outcome = _outcome(_call(method, url, world.clients[caller], found.body))
            if method in found.methods:
                expected = found.methods[method][caller]
                if not _meets(outcome, expected):
                    wrong.append(f"{method} {url} as {caller}: {outcome}, expected {expected}")
            elif outcome not in REFUSALS:
                wrong.append(f"{method} {url} as {caller}: {outcome}, but the matrix names no {method} here "
                             "(refuse it, or add it to the row)")
    assert not wrong, "\n".join(wrong)


def test_every_row_names_a_url():
    """A row whose URL is gone is an error too: the table documents what exists."""
    keys = {pattern.key for pattern in PATTERNS}
    stale = [key for key in TABLE if key not in keys and not any(fnmatch.fnmatchcase(k, key) for k in keys)]
    assert not stale, stale

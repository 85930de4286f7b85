"""Security headers: nothing rendered is cached (console, admin, API), a Content-Security-Policy on every page, and
HSTS over HTTPS only, on by default in production. That the policy lets every page work with no violation is
tests/browser/test_content_security_policy.py."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in policy.split(";") if part.strip())}


@pytest.fixture
def console(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize("path", ["/", "/configurations/", "/users/", "/sync/runs/", "/sync/connections/",
                                  "/admin/", "/admin/users/syncuser/", "/api/v1/configurations/"])
def test_console_admin_and_api_pages_are_never_stored(console, path):
    response = console.get(path)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_token_api_answers_are_never_stored(admin_client_api):
    response = admin_client_api.get("/api/v1/configurations/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("path", ["/accounts/login/", "/api/v1/configurations/"])
def test_anonymous_answers_are_never_stored_either(client, db, path):
    assert "no-store" in client.get(path)["Cache-Control"]


def test_a_page_that_already_says_no_cache_keeps_its_own_header_with_no_store(console):
    response = console.get("/admin/")  # the admin marks its pages never_cache
    assert response["Cache-Control"].count("no-store") == 1 and "private" in response["Cache-Control"]


def test_console_pages_have_a_content_security_policy_without_inline_scripts_or_eval(console):
    policy = directives(console.get("/"))
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"][0] == "'self'"
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*"} & set(policy["script-src"])
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"] and policy["form-action"] == ["'self'"]


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_login_pages_have_the_policy_too(client, db, path):
    assert "default-src 'self'" in client.get(path)["Content-Security-Policy"]


def test_the_api_docs_inline_script_carries_the_policys_nonce(console):
    response = console.get("/api/docs/")
    assert response.status_code == 200
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    scripts = re.findall(r"<script([^>]*)>", response.content.decode())
    inline = [attributes for attributes in scripts if "src=" not in attributes]
    assert inline == [f' nonce="{nonce}"']


def test_no_page_of_the_console_uses_inline_handlers_or_htmx_eval():
    """htmx's hx-on and hx-vals="js:..." evaluate code, which the policy refuses: use static/syncadmin/console.js."""
    offenders = []
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        if re.search(r"\shx-on[:-]|\son[a-z]+=|js:|<script(?![^>]*\ssrc=)", text):
            offenders.append(str(template.relative_to(ROOT)))
    allowed = {"templates/drf_spectacular/swagger_ui.html"}  # its inline script carries the nonce
    assert set(offenders) <= allowed, offenders


def test_hsts_is_sent_over_https_only(client, db, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    assert "Strict-Transport-Security" not in client.get("/accounts/login/")
    assert client.get("/accounts/login/", secure=True)["Strict-Transport-Security"] == "max-age=3600"


def test_development_sends_no_hsts(client, db):
    assert client.get("/accounts/login/", secure=True).get("Strict-Transport-Security") is None


def test_the_https_redirect_leaves_the_health_check_reachable_over_http(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True
    redirected = client.get("/accounts/login/")
    assert redirected.status_code == 301 and redirected.url.startswith("https://")
    assert client.get("/healthz").status_code in (200, 503)  # answered, not redirected


def settings_in_a_process(env_overrides: dict[str, str], *names: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "SECRETS_KEY", "SYNCADMIN_ENV"}}
    env.update(env_overrides)
    code = ("import json; from django.conf import settings as s; "
            f"print(json.dumps({{n: getattr(s, n) for n in {list(names)!r}}}))")
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_turns_hsts_on_for_a_year_and_it_is_settable():
    production = {"SYNCADMIN_ENV": "production", "DEBUG": "false", "SECRET_KEY": "k" * 50, "SECRETS_KEY": "s" * 50}
    assert settings_in_a_process(production, "SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT") == {
        "SECURE_HSTS_SECONDS": 365 * 24 * 3600, "SECURE_SSL_REDIRECT": False}
    assert settings_in_a_process({**production, "SECURE_HSTS_SECONDS": "600", "SECURE_SSL_REDIRECT": "true",
                                  "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true"},
                                 "SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT", "SECURE_HSTS_INCLUDE_SUBDOMAINS") == {
        "SECURE_HSTS_SECONDS": 600, "SECURE_SSL_REDIRECT": True, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True}
    assert settings_in_a_process({}, "SECURE_HSTS_SECONDS") == {"SECURE_HSTS_SECONDS": 0}

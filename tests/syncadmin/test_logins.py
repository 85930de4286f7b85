"""Login throttling and lockout (django-axes) on the console's and the admin's login, the client's address behind
proxies, and sessions that end when idle. The limit is the product's real one (5 failures, 15 minutes)."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db.models import F
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from syncadmin.security import client_address
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
LOGIN_PAGES = ["login", "admin:login"]


def attempt(client, username, password="wrong password", page="login", **extra):
    return client.post(reverse(page), {"username": username, "password": password}, **extra)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def lock(client, username, page="login", **extra):
    """Fail until locked; the last failure (the limit-th) already answers with the lockout page."""
    for _ in range(django_settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, username, page=page, **extra).status_code == 200
    return attempt(client, username, page=page, **extra)


def age_attempts(minutes: float) -> None:
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=minutes))


def test_the_real_limits_are_the_documented_defaults():
    assert django_settings.AXES_FAILURE_LIMIT == 5
    assert django_settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert django_settings.AXES_LOCKOUT_PARAMETERS == ["username", "ip_address"]
    assert django_settings.AXES_HANDLER == "axes.handlers.database.AxesDatabaseHandler"


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_the_limit_th_failure_locks_out_with_429_retry_after_and_a_page_that_says_when(client, admin_user, page):
    response = lock(client, admin_user.username, page=page)
    assert response.status_code == 429
    assert 15 * 60 - 5 <= int(response["Retry-After"]) <= 15 * 60
    text = response.content.decode()
    assert "Too many failed logins" in text
    assert "Try again after" in text and "in about 15 minutes" in text
    assert "axes_reset_username" in text


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_the_right_password_during_lockout_does_not_log_in(client, admin_user, page):
    lock(client, admin_user.username, page=page)
    response = attempt(client, admin_user.username, PASSWORD, page=page)
    assert response.status_code == 429
    assert not logged_in(client)
    assert client.get(reverse("dashboard")).status_code == 302


def test_fewer_failures_than_the_limit_still_let_the_right_password_in(client, admin_user):
    for _ in range(django_settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, admin_user.username)
    response = attempt(client, admin_user.username, PASSWORD)
    assert response.status_code == 302 and logged_in(client)


def test_an_account_is_locked_whichever_address_the_failures_come_from(client, admin_user):
    for n in range(django_settings.AXES_FAILURE_LIMIT):
        attempt(client, admin_user.username, REMOTE_ADDR=f"198.51.100.{n + 1}")
    response = attempt(client, admin_user.username, PASSWORD, REMOTE_ADDR="203.0.113.50")
    assert response.status_code == 429 and not logged_in(client)


def test_an_address_is_locked_whichever_accounts_it_tries(client, admin_user, support_user):
    for n in range(django_settings.AXES_FAILURE_LIMIT):
        attempt(client, f"guess{n}", REMOTE_ADDR="198.51.100.7")
    refused = attempt(client, support_user.username, PASSWORD, REMOTE_ADDR="198.51.100.7")
    assert refused.status_code == 429 and not logged_in(client)
    # The account itself is not locked: from another address its owner gets in.
    allowed = attempt(client, support_user.username, PASSWORD, REMOTE_ADDR="203.0.113.8")
    assert allowed.status_code == 302 and logged_in(client)


def test_refused_attempts_are_turned_away_before_the_password_is_hashed(client, admin_user, monkeypatch):
    checked = []
    original = ModelBackend.authenticate

    def counting(self, request, username=None, password=None, **kwargs):
        checked.append(username)
        return original(self, request, username=username, password=password, **kwargs)

    monkeypatch.setattr(ModelBackend, "authenticate", counting)
    lock(client, admin_user.username)
    assert len(checked) == django_settings.AXES_FAILURE_LIMIT
    for _ in range(10):
        assert attempt(client, admin_user.username, PASSWORD).status_code == 429
    assert len(checked) == django_settings.AXES_FAILURE_LIMIT


def test_attempts_during_the_lockout_do_not_extend_it(client, admin_user):
    first = int(lock(client, admin_user.username)["Retry-After"])
    age_attempts(minutes=5)
    later = attempt(client, admin_user.username)
    assert later.status_code == 429
    assert int(later["Retry-After"]) == pytest.approx(first - 5 * 60, abs=5)


def test_the_lockout_ends_after_the_cool_off(client, admin_user):
    lock(client, admin_user.username)
    age_attempts(minutes=15)
    response = attempt(client, admin_user.username, PASSWORD)
    assert response.status_code == 302 and logged_in(client)


@pytest.mark.parametrize("command", ["axes_reset_username", "axes_reset"])
def test_an_admin_unlocks_an_account_from_the_command_line(client, admin_user, command):
    """What the README's "Locked out?" paragraph says to run."""
    lock(client, admin_user.username)
    call_command(command, *([admin_user.username] if command == "axes_reset_username" else []))
    response = attempt(client, admin_user.username, PASSWORD)
    assert response.status_code == 302 and logged_in(client)


def test_a_superuser_unlocks_an_account_in_the_admin_site(client, support_user):
    lock(client, support_user.username, REMOTE_ADDR="198.51.100.9")
    superuser = get_user_model().objects.create_superuser("root", password=PASSWORD)
    client.force_login(superuser)
    listing = client.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and support_user.username in listing.content.decode()
    pks = list(AccessAttempt.objects.values_list("pk", flat=True))
    client.post("/admin/axes/accessattempt/", {"action": "delete_selected", "_selected_action": pks, "post": "yes"})
    assert not AccessAttempt.objects.exists()
    client.logout()
    response = attempt(client, support_user.username, PASSWORD, REMOTE_ADDR="198.51.100.9")
    assert response.status_code == 302 and logged_in(client)


# ---- the client's address -----------------------------------------------------------------------------------------


def request_from(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().post("/accounts/login/", **extra)


def test_without_trusted_proxies_the_address_is_the_connections_own(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(request_from("203.0.113.5", "198.51.100.1")) == "203.0.113.5"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the client's own entry (left) is never trusted
        (2, "6.6.6.6, 198.51.100.1, 10.0.0.2", "198.51.100.1"),
        (2, "198.51.100.1", "10.0.0.1"),  # fewer entries than proxies: did not come through them all
        (1, "", "10.0.0.1"),
        (1, "not-an-address", "10.0.0.1"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_behind_trusted_proxies_the_address_is_the_one_the_outermost_proxy_saw(settings, proxies, forwarded,
                                                                               expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    assert client_address(request_from("10.0.0.1", forwarded)) == expected


def test_behind_a_proxy_two_clients_are_counted_apart(client, settings, admin_user):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        attempt(client, "someone-else", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.20")
    response = attempt(client, admin_user.username, PASSWORD, REMOTE_ADDR="10.0.0.1",
                       HTTP_X_FORWARDED_FOR="198.51.100.21")
    assert response.status_code == 302 and logged_in(client)


# ---- sessions -----------------------------------------------------------------------------------------------------


def test_a_session_is_an_idle_timeout_of_eight_hours_by_default(client, admin_user):
    assert django_settings.SESSION_COOKIE_AGE == 8 * 3600 and django_settings.SESSION_SAVE_EVERY_REQUEST
    attempt(client, admin_user.username, PASSWORD)
    session = Session.objects.get(session_key=client.session.session_key)
    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() + timedelta(minutes=1))
    assert client.get(reverse("dashboard")).status_code == 200
    renewed = Session.objects.get(pk=session.pk).expire_date
    assert renewed > timezone.now() + timedelta(hours=8) - timedelta(minutes=1)


def test_an_idle_session_has_ended(client, admin_user):
    attempt(client, admin_user.username, PASSWORD)
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


# ---- the settings, from the environment (a real process) ----------------------------------------------------------


def settings_in_a_process(env_overrides: dict[str, str], *names: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "SECRETS_KEY", "SYNCADMIN_ENV"}}
    env.update(env_overrides)
    code = ("import json; from django.conf import settings as s; "
            f"print(json.dumps({{n: str(getattr(s, n)) for n in {list(names)!r}}}))")
    return subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_limits_and_idle_time_are_read_from_the_environment():
    result = settings_in_a_process(
        {"LOGIN_FAILURE_LIMIT": "8", "LOGIN_COOLOFF_MINUTES": "30", "SESSION_IDLE_MINUTES": "60",
         "BEHIND_TLS_PROXY": "true"},
        "AXES_FAILURE_LIMIT", "AXES_COOLOFF_TIME", "SESSION_COOKIE_AGE", "TRUSTED_PROXY_COUNT",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "AXES_FAILURE_LIMIT": "8", "AXES_COOLOFF_TIME": "0:30:00", "SESSION_COOKIE_AGE": "3600",
        # Behind the TLS proxy the proxy's X-Forwarded-For entry is the client's address unless said otherwise.
        "TRUSTED_PROXY_COUNT": "1",
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"LOGIN_FAILURE_LIMIT": "five"}, "LOGIN_FAILURE_LIMIT: expected an integer, got 'five'"),
        ({"LOGIN_FAILURE_LIMIT": "0"}, "LOGIN_FAILURE_LIMIT: must be at least 1"),
        ({"LOGIN_COOLOFF_MINUTES": "0"}, "LOGIN_COOLOFF_MINUTES: must be at least 1"),
        ({"SESSION_IDLE_MINUTES": "1"}, "SESSION_IDLE_MINUTES: must be at least 5"),
        ({"TRUSTED_PROXY_COUNT": "-1"}, "TRUSTED_PROXY_COUNT: must be at least 0"),
    ],
)
def test_bad_values_stop_start_up_naming_the_variable(overrides, message):
    result = settings_in_a_process(overrides, "AXES_FAILURE_LIMIT")
    assert result.returncode != 0
    assert message in result.stderr

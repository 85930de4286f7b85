"""`createtoken` issues a new token on each call and prints it as the last line; the printed key works."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from apitokens.models import ApiToken

pytestmark = pytest.mark.django_db


def last_line(capsys) -> str:
    return capsys.readouterr().out.strip().splitlines()[-1]


def me(key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/me/")


def test_the_printed_token_works(capsys):
    call_command("createtoken", "robot", "--create", "--role", "api")
    response = me(last_line(capsys))
    assert response.status_code == 200 and response.json() == {"username": "robot", "role": "api"}


def test_each_call_issues_another_token_and_rotate_revokes_the_others(capsys):
    call_command("createtoken", "robot", "--create")
    first = last_line(capsys)
    call_command("createtoken", "robot", "--name", "CRM job", "--expires-in-days", "30")
    second = last_line(capsys)
    assert first != second and me(first).status_code == 200 and me(second).status_code == 200
    newest = ApiToken.objects.get(prefix=second[:13])
    assert newest.name == "CRM job" and newest.expires_at is not None
    call_command("createtoken", "robot", "--rotate")
    third = last_line(capsys)
    assert me(third).status_code == 200
    assert me(first).status_code == 401 and me(second).status_code == 401


def test_a_bad_expiry_is_refused(db):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("createtoken", "robot", "--create", "--expires-in-days", "0")

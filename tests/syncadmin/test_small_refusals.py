"""Issue 15 item 12: a refusal says which role the account has and which role the page needs, is logged as one line
without a traceback, and logging out says so on the login page."""

import logging

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD
from tests.factories import make_configuration

pytestmark = pytest.mark.django_db


def _refusal_records(caplog, path: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if path in r.getMessage() and r.levelno >= logging.WARNING]


def _handlers_reached(logger_name: str) -> int:
    """How many handlers a record of this logger reaches, pytest's capture left out (a second one prints it twice)."""
    logger, count = logging.getLogger(logger_name), 0
    while logger is not None:
        count += sum(1 for h in logger.handlers if not type(h).__module__.startswith("_pytest"))
        logger = logger.parent if logger.propagate else None
    return count


def test_support_is_told_its_role_and_the_role_the_page_needs(client, support_user):
    client.force_login(support_user)
    page = client.get(reverse("configurations:create"))
    assert page.status_code == 403
    text = page.content.decode()
    assert "with the <strong>support</strong> role; this page needs <strong>the admin role</strong>." in text
    assert "Only administrators change configurations and assignments." in text
    assert "admin</strong> or <strong>support" not in text  # the old advice, wrong for support staff


def test_an_account_without_a_role_is_told_the_console_needs_one(client, outsider):
    client.force_login(outsider)
    page = client.get(reverse("users:list"))
    assert page.status_code == 403
    text = page.content.decode()
    assert "which has no role yet; this page needs <strong>the admin or support role</strong>." in text
    assert "olive.outsider" in text


def test_a_refusal_is_logged_as_one_line_without_a_traceback(client, support_user, caplog):
    configuration = make_configuration()
    client.force_login(support_user)
    path = reverse("configurations:delete", args=[configuration.pk])
    with caplog.at_level(logging.INFO):
        assert client.get(path).status_code == 403
    records = _refusal_records(caplog, path)
    assert len(records) == 1, [r.getMessage() for r in records]
    record = records[0]
    assert record.exc_info is None and not record.exc_text
    assert "sam.support" in record.getMessage() and "support" in record.getMessage()
    assert _handlers_reached(record.name) == 1


def test_logging_out_says_so_on_the_login_page(client, admin_user):
    assert client.login(username=admin_user.username, password=PASSWORD)
    page = client.post(reverse("logout"), follow=True)
    assert page.redirect_chain[-1][0] == reverse("login")
    assert "You are logged out." in page.content.decode()

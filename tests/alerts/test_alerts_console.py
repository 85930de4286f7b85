"""The console's Alerts page and, under DEBUG, the SMTP sink's mail page (fed by a real SMTP conversation)."""

import logging
import socket

import pytest
from django.core.mail import EmailMessage, get_connection

from alerts.models import Alert, AlertSettings, Cause, Channel
from sandbox.runner import start_sandbox
from sandbox.smtp_sink import kept_messages, start_sink
from syncadmin.roles import ADMIN, SUPPORT
from syncadmin.services import create_account

PASSWORD = "alerts console password 1234"


@pytest.fixture
def admin(client, db):
    create_account("alerts-admin", ADMIN, password=PASSWORD)
    client.login(username="alerts-admin", password=PASSWORD)
    return client


def test_the_page_saves_the_settings_and_lists_the_alerts_sent(admin):
    Alert.objects.create(cause=Cause.NEEDS_ATTENTION, cause_key="needs_attention:FOLDER_MISSING",
                         code="FOLDER_MISSING", subject="200 users need attention (FOLDER_MISSING)", body="b",
                         user_count=200, channel=Channel.EMAIL, recipients=["ops@example.com"])
    page = admin.get("/alerts/")
    assert page.status_code == 200
    assert "200 users need attention (FOLDER_MISSING)" in page.content.decode()

    response = admin.post("/alerts/", {"emails": "ops@example.com\noncall@example.com", "webhook_url": "",
                                       "webhook_secret": "", "after_minutes": "45", "api_share_percent": "75",
                                       "digest": "on"}, follow=True)
    assert "The alert settings are saved" in response.content.decode()
    row = AlertSettings.load()
    assert (row.emails, row.after_minutes, row.api_share_threshold, row.digest) == (
        ["ops@example.com", "oncall@example.com"], 45, 0.75, True)


def test_a_refused_webhook_url_is_shown_beside_its_field(admin):
    response = admin.post("/alerts/", {"emails": "", "webhook_url": "https://169.254.169.254/",
                                       "webhook_secret": "0123456789abcdef", "after_minutes": "60",
                                       "api_share_percent": "80"})
    assert response.status_code == 400
    assert "169.254.169.254 is a cloud metadata address" in response.content.decode()
    assert AlertSettings.load().webhook_url == ""


def test_support_staff_are_refused(client, db):
    create_account("alerts-support", SUPPORT, password=PASSWORD)
    client.login(username="alerts-support", password=PASSWORD)
    assert client.get("/alerts/").status_code == 403


def test_the_smtp_sink_keeps_what_the_e_mail_backend_sends_and_the_mail_page_lists_it(admin, settings, tmp_path):
    settings.DEBUG = True
    settings.SANDBOX_DATA_DIR = tmp_path
    sink = start_sink(tmp_path / "mail", port=0)
    try:
        backend = get_connection("django.core.mail.backends.smtp.EmailBackend", host="127.0.0.1", port=sink.port,
                                 timeout=10)
        EmailMessage("[Sync console] 3 users need attention", "Users: a, b, c.", "sync@localhost",
                     ["ops@example.com"], connection=backend).send()
    finally:
        sink.stop()
    [kept] = kept_messages(tmp_path / "mail")
    assert (kept.subject, kept.to, kept.body.strip()) == (
        "[Sync console] 3 users need attention", "ops@example.com", "Users: a, b, c.")
    page = admin.get("/alerts/mail/").content.decode()
    assert "[Sync console] 3 users need attention" in page


def test_the_mail_page_does_not_exist_without_debug(admin):
    assert admin.get("/alerts/mail/").status_code == 404


def test_a_busy_smtp_port_leaves_the_emulators_running_and_says_so(tmp_path, caplog):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with caplog.at_level(logging.WARNING, logger="sandbox.runner"):
            running = start_sandbox(tmp_path, seed="empty", smtp_port=port)
        try:
            assert running.smtp is None
            assert running.salesforce_url.startswith("https://127.0.0.1:")
        finally:
            running.stop()
    assert f"The SMTP sink could not listen on 127.0.0.1:{port}" in caplog.text

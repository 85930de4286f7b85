"""Which causes are alerted, grouped and never repeated within the period; the daily digest."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.models import Alert, AlertSettings, Cause
from alerts.services import tick
from sync.models import SyncRun
from tests.factories import salesforce_user_id
from users.models import SyncState, SyncUser, UserObjectState

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def users_needing_attention(count: int, code: str = "FOLDER_MISSING", start: int = 0) -> list[SyncUser]:
    users = SyncUser.objects.bulk_create([
        SyncUser(salesforce_id=salesforce_user_id(90000 + start + n), username=f"na{start + n}@example.com",
                 email=f"na{start + n}@example.org", name=f"User {n}") for n in range(count)])
    UserObjectState.objects.bulk_create([
        UserObjectState(user=user, object="contacts", state=SyncState.NEEDS_ATTENTION, last_error_code=code,
                        last_error_message="The Salesforce_Sync contacts folder is missing.") for user in users])
    return users


def test_200_users_failing_with_the_same_code_make_one_alert(alert_settings):
    users_needing_attention(200)
    users_needing_attention(3, code="INSUFFICIENT_ACCESS", start=500)

    created = tick(NOW)

    assert sorted((a.code, a.user_count) for a in created) == [("FOLDER_MISSING", 200), ("INSUFFICIENT_ACCESS", 3)]
    assert len(mail.outbox) == 2
    folder = next(m for m in mail.outbox if "FOLDER_MISSING" in m.subject)
    assert folder.subject == "[Sync console] 200 users need attention (FOLDER_MISSING)"
    assert folder.to == ["ops@example.com"]
    assert "na0@example.com" in folder.body and "and 190 more" in folder.body
    assert Alert.objects.get(code="FOLDER_MISSING").state == Alert.State.DELIVERED
    assert len(Alert.objects.get(code="FOLDER_MISSING").users) == 50  # names kept; the count says 200


def test_the_tick_makes_as_many_queries_for_200_users_as_for_2(alert_settings):
    users_needing_attention(2)
    with CaptureQueriesContext(connection) as few:
        tick(NOW)
    Alert.objects.all().delete()
    users_needing_attention(198, start=1000)
    with CaptureQueriesContext(connection) as many:
        tick(NOW + timedelta(minutes=1))
    assert Alert.objects.get().user_count == 200
    assert len(many) == len(few)


def test_the_same_cause_is_not_alerted_again_within_the_period(alert_settings, settings):
    settings.ALERTS_REPEAT_HOURS = 24
    users_needing_attention(5)
    assert len(tick(NOW)) == 1
    users_needing_attention(5, start=100)  # more users, the same cause
    assert tick(NOW + timedelta(minutes=1)) == []
    assert tick(NOW + timedelta(hours=23)) == []
    assert len(mail.outbox) == 1

    again = tick(NOW + timedelta(hours=24, minutes=1))
    assert [a.user_count for a in again] == [10]
    assert len(mail.outbox) == 2


def test_nothing_is_alerted_while_no_channel_is_set(db):
    users_needing_attention(5)
    assert tick(NOW) == []
    assert AlertSettings.load().emails == []


def test_the_daily_digest_replaces_the_immediate_alerts(alert_settings, settings):
    settings.ALERTS_DIGEST_HOUR = 8
    settings.TIME_ZONE = "UTC"
    alert_settings.digest = True
    alert_settings.last_digest_at = NOW - timedelta(hours=2)  # today's digest already went out
    alert_settings.save()
    users_needing_attention(4)
    held = tick(NOW)
    users_needing_attention(2, code="INSUFFICIENT_ACCESS", start=200)
    held += tick(NOW + timedelta(hours=3))
    assert [a.state for a in held] == [Alert.State.HELD, Alert.State.HELD]
    assert mail.outbox == []

    assert tick(NOW.replace(hour=7) + timedelta(days=1)) == []  # before the digest hour: still held
    digest = tick(NOW.replace(hour=8, minute=0, second=30) + timedelta(days=1))

    assert [a.cause for a in digest] == [Cause.DIGEST]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "[Sync console] Daily digest: 2 alerts since the last digest"
    assert "4 users need attention (FOLDER_MISSING)" in message.body
    assert "2 users need attention (INSUFFICIENT_ACCESS)" in message.body
    assert set(Alert.objects.filter(cause=Cause.NEEDS_ATTENTION).values_list("state", flat=True)) == {"digested"}
    assert all(a.delivered for a in Alert.objects.filter(cause=Cause.NEEDS_ATTENTION).select_related("digest"))
    assert tick(NOW.replace(hour=9) + timedelta(days=1)) == []  # one digest a day


def test_an_error_lasting_past_after_minutes_is_alerted_once_it_has(alert_settings):
    alert_settings.after_minutes = 60
    alert_settings.save()
    user = SyncUser.objects.create(salesforce_id=salesforce_user_id(1), username="slow@example.com",
                                   email="slow@example.org", name="Slow")
    UserObjectState.objects.create(user=user, object="events", state=SyncState.ERROR, last_error_code="TIMEOUT",
                                   last_error_message="Exchange did not answer.",
                                   last_success_at=NOW - timedelta(hours=5))
    run = SyncRun.objects.create(user=user, object="events", trigger="schedule", state=SyncRun.State.FAILED,
                                 error_code="TIMEOUT")
    SyncRun.objects.filter(pk=run.pk).update(finished_at=NOW - timedelta(minutes=30))

    assert [a.cause for a in tick(NOW)] == []  # failing for 30 minutes only

    earlier = SyncRun.objects.create(user=user, object="events", trigger="schedule", state=SyncRun.State.FAILED,
                                     error_code="TIMEOUT")
    SyncRun.objects.filter(pk=earlier.pk).update(finished_at=NOW - timedelta(minutes=90))
    created = tick(NOW + timedelta(minutes=1))
    assert [(a.cause, a.code, a.users) for a in created] == [(Cause.ERROR_PERSISTS, "TIMEOUT", ["slow@example.com"])]


def test_runs_failing_on_an_end_are_a_connection_alert(alert_settings):
    alert_settings.evaluated_until = NOW - timedelta(minutes=1)
    alert_settings.save()
    for n in range(3):
        user = SyncUser.objects.create(salesforce_id=salesforce_user_id(10 + n), username=f"c{n}@example.com",
                                       email=f"c{n}@example.org", name="C")
        run = SyncRun.objects.create(user=user, object="contacts", trigger="schedule", state=SyncRun.State.FAILED,
                                     error_code="ErrorServerBusy", error_end="exchange",
                                     error_message="Exchange is busy.")
        SyncRun.objects.filter(pk=run.pk).update(finished_at=NOW - timedelta(seconds=20))

    created = tick(NOW)
    assert [(a.cause, a.code, a.user_count) for a in created] == [(Cause.CONNECTION_FAILED, "ErrorServerBusy", 3)]
    assert mail.outbox[0].subject == "[Sync console] Exchange connection failing for 3 users (ErrorServerBusy)"


@pytest.mark.parametrize(("used", "alerted"), [(79_000, False), (80_000, True)])
def test_salesforce_api_use_past_the_share_is_alerted(alert_settings, used, alerted):
    user = SyncUser.objects.create(salesforce_id=salesforce_user_id(5), username="api@example.com",
                                   email="api@example.org", name="A")
    SyncRun.objects.create(user=user, object="contacts", trigger="schedule", state=SyncRun.State.SUCCEEDED,
                           finished_at=NOW, salesforce_api_used=used, salesforce_api_allocation=100_000)
    created = tick(NOW)
    assert [a.cause for a in created] == ([Cause.API_SHARE] if alerted else [])
    if alerted:
        assert "used 80000 of its 100000 daily API requests (80 %" in mail.outbox[0].body

"""The Salesforce org feed's health and position against the sandbox: a failure is a state with a sentence (and
the recovery marks the gap), a watermark past the recycle bin (or a read refused for age) asks every user for a full
run, the poll interval backs off after ten quiet minutes, and an object nobody syncs in near real time is off."""

from datetime import timedelta

import pytest
import requests
from django.test import override_settings

from configurations.models import OutlookConfiguration, SyncMode
from sync.feeds.salesforce import BEHIND_ROWS, poll_feeds
from sync.models import ChangeFeed, Connection
from tests.feeds.test_feed_salesforce_routing import STEP, Org, dirty
from users.models import UserObjectState

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(connected) -> Org:
    return Org(connected)


def fault(org: Org, status: int, error_code: str, operation: str = "*/queryAll", count: int = 1) -> None:
    session = requests.Session()
    session.verify, session.trust_env = str(org.sandbox.ca_path), False
    response = session.post(f"{org.sandbox.salesforce_url}/_sandbox/faults", json={
        "operation": operation, "status": status, "error_code": error_code, "count": count, "latency_ms": 0})
    assert response.status_code == 201, response.text


@pytest.fixture(autouse=True)
def _no_faults_left(connected):
    yield
    session = requests.Session()
    session.verify, session.trust_env = str(connected.ca_path), False
    session.delete(f"{connected.salesforce_url}/_sandbox/faults")


def feed(key: str = "contacts") -> ChangeFeed:
    return ChangeFeed.objects.get(kind="salesforce", key=key)


def test_a_refused_sign_in_fails_the_feed_with_a_sentence_and_recovery_marks_the_gap(org):
    ann, _ = org.person()
    bob, _ = org.person()
    org.start()
    integration = Connection.objects.get(kind=Connection.Kind.SALESFORCE)
    Connection.objects.filter(pk=integration.pk).update(username="nobody@sandbox.test")

    org.poll()
    failed = feed()
    assert failed.state == ChangeFeed.State.FAILED and failed.failed_since == org.now
    assert failed.error_code
    assert failed.error_message.startswith(
        "The Salesforce org feed for contacts cannot sign in as the integration user nobody@sandbox.test.")
    assert "Until it works again, Contacts sync on their configuration's schedule." in failed.error_message
    assert dirty() == set()  # a failure marks nothing by itself: the coverage falls back to the schedule
    first_failure = org.now
    org.now += timedelta(seconds=120)  # a failing feed retries at the idle interval
    org.poll()
    assert feed().failed_since == first_failure

    Connection.objects.filter(pk=integration.pk).update(username=integration.username)
    org.now += timedelta(seconds=120)
    org.poll()
    recovered = feed()
    assert recovered.state == ChangeFeed.State.HEALTHY
    assert (recovered.error_code, recovered.error_message, recovered.failed_since) == ("", "", None)
    assert dirty() == {ann.pk, bob.pk}  # the gap: every user of the object, once
    assert not UserObjectState.objects.filter(dirty_full=True).exists()
    UserObjectState.objects.update(dirty_at=None)
    org.poll()
    assert dirty() == set()


def test_an_integration_user_who_may_not_read_is_told_to_get_view_all(org):
    org.person()
    org.start()
    fault(org, 403, "INSUFFICIENT_ACCESS")
    org.poll()
    failed = feed()
    assert failed.state == ChangeFeed.State.FAILED and failed.error_code == "INSUFFICIENT_ACCESS"
    assert failed.error_message.startswith(
        f"The integration user {Connection.objects.get(kind='salesforce').username} may not read the Contact "
        "records the org feed needs. Give")
    assert "View All Data permission" in failed.error_message


def test_an_unavailable_org_fails_the_feed_until_it_answers(org):
    org.person()
    org.start()
    fault(org, 503, "SERVER_UNAVAILABLE")
    org.poll()
    assert feed().state == ChangeFeed.State.FAILED
    assert feed().error_message.startswith(
        "The Salesforce org feed for contacts could not read its changes; it tries again at its next poll.")


def test_a_watermark_older_than_the_recycle_bin_asks_every_user_for_a_full_run(org):
    ann, _ = org.person()
    bob, _ = org.person()
    org.start()
    ChangeFeed.objects.filter(kind="salesforce", key="contacts").update(watermark=org.now - timedelta(days=20))
    org.poll()
    assert set(UserObjectState.objects.filter(object="contacts", dirty_full=True)
               .values_list("user_id", flat=True)) == {ann.pk, bob.pk}
    restarted = feed()
    assert restarted.state == ChangeFeed.State.HEALTHY
    assert org.now - restarted.watermark < timedelta(minutes=5)


def test_a_read_the_org_refuses_for_age_restarts_at_now_with_full_runs(org):
    ann, _ = org.person()
    org.start()
    fault(org, 400, "INVALID_REPLICATION_DATE")
    org.poll()
    assert set(UserObjectState.objects.filter(dirty_full=True).values_list("user_id", flat=True)) == {ann.pk}
    assert feed().state == ChangeFeed.State.HEALTHY


@override_settings(SALESFORCE_FEED_SECONDS=30, SALESFORCE_FEED_IDLE_SECONDS=120)
def test_the_feed_backs_off_to_the_idle_interval_after_ten_quiet_minutes(org):
    ann, ann_id = org.person()
    start = org.now
    poll_feeds(now=start)
    assert poll_feeds(now=start + timedelta(seconds=10)) == pytest.approx(20)  # not due yet: nothing polled
    assert poll_feeds(now=start + timedelta(seconds=30)) == pytest.approx(30)
    assert poll_feeds(now=start + timedelta(minutes=10, seconds=1)) == pytest.approx(120)
    assert feed().last_poll_at == start + timedelta(minutes=10, seconds=1)

    org.contact(ann_id)  # a change brings the fast interval back
    org.now = start + timedelta(minutes=12, seconds=1)
    assert poll_feeds(now=org.now) == pytest.approx(30)
    assert ann.pk in dirty()


def test_objects_nobody_syncs_in_near_real_time_are_not_polled(org):
    org.person(objects=("contacts",))
    org.start()
    assert set(ChangeFeed.objects.filter(kind="salesforce").values_list("key", flat=True)) == {"contacts"}
    OutlookConfiguration.objects.update(sync_mode=SyncMode.SCHEDULE)
    calls = feed().api_calls
    org.poll()
    off = feed()
    assert off.state == ChangeFeed.State.OFF and off.watermark is None and off.api_calls == calls


def test_a_mass_change_says_the_feed_is_behind(org, monkeypatch):
    ann, ann_id = org.person()
    org.start()
    monkeypatch.setattr("sync.feeds.salesforce.BEHIND_ROWS", 2)
    for _ in range(3):
        org.contact(ann_id)
    org.poll()
    assert feed().state == ChangeFeed.State.BEHIND and BEHIND_ROWS > 2
    assert dirty() == {ann.pk}
    org.now += STEP
    org.poll()
    assert feed().state == ChangeFeed.State.HEALTHY


def test_a_clock_ahead_of_salesforces_never_skips_a_change(org):
    ann, ann_id = org.person()
    org.now += timedelta(minutes=5)  # this machine's clock runs five minutes ahead of Salesforce's
    org.start()  # the first poll starts "at now": by this clock, in Salesforce's future
    assert feed().watermark < org.now - timedelta(minutes=4)  # Salesforce's own clock took over
    org.contact(ann_id)
    org.poll()
    assert dirty() == {ann.pk}

"""Support sees a run that does not start for what it is (issue 20, item 3): "waiting for a worker since …" on the
object, not "In sync" with a due date in the past."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sync.models import SyncRun

pytestmark = pytest.mark.django_db


def test_a_queued_run_shows_since_when_it_waits_for_a_worker(client, support_user, contacts_user):
    since = timezone.now() - timedelta(minutes=12)
    run = SyncRun.objects.create(user=contacts_user, object="contacts", trigger="schedule")
    SyncRun.objects.filter(pk=run.pk).update(created_at=since, sent_at=since, sends=3)
    client.force_login(support_user)
    page = client.get(f"/users/{contacts_user.pk}/").content.decode()
    shown = timezone.localtime(since).strftime("%H:%M")
    # Both on the object's card (instead of a due date in the past) and on the run's progress line.
    assert page.count("Waiting for a worker since <time datetime=") == 2
    assert page.count(f">{shown}</time> (sent 3 times)") == 2


def test_a_run_waiting_for_the_objects_other_run_says_so(client, support_user, contacts_user):
    run = SyncRun.objects.create(user=contacts_user, object="contacts", trigger="manual")
    SyncRun.objects.filter(pk=run.pk).update(deferred_until=timezone.now() + timedelta(seconds=30))
    client.force_login(support_user)
    page = client.get(f"/users/{contacts_user.pk}/").content.decode()
    assert page.count("Waiting for the object's other run to finish; tried again at") == 2

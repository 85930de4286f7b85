"""Issue 15 item 12: on the admin site even a superuser (the first admin ``make run`` creates is one) neither adds nor
deletes runs, record links or heartbeats: they are written by the sync and the workers, never by hand."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from sync.models import RecordLink, SyncRun
from syncadmin.models import Heartbeat
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


@pytest.mark.parametrize("model", [SyncRun, RecordLink, Heartbeat])
def test_a_superuser_may_read_but_not_add_change_or_delete(superuser_client, model):
    user = make_user()
    rows = {
        SyncRun: lambda: SyncRun.objects.create(user=user, object="contacts", trigger="schedule"),
        RecordLink: lambda: RecordLink.objects.create(user=user, object="contacts", salesforce_id="003000000000001AAA"),
        Heartbeat: lambda: Heartbeat.objects.create(name="worker@test", seen_at=timezone.now()),
    }
    row = rows[model]()
    prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    assert superuser_client.get(reverse(f"{prefix}_changelist")).status_code == 200
    assert superuser_client.get(reverse(f"{prefix}_change", args=[row.pk])).status_code == 200
    assert superuser_client.get(reverse(f"{prefix}_add")).status_code == 403
    assert superuser_client.get(reverse(f"{prefix}_delete", args=[row.pk])).status_code == 403
    assert superuser_client.post(reverse(f"{prefix}_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
    assert superuser_client.post(
        reverse(f"{prefix}_changelist"), {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    ).status_code in (200, 302)
    assert model.objects.filter(pk=row.pk).exists()

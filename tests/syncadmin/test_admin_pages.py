"""Every model registered on the admin site lists and opens for a superuser, and the read-only ones offer no add."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from syncadmin.admin import ReadOnlyAdmin
from tests.factories import make_configuration, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_every_changelist_and_change_page_opens(superuser_client):
    make_user(configuration=make_configuration())
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        listing = superuser_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        assert listing.status_code == 200, meta.label
        first = model.objects.first()
        if first is not None:
            page = superuser_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk]))
            assert page.status_code == 200, meta.label
        if isinstance(model_admin, ReadOnlyAdmin):
            assert not model_admin.has_add_permission(listing.wsgi_request), meta.label

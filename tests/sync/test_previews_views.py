"""The previews' console pages without JavaScript: the forms post, the preview has its own page, refusals are
sentences."""

import pytest
from django.test import Client

from sync.models import Preview
from users.services import effective_configuration

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    ids = []
    monkeypatch.setattr("sync.previews.send_preview", ids.append)
    return ids


def logged_in(account) -> Client:
    client = Client()
    client.force_login(account)
    return client


def test_a_dry_run_without_javascript_opens_the_preview_page(support_user, contacts_user, sent):
    client = logged_in(support_user)
    response = client.post(f"/users/{contacts_user.pk}/dry-run/")
    preview = Preview.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/sync/previews/{preview.pk}/"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "Dry run for" in page.content.decode() and "Waiting for a worker" in page.content.decode()


def test_the_user_page_offers_the_dry_run(support_user, contacts_user):
    page = logged_in(support_user).get(f"/users/{contacts_user.pk}/").content.decode()
    assert f'action="/users/{contacts_user.pk}/dry-run/"' in page and ">Dry run</button>" in page


def test_a_failed_dry_run_says_why(support_user, contacts_user, sent):
    client = logged_in(support_user)
    client.post(f"/users/{contacts_user.pk}/dry-run/")
    Preview.objects.update(state="failed", error_message="The preview stopped on an unexpected error, so it has no "
                                                         "result.")
    page = client.get(f"/sync/previews/{Preview.objects.get().pk}/").content.decode()
    assert "The preview stopped on an unexpected error" in page and "Waiting" not in page


def test_support_may_not_preview_a_configuration_change(support_user, contacts_user, sent):
    configuration = effective_configuration(contacts_user).configuration
    response = logged_in(support_user).post(f"/configurations/{configuration.pk}/impact/", {"impact": "delete"})
    assert response.status_code == 403
    assert not Preview.objects.exists()


def test_a_form_with_errors_is_not_previewed(admin_user, contacts_user, sent):
    configuration = effective_configuration(contacts_user).configuration
    client = logged_in(admin_user)
    response = client.post(f"/configurations/{configuration.pk}/impact/", {"impact": "change", "name": ""},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "The form has errors, so its impact cannot be previewed" in response.content.decode()
    assert not Preview.objects.exists()


def test_previewing_an_assignment_of_nobody_is_refused_with_a_sentence(admin_user, contacts_user, sent):
    configuration = effective_configuration(contacts_user).configuration
    response = logged_in(admin_user).post(f"/configurations/{configuration.pk}/impact/", {"impact": "assign"},
                                          follow=True)
    assert "Select at least one user to assign, then preview the impact." in response.content.decode()
    assert not Preview.objects.exists()


def test_the_configuration_pages_offer_the_preview(admin_user, contacts_user):
    configuration = effective_configuration(contacts_user).configuration
    client = logged_in(admin_user)
    for path in ("edit/", "delete/", ""):
        page = client.get(f"/configurations/{configuration.pk}/{path}").content.decode()
        assert f'formaction="/configurations/{configuration.pk}/impact/"' in page, path

"""The "delete the copies" / "keep them and unlink" choice in Chromium: an impact preview that shows deletions
offers it, and saving with "keep" stores the one-shot choice for the users' changed objects (issue 18 item 1)."""

import pytest
from playwright.sync_api import expect

from sync.engine import Side
from sync.models import RecordLink
from sync.previews import compute_preview
from sync.runner import Clients
from tests.browser.test_previews_journeys import log_in
from tests.factories import make_configuration, make_user
from tests.sync.test_runner import FakeEnd
from users.models import UserObjectState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = "/tmp/shots/release"


@pytest.fixture
def sent(monkeypatch):
    ids = []
    monkeypatch.setattr("sync.previews.send_preview", ids.append)
    return ids


@pytest.fixture
def ben():
    configuration = make_configuration("Sales EMEA", data_settings={
        "contacts": {"direction": "salesforce_to_outlook", "conflict_behavior": "salesforce_wins"}})
    return make_user("ben@example.com", name="Ben Brook", email="ben@example.com", configuration=configuration)


@pytest.fixture
def ends(ben):
    """Ann is synced; under the narrowed data set she is out of scope, so the preview deletes her Outlook copy."""
    ends = Clients(salesforce=FakeEnd(Side.SALESFORCE), exchange=FakeEnd(Side.OUTLOOK))
    ann = {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"}
    sf_id = ends.salesforce.sides["contacts"].add(ann)
    ol_id = ends.exchange.sides["contacts"].add(ann)
    ends.salesforce.sides["contacts"].set_scope(sf_id, False)
    RecordLink.objects.create(user=ben, object="contacts", salesforce_id=sf_id, outlook_id=ol_id, content_hash="x")
    return ends


def _preview_with_deletes(page, live_server, admin_user, ben, ends, sent):
    configuration = ben.configuration
    log_in(page, live_server, admin_user, f"/configurations/{configuration.pk}/edit/")
    page.locator("#id_contacts-record_limit").fill("10")
    page.get_by_role("button", name="Preview the impact").click()
    expect(page.get_by_text("Waiting for a worker…")).to_be_visible()
    compute_preview(sent[0], clients=lambda user: ends)
    preview = page.locator("#impact-preview")
    expect(preview.get_by_text("Saving would delete 1 record")).to_be_visible()
    return preview


def test_release_admin_keeps_the_copies_when_saving(live_server, page, admin_user, ben, ends, sent):
    preview = _preview_with_deletes(page, live_server, admin_user, ben, ends, sent)
    choice = preview.get_by_role("group", name="Records that leave the scope")
    expect(choice.get_by_label("Delete the copies")).to_be_checked()
    choice.get_by_label("Keep them and unlink").check()
    page.screenshot(path=f"{SHOTS}/keep-choice-desktop.png", full_page=True)
    choice.get_by_role("button", name="Save configuration").click()
    expect(page.get_by_text("are kept, unlinked, at the next sync.")).to_be_visible()
    page.screenshot(path=f"{SHOTS}/keep-saved-desktop.png", full_page=True)
    state = UserObjectState.objects.get(user=ben, object="contacts")
    assert state.release_scope_exits is True


def test_release_default_choice_deletes(live_server, page, admin_user, ben, ends, sent):
    _preview_with_deletes(page, live_server, admin_user, ben, ends, sent)
    page.get_by_role("button", name="Save configuration").first.click()
    expect(page.get_by_text("Configuration “Sales EMEA” saved.")).to_be_visible()
    assert UserObjectState.objects.get(user=ben, object="contacts").release_scope_exits is False


def test_release_choice_on_a_phone(live_server, browser, admin_user, ben, ends, sent):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    phone = context.new_page()
    try:
        preview = _preview_with_deletes(phone, live_server, admin_user, ben, ends, sent)
        preview.get_by_role("group", name="Records that leave the scope").scroll_into_view_if_needed()
        phone.screenshot(path=f"{SHOTS}/keep-choice-phone.png")
    finally:
        context.close()

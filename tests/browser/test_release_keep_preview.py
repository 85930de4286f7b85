"""In Chromium: choosing "keep them and unlink" under an impact preview and previewing again shows the copies as
unlinks, not deletes, before anything is saved (issue 18 item 1)."""

import pytest
from playwright.sync_api import expect

from sync.models import Preview
from sync.previews import compute_preview
from tests.browser.test_release_keep_choice import _preview_with_deletes, ben, ends, sent  # noqa: F401 - fixtures
from users.models import UserObjectState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = "/tmp/shots/release"


def test_release_keep_previewed_again_shows_unlinks(live_server, page, admin_user, ben, ends, sent):  # noqa: F811
    preview = _preview_with_deletes(page, live_server, admin_user, ben, ends, sent)
    choice = preview.get_by_role("group", name="Records that leave the scope")
    choice.get_by_label("Keep them and unlink").check()
    choice.get_by_role("button", name="Preview again with this choice").click()
    expect(page.get_by_text("Waiting for a worker…")).to_be_visible()
    assert len(sent) == 2 and Preview.objects.get(pk=sent[1]).request["on_scope_exit"] == "keep"
    compute_preview(sent[1], clients=lambda user: ends)

    kept = page.locator("#impact-preview")
    expect(kept.get_by_text("the Outlook copies of 1 record leaving the scope would be kept")).to_be_visible()
    expect(kept.get_by_text("Saving would delete")).to_have_count(0)
    expect(kept.get_by_text("Unlink in Outlook:")).to_be_visible()
    expect(kept.get_by_label("Keep them and unlink")).to_be_checked()
    page.screenshot(path=f"{SHOTS}/keep-previewed-desktop.png", full_page=True)
    assert UserObjectState.objects.get(user=ben, object="contacts").release_scope_exits is False  # not saved yet

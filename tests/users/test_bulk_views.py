"""The users list's bulk actions in the console (issue 18, item 4), without a browser: the two steps, the refusals
in words, a selection that changed between the steps, support's rights, and the assignments import's form."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEntry
from sync.models import SyncRun
from tests.factories import make_configuration, make_user
from users.models import SyncUser

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("enqueued")]

CONTACTS = {"contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}}


@pytest.fixture
def sales():
    sales = make_configuration("Sales", data_settings=CONTACTS)
    for n in range(3):
        make_user(f"rep{n}@example.com", configuration=sales)
    return sales


def test_the_first_step_says_how_many_and_does_nothing(client, admin_user, sales):
    client.force_login(admin_user)
    response = client.post("/users/bulk/", {"action": "reset", "all_matching": "1",
                                            "filter_configuration": str(sales.pk)})
    assert response.status_code == 200
    assert "Reset the sync of 3 users?" in response.content.decode()
    assert not SyncRun.objects.exists() and not AuditEntry.objects.filter(action="users.bulk_action").exists()


def test_confirmed_it_is_done_and_audited_once(client, admin_user, sales):
    client.force_login(admin_user)
    response = client.post("/users/bulk/", {"action": "reset", "all_matching": "1", "confirm": "1", "expected": "3",
                                            "filter_configuration": str(sales.pk)}, follow=True)
    assert response.redirect_chain[-1][0] == f"/users/?configuration={sales.pk}"
    assert "Reset done and a full matching sync queued for the 3 users selected." in response.content.decode()
    assert SyncRun.objects.filter(trigger="reset").count() == 3
    assert AuditEntry.objects.filter(action="users.bulk_action").count() == 1


def test_a_selection_that_changed_is_shown_again(client, admin_user, sales):
    client.force_login(admin_user)
    make_user("rep9@example.com", configuration=sales)  # joined after the reader saw "3 users"
    response = client.post("/users/bulk/", {"action": "sync", "all_matching": "1", "confirm": "1", "expected": "3",
                                            "filter_configuration": str(sales.pk)})
    page = response.content.decode()
    assert "The selection changed since you confirmed it" in page and "Sync now for 4 users?" in page
    assert not SyncRun.objects.exists()


@pytest.mark.parametrize("data, message", [
    ({"action": "sync"}, "Nothing was done. Select at least one user."),
    ({"action": "", "users": ["1"]}, "Choose what to do with the selected users"),
    ({"action": "assign", "users": ["1"]}, "Nothing was done: choose the configuration to assign"),
])
def test_refusals_are_sentences(client, admin_user, sales, data, message):
    client.force_login(admin_user)
    response = client.post("/users/bulk/", data, follow=True)
    assert response.status_code == 200
    assert message in response.content.decode()


def test_support_may_sync_but_not_assign(client, support_user, sales):
    client.force_login(support_user)
    users = list(SyncUser.objects.values_list("pk", flat=True))
    list_page = client.get("/users/").content.decode()
    assert 'value="sync"' in list_page and 'value="assign"' not in list_page
    assert client.post("/users/bulk/", {"action": "assign", "users": users,
                                        "configuration": str(sales.pk)}).status_code == 403
    done = client.post("/users/bulk/", {"action": "sync", "users": users, "confirm": "1", "expected": "3"})
    assert done.status_code == 302 and SyncRun.objects.count() == 3


def test_import_form(client, admin_user, sales):
    client.force_login(admin_user)
    upload = SimpleUploadedFile("a.csv", b"\xef\xbb\xbfuser,configuration\nrep0@example.com,Sales\nnobody,Sales\n")
    page = client.post("/users/import-assignments/", {"file": upload}).content.decode()
    assert "0 assigned, 0 moved from another configuration, 1 already so, 1 refused." in page
    missing = client.post("/users/import-assignments/", {}, follow=True).content.decode()
    assert "Nothing was imported: choose a CSV file" in missing
    binary = SimpleUploadedFile("a.csv", b"\xff\xfe\x00bad")
    assert "The file is not UTF-8 text" in client.post("/users/import-assignments/", {"file": binary},
                                                       follow=True).content.decode()

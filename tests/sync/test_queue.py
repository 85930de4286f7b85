"""The queue seam: the task is sent by its registered name, and with CELERY_TASK_ALWAYS_EAGER it runs in place."""

import pytest
from celery import current_app

from configurations.services import create_configuration
from sync.models import SyncRun
from sync.queue import SYNC_RUN_TASK, enqueue_runs, queue_run
from users.services import add_sync_user, assign_users

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    user = add_sync_user({"salesforce_id": "005000000000001", "username": "ben@example.com",
                          "email": "ben@example.com"})
    configuration = create_configuration({"name": "Sales", "data_settings": {
        "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}}})
    assign_users(configuration, [user.username])
    return user


def test_the_sync_task_is_registered_under_the_name_the_seam_sends():
    assert SYNC_RUN_TASK in current_app.tasks


@pytest.fixture
def eager():
    previous = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    yield
    current_app.conf.task_always_eager = previous


@pytest.mark.usefixtures("eager")
def test_an_eager_task_runs_the_run_in_place(user):
    run = queue_run(user, "contacts", SyncRun.Trigger.MANUAL)
    enqueue_runs([run])
    run.refresh_from_db()
    # No connection is configured in tests: the run went as far as building the ends.
    assert (run.state, run.error_code) == (SyncRun.State.FAILED, "salesforce_connection_missing")

"""The queue seam: the task is sent by its registered name, and with CELERY_TASK_ALWAYS_EAGER it runs in place."""

import pytest
from celery import current_app

from sync.models import SyncRun
from sync.queue import SYNC_RUN_TASK, enqueue_runs, queue_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(contacts_user):
    return contacts_user


def test_the_sync_task_is_registered_under_the_name_the_seam_sends():
    assert SYNC_RUN_TASK in current_app.tasks


@pytest.fixture
def eager():
    # The app's settings come from Django's under the CELERY_ namespace, and that key is the one Celery reads.
    previous = current_app.conf.CELERY_TASK_ALWAYS_EAGER
    current_app.conf.CELERY_TASK_ALWAYS_EAGER = True
    assert current_app.conf.task_always_eager
    yield
    current_app.conf.CELERY_TASK_ALWAYS_EAGER = previous


@pytest.mark.usefixtures("eager")
def test_an_eager_task_runs_the_run_in_place(user):
    run = queue_run(user, "contacts", SyncRun.Trigger.MANUAL)
    enqueue_runs([run])
    run.refresh_from_db()
    # No connection is configured in tests: the run went as far as building the ends.
    assert (run.state, run.error_code) == (SyncRun.State.FAILED, "salesforce_connection_missing")

"""A worker killed (SIGKILL) in the middle of a sync: the user is blocked at most for the lease, then another
worker finishes the job with no duplicate and nothing lost."""

import pytest
from rest_framework.test import APIClient

from sync.models import SyncRun
from syncadmin.roles import ADMIN
from syncadmin.services import create_account, issue_token
from tests.processes import celery_beat, celery_worker, kill_hard, wait_for
from users.models import SyncState, UserObjectState

pytestmark = [pytest.mark.e2e]
CONTACTS = 240


def test_sigkilled_worker_mid_sync(live_world, tmp_path):
    person = live_world.person()
    live_world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    records = [{"attributes": {"type": "Contact"}, "FirstName": f"C{n:03d}", "LastName": "Killed"}
               for n in range(CONTACTS)]
    for start in range(0, CONTACTS, 200):
        person.salesforce.restful("composite/sobjects", method="POST",
                                  json={"allOrNone": True, "records": records[start:start + 200]})
    # Slow Exchange writes down, so that the worker is killed while it is writing.
    live_world.fault(live_world.sandbox.exchange_url, operation="CreateItem", status=200, latency_ms=1500, count=3)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(create_account('ops', ADMIN))}")
    lease = {"SYNC_LEASE_SECONDS": "8"}

    with celery_worker("sync,initial,default", log_path=tmp_path / "killed.log", **lease) as doomed:
        (run_id,) = api.post(f"/api/v1/users/{person.sync_user.pk}/sync/", {"objects": ["contacts"]},
                             format="json").json()["runs"]
        wait_for(lambda: SyncRun.objects.get(pk=run_id).state == "running", 60, message="the run to start")
        wait_for(lambda: SyncRun.objects.get(pk=run_id).progress_done > 0, 60, interval=0.2,
                 message="the first batch written")
        kill_hard(doomed)
    assert SyncRun.objects.get(pk=run_id).state == "running"  # nobody told the database

    with celery_worker("sync,initial,default", log_path=tmp_path / "worker.log", **lease), \
            celery_beat(tmp_path / "beat-schedule", interval_seconds=2, log_path=tmp_path / "beat.log"):
        def finished():
            state = UserObjectState.objects.get(user=person.sync_user, object="contacts")
            return state.state == SyncState.IN_SYNC and state.lease_owner == ""
        try:
            wait_for(finished, 120, interval=1, message="contacts in_sync again")
        except AssertionError:
            print((tmp_path / "worker.log").read_text()[-4000:])
            raise

    killed = SyncRun.objects.get(pk=run_id)
    assert (killed.state, killed.error_code) == ("failed", "worker_lost")
    names = [c.given_name for c in (person.mailbox.contacts // "Salesforce_Sync").all()]
    assert sorted(names) == [f"C{n:03d}" for n in range(CONTACTS)], f"{len(names)} items for {CONTACTS} contacts"
    assert person.salesforce.query("SELECT COUNT() FROM Contact")["totalSize"] == CONTACTS

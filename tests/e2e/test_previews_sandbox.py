"""Dry runs and impact previews against the sandbox: they read both ends through the connectors and write nothing,
counted by the emulators' own call counters (every write the product can make is a non-GET call on Salesforce's
REST API, a write operation on EWS, a non-GET request on Graph)."""

import uuid
from io import StringIO

import pytest
from celery import current_app
from django.core.management import call_command
from rest_framework.test import APIClient

from configurations.models import OutlookConfiguration
from sync.models import Preview, RecordLink
from sync.previews import PREVIEW_TASK, compute_preview, request_dry_run, request_impact
from syncadmin.roles import SUPPORT
from syncadmin.services import create_account
from tests.processes import celery_worker, wait_for
from users.models import UserObjectState

pytestmark = pytest.mark.e2e

EWS_WRITES = {"CreateItem", "UpdateItem", "DeleteItem", "CreateFolder", "DeleteFolder", "UpdateFolder", "MoveItem",
              "CopyItem", "EmptyFolder", "CreateAttachment", "DeleteAttachment", "SendItem"}


def write_calls(world) -> dict[str, int]:
    """Every write call each emulator has answered since it started."""
    http = world.http()

    def stats(url):
        return http.get(f"{url}/_sandbox/stats").json()

    salesforce = stats(world.sandbox.salesforce_url)["calls"]
    exchange = stats(world.sandbox.exchange_url)["calls"]
    graph = stats(world.sandbox.graph_url)
    graph_calls = {**graph["calls"], **{f"batched {k}": v for k, v in graph.get("batched", {}).items()}}
    return {
        "salesforce": sum(n for name, n in salesforce.items()
                          if "/services/data/" in name and not name.startswith(("GET", "HEAD"))),
        "exchange": sum(n for name, n in exchange.items() if name in EWS_WRITES),
        "graph": sum(n for name, n in graph_calls.items()
                     if not name.split()[-2 if name.startswith("batched") else 0].startswith(("GET", "HEAD"))
                     and "token" not in name and "$batch" not in name),
    }


def links_and_marks(person):
    states = UserObjectState.objects.filter(user=person.sync_user).order_by("object")
    return (sorted(RecordLink.objects.filter(user=person.sync_user).values_list(
        "salesforce_id", "outlook_id", "salesforce_version", "outlook_version", "content_hash", "state")),
        [(s.object, s.salesforce_watermark, s.exchange_sync_state, s.scope_fingerprint, s.state) for s in states])


def dry_run_output(person) -> str:
    out = StringIO()
    call_command("sync_user", person.username, "--dry-run", stdout=out)
    return out.getvalue()


def test_a_dry_run_shows_the_plan_by_name_and_writes_nothing(either_world):
    world = either_world
    person = world.person()
    world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    ada = person.salesforce.Contact.create({"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com"})
    person.salesforce.Contact.create({"FirstName": "Alan", "LastName": "Turing", "Email": "alan@example.com"})

    before = write_calls(world)
    first = dry_run_output(person)
    assert write_calls(world) == before
    assert "contacts (full read): create 2 in Outlook." in first
    assert "create in Outlook: Ada Lovelace <ada@example.com>: It is new in Salesforce." in first
    assert "The contacts folder 'Salesforce_Sync' would be created." in first
    assert not RecordLink.objects.filter(user=person.sync_user).exists()

    call_command("sync_user", person.username, stdout=StringIO())  # the real sync, then changes on both ends
    written = write_calls(world)
    assert written[world.protocol if world.protocol == "graph" else "exchange"] > before[
        world.protocol if world.protocol == "graph" else "exchange"], "the counters see the sync's writes"
    person.salesforce.Contact.update(ada["id"], {"Title": "Countess"})
    person.outlook.create_contact("Grace", "Hopper", "grace@example.com")
    kept = links_and_marks(person)
    before = write_calls(world)

    second = dry_run_output(person)

    assert write_calls(world) == before
    assert links_and_marks(person) == kept
    assert "contacts (incremental): create 1 in Salesforce, update 1 in Outlook." in second
    assert "update in Outlook: Ada Lovelace <ada@example.com>: It changed in Salesforce." in second
    assert "create in Salesforce: Grace Hopper <grace@example.com>: It is new in Outlook." in second


def test_a_dry_run_job_and_an_impact_preview_write_nothing(world):
    person = world.person()
    world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    person.salesforce.Contact.create({"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com",
                                      "MailingCountry": "France"})
    person.salesforce.Contact.create({"FirstName": "Alan", "LastName": "Turing", "Email": "alan@example.com",
                                      "MailingCountry": "England"})
    call_command("sync_user", person.username, stdout=StringIO())
    configuration = OutlookConfiguration.objects.get(direct_users=person.sync_user)
    kept = links_and_marks(person)
    before = write_calls(world)

    dry = compute_preview(request_dry_run(person.sync_user).pk)
    narrower = compute_preview(request_impact(configuration, {"change": {"data_sets": {"contacts": {
        "filters": [{"field": "MailingCountry", "op": "equals", "value": "France"}]}}}}).pk)
    unassign = compute_preview(request_impact(configuration, {"unassign": [person.username]}).pk)

    assert write_calls(world) == before
    assert links_and_marks(person) == kept
    assert dry.state == Preview.State.DONE, dry.error_message
    assert dry.result["objects"]["contacts"]["actions"] == []
    assert narrower.state == Preview.State.DONE, narrower.error_message
    contacts = narrower.result["objects"]["contacts"]
    assert narrower.result["users"] == 1 and narrower.result["sampled"] is False
    assert contacts["delete"] == {"salesforce": 0, "outlook": 1}
    assert contacts["examples"][0]["name"] == "Alan Turing <alan@example.com>"
    assert unassign.result["objects"]["contacts"]["kept"] == 2


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_computes_a_dry_run_from_the_api_and_writes_nothing(world, monkeypatch, tmp_path):
    """The whole path: the API queues the preview after its commit, a real Celery worker computes it through the
    connections to the sandbox, the API answers the plan; the emulators saw no write."""
    queue = f"e2e-{uuid.uuid4().hex[:8]}"  # our own queue: no other worker on this machine takes the task
    monkeypatch.setattr("sync.previews.send_preview", lambda preview_id: current_app.signature(
        PREVIEW_TASK, args=[preview_id]).apply_async(queue=queue))
    person = world.person()
    world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    person.salesforce.Contact.create({"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com"})
    client = APIClient()
    client.force_authenticate(create_account(f"support-{queue}", SUPPORT))
    before = write_calls(world)

    with celery_worker(queue, log_path=tmp_path / "worker.log"):
        answer = client.post(f"/api/v1/users/{person.sync_user.pk}/dry-run/", {}, format="json")
        assert answer.status_code == 202, answer.content
        url = f"/api/v1/previews/{answer.json()['preview']}/"
        done = wait_for(lambda: (body := client.get(url).json())["state"] in ("done", "failed") and body, 90,
                        message=f"the worker to compute the preview ({tmp_path / 'worker.log'})")

    assert done["state"] == "done", done["error"]
    contacts = done["result"]["objects"]["contacts"]
    assert contacts["create"] == {"salesforce": 0, "outlook": 1}
    assert contacts["actions"][0]["name"] == "Ada Lovelace <ada@example.com>"
    assert write_calls(world) == before
    assert not RecordLink.objects.filter(user=person.sync_user).exists()

"""sync.previews: a dry run plans what a sync would do now and writes nothing (ends replaced by in-memory sides)."""

import pytest

from sync.engine import Side
from sync.models import Preview, RecordLink
from sync.planning import ReadOnlySide, WriteRefused, plan_object
from sync.previews import PreviewRefused, compute_preview, request_dry_run, request_impact
from sync.queue import queue_run
from sync.runner import Clients, execute_run
from tests.sync.test_runner import FakeEnd
from users.models import UserObjectState
from users.services import add_sync_user, assign_users, effective_configuration

pytestmark = pytest.mark.django_db


@pytest.fixture
def ends():
    return Clients(salesforce=FakeEnd(Side.SALESFORCE), exchange=FakeEnd(Side.OUTLOOK))


@pytest.fixture
def user(contacts_user):
    return contacts_user


def sync(user, ends):
    return execute_run(queue_run(user, "contacts", "manual").pk, clients=ends)


def stored(user):
    state = UserObjectState.objects.get(user=user, object="contacts")
    links = sorted(RecordLink.objects.filter(user=user).values_list(
        "salesforce_id", "outlook_id", "salesforce_version", "outlook_version", "content_hash"))
    return (state.salesforce_watermark, state.exchange_sync_state, state.scope_fingerprint, links)


def test_a_first_dry_run_lists_the_creates_by_name_and_writes_nothing(user, ends):
    sf = ends.salesforce.sides["contacts"]
    sf.add({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"})
    ends.exchange.sides["contacts"].add({"first_name": "Bob", "last_name": "Ray", "email": "bob@example.com"})

    summary = plan_object(user, "contacts", clients=ends)

    assert summary["create"] == {"salesforce": 1, "outlook": 1}
    assert summary["full"] is True
    names = {(a["action"], a["side"], a["name"]) for a in summary["actions"]}
    assert names == {("create", "outlook", "Ann Lee <ann@example.com>"),
                     ("create", "salesforce", "Bob Ray <bob@example.com>")}
    assert all(a["reason"].endswith(".") for a in summary["actions"])
    assert not RecordLink.objects.filter(user=user).exists()
    assert sf.engine_writes == {} and ends.exchange.sides["contacts"].engine_writes == {}


def test_a_dry_run_after_a_sync_shows_the_update_and_the_conflict_winner_and_keeps_links_and_watermarks(user, ends):
    sf, ol = ends.salesforce.sides["contacts"], ends.exchange.sides["contacts"]
    ann = sf.add({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"})
    sf.add({"first_name": "Cy", "last_name": "Do", "email": "cy@example.com"})
    sync(user, ends)
    before = stored(user)
    writes = (dict(sf.engine_writes), dict(ol.engine_writes))
    sf.edit(ann, last_name="Lee-Smith")
    cy_outlook = next(i for i, item in ol.items.items() if item.fields.get("first_name") == "Cy")
    cy_sf = next(i for i, item in sf.items.items() if item.fields.get("first_name") == "Cy")
    sf.edit(cy_sf, title="CEO")
    ol.edit(cy_outlook, title="CTO")

    summary = plan_object(user, "contacts", clients=ends)

    assert summary["full"] is False
    assert summary["update"] == {"salesforce": 0, "outlook": 2}
    assert summary["conflicts"] == 1
    assert summary["conflict_list"][0]["winner"] == "salesforce"
    assert "Cy Do <cy@example.com>" in summary["conflict_list"][0]["name"]
    reasons = {a["name"]: a["reason"] for a in summary["actions"]}
    assert reasons["Ann Lee-Smith <ann@example.com>"] == "It changed in Salesforce."
    assert "Salesforce wins" in reasons["Cy Do <cy@example.com>"]
    assert stored(user) == before
    assert (dict(sf.engine_writes), dict(ol.engine_writes)) == writes


def test_a_dry_run_job_stores_its_result_and_progress(user, ends, monkeypatch):
    monkeypatch.setattr("sync.previews.send_preview", lambda preview_id: None)
    ends.salesforce.sides["contacts"].add({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"})
    preview = request_dry_run(user)
    assert preview.state == Preview.State.QUEUED and preview.request == {"objects": ["contacts"]}

    preview = compute_preview(preview.pk, clients=lambda u: ends)

    assert preview.state == Preview.State.DONE
    assert preview.progress == {"done": 1, "total": 1, "step": "done"}
    assert preview.result["objects"]["contacts"]["create"]["outlook"] == 1
    assert compute_preview(preview.pk, clients=lambda u: ends).result == preview.result  # computed once


def test_a_dry_run_of_a_user_without_configuration_is_refused_with_a_sentence():
    user = add_sync_user({"salesforce_id": "005000000000009", "username": "zed@example.com",
                          "email": "zed@example.com"})
    with pytest.raises(PreviewRefused, match="has no configuration assigned"):
        request_dry_run(user)


def test_a_dry_run_of_an_object_the_configuration_does_not_sync_is_refused(user):
    with pytest.raises(PreviewRefused, match="does not sync events"):
        request_dry_run(user, ["events"])


def test_a_preview_side_refuses_every_write(ends):
    side = ReadOnlySide(ends.salesforce.sides["contacts"])
    for write in (side.create, side.update, side.delete):
        with pytest.raises(WriteRefused):
            write([])


def test_a_dry_run_says_when_a_guard_would_stop_the_sync(user, ends):
    sf = ends.salesforce.sides["contacts"]
    ids = [sf.add({"first_name": f"P{n}", "last_name": "Lee", "email": f"p{n}@example.com"}) for n in range(12)]
    sync(user, ends)
    for record_id in ids:
        sf.remove(record_id)

    summary = plan_object(user, "contacts", clients=ends)

    assert summary["refused"] is True
    assert summary["detail"].startswith("A sync would stop before writing anything:")
    assert RecordLink.objects.filter(user=user).count() == 12


def test_an_impact_preview_of_many_users_samples_them_and_says_so(user, ends, monkeypatch):
    monkeypatch.setattr("sync.previews.send_preview", lambda preview_id: None)
    monkeypatch.setattr("sync.previews.SAMPLE_USERS", 2)
    configuration = effective_configuration(user).configuration
    for number in range(2, 4):
        other = add_sync_user({"salesforce_id": f"00500000000000{number}", "username": f"u{number}@example.com",
                               "email": f"u{number}@example.com"})
        assign_users(configuration, [other.username])
    ends.salesforce.sides["contacts"].add({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"})

    preview = request_impact(configuration, {"change": {"data_settings": {"contacts": {
        "direction": "salesforce_to_outlook"}}}})
    preview = compute_preview(preview.pk, clients=lambda u: ends)

    assert preview.state == Preview.State.DONE, preview.error_message
    assert (preview.result["users"], preview.result["users_read"], preview.result["sampled"]) == (3, 2, True)
    contacts = preview.result["objects"]["contacts"]
    assert contacts["create"]["outlook"] == 2 and contacts["users_synced"] == 2
    assert contacts["examples"][0] == {"action": "create", "side": "outlook", "name": "Ann Lee <ann@example.com>",
                                       "reason": "It is new in Salesforce."}
    assert effective_configuration(user).configuration.data_settings.get(object="contacts").direction == "both"


def test_deactivating_the_configuration_previews_as_a_stop(user, ends, monkeypatch):
    monkeypatch.setattr("sync.previews.send_preview", lambda preview_id: None)
    ends.salesforce.sides["contacts"].add({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"})
    sync(user, ends)
    configuration = effective_configuration(user).configuration

    preview = compute_preview(request_impact(configuration, {"change": {"active": False}}).pk,
                              clients=lambda u: ends)

    contacts = preview.result["objects"]["contacts"]
    assert preview.result["stops"] is True
    assert (contacts["users_synced"], contacts["kept"], contacts["delete"]) == (1, 1, {"salesforce": 0, "outlook": 0})


def test_unassigning_previews_the_users_fall_back_to_their_profiles_configuration(ends, monkeypatch):
    """Issue 18: a directly assigned user whose profile has another configuration is not "stopping": they sync under
    that configuration, and the preview says so and counts what it would do; the what-if leaves nothing behind."""
    from audit.models import AuditEntry
    from configurations.services import create_configuration

    monkeypatch.setattr("sync.previews.send_preview", lambda preview_id: None)
    direct = create_configuration({"name": "Direct", "data_settings": {
        "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}}})
    create_configuration({"name": "Profile's", "profiles": ["Sales Rep"], "data_settings": {
        "contacts": {"direction": "salesforce_to_outlook"}}})
    rep = add_sync_user({"salesforce_id": "005000000000011", "username": "rep@example.com",
                         "email": "rep@example.com", "profile": "Sales Rep"})
    loner = add_sync_user({"salesforce_id": "005000000000012", "username": "loner@example.com",
                           "email": "loner@example.com", "profile": "Nobody"})
    assign_users(direct, [rep.username, loner.username])
    ends.salesforce.sides["contacts"].add({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"})
    audited = AuditEntry.objects.count()

    preview = compute_preview(request_impact(direct, {"unassign": [rep.username, loner.username]}).pk,
                              clients=lambda u: ends)

    assert preview.state == Preview.State.DONE, preview.error_message
    assert preview.result["fallbacks"] == [{"configuration": "Profile's", "users": 1}]
    contacts = preview.result["objects"]["contacts"]
    assert (contacts["users_stopping"], contacts["users_falling_back"]) == (1, 1)
    assert contacts["create"]["outlook"] == 1  # what "Profile's" would do for the rep
    assert effective_configuration(rep).configuration == direct  # nothing was saved
    assert AuditEntry.objects.count() == audited


def test_a_profile_added_to_a_configuration_brings_its_users_into_the_preview(ends, monkeypatch):
    from configurations.services import create_configuration

    monkeypatch.setattr("sync.previews.send_preview", lambda preview_id: None)
    configuration = create_configuration({"name": "Sales", "data_settings": {
        "contacts": {"direction": "salesforce_to_outlook"}}})
    newcomer = add_sync_user({"salesforce_id": "005000000000021", "username": "new@example.com",
                              "email": "new@example.com", "profile": "Sales Rep"})
    ends.salesforce.sides["contacts"].add({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"})

    preview = compute_preview(request_impact(configuration, {"change": {"profiles": ["Sales Rep"]}}).pk,
                              clients=lambda u: ends)

    assert preview.state == Preview.State.DONE, preview.error_message
    assert preview.result["users"] == 1 and preview.result["stops"] is False
    assert preview.result["objects"]["contacts"]["create"]["outlook"] == 1
    assert effective_configuration(newcomer) is None  # nothing was saved

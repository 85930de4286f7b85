"""Graph emulator subscriptions beyond the basics: lifecycle notifications, expiry (by time and through the control
API), folder-scoped subscriptions and moves, batching of changes into one POST, and persistence across a restart."""

import time

import pytest

from sandbox.graph import notifications
from sandbox.graph.auth import APP_ROLES
from sandbox.graph.emulator import GraphEmulator
from sandbox.graph.errors import GraphError
from tests.sandbox.graph.test_graph_emulator_subscriptions import Receiver, in_minutes, subscribe


@pytest.fixture
def receivers():
    made = []

    def make():
        made.append(Receiver())
        return made[-1]

    yield make
    for r in made:
        r.close()


def subscriptions_listing(tenant) -> dict:
    return {s["id"]: s for s in tenant.control("GET", "/graph/subscriptions", expect=200).json()["subscriptions"]}


def test_lifecycle_notifications_go_to_the_lifecycle_url(tenant, upn, receivers):
    changes, lifecycle = receivers(), receivers()
    sub = subscribe(tenant, f"users/{upn}/events", changes.url, lifecycleNotificationUrl=lifecycle.url).json()
    assert len(changes.validations) == 1 and len(lifecycle.validations) == 1  # both endpoints were validated

    sent = tenant.control("POST", "/graph/subscriptions/lifecycle",
                          {"event": "reauthorizationRequired", "subscription": sub["id"]}, expect=200).json()
    assert sent == {"sent": [sub["id"]]}
    got = lifecycle.wait_for(lambda n: n["lifecycleEvent"] == "reauthorizationRequired")[0]
    assert got == {"subscriptionId": sub["id"], "subscriptionExpirationDateTime": sub["expirationDateTime"],
                   "tenantId": tenant.app["tenant_id"], "clientState": "s3cret-state",
                   "lifecycleEvent": "reauthorizationRequired"}
    assert subscriptions_listing(tenant)[sub["id"]]["reauthorizationRequired"] is True
    assert tenant.call("POST", f"subscriptions/{sub['id']}/reauthorize").status_code == 204
    assert subscriptions_listing(tenant)[sub["id"]]["reauthorizationRequired"] is False

    tenant.control("POST", "/graph/subscriptions/lifecycle", {"event": "missed", "subscription": sub["id"]},
                   expect=200)
    lifecycle.wait_for(lambda n: n["lifecycleEvent"] == "missed")
    tenant.control("POST", "/graph/subscriptions/lifecycle",
                   {"event": "subscriptionRemoved", "subscription": sub["id"]}, expect=200)
    lifecycle.wait_for(lambda n: n["lifecycleEvent"] == "subscriptionRemoved")
    assert tenant.call("GET", f"subscriptions/{sub['id']}").status_code == 404
    assert not changes.notifications  # lifecycle notifications never went to the change URL
    assert subscriptions_listing(tenant).get(sub["id"]) is None


def test_lifecycle_for_one_mailbox_without_a_lifecycle_url(tenant, receivers):
    first, second = receivers(), receivers()
    upn_first, upn_second = tenant.user(), tenant.user()
    sub_first = subscribe(tenant, f"users/{upn_first}/contacts", first.url).json()
    subscribe(tenant, f"users/{upn_second}/contacts", second.url)
    response = tenant.control("POST", "/graph/subscriptions/lifecycle", {"event": "missed", "mailbox": upn_first},
                              expect=200)
    assert response.json() == {"sent": [sub_first["id"]]}
    assert first.wait_for(lambda n: n.get("lifecycleEvent") == "missed")[0]["subscriptionId"] == sub_first["id"]
    bad = tenant.control("POST", "/graph/subscriptions/lifecycle", {"event": "gone"})
    assert bad.status_code == 400
    # the barrier: a change on the second mailbox arrives, so a stray lifecycle notification would have too
    tenant.call("POST", f"users/{upn_second}/contacts", json={"givenName": "Barrier"})
    second.wait_for(lambda n: n.get("changeType") == "created")
    assert not [n for n in second.notifications if "lifecycleEvent" in n]


def test_expired_subscriptions_send_nothing(tenant, mb, upn, receivers):
    expiring, by_control, barrier = receivers(), receivers(), receivers()
    short = subscribe(tenant, f"users/{upn}/contacts", expiring.url, minutes=0.05).json()  # 3 seconds
    controlled = subscribe(tenant, f"users/{upn}/contacts", by_control.url).json()
    assert tenant.control("POST", "/graph/subscriptions/expire", {"subscription": controlled["id"]},
                          expect=200).json() == {"expired": [controlled["id"]]}
    deadline = time.monotonic() + 15
    while tenant.call("GET", f"subscriptions/{short['id']}").status_code != 404:
        assert time.monotonic() < deadline, "the subscription did not expire"
        time.sleep(0.2)
    assert tenant.call("GET", f"subscriptions/{controlled['id']}").status_code == 404
    subscribe(tenant, f"users/{upn}/contacts", barrier.url)
    contact = mb.ok("post", "contacts", 201, json={"givenName": "After expiry"})
    barrier.wait_for(lambda n: n["resourceData"]["id"] == contact["id"])
    assert expiring.notifications == [] and by_control.notifications == []


def test_folder_subscriptions_moves_and_batching(tenant, mb, upn, receivers):
    everywhere, in_folder = receivers(), receivers()
    before = tenant.control("GET", "/graph/subscriptions").json()["settings"]
    tenant.control("POST", "/graph/subscriptions/settings", {"batch_delay_seconds": 1.0}, expect=200)
    try:
        folder = mb.ok("post", "contactFolders", 201, json={"displayName": "Clients"})
        default_sub = subscribe(tenant, f"users/{upn}/contacts", everywhere.url).json()
        folder_sub = subscribe(tenant, f"users/{upn}/contactFolders/{folder['id']}/contacts", in_folder.url).json()
        batch = tenant.call("POST", "$batch", json={"requests": [
            {"id": str(i), "method": "POST", "url": f"/users/{upn}/contacts", "headers": {
                "Content-Type": "application/json"}, "body": {"givenName": f"Batch{i}"}} for i in (1, 2)]})
        assert batch.status_code == 200, batch.text
        ids = {r["body"]["id"] for r in batch.json()["responses"]}
        everywhere.wait_for(lambda n: n["resourceData"]["id"] in ids)
        assert [{n["resourceData"]["id"] for n in b} for b in everywhere.batches] == [ids]  # one POST for both
        moved_from = sorted(ids)[0]
        moved = tenant.control("POST", f"/mailboxes/{upn}/contacts/{moved_from}/move", {"folder_id": folder["id"]},
                               expect=200).json()
        got = in_folder.wait_for(lambda n: True)
        assert [(n["changeType"], n["resourceData"]["id"], n["subscriptionId"]) for n in got] == \
            [("created", moved["id"], folder_sub["id"])]
        gone = everywhere.wait_for(lambda n: n["changeType"] == "deleted")
        assert gone[0]["resourceData"]["id"] == moved_from and gone[0]["subscriptionId"] == default_sub["id"]
    finally:
        tenant.control("POST", "/graph/subscriptions/settings", before, expect=200)


def test_subscriptions_survive_a_restart(tmp_path, receivers):
    receiver = receivers()
    claims = {"appid": "app", "oid": "app", "tid": "tenant", "roles": APP_ROLES}
    first = GraphEmulator(tmp_path)
    upn = first.create_mailbox(email="restart@sandbox.test", display_name="Re Start")
    status, sub = first.subscriptions.handle("POST", [], {
        "changeType": "created", "notificationUrl": receiver.url, "resource": f"users/{upn}/contacts",
        "expirationDateTime": in_minutes(30), "clientState": "kept"}, claims, "https://graph.test")
    assert status == 201
    first.subscriptions.deliveries.stop()

    second = GraphEmulator(tmp_path)
    try:
        assert second.subscriptions.handle("GET", [sub["id"]], None, claims, "https://graph.test")[0] == 200
        status, _headers, contact = second.handle_graph("POST", f"/users/{upn}/contacts", "", {},
                                                        {"givenName": "Later"}, "https://graph.test", batched=False)
        assert status == 201
        got = receiver.wait_for(lambda n: n["resourceData"]["id"] == contact["id"])
        assert got[0]["clientState"] == "kept" and got[0]["tenantId"] == "tenant"
    finally:
        second.subscriptions.deliveries.stop()


def test_a_handshake_answered_too_late_refuses_the_subscription(tmp_path, monkeypatch):
    monkeypatch.setattr(notifications, "VALIDATION_TIMEOUT_SECONDS", 0.5)  # Graph waits 10 s; the test less
    slow = Receiver(handshake_delay=30)
    emu = GraphEmulator(tmp_path)
    try:
        upn = emu.create_mailbox(email="slow@sandbox.test", display_name="Slow Receiver")
        with pytest.raises(GraphError) as refused:
            emu.subscriptions.handle("POST", [], {
                "changeType": "updated", "notificationUrl": slow.url, "resource": f"users/{upn}/contacts",
                "expirationDateTime": in_minutes(30)}, {"appid": "app", "roles": APP_ROLES}, "https://graph.test")
        assert refused.value.status == 400
        assert refused.value.message == "Subscription validation request timed out."
        assert emu.subscriptions.items == {}
    finally:
        slow.close()

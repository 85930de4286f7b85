"""State survives a restart of the emulator over the same data directory (the app registration, mailboxes,
records, extended properties, series exceptions and delta tokens), and a new demo directory gets the demo seed."""

import json

from sandbox.demo import DEMO_USERS
from sandbox.runner import start_sandbox
from tests.sandbox.graph.conftest import SF_ID_PROP, Mailbox, Tenant


def test_restart_keeps_everything(tmp_path):
    first = start_sandbox(tmp_path, seed="empty")
    try:
        tenant = Tenant(first)
        mb = Mailbox(tenant, tenant.user())
        app_before = json.loads(first.graph_app_path.read_text())
        folder = mb.ok("post", "contactFolders", 201, json={"displayName": "Kept"})
        contact = mb.ok("post", f"contactFolders/{folder['id']}/contacts", 201, json={
            "givenName": "Persistent", "singleValueExtendedProperties": [{"id": SF_ID_PROP, "value": "003X"}]})
        weekly = {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "numbered",
                                                                          "startDate": "2027-07-01",
                                                                          "numberOfOccurrences": 3}}
        mb.ok("post", "events", 201, json={"subject": "Daily", "recurrence": weekly,
                                           "start": {"dateTime": "2027-07-01T09:00:00", "timeZone": "UTC"},
                                           "end": {"dateTime": "2027-07-01T09:15:00", "timeZone": "UTC"}})
        window = {"startDateTime": "2027-07-01T00:00:00Z", "endDateTime": "2027-07-05T00:00:00Z"}
        second_day = mb.ok("get", "calendarView", params=window)["value"][1]["id"]
        mb.ok("patch", f"events/{second_day}", json={"subject": "Daily (special)"})
        delta_link = mb.ok("get", f"contactFolders/{folder['id']}/contacts/delta")["@odata.deltaLink"]
        port_path = delta_link.split("/v1.0/", 1)[1]
    finally:
        first.stop()

    second = start_sandbox(tmp_path, seed="empty")
    try:
        tenant = Tenant(second)
        assert tenant.app == app_before
        mb = Mailbox(tenant, mb.upn)
        got = mb.ok("get", f"contacts/{contact['id']}", params={
            "$expand": f"singleValueExtendedProperties($filter=id eq '{SF_ID_PROP}')"})
        assert got["givenName"] == "Persistent" and got["singleValueExtendedProperties"][0]["value"] == "003X"
        view = mb.ok("get", "calendarView", params=window)["value"]
        assert [e["subject"] for e in view] == ["Daily", "Daily (special)", "Daily"]
        mb.ok("patch", f"contacts/{contact['id']}", json={"surname": "Restarted"})
        changes = mb.ok("get", f"{second.graph_url}/v1.0/{port_path}")["value"]
        assert [c["id"] for c in changes] == [contact["id"]]
    finally:
        second.stop()


def test_demo_seed_has_the_ews_seed_shape(tmp_path):
    running = start_sandbox(tmp_path, seed="demo")
    try:
        tenant = Tenant(running)
        users = sorted(running.hub.graph.mailboxes)
        assert users == sorted(u.email for u in DEMO_USERS)
        for n, upn in enumerate(users):
            mb = Mailbox(tenant, upn)
            assert len(mb.ok("get", "contacts")["value"]) == 5, upn
            events = mb.ok("get", "events", params={"$top": 50})["value"]
            assert len(events) == 6 and sum(e["type"] == "seriesMaster" for e in events) == 2
            assert {e["sensitivity"] for e in events} == {"normal", "private"}
            default = mb.ok("get", "todo/lists")["value"][0]
            tasks = mb.ok("get", f"todo/lists/{default['id']}/tasks")["value"]
            assert sorted(t["status"] for t in tasks) == ["completed", "inProgress", "notStarted"]
            view = mb.ok("get", "calendarView", params={
                "startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2026-02-08T00:00:00Z", "$top": 50})
            standups = [(e["type"], e["start"]["dateTime"][:16]) for e in view["value"]
                        if e["subject"] == "Team stand-up"]
            assert standups == [("occurrence", "2026-01-05T08:30"), ("occurrence", "2026-01-12T08:30"),
                                ("exception", "2026-01-19T09:30"), ("occurrence", "2026-01-26T08:30")], n
    finally:
        running.stop()


def test_concurrent_writes_are_all_kept(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    running = start_sandbox(tmp_path, seed="empty")
    try:
        tenant = Tenant(running)
        mb = Mailbox(tenant, tenant.user())
        tenant.token()

        def create(i):
            return mb.post("contacts", json={"givenName": f"Thread{i}"}).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(create, range(40)))
        assert statuses == [201] * 40
        names = {c["givenName"] for c in mb.ok("get", "contacts", params={"$top": 100})["value"]}
        assert names == {f"Thread{i}" for i in range(40)}
        running.stop()
        running = start_sandbox(tmp_path, seed="empty")
        assert len(Mailbox(Tenant(running), mb.upn).ok("get", "contacts", params={"$top": 100})["value"]) == 40
    finally:
        running.stop()

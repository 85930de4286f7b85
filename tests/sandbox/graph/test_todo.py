"""Microsoft To Do: lists, tasks, linkedResources carrying an external id, open extensions, status rules."""

from tests.sandbox.graph.conftest import error_code


def _default_list(mb) -> dict:
    lists = mb.ok("get", "todo/lists")["value"]
    return next(tl for tl in lists if tl["wellknownListName"] == "defaultList")


def test_lists(mb):
    default = _default_list(mb)
    assert default["displayName"] == "Tasks" and default["isOwner"] is True
    created = mb.ok("post", "todo/lists", 201, json={"displayName": "Salesforce"})
    assert created["wellknownListName"] == "none"
    assert mb.ok("patch", f"todo/lists/{created['id']}", json={"displayName": "SF"})["displayName"] == "SF"
    mb.ok("delete", f"todo/lists/{created['id']}", 204)
    assert mb.get(f"todo/lists/{created['id']}").status_code == 404
    assert mb.delete(f"todo/lists/{default['id']}").status_code == 400


def test_task_crud_status_and_linked_resources(mb):
    base = f"todo/lists/{_default_list(mb)['id']}/tasks"
    created = mb.ok("post", base, 201, json={
        "title": "Call back", "importance": "high", "body": {"content": "About the renewal", "contentType": "text"},
        "dueDateTime": {"dateTime": "2027-02-03T15:00:00", "timeZone": "Pacific Standard Time"},
        "linkedResources": [{"applicationName": "Salesforce", "displayName": "Task 00T1",
                             "externalId": "00T000000000001AAA", "webUrl": "https://example.my.salesforce.com/00T1"}]})
    assert created["status"] == "notStarted" and created["importance"] == "high"
    assert created["dueDateTime"] == {"dateTime": "2027-02-03T00:00:00.0000000", "timeZone": "UTC"}
    assert "changeKey" not in created and created["@odata.etag"].startswith('W/"')
    tid = created["id"]
    plain = mb.ok("get", f"{base}/{tid}")
    assert "linkedResources" not in plain
    expanded = mb.ok("get", f"{base}/{tid}", params={"$expand": "linkedResources"})
    assert [lr["externalId"] for lr in expanded["linkedResources"]] == ["00T000000000001AAA"]
    link_id = expanded["linkedResources"][0]["id"]
    links = mb.ok("get", f"{base}/{tid}/linkedResources")["value"]
    assert links[0]["applicationName"] == "Salesforce"
    mb.ok("patch", f"{base}/{tid}/linkedResources/{link_id}", json={"externalId": "00T000000000002AAA"})
    assert mb.ok("get", f"{base}/{tid}/linkedResources/{link_id}")["externalId"] == "00T000000000002AAA"
    done = mb.ok("patch", f"{base}/{tid}", json={"status": "completed"})
    assert done["completedDateTime"]["timeZone"] == "UTC" and done["@odata.etag"] != created["@odata.etag"]
    reopened = mb.ok("patch", f"{base}/{tid}", json={"status": "inProgress"})
    assert "completedDateTime" not in reopened
    stale = mb.patch(f"{base}/{tid}", json={"title": "x"}, headers={"If-Match": created["@odata.etag"]})
    assert stale.status_code == 412
    bad = mb.patch(f"{base}/{tid}", json={"status": "done"})
    assert bad.status_code == 400
    unknown = mb.post(base, json={"title": "x", "priority": 1})
    assert unknown.status_code == 400 and error_code(unknown) == "RequestBodyRead"
    mb.ok("delete", f"{base}/{tid}/linkedResources/{link_id}", 204)
    assert mb.ok("get", f"{base}/{tid}/linkedResources")["value"] == []
    mb.ok("delete", f"{base}/{tid}", 204)
    assert mb.get(f"{base}/{tid}").status_code == 404


def test_open_extension_on_a_task(mb):
    base = f"todo/lists/{_default_list(mb)['id']}/tasks"
    tid = mb.ok("post", base, 201, json={"title": "Extended"})["id"]
    ext = {"@odata.type": "microsoft.graph.openTypeExtension", "extensionName": "com.example.sync",
           "salesforceId": "00T000000000003AAA"}
    created = mb.ok("post", f"{base}/{tid}/extensions", 201, json=ext)
    assert created["id"] == "com.example.sync"
    assert mb.ok("get", f"{base}/{tid}/extensions/com.example.sync")["salesforceId"] == "00T000000000003AAA"
    assert mb.post(f"{base}/{tid}/extensions", json=ext).status_code == 409
    listed = mb.ok("get", base, params={"$expand": "extensions"})["value"]
    assert listed[0]["extensions"][0]["salesforceId"] == "00T000000000003AAA"
    mb.ok("delete", f"{base}/{tid}/extensions/com.example.sync", 204)
    assert mb.get(f"{base}/{tid}/extensions/com.example.sync").status_code == 404


def test_task_filter_and_wrong_list(mb):
    default = _default_list(mb)
    other = mb.ok("post", "todo/lists", 201, json={"displayName": "Other"})
    base = f"todo/lists/{default['id']}/tasks"
    mb.ok("post", base, 201, json={"title": "Open"})
    done = mb.ok("post", base, 201, json={"title": "Done", "status": "completed"})
    open_tasks = mb.ok("get", base, params={"$filter": "status ne 'completed'"})["value"]
    assert [t["title"] for t in open_tasks] == ["Open"]
    assert mb.get(f"todo/lists/{other['id']}/tasks/{done['id']}").status_code == 404

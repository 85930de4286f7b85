"""Contact folders and contacts: CRUD, change keys and If-Match, extended properties, OData options and errors."""

from urllib.parse import quote

from tests.sandbox.graph.conftest import SF_ID_PROP, error_code


def _folder(mb, name="Salesforce_Sync") -> dict:
    return mb.ok("post", "contactFolders", 201, json={"displayName": name})


def test_contact_folders(mb):
    assert mb.ok("get", "contactFolders")["value"] == []
    created = _folder(mb)
    assert created["displayName"] == "Salesforce_Sync" and created["id"] and created["parentFolderId"]
    other = _folder(mb, "Other")
    found = mb.ok("get", "contactFolders", params={"$filter": "displayName eq 'Salesforce_Sync'"})["value"]
    assert [f["id"] for f in found] == [created["id"]]
    duplicate = mb.post("contactFolders", json={"displayName": "salesforce_sync"})
    assert duplicate.status_code == 409 and error_code(duplicate) == "ErrorFolderExists"
    renamed = mb.ok("patch", f"contactFolders/{other['id']}", json={"displayName": "Renamed"})
    assert renamed["displayName"] == "Renamed"
    assert mb.ok("get", f"contactFolders/{other['id']}")["displayName"] == "Renamed"
    mb.ok("delete", f"contactFolders/{other['id']}", 204)
    gone = mb.get(f"contactFolders/{other['id']}")
    assert gone.status_code == 404 and error_code(gone) == "ErrorItemNotFound"


def test_contact_crud_and_change_keys(mb):
    folder = _folder(mb)
    body = {"givenName": "Ada", "surname": "Lovelace", "companyName": "Analytical Engines",
            "emailAddresses": [{"address": "ada@engines.example", "name": "Ada Lovelace"}],
            "businessPhones": ["+44 20 0000"], "businessAddress": {"city": "London", "countryOrRegion": "UK"}}
    created = mb.ok("post", f"contactFolders/{folder['id']}/contacts", 201, json=body)
    assert created["displayName"] == "Ada Lovelace" and created["parentFolderId"] == folder["id"]
    assert created["@odata.etag"] == f'W/"{created["changeKey"]}"'
    assert created["homeAddress"] == {} and created["homePhones"] == []
    cid = created["id"]
    got = mb.ok("get", f"contactFolders/{folder['id']}/contacts/{cid}")
    assert got["businessAddress"] == {"city": "London", "countryOrRegion": "UK"}
    assert mb.ok("get", f"contacts/{cid}")["changeKey"] == created["changeKey"]
    updated = mb.ok("patch", f"contacts/{cid}", json={"jobTitle": "Programmer"})
    assert updated["jobTitle"] == "Programmer" and updated["changeKey"] != created["changeKey"]
    stale = mb.patch(f"contacts/{cid}", json={"jobTitle": "x"}, headers={"If-Match": created["@odata.etag"]})
    assert stale.status_code == 412 and error_code(stale) == "ErrorIrresolvableConflict"
    fresh = mb.patch(f"contacts/{cid}", json={"jobTitle": "Countess"}, headers={"If-Match": updated["@odata.etag"]})
    assert fresh.status_code == 200 and fresh.json()["jobTitle"] == "Countess"
    listed = mb.ok("get", f"contactFolders/{folder['id']}/contacts")["value"]
    assert [c["id"] for c in listed] == [cid]
    assert mb.ok("get", "contacts")["value"] == []  # /contacts is the default folder only
    mb.ok("delete", f"contacts/{cid}", 204)
    assert mb.get(f"contacts/{cid}").status_code == 404


def test_contact_in_default_folder_and_wrong_folder(mb):
    folder = _folder(mb)
    created = mb.ok("post", "contacts", 201, json={"givenName": "Grace", "surname": "Hopper"})
    assert [c["id"] for c in mb.ok("get", "contacts")["value"]] == [created["id"]]
    assert mb.get(f"contactFolders/{folder['id']}/contacts/{created['id']}").status_code == 404


def test_extended_property_write_read_filter(mb):
    folder = _folder(mb)
    base = f"contactFolders/{folder['id']}/contacts"
    one = mb.ok("post", base, 201, json={"givenName": "One", "singleValueExtendedProperties": [
        {"id": SF_ID_PROP, "value": "003000000000001AAA"}]})
    mb.ok("post", base, 201, json={"givenName": "Two", "singleValueExtendedProperties": [
        {"id": SF_ID_PROP, "value": "003000000000002AAA"}]})
    mb.ok("post", base, 201, json={"givenName": "Three"})
    assert "singleValueExtendedProperties" not in mb.ok("get", f"contacts/{one['id']}")
    expand = f"singleValueExtendedProperties($filter=id eq '{SF_ID_PROP}')"
    got = mb.ok("get", f"contacts/{one['id']}", params={"$expand": expand})
    assert got["singleValueExtendedProperties"] == [{"id": SF_ID_PROP, "value": "003000000000001AAA"}]
    listed = mb.ok("get", base, params={"$expand": expand, "$top": 10})["value"]
    assert sorted(len(c.get("singleValueExtendedProperties", [])) for c in listed) == [0, 1, 1]
    flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{SF_ID_PROP}' and ep/value eq '003000000000002AAA')"
    found = mb.ok("get", base, params={"$filter": flt})["value"]
    assert [c["givenName"] for c in found] == ["Two"]
    # The GUID is case-insensitive, the value comparison too; the name is case-sensitive.
    upper = SF_ID_PROP.replace("8d2f4c61", "8D2F4C61")
    flt = f"singleValueExtendedProperties/any(ep: ep/id eq '{upper}' and ep/value eq '003000000000001aaa')"
    assert [c["givenName"] for c in mb.ok("get", base, params={"$filter": flt})["value"]] == ["One"]
    wrong_name = SF_ID_PROP.replace("SalesforceId", "salesforceid")
    flt = f"singleValueExtendedProperties/any(ep: ep/id eq '{wrong_name}' and ep/value eq '003000000000001AAA')"
    assert mb.ok("get", base, params={"$filter": flt})["value"] == []
    mb.ok("patch", f"contacts/{one['id']}", json={"singleValueExtendedProperties": [
        {"id": SF_ID_PROP, "value": "003000000000009AAA"}]})
    got = mb.ok("get", f"contacts/{one['id']}", params={"$expand": expand})
    assert got["singleValueExtendedProperties"][0]["value"] == "003000000000009AAA"
    bad = mb.post(base, json={"singleValueExtendedProperties": [{"id": "not an id", "value": "x"}]})
    assert bad.status_code == 400


def test_select_top_paging_and_count(mb):
    folder = _folder(mb)
    base = f"contactFolders/{folder['id']}/contacts"
    for i in range(5):
        mb.ok("post", base, 201, json={"givenName": f"P{i}", "surname": "Page"})
    mb.ok("post", base, 201, json={"givenName": "Other", "surname": "Filtered out"})
    page = mb.ok("get", base, params={"$select": "givenName", "$top": 2, "$count": "true",
                                      "$orderby": "givenName desc", "$filter": "surname eq 'Page'"})
    assert " " not in page["@odata.nextLink"]
    assert page["@odata.count"] == 5
    assert [set(c) for c in page["value"]] == [{"@odata.etag", "id", "givenName"}] * 2
    names = [c["givenName"] for c in page["value"]]
    while "@odata.nextLink" in page:
        page = mb.ok("get", page["@odata.nextLink"])
        names += [c["givenName"] for c in page["value"]]
    assert names == ["P4", "P3", "P2", "P1", "P0"]
    assert len(mb.ok("get", base, headers={"Prefer": "odata.maxpagesize=3"})["value"]) == 3


def test_odata_errors(mb):
    folder = _folder(mb)
    base = f"contactFolders/{folder['id']}/contacts"
    response = mb.get(base, params={"$select": "givenName,nope"})
    assert response.status_code == 400 and error_code(response) == "RequestBroker--ParseUri"
    response = mb.get(base, params={"$filter": "nope eq 'x'"})
    assert response.status_code == 400 and "nope" in response.json()["error"]["message"]
    response = mb.get(base, params={"$filter": "givenName eq"})
    assert response.status_code == 400
    response = mb.get(base, params={"$search": '"ada"'})
    assert response.status_code == 400
    response = mb.get(base, params={"$frobnicate": "1"})
    assert response.status_code == 400 and "$frobnicate" in response.json()["error"]["message"]
    response = mb.post(base, json={"givenName": "x", "favouriteColour": "red"})
    assert response.status_code == 400 and error_code(response) == "RequestBodyRead"
    response = mb.post(base, data="{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    response = mb.get(f"contacts/{quote('AAMkAGnotreal=')}")
    assert response.status_code == 404
    response = mb.get("contactFolders/x/frobs")
    assert response.status_code == 400 and "frobs" in response.json()["error"]["message"]

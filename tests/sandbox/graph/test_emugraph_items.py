"""What users do in Outlook that Graph v1.0 cannot, through the control API, seen through plain Graph calls
(issue 17, items 7 and 11 on Graph).

- Items of other classes in a contact folder or the calendar (contact groups, notes, meeting messages): Graph's
  contacts, events and calendarView collections, and their delta queries, list contacts and events only.
- A contact copied to another folder is a new item with the same properties and extended properties (Exchange's
  CopyItem); a moved one gets a new id and keeps them too. The contact resource has no move or copy in Graph v1.0.
"""

from datetime import UTC, datetime, timedelta

from tests.sandbox.graph.conftest import SF_ID_PROP


def _all(mb, path, **params) -> list[dict]:
    page = mb.ok("get", path, params=params or None)
    rows = list(page["value"])
    while "@odata.nextLink" in page:
        page = mb.ok("get", page["@odata.nextLink"])
        rows += page["value"]
    return rows


def _delta(mb, url, **params) -> tuple[list[dict], str]:
    page = mb.ok("get", url, params=params or None)
    rows = list(page["value"])
    while "@odata.nextLink" in page:
        page = mb.ok("get", page["@odata.nextLink"])
        rows += page["value"]
    return rows, page["@odata.deltaLink"]


def test_items_of_other_classes_are_never_listed_as_contacts_or_events(mb, tenant):
    folder = mb.ok("post", "contactFolders", 201, json={"displayName": "Salesforce_Sync"})
    base = f"contactFolders/{folder['id']}/contacts"
    ada = mb.ok("post", base, 201, json={"givenName": "Ada", "surname": "Lovelace"})["id"]
    now = datetime.now(UTC).replace(microsecond=0)
    window = {"startDateTime": (now - timedelta(days=1)).isoformat(),
              "endDateTime": (now + timedelta(days=2)).isoformat()}
    meeting = mb.ok("post", "calendar/events", 201, json={
        "subject": "Review", "start": {"dateTime": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S"),
                                       "timeZone": "UTC"},
        "end": {"dateTime": (now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}})["id"]
    _, contacts_link = _delta(mb, f"{base}/delta")
    _, events_link = _delta(mb, "calendarView/delta", **window)

    for folder_id, item_class, subject in ((folder["id"], "IPM.DistList", "Sales team"),
                                           (folder["id"], "IPM.StickyNote", "A note"),
                                           ("calendar", "IPM.Schedule.Meeting.Request", "Quarterly review")):
        made = tenant.control("POST", f"/mailboxes/{mb.upn}/items",
                              {"folder_id": folder_id, "itemClass": item_class, "subject": subject}, expect=201).json()
        assert made["itemClass"] == item_class

    assert [c["id"] for c in _all(mb, base)] == [ada]
    assert [c["id"] for c in _all(mb, "contacts")] == []  # the default folder holds none
    assert _delta(mb, contacts_link)[0] == []
    assert [e["id"] for e in _all(mb, "calendar/events")] == [meeting]
    assert [e["id"] for e in _all(mb, "calendarView", **window)] == [meeting]
    assert _delta(mb, events_link)[0] == []
    look = tenant.control("GET", f"/mailboxes/{mb.upn}", expect=200).json()
    assert sorted(i["itemClass"] for i in look["other_items"]) == [
        "IPM.DistList", "IPM.Schedule.Meeting.Request", "IPM.StickyNote"]

    refused = tenant.control("POST", f"/mailboxes/{mb.upn}/items",
                             {"folder_id": folder["id"], "itemClass": "IPM.Contact", "subject": "x"})
    assert refused.status_code == 400 and "made with Graph itself" in refused.json()["error"]
    mb.ok("delete", f"contactFolders/{folder['id']}", 204)
    look = tenant.control("GET", f"/mailboxes/{mb.upn}", expect=200).json()
    assert [i["itemClass"] for i in look["other_items"]] == ["IPM.Schedule.Meeting.Request"]


def test_a_copied_contact_is_a_new_item_with_the_same_properties(mb, tenant):
    sync_folder = mb.ok("post", "contactFolders", 201, json={"displayName": "Salesforce_Sync"})
    friends = mb.ok("post", "contactFolders", 201, json={"displayName": "Friends"})
    stamped = {"givenName": "Ada", "surname": "Lovelace", "emailAddresses": [{"address": "ada@example.com"}],
               "singleValueExtendedProperties": [{"id": SF_ID_PROP, "value": "0031"}]}
    original = mb.ok("post", f"contactFolders/{friends['id']}/contacts", 201, json=stamped)["id"]
    _, link = _delta(mb, f"contactFolders/{sync_folder['id']}/contacts/delta")

    copied = tenant.control("POST", f"/mailboxes/{mb.upn}/contacts/{original}/copy",
                            {"folder_id": sync_folder["id"]}, expect=200).json()
    assert copied["id"] != original and copied["parentFolderId"] == sync_folder["id"]
    expand = {"$expand": f"singleValueExtendedProperties($filter=id eq '{SF_ID_PROP}')"}
    (copy,) = _all(mb, f"contactFolders/{sync_folder['id']}/contacts", **expand)
    assert (copy["id"], copy["surname"], copy["emailAddresses"][0]["address"]) == (copied["id"], "Lovelace",
                                                                                   "ada@example.com")
    assert copy["singleValueExtendedProperties"][0]["value"] == "0031"
    assert [c["id"] for c in _all(mb, f"contactFolders/{friends['id']}/contacts")] == [original]
    changes, _ = _delta(mb, link)
    assert [c["id"] for c in changes] == [copied["id"]]

    moved = tenant.control("POST", f"/mailboxes/{mb.upn}/contacts/{original}/move",
                           {"folder_id": sync_folder["id"]}, expect=200).json()
    got = mb.ok("get", f"contacts/{moved['id']}", params=expand)
    assert got["singleValueExtendedProperties"][0]["value"] == "0031" and mb.get(f"contacts/{original}").status_code \
        == 404
    missing = tenant.control("POST", f"/mailboxes/{mb.upn}/contacts/{original}/copy", {"folder_id": friends["id"]})
    assert missing.status_code == 404

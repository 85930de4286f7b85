"""Delta queries for contacts, calendarView and To Do tasks: paging, incremental rounds, @removed, kept windows,
and 410 once the emulator forgets its tokens."""

from urllib.parse import parse_qs, urlsplit

from tests.sandbox.graph.conftest import error_code


def _round(mb, first_path, params=None, prefer=None) -> tuple[list[dict], str, int]:
    """Follow one delta round to its deltaLink: (entries, deltaLink, pages)."""
    headers = {"Prefer": prefer} if prefer else {}
    page = mb.ok("get", first_path, params=params or {}, headers=headers)
    entries, pages = list(page["value"]), 1
    while "@odata.nextLink" in page:
        assert "@odata.deltaLink" not in page
        page = mb.ok("get", page["@odata.nextLink"], headers=headers)
        entries += page["value"]
        pages += 1
    return entries, page["@odata.deltaLink"], pages


def _removed(entries):
    return {e["id"] for e in entries if "@removed" in e}


def _present(entries):
    return {e["id"]: e for e in entries if "@removed" not in e}


def test_contacts_delta_full_round_and_increments(mb, tenant):
    folder = mb.ok("post", "contactFolders", 201, json={"displayName": "Salesforce_Sync"})
    other = mb.ok("post", "contactFolders", 201, json={"displayName": "Elsewhere"})
    base = f"contactFolders/{folder['id']}/contacts"
    ids = [mb.ok("post", base, 201, json={"givenName": f"C{i}", "surname": "Delta"})["id"] for i in range(5)]
    entries, link, pages = _round(mb, base + "/delta", {"$select": "givenName,surname"},
                                  prefer="odata.maxpagesize=2")
    assert pages == 3 and set(_present(entries)) == set(ids) and not _removed(entries)
    assert set(entries[0]) == {"@odata.etag", "id", "givenName", "surname"}
    assert set(parse_qs(urlsplit(link).query)) == {"$deltatoken"}

    nothing, link2, _ = _round(mb, link)
    assert nothing == []

    mb.ok("patch", f"contacts/{ids[0]}", json={"surname": "Changed"})
    mb.ok("patch", f"contacts/{ids[0]}", json={"surname": "Changed again"})
    mb.ok("delete", f"contacts/{ids[1]}", 204)
    new = mb.ok("post", base, 201, json={"givenName": "New"})["id"]
    moved = tenant.control("POST", f"/mailboxes/{mb.upn}/contacts/{ids[2]}/move", {"folder_id": other["id"]},
                           expect=200).json()
    mb.ok("post", f"contactFolders/{other['id']}/contacts", 201, json={"givenName": "Not in this folder"})
    changes, link3, _ = _round(mb, link2)
    present = _present(changes)
    assert set(present) == {ids[0], new}
    assert present[ids[0]]["surname"] == "Changed again"
    assert set(present[ids[0]]) == {"@odata.etag", "id", "givenName", "surname"}  # $select kept in the token
    assert _removed(changes) == {ids[1], ids[2]}
    assert all(e["@removed"] == {"reason": "deleted"} for e in changes if "@removed" in e)
    assert moved["id"] != ids[2]

    # The same deltaLink can be replayed (a client that lost the answer) and gives the same changes.
    again, _, _ = _round(mb, link2)
    assert set(_present(again)) == set(present) and _removed(again) == _removed(changes)
    assert _round(mb, link3)[0] == []


def test_contacts_delta_refuses_unsupported_options(mb):
    folder = mb.ok("post", "contactFolders", 201, json={"displayName": "F"})
    response = mb.get(f"contactFolders/{folder['id']}/contacts/delta", params={"$filter": "givenName eq 'x'"})
    assert response.status_code == 400 and error_code(response) == "ErrorInvalidUrlQuery"
    response = mb.get(f"contactFolders/{folder['id']}/contacts/delta", params={"$orderby": "givenName"})
    assert response.status_code == 400


def test_delta_tokens_expire_with_410(mb, tenant):
    folder = mb.ok("post", "contactFolders", 201, json={"displayName": "F"})
    for i in range(3):
        mb.ok("post", f"contactFolders/{folder['id']}/contacts", 201, json={"givenName": f"X{i}"})
    page = mb.ok("get", f"contactFolders/{folder['id']}/contacts/delta", headers={"Prefer": "odata.maxpagesize=2"})
    next_link = page["@odata.nextLink"]
    _, delta_link, _ = _round(mb, f"contactFolders/{folder['id']}/contacts/delta")
    tenant.control("POST", "/delta/expire", expect=200)
    for link in (next_link, delta_link):
        response = mb.get(link)
        assert response.status_code == 410 and error_code(response) == "SyncStateNotFound"
    made_up = mb.get(f"contactFolders/{folder['id']}/contacts/delta", params={"$deltatoken": "abc"})
    assert made_up.status_code == 410
    assert len(_round(mb, f"contactFolders/{folder['id']}/contacts/delta")[0]) == 3  # a new round starts afresh


WINDOW = {"startDateTime": "2027-03-01T00:00:00Z", "endDateTime": "2027-04-01T00:00:00Z"}


def _event(subject, start, end, **extra):
    return {"subject": subject, "start": {"dateTime": start, "timeZone": "UTC"},
            "end": {"dateTime": end, "timeZone": "UTC"}, **extra}


def test_calendar_view_delta(mb):
    single = mb.ok("post", "calendar/events", 201, json=_event("Single", "2027-03-10T09:00:00",
                                                                   "2027-03-10T10:00:00"))
    weekly = {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["wednesday"]},
              "range": {"type": "numbered", "startDate": "2027-03-03", "numberOfOccurrences": 6}}
    series = mb.ok("post", "calendar/events", 201, json=_event("Weekly", "2027-03-03T08:00:00",
                                                                   "2027-03-03T08:30:00", recurrence=weekly))
    outside = mb.ok("post", "calendar/events", 201, json=_event("Later", "2027-06-01T09:00:00",
                                                                    "2027-06-01T10:00:00"))
    entries, link, pages = _round(mb, "calendarView/delta", WINDOW, prefer="odata.maxpagesize=3")
    present = _present(entries)
    assert pages == 2 and len(entries) == 6  # 1 single + 5 occurrences in March (the 6th is on 7 April)
    assert single["id"] in present and outside["id"] not in present and series["id"] not in present
    occurrences = [e for e in present.values() if e["type"] == "occurrence"]
    assert len(occurrences) == 5 and all(e["seriesMasterId"] == series["id"] for e in occurrences)
    # As Exchange Online does: plain occurrences come bare, single events whole.
    assert set(occurrences[0]) == {"@odata.type", "@odata.etag", "id", "seriesMasterId", "type", "start", "end"}
    assert present[single["id"]]["subject"] == "Single"
    assert mb.ok("get", f"events/{occurrences[0]['id']}")["subject"] == "Weekly"
    assert parse_qs(urlsplit(link).query).keys() == {"$deltatoken"}  # the window lives in the token

    third = sorted(occurrences, key=lambda e: e["start"]["dateTime"])[2]
    fourth = sorted(occurrences, key=lambda e: e["start"]["dateTime"])[3]
    mb.ok("patch", f"events/{third['id']}", json={"subject": "Weekly (moved)",
                                                  "start": {"dateTime": "2027-03-17T11:00:00", "timeZone": "UTC"},
                                                  "end": {"dateTime": "2027-03-17T11:30:00", "timeZone": "UTC"}})
    mb.ok("delete", f"events/{fourth['id']}", 204)
    mb.ok("patch", f"events/{single['id']}", json={"sensitivity": "private"})
    mb.ok("patch", f"events/{outside['id']}", json={"subject": "Later, renamed"})
    changes, link2, _ = _round(mb, link)
    present = _present(changes)
    assert set(present) == {third["id"], single["id"]}
    assert present[third["id"]]["type"] == "exception" and present[third["id"]]["subject"] == "Weekly (moved)"
    assert present[single["id"]]["sensitivity"] == "private"
    # As documented: events outside the window that changed since come as @removed too (clients filter them).
    assert _removed(changes) == {fourth["id"], outside["id"]}

    mb.ok("delete", f"events/{series['id']}", 204)
    changes, _, _ = _round(mb, link2)
    assert len(_removed(changes)) == 4 and not _present(changes)


def test_calendar_view_delta_refuses_select_and_needs_a_window(mb):
    response = mb.get("calendarView/delta", params={**WINDOW, "$select": "subject"})
    assert response.status_code == 400 and error_code(response) == "ErrorInvalidUrlQuery"
    response = mb.get("calendarView/delta", params={**WINDOW, "$filter": "subject eq 'x'"})
    assert response.status_code == 400
    response = mb.get("calendarView/delta")
    assert response.status_code == 400 and error_code(response) == "ErrorInvalidParameter"


def test_tasks_delta(mb):
    default = next(tl for tl in mb.ok("get", "todo/lists")["value"] if tl["wellknownListName"] == "defaultList")
    base = f"todo/lists/{default['id']}/tasks"
    ids = [mb.ok("post", base, 201, json={"title": f"T{i}"})["id"] for i in range(3)]
    entries, link, pages = _round(mb, base + "/delta", prefer="odata.maxpagesize=2")
    assert pages == 2 and set(_present(entries)) == set(ids)
    mb.ok("patch", f"{base}/{ids[0]}", json={"status": "completed"})
    mb.ok("delete", f"{base}/{ids[1]}", 204)
    changes, _, _ = _round(mb, link)
    assert set(_present(changes)) == {ids[0]} and _removed(changes) == {ids[1]}
    assert _present(changes)[ids[0]]["status"] == "completed"
    response = mb.get(base + "/delta", params={"$filter": "title eq 'x'"})
    assert response.status_code == 400

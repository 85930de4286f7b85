"""Events: single instances, sensitivity, recurring series expanded in calendarView with an exception and a
cancelled occurrence, instances, occurrences addressed by id, bodies, time zones and validation."""

from tests.sandbox.graph.conftest import SF_ID_PROP, error_code

WINDOW = {"startDateTime": "2027-05-01T00:00:00Z", "endDateTime": "2027-06-01T00:00:00Z"}


def _event(subject, start, end, tz="UTC", **extra):
    return {"subject": subject, "start": {"dateTime": start, "timeZone": tz},
            "end": {"dateTime": end, "timeZone": tz}, **extra}


def test_single_event_crud(mb):
    created = mb.ok("post", "calendar/events", 201, json=_event(
        "Kick-off", "2027-05-04T10:00:00", "2027-05-04T11:00:00", tz="W. Europe Standard Time",
        sensitivity="private", location={"displayName": "Room 1"},
        body={"contentType": "text", "content": "Agenda:\nintro"},
        attendees=[{"type": "required", "emailAddress": {"address": "x@example.com", "name": "X"}}],
        singleValueExtendedProperties=[{"id": SF_ID_PROP, "value": "00U000000000001AAA"}]))
    assert created["type"] == "singleInstance" and created["sensitivity"] == "private"
    assert created["start"] == {"dateTime": "2027-05-04T08:00:00.0000000", "timeZone": "UTC"}
    assert created["originalStartTimeZone"] == "W. Europe Standard Time"
    assert created["location"]["displayName"] == "Room 1"
    assert created["body"]["contentType"] == "html" and "Agenda:<br>" in created["body"]["content"]
    assert created["attendees"][0]["status"]["response"] == "none"
    assert created["organizer"]["emailAddress"]["address"] == mb.upn
    eid = created["id"]
    text = mb.ok("get", f"events/{eid}", headers={"Prefer": 'outlook.body-content-type="text"'})
    assert text["body"] == {"contentType": "text", "content": "Agenda:\nintro"}
    local = mb.ok("get", f"events/{eid}", headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'})
    assert local["start"] == {"dateTime": "2027-05-04T01:00:00.0000000", "timeZone": "Pacific Standard Time"}
    expanded = mb.ok("get", f"events/{eid}", params={
        "$expand": f"singleValueExtendedProperties($filter=id eq '{SF_ID_PROP}')", "$select": "subject"})
    assert expanded["singleValueExtendedProperties"][0]["value"] == "00U000000000001AAA"
    assert set(expanded) == {"@odata.context", "@odata.etag", "id", "subject", "singleValueExtendedProperties"}
    flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{SF_ID_PROP}' and ep/value eq '00U000000000001AAA')"
    assert [e["id"] for e in mb.ok("get", "events", params={"$filter": flt})["value"]] == [eid]
    updated = mb.ok("patch", f"events/{eid}", json={"sensitivity": "confidential", "subject": "Kick-off v2"})
    assert updated["sensitivity"] == "confidential" and updated["changeKey"] != created["changeKey"]
    stale = mb.patch(f"events/{eid}", json={"subject": "x"}, headers={"If-Match": created["@odata.etag"]})
    assert stale.status_code == 412
    mb.ok("delete", f"events/{eid}", 204)
    assert mb.get(f"events/{eid}").status_code == 404


def test_validation(mb):
    response = mb.post("events", json=_event("Backwards", "2027-05-04T10:00:00", "2027-05-04T09:00:00"))
    assert response.status_code == 400 and error_code(response) == "ErrorCalendarEndDateIsEarlierThanStartDate"
    response = mb.post("events", json=_event("Bad zone", "2027-05-04T10:00:00", "2027-05-04T11:00:00",
                                             tz="Middle Earth Time"))
    assert response.status_code == 400 and error_code(response) == "TimeZoneNotSupportedException"
    response = mb.post("events", json=_event("Bad", "2027-05-04T10:00:00", "2027-05-04T11:00:00",
                                             sensitivity="secret"))
    assert response.status_code == 400
    response = mb.post("events", json=_event("All day", "2027-05-04T10:00:00", "2027-05-05T10:00:00",
                                             isAllDay=True))
    assert response.status_code == 400
    response = mb.get("calendarView", params={"startDateTime": "2027-05-01T00:00:00Z"})
    assert response.status_code == 400 and error_code(response) == "ErrorInvalidParameter"


def test_series_in_calendar_view_with_exception_and_cancellation(mb):
    weekly = {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"},
              "range": {"type": "noEnd", "startDate": "2027-05-03"}}
    series = mb.ok("post", "events", 201, json=_event("Stand-up", "2027-05-03T09:30:00", "2027-05-03T09:45:00",
                                                       tz="W. Europe Standard Time", recurrence=weekly))
    assert series["type"] == "seriesMaster" and series["recurrence"]["range"]["type"] == "noEnd"
    assert series["recurrence"]["pattern"]["daysOfWeek"] == ["monday"]
    view = mb.ok("get", "calendarView", params={**WINDOW, "$top": 50})["value"]
    assert [e["start"]["dateTime"][:16] for e in view] == ["2027-05-03T07:30", "2027-05-10T07:30",
                                                           "2027-05-17T07:30", "2027-05-24T07:30",
                                                           "2027-05-31T07:30"]
    assert {e["type"] for e in view} == {"occurrence"} and series["id"] not in {e["id"] for e in view}
    assert all(e["seriesMasterId"] == series["id"] for e in view)
    assert view[1]["originalStart"] == "2027-05-10T07:30:00Z"
    occurrence = mb.ok("get", f"events/{view[1]['id']}")
    assert occurrence["type"] == "occurrence" and occurrence["subject"] == "Stand-up"
    moved = mb.ok("patch", f"events/{view[1]['id']}", json={
        "start": {"dateTime": "2027-05-11T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2027-05-11T10:15:00", "timeZone": "UTC"}, "subject": "Stand-up (Tuesday)"})
    assert moved["type"] == "exception" and moved["id"] == view[1]["id"]
    mb.ok("delete", f"events/{view[2]['id']}", 204)
    assert mb.get(f"events/{view[2]['id']}").status_code == 404
    after = mb.ok("get", "calendarView", params=WINDOW)["value"]
    assert [(e["type"], e["start"]["dateTime"][:16]) for e in after] == [
        ("occurrence", "2027-05-03T07:30"), ("exception", "2027-05-11T10:00"),
        ("occurrence", "2027-05-24T07:30"), ("occurrence", "2027-05-31T07:30")]
    assert after[1]["subject"] == "Stand-up (Tuesday)" and after[1]["originalStart"] == "2027-05-10T07:30:00Z"
    instances = mb.ok("get", f"events/{series['id']}/instances", params=WINDOW)["value"]
    assert [e["id"] for e in instances] == [e["id"] for e in after]
    listed = mb.ok("get", "events")["value"]
    assert [(e["id"], e["type"]) for e in listed] == [(series["id"], "seriesMaster")]
    # Changing the series' times drops its exceptions, as Exchange does.
    mb.ok("patch", f"events/{series['id']}", json={
        "start": {"dateTime": "2027-05-03T10:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2027-05-03T10:30:00", "timeZone": "W. Europe Standard Time"}})
    again = mb.ok("get", "calendarView", params=WINDOW)["value"]
    assert len(again) == 5 and {e["type"] for e in again} == {"occurrence"}


def test_monthly_and_numbered_series_and_paging(mb):
    monthly = {"pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["tuesday"], "index": "first"},
               "range": {"type": "numbered", "startDate": "2027-01-05", "numberOfOccurrences": 3}}
    mb.ok("post", "events", 201, json=_event("Forecast", "2027-01-05T14:00:00", "2027-01-05T15:00:00",
                                             recurrence=monthly))
    year = {"startDateTime": "2027-01-01T00:00:00Z", "endDateTime": "2028-01-01T00:00:00Z"}
    page = mb.ok("get", "calendarView", params={**year, "$top": 2})
    dates = [e["start"]["dateTime"][:10] for e in page["value"]]
    page = mb.ok("get", page["@odata.nextLink"])
    dates += [e["start"]["dateTime"][:10] for e in page["value"]]
    assert dates == ["2027-01-05", "2027-02-02", "2027-03-02"] and "@odata.nextLink" not in page
    bad = mb.post("events", json=_event("Bad", "2027-01-05T14:00:00", "2027-01-05T15:00:00", recurrence={
        "pattern": {"type": "fortnightly"}, "range": {"type": "noEnd", "startDate": "2027-01-05"}}))
    assert bad.status_code == 400



def test_transaction_id_makes_a_retried_create_idempotent(mb):
    body = _event("Once", "2027-05-06T10:00:00", "2027-05-06T11:00:00", transactionId="sync-7f3a")
    first = mb.ok("post", "events", 201, json=body)
    again = mb.ok("post", "events", 201, json=body)
    assert again["id"] == first["id"]
    assert [e["id"] for e in mb.ok("get", "events")["value"]] == [first["id"]]

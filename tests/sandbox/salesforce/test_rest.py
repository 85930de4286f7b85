"""The REST API through the unchanged simple-salesforce client, with shapes compared to recorded bodies."""

import datetime as dt
import re

import pytest
from simple_salesforce import format_soql
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from sandbox.salesforce.ids import checksum

from .conftest import reference

MISSING_ACCOUNT = "0018d00000ZZZZZ" + checksum("0018d00000ZZZZZ")
MISSING_CONTACT = "0038d00000ZZZZZ" + checksum("0038d00000ZZZZZ")


def _types(body: dict) -> dict:
    return {key: type(value).__name__ for key, value in body.items()}


@pytest.fixture(scope="module")
def owner(org):
    return org.user("Standard User", first="Rita")


@pytest.fixture(scope="module")
def sf(org, owner):
    return org.sf(owner)


def test_versions_list(org):
    response = org.session().get(f"{org.url}/services/data/")
    assert response.status_code == 200
    recorded = reference("restforce_services_data_success_response.json")
    versions = response.json()
    assert all(set(entry) == set(recorded[0]) for entry in versions)
    assert {"version": "59.0", "url": "/services/data/v59.0", "label": "Winter '24"} in versions
    assert org.session().get(f"{org.url}/services/data/v20.0/limits").status_code == 404


def test_create_get_update_delete_round_trip(org, sf, owner):
    created = sf.Contact.create({"LastName": "Young", "Email": "y@example.com", "FirstName": "Ann"})
    recorded = reference("restforce_create_success_response.json")
    assert set(created) == set(recorded) and created["success"] is True and created["errors"] == []
    contact_id = created["id"]
    assert len(contact_id) == 18 and contact_id.startswith("003") and contact_id[15:] == checksum(contact_id[:15])

    record = sf.Contact.get(contact_id)
    assert record["attributes"] == {"type": "Contact", "url": f"/services/data/v59.0/sobjects/Contact/{contact_id}"}
    assert record["Name"] == "Ann Young" and record["OwnerId"] == owner["id"]
    assert record["CreatedById"] == owner["id"] and record["IsDeleted"] is False
    for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        assert dt.datetime.strptime(record[name], "%Y-%m-%dT%H:%M:%S.%f%z")
        assert record[name].endswith("+0000") and len(record[name]) == 28
    assert record["MailingCity"] is None  # every field is present, null when empty

    assert sf.Contact.update(contact_id, {"LastName": "Old"}) == 204
    updated = sf.Contact.get(contact_id)
    assert updated["Name"] == "Ann Old" and updated["SystemModstamp"] >= record["SystemModstamp"]

    assert sf.Contact.delete(contact_id) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.get(contact_id)
    deleted = sf.query_all(format_soql("SELECT Id, IsDeleted FROM Contact WHERE Id = {}", contact_id),
                           include_deleted=True)
    assert deleted["records"][0]["IsDeleted"] is True
    assert sf.query(format_soql("SELECT Id FROM Contact WHERE Id = {}", contact_id))["totalSize"] == 0
    again = org.rest(owner, "DELETE", f"/sobjects/Contact/{contact_id}")
    assert again.status_code == 404 and again.json()[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_get_with_fields_and_15_character_id(org, sf, owner):
    contact_id = sf.Contact.create({"LastName": "Short", "Title": "CTO"})["id"]
    body = org.rest(owner, "GET", f"/sobjects/Contact/{contact_id[:15]}", params={"fields": "Title,LastName"}).json()
    assert body == {"attributes": {"type": "Contact", "url": f"/services/data/v59.0/sobjects/Contact/{contact_id}"},
                    "Title": "CTO", "LastName": "Short", "Id": contact_id}


@pytest.mark.parametrize("method, path, body, status, code, fields", [
    ("POST", "/sobjects/Contact", {"FirstName": "No last name"}, 400, "REQUIRED_FIELD_MISSING", ["LastName"]),
    ("POST", "/sobjects/Contact", {"LastName": "x", "Foo": 1}, 400, "INVALID_FIELD", None),
    ("POST", "/sobjects/Contact", {"LastName": "x" * 81}, 400, "STRING_TOO_LONG", ["LastName"]),
    ("POST", "/sobjects/Contact", {"LastName": "x", "Email": "not-an-email"}, 400, "INVALID_EMAIL_ADDRESS",
     ["Email"]),
    ("POST", "/sobjects/Contact", {"LastName": "x", "AccountId": "001xyz"}, 400, "MALFORMED_ID", ["AccountId"]),
    ("POST", "/sobjects/Contact", {"LastName": "x", "AccountId": "0038d0000000001AAA"}, 400,
     "FIELD_INTEGRITY_EXCEPTION", ["AccountId"]),
    ("POST", "/sobjects/Contact", {"LastName": "x", "AccountId": MISSING_ACCOUNT}, 400,
     "INVALID_CROSS_REFERENCE_KEY", ["AccountId"]),
    ("POST", "/sobjects/Contact", {"LastName": "x", "DoNotCall": "maybe"}, 400, "JSON_PARSER_ERROR", None),
    ("POST", "/sobjects/Contact", {"LastName": "x", "Birthdate": "1990-13-45"}, 400, "JSON_PARSER_ERROR", None),
    ("POST", "/sobjects/Contact", {"LastName": "x", "CreatedDate": "2020-01-01T00:00:00Z"}, 400,
     "INVALID_FIELD_FOR_INSERT_UPDATE", ["CreatedDate"]),
    ("POST", "/sobjects/Contact", {"LastName": "x", "Interests__c": "Golf;Skydiving"}, 400,
     "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Interests__c"]),
    ("POST", "/sobjects/Task", {"Subject": "x", "Status": "Done-ish"}, 400,
     "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Status"]),
    ("POST", "/sobjects/Event", {"Subject": "no start"}, 400, "REQUIRED_FIELD_MISSING", ["ActivityDateTime"]),
    ("POST", "/sobjects/Event", {"StartDateTime": "2026-11-22T10:00:00Z"}, 400, "REQUIRED_FIELD_MISSING",
     ["DurationInMinutes"]),
    ("POST", "/sobjects/Event", {"StartDateTime": "2026-11-22T10:00:00Z", "EndDateTime": "2026-11-22T09:00:00Z"},
     400, "FIELD_INTEGRITY_EXCEPTION", ["EndDateTime"]),
    ("POST", "/sobjects/Event", {"StartDateTime": "2026-11-22T10:00:00Z", "DurationInMinutes": 30,
                                 "ShowAs": "Maybe"}, 400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["ShowAs"]),
    ("POST", "/sobjects/Event", {"StartDateTime": "2026-11-22T10:00:00Z", "DurationInMinutes": 30,
                                 "IsRecurrence": True, "RecurrenceType": "RecursWeekly"}, 400,
     "REQUIRED_FIELD_MISSING", None),
    ("POST", "/sobjects/Profile", {"Name": "Mine"}, 400, "INVALID_TYPE_FOR_OPERATION", None),
    ("POST", "/sobjects/Whizbang", {"Name": "x"}, 404, "NOT_FOUND", None),
    ("GET", "/sobjects/Contact/003notanid", None, 404, "NOT_FOUND", None),
    ("GET", f"/sobjects/Contact/{MISSING_CONTACT}", None, 404, "NOT_FOUND", None),
    ("PATCH", f"/sobjects/Contact/{MISSING_CONTACT}", {"LastName": "x"}, 404, "NOT_FOUND", None),
    ("POST", "/sobjects/contact", {"FirstName": "lower-case type"}, 400, "REQUIRED_FIELD_MISSING", ["LastName"]),
    ("PUT", f"/sobjects/Contact/{MISSING_CONTACT}", {"LastName": "x"}, 405, "METHOD_NOT_ALLOWED", None),
    ("GET", f"/sobjects/Contact/{MISSING_CONTACT}/extra/path", None, 404, "NOT_FOUND", None),
    ("GET", "/query", None, 400, "MALFORMED_QUERY", None),
    ("GET", "/query/01gUNKNOWN-2000", None, 400, "INVALID_QUERY_LOCATOR", None),
])
def test_errors_are_salesforce_shaped(org, owner, method, path, body, status, code, fields):
    kwargs = {"json": body} if body is not None else {}
    response = org.rest(owner, method, path, **kwargs)
    assert response.status_code == status, response.text
    errors = response.json()
    recorded = reference("restforce_write_error_response.json")
    assert isinstance(errors, list) and len(errors) == 1
    assert set(recorded[0]) <= set(errors[0]) <= {"message", "errorCode", "fields"}
    assert errors[0]["errorCode"] == code
    assert isinstance(errors[0]["message"], str) and errors[0]["message"]
    if fields is not None:
        assert errors[0]["fields"] == fields
    assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_malformed_id_in_the_url_answers_like_the_recorded_body(org, owner):
    recorded = reference("restforce_delete_error_response.json")
    response = org.rest(owner, "DELETE", "/sobjects/Contact/rid")
    assert response.status_code == 404 and response.json() == recorded


def test_malformed_json_body(org, owner):
    response = org.rest(owner, "POST", "/sobjects/Contact", data="{not json",
                        headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_invalid_field_message_matches_salesforce(org, owner):
    response = org.rest(owner, "POST", "/sobjects/Contact", json={"LastName": "x", "RecordTypeId": "012"})
    assert response.json() == reference("docs_error_bodies.json")["400_invalid_field_on_write"]


def test_simple_salesforce_raises_its_malformed_request_error(sf):
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Contact.create({"FirstName": "x"})
    assert failure.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"


def test_event_derived_fields_and_all_day(sf):
    timed = sf.Event.create({"Subject": "Demo", "StartDateTime": "2026-11-23T09:30:00+01:00",
                             "DurationInMinutes": 45, "Location": "Teams", "IsPrivate": True})
    event = sf.Event.get(timed["id"])
    assert event["StartDateTime"] == event["ActivityDateTime"] == "2026-11-23T08:30:00.000+0000"
    assert event["EndDateTime"] == "2026-11-23T09:15:00.000+0000"
    assert event["ActivityDate"] == "2026-11-23" and event["ShowAs"] == "Busy" and event["IsPrivate"] is True
    sf.Event.update(timed["id"], {"EndDateTime": "2026-11-23T10:30:00Z"})
    assert sf.Event.get(timed["id"])["DurationInMinutes"] == 120
    all_day = sf.Event.create({"Subject": "Fair", "IsAllDayEvent": True, "ActivityDate": "2026-12-01",
                               "DurationInMinutes": 2880})
    event = sf.Event.get(all_day["id"])
    assert event["ActivityDateTime"] is None and event["StartDateTime"] == "2026-12-01T00:00:00.000+0000"
    assert event["EndDateTime"] == "2026-12-02T00:00:00.000+0000" and event["DurationInMinutes"] == 2880
    series = sf.Event.create({
        "Subject": "Weekly", "StartDateTime": "2026-11-23T09:00:00Z", "DurationInMinutes": 30, "IsRecurrence": True,
        "RecurrenceType": "RecursWeekly", "RecurrenceInterval": 1, "RecurrenceDayOfWeekMask": 2,
        "RecurrenceStartDateTime": "2026-11-23T09:00:00Z", "RecurrenceEndDateOnly": "2027-02-01"})
    assert sf.Event.get(series["id"])["IsRecurrence"] is True


def test_task_status_drives_is_closed(sf):
    task = sf.Task.create({"Subject": "Call back", "ActivityDate": "2026-11-30", "Priority": "High"})
    record = sf.Task.get(task["id"])
    assert (record["Status"], record["IsClosed"], record["IsHighPriority"]) == ("Not Started", False, True)
    sf.Task.update(task["id"], {"Status": "Completed"})
    record = sf.Task.get(task["id"])
    assert record["IsClosed"] is True and record["CompletedDateTime"] is not None
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Task.update(task["id"], {"IsClosed": False})
    assert failure.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_describe_has_the_recorded_field_keys(sf):
    describe = sf.Event.describe()
    recorded = reference("restforce_sobject_describe_success_response.json")
    assert set(recorded) <= set(describe), set(recorded) - set(describe)
    assert {type(describe[key]) for key in ("fields", "childRelationships", "recordTypeInfos")} == {list}
    recorded_keys = set(recorded["fields"][0])
    for f in describe["fields"]:
        assert recorded_keys <= set(f), recorded_keys - set(f)
    fields = {f["name"]: f for f in describe["fields"]}
    for name in ("IsAllDayEvent", "IsPrivate", "ShowAs", "WhoId", "WhatId", "ActivityDateTime", "StartDateTime",
                 "EndDateTime", "ActivityDate", "DurationInMinutes", "Location", "Description", "IsRecurrence",
                 "RecurrenceType", "RecurrenceInterval", "RecurrenceDayOfWeekMask", "RecurrenceStartDateTime",
                 "RecurrenceEndDateOnly"):
        assert name in fields
    assert fields["WhoId"]["referenceTo"] == ["Contact", "Lead"] and fields["WhoId"]["relationshipName"] == "Who"
    assert [p["value"] for p in fields["ShowAs"]["picklistValues"]][:3] == ["Busy", "OutOfOffice", "Free"]
    assert fields["Id"]["type"] == "id" and fields["SystemModstamp"]["updateable"] is False
    contact = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    assert contact["LastName"]["nillable"] is False and contact["LastName"]["length"] == 80
    assert describe["keyPrefix"] == "00U" and describe["name"] == "Event"
    names = {entry["name"] for entry in sf.describe()["sobjects"]}
    assert {"User", "Profile", "Account", "Contact", "Lead", "Event", "EventRelation", "Task"} <= names


def test_limits_and_the_usage_header(sf, org, owner):
    body = sf.limits()
    recorded = reference("simple_salesforce_limits_response.json")
    assert set(recorded) <= set(body)
    assert all(set(value) == {"Max", "Remaining"} for value in body.values())
    assert body["DailyApiRequests"]["Max"] == 15000
    response = org.rest(owner, "GET", "/limits")
    used, allocation = response.headers["Sforce-Limit-Info"].removeprefix("api-usage=").split("/")
    assert int(allocation) == 15000 and 0 < int(used) <= 15000
    assert response.json()["DailyApiRequests"]["Remaining"] == 15000 - int(used)
    assert sf.api_usage["api-usage"].total == 15000  # simple-salesforce parses the header itself


def test_updated_and_deleted_replication(sf, org, owner):
    start = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=1)
    kept = sf.Lead.create({"LastName": "Kept", "Company": "Acme"})["id"]
    gone = sf.Lead.create({"LastName": "Gone", "Company": "Acme"})["id"]
    sf.Lead.delete(gone)
    end = start + dt.timedelta(minutes=5)
    # Salesforce covers whole minutes only: move the clock on so the current minute is covered.
    org.control("POST", "/settings", {"clock_offset_seconds": 120}, expect=200)
    try:
        updated = sf.Lead.updated(start, end)
        deleted = sf.Lead.deleted(start, end)
    finally:
        org.control("POST", "/settings", {"clock_offset_seconds": 0}, expect=200)
    recorded = reference("restforce_get_updated_success_response.json")
    assert set(updated) == set(recorded) and kept in updated["ids"] and gone not in updated["ids"]
    assert updated["latestDateCovered"].endswith(":00.000+0000")
    recorded = reference("restforce_get_deleted_success_response.json")
    assert set(deleted) == set(recorded)
    assert set(deleted["deletedRecords"][0]) == set(recorded["deletedRecords"][0])
    assert [entry["id"] for entry in deleted["deletedRecords"]] == [gone]
    too_old = org.rest(owner, "GET", "/sobjects/Lead/updated/", params={
        "start": "2000-01-01T00:00:00+00:00", "end": "2000-01-02T00:00:00+00:00"})
    assert too_old.status_code == 400 and too_old.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    missing = org.rest(owner, "GET", "/sobjects/Lead/updated/")
    assert missing.status_code == 400 and missing.json()[0]["errorCode"] == "MISSING_ARGUMENT"


def test_query_paging_2000_per_page(org, owner, sf):
    account = sf.Account.create({"Name": "Paging Ltd"})["id"]
    for chunk in range(13):
        records = [{"attributes": {"type": "Contact"}, "LastName": f"P{chunk:02d}-{n:03d}", "AccountId": account}
                   for n in range(200)]
        results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
        assert all(result["success"] for result in results)
    soql = format_soql("SELECT Id, LastName, Account.Name FROM Contact WHERE AccountId = {} ORDER BY LastName", account)
    first = sf.query(soql)
    recorded = reference("docs_query_response_first_page.json")
    assert set(first) == set(recorded)
    assert first["totalSize"] == 2600 and first["done"] is False and len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    assert set(first) == set(reference("restforce_query_paginated_first_page_response.json"))
    assert set(first["records"][0]) == set(recorded["records"][0])
    assert first["records"][0]["Account"]["Name"] == "Paging Ltd"
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert second["done"] is True and len(second["records"]) == 600 and "nextRecordsUrl" not in second
    every = sf.query_all(soql)
    names = [record["LastName"] for record in every["records"]]
    assert len(names) == 2600 and names == sorted(names)
    small = org.rest(owner, "GET", "/query", params={"q": soql}, headers={"Sforce-Query-Options": "batchSize=500"})
    assert len(small.json()["records"]) == 500


def test_owner_cannot_be_cleared_and_can_be_transferred(org, sf, owner):
    contact = sf.Contact.create({"LastName": "Owned"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Contact.update(contact, {"OwnerId": None})
    assert failure.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    other = org.user("Standard User")
    assert sf.Contact.update(contact, {"OwnerId": other["id"]}) == 204
    assert org.sf(other).Contact.get(contact)["OwnerId"] == other["id"]
    with pytest.raises(SalesforceResourceNotFound):  # no longer shared with the previous owner
        sf.Contact.get(contact)


def test_organization_says_it_is_a_sandbox(sf):
    assert sf.is_sandbox() is True
    org = sf.query("SELECT Id, Name, IsSandbox, OrganizationType FROM Organization")["records"]
    assert len(org) == 1 and org[0]["Id"].startswith("00D") and org[0]["IsSandbox"] is True


def test_query_value_formats_match_the_recorded_query(sf):
    """Checkbox, date, datetime and multi-select values look like the recorded query's."""
    recorded = reference("restforce_query_success_response.json")["records"][0]
    contact = sf.Contact.create({"LastName": "Formats", "DoNotCall": True, "Birthdate": "2010-01-01",
                                 "Interests__c": "Golf;Wine"})["id"]
    row = sf.query(format_soql("SELECT DoNotCall, Birthdate, CreatedDate, Interests__c FROM Contact WHERE Id = {}",
                               contact))["records"][0]
    assert set(row["attributes"]) == set(recorded["attributes"])
    shapes = [(row["DoNotCall"], recorded["Checkbox_Label"]), (row["Birthdate"], recorded["Date_Label"]),
              (row["CreatedDate"], recorded["DateTime_Label"]),
              (row["Interests__c"], recorded["Picklist_Multiselect_Label"])]
    for ours, theirs in shapes:
        assert type(ours) is type(theirs)
        if isinstance(ours, str):
            assert re.sub(r"[0-9]", "9", ours).replace("Golf;Wine", "x;y") == \
                re.sub(r"[0-9]", "9", theirs).replace("four;six", "x;y")

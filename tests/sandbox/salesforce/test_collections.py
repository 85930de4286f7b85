"""sObject Collections through simple-salesforce's ``restful`` (it has no dedicated method), compared with the
documented bodies."""

import pytest
from simple_salesforce import format_soql
from simple_salesforce.exceptions import SalesforceMalformedRequest

from .conftest import reference


@pytest.fixture(scope="module")
def sf(org):
    return org.sf(org.user("Standard User"))


def _records(n: int, **extra) -> list:
    return [{"attributes": {"type": "Contact"}, "LastName": f"Bulk{n:03d}-{i:03d}", **extra} for i in range(n)]


def test_create_200_then_update_and_delete(sf):
    created = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": _records(200)})
    recorded = reference("restforce_composite_sobjects_success_response.json")
    assert len(created) == 200 and all(set(r) == set(recorded[0]) and r["success"] for r in created)
    ids = [r["id"] for r in created]
    changes = [{"attributes": {"type": "Contact"}, "Id": record_id, "Title": "Buyer"} for record_id in ids]
    updated = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": changes})
    assert [r["id"] for r in updated] == ids and all(r["success"] for r in updated)
    titles = sf.query(format_soql("SELECT Title FROM Contact WHERE Id IN {}", ids))
    assert titles["totalSize"] == 200 and {r["Title"] for r in titles["records"]} == {"Buyer"}
    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": ",".join(ids[:5]),
                                                                         "allOrNone": "true"})
    assert [r["id"] for r in deleted] == ids[:5] and all(r["success"] and r["errors"] == [] for r in deleted)


def test_partial_failure_without_all_or_none(sf):
    records = [{"attributes": {"type": "Contact"}, "FirstName": "No last name"},
               {"attributes": {"type": "Contact"}, "LastName": "Johnson", "FirstName": "Erica"}]
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records})
    recorded = reference("docs_composite_sobjects_create_response_partial_failure.json")
    assert [set(r) for r in results] == [set(r) for r in recorded]
    assert set(results[0]["errors"][0]) == set(recorded[0]["errors"][0]) == {"statusCode", "message", "fields"}
    assert results[0]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert results[0]["errors"][0]["fields"] == ["LastName"]
    assert results[1]["success"] is True
    assert sf.Contact.get(results[1]["id"])["FirstName"] == "Erica"


def test_all_or_none_rolls_everything_back(sf):
    records = [{"attributes": {"type": "Contact"}, "LastName": "x" * 81},
               {"attributes": {"type": "Contact"}, "LastName": "RolledBackPerson"}]
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    recorded = reference("docs_composite_sobjects_create_response_allornone_rollback.json")
    assert [set(r) for r in results] == [set(r) for r in recorded]
    assert results[0]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert results[1]["errors"] == recorded[1]["errors"]
    assert sf.query("SELECT COUNT() FROM Contact WHERE LastName = 'RolledBackPerson'")["totalSize"] == 0


def test_update_failures_carry_the_id(sf):
    good = sf.Contact.create({"LastName": "Keep"})["id"]
    deleted = sf.Contact.create({"LastName": "Gone"})["id"]
    sf.Contact.delete(deleted)
    changes = [{"attributes": {"type": "Contact"}, "Id": good, "LastName": "Kept"},
               {"attributes": {"type": "Contact"}, "Id": deleted, "LastName": "Zombie"},
               {"attributes": {"type": "Contact"}, "Id": "003bogus", "LastName": "Bad"},
               {"attributes": {"type": "Contact"}, "LastName": "No id"},
               {"attributes": {"type": "Contact"}, "Id": good, "Email": "bad address"}]
    results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": changes})
    assert results[0] == {"id": good, "success": True, "errors": []}
    assert [r["errors"][0]["statusCode"] for r in results[1:]] == [
        "ENTITY_IS_DELETED", "MALFORMED_ID", "MISSING_ARGUMENT", "INVALID_EMAIL_ADDRESS"]
    assert results[1]["id"] == deleted
    assert sf.Contact.get(good)["LastName"] == "Kept"
    rollback = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Contact"}, "Id": good, "LastName": "Changed"},
        {"attributes": {"type": "Contact"}, "Id": deleted, "LastName": "Zombie"}]})
    assert rollback[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert rollback[0]["id"] == good and sf.Contact.get(good)["LastName"] == "Kept"


def test_delete_errors(org, sf):
    results = sf.restful("composite/sobjects", method="DELETE", params={"ids": "003bogus", "allOrNone": "false"})
    assert results[0]["success"] is False and results[0]["errors"][0]["statusCode"] == "MALFORMED_ID"
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.restful("composite/sobjects", method="DELETE", params={"ids": ""})
    assert failure.value.content == reference("restforce_composite_sobjects_destroy_bad_request_response.json")


def test_limits_of_a_collection_request(sf):
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": _records(201)})
    assert failure.value.content == [{"message": "record limit reached. cannot submit more than 200 records into "
                                                 "this call", "errorCode": "EXCEEDED_ID_LIMIT"}]
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.restful("composite/sobjects", method="POST", json={"records": "nope"})
    assert failure.value.content[0]["errorCode"] == "JSON_PARSER_ERROR"
    missing_type = sf.restful("composite/sobjects", method="POST", json={"records": [{"LastName": "x"}]})
    assert missing_type[0]["errors"][0]["statusCode"] == "INVALID_TYPE"


def test_mixed_types_and_retrieve(sf):
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Account"}, "Name": "example.com", "BillingCity": "San Francisco"},
        {"attributes": {"type": "Contact"}, "LastName": "Johnson", "FirstName": "Erica"}]})
    account, contact = (r["id"] for r in results)
    assert account.startswith("001") and contact.startswith("003")
    fetched = sf.restful("composite/sobjects/Account", method="GET",
                         params={"ids": f"{account},001000000000000AAA", "fields": "Name,BillingCity"})
    assert fetched[0]["Name"] == "example.com" and fetched[0]["BillingCity"] == "San Francisco"
    assert fetched[0]["attributes"]["type"] == "Account" and fetched[1] is None

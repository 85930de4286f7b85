"""Profiles, object permissions and sharing: own records, contacts on owned accounts, private events."""

import pytest
from simple_salesforce import format_soql
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound


@pytest.fixture(scope="module")
def people(org):
    return {name: org.user(profile) for name, profile in (
        ("ann", "Standard User"), ("bob", "Standard User"), ("mia", "Sales Manager"), ("ro", "Read Only"),
        ("min", "Minimum Access"), ("admin", "System Administrator"))}


@pytest.fixture(scope="module")
def world(org, people):
    ann, bob = org.sf(people["ann"]), org.sf(people["bob"])
    account = ann.Account.create({"Name": "Ann's Account"})["id"]
    # Bob's contact on Ann's account is shared with Ann by the sharing rule.
    bob_account = bob.Account.create({"Name": "Bob's Account"})["id"]
    shared = ann.Contact.create({"LastName": "OnAnnsAccount", "AccountId": account, "OwnerId": people["bob"]["id"]})
    bobs = bob.Contact.create({"LastName": "BobsOwn", "AccountId": bob_account})["id"]
    anns = ann.Contact.create({"LastName": "AnnsOwn"})["id"]
    private = ann.Event.create({"Subject": "Dentist", "StartDateTime": "2026-11-24T08:00:00Z",
                                "DurationInMinutes": 60, "IsPrivate": True})["id"]
    public = ann.Event.create({"Subject": "Team lunch", "StartDateTime": "2026-11-24T12:00:00Z",
                               "DurationInMinutes": 60})["id"]
    return {"account": account, "shared": shared["id"], "bobs": bobs, "anns": anns, "private": private,
            "public": public, "bob_account": bob_account}


def _names(sf, soql):
    return {r["LastName"] for r in sf.query_all(soql)["records"]}


def test_standard_users_see_their_own_plus_the_sharing_rule(org, people, world):
    ann, bob = org.sf(people["ann"]), org.sf(people["bob"])
    soql = "SELECT LastName FROM Contact WHERE LastName IN ('OnAnnsAccount', 'BobsOwn', 'AnnsOwn')"
    assert _names(ann, soql) == {"OnAnnsAccount", "AnnsOwn"}
    assert _names(bob, soql) == {"OnAnnsAccount", "BobsOwn"}
    assert _names(org.sf(people["mia"]), soql) == {"OnAnnsAccount", "BobsOwn", "AnnsOwn"}
    with pytest.raises(SalesforceResourceNotFound):
        ann.Contact.get(world["bobs"])
    # the sharing rule is read/write
    assert ann.Contact.update(world["shared"], {"Title": "Shared edit"}) == 204


def test_editing_an_invisible_or_read_only_record(org, people, world):
    ann = org.sf(people["ann"])
    response = org.rest(people["ann"], "PATCH", f"/sobjects/Contact/{world['bobs']}", json={"Title": "x"})
    assert response.status_code == 404 and response.json()[0]["errorCode"] == "NOT_FOUND"
    ro = org.sf(people["ro"])
    with pytest.raises(SalesforceMalformedRequest) as failure:
        ro.Contact.create({"LastName": "Nope"})
    assert failure.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    results = org.sf(people["mia"]).restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Contact"}, "Id": world["anns"], "Title": "Manager edit"}]})
    assert results[0]["success"] is True  # Modify All
    assert ann.Contact.get(world["anns"])["Title"] == "Manager edit"
    # Bob can read Ann's public event through nothing: activities follow their parents, and it has none.
    bob_results = org.sf(people["bob"]).restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Contact"}, "Id": world["anns"], "Title": "Bob edit"}]})
    assert bob_results[0]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"


def test_read_only_profile_reads_shared_records_but_cannot_write(org, people):
    ro_user = people["ro"]
    admin = org.sf(people["admin"])
    account = admin.Account.create({"Name": "Read only's", "OwnerId": ro_user["id"]})["id"]
    ro = org.sf(ro_user)
    assert ro.Account.get(account)["Name"] == "Read only's"
    with pytest.raises(SalesforceMalformedRequest) as failure:
        ro.Account.update(account, {"Name": "Changed"})
    assert failure.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    deleted = org.rest(ro_user, "DELETE", f"/sobjects/Account/{account}")
    assert deleted.status_code == 403 and deleted.json()[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"


def test_minimum_access_profile_has_no_events(org, people):
    response = org.rest(people["min"], "GET", "/query", params={"q": "SELECT Id FROM Event"})
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "INVALID_TYPE"
    assert "sObject type 'Event' is not supported" in response.json()[0]["message"]
    assert org.rest(people["min"], "GET", "/sobjects/Event/describe").status_code == 404
    created = org.rest(people["min"], "POST", "/sobjects/Event", json={"Subject": "x"})
    assert created.status_code == 404
    names = {s["name"] for s in org.sf(people["min"]).describe()["sobjects"]}
    assert "Event" not in names and "Contact" in names


def test_private_events_are_for_their_owner_only(org, people, world):
    soql = format_soql("SELECT Subject FROM Event WHERE Id IN {}", [world["private"], world["public"]])
    seen = {who: {r["Subject"] for r in org.sf(people[who]).query(soql)["records"]} for who in ("ann", "mia",
                                                                                                "admin", "bob")}
    assert seen == {"ann": {"Dentist", "Team lunch"}, "mia": {"Team lunch"}, "admin": {"Dentist", "Team lunch"},
                    "bob": set()}


def test_activities_follow_their_parent_records(org, people, world):
    ann = org.sf(people["ann"])
    event = ann.Event.create({"Subject": "On shared contact", "WhoId": world["shared"],
                              "StartDateTime": "2026-11-25T08:00:00Z", "DurationInMinutes": 30})["id"]
    # Bob owns the contact the event is about, so he sees the event; he cannot edit Ann's event.
    bob = org.sf(people["bob"])
    assert bob.Event.get(event)["Subject"] == "On shared contact"
    with pytest.raises(SalesforceMalformedRequest) as failure:
        bob.Event.update(event, {"Subject": "hijack"})
    assert failure.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    with pytest.raises(SalesforceMalformedRequest) as failure:
        ann.Event.create({"Subject": "x", "WhatId": world["bob_account"], "StartDateTime": "2026-11-25T08:00:00Z",
                          "DurationInMinutes": 30})
    assert failure.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY"


def test_users_and_profiles_are_readable_and_not_writable(org, people):
    ann = org.sf(people["ann"])
    profiles = {r["Name"] for r in ann.query("SELECT Name FROM Profile")["records"]}
    assert {"Standard User", "Sales Manager", "Read Only", "System Administrator"} <= profiles
    me = ann.User.get(people["ann"]["id"])
    assert me["Username"] == people["ann"]["username"] and me["IsActive"] is True
    with pytest.raises(SalesforceMalformedRequest):
        ann.User.update(people["ann"]["id"], {"Title": "x"})


def test_control_api_user_errors(org):
    assert org.control("POST", "/users", {"username": "x@sandbox.test", "email": "x@sandbox.test",
                                          "last_name": "X", "profile": "Nope"}).status_code == 400
    assert org.control("POST", "/users", {"username": "y@sandbox.test"}).status_code == 400
    user = org.user()
    again = org.control("POST", "/users", {"username": user["username"], "email": user["email"],
                                           "last_name": "Dup", "profile": "Standard User"})
    assert again.status_code == 400 and "DUPLICATE_USERNAME" in again.json()["error"]

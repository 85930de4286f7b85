"""The SOQL table: queries against a small known data set, with expected results or expected error codes.

Each expectation is a list (order matters: the query has ORDER BY), a set (any order), an int (``COUNT()``
total) or an error code. Results are compared on the first selected field. ``{std}``, ``{c1}``... are replaced
by the ids and usernames created in the fixture. Queries run as the Sales Manager unless marked ``std:``.
"""

import datetime as dt

import pytest

from sandbox.salesforce.values import format_date, format_datetime

from .conftest import reference

NOT_STD = {"Back\\slash", "Smith"}
ALL_CONTACTS = {"Dubois", "O'Brien", "Back\\slash", "Smith", "50%_Off"}

TABLE = [
    # --- plain comparisons and text semantics
    ("SELECT LastName FROM Contact", ALL_CONTACTS),
    ("SELECT LastName FROM Contact WHERE LastName = 'O\\'Brien'", {"O'Brien"}),
    ("SELECT LastName FROM Contact WHERE LastName = 'Back\\\\slash'", {"Back\\slash"}),
    ("SELECT LastName FROM Contact WHERE LastName LIKE '50\\%%'", {"50%_Off"}),
    ("SELECT LastName FROM Contact WHERE LastName LIKE '%\\_%'", {"50%_Off"}),
    ("SELECT LastName FROM Contact WHERE LastName LIKE 'd%'", {"Dubois"}),
    ("SELECT LastName FROM Contact WHERE LastName LIKE '_mith'", {"Smith"}),
    ("SELECT LastName FROM Contact WHERE Email = 'ALICE@ACME.EXAMPLE'", {"Dubois"}),
    ("SELECT LastName FROM Contact WHERE Email = null", {"Back\\slash"}),
    ("SELECT LastName FROM Contact WHERE Email != null", ALL_CONTACTS - {"Back\\slash"}),
    ("SELECT LastName FROM Contact WHERE MailingCountry IN ('France', 'Germany')",
     {"Dubois", "O'Brien", "Back\\slash", "50%_Off"}),
    ("SELECT LastName FROM Contact WHERE MailingCountry NOT IN ('France')", {"Back\\slash", "Smith", "50%_Off"}),
    ("SELECT LastName FROM Contact WHERE NOT MailingCountry = 'France'", {"Back\\slash", "Smith", "50%_Off"}),
    ("SELECT LastName FROM Contact WHERE MailingCountry <> 'France'", {"Back\\slash", "Smith", "50%_Off"}),
    ("SELECT LastName FROM Contact WHERE Title = null", {"Dubois", "Back\\slash", "50%_Off"}),
    ("SELECT LastName FROM Contact WHERE Title != 'CEO'", ALL_CONTACTS - {"O'Brien"}),
    ("SELECT LastName FROM Contact WHERE Title = 'ceo'", {"O'Brien"}),
    ("SELECT LastName FROM Contact WHERE Title < 'd'", {"O'Brien", "Smith"}),
    ("SELECT LastName FROM Contact WHERE DoNotCall = true", {"Dubois"}),
    ("SELECT LastName FROM Contact WHERE DoNotCall = FALSE", ALL_CONTACTS - {"Dubois"}),
    ("SELECT LastName FROM Contact WHERE Birthdate > 1985-01-01", {"Smith"}),
    ("SELECT LastName FROM Contact WHERE Birthdate = 1980-05-01", {"Dubois"}),
    ("SELECT LastName FROM Contact WHERE Id = '{c1_15}'", {"Dubois"}),
    ("SELECT LastName FROM Contact WHERE AccountId IN ('{a1}', '{a2}')", ALL_CONTACTS - {"Smith"}),
    ("SELECT Name FROM Account WHERE NumberOfEmployees > 1000", {"Globex"}),
    ("SELECT Name FROM Account WHERE NumberOfEmployees >= 100", {"Acme Corp", "Globex"}),
    ("SELECT Name FROM Account WHERE NumberOfEmployees = null", {"Initech"}),
    ("SELECT Name FROM Account WHERE NumberOfEmployees < 100.5", {"Acme Corp"}),
    ("SELECT Name FROM Account WHERE AnnualRevenue >= 1000000", {"Acme Corp"}),
    # --- multi-select picklists
    ("SELECT LastName FROM Contact WHERE Interests__c INCLUDES ('Golf')", {"Dubois"}),
    ("SELECT LastName FROM Contact WHERE Interests__c INCLUDES ('Golf;Tennis')", set()),
    ("SELECT LastName FROM Contact WHERE Interests__c INCLUDES ('Golf', 'Tennis')", {"Dubois", "O'Brien"}),
    ("SELECT LastName FROM Contact WHERE Interests__c EXCLUDES ('Golf')", ALL_CONTACTS - {"Dubois"}),
    ("SELECT LastName FROM Contact WHERE Interests__c = 'Wine;Golf'", {"Dubois"}),
    # --- relationships
    ("SELECT LastName FROM Contact WHERE Account.Name = 'Acme Corp'", {"Dubois", "O'Brien"}),
    ("SELECT LastName FROM Contact WHERE Account.BillingCountry = 'Germany'", {"Back\\slash", "50%_Off"}),
    ("SELECT LastName FROM Contact WHERE Account.Owner.Email = '{std_email}'", {"Dubois", "O'Brien"}),
    ("SELECT LastName FROM Contact WHERE Account.Name = null", {"Smith"}),
    ("SELECT LastName FROM Contact WHERE Owner.Username = '{std}'", {"Dubois", "O'Brien", "50%_Off"}),
    ("SELECT Subject FROM Event WHERE Who.Name = 'Alice Dubois'", {"Kickoff"}),
    ("SELECT Subject FROM Event WHERE What.Type = 'Account'", {"Kickoff"}),
    ("SELECT Username FROM User WHERE Profile.Name = 'Sales Manager' AND FirstName = 'Test'", {"{mgr}"}),
    # --- boolean logic
    ("SELECT LastName FROM Contact WHERE MailingCountry = 'France' AND (Title = 'CEO' OR DoNotCall = true)",
     {"Dubois", "O'Brien"}),
    ("SELECT LastName FROM Contact WHERE (MailingCountry = 'Germany' OR MailingCountry = 'United States') "
     "AND NOT Email = null", {"Smith", "50%_Off"}),
    ("SELECT LastName FROM Contact WHERE NOT (MailingCountry = 'France' OR MailingCountry = 'Germany')", {"Smith"}),
    ("SELECT LastName FROM Contact WHERE OwnerId = '{std_id}' AND (MailingCountry = 'France') "
     "AND SystemModstamp > 2020-01-01T00:00:00Z", {"Dubois", "O'Brien"}),
    ("select lastname from contact where mailingcountry = 'France' and title = 'CEO'", {"O'Brien"}),
    ("std:SELECT LastName FROM Contact USING SCOPE mine", {"Dubois", "O'Brien", "50%_Off"}),
    ("SELECT LastName FROM Contact USING SCOPE Mine WHERE MailingCountry = 'Germany'", {"Back\\slash"}),
    ("SELECT LastName FROM Contact USING SCOPE everything WHERE MailingCountry = 'France'", {"Dubois", "O'Brien"}),
    ("SELECT Id FROM Contact USING SCOPE team", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact WHERE LastName = 'x' USING SCOPE mine", "MALFORMED_QUERY"),
    # --- dates and date literals
    ("SELECT LastName FROM Contact WHERE CreatedDate = TODAY", ALL_CONTACTS),
    ("SELECT LastName FROM Contact WHERE CreatedDate < YESTERDAY", set()),
    ("SELECT LastName FROM Contact WHERE CreatedDate = LAST_MONTH", set()),
    ("SELECT LastName FROM Contact WHERE CreatedDate = THIS_MONTH", ALL_CONTACTS),
    ("SELECT LastName FROM Contact WHERE CreatedDate > 2000-01-01T00:00:00Z", ALL_CONTACTS),
    ("SELECT LastName FROM Contact WHERE CreatedDate > 2000-01-01T01:00:00+01:00", ALL_CONTACTS),
    ("SELECT LastName FROM Contact WHERE CreatedDate < 2000-01-01T00:00:00.000Z", set()),
    ("SELECT Subject FROM Event WHERE StartDateTime = LAST_N_DAYS:30", {"Kickoff"}),
    ("std:SELECT Subject FROM Event WHERE StartDateTime = LAST_N_DAYS:30", {"Kickoff", "Review"}),
    ("SELECT Subject FROM Event WHERE StartDateTime = NEXT_N_DAYS:7", {"Fair"}),
    ("SELECT Subject FROM Event WHERE EndDateTime >= LAST_N_DAYS:30", {"Kickoff", "Fair", "Future"}),
    ("SELECT Subject FROM Event WHERE StartDateTime < TODAY", {"Old"}),
    ("SELECT Subject FROM Event WHERE StartDateTime > TODAY", {"Fair", "Future"}),
    ("SELECT Subject FROM Event WHERE ActivityDate = TODAY", {"Kickoff"}),
    ("SELECT Subject FROM Event WHERE ActivityDate = TOMORROW", set()),
    ("SELECT Subject FROM Event WHERE ActivityDate > N_DAYS_AGO:40", {"Kickoff", "Fair", "Future"}),
    ("SELECT Subject FROM Event WHERE IsAllDayEvent = true", {"Fair"}),
    ("SELECT Subject FROM Event WHERE IsPrivate = true", set()),
    ("std:SELECT Subject FROM Event WHERE IsPrivate = true", {"Review"}),
    ("SELECT Subject FROM Task WHERE ActivityDate = NEXT_N_DAYS:3", {"Call"}),
    ("SELECT Subject FROM Task WHERE IsClosed = false", {"Call", "Quote"}),
    ("SELECT Subject FROM Task WHERE Priority = 'High' AND IsClosed = false", {"Call"}),
    ("SELECT Subject FROM Task WHERE ActivityDate = null", {"Quote"}),
    # --- ORDER BY, LIMIT, OFFSET, COUNT()
    ("SELECT LastName FROM Contact ORDER BY LastName", ["50%_Off", "Back\\slash", "Dubois", "O'Brien", "Smith"]),
    ("SELECT LastName FROM Contact ORDER BY LastName DESC LIMIT 2", ["Smith", "O'Brien"]),
    ("SELECT LastName FROM Contact ORDER BY LastName LIMIT 2 OFFSET 1", ["Back\\slash", "Dubois"]),
    ("SELECT LastName FROM Contact ORDER BY Title, LastName", ["50%_Off", "Back\\slash", "Dubois", "O'Brien", "Smith"]),
    ("SELECT LastName FROM Contact ORDER BY Title NULLS LAST, LastName",
     ["O'Brien", "Smith", "50%_Off", "Back\\slash", "Dubois"]),
    ("SELECT LastName FROM Contact ORDER BY Title DESC, LastName", ["Smith", "O'Brien", "50%_Off", "Back\\slash",
                                                                     "Dubois"]),
    ("SELECT LastName FROM Contact ORDER BY Title ASC NULLS FIRST, LastName DESC",
     ["Dubois", "Back\\slash", "50%_Off", "O'Brien", "Smith"]),
    ("SELECT LastName FROM Contact ORDER BY Account.Name NULLS LAST, LastName",
     ["Dubois", "O'Brien", "50%_Off", "Back\\slash", "Smith"]),
    ("SELECT Name FROM Account ORDER BY NumberOfEmployees DESC NULLS FIRST", ["Initech", "Globex", "Acme Corp"]),
    ("SELECT COUNT() FROM Contact", 5),
    ("SELECT COUNT() FROM Contact WHERE MailingCountry = 'France'", 2),
    ("std:SELECT COUNT() FROM Contact", 3),
    ("SELECT COUNT() FROM Contact LIMIT 1", 1),
    # --- refused, with Salesforce's error codes
    ("SELECT Foo FROM Contact", "INVALID_FIELD"),
    ("SELECT Id FROM Contact WHERE Foo = 'x'", "INVALID_FIELD"),
    ("SELECT Foo.Name FROM Contact", "INVALID_FIELD"),
    ("SELECT Who.AccountId FROM Event", "INVALID_FIELD"),
    ("SELECT Id FROM Whizbang", "INVALID_TYPE"),
    ("SELECT Id FROMM Contact", "MALFORMED_QUERY"),
    ("SELECT FROM Contact", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact WHERE LastName =", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact WHERE LastName = 'unterminated", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact WHERE MailingCountry = 'France' AND Title = 'CEO' OR DoNotCall = true",
     "MALFORMED_QUERY"),
    ("SELECT MailingCountry, COUNT(Id) FROM Contact GROUP BY MailingCountry", "MALFORMED_QUERY"),
    ("SELECT COUNT(Id) FROM Contact", "MALFORMED_QUERY"),
    ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "MALFORMED_QUERY"),
    ("SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)", "MALFORMED_QUERY"),
    ("SELECT FIELDS(ALL) FROM Contact LIMIT 200", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact WITH SECURITY_ENFORCED", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact LIMIT -1", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact FOR UPDATE", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact WHERE CreatedDate = THIS_FISCAL_QUARTER", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact ORDER BY LastName LIMIT 5 OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE"),
    ("SELECT Id FROM Contact WHERE Description = 'x'", "INVALID_FIELD"),
    ("SELECT Id FROM Contact ORDER BY Description", "INVALID_FIELD"),
    ("SELECT Id, id FROM Contact", "DUPLICATE_FIELD"),
    ("SELECT Id FROM Contact WHERE LastName = 5", "INVALID_FIELD"),
    ("SELECT Id FROM Contact WHERE DoNotCall = 'true'", "INVALID_FIELD"),
    ("SELECT Id FROM Account WHERE NumberOfEmployees = '100'", "INVALID_FIELD"),
    ("SELECT Id FROM Contact WHERE CreatedDate > 2000-01-01", "INVALID_FIELD"),
    ("SELECT Id FROM Contact WHERE Birthdate > 1985-01-01T00:00:00Z", "INVALID_FIELD"),
    ("SELECT Id FROM Contact WHERE LastName = TODAY", "INVALID_FIELD"),
    ("SELECT Id FROM Contact WHERE Id = 'garbage'", "INVALID_QUERY_FILTER_OPERATOR"),
    ("SELECT Id FROM Contact WHERE LastName > null", "INVALID_QUERY_FILTER_OPERATOR"),
    ("SELECT Id FROM Contact WHERE LastName INCLUDES ('x')", "INVALID_QUERY_FILTER_OPERATOR"),
    ("SELECT Id FROM Contact WHERE DoNotCall LIKE 'x'", "INVALID_QUERY_FILTER_OPERATOR"),
    ("SELECT Id FROM Contact WHERE DoNotCall > false", "INVALID_QUERY_FILTER_OPERATOR"),
]


@pytest.fixture(scope="module")
def data(fresh_org):
    org = fresh_org
    mgr, std = org.user("Sales Manager"), org.user("Standard User")
    tokens = {"mgr": org.token(mgr["username"]), "std": org.token(std["username"])}
    today = dt.datetime.now(dt.UTC).date()

    def at(days: int, hour: int = 10) -> str:
        day = today + dt.timedelta(days=days)
        return format_datetime(dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC))

    def create(token, sobject, records):
        body = {"allOrNone": True, "records": [{"attributes": {"type": sobject}, **r} for r in records]}
        results = org.rest(token, "POST", "/composite/sobjects", json=body).json()
        assert all(result["success"] for result in results), results
        return [result["id"] for result in results]

    a1, = create(tokens["std"], "Account", [{"Name": "Acme Corp", "BillingCountry": "France",
                                              "NumberOfEmployees": 100, "AnnualRevenue": 1e6}])
    a2, a3 = create(tokens["mgr"], "Account", [
        {"Name": "Globex", "BillingCountry": "Germany", "NumberOfEmployees": 5000},
        {"Name": "Initech"}])
    c1, c2, c5 = create(tokens["std"], "Contact", [
        {"FirstName": "Alice", "LastName": "Dubois", "AccountId": a1, "MailingCountry": "France",
         "Email": "alice@acme.example", "Birthdate": "1980-05-01", "Interests__c": "Golf;Wine", "DoNotCall": True},
        {"FirstName": "Bob", "LastName": "O'Brien", "AccountId": a1, "MailingCountry": "France", "Title": "CEO",
         "Email": "bob@acme.example", "Interests__c": "Tennis"},
        {"FirstName": "Eve", "LastName": "50%_Off", "MailingCountry": "Germany", "Email": "eve@globex.example"},
    ])
    create(tokens["mgr"], "Contact", [
        {"FirstName": "Carla", "LastName": "Back\\slash", "AccountId": a2, "MailingCountry": "Germany"},
        {"FirstName": "Dan", "LastName": "Smith", "MailingCountry": "United States", "Email": "dan@mail.example",
         "Birthdate": "1990-01-15", "Title": "cto"},
    ])
    # Eve works at Globex, which the standard user does not own: the manager links her.
    assert org.rest(tokens["mgr"], "PATCH", f"/sobjects/Contact/{c5}", json={"AccountId": a2}).status_code == 204
    gone, = create(tokens["mgr"], "Contact", [{"LastName": "Deleted Person"}])
    assert org.rest(tokens["mgr"], "DELETE", f"/sobjects/Contact/{gone}").status_code == 204
    create(tokens["std"], "Event", [
        {"Subject": "Kickoff", "StartDateTime": at(0), "DurationInMinutes": 60, "WhoId": c1, "WhatId": a1},
        {"Subject": "Review", "StartDateTime": at(-10), "DurationInMinutes": 30, "IsPrivate": True},
        {"Subject": "Fair", "IsAllDayEvent": True, "ActivityDate": format_date(today + dt.timedelta(days=5))},
        {"Subject": "Old", "StartDateTime": at(-40), "DurationInMinutes": 30},
    ])
    create(tokens["mgr"], "Event", [{"Subject": "Future", "StartDateTime": at(40), "DurationInMinutes": 30}])
    create(tokens["std"], "Task", [
        {"Subject": "Done", "Status": "Completed", "ActivityDate": format_date(today - dt.timedelta(days=3))},
        {"Subject": "Call", "Status": "Not Started", "Priority": "High",
         "ActivityDate": format_date(today + dt.timedelta(days=2))},
        {"Subject": "Quote", "Status": "In Progress"},
    ])
    names = {"std": std["username"], "mgr": mgr["username"], "std_email": std["email"], "std_id": std["id"],
             "a1": a1, "a2": a2, "a3": a3, "c1": c1, "c1_15": c1[:15], "c2": c2, "gone": gone}
    return org, tokens, names


def _fill(text: str, names: dict) -> str:
    for key, value in names.items():
        text = text.replace("{" + key + "}", value)
    return text


@pytest.mark.parametrize("soql, expected", TABLE, ids=[f"q{n:03d}" for n in range(len(TABLE))])
def test_soql_table(data, soql, expected):
    org, tokens, names = data
    who = "mgr"
    if soql.startswith("std:"):
        who, soql = "std", soql[4:]
    response = org.rest(tokens[who], "GET", "/query", params={"q": _fill(soql, names)})
    if isinstance(expected, str):
        assert response.status_code == 400, response.text
        body = response.json()
        assert isinstance(body, list) and set(body[0]) == set(reference("restforce_query_error_response.json")[0])
        assert body[0]["errorCode"] == expected, body
        if expected in ("MALFORMED_QUERY", "INVALID_FIELD", "INVALID_TYPE"):
            assert "ERROR at Row:1:Column:" in body[0]["message"]
        return
    assert response.status_code == 200, response.text
    body = response.json()
    if isinstance(expected, int):
        assert body == {"totalSize": expected, "done": True, "records": []}
        return
    field = soql.split()[1].rstrip(",")
    field = {"lastname": "LastName"}.get(field, field)
    values = [record[field] for record in body["records"]]
    assert body["totalSize"] == len(values) and body["done"] is True
    if isinstance(expected, list):
        assert values == expected
    else:
        assert set(values) == {_fill(value, names) for value in expected}
        assert len(values) == len(set(values))


def test_table_is_large_enough():
    assert len(TABLE) >= 60


def test_relationship_results_nest_like_salesforce(data):
    org, tokens, names = data
    soql = ("SELECT LastName, Account.Name, Account.Owner.Email, Owner.Username FROM Contact "
            "WHERE LastName IN ('Dubois', 'Smith') ORDER BY LastName")
    records = org.rest(tokens["mgr"], "GET", "/query", params={"q": soql}).json()["records"]
    dubois, smith = records
    assert list(dubois) == ["attributes", "LastName", "Account", "Owner"]
    assert dubois["Account"]["attributes"] == {
        "type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{names['a1']}"}
    assert dubois["Account"]["Name"] == "Acme Corp"
    assert dubois["Account"]["Owner"]["Email"] == names["std_email"]
    assert dubois["Owner"]["Username"] == names["std"]
    assert smith["Account"] is None
    who = org.rest(tokens["mgr"], "GET", "/query", params={
        "q": "SELECT Subject, Who.Name, Who.Type, What.Name FROM Event WHERE Subject = 'Kickoff'"}).json()
    event = who["records"][0]
    assert event["Who"]["attributes"]["type"] == "Contact"
    assert event["Who"]["Name"] == "Alice Dubois" and event["Who"]["Type"] == "Contact"
    assert event["What"]["Name"] == "Acme Corp"


def test_query_all_sees_deleted_records(data):
    org, tokens, _ = data
    soql = "SELECT LastName, IsDeleted FROM Contact WHERE IsDeleted = true"
    assert org.rest(tokens["mgr"], "GET", "/query", params={"q": soql}).json()["totalSize"] == 0
    found = org.rest(tokens["mgr"], "GET", "/queryAll", params={"q": soql}).json()
    assert [(r["LastName"], r["IsDeleted"]) for r in found["records"]] == [("Deleted Person", True)]
    count = org.rest(tokens["mgr"], "GET", "/queryAll", params={"q": "SELECT COUNT() FROM Contact"}).json()
    assert count["totalSize"] == 6


def test_malformed_query_message_points_at_the_token(data):
    org, tokens, _ = data
    body = org.rest(tokens["mgr"], "GET", "/query", params={"q": "SELECT Id FROMM Contact"}).json()
    assert body == [{"message": "\nSELECT Id FROMM Contact\n          ^\nERROR at Row:1:Column:11\n"
                                "unexpected token: 'FROMM'", "errorCode": "MALFORMED_QUERY"}]
    unknown = org.rest(tokens["mgr"], "GET", "/query", params={"q": "SELECT Id, Foo FROM Contact"}).json()
    assert unknown[0]["message"].startswith("\nSELECT Id, Foo FROM Contact\n           ^\nERROR at Row:1:Column:12\n"
                                            "No such column 'Foo' on entity 'Contact'.")

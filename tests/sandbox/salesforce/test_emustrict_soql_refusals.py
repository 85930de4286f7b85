"""Never silently ignore (issue 17 item 9, Salesforce): through simple-salesforce, every SOQL clause the emulator does
not implement is refused with Salesforce's own error (MALFORMED_QUERY, INVALID_FIELD, ...) and never answered as if
the clause were not there; the clauses it implements are answered."""

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest


@pytest.fixture(scope="module")
def admin_sf(org):
    user = org.user(profile="System Administrator")
    sf = org.sf(user)
    sf.Contact.create({"LastName": "Strict", "FirstName": "Sam", "MailingCountry": "France"})
    sf.Account.create({"Name": "Strict Corp", "NumberOfEmployees": 12})
    return sf


@pytest.mark.parametrize("soql,code", [
    ("SELECT MailingCountry, COUNT(Id) FROM Contact GROUP BY MailingCountry", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact WHERE LastName = 'Strict' UPDATE TRACKING", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact WITH DATA CATEGORY Geography__c AT asia__c", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact WHERE DISTANCE(MailingAddress, GEOLOCATION(1,2), 'mi') < 20", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact WHERE CreatedDate = NEXT_N_FISCAL_YEARS:2", "MALFORMED_QUERY"),
    ("SELECT toLabel(LeadSource) FROM Contact", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact USING SCOPE team", "MALFORMED_QUERY"),
    ("SELECT Id FROM Contact WHERE LastName = 'a' AND FirstName = 'b' OR Email = 'c'", "MALFORMED_QUERY"),
])
def test_unimplemented_soql_is_refused_with_salesforce_codes(admin_sf, soql, code):
    with pytest.raises(SalesforceMalformedRequest) as raised:
        admin_sf.query(soql)
    assert raised.value.content[0]["errorCode"] == code
    assert "ERROR at Row:1" in raised.value.content[0]["message"]


def test_implemented_clauses_are_answered(admin_sf):
    found = admin_sf.query("SELECT Id, LastName FROM Contact WHERE MailingCountry = 'France' AND "
                           "(LastName = 'Strict' OR LastName = 'Other') ORDER BY LastName NULLS LAST LIMIT 5")
    assert [r["LastName"] for r in found["records"]] == ["Strict"]
    assert admin_sf.query("SELECT Id FROM Account WHERE NumberOfEmployees = 12")["totalSize"] == 1

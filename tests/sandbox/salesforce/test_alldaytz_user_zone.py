"""Salesforce's User.TimeZoneSidKey in the emulator: every user has one (an IANA name, the org's default GMT unless
given), readable by SOQL through simple-salesforce as the sync's user import reads it."""


def test_a_users_time_zone_is_given_at_creation_and_read_by_soql(org):
    name = "tz" + org.user()["username"][:6]
    body = {"username": f"{name}@sandbox.test", "email": f"{name}@sandbox.test", "first_name": "Kiri",
            "last_name": "Zone", "profile": "Standard User", "time_zone": "Pacific/Auckland"}
    created = org.control("POST", "/users", body, expect=201).json()
    plain = org.user()
    sf = org.sf(plain)
    rows = {r["Id"]: r["TimeZoneSidKey"] for r in sf.query_all(
        "SELECT Id, TimeZoneSidKey FROM User WHERE TimeZoneSidKey = 'Pacific/Auckland'")["records"]}
    assert rows[created["salesforce_id"]] == "Pacific/Auckland" and plain["id"] not in rows
    assert sf.User.get(plain["id"])["TimeZoneSidKey"] == "GMT"
    field = next(f for f in sf.User.describe()["fields"] if f["name"] == "TimeZoneSidKey")
    zones = [v["value"] for v in field["picklistValues"]]
    assert {"GMT", "Europe/Paris", "Pacific/Auckland"} <= set(zones)


def test_an_unknown_time_zone_is_refused(org):
    body = {"username": "nowhere@sandbox.test", "email": "nowhere@sandbox.test", "last_name": "Nowhere",
            "profile": "Standard User", "time_zone": "Mars/Olympus_Mons"}
    response = org.control("POST", "/users", body)
    assert response.status_code == 400
    assert "time zone" in response.text

"""Both real connectors through the engine: the Salesforce emulator and the Graph emulator of one sandbox."""

from pathlib import Path

from sync.connectors.base import ObjectOptions, SalesforceSettings
from sync.connectors.graph import GraphMailbox
from sync.connectors.salesforce import SalesforceClient, TokenCache
from sync.engine import ConflictBehavior, CreateRequest, DataSetting, Direction, SyncObject, reset_sync, run_sync
from sync.engine.memory import MemoryLinkStore, MemoryWatermarks
from tests.connectors.graph.conftest import Plain


def salesforce_settings(sandbox) -> SalesforceSettings:
    app_dir = Path(sandbox.hub.data_dir) / "salesforce" / "connected-app"
    return SalesforceSettings(login_url=sandbox.salesforce_url,
                              consumer_key=(app_dir / "consumer-key.txt").read_text().strip(),
                              private_key_pem=(app_dir / "private-key.pem").read_text(),
                              verify=str(sandbox.ca_path), timeout_seconds=20)


def test_contacts_both_ways_between_the_two_emulators(sandbox, settings, registration, control):
    email = "both.ends@sandbox.test"
    created = sandbox.hub.create_user(username=email, email=email, first_name="Both", last_name="Ends",
                                      profile="Standard User")
    plain = Plain(sandbox, registration, email)
    client = SalesforceClient(salesforce_settings(sandbox), email, tokens=TokenCache())
    options = ObjectOptions(where=f"OwnerId = '{created['salesforce_id']}'")
    made = client.side(SyncObject.CONTACTS, options).create([CreateRequest(
        {"first_name": "Sam", "last_name": "Salesforce", "email": "sam@acme.test", "title": "Buyer",
         "fax": "+1 555 0100"})])
    assert made[0].ok
    sam_id = made[0].record_id
    links, marks = MemoryLinkStore(), MemoryWatermarks()
    setting = DataSetting(Direction.BOTH, ConflictBehavior.SALESFORCE_WINS)

    def sync(**kwargs):
        return run_sync("contacts", setting, client.side(SyncObject.CONTACTS, options),
                        GraphMailbox(settings, email).side(SyncObject.CONTACTS), links, marks, **kwargs)

    first = sync(full=True)
    assert first.ok, first.issues
    assert first.applied[("outlook", "create")] == 1
    [sam] = plain.contacts()
    assert (sam["givenName"], sam["surname"], sam["jobTitle"]) == ("Sam", "Salesforce", "Buyer")
    assert sync().writes() == 0  # our own create read back: no echo

    # made in Outlook → created in Salesforce and stamped in Outlook; edited in Outlook → updated in Salesforce
    olga = plain.add_contact(givenName="Olga", surname="Outlook", emailAddresses=[{"address": "olga@acme.test"}])
    plain.patch(f"/contacts/{sam['id']}", {"jobTitle": "Head of purchasing"})
    second = sync()
    assert second.ok, second.issues
    assert second.applied[("salesforce", "create")] == 1 and second.applied[("salesforce", "update")] == 1
    assert second.applied[("outlook", "stamp")] == 1
    salesforce = client.side(SyncObject.CONTACTS, options)
    records = {r.fields["last_name"]: r for r in salesforce.changes(None).records.values()}
    assert records["Salesforce"].fields["title"] == "Head of purchasing"
    assert records["Salesforce"].fields["fax"] == "+1 555 0100"  # the fax went to Outlook and back unchanged
    assert records["Outlook"].fields["email"] == "olga@acme.test"
    assert links.by_outlook_id(olga["id"]).salesforce_id == records["Outlook"].id

    # steady: Graph is asked once (the delta link)
    assert sync().writes() == 0
    control.reset_stats()
    quiet = sync()
    assert quiet.ok and quiet.writes() == 0 and control.calls(email) == 1

    # a reset relinks both by the stamps: nothing is created on either side
    reset_sync(links, marks)
    again = sync(full=True)
    assert again.ok and again.writes() == 0 and len(links) == 2
    assert {link.salesforce_id for link in links} == {sam_id, records["Outlook"].id}

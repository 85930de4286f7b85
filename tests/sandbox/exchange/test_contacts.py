"""Contacts through unchanged exchangelib: every settable field round-trips, updates, bulk, filters, conflicts."""

import datetime

import pytest
from exchangelib import DELEGATE, Contact, ExtendedProperty, Q
from exchangelib.errors import (
    ErrorImpersonateUserDenied,
    ErrorIrresolvableConflict,
    ErrorItemNotFound,
    UnauthorizedError,
)
from exchangelib.ewsdatetime import EWSDate
from exchangelib.indexed_properties import EmailAddress, ImAddress, PhoneNumber, PhysicalAddress
from exchangelib.properties import CompleteName

from .conftest import make_account

SF_GUID = "c11ff724-aa03-4555-9952-8fa248a11c3e"


class SalesforceId(ExtendedProperty):
    property_set_id = SF_GUID
    property_name = "SalesforceId"
    property_type = "String"


class LegacyTag(ExtendedProperty):
    property_tag = 0x3A4D  # PR_GENDER-like short
    property_type = "Short"


@pytest.fixture(autouse=True, scope="module")
def _register():
    Contact.register("salesforce_id", SalesforceId)
    Contact.register("legacy_tag", LegacyTag)
    yield
    Contact.deregister("salesforce_id")
    Contact.deregister("legacy_tag")


def full_contact(account, **overrides):
    values = dict(  # noqa: C408 - reads like the Contact(...) call it feeds
        folder=account.contacts, display_name="Jane Q. Doe", given_name="Jane", middle_name="Quinn", surname="Doe",
        nickname="JD", initials="J.Q.D.", generation="Jr.", company_name="Acme Ltd", job_title="CTO",
        department="R&D", manager="Big Boss", assistant_name="Al", office="B-12", profession="Engineer",
        spouse_name="Sam", business_homepage="https://acme.test", file_as="Doe, Jane",
        birthday=EWSDate(1980, 5, 17), wedding_anniversary=EWSDate(2005, 6, 1),
        email_addresses=[EmailAddress(label="EmailAddress1", email="jane@acme.test"),
                         EmailAddress(label="EmailAddress2", email="jane.doe@home.test")],
        phone_numbers=[PhoneNumber(label="BusinessPhone", phone_number="+44 20 7946 0000"),
                       PhoneNumber(label="MobilePhone", phone_number="+44 7700 900000")],
        physical_addresses=[PhysicalAddress(label="Business", street="1 Main St", city="London", state="LDN",
                                            country="United Kingdom", zipcode="EC1A 1AA"),
                            PhysicalAddress(label="Home", street="2 Side Rd", city="Leeds")],
        im_addresses=[ImAddress(label="ImAddress1", im_address="jane@im.test")],
        categories=["Customer", "VIP"], body="Met at the conference.\nLikes tea.", importance="High",
        sensitivity="Private", children=["Ann", "Bob"], companies=["Acme Ltd", "Acme Holdings"],
        mileage="120km", postal_address_index="Business", salesforce_id="003000000000001AAA",
    )
    values.update(overrides)
    return Contact(**values)


def test_every_contact_field_round_trips(account):
    c = full_contact(account)
    c.save()
    assert c.id.startswith("AAMk") and c.changekey
    got = account.contacts.get(id=c.id)
    for field in ("display_name", "given_name", "middle_name", "surname", "nickname", "initials", "generation",
                  "company_name", "job_title", "department", "manager", "assistant_name", "office", "profession",
                  "spouse_name", "business_homepage", "file_as", "birthday", "wedding_anniversary", "categories",
                  "importance", "sensitivity", "children", "companies", "mileage", "postal_address_index",
                  "salesforce_id"):
        assert getattr(got, field) == getattr(c, field), field
    assert got.body == c.body
    assert {(e.label, e.email) for e in got.email_addresses} == {(e.label, e.email) for e in c.email_addresses}
    assert {(p.label, p.phone_number) for p in got.phone_numbers} == {(p.label, p.phone_number)
                                                                       for p in c.phone_numbers}
    by_label = {a.label: a for a in got.physical_addresses}
    assert by_label["Business"].street == "1 Main St" and by_label["Business"].zipcode == "EC1A 1AA"
    assert by_label["Business"].country == "United Kingdom" and by_label["Home"].city == "Leeds"
    assert got.im_addresses[0].im_address == "jane@im.test"
    assert isinstance(got.complete_name, CompleteName) and got.complete_name.first_name == "Jane"
    assert got.item_class == "IPM.Contact" and got.datetime_created is not None
    assert got.parent_folder_id.id == account.contacts.id


def test_update_changes_changekey_and_fields(account):
    c = full_contact(account)
    c.save()
    first_key = c.changekey
    c.company_name = "New Co"
    c.email_addresses = [EmailAddress(label="EmailAddress1", email="new@newco.test")]
    c.physical_addresses = [PhysicalAddress(label="Business", street="9 New St", city="Paris")]
    c.salesforce_id = "003000000000002AAA"
    c.save(update_fields=["company_name", "email_addresses", "physical_addresses", "salesforce_id"])
    assert c.changekey != first_key
    got = account.contacts.get(id=c.id)
    assert got.company_name == "New Co"
    assert got.salesforce_id == "003000000000002AAA"
    assert [e.email for e in got.email_addresses if e.label == "EmailAddress1"] == ["new@newco.test"]
    business = next(a for a in got.physical_addresses if a.label == "Business")
    assert (business.street, business.city) == ("9 New St", "Paris")
    # Clearing fields deletes them
    got.job_title = None
    got.categories = None
    got.salesforce_id = None
    got.save(update_fields=["job_title", "categories", "salesforce_id"])
    again = account.contacts.get(id=c.id)
    assert again.job_title is None and again.categories is None and again.salesforce_id is None
    assert again.company_name == "New Co"


def test_stale_changekey_conflicts(account):
    c = full_contact(account)
    c.save()
    stale = account.contacts.get(id=c.id)
    c.job_title = "CEO"
    c.save(update_fields=["job_title"])
    stale.job_title = "Intern"
    with pytest.raises(ErrorIrresolvableConflict):
        stale.save(update_fields=["job_title"])
    # A stale change key touching a property nobody else changed auto-resolves, as Exchange does.
    stale.department = "Sales"
    stale.save(update_fields=["department"])
    got = account.contacts.get(id=c.id)
    assert (got.job_title, got.department) == ("CEO", "Sales")
    # NeverOverwrite refuses any stale change key.
    old = account.contacts.get(id=c.id)
    got.nickname = "J"
    got.save(update_fields=["nickname"])
    old.office = "C-1"
    with pytest.raises(ErrorIrresolvableConflict):
        old.save(update_fields=["office"], conflict_resolution="NeverOverwrite")


def test_bulk_operations_results_in_request_order(account):
    contacts = [Contact(folder=account.contacts, display_name=f"Person {i}", given_name=f"P{i}", surname="Bulk",
                        company_name="Bulk Co" if i % 2 else "Other Co") for i in range(30)]
    created = account.bulk_create(folder=account.contacts, items=contacts)
    assert len(created) == 30 and all(not isinstance(r, Exception) for r in created)
    ids = [(r.id, r.changekey) for r in created]
    fetched = list(account.fetch(ids=ids))
    assert [f.display_name for f in fetched] == [f"Person {i}" for i in range(30)]
    # A bogus id in the middle gets its own error in its own position.
    missing = (created[0].id[:-8] + "AAAAAAA=", None)
    mixed = list(account.fetch(ids=[ids[0], missing, ids[1]]))
    assert mixed[0].display_name == "Person 0" and isinstance(mixed[1], Exception)
    assert mixed[2].display_name == "Person 1"
    for f in fetched:
        f.job_title = "Bulk updated"
    updated = account.bulk_update(items=[(f, ["job_title"]) for f in fetched])
    assert all(not isinstance(r, Exception) for r in updated)
    assert account.contacts.filter(job_title="Bulk updated").count() == 30
    deleted = account.bulk_delete(ids=ids[:10])
    assert deleted == [True] * 10
    assert account.contacts.all().count() == 20
    with pytest.raises(ErrorItemNotFound):
        account.contacts.get(id=ids[0][0])


def test_filters_sorting_and_paging(account):
    people = [("Ann", "Able", "Acme", 1), ("Bob", "Baker", "Beta", 2), ("Cid", "Cole", "acme", 3),
              ("Dee", "Dunn", None, 4), ("Eve", "Eads", "Gamma", 5)]
    for given, surname, company, n in people:
        Contact(folder=account.contacts, display_name=f"{given} {surname}", given_name=given, surname=surname,
                company_name=company, salesforce_id=f"SF{n}",
                email_addresses=[EmailAddress(label="EmailAddress1", email=f"{given.lower()}@x.test")]).save()
    qs = account.contacts.all()
    assert {c.given_name for c in qs.filter(company_name="Acme")} == {"Ann", "Cid"}  # case-insensitive
    assert {c.given_name for c in qs.exclude(company_name="Acme")} == {"Bob", "Dee", "Eve"}
    assert {c.given_name for c in qs.filter(company_name__contains="cm")} == {"Ann", "Cid"}
    assert {c.given_name for c in qs.filter(company_name__startswith="Ga")} == {"Eve"}
    assert {c.given_name for c in qs.filter(company_name__exists=False)} == {"Dee"}
    assert {c.given_name for c in qs.filter(Q(surname="Baker") | Q(surname="Eads"))} == {"Bob", "Eve"}
    assert {c.given_name for c in qs.filter(~Q(surname="Baker") & Q(company_name__exists=True))} == \
        {"Ann", "Cid", "Eve"}
    assert {c.given_name for c in qs.filter(surname__in=["Able", "Dunn"])} == {"Ann", "Dee"}
    assert {c.given_name for c in qs.filter(surname__gt="Cole")} == {"Dee", "Eve"}
    assert {c.given_name for c in qs.filter(surname__lte="Baker")} == {"Ann", "Bob"}
    assert [c.given_name for c in qs.filter(salesforce_id="SF3")] == ["Cid"]
    assert {c.given_name for c in qs.filter(salesforce_id__in=["SF1", "SF5"])} == {"Ann", "Eve"}
    assert [c.given_name for c in qs.order_by("surname")] == ["Ann", "Bob", "Cid", "Dee", "Eve"]
    assert [c.given_name for c in qs.order_by("-given_name")][:2] == ["Eve", "Dee"]
    assert [c.given_name for c in qs.order_by("surname")[1:3]] == ["Bob", "Cid"]
    assert qs.all().count() == 5
    # Paging in pages of two through IndexedPageItemView
    paged = qs.order_by("surname")
    paged.page_size = 2
    assert [c.given_name for c in paged] == ["Ann", "Bob", "Cid", "Dee", "Eve"]
    assert [c.given_name for c in qs.filter(datetime_created__gte=datetime.datetime(2000, 1, 1,
                                                                                   tzinfo=account.default_timezone))
            .order_by("surname")][:1] == ["Ann"]
    only = list(qs.filter(given_name="Ann").only("display_name", "salesforce_id"))
    assert only[0].display_name == "Ann Able" and only[0].salesforce_id == "SF1" and only[0].surname is None


def test_extended_property_by_tag(account):
    c = Contact(folder=account.contacts, display_name="Tagged", legacy_tag=2)
    c.save()
    assert account.contacts.get(id=c.id).legacy_tag == 2
    assert account.contacts.filter(legacy_tag=2).count() == 1


def test_impersonation_rules(sandbox, mailbox):
    other = sandbox.hub.exchange.create_mailbox(email="other.person@sandbox.test", display_name="Other Person")
    # A mailbox user may impersonate itself ...
    own = make_account(sandbox, mailbox, credentials=(mailbox, "sandbox"))
    assert own.contacts.all().count() == 0
    # ... but not anyone else.
    denied = make_account(sandbox, other, credentials=(mailbox, "sandbox"))
    with pytest.raises(ErrorImpersonateUserDenied):
        denied.contacts.all().count()
    # Delegate access to one's own mailbox works without impersonation.
    delegate = make_account(sandbox, mailbox, credentials=(mailbox, "sandbox"), access_type=DELEGATE)
    assert delegate.contacts.all().count() == 0


def test_bad_credentials_get_401(sandbox, mailbox):
    bad = make_account(sandbox, mailbox, credentials=("sync-service@sandbox.test", "wrong"))
    with pytest.raises(UnauthorizedError):
        bad.contacts.all().count()


def test_move_and_copy_give_new_ids(account):
    from exchangelib.folders import Contacts

    target = Contacts(parent=account.contacts, name="Moved here")
    target.save()
    c = Contact(folder=account.contacts, display_name="Mover", salesforce_id="003MOVE")
    c.save()
    old_id = c.id
    copied_id = c.copy(to_folder=target)
    c.move(to_folder=target)
    assert c.id != old_id and copied_id[0] not in (old_id, c.id)
    assert sorted(x.display_name for x in target.all()) == ["Mover", "Mover"]
    assert account.contacts.all().count() == 0
    assert target.get(id=c.id).salesforce_id == "003MOVE"
    with pytest.raises(ErrorItemNotFound):
        account.contacts.get(id=old_id)


def test_malformed_ids_and_change_keys(account):
    from exchangelib.errors import ErrorInvalidChangeKey, ErrorInvalidIdMalformed

    c = Contact(folder=account.contacts, display_name="Keyed")
    c.save()
    results = list(account.fetch(ids=[("not-an-id!", None), (c.id, "garbage!"), (c.id, c.changekey)]))
    assert isinstance(results[0], ErrorInvalidIdMalformed)
    assert isinstance(results[1], ErrorInvalidChangeKey)
    assert results[2].display_name == "Keyed"


def test_resolve_names_and_convert_id(sandbox, account):
    from exchangelib.properties import AlternateId

    sandbox.hub.exchange.create_mailbox(email="zed.zimmer@sandbox.test", display_name="Zed Zimmer")
    Contact(folder=account.contacts, display_name="Zoe Zimmer", given_name="Zoe", surname="Zimmer",
            email_addresses=[EmailAddress(label="EmailAddress1", email="zoe@zimmer.test")]).save()
    # The protocol-level call carries no impersonation header: the service account has no contacts of its own,
    # so only the directory is searched (the mailbox's contacts are searched in test_captured_requests).
    found = account.protocol.resolve_names(["zimmer"], return_full_contact_data=True)
    assert [(m.email_address, c.display_name, c.surname) for m, c in found] == \
        [("zed.zimmer@sandbox.test", "Zed Zimmer", "Zimmer")]
    one = account.protocol.resolve_names(["SMTP:zed.zimmer@sandbox.test"])
    assert [m.name for m in one] == ["Zed Zimmer"]
    from exchangelib.errors import ErrorNameResolutionNoResults

    (nothing,) = account.protocol.resolve_names(["nobody-like-this"])
    assert isinstance(nothing, ErrorNameResolutionNoResults)
    c = Contact(folder=account.contacts, display_name="Converted")
    c.save()
    converted = list(account.protocol.convert_ids(
        [AlternateId(id=c.id, format="EwsId", mailbox=account.primary_smtp_address)], destination_format="HexEntryId"))
    assert converted[0].format == "HexEntryId" and converted[0].id != c.id
    back = list(account.protocol.convert_ids(
        [AlternateId(id=converted[0].id, format="HexEntryId", mailbox=account.primary_smtp_address)],
        destination_format="EwsId"))
    assert back[0].id == c.id


def test_version_guessing_without_a_configured_version(sandbox, mailbox, control):
    from exchangelib import IMPERSONATION, Account, Configuration, Credentials
    from exchangelib.transport import BASIC

    # The mailbox's own credentials: exchangelib caches protocols per endpoint and credentials, so this one is new.
    config = Configuration(service_endpoint=sandbox.ews_endpoint, credentials=Credentials(mailbox, "sandbox"),
                           auth_type=BASIC)
    probes = control.get("/stats").json()["calls"].get("ConvertId", 0)
    acc = Account(primary_smtp_address=mailbox, config=config, autodiscover=False, access_type=IMPERSONATION)
    assert acc.version.build.major_version == 15 and acc.version.build.minor_version == 1
    assert acc.version.build.major_build == 2507
    assert control.get("/stats").json()["calls"]["ConvertId"] == probes + 1
    Contact(folder=acc.contacts, display_name="Guessed").save()
    assert acc.contacts.all().count() == 1

"""The connector's contacts folder against Exchange's folder rules (issue 17 item 8): it is created the documented way
(a generic folder with the class IPF.Contact, which Exchange makes a contacts folder), and is found among the
hidden contacts folders a real mailbox keeps below Contacts (quick contacts, IM list, recipient cache)."""

from exchangelib.folders import Contacts, FolderCollection

from sync.connectors.ews import EwsMailbox


def test_the_sync_folder_is_a_contacts_folder_among_hidden_ones(settings, email, plain):
    mailbox = EwsMailbox(settings, email)
    assert {f.name for f in plain.contacts.children} >= {
        "{06967759-274D-40B2-A3EB-D7F9E73727D7}", "{A9E2BC46-B3A0-4243-B315-60D991004455}", "Recipient Cache"}
    assert mailbox.find_contacts_folder("Salesforce_Sync") is None
    created = mailbox.create_contacts_folder("Salesforce_Sync")
    assert mailbox.find_contacts_folder("Salesforce_Sync") == created
    # A fresh FindFolder (exchangelib caches the folder tree it listed above).
    (folder,) = [f for f in FolderCollection(account=plain, folders=[plain.contacts]).find_folders()
                 if f.name == "Salesforce_Sync"]
    assert isinstance(folder, Contacts) and folder.folder_class == "IPF.Contact"
    assert mailbox.check()["contacts_folder_present"] is True

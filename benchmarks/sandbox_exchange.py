"""Benchmark the sandbox's EWS emulator through unchanged exchangelib.

Prints items per second for CreateItem of 100 contacts (one bulk request) and for one SyncFolderItems round of
512 changes (all contact fields), end to end through exchangelib (whose XML handling dominates), and the same
SyncFolderItems round as a raw HTTP request (the emulator alone).
Run: .venv/bin/python benchmarks/sandbox_exchange.py [--rounds N]
"""

import argparse
import base64
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests
from exchangelib import IMPERSONATION, Account, Build, Configuration, Contact, Credentials, Version
from exchangelib.indexed_properties import EmailAddress, PhoneNumber
from exchangelib.transport import BASIC

from sandbox.runner import start_sandbox


def contact(i: int) -> Contact:
    return Contact(display_name=f"Bench Person {i}", given_name="Bench", surname=f"Person {i}",
                   company_name=f"Company {i % 17}", job_title="Buyer", department="Purchasing",
                   email_addresses=[EmailAddress(label="EmailAddress1", email=f"bench{i}@example.test")],
                   phone_numbers=[PhoneNumber(label="BusinessPhone", phone_number=f"+1 555 {i:04d}")],
                   body=f"Benchmark contact number {i}.")


RAW_SYNC = """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
    xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
  <s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>
  <s:Body><m:SyncFolderItems><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>
    <m:SyncFolderId><t:DistinguishedFolderId Id="contacts"/></m:SyncFolderId>
    <m:MaxChangesReturned>512</m:MaxChangesReturned></m:SyncFolderItems></s:Body>
</s:Envelope>"""


def raw_sync_seconds(endpoint: str, mailbox: str) -> float:
    auth = "Basic " + base64.b64encode(f"{mailbox}:sandbox".encode()).decode()
    started = time.perf_counter()
    r = requests.post(endpoint, data=RAW_SYNC.encode(), timeout=60,
                      headers={"Content-Type": "text/xml; charset=utf-8", "Authorization": auth})
    elapsed = time.perf_counter() - started
    assert r.status_code == 200 and r.content.count(b"<t:Create>") == 512
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        running = start_sandbox(Path(tmp), seed="empty")
        try:
            config = Configuration(service_endpoint=running.ews_endpoint,
                                   credentials=Credentials("sync-service@sandbox.test", "sandbox"),
                                   auth_type=BASIC, version=Version(build=Build(15, 1, 2507, 6)))
            create_rates, sync_rates, raw_rates = [], [], []
            for r in range(args.rounds):
                mailbox = running.hub.exchange.create_mailbox(email=f"bench{r}@sandbox.test", display_name="Bench")
                account = Account(primary_smtp_address=mailbox, config=config, autodiscover=False,
                                  access_type=IMPERSONATION)
                folder = account.contacts
                items = [contact(i) for i in range(100)]
                started = time.perf_counter()
                result = account.bulk_create(folder=folder, items=items)
                elapsed = time.perf_counter() - started
                assert len(result) == 100 and not any(isinstance(x, Exception) for x in result)
                create_rates.append(100 / elapsed)
                for chunk in range(4):
                    account.bulk_create(folder=folder, items=[contact(1000 + chunk * 100 + i) for i in range(100)])
                account.bulk_create(folder=folder, items=[contact(2000 + i) for i in range(12)])
                folder.item_sync_state = None
                started = time.perf_counter()
                changes = list(folder.sync_items(max_changes_returned=512))
                elapsed = time.perf_counter() - started
                assert len(changes) == 512, len(changes)
                sync_rates.append(512 / elapsed)
                raw_rates.append(512 / raw_sync_seconds(running.ews_endpoint, mailbox))
            print(f"CreateItem, 100 contacts in one request: {statistics.median(create_rates):8.0f} items/s "
                  f"(median of {args.rounds})")
            print(f"SyncFolderItems, one round of 512:       {statistics.median(sync_rates):8.0f} items/s "
                  f"(median of {args.rounds})")
            print(f"SyncFolderItems, 512, raw HTTP:          {statistics.median(raw_rates):8.0f} items/s "
                  f"(median of {args.rounds}, AllProperties, no client parsing)")
        finally:
            running.stop()


if __name__ == "__main__":
    main()

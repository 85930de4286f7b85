"""Requests per second of the sandbox's Salesforce emulator for a 2,000-record query page and a 200-record
sObject Collections update, over HTTPS through simple-salesforce (one client thread, keep-alive).

    .venv/bin/python benchmarks/sandbox_salesforce.py [--seconds 5] [--threads 1]
"""

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from simple_salesforce import Salesforce

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.runner import start_sandbox


def _client(running, username: str) -> Salesforce:
    session = requests.Session()
    session.verify = str(running.ca_path)
    session.trust_env = False
    token = session.post(f"{running.salesforce_url}/services/oauth2/token", data={
        "grant_type": "password", "client_id": "benchmark", "username": username, "password": "sandbox"}).json()
    return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session)


def _measure(name: str, call, seconds: float, threads: int, clients) -> float:
    counts = [0] * threads
    deadline = time.monotonic() + seconds

    def worker(index: int) -> None:
        while time.monotonic() < deadline:
            call(clients[index])
            counts[index] += 1

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    rate = sum(counts) / (time.monotonic() - started)
    print(f"{name:<45} {rate:8.1f} requests/s  ({sum(counts)} requests, {threads} thread(s))")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each measurement")
    parser.add_argument("--threads", type=int, default=1, help="concurrent client threads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        running = start_sandbox(Path(data_dir), seed="empty")
        try:
            clients = [_client(running, "amelia.hart@sandbox.test") for _ in range(args.threads)]
            sf = clients[0]
            account = sf.Account.create({"Name": "Benchmark Ltd"})["id"]
            ids = []
            for chunk in range(10):
                records = [{"attributes": {"type": "Contact"}, "LastName": f"Bench{chunk}-{n:03d}",
                            "FirstName": "Pat", "Email": f"pat{chunk}.{n}@bench.example", "AccountId": account,
                            "MailingCountry": "France"} for n in range(200)]
                ids += [r["id"] for r in sf.restful("composite/sobjects", method="POST",
                                                    json={"allOrNone": True, "records": records})]
            soql = ("SELECT Id, FirstName, LastName, Email, MailingCountry, Account.Name, SystemModstamp "
                    "FROM Contact WHERE MailingCountry = 'France' ORDER BY LastName")
            page = sf.query(soql)
            assert len(page["records"]) == 2000, len(page["records"])
            _measure("query, one page of 2,000 records", lambda c: c.query(soql), args.seconds, args.threads,
                     clients)
            counter = iter(range(10**9))

            def update(client):
                number = next(counter)
                batch = ids[(number % 10) * 200:(number % 10) * 200 + 200]
                body = {"allOrNone": True, "records": [
                    {"attributes": {"type": "Contact"}, "Id": record_id, "Title": f"Title {number}"}
                    for record_id in batch]}
                results = client.restful("composite/sobjects", method="PATCH", json=body)
                assert all(result["success"] for result in results)

            _measure("composite/sobjects update, 200 records", update, args.seconds, args.threads, clients)
        finally:
            running.stop()


if __name__ == "__main__":
    main()

"""The product's side of the set-up, through its own services: connections to the sandbox, the synced users (each
a sandbox user with a mailbox), and one configuration syncing contacts, events and tasks both ways."""

from __future__ import annotations

import json
import time

from benchmarks.chaos.deployment import Deployment
from benchmarks.chaos.ends import OBJECTS, OutlookEnd, SalesforceEnd, http_session
from benchmarks.chaos.ledger import Person
from configurations.services import create_configuration
from sandbox.services import connect_to_sandbox
from users.models import SyncState, UserObjectState
from users.services import add_sync_user, assign_users

CONFLICT_BEHAVIOR = "salesforce_wins"


def people(deployment: Deployment, count: int) -> list[Person]:
    connect_to_sandbox(deployment.sandbox_dir, deployment.salesforce_url, deployment.ews_endpoint,
                       deployment.graph_url, protocol=deployment.protocol)
    graph_app = json.loads((deployment.sandbox_dir / "graph" / "app.json").read_text())
    http = http_session(str(deployment.ca_path))
    result = []
    for index in range(count):
        email = f"chaos{index:02d}@sandbox.test"
        response = http.post(f"{deployment.salesforce_url}/_sandbox/users", json={
            "username": email, "email": email, "first_name": "Chaos", "last_name": f"User{index:02d}",
            "profile": "Standard User"}, timeout=60)
        response.raise_for_status()
        user = add_sync_user({"salesforce_id": response.json()["salesforce_id"], "username": email, "email": email,
                              "name": f"Chaos User{index:02d}", "profile": "Standard User"})
        result.append(Person(
            index, user.pk, email,
            SalesforceEnd(deployment.salesforce_url, str(deployment.ca_path), email),
            OutlookEnd(deployment.protocol, email, ews_endpoint=deployment.ews_endpoint,
                       graph_url=deployment.graph_url, graph_app=graph_app, ca_path=str(deployment.ca_path))))
    return result


def configure(people: list[Person], *, name: str = "Chaos: everything both ways",
              interval_minutes: int | None = 1) -> None:
    """One configuration syncing contacts, events and tasks both ways, assigned to `people`; `interval_minutes`
    None keeps the default interval (and the default mode, near real time)."""
    interval = {} if interval_minutes is None else {"sync_interval_minutes": interval_minutes}
    configuration = create_configuration({
        "name": name,
        **interval,
        "data_settings": {o: {"direction": "both", "conflict_behavior": CONFLICT_BEHAVIOR} for o in OBJECTS},
        "data_sets": {"contacts": {"scope": "my_contacts"}, "events": {"days_back": 30, "days_ahead": 90}},
    })
    assign_users(configuration, [p.username for p in people])


def wait_first_syncs(people: list[Person], timeout: float) -> str:
    began = time.monotonic()
    expected = len(people) * len(OBJECTS)
    while True:
        in_sync = UserObjectState.objects.filter(user_id__in=[p.sync_user_id for p in people],
                                                 state=SyncState.IN_SYNC).count()
        if in_sync >= expected:
            return f"{in_sync} objects in sync after {time.monotonic() - began:.0f} s"
        if time.monotonic() - began > timeout:
            return f"only {in_sync} of {expected} objects in sync after {timeout:.0f} s (going on)"
        time.sleep(2)

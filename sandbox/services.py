"""Pointing the product at a running sandbox: what it needs is in the sandbox's data directory."""

import json
from pathlib import Path

from django.conf import settings

from configurations.models import OutlookConfiguration, ProfileAssignment
from configurations.services import create_configuration
from sandbox.demo import DEMO_USERS, PASSWORD, PROFILES, SERVICE_ACCOUNT
from sync.connections import save_connection
from sync.models import Connection
from users.operations import import_users

DEFAULT_SALESFORCE_URL = "https://127.0.0.1:8443"
DEFAULT_EXCHANGE_URL = "http://127.0.0.1:8444/EWS/Exchange.asmx"
DEFAULT_GRAPH_URL = "https://127.0.0.1:8445"
PROTOCOLS = ("ews", "graph")
# The demo user whose token lists the org's users for `import_users` (a Sales Manager sees everyone).
INTEGRATION_USER = next(u.username for u in DEMO_USERS if u.profile == "Sales Manager")


class SandboxNotFound(Exception):
    pass


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise SandboxNotFound(
            f"{path} does not exist: start the sandbox once (`python manage.py sandbox`) or pass its --data-dir"
        ) from None


def connect_to_sandbox(
    data_dir: Path,
    salesforce_url: str = DEFAULT_SALESFORCE_URL,
    exchange_url: str = DEFAULT_EXCHANGE_URL,
    graph_url: str | None = None,
    protocol: str = "ews",
) -> dict:
    """Save the Connections for the sandbox at these URLs; keys, CA, service account and app registration come
    from `data_dir`. With a `graph_url`, the Graph connection is saved too: serving every mailbox when `protocol`
    is ``graph``, else only users routed to it one by one (EWS serves the rest)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown Exchange protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    if protocol == "graph" and not graph_url:
        raise SandboxNotFound("the demo is set to Graph, but no Graph emulator URL was given")

    data_dir = Path(data_dir)
    ca_pem = _read(data_dir / "ca.pem")
    app = data_dir / "salesforce" / "connected-app"
    salesforce = save_connection(
        Connection.Kind.SALESFORCE,
        url=salesforce_url.rstrip("/"),
        username=INTEGRATION_USER,
        client_id=_read(app / "consumer-key.txt"),
        secret=_read(app / "private-key.pem"),
        verify_tls=True,
        ca_certificate=ca_pem,
        version="",
    )
    exchange = save_connection(
        Connection.Kind.EXCHANGE,
        url=exchange_url,
        username=SERVICE_ACCOUNT,
        secret=PASSWORD,
        auth_type=Connection.AuthType.BASIC,
        version="Exchange2016",
        verify_tls=True,
        ca_certificate=ca_pem if exchange_url.startswith("https") else "",
    )
    connections = {"salesforce": salesforce, "exchange": exchange}
    if graph_url:
        registration = json.loads(_read(data_dir / "graph" / "app.json"))
        connections["graph"] = save_connection(
            Connection.Kind.GRAPH,
            url=graph_url.rstrip("/"),
            authority_url=graph_url.rstrip("/"),
            tenant_id=registration["tenant_id"],
            client_id=registration["client_id"],
            auth_type=Connection.AuthType.CLIENT_SECRET,
            secret=registration["client_secret"],
            mailbox_routing=Connection.MailboxRouting.ALL if protocol == "graph" else Connection.MailboxRouting.USERS,
            mailbox_domains="",
            verify_tls=True,
            ca_certificate=ca_pem,
        )
    return connections


DEMO_CONFIGURATION = "Demo: everything both ways"


def setup_demo(data_dir: Path, salesforce_url: str = DEFAULT_SALESFORCE_URL,
               exchange_url: str = DEFAULT_EXCHANGE_URL, graph_url: str | None = None,
               protocol: str | None = None) -> list[str]:
    """Connect to the sandbox, import its users, and give the demo profiles a configuration (once).

    `protocol` (default: the SANDBOX_EXCHANGE setting) says whether the demo mailboxes are served by EWS or by
    Graph. Returns what it did, in plain lines. Idempotent: an existing demo configuration is left as the admin
    made it.
    """
    protocol = protocol or settings.SANDBOX_EXCHANGE
    connected = connect_to_sandbox(data_dir, salesforce_url, exchange_url, graph_url, protocol)
    done = [f"connected to {c}" for c in connected.values()]
    done.append("mailboxes served by " + ("Microsoft Graph" if protocol == "graph" else "EWS"))
    imported = import_users()
    done.append(f"imported users: {len(imported.created)} new, {len(imported.updated)} updated")
    if not OutlookConfiguration.objects.filter(name=DEMO_CONFIGURATION).exists():
        free = [p for p in PROFILES if not ProfileAssignment.objects.filter(profile=p).exists()]
        create_configuration({
            "name": DEMO_CONFIGURATION,
            "description": "Created by `make run` for the sandbox's demo org.",
            "sync_interval_minutes": 1,
            "profiles": free,
            "data_settings": {
                "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"},
                "events": {"direction": "both", "conflict_behavior": "salesforce_wins"},
                "tasks": {"direction": "both", "conflict_behavior": "salesforce_wins"},
            },
            "data_sets": {"contacts": {"scope": "my_contacts"}, "events": {"days_back": 30, "days_ahead": 180}},
        })
        done.append(f"created configuration {DEMO_CONFIGURATION!r} for profiles {', '.join(free)}")
    return done

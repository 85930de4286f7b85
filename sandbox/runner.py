"""Start the emulators (Salesforce, EWS, Graph) on threaded HTTP servers, in the foreground (the command) or for
tests."""

import ipaddress
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from werkzeug.serving import BaseWSGIServer, make_server

from sandbox.ca import ensure_certificates, server_ssl_context
from sandbox.hub import Sandbox
from sandbox.smtp_sink import SmtpSink, start_sink

logger = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


@dataclass
class RunningSandbox:
    hub: Sandbox
    salesforce_url: str
    exchange_url: str
    ca_path: Path
    graph_url: str = ""
    smtp: SmtpSink | None = None  # the SMTP sink, when asked for (`smtp_port`)
    _servers: list[BaseWSGIServer] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def graph_app_path(self) -> Path:
        """The Graph app registration (tenant, client id, secret, certificate) the emulator wrote."""
        return self.hub.graph.app_path

    @property
    def ews_endpoint(self) -> str:
        return f"{self.exchange_url}/EWS/Exchange.asmx"

    def stop(self) -> None:
        self.hub.exchange.close()  # open EWS streams send ConnectionStatus Closed and end
        if self.smtp is not None:
            self.smtp.stop()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)


def start_sandbox(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    salesforce_port: int = 0,
    exchange_port: int = 0,
    seed: str = "demo",
    exchange_https: bool = False,
    graph_port: int = 0,
    smtp_port: int | None = None,
) -> RunningSandbox:
    """Serve the emulators on background threads; port 0 picks a free port. Call ``stop()`` when done. With
    `smtp_port`, an SMTP sink too, keeping messages under ``<data_dir>/mail``."""
    if not is_loopback(host):
        logger.warning(
            "The sandbox listens on %s, beyond this machine: anyone who can reach it can use its control API "
            "(/_sandbox/: add users, inject faults, wipe its data) and every account's password is 'sandbox'. "
            "Bind it to 127.0.0.1 (the default) unless other machines must reach it, and then only on a "
            "network you trust.", host,
        )
    data_dir = Path(data_dir)
    ca_path = ensure_certificates(data_dir)
    hub = Sandbox(data_dir, seed=seed)
    salesforce = make_server(
        host, salesforce_port, hub.salesforce.wsgi_app, threaded=True, ssl_context=server_ssl_context(data_dir)
    )
    exchange = make_server(
        host,
        exchange_port,
        hub.exchange.wsgi_app,
        threaded=True,
        ssl_context=server_ssl_context(data_dir) if exchange_https else None,
    )
    graph = make_server(
        host, graph_port, hub.graph.wsgi_app, threaded=True, ssl_context=server_ssl_context(data_dir)
    )
    running = RunningSandbox(
        hub=hub,
        salesforce_url=f"https://{host}:{salesforce.server_port}",
        exchange_url=f"{'https' if exchange_https else 'http'}://{host}:{exchange.server_port}",
        ca_path=ca_path,
        graph_url=f"https://{host}:{graph.server_port}",
        _servers=[salesforce, exchange, graph],
    )
    if smtp_port is not None:
        try:
            running.smtp = start_sink(data_dir / "mail", host=host, port=smtp_port)
        except (OSError, RuntimeError) as exc:  # the emulators are what matters; e-mails are a development nicety
            logger.warning("The SMTP sink could not listen on %s:%s (%s), so alert e-mails sent to it are not kept. "
                           "Set SANDBOX_SMTP_PORT (or --smtp-port) to a free port.", host, smtp_port, exc)
    for server in running._servers:
        thread = threading.Thread(target=server.serve_forever, daemon=True, name=f"sandbox-{server.server_port}")
        thread.start()
        running._threads.append(thread)
    return running

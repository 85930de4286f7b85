"""The sandbox's SMTP sink: a small SMTP server (aiosmtpd) that accepts every message and keeps it as a file, so the
alerts `make run` sends can be read in the console (its mail page, under DEBUG) instead of reaching anyone."""

from __future__ import annotations

import email
import email.policy
import itertools
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller

KEEP = 200  # the newest messages kept; older ones are removed as new ones arrive
_counter = itertools.count()


class _Keeper:
    def __init__(self, folder: Path):
        self.folder = folder

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{next(_counter):06d}.eml"
        (self.folder / name).write_bytes(envelope.original_content or envelope.content)
        for old in sorted(self.folder.glob("*.eml"))[:-KEEP]:
            old.unlink(missing_ok=True)
        return "250 Message accepted for delivery"


@dataclass
class SmtpSink:
    controller: Controller
    folder: Path

    @property
    def port(self) -> int:
        return self.controller.port

    def stop(self) -> None:
        self.controller.stop()


def start_sink(folder: Path, host: str = "127.0.0.1", port: int = 8025) -> SmtpSink:
    """Serve SMTP on `host`:`port` on a background thread, keeping each message under `folder`; port 0 picks a
    free port (aiosmtpd's controller needs a known port to check that it is up)."""
    if port == 0:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    controller = Controller(_Keeper(Path(folder)), hostname=host, port=port, ready_timeout=10)
    controller.start()
    return SmtpSink(controller, Path(folder))


@dataclass(frozen=True)
class Kept:
    name: str
    sender: str
    to: str
    subject: str
    date: str
    body: str


def kept_messages(folder: Path, limit: int = 100) -> list[Kept]:
    """The messages the sink kept, newest first."""
    found = []
    for path in sorted(Path(folder).glob("*.eml"), reverse=True)[:limit]:
        try:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        except OSError:
            continue  # removed meanwhile
        part = message.get_body(preferencelist=("plain",))
        found.append(Kept(path.stem, str(message.get("From", "")), str(message.get("To", "")),
                          str(message.get("Subject", "")), str(message.get("Date", "")),
                          part.get_content() if part is not None else ""))
    return found

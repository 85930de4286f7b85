"""Assignments as CSV: a configuration's directly assigned users out (``user,configuration`` lines), and such lines in,
with a report of what each line did or why it was refused. The import is one operation: atomic, audited once, and
the assignments themselves made by ``users.services.assign_users`` (one call per configuration)."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass

from django.db import transaction
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from audit.models import AuditEntry
from audit.services import record
from configurations.models import OutlookConfiguration
from users import services as user_services
from users.models import SyncUser

HEADER = ["user", "configuration"]
MAX_LINES = 50_000
MAX_BYTES = 8 * 1024 * 1024


class ImportInvalid(ValueError):
    """The file as a whole cannot be read (too long, not text): nothing was imported."""


@dataclass
class LineReport:
    line: int
    result: str  # assigned | moved | unchanged | refused
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


def export_rows(configuration: OutlookConfiguration) -> list[list[str]]:
    """The header, then one line per user directly assigned to the configuration (what an import assigns back;
    users it reaches through a profile are assigned on the configuration's profiles)."""
    usernames = SyncUser.objects.filter(configuration=configuration).order_by("username", "pk")
    return [HEADER] + [[name, configuration.name] for name in usernames.values_list("username", flat=True)]


def export_csv(configuration: OutlookConfiguration) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(export_rows(configuration))
    return out.getvalue()


def _configuration(value: str, by_id: dict, by_name: dict) -> OutlookConfiguration | None:
    value = value.strip()
    if value.isdigit():
        return by_id.get(int(value))
    return by_name.get(value.lower())


@transaction.atomic
def import_assignments(text: str, actor=None) -> list[LineReport]:
    """Assign users to configurations from ``user,configuration`` lines (user: id, Salesforce id, username or
    e-mail address; configuration: id or name; an optional ``user,configuration`` header). Each line is reported:
    done (assigned, moved, unchanged) or refused, with why (unknown user, unknown configuration, duplicate line,
    malformed). Blank lines are passed over. Good lines are assigned even when others are refused. Raises
    ImportInvalid when the file as a whole cannot be taken (then nothing is imported)."""
    if not text.strip():
        raise ImportInvalid("The file is empty: write one user,configuration line per assignment.")
    try:
        lines = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise ImportInvalid(f"The file is not CSV ({exc}), so nothing was imported: write one user,configuration "
                            "line per assignment.") from None
    if len(lines) > MAX_LINES:
        raise ImportInvalid(f"The file has more than {MAX_LINES} lines, so nothing was imported: import it in parts.")
    configurations = list(OutlookConfiguration.objects.all())
    by_id = {c.pk: c for c in configurations}
    by_name = {c.name.lower(): c for c in configurations}
    reports: dict[int, LineReport] = {}
    wanted: dict[int, list[tuple[int, str]]] = {}  # configuration pk -> [(line, user identifier)]
    identifiers = [row[0].strip() for row in lines if len(row) == 2 and row[0].strip()]
    found, _ = user_services.resolve_users(identifiers)
    user_of = dict(found)
    seen: dict[int, tuple[int, int]] = {}  # user pk -> (line, configuration pk) of its first good line
    for number, row in enumerate(lines, start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if number == 1 and [cell.strip().lower() for cell in row] == HEADER:
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            reports[number] = LineReport(number, "refused", "Malformed line: write the user, a comma, then the "
                                                            "configuration (for example: ann@example.com,Sales EMEA).")
            continue
        identifier, name = row[0].strip(), row[1].strip()
        user = user_of.get(identifier)
        configuration = _configuration(name, by_id, by_name)
        if user is None:
            reports[number] = LineReport(number, "refused", f"Unknown user {identifier[:100]!r}: no synced user has "
                                                            "this id, username or e-mail address. Check the spelling, "
                                                            "or import the user from Salesforce first.")
        elif configuration is None:
            reports[number] = LineReport(number, "refused", f"Unknown configuration {name[:100]!r}: use a "
                                                            "configuration's name or id.")
        elif user["pk"] in seen:
            first, first_configuration = seen[user["pk"]]
            same = "assigns the same user" if first_configuration == configuration.pk else (
                "already assigns this user to another configuration")
            reports[number] = LineReport(number, "refused", f"Duplicate: line {first} {same}; this line was not "
                                                            "applied.")
        else:
            seen[user["pk"]] = (number, configuration.pk)
            wanted.setdefault(configuration.pk, []).append((number, identifier))
    for pk, entries in sorted(wanted.items()):
        configuration = by_id[pk]
        result = user_services.assign_users(configuration, [identifier for _, identifier in entries], actor=actor)
        outcome = {**dict.fromkeys(result.assigned, "assigned"), **dict.fromkeys(result.moved, "moved"),
                   **dict.fromkeys(result.unchanged, "unchanged")}
        for number, identifier in entries:
            what = outcome.get(identifier, "unchanged")
            detail = {"assigned": f"Assigned to {configuration.name}.",
                      "moved": f"Moved to {configuration.name} from another configuration.",
                      "unchanged": f"Already assigned to {configuration.name}: nothing to do."}[what]
            reports[number] = LineReport(number, what, detail)
    ordered = [reports[n] for n in sorted(reports)]
    done = sum(1 for r in ordered if r.result in ("assigned", "moved"))
    refused = sum(1 for r in ordered if r.result == "refused")
    record(AuditEntry.Action.ASSIGNMENTS_IMPORTED, actor,
           summary=f"Imported assignments from CSV: {done} done, "
                   f"{len(ordered) - done - refused} unchanged, {refused} refused",
           changes={"lines": [r.as_dict() for r in ordered if r.result != "unchanged"][:1000]})
    return ordered


def decode(body: bytes) -> str:
    """A CSV file's bytes as text (UTF-8, an optional byte-order mark as Excel writes it)."""
    if len(body) > MAX_BYTES:
        raise ImportInvalid(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MiB, so nothing was imported: "
                            "import it in parts.")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportInvalid("The file is not UTF-8 text, so nothing was imported: save it as CSV UTF-8 and send it "
                            "again.") from None


class CSVParser(parsers.BaseParser):
    """``text/csv`` request bodies as text, for the API's import (at most ``MAX_BYTES``)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None) -> str:
        try:
            return decode(stream.read(MAX_BYTES + 1) if stream is not None else b"")
        except ImportInvalid as exc:
            raise ParseError(str(exc)) from None

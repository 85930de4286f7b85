"""The record explorer: find one user's records by e-mail, name, subject or either end's id, show their link, and
say in sentences why a record does or does not sync (the data set's clause that leaves it out, an excluded address,
a private event, the window, another folder, an ambiguous match with its candidates, the record limit).

It reads both ends live, as the user, within the interactive deadline, through the connectors' declared reads
(`fetch`, `lookup_many`, a full `changes` read: see sync.explorer_reads); it writes nothing, neither to the ends nor
to the database.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone

from configurations.soql import DataSetError, where_clauses
from sync import engine
from sync.connectors.base import INTERACTIVE_SECONDS, interactive
from sync.connectors.exchange import event_in_window, is_excluded, parse_instant
from sync.connectors.salesforce.soql import is_record_id, soql_datetime
from sync.engine.canonical import schema_for
from sync.engine.matching import match_keys
from sync.engine.pending import LookupRequest
from sync.explorer_reads import (
    END_NAMES,
    OBJECT_WORDS,
    OL,
    SF,
    ExplorerContext,
    ExplorerInputError,
    Found,
    error_data,
    link_data,
    pairs,
    record_name,
    row,
    search,
    validate,
)
from sync.mappings.salesforce_ids import id18
from sync.models import LinkState, RecordError, RecordLink, SyncRun
from sync.runner import Clients
from users.models import SyncUser

__all__ = ["VERDICTS", "Explanation", "ExplorerInputError", "explain_record", "find_records"]

# What each verdict means, in a sentence that opens the explanation.
VERDICTS = {
    "linked": "It is synced: the Salesforce record and the Outlook item are linked.",
    "pending": "A copy is being created; the next sync confirms it.",
    "failed": "The last sync could not write it.",
    "would_link": "It is not linked yet; the next sync links it to the matching record on the other side.",
    "would_create": "It is not linked yet; the next sync copies it to the other side.",
    "out_of_scope": "It does not sync: it is outside what the configuration takes.",
    "ambiguous": "It does not sync: several records match it, and the sync never guesses.",
    "over_limit": "It does not sync now: it is past the data set's record limit.",
    "not_synced": "It does not sync.",
    "not_found": "No such record was found at either end.",
    "several_found": "Several records match the search; choose one to explain.",
}



@dataclass
class Explanation:
    """What the explorer answers for one record (the API's shape, see `as_dict`)."""

    object: str
    verdict: str = "not_found"
    reasons: list[str] = field(default_factory=list)
    link: RecordLink | None = None
    salesforce: Found | None = None
    outlook: Found | None = None
    candidates: list[dict] = field(default_factory=list)
    matches: list[dict] = field(default_factory=list)  # a search that found several records
    notes: list[str] = field(default_factory=list)  # an end that could not be read, and why
    last_error: RecordError | None = None

    @property
    def summary(self) -> str:
        return VERDICTS[self.verdict]

    def as_dict(self) -> dict:
        return {
            "object": self.object,
            "link": link_data(self.link, self.last_error) if self.link else None,
            "salesforce": self.salesforce.as_dict(self.object) if self.salesforce else None,
            "outlook": self.outlook.as_dict(self.object) if self.outlook else None,
            "verdict": self.verdict,
            "summary": self.summary,
            "reasons": self.reasons,
            "candidates": self.candidates,
            "matches": self.matches,
            "notes": self.notes,
            "last_error": error_data(self.last_error),
        }


def find_records(user: SyncUser, object_type: str, q: str, *, clients: Clients | None = None) -> dict:
    """The user's records of one object matching `q` (e-mail, name, subject, either end's id), read live from both
    ends and paired by their links: {"results": [{"name", "link", "salesforce", "outlook"}], "notes": [...]}.
    Writes nothing."""
    q = validate(object_type, q)
    context = ExplorerContext(user, object_type, clients)
    if context.not_synced and context.setting is None:
        links = RecordLink.objects.filter(user=user, object=object_type).filter(
            Q(salesforce_id=q) | Q(outlook_id=q))
        return {"results": [row(object_type, link, None, None) for link in links], "notes": [context.not_synced]}
    with interactive(INTERACTIVE_SECONDS):
        salesforce, outlook = search(context, q)
    return {"results": pairs(context, salesforce, outlook), "notes": context.notes}


# ---- explain ---------------------------------------------------------------------------------------------------------


def explain_record(user: SyncUser, object_type: str, *, salesforce_id: str | None = None,
                   outlook_id: str | None = None, q: str | None = None, clients: Clients | None = None) -> Explanation:
    """Why one record does or does not sync: its link, both ends' copies as read now, a verdict and the reasons in
    sentences. The record is named by its Salesforce id, its Outlook item id, or a search (`q`) that finds exactly
    one record (several: the verdict says so and lists them). Writes nothing."""
    given = [name for name, value in (("salesforce_id", salesforce_id), ("outlook_id", outlook_id), ("q", q))
             if value and value.strip()]
    if not given:
        validate(object_type, "")  # says what to enter
    if len(given) > 1:
        raise ExplorerInputError({"non_field_errors": [
            "Name the record by exactly one of salesforce_id, outlook_id or q."]})
    validate(object_type, (salesforce_id or outlook_id or q), required=True)
    if salesforce_id and not is_record_id(salesforce_id.strip()):
        raise ExplorerInputError({"salesforce_id": ["Enter a 15- or 18-character Salesforce id."]})
    context = ExplorerContext(user, object_type, clients)
    answer = Explanation(object_type)
    with interactive(INTERACTIVE_SECONDS):
        _explain(context, answer, (salesforce_id or "").strip(), (outlook_id or "").strip(), (q or "").strip())
    answer.notes = context.notes
    return answer


def _explain(context: ExplorerContext, answer: Explanation, salesforce_id: str, outlook_id: str, q: str) -> None:
    links = RecordLink.objects.filter(user=context.user, object=context.object)
    if q and context.setting is None:  # no data setting to read the ends with: say why nothing syncs
        answer.verdict = "not_synced"
        answer.reasons.append(context.not_synced)
        return
    if q:
        found_sf, found_ol = search(context, q)
        rows = pairs(context, found_sf, found_ol)
        if len(rows) > 1:
            answer.verdict, answer.matches = "several_found", rows
            answer.reasons.append(f"{len(rows)} records match {q!r}; choose one by its id to see why it syncs or not.")
            return
        if not rows:
            answer.reasons.append(f"Nothing matching {q!r} was found in Salesforce or in Outlook.")
            return
        row = rows[0]
        salesforce_id = (row["salesforce"] or {}).get("id") or ""
        outlook_id = (row["outlook"] or {}).get("id") or ""
    if salesforce_id:
        answer.link = links.filter(salesforce_id=id18(salesforce_id)).first() or links.filter(
            salesforce_id=salesforce_id).first()
    if answer.link is None and outlook_id:
        answer.link = links.filter(outlook_id=outlook_id).first()
    if answer.link is not None:
        salesforce_id = salesforce_id or answer.link.salesforce_id or ""
        outlook_id = outlook_id or answer.link.outlook_id or ""
    answer.last_error = _last_error(context, [salesforce_id, outlook_id])
    if context.not_synced:
        answer.verdict = "not_synced"
        answer.reasons.append(context.not_synced)
        return
    if salesforce_id:
        answer.salesforce = _fetch(context, SF, salesforce_id)
    if outlook_id:
        answer.outlook = _fetch(context, OL, outlook_id)
    if answer.outlook is None and answer.salesforce is not None and answer.link is None:
        stamped = context.read(OL, lambda: context.side(OL).lookup_many([_request(context, answer.salesforce)])[0], [])
        answer.outlook = Found(OL, stamped[0]) if len(stamped) == 1 else None
    if answer.salesforce is None and answer.outlook is not None and answer.outlook.record.salesforce_id \
            and answer.link is None:
        answer.salesforce = _fetch(context, SF, answer.outlook.record.salesforce_id)
    if answer.link is not None:
        _explain_link(context, answer)
    elif answer.salesforce is None and answer.outlook is None:
        answer.verdict = "not_found"
        asked = f"Salesforce id {salesforce_id}" if salesforce_id else f"Outlook item {outlook_id}"
        if (SF if salesforce_id else OL) in context.failed:
            answer.reasons.append(f"The {asked} could not be looked up, so whether it syncs is not known (see below).")
        else:
            answer.reasons.append(f"The {asked} was not found: it does not exist, was deleted, or the user cannot "
                                  "see it.")
    else:
        _explain_unlinked(context, answer)
    _explain_error(answer)


def _fetch(context: ExplorerContext, end: engine.Side, record_id: str) -> Found | None:
    found = context.read(end, lambda: context.side(end).fetch([record_id]), {})
    record = found.get(record_id) or next(iter(found.values()), None)
    return Found(end, record) if record is not None else None


def _request(context: ExplorerContext, found: Found) -> LookupRequest:
    canonical = schema_for(context.sync_object).canonicalize(found.record.fields)
    return LookupRequest(context.sync_object, found.id if found.side is SF else found.record.salesforce_id,
                         found.record.fields, match_keys(context.sync_object, canonical))


def _last_error(context: ExplorerContext, ids: Iterable[str]) -> RecordError | None:
    """The record's error from the object's latest finished run, if that run had one for it (older errors were
    retried since)."""
    ids = [i for i in ids if i]
    latest = SyncRun.objects.filter(user=context.user, object=context.object,
                                    state__in=SyncRun.TERMINAL_STATES).order_by("-finished_at", "-pk").first()
    if latest is None or not ids:
        return None
    return latest.record_errors.filter(record_id__in=ids).order_by("-pk").first()


def _explain_error(answer: Explanation) -> None:
    error = answer.last_error
    if error is None:
        return
    answer.verdict = "failed"
    end = "Salesforce" if error.side == "salesforce" else "Outlook"
    answer.reasons.insert(0, f"The last sync could not write it to {end} ({error.code}): {error.message} "
                             + ("It is tried again at the next sync." if error.transient
                                else "Fix the record, then sync the user again."))


def _explain_link(context: ExplorerContext, answer: Explanation) -> None:
    link = answer.link
    assert link is not None
    object_word = OBJECT_WORDS[context.object][0]
    if link.state == LinkState.RELEASED:
        answer.verdict = "out_of_scope"
        answer.reasons.append("Its Salesforce record left the data set when a configuration change was saved with "
                              "“keep them and unlink”: the Outlook copy was kept and is no longer synced (never "
                              "updated, deleted or sent to Salesforce). It is linked again if the record comes back "
                              "into the data set.")
        return
    if link.state != LinkState.LINKED:
        answer.verdict = "pending"
        end = "Salesforce" if link.state == LinkState.PENDING_CREATE_SALESFORCE else "Outlook"
        answer.reasons.append(f"The sync started creating its copy in {end} and has not confirmed it yet; the next "
                              "sync looks the copy up before creating anything, so no duplicate is made.")
        return
    answer.verdict = "linked"
    synced = timezone.localtime(link.updated_at).strftime("%Y-%m-%d %H:%M") if link.updated_at else "an unknown time"
    answer.reasons.append(f"The {object_word} was last synced at {synced}.")
    if link.needs_retry:
        answer.reasons.append("A write of it failed last time; the next sync tries again.")
    if link.gone:
        gone = "Salesforce" if link.gone == "salesforce" else "Outlook"
        why = "left the sync's scope there" if link.gone_out_of_scope else "was deleted there"
        answer.reasons.append(f"The {gone} copy {why}, and the deletion was not passed on: the other copy is kept "
                              "and a later change to it updates it in place.")
    if answer.salesforce is None and SF not in context.failed and link.salesforce_id and link.gone != "salesforce":
        answer.reasons.append("The Salesforce record is gone (deleted, or no longer visible to the user); the next "
                              "sync handles it as a deletion.")
    elif answer.salesforce is not None and not answer.salesforce.record.in_scope:
        answer.reasons.append("The Salesforce record has left the data set since: "
                              + " ".join(_salesforce_clauses(context, answer.salesforce)))
    if answer.outlook is None and OL not in context.failed and link.outlook_id and link.gone != "outlook":
        answer.reasons.append("The Outlook item is gone (deleted, or moved away); the next sync handles it as a "
                              "deletion.")
    elif answer.outlook is not None and not answer.outlook.record.in_scope:
        answer.reasons.append("The Outlook item has left the sync's scope since: "
                              + " ".join(_outlook_reasons(context, answer.outlook)))


def _explain_unlinked(context: ExplorerContext, answer: Explanation) -> None:
    source = answer.salesforce or answer.outlook
    assert source is not None
    if answer.salesforce is not None and answer.outlook is not None:
        source = answer.salesforce if answer.salesforce.record.in_scope else answer.outlook
    end, other = source.side, source.side.other
    words = OBJECT_WORDS[context.object]
    if not source.record.in_scope:
        answer.verdict = "out_of_scope"
        reasons = (_salesforce_clauses(context, source) if source.side is SF else _outlook_reasons(context, source))
        answer.reasons.extend(reasons)
        return
    if source.side is SF and answer.outlook is not None:  # stamped with this record's id: the engine relinks it
        answer.verdict = "would_link"
        answer.reasons.append(f"An Outlook item carries this record's Salesforce id ({answer.outlook.id[:24]}…); "
                              "the next sync links the two without creating anything.")
        return
    if source.side is OL and answer.salesforce is not None:
        answer.verdict = "would_link"
        answer.reasons.append(f"It carries the Salesforce id {answer.salesforce.id}; the next sync links the two.")
        return
    if _explain_matches(context, answer, source):
        return
    if not context.direction.flows_from(end):
        answer.verdict = "not_synced"
        one = "a Salesforce" if end is SF else "an Outlook"
        answer.reasons.append(f"The data setting syncs {words[1]} from {END_NAMES[other]} to {END_NAMES[end]} only, "
                              f"so {one} {words[0]} without a copy is not copied.")
        return
    if source.side is SF and _over_limit(context, source):
        answer.verdict = "over_limit"
        limit = context.options.record_limit
        answer.reasons.append(f"The data set takes the {limit} most recently changed {words[1]}, and this one is not "
                              "among them; it syncs when it next changes, or when the limit is raised.")
        return
    answer.verdict = "would_create"
    answer.reasons.append(f"No {END_NAMES[other]} {words[0]} matches it, so the next sync creates its copy in "
                          f"{END_NAMES[other]}.")


def _explain_matches(context: ExplorerContext, answer: Explanation, source: Found) -> bool:
    """The matching of DESIGN.md §5 for an unlinked record in scope: a single match links, several are ambiguous."""
    schema = schema_for(context.sync_object)
    keys = match_keys(context.sync_object, schema.canonicalize(source.record.fields))
    linked = RecordLink.objects.filter(user=context.user, object=context.object)
    salesforce_alike = context.read(SF, lambda: context.side(SF).lookup_many([_request(context, source)])[0], [])
    if source.side is SF:
        others, same_side = _outlook_in_scope(context, source, keys), salesforce_alike
        taken = set(linked.exclude(outlook_id=None).values_list("outlook_id", flat=True))
        taken_same = set(linked.exclude(salesforce_id=None).values_list("salesforce_id", flat=True))
    else:
        others, same_side = salesforce_alike, _outlook_in_scope(context, source, keys)
        taken = set(linked.exclude(salesforce_id=None).values_list("salesforce_id", flat=True))
        taken_same = set(linked.exclude(outlook_id=None).values_list("outlook_id", flat=True))
    for phase, key in enumerate(keys):
        if key is None:
            continue
        theirs = [r for r in others if r.id not in taken
                  and match_keys(context.sync_object, schema.canonicalize(r.fields))[phase] == key
                  and not _different_people(schema, source.record, r)]
        if not theirs:
            continue
        ours = [r for r in same_side if r.id not in taken_same and r.id != source.id
                and match_keys(context.sync_object, schema.canonicalize(r.fields))[phase] == key]
        what = _PHASES.get((context.object, phase), "its matching fields")
        other_end = END_NAMES[source.side.other]
        if len(theirs) == 1 and not ours:
            answer.verdict = "would_link"
            partner = Found(source.side.other, theirs[0])
            if source.side is SF:
                answer.outlook = answer.outlook or partner
            else:
                answer.salesforce = answer.salesforce or partner
            answer.reasons.append(f"The {other_end} {OBJECT_WORDS[context.object][0]} "
                                  f"{record_name(context.object, theirs[0].fields)!r} has the same {what}; the next "
                                  "sync links the two instead of creating a copy.")
            return True
        answer.verdict = "ambiguous"
        answer.candidates = ([Found(source.side.other, r).as_dict(context.object) | {"side": str(source.side.other)}
                              for r in theirs]
                             + [Found(source.side, r).as_dict(context.object) | {"side": str(source.side)}
                                for r in ours])
        answer.reasons.append(f"{len(ours) + 1} {END_NAMES[source.side]} and {len(theirs)} {other_end} records share "
                              f"its {what}, so none of them is linked or copied. Make them differ (or delete the "
                              "duplicates), then sync again.")
        return True
    return False


def _different_people(schema, one: engine.SideRecord, other: engine.SideRecord) -> bool:
    """Two contacts with the same name but different e-mail addresses are never paired (as in the engine)."""
    first, second = (schema.canonicalize(r.fields).get("email") for r in (one, other))
    return bool(first and second and first != second)


def _outlook_in_scope(context: ExplorerContext, source: Found, keys: tuple) -> list[engine.SideRecord]:
    """The Outlook items sharing one of the record's matching keys, as the data setting's options see them: only
    those in scope take part in the matching."""
    schema = schema_for(context.sync_object)
    alike = [r.id for r in context.outlook_all()
             if any(k is not None and k == theirs for k, theirs in
                    zip(keys, match_keys(context.sync_object, schema.canonicalize(r.fields)), strict=False))]
    if not alike:
        return []
    scoped = context.read(OL, lambda: context.side(OL).fetch(alike), {})
    return [record for record in scoped.values() if record.in_scope]


_PHASES = {
    ("contacts", 0): "e-mail address",
    ("contacts", 1): "first name, last name and company",
    ("events", 0): "subject, start and end",
    ("tasks", 0): "subject and due date",
}


def _over_limit(context: ExplorerContext, found: Found) -> bool:
    """Whether the data set's record limit leaves the record out of a full read: as many records of the data set
    changed after it as the limit takes."""
    limit = context.options.record_limit
    if not limit or not found.record.version:
        return False
    where = context.options.where
    newer = f"SystemModstamp > {soql_datetime(found.record.version)}"
    after = dataclasses.replace(context.options, where=f"({where}) AND {newer}" if where else newer)
    later = context.read(SF, lambda: context.side(SF, after, "newer").changes(None).records, {})
    return len(later) >= limit


def _salesforce_clauses(context: ExplorerContext, found: Found) -> list[str]:
    """Which of the data set's clauses the record fails: each clause asked of Salesforce on its own."""
    try:
        clauses = where_clauses(context.data_set, context.user.salesforce_id, context.now, context.setting)
    except DataSetError:
        return ["It is outside the data set."]
    failing = []
    for number, clause in enumerate(clauses):
        alone = dataclasses.replace(context.options, where=clause.condition)
        records = context.read(SF, lambda alone=alone, number=number: context.side(SF, alone, f"clause{number}").fetch(
            [found.id]), {})
        record = records.get(found.id) or next(iter(records.values()), None)
        if record is not None and not record.in_scope:
            failing.append(clause.fails)
    if context.object == "events" and not failing:
        failing.append("It is a recurring series' master record; its occurrences sync instead.")
    return failing or ["It is outside the data set."]


def _outlook_reasons(context: ExplorerContext, found: Found) -> list[str]:
    """Why the Outlook item is out of scope, from its fields and the data setting's options."""
    fields, options = found.record.fields, context.options
    reasons = []
    if context.object == "contacts":
        if is_excluded(fields.get("email"), options.excluded_addresses):
            reasons.append(f"Its e-mail address {fields.get('email')} is excluded by the data setting.")
        else:
            reasons.append(f"It is in another contacts folder; only contacts in {options.contacts_folder!r} sync.")
        return reasons
    if context.object == "events":
        if fields.get("is_private") and not options.sync_private_events:
            reasons.append("It is private in Outlook, and the data setting does not sync private events.")
        start, end = parse_instant(options.window_start), parse_instant(options.window_end)
        if not event_in_window(fields.get("start"), fields.get("end"), start, end):
            reasons.append(f"It is outside the data set's window ({start.date().isoformat() if start else '…'} to "
                           f"{end.date().isoformat() if end else '…'}).")
        if options.event_category:
            reasons.append(f"Only events in the Outlook category {options.event_category!r} sync; it may not have "
                           "that category.")
    if not reasons:
        where = "the primary calendar" if context.object == "events" else "the default tasks folder"
        reasons.append(f"It is in another folder; only items in {where} sync, or it was organized by an excluded "
                       "address." if context.object == "events" else f"It is in another folder; only {where} syncs.")
    return reasons

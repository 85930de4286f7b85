"""FindItem's QueryString: the subset of Advanced Query Syntax (AQS) that EWS documents, over an item's words.

From the QueryString (QueryStringType) reference: word-phrase restrictions (from, to, cc, bcc, participants, subject,
body/content, attachment, or no property: every word property), matched case-insensitively, by word prefix unless the
words are in double quotes (whole words, in order; a trailing * makes the quoted words ordered prefixes); date-range
restrictions on sent and received; message-type restrictions (kind:); AND, OR, NOT and parentheses, words side by side
meaning AND. What this module does not implement (relative dates such as "last week", other properties) is refused
with ErrorInvalidOperation, never matched loosely.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sandbox.exchange.fields import parse_dt
from sandbox.exchange.soap import EwsError, children, local

_WORD = re.compile(r"\w+", re.UNICODE)
_TOKEN = re.compile(r'\s*(?:(\()|(\))|([A-Za-z]+):|"([^"]*)"(\*)?|([^\s()"]+))')
_PEOPLE = {
    "from": ("From", "Sender", "Organizer"),
    "to": ("ToRecipients", "RequiredAttendees"),
    "cc": ("CcRecipients", "OptionalAttendees"),
    "bcc": ("BccRecipients",),
}
_PEOPLE["participants"] = _PEOPLE["to"] + _PEOPLE["cc"] + _PEOPLE["bcc"] + ("Resources",)
WORD_PROPERTIES = {
    **_PEOPLE, "subject": ("Subject",), "body": ("Body",), "content": ("Body",), "attachment": ("Attachments",),
}
# No property named: every word property, and an item's names (a contact's name, company and addresses are words of
# the item in Exchange's content index).
_ALL_WORDS = tuple(dict.fromkeys(
    [p for props in WORD_PROPERTIES.values() for p in props]
    + ["DisplayName", "GivenName", "MiddleName", "Surname", "Nickname", "CompanyName", "FileAs", "EmailAddresses",
       "Location", "JobTitle", "Department"]))
KINDS = {"email": "Message", "emails": "Message", "meetings": "CalendarItem", "calendar": "CalendarItem",
         "contacts": "Contact", "tasks": "Task"}
DATE_PROPERTIES = {"sent": "DateTimeSent", "received": "DateTimeReceived"}


@dataclass(frozen=True)
class Words:
    words: tuple[str, ...]
    exact: bool  # quoted: whole words, consecutive, in order
    prefix_last: bool = False  # "..."*: consecutive ordered prefixes
    props: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Node:
    op: str  # "and", "or", "not", "kind", "date"
    parts: tuple = ()


def _refuse(what: str) -> EwsError:
    return EwsError("ErrorInvalidOperation", f"The sandbox does not implement {what} in a QueryString; Exchange would.")


def parse(text: str):
    """Parse a QueryString; None for an empty one (every item matches). Raises EwsError for what it does not do."""
    tokens = []
    pos, text = 0, text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise _refuse(f"the text {text[pos:pos + 20]!r}")
        pos = m.end()
        open_, close, prop, quoted, star, word = m.groups()
        if open_ or close:
            tokens.append(open_ or close)
        elif prop is not None:
            tokens.append(("prop", prop.lower()))
        elif quoted is not None:
            tokens.append(("quoted", quoted, bool(star)))
        elif word is not None:
            tokens.append(word if word in ("AND", "OR", "NOT") else ("word", word))
    if not tokens:
        return None
    parser = _Parser(tokens)
    node = parser.expr(None)
    if parser.pos != len(tokens):
        raise _refuse(f"unbalanced parentheses in {text!r}")
    return node


class _Parser:
    def __init__(self, tokens):
        self.tokens, self.pos = tokens, 0

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def expr(self, props):
        parts = [self.conj(props)]
        while self.peek() == "OR":
            self.pos += 1
            parts.append(self.conj(props))
        return parts[0] if len(parts) == 1 else Node("or", tuple(parts))

    def conj(self, props):
        parts = [self.unary(props)]
        while self.peek() not in (None, ")", "OR"):
            if self.peek() == "AND":
                self.pos += 1
            parts.append(self.unary(props))
        return parts[0] if len(parts) == 1 else Node("and", tuple(parts))

    def unary(self, props):
        if self.peek() == "NOT":
            self.pos += 1
            return Node("not", (self.unary(props),))
        return self.primary(props)

    def primary(self, props):
        token = self.peek()
        if token is None or token in (")", "AND", "OR"):
            raise _refuse("a query that ends or closes where a term is expected")
        self.pos += 1
        if token == "(":
            node = self.expr(props)
            if self.peek() != ")":
                raise _refuse("unbalanced parentheses")
            self.pos += 1
            return node
        if token[0] == "prop":
            if props is not None:
                raise _refuse("a property inside another property's value")
            return self.property(token[1])
        if token[0] == "quoted":
            words = tuple(w.casefold() for w in _WORD.findall(token[1]))
            return Words(words, exact=True, prefix_last=token[2], props=props)
        # An unquoted term: each of its words is a prefix to find (a trailing * asks for what is done anyway).
        return Words(tuple(w.casefold() for w in _WORD.findall(token[1])), exact=False, props=props)

    def property(self, name):
        if name in WORD_PROPERTIES:
            return self.primary(WORD_PROPERTIES[name])
        token = self.peek()
        if token is None or token in ("(", ")", "AND", "OR", "NOT"):
            raise _refuse(f"{name}: with a grouped value")
        self.pos += 1
        value = token[1]
        if name == "kind":
            if value.lower() not in KINDS:
                raise _refuse(f"kind:{value}")
            return Node("kind", (KINDS[value.lower()],))
        if name in DATE_PROPERTIES:
            return Node("date", (DATE_PROPERTIES[name], *_date_range(value)))
        raise _refuse(f"the property {name}:")


def _day(text: str) -> date:
    for fmt in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise _refuse(f"the date {text!r} (only explicit dates such as 2024-01-31 or 1/31/2024, and ranges a..b)")


def _date_range(value: str) -> tuple[datetime, datetime]:
    lo, sep, hi = value.partition("..")
    first, last = _day(lo), _day(hi) if sep else _day(lo)
    return (datetime(first.year, first.month, first.day, tzinfo=UTC),
            datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1))


# ---- matching ----------------------------------------------------------------------------------------------------
def _texts(el) -> list[str]:
    if el is None:
        return []
    if local(el.tag) == "Attachments":
        return [text for a in el for n in children(a, "Name") for text in [n.text or ""]]
    return [x.text for x in el.iter() if x.text and x.text.strip()]


def _words_of(props: dict, names) -> list[list[str]]:
    out = []
    for name in names:
        for text in _texts(props.get(name)):
            out.append([w.casefold() for w in _WORD.findall(text)])
    return out


def _phrase_in(words: tuple[str, ...], hay: list[str], exact: bool, prefix: bool) -> bool:
    n = len(words)
    for i in range(len(hay) - n + 1):
        window = hay[i:i + n]
        if all((h.startswith(w) if prefix or not exact else h == w) for h, w in zip(window, words, strict=True)):
            return True
    return False


def matches(node, props: dict, kind: str) -> bool:
    """Whether an item (its materialized properties and element kind) matches a parsed QueryString."""
    if node is None:
        return True
    if isinstance(node, Words):
        fields = _words_of(props, node.props or _ALL_WORDS)
        if not node.words:
            return True
        if node.exact:
            return any(_phrase_in(node.words, hay, True, node.prefix_last) for hay in fields)
        return all(any(any(h.startswith(w) for h in hay) for hay in fields) for w in node.words)
    if node.op == "and":
        return all(matches(p, props, kind) for p in node.parts)
    if node.op == "or":
        return any(matches(p, props, kind) for p in node.parts)
    if node.op == "not":
        return not matches(node.parts[0], props, kind)
    if node.op == "kind":
        return kind == node.parts[0]
    name, lo, hi = node.parts
    el = props.get(name)
    when = parse_dt(el.text or "") if el is not None else None
    return when is not None and lo <= when < hi

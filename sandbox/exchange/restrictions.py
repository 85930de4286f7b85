"""Restriction (search filter) evaluation and sorting over materialized items or folders."""

import unicodedata

from sandbox.exchange.fields import parse_dt, parse_path
from sandbox.exchange.soap import EwsError, child, local

COMPARISONS = {
    "IsEqualTo": lambda a, b: a == b,
    "IsNotEqualTo": lambda a, b: a != b,
    "IsGreaterThan": lambda a, b: a > b,
    "IsGreaterThanOrEqualTo": lambda a, b: a >= b,
    "IsLessThan": lambda a, b: a < b,
    "IsLessThanOrEqualTo": lambda a, b: a <= b,
}
PATH_TAGS = ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI")
BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
WORDS = ("true", "false")


def values(props: dict, ext: dict, path: tuple) -> list[str]:
    """The string values a property path has on an item (empty when the property is absent)."""
    if path[0] == "ext":
        el = ext.get(path[1])
        if el is None:
            return []
        single = child(el, "Value")
        if single is not None:
            return [single.text or ""]
        vals = child(el, "Values")
        return [v.text or "" for v in vals] if vals is not None else []
    if path[0] == "indexed":
        container = props.get(path[1])
        if container is None:
            return []
        for entry in container:
            if entry.get("Key") == path[2]:
                if path[3]:
                    sub = child(entry, path[3])
                    return [] if sub is None else [sub.text or ""]
                return [entry.text or ""]
        return []
    el = props.get(path[1])
    if el is None:
        return []
    if el.get("Id") is not None and not len(el):
        return [el.get("Id")]
    if len(el):
        leaves = [x for x in el.iter() if not len(x) and x is not el]
        return [x.text or "" for x in leaves]
    return [el.text or ""]


def _fold(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c)).casefold()


def coerce(a: str, b: str):
    """Compare like Exchange: as date-times, numbers or booleans when both sides are, else case-insensitively."""
    da, db = parse_dt(a), parse_dt(b)
    if da is not None and db is not None:
        return da, db
    # A yes/no constant may be written "1"/"0" as well as "true"/"false" (xs:boolean), and Exchange matches both.
    if a.lower() in BOOLEANS and b.lower() in BOOLEANS and (a.lower() in WORDS or b.lower() in WORDS):
        return BOOLEANS[a.lower()], BOOLEANS[b.lower()]
    try:
        return float(a), float(b)
    except ValueError:
        return a.casefold(), b.casefold()


def _operand_path(elem):
    for c in elem:
        if local(c.tag) in PATH_TAGS:
            return parse_path(c)
    raise EwsError("ErrorInvalidRestriction", "Missing property path.")


def matches(elem, props: dict, ext: dict) -> bool:
    name = local(elem.tag)
    if name == "Restriction":
        return all(matches(c, props, ext) for c in elem)
    if name == "And":
        return all(matches(c, props, ext) for c in elem)
    if name == "Or":
        return any(matches(c, props, ext) for c in elem)
    if name == "Not":
        return not matches(elem[0], props, ext)
    if name == "Exists":
        return bool(values(props, ext, _operand_path(elem)))
    if name in COMPARISONS:
        path = _operand_path(elem)
        other = child(elem, "FieldURIOrConstant")
        const = child(other, "Constant")
        rhs = [const.get("Value") or ""] if const is not None else values(props, ext, _operand_path(other))
        lhs = values(props, ext, path)
        op = COMPARISONS[name]
        if not lhs:
            return name == "IsNotEqualTo"
        results = [op(*coerce(a, b)) for a in lhs for b in rhs]
        return all(results) if name == "IsNotEqualTo" else any(results)
    if name == "Contains":
        path = _operand_path(elem)
        const = child(elem, "Constant")
        needle = const.get("Value") or "" if const is not None else ""
        mode = elem.get("ContainmentMode") or "Substring"
        comparison = elem.get("ContainmentComparison") or "Exact"
        fold = _fold if ("Loose" in comparison or "NonSpacing" in comparison) else None
        if fold is None and "IgnoreCase" in comparison:
            fold = str.casefold
        fold = fold or (lambda s: s)
        needle = fold(needle)
        for hay in values(props, ext, path):
            hay = fold(hay)
            if mode == "FullString" and hay == needle:
                return True
            if mode == "Prefixed" and hay.startswith(needle):
                return True
            if mode in ("Substring", "ExactPhrase") and needle in hay:
                return True
            if mode == "PrefixOnWords" and any(w.startswith(needle) for w in hay.split()):
                return True
        return False
    if name == "Excludes":
        path = _operand_path(elem)
        mask = child(elem, "Bitmask")
        try:
            bits = int(mask.get("Value"), 0)
            return all(int(v, 0) & bits == 0 for v in values(props, ext, path))
        except (TypeError, ValueError):
            raise EwsError("ErrorInvalidRestriction", "Invalid bitmask.") from None
    raise EwsError("ErrorUnsupportedQueryFilter", f"Restriction {name} is not supported.")


def sort_key(props: dict, ext: dict, path: tuple):
    vals = values(props, ext, path)
    if not vals:
        return (0, "")
    v = vals[0]
    dt = parse_dt(v)
    if dt is not None:
        return (2, dt.timestamp())
    try:
        return (1, float(v))
    except ValueError:
        return (3, v.casefold())


def sort(rows: list, order_elem, getter) -> list:
    """Sort rows by a SortOrder element; getter(row) -> (props, ext). Stable, applied last key first."""
    if order_elem is None:
        return rows
    for fo in reversed(list(order_elem)):
        path = _operand_path(fo)
        rows = sorted(rows, key=lambda r, p=path: sort_key(*getter(r), p),
                      reverse=fo.get("Order") == "Descending")
    return rows

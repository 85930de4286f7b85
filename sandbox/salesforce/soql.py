"""SOQL: a lark grammar, a compiler that checks every name and value against the schema, and an evaluator.

Supported: SELECT of fields and parent-relationship paths (``Account.Name``, ``Owner.Email``, ``Who.Name``) or
``COUNT()``; FROM one object; WHERE with AND / OR / NOT and parentheses (mixing AND and OR without parentheses
is refused as Salesforce does), ``= != <> < <= > >= IN, NOT IN, LIKE, INCLUDES, EXCLUDES``, string / number /
boolean / null / date / datetime literals and the relative date literals; ORDER BY (ASC/DESC, NULLS
FIRST/LAST); LIMIT; OFFSET. Anything else fails to parse and is refused with MALFORMED_QUERY.
"""

import re
from dataclasses import dataclass, field

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from sandbox.salesforce import ids, schema
from sandbox.salesforce.dates import DATE_LITERAL_PATTERN, date_literal_range
from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.values import format_date, format_datetime, parse_date, parse_datetime

GRAMMAR_TEMPLATE = r"""
start: SELECT select_list FROM NAME scope? where? order_by? limit? offset?
scope: USING SCOPE NAME
select_list: COUNT "(" ")"          -> count
           | path ("," path)*       -> fields
where: WHERE expr
?expr: or_expr | and_expr | unary
or_expr: unary (OR unary)+
and_expr: unary (AND unary)+
?unary: NOT unary                   -> not_expr
      | "(" expr ")"
      | comparison
comparison: path OPERATOR value               -> compare
          | path LIKE value                   -> like
          | path IN "(" value ("," value)* ")"       -> in_list
          | path NOT IN "(" value ("," value)* ")"   -> not_in_list
          | path INCLUDES "(" value ("," value)* ")" -> includes
          | path EXCLUDES "(" value ("," value)* ")" -> excludes
value: STRING | SIGNED_NUMBER | TRUE | FALSE | NULL | DATETIME | DATE | DATE_LITERAL
order_by: ORDER BY order_item ("," order_item)*
order_item: path DIRECTION? nulls?
nulls: NULLS NULLS_WHERE
limit: LIMIT INT
offset: OFFSET INT
path: NAME ("." NAME)*

SELECT.3: /SELECT\b/i
FROM.3: /FROM\b/i
WHERE.3: /WHERE\b/i
USING.3: /USING\b/i
SCOPE.3: /SCOPE\b/i
AND.3: /AND\b/i
OR.3: /OR\b/i
NOT.3: /NOT\b/i
IN.3: /IN\b/i
LIKE.3: /LIKE\b/i
INCLUDES.3: /INCLUDES\b/i
EXCLUDES.3: /EXCLUDES\b/i
ORDER.3: /ORDER\b/i
BY.3: /BY\b/i
LIMIT.3: /LIMIT\b/i
OFFSET.3: /OFFSET\b/i
NULLS.3: /NULLS\b/i
NULLS_WHERE.3: /(FIRST|LAST)\b/i
DIRECTION.3: /(ASC|DESC)\b/i
COUNT.3: /COUNT(?=\s*\()/i
TRUE.3: /TRUE\b/i
FALSE.3: /FALSE\b/i
NULL.3: /NULL\b/i
DATE_LITERAL.3: /(@DATE_LITERALS@)\b/i
OPERATOR: "!=" | "<>" | "<=" | ">=" | "=" | "<" | ">"
DATETIME.2: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})/
DATE.2: /\d{4}-\d{2}-\d{2}/
SIGNED_NUMBER: /[+-]?(\d+(\.\d*)?|\.\d+)/
INT: /\d+/
STRING: /'(\\.|[^'\\])*'/
NAME: /[A-Za-z][A-Za-z0-9_]*/
%ignore /\s+/
"""

GRAMMAR = GRAMMAR_TEMPLATE.replace("@DATE_LITERALS@", DATE_LITERAL_PATTERN)
PARSER = Lark(GRAMMAR, parser="lalr", maybe_placeholders=False)
UNSUPPORTED = {"GROUP": "GROUP BY", "HAVING": "HAVING", "WITH": "WITH", "FOR": "FOR VIEW/UPDATE/REFERENCE",
               "TYPEOF": "TYPEOF", "FIELDS": "FIELDS()", "SELECT": "sub-queries",
               "(": "aggregate functions and sub-queries", "AS": "aliases"}
MAX_OFFSET = 2000
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}
_NUMERIC = {"int", "double", "currency"}
_COMPARABLE = schema.TEXT_TYPES | _NUMERIC | {"id", "reference", "date", "datetime"}


def caret_message(soql: str, line: int, column: int, text: str) -> str:
    lines = soql.split("\n")
    source = lines[line - 1] if 0 < line <= len(lines) else soql
    return f"\n{source}\n{' ' * (column - 1)}^\nERROR at Row:{line}:Column:{column}\n{text}"


def malformed(soql: str, line: int, column: int, text: str) -> ApiError:
    return ApiError(400, "MALFORMED_QUERY", caret_message(soql, line, column, text))


@dataclass
class PathRef:
    """A resolved field path: the relationship hops (``(field, relationship name)``) and the final field."""
    text: str
    hops: list  # [(schema.Field of the reference, canonical relationship name, polymorphic?)]
    field: schema.Field | None  # None for a polymorphic pseudo-field (Who.Name...)
    pseudo: str | None = None  # the pseudo-field's canonical name on a polymorphic parent
    ftype: str = "string"


@dataclass
class Query:
    sobject: schema.SObject
    count: bool
    fields: list = field(default_factory=list)
    where: object = None
    order: list = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    owner: str | None = None  # USING SCOPE mine


def parse(soql: str, access, today, now) -> Query:
    try:
        tree = PARSER.parse(soql)
    except UnexpectedInput as exc:
        raise _syntax_error(soql, exc) from None
    return _Compiler(soql, access, today, now).compile(tree)


def _syntax_error(soql: str, exc: UnexpectedInput) -> ApiError:
    line, column = getattr(exc, "line", 1) or 1, getattr(exc, "column", 1) or 1
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        return malformed(soql, line if line > 0 else 1, max(1, len(soql)), "unexpected token: <EOF>")
    if isinstance(exc, UnexpectedToken):
        token = str(exc.token)
    elif isinstance(exc, UnexpectedCharacters):
        token = re.match(r"\S+", soql.split("\n")[line - 1][column - 1:] or "?")
        token = token.group(0) if token else soql[exc.pos_in_stream:exc.pos_in_stream + 1]
    else:
        token = "?"
    text = f"unexpected token: {token}" if token.startswith("'") else f"unexpected token: '{token}'"
    feature = UNSUPPORTED.get(token.upper()) or UNSUPPORTED.get(token[:1])
    if feature:
        text += f" ({feature} is not supported by the sandbox emulator)"
    return malformed(soql, line, column, text)


class _Compiler:
    def __init__(self, soql: str, access, today, now):
        self.soql, self.access, self.today, self.now = soql, access, today, now

    def error(self, node, code: str, text: str) -> ApiError:
        token = node if isinstance(node, Token) else next(node.scan_values(lambda v: isinstance(v, Token)))
        return ApiError(400, code, caret_message(self.soql, token.line, token.column, text))

    def compile(self, tree: Tree) -> Query:
        children = tree.children
        name_token = children[3]
        obj = schema.sobject(str(name_token))
        if obj is None or not self.access.can(obj.name, "read"):
            raise self.error(name_token, "INVALID_TYPE",
                             f"sObject type '{name_token}' is not supported. If you are attempting to use a custom "
                             "object, be sure to append the '__c' after the entity name. Please reference your WSDL "
                             "or the describe call for the appropriate names.")
        self.obj = obj
        select = children[1]
        query = Query(obj, count=select.data == "count")
        if not query.count:
            seen = set()
            for path_tree in select.children:
                ref = self.path(path_tree)
                if ref.text.lower() in seen:
                    raise self.error(path_tree, "DUPLICATE_FIELD", f"duplicate field selected: {ref.text}")
                seen.add(ref.text.lower())
                query.fields.append(ref)
        for clause in children[4:]:
            if clause.data == "scope":
                scope = str(clause.children[2]).lower()
                if scope not in ("mine", "everything") or (scope == "mine" and not obj.ownable):
                    raise self.error(clause.children[2], "MALFORMED_QUERY",
                                     f"unsupported scope '{clause.children[2]}' (the sandbox emulator supports "
                                     "USING SCOPE mine and everything)")
                if scope == "mine":
                    query.owner = self.access.user_id
            elif clause.data == "where":
                query.where = self.expr(clause.children[1])
            elif clause.data == "order_by":
                query.order = [self.order_item(item) for item in clause.children[2:]]
            elif clause.data == "limit":
                query.limit = int(clause.children[1])
                if query.limit > 2**31 - 1:
                    raise self.error(clause.children[1], "MALFORMED_QUERY", f"invalid LIMIT value: {query.limit}")
            elif clause.data == "offset":
                query.offset = int(clause.children[1])
                if query.offset > MAX_OFFSET:
                    raise self.error(clause.children[1], "NUMBER_OUTSIDE_VALID_RANGE",
                                     f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        return query

    def path(self, tree: Tree) -> PathRef:
        names = [str(token) for token in tree.children]
        obj, hops, polymorphic = self.obj, [], False
        for index, name in enumerate(names[:-1]):
            rel = obj.relationships.get(name.lower()) if obj else None
            if rel is None or polymorphic:
                raise self.error(tree.children[index], "INVALID_FIELD",
                                 f"Didn't understand relationship '{name}' in field path. If you are attempting to "
                                 "use a custom relationship, be sure to append the '__r' after the custom "
                                 "relationship name. Please reference your WSDL or the describe call for the "
                                 "appropriate names.")
            polymorphic = rel.polymorphic or len(rel.reference_to) > 1
            hops.append((rel, rel.relationship_name, polymorphic))
            obj = None if polymorphic else schema.sobject(rel.reference_to[0])
        last = names[-1]
        if polymorphic:
            pseudo = schema.POLYMORPHIC_FIELDS.get(last.lower())
            if pseudo is None:
                raise self.no_column(tree.children[-1], last, "Name")
            canonical = ".".join([h[1] for h in hops] + [pseudo])
            return PathRef(canonical, hops, None, pseudo, "id" if pseudo == "Id" else "string")
        f = obj.field(last)
        if f is None:
            raise self.no_column(tree.children[-1], last, obj.name)
        canonical = ".".join([h[1] for h in hops] + [f.name])
        return PathRef(canonical, hops, f, None, f.type)

    def no_column(self, token, name, entity) -> ApiError:
        return self.error(token, "INVALID_FIELD",
                          f"No such column '{name}' on entity '{entity}'. If you are attempting to use a custom "
                          "field, be sure to append the '__c' after the custom field name. Please reference your "
                          "WSDL or the describe call for the appropriate names.")

    def order_item(self, tree: Tree):
        ref = self.path(tree.children[0])
        if ref.ftype in ("textarea", "multipicklist"):
            raise self.error(tree.children[0], "INVALID_FIELD",
                             f"field '{ref.text}' can not be sorted in a query call")
        descending, nulls_last = False, None
        for child in tree.children[1:]:
            if isinstance(child, Token):
                descending = child.upper() == "DESC"
            else:
                nulls_last = child.children[1].upper() == "LAST"
        if nulls_last is None:
            nulls_last = descending
        return ref, descending, nulls_last

    # -- WHERE -----------------------------------------------------------------------------------
    def expr(self, tree: Tree):
        kind = tree.data
        if kind == "or_expr":
            parts = [self.expr(child) for child in tree.children if isinstance(child, Tree)]
            return lambda row: any(part(row) for part in parts)
        if kind == "and_expr":
            parts = [self.expr(child) for child in tree.children if isinstance(child, Tree)]
            return lambda row: all(part(row) for part in parts)
        if kind == "not_expr":
            inner = self.expr(tree.children[1])
            return lambda row: not inner(row)
        return self.condition(tree)

    def condition(self, tree: Tree):
        kind = tree.data
        ref = self.path(tree.children[0])
        values = [child for child in tree.children[1:] if isinstance(child, Tree)]
        if ref.ftype == "textarea":
            raise self.error(tree.children[0], "INVALID_FIELD",
                             f"field '{ref.text}' can not be filtered in a query call")
        getter = value_getter(ref)
        if kind == "compare":
            op = str(tree.children[1]).replace("<>", "!=")
            return self.compare(ref, getter, op, values[0])
        if kind == "like":
            if ref.ftype not in schema.TEXT_TYPES or ref.ftype == "multipicklist":
                raise self.error(tree.children[0], "INVALID_QUERY_FILTER_OPERATOR",
                                 f"invalid operator on {ref.ftype} field: LIKE")
            pattern = self.literal(ref, values[0])
            matches = like_matcher(pattern) if pattern is not None else None
            return lambda row: matches is not None and isinstance(getter(row), str) and matches(getter(row))
        literals = [self.literal(ref, v) for v in values]
        if kind in ("includes", "excludes"):
            if ref.ftype != "multipicklist":
                raise self.error(tree.children[0], "INVALID_QUERY_FILTER_OPERATOR",
                                 "includes or excludes operator only valid on multipicklist field")
            wanted = [{part.strip().lower() for part in v.split(";")} for v in literals if v is not None]

            def includes(row):
                held = {part.lower() for part in (getter(row) or "").split(";") if part}
                return any(w <= held for w in wanted)
            return includes if kind == "includes" else (lambda row: not includes(row))
        if ref.ftype == "multipicklist":
            raise self.error(tree.children[0], "INVALID_QUERY_FILTER_OPERATOR",
                             "IN and NOT IN are not valid on multipicklist fields; use INCLUDES or EXCLUDES")
        keys = {comparable(ref.ftype, v) for v in literals}
        if kind == "in_list":
            return lambda row: getter(row) is not None and comparable(ref.ftype, getter(row)) in keys
        return lambda row: comparable(ref.ftype, getter(row)) not in keys

    def compare(self, ref: PathRef, getter, op: str, value_tree: Tree):
        token = value_tree.children[0]
        if token.type == "DATE_LITERAL":
            if ref.ftype not in ("date", "datetime"):
                raise self.type_error(token, ref)
            try:
                start, end = date_literal_range(str(token), self.today)
            except (OverflowError, ValueError):
                raise self.error(token, "MALFORMED_QUERY", f"date literal out of range: {token}") from None
            if ref.ftype == "datetime":
                low, high = format_datetime(start), format_datetime(end)
            else:
                low, high = format_date(start.date()), format_date(end.date())
            tests = {"=": lambda v: low <= v < high, "!=": lambda v: not low <= v < high,
                     "<": lambda v: v < low, "<=": lambda v: v < high, ">": lambda v: v >= high,
                     ">=": lambda v: v >= low}
            test = tests[op]
            return lambda row: (getter(row) is not None and test(getter(row))) or (op == "!=" and getter(row) is None)
        literal = self.literal(ref, value_tree)
        if literal is None:
            if op not in ("=", "!="):
                raise self.error(token, "INVALID_QUERY_FILTER_OPERATOR", f"invalid operator on null value: {op}")
            return (lambda row: getter(row) is None) if op == "=" else (lambda row: getter(row) is not None)
        if op not in ("=", "!=") and ref.ftype not in _COMPARABLE - {"multipicklist"}:
            raise self.error(token, "INVALID_QUERY_FILTER_OPERATOR", f"invalid operator on {ref.ftype} field: {op}")
        key = comparable(ref.ftype, literal)
        if ref.ftype == "multipicklist":
            key = ";".join(sorted(part.lower() for part in literal.split(";")))

            def value_of(row):
                current = getter(row)
                return None if current is None else ";".join(sorted(p.lower() for p in current.split(";")))
        else:
            def value_of(row):
                return comparable(ref.ftype, getter(row))
        if op == "=":
            return lambda row: value_of(row) == key
        if op == "!=":
            return lambda row: value_of(row) != key
        ops = {"<": lambda v: v < key, "<=": lambda v: v <= key, ">": lambda v: v > key, ">=": lambda v: v >= key}
        test = ops[op]
        return lambda row: value_of(row) is not None and test(value_of(row))

    def type_error(self, token, ref: PathRef) -> ApiError:
        kind = {"datetime": "dateTime", "currency": "double", "reference": "id"}.get(ref.ftype, ref.ftype)
        if ref.ftype in schema.TEXT_TYPES or ref.ftype in ("id", "reference"):
            kind, quoted = "string", "should be enclosed in quotes"
        else:
            quoted = "should not be enclosed in quotes"
        return self.error(token, "INVALID_FIELD",
                          f"value of filter criterion for field '{ref.text}' must be of type {kind} and {quoted}")

    def literal(self, ref: PathRef, value_tree: Tree):
        token = value_tree.children[0]
        kind, text = token.type, str(token)
        if kind == "NULL":
            return None
        ftype = ref.ftype
        if kind == "DATE_LITERAL":
            raise self.error(token, "INVALID_QUERY_FILTER_OPERATOR" if ftype in ("date", "datetime")
                             else "INVALID_FIELD", f"date literal {text} is not valid here")
        if ftype in schema.TEXT_TYPES or ftype in ("id", "reference"):
            if kind != "STRING":
                raise self.type_error(token, ref)
            try:
                value = unescape(text[1:-1])
            except ValueError as exc:
                raise self.error(token, "MALFORMED_QUERY", str(exc)) from None
            if (ftype in ("id", "reference") and ref.pseudo is None) or ref.pseudo == "Id":
                full = ids.normalize(value)
                if full is None:
                    raise self.error(token, "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {value}")
                return full
            return value
        if ftype == "boolean":
            if kind not in ("TRUE", "FALSE"):
                raise self.type_error(token, ref)
            return kind == "TRUE"
        if ftype in _NUMERIC:
            if kind != "SIGNED_NUMBER":
                raise self.type_error(token, ref)
            return float(text)
        if ftype == "date":
            if kind != "DATE" or parse_date(text) is None:
                raise self.type_error(token, ref)
            return text
        if ftype == "datetime":
            parsed = parse_datetime(text) if kind == "DATETIME" else None
            if parsed is None:
                raise self.type_error(token, ref)
            return format_datetime(parsed)
        raise self.type_error(token, ref)


def unescape(body: str) -> str:
    out, index = [], 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            nxt = body[index + 1]
            if nxt in "%_":
                out.append("\\" + nxt)  # \% and \_ stay escaped for LIKE
            elif nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            else:
                raise ValueError(f"Invalid string literal '{body}'. Illegal character sequence '\\{nxt}' in "
                                 "string literal.")
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


_ANY = object()  # `%` in a LIKE pattern; `_` is None, every other character itself (lower case)


def like_matcher(pattern: str):
    """A function telling whether a text matches the SOQL LIKE ``pattern`` (``%`` any run, ``_`` any one character,
    ``\\%`` and ``\\_`` themselves; case-insensitive), in time linear in the text for each piece of the pattern.

    A regular expression (``.*a.*a.*…b``) backtracks exponentially on a pattern of many ``%`` against a text that
    almost matches, which would let one query hold a server thread for minutes. Here the pattern is cut at each
    ``%`` into pieces; the first must start the text, the last must end it, and each piece between is taken at its
    first place after the one before (the leftmost place never loses a match), so nothing is tried twice.
    """
    tokens: list = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern) and pattern[index + 1] in "%_":
            tokens.append(pattern[index + 1].lower())
            index += 2
            continue
        tokens.append(_ANY if char == "%" else None if char == "_" else char.lower())
        index += 1
    pieces: list[list] = [[]]
    for token in tokens:
        if token is _ANY:
            pieces.append([])
        else:
            pieces[-1].append(token)
    first, *middle, last = pieces if len(pieces) > 1 else (pieces[0], pieces[0])
    anywhere = len(pieces) > 1

    def fits(text: list[str], piece: list, at: int) -> bool:
        return all(want is None or text[at + offset] == want for offset, want in enumerate(piece))

    def matches(value: str) -> bool:
        text = [char.lower() for char in value]
        if not anywhere:
            return len(text) == len(first) and fits(text, first, 0)
        end = len(text) - len(last)
        if end < len(first) or not fits(text, first, 0) or not fits(text, last, end):
            return False
        position = len(first)
        for piece in middle:
            while position + len(piece) <= end and not fits(text, piece, position):
                position += 1
            if position + len(piece) > end:
                return False
            position += len(piece)
        return True

    return matches


def comparable(ftype: str, value):
    """The key under which SOQL compares values: text case-insensitively, numbers as floats."""
    if value is None:
        return None
    if ftype in schema.TEXT_TYPES:
        return value.lower() if isinstance(value, str) else value
    if ftype in _NUMERIC:
        return float(value)
    return value


def value_getter(ref: PathRef):
    """A function from a (store-backed) row to the value the path designates."""
    hops, final = ref.hops, (ref.field.name if ref.field else ref.pseudo)
    if not hops:
        return lambda row: row.record.get(final)

    def get(row):
        parent = row.parent(ref.hops)
        if parent is None:
            return None
        if ref.pseudo == "Type":
            return ids.type_of(parent["Id"])
        return parent.get(final)
    return get

"""OData query options as Graph's Outlook endpoints take them: $filter (a real expression parser), $select, $expand
of singleValueExtendedProperties, $orderby, $top, $skip, $count, and the Prefer header's odata.maxpagesize.

Each endpoint names the options it supports; any other system query option is refused with Graph's error.
"""

import re
from datetime import UTC, datetime

from sandbox.graph.errors import GraphError, bad_request, unknown_property

SYSTEM_OPTIONS = {"$select", "$filter", "$expand", "$orderby", "$top", "$skip", "$count", "$search", "$format",
                  "$skiptoken", "$deltatoken", "$levels", "$apply", "$compute", "$index", "$schemaversion", "$id"}
MAX_TOP = 1000


def invalid_filter(message: str = "Invalid filter clause") -> GraphError:
    return GraphError(400, "BadRequest", message)


# ---- the $filter expression language ---------------------------------------------------------------------------
TOKEN = re.compile(r"""\s*(?:
    (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<punct>[(),:/])
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
)""", re.VERBOSE)
COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
FUNCTIONS = {"contains", "startswith"}
# OData functions Graph's parser knows but the Outlook (Exchange-backed) resources do not filter by: Exchange answers
# 400 ErrorInvalidUrlQueryFilter, "The query filter contains one or more invalid nodes." (endswith on /me/people,
# microsoftgraph/microsoft-graph-docs issue #17863); directory objects answer Request_UnsupportedQuery without
# ConsistencyLevel: eventual (Graph's advanced-queries page). Never evaluated as if supported.
NOT_FILTERABLE = {"endswith", "indexof", "substring", "tolower", "toupper", "trim", "concat", "length", "year",
                  "month", "day", "hour", "minute", "second", "date", "time", "round", "floor", "ceiling",
                  "matchespattern"}


def unsupported_filter_node(type_name: str) -> GraphError:
    if type_name == "user":
        return GraphError(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified.")
    return GraphError(400, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.")


def tokenize(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise invalid_filter(f"Syntax error at position {pos} in '{text}'.")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class Parser:
    """Recursive descent over the tokens; produces a small tuple tree evaluated by ``evaluate``."""

    def __init__(self, text: str, check_property, type_name: str = ""):
        self.tokens, self.i, self.text = tokenize(text), 0, text
        self.check_property, self.type_name = check_property, type_name
        self.scopes: list[str] = []

    def peek(self, offset=0):
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else (None, None)

    def take(self, kind=None, value=None):
        tok = self.peek()
        if tok[0] is None or (kind and tok[0] != kind) or (value and tok[1].lower() != value):
            raise invalid_filter(f"Syntax error: expected {value or kind} in '{self.text}'.")
        self.i += 1
        return tok

    def parse(self):
        node = self.expr()
        if self.i != len(self.tokens):
            raise invalid_filter(f"Syntax error at '{self.peek()[1]}' in '{self.text}'.")
        return node

    def expr(self):
        node = self.conj()
        while self.peek()[0] == "word" and self.peek()[1].lower() == "or":
            self.i += 1
            node = ("or", node, self.conj())
        return node

    def conj(self):
        node = self.neg()
        while self.peek()[0] == "word" and self.peek()[1].lower() == "and":
            self.i += 1
            node = ("and", node, self.neg())
        return node

    def neg(self):
        if self.peek()[0] == "word" and self.peek()[1].lower() == "not":
            self.i += 1
            return ("not", self.neg())
        left = self.operand()
        tok = self.peek()
        if tok[0] == "word" and tok[1].lower() in COMPARISONS:
            self.i += 1
            return ("cmp", tok[1].lower(), left, self.operand())
        if tok[0] == "word" and tok[1].lower() in ("add", "sub", "mul", "div", "mod", "has", "in"):
            raise invalid_filter(f"The operator '{tok[1]}' is not supported.")
        return left

    def operand(self):
        kind, value = self.peek()
        if kind == "punct" and value == "(":
            self.i += 1
            node = self.expr()
            self.take("punct", ")")
            return node
        if kind == "string":
            self.i += 1
            return ("lit", value[1:-1].replace("''", "'"))
        if kind == "datetime":
            self.i += 1
            return ("lit", parse_datetime(value))
        if kind == "number":
            self.i += 1
            return ("lit", float(value) if "." in value else int(value))
        if kind == "word":
            low = value.lower()
            if low in ("true", "false"):
                self.i += 1
                return ("lit", low == "true")
            if low == "null":
                self.i += 1
                return ("lit", None)
            if self.peek(1) == ("punct", "("):
                if low in NOT_FILTERABLE:
                    raise unsupported_filter_node(self.type_name)
                if low not in FUNCTIONS:
                    raise invalid_filter(
                        f"An unknown function with name '{value}' was found. This may also be a function import "
                        "or a key lookup on a navigation property, which is not allowed.")
                self.i += 2
                args = [self.operand()]
                while self.peek() == ("punct", ","):
                    self.i += 1
                    args.append(self.operand())
                self.take("punct", ")")
                if len(args) != 2:
                    raise invalid_filter(f"The function '{value}' takes two arguments.")
                return ("fn", low, args[0], args[1])
            return self.path()
        raise invalid_filter(f"Syntax error in '{self.text}'.")

    def path(self):
        parts = [self.take("word")[1]]
        while self.peek() == ("punct", "/"):
            self.i += 1
            word = self.take("word")[1]
            if word.lower() in ("any", "all") and self.peek() == ("punct", "("):
                self.i += 1
                var = self.take("word")[1]
                self.take("punct", ":")
                self.scopes.append(var)
                body = self.expr()
                self.scopes.pop()
                self.take("punct", ")")
                self._check(parts)
                return ("lambda", word.lower(), parts, var, body)
            parts.append(word)
        if parts[0] in self.scopes:
            return ("var", parts)
        self._check(parts)
        return ("path", parts)

    def _check(self, parts):
        self.check_property(parts)


def parse_datetime(text: str) -> datetime:
    t = text.strip().replace("Z", "+00:00")
    if "." in t:  # Graph writes seven fractional digits; Python takes six
        head, _, tail = t.partition(".")
        frac = re.match(r"\d+", tail).group(0)
        t = f"{head}.{frac[:6].ljust(6, '0')}{tail[len(frac):]}"
    value = datetime.fromisoformat(t)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _get(obj, parts):
    for p in parts:
        if not isinstance(obj, dict):
            return None
        obj = next((v for k, v in obj.items() if k.lower() == p.lower()), None)
    return obj


EXT_ID = re.compile(r"^\s*(\w+)\s+\{([0-9A-Fa-f-]{36})\}\s+(Name|Id)\s+(.+?)\s*$")


def _ext_key(text: str):
    """An extended property id as compared by Exchange: type and GUID case-insensitively, the name exactly."""
    m = EXT_ID.match(text)
    if not m:
        return None
    name = m.group(4) if m.group(3) == "Name" else m.group(4).lower()
    return m.group(1).lower(), m.group(2).lower(), m.group(3).lower(), name


def _norm(a, b):
    """Make a comparable pair: strings case-insensitively, date-times as date-times."""
    if isinstance(a, str) and isinstance(b, str):
        ka, kb = _ext_key(a), _ext_key(b)
        if ka is not None or kb is not None:
            return ka or a, kb or b
    if isinstance(b, datetime) and isinstance(a, str):
        try:
            a = parse_datetime(a)
        except ValueError:
            return a, b
    if isinstance(a, datetime) and isinstance(b, str):
        try:
            b = parse_datetime(b)
        except ValueError:
            return a, b
    if isinstance(a, str) and isinstance(b, str):
        return a.lower(), b.lower()
    return a, b


def evaluate(node, obj, env=None):
    env = env or {}
    op = node[0]
    if op == "lit":
        return node[1]
    if op == "path":
        return _get(obj, node[1])
    if op == "var":
        return _get(env.get(node[1][0]), node[1][1:])
    if op == "and":
        return bool(evaluate(node[1], obj, env)) and bool(evaluate(node[2], obj, env))
    if op == "or":
        return bool(evaluate(node[1], obj, env)) or bool(evaluate(node[2], obj, env))
    if op == "not":
        return not evaluate(node[1], obj, env)
    if op == "fn":
        a, b = evaluate(node[2], obj, env), evaluate(node[3], obj, env)
        if not isinstance(a, str) or not isinstance(b, str):
            return False
        a, b = a.lower(), b.lower()
        return b in a if node[1] == "contains" else a.startswith(b)
    if op == "cmp":
        a, b = _norm(evaluate(node[2], obj, env), evaluate(node[3], obj, env))
        if node[1] == "eq":
            return a == b
        if node[1] == "ne":
            return a != b
        if a is None or b is None:
            return False
        try:
            return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[node[1]]
        except TypeError:
            return False
    if op == "lambda":
        items = _get(obj, node[2]) or []
        if not isinstance(items, list):
            return False
        results = (bool(evaluate(node[4], obj, {**env, node[3]: item})) for item in items)
        return any(results) if node[1] == "any" else all(results)
    raise invalid_filter()


# ---- the options of one request ---------------------------------------------------------------------------------
class Query:
    """The parsed query options of one request, checked against what the endpoint supports."""

    def __init__(self, args: dict[str, str], supported: set[str], type_name: str, properties: set[str],
                 unsupported_message=None):
        self.args, self.type_name, self.properties = args, type_name, {p.lower(): p for p in properties}
        for name in args:
            low = name.lower()
            if low.startswith("$") and low not in supported:
                if unsupported_message:
                    raise unsupported_message(name)
                raise bad_request(f"The query parameter '{name}' is not supported.")
        self.select = self._select(self.get("$select"))
        self.filter = Parser(self.get("$filter"), self._check_path, type_name).parse() if self.get("$filter") \
            else None
        self.expand = self._expand(self.get("$expand"))
        self.orderby = self._orderby(self.get("$orderby"))
        self.top = self._int("$top", 1, MAX_TOP)
        self.skip = self._int("$skip", 0, None) or 0
        count = self.get("$count")
        if count is not None and count.lower() not in ("true", "false"):
            raise bad_request(f"Invalid value '{count}' for $count query option found. The $count query option "
                              "requires a Boolean value.")
        self.count = (count or "").lower() == "true"

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.args.items() if k.lower() == name), None)

    def _int(self, name, low, high):
        raw = self.get(name)
        if raw is None:
            return None
        if not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
            raise bad_request(f"Invalid value '{raw}' for {name} query option found."
                              + (f" The value must be between {low} and {high}." if high else ""))
        return int(raw)

    def _check_path(self, parts):
        if parts[0].lower() not in self.properties:
            raise unknown_property(parts[0], self.type_name)

    def _select(self, raw):
        if raw is None:
            return None
        names = [n.strip() for n in raw.split(",") if n.strip()]
        if not names:
            raise bad_request("Invalid $select: no properties.")
        out = []
        for name in names:
            if name == "*":
                return None
            if name.lower() not in self.properties:
                raise unknown_property(name, self.type_name)
            out.append(self.properties[name.lower()])
        return out

    def _expand(self, raw) -> dict:
        if not raw:
            return {}
        out = {}
        for part in _split_top_level(raw):
            m = re.fullmatch(r"\s*([A-Za-z]+)\s*(?:\((.*)\))?\s*", part, re.S)
            if not m or m.group(1).lower() not in self.properties or m.group(1) not in EXPANDABLE:
                name = m.group(1) if m else part
                raise GraphError(400, "RequestBroker--ParseUri",
                                 f"Parsing OData Select and Expand failed: Could not find a property named "
                                 f"'{name}' on type 'microsoft.graph.{self.type_name}'.")
            name, inner = self.properties[m.group(1).lower()], m.group(2)
            ids = None
            if inner:
                fm = re.fullmatch(r"\s*\$filter\s*=\s*(.*)", inner, re.S)
                if not fm:
                    raise bad_request(f"Only $filter is supported inside $expand of {name}.")
                tree = Parser(fm.group(1), lambda parts: None).parse()
                ids = _id_equalities(tree)
                if ids is None:
                    raise GraphError(400, "ErrorInvalidUrlQuery",
                                     "The $filter in $expand of extended properties must compare 'id' with 'eq'.")
            out[name] = ids
        return out

    def _orderby(self, raw):
        if not raw:
            return []
        out = []
        for part in raw.split(","):
            words = part.split()
            if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
                raise bad_request(f"Invalid $orderby clause '{part.strip()}'.")
            path = words[0].split("/")
            self._check_path(path)
            out.append((path, len(words) == 2 and words[1].lower() == "desc"))
        return out

    # ---- applying -------------------------------------------------------------------------------------------
    def matches(self, obj: dict) -> bool:
        return self.filter is None or bool(evaluate(self.filter, obj))

    def order(self, objs: list[dict]) -> list[dict]:
        for path, desc in reversed(self.orderby):
            def key(o, path=path):
                v = _get(o, path)
                return (v is None, str(v).lower() if isinstance(v, str) else v if v is not None else 0)
            objs = sorted(objs, key=key, reverse=desc)
        return objs


EXPANDABLE = {"singleValueExtendedProperties", "multiValueExtendedProperties", "linkedResources", "checklistItems",
              "extensions"}


def _split_top_level(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _id_equalities(tree) -> list[str] | None:
    """The ids named by ``id eq '…' [or id eq '…']``; None for any other filter."""
    if tree[0] == "or":
        left, right = _id_equalities(tree[1]), _id_equalities(tree[2])
        return None if left is None or right is None else left + right
    if tree[0] == "cmp" and tree[1] == "eq" and tree[2][0] == "path" and [p.lower() for p in tree[2][1]] == ["id"] \
            and tree[3][0] == "lit" and isinstance(tree[3][1], str):
        return [tree[3][1]]
    return None


def page_size(prefer: str, default: int, cap: int = MAX_TOP) -> tuple[int, bool]:
    """The page size the Prefer header asks for (odata.maxpagesize), and whether it asked."""
    for part in (prefer or "").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "odata.maxpagesize" and value.strip().isdigit() and int(value) > 0:
            return min(int(value), cap), True
    return default, False


def prefer_timezone(prefer: str) -> str | None:
    for part in (prefer or "").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "outlook.timezone":
            return value.strip().strip('"')
    return None

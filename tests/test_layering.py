"""The import rules that keep the product layered (STYLE.md habits 7, 8 and 16), read from the source with `ast`.

- Only `sync/connectors/` imports the external APIs' client libraries.
- The engine is pure (standard library only): `tests/engine/test_engine_purity.py` holds that rule.
- A module imports only modules of its own layer or lower (`LAYERS`, low to high; a module not named is top).
- The emulators under `sandbox/` import no product app (only `sandbox/services.py` and the commands connect them).
- At most `MAX_FUNCTION_IMPORTS` first-party imports sit inside functions, each with a comment saying why.

Names in `LAYERS` that do not exist (yet) are simply not checked. No Django is needed: nothing is imported.
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("syncadmin", "configurations", "users", "sync", "audit", "apitokens", "sandbox", "alerts")

# Low to high. A name stands for that module and everything under it; the longest matching name wins.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("syncadmin.env", "syncadmin.crypto", "syncadmin.roles", "syncadmin.permissions", "sync.engine",
     "sync.mappings", "apitokens.keys"),
    ("sync.connectors", "sync.error_words", "sync.merges"),
    ("configurations.models", "configurations.validation", "configurations.soql", "audit.models",
     "syncadmin.models", "apitokens.models", "alerts.models"),
    ("users.models", "sync.models", "sync.linkstore"),
    ("audit.services", "configurations.services", "users.services", "users.filters", "sync.routing",
     "apitokens.services", "alerts.causes", "alerts.delivery", "alerts.services", "sync.feeds.dirty",
     "sync.feeds.coverage", "sync.feeds.health"),
    ("sync.connections", "sync.options", "sync.leases", "sync.queue", "sync.outcome", "sync.progress", "sync.runner",
     "sync.planning",
     "sync.dispatch", "sync.recovery", "sync.retention", "sync.reports", "sync.guard_advice",
     "sync.feeds.salesforce", "sync.feeds.ews", "sync.feeds.graph",
     "sync.feeds.graph_delta"),
    ("users.operations", "sync.feeds.listener"),
)
TOP = len(LAYERS)  # views, api, forms, admin, tasks, urls, commands, sandbox.services, the rest of syncadmin

CLIENT_LIBRARIES = ("exchangelib", "msal", "simple_salesforce", "requests_ntlm")
CONNECTORS = "sync.connectors"
# The emulators answer in Exchange's time zone names; exchangelib's Windows <-> IANA table is data, not a client.
CLIENT_DATA = {"exchangelib.winzone": "sandbox"}
# The parts of sandbox/ that connect the product to a running sandbox; the rest are the emulators.
SANDBOX_BRIDGES = ("sandbox.services", "sandbox.management")
MAX_FUNCTION_IMPORTS = 5


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    name: str  # the module imported, as written (absolute)
    names: tuple[str, ...]  # for `from X import a, b`: ("a", "b")
    in_function: bool

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def product_modules() -> dict[str, Path]:
    modules = {}
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            modules[module_name(path)] = path
    return modules


MODULES = product_modules()


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def first_party(name: str) -> bool:
    return name.split(".")[0] in PRODUCT


def shown(imp: Import) -> str:
    """What an import loads, for messages: `from configurations import soql` shows configurations.soql."""
    return ", ".join(sorted(targets(imp))) or imp.name


def imports_of(path: Path) -> list[Import]:
    """Every import in the file, with whether it runs inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(path, child.lineno, alias.name, (), in_function))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.rsplit(".", child.level - 1)[0] if child.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                found.append(Import(path, child.lineno, base, tuple(a.name for a in child.names), in_function))
            else:
                visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(tree, False)
    return found


ALL_IMPORTS = [imp for path in MODULES.values() for imp in imports_of(path)]


def targets(imp: Import) -> set[str]:
    """The existing first-party modules an import loads (a name that does not exist yet is not checked)."""
    if not first_party(imp.name):
        return set()
    found = set()
    for name in imp.names:
        if f"{imp.name}.{name}" in MODULES:
            found.add(f"{imp.name}.{name}")
    if not found or len(found) < len(imp.names):
        parts = imp.name.split(".")
        for end in range(len(parts), 0, -1):
            if ".".join(parts[:end]) in MODULES:
                found.add(".".join(parts[:end]))
                break
    return found


def layer(name: str) -> int:
    best, best_length = TOP, -1
    for number, names in enumerate(LAYERS):
        for prefix in names:
            if within(name, prefix) and len(prefix) > best_length:
                best, best_length = number, len(prefix)
    return best


def is_emulator(name: str) -> bool:
    return within(name, "sandbox") and not any(within(name, bridge) for bridge in SANDBOX_BRIDGES)


def commented_lines(path: Path) -> set[int]:
    lines = set()
    with io.StringIO(path.read_text(encoding="utf-8")) as source:
        for token in tokenize.generate_tokens(source.readline):
            if token.type == tokenize.COMMENT:
                lines.add(token.start[0])
    return lines


def test_the_layer_table_names_modules_that_exist():
    # Guards against a typo that would silently leave a layer unchecked (names still to be created are allowed,
    # so this asks only that most of the table exists).
    named = [name for names in LAYERS for name in names]
    existing = [name for name in named if any(within(module, name) for module in MODULES)]
    assert len(existing) >= len(named) // 2, sorted(set(named) - set(existing))


def test_only_the_connectors_import_the_client_libraries():
    offenders = []
    for imp in ALL_IMPORTS:
        importer = module_name(imp.path)
        library = imp.name.split(".")[0]
        if library not in CLIENT_LIBRARIES or within(importer, CONNECTORS):
            continue
        allowed_in = next((home for data, home in CLIENT_DATA.items() if within(imp.name, data)), None)
        if allowed_in and within(importer, allowed_in):
            continue
        offenders.append(f"{imp.where} imports {imp.name} (only sync/connectors/ may)")
    if offenders:
        pytest.fail("\n".join(offenders), pytrace=False)


def test_lower_layers_never_import_upper_ones():
    offenders = []
    for imp in ALL_IMPORTS:
        importer = module_name(imp.path)
        if is_emulator(importer):
            continue  # held by the next test, more strictly
        for target in sorted(targets(imp)):
            if layer(target) > layer(importer):
                offenders.append(f"{imp.where} imports {target} (layer {layer(target)} > layer {layer(importer)})")
    if offenders:
        pytest.fail("\n".join(offenders), pytrace=False)


def test_the_emulators_import_no_product_app():
    offenders = [
        f"{imp.where} imports {imp.name} (the emulators stand alone)"
        for imp in ALL_IMPORTS
        if is_emulator(module_name(imp.path)) and first_party(imp.name) and not within(imp.name, "sandbox")
    ]
    if offenders:
        pytest.fail("\n".join(offenders), pytrace=False)


def test_few_function_level_imports_each_saying_why():
    inside = [imp for imp in ALL_IMPORTS if imp.in_function and first_party(imp.name)]
    comments = {path: commented_lines(path) for path in {imp.path for imp in inside}}
    silent = [f"{imp.where} imports {shown(imp)} inside a function with no comment saying why"
              for imp in inside if not {imp.line - 1, imp.line} & comments[imp.path]]
    too_many = [] if len(inside) <= MAX_FUNCTION_IMPORTS else [
        f"{len(inside)} function-level first-party imports, at most {MAX_FUNCTION_IMPORTS}:",
        *(f"{imp.where} imports {shown(imp)}" for imp in inside),
    ]
    if silent or too_many:
        pytest.fail("\n".join(silent + too_many), pytrace=False)

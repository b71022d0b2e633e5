"""The map in docs/architecture.md, checked: which part of `bastion` may import which (every import, also those
inside functions), no import circle between parts, and none between modules (risk/ and stark/ have none at all;
elsewhere only the known ones listed below, which issue #15 removes); the STARK verifier never imports the prover.
A new edge that breaks the one-way flow fails here."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "bastion"

# What each part may import (besides itself). Top-level modules (errors, settings, periods, bounds) are parts too.
ALLOWED: dict[str, set[str]] = {
    "stark": set(),  # the generic proof system knows nothing of exchanges
    "errors": set(),
    "periods": set(),
    "bounds": set(),
    "db": {"errors"},
    # every domain's tables by plain imports, for what needs the whole schema (tests, drafting a migration)
    "models": {"db", "access", "account", "diligence", "funds", "keys", "notify", "protection", "protection_fund",
               "risk", "stepup", "travel_rule"},
    # one Settings object gathers the domains' settings blocks: the composition root, read by service, cli and
    # sim only, so no domain (nor db) may import it
    "settings": {"funds", "protection", "notify", "diligence", "travel_rule", "errors"},
    "por": {"stark", "errors", "bounds"},
    "access": {"db", "errors", "bounds"},
    "funds": {"db", "errors", "bounds"},
    "keys": {"db", "errors", "bounds"},
    "protection": {"db", "errors", "bounds"},
    "risk": {"db", "errors", "bounds"},
    # the account security center drives the engines: freezes and locks block in risk, keys refuse frozen
    # accounts, the checklist reads protection and keys, alerts go to the notify outbox
    "account": {"db", "errors", "bounds", "risk", "keys", "protection", "access", "notify"},
    "notify": {"db", "errors", "bounds", "protection"},  # every email carries the anti-phishing code
    "diligence": {"db", "errors", "bounds", "risk", "notify"},  # account holds in risk; the user's alert
    "protection_fund": {"db", "errors", "bounds", "funds", "por"},
    # wallet ownership is checked with the reserves verifiers; alerts go through the outbox
    "travel_rule": {"db", "errors", "bounds", "periods", "por", "notify"},
    "stepup": {"db", "errors", "bounds", "risk", "protection"},  # confirms a risk decision with a second factor
    "report": {"stark", "por", "funds", "keys", "protection", "protection_fund", "risk", "diligence", "periods",
               "errors", "account", "notify", "travel_rule"},
    "service": {"db", "errors", "bounds", "settings", "periods", "access", "account", "funds", "keys", "notify", "por",
                "protection", "protection_fund", "risk", "stepup", "diligence", "travel_rule"},
    # a client of the service, over HTTP: whoever starts the service (cli, a test) hands it the client
    "sim": {"db", "errors", "bounds", "settings", "periods", "access", "funds", "keys", "por", "protection",
            "protection_fund", "risk", "diligence", "notify"},
    "cli": {"*"},  # the command line sits on top of everything
}


def _part(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _module(path: Path) -> list[str]:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ["bastion", *(parts[:-1] if parts[-1] == "__init__" else parts)]


def edges() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        part, mod = _part(path), _module(path)
        package = mod if path.name == "__init__.py" else mod[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1]
                    names = [".".join([*base, node.module] if node.module else base)]
                elif node.module:
                    names = [node.module]
            for name in names:
                bits = name.split(".")
                if bits[0] == "bastion" and len(bits) > 1 and bits[1] != part and bits[1] != "__init__":
                    out.setdefault(part, set()).add(bits[1])
    return out


def test_every_part_is_on_the_map() -> None:
    parts = {_part(p) for p in SRC.rglob("*.py")} - {"__init__", "__main__"}
    assert parts <= set(ALLOWED), f"add these to docs/architecture.md and ALLOWED: {sorted(parts - set(ALLOWED))}"


def test_imports_flow_one_way() -> None:
    bad = {
        f"{a} -> {b}"
        for a, targets in edges().items()
        for b in targets
        if "*" not in ALLOWED.get(a, set()) and b not in ALLOWED.get(a, set())
    }
    assert not bad, f"imports against the map in docs/architecture.md: {sorted(bad)}"


DOMAINS = {"access", "account", "diligence", "funds", "keys", "notify", "por", "protection", "protection_fund",
           "risk", "stepup", "travel_rule"}


def test_domains_never_import_the_web_layer_the_cli_or_the_simulator() -> None:
    # stated on its own (not only through ALLOWED) so that widening a domain's row cannot quietly allow it
    bad = {f"{a} -> {b}" for a, targets in edges().items() if a in DOMAINS for b in targets & {"service", "cli", "sim"}}
    assert not bad, f"a domain reaches up into the service, the CLI or the simulator: {sorted(bad)}"


def test_sim_never_imports_the_service() -> None:
    # the simulator drives the service over HTTP with the client its caller hands it (cli/sim_month.py)
    assert "service" not in edges().get("sim", set()), "sim imports bastion.service: talk HTTP instead"


def test_no_import_circle_between_parts() -> None:
    graph = edges()
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join([*trail[trail.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])


# ---------------------------------------------------------------------------------------- module circles
# Parts where circles between modules exist today, each owned by a slice of issue #15: a circle is tolerated only
# if all its modules lie inside one of these; a new circle anywhere else fails, and so does a part listed here
# that has none left (remove it: the list only shrinks). None today: por's (batch <-> solvency_air) went when
# the circuit was split into columns / air / logup / trace.
KNOWN_CIRCLE_PARTS: tuple[str, ...] = ()


def _modules() -> dict[str, Path]:
    return {".".join(_module(p)): p for p in SRC.rglob("*.py")}


def module_edges() -> dict[str, set[str]]:
    """Module -> the modules of `bastion` it imports (every import, also inside functions and under
    TYPE_CHECKING). `from a import b` is an edge to `a.b` when that is a module, else to `a`; importing a
    module does not count as importing its package's `__init__` (those hold docstrings only)."""
    mods = _modules()
    out: dict[str, set[str]] = {}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name in mods)
            elif isinstance(node, ast.ImportFrom):
                bits = package.split(".")
                base = ".".join(bits[: len(bits) - node.level + 1]) if node.level else ""
                name = ".".join(b for b in (base, node.module or "") if b)
                for alias in node.names:
                    if f"{name}.{alias.name}" in mods:
                        found.add(f"{name}.{alias.name}")
                    elif name in mods:
                        found.add(name)
        found.discard(mod)
        out[mod] = found
    return out


def module_circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan): each is one or more circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_module_circles_are_found() -> None:
    """The check itself: a circle through an import inside a function is found, a chain is not."""
    assert module_circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset({"a", "b", "c"})]
    assert module_circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_circle_inside_risk() -> None:
    circles = [sorted(c) for c in module_circles(module_edges()) if any(m.startswith("bastion.risk.") for m in c)]
    assert not circles, f"import circles in risk/: {circles}"


def test_no_import_circle_inside_stark() -> None:
    circles = [sorted(c) for c in module_circles(module_edges()) if any(m.startswith("bastion.stark.") for m in c)]
    assert not circles, f"import circles in stark/: {circles}"


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` imports, directly or through others."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_stark_verifier_never_imports_the_prover() -> None:
    # what both must compute lives in stark/uni/protocol.py; a verifier that reaches the prover's code could
    # come to trust what only the prover knows
    graph = module_edges()
    assert "bastion.stark.uni.prover" in graph, "the prover moved: update this test"
    assert "bastion.stark.uni.verifier" in graph, "the verifier moved: update this test"
    assert reachable({"a": {"b"}, "b": {"c"}, "c": set()}, "a") == {"b", "c"}
    assert "bastion.stark.uni.prover" not in reachable(graph, "bastion.stark.uni.verifier")


def _part_of(circle: frozenset[str]) -> str | None:
    parts = {p for p in KNOWN_CIRCLE_PARTS if all(m == p or m.startswith(p + ".") for m in circle)}
    return parts.pop() if parts else None


def test_no_new_import_circle_between_modules() -> None:
    circles = module_circles(module_edges())
    new = [sorted(c) for c in circles if _part_of(c) is None]
    gone = set(KNOWN_CIRCLE_PARTS) - {_part_of(c) for c in circles}
    assert not new, f"new import circles between modules: {new}"
    assert not gone, f"no circle left in {sorted(gone)}: remove it from KNOWN_CIRCLE_PARTS"


# ---------------------------------------------------------------------------------------- round.json
# round.json is read and written by bastion.por.format.round only (issue #15): its name and format string are
# defined there once, and no other function both names the file and parses JSON.
ROUND_MODULE = "bastion.por.format.round"
_ROUND_NAMES = {"ROUND_FILE", "round_path", "locate_round"}


def _names_round_file(nodes: list[ast.AST]) -> bool:
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and (
                sub.value == "round.json" or sub.value.endswith("/round.json")
            ):
                return True
            if isinstance(sub, ast.Name) and sub.id in _ROUND_NAMES:
                return True
            if isinstance(sub, ast.Attribute) and sub.attr in _ROUND_NAMES:
                return True
    return False


def _json_loads(node: ast.AST) -> list[ast.Call]:
    calls = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            if (isinstance(f, ast.Attribute) and f.attr in ("load", "loads") and isinstance(f.value, ast.Name)
                    and f.value.id == "json") or (isinstance(f, ast.Name) and f.id in ("load", "loads")):
                calls.append(sub)
    return calls


def round_file_parsers(source: str) -> list[str]:
    """Scopes of `source` (functions, and the module itself) where JSON is parsed from an expression that names
    round.json, directly or through a variable assigned from one (``p = d / ROUND_FILE; json.load(p.open())``)."""
    tree = ast.parse(source)
    found = []
    scopes: list[tuple[str, ast.AST]] = [("<module>", tree)]
    scopes += [(n.name, n) for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    for name, scope in scopes:
        tainted: set[str] = set()
        for _ in range(3):  # a variable assigned from one that names the file, and so on
            for sub in ast.walk(scope):
                if isinstance(sub, ast.Assign) and (_names_round_file([sub.value]) or any(
                        isinstance(n, ast.Name) and n.id in tainted for n in ast.walk(sub.value))):
                    tainted |= {t.id for t in sub.targets if isinstance(t, ast.Name)}
        for call in _json_loads(scope):
            args = [*call.args, *(k.value for k in call.keywords)]
            if _names_round_file(args) or any(isinstance(n, ast.Name) and n.id in tainted
                                              for a in args for n in ast.walk(a)):
                found.append(name)
                break
    return found


def test_round_file_check_finds_a_reader() -> None:
    """The check itself: the ways round.json used to be opened outside the format module are all caught."""
    assert round_file_parsers('import json\ndef f(d):\n    return json.loads((d / "round.json").read_text())\n')
    assert round_file_parsers('import json\ndef f(d):\n    p = d / ROUND_FILE\n    return json.load(p.open())\n')
    assert round_file_parsers('from json import loads\ndef f(d):\n    return loads(round_path(d).read_text())\n')
    assert not round_file_parsers('import json\ndef f(d):\n    ok = (d / "round.json").exists()\n'
                                  '    return ok and json.loads((d / "reserves.json").read_text())\n')


def test_round_json_is_parsed_in_one_module() -> None:
    readers = {f"{mod}.{fn}" for mod, path in _modules().items() if mod != ROUND_MODULE
               for fn in round_file_parsers(path.read_text())}
    assert not readers, f"read round.json through {ROUND_MODULE} (load_round_json / read_round): {sorted(readers)}"


def test_round_constants_are_defined_once() -> None:
    twice = set()
    for mod, path in _modules().items():
        if mod == ROUND_MODULE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                twice |= {f"{mod}.{t.id}" for t in targets if isinstance(t, ast.Name)
                          and t.id in ("ROUND_FILE", "ROUND_FORMAT", "USER_PROOF_FORMAT")}
            if isinstance(node, ast.Constant) and node.value in ("bastion-round/3", "bastion-user-proof/1"):
                twice.add(f"{mod}: {node.value!r}")
    assert not twice, f"round format names are defined in {ROUND_MODULE} only: {sorted(twice)}"


def test_the_liabilities_prover_never_imports_the_verifiers() -> None:
    """por/verify stands on the published files alone; what both sides need is in por/format (the round, the
    amounts, the leaves) or in the circuit itself, never in the verifier."""
    bad = {f"{a} -> {b}" for a, targets in module_edges().items() if a.startswith("bastion.por.liabilities")
           for b in targets if b.startswith("bastion.por.verify")}
    assert not bad, f"the prover imports the verifier: {sorted(bad)}"


def test_the_por_format_layer_imports_nothing_above_it() -> None:
    """por/format is below the prover, the verifiers and the reserves side."""
    bad = {f"{a} -> {b}" for a, targets in module_edges().items() if a.startswith("bastion.por.format")
           for b in targets if b.startswith("bastion.por.") and not b.startswith("bastion.por.format")}
    assert not bad, f"por/format reaches up: {sorted(bad)}"


# Functions (methods and nested functions too) of this many lines or more, from `def` to the last line: a reader
# cannot hold one in view. stark/ and por/ (proof kernels, measured and tuned as they are) and the migrations
# (generated, then frozen) are left out.
MAX_FUNCTION_LINES = 80
LONG_FUNCTIONS_ALLOWED_IN = ("stark/", "por/", "db/migrations/")


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int, int]]:
    """(name, first line, lines) of every function of `limit` lines or more in `source`."""
    return [(node.name, node.lineno, node.end_lineno - node.lineno + 1) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None
            and node.end_lineno - node.lineno + 1 >= limit]  # fmt: skip


def test_long_functions_are_found() -> None:
    def body(indent: int) -> str:
        return "\n".join(f"{' ' * indent}x{i} = {i}" for i in range(MAX_FUNCTION_LINES - 2))

    assert long_functions(f"def f() -> None:\n{body(4)}\n") == []  # one line short
    assert long_functions(f"async def g() -> None:\n{body(4)}\n    return None\n") == [("g", 1, MAX_FUNCTION_LINES)]
    method = f"class C:\n    def m(self) -> None:\n{body(8)}\n        return None\n"
    assert long_functions(method) == [("m", 2, MAX_FUNCTION_LINES)]


def test_no_function_of_80_lines_or_more() -> None:
    """Split a long function where a name explains the part (issue #15); behaviour stays as it was."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(LONG_FUNCTIONS_ALLOWED_IN):
            continue
        found += [f"{rel}:{line} {name} ({n} lines)" for name, line, n in long_functions(path.read_text())]
    assert not found, f"functions of {MAX_FUNCTION_LINES} lines or more: {found}"

"""The house keeps its layers: arrows point down only, no import circles, SQL only in db/, one writer per table.

Read from the source with `ast` (imports inside functions count too, and so do `importlib.import_module` and
`__import__` of a house module named in the code), so the contract holds for every code path, not just what a test
happens to import. The layers, top to bottom (design.md):

    cli > sandbox > pipeline > db > sources > core > foundation (errors, home, atomic, the package root)

plus: nothing in the product imports sandbox/ except the demo command (cli/demo.py).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "spotify_modeling"
LAYERS = ["cli", "sandbox", "pipeline", "db", "sources", "core", "foundation"]
SANDBOX_DOOR = {"spotify_modeling.cli.demo"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else "foundation"


def imports_of(path: Path) -> set[str]:
    """Every spotify_modeling module this file imports, top-level or inside a function."""
    this = module_name(path)
    return imports_in(ast.parse(path.read_text()), this, this if path.name == "__init__.py" else this.rsplit(".", 1)[0])


def imports_in(tree: ast.AST, this: str, package: str) -> set[str]:
    """The house modules a module (`this`, in `package`) imports: `import`, `from ... import` (relative too), and
    `importlib.import_module(...)` / `__import__(...)` of a name written in the code. An import whose name is only
    known at run time cannot be checked here: `dynamic_imports` refuses those."""
    out: set[str] = set()

    def resolve(base: str, level: int) -> str:
        if not level:
            return base
        anchor = package.split(".")[: len(package.split(".")) - (level - 1)]
        return ".".join(anchor + ([base] if base else []))

    def add(base: str, names: list[str]) -> None:
        if not base.startswith("spotify_modeling"):
            return
        if not names:
            out.add(base)
        for name in names:   # `from pkg import module` names a module; `from module import name` does not
            candidate = f"{base}.{name}"
            out.add(candidate if _is_module(candidate) else base)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("spotify_modeling"))
        elif isinstance(node, ast.ImportFrom):
            add(resolve(node.module or "", node.level), [a.name for a in node.names])
        elif (call := _import_call(node)) is not None:
            kind, name, extra = call
            if not isinstance(name, str):
                continue
            if kind == "import_module":   # import_module(".x", package="spotify_modeling.db") is relative to it
                level = len(name) - len(name.lstrip("."))
                anchor = extra if isinstance(extra, str) else package
                base = name if not level else ".".join(
                    anchor.split(".")[: len(anchor.split(".")) - (level - 1)] + ([name[level:]] if name[level:] else []))
                add(base, [])
            else:                         # __import__(name, globals, locals, fromlist, level)
                add(resolve(name, extra[1]), [f for f in extra[0] if isinstance(f, str)])
    return {m for m in out if m != this}


def _const(node: ast.AST | None):
    """The value of a literal (a string, a number, a list or tuple of them), else the node itself (not a literal)."""
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return node


def _import_call(node: ast.AST):
    """("import_module", name, package) or ("__import__", name, (fromlist, level)) for a call that imports a module
    by name (`importlib.import_module`, a bare `import_module`, `__import__`, `builtins.__import__`), else None. The
    name is a string when written in the code, an AST node when it is computed."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    f = node.func
    called = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
    kw = {k.arg: k.value for k in node.keywords}
    if called == "import_module":
        return "import_module", _const(node.args[0]), _const(node.args[1] if len(node.args) > 1 else kw.get("package"))
    if called == "__import__":
        fromlist = _const(node.args[3] if len(node.args) > 3 else kw.get("fromlist")) or ()
        level = _const(node.args[4] if len(node.args) > 4 else kw.get("level")) or 0
        return "__import__", _const(node.args[0]), (fromlist if isinstance(fromlist, (list, tuple)) else (),
                                                    level if isinstance(level, int) else 0)
    return None


def dynamic_imports(tree: ast.AST) -> list[str]:
    """Calls that import a module whose name is computed at run time: the layer checks could not see where they go."""
    return [ast.unparse(n)[:60] for n in ast.walk(tree)
            if (call := _import_call(n)) is not None and not isinstance(call[1], str)]


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


GRAPH = graph()


def test_the_reader_sees_the_imports_it_must():
    # guards the checks below against reading nothing: known arrows of the house
    assert "spotify_modeling.db.store" in GRAPH["spotify_modeling.pipeline.ingest"]
    assert "spotify_modeling.sandbox.demo" in GRAPH["spotify_modeling.cli.demo"]   # a lazy import, inside a function
    assert "spotify_modeling.core.featurize" in GRAPH["spotify_modeling.core.models"]
    assert layer_of("spotify_modeling.errors") == "foundation" and layer_of("spotify_modeling.db.pushes_and_labels") == "db"


def _snippet(code: str, this: str = "spotify_modeling.db.reporting") -> set[str]:
    return imports_in(ast.parse(code), this, this.rsplit(".", 1)[0])


@pytest.mark.parametrize("code, seen", [
    ("import importlib\ndef f():\n    importlib.import_module('spotify_modeling.cli.report')",
     "spotify_modeling.cli.report"),
    ("from importlib import import_module\nm = import_module('spotify_modeling.pipeline.weekly_run')",
     "spotify_modeling.pipeline.weekly_run"),
    ("import importlib\nm = importlib.import_module('..pipeline.weekly_run', package='spotify_modeling.db')",
     "spotify_modeling.pipeline.weekly_run"),
    ("import importlib\nm = importlib.import_module('.pushes_and_labels', 'spotify_modeling.db')", "spotify_modeling.db.pushes_and_labels"),
    ("m = __import__('spotify_modeling.sandbox.simulate', fromlist=['x'])", "spotify_modeling.sandbox.simulate"),
    ("m = __import__('spotify_modeling.cli', fromlist=['report'])", "spotify_modeling.cli.report"),
    ("import builtins\nm = builtins.__import__('spotify_modeling.pipeline')", "spotify_modeling.pipeline"),
], ids=["importlib", "bare import_module", "relative, package=", "relative, package second", "__import__",
        "__import__ fromlist", "builtins.__import__"])
def test_the_reader_sees_imports_by_name(code, seen):
    # an import through importlib or __import__ is an arrow like any other: `test_arrows_point_down_only` sees it
    assert seen in _snippet(code)


def test_an_import_by_a_computed_name_is_refused():
    tree = ast.parse("import importlib\nname = 'spotify_modeling.' + 'cli'\nm = importlib.import_module(name)\n"
                     "n = __import__(name)\nimportlib.import_module('json')")
    assert dynamic_imports(tree) == ["importlib.import_module(name)", "__import__(name)"]
    offenders = sorted(f"{module_name(p)}: {d}" for p in PACKAGE.rglob("*.py")
                       for d in dynamic_imports(ast.parse(p.read_text())))
    assert offenders == []


def test_arrows_point_down_only():
    rank = {name: i for i, name in enumerate(LAYERS)}
    up = sorted(f"{m} -> {t}" for m, targets in GRAPH.items() for t in targets
                if rank[layer_of(t)] < rank[layer_of(m)])
    assert up == []


def test_only_the_demo_command_opens_the_sandbox():
    doors = sorted(f"{m} -> {t}" for m, targets in GRAPH.items() for t in targets
                   if layer_of(t) == "sandbox" and layer_of(m) != "sandbox" and m not in SANDBOX_DOOR)
    assert doors == []


def test_no_import_circles():
    index, low, on_stack, stack, circles = {}, {}, set(), [], []

    def visit(v: str) -> None:   # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, ()):
            if w not in GRAPH:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    # a package's __init__ re-exporting its own modules is not a circle of the house
    circles = [c for c in circles if not all(m.startswith(min(c)) for m in c)]
    assert circles == []


SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+"
                 r"(TEMP\s+)?(TABLE|INDEX|VIEW)|PRAGMA)\b", re.S)   # the code base writes SQL in capitals
DB_CALLS = {"execute", "executemany", "executescript", "scalar", "read_sql", "read_sql_query"}


def _strings(tree: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _db_calls(tree: ast.AST) -> list[str]:
    names = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            f = n.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
            if name in DB_CALLS:
                names.append(name)
    return names


#: The one function outside db/ allowed its own SQL, by file and name, with why. Nothing else is exempt, whatever
#: its name: a new exemption is a line here that a reviewer reads.
SQL_EXEMPT = {
    ("benchmarks/speed.py", "baseline_ingest"):
        "the speed benchmark's yardstick: json.load plus one executemany into a bare table of its own, in its own "
        "file, timed beside the product's ingest; it never touches the store",
}


def sql_outside_db(rel: str, tree: ast.Module) -> list[str]:
    """The SQL strings and database calls of one file (`rel`, from the repository root), less its exempt functions."""
    exempt = {name for (path, name) in SQL_EXEMPT if path == rel}
    tree.body = [n for n in tree.body if not (isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                                              and n.name in exempt)]
    return [s[:60] for s in _strings(tree) if SQL.search(s)] + _db_calls(tree)


def test_no_sql_outside_db():
    offenders = []
    for path in list(PACKAGE.rglob("*.py")) + list((ROOT / "benchmarks").glob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("spotify_modeling/db/"):
            continue
        found = sql_outside_db(rel, ast.parse(path.read_text()))
        if found:
            offenders.append((rel, found[:3]))
    assert offenders == []


def test_the_sql_exemption_is_one_named_function():
    # each exemption names a function that exists (else it is stale, and the name is free for anything to hide in)
    for (rel, name), why in SQL_EXEMPT.items():
        tree = ast.parse((ROOT / rel).read_text())
        assert name in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)} and why
    # the name alone exempts nothing: a `baseline...` function elsewhere, or another one in the same file, is caught
    code = "def baseline_counts(conn):\n    return conn.execute('SELECT count(*) FROM plays').fetchone()\n"
    assert sql_outside_db("spotify_modeling/cli/report.py", ast.parse(code)) == ["SELECT count(*) FROM plays",
                                                                                 "execute"]
    assert sql_outside_db("benchmarks/speed.py", ast.parse(code)) != []


WRITE = re.compile(r"\b(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|DELETE\s+FROM)\s+([a-z_.]+)|\bUPDATE\s+([a-z_.]+)\s+SET\b")


def test_every_table_has_one_writer_module():
    writers: dict[str, set[str]] = {}
    for path in (PACKAGE / "db").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in list(tree.body):   # the migrations rebuild tables: schema, not writes of data
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and "MIGRATIONS" in ast.unparse(node)[:40]:
                tree.body.remove(node)
        for s in _strings(tree):
            for written in WRITE.findall(s):
                table = next(t for t in written if t)
                if not table.startswith("temp."):   # a connection's own scratch tables
                    writers.setdefault(table, set()).add(path.stem)
    tables = set(re.findall(r"CREATE TABLE (\w+)", (PACKAGE / "db" / "store.py").read_text()))
    tables = {t for t in tables if not t.endswith("_v4")}
    assert set(writers) <= tables and {"plays", "tracks", "pushes", "labels", "candidates", "kv"} <= set(writers)
    shared = {t: sorted(m) for t, m in writers.items() if len(m) > 1}
    assert shared == {}


@pytest.mark.parametrize("module", ["spotify_modeling.core.models", "spotify_modeling.core.selection.decisions",
                                    "spotify_modeling.core.targets", "spotify_modeling.core.provenance"])
def test_core_modules_do_no_io(module):
    banned = {"sqlite3", "requests", "spotipy", "urllib", "http", "socket", "subprocess"}
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    tree = ast.parse(path.read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert names & banned == set()

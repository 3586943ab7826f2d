"""The house keeps its layers: arrows point down only, no import circles, SQL only in db/, one writer per table.

Read from the source with `ast` (imports inside functions count too), so the contract holds for every code path,
not just what a test happens to import. The layers, top to bottom (design.md):

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
    tree = ast.parse(path.read_text())
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("spotify_modeling"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if not base.startswith("spotify_modeling"):
                continue
            for a in node.names:   # `from pkg import module` names a module; `from module import name` does not
                candidate = f"{base}.{a.name}"
                out.add(candidate if _is_module(candidate) else base)
    return {m for m in out if m != this}


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
    assert layer_of("spotify_modeling.errors") == "foundation" and layer_of("spotify_modeling.db.loop") == "db"


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


def _without_baselines(tree: ast.Module) -> ast.Module:
    """benchmarks/speed.py times a bare baseline (its own table in its own file, not the store): not the product."""
    tree.body = [n for n in tree.body if not (isinstance(n, ast.FunctionDef) and n.name.startswith("baseline"))]
    return tree


def test_no_sql_outside_db():
    offenders = []
    for path in list(PACKAGE.rglob("*.py")) + list((ROOT / "benchmarks").glob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("spotify_modeling/db/"):
            continue
        tree = _without_baselines(ast.parse(path.read_text()))
        found = [s[:60] for s in _strings(tree) if SQL.search(s)] + _db_calls(tree)
        if found:
            offenders.append((rel, found[:3]))
    assert offenders == []


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


@pytest.mark.parametrize("module", ["spotify_modeling.core.models", "spotify_modeling.core.selection.weekly",
                                    "spotify_modeling.core.targets", "spotify_modeling.core.provenance"])
def test_core_modules_do_no_io(module):
    banned = {"sqlite3", "requests", "spotipy", "urllib", "http", "socket", "subprocess"}
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    tree = ast.parse(path.read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert names & banned == set()

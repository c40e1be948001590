"""The import graph of the project's packages has no cycle, and no import hides in a function
to dodge one: each module can be read (and imported) on its own, below what it uses."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("competitions", "scoring", "sandbox", "uploads", "podium", "podium_compute")
# Imports a function may make: podium/celery.py's signal handlers run after Django is set
# up, which its module (loaded by `celery -A podium` before Django) cannot wait for; and
# podium/apps.py's ready() loads the Celery app once the apps are ready (Django's place for
# start-up imports), so that importing `podium.units` alone never loads Celery or Django.
LATE_IMPORT_MODULES = {"podium/celery.py", "podium/apps.py"}


def import_cycles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """Each cycle once, as the chain of modules from its smallest module back to it."""
    found: dict[frozenset[str], tuple[str, ...]] = {}
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain:
                cycle = (module, *chain)
                found.setdefault(frozenset(cycle), cycle)
    return sorted(found.values())


def test_no_import_cycle() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert import_cycles(graph) == []


def test_the_check_finds_a_cycle() -> None:
    """The check itself can fail: a graph with a -> b -> c -> a has that cycle."""
    graph = grimp.ImportGraph()
    for importer, imported in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a")):
        graph.add_import(importer=importer, imported=imported)
    assert import_cycles(graph) == [("p.a", "p.b", "p.c", "p.a")]


def test_no_first_party_import_inside_a_function() -> None:
    late = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "migrations" in path.parts or relative in LATE_IMPORT_MODULES:
                continue
            for function in ast.walk(ast.parse(path.read_text())):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(function):
                    if isinstance(node, ast.ImportFrom) and node.module:
                        names = [node.module]
                    elif isinstance(node, ast.Import):
                        names = [alias.name for alias in node.names]
                    else:
                        continue
                    late += [
                        f"{relative}:{node.lineno} {name}"
                        for name in names
                        if name.split(".")[0] in PACKAGES
                    ]
    assert late == []

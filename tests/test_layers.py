"""The package layering, checked from the source: imports point down (or across within a layer), never up,
and no two packages import each other, so the rules in docs/architecture.md stay true."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "harness"

# Lowest first; a package may import its own layer and the layers below it.
LAYERS: list[tuple[str, set[str]]] = [
    ("ground", {"core", "rundir", "cluster"}),
    ("inputs", {"registry", "modelgen", "analysis", "runtimes", "frontends", "corpus"}),
    ("instruments", {"costmodel", "power", "dut"}),
    ("devices", {"devices"}),
    ("evaluation", {"evaluation"}),
    ("outputs", {"reports", "signoff", "ledger"}),
    ("orchestration", {"runs", "compare"}),
    ("cli", {"cli"}),
]
LAYER_OF = {pkg: i for i, (_, pkgs) in enumerate(LAYERS) for pkg in pkgs}


def package_of(path: Path) -> str | None:
    """The top-level package of a module under harness/ (None for harness/__init__.py)."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else None


def imported_packages(path: Path) -> set[str]:
    """Every harness package a module imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "harness":
                names = [f"harness.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {n.split(".")[1] for n in names if n.startswith("harness.")}
    return {p for p in found if (PACKAGE / p).is_dir()}  # harness.__version__ is the package root, not a layer


def edges() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the modules that import it."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        source = package_of(path)
        if source is None or source == "data":  # shipped data (models/training/ is a script recipe, no package)
            continue
        for target in imported_packages(path) - {source}:
            graph[source][target].append(str(path.relative_to(PACKAGE.parent)))
    return graph


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert packages - set(LAYER_OF) == set(), "add the new package to LAYERS (and to docs/architecture.md)"
    assert set(LAYER_OF) - packages == set()


def upward(graph: dict[str, dict[str, list[str]]]) -> list[str]:
    """Each import of a higher layer, as 'module: package (layer) imports package (layer)'."""
    return [f"{module}: {source} ({LAYERS[LAYER_OF[source]][0]}) imports {target} ({LAYERS[LAYER_OF[target]][0]})"
            for source, targets in graph.items() for target, modules in targets.items()
            if LAYER_OF[target] > LAYER_OF[source] for module in modules]


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[str]:
    """Every import cycle between packages (within a layer: across layers, ``upward`` already reports one)."""
    found = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in graph.get(node, {}):
            if nxt == path[0]:
                found.append(" -> ".join([*path, nxt]))
            elif nxt not in path:
                visit(nxt, [*path, nxt])

    for start in graph:
        visit(start, [start])
    return found


def test_no_module_imports_a_higher_layer() -> None:
    assert upward(edges()) == []


def test_no_two_packages_import_each_other() -> None:
    assert cycles(edges()) == []


def test_the_checks_find_upward_imports_and_cycles(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from harness.cli.x import y\n\n\ndef f():\n    import harness.runs\n")
    assert imported_packages(module) == {"cli", "runs"}
    graph = {"corpus": {"cli": ["corpus/x.py"]}, "power": {"dut": ["power/a.py"]}, "dut": {"power": ["dut/b.py"]}}
    assert upward(graph) == ["corpus/x.py: corpus (inputs) imports cli (cli)"]
    assert cycles(graph) == ["power -> dut -> power", "dut -> power -> dut"]

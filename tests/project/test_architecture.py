"""The architecture is executable: fdag's imports follow its layers, with no cycle and nothing imported upwards.

Each layer is a folder (or a top-level module) of ``fdag/``; a module may import its own folder and any layer
below it. Layers listed together are peers: neither may import the other (the row engine and the backfill run
loop know nothing of each other). Every import counts, lazy ones inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[2] / "fdag"

# Lowest first: values -> declarations -> DAG/plan -> stores -> the feature log -> engines -> check / observe ->
# integrations -> the façade, then what is written against the façade as users write it: the demo (feature modules
# that `import fdag`), and the command line that runs it.
LAYERS: list[tuple[str, ...]] = [
    ("fdag.errors", "fdag._version"),
    ("fdag._values",),
    ("fdag._aggregations",),
    ("fdag._declare",),
    ("fdag._dag",),
    ("fdag._stores",),
    ("fdag._streams",),
    ("fdag._logs",),
    ("fdag._row", "fdag._backfill"),
    ("fdag._frame",),
    ("fdag._check", "fdag._observe"),
    ("fdag.integrations",),
    ("fdag",),
    ("fdag.demo",),
    ("fdag.cli",),
    ("fdag.__main__",),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    """The layer unit a module belongs to: its folder (``fdag._dag``) or itself (``fdag.cli``)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def rank_of(unit: str) -> int:
    for rank, units in enumerate(LAYERS):
        if unit in units:
            return rank
    raise AssertionError(f"{unit} is in no layer: add it to LAYERS in {__file__}")


def imports_of(path: Path) -> set[str]:
    """Every fdag module ``path`` imports, anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "fdag"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("fdag"):
            found.add(node.module)
            for alias in node.names:  # `from fdag._dag import validate` imports the module fdag._dag.validate
                candidate = f"{node.module}.{alias.name}"
                if (PACKAGE.parent / candidate.replace(".", "/")).with_suffix(".py").exists():
                    found.add(candidate)
    return found


GRAPH = nx.DiGraph()
for file in sorted(PACKAGE.rglob("*.py")):
    GRAPH.add_node(module_name(file))
    for target in imports_of(file):
        GRAPH.add_edge(module_name(file), target)


def test_every_module_is_in_a_layer() -> None:
    for module in GRAPH:
        rank_of(unit_of(module))


def cycles_of(graph: nx.DiGraph) -> list[list[str]]:
    """Import cycles between modules (a package ``__init__`` re-exporting its own modules is not one)."""
    inits = {m for m in graph if m != "fdag" and (PACKAGE.parent / m.replace(".", "/") / "__init__.py").exists()}
    return list(nx.simple_cycles(graph.subgraph(m for m in graph if m not in inits).copy()))


def upward_imports(graph: nx.DiGraph) -> list[str]:
    """Every import of a layer that is not below the importer's (its own folder excepted)."""
    found = []
    for module, target in graph.edges:
        unit, target_unit = unit_of(module), unit_of(target)
        if target_unit != unit and rank_of(target_unit) >= rank_of(unit):
            found.append(f"{module} imports {target}: {target_unit} is not below {unit} (see LAYERS)")
    return sorted(found)


def test_no_import_cycle() -> None:
    assert cycles_of(GRAPH) == []


def test_imports_only_downwards() -> None:
    assert upward_imports(GRAPH) == []


def test_the_rules_catch_what_they_forbid() -> None:
    broken = GRAPH.copy()
    broken.add_edge("fdag._stores.memory", "fdag._row.driver")  # a store reaching up into an engine
    broken.add_edge("fdag._row.driver", "fdag._backfill.job")  # peers importing each other
    broken.add_edge("fdag._dag.plan", "fdag._dag.dag")  # with dag -> plan: a cycle inside one layer
    assert len(upward_imports(broken)) == 2
    assert cycles_of(broken)


# Test folders that are not one package folder: behaviour across engines, the project as a whole, and the
# ready-to-run entry points of drivers/.
CROSS_CUTTING = {"engines", "project", "drivers"}
SUPPORT = {"resources", "snapshots", "__pycache__"}


def test_tests_mirror_the_package() -> None:
    """Every package folder has its test folder (``fdag/_stores`` -> ``tests/stores``, ``fdag/cli.py`` ->
    ``tests/cli``), every test folder names a package folder or a cross-cutting concern, and test files live in
    those folders, not loose at the top."""
    tests = PACKAGE.parent / "tests"
    folders = {p.name for p in tests.iterdir() if p.is_dir()} - SUPPORT
    units = {unit.split(".")[-1].lstrip("_") for layer in LAYERS for unit in layer
             if unit not in ("fdag", "fdag.errors", "fdag._version", "fdag.__main__")}
    assert units - folders == set(), f"package folders without tests: {sorted(units - folders)}"
    assert folders - units - CROSS_CUTTING == set(), f"test folders of no package folder: {folders - units}"
    assert sorted(p.name for p in tests.glob("test_*.py")) == [], "put test files in the folder they test"

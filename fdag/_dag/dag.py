"""The DAG: typed nodes discovered from modules, validated once, with versions, lineage and DOT."""

from __future__ import annotations

import graphlib
import heapq
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, ModuleType

from fdag._dag import validate as rules
from fdag._dag.discovery import discover, module_functions
from fdag._dag.dot import dag_to_dot, render_dot
from fdag._dag.lineage import Lineage
from fdag._dag.node import AS_OF, Node
from fdag._dag.plan import Plan, build_plan
from fdag._dag.versions import compute_versions
from fdag._declare.source import Source
from fdag._values.types import FType
from fdag.errors import DagError, DeclarationTypeError, Problem


class Dag:
    """A validated DAG of features. Build it with ``Dag.from_modules(module, ...)``.

    Example::

        dag = fdag.Dag.from_modules(fraud)
        dag.version("amount_vs_mean_10d"); print(dag.to_dot())
    """

    def __init__(self, nodes: Mapping[str, Node], problems: Iterable[Problem] = ()) -> None:
        found = list(problems)
        self._parents = {name: [p for p in node.params if p in nodes] for name, node in nodes.items()}
        order = _topological_order(self._parents)
        inputs, input_problems = rules.input_types(nodes)
        found += [
            *rules.reserved_as_of(nodes.values()),
            *(rules.cycles(self._parents, nodes) if order is None else ()),
            *rules.edge_types(nodes),
            *input_problems,
        ]
        if found or order is None:
            raise DagError(found)
        self._order = order
        self.nodes: Mapping[str, Node] = MappingProxyType({name: nodes[name] for name in self._order})
        self.inputs: Mapping[str, FType] = MappingProxyType(inputs)
        self._versions = compute_versions(self._order, nodes)
        self._lineage: dict[str, Lineage] = {}

    @classmethod
    def from_modules(cls, *modules: ModuleType) -> Dag:
        """Discover every public function defined in ``modules`` and validate the DAG, listing every problem."""
        if not modules:
            raise DagError([Problem("<none>", "", "cannot be built: no modules were given",
                                    "pass the modules that define your features")])
        for position, module in enumerate(modules):
            if not isinstance(module, ModuleType):
                raise DeclarationTypeError(f"modules[{position}]", module, "is not a module",
                                           "pass imported modules, e.g. Dag.from_modules(fraud) after 'import "
                                           "fraud' (importlib.import_module(name) imports one by name)")
        problems: list[Problem] = []
        by_name: dict[str, list[Node]] = {}
        for module in modules:
            for func in module_functions(module, problems):
                for node in discover(func, problems):
                    by_name.setdefault(node.name, []).append(node)
        problems += rules.duplicate_names(by_name)
        return cls({name: found[0] for name, found in by_name.items()}, problems)

    @property
    def sources(self) -> Mapping[str, Source]:
        """Every source a window or lookup node of this DAG reads, by name."""
        return {n.source.name: n.source for n in self.nodes.values() if n.source is not None}

    def version(self, name: str) -> str:
        """Short hash of the node's code, decorator arguments and upstream versions."""
        self._require([name])
        return self._versions[name]

    def upstream(self, name: str) -> list[str]:
        """Every node ``name`` depends on, directly or not, in dependency order."""
        self._require([name])
        ancestors = self._ancestors(name)
        return [n for n in self._order if n in ancestors]

    def lineage(self, name: str) -> Lineage:
        """Which upstream nodes, request inputs and sources (with versions) the node is made from."""
        self._require([name])
        if name not in self._lineage:
            upstream = self.upstream(name)
            reads = [self.nodes[n] for n in [*upstream, name]]
            params = {p for node in reads for p in node.params}
            sources = {n.source.name: n.source.key for n in reads if n.source is not None}
            inputs = {p: str(self.inputs[p]) for p in sorted(params) if p in self.inputs}
            if AS_OF in params:
                inputs[AS_OF] = "datetime"
            self._lineage[name] = Lineage(name, self._versions[name], {n: self._versions[n] for n in upstream},
                                          inputs, sources, dict(self.nodes[name].tags))
        return self._lineage[name]

    def plan(self, outputs: Iterable[str] | None = None) -> Plan:
        """The slice of the DAG that ``outputs`` need (all nodes when ``None``); unknown names raise ``DagError``."""
        if isinstance(outputs, str):
            wanted: tuple[str, ...] = (outputs,)
        elif outputs is None or isinstance(outputs, Iterable):
            wanted = tuple(self._order if outputs is None else outputs)
        else:
            raise DeclarationTypeError("outputs", outputs, "is not a list of feature names",
                                       "pass e.g. outputs=['amount_sum_1h'], or None for every feature")
        self._require(wanted)
        needed = set(wanted).union(*map(self._ancestors, wanted))
        lineage = {name: self.lineage(name) for name in wanted}
        return build_plan(wanted, self._order, self.nodes, self.inputs, needed, lineage, self._versions)

    def to_dot(self, outputs: Iterable[str] | None = None) -> str:
        """Deterministic DOT source of the DAG (or of what ``outputs`` need): same bytes on every run."""
        plan = self.plan(outputs)
        return dag_to_dot(plan)

    def render(self, path: str | Path, outputs: Iterable[str] | None = None) -> Path:
        """Render to an image with Graphviz; the format follows the suffix (``.svg``, ``.png``, ``.pdf``)."""
        return render_dot(self.to_dot(outputs), Path(path))

    def _repr_svg_(self) -> str | None:
        """Inline SVG for notebooks (None without Graphviz's ``dot`` program: the notebook shows the text repr)."""
        if shutil.which("dot") is None:
            return None
        import graphviz

        return graphviz.Source(self.to_dot()).pipe(format="svg").decode()

    def _ancestors(self, name: str) -> set[str]:
        """Every node ``name`` depends on, directly or not."""
        found: set[str] = set()
        todo = list(self._parents[name])
        while todo:
            parent = todo.pop()
            if parent not in found:
                found.add(parent)
                todo += self._parents[parent]
        return found

    def _require(self, names: Iterable[str]) -> None:
        problems = rules.unknown_outputs(names, self.nodes)
        if problems:
            raise DagError(problems)

    def __repr__(self) -> str:
        return f"Dag({len(self.nodes)} nodes, inputs={list(self.inputs)})"


def _topological_order(parents: Mapping[str, Sequence[str]]) -> list[str] | None:
    """Dependencies first, the smallest name first among the ready nodes (so the order is deterministic);
    ``None`` when there is a cycle (``validate.cycles`` then names it)."""
    sorter = graphlib.TopologicalSorter(parents)
    try:
        sorter.prepare()
    except graphlib.CycleError:
        return None
    ready = list(sorter.get_ready())
    heapq.heapify(ready)
    order = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        sorter.done(name)
        for child in sorter.get_ready():
            heapq.heappush(ready, child)
    return order

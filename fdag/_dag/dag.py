"""The DAG: typed nodes discovered from modules, validated once, with versions, lineage and DOT."""

from __future__ import annotations

import difflib
import graphlib
import heapq
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

from fdag._dag import inputs as input_rules
from fdag._dag import validate as rules
from fdag._dag.checks import with_checks
from fdag._dag.discovery import discover, module_functions
from fdag._dag.dot import dag_to_dot, render_dot
from fdag._dag.lineage import Lineage
from fdag._dag.node import AS_OF, Node
from fdag._dag.plan import Plan, build_plan
from fdag._dag.variants import choose
from fdag._dag.versions import compute_versions
from fdag._declare.source import Source
from fdag._values.types import FType
from fdag.errors import DagError, DeclarationError, DeclarationTypeError, Problem


class Dag:
    """A validated DAG of features. Build it with ``Dag.from_modules(module, ...)``.

    Every public function defined in the modules is a node named like the function; each parameter is the node
    of that name or, when no function produces it, a request input (``inputs``). Building checks the whole DAG
    at once (annotations, types on every edge, cycles, names, ``as_of``) and raises one ``DagError`` listing
    every problem. The DAG is immutable: both engines run plans sliced from it.

    Parameters
    ----------
    nodes
        Name → ``Node``, as discovery made them (``from_modules`` is the way to build one).
    problems
        Problems discovery already found; they are raised together with the DAG's own.
    config
        The config the nodes were resolved with (``dag.config``); a key named like a node is a problem.

    Example::

        import fdag
        from fdag.demo import fraud

        dag = fdag.Dag.from_modules(fraud)
        print(len(dag.nodes), sorted(dag.inputs))   # 17 ['amount', 'merchant', 'user_id']
        print(dag.upstream("burst_ratio"))          # ['spend_count_1h', 'spend_count_5m']
    """

    def __init__(self, nodes: Mapping[str, Node], problems: Iterable[Problem] = (),
                 config: Mapping[str, Any] | None = None) -> None:
        found = list(problems)
        self._parents = {name: [p for p in node.params if p in nodes] for name, node in nodes.items()}
        order = _topological_order(self._parents)
        inputs, input_problems = rules.input_types(nodes)
        defaults, default_problems = input_rules.input_defaults(nodes, inputs)
        found += [
            *rules.reserved_as_of(nodes.values()),
            *rules.source_names(nodes.values()),
            *rules.source_keys(nodes.values()),
            *(rules.cycles(self._parents, nodes) if order is None else ()),
            *rules.edge_types(nodes),
            *input_problems,
            *default_problems,
            *input_rules.missed_refs(nodes),
            *input_rules.config_collisions(nodes, config or {}),
        ]
        if found or order is None:
            raise DagError(found)
        input_rules.warn_typos(inputs, nodes)
        self._order = order
        self.nodes: Mapping[str, Node] = MappingProxyType({name: nodes[name] for name in self._order})
        self.inputs: Mapping[str, FType] = MappingProxyType(inputs)
        self.defaults: Mapping[str, Any] = MappingProxyType(defaults)
        self.config: Mapping[str, Any] = MappingProxyType(dict(config or {}))
        self._versions = compute_versions(self._order, nodes)
        self._lineage: dict[str, Lineage] = {}

    @classmethod
    def from_modules(cls, *modules: ModuleType, config: Mapping[str, Any] | None = None) -> Dag:
        """Discover every public function defined in ``modules`` and validate the DAG, listing every problem.

        Imported functions, ``_private`` helpers and ``@fdag.exclude`` functions are not nodes. A name defined by
        two modules is a problem. With ``config``, each node's ``@fdag.config`` variants are resolved (exactly one
        must apply) and a parameter named like a config key receives that key's value.

        Parameters
        ----------
        modules
            The feature modules, at least one.
        config
            Config key → value, read by ``@fdag.config.when`` variants and by parameters of the key's name.

        Example::

            import fdag
            from fdag.demo import fraud, payment

            dag = fdag.Dag.from_modules(payment)
            try:
                fdag.Dag.from_modules(fraud, payment)    # both define hour_of_day
            except fdag.DagError as error:
                print(error.problems[0].feature)          # hour_of_day
        """
        if not modules:
            raise DagError([Problem("<none>", "", "cannot be built: no modules were given",
                                    "pass the modules that define your features")])
        for position, module in enumerate(modules):
            if not isinstance(module, ModuleType):
                raise DeclarationTypeError(f"modules[{position}]", module, "is not a module",
                                           "pass imported modules, e.g. Dag.from_modules(fraud) after 'import "
                                           "fraud' (importlib.import_module(name) imports one by name)")
        if config is not None and not (isinstance(config, Mapping) and all(isinstance(k, str) for k in config)):
            raise DeclarationTypeError("config", config, "is not a mapping of config key (str) to value",
                                       "pass e.g. config={'region': 'eu'}")
        settings = dict(config or {})
        problems: list[Problem] = []
        by_name: dict[str, list[Node]] = {}
        for module in modules:
            for chosen in choose(module_functions(module, problems), settings, problems):
                for node in discover(chosen.function, problems, chosen.name, settings, chosen.variant):
                    by_name.setdefault(node.name, []).append(with_checks(node, problems))
        problems += rules.duplicate_names(by_name)
        return cls({name: found[0] for name, found in by_name.items()}, problems, settings)

    @property
    def sources(self) -> Mapping[str, Source]:
        """Every source a window or lookup node of this DAG reads, by name."""
        return {n.source.name: n.source for n in self.nodes.values() if n.source is not None}

    def version(self, name: str) -> str:
        """Short hash of the node's code, decorator arguments and upstream versions.

        Twelve hex digits over the normalised code (syntax tree without docstring, comments or layout), the module
        constants and private helpers it reads, its decorator arguments, its type and its upstream versions:
        changing one function changes its version and every version downstream, nothing else.

        Parameters
        ----------
        name
            A node of the DAG (``DagError`` otherwise).
        """
        self._require([name])
        return self._versions[name]

    def upstream(self, name: str) -> list[str]:
        """Every node ``name`` depends on, directly or not, in dependency order.

        Parameters
        ----------
        name
            A node of the DAG (``DagError`` otherwise).
        """
        self._require([name])
        ancestors = self._ancestors(name)
        return [n for n in self._order if n in ancestors]

    def lineage(self, name: str) -> Lineage:
        """Which upstream nodes, request inputs and sources (with versions) the node is made from.

        Parameters
        ----------
        name
            A node of the DAG (``DagError`` otherwise).

        Example::

            import fdag
            from fdag.demo import fraud

            lineage = fdag.Dag.from_modules(fraud).lineage("burst_ratio")
            print(sorted(lineage.upstream))   # ['spend_count_1h', 'spend_count_5m']
            print(lineage.sources)            # {'transactions': 'user_id'}: the source and its key
        """
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

    def plan(self, outputs: Iterable[str] | None = None, overrides: Iterable[str] = ()) -> Plan:
        """The slice of the DAG that ``outputs`` need (all nodes when ``None``); unknown names raise ``DagError``.

        The plan is immutable and is what ``RowDriver`` and ``FrameDriver`` compile; neither engine sees the rest.
        An overridden node is read from the request (or spine) like an input, and what only it needed is left out.

        Parameters
        ----------
        outputs
            The features wanted, in order (a single name is read as one output); ``None``: every node.
        overrides
            Nodes whose values the requests give (Hamilton's overrides).
        """
        try:
            wanted = (outputs,) if isinstance(outputs, str) else tuple(self._order if outputs is None else outputs)
        except TypeError:  # not iterable (a 0-d numpy array claims to be)
            raise DeclarationTypeError("outputs", outputs, "is not a list of feature names",
                                       "pass e.g. outputs=['amount_sum_1h'], or None for every feature") from None
        self._require(wanted)
        replaced = self._overrides(overrides)
        needed: set[str] = set()
        todo = list(wanted)
        while todo:
            name = todo.pop()
            if name not in needed:
                needed.add(name)
                if name not in replaced:
                    todo += self._parents[name]
        lineage = {name: self.lineage(name) for name in wanted}
        return build_plan(wanted, self._order, self.nodes, self.inputs, needed, lineage, self._versions,
                          self.defaults, replaced)

    def _overrides(self, overrides: Iterable[str]) -> frozenset[str]:
        if isinstance(overrides, str):
            overrides = (overrides,)
        try:
            names = tuple(overrides)
        except TypeError:
            raise DeclarationTypeError("overrides", overrides, "is not a list of node names",
                                       "pass e.g. overrides=['log_amount']") from None
        for name in names:
            if not isinstance(name, str) or name not in self.nodes:
                close = difflib.get_close_matches(name, list(self.nodes), n=3) if isinstance(name, str) else []
                hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else \
                    "name nodes of the DAG whose values the request gives"
                raise DeclarationError("overrides", list(names), f"names {name!r}, which is no node", hint)
        return frozenset(names)

    def to_dot(self, outputs: Iterable[str] | None = None) -> str:
        """Deterministic DOT source of the DAG (or of what ``outputs`` need): same bytes on every run.

        Request inputs are ellipses, sources are their own nodes, features are boxes whose tooltip holds their tags,
        version and ``file:line``.

        Parameters
        ----------
        outputs
            Draw only these features and what they need; ``None``: the whole DAG.
        """
        plan = self.plan(outputs)
        return dag_to_dot(plan)

    def render(self, path: str | Path, outputs: Iterable[str] | None = None) -> Path:
        """Render to an image with Graphviz; the format follows the suffix (``.svg``, ``.png``, ``.pdf``).

        Needs Graphviz's ``dot`` program; ``.dot`` writes the DOT text itself. Returns the path written.

        Parameters
        ----------
        path
            The file to write; its suffix picks the format.
        outputs
            Draw only these features and what they need; ``None``: the whole DAG.

        Example::

            import fdag
            from fdag.demo import payment

            fdag.Dag.from_modules(payment).render("payment.svg", outputs=["risk_score"])
        """
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

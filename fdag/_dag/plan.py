"""The execution plan: the immutable slice of a DAG that some outputs need, read by both engines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fdag._dag.lineage import Lineage
from fdag._dag.node import AS_OF, Node
from fdag._dag.specs import LookupSpec, WindowSpec
from fdag._declare.source import Source
from fdag._values.types import FType


@dataclass(frozen=True)
class Clocks:
    """What caps a node's as-of below the request's ``as_of``: the watermark of each window source upstream, and
    the as-of of each lookup value upstream (the timestamp of the row it read)."""

    sources: frozenset[str] = frozenset()
    lookups: frozenset[str] = frozenset()

    def __or__(self, other: Clocks) -> Clocks:
        return Clocks(self.sources | other.sources, self.lookups | other.lookups)

    def __bool__(self) -> bool:
        """Whether anything caps the as-of: false for a node computed from request inputs alone."""
        return bool(self.sources or self.lookups)


@dataclass(frozen=True)
class Plan:
    """What to compute for ``outputs``: the needed nodes in dependency order, inputs, windows, lookups, lineage."""

    outputs: tuple[str, ...]
    nodes: tuple[Node, ...]  # topological order; only what the outputs need
    inputs: Mapping[str, FType]  # request inputs the nodes read (``as_of`` excluded), overridden nodes included
    uses_as_of: bool
    windows: Mapping[str, tuple[WindowSpec, ...]]  # source name -> its window nodes' specs
    lookups: Mapping[str, tuple[LookupSpec, ...]]  # source name -> its lookup nodes' specs
    sources: Mapping[str, Source]  # every source a window or lookup reads
    clocks: Mapping[str, Clocks]  # node -> what caps its as-of
    lineage: Mapping[str, Lineage]
    versions: Mapping[str, str]
    defaults: Mapping[str, Any] = field(default_factory=dict)  # optional inputs -> the value when absent
    overrides: frozenset[str] = frozenset()  # nodes read from the request instead of computed

    @property
    def node_names(self) -> tuple[str, ...]:
        """Names of the planned nodes, in order."""
        return tuple(node.name for node in self.nodes)


def build_plan(
    outputs: tuple[str, ...],
    order: list[str],
    nodes: Mapping[str, Node],
    inputs: Mapping[str, FType],
    needed: set[str],
    lineage: Mapping[str, Lineage],
    versions: Mapping[str, str],
    defaults: Mapping[str, Any],
    overrides: frozenset[str] = frozenset(),
) -> Plan:
    """Assemble the plan for ``needed`` nodes (the outputs and everything upstream of them); the ``overrides``
    among them are request inputs of their node's type."""
    planned = tuple(nodes[name] for name in order if name in needed and name not in overrides)
    params = {param for node in planned for param in node.params} | (needed & overrides)
    inputs = {**inputs, **{name: nodes[name].returns for name in order if name in needed & overrides}}
    windows: dict[str, list[WindowSpec]] = {}
    lookups: dict[str, list[LookupSpec]] = {}
    sources: dict[str, Source] = {}
    clocks: dict[str, Clocks] = {name: Clocks() for name in needed & overrides}
    for node in planned:
        if node.window is not None:
            windows.setdefault(node.window.source.name, []).append(node.window)
            clocks[node.name] = Clocks(sources=frozenset([node.window.source.name]))
        elif node.lookup is not None:
            lookups.setdefault(node.lookup.source.name, []).append(node.lookup)
            clocks[node.name] = Clocks(lookups=frozenset([node.name]))
        else:
            clocks[node.name] = Clocks()
            for param in node.params:
                clocks[node.name] |= clocks.get(param, Clocks())
        if node.source is not None:
            sources[node.source.name] = node.source
    return Plan(
        outputs=outputs,
        nodes=planned,
        inputs={name: ftype for name, ftype in inputs.items() if name in params},
        uses_as_of=AS_OF in params,
        windows={name: tuple(specs) for name, specs in windows.items()},
        lookups={name: tuple(specs) for name, specs in lookups.items()},
        sources=sources,
        clocks=clocks,
        lineage={name: lineage[name] for name in outputs},
        versions={node.name: versions[node.name] for node in planned},
        defaults={name: value for name, value in defaults.items() if name in params},
        overrides=frozenset(needed & overrides),
    )

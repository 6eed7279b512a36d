"""The execution plan: the immutable slice of a DAG that some outputs need, read by both engines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from fdag._dag.lineage import Lineage
from fdag._dag.node import AS_OF, Node
from fdag._dag.specs import WindowSpec, clock_spec
from fdag._declare.source import Source
from fdag._values.types import FType


@dataclass(frozen=True)
class WindowGroup:
    """Specs over one source queried at one instant: ``as_of`` for windows, ``as_of - lag`` for lookups."""

    source: Source
    lag: timedelta
    specs: tuple[WindowSpec, ...]


@dataclass(frozen=True)
class Plan:
    """What to compute for ``outputs``: the needed nodes in dependency order, inputs, windows and lineage."""

    outputs: tuple[str, ...]
    nodes: tuple[Node, ...]  # topological order; only what the outputs need
    inputs: Mapping[str, FType]  # request inputs the nodes read (``as_of`` excluded)
    uses_as_of: bool
    windows: Mapping[str, tuple[WindowSpec, ...]]  # source name -> its window and lookup nodes' specs
    groups: tuple[WindowGroup, ...]  # what the engines compute: the specs above plus lookup clocks, by instant
    sources: Mapping[str, Source]
    # node -> the clocks capping its as-of: a source name (its watermark) or a lookup clock spec (its row's time)
    clocks: Mapping[str, frozenset[str]]
    lineage: Mapping[str, Lineage]
    versions: Mapping[str, str]

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
) -> Plan:
    """Assemble the plan for ``needed`` nodes (the outputs and everything upstream of them)."""
    planned = tuple(nodes[name] for name in order if name in needed)
    params = {param for node in planned for param in node.params}
    windows: dict[str, list[WindowSpec]] = {}
    groups: dict[tuple[str, timedelta], list[WindowSpec]] = {}
    sources: dict[str, Source] = {}
    clocks: dict[str, frozenset[str]] = {}
    for node in planned:
        spec = node.window
        if spec is None:
            clocks[node.name] = frozenset().union(*(clocks.get(p, frozenset()) for p in node.params))
            continue
        windows.setdefault(spec.source.name, []).append(spec)
        sources[spec.source.name] = spec.source
        group = groups.setdefault((spec.source.name, spec.lag or timedelta(0)), [])
        group.append(spec)
        if spec.lag is None:
            clocks[node.name] = frozenset([spec.source.name])
        else:
            clock = clock_spec(spec)
            group.append(clock)
            clocks[node.name] = frozenset([clock.node])
    return Plan(
        outputs=outputs,
        nodes=planned,
        inputs={name: ftype for name, ftype in inputs.items() if name in params},
        uses_as_of=AS_OF in params,
        windows={name: tuple(specs) for name, specs in windows.items()},
        groups=tuple(WindowGroup(sources[name], lag, tuple(specs)) for (name, lag), specs in groups.items()),
        sources=sources,
        clocks=clocks,
        lineage={name: lineage[name] for name in outputs},
        versions={node.name: versions[node.name] for node in planned},
    )

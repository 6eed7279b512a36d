"""The execution plan: the immutable slice of a DAG that some outputs need, read by both engines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fdag._lineage import Lineage
from fdag._node import AS_OF, Node
from fdag._source import Source
from fdag._types import FType
from fdag._window import WindowSpec


@dataclass(frozen=True)
class Plan:
    """What to compute for ``outputs``: the needed nodes in dependency order, inputs, windows and lineage."""

    outputs: tuple[str, ...]
    nodes: tuple[Node, ...]  # topological order; only what the outputs need
    inputs: Mapping[str, FType]  # request inputs the nodes read (``as_of`` excluded)
    uses_as_of: bool
    windows: Mapping[str, tuple[WindowSpec, ...]]  # source name -> its window specs in this plan
    sources: Mapping[str, Source]
    upstream_sources: Mapping[str, frozenset[str]]  # node -> sources its value depends on (for as-of)
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
    sources: dict[str, Source] = {}
    upstream_sources: dict[str, frozenset[str]] = {}
    for node in planned:
        if node.window is not None:
            source = node.window.source
            windows.setdefault(source.name, []).append(node.window)
            sources[source.name] = source
            upstream_sources[node.name] = frozenset([source.name])
        else:
            upstream_sources[node.name] = frozenset().union(
                *(upstream_sources.get(p, frozenset()) for p in node.params)
            )
    return Plan(
        outputs=outputs,
        nodes=planned,
        inputs={name: ftype for name, ftype in inputs.items() if name in params},
        uses_as_of=AS_OF in params,
        windows={name: tuple(specs) for name, specs in windows.items()},
        sources=sources,
        upstream_sources=upstream_sources,
        lineage={name: lineage[name] for name in outputs},
        versions={node.name: versions[node.name] for node in planned},
    )

"""DAG validation: one small rule per function, each returning the problems it finds (never raising)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence

from fdag._dag.node import AS_OF, Node
from fdag._values.types import FType
from fdag.errors import Problem


def duplicate_names(functions_by_name: Mapping[str, list[Node]]) -> list[Problem]:
    """A node name defined by more than one function (across modules, or by a window grid)."""
    problems = []
    for name, nodes in functions_by_name.items():
        if len(nodes) > 1:
            places = ", ".join(n.location for n in nodes)
            problems.append(Problem(name, nodes[0].location, f"is defined {len(nodes)} times ({places})",
                                    "rename one of them; a node name must be unique across modules"))
    return problems


def reserved_as_of(nodes: Iterable[Node]) -> list[Problem]:
    """``as_of`` is the request instant; no feature may produce it."""
    return [
        Problem(AS_OF, n.location, "is reserved for the request instant and cannot be a feature",
                "rename the function; read the instant by taking an 'as_of: datetime' parameter")
        for n in nodes
        if n.name == AS_OF
    ]


def source_names(nodes: Iterable[Node]) -> list[Problem]:
    """Two different ``Source`` objects under one name: ``sources={name: ...}`` and ``ingest(name, ...)`` could not
    tell them apart (one object read by several nodes is one source)."""
    first: dict[str, Node] = {}
    problems = []
    for node in nodes:
        source = node.source
        if source is None:
            continue
        seen = first.setdefault(source.name, node)
        if seen.source is not source:
            problems.append(Problem(node.name, node.location, f"reads a source named '{source.name}' but "
                                    f"'{seen.name}' ({seen.location}) reads another source of that name",
                                    "give each Source its own name, or read one Source object from both"))
    return problems


def source_keys(nodes: Iterable[Node]) -> list[Problem]:
    """A source keyed by a column named ``as_of``: the request input would be the request instant."""
    return [
        Problem(n.name, n.location, f"reads source '{n.source.name}' whose key column is named '{AS_OF}', which "
                "is reserved for the request instant", "rename the key column (e.g. with pl.col('as_of')"
                ".alias(...)) and declare the Source with that key")
        for n in nodes
        if n.source is not None and n.source.key == AS_OF
    ]


def edge_types(nodes: Mapping[str, Node]) -> list[Problem]:
    """Every parameter fed by a node must accept that node's return type (``int`` widens to ``float``)."""
    problems = []
    for node in nodes.values():
        for param, wanted in node.params.items():
            producer = nodes.get(param)
            if producer is None or wanted.accepts(producer.returns):
                continue
            if producer.returns.optional and wanted.nullable().accepts(producer.returns):
                hint = f"annotate the parameter as '{wanted.nullable()}' or make '{param}' non-optional"
            else:
                hint = f"annotate the parameter as '{producer.returns}' or change what '{param}' returns"
            problems.append(Problem(node.name, node.location, f"takes '{param}: {wanted}' but '{param}' returns "
                                    f"'{producer.returns}'", hint))
    return problems


def input_types(nodes: Mapping[str, Node]) -> tuple[dict[str, FType], list[Problem]]:
    """The request inputs (parameters no node produces) with one agreed type each."""
    seen: dict[str, tuple[FType, Node]] = {}
    problems = []
    for node in nodes.values():
        for param, wanted in node.params.items():
            if param in nodes or param == AS_OF:
                continue
            if param not in seen:
                seen[param] = (wanted, node)
                continue
            first, first_node = seen[param]
            if first.required() != wanted.required():
                problems.append(Problem(node.name, node.location, f"takes input '{param}: {wanted}' but "
                                        f"'{first_node.name}' ({first_node.location}) takes '{param}: {first}'",
                                        "give the input one type everywhere"))
            elif wanted.optional and not first.optional:
                seen[param] = (wanted, node)
    return {name: ftype for name, (ftype, _) in sorted(seen.items())}, problems


def cycles(parents: Mapping[str, Sequence[str]], nodes: Mapping[str, Node]) -> list[Problem]:
    """Each cycle once, with its path (``a -> b -> a``); ``parents`` maps each node to the nodes it reads."""
    import networkx as nx  # here, not at the top: only a DAG with a cycle pays for importing it

    graph = nx.DiGraph()
    for name, names in parents.items():
        graph.add_node(name)
        graph.add_edges_from((parent, name) for parent in names)
    problems = []
    for component in nx.strongly_connected_components(graph):
        members = sorted(component)
        if len(members) == 1 and not graph.has_edge(members[0], members[0]):
            continue
        names = [edge[0] for edge in nx.find_cycle(graph.subgraph(members), source=members[0])]
        start = names.index(min(names))  # rotate so the same cycle always reads the same
        names = names[start:] + names[:start]
        path = " -> ".join([*names, names[0]])
        first = nodes[names[0]]
        problems.append(Problem(first.name, first.location, f"is part of a cycle: {path}",
                                "a feature cannot depend on itself; break the cycle by renaming a parameter"))
    return problems


def unknown_outputs(requested: Iterable[str], nodes: Mapping[str, Node]) -> list[Problem]:
    """Requested outputs that are not nodes, with the closest known names."""
    problems = []
    for name in requested:
        if not isinstance(name, str):
            problems.append(Problem(repr(name), "", f"is requested as an output but is a {type(name).__name__}, "
                                    "not a feature name", "name outputs with str"))
        elif name not in nodes:
            close = difflib.get_close_matches(name, list(nodes), n=3)
            hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else "ask for a feature of the DAG"
            problems.append(Problem(name, "", "is requested as an output but no function defines it", hint))
    return problems

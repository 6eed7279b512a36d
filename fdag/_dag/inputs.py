"""Rules about request inputs: optional ones (parameter defaults), refs that miss a node, likely typos."""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping
from typing import Any

from fdag._dag.node import AS_OF, Node
from fdag.errors import LikelyTypoWarning, Problem

_NO_DEFAULT = object()


def input_defaults(nodes: Mapping[str, Node], inputs: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """The optional request inputs and their defaults: an input is optional when every node reading it gives its
    parameter a default, and those defaults agree; a request or spine without it reads the default."""
    seen: dict[str, list[tuple[Node, Any]]] = {}
    for node in nodes.values():
        for param in node.params:
            if param in inputs:
                seen.setdefault(param, []).append((node, node.defaults.get(param, _NO_DEFAULT)))
    defaults, problems = {}, []
    for name, readers in seen.items():
        given = [(node, value) for node, value in readers if value is not _NO_DEFAULT]
        if len(given) < len(readers):
            continue  # some reader needs it: required (as in Hamilton)
        first_node, first = given[0]
        for node, value in given[1:]:
            if type(value) is not type(first) or repr(value) != repr(first):
                problems.append(Problem(node.name, node.location, f"gives input '{name}' the default {value!r} but "
                                        f"'{first_node.name}' ({first_node.location}) gives it {first!r}",
                                        "give the input one default everywhere"))
                break
        else:
            defaults[name] = first
    return defaults, problems


def missed_refs(nodes: Mapping[str, Node]) -> list[Problem]:
    """A ``fdag.ref`` naming no node but close to one: a typo that would silently read a request input."""
    problems = []
    for node in nodes.values():
        for argument in node.arguments:
            source = argument.source
            if source is None or source == argument.param or source in nodes or source == AS_OF:
                continue
            close = difflib.get_close_matches(source, [n for n in nodes if n != node.name], n=3, cutoff=0.8)
            if close:
                problems.append(Problem(node.name, node.location, f"binds '{argument.param}' to ref({source!r}), "
                                        "which is no node", f"did you mean {', '.join(repr(c) for c in close)}? "
                                        "(a ref naming no node reads a request input; rename it if that is meant)"))
    return problems


def config_collisions(nodes: Mapping[str, Node], config: Mapping[str, Any]) -> list[Problem]:
    """A config key named like a node: parameters of that name would receive the config value, not the node's."""
    return [Problem(name, nodes[name].location, "is both a node and a key of the config",
                    f"rename the node or the config key {name!r}") for name in config if name in nodes]


def warn_typos(inputs: Mapping[str, Any], nodes: Mapping[str, Node]) -> None:
    """Warn (``LikelyTypoWarning``) about each request input one edit away from a node name."""
    for name in inputs:
        for node in nodes:
            if _one_edit(name, node):
                readers = sorted(n.name for n in nodes.values() if name in n.params)
                warnings.warn(LikelyTypoWarning(name, node, readers), stacklevel=4)
                break


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` becomes ``b`` by inserting, deleting or replacing exactly one character."""
    if a == b or abs(len(a) - len(b)) > 1 or min(len(a), len(b)) < 3:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + (len(a) == len(b)):] == b[i + 1:]

"""Nodes: one feature of the DAG, with its function, typed parameters, tags and (for windows, lookups) its spec."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fdag._dag.checks import CheckSpec
from fdag._dag.specs import LookupSpec, WindowSpec
from fdag._declare.source import Source
from fdag._values.types import FType

AS_OF = "as_of"


@dataclass(frozen=True)
class Node:
    """A feature: its value is ``function(*params)``; a window node aggregates the function over events, a lookup
    node applies it to one source row.

    Discovery makes them (``dag.nodes`` maps each name to its node); they are immutable.

    Parameters
    ----------
    name
        The node's name: the output column.
    function
        The decorated Python function.
    params
        Each dependency (a node or a request input; for a window or lookup, the source's key and ``as_of``) →
        the type the function expects.
    returns
        The node's type (for a window: the aggregation's).
    location
        ``path/to/module.py:LINE`` of the function, for messages.
    doc
        The function's docstring.
    tags
        Its ``@fdag.tag`` metadata.
    window, lookup
        The window or lookup spec of such a node; ``None`` for a plain feature.
    checks
        Its ``@fdag.check_output`` checks, resolved against its type.

    Example::

        import fdag
        from fdag.demo import fraud

        node = fdag.Dag.from_modules(fraud).nodes["spend_mean_10d"]
        print(node.kind, node.returns, node.source.name, sorted(node.params))
        # window float | None transactions ['as_of', 'user_id']
    """

    name: str
    function: Callable[..., Any] = field(repr=False)
    params: Mapping[str, FType]  # dependency name -> the type the function expects
    returns: FType
    location: str  # "path/to/module.py:LINE", for messages
    doc: str = ""
    tags: Mapping[str, Any] = field(default_factory=dict)
    window: WindowSpec | None = None
    lookup: LookupSpec | None = None
    checks: tuple[CheckSpec, ...] = ()

    @property
    def kind(self) -> str:
        """``"window"``, ``"lookup"`` or ``"feature"``."""
        if self.window is not None:
            return "window"
        return "feature" if self.lookup is None else "lookup"

    @property
    def source(self) -> Source | None:
        """The source a window or lookup node reads (None for other features)."""
        spec = self.window or self.lookup
        return None if spec is None else spec.source

"""Nodes: one feature of the DAG, with its function, typed parameters, tags and (for windows, lookups) its spec."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fdag._dag.checks import CheckSpec
from fdag._dag.specs import Argument, FieldSpec, LookupSpec, VariantSpec, WindowSpec
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
    arguments
        How the function is called when its parameters are not simply the nodes named like them: one
        ``Argument`` per parameter (a dependency, or a constant bound by ``@fdag.parameterize`` or the config).
    extracted
        For a node of ``@fdag.extract_fields``: which field of which function's dict it is.
    variant
        For a ``@fdag.config`` variant: the function chosen and the config that chose it.
    defaults
        Dependency → the default value of its parameter (an optional request input when no node produces it).

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
    arguments: tuple[Argument, ...] = ()
    extracted: FieldSpec | None = None
    variant: VariantSpec | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """``"window"``, ``"lookup"``, ``"field"`` (of ``@fdag.extract_fields``) or ``"feature"``."""
        if self.window is not None:
            return "window"
        if self.extracted is not None:
            return "field"
        return "feature" if self.lookup is None else "lookup"

    @property
    def declared(self) -> str:
        """How a Hamilton-style decorator made the node, for DOT, the catalog and explanations (empty for others):
        ``field 'city' of address_parts``, ``amount_over with limit=100.0``, ``variant vat_rate__eu (region ==
        'eu')``."""
        parts = []
        if self.extracted is not None:
            parts.append(f"field '{self.extracted.field}' of {self.extracted.group}")
        bound = [f"{a.param}={a.value!r}" if a.source is None else f"{a.param}={a.source}"
                 for a in self.arguments if a.source != a.param]
        if bound:
            parts.append(f"{getattr(self.function, '__name__', '?')} with {', '.join(bound)}")
        if self.variant is not None:
            parts.append(f"variant {self.variant.function} ({' and '.join(self.variant.conditions)})")
        return "; ".join(parts)

    def call_arguments(self) -> tuple[Argument, ...]:
        """What the function receives, parameter by parameter: a dependency's value or a bound constant."""
        return self.arguments or tuple(Argument(param, param) for param in self.params)

    @property
    def source(self) -> Source | None:
        """The source a window or lookup node reads (None for other features)."""
        spec = self.window or self.lookup
        return None if spec is None else spec.source

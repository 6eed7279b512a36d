"""Nodes: one feature of the DAG, with its function, typed parameters, tags and (for windows, lookups) its spec."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fdag._dag.specs import LookupSpec, WindowSpec
from fdag._declare.source import Source
from fdag._values.types import FType

AS_OF = "as_of"


@dataclass(frozen=True)
class Node:
    """A feature: its value is ``function(*params)``; a window node aggregates the function over events, a lookup
    node applies it to one source row."""

    name: str
    function: Callable[..., Any] = field(repr=False)
    params: Mapping[str, FType]  # dependency name -> the type the function expects
    returns: FType
    location: str  # "path/to/module.py:LINE", for messages
    doc: str = ""
    tags: Mapping[str, Any] = field(default_factory=dict)
    window: WindowSpec | None = None
    lookup: LookupSpec | None = None

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

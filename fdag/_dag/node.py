"""Nodes: one feature of the DAG, with its function, typed parameters, tags and (for windows) its spec."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fdag._dag.specs import WindowSpec
from fdag._values.types import FType

AS_OF = "as_of"


@dataclass(frozen=True)
class Node:
    """A feature: its value is ``function(*params)`` (a window node aggregates the function over events)."""

    name: str
    function: Callable[..., Any] = field(repr=False)
    params: Mapping[str, FType]  # dependency name -> the type the function expects
    returns: FType
    location: str  # "path/to/module.py:LINE", for messages
    doc: str = ""
    tags: Mapping[str, Any] = field(default_factory=dict)
    window: WindowSpec | None = None

    @property
    def kind(self) -> str:
        """``"window"``, ``"lookup"`` or ``"feature"``."""
        if self.window is None:
            return "feature"
        return "window" if self.window.lag is None else "lookup"

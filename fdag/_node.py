"""Nodes: one feature of the DAG, with its function, typed parameters, tags and (for windows) its spec."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fdag._types import FType
from fdag._window import WindowSpec

AS_OF = "as_of"
TAGS_ATTRIBUTE = "__fdag_tags__"


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


def tag(**tags: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Attach metadata to a feature; tags show in DOT tooltips, lineage and the catalog.

    Example::

        @fdag.tag(owner="risk", pii=False)
        def amount_bucket(amount: float) -> int: ...
    """

    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        merged = {**getattr(func, TAGS_ATTRIBUTE, {}), **tags}
        setattr(func, TAGS_ATTRIBUTE, merged)
        return func

    return mark

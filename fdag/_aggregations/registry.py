"""The aggregation registry: every window aggregation once, with its name, its node-type rule and its empty value.

The online aggregators (``online``) and the offline kernels (``offline``) are keyed by these names; the
declaration layer parses ``agg=`` here, discovery types window nodes here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from fdag._values.types import FType

# Aggregations whose empty window gives a value rather than null (DESIGN §1).
EMPTY_VALUES: dict[str, Any] = {"count": 0, "distinct_count": 0, "sum": 0}
AGGREGATIONS = ("count", "sum", "mean", "min", "max", "std", "var", "first", "last", "distinct_count", "last_n")
_LAST_N = re.compile(r"^last_n\((\d+)\)$")
_ORDERED = (int, float, str, datetime, date, timedelta, bool)



@dataclass(frozen=True)
class Aggregation:
    """One aggregation: its name (``last_n`` for ``last_n(5)``) and ``n`` where it takes one."""

    name: str
    n: int | None = None

    @property
    def label(self) -> str:
        """The aggregation's part of a node name: ``sum``, ``last_5``."""
        return f"last_{self.n}" if self.name == "last_n" else self.name

    def result_type(self, value: FType) -> FType:
        """The node type for per-event values of type ``value`` (``count`` → int, ``mean`` → float, ...)."""
        base = value.required()
        if self.name in ("count", "distinct_count"):
            return FType(int)
        if self.name == "sum":
            return FType(int if base.base in (int, bool) else base.base)
        if self.name in ("mean", "std", "var"):
            return FType(float, optional=True)
        if self.name == "last_n":
            return FType(list, item=base)
        return base.nullable()


def parse_aggregation(text: str) -> Aggregation:
    """Read ``"sum"`` or ``"last_n(5)"``; raise ``ValueError`` naming the known aggregations otherwise."""
    match = _LAST_N.match(text)
    if match:
        return Aggregation("last_n", int(match.group(1)))
    if text in AGGREGATIONS and text != "last_n":
        return Aggregation(text)
    raise ValueError(
        f"unknown aggregation {text!r}. Hint: use one of {', '.join(a for a in AGGREGATIONS if a != 'last_n')}"
        " or 'last_n(N)'."
    )


def is_ordered(ftype: FType) -> bool:
    """Whether min/max are defined on values of this type."""
    return ftype.base in _ORDERED

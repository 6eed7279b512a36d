"""The per-event values of a state: its value functions, called under one rule by every store.

A state keeps one value column per function (``fn(event) -> value``, given by the driver for each window or
lookup function over the source). A function that raises gives null for that event, and the error is counted,
once per event, under the node its spec names (``error_node``), in the report of the ``ingest`` or
``bootstrap`` that computed it. Every store computes values only through here, so their reports agree; and
values are computed for every event given (duplicates and too-late ones too), as the offline engine computes
them for every row of its events frame.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fdag._dag.specs import LookupSpec, WindowSpec

ValueFunction = Callable[[Mapping[str, Any]], Any]
Failures = list[tuple[str, BaseException]]  # (node, error), one per failed call


class EventValues:
    """The value functions of ``columns`` (aligned with them), each with the node its errors are recorded under."""

    def __init__(
        self, specs: Sequence[WindowSpec | LookupSpec], columns: Sequence[str], values: Mapping[str, ValueFunction]
    ) -> None:
        nodes = {spec.value_column: spec.error_node for spec in specs}
        self.functions = tuple(values[column] for column in columns)
        self._calls = tuple(zip(self.functions, (nodes[column] for column in columns), strict=True))

    def of(self, event: Mapping[str, Any], failures: Failures) -> list[Any]:
        """The value of every column for ``event``; a function that raises gives null and a failure."""
        values = []
        for function, node in self._calls:
            try:
                values.append(function(event))
            except Exception as exc:
                values.append(None)
                failures.append((node, exc))
        return values

    def column(self, j: int, events: Sequence[Mapping[str, Any]], failures: Failures) -> list[Any]:
        """Column ``j``'s values for ``events``, under the same rule."""
        function, node = self._calls[j]
        values = []
        for event in events:
            try:
                values.append(function(event))
            except Exception as exc:
                values.append(None)
                failures.append((node, exc))
        return values

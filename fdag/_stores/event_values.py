"""The per-event values of a state: its value functions, called under one rule by every store.

A state keeps one value column per function (``fn(event) -> value``, given by the driver for each window or
lookup function over the source). A function that raises gives null for that event, and the error is counted,
once per event, under the node its spec names (``error_node``), in the report of the ``ingest`` or
``bootstrap`` that computed it. Every store computes values only through here, so their reports agree; and
values are computed for every event given (duplicates and too-late ones too), as the offline engine computes
them for every row of its events frame.

A state may store several value columns as one (``stored_as``: they were given the same function, so their values
are the same): the function is called once per event, and its errors are still counted under every node of those
columns, in the order the columns would have recorded them one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from fdag._dag.specs import LookupSpec, WindowSpec

ValueFunction = Callable[[Mapping[str, Any]], Any]
Failures = list[tuple[str, BaseException]]  # (node, error), one per failed call


class EventValues:
    """The value functions of the stored ``columns`` (aligned with them), each with the nodes its errors are
    recorded under.

    ``stored_as`` maps every value column of ``specs`` to the stored column holding its values (default: itself).
    """

    def __init__(
        self, specs: Sequence[WindowSpec | LookupSpec], columns: Sequence[str], values: Mapping[str, ValueFunction],
        stored_as: Mapping[str, str] | None = None,
    ) -> None:
        nodes = {spec.value_column: spec.error_node for spec in specs}
        stored = stored_as if stored_as is not None else {column: column for column in columns}
        # (position among every value column, node) of each stored column: the order errors are recorded in
        recorded: dict[str, list[tuple[int, str]]] = {column: [] for column in columns}
        for position, column in enumerate(stored):
            recorded[stored[column]].append((position, nodes[column]))
        self._calls = tuple((values[column], tuple(recorded[column])) for column in columns)

    def of(self, event: Mapping[str, Any], failures: Failures) -> list[Any]:
        """The value of every stored column for ``event``; a function that raises gives null and a failure."""
        values = []
        failed: list[tuple[int, str, BaseException]] | None = None
        for function, nodes in self._calls:
            try:
                values.append(function(event))
            except Exception as exc:
                values.append(None)
                failed = (failed or []) + [(position, node, exc) for position, node in nodes]
        if failed is not None:
            failed.sort(key=itemgetter(0))
            failures.extend((node, exc) for _, node, exc in failed)
        return values

    def batch(self, events: Sequence[Mapping[str, Any]], failures: Failures) -> list[list[Any]]:
        """Every stored column's values for ``events``, one list per column aligned with the events: what ``of``
        gives event by event, failures in the same order, but each column computed in one C-level pass until a
        function raises. Each function is called once per event, except one raising ``StopIteration``: ``map``
        swallows that as its end, so the event is called again to record the error."""
        count = len(events)
        if count == 1:  # one event (streaming): no pass to set up
            return [[value] for value in self.of(events[0], failures)]
        columns = []
        failed: list[tuple[int, int, str, BaseException]] = []
        for function, nodes in self._calls:
            values: list[Any] = []
            remaining = iter(events)
            while len(values) < count:
                try:
                    values.extend(map(function, remaining))  # on an error, what came before it is kept
                    if len(values) < count:  # a StopIteration raised by the function ended the map: call it again
                        values.append(function(events[len(values)]))
                except Exception as exc:
                    failed += [(len(values), position, node, exc) for position, node in nodes]
                    values.append(None)
            columns.append(values)
        if failed:
            failed.sort(key=itemgetter(0, 1))  # event by event, column by column, as ``of`` records them
            failures.extend((node, exc) for _, _, node, exc in failed)
        return columns

    def columns(self, stored: Sequence[int], events: Sequence[Mapping[str, Any]], failures: Failures
                ) -> dict[int, list[Any]]:
        """The values of stored columns ``stored`` for ``events``, column by column, under the same rule; failures
        recorded column by column, for each value column in its place."""
        computed: dict[int, list[Any]] = {}
        failed: list[tuple[int, str, list[BaseException]]] = []
        for j in stored:
            function, nodes = self._calls[j]
            values: list[Any] = []
            errors: list[BaseException] = []
            for event in events:
                try:
                    values.append(function(event))
                except Exception as exc:
                    values.append(None)
                    errors.append(exc)
            computed[j] = values
            failed += [(position, node, errors) for position, node in nodes]
        failed.sort(key=itemgetter(0))
        failures.extend((node, exc) for _, node, errors in failed for exc in errors)
        return computed

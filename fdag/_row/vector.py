"""Feature vectors: what ``RowDriver.get`` returns — values, their as-of instants, lineage and errors."""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from fdag._dag.lineage import Lineage
from fdag._dag.plan import Clocks
from fdag._values.calls import ErrorRecord
from fdag._values.results import CheckResult


@dataclass(frozen=True)
class VectorContext:
    """What every vector of one driver shares: the clocks capping each node's as-of, and the lineage."""

    clocks: Mapping[str, Clocks]
    lineage: Mapping[str, Lineage]


class FeatureVector:
    """The features of one request: ``vec["name"]``, ``.values``, ``.as_of``, ``.lineage``, ``.errors``, ``.checks``.

    It reads like a mapping (``vec[name]``, ``in``, ``len``, ``dict(vec)``) but ``values`` is the dict of values
    (the public name of the API), not ``Mapping.values()``.

    ``as_of`` maps each output to the instant up to which its data is complete; it is computed on
    first access, so ``get`` stays cheap for callers that only read values.

    ``RowDriver.get`` makes them (the code of ``returning_vector``); there is no public constructor.

    Attributes
    ----------
    values
        Output → value, in the driver's output order (null where a feature raised or a non-optional argument was
        null).
    errors
        One ``ErrorRecord`` per feature that raised for this request (its value is null).
    checks
        One ``CheckResult`` per row check (``@fdag.check_output``'s ``range``, ``one_of``, ``allow_null``) of a node
        computed for this request: ``failed`` is 1 when its value failed, ``total`` 0 when a null was not judged.

    Example::

        from datetime import UTC, datetime

        import fdag
        from fdag.demo import payment

        row = fdag.RowDriver(fdag.Dag.from_modules(payment), outputs=["log_amount", "is_night"])
        vec = row.get({"amount": -20.0}, as_of=datetime(2024, 3, 1, 2, tzinfo=UTC))
        print(vec.values)          # {'log_amount': None, 'is_night': True}
        print(vec.errors)          # [ErrorRecord(node='log_amount', type='ValueError', ...)]: why it is null
        print(vec.as_of["is_night"])                  # 2024-03-01 02:00:00+00:00
        print(list(vec.lineage["is_night"].upstream))  # ['hour_of_day']
    """

    __slots__ = ("_as_of", "_context", "_lookups", "_request_as_of", "_watermarks", "checks", "errors", "values")
    values: dict[str, Any]
    errors: list[ErrorRecord]
    checks: tuple[CheckResult, ...]
    _request_as_of: datetime
    _watermarks: Mapping[str, datetime | None]  # window source -> its watermark
    _lookups: Mapping[str, datetime | None]  # lookup node -> its value's as-of
    _context: VectorContext
    _as_of: dict[str, datetime | None] | None  # computed on first access

    @property
    def lineage(self) -> Mapping[str, Lineage]:
        """Node → its lineage (upstream nodes and versions, inputs, sources)."""
        return self._context.lineage

    @property
    def as_of(self) -> dict[str, datetime | None]:
        """Node → as-of: the request's ``as_of``, capped by the watermark of every window source upstream of the
        node and by the as-of of every lookup value upstream (the timestamp of the row it read).

        ``None`` when an upstream source has no events yet, or a lookup read no row (nothing is known).
        """
        if self._as_of is None:
            self._as_of = {name: self._node_as_of(name) for name in self.values}
        return self._as_of

    def _node_as_of(self, name: str) -> datetime | None:
        instant = self._request_as_of
        clocks = self._context.clocks.get(name)
        if clocks is None:
            return instant
        limits = [self._watermarks.get(source) for source in clocks.sources]
        limits += [self._lookups.get(node) for node in clocks.lookups]
        for limit in limits:
            if limit is None:
                return None
            instant = min(instant, limit)
        return instant

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def keys(self) -> KeysView[str]:
        """The output names (so ``dict(vec)`` works)."""
        return self.values.keys()

    def items(self) -> ItemsView[str, Any]:
        """(output, value) pairs."""
        return self.values.items()

    def __repr__(self) -> str:
        errors = f", errors={[str(e) for e in self.errors]}" if self.errors else ""
        failed = [str(c) for c in self.checks if not c.passed]
        checks = f", failed checks={failed}" if failed else ""
        return f"FeatureVector({self.values!r}{errors}{checks})"


_NONE: Mapping[str, datetime | None] = MappingProxyType({})  # no window source or lookup: one shared, read-only


def returning_vector(values: str, watermarks: str, lookups: str, checks: str) -> tuple[list[str], dict[str, Any]]:
    """Statements that build and return a ``FeatureVector`` in a driver's generated function, and the names they use.

    Each argument is an expression of the generated code: the dict of output values, the dict of window source →
    watermark, of lookup node → its value's as-of, and the tuple of check results; the code also reads its
    ``as_of``, ``errors`` and ``context``. The slots are stored on a bare instance: no ``__init__`` frame on the
    hot path (about 5% of a 20-feature ``get``); an empty mapping is one shared read-only object.
    """
    lines = ["    vector = new_vector(FeatureVector)",
             f"    vector.values = {values}",
             "    vector.errors = errors",
             f"    vector.checks = {checks}",
             "    vector._request_as_of = as_of",
             f"    vector._watermarks = {'no_instants' if watermarks == '{}' else watermarks}",
             f"    vector._lookups = {'no_instants' if lookups == '{}' else lookups}",
             "    vector._context = context",
             "    vector._as_of = None",
             "    return vector"]
    return lines, {"new_vector": object.__new__, "FeatureVector": FeatureVector, "no_instants": _NONE}

"""An independent reference evaluator of the value rules, written from the rules alone (no fdag code).

For each row it walks the nodes in dependency order and calls each function: a null argument for a
non-optional parameter gives null without calling; an exception gives null and is counted; NaN is null;
a returned value outside the declared type (or an int beyond int64) is an error.

Given the sources' events (rows in frame order), window and lookup nodes are computed by brute force from their
declarations: every copy of an id but the earliest (by timestamp, then frame order) is dropped; a window
aggregates the per-event values of its key's events in ``[as_of - over, as_of)`` (``]`` when closed "both") in
exact arithmetic (rationals), skipping nulls, in (timestamp, id) order (frame order without ids); a lookup reads
the newest row of its key with ``ts + lag <= as_of`` (by timestamp, then id, else frame order) unless it is older
than ``as_of - lag - max_age``, else its default.
"""

from __future__ import annotations

import inspect
import math
import typing
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import fdag


def _optional(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def _admitted(value: Any, annotation: Any) -> Any:
    if value is None:
        return None
    kinds = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    kind = typing.get_origin(kinds[0]) or kinds[0]
    if kind is float and type(value) in (int, float):
        return None if math.isnan(value) else float(value)
    if kind is int and type(value) is int:
        if not -(2**63) <= value < 2**63:
            raise OverflowError("out of int64")
        return value
    if kind is datetime and isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if type(value) is kind:
        return value
    raise TypeError(f"{type(value).__name__} is not {kind.__name__}")


def _nan_is_null(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


Rows = Sequence[Mapping[str, Any]]


def _call(function: Any, args: list[Any]) -> tuple[Any, bool]:
    """``(value, raised)`` of one call by the null rules: a null for a non-optional parameter skips the call."""
    hints = typing.get_type_hints(function)
    params = inspect.signature(function).parameters
    if any(a is None and not _optional(hints[p]) for a, p in zip(args, params, strict=True)):
        return None, False
    try:
        return _admitted(function(*args), hints["return"]), False
    except Exception:
        return None, True


def _instant(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _kept(source: Any, rows: Rows) -> list[tuple[datetime, Any, Mapping[str, Any]]]:
    """``(ts, tie-break, row)`` of the rows that count: the earliest copy of each id (timestamp, then frame order);
    the tie-break is the id, or the frame position without ids."""
    dated = [(_instant(row[source.timestamp]), position, row) for position, row in enumerate(rows)]
    if source.id is None:
        return dated
    earliest: dict[Any, tuple[datetime, int, Mapping[str, Any]]] = {}
    for found in sorted(dated, key=lambda d: d[:2]):
        earliest.setdefault(found[2][source.id], found)
    return [(ts, row[source.id], row) for ts, _, row in earliest.values()]


def _exact(values: list[Any]) -> list[Fraction]:
    return [Fraction(v) for v in values]


def _int64(value: int) -> int:
    if not -(2**63) <= value < 2**63:
        raise OverflowError("window value does not fit in int64")
    return value


def _aggregate(name: str, n: int | None, values: list[Any], integral: bool) -> Any:
    """The aggregation of a non-empty list of per-event values in event order, exactly."""
    if name == "count":
        return len(values)
    if name == "distinct_count":
        return len(set(values))
    if name in ("min", "max"):
        return min(values) if name == "min" else max(values)
    if name in ("first", "last"):
        return values[0] if name == "first" else values[-1]
    if name == "last_n":
        return values[-n:] if n else []
    exact = _exact(values)
    if name == "sum":
        return _int64(int(sum(exact))) if integral else float(sum(exact))
    mean = sum(exact) / len(exact)
    if name == "mean":
        return float(mean)
    if len(exact) < 2:
        return None
    variance = sum((v - mean) ** 2 for v in exact) / (len(exact) - 1)
    return float(variance) if name == "var" else math.sqrt(variance)


def _window(node: Any, key: Any, as_of: datetime, rows: Rows, errors: Counter[str]) -> Any:
    spec = node.window
    events = sorted((ts, tie, row) for ts, tie, row in _kept(spec.source, rows)
                    if row[spec.source.key] == key and as_of - spec.over <= ts
                    and (ts < as_of or (spec.closed == "both" and ts == as_of)))
    values = []
    for _, _, row in events:
        value, _ = _call(spec.function, [_nan_is_null(row.get(p)) for p in spec.params])
        if value is not None:
            values.append(value)
    if not values:
        return spec.default if spec.default is not None else ([] if spec.agg.name == "last_n" else
                                                             0 if spec.agg.name in ("count", "sum", "distinct_count")
                                                             else None)
    try:
        value = _aggregate(spec.agg.name, spec.agg.n, values, spec.value_type.base in (int, bool))
    except OverflowError:
        errors[node.name] += 1
        return None
    return value


def _lookup(node: Any, key: Any, as_of: datetime, rows: Rows) -> Any:
    spec = node.lookup
    cutoff = as_of - spec.lag
    available = [found for found in _kept(spec.source, rows)
                 if found[2][spec.source.key] == key and found[0] <= cutoff]
    newest = max(available, key=lambda found: found[:2], default=None)
    if newest is None or (spec.max_age is not None and newest[0] < cutoff - spec.max_age):
        return spec.default
    return _call(spec.function, [_nan_is_null(newest[2].get(p)) for p in spec.params])[0]


def _typed(value: Any, node: Any) -> Any:
    """An int where the node is a float is that float (an empty float sum is 0.0)."""
    return float(value) if node.returns.base is float and type(value) is int else value


def evaluate(dag: fdag.Dag, request: dict[str, Any], as_of: datetime,
             sources: Mapping[str, Rows] | None = None) -> tuple[dict[str, Any], Counter[str]]:
    """Every node's value for one request, and the count of errors per node (for a window or lookup node only
    those of the node itself, not of its per-event function)."""
    values: dict[str, Any] = {name: _nan_is_null(request.get(name)) for name in dag.inputs}
    values["as_of"] = as_of = _instant(as_of)
    errors: Counter[str] = Counter()
    for name, node in dag.nodes.items():
        spec = node.window or node.lookup
        if spec is not None:
            key = values[spec.source.key]
            rows = (sources or {}).get(spec.source.name, ())
            value = None if key is None else (_window(node, key, as_of, rows, errors) if node.window is not None
                                              else _lookup(node, key, as_of, rows))
            values[name] = _typed(value, node)
            continue
        values[name], raised = _call(node.function, [values[p] for p in inspect.signature(node.function).parameters])
        errors[name] += raised
    return values, +errors

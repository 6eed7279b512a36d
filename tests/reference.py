"""An independent reference evaluator of the per-row value rules, written from the rules alone (no fdag code).

For each row it walks the nodes in dependency order and calls each function: a null argument for a
non-optional parameter gives null without calling; an exception gives null and is counted; NaN is null;
a returned value outside the declared type (or an int beyond int64) is an error.
"""

from __future__ import annotations

import inspect
import math
import typing
from collections import Counter
from datetime import UTC, datetime
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


def evaluate(dag: fdag.Dag, request: dict[str, Any], as_of: datetime) -> tuple[dict[str, Any], Counter[str]]:
    """Every node's value for one request, and the count of errors per node."""
    values: dict[str, Any] = {name: _nan_is_null(request.get(name)) for name in dag.inputs}
    values["as_of"] = as_of
    errors: Counter[str] = Counter()
    for name, node in dag.nodes.items():
        hints = typing.get_type_hints(node.function)
        params = inspect.signature(node.function).parameters
        args = [values[p] for p in params]
        if any(a is None and not _optional(hints[p]) for a, p in zip(args, params, strict=True)):
            values[name] = None
            continue
        try:
            values[name] = _admitted(node.function(*args), hints["return"])
        except Exception:
            values[name] = None
            errors[name] += 1
    return values, errors

"""The per-row calling rules (a null argument skips the feature; an exception makes it null and is recorded),
as one plain function both engines can reuse.

Used where a feature runs one row at a time outside the compiled fast path: per-event window values and the
vectorized engine's exact fallback. The compiled row engine emits the same rules as straight-line code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fdag._values.types import FType, coerce_value

RowCall = Callable[[Sequence[Any]], tuple[Any, BaseException | None]]


def row_call(function: Callable[..., Any], params: Mapping[str, FType], returns: FType) -> RowCall:
    """A caller taking the argument values in parameter order and returning ``(value, error or None)``.

    A null argument for a non-optional parameter skips the call (value null, no error); an exception, or a
    returned value the declared type does not admit, gives null and the error.
    """
    required = tuple(i for i, ftype in enumerate(params.values()) if not ftype.optional)

    def call(args: Sequence[Any]) -> tuple[Any, BaseException | None]:
        for i in required:
            if args[i] is None:
                return None, None
        try:
            value = function(*args)
        except Exception as exc:
            return None, exc
        try:
            return coerce_value(value, returns), None
        except (TypeError, OverflowError) as exc:
            return None, return_error(exc)

    return call


def mapping_call(function: Callable[..., Any], params: Mapping[str, FType], returns: FType
                 ) -> Callable[[Mapping[str, Any]], Any]:
    """The rules of ``row_call`` for a function reading a mapping by its parameter names (a per-event window or
    lookup value): returns the value, or raises the error the row call would record (the caller records it).

    The hot path of ingest, run once per event and value column: the arguments are read straight from the
    mapping and a result already canonical (a plain float, str or bool) skips ``coerce_value``.
    """
    names = tuple(params)
    required = tuple(name for name, ftype in params.items() if not ftype.optional)
    canonical = returns.base if returns.base in (float, str, bool) and returns.item is None else None

    def coerced(result: Any) -> Any:
        try:
            return coerce_value(result, returns)
        except (TypeError, OverflowError) as exc:
            raise return_error(exc) from None

    if len(names) == 1 and required:  # the usual per-event function: one column, not optional
        (name,) = names

        def one(event: Mapping[str, Any]) -> Any:
            argument = event.get(name)
            if argument is None:
                return None
            result = function(argument)
            if result.__class__ is canonical and result == result:  # NaN is null: coerce_value reads it
                return result
            return None if result is None else coerced(result)

        return one

    def many(event: Mapping[str, Any]) -> Any:
        get = event.get
        for column in required:
            if get(column) is None:
                return None
        result = function(*map(get, names))
        if result.__class__ is canonical and result == result:
            return result
        return None if result is None else coerced(result)

    return many


# The one message of an int result beyond int64: the vectorized engine, which finds these rows by a range test,
# cannot quote the value, so neither engine does.
INT64_OVERFLOW = "returned value does not fit in int64"
# The same rule for a window's int value (a sum of ints), recorded under the window node once per request.
WINDOW_INT64_OVERFLOW = "window value does not fit in int64"


def return_error(exc: TypeError | OverflowError) -> TypeError | OverflowError:
    """The error recorded when a feature returns a value its annotation does not admit."""
    if isinstance(exc, OverflowError):
        return OverflowError(INT64_OVERFLOW)
    return TypeError(f"returned value {exc}")


def error_records(errors: Iterable[tuple[str, BaseException]]) -> tuple[ErrorRecord, ...]:
    """``(node, exception)`` pairs counted into one record per node, exception type and message, in the order
    each first occurred."""
    counts: dict[tuple[str, str, str], int] = {}
    for node, exc in errors:
        key = (node, type(exc).__name__, str(exc))
        counts[key] = counts.get(key, 0) + 1
    return tuple(ErrorRecord(*key, count) for key, count in counts.items())


@dataclass(frozen=True)
class ErrorRecord:
    """Errors of one kind raised by one feature: which node, which exception, its message, how many rows.

    Both engines record one per (node, exception type, message) where a feature raised and its value became null:
    ``vec.errors`` for one request, ``FrameResult.errors`` summed over a run's rows. ``str()`` reads
    ``log_amount: ValueError: math domain error (3 rows)``.

    Parameters
    ----------
    node
        The feature that raised.
    type
        The exception's class name (``"ZeroDivisionError"``).
    message
        ``str()`` of the exception.
    count
        How many rows raised it.
    """

    node: str
    type: str
    message: str
    count: int = 1

    def __str__(self) -> str:
        rows = "row" if self.count == 1 else "rows"
        return f"{self.node}: {self.type}: {self.message} ({self.count} {rows})"

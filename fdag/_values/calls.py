"""The per-row calling rules (a null argument skips the feature; an exception makes it null and is recorded),
as one plain function both engines can reuse.

Used where a feature runs one row at a time outside the compiled fast path: per-event window values and the
vectorized engine's exact fallback. The compiled row engine emits the same rules as straight-line code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


def return_error(exc: TypeError | OverflowError) -> TypeError | OverflowError:
    """The error recorded when a feature returns a value its annotation does not admit."""
    return type(exc)(f"returned value {exc}")


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

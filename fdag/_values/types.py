"""Feature types: Python annotations mapped to one small type model shared by both engines, and the
coercion of incoming values (Python, numpy, pandas, Decimal) to each type's canonical form.

Supported: ``int``, ``float``, ``bool``, ``str``, ``datetime``, ``date``, ``timedelta``,
``list[T]`` and ``T | None``; each maps to exactly one Polars dtype.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_SCALARS: dict[type, pl.DataType] = {
    int: pl.Int64(),
    float: pl.Float64(),
    bool: pl.Boolean(),
    str: pl.String(),
    datetime: pl.Datetime("us", "UTC"),
    date: pl.Date(),
    timedelta: pl.Duration("us"),
}


class UnsupportedType(TypeError):
    """An annotation outside the supported set; carries the reason for the DAG problem message."""


@dataclass(frozen=True)
class FType:
    """A feature type: a base Python type, whether null is admitted, and the item type of lists.

    The one type model both engines share: ``dag.inputs`` and every ``Node`` carry one, ``str()`` is the
    annotation (``float | None``, ``list[str]``) and ``polars`` the column dtype.

    Parameters
    ----------
    base
        ``int``, ``float``, ``bool``, ``str``, ``datetime``, ``date``, ``timedelta`` or ``list``.
    optional
        Whether null is part of the type (``T | None``). Any value may still be null at run time; a non-optional
        parameter that receives null makes its feature null without calling it.
    item
        The item type of a ``list``; ``None`` otherwise.

    Example::

        import fdag

        amounts = fdag.FType(list, item=fdag.FType(float))
        print(amounts, amounts.polars)                            # list[float] List(Float64)
        print(fdag.FType(float).accepts(fdag.FType(int)))         # True: int widens to float
        print(fdag.FType(int).accepts(fdag.FType(int).nullable()))  # False: int | None does not narrow to int
    """

    base: type
    optional: bool = False
    item: FType | None = None

    def __str__(self) -> str:
        text = f"list[{self.item}]" if self.base is list else self.base.__name__
        return f"{text} | None" if self.optional else text

    @property
    def polars(self) -> pl.DataType:
        """The Polars dtype of a column of this type."""
        if self.base is list:
            assert self.item is not None
            return pl.List(self.item.polars)
        return _SCALARS[self.base]

    def required(self) -> FType:
        """The same type without ``| None``."""
        return FType(self.base, False, self.item)

    def nullable(self) -> FType:
        """The same type with ``| None``."""
        return FType(self.base, True, self.item)

    def accepts(self, producer: FType) -> bool:
        """Whether a value of ``producer`` type may flow into a parameter of this type (``int`` widens to ``float``).

        Parameters
        ----------
        producer
            The type of the value: the upstream node's return type, or a request input's type.
        """
        if producer.optional and not self.optional:
            return False
        if self.base is list or producer.base is list:
            return (
                self.base is producer.base
                and self.item is not None
                and producer.item is not None
                and self.item.accepts(producer.item)
            )
        return self.base is producer.base or (self.base is float and producer.base is int)


def ftype_of(annotation: Any) -> FType:
    """Map a resolved annotation to an ``FType``; raise ``UnsupportedType`` with the reason otherwise."""
    if annotation is None or annotation is type(None):
        raise UnsupportedType("'None' alone is not a feature type")
    if annotation in _SCALARS:
        return FType(annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        members = [a for a in args if a is not type(None)]
        if len(members) != 1 or len(members) == len(args):
            raise UnsupportedType(f"union '{_name(annotation)}' is not supported; only 'T | None' is")
        return ftype_of(members[0]).nullable()
    if origin is list:
        if len(args) != 1:
            raise UnsupportedType("a list needs its item type, e.g. 'list[str]'")
        return FType(list, item=ftype_of(args[0]))
    if annotation is list:
        raise UnsupportedType("a list needs its item type, e.g. 'list[str]'")
    raise UnsupportedType(f"type '{_name(annotation)}' is not supported")


def _name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


_CANONICAL = frozenset({int, float, bool, str, datetime, date, timedelta, list})


def to_utc(value: datetime) -> datetime:
    """Read a naive datetime as UTC and convert an aware one, as a plain ``datetime`` to the microsecond.

    A subclass such as ``pandas.Timestamp`` (which may hold nanoseconds) becomes a plain ``datetime``,
    truncated towards the past, as Polars truncates a nanosecond column. An aware instant whose UTC time is
    outside years 1 to 9999 raises ``OverflowError`` (a coercion signal, as in ``coerce_value``).
    """
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise OverflowError(f"is {value.isoformat()}, which is outside the UTC instants Python can hold "
                            "(years 1 to 9999)") from None
    if value.__class__ is not datetime:
        value = datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                         value.microsecond, tzinfo=UTC)
    return value


def native_value(value: Any) -> Any:
    """The plain Python value a foreign one stands for; any other value as it is.

    numpy scalars are their Python equivalents; ``pd.NA``, ``pd.NaT``, numpy's NaT and NaN are None;
    instants (``pd.Timestamp``, ``numpy.datetime64``, any datetime) are UTC datetimes and durations
    (``pd.Timedelta``, ``numpy.timedelta64``) timedeltas, truncated to the microsecond towards the past;
    a ``Decimal`` is the nearest float. Both engines read values through this, so they mean the same.
    """
    kind = type(value)
    if kind is float:
        return None if value != value else value
    if kind is Decimal:
        return None if value.is_nan() else float(value)
    module = kind.__module__
    if module == "numpy":
        name = kind.__name__
        if name == "datetime64":  # None for NaT, an int beyond datetime's range
            value = value.astype("datetime64[us]").item()
            return to_utc(value) if isinstance(value, datetime) else value
        if name == "timedelta64":
            return value.astype("timedelta64[us]").item()
        if name == "ndarray" or not hasattr(value, "item"):
            return value  # an array is not one value
        item = value.item()
        return value if type(item) is kind else native_value(item)  # a longdouble has no Python equivalent
    if module.startswith("pandas") and kind.__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(value, datetime):
        try:
            return to_utc(value)
        except OverflowError:
            return value  # as it is: coercion refuses it, naming the value
    if isinstance(value, timedelta) and kind is not timedelta:  # pandas.Timedelta: its fields, without the ns
        return timedelta(days=value.days, seconds=value.seconds, microseconds=value.microseconds)
    return value


def coerce_value(value: Any, ftype: FType) -> Any:
    """Return ``value`` in the canonical form of ``ftype``; raise ``TypeError``/``OverflowError`` if not admitted.

    Canonical: ints within int64, NaN read as null, datetimes in UTC, lists item by item. Null is admitted
    whatever the type: a non-optional parameter that receives it makes its feature null. A foreign value
    (numpy, pandas, Decimal) is first read as its plain Python value (``native_value``). Both engines apply
    the same rule, so a value means the same thing online and offline.
    """
    kind = type(value)
    if value is None or (kind is float and value != value):  # NaN is null in a column of any type
        return None
    if kind not in _CANONICAL:
        native = native_value(value)
        if native is not value:
            try:
                return coerce_value(native, ftype)
            except TypeError:
                raise TypeError(f"is a {kind.__name__} ({value!r}) but the type is '{ftype}'") from None
    base = ftype.base
    if base is float:
        if kind is float:
            return value
        if kind is int:
            return float(value)
    elif base is int:
        if kind is int:
            if not INT64_MIN <= value <= INT64_MAX:
                raise OverflowError(f"int {value} does not fit in int64")
            return value
    elif base is bool or base is str or base is timedelta:
        if kind is base:
            return value
    elif base is datetime:
        if isinstance(value, datetime):
            return to_utc(value)
    elif base is date:
        if kind is date:
            return value
    elif base is list and isinstance(value, list):
        assert ftype.item is not None
        return [coerce_value(v, ftype.item) for v in value]
    raise TypeError(f"is a {kind.__name__} ({value!r}) but the type is '{ftype}'")



def json_value(value: Any) -> Any:
    """A value as JSON-ready data: instants and dates in ISO 8601, durations as text, lists item by item."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, list):
        return [json_value(item) for item in value]
    return value

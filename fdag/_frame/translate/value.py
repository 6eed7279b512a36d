"""Symbolic values: a Polars expression plus what is statically known about the Python value it stands for.

A ``Val`` is the translation of one Python expression. ``kind`` is its Python type (``"num"`` is an int or a
float depending on the row, kept as Float64); ``nullable`` says it may be ``None`` on some rows (null in
``expr`` exactly there). Ints carry static bounds so arithmetic can be computed exactly in Int64 or Int128.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from fdag._frame.translate.patches import Patches
from fdag._values.types import FType
from fdag.errors import NotTranslatable

INT64 = (-(2**63), 2**63 - 1)
INT128 = (-(2**127), 2**127 - 1)
EXACT_FLOAT_INT = 2**53  # every int of at most this magnitude converts to float exactly
NO_CONST = object()

Error = tuple[pl.Expr, str, str]

TYPE_NAMES = {
    "int": "int", "float": "float", "bool": "bool", "str": "str", "datetime": "datetime.datetime",
    "date": "datetime.date", "timedelta": "datetime.timedelta", "list": "list", "none": "NoneType",
}
NUMERIC = frozenset({"int", "bool", "float", "num"})


@dataclass(frozen=True)
class Val:
    """One translated Python value (see the module docstring)."""

    kind: str
    expr: pl.Expr
    nullable: bool = False
    lo: int = 0  # int bounds (also the int part of "num"), inclusive
    hi: int = 0
    nan: bool = False  # a float that may be NaN (params and constants never are)
    const: Any = NO_CONST  # the Python value, when known at translation time
    item: FType | None = None  # item type of lists
    weight: int = 1  # estimated size of ``expr`` as a tree (Polars expands shared sub-expressions)
    rounded: pl.Expr | None = None  # an int made from a float: that float, rounded (see ``_result``)
    zero: pl.Expr | None = None  # a float remainder by a constant: the rows where it is zero, found without it


def refuse(reason: str) -> NotTranslatable:
    """The error to raise when a construct has no exact translation."""
    return NotTranslatable(reason)


def int_dtype(lo: int, hi: int) -> pl.DataType:
    """The narrowest of Int64 / Int128 that holds every int in ``[lo, hi]``; refuse beyond 128 bits."""
    if INT64[0] <= lo and hi <= INT64[1]:
        return pl.Int64()
    if INT128[0] <= lo and hi <= INT128[1]:
        return pl.Int128()
    raise refuse("integer arithmetic that may exceed 128 bits")


def int_val(expr: pl.Expr, lo: int, hi: int, nullable: bool = False) -> Val:
    """An int value with bounds, its expression cast to the dtype the bounds need."""
    return Val("int", expr.cast(int_dtype(lo, hi)), nullable, lo, hi)


def constant(value: Any) -> Val:
    """The translation of a Python constant (int, float, bool, str, None)."""
    kind = type(value)
    if value is None:
        return Val("none", pl.lit(None), True, const=None)
    if kind is bool:
        return Val("bool", pl.lit(value, pl.Boolean), const=value, lo=int(value), hi=int(value))
    if kind is int:
        return replace(int_val(pl.lit(value, int_dtype(value, value)), value, value), const=value)
    if kind is float:
        if value != value:
            raise refuse("a NaN constant")
        return Val("float", pl.lit(value, pl.Float64), const=value)
    if kind is str:
        return Val("str", pl.lit(value, pl.String), const=value)
    raise refuse(f"a constant of type '{kind.__name__}'")


def as_int(v: Val) -> Val:
    """A bool or int as an int (Python bools are ints in arithmetic)."""
    if v.kind == "bool":
        return Val("int", v.expr.cast(pl.Int64), v.nullable, 0, 1, const=v.const)
    return v


def as_float(v: Val) -> Val:
    """A numeric value converted to float the way Python does (correctly rounded)."""
    if v.kind == "float":
        return v
    if v.kind == "num" and max(-v.lo, v.hi) > EXACT_FLOAT_INT:
        raise refuse("a value that is an int or a float depending on the row, used in float arithmetic")
    if isinstance(v.const, int) and abs(v.const) <= EXACT_FLOAT_INT:
        return constant(float(v.const))  # a float literal: Polars folds it, and its value is known
    return Val("float", v.expr.cast(pl.Float64), v.nullable, nan=v.nan)


def is_null(v: Val) -> pl.Expr:
    """Rows where ``v`` is None."""
    if v.kind == "none":
        return pl.lit(True)
    return v.expr.is_null() if v.nullable else pl.lit(False)


def truth(v: Val) -> pl.Expr:
    """Python's ``bool(v)`` as a non-null Boolean expression."""
    e = v.expr
    if v.kind == "none":
        return pl.lit(False)
    if v.kind == "bool":
        t = e
    elif v.kind in ("int", "float", "num", "timedelta"):
        t = e != 0  # NaN != 0 is True in Polars, as bool(nan) is in Python
    elif v.kind == "str":
        t = e.str.len_bytes() > 0
    elif v.kind == "list":
        t = e.list.len() > 0
    elif v.kind in ("datetime", "date"):
        t = e.is_not_null()
    else:
        raise refuse(f"truth value of a {v.kind}")
    return t.fill_null(False) if v.nullable else t


def merge(cond: pl.Expr, a: Val, b: Val) -> Val:
    """``a`` where ``cond`` else ``b``: the value of a conditional whose branches are ``a`` and ``b``."""
    if "dict" in (a.kind, b.kind):
        raise refuse("a dict that differs by row (return the dict literal in each branch)")
    if a.kind == "none" and b.kind == "none":
        return a
    if a.kind == "none" or b.kind == "none":
        some = b if a.kind == "none" else a
        dtype = _dtype(some)
        ea = pl.lit(None, dtype) if a.kind == "none" else a.expr
        eb = pl.lit(None, dtype) if b.kind == "none" else b.expr
        return replace(some, expr=pl.when(cond).then(ea).otherwise(eb), nullable=True, const=NO_CONST,
                       rounded=None, zero=None)
    kinds = {a.kind, b.kind}
    if len(kinds) == 1 and a.kind in ("int", "num"):
        lo, hi = min(a.lo, b.lo), max(a.hi, b.hi)
        dtype = pl.Float64() if a.kind == "num" else int_dtype(lo, hi)
        return Val(a.kind, pl.when(cond).then(a.expr.cast(dtype)).otherwise(b.expr.cast(dtype)),
                   a.nullable or b.nullable, lo, hi, nan=a.nan or b.nan)
    if len(kinds) == 1:
        if a.kind == "list" and a.item != b.item:
            raise refuse("a value that is a list of different item types depending on the row")
        return Val(a.kind, pl.when(cond).then(a.expr).otherwise(b.expr), a.nullable or b.nullable,
                   nan=a.nan or b.nan, item=a.item, lo=min(a.lo, b.lo), hi=max(a.hi, b.hi))
    if kinds <= {"int", "float", "num"}:
        ints = [v for v in (a, b) if v.kind != "float"]
        lo, hi = min(v.lo for v in ints), max(v.hi for v in ints)
        return Val("num", pl.when(cond).then(a.expr.cast(pl.Float64)).otherwise(b.expr.cast(pl.Float64)),
                   a.nullable or b.nullable, lo, hi, nan=a.nan or b.nan)
    raise refuse(f"a value that is a {a.kind} or a {b.kind} depending on the row")


def _dtype(v: Val) -> pl.DataType:
    if v.kind == "int":
        return int_dtype(v.lo, v.hi)
    simple: dict[str, pl.DataType] = {
        "float": pl.Float64(), "num": pl.Float64(), "bool": pl.Boolean(), "str": pl.String(),
        "datetime": pl.Datetime("us", "UTC"), "date": pl.Date(), "timedelta": pl.Duration("us"),
    }
    if v.kind == "list" and v.item is not None:
        return pl.List(v.item.polars)
    if v.kind not in simple:
        raise refuse(f"a {v.kind} value that may be None")
    return simple[v.kind]


def finite(e: pl.Expr) -> pl.Expr:
    """``math.isfinite`` of a float column as one comparison (NaN is above every float in Polars' order): half
    the cost of Polars' ``is_finite``."""
    return e.abs() < math.inf


def infinite(e: pl.Expr) -> pl.Expr:
    """``math.isinf`` of a float column as one comparison (cheaper than Polars' ``is_infinite``)."""
    return e.abs() == math.inf


def both(a: pl.Expr | None, b: pl.Expr) -> pl.Expr:
    """``a & b`` where ``None`` means "always"; null conditions count as false."""
    b = b.fill_null(False)
    return b if a is None else a & b


_LET_NAMES = itertools.count()


@dataclass
class Lets:
    """Sub-expressions a translation computes once, as columns of their own, before its value and errors.

    Polars computes a sub-expression repeated within one ``with_columns`` once, but not one nested inside
    another repeated one: ``exp(x)`` read by an overflow check and by a value that is itself repeated (its
    NaN-to-null form reads it twice) would be computed twice. A shared expression is a column instead; one
    that reads other shared columns comes a level later (one ``with_columns`` per level).
    """

    shared: dict[str, tuple[int, pl.Expr]] = field(default_factory=dict)  # column -> (level, aliased expression)

    def share(self, expr: pl.Expr) -> pl.Expr:
        """A column holding ``expr`` (``expr`` itself when it is a column or reads none)."""
        roots = expr.meta.root_names()
        if expr.meta.is_column() or not roots:
            return expr
        name = f"__let__{next(_LET_NAMES)}"
        level = 1 + max((self.shared[root][0] for root in roots if root in self.shared), default=0)
        self.shared[name] = (level, expr.alias(name))
        return pl.col(name)

    def stages(self) -> tuple[tuple[pl.Expr, ...], ...]:
        """The shared columns level by level, each tuple one ``with_columns`` reading the ones before."""
        depth = max((level for level, _ in self.shared.values()), default=0)
        return tuple(tuple(e for level, e in self.shared.values() if level == i) for i in range(1, depth + 1))


@dataclass
class Scope:
    """Where an expression is evaluated: the local names, the rows that reach it, the errors found so far, the
    sub-expressions shared as columns and how fast expressions are made exact (``Patches``)."""

    env: dict[str, Val]
    resolve: Any  # Callable[[str], Val]: non-local names (closure, globals, builtins)
    errors: list[Error] = field(default_factory=list)
    guard: pl.Expr | None = None  # rows on which this code runs; None = every row
    lets: Lets = field(default_factory=Lets)
    patches: Patches = field(default_factory=Patches)

    def under(self, cond: pl.Expr) -> Scope:
        """The same scope restricted to the rows where ``cond`` holds (a branch, a short-circuit)."""
        return Scope(self.env, self.resolve, self.errors, both(self.guard, cond), self.lets, self.patches)

    def narrow(self, names: set[str]) -> Scope:
        """The same scope where the local ``names`` are known not to be None (inside ``if x is not None``)."""
        if not names & self.env.keys():
            return self
        env = {k: replace(v, nullable=False) if k in names and v.kind != "none" else v for k, v in self.env.items()}
        return Scope(env, self.resolve, self.errors, self.guard, self.lets, self.patches)

    def share(self, v: Val) -> Val:
        """``v`` read from a column of its own (see ``Lets``): for a value both an error condition and the
        result read, when it is more than a column."""
        return replace(v, expr=self.lets.share(v.expr))

    def fail(self, cond: pl.Expr, kind: str, message: str) -> None:
        """Record that Python raises ``kind(message)`` on the reached rows where ``cond`` holds."""
        self.errors.append((both(self.guard, cond), kind, message))

    def none_errors(self, operands: list[Val], message: Any, kind: str = "TypeError") -> None:
        """Record errors (TypeError by default) where some operands are None; ``message(names)`` names the types."""
        nullable = [i for i, v in enumerate(operands) if v.nullable or v.kind == "none"]
        if not nullable:
            return
        if any(v.kind == "num" for v in operands):
            raise refuse("a value that is an int or a float depending on the row, where another may be None")
        for mask in range(1, 2 ** len(nullable)):
            flags = [False] * len(operands)
            cond = pl.lit(True)
            for bit, i in enumerate(nullable):
                flags[i] = bool(mask >> bit & 1)
                cond = cond & (is_null(operands[i]) if flags[i] else ~is_null(operands[i]))
            self.fail(cond, kind, message([
                "NoneType" if flag else TYPE_NAMES.get(v.kind, v.kind) for v, flag in zip(operands, flags, strict=True)
            ]))

"""Arithmetic operators with Python's exact semantics: int ops never wrap, zero divisors and overflows raise.

Ints are computed in Int64, or in Int128 when their static bounds need it, so every int result is exact;
whether it fits int64 is checked only where the value leaves the function (see ``_result``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl

from fdag._frame.translate.floats import float_floordiv, float_mod, float_mod_is_zero
from fdag._frame.translate.value import (
    NO_CONST,
    NUMERIC,
    Scope,
    Val,
    as_float,
    as_int,
    finite,
    infinite,
    int_dtype,
    int_val,
    refuse,
)

OVERFLOW_34 = "(34, 'Numerical result out of range')"


def binop(op: str, a: Val, b: Val, scope: Scope) -> Val:
    """``a <op> b`` for one of ``+ - * / // % **``."""
    if a.kind == "none" or b.kind == "none":
        raise refuse(f"'{op}' on a None constant")
    scope.none_errors([a, b], lambda names: _type_error(op, names[0], names[1]))
    if a.kind in NUMERIC and b.kind in NUMERIC:
        if op == "**":
            return _power(a, b, scope)
        if op in ("/", "//", "%") and not _zero_free(b):
            b = scope.share(b)  # read by the zero check and the division
        if "float" in (a.kind, b.kind) or "num" in (a.kind, b.kind):
            return _float_op(op, as_float(a), as_float(b), scope)
        return _int_op(op, as_int(a), as_int(b), scope)
    return _other_op(op, a, b, scope)


def _type_error(op: str, left: str, right: str) -> str:
    if op == "+" and left == "str":
        return f'can only concatenate str (not "{right}") to str'
    return f"unsupported operand type(s) for {op}: '{left}' and '{right}'"


def _int_op(op: str, a: Val, b: Val, scope: Scope) -> Val:
    if op == "/":
        # Beyond 2**53, Python divides the exact ints and rounds once while Polars rounds the operands first:
        # they differ by at most one ulp, inside the engines' 1e-9 relative float agreement.
        _fail_on_zero(b, scope, "division by zero")
        return Val("float", a.expr.cast(pl.Float64) / _nonzero(b).cast(pl.Float64), a.nullable or b.nullable)
    if op in ("//", "%"):
        _fail_on_zero(b, scope, "integer division or modulo by zero" if op == "//" else "integer modulo by zero")
        lo, hi = _floor_bounds(op, a, b)
    elif op == "+":
        lo, hi = a.lo + b.lo, a.hi + b.hi
    elif op == "-":
        lo, hi = a.lo - b.hi, a.hi - b.lo
    elif op == "*":
        corners = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
        lo, hi = min(corners), max(corners)
    else:
        raise refuse(f"int operator '{op}'")
    wide = pl.Int128() if pl.Int128() in (int_dtype(lo, hi), int_dtype(a.lo, a.hi), int_dtype(b.lo, b.hi)) else None
    ea, eb = (a.expr, b.expr) if wide is None else (a.expr.cast(wide), b.expr.cast(wide))
    ops: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
        "+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y,
        "//": lambda x, y: x // y, "%": lambda x, y: x % y,
    }
    if op in ("//", "%"):
        eb = _nonzero(replace(b, expr=eb))
    return int_val(ops[op](ea, eb), lo, hi, a.nullable or b.nullable)


def _zero_free(v: Val) -> bool:
    """Whether ``v`` is certainly not zero (a non-zero constant, or int bounds that exclude zero)."""
    if isinstance(v.const, int | float) and v.const != 0:
        return True
    return v.kind in ("int", "bool") and (v.lo > 0 or v.hi < 0)


def _fail_on_zero(divisor: Val, scope: Scope, message: str) -> None:
    if not _zero_free(divisor):
        scope.fail(divisor.expr == 0, "ZeroDivisionError", message)


def _nonzero(v: Val) -> pl.Expr:
    # Rows dividing by zero are errors; give them a harmless divisor so no backend traps on them.
    return v.expr if _zero_free(v) else pl.when(v.expr == 0).then(1).otherwise(v.expr)


def _floor_bounds(op: str, a: Val, b: Val) -> tuple[int, int]:
    """Bounds of ``a // b`` or ``a % b`` (ints): tight when ``b``'s bounds exclude zero, else the worst case."""
    if op == "%":
        if b.lo > 0:
            return 0, b.hi - 1
        if b.hi < 0:
            return b.lo + 1, 0
        m = max(max(-b.lo, b.hi) - 1, 0)
        return -m, m
    if b.lo > 0 or b.hi < 0:
        # floor(a / b) is monotonic in each operand while b keeps its sign: the extremes are at the corners
        corners = [x // y for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
        return min(corners), max(corners)
    m = max(-a.lo, a.hi)
    return -m, m


def _float_op(op: str, x: Val, y: Val, scope: Scope) -> Val:
    nullable = x.nullable or y.nullable
    if op in ("+", "-", "*"):
        expr = {"+": x.expr + y.expr, "-": x.expr - y.expr, "*": x.expr * y.expr}[op]
        return Val("float", expr, nullable, nan=True)
    if op == "/":
        _fail_on_zero(y, scope, "float division by zero")
        return Val("float", x.expr / y.expr, nullable, nan=True)
    if op in ("%", "//"):
        divisor = y.const if isinstance(y.const, float) else None
        _fail_on_zero(y, scope, "float modulo" if op == "%" else "float floor division by zero")
        exact = float_mod if op == "%" else float_floordiv
        a = x.expr.cast(pl.Float64)
        zero = float_mod_is_zero(a, divisor, scope.patches) if op == "%" and divisor is not None else None
        return Val("float", exact(a, y.expr.cast(pl.Float64), divisor, scope.patches), nullable, nan=True, zero=zero)
    raise refuse(f"float '{op}'")


def _power(a: Val, b: Val, scope: Scope) -> Val:
    if a.kind in ("int", "bool") and b.kind in ("int", "bool"):
        n = b.const
        if not isinstance(n, int):
            raise refuse("int ** int with an exponent that is not a constant")
        if n >= 0:
            return _int_power(as_int(a), int(n))
    x, y = as_float(a), as_float(b)
    if not (isinstance(b.const, float | int) and float(b.const).is_integer()):
        raise refuse("** with a non-constant or fractional exponent (Python returns a complex for a negative base)")
    result = scope.lets.share(x.expr.pow(y.expr))  # read by the overflow check and the value
    x = scope.share(x)
    scope.fail((x.expr == 0) & (y.expr < 0), "ZeroDivisionError", "0.0 cannot be raised to a negative power")
    scope.fail(infinite(result) & finite(x.expr) & finite(y.expr), "OverflowError", OVERFLOW_34)
    return Val("float", result, x.nullable, nan=x.nan)


def _int_power(a: Val, n: int) -> Val:
    m = max(-a.lo, a.hi)
    hi = m**n
    lo = -hi if n % 2 else (0 if n else 1)
    if n == 0:
        return int_val(pl.when(a.expr.is_null()).then(None).otherwise(pl.lit(1)), 1, 1, a.nullable)
    base = a.expr.cast(int_dtype(lo, hi))
    result: pl.Expr | None = None
    square = base
    while n:
        if n & 1:
            result = square if result is None else result * square
        n >>= 1
        if n:
            square = square * square
    assert result is not None
    return int_val(result, lo, hi, a.nullable)


def _other_op(op: str, a: Val, b: Val, scope: Scope) -> Val:
    kinds = (a.kind, b.kind)
    nullable = a.nullable or b.nullable
    if op == "+" and kinds == ("str", "str"):
        return Val("str", a.expr + b.expr, nullable)
    if op == "-" and kinds in (("datetime", "datetime"), ("date", "date")):
        return Val("timedelta", (a.expr - b.expr).cast(pl.Duration("us")), nullable)
    if (op in ("+", "-") and kinds == ("datetime", "timedelta")) or (op == "+" and kinds == ("timedelta", "datetime")):
        when, delta = (a, b) if a.kind == "datetime" else (b, a)
        micros = when.expr.dt.epoch("us").cast(pl.Int128)
        step = delta.expr.cast(pl.Int64).cast(pl.Int128)
        total = micros + step if op == "+" else micros - step
        first, last = _DATETIME_RANGE
        scope.fail((total < first) | (total > last), "OverflowError", "date value out of range")
        clipped = pl.when((total < first) | (total > last)).then(None).otherwise(total).cast(pl.Int64)
        return Val("datetime", clipped.cast(pl.Datetime("us", "UTC")), nullable)
    raise refuse(f"'{op}' between {a.kind} and {b.kind}")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATETIME_RANGE = (
    (datetime.min.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1),
    (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1),
)


def unary(op: str, v: Val, scope: Scope) -> Val:
    """``-v``, ``+v`` or ``~v`` on numbers."""
    if v.kind == "none":
        raise refuse(f"unary '{op}' on a None constant")
    scope.none_errors([v], lambda names: f"bad operand type for unary {op}: '{names[0]}'")
    if v.kind in ("int", "bool"):
        v = as_int(v)
        if op == "+":
            return v
        lo, hi = (-v.hi, -v.lo) if op == "-" else (-v.hi - 1, -v.lo - 1)
        wide = int_dtype(min(lo, v.lo), max(hi, v.hi))
        e = v.expr.cast(wide)
        result = int_val(pl.lit(0, wide) - e if op == "-" else pl.lit(-1, wide) - e, lo, hi, v.nullable)
        if isinstance(v.const, int):
            result = replace(result, const=-v.const if op == "-" else ~v.const)
        return result
    if v.kind in ("float", "num") and op in ("-", "+"):
        if op == "+":
            return v
        const = -v.const if isinstance(v.const, float) else NO_CONST
        return Val(v.kind, -v.expr, v.nullable, -v.hi, -v.lo, nan=v.nan, const=const)
    raise refuse(f"unary '{op}' on a {v.kind}")

"""Comparisons with Python's semantics: exact int/float ordering, NaN compares false, None equals only None.

Polars orders NaN above every number and casts ints to float to compare them with floats; Python does
neither, so both cases get their own rule here.
"""

from __future__ import annotations

import polars as pl

from fdag._frame.translate.value import (
    EXACT_FLOAT_INT,
    INT64,
    NUMERIC,
    Scope,
    Val,
    as_float,
    as_int,
    constant,
    is_null,
    refuse,
)

_BIG = 2.0**127  # beyond this a float exceeds every Int128 value
_SAME_KIND_ORDERED = frozenset({"str", "datetime", "date", "timedelta"})


def compare(op: str, a: Val, b: Val, scope: Scope) -> pl.Expr:
    """The Boolean ``a <op> b`` for ``== != < <= > >= is, is not, in, not in``."""
    if op in ("is", "is not"):
        if b.kind != "none" and a.kind != "none":
            raise refuse("'is' with something other than None")
        same = is_null(a) & is_null(b) if a.kind == b.kind == "none" else is_null(b if a.kind == "none" else a)
        return same if op == "is" else ~same
    if op in ("==", "!="):
        eq = equal(a, b)
        return eq if op == "==" else ~eq
    if op in ("in", "not in"):
        found = _contains(a, b, scope)
        return found if op == "in" else ~found
    if a.kind == "none" or b.kind == "none":
        raise refuse(f"'{op}' with a None constant")
    scope.none_errors([a, b], lambda names: f"'{op}' not supported between instances of '{names[0]}' and '{names[1]}'")
    return _order(op, a, b).fill_null(False)


def equal(a: Val, b: Val) -> pl.Expr:
    """Python's ``a == b`` as a non-null Boolean (None equals only None)."""
    if a.kind == "none" or b.kind == "none":
        return is_null(b if a.kind == "none" else a)
    core = _equal_values(a, b)
    if not (a.nullable or b.nullable):
        return core
    either = is_null(a) | is_null(b)
    return pl.when(either).then(is_null(a) & is_null(b)).otherwise(core.fill_null(False))


def _equal_values(a: Val, b: Val) -> pl.Expr:
    if a.kind in NUMERIC and b.kind in NUMERIC:
        for value, other in ((a, b), (b, a)):
            if value.zero is not None and type(other.const) in (int, float) and other.const == 0:
                return value.zero  # ``x % c == 0``: whether x is a multiple of c, without the remainder
        return _numeric("==", a, b)
    if a.kind == "list" or b.kind == "list":
        raise refuse("comparing lists")
    if a.kind == b.kind:
        return a.expr == b.expr
    return pl.lit(False)  # Python's == between unrelated types is False


def _order(op: str, a: Val, b: Val) -> pl.Expr:
    if a.kind in NUMERIC and b.kind in NUMERIC:
        return _numeric(op, a, b)
    if a.kind == b.kind and a.kind in _SAME_KIND_ORDERED:
        return _apply(op, a.expr, b.expr)
    raise refuse(f"'{op}' between {a.kind} and {b.kind} (Python raises TypeError)")


def _apply(op: str, x: pl.Expr, y: pl.Expr) -> pl.Expr:
    return {"==": x == y, "<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def _numeric(op: str, a: Val, b: Val) -> pl.Expr:
    kinds = {a.kind, b.kind}
    if kinds <= {"int", "bool"}:
        x, y = as_int(a), as_int(b)
        if all(INT64[0] <= v.lo and v.hi <= INT64[1] for v in (x, y)):
            return _apply(op, x.expr, y.expr)  # both are Int64 expressions (see ``int_val``)
        return _apply(op, x.expr.cast(pl.Int128), y.expr.cast(pl.Int128))
    if "float" not in kinds or "num" in kinds:
        # ints meet floats as floats here; exact only while every int converts to float exactly
        if any(v.kind != "float" and max(-v.lo, v.hi) > EXACT_FLOAT_INT for v in (a, b)):
            raise refuse("comparing a value that is an int or a float depending on the row")
        return _float_float(op, as_float(a), as_float(b))
    if kinds == {"float"}:
        return _float_float(op, a, b)
    if a.kind == "float":
        flipped = {"==": "==", "<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
        return _int_float(flipped, as_int(b), a)
    return _int_float(op, as_int(a), b)


def _float_float(op: str, x: Val, y: Val) -> pl.Expr:
    result = _apply(op, x.expr, y.expr)
    if op == "==" and not (x.nan and y.nan):
        return result  # Polars' NaN equals only NaN, which one side never is
    for v in (x, y):
        if v.nan:
            result = result & ~v.expr.is_nan()
    return result


def _int_float(op: str, i: Val, f: Val) -> pl.Expr:
    """``i <op> f`` exactly: as floats when the int converts exactly, else the int with the float's floor or
    ceiling, as ints."""
    if max(-i.lo, i.hi) <= EXACT_FLOAT_INT:
        return _float_float(op, as_float(i), f)
    fe = f.expr
    safe = pl.when((fe >= -_BIG) & (fe < _BIG)).then(fe).otherwise(0.0)
    ie = i.expr.cast(pl.Int128)
    floor, ceil = safe.floor().cast(pl.Int128), safe.ceil().cast(pl.Int128)
    core, above, below = {
        "==": ((safe == safe.floor()) & (ie == floor), False, False),
        "<": (ie < ceil, True, False),
        "<=": (ie <= floor, True, False),
        ">": (ie > floor, False, True),
        ">=": (ie >= ceil, False, True),
    }[op]
    result = pl.when(fe >= _BIG).then(above).when(fe < -_BIG).then(below).otherwise(core)
    return result & ~fe.is_nan() if f.nan else result


def _contains(a: Val, b: Val, scope: Scope) -> pl.Expr:
    if b.kind == "tuple":
        if a.kind == "list":
            raise refuse("'in' with a list on the left")
        found = pl.lit(False)
        for item in b.const:
            found = found | equal(a, constant(item))
        return found
    if b.kind == "str" and a.kind in ("str", "none"):
        scope.fail(is_null(b), "TypeError", "argument of type 'NoneType' is not iterable")
        scope.fail(~is_null(b) & is_null(a), "TypeError", "'in <string>' requires string as left operand, not NoneType")
        return b.expr.str.contains(a.expr, literal=True).fill_null(False)
    raise refuse(f"'in' between {a.kind} and {b.kind}")

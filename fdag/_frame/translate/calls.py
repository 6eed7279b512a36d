"""Calls of known pure functions: the builtins fdag translates and the ``math`` module, one rule each.

Every rule raises exactly where CPython 3.11 raises (``math domain error`` on the same inputs, overflow of
float-to-int conversions, ...); anything else is refused with the name of the function.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import polars as pl

from fdag._frame.translate.compare import compare
from fdag._frame.translate.value import (
    NO_CONST,
    NUMERIC,
    Scope,
    Val,
    as_float,
    as_int,
    constant,
    finite,
    infinite,
    int_dtype,
    int_val,
    merge,
    refuse,
    truth,
)
from fdag._values.calls import INT64_OVERFLOW

DOMAIN = "math domain error"
RANGE = "math range error"
_WIDE = 2.0**120  # float-to-int results are kept in Int128 below this magnitude


def call_builtin(name: str, args: list[Val], scope: Scope) -> Val:
    """``name(*args)`` for a builtin fdag translates."""
    rule = _BUILTINS.get(name)
    if rule is None:
        raise refuse(f"calls builtin '{name}' (not translated)")
    return rule(args, scope)


def call_math(name: str, args: list[Val], scope: Scope) -> Val:
    """``math.<name>(*args)``."""
    rule = _MATH.get(name)
    if rule is None:
        raise refuse(f"calls 'math.{name}' (not translated)")
    for v in args:
        if v.kind not in NUMERIC and v.kind != "none":
            raise refuse(f"'math.{name}' of a {v.kind}")
        if v.kind == "none":
            raise refuse(f"'math.{name}' of None")
    scope.none_errors(args, lambda names: f"must be real number, not {next(n for n in names if n == 'NoneType')}")
    return rule(args, scope)


def _arity(name: str, args: list[Val], *counts: int) -> None:
    if len(args) not in counts:
        raise refuse(f"'{name}' with {len(args)} arguments")


def _abs(args: list[Val], scope: Scope) -> Val:
    _arity("abs", args, 1)
    (v,) = args
    scope.none_errors([v], lambda names: f"bad operand type for abs(): '{names[0]}'")
    if v.kind in ("int", "bool"):
        v = as_int(v)
        lo = 0 if v.lo <= 0 <= v.hi else min(abs(v.lo), abs(v.hi))
        hi = max(-v.lo, v.hi)
        return int_val(v.expr.cast(int_dtype(v.lo, hi)).abs(), lo, hi, v.nullable)
    if v.kind == "float":
        return Val("float", v.expr.abs(), v.nullable, nan=v.nan)
    if v.kind == "timedelta":
        return Val("timedelta", v.expr.abs(), v.nullable)
    raise refuse(f"abs() of a {v.kind}")


def _extreme(op: str) -> Callable[[list[Val], Scope], Val]:
    def rule(args: list[Val], scope: Scope) -> Val:
        if len(args) < 2:
            raise refuse(f"{'max' if op == '>' else 'min'}() of one argument (an iterable)")
        best = args[0]
        for item in args[1:]:
            # CPython keeps the first of equal candidates: it replaces only when the new item compares strictly
            best = merge(compare(op, item, best, scope), item, best)
        return best

    return rule


def _round(args: list[Val], scope: Scope) -> Val:
    if len(args) != 1:
        raise refuse("round() with ndigits (Python rounds the float's exact value)")
    (v,) = args
    scope.none_errors([v], lambda names: f"type {names[0]} doesn't define __round__ method")
    return _to_int(v, scope, lambda e: e.round(0, mode="half_to_even"))


def _int(args: list[Val], scope: Scope) -> Val:
    _arity("int", args, 1)
    (v,) = args
    scope.none_errors([v], lambda names: "int() argument must be a string, a bytes-like object or a real number, "
                      f"not '{names[0]}'")
    return _to_int(v, scope, _trunc)


def _trunc(e: pl.Expr) -> pl.Expr:
    return pl.when(e < 0).then(e.ceil()).otherwise(e.floor())


def _to_int(v: Val, scope: Scope, rounding: Callable[[pl.Expr], pl.Expr]) -> Val:
    """A float rounded to an int the way ``int``/``round``/``math.floor`` do, or an int unchanged."""
    if v.kind in ("int", "bool"):
        return as_int(v)
    if v.kind != "float":
        raise refuse(f"conversion of a {v.kind} to int")
    e = scope.share(v).expr  # read by three checks and the rounding
    scope.fail(infinite(e), "OverflowError", "cannot convert float infinity to integer")
    if v.nan:
        scope.fail(e.is_nan(), "ValueError", "cannot convert float NaN to integer")
    wide = finite(e) & (e.abs() >= _WIDE)
    scope.fail(wide, "OverflowError", INT64_OVERFLOW)
    safe = pl.when(e.abs() < _WIDE).then(rounding(e)).otherwise(0.0)  # false for NaN (above every float)
    return replace(int_val(safe.cast(pl.Int128), -(2**120), 2**120, v.nullable), rounded=rounding(e))


def _float(args: list[Val], scope: Scope) -> Val:
    _arity("float", args, 1)
    (v,) = args
    if v.kind not in NUMERIC:
        raise refuse(f"float() of a {v.kind}")
    scope.none_errors([v], lambda names: f"float() argument must be a string or a real number, not '{names[0]}'")
    return as_float(as_int(v) if v.kind == "bool" else v)


def _bool(args: list[Val], scope: Scope) -> Val:
    _arity("bool", args, 1)
    return Val("bool", truth(args[0]))


def _len(args: list[Val], scope: Scope) -> Val:
    _arity("len", args, 1)
    (v,) = args
    scope.none_errors([v], lambda names: f"object of type '{names[0]}' has no len()")
    if v.kind == "str":
        return int_val(v.expr.str.len_chars(), 0, 2**63 - 1, v.nullable)
    if v.kind == "list":
        return int_val(v.expr.list.len(), 0, 2**63 - 1, v.nullable)
    raise refuse(f"len() of a {v.kind}")


def _str(args: list[Val], scope: Scope) -> Val:
    _arity("str", args, 1)
    (v,) = args
    if v.kind in ("none", "str", "int", "bool", "float") and v.const is not NO_CONST:
        return constant(str(v.const))
    if v.kind == "str":
        text = v.expr
    elif v.kind == "int":
        text = v.expr.cast(pl.String)
    elif v.kind == "bool":
        text = pl.when(v.expr).then(pl.lit("True")).when(v.expr.not_()).then(pl.lit("False"))  # null stays null
    elif v.kind == "float":
        if not v.expr.meta.is_column():
            # Polars' float arithmetic is within an ulp of Python's (a column divided by a scalar is multiplied
            # by its reciprocal), and str() shows every digit: only a float as read has the same text.
            raise refuse("str() of a computed float (Polars may round its last digit differently from Python)")
        text = float_repr(v.expr)
    else:
        raise refuse(f"str() of a {v.kind} (Python's text for it differs from Polars')")
    return Val("str", text.fill_null("None") if v.nullable else text)


def float_repr(value: pl.Expr) -> pl.Expr:
    """``repr()`` of floats, from Polars' text of them.

    Both print the shortest digits that read back as the same float; they differ in layout only: Polars writes
    NaN as ``NaN``, numbers in [1e-5, 1e-4) without exponent, and exponents with a single digit as ``e-7``.
    (tests/frame/test_translate.py pins this against ``repr`` over generated floats.)
    """
    return (value.cast(pl.String)
            .str.replace(r"^NaN$", "nan")
            .str.replace(r"^(-?)0\.0000([1-9])$", "${1}${2}e-05")
            .str.replace(r"^(-?)0\.0000([1-9])(\d+)$", "${1}${2}.${3}e-05")
            .str.replace(r"e([+-])(\d)$", "e${1}0${2}"))


_BUILTINS: dict[str, Callable[[list[Val], Scope], Val]] = {
    "abs": _abs, "max": _extreme(">"), "min": _extreme("<"), "round": _round, "int": _int, "float": _float,
    "bool": _bool, "len": _len, "str": _str,
}


def _unary_float(name: str, fn: Callable[[pl.Expr], pl.Expr], domain: Callable[[pl.Expr], pl.Expr] | None = None,
                 overflow: bool = False) -> Callable[[list[Val], Scope], Val]:
    def rule(args: list[Val], scope: Scope) -> Val:
        _arity(f"math.{name}", args, 1)
        x = as_float(args[0])
        # what a check and the result both read is shared; the result from x itself, so both are one level
        result = scope.lets.share(fn(x.expr)) if overflow else None
        if domain is not None or overflow:
            x = scope.share(x)
        if domain is not None:
            scope.fail(domain(x.expr).fill_null(False), "ValueError", DOMAIN)
        if result is None:
            result = fn(x.expr)
        else:
            scope.fail(infinite(result) & finite(x.expr), "OverflowError", RANGE)
        return Val("float", result, x.nullable, nan=True)

    return rule


def _log(args: list[Val], scope: Scope) -> Val:
    _arity("math.log", args, 1, 2)
    x = scope.share(as_float(args[0]))
    scope.fail(x.expr <= 0, "ValueError", DOMAIN)
    if len(args) == 1:
        return Val("float", x.expr.log(), x.nullable, nan=True)
    base = as_float(args[1])
    den = scope.lets.share(base.expr.log())
    base = scope.share(base)
    in_domain = ~(x.expr <= 0)
    scope.fail(in_domain & (base.expr <= 0), "ValueError", DOMAIN)
    scope.fail(in_domain & ~(base.expr <= 0) & (den == 0), "ZeroDivisionError", "float division by zero")
    return Val("float", x.expr.log() / den, x.nullable or base.nullable, nan=True)


def _rounding(name: str, fn: Callable[[pl.Expr], pl.Expr]) -> Callable[[list[Val], Scope], Val]:
    def rule(args: list[Val], scope: Scope) -> Val:
        _arity(f"math.{name}", args, 1)
        return _to_int(args[0], scope, fn)

    return rule


def _pow(args: list[Val], scope: Scope) -> Val:
    _arity("math.pow", args, 2)
    x, y = as_float(args[0]), as_float(args[1])
    result = scope.lets.share(x.expr.pow(y.expr))
    x, y = scope.share(x), scope.share(y)
    both_finite = finite(x.expr) & finite(y.expr)
    fractional = y.expr != y.expr.floor()
    scope.fail(both_finite & (((x.expr == 0) & (y.expr < 0)) | ((x.expr < 0) & fractional)), "ValueError", DOMAIN)
    scope.fail(both_finite & infinite(result), "OverflowError", RANGE)
    return Val("float", result, x.nullable or y.nullable, nan=True)


def _hypot(args: list[Val], scope: Scope) -> Val:
    _arity("math.hypot", args, 2)
    x, y = (as_float(v).expr.abs() for v in args)
    top = pl.max_horizontal(x, y)
    scaled = top * ((x / top).pow(2) + (y / top).pow(2)).sqrt()
    result = (pl.when(infinite(x) | infinite(y)).then(float("inf"))
              .when(x.is_nan() | y.is_nan()).then(float("nan"))
              .when(top == 0).then(0.0).otherwise(scaled))
    return Val("float", result, any(v.nullable for v in args), nan=True)


def _copysign(args: list[Val], scope: Scope) -> Val:
    _arity("math.copysign", args, 2)
    x, y = as_float(args[0]), as_float(args[1])
    if y.nan:
        raise refuse("math.copysign() with a sign that may be NaN (its sign bit is not observable in Polars)")
    negative = (y.expr < 0) | ((y.expr == 0) & ((1.0 / y.expr) < 0))
    magnitude = x.expr.abs()
    return Val("float", pl.when(negative).then(-magnitude).otherwise(magnitude), x.nullable or y.nullable, nan=x.nan)


def _predicate(name: str, fn: Callable[[pl.Expr], pl.Expr]) -> Callable[[list[Val], Scope], Val]:
    def rule(args: list[Val], scope: Scope) -> Val:
        _arity(f"math.{name}", args, 1)
        return Val("bool", fn(as_float(args[0]).expr))

    return rule


_MATH: dict[str, Callable[[list[Val], Scope], Val]] = {
    "sqrt": _unary_float("sqrt", pl.Expr.sqrt, lambda x: x < 0),
    "log": _log,
    "log2": _unary_float("log2", lambda x: x.log(2), lambda x: x <= 0),
    "log10": _unary_float("log10", pl.Expr.log10, lambda x: x <= 0),
    "log1p": _unary_float("log1p", pl.Expr.log1p, lambda x: x <= -1),
    "exp": _unary_float("exp", pl.Expr.exp, overflow=True),
    "fabs": _unary_float("fabs", pl.Expr.abs),
    # CPython multiplies by the constant pi/180 (180/pi) and checks no range: the same one rounding here
    "radians": _unary_float("radians", lambda e: e * (math.pi / 180.0)),
    "degrees": _unary_float("degrees", lambda e: e * (180.0 / math.pi)),
    # NaN sorts above every float in Polars, so |NaN| > 1 holds there; CPython returns NaN without an error
    "asin": _unary_float("asin", pl.Expr.arcsin, lambda x: (x.abs() > 1) & x.is_not_nan()),
    "acos": _unary_float("acos", pl.Expr.arccos, lambda x: (x.abs() > 1) & x.is_not_nan()),
    "atan": _unary_float("atan", pl.Expr.arctan),
    "sin": _unary_float("sin", pl.Expr.sin, infinite),
    "cos": _unary_float("cos", pl.Expr.cos, infinite),
    "tan": _unary_float("tan", pl.Expr.tan, infinite),
    "floor": _rounding("floor", pl.Expr.floor),
    "ceil": _rounding("ceil", pl.Expr.ceil),
    "trunc": _rounding("trunc", _trunc),
    "pow": _pow,
    "hypot": _hypot,
    "copysign": _copysign,
    "isfinite": _predicate("isfinite", finite),
    "isinf": _predicate("isinf", infinite),
    "isnan": _predicate("isnan", pl.Expr.is_nan),
}

MATH_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau, "inf": math.inf}

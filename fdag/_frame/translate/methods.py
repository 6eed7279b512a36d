"""Methods and attributes of str, datetime, date and timedelta values, one small rule each.

Python's ``str.lower``/``upper`` follow CPython's Unicode tables, which differ from Rust's for a few code points,
so non-ASCII text is case-mapped by CPython itself; ``strip()`` strips exactly the characters for which
``str.isspace()`` is true.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from fdag._frame.translate.value import Scope, Val, int_val, refuse

# Every c with c.isspace() in CPython 3.11 (tests/frame/test_translate.py checks this against the interpreter).
PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_US_PER_DAY = 86_400 * 10**6


def _python_case(method: str) -> Callable[[pl.Series], pl.Series]:
    """``str.<method>`` per column: Polars where the text is ASCII (identical there), CPython for the rest.

    CPython's Unicode case mappings differ from Rust's for some code points (and capital sigma lowercases by
    context), so every row with a non-ASCII character is mapped by CPython itself: exact, and rare in practice.
    """
    fast = {"lower": "to_lowercase", "upper": "to_uppercase"}[method]

    def apply(series: pl.Series) -> pl.Series:
        result = getattr(series.str, fast)()
        non_ascii = (series.str.len_bytes() != series.str.len_chars()).fill_null(False)
        if not non_ascii.any():
            return result
        others = non_ascii.arg_true()
        mapped = [getattr(text, method)() for text in series.gather(others)]
        return result.scatter(others, pl.Series(mapped, dtype=pl.String))

    return apply


def method_call(obj: Val, name: str, args: list[Val], scope: Scope) -> Val:
    """``obj.<name>(*args)`` for str, datetime, date and timedelta values."""
    if obj.kind == "none":
        raise refuse(f"'.{name}()' on a None constant")
    scope.none_errors([obj], lambda names: f"'{names[0]}' object has no attribute '{name}'", "AttributeError")
    rule = _METHODS.get((obj.kind, name))
    if rule is None:
        raise refuse(f"method '{obj.kind}.{name}()' (not translated)")
    return rule(obj, args, scope)


def attribute(obj: Val, name: str, scope: Scope) -> Val:
    """``obj.<name>`` for datetime, date and timedelta values."""
    if obj.kind == "none":
        raise refuse(f"'.{name}' on a None constant")
    scope.none_errors([obj], lambda names: f"'{names[0]}' object has no attribute '{name}'", "AttributeError")
    rule = _ATTRIBUTES.get((obj.kind, name))
    if rule is None:
        raise refuse(f"attribute '{obj.kind}.{name}' (not translated)")
    return rule(obj)


def _no_args(name: str, args: list[Val]) -> None:
    if args:
        raise refuse(f"'.{name}()' with arguments")


def _const_str(name: str, v: Val) -> str:
    if not isinstance(v.const, str):
        raise refuse(f"'.{name}()' with an argument that is not a str constant")
    return v.const


def _lower(obj: Val, args: list[Val], scope: Scope) -> Val:
    _no_args("lower", args)
    expr = obj.expr.map_batches(_python_case("lower"), return_dtype=pl.String, is_elementwise=True)
    return Val("str", expr, obj.nullable)


def _upper(obj: Val, args: list[Val], scope: Scope) -> Val:
    _no_args("upper", args)
    expr = obj.expr.map_batches(_python_case("upper"), return_dtype=pl.String, is_elementwise=True)
    return Val("str", expr, obj.nullable)


def _strip(side: str) -> Callable[[Val, list[Val], Scope], Val]:
    def rule(obj: Val, args: list[Val], scope: Scope) -> Val:
        if len(args) > 1:
            raise refuse(f"'.{side}()' with {len(args)} arguments")
        chars = PY_WHITESPACE if not args or args[0].kind == "none" else _const_str(side, args[0])
        method = {"strip": "strip_chars", "lstrip": "strip_chars_start", "rstrip": "strip_chars_end"}[side]
        if not chars:
            return obj
        return Val("str", getattr(obj.expr.str, method)(chars), obj.nullable)

    return rule


def _affix(name: str) -> Callable[[Val, list[Val], Scope], Val]:
    def rule(obj: Val, args: list[Val], scope: Scope) -> Val:
        if len(args) != 1 or args[0].kind != "str" or args[0].nullable:
            raise refuse(f"'.{name}()' with an argument that is not one str")
        test = obj.expr.str.starts_with if name == "startswith" else obj.expr.str.ends_with
        return Val("bool", test(args[0].expr), obj.nullable)

    return rule


def _replace(obj: Val, args: list[Val], scope: Scope) -> Val:
    if len(args) != 2:
        raise refuse("'.replace()' with a count or missing arguments")
    old, new = (_const_str("replace", a) for a in args)
    if not old:
        raise refuse("'.replace()' of the empty string (Python inserts between every character)")
    return Val("str", obj.expr.str.replace_all(old, new, literal=True), obj.nullable)


def _part(fn: Callable[[pl.Expr], pl.Expr], lo: int, hi: int) -> Callable[[Val], Val]:
    def rule(obj: Val) -> Val:
        return int_val(fn(obj.expr).cast(pl.Int64), lo, hi, obj.nullable)

    return rule


def _call_of(rule: Callable[[Val], Val], name: str) -> Callable[[Val, list[Val], Scope], Val]:
    def call(obj: Val, args: list[Val], scope: Scope) -> Val:
        _no_args(name, args)
        return rule(obj)

    return call


def _micros(e: pl.Expr) -> pl.Expr:
    return e.cast(pl.Int64)


def _seconds_float(obj: Val) -> Val:
    micros = obj.expr.dt.epoch("us") if obj.kind == "datetime" else _micros(obj.expr)
    return Val("float", micros.cast(pl.Float64) / 1e6, obj.nullable)


_weekday = _part(lambda e: e.dt.weekday() - 1, 0, 6)
_isoweekday = _part(lambda e: e.dt.weekday(), 1, 7)

_ATTRIBUTES: dict[tuple[str, str], Callable[[Val], Val]] = {
    **{(kind, "year"): _part(lambda e: e.dt.year(), 1, 9999) for kind in ("datetime", "date")},
    **{(kind, "month"): _part(lambda e: e.dt.month(), 1, 12) for kind in ("datetime", "date")},
    **{(kind, "day"): _part(lambda e: e.dt.day(), 1, 31) for kind in ("datetime", "date")},
    ("datetime", "hour"): _part(lambda e: e.dt.hour(), 0, 23),
    ("datetime", "minute"): _part(lambda e: e.dt.minute(), 0, 59),
    ("datetime", "second"): _part(lambda e: e.dt.second(), 0, 59),
    ("datetime", "microsecond"): _part(lambda e: e.dt.microsecond(), 0, 999_999),
    ("timedelta", "days"): _part(lambda e: _micros(e) // _US_PER_DAY, -(2**63) // _US_PER_DAY,
                                 (2**63 - 1) // _US_PER_DAY),
    ("timedelta", "seconds"): _part(lambda e: _micros(e) % _US_PER_DAY // 10**6, 0, 86_399),
    ("timedelta", "microseconds"): _part(lambda e: _micros(e) % 10**6, 0, 999_999),
}

_METHODS: dict[tuple[str, str], Callable[[Val, list[Val], Scope], Val]] = {
    ("str", "lower"): _lower,
    ("str", "upper"): _upper,
    ("str", "strip"): _strip("strip"),
    ("str", "lstrip"): _strip("lstrip"),
    ("str", "rstrip"): _strip("rstrip"),
    ("str", "startswith"): _affix("startswith"),
    ("str", "endswith"): _affix("endswith"),
    ("str", "replace"): _replace,
    **{(kind, "weekday"): _call_of(_weekday, "weekday") for kind in ("datetime", "date")},
    **{(kind, "isoweekday"): _call_of(_isoweekday, "isoweekday") for kind in ("datetime", "date")},
    ("datetime", "date"): _call_of(lambda obj: Val("date", obj.expr.dt.date(), obj.nullable), "date"),
    ("datetime", "timestamp"): _call_of(_seconds_float, "timestamp"),
    ("timedelta", "total_seconds"): _call_of(_seconds_float, "total_seconds"),
}

"""Methods and attributes of str, datetime, date and timedelta values, one small rule each.

Python's ``str.lower``/``upper`` follow CPython's Unicode tables, which differ from Rust's for a few code points,
so non-ASCII text is case-mapped by CPython itself; ``strip()`` strips exactly the characters for which
``str.isspace()`` is true. The time of day and weekday of a (UTC) datetime are integer arithmetic on its
microseconds since the epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import polars as pl

from fdag._frame.translate.value import Scope, Val, int_val, refuse

# Every c with c.isspace() in CPython 3.11 (tests/frame/test_translate.py checks this against the interpreter).
PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_US_PER_DAY = 86_400 * 10**6


def _case(obj: Val, method: str, scope: Scope) -> Val:
    """``str.<method>()``: Polars where the text is ASCII (identical there), CPython for the other rows.

    CPython's Unicode case mappings differ from Rust's for some code points (and capital sigma lowercases by
    context), so every row with a non-ASCII character is mapped by CPython itself (``Patches``): exact, and rare
    in practice. The rows are told apart by their byte and character counts, which is cheap. (The text is read
    by the mapping, the counts and the patch; Polars computes a repeated ``s.strip()`` once within the context.)
    """
    fast = obj.expr.str.to_lowercase() if method == "lower" else obj.expr.str.to_uppercase()
    non_ascii = obj.expr.str.len_bytes() != obj.expr.str.len_chars()

    def by_cpython(series: Sequence[pl.Series]) -> pl.Series:
        mapped, others, text = series
        if not others.any():
            return mapped
        rows = others.arg_true()
        exact = [getattr(value, method)() for value in text.gather(rows)]
        return mapped.scatter(rows, pl.Series(exact, dtype=pl.String))

    return Val("str", scope.patches.exact(fast, non_ascii, [obj.expr], by_cpython, pl.String), obj.nullable)


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
    return _case(obj, "lower", scope)


def _upper(obj: Val, args: list[Val], scope: Scope) -> Val:
    _no_args("upper", args)
    return _case(obj, "upper", scope)


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


def _clock(unit: int, modulus: int) -> Callable[[pl.Expr], pl.Expr]:
    """A time-of-day field of a UTC datetime from its microseconds since the epoch: ``floor(us / unit) mod
    modulus`` (Polars' integer ``//`` and ``%`` floor, as a clock reads instants before 1970). Exact, and a
    fraction of the cost of the time-zone-aware ``dt.hour()`` family, which converts every value to a calendar."""
    return lambda e: (_micros(e) // unit if unit > 1 else _micros(e)) % modulus


def _weekday_from(first: int) -> Callable[[Val], Val]:
    """``weekday()`` (``first`` 0) or ``isoweekday()`` (1) from the days since the epoch: 1970-01-01 was a Thursday."""

    def rule(obj: Val) -> Val:
        days = _micros(obj.expr) // _US_PER_DAY if obj.kind == "datetime" else obj.expr.cast(pl.Int64)
        return int_val((days + 3) % 7 + first, first, first + 6, obj.nullable)

    return rule


_weekday = _weekday_from(0)
_isoweekday = _weekday_from(1)

_ATTRIBUTES: dict[tuple[str, str], Callable[[Val], Val]] = {
    **{(kind, "year"): _part(lambda e: e.dt.year(), 1, 9999) for kind in ("datetime", "date")},
    **{(kind, "month"): _part(lambda e: e.dt.month(), 1, 12) for kind in ("datetime", "date")},
    **{(kind, "day"): _part(lambda e: e.dt.day(), 1, 31) for kind in ("datetime", "date")},
    ("datetime", "hour"): _part(_clock(3_600 * 10**6, 24), 0, 23),
    ("datetime", "minute"): _part(_clock(60 * 10**6, 60), 0, 59),
    ("datetime", "second"): _part(_clock(10**6, 60), 0, 59),
    ("datetime", "microsecond"): _part(_clock(1, 10**6), 0, 999_999),
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

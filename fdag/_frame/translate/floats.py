"""Python's float ``%`` and ``//`` exactly: Polars arithmetic where it is provably exact, CPython's algorithm elsewhere.

CPython derives both from C's ``fmod``, which is exact: the remainder ``m = fmod(a, b)`` (sign of ``a``) becomes
``m`` when it has the sign of ``b``, ``fl(m + b)`` when it does not (one rounding) and ``copysign(0, b)`` when
zero; the quotient is ``(a - m) / b``, less one when the sign was adjusted, snapped to an integer. Polars' own
``%`` is not exact (``2.0**60 % 100`` is 0.0 in Polars, 76.0 in Python), and its float division of a column by a
constant is not correctly rounded (it multiplies by the reciprocal), so neither is used as a result here.

The fast path, for ``|a| < 2**51`` and an integer-valued divisor ``0 < |b| <= 2**50``, finds
``f = floor(a / b)`` exactly: ``floor(a * (1 / b))`` in floats is within one of ``f`` (``|a / b| < 2**51`` and the
two roundings err by under 3 ulp), and one exact comparison each way corrects it (``(k ± 1) * b`` are integers below
``2**53``, so exact). Then ``a - f * b`` is the exact floor remainder ``F`` rounded once (``f * b`` is exact),
which is CPython's remainder in all three cases (``F = m`` when the signs agree, ``F = m + b`` when they do not),
up to the sign of a zero; and CPython's quotient is ``f`` itself (``a - m`` is an exact multiple of ``b`` in this
range). The other rows (huge, infinite or NaN dividends; fractional or huge divisors) go through CPython's
algorithm in numpy, only those rows, and not at all when there are none. ``a % b == 0`` by a constant is
decided without the remainder (``float_mod_is_zero``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl

from fdag._frame.translate.patches import PATCHED, Patches

_DIVIDEND = 2.0**51  # |a| below this ...
_DIVISOR = 2.0**50  # ... and integer-valued divisors up to this take the fast path

Kernel = Callable[[np.ndarray, np.ndarray], np.ndarray]


def float_mod(a: pl.Expr, b: pl.Expr, divisor: float | None, patches: Patches = PATCHED) -> pl.Expr:
    """Python's ``a % b`` for Float64 ``a`` and ``b``; ``divisor`` is ``b``'s value when it is a constant;
    ``patches`` says how the rows beyond the fast path are made exact (by default, patched in place)."""
    return _exact("%", a, b, divisor, patches)


def float_floordiv(a: pl.Expr, b: pl.Expr, divisor: float | None, patches: Patches = PATCHED) -> pl.Expr:
    """Python's ``a // b`` for Float64 ``a`` and ``b``, as ``float_mod``."""
    return _exact("//", a, b, divisor, patches)


def _exact(op: str, a: pl.Expr, b: pl.Expr, divisor: float | None, patches: Patches) -> pl.Expr:
    kernel = python_float_mod if op == "%" else python_float_floordiv
    if divisor is not None and not (divisor == divisor // 1 and 0 < abs(divisor) <= _DIVISOR):
        return pl.map_batches([a, b], _everywhere(kernel), return_dtype=pl.Float64, is_elementwise=True)
    fast = _fast(op, a, b, divisor)
    exact = a.abs() < _DIVIDEND
    if divisor is None:
        # zero divisors are errors whatever the value: no need to compute them the slow way
        exact = exact & (((b == b.floor()) & (b.abs() <= _DIVISOR)) | (b == 0))
    return patches.exact(fast, ~exact, [a, b], _patched(kernel), pl.Float64)


def _fast(op: str, a: pl.Expr, b: pl.Expr, divisor: float | None) -> pl.Expr:
    """The exact quotient or remainder on the rows of the fast path (see the module docstring).

    ``guess`` is read three times and must be one value each time. Polars divides a column by a one-row chunk as by
    a constant (by its reciprocal), so ``a / b`` could differ by an ulp between the reads where a frame's chunks
    are split differently (an eager ``when``/``then``): ``-8925.0 // 595.0`` came out -14.0. Multiplying by
    ``1 / b`` computes the same product on every path, and errs by under 3 ulp, within the one-step correction.
    """
    guess = (a * (1.0 / b)).floor()
    above, below = (guess + 1.0) * b, guess * b
    if divisor is None:
        positive = b > 0
        up = pl.when(positive).then(a >= above).otherwise(a <= above)
        down = pl.when(positive).then(a < below).otherwise(a > below)
    else:
        up, down = (a >= above, a < below) if divisor > 0 else (a <= above, a > below)
    quotient = pl.when(up).then(guess + 1.0).when(down).then(guess - 1.0).otherwise(guess)
    if op == "//":
        # a zero quotient has the sign of a / b, as in CPython: the guess is floor(±0.0) for a ±0.0 quotient, and
        # a corrected guess (-1 + 1, 1 - 1) is +0.0 exactly where a / b is positive
        return quotient
    # the remainder has b's sign or is zero; abs() turns a -0.0 into the +0.0 CPython returns for b > 0
    magnitude = (a - quotient * b).abs()
    if divisor is None:
        return pl.when(b > 0).then(magnitude).otherwise(-magnitude)
    return magnitude if divisor > 0 else -magnitude


def float_mod_is_zero(a: pl.Expr, divisor: float, patches: Patches = PATCHED) -> pl.Expr | None:
    """Python's ``a % divisor == 0`` for Float64 ``a`` and a constant ``divisor``: whether ``a`` is an exact
    multiple of it, without the remainder; ``None`` when the divisor is not one of the fast path.

    On the fast path's rows ``g = round(a / divisor)`` is the quotient ``k`` when ``a = k * divisor`` (the
    division, even by a reciprocal, errs by less than a quarter there), and ``g * divisor`` is exact (below
    ``2**53``): so ``g * divisor == a`` exactly when ``a`` is a multiple. The other rows go through CPython's
    remainder.
    """
    if not (divisor == divisor // 1 and 0 < abs(divisor) <= _DIVISOR):
        return None
    b = pl.lit(divisor, pl.Float64)
    multiple = (a / b).round() * b == a
    slow = ~(a.abs() < _DIVIDEND)
    return patches.exact(multiple, slow, [a, b], _patched(_is_zero_remainder, pl.Boolean), pl.Boolean)


def _is_zero_remainder(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return python_float_mod(a, b) == 0


def _everywhere(kernel: Kernel) -> Callable[[Sequence[pl.Series]], pl.Series]:
    def apply(series: Sequence[pl.Series]) -> pl.Series:
        return pl.Series(kernel(series[0].to_numpy(), series[1].to_numpy()), dtype=pl.Float64)

    return apply


def _patched(kernel: Kernel, dtype: type[pl.DataType] = pl.Float64) -> Callable[[Sequence[pl.Series]], pl.Series]:
    """``[fast, slow, a, b]`` → ``fast`` with its ``slow`` rows recomputed by ``kernel`` (a literal is one row)."""

    def apply(series: Sequence[pl.Series]) -> pl.Series:
        fast, slow, a, b = series
        if not slow.any():
            return fast
        rows = (slow & fast.is_not_null()).arg_true()
        values = kernel(_at(a, rows), _at(b, rows))
        return fast.scatter(rows, pl.Series(values, dtype=dtype))

    return apply


def _at(values: pl.Series, rows: pl.Series) -> Any:
    if len(values) == 1:
        return np.full(len(rows), values[0], dtype=np.float64)
    return values.gather(rows).to_numpy()


def python_float_mod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """CPython's ``float_rem``: C ``fmod``, then the remainder takes the divisor's sign."""
    with np.errstate(all="ignore"):
        mod = np.fmod(a, b)
        flip = (mod != 0) & ((b < 0) != (mod < 0))
        return np.where(flip, mod + b, np.where(mod == 0, np.copysign(0.0, b), mod))


def python_float_floordiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """CPython's ``_float_div_mod`` quotient: ``(a - fmod(a, b)) / b`` adjusted and snapped to an integer."""
    with np.errstate(all="ignore"):
        mod = np.fmod(a, b)
        div = (a - mod) / b
        div = np.where((mod != 0) & ((b < 0) != (mod < 0)), div - 1.0, div)
        floor = np.floor(div)
        floor = np.where(div - floor > 0.5, floor + 1.0, floor)
        return np.where(div == 0, np.copysign(0.0, a / b), floor)

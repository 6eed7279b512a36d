"""Window sums, means and variances of ints too large for the fast paths, in exact Python integers.

The fast paths hold int sums in wrapping int64 prefix sums (a window's difference is exact whenever the window's
own sum fits) and variances in floats (exact while every value is, below 2**53). Windows that could break either
— a sum beyond int64, a value a float cannot hold — are computed here instead, in Python ints as online: a sum
that does not fit in int64 is an error (null, recorded), a mean or variance is the one correctly rounded division
of exact integers. Such windows are rare, so the cost of Python ints is too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fdag._values.lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
else:  # numpy loads with the first window computed offline, not with `import fdag`
    np = lazy_module("numpy")

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_FLOAT_EXACT = 2**53  # ints of at most this magnitude are exact as floats


def _peak(values: np.ndarray) -> int:
    """The largest magnitude among int64 ``values`` (0 when empty), as a Python int (no int64 overflow)."""
    return max(int(values.max()), -int(values.min())) if len(values) else 0


def sums_overflow(values: np.ndarray) -> bool:
    """Whether some window of these int values could sum beyond int64 (a cheap bound: the largest magnitude times
    the number of values)."""
    return values.dtype.kind != "f" and _peak(values) * len(values) > INT64_MAX


def floats_inexact(values: np.ndarray) -> bool:
    """Whether some of these int values cannot be held exactly by a float (so variances need the exact path)."""
    return values.dtype.kind != "f" and _peak(values) > _FLOAT_EXACT


def checked_sums(values: np.ndarray, sums: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sums`` (the wrapping int64 sums of each ``[a, b)``), or where some window's true sum may leave int64, an
    object array of them with those windows summed exactly in Python ints.

    The suspects come from float prefix sums: their error (at most about ``n * 2**-53`` of the largest prefix) is
    far below the margin between ``2**62``, where a window becomes suspect, and ``2**63``.
    """
    if not sums_overflow(values):
        return sums
    approximate = np.zeros(len(values) + 1)
    np.cumsum(values.astype(np.float64), out=approximate[1:])
    suspects = np.flatnonzero(np.abs(approximate[b] - approximate[a]) >= 2.0**62)
    if not len(suspects):
        return sums
    exact = sums.astype(object)
    for i in suspects:
        exact[i] = sum(values[a[i]:b[i]].tolist())
    return exact


def _exact_prefix(values: np.ndarray, power: int = 1) -> np.ndarray:
    """Prefix sums (leading 0) of ``values ** power`` as Python ints."""
    prefix = np.zeros(len(values) + 1, dtype=object)
    if len(values):
        prefix[1:] = np.cumsum(values.astype(object) ** power)
    return prefix


def fits_int64(total: int) -> bool:
    """Whether an exact sum is an int64 value (else the window's value is an overflow error)."""
    return INT64_MIN <= total <= INT64_MAX


def exact_variances(values: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sample variance of each ``[a, b)`` from exact integer moments: ``(n*Q - S*S) / (n*(n-1))``, NaN below two."""
    sums, squares = _exact_prefix(values), _exact_prefix(values, 2)
    out = np.full(len(a), np.nan)
    for i in np.flatnonzero(b - a > 1):
        n, s, q = int(b[i] - a[i]), sums[b[i]] - sums[a[i]], squares[b[i]] - squares[a[i]]
        out[i] = (n * q - s * s) / (n * (n - 1))
    return out

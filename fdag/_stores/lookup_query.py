"""The query plan of lookup specs, shared by every store: one rule, so all stores give identical values.

A store answers one question per distinct lag: which is the newest row of the key with ``ts <= as_of - lag``
(newest by (timestamp, id), or by arrival among equal timestamps without ids)? ``answer`` turns those rows into
each spec's value and as-of: the row's value and timestamp, or, when there is no row or it is older than
``as_of - lag - max_age``, the spec's default, whose as-of is ``min(as_of - lag, watermark)`` — how far the source
is known to hold no newer row — or None for a null default (nothing was read).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fdag._dag.specs import LookupSpec
from fdag._values.instants import EPOCH, MICROSECOND

#: The newest row at one cutoff: its timestamp (µs), per-column values and id (None without ids), or None when
#: the key has no such row.
Row = tuple[int, Sequence[Any], Any] | None


class LookupQuery:
    """The query plan of fixed lookup specs over one source: distinct lags, then per spec its column and rules."""

    def __init__(self, specs: Sequence[LookupSpec]) -> None:
        self.columns = tuple(spec.value_column for spec in specs)
        lags = list(dict.fromkeys(spec.lag // MICROSECOND for spec in specs))
        self.lags = tuple(lags)
        self._rules = tuple(
            (lags.index(spec.lag // MICROSECOND), spec.lag // MICROSECOND, column,
             None if spec.max_age is None else spec.max_age // MICROSECOND, spec.default)
            for column, spec in enumerate(specs)
        )
        self._nothing = [None] * len(self._rules)

    def cutoffs(self, t: int) -> list[int]:
        """The newest timestamp (µs) each lag may read at request instant ``t`` (µs): ``t - lag``."""
        return [t - lag for lag in self.lags]

    def null(self) -> tuple[list[Any], list[datetime | None]]:
        """Values and as-ofs for a null key: null, unknown (the node's function is not called)."""
        return list(self._nothing), list(self._nothing)

    def answer(self, rows: Sequence[Row], t: int, watermark: int | None) -> tuple[list[Any], list[datetime | None]]:
        """Each spec's value and as-of at ``t`` (µs) from the newest row per lag (aligned with ``lags``).

        ``watermark`` (µs) is the largest timestamp the store holds for the source, None before any row.
        """
        values: list[Any] = []
        as_ofs: list[datetime | None] = []
        for lag_index, lag, column, max_age, default in self._rules:
            row = rows[lag_index]
            cutoff = t - lag
            if row is not None and (max_age is None or row[0] >= cutoff - max_age):
                values.append(row[1][column])
                as_ofs.append(EPOCH + row[0] * MICROSECOND)
            else:  # a fresh copy of a list default: callers may mutate what they get
                values.append(copy.deepcopy(default) if isinstance(default, list) else default)
                if default is None or watermark is None:
                    as_ofs.append(None)
                else:
                    as_ofs.append(EPOCH + min(cutoff, watermark) * MICROSECOND)
        return values, as_ofs

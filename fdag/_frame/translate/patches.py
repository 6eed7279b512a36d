"""Fast Polars expressions made exact on the rows where they may differ from Python: patched, or assumed.

Some translations are a fast Polars expression that equals Python's result on all but a few rows which a cheap
test finds (``lower()`` on non-ASCII text, float ``%`` on huge dividends). Those rows can be made exact two ways:

- **patched** (the default): a Python function recomputes them, called once per batch with the fast values, the
  test and the inputs; it returns at once when no row needs it. Exact in one run, but the call holds the
  interpreter lock, and Polars' streaming engine calls it for every morsel, which serialises its threads.
- **assumed** (``optimistic``): the fast expression alone, and the test kept as an *assumption* of the feature.
  The engine computes the assumption beside the value and, after the run, checks that no row needed a patch;
  where one did, it runs again with that feature patched. The answer is the same either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import polars as pl

Fix = Callable[[Sequence[pl.Series]], pl.Series]  # [fast, needs patch, *inputs] -> the exact values


@dataclass
class Patches:
    """How one translation makes its fast expressions exact, and the assumptions it made instead."""

    optimistic: bool = False
    assumptions: list[pl.Expr] = field(default_factory=list)

    def exact(self, fast: pl.Expr, needs_patch: pl.Expr, inputs: Sequence[pl.Expr], fix: Fix,
              dtype: type[pl.DataType] | pl.DataType) -> pl.Expr:
        """``fast``, exact on the rows where ``needs_patch`` holds (a null test counts as false): patched there
        by ``fix``, or, when optimistic, assumed to hold on no row (``assumption()`` says where it failed)."""
        needs_patch = needs_patch.fill_null(False)
        if self.optimistic:
            if not any(needs_patch.meta.eq(seen) for seen in self.assumptions):  # e.g. ``x % c`` and its zero test
                self.assumptions.append(needs_patch)
            return fast
        return pl.map_batches([fast, needs_patch, *inputs], fix, return_dtype=dtype, is_elementwise=True)

    def assumption(self) -> pl.Expr | None:
        """The rows where some fast expression of the translation was not exact (None: nothing was assumed)."""
        return pl.any_horizontal(self.assumptions) if self.assumptions else None


PATCHED = Patches()  # the default: every fast expression patched in place (it records nothing, so it is shared)

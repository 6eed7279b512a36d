"""Minimum or maximum of any rank range of one key's values in O(1): a sparse table over blocks of values.

The monotonic stacks of ``ColumnIndex`` answer a window that reaches the newest value; a window ending earlier
(``as_of`` moved back, or events at or after ``as_of`` already held) needs the extreme of an arbitrary range.
Values are grouped in blocks of ``BLOCK``; ``levels[k][b]`` is the extreme of blocks ``[b, b + 2**k)``. A
range is its ragged ends (at most ``BLOCK`` values each, one C-level ``min``/``max`` over a slice) plus two
overlapping power-of-two runs of whole blocks. The table is built lazily, only up to the blocks a query needs,
and truncated from the first changed rank when values change: in-order appends add one entry per level per new
block (O(log n) per ``BLOCK`` values), a late value rebuilds only the entries covering its block or later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

BLOCK = 32


class RangeExtreme:
    """The extreme (``reduce`` = ``min`` or ``max``) of ranks ``[a, z)`` of a values list it does not own."""

    __slots__ = ("levels", "reduce")

    def __init__(self, reduce: Callable[..., Any]) -> None:
        self.reduce = reduce
        self.levels: list[list[Any]] = [[]]  # levels[0]: each whole block's extreme

    def truncate(self, rank: int) -> None:
        """Forget every entry that covers rank ``rank`` or later (values from there on changed)."""
        block = rank // BLOCK
        for k, level in enumerate(self.levels):
            del level[max(0, block - (1 << k) + 1):]

    def query(self, values: list[Any], a: int, z: int) -> Any:
        """The extreme of ``values[a:z]`` (``a < z``)."""
        reduce = self.reduce
        first, last = -(-a // BLOCK), z // BLOCK  # the whole blocks inside the range: [first, last)
        if last - first < 2:
            return reduce(values[a:z])
        self._build(values, last)
        k = (last - first).bit_length() - 1
        level = self.levels[k]
        inner = reduce(level[first], level[last - (1 << k)])
        if a < first * BLOCK:
            inner = reduce(inner, reduce(values[a : first * BLOCK]))
        if z > last * BLOCK:
            inner = reduce(inner, reduce(values[last * BLOCK : z]))
        return inner

    def _build(self, values: list[Any], blocks: int) -> None:
        """Extend every level to cover the first ``blocks`` whole blocks."""
        reduce, levels = self.reduce, self.levels
        base = levels[0]
        for b in range(len(base), blocks):
            base.append(reduce(values[b * BLOCK : (b + 1) * BLOCK]))
        k = 1
        while (1 << k) <= blocks:
            if k == len(levels):
                levels.append([])
            below, level, half = levels[k - 1], levels[k], 1 << (k - 1)
            size = blocks - (1 << k) + 1
            if len(level) < size:
                level.extend(map(reduce, below[len(level) : size], below[len(level) + half : size + half]))
            k += 1

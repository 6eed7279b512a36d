"""Pre-aggregated window state in Redis: tile levels, what each tile holds, and how a window reads them.

Each entity key of a window layout has tiles at ``LEVELS`` widths, finest first, each ``RATIO`` times the one
below, the coarsest an eighth of the retention; a tile covers ``[start, start + width)`` (µs, shifted by a phase
drawn from the key's name, so that different keys' tiles end at different instants). A tile is sealed (written,
then kept current) once the watermark has passed its end, if its range holds ``DENSE`` events: no query reads a
tile whose end is past the watermark, so until then its events cost no tile work. A tile holds, per value column
that a tiled spec reads, the partial states of the events it covers: the count of non-null values, the first and
last timestamps of those, and what the specs read of numbers (ints, floats, bools; datetimes, dates and timedeltas
as integers): min, max, the exact sum, the exact sum of squares (``redis_scripts``). What a tile holds is part of
the layout's fingerprint, so drivers share tiles exactly when they keep the same ones.

A window ``[t - over, t)`` reads, in one script call, the tiles inside it (at most ``RATIO - 1`` per level and
side, plus the coarse ones in the middle) merged on the server, the raw events only where its edges cut a
finest tile or a tile is not sealed (yet, or ever: fewer than ``DENSE`` events), and the events at the merged
first and last timestamps (their tie order is decided here). Below
the retention horizon no tile is kept, so that part of a window is read raw (it holds no events, or the query
is refused as truncated). A column holding a value a double cannot carry exactly (an int beyond 2**53, inf,
NaN, a float whose square leaves the double range) marks its tiles inexact, and windows over them are computed
from their raw events instead (a second round trip). ``distinct_count`` and ``last_n``, and min or max over
strings or other non-numbers, always read raw events (``TilePlan.raw``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from fdag._aggregations.tiled import Partial, TileAggregator
from fdag._dag.specs import WindowSpec
from fdag._stores.redis_codec import Convert, column_types, decoder
from fdag._values.instants import MICROSECOND
from fdag._values.types import FType

LEVELS = 5
RATIO = 8
DENSE = 16  # events a tile's range must hold for the tile to be sealed (fewer are cheaper to read raw)
SAFE = 2**53  # |µs| below this is exact as a double, in scores and in Lua


def tile_widths(retention: int) -> tuple[int, ...]:
    """The tile widths (µs) of a layout with ``retention`` (µs), finest first."""
    finest = max(1, retention // RATIO**LEVELS)
    return tuple(finest * RATIO**level for level in range(LEVELS))


def column_kind(ftype: FType) -> str:
    """How tiles aggregate a column: ``f`` floats, ``i`` integers (and instants as µs), ``b`` bools, ``o`` other."""
    base = ftype.base
    if base is float:
        return "f"
    if base is bool:
        return "b"
    if base in (int, datetime, date, timedelta):
        return "i"
    return "o"


@dataclass(frozen=True)
class TiledSpec:
    """A spec read from tiles: its position among the specs, its window, column and aggregator."""

    position: int
    window: int
    both: bool
    column: int
    aggregate: TileAggregator


class TilePlan:
    """Which specs read tiles and which raw events, the windows to ask for, and the layout text for ingest; over
    the stored ``columns``, ``stored_as`` mapping each spec's value column to the one holding its values."""

    def __init__(self, specs: Sequence[WindowSpec], columns: tuple[str, ...], stored_as: Mapping[str, str],
                 retention: int, with_ids: bool) -> None:
        types = column_types(specs, columns)
        self.kinds = tuple(column_kind(ftype) for ftype in types)
        self.widths = tile_widths(retention)
        self._convert: tuple[Convert | None, ...] = tuple(_from_double(kind, ftype)
                                                          for kind, ftype in zip(self.kinds, types, strict=True))
        overs: list[int] = []
        tiled: list[TiledSpec] = []
        raw: list[int] = []
        for position, spec in enumerate(specs):
            column = columns.index(stored_as[spec.value_column])
            rule = spec.agg.kind.tile
            if rule is None or (rule.numeric and self.kinds[column] == "o"):
                raw.append(position)
                continue
            over = spec.over // MICROSECOND
            if over not in overs:
                overs.append(over)
            exact = spec.value_type.base in (int, bool)
            aggregate = spec.agg.tiled(spec.empty_value, spec.returns, exact)
            assert aggregate is not None  # a rule gives an aggregator
            tiled.append(TiledSpec(position, overs.index(over), spec.closed == "both", column, aggregate))
        self.tiled = tuple(tiled)
        # The partials each tiled column keeps (``TileRule.reads``); a column no tiled spec reads has no tiles.
        reads: dict[int, str] = {}
        for s in tiled:
            rule = specs[s.position].agg.kind.tile
            reads[s.column] = "".join(sorted(set(reads.get(s.column, "")) | set(rule.reads if rule else "")))
        self.slots = {column: slot for slot, column in enumerate(sorted(reads))}
        self.sums = tuple("s" in reads.get(j, "") for j in range(len(columns)))
        self.squares = tuple("q" in reads.get(j, "") for j in range(len(columns)))
        self.lows = tuple("m" in reads.get(j, "") for j in range(len(columns)))
        self.highs = tuple("M" in reads.get(j, "") for j in range(len(columns)))
        self.ordered = tuple(any(specs[s.position].agg.kind.ordered for s in tiled if s.column == j)
                             for j in range(len(columns)))  # a first/last reads the column
        offset = 3 if with_ids else 2  # Lua positions of the first value: after (ts, id), or after ts
        self.config = (" ".join(map(str, self.widths)) + f";{offset};{DENSE};"
                       + " ".join(f"{j}:{self.kinds[j]}{reads[j]}" for j in sorted(reads))) if reads else ""
        self.raw = tuple(raw)
        self.raw_specs = tuple(specs[p] for p in raw)
        self.raw_over = max((spec.over // MICROSECOND for spec in self.raw_specs), default=None)
        self.raw_both = any(spec.closed == "both" for spec in self.raw_specs)
        self.windows = tuple(
            (over, any(s.both for s in tiled if s.window == w),
             any(specs[s.position].agg.kind.ordered for s in tiled if s.window == w))
            for w, over in enumerate(overs))

    def args(self, t: int, retention: int) -> list[Any]:
        """The ``ARGV`` of ``TILE_QUERY`` at ``as_of = t`` (µs)."""
        raw_lo = "" if self.raw_over is None else t - self.raw_over
        args: list[Any] = [t, retention, " ".join(map(str, self.widths)), raw_lo, int(self.raw_both)]
        for over, both, ordered in self.windows:
            args += (t - over, int(both), int(ordered))
        return args

    def partial(self, merged: list[list[str]] | None, column: int) -> Partial | None:
        """The ``Partial`` of the merged tiles' ``column`` (edges and first/last not yet added); None if inexact."""
        if merged is None:
            return Partial()
        n, _, _, low, high, inexact, sums, squares = merged[self.slots[column]]
        if inexact:
            return None
        convert = self._convert[column]
        part = Partial(int(float(n)), [float(v) for v in sums.split()], [float(v) for v in squares.split()])
        convert = convert or float
        part.low = convert(float(low)) if low else None
        part.high = convert(float(high)) if high else None
        return part


def parse_merged(text: bytes) -> list[list[str]] | None:
    """The per-column fields of the merged tiles' text (``redis_scripts``), None for no tile."""
    if not text:
        return None
    return [column.split(",") for column in text.decode().split("|")]


def _from_double(kind: str, ftype: FType) -> Convert | None:
    """A tile's min/max (a double) -> the column's value: int, bool or the instant it encodes."""
    if kind == "b":
        return bool
    if kind == "i":
        convert = decoder(ftype)
        if convert is None:
            return int
        return lambda v: convert(int(v))
    return None

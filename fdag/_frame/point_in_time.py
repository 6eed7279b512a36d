"""The offline point-in-time window engine: every window spec of one source, for every request, in one pass.

Events are deduplicated by id, restricted to the keys some request asks about, encoded as one int64 per event
(dense key code x time span + time offset) and sorted once. Each request's window is then a contiguous range of
that sorted array, found by binary search on sorted requests; each spec's aggregation (its offline kernel, from
the aggregation registry) aggregates the ranges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from fdag._aggregations.offline import Window
from fdag._dag.specs import WindowSpec
from fdag._declare.source import Source
from fdag._frame.compile import SEPARATOR, error_column
from fdag._values.calls import WINDOW_INT64_OVERFLOW
from fdag._values.frames import ROW

AS_OF = "as_of"
_KEY_CODE, _TIME, _EVENT_CODE = "__pit_key", "__pit_time", "__pit_code"
_MICROSECOND = timedelta(microseconds=1)  # times are integer µs, never calendar units


def window_frame(specs: Sequence[WindowSpec], events: pl.LazyFrame, requests: pl.LazyFrame) -> pl.LazyFrame:
    """Aggregate each spec's per-event values over ``[as_of - over, as_of)`` (or ``]``) of the request's key.

    ``events`` holds the source's key, timestamp, optional id and each spec's ``value_column``; ``requests`` holds
    ``__row``, the key column and ``as_of``. The result has ``__row`` and one column per spec (``spec.node``), in
    no particular row order, and for a spec that can overflow its error column (``OverflowError`` where the
    int value of a non-empty window does not fit in int64). Nothing runs until the result is collected.
    """
    # Preconditions of an internal function: the window stage calls it once per source, with its specs.
    assert specs, "window_frame() needs at least one WindowSpec"
    sources = {spec.source.name for spec in specs}
    assert len(sources) == 1, f"window_frame() takes specs of one source, got {sorted(sources)}"
    frozen = tuple(specs)
    schema: dict[str, pl.DataType] = {ROW: requests.collect_schema()[ROW],
                                      **{spec.node: spec.returns.polars for spec in frozen}}
    schema |= {error_column(spec.node): pl.String() for spec in frozen if spec.can_overflow}
    return pl.defer(lambda: _compute(frozen, events, requests), schema=schema)


def _compute(specs: tuple[WindowSpec, ...], events: pl.LazyFrame, requests: pl.LazyFrame) -> pl.DataFrame:
    """Run the engine eagerly (called when the deferred frame is collected)."""
    source = specs[0].source
    key, event_id = source.key, source.id
    value_columns = list(dict.fromkeys(spec.value_column for spec in specs))
    ordered = any(spec.agg.kind.ordered for spec in specs)
    asks = requests.select(ROW, key, AS_OF).collect()
    known = asks[key].drop_nulls().unique()
    numbers = pl.Series(np.arange(len(known), dtype=np.int64))

    # Strings never travel further than this select: events carry dense key codes and integer microseconds.
    # One filter drops keys no request asks about and every copy of an id but the earliest (by timestamp, then
    # frame order: the predicate sees the whole frame); events without an id are all kept.
    keep = pl.col(_KEY_CODE).is_not_null() & earliest_copies(source, _TIME)
    frame = (
        events.select(
            pl.col(key).replace_strict(known, numbers, default=None, return_dtype=pl.Int64).alias(_KEY_CODE),
            pl.col(source.timestamp).dt.epoch("us").alias(_TIME),
            *([event_id] if event_id is not None else []),
            *value_columns,
        )
        .filter(keep)
        .collect()
    )

    ask_keys = asks[key].replace_strict(known, numbers, default=len(known), return_dtype=pl.Int64).to_numpy()
    ask_valid = asks[AS_OF].is_not_null().to_numpy()
    ask_times = asks[AS_OF].dt.epoch("us").fill_null(0).to_numpy()
    overs = sorted({spec.over // _MICROSECOND for spec in specs})
    encode = _Encoding.fit(frame[_TIME], ask_times[ask_valid], overs, len(known) + 1)

    tie = event_id if ordered else None  # ties at one code are ordered by id, else kept in frame order
    frame = frame.select(encode.events(frame).alias(_EVENT_CODE), *([tie] if tie else []), *value_columns)
    frame = frame.sort(_EVENT_CODE, maintain_order=ordered)
    if tie is not None:
        frame = _break_ties(frame, tie)
    codes = frame[_EVENT_CODE].to_numpy()

    ask_codes = encode(ask_keys, ask_times)
    order = pl.Series(ask_codes).arg_sort().to_numpy()  # any order of equal codes: their ranges are equal
    sorted_keys, sorted_times = ask_keys[order], ask_times[order]
    upper = {
        closed: np.searchsorted(codes, ask_codes[order], side="left" if closed == "left" else "right")
        for closed in {spec.closed for spec in specs}
    }
    lower = {over: np.searchsorted(codes, encode(sorted_keys, sorted_times - over), side="left") for over in overs}

    valid = ask_valid[order]
    columns = {ROW: asks[ROW].gather(pl.Series(order))}
    for column in value_columns:
        values = frame[column]
        if values.dtype.is_float():
            values = values.fill_nan(None)
        present = values.is_not_null()
        if values.null_count():
            seen = np.zeros(len(values) + 1, dtype=np.int64)
            np.cumsum(present.to_numpy(), out=seen[1:])
            values = values.filter(present)
        else:
            seen = None
        cache: dict = {}
        windows: dict[tuple[timedelta, str], Window] = {}
        for spec in specs:
            if spec.value_column != column:
                continue
            window_key = (spec.over, spec.closed)
            if window_key not in windows:
                lo, hi = lower[spec.over // _MICROSECOND], upper[spec.closed]
                windows[window_key] = Window(*((lo, hi) if seen is None else (seen[lo], seen[hi])), window_key)
            window = windows[window_key]
            result = spec.agg.aggregate(values, window, cache)
            columns[spec.node] = _finish(spec, result, window.b > window.a, valid)
            if spec.can_overflow:
                overflowed = pl.Series(valid & (window.b > window.a)) & result.is_null()
                columns[error_column(spec.node)] = pl.select(
                    pl.when(pl.lit(overflowed)).then(pl.lit(f"OverflowError{SEPARATOR}{WINDOW_INT64_OVERFLOW}"))
                    .otherwise(pl.lit(None, dtype=pl.String)).alias(error_column(spec.node))).to_series()
    errors = [columns[error_column(spec.node)] for spec in specs if spec.can_overflow]
    return pl.DataFrame([columns[ROW], *(columns[spec.node] for spec in specs), *errors])


def earliest_copies(source: Source, stamp: str | None = None) -> pl.Expr:
    """True for the events a window or lookup reads: the earliest copy of each id, by timestamp (column ``stamp``,
    the source's by default) then frame order (over the whole frame); every event of a source without ids."""
    if source.id is None:
        return pl.lit(True)
    earliest = pl.col(stamp or source.timestamp).rank("ordinal").over(source.id) == 1  # ties: frame order
    return earliest | pl.col(source.id).is_null()


def _break_ties(frame: pl.DataFrame, event_id: str) -> pl.DataFrame:
    """``frame`` (sorted by code, ties in frame order) with events of one code ordered by id, null ids first.

    Ties are usually rare: only the rows sharing a code with a neighbour are sorted again, in place.
    """
    codes = frame[_EVENT_CODE]
    tied = (codes.eq_missing(codes.shift(1)) | codes.eq_missing(codes.shift(-1))).to_numpy()
    if not tied.any():
        return frame
    positions = np.flatnonzero(tied)
    within = frame[positions].select(_EVENT_CODE, event_id).with_row_index("__tied")
    order = within.sort([_EVENT_CODE, event_id], nulls_last=False, maintain_order=True)["__tied"].to_numpy()
    permutation = np.arange(len(frame))
    permutation[positions] = positions[order]
    return frame[permutation]


@dataclass(frozen=True)
class _Encoding:
    """A map (key code, time in µs) -> int64 that sorts by key then time and keeps every window bound in its key.

    Normally ``key * width + (time - origin)``; when that would overflow int64, times are replaced by their rank
    in ``grid`` (every time that can occur: events, as-ofs, window starts), which preserves order and ties.
    """

    width: int
    origin: int
    grid: np.ndarray | None

    @classmethod
    def fit(cls, event_times: pl.Series, ask_times: np.ndarray, overs: list[int], keys: int) -> _Encoding:
        """The encoding for these times, window lengths (µs) and number of key codes."""
        lows = [t for t in (event_times.min(), ask_times.min(initial=2**62) - overs[-1]) if t is not None]
        highs = [t for t in (event_times.max(), ask_times.max(initial=-(2**62))) if t is not None]
        origin, latest = int(min(lows)), int(max(highs))  # type: ignore[call-overload, arg-type]
        width = max(latest - origin + 1, 1)
        if keys * width < 2**62:
            return cls(width, origin, None)
        times = event_times.to_numpy()
        grid = np.unique(np.concatenate([times, ask_times, *(ask_times - over for over in overs)]))
        return cls(len(grid) + 1, 0, grid)

    def __call__(self, key: np.ndarray, time: np.ndarray) -> np.ndarray:
        """Codes of (key, time) pairs; times before the origin clamp to it (only null as-ofs fall there)."""
        if self.grid is None:
            return key * self.width + (np.maximum(time, self.origin) - self.origin)
        return key * self.width + np.searchsorted(self.grid, time)

    def events(self, frame: pl.DataFrame) -> pl.Series:
        """Codes of the events frame's (key code, time) columns, computed by Polars when no grid is needed."""
        if self.grid is None:
            return frame.select(pl.col(_KEY_CODE) * self.width + (pl.col(_TIME) - self.origin)).to_series()
        return pl.Series(self(frame[_KEY_CODE].to_numpy(), frame[_TIME].to_numpy()))


def _finish(spec: WindowSpec, values: pl.Series, nonempty: np.ndarray, valid: np.ndarray) -> pl.Series:
    """Apply the empty-window value, null out requests without an as-of, and cast to the spec's return type."""
    dtype = spec.returns.polars
    empty = pl.lit(spec.empty_value, dtype=dtype) if spec.empty_value is not None else pl.lit(None, dtype=dtype)
    return pl.select(
        pl.when(pl.lit(pl.Series(valid)).not_())
        .then(pl.lit(None, dtype=dtype))
        .when(pl.lit(pl.Series(nonempty)))
        .then(pl.lit(values).cast(dtype))
        .otherwise(empty)
        .alias(spec.node)
    ).to_series()

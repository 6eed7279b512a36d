"""Generated event histories for ``fdag.check``: the cases where window engines go wrong.

Timestamps land exactly on window edges (and one microsecond either side), several events share a
timestamp, re-sent duplicates repeat an id, per-event values are null, and a few keys recur so windows fill.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from fdag._declare.source import Source

ORIGIN = datetime(2024, 1, 1, tzinfo=UTC)
_TICK = timedelta(microseconds=1)
_KEYS: dict[type, list[Any]] = {str: ["u1", "u2", "ü-3"], int: [1, 2, -7]}


def keys_of(source: Source) -> st.SearchStrategy[Any]:
    """A small pool of keys of the source's key type, so that several events share a key."""
    return st.sampled_from(_KEYS[source.key_type.base])


def instants(overs: Sequence[timedelta]) -> tuple[list[datetime], st.SearchStrategy[datetime]]:
    """Request instants on a grid, and event instants on and around every window edge of that grid."""
    step = min(overs) / 2
    grid = [ORIGIN + step * i for i in range(1, 9)]
    shifts = (-_TICK, timedelta(0), _TICK)
    edges = sorted({a - over + d for a in grid for over in (*overs, timedelta(0)) for d in shifts})
    span = (ORIGIN - max(overs), grid[-1])
    anywhere = st.integers(0, int((span[1] - span[0]) / _TICK)).map(lambda us: span[0] + us * _TICK)
    return grid, st.one_of(st.sampled_from(edges), anywhere)


def _bounded(values: st.SearchStrategy[Any], is_float: bool) -> st.SearchStrategy[Any]:
    if not is_float:
        return values
    return values.filter(lambda v: v is None or math.isinf(v) or math.isnan(v) or abs(v) < 1e300)


def event_lists(source: Source, columns: Sequence[str], overs: Sequence[timedelta],
                values: Any) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Events of ``source`` with ids, on edge-heavy instants, some re-sent as exact duplicates.

    ``values(ftype)`` gives the strategy of a column's values (nullable). Finite floats stay below 1e300 so
    that a window's sum cannot overflow to infinity (fdag does not promise exact overflow behaviour in sums);
    infinities themselves are generated.
    """
    _, times = instants(overs)
    fields = {c: _bounded(values(source.schema[c]), source.schema[c].base is float)
              for c in columns if c not in (source.key, source.timestamp, source.id)}
    event = st.fixed_dictionaries({source.key: keys_of(source), source.timestamp: times, **fields})

    @st.composite
    def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
        events = draw(st.lists(event, max_size=14))
        if source.id is not None:
            kind = source.schema[source.id].base
            for number, e in enumerate(events):
                e[source.id] = f"e{number}" if kind is str else number
        copies = draw(st.lists(st.sampled_from(events), max_size=3)) if events else []
        return events + [dict(e) for e in copies]

    return histories()


"""Random histories and spines for a generated module, and the order a live system would see them in.

Event timestamps sit on a minute grid, a microsecond either side now and then, like every window length, lag and
age of the generated modules: requests land exactly on window and availability edges and a microsecond away.
Histories hold ties, nulls (NaN too), re-sent ids (some copies with another timestamp and value), events that
arrive late (within the source's ``allowed_lateness``), events dated after the requests that see them, and
events dated beyond ``max_future`` of the wall clock. Spines ask known, unknown and null keys.

Arrival order is the contract's: the copies of one id arrive in timestamp order (the earliest copy first, where
offline keeps the earliest and online the first to arrive), an event arrives at most ``allowed_lateness`` after
its timestamp, and a copy is never dated further from its original than the source's longest window (an id is
remembered online only while its event is held; see docs/reliability.md). The frame given offline lists the
events shuffled, except that events at one timestamp keep their arrival order (frame order breaks those ties).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from tests.engines.generated.modules import Module, SourceDef

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE, TICK = timedelta(minutes=1), timedelta(microseconds=1)
FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)  # beyond any max_future of the wall clock
KEYS = {"int": (0, 1, -5, 2**40), "str": ("u1", "", "ü", "a-b")}
VALUES: dict[str, tuple[Any, ...]] = {
    "int": (0, 1, -3, 7, 12, 2**62, 2**62 + 1, -(2**62), 10**6),  # two big ones overflow an int64 sum
    "float": (0.0, 1.5, -2.25, 0.1, 22.8, 1e6, -1e-3, 3.0),
    "str": ("a", "B", "", "ü", "a-b", "zz"),
    "bool": (True, False),
}
IDS = {"int": lambda n: n * 7919 % 10007 - 5000, "str": lambda n: f"e{n * 7919 % 10007}"}


@dataclass
class Event:
    """One event of a source with its arrival instant (the frame order offline is arrival order)."""

    source: SourceDef
    row: dict[str, Any]
    arrival: datetime

    @property
    def replay_at(self) -> datetime:
        """When the replay ingests it: requests at ``as_of`` come after every event with replay instant <= as_of,
        so each source has delivered everything up to ``as_of`` (its lateness later) and nothing beyond."""
        return self.arrival - self.source.lateness_minutes * MINUTE


@dataclass
class History:
    """Every source's events in arrival order, and the spine's requests."""

    events: dict[str, list[Event]] = field(default_factory=dict)  # source name -> events in arrival order
    frames: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # source name -> rows in frame order
    requests: list[dict[str, Any]] = field(default_factory=list)  # request inputs plus "as_of"
    future: dict[str, int] = field(default_factory=dict)  # source name -> events beyond max_future
    categories: set[str] = field(default_factory=set)
    batch_sizes: list[int] = field(default_factory=list)


def _instant(draw: st.DrawFn, low: int = 0, high: int = 24) -> datetime:
    return T0 + draw(st.integers(low, high)) * MINUTE + draw(st.sampled_from([TICK * 0] * 4 + [TICK, -TICK]))


def _value(draw: st.DrawFn, kind: str, optional: bool) -> Any:
    if optional and draw(st.integers(0, 4)) == 0:
        return draw(st.sampled_from([None, math.nan])) if kind == "float" else None
    return draw(st.sampled_from(VALUES[kind]))


@st.composite
def source_events(draw: st.DrawFn, source: SourceDef, history: History) -> list[Event]:
    """A source's events in arrival order: originals, re-sent copies, late and far-future ones."""
    keys = draw(st.lists(st.sampled_from(KEYS[source.key_kind]), min_size=1, max_size=2, unique=True))
    made: list[tuple[dict[str, Any], timedelta]] = []  # (row, delay)
    lateness = source.lateness_minutes * MINUTE
    for n in range(draw(st.integers(0, 24))):
        row = {source.key: draw(st.sampled_from(keys)), source.timestamp: _instant(draw)}
        if source.id is not None:
            row[source.id] = IDS[source.id_kind](n + 1)
        row |= {c.name: _value(draw, c.kind, c.optional) for c in source.columns}
        delay = draw(st.sampled_from([timedelta(0), timedelta(0), lateness, lateness / 2, min(TICK, lateness)]))
        made.append((row, delay))
        if delay:
            history.categories.add("late events")
    if source.id is not None and made:
        reach = timedelta(microseconds=source.longest_window_us) if source.longest_window_us else 30 * MINUTE
        originals = list(enumerate(made))
        for n, (original, delay) in draw(st.lists(st.sampled_from(originals), max_size=4)):
            # All copies of an id on one side of the original, within the longest window of it: the earliest
            # copy is then held online until every later copy has arrived.
            shift = min(draw(st.sampled_from([timedelta(0), TICK, reach, MINUTE])), reach) * (-1 if n % 2 else 1)
            copy = {**original, source.timestamp: original[source.timestamp] + shift}
            if draw(st.booleans()):
                column = draw(st.sampled_from(source.columns))
                copy[column.name] = _value(draw, column.kind, column.optional)
            made.insert(draw(st.integers(0, len(made))), (copy, delay))  # the same delay: time order per id
            history.categories.add("re-sent ids, other timestamp" if shift else "re-sent ids")
    if source.max_future is not None and draw(st.integers(0, 3)) == 0:
        row = {**made[0][0], source.timestamp: FAR_FUTURE} if made else None
        if row is not None:
            if source.id is not None:
                row[source.id] = IDS[source.id_kind](10_000)
            made.append((row, timedelta(0)))
            history.future[source.name] = 1
            history.categories.add("events beyond max_future")
    events = [Event(source, row, row[source.timestamp] + delay) for row, delay in made]
    events.sort(key=lambda e: e.arrival)  # stable: equal arrivals keep the order they were made in
    history.frames[source.name] = _frame_order(draw, source, events)
    return events


def _frame_order(draw: st.DrawFn, source: SourceDef, events: list[Event]) -> list[dict[str, Any]]:
    """The rows shuffled, but each timestamp's rows in arrival order (where frame order is the tie-break)."""
    slots = draw(st.permutations(range(len(events))))
    by_stamp: dict[datetime, list[int]] = {}
    for slot in slots:
        by_stamp.setdefault(events[slot].row[source.timestamp], []).append(slot)
    arrival = {stamp: iter(sorted(group)) for stamp, group in by_stamp.items()}
    return [events[next(arrival[events[slot].row[source.timestamp]])].row for slot in slots]


@st.composite
def histories(draw: st.DrawFn, module: Module) -> History:
    """Events of every source and 1 to 12 requests on and around their edges."""
    history = History()
    for source in module.sources:
        history.events[source.name] = draw(source_events(source, history))
    stamps = [e.row[e.source.timestamp] for events in history.events.values() for e in events
              if e.row[e.source.timestamp] < FAR_FUTURE]
    shifts = [timedelta(0), MINUTE, 2 * MINUTE, 3 * MINUTE, 5 * MINUTE, 10 * MINUTE, 60 * MINUTE]
    pools: dict[str, list[Any]] = {}
    for source in module.sources:
        known = [e.row[source.key] for e in history.events[source.name]]
        pools.setdefault(source.key, []).extend(known or list(KEYS[source.key_kind][:1]))
    for _ in range(draw(st.integers(1, 12))):
        if stamps and draw(st.booleans()):
            as_of = draw(st.sampled_from(stamps)) + draw(st.sampled_from(shifts)) \
                + draw(st.sampled_from([TICK * 0, TICK * 0, TICK, -TICK]))
            history.categories.add("requests on edges")
        else:
            as_of = _instant(draw, -2, 30)
        request: dict[str, Any] = {"as_of": as_of}
        for key, pool in pools.items():
            kind = next(s.key_kind for s in module.sources if s.key == key)
            choice = draw(st.integers(0, 9))
            request[key] = None if choice == 0 else (KEYS[kind][-1] if choice == 1 else draw(st.sampled_from(pool)))
        for name, kind in module.inputs.items():
            request[name] = _value(draw, kind, optional=True)
        history.requests.append(request)
    history.batch_sizes = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    return history

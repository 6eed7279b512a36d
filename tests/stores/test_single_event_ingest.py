"""Ingesting one event alone (``ingest_one``, what ``RowDriver.ingest`` takes for a single dict over
``MemoryStore``) against ingesting it as a batch of one: the same report, the same recorded errors, the same
``SourceError`` for a malformed event, and the same state afterwards (every query, the watermark, the held
events), over generated streams with duplicates, late and too-late events, events beyond ``max_future``,
coerced values (naive and non-UTC timestamps, ints in a float column, NaN) and value functions that raise."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fdag
from fdag._aggregations.registry import parse_aggregation
from fdag._dag.specs import LookupSpec, WindowSpec
from fdag._declare.source import Source
from fdag._stores.memory import MemoryEvents, MemoryStore
from fdag._stores.protocol import IngestReport
from fdag._values.durations import parse_duration
from fdag._values.types import FType
from fdag.demo import fraud
from fdag.errors import InputError, InputTypeError, SourceError, TruncatedStateError

NOW = datetime.now(UTC).replace(microsecond=0)
SOURCE = Source("payments", key="user_id", timestamp="ts", id="txn_id", allowed_lateness="5m", max_future="1h",
                schema={"txn_id": int, "user_id": str, "ts": datetime, "amount": float | None, "n": int | None})
AGGS = ("count", "sum", "mean", "min", "max", "std", "first", "last", "distinct_count", "last_n(2)")


def amount(amount: float | None) -> float | None:
    """Per-event value of the float column."""
    return amount


def inverse(amount: float | None) -> float | None:
    """A value function that raises for a zero amount (ZeroDivisionError) and a missing one (TypeError)."""
    return 1 / amount  # type: ignore[operator]


VALUES: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "__value__amount": lambda e: e["amount"],
    "__value__inverse": lambda e: 1 / e["amount"],
}


def window_spec(agg: str, over: str, function: Callable[..., Any], closed: str = "left") -> WindowSpec:
    aggregation = parse_aggregation(agg)
    return WindowSpec(f"{function.__name__}_{aggregation.label}_{over}_{closed}", SOURCE, function, ("amount",),
                      FType(float), aggregation, parse_duration(over), over, closed, None,
                      aggregation.result_type(FType(float)))


SPECS = [window_spec(agg, over, function, closed) for function in (amount, inverse) for agg in AGGS
         for over in ("10m", "1h") for closed in ("left", "both")]
LOOKUPS = [LookupSpec("amount_then", SOURCE, amount, ("amount",), FType(float), timedelta(0), None, None,
                      FType(float))]

# Minutes on a coarse grid make ties and window edges common; the stream moves forward with some events late
# (within and beyond the 5-minute lateness after the 1-hour window) and a few beyond max_future.
offsets = st.integers(0, 40).map(lambda k: timedelta(minutes=5 * k)) | st.floats(0, 200).map(
    lambda m: timedelta(microseconds=round(m * 60e6)))


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any] | Any:
    """One event, possibly a duplicate id, late, in the future, needing coercion, or malformed."""
    kind = draw(st.sampled_from(["plain"] * 8 + ["future", "naive", "offset", "int", "nan", "none", "zero",
                                                  "missing", "wrong type", "not a mapping"]))
    ts = NOW - timedelta(hours=4) + draw(offsets)
    event: dict[str, Any] = {"txn_id": draw(st.integers(0, 60)), "user_id": draw(st.sampled_from("abc")),
                             "ts": ts, "amount": draw(st.sampled_from([1.0, 2.5, -3.0, 10.0, 0.5]))}
    if kind == "future":
        event["ts"] = NOW + timedelta(hours=2)
    elif kind == "naive":
        event["ts"] = ts.replace(tzinfo=None)
    elif kind == "offset":
        event["ts"] = ts.astimezone(timezone(timedelta(hours=-3)))
    elif kind == "int":
        event["amount"] = 7
    elif kind == "nan":
        event["amount"] = float("nan")
    elif kind == "none":
        event["amount"] = None
    elif kind == "zero":
        event["amount"] = 0.0
    elif kind == "missing":
        del event["user_id"]
    elif kind == "wrong type":
        event["amount"] = "12"
    elif kind == "not a mapping":
        return [("txn_id", 1)]
    return event


def outcome(ingest: Callable[[], Any]) -> Any:
    """What an ingest gave: its report, or the error it raised (type and message)."""
    try:
        return ingest()
    except SourceError as exc:
        return type(exc), str(exc)


def answer(state: Any, key: str, as_of: datetime) -> Any:
    """A window state's values for ``key`` at ``as_of``, or the ``TruncatedStateError`` message."""
    try:
        return state.query(key, as_of)
    except TruncatedStateError as exc:
        return str(exc)


def state_of(state: MemoryEvents, specs: list[Any]) -> Any:
    """Everything a reader can see of a window or lookup state, at instants around the stream."""
    seen: list[Any] = [state.watermark, state.held]
    for key in "abcd":
        for back in (0, 1, 7, 30, 61, 65):
            as_of = (state.watermark or NOW) + timedelta(minutes=1) - timedelta(minutes=back)
            try:
                seen.append(state.query(key, as_of))  # type: ignore[attr-defined]
                if hasattr(state, "events"):
                    seen.append(state.events(key, as_of))
            except TruncatedStateError as exc:  # a query before what the state may hold: the same error
                seen.append(str(exc))
    return seen


@pytest.mark.parametrize("kind", ["window", "lookup"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=st.lists(events(), max_size=60))
def test_one_event_alone_equals_a_batch_of_one(kind: str, stream: list[Any]) -> None:
    store = MemoryStore()
    make = (lambda: store.window_state(SOURCE, SPECS, VALUES)) if kind == "window" else (
        lambda: store.lookup_state(SOURCE, LOOKUPS, {"__lookup__amount_then": VALUES["__value__amount"]}))
    alone, batched = make(), make()
    for event in stream:
        got = outcome(lambda event=event: alone.ingest_one(event))
        want = outcome(lambda event=event: batched.ingest([event]))
        assert got == want, event
    assert state_of(alone, SPECS) == state_of(batched, SPECS)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=st.lists(events(), max_size=40), every=st.integers(1, 3))
def test_one_event_then_a_query_equals_a_rebuild(stream: list[Any], every: int) -> None:
    """Streaming scoring: each event ingested alone and its key queried right after (so an in-order event is the
    one appended since the key's last refresh, pushed in every column at once, and a late or tied one placed
    among the newest) answers, at every step, as a fresh state fed the same events and queried once (its
    arrays built in one pass)."""
    store = MemoryStore()
    alone = store.window_state(SOURCE, SPECS, VALUES)
    for i, event in enumerate(stream):
        outcome(lambda event=event: alone.ingest_one(event))
        if i % every == 0 and isinstance(event, dict) and "user_id" in event and alone.watermark is not None:
            as_of, key = alone.watermark + timedelta(microseconds=1), event["user_id"]
            rebuilt = store.window_state(SOURCE, SPECS, VALUES)
            for earlier in stream[:i + 1]:
                outcome(lambda earlier=earlier, rebuilt=rebuilt: rebuilt.ingest([earlier]))
            assert answer(alone, key, as_of) == answer(rebuilt, key, as_of)


def test_one_event_reports_by_hand() -> None:
    """Accepted, then the same id again (duplicate), one beyond max_future, one older than the 1-hour window plus
    5 minutes of lateness (too late), and a value function raising (its error recorded under each of its nodes,
    the event still accepted)."""
    state = MemoryStore().window_state(SOURCE, [window_spec("sum", "1h", amount), window_spec("sum", "1h", inverse)],
                                       VALUES)
    at = NOW - timedelta(hours=1)
    assert state.ingest_one({"txn_id": 1, "user_id": "a", "ts": at, "amount": 2.0}) == IngestReport(accepted=1)
    assert state.ingest_one({"txn_id": 1, "user_id": "a", "ts": at, "amount": 2.0}) == IngestReport(duplicates=1)
    assert state.ingest_one({"txn_id": 2, "user_id": "a", "ts": NOW + timedelta(hours=2), "amount": 1.0}
                            ) == IngestReport(future=1)
    assert state.ingest_one({"txn_id": 3, "user_id": "a", "ts": at - timedelta(minutes=66), "amount": 1.0}
                            ) == IngestReport(too_late=1)
    report = state.ingest_one({"txn_id": 4, "user_id": "a", "ts": at, "amount": 0.0})
    assert (report.accepted, [(e.node, e.type, e.count) for e in report.errors]) == (
        1, [("inverse", "ZeroDivisionError", 1)])
    assert state.query("a", at + timedelta(seconds=1))[0] == [2.0, 0.5]  # 1/0 is null: 1/2 alone
    with pytest.raises(SourceError, match="event 0"):
        state.ingest_one({"txn_id": 5, "user_id": "a", "ts": "today", "amount": 1.0})
    assert state.held == 2


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from(["u1", "u2"]), st.integers(0, 600),
                          st.sampled_from([5.0, 20.0, 250.0, -1.0])), max_size=40))
def test_driver_takes_one_dict_as_a_batch_of_one(rows: list[tuple[int, str, int, float]]) -> None:
    """Through ``RowDriver.ingest``: a dict (the single-event path) and a list holding it give the same reports
    and the same vectors, for the fraud demo's windows."""
    dag = fdag.Dag.from_modules(fraud)
    outputs = ["spend_sum_1h", "spend_count_10d", "amount_vs_mean_10d"]
    alone, batched = fdag.RowDriver(dag, outputs=outputs), fdag.RowDriver(dag, outputs=outputs)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    for txn, user, minute, spent in rows:
        event = {"txn_id": f"t{txn}", "user_id": user, "ts": start + timedelta(minutes=minute), "amount": spent,
                 "merchant": "m1"}
        assert alone.ingest("transactions", event) == batched.ingest(fraud.transactions, [event])
    at = start + timedelta(minutes=601)
    for user in ("u1", "u2", "u3"):
        got = alone.get({"user_id": user, "amount": 10.0}, as_of=at)
        want = batched.get({"user_id": user, "amount": 10.0}, as_of=at)
        assert (got.values, got.errors) == (want.values, want.errors)
    with pytest.raises(InputError):
        alone.ingest("no such source", {"txn_id": "t1"})
    with pytest.raises(InputTypeError):
        alone.ingest(3, {"txn_id": "t1"})  # type: ignore[arg-type]

"""Provenance: online and offline trees are equal, and each window's events and each lookup's row are what a
brute-force filter of the raw events gives (dedup by id, key, window bounds, closed, null and error rules)."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fdag
from fdag.demo import fraud
from fdag.errors import InputError, TruncatedStateError
from tests.redis_server import RedisServer
from tests.redis_server import redis_server as redis_server  # the fixture, re-exported for pytest
from tests.resources import explained

DAG = fdag.Dag.from_modules(explained)
OUTPUTS = ["score", "last_amount", "small_max_1h"]
BASE = datetime(2024, 3, 1, 12, tzinfo=UTC)
PAYMENTS = {"pid": pl.String, "card": pl.String, "ts": pl.Datetime("us", "UTC"), "amount": pl.Float64}
LIMITS = {"lid": pl.Int64, "card": pl.String, "ts": pl.Datetime("us", "UTC"), "limit": pl.Float64}
WINDOWS = {"spend_count_10m": (timedelta(minutes=10), False),
           "spend_sum_1h": (timedelta(hours=1), False), "spend_count_1h": (timedelta(hours=1), False),
           "last_amount": (timedelta(minutes=30), True), "small_max_1h": (timedelta(hours=1), False)}


def same(a: Any, b: Any) -> bool:
    """Equal JSON-ready data, floats within the engines' window agreement."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def per_event(name: str, amount: float | None) -> float | None:
    """The per-event value of window ``name`` by hand: null skips, an error is null."""
    if amount is None:
        return None
    if name == "small_max_1h" and amount > 90:
        return None
    return amount


def brute_events(events: list[dict[str, Any]], name: str, card: str, t: datetime) -> list[tuple[str, datetime,
                                                                                                 Any]]:
    """The events of window ``name`` for ``card`` at ``t``: first copy of each id, in the window, by (ts, id)."""
    over, both = WINDOWS[name]
    seen: set[str] = set()
    kept = []
    for event in events:
        if event["pid"] in seen:
            continue
        seen.add(event["pid"])
        if event["card"] == card and t - over <= event["ts"] and (event["ts"] < t or (both and event["ts"] == t)):
            kept.append((event["pid"], event["ts"], per_event(name, event["amount"])))
    return sorted(kept, key=lambda e: (e[1], e[0]))


def brute_row(limits: list[dict[str, Any]], card: str, t: datetime) -> dict[str, Any] | None:
    """The newest limits row of ``card`` with ts <= t - 5m (first copy of each id; ties by the larger id)."""
    seen: set[int] = set()
    rows = []
    for row in limits:
        if row["lid"] not in seen:
            seen.add(row["lid"])
            if row["card"] == card and row["ts"] <= t - timedelta(minutes=5):
                rows.append(row)
    return max(rows, key=lambda r: (r["ts"], r["lid"]), default=None)


def instants() -> st.SearchStrategy[datetime]:
    """Whole minutes over three hours: events share timestamps and sit exactly on window bounds often."""
    return st.integers(0, 180).map(lambda m: BASE + timedelta(minutes=m))


amounts = st.one_of(st.none(), st.integers(0, 12_000).map(lambda c: c / 100))
# A re-sent copy of an event: None (not re-sent), or how many minutes after the original it is dated.
resent = st.one_of(st.none(), st.integers(0, 30))
payments = st.lists(st.tuples(st.sampled_from(["a", "b"]), instants(), amounts, resent), max_size=25)
limit_rows = st.lists(st.tuples(st.sampled_from(["a", "b"]), instants(), amounts), max_size=8)
requests = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), instants(), st.integers(0, 500).map(float)),
                    min_size=1, max_size=4)


def histories(raw_payments: list[Any], raw_limits: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Events in time order (the order they reach the service), some re-sent with a later (or the same) timestamp:
    both engines keep the first copy, online the first to arrive, offline the first in frame order."""
    events = []
    for i, (card, ts, amount, delay) in enumerate(raw_payments):
        event = {"pid": f"p{i:02d}", "card": card, "ts": ts, "amount": amount}
        events += [event] if delay is None else [event, {**event, "ts": ts + timedelta(minutes=delay)}]
    events.sort(key=lambda e: e["ts"])  # stable: a copy at the same timestamp stays after its original
    limits = sorted(({"lid": i, "card": card, "ts": ts, "limit": value}
                     for i, (card, ts, value) in enumerate(raw_limits)), key=lambda r: r["ts"])
    return events, limits


def served(events: list[dict[str, Any]], limits: list[dict[str, Any]], store: Any = None) -> fdag.RowDriver:
    row = fdag.RowDriver(DAG, outputs=OUTPUTS, store=store)
    if events:
        row.ingest("payments", events)
    if limits:
        row.ingest("limits", limits)
    return row


def sources(events: list[dict[str, Any]], limits: list[dict[str, Any]]) -> dict[str, pl.DataFrame]:
    return {"payments": pl.DataFrame(events, schema=PAYMENTS), "limits": pl.DataFrame(limits, schema=LIMITS)}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payments, limit_rows, requests)
def test_online_and_offline_provenance_agree_with_a_brute_force_filter(raw_payments: list[Any],
                                                                       raw_limits: list[Any],
                                                                       asks: list[Any]) -> None:
    events, limits = histories(raw_payments, raw_limits)
    row = served(events, limits)
    frame = fdag.FrameDriver(DAG, outputs=OUTPUTS)
    given_sources = sources(events, limits)
    for card, t, amount in asks:
        request = {"card": card, "amount": amount}
        vector = row.get(request, as_of=t)
        for name in ["score", "last_amount", "small_max_1h"]:
            online = row.provenance(request, name, as_of=t)
            offline = frame.provenance({**request, "as_of": t}, name, sources=given_sources)
            assert same(online.to_dict(), offline.to_dict()), (online, offline)
            assert same(online.value, vector[name]) and online.as_of == vector.as_of[name]
        tree = row.provenance(request, "score", as_of=t)
        for name in WINDOWS:
            node = row.provenance(request, name, as_of=t)
            expected = brute_events(events, name, card, t)
            assert [(e.id, e.ts, e.value) for e in node.events] == expected
            values = [value for _, _, value in expected if value is not None]
            if name.startswith("spend_sum"):
                assert same(node.value, float(sum(values)))
            elif name.startswith("spend_count"):
                assert node.value == len(values)
            elif name == "small_max_1h":
                assert node.value == max(values, default=None)
            else:
                assert node.value == (values[-1] if values else None)
        lookup = tree.find("limit_now")
        newest = brute_row(limits, card, t)
        if newest is None:
            assert lookup.row is None and not lookup.fresh and lookup.value == 100.0
        else:
            assert (lookup.row.id, lookup.row.ts, lookup.row.value) == (newest["lid"], newest["ts"], newest["limit"])
            fresh = newest["ts"] >= t - timedelta(minutes=35)
            assert lookup.fresh == fresh
            assert lookup.value == (newest["limit"] if fresh else 100.0)
        assert tree.find("amount").kind == "input" and tree.find("amount").value == amount


def history() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    events = [{"pid": "p1", "card": "a", "ts": BASE, "amount": 20.0},
              {"pid": "p2", "card": "a", "ts": BASE + timedelta(minutes=20), "amount": None},
              {"pid": "p3", "card": "a", "ts": BASE + timedelta(minutes=50), "amount": 95.0},
              {"pid": "p3", "card": "a", "ts": BASE + timedelta(minutes=55), "amount": 1.0},  # a re-sent id
              {"pid": "p4", "card": "b", "ts": BASE + timedelta(minutes=52), "amount": 7.0},
              {"pid": "p5", "card": "a", "ts": BASE + timedelta(minutes=58), "amount": 5.0}]
    limits = [{"lid": 1, "card": "a", "ts": BASE - timedelta(hours=2), "limit": 500.0},
              {"lid": 2, "card": "a", "ts": BASE + timedelta(minutes=30), "limit": 300.0}]
    return events, limits


def test_a_tree_by_hand_in_text_html_and_json() -> None:
    events, limits = history()
    row = served(events, limits)
    t = BASE + timedelta(hours=1)
    tree = row.provenance({"card": "a", "amount": 10.0}, "score", as_of=t)
    # spend_sum_1h: p1 is at exactly t - 1h (in), p2 is null (listed, skipped), p3 once (its first copy), p5.
    spend = tree.find("spend_sum_1h")
    assert [(e.id, e.value) for e in spend.events] == [("p1", 20.0), ("p2", None), ("p3", 95.0), ("p5", 5.0)]
    assert spend.value == 120.0 and spend.start == BASE and spend.end == t
    assert [e.id for e in tree.find("spend_count_10m").events] == ["p3", "p5"]
    limit = tree.find("limit_now")
    assert limit.fresh and limit.row is not None and (limit.row.id, limit.value) == (2, 300.0)
    assert limit.as_of == BASE + timedelta(minutes=30)
    # score = (300 - 120) * (2 / 3) - 10; its as-of is the oldest of its inputs': the lookup row's timestamp.
    assert tree.value == pytest.approx(110.0) and tree.as_of == BASE + timedelta(minutes=30)
    with pytest.raises(KeyError, match=r"input 'last_amount' is not in the provenance tree of 'score'\. Hint: find"):
        tree.find("last_amount")
    small = row.provenance({"card": "a"}, "small_max_1h", as_of=t)
    assert [(e.id, e.value) for e in small.events] == [("p1", 20.0), ("p2", None), ("p3", None), ("p5", 5.0)]
    assert small.value == 20.0
    text = str(tree)
    assert text.splitlines()[0] == "score = 110.0 [feature; as of 2024-03-01T12:30:00+00:00]"
    assert "├── headroom = 180.0 [feature;" in text
    assert "'p2' at 2024-03-01T12:20:00+00:00: null (skipped)" in text
    assert "row 2 at 2024-03-01T12:30:00+00:00: 300.0" in text
    assert "4 events in [2024-03-01T12:00:00+00:00, 2024-03-01T13:00:00+00:00)" in text
    html = tree._repr_html_()
    # One collapsible section per node with something below it: 3 features, 3 windows, the lookup; amount is a leaf.
    assert html.count("<details") == 7 and "<td>&#x27;p3&#x27;</td>" in html
    record = json.loads(tree.to_json())
    assert record["inputs"][0]["node"] == "headroom" and record["inputs"][2] == {
        "node": "amount", "kind": "input", "value": 10.0, "as_of": "2024-03-01T13:00:00+00:00"}
    assert record["inputs"][0]["inputs"][1]["events"][0] == {"id": "p1", "ts": "2024-03-01T12:00:00+00:00",
                                                             "value": 20.0}


def test_closed_both_counts_the_event_at_as_of_and_a_too_old_row_is_the_default() -> None:
    events, limits = history()
    row = served(events, limits)
    t = BASE + timedelta(minutes=58)  # p5 is at exactly t
    last = row.provenance({"card": "a"}, "last_amount", as_of=t)
    assert [e.id for e in last.events] == ["p3", "p5"] and last.value == 5.0  # [12:28, 12:58]
    late = BASE + timedelta(hours=2)  # the newest row (12:30) is older than as_of - 5m - 30m
    limit = row.provenance({"card": "a", "amount": 1.0}, "score", as_of=late).find("limit_now")
    assert not limit.fresh and limit.row is not None and limit.row.id == 2 and limit.value == 100.0
    assert "older than max_age: the default" in str(limit)
    none = row.provenance({"card": "zzz", "amount": 1.0}, "score", as_of=late).find("limit_now")
    assert none.row is None and "no row at or before as_of - lag: the default" in str(none)


def test_a_null_key_and_an_error_in_a_feature() -> None:
    row = served(*history())
    t = BASE + timedelta(hours=5)  # nothing in the last hour: recent_share divides by zero
    tree = row.provenance({"card": "a", "amount": 1.0}, "score", as_of=t)
    share = tree.find("recent_share")
    assert share.value is None and share.error == "ZeroDivisionError: division by zero"
    assert "raised ZeroDivisionError: division by zero" in str(tree)
    frame = fdag.FrameDriver(DAG, outputs=OUTPUTS)
    offline = frame.provenance({"card": "a", "amount": 1.0, "as_of": t}, "score", sources=sources(*history()))
    assert offline.to_dict() == tree.to_dict()
    empty = row.provenance({"card": None, "amount": 1.0}, "spend_sum_1h", as_of=t)
    assert empty.events == () and empty.key is None and empty.value is None


def test_frame_provenance_takes_a_spine_row_and_refuses_bad_input() -> None:
    events, limits = history()
    frame = fdag.FrameDriver(DAG, outputs=OUTPUTS)
    spine = pl.DataFrame({"card": ["b", "a"], "amount": [1.0, 2.0], "when": [BASE + timedelta(hours=1)] * 2})
    tree = frame.provenance(spine[1], "spend_sum_1h", sources=sources(events, limits), as_of="when")
    assert tree.value == 120.0 and len(tree.events) == 4
    with pytest.raises(InputError, match=r"input 'spine_row' is a frame of 2 rows, not one\. Hint: pass one row"):
        frame.provenance(spine, "score", sources=sources(events, limits), as_of="when")
    with pytest.raises(InputError, match=r"input 'when' is missing from the spine row\. Hint: pass the row's instant"):
        frame.provenance({"card": "a", "amount": 1.0}, "score", sources=sources(events, limits), as_of="when")
    with pytest.raises(InputError, match=r"input 'hour' is not a node this driver computes, so it has no provenance "
                                         r"here\. Hint: ask for one of: last_amount, limit_now, "):
        frame.provenance(spine[0], "hour", sources=sources(events, limits), as_of="when")
    with pytest.raises(InputError, match=r"input 'hour' is not a node this driver computes"):
        served(events, limits).provenance({"card": "a"}, "hour", as_of=BASE)
    given_sources = sources(events, limits)
    bad: list[tuple[Any, Any, Any, str]] = [
        ({"card": "a", "as_of": BASE}, ["score"], "as_of",
         r"input 'name' is a list, not the name of a node\. Hint: pass a node's name as a str"),
        ({"card": "a", "as_of": BASE}, "score", 3,
         r"input 'as_of' is a int, not the name of the row's instant\. Hint: pass the key holding it"),
        (5, "score", "as_of", r"input 'spine_row' is a int, not a mapping or a one-row frame\. Hint: pass a dict"),
        ({"card": "a", "as_of": None}, "score", "as_of",
         r"input 'as_of' is null in the spine row\. Hint: pass the instant the row is evaluated at"),
        ({"card": "a", "as_of": "noon"}, "score", "as_of",
         r"input 'as_of' is a str \('noon'\) but the type is 'datetime'\. Hint: pass a datetime or None"),
        ({"card": "a", "as_of": BASE}, "score", "as_of",
         r"input 'amount' is missing from the spine row\. Hint: pass it, e.g\. \{'amount': <float>\}"),
    ]
    for spine_row, name, as_of, message in bad:
        with pytest.raises(InputError, match=message):
            frame.provenance(spine_row, name, sources=given_sources, as_of=as_of)
    row = served(events, limits)
    with pytest.raises(InputError, match=r"input 'request' is a list, not a mapping of input name to value"):
        row.provenance([("card", "a")], "score", as_of=BASE)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"input 'name' is a NoneType, not the name of a node"):
        row.provenance({"card": "a"}, None, as_of=BASE)  # type: ignore[arg-type]


def test_online_provenance_of_evicted_events_raises_like_get() -> None:
    short = fdag.Dag.from_modules(fraud)  # 1h windows, 10m allowed lateness: the state keeps 70 minutes
    row = fdag.RowDriver(short, outputs=["spend_sum_1h"])
    row.ingest("transactions", [{"txn_id": f"t{i}", "user_id": "u1", "ts": BASE + timedelta(hours=i), "amount": 1.0,
                                 "merchant": "m"} for i in range(6)])
    with pytest.raises(TruncatedStateError, match="Hint: past features come from FrameDriver"):
        row.get({"user_id": "u1"}, as_of=BASE + timedelta(hours=1))
    with pytest.raises(TruncatedStateError, match="Hint: past features come from FrameDriver"):
        row.provenance({"user_id": "u1"}, "spend_sum_1h", as_of=BASE + timedelta(hours=1))
    recent = row.provenance({"user_id": "u1"}, "spend_sum_1h", as_of=BASE + timedelta(hours=5, minutes=30))
    assert [e.id for e in recent.events] == ["t5"]


def test_redis_store_gives_the_memory_store_tree(redis_server: RedisServer) -> None:
    events, limits = history()
    store = fdag.RedisStore(redis_server.url, namespace=f"provenance-{uuid.uuid4().hex[:8]}")
    on_redis, in_memory = served(events, limits, store), served(events, limits)
    for minutes in (0, 30, 58, 60, 65, 125):
        t = BASE + timedelta(minutes=minutes)
        for name in OUTPUTS:
            request = {"card": "a", "amount": 3.0}
            assert on_redis.provenance(request, name, as_of=t) == in_memory.provenance(request, name, as_of=t)


def test_a_later_copy_of_an_id_moves_no_watermark_online_or_offline() -> None:
    """The copy is not applied online (a duplicate), so it is not data the engine has: offline, the watermark is
    the largest timestamp of the events kept after deduplication too, and the as-ofs agree."""
    events = [{"pid": "p1", "card": "a", "ts": BASE, "amount": 1.0},
              {"pid": "p1", "card": "a", "ts": BASE + timedelta(minutes=30), "amount": 1.0}]
    row = served(events, [])
    t = BASE + timedelta(hours=1)
    vector = row.get({"card": "a", "amount": 1.0}, as_of=t)
    assert row.watermark("payments") == BASE and vector.as_of["last_amount"] == BASE
    frame = fdag.FrameDriver(DAG, outputs=OUTPUTS)
    spine = pl.DataFrame({"card": ["a"], "amount": [1.0], "as_of": [t]})
    result = frame.evaluate(spine, sources(events, []), with_as_of=True)
    assert result.watermarks["payments"] == BASE
    assert result.table["last_amount__as_of"].to_list() == [BASE]
    online = row.provenance({"card": "a", "amount": 1.0}, "score", as_of=t)
    assert frame.provenance({"card": "a", "amount": 1.0, "as_of": t}, "score", sources=sources(events, [])) == online


def test_a_source_without_ids_lists_events_in_arrival_order_with_no_id() -> None:
    from tests.resources import fallback

    dag = fdag.Dag.from_modules(fallback)
    events = [{"user_id": "u", "ts": BASE, "amount": amount} for amount in (3.0, 1.0, 2.0)]  # one instant
    row = fdag.RowDriver(dag, outputs=["share_of_hour"])
    row.ingest("payments", events)
    t = BASE + timedelta(minutes=1)
    online = row.provenance({"user_id": "u", "amount": 6.0}, "share_of_hour", as_of=t)
    window = online.find("spent_1h")
    assert [(e.id, e.value) for e in window.events] == [(None, 3.0), (None, 1.0), (None, 2.0)]
    assert online.value == 1.0 and window.value == 6.0
    offline = fdag.FrameDriver(dag, outputs=["share_of_hour"]).provenance(
        {"user_id": "u", "amount": 6.0, "as_of": t}, "share_of_hour",
        sources={"payments": pl.DataFrame(events, schema={"user_id": pl.String, "ts": pl.Datetime("us", "UTC"),
                                                          "amount": pl.Float64})})
    assert offline == online

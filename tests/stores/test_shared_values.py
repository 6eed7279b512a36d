"""Value columns stored once: window functions proven to compute the same per-event value (``value_identity``)
share one column of window state (MemoryStore's arrays, RedisStore's event members), and every value, ingest
report (errors in their order included), provenance and bootstrap is bit for bit what separate columns give;
look-alikes that differ are never shared."""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

import fdag
from fdag._dag.specs import WindowSpec
from fdag._row.driver import _event_value, _per_event_values
from fdag._stores.memory import MemoryWindowState
from fdag._stores.protocol import Store
from fdag._stores.redis import RedisStore
from fdag._stores.redis_window import RedisWindowState
from fdag._values.instants import micros
from fdag._values.types import FType
from fdag._values.value_identity import value_identity
from fdag.errors import SourceError
from tests.redis_server import RedisServer
from tests.resources import twins

T0 = datetime(2024, 6, 1, tzinfo=UTC)
FLOAT, INT = FType(float), FType(int)
DAG = fdag.Dag.from_modules(twins)
SPECS: list[WindowSpec] = list(DAG.plan(None).windows["payments"])


def same(f: Callable[..., Any], g: Callable[..., Any], params: dict[str, FType] | None = None,
         returns: FType = FLOAT) -> bool:
    """Whether ``value_identity`` proves ``f`` and ``g`` the same value (both must qualify)."""
    params = params if params is not None else {"amount": FLOAT}
    a, b = value_identity(f, params, returns), value_identity(g, params, returns)
    assert a is not None and b is not None
    return a == b


# ------------------------------------------------------------------------------------------------- identity

def test_names_docstrings_and_lines_do_not_matter() -> None:
    def first(amount: float) -> float:
        """One docstring."""
        return amount

    def second(amount: float) -> float:


        return amount  # another name, no docstring, other lines

    def third(amount: float) -> float:
        """Another docstring."""
        return amount

    assert same(first, second) and same(first, third)


def test_constants_transformations_and_columns_tell_functions_apart() -> None:
    def plain(amount: float) -> float:
        return amount

    def plus_zero(amount: float) -> float:
        return amount + 0.0

    def plus_negative_zero(amount: float) -> float:
        return amount + -0.0

    def plus_int_zero(amount: float) -> float:
        return amount + 0

    def plus_false(amount: float) -> float:
        return amount + False

    def doubled(amount: float) -> float:
        return amount * 2.0

    def fee(fee: float) -> float:
        return fee

    def named(amount: float) -> float:
        """named"""
        return "named"  # the docstring's constant is loaded: it is part of the value

    def other_name(amount: float) -> float:
        """other"""
        return "named"

    variants = [plain, plus_zero, plus_negative_zero, plus_int_zero, plus_false, doubled]
    for i, f in enumerate(variants):
        for g in variants[i + 1:]:
            assert not same(f, g), (f.__name__, g.__name__)
    assert not same(named, other_name)
    fee_identity = value_identity(fee, {"fee": FLOAT}, FLOAT)
    assert fee_identity is not None and fee_identity != value_identity(plain, {"amount": FLOAT}, FLOAT)
    # The declared types are part of the value: the null rule and the coercion depend on them.
    assert value_identity(plain, {"amount": FLOAT}, FLOAT) != value_identity(plain, {"amount": FLOAT.nullable()},
                                                                             FLOAT)
    assert value_identity(plain, {"amount": FLOAT}, FLOAT) != value_identity(plain, {"amount": FLOAT}, INT)


def test_what_cannot_be_proven_is_never_shared() -> None:
    scale = 2.0

    def global_name(amount: float) -> float:
        return amount * SCALE

    def builtin(amount: float) -> float:
        return abs(amount)

    def attribute(amount: float) -> float:
        return amount.real

    def closure(amount: float) -> float:
        return amount * scale

    def default(amount: float, extra: float = 1.0) -> float:
        return amount * extra

    def nested(amount: float) -> float:
        return sum(x for x in (amount,))

    def generator(amount: float) -> Any:
        yield amount

    def items(amount: list[float]) -> int:
        amount += [1.0]  # mutates its argument: calling it once or twice differs
        return len(amount)

    for f in (global_name, builtin, attribute, closure, default, nested, generator):
        assert value_identity(f, {"amount": FLOAT}, FLOAT) is None, f.__name__
    assert value_identity(items, {"amount": FType(list, item=FLOAT)}, INT) is None
    assert value_identity(lambda amount: amount, {"amount": FLOAT}, FType(list, item=FLOAT)) is None
    assert value_identity(functools.partial(closure), {"amount": FLOAT}, FLOAT) is None
    assert value_identity(float, {"amount": FLOAT}, FLOAT) is None


SCALE = 2.0


def test_the_driver_shares_exactly_the_proven_twins(store: Store) -> None:
    state = fdag.RowDriver(DAG, None, store=store)._states["payments"][0]
    assert isinstance(state, MemoryWindowState | RedisWindowState)
    groups: dict[str, set[str]] = {}
    for column, stored in state._stored_as.items():
        groups.setdefault(stored, set()).add(column.removeprefix("__value__"))
    assert sorted(map(sorted, (g for g in groups.values() if len(g) > 1))) == sorted(map(sorted, twins.SHARED))
    assert len(state.columns) == len(groups) == len({spec.value_column for spec in SPECS}) - 4


# ------------------------------------------------------------------------------- shared == separate, bit for bit

def separate_values() -> dict[str, Any]:
    """A function object of its own for every value column: nothing is shared."""
    return {spec.value_column: _event_value(spec) for spec in SPECS}


def random_events(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Payments of 3 keys over 2 days, mostly in time order, some late, re-sent, null, zero or -0.0."""
    values = [0.0, -0.0, 1.0, 2.5, -3.25, 1e16, None]
    events = []
    for i in range(count):
        minutes = i * 3 - (rng.uniform(0, 40) if rng.random() < 0.1 else 0)
        events.append({"pid": i, "user_id": rng.choice("abc"), "ts": T0 + timedelta(minutes=minutes),
                       "amount": rng.choice(values) if rng.random() < 0.3 else round(rng.uniform(-50, 50), 2),
                       "fee": rng.choice([0.0, 1.5, None, 0.25]), "merchant": f"m{rng.randrange(5)}"})
    events += [dict(e) for e in rng.sample(events, count // 20)]  # re-sent ids
    events.sort(key=lambda e: e["ts"] + timedelta(minutes=rng.uniform(0, 30)))
    return events


def batches(rng: random.Random, events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Arrival in batches of 1 to 80 events (single events take the streaming path)."""
    out, i = [], 0
    while i < len(events):
        size = rng.choice([1, 1, 2, 7, 80])
        out.append(events[i:i + size])
        i += size
    return out


def assert_identical(got: Any, want: Any, where: str) -> None:
    """Bit for bit: the same reprs (0.0 and -0.0 differ, so do 1 and 1.0) and types."""
    assert repr(got) == repr(want), f"{where}: {got!r} != {want!r}"


@pytest.mark.parametrize("seed", range(6))
def test_shared_columns_give_the_values_reports_and_events_of_separate_ones(seed: int, store: Store) -> None:
    rng = random.Random(seed)
    source = SPECS[0].source
    shared = store.window_state(source, SPECS, _per_event_values(SPECS))
    apart = store.window_state(source, SPECS, separate_values())  # on Redis: another layout, in the same namespace
    assert len(shared.columns) < len(apart.columns) == len({spec.value_column for spec in SPECS})
    for batch in batches(rng, random_events(rng, 1_500)):
        assert_identical(shared.ingest(batch), apart.ingest(batch), "report")
        if rng.random() < 0.2:
            watermark = shared.watermark
            assert watermark is not None
            for key in "abcd":
                for back in (0, 1, 17 * 60):  # at the watermark and within the allowed lateness
                    as_of = watermark - timedelta(seconds=back)
                    assert_identical(shared.query(key, as_of), apart.query(key, as_of), f"{key} at {as_of}")
    assert shared.held == apart.held < 1_500  # eviction ran
    watermark = shared.watermark
    assert watermark is not None
    for key in "abc":
        for back in (0, 1, 5 * 60, 29 * 60):
            as_of = watermark + timedelta(seconds=1) - timedelta(seconds=back)
            assert_identical(shared.query(key, as_of), apart.query(key, as_of), f"{key} at {as_of}")
            assert_identical(shared.events(key, as_of), apart.events(key, as_of), f"events of {key}")


def test_redis_stores_each_shared_value_once_in_a_layout_of_its_own(redis_server: RedisServer) -> None:
    """A Redis event member holds the timestamp, the id and each stored column's value once (the 4 twins'
    values are not repeated), and storing columns apart is another layout: its prefix differs, so state written by
    one is never misread by the other (an old layout that stored twins apart starts fresh)."""
    store = RedisStore(redis_server.url, namespace="shared-once")
    source = SPECS[0].source
    shared = store.window_state(source, SPECS, _per_event_values(SPECS))
    apart = store.window_state(source, SPECS, separate_values())
    event = {"pid": 7, "user_id": "a", "ts": T0, "amount": 12.5, "fee": 0.25, "merchant": "m1"}
    assert shared.ingest([event]).accepted == apart.ingest([event]).accepted == 1
    assert shared.prefix != apart.prefix
    (member,) = store.client.zrange(f"{shared.prefix}e:a", 0, -1)
    (apart_member,) = store.client.zrange(f"{apart.prefix}e:a", 0, -1)
    functions = _per_event_values(SPECS)
    held = json.loads(b"[" + member + b"]")
    assert held == [micros(T0), 7, *(functions[column](event) for column in shared.columns)]
    assert len(shared.columns) == len(apart.columns) - 4 == len({spec.value_column for spec in SPECS}) - 4
    assert len(json.loads(b"[" + apart_member + b"]")) == 2 + len(apart.columns)
    as_of = T0 + timedelta(seconds=1)
    assert_identical(shared.query("a", as_of), apart.query("a", as_of), "one event")
    assert_identical(shared.events("a", as_of), apart.events("a", as_of), "its provenance")


def test_errors_of_a_shared_function_are_recorded_under_each_name_in_order(store: Store) -> None:
    source = SPECS[0].source
    shared = store.window_state(source, SPECS, _per_event_values(SPECS))
    apart = store.window_state(source, SPECS, separate_values())
    zero = [{"pid": i, "user_id": "a", "ts": T0 + timedelta(minutes=i), "amount": 0.0, "fee": 0.0,
             "merchant": "m"} for i in range(3)]
    for batch in (zero[:1], zero[1:]):
        report = shared.ingest(batch)
        assert report == apart.ingest(batch)
        assert [(e.node, e.count) for e in report.errors] == [("inverse", len(batch)), ("inverse_fee", len(batch)),
                                                             ("inverse_twin", len(batch))]


def test_bootstrap_of_shared_columns_equals_separate_ones(new_store: Callable[[], Store]) -> None:
    rng = random.Random(7)
    source = SPECS[0].source
    events = sorted(random_events(rng, 600), key=lambda e: e["ts"])
    frame = pl.DataFrame(events, schema={c: t.polars for c, t in source.schema.items()})
    apart = new_store().window_state(source, SPECS, separate_values())
    slow = new_store().window_state(source, SPECS, _per_event_values(SPECS))
    assert_identical(slow.bootstrap(frame), apart.bootstrap(frame), "report")
    # Precomputed values, every column given: a column stored in another's takes that one's.
    precomputed = {spec.value_column: pl.Series([_event_value(spec)(e) if e["amount"] != 0.0 and e["fee"] != 0.0
                                                 else None for e in events], dtype=pl.Float64)
                   for spec in SPECS if spec.value_type.base is float}
    precomputed |= {spec.value_column: frame["merchant"] for spec in SPECS if spec.value_type.base is str}
    fast = new_store().window_state(source, SPECS, _per_event_values(SPECS))
    fast_apart = new_store().window_state(source, SPECS, separate_values())
    assert_identical(fast.bootstrap(frame, precomputed), fast_apart.bootstrap(frame, precomputed), "fast report")
    as_of = events[-1]["ts"] + timedelta(seconds=1)
    for key in "abc":
        assert_identical(slow.query(key, as_of), apart.query(key, as_of), f"slow {key}")
        assert_identical(fast.query(key, as_of), fast_apart.query(key, as_of), f"fast {key}")
    differing = dict(precomputed, __value__spread=precomputed["__value__spend"] * 2)
    with pytest.raises(SourceError, match="computed by the same function"):
        new_store().window_state(source, SPECS, _per_event_values(SPECS)).bootstrap(frame, differing)


def test_row_driver_over_shared_columns_matches_frame_driver() -> None:
    rng = random.Random(11)
    events = random_events(rng, 400)
    latest = max(e["ts"] for e in events)
    row = fdag.RowDriver(DAG, None)
    for batch in batches(rng, events):
        row.ingest("payments", batch)
    requests = [{"user_id": key, "as_of": latest + timedelta(seconds=1) - timedelta(minutes=back)}
                for key in "abc" for back in (0, 7, 29)]
    frame = fdag.FrameDriver(DAG, None).run(pl.DataFrame(requests), sources={"payments": pl.DataFrame(events)})
    for request, offline in zip(requests, frame.select(row.outputs).to_dicts(), strict=True):
        online = row.get({"user_id": request["user_id"]}, request["as_of"]).values
        for name in row.outputs:
            want, got = offline[name], online[name]
            if isinstance(want, float) and isinstance(got, float):
                assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (name, request)
            else:
                assert got == want, (name, request)

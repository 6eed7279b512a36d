"""@fdag.lookup: the newest snapshot row with ts + lag <= as_of, the same offline and online, with its as-of."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

import fdag
from feature_modules import accounts

D0 = datetime(2024, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)
SNAPSHOTS = [
    {"user_id": "u1", "ts": D0, "balance": 100.0, "credit_limit": 50.0},
    {"user_id": "u1", "ts": D0 + DAY, "balance": 200.0, "credit_limit": None},
    {"user_id": "u1", "ts": D0 + 2 * DAY, "balance": 300.0, "credit_limit": 10.0},
    {"user_id": "u2", "ts": D0 + DAY, "balance": -5.0, "credit_limit": 0.0},
]
DAG = fdag.Dag.from_modules(accounts)
OUTPUTS = ["balance_yesterday", "credit_limit_yesterday", "amount_vs_balance", "over_limit"]
REQUESTS = [
    {"user_id": "u1", "amount": 50.0, "as_of": D0 + DAY - TICK},   # nothing has landed yet
    {"user_id": "u1", "amount": 50.0, "as_of": D0 + DAY},          # D0's snapshot lands exactly now
    {"user_id": "u1", "amount": 50.0, "as_of": D0 + 3 * DAY - TICK},  # D1's, not D2's (lands at D3)
    {"user_id": "u2", "amount": 1.0, "as_of": D0 + 5 * DAY},
    {"user_id": "nobody", "amount": 1.0, "as_of": D0 + 5 * DAY},
]
EXPECTED = [
    {"balance_yesterday": None, "credit_limit_yesterday": None, "amount_vs_balance": None, "over_limit": False},
    {"balance_yesterday": 100.0, "credit_limit_yesterday": 50.0, "amount_vs_balance": 0.5, "over_limit": False},
    {"balance_yesterday": 200.0, "credit_limit_yesterday": None, "amount_vs_balance": 0.25, "over_limit": False},
    {"balance_yesterday": -5.0, "credit_limit_yesterday": 0.0, "amount_vs_balance": None, "over_limit": True},
    {"balance_yesterday": None, "credit_limit_yesterday": None, "amount_vs_balance": None, "over_limit": False},
]


def online(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    row = fdag.RowDriver(DAG, OUTPUTS)
    row.materialize("balances", pl.DataFrame(SNAPSHOTS))
    return [dict(row.get(r, r["as_of"]).values) for r in requests]


def offline(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = fdag.FrameDriver(DAG, OUTPUTS).run(pl.DataFrame(requests), sources={"balances": pl.DataFrame(SNAPSHOTS)})
    return out.select(OUTPUTS).to_dicts()


@pytest.mark.parametrize("engine", [online, offline], ids=["row", "frame"])
def test_the_newest_available_snapshot_is_used(engine) -> None:  # type: ignore[no-untyped-def]
    assert engine(REQUESTS) == EXPECTED


def test_as_of_is_the_timestamp_of_the_row_read() -> None:
    row = fdag.RowDriver(DAG, ["balance_yesterday", "amount_vs_balance"])
    row.materialize("balances", SNAPSHOTS)
    vec = row.get({"user_id": "u1", "amount": 5.0}, D0 + 3 * DAY - TICK)
    assert vec.as_of == {"balance_yesterday": D0 + DAY, "amount_vs_balance": D0 + DAY}
    assert row.get({"user_id": "u1", "amount": 5.0}, D0).as_of["balance_yesterday"] is None
    frame = fdag.FrameDriver(DAG, ["balance_yesterday", "amount_vs_balance"])
    out = frame.run(pl.DataFrame(REQUESTS[:3]), sources={"balances": pl.DataFrame(SNAPSHOTS)}, with_as_of=True)
    assert out["balance_yesterday__as_of"].to_list() == [None, D0, D0 + DAY]
    assert out["amount_vs_balance__as_of"].to_list() == [None, D0, D0 + DAY]


def test_lookup_nodes_are_typed_drawn_and_explained() -> None:
    assert DAG.nodes["balance_yesterday"].kind == "lookup"
    assert str(DAG.nodes["balance_yesterday"].returns) == "float | None"
    assert "lookup, lag 1 day" in DAG.to_dot(["balance_yesterday"])
    explained = {e.node: e for e in fdag.FrameDriver(DAG, OUTPUTS).explanations()}
    assert explained["balance_yesterday"].how == "lookup"
    assert DAG.lineage("amount_vs_balance").sources == {"balances": "user_id"}


def test_changing_the_lag_changes_the_version(make_module) -> None:  # type: ignore[no-untyped-def]
    source = (
        "from datetime import datetime\nimport fdag\n"
        "s = fdag.Source('s', key='k', timestamp='ts', schema={'k': str, 'ts': datetime, 'v': float})\n"
        "@fdag.lookup(s, lag='LAG')\ndef v_then(v: float) -> float:\n    return v\n"
    )
    one = fdag.Dag.from_modules(make_module("lag_one", source.replace("LAG", "1d"))).version("v_then")
    two = fdag.Dag.from_modules(make_module("lag_two", source.replace("LAG", "2d"))).version("v_then")
    assert one != two


def test_engines_agree_on_generated_snapshots() -> None:
    fdag.check(DAG, examples=60)


SNAPSHOT_MODULE = (
    "from datetime import datetime, timedelta\nimport fdag\n"
    "s = fdag.Source('s', key='k', timestamp='event_timestamp', "
    "schema={'k': str, 'event_timestamp': datetime, 'v': float})\n"
    "@fdag.lookup(s, OPTIONS)\ndef v_then(v: float) -> float:\n    return v\n"
)


def test_a_timestamp_column_not_named_ts(make_module) -> None:  # type: ignore[no-untyped-def]
    """Regression: the row engine and fdag.check read a lookup's row time from the source's own timestamp column."""
    dag = fdag.Dag.from_modules(make_module("stamped", SNAPSHOT_MODULE.replace("OPTIONS", "lag='1h'")))
    row = fdag.RowDriver(dag)
    row.materialize("s", [{"k": "a", "event_timestamp": D0, "v": 1.5}])
    vec = row.get({"k": "a"}, D0 + 2 * DAY)
    assert (vec["v_then"], vec.as_of["v_then"]) == (1.5, D0)
    fdag.check(dag, examples=30)


def test_max_age_and_default(make_module) -> None:  # type: ignore[no-untyped-def]
    options = "lag='1h', max_age='1d', default=0"
    dag = fdag.Dag.from_modules(make_module("aged", SNAPSHOT_MODULE.replace("OPTIONS", options)))
    assert str(dag.nodes["v_then"].returns) == "float"  # a non-null default: never null for want of a row
    rows = [{"k": "a", "event_timestamp": D0, "v": 7.0}, {"k": "b", "event_timestamp": D0 + DAY, "v": 1.0}]
    hour = timedelta(hours=1)
    cases = [  # (as_of, value, as-of): the row until it is a day older than as_of - 1h, then the default
        (D0 + hour - TICK, 0.0, D0 - TICK),  # nothing available yet: the default, as of as_of - lag
        (D0 + hour, 7.0, D0),
        (D0 + DAY + hour, 7.0, D0),  # exactly max_age old: still fresh
        (D0 + DAY + hour + TICK, 0.0, D0 + DAY),  # too old: the default, as of as_of - lag capped by the watermark
    ]
    row = fdag.RowDriver(dag)
    row.materialize("s", rows)
    frame = fdag.FrameDriver(dag).run(pl.DataFrame({"k": ["a"] * 4, "as_of": [c[0] for c in cases]}),
                                      sources={"s": pl.DataFrame(rows)}, with_as_of=True)
    for (as_of, value, value_as_of), offline_row in zip(cases, frame.to_dicts(), strict=True):
        vec = row.get({"k": "a"}, as_of)
        assert (vec["v_then"], vec.as_of["v_then"]) == (value, value_as_of), as_of
        assert (offline_row["v_then"], offline_row["v_then__as_of"]) == (value, value_as_of), as_of


@pytest.mark.parametrize(("options", "message"), [
    ("max_age='0s'", r"has max_age='0s', which is not a positive duration"),
    ("max_age=timedelta(days=-1)", r"has max_age=datetime.timedelta\(days=-1\), which is not a positive duration"),
    ("max_age='a week'", r"has max_age='a week', which is not a positive duration"),
    ("default='zero'", r"has default='zero' but returns 'float'. Hint: give a default of type 'float'"),
])
def test_invalid_options_name_the_feature(make_module, options: str, message: str) -> None:  # type: ignore[no-untyped-def]
    module = make_module("bad_options", SNAPSHOT_MODULE.replace("OPTIONS", options))
    with pytest.raises(fdag.DagError, match=rf"feature 'v_then' \(.*bad_options\.py:4\) {message}") as raised:
        fdag.Dag.from_modules(module)
    assert "Hint: " in str(raised.value)


def test_lag_max_age_and_default_change_the_version(make_module) -> None:  # type: ignore[no-untyped-def]
    versions = {
        options: fdag.Dag.from_modules(
            make_module(f"v_{i}", SNAPSHOT_MODULE.replace("OPTIONS", options))).version("v_then")
        for i, options in enumerate(["lag='1h'", "lag='1h', max_age='1d'", "lag='1h', max_age='2d'",
                                     "lag='1h', max_age='1d', default=0.0", "lag='1h', max_age='1d', default=1.0"])
    }
    assert len(set(versions.values())) == len(versions)


def test_the_plan_lists_lookups_apart_from_windows() -> None:
    from tests.resources import two_clocks

    plan = fdag.Dag.from_modules(two_clocks).plan()
    assert [spec.node for spec in plan.windows["ticks"]] == ["ticks_10d"]
    assert [spec.node for spec in plan.lookups["ticks"]] == ["latest_seq", "latest_tag"]
    assert plan.lookups["ticks"][0].lag == timedelta(microseconds=1)
    assert plan.clocks["latest_seq"].lookups == {"latest_seq"} and not plan.clocks["latest_seq"].sources
    assert plan.clocks["ticks_10d"].sources == {"ticks"}
    fdag.check(fdag.Dag.from_modules(two_clocks), examples=40)  # one source read by a window and by lookups

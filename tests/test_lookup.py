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

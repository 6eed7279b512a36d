"""Int windows beyond the fast paths: a sum beyond int64 is an error in both engines (see test_recorded_errors);
means and variances of ints too large for floats or int64 sums are exact in both, equal to the exact value."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from types import ModuleType

import polars as pl
import pytest

import fdag

T0 = datetime(2024, 5, 1, tzinfo=UTC)
MODULE = """
from datetime import datetime
import fdag

payments = fdag.Source("payments", key="user_id", timestamp="ts", id="pid",
                       schema={"pid": str, "user_id": str, "ts": datetime, "units": int})


@fdag.window(payments, agg=["sum", "mean", "var", "std"], over="1h")
def units(units: int) -> int:
    return units
"""


def exact(values: list[int]) -> dict[str, object]:
    total = sum(values)
    mean = Fraction(total, len(values))
    variance = sum((Fraction(v) - mean) ** 2 for v in values) / (len(values) - 1)
    return {"units_sum_1h": total if -(2**63) <= total < 2**63 else None, "units_mean_1h": float(mean),
            "units_var_1h": float(variance), "units_std_1h": float(variance) ** 0.5}


@pytest.mark.parametrize("values", [[2**62, 2**62 + 1, 3], [2**53 + 1, 2**53 + 2], [-(2**62), -(2**62), -(2**62), 5],
                                    [2**62, -(2**62), 2**61 + 7]], ids=["beyond-int64", "beyond-float", "negative",
                                                                         "cancelling"])
def test_big_int_windows_are_exact_in_both_engines(make_module: Callable[[str, str], ModuleType],
                                                   values: list[int]) -> None:
    dag = fdag.Dag.from_modules(make_module("big_ints", MODULE))
    events = [{"pid": f"p{i}", "user_id": "u1", "ts": T0 + timedelta(minutes=i), "units": v}
              for i, v in enumerate(values)]
    as_of = T0 + timedelta(minutes=30)
    row = fdag.RowDriver(dag)
    row.ingest("payments", events)
    online = row.get({"user_id": "u1"}, as_of).values
    offline = fdag.FrameDriver(dag).run(pl.DataFrame({"user_id": ["u1"], "as_of": [as_of]}),
                                        sources={"payments": pl.DataFrame(events)}).row(0, named=True)
    want = exact(values)
    for name, value in want.items():
        assert online[name] == offline[name] == value, (name, online[name], offline[name], value)

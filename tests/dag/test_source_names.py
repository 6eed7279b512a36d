"""Sources a DAG cannot tell apart, or whose key is the request instant, are problems at build."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest

import fdag

TWO_SOURCES_ONE_NAME = """
from datetime import datetime
import fdag

payments = fdag.Source("events", key="user_id", timestamp="ts", schema={"user_id": str, "ts": datetime, "x": float})
refunds = fdag.Source("events", key="user_id", timestamp="ts", schema={"user_id": str, "ts": datetime, "x": float},
                      allowed_lateness="5m")


@fdag.window(payments, agg="sum", over="1h")
def paid(x: float) -> float:
    return x


@fdag.window(refunds, agg="sum", over="1h")
def refunded(x: float) -> float:
    return x


@fdag.window(payments, agg="count", over="1h")
def payments_count(x: float) -> float:
    return x
"""

KEYED_BY_AS_OF = """
from datetime import datetime
import fdag

events = fdag.Source("events", key="as_of", timestamp="ts", schema={"as_of": str, "ts": datetime, "x": float})


@fdag.lookup(events)
def latest_x(x: float) -> float:
    return x
"""


def test_two_sources_under_one_name_are_a_dag_error(make_module: Callable[[str, str], ModuleType]) -> None:
    with pytest.raises(fdag.DagError, match=r"feature 'refunded' \(.*:\d+\) reads a source named 'events' but "
                       r"'paid' \(.*:\d+\) reads another source of that name\. Hint: give each Source its own name, "
                       r"or read one Source object from both") as caught:
        fdag.Dag.from_modules(make_module("two_sources_one_name", TWO_SOURCES_ONE_NAME))
    assert [p.feature for p in caught.value.problems] == ["refunded"]  # one object read twice is one source


def test_a_source_keyed_by_as_of_is_a_dag_error(make_module: Callable[[str, str], ModuleType]) -> None:
    with pytest.raises(fdag.DagError, match=r"feature 'latest_x' \(.*:\d+\) reads source 'events' whose key column "
                       r"is named 'as_of', which is reserved for the request instant\. Hint: rename the key column"):
        fdag.Dag.from_modules(make_module("keyed_by_as_of", KEYED_BY_AS_OF))

"""What a user writes is checked when it is written: a misused decorator or a bad Source fails at once, with an
fdag error naming the argument and the fix, before any function is seen or any DAG is built."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

import fdag
from fdag.errors import DeclarationError, DeclarationTypeError, FdagError

EVENTS = fdag.Source("events", key="user_id", timestamp="ts", schema={"user_id": str, "ts": datetime, "x": float})


@pytest.mark.parametrize(("call", "kind", "message"), [
    (lambda: fdag.window(EVENTS, agg="sum", over="1h", closed="middle"), DeclarationError,  # type: ignore[arg-type]
     r"^closed='middle' is not 'left' or 'both'\. Hint: 'left' is \[t-w, t\), 'both' is \[t-w, t\]\.$"),
    (lambda: fdag.window(EVENTS, agg="sum", over=3600), DeclarationTypeError,  # type: ignore[arg-type]
     r"^over=3600 is a int, not one value or a list of them\. Hint: write e\.g\. over='1h'"),
    (lambda: fdag.window(EVENTS, agg="sum", over=[]), DeclarationError,
     r"^over=\[\] is empty\. Hint: give at least one, e\.g\. over='1h'"),
    (lambda: fdag.window(EVENTS, agg=[], over="1h"), DeclarationError,
     r"^agg=\[\] is empty\. Hint: give at least one, e\.g\. agg='sum'"),
    (lambda: fdag.window(EVENTS, agg=3, over="1h"), DeclarationTypeError,  # type: ignore[arg-type]
     r"^agg=3 is a int, not one value or a list of them\."),
    (lambda: fdag.window(EVENTS, agg="sum", over=["1h", 7]), DeclarationTypeError,  # type: ignore[list-item]
     r"^over=7 is a int, not a duration\. Hint: write e\.g\. '30s'"),
    (lambda: fdag.window(EVENTS, agg="sum", over="soon"), DeclarationError,
     r"^over='soon' is not a duration\. Hint: write e\.g\. '30s', '5m', '1h', '10d' or pass a timedelta\.$"),
    (lambda: fdag.window(EVENTS, agg="sum", over="0s"), DeclarationError,
     r"^over='0s' is not positive\. Hint: a window looks back"),
    (lambda: fdag.window(EVENTS, agg="sum", over=timedelta(hours=-1)), DeclarationError,
     r"^over=datetime\.timedelta\(days=-1, seconds=82800\) is negative\."),
    (lambda: fdag.window(EVENTS, agg="sum", over="99999999999d"), DeclarationError,
     r"^over='99999999999d' is longer than any duration Python can hold\."),
    (lambda: fdag.window("events", agg="sum", over="1h"), DeclarationTypeError,  # type: ignore[arg-type]
     r"^source='events' is not an fdag\.Source\. Hint: pass the Source the events come from"),
    (lambda: fdag.lookup(EVENTS, lag="soon"), DeclarationError, r"^lag='soon' is not a duration\. Hint:"),
    (lambda: fdag.lookup(EVENTS, lag=1), DeclarationTypeError, r"^lag=1 is a int, not a duration\."),  # type: ignore[arg-type]
    (lambda: fdag.lookup(None, lag="1d"), DeclarationTypeError,  # type: ignore[arg-type]
     r"^source=None is not an fdag\.Source\. Hint: pass the Source the rows come from"),
])
def test_decorator_misuse_fails_when_the_decorator_runs(call: Any, kind: type[FdagError], message: str) -> None:
    with pytest.raises(kind, match=message):
        call()  # the decorator is built, never applied: the error comes before any function is seen


@pytest.mark.parametrize(("arguments", "message"), [
    ({"key": 3}, r"^source 'events' key 3 is a int, not a str\. Hint: name every column with a str\.$"),
    ({"timestamp": "when"}, r"^source 'events' names 'when' as its timestamp but its schema has no such column\."),
    ({"schema": {"user_id": str, "ts": datetime, "x": set}},
     r"^source 'events' column 'x' has an unsupported type: type 'set' is not supported\. Hint: use int, float"),
    ({"schema": {"user_id": str, "ts": datetime, "x": int | str}},
     r"^source 'events' column 'x' has an unsupported type: union 'int \| str' is not supported"),
    ({"schema": [("user_id", str), ("ts", datetime)]},
     r"^source 'events' schema is a list, not a mapping of column to type\. Hint: write e\.g\. schema=\{"),
    ({"schema": {"user_id": str, "ts": str}},
     r"^source 'events' column 'ts' is the timestamp but is declared 'str'\. Hint: declare it as datetime\.$"),
    ({"schema": {"user_id": float, "ts": datetime}},
     r"^source 'events' column 'user_id' is the key but is declared 'float'\. Hint: keys are str or int\.$"),
    ({"max_future": "-1h"}, r"^source 'events' max_future='-1h' is not a positive duration\."),
])
def test_a_bad_source_declaration_is_a_source_error(arguments: dict[str, Any], message: str) -> None:
    declared: dict[str, Any] = {"key": "user_id", "timestamp": "ts", "schema": {"user_id": str, "ts": datetime}}
    with pytest.raises(fdag.SourceError, match=message):
        fdag.Source("events", **{**declared, **arguments})


def test_a_source_duration_names_its_argument() -> None:
    with pytest.raises(DeclarationError, match=r"^allowed_lateness='late' is not a duration\. Hint:"):
        fdag.Source("events", key="k", timestamp="ts", schema={"k": str, "ts": datetime}, allowed_lateness="late")

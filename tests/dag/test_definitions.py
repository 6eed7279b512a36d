"""The shape of a feature definition never gives a silent wrong answer: decorators, stale source, defaults,
closures and unsupported kinds of callables are either computed the same by both engines or refused at build."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl
import pytest

import fdag
from fdag.errors import FdagError
from tests.redis_server import RedisServer

MakeModule = Callable[[str, str], ModuleType]
T0 = datetime(2024, 3, 1, tzinfo=UTC)

SOURCE = """
from __future__ import annotations
import functools
from datetime import datetime
import fdag
events = fdag.Source("events", key="k", timestamp="ts", id="id",
                     schema={"id": str, "k": str, "ts": datetime, "amount": float})
"""


def both_engines(dag: fdag.Dag, requests: list[dict[str, Any]]) -> tuple[list[Any], list[Any], fdag.FrameDriver]:
    """Every output for each request from RowDriver and from FrameDriver (no windows), and the FrameDriver."""
    row = fdag.RowDriver(dag)
    online = [dict(row.get(r).values) for r in requests]
    frame = fdag.FrameDriver(dag)
    spine = pl.DataFrame(requests, schema={name: t.polars for name, t in dag.inputs.items()})
    offline = frame.run(spine).select(frame.outputs).to_dicts()
    return online, offline, frame


def reason_of(frame: fdag.FrameDriver, node: str) -> tuple[str, str]:
    (found,) = [e for e in frame.explanations() if e.node == node]
    return found.how, found.reason


# ------------------------------------------------------------------------------------------- wrapped functions

DOUBLING = SOURCE + """
def _doubling(f):
    @functools.wraps(f)
    def wrapper(x: int) -> int:
        return f(x) * {factor}
    return wrapper

@_doubling
def plus_one(x: int) -> int:
    return x + 1
"""


def test_a_wrapper_that_changes_the_result_is_what_both_engines_compute(make_module: MakeModule) -> None:
    dag = fdag.Dag.from_modules(make_module("wrapped_doubling", DOUBLING.replace("{factor}", "2")))
    online, offline, frame = both_engines(dag, [{"x": 1}, {"x": 5}])
    assert online == offline == [{"plus_one": 4}, {"plus_one": 12}]
    how, reason = reason_of(frame, "plus_one")
    assert how == "fallback" and "wrapped by a decorator (functools.wraps)" in reason


def test_a_wrapped_node_is_located_at_the_users_def(make_module: MakeModule) -> None:
    module = make_module("wrapped_location", DOUBLING.replace("{factor}", "2"))
    location = fdag.Dag.from_modules(module).nodes["plus_one"].location
    assert location.endswith(f":{module.plus_one.__wrapped__.__code__.co_firstlineno}")


def test_a_wrappers_code_is_part_of_the_version(make_module: MakeModule) -> None:
    twice = fdag.Dag.from_modules(make_module("wrapped_v2", DOUBLING.replace("{factor}", "2")))
    thrice = fdag.Dag.from_modules(make_module("wrapped_v3", DOUBLING.replace("{factor}", "3")))
    assert twice.version("plus_one") != thrice.version("plus_one")


def test_a_wrapper_taking_args_and_kwargs_is_a_dag_error(make_module: MakeModule) -> None:
    source = SOURCE + """
def _logged(f):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        return f(*args, **kwargs)
    return wrapper

@_logged
def plus_one(x: int) -> int:
    return x + 1
"""
    with pytest.raises(fdag.DagError, match=r"feature 'plus_one' \(.*wrapped_star\.py:\d+\) is wrapped by a "
                       r"decorator whose wrapper takes '\*args'.* Hint: give the wrapper the function's own "
                       r"parameters"):
        fdag.Dag.from_modules(make_module("wrapped_star", source))


def test_a_wrapper_is_called_with_its_own_parameters(make_module: MakeModule) -> None:
    # functools.wraps copies the function's annotations, which name 'x'; the wrapper takes 'y' too
    source = SOURCE + """
def _with_offset(f):
    @functools.wraps(f)
    def wrapper(x, y):
        return f(x) + y
    return wrapper

@_with_offset
def plus_one(x: int) -> int:
    return x + 1
"""
    with pytest.raises(fdag.DagError, match=r"feature 'plus_one' .* has no type annotation for its parameter 'y'"):
        fdag.Dag.from_modules(make_module("wrapped_params", source))


# ------------------------------------------------------------------------------- loaded code vs the file on disk

def test_a_file_changed_after_import_is_not_translated_from_disk(make_module: MakeModule) -> None:
    module = make_module("changed_file", "def plus(x: int) -> int:\n    return x + 1\n")
    Path(module.__file__).write_text("def plus(x: int) -> int:\n    return x + 2\n")  # type: ignore[arg-type]
    online, offline, frame = both_engines(fdag.Dag.from_modules(module), [{"x": 1}])
    assert online == offline == [{"plus": 2}]  # the loaded code, not the file
    how, reason = reason_of(frame, "plus")
    assert how == "fallback" and "differs from the loaded code" in reason


def test_a_version_follows_the_loaded_code_not_the_file(make_module: MakeModule) -> None:
    stale = make_module("stale_file", "def plus(x: int) -> int:\n    return x + 1\n")
    Path(stale.__file__).write_text("def plus(x: int) -> int:\n    return x + 2\n")  # type: ignore[arg-type]
    fresh = make_module("fresh_file", "def plus(x: int) -> int:\n    return x + 2\n")
    assert fdag.Dag.from_modules(stale).version("plus") != fdag.Dag.from_modules(fresh).version("plus")


def test_a_constant_rebound_after_the_frame_driver_was_built_is_an_error_at_run(make_module: MakeModule) -> None:
    module = make_module("rebound", "LIMIT = 10\n\ndef capped(x: int) -> int:\n    return min(x, LIMIT)\n")
    dag = fdag.Dag.from_modules(module)
    frame = fdag.FrameDriver(dag)
    assert reason_of(frame, "capped") == ("translated", "")
    spine = pl.DataFrame({"x": [50]})
    assert frame.run(spine)["capped"].to_list() == [10]
    module.LIMIT = 20
    assert fdag.RowDriver(dag).get({"x": 50})["capped"] == 20  # the row engine reads the live global
    with pytest.raises(FdagError, match=r"feature 'capped' \(.*rebound\.py:3\) was translated with LIMIT = 10, "
                       r"but LIMIT is now 20\. Hint: rebuild the Dag and the FrameDriver"):
        frame.run(spine)
    module.LIMIT = 10
    assert frame.run(spine)["capped"].to_list() == [10]


def test_only_immutable_constants_are_inlined(make_module: MakeModule) -> None:
    module = make_module("mutable_global", "LIMITS = [1, 2]\n\ndef listed(x: int) -> bool:\n    return x in LIMITS\n")
    dag = fdag.Dag.from_modules(module)
    frame = fdag.FrameDriver(dag)
    assert reason_of(frame, "listed")[0] == "fallback"
    module.LIMITS.append(3)
    assert frame.run(pl.DataFrame({"x": [3]}))["listed"].to_list() == [True]


# ------------------------------------------------------------------------------------------- window declarations

def window_module(make_module: MakeModule, name: str, decorators: str, returns: str = "float") -> ModuleType:
    return make_module(name, SOURCE + f"""
{decorators}
def amount(amount: float) -> {returns}:
    return amount
""")


@pytest.mark.parametrize(("decorator", "default", "node_type"), [
    ('@fdag.window(events, agg="count", over="1h", default=1.5)', "1.5", "int"),
    ('@fdag.window(events, agg="count", over="1h", default=True)', "True", "int"),
    ('@fdag.window(events, agg="mean", over="1h", default="0")', "'0'", "float"),
    ('@fdag.window(events, agg="mean", over="1h", default=float("nan"))', "nan", "float"),
    ('@fdag.window(events, agg="last_n(3)", over="1h", default=0.0)', "0.0", r"list\[float\]"),
    ('@fdag.window(events, agg="count", over="1h", default=2**70)', str(2**70), "int"),
])
def test_a_window_default_must_fit_the_node_type(make_module: MakeModule, decorator: str, default: str,
                                                 node_type: str) -> None:
    module = window_module(make_module, f"bad_default_{uuid.uuid4().hex[:6]}", decorator)
    with pytest.raises(fdag.DagError, match=rf"feature 'amount' \(.*:\d+\) has default={default}, which is not a "
                       rf"'{node_type}' \(the node's type\)\. Hint:"):
        fdag.Dag.from_modules(module)


def test_an_int_default_of_a_float_node_is_widened(make_module: MakeModule) -> None:
    module = window_module(make_module, "widened_default", '@fdag.window(events, agg="mean", over="1h", default=0)')
    dag = fdag.Dag.from_modules(module)
    assert dag.nodes["amount"].returns == fdag.FType(float)
    row = fdag.RowDriver(dag).get({"k": "nobody"}, T0)["amount"]
    spine = pl.DataFrame({"k": ["nobody"], "as_of": [T0]})
    events = pl.DataFrame(schema={"id": pl.String, "k": pl.String, "ts": pl.Datetime("us", "UTC"),
                                  "amount": pl.Float64})
    frame = fdag.FrameDriver(dag).run(spine, sources={"events": events})["amount"].to_list()[0]
    assert (row, frame) == (0.0, 0.0) and type(row) is float and type(frame) is float


@pytest.mark.parametrize(("decorators", "message"), [
    ('@fdag.lookup(events)\n@fdag.window(events, agg="sum", over="1h")', "is decorated with both @window and @lookup"),
    ('@fdag.window(events, agg="sum", over="1h")\n@fdag.lookup(events)', "is decorated with both @window and @lookup"),
    ('@fdag.window(events, agg="sum", over="2h")\n@fdag.window(events, agg="sum", over="1h")',
     "is decorated with @window twice"),
    ("@fdag.lookup(events)\n@fdag.lookup(events, lag='1d')", "is decorated with @lookup twice"),
])
def test_stacked_declarations_are_a_dag_error(make_module: MakeModule, decorators: str, message: str) -> None:
    module = window_module(make_module, f"stacked_{uuid.uuid4().hex[:6]}", decorators)
    with pytest.raises(fdag.DagError, match=rf"feature 'amount' \(.*:\d+\) {message}\. Hint: "):
        fdag.Dag.from_modules(module)


# ----------------------------------------------------------------------------------------- closures in versions

FACTORY = SOURCE + """
def _large(threshold):
    @fdag.window(events, agg="sum", over="1h")
    def large_spend(amount: float) -> float:
        return amount if amount > threshold else 0.0
    return large_spend

large_spend = _large({threshold})
"""


def test_closure_values_are_part_of_the_version(make_module: MakeModule) -> None:
    low = fdag.Dag.from_modules(make_module("closure_10", FACTORY.replace("{threshold}", "10")))
    high = fdag.Dag.from_modules(make_module("closure_100", FACTORY.replace("{threshold}", "100")))
    same = fdag.Dag.from_modules(make_module("closure_10b", FACTORY.replace("{threshold}", "10")))
    assert low.version("large_spend") != high.version("large_spend")
    assert low.version("large_spend") == same.version("large_spend")


def test_closed_over_functions_count_by_their_code(make_module: MakeModule) -> None:
    source = """
def _make(scale):
    def scaled(x: float) -> float:
        return scale(x)
    return scaled

def _double(x):
    return x * {factor}

scaled = _make(_double)
"""
    two = fdag.Dag.from_modules(make_module("closure_f2", source.format(factor=2)))
    three = fdag.Dag.from_modules(make_module("closure_f3", source.format(factor=3)))
    assert two.version("scaled") != three.version("scaled")


def test_default_argument_values_are_part_of_the_version(make_module: MakeModule) -> None:
    source = "def plus(x: int, y: int = {y}) -> int:\n    return x + y\n"
    one = fdag.Dag.from_modules(make_module("default_arg_1", source.format(y=1)))
    two = fdag.Dag.from_modules(make_module("default_arg_2", source.format(y=2)))
    assert one.version("plus") != two.version("plus")


def test_a_closure_over_a_value_that_cannot_be_fingerprinted_is_a_dag_error(make_module: MakeModule) -> None:
    source = """
import threading

def _guarded(lock):
    def guarded(x: int) -> int:
        with lock:
            return x
    return guarded

guarded = _guarded(threading.Lock())
"""
    with pytest.raises(fdag.DagError, match=r"feature 'guarded' \(.*:\d+\) cannot be versioned: closure variable "
                       r"'lock' holds a _thread\.lock, which fdag can neither read as plain data nor pickle\. Hint: "):
        fdag.Dag.from_modules(make_module("closure_lock", source))


def test_redis_drivers_with_different_closures_do_not_share_state(make_module: MakeModule,
                                                                  redis_server: RedisServer) -> None:
    namespace = f"closures-{uuid.uuid4().hex[:8]}"
    low = fdag.Dag.from_modules(make_module("redis_closure_10", FACTORY.replace("{threshold}", "10")))
    high = fdag.Dag.from_modules(make_module("redis_closure_100", FACTORY.replace("{threshold}", "100")))
    rows = [fdag.RowDriver(dag, store=fdag.RedisStore(redis_server.url, namespace=namespace)) for dag in (low, high)]
    events = [{"id": "a", "k": "u1", "ts": T0, "amount": 50.0}, {"id": "b", "k": "u1", "ts": T0, "amount": 500.0}]
    for row in rows:
        row.ingest("events", events)
    as_of = T0 + timedelta(minutes=1)
    assert [row.get({"k": "u1"}, as_of)["large_spend"] for row in rows] == [550.0, 500.0]


# -------------------------------------------------------------------------------- unsupported kinds of callables

@pytest.mark.parametrize(("definition", "message"), [
    ("async def feature(x: int) -> int:\n    return x", r"feature 'feature' \(.*:\d+\) is an async function\. Hint: "),
    ("def feature(x: int) -> int:\n    yield x", r"feature 'feature' \(.*:\d+\) is a generator function "
     r"\(it uses 'yield'\)\. Hint: "),
    ("def feature(x: int, *, y: int) -> int:\n    return x + y",
     r"feature 'feature' \(.*:\d+\) takes the keyword-only parameter 'y'\. Hint: the engines call a feature "
     r"with its inputs by position"),
    ("feature = lambda x: x + 1", r"feature 'feature' \(.*:\d+\) is a lambda\. Hint: define it with 'def'"),
    ("def _scale(x: int, factor: int) -> int:\n    return x * factor\n\nfeature = functools.partial(_scale, factor=2)",
     r"feature 'feature' \(.*:\d+\) is a functools\.partial, not a 'def' function\. Hint: "),
    ("@functools.lru_cache\ndef feature(x: int) -> int:\n    return x",
     r"feature 'feature' \(.*:\d+\) is a functools\._lru_cache_wrapper made by a decorator, not a function\. Hint: "),
])
def test_unsupported_callables_are_dag_errors(make_module: MakeModule, definition: str, message: str) -> None:
    module = make_module(f"kind_{uuid.uuid4().hex[:6]}", f"import functools\n\n{definition}\n")
    with pytest.raises(fdag.DagError, match=message):
        fdag.Dag.from_modules(module)


def test_callables_that_are_not_features_are_ignored(make_module: MakeModule) -> None:
    source = """
import functools
import json
from math import sqrt

class _Scaler:
    def __call__(self, x):
        return x * 2

scaler = _Scaler()
dumps = functools.partial(json.dumps, sort_keys=True)

def root(x: float) -> float:
    return sqrt(x)
"""
    assert list(fdag.Dag.from_modules(make_module("not_features", source)).nodes) == ["root"]


def test_positional_only_parameters_work_on_both_engines(make_module: MakeModule) -> None:
    module = make_module("positional_only", "def minus(a: int, /, b: int) -> int:\n    return a - b\n")
    online, offline, frame = both_engines(fdag.Dag.from_modules(module), [{"a": 5, "b": 3}, {"a": 1, "b": 4}])
    assert online == offline == [{"minus": 2}, {"minus": -3}]
    assert reason_of(frame, "minus") == ("translated", "")

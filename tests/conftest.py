"""Shared fixtures: every engine test runs on both engines, and every store test on both stores, through one
fixture each (``engine``; ``store`` and ``new_store``, Redis being a real ``redis-server`` the tests start)."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl
import pytest

import fdag
from fdag._stores.protocol import Store
from tests.redis_server import redis_server as redis_server  # the fixture, for every test module

ROOT = Path(__file__).resolve().parents[1]


def run_rows(dag: fdag.Dag, outputs: list[str] | None, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each request through RowDriver.get at its own 'as_of'."""
    row = fdag.RowDriver(dag, outputs)
    return [dict(row.get({k: v for k, v in r.items() if k != "as_of"}, r.get("as_of")).values) for r in requests]


def run_frame(dag: fdag.Dag, outputs: list[str] | None, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """All requests as one spine through FrameDriver.run."""
    frame = fdag.FrameDriver(dag, outputs)
    plan = frame.plan
    schema = {name: ftype.polars for name, ftype in plan.inputs.items()}
    if any("as_of" in r for r in requests):
        schema["as_of"] = pl.Datetime("us", "UTC")
    spine = pl.DataFrame(requests, schema=schema, orient="row")
    return frame.run(spine).select(plan.outputs).to_dicts()


ENGINES = {"row": run_rows, "frame": run_frame}


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Callable[..., list[dict[str, Any]]]:
    """Runs requests through one engine; tests using it run once per engine."""
    return ENGINES[request.param]


STORES = ("memory", "redis")


@pytest.fixture(params=STORES)
def new_store(request: pytest.FixtureRequest) -> Callable[[], Store]:
    """Makes fresh, empty stores of one kind; tests using it run once per store.

    A RedisStore gets a fresh namespace on the test module's real redis-server on every call, so two stores made
    by one test share nothing, as two MemoryStores do.
    """
    if request.param == "memory":
        return fdag.MemoryStore
    url = request.getfixturevalue("redis_server").url
    return lambda: fdag.RedisStore(url, namespace=f"t-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def store(new_store: Callable[[], Store]) -> Store:
    """A fresh store of each kind (see ``new_store``)."""
    return new_store()


@pytest.fixture
def make_module(tmp_path: Path) -> Iterator[Callable[[str, str], ModuleType]]:
    """Write source text to a fresh module and import it (for tests that change code between builds)."""
    made: list[str] = []

    def make(name: str, source: str) -> ModuleType:
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        made.append(name)
        spec.loader.exec_module(module)
        return module

    yield make
    for name in made:
        sys.modules.pop(name, None)

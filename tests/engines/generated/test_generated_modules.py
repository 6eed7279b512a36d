"""Generated feature modules: a live RowDriver replay, FrameDriver.run and the brute-force reference agree.

A bounded sample runs in the suite; ``make reliability`` runs ``FDAG_RELIABILITY_EXAMPLES`` of them (and writes
the tally to ``FDAG_RELIABILITY_SUMMARY``).
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fdag
from fdag._stores import redis_tiles, redis_window
from fdag._stores.protocol import Store
from tests.engines.generated.histories import histories
from tests.engines.generated.modules import Module, modules
from tests.engines.generated.replay import Tally, run_case
from tests.redis_server import RedisServer

EXAMPLES = int(os.environ.get("FDAG_RELIABILITY_EXAMPLES", "120"))
REDIS_EXAMPLES = max(1, EXAMPLES // 4)  # a round trip per batch and per request: the same shapes, fewer of them
SUMMARY = os.environ.get("FDAG_RELIABILITY_SUMMARY")
COUNTER = itertools.count()


@st.composite
def cases(draw: st.DrawFn) -> tuple[Module, object]:
    module = draw(modules())
    return module, draw(histories(module))


def dump(tally: Tally) -> None:
    """Write the tally to ``FDAG_RELIABILITY_SUMMARY`` (also along the way: a run stopped at its budget counts)."""
    if SUMMARY:
        Path(SUMMARY).write_text(json.dumps({"cases": dict(tally.cases), "non_fdag_exceptions":
                                             tally.non_fdag_exceptions, "mismatches": tally.mismatches,
                                             "events_lost": tally.events_lost, "failures": tally.failures},
                                            indent=1, ensure_ascii=False), encoding="utf-8")


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    found = Tally()
    yield found
    dump(found)


def agree_on_cases(folder: Path, tally: Tally, examples: int, name: str,
                   store: Callable[[], Store] = fdag.MemoryStore) -> None:
    """Run ``examples`` generated cases (modules ``<name>_<n>``) with the live RowDriver on a new ``store()`` each.

    The bounded run fails (and shrinks) on the first problem; the long run (``FDAG_RELIABILITY_SUMMARY``) counts
    them, writing the tally every 50 cases so a run stopped at its budget still reports.
    """

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(cases())
    def agree(case: tuple[Module, object]) -> None:
        module, history = case
        before = (tally.non_fdag_exceptions, tally.mismatches, tally.events_lost)
        number = next(COUNTER)
        run_case(module, history, folder, f"{name}_{number}", tally, store)  # type: ignore[arg-type]
        if number % 50 == 49:
            dump(tally)
        if not SUMMARY:
            assert (tally.non_fdag_exceptions, tally.mismatches, tally.events_lost) == before, tally.failures[-1:]

    agree()


def test_generated_modules_agree_across_engines_and_the_reference(tmp_path_factory: pytest.TempPathFactory,
                                                                  tally: Tally) -> None:
    agree_on_cases(tmp_path_factory.mktemp("generated"), tally, EXAMPLES, "generated")


def test_generated_modules_agree_on_redis_store(tmp_path_factory: pytest.TempPathFactory, tally: Tally,
                                                redis_server: RedisServer) -> None:
    """The same cases with the live RowDriver on a RedisStore (a fresh namespace each): its encodings of every
    column type and key type, shared value columns, dedup and reports must agree with FrameDriver and the reference
    as MemoryStore's do. (These histories are too small to seal tiles at the usual threshold: the next test
    lowers it.)"""

    def store() -> fdag.RedisStore:
        tally.cases["modules on RedisStore"] += 1
        return fdag.RedisStore(redis_server.url, namespace=f"generated-{uuid.uuid4().hex[:12]}")

    agree_on_cases(tmp_path_factory.mktemp("generated_redis"), tally, REDIS_EXAMPLES, "generated_redis", store)


def test_generated_modules_agree_on_redis_tiles(tmp_path_factory: pytest.TempPathFactory, tally: Tally,
                                                redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same cases on a RedisStore that seals a tile wherever its range holds one event (``DENSE = 1``), so
    windows are read from tiles at every level, cut by edges a microsecond either side of them, merged with late
    events, re-sent ids and evictions: they must agree with FrameDriver and the reference as raw reads do."""
    monkeypatch.setattr(redis_tiles, "DENSE", 1)
    merged = redis_window.parse_merged
    read: list[int] = []  # per case, the windows its queries read from tiles

    def parse_merged(text: bytes) -> list[list[str]] | None:
        tiles = merged(text)
        if tiles is not None:
            read[-1] += 1
        return tiles

    monkeypatch.setattr(redis_window, "parse_merged", parse_merged)

    def store() -> fdag.RedisStore:
        read.append(0)
        return fdag.RedisStore(redis_server.url, namespace=f"tiles-{uuid.uuid4().hex[:12]}")

    agree_on_cases(tmp_path_factory.mktemp("generated_tiles"), tally, REDIS_EXAMPLES, "generated_tiles", store)
    tally.cases["modules on RedisStore tiles"] += len(read)
    tally.cases["modules that read tiles"] += sum(map(bool, read))
    assert any(read), f"none of {len(read)} cases read a tile"  # (about 4 cases in 10 read one)


def test_a_case_with_a_wrong_answer_is_a_mismatch(tmp_path_factory: pytest.TempPathFactory,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison can fail: a reference that wraps every value in a list is caught on the first node."""
    from tests.engines.generated import replay

    honest = replay.reference.evaluate

    def wrong(*args: Any) -> Any:
        values, errors = honest(*args)
        return {name: [value] for name, value in values.items()}, errors

    monkeypatch.setattr(replay.reference, "evaluate", wrong)
    folder = tmp_path_factory.mktemp("wrong")

    @settings(max_examples=5, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(modules(invalid=False).flatmap(lambda module: st.tuples(st.just(module), histories(module))))
    def caught(case: tuple[Module, Any]) -> None:
        found = Tally()
        run_case(*case, folder, f"wrong_{next(COUNTER)}", found)
        assert found.mismatches == 1 and found.failures[0].startswith("mismatch: ")

    caught()

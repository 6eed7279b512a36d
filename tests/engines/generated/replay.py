"""Run one generated case through the three evaluators and say where they disagree.

A case is a generated module (written to a file, loaded with ``Dag.from_modules``) with a history and a spine.
``RowDriver`` (on a MemoryStore, or the store a test gives: a RedisStore) replays it as a live system would: each
source's events in arrival order, in small batches, and each request at its ``as_of`` once every source has
delivered everything up to it; ``FrameDriver.run`` gets the whole spine and every source's events (shuffled but for
ties); ``tests/reference.py`` computes every node by brute force. All three must agree on every value (window floats
to 1e-6), the two engines on the errors of derived features, and the ingest reports must account for every event
sent.

``Tally`` counts what the cases covered and what went wrong: non-fdag exceptions, engine mismatches, events lost.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import cycle
from pathlib import Path
from typing import Any

import polars as pl

import fdag
from fdag._stores.protocol import Store
from tests import reference
from tests.engines.generated.histories import History
from tests.engines.generated.modules import Module

TOLERANCE = 1e-6  # window aggregates: relative, and absolute near zero


@dataclass
class Tally:
    """What a run of generated cases covered and found."""

    cases: Counter[str] = field(default_factory=Counter)
    non_fdag_exceptions: int = 0
    mismatches: int = 0
    events_lost: int = 0
    failures: list[str] = field(default_factory=list)  # the first few, with their module text

    def fail(self, kind: str, text: str, module: Module) -> None:
        if kind == "exception":
            self.non_fdag_exceptions += 1
        else:
            self.mismatches += 1
        if len(self.failures) < 20:
            self.failures.append(f"{kind}: {text}\n--- module ---\n{module.text()}")


def load(module: Module, folder: Path, name: str) -> Any:
    """Write the module's text to ``folder/name.py`` and import it."""
    path = folder / f"{name}.py"
    path.write_text(module.text(), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded
    try:
        spec.loader.exec_module(loaded)
    finally:
        del sys.modules[name]
    return loaded


def same(a: Any, b: Any, tolerance: float) -> bool:
    """Equal as the contract says: identical ints, bools, strings and nulls; floats to ``tolerance``."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y, tolerance) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _frames(dag: fdag.Dag, history: History) -> dict[str, pl.DataFrame]:
    return {name: pl.DataFrame(history.frames.get(name, []),
                               schema={c: t.polars for c, t in source.schema.items()}, orient="row")
            for name, source in dag.sources.items()}


def _replay(dag: fdag.Dag, history: History, store: Store) -> tuple[list[Any], Counter[str]]:
    """Each request's FeatureVector from a live RowDriver on ``store``, and the ingest reports' totals."""
    row = fdag.RowDriver(dag, store=store)
    steps: list[tuple[Any, int, Any]] = [(e.replay_at, 0, e) for name, events in history.events.items()
                                         if name in dag.sources for e in events]
    steps += [(request["as_of"], 1, i) for i, request in enumerate(history.requests)]
    steps.sort(key=lambda step: (step[0], step[1]))  # stable: each source's events keep their arrival order
    vectors: list[Any] = [None] * len(history.requests)
    totals: Counter[str] = Counter()
    sizes = cycle(history.batch_sizes)
    batch: list[Any] = []

    def flush() -> None:
        if batch:
            report = row.ingest(batch[0].source.name, [e.row for e in batch])
            for part in ("accepted", "duplicates", "too_late", "future"):
                totals[part] += getattr(report, part)
            batch.clear()

    size = next(sizes)
    for _, is_request, item in steps:
        if is_request:
            flush()
            request = history.requests[item]
            vectors[item] = row.get({k: v for k, v in request.items() if k != "as_of"}, request["as_of"])
            continue
        if batch and (batch[0].source is not item.source or len(batch) >= size):
            flush()
            size = next(sizes)
        batch.append(item)
    flush()
    return vectors, totals


def _expected_reports(dag: fdag.Dag, history: History) -> Counter[str]:
    """What the ingest reports must add up to: copies of an id are duplicates, far-future events future."""
    expected: Counter[str] = Counter()
    for name, events in history.events.items():
        if name not in dag.sources:
            continue
        future = history.future.get(name, 0)
        ident = events[0].source.id if events else None
        distinct = len({e.row[ident] for e in events}) if ident is not None else len(events)
        expected["accepted"] += distinct - future
        expected["duplicates"] += len(events) - distinct
        expected["future"] += future
    return expected


def run_case(module: Module, history: History, folder: Path, name: str, tally: Tally,
             store: Callable[[], Store] = fdag.MemoryStore) -> None:
    """Evaluate one case with the three evaluators (the live RowDriver on a new ``store()``) and record what
    disagrees in ``tally``."""
    tally.cases["modules"] += 1
    try:
        loaded = load(module, folder, name)
        dag = fdag.Dag.from_modules(loaded)
    except fdag.FdagError as error:
        if module.expect_error is not None and isinstance(error, fdag.DagError | fdag.SourceError):
            tally.cases["invalid modules refused"] += 1
            return
        tally.fail("mismatch", f"a valid module was refused: {error}", module)
        return
    except Exception:
        tally.fail("exception", traceback.format_exc(), module)
        return
    if module.expect_error is not None:
        tally.fail("mismatch", f"an invalid module was accepted (expected {module.expect_error})", module)
        return
    tally.cases.update(module.categories | history.categories)
    tally.cases["nodes"] += len(dag.nodes)
    tally.cases["requests"] += len(history.requests)
    tally.cases["events"] += sum(len(events) for events in history.events.values())
    sources = _frames(dag, history)
    rows = history.frames
    try:
        vectors, totals = _replay(dag, history, store())
        schema = {n: t.polars for n, t in dag.inputs.items()} | {"as_of": pl.Datetime("us", "UTC")}
        spine = pl.DataFrame(history.requests, schema=schema, orient="row")
        result = fdag.FrameDriver(dag).evaluate(spine, sources=sources)
    except fdag.FdagError as error:
        tally.fail("mismatch", f"{type(error).__name__}: {error}", module)
        return
    except Exception:
        tally.fail("exception", traceback.format_exc(), module)
        return
    expected = _expected_reports(dag, history)
    lost = max(0, expected["accepted"] - totals["accepted"]) + totals["too_late"]
    tally.events_lost += lost
    if +totals != +expected:
        tally.fail("ingest report", f"reports add up to {dict(totals)}, expected {dict(expected)}", module)
    online_errors: Counter[tuple[str, str, str]] = Counter()  # (node, type, message) -> rows
    table = {node: result.table[node].to_list() for node in dag.nodes}
    for i, request in enumerate(history.requests):
        values, _ = reference.evaluate(dag, request, request["as_of"], rows)
        vector = vectors[i]
        for record in vector.errors:
            online_errors[record.node, record.type, record.message] += record.count
        for node in dag.nodes:
            tolerance = TOLERANCE if dag.nodes[node].kind != "feature" or dag.nodes[node].returns.base is float \
                else 1e-9
            got = {"row": vector[node], "frame": table[node][i], "reference": values[node]}
            if not (same(got["row"], got["reference"], tolerance) and same(got["frame"], got["reference"], tolerance)):
                tally.fail("mismatch", f"{node} for request {request}: {got}", module)
                return
    features = {name for name, node in dag.nodes.items() if node.kind == "feature"}
    records = [((e.node, e.type, e.message), e.count) for e in result.errors if e.node in features]
    offline_errors = Counter(dict(records))
    online_errors = Counter({key: c for key, c in online_errors.items() if key[0] in features})
    if offline_errors != online_errors or len(offline_errors) != len(records):  # (one record per error)
        tally.fail("mismatch", f"errors online {dict(online_errors)} offline {records}", module)

"""``FrameDriver``: the offline engine — a spine of requests in, one fused lazy Polars query, features out."""

from __future__ import annotations

import builtins
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl

from fdag._backfill.job import BackfillReport
from fdag._backfill.run import backfill
from fdag._dag.checks import recording_checks
from fdag._dag.dag import Dag
from fdag._dag.node import AS_OF, Node
from fdag._dag.plan import Plan
from fdag._dag.provenance import Provenance
from fdag._frame.as_of import as_of_columns, guard
from fdag._frame.checks import FrameChecks
from fdag._frame.compile import (
    Compiled,
    assumption_column,
    compile_feature,
    error_column,
    error_counts,
    error_text,
)
from fdag._frame.fields import compile_fields
from fdag._frame.provenance import FrameProvenance
from fdag._frame.windows import WindowStage
from fdag._values.calls import ErrorRecord
from fdag._values.frames import ROW, column_expr, refuse_int64_overflow, to_polars
from fdag._values.results import FrameResult
from fdag._values.types import FType
from fdag.errors import DeclarationError, DeclarationTypeError, FeatureError, InputError, StaleDriverError


@dataclass(frozen=True)
class Explanation:
    """How one node is computed: ``input``, ``window``, ``lookup``, ``translated`` or ``fallback`` (with the reason).

    ``translated``: the function became a Polars expression with Python's exact semantics; ``fallback``: it runs
    row by row under the same null and error rules, and ``reason`` says which construct stopped the translation.
    ``FrameDriver.explanations()`` lists one per node; ``str()`` is the line ``explain()`` prints.

    Parameters
    ----------
    node
        The node's name.
    how
        ``"input"``, ``"window"``, ``"lookup"``, ``"translated"`` or ``"fallback"``.
    reason
        What the window or lookup reads, or why a fallback could not be translated; empty otherwise.
    """

    node: str
    how: str
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.node}: {self.how}" + (f" ({self.reason})" if self.reason else "")


class FrameDriver:
    """Compute features for a whole spine of requests at once, point-in-time correct, over Polars.

    The driver holds only the compiled plan: each ``evaluate`` returns everything its run observed (errors,
    checks, watermarks) in a ``FrameResult``, so one driver can serve concurrent runs from several threads.

    Parameters
    ----------
    dag
        The validated DAG (``Dag.from_modules``).
    outputs
        The features each run adds to the spine; ``None`` means every node of the DAG.
    errors
        ``"null"``: an exception inside a feature makes that row's value null and is counted in the result's
        ``errors``; ``"raise"``: the first such exception (in spine order) raises ``FeatureError`` instead. An
        exception in a window's or lookup's function nulls that event's value and is counted in ``errors`` in
        both modes (online, it is reported by the ``ingest`` that received the event).

    Example::

        from datetime import UTC, datetime

        import polars as pl

        import fdag
        from fdag.demo import fraud
        from fdag.demo.samples import transactions

        events = transactions(users=20, count=500, days=3)
        spine = pl.DataFrame({"user_id": ["u1", "u2"], "amount": [120.0, 8.0],   # request inputs + "as_of"
                              "as_of": [datetime(2024, 3, 4, tzinfo=UTC)] * 2})
        frame = fdag.FrameDriver(fdag.Dag.from_modules(fraud), outputs=["spend_count_10d", "amount_vs_mean_10d"])
        result = frame.evaluate(spine, sources={"transactions": events})
        print(result.table["spend_count_10d"].to_list(), result.errors)   # [60, 46] ()
        print(result.watermarks)   # {'transactions': datetime.datetime(2024, 3, 3, 23, 51, 38, tzinfo=...)}
        print(frame.explain())     # one line per node, e.g. "spend_count_10d: window (count over 10d of transactions)"
    """

    def __init__(
        self, dag: Dag, outputs: Sequence[str] | None = None, errors: Literal["null", "raise"] = "null"
    ) -> None:
        if errors not in ("null", "raise"):
            raise DeclarationError("errors", errors, "is not 'null' or 'raise'", "'null' records errors per row")
        if not isinstance(dag, Dag):
            raise DeclarationTypeError("dag", dag, "is not an fdag.Dag", "build one with fdag.Dag.from_modules(module)")
        self.dag = dag
        self.errors_mode = errors
        self._setup(dag.plan(outputs))
        self._token = uuid.uuid4().hex
        self._provenance = FrameProvenance(dag, self.plan, lambda upstream: FrameDriver(dag, upstream, errors))
        self._overridden: dict[frozenset[str], FrameDriver] = {}
        self._lock = threading.Lock()

    def _setup(self, plan: Plan) -> None:
        self.plan: Plan = plan
        self._windows = WindowStage(self.plan)
        schema: dict[str, pl.DataType] = {name: ftype.polars for name, ftype in self.plan.inputs.items()}
        schema[AS_OF] = FType(datetime).polars
        self._compiled: list[Compiled] = []  # optimistic translations (see ``_computed``)
        self._patched: dict[str, Compiled] = {}  # the exact form of each one that made assumptions
        self._exact: frozenset[str] = frozenset()  # features whose assumptions failed on a run: patched from then on
        self._plans: dict[frozenset[str], list[list[pl.Expr]]] = {}
        self._depends: dict[str, tuple[str, ...]] = {}
        self._locations: dict[str, str] = {}
        groups: dict[str, list[Node]] = {}
        for node in self.plan.nodes:
            if node.extracted is not None:
                groups.setdefault(node.extracted.group, []).append(node)
        for node in self.plan.nodes:
            self._locations[node.name] = node.location
            if node.kind == "feature":
                compiled = compile_feature(node.name, node.function, node.params, node.returns, schema,
                                           node.arguments, optimistic=True)
                self._compiled.append(compiled)
                if compiled.assumes:
                    self._patched[node.name] = compile_feature(node.name, node.function, node.params, node.returns,
                                                               schema, node.arguments)
                self._depends[node.name] = tuple(node.params)
            elif node.extracted is not None and node.extracted.group in groups:
                group = node.extracted.group
                fields = groups.pop(group)
                self._compiled += compile_fields(fields, schema)
                # the fields at the depth of their function: their values share its error conditions' terms
                self._depends.update((name, tuple(node.params)) for name in (group, *(f.name for f in fields)))
                self._locations[group] = node.extracted.location
            schema[node.name] = node.returns.polars
        self._checks = FrameChecks.of(self.plan)

    def __reduce__(self) -> tuple[Any, ...]:
        # A pickled driver (e.g. shipped to Ray tasks) is what builds it, rebuilt once per process: the compiled
        # expressions hold Python functions (per-row fallbacks) that Polars serializes only with the optional
        # cloudpickle package (Ray vendors its own), and only for the same Polars version.
        return _rebuilt, (self._token, self.dag, self.plan.outputs, self.errors_mode)

    @property
    def outputs(self) -> tuple[str, ...]:
        """The features each run adds to the spine."""
        return self.plan.outputs

    def explain(self) -> str:
        """One line per node: how it is computed and, for fallbacks, why it could not be translated.

        Example::

            import fdag
            from fdag.demo import payment

            print(fdag.FrameDriver(fdag.Dag.from_modules(payment), outputs=["is_night"]).explain())
            # hour_of_day: translated
            # is_night: translated
        """
        return "\n".join(str(e) for e in self.explanations())

    def explanations(self) -> list[Explanation]:
        """``explain()`` as data."""
        rows = [Explanation(name, "input") for name in self.plan.inputs]
        rows += [Explanation(spec.node, "window", f"{spec.agg.label} over {spec.over_label} of {source}")
                 for source, specs in self.plan.windows.items() for spec in specs]
        rows += [Explanation(spec.node, "lookup", f"latest row of {source}, {spec.label}")
                 for source, specs in self.plan.lookups.items() for spec in specs]
        rows += [Explanation(c.name, c.how, c.reason) for c in self._compiled if c.shown]
        return rows

    def run(
        self,
        spine: Any,
        sources: Mapping[str, Any] | None = None,
        as_of: str = AS_OF,
        check_as_of: bool = True,
        with_as_of: bool = False,
        with_errors: bool = False,
        overrides: Sequence[str] = (),
    ) -> pl.DataFrame:
        """Features for every spine row: ``evaluate(...).table``, with the same arguments.

        Parameters
        ----------
        spine, sources, as_of, check_as_of, with_as_of, with_errors, overrides
            As for ``evaluate``.
        """
        return self.evaluate(spine, sources, as_of, check_as_of, with_as_of, with_errors, overrides).table

    def evaluate(
        self,
        spine: Any,
        sources: Mapping[str, Any] | None = None,
        as_of: str = AS_OF,
        check_as_of: bool = True,
        with_as_of: bool = False,
        with_errors: bool = False,
        overrides: Sequence[str] = (),
    ) -> FrameResult:
        """Features for every spine row, with the errors and source watermarks of this run.

        The result's ``table`` keeps the spine's columns and row order and adds one column per output; errors
        inside features give null and are counted in its ``errors`` (or raise with ``errors="raise"``);
        ``checks`` holds one ``CheckResult`` per ``@fdag.check_output`` check of a computed node (a failed
        ``importance="warn"`` check warns, a failed ``"fail"`` one raises ``CheckError``); ``watermarks`` holds
        each source's largest event timestamp. A window value for a row at ``t`` reads only
        events in ``[t - w, t)``, a lookup only rows with ``ts + lag <= t``: no future leaks into a training row.
        Safe to call from several threads at once on one driver.

        Parameters
        ----------
        spine
            One row per request (Polars, pandas or Arrow): the request inputs and the ``as_of`` column (naive
            instants are read as UTC). A column named like a node this run computes is an ``InputError``
            unless ``overrides`` names it; an optional input (a parameter with a default) may be left out.
        sources
            Source name → its events (a frame, a LazyFrame or a Parquet path), for every window and lookup source.
        as_of
            The spine column holding each request's instant.
        check_as_of
            Raise ``PointInTimeError`` if any value's as-of is after its row's ``as_of`` (the leakage guard).
        with_as_of
            Add a ``<feature>__as_of`` column per output: the instant up to which its data is complete.
        with_errors
            Add a ``<feature>__error`` column per output: ``"Type: message"`` on the rows where the output's own
            function raised (its value is null there), null elsewhere. A backfill counts them per partition.
        overrides
            Nodes whose values the spine's columns of the same name give, instead of computing them (and what
            only they need); Hamilton's overrides.
        """
        frame = to_polars(spine, "spine")
        if overrides:
            return self._with_overrides(overrides)._evaluate(frame, sources, as_of, check_as_of, with_as_of,
                                                             with_errors)
        return self._evaluate(frame, sources, as_of, check_as_of, with_as_of, with_errors)

    def _with_overrides(self, overrides: Sequence[str]) -> FrameDriver:
        """A driver of the same outputs computing the plan with ``overrides`` (built once per set of names)."""
        plan = self.dag.plan(self.plan.outputs, overrides)
        with self._lock:
            driver = self._overridden.get(plan.overrides)
            if driver is None:
                driver = object.__new__(FrameDriver)
                driver.dag, driver.errors_mode, driver._token = self.dag, self.errors_mode, self._token
                driver._setup(plan)
                self._overridden[plan.overrides] = driver
        return driver

    def _evaluate(self, frame: pl.DataFrame, sources: Mapping[str, Any] | None, as_of: str, check_as_of: bool,
                  with_as_of: bool, with_errors: bool) -> FrameResult:
        self._check_reads()
        clashes = [node.name for node in self.plan.nodes if node.name in frame.columns]
        if clashes:
            raise InputError(clashes[0], "is both a spine column and a node this run computes",
                             f"rename or drop that spine column, or pass overrides=[{clashes[0]!r}] to use its "
                             "values instead of computing them")
        work = self._inputs(frame, as_of).lazy()
        work, watermarks, event_errors = self._windows.attach(work, {} if sources is None else sources)
        failing = [*(c for c in self._compiled if c.can_fail), *self._windows.failing]
        error_columns = [error_column(c.name) for c in failing]
        has_as_of = AS_OF in work.collect_schema()  # the contexts add no as_of
        clocks = self._windows.as_of_columns
        checked = [name for name in self._checks.columns if name not in self.plan.outputs]
        kept = [ROW, *([AS_OF] if has_as_of else []), *self.plan.outputs, *checked, *error_columns, *clocks]
        result = self._computed(work, kept)
        if self.plan.sources:
            result = result.sort(ROW)
        errors = self._collect_errors(result, failing, frame)
        instants = as_of_columns(self.plan, watermarks) if has_as_of else {}
        if check_as_of:
            guard(result, instants, frame)
        # by name: an eager select() costs a pass over the rows
        added = result[[name for name in self.plan.outputs if name not in self.plan.overrides]]
        if with_as_of:
            added = added.hstack(result.select(**{f"{name}__as_of": expr for name, expr in instants.items()}))
        if with_errors:
            texts = {c.name: error_text(c) for c in failing}
            columns = {f"{name}__error": texts.get(name, pl.lit(None, pl.String)) for name in self.plan.outputs}
            added = added.hstack(result.with_columns(**columns).select(list(columns)))
        checks = self._checks.run(result)
        return FrameResult(frame.hstack(added), (*event_errors, *errors), checks, watermarks)

    def _computed(self, work: pl.LazyFrame, kept: list[str]) -> pl.DataFrame:
        """The ``kept`` columns of ``work`` with every feature computed, exactly.

        Features are translated optimistically: a fast expression that may differ from Python on a few rows
        (non-ASCII text case-mapped, a float remainder beyond 2**51) is computed without its Python patch, beside
        a column marking those rows. When a run marks none, which is the usual case, its values are exact and
        no Python ran; otherwise it runs again with the marked features patched, and they stay patched for this
        driver's later runs (their data needs it). The rerun checks the features still unpatched again, since
        their inputs may have changed.
        """
        while True:
            exact = self._exact
            assumed = [c.name for c in self._compiled if c.assumes and c.name not in exact]
            marks = [assumption_column(name) for name in assumed]
            lazy = work
            for context in self._contexts_for(exact):
                lazy = lazy.with_columns(context)
            result = lazy.select(*kept, *marks).collect()
            if not marks:
                return result
            failed = {name for name, marked in zip(assumed, result.select(pl.col(marks).any()).row(0), strict=True)
                      if marked}
            if not failed:
                return result[kept]  # by name: drop() and select() cost a pass over the rows
            self._exact = exact | failed

    def _contexts_for(self, exact: frozenset[str]) -> list[list[pl.Expr]]:
        """The ``with_columns`` of a run in which the features ``exact`` are patched and the others optimistic."""
        contexts = self._plans.get(exact)
        if contexts is None:
            compiled = [self._patched[c.name] if c.name in exact else c for c in self._compiled]
            contexts = self._plans[exact] = _contexts(compiled, self._depends)
        return contexts

    def provenance(
        self, spine_row: Any, name: str, sources: Mapping[str, Any] | None = None, as_of: str = AS_OF
    ) -> Provenance:
        """The value of ``name`` for one spine row and what made it, from ``sources``.

        The same value ``run`` gives for that row, its as-of, and below it: for a window, the events of its
        window (id, timestamp, per-event value; the earliest copy of each id, in (timestamp, id) order); for a
        lookup, the newest row at ``as_of - lag`` (and whether it was fresh enough); for a derived feature, the
        provenance of each parameter, recursively; request inputs as leaves. ``RowDriver.provenance`` gives the
        same tree for the same events. ``str()`` is a text tree, a notebook shows it as HTML, ``to_dict()`` is
        JSON-ready.

        Parameters
        ----------
        spine_row
            The row: a dict of request inputs and its ``as_of``, or a one-row frame (e.g. ``spine[3]``).
        name
            A node this driver computes (an output or anything upstream of one).
        sources
            Source name → its events, as for ``evaluate``.
        as_of
            The row's key holding its instant.

        Example::

            from datetime import UTC, datetime

            import fdag
            from fdag.demo import fraud
            from fdag.demo.samples import transactions

            frame = fdag.FrameDriver(fdag.Dag.from_modules(fraud), outputs=["burst_ratio"])
            prov = frame.provenance({"user_id": "u1", "as_of": datetime(2024, 3, 3, 12, tzinfo=UTC)}, "burst_ratio",
                                    sources={"transactions": transactions(users=20, count=500, days=3)})
            print(prov.value, [e.id for e in prov.find("spend_count_1h").events])   # 0.0 ['t273', 't96']
        """
        with recording_checks():  # an explanation shows a value, whatever its checks say of it
            return self._provenance.explain(spine_row, name, sources, as_of)

    def backfill(
        self,
        spine: Any,
        sources: Mapping[str, Any] | None,
        path: str | Path,
        partition_by: str = "day",
        as_of: str = AS_OF,
        engine: Literal["local", "ray"] = "local",
        progress: bool = True,
        workers: int | None = None,
        overwrite: bool = False,
        batch_rows: int = 1_000_000,
    ) -> BackfillReport:
        """Write features for the spine to a hive-partitioned Parquet dataset at ``path``; resumable.

        One file per partition, ``path/<as_of>_date=<day>/part-0.parquet``, holding exactly what ``run`` returns for
        those rows, with fdag metadata (node versions, lineage, as-of range). Each file is written atomically; a
        partition whose file was written by the same code for the same rows is skipped, so a crashed backfill is
        resumed by running it again. Returns a ``BackfillReport``. See ``docs/pipelines.md``.

        Parameters
        ----------
        spine
            The requests: a frame, a LazyFrame, or a Parquet file, directory or glob (scanned lazily).
        sources
            Source name → events, in the same forms (``None`` when the outputs read no source).
        path
            The dataset's root directory (created if needed).
        partition_by
            ``"day"``: the UTC day of ``as_of``; or the name of a spine column.
        as_of
            The spine column holding each request's instant.
        engine
            ``"local"`` (this process, Polars on every core) or ``"ray"`` (each batch split by entity key over Ray
            tasks; needs ``fdag[ray]``).
        progress
            Show a ``tqdm`` progress bar.
        workers
            Ray only: the CPUs of the local Ray it starts, and key buckets per batch.
        overwrite
            Recompute every partition even if up to date (e.g. after the events changed, which versions miss).
        batch_rows
            Consecutive partitions are computed by one run while their spine rows add up to at most this: larger
            batches amortise window overlap, smaller ones bound memory.

        Example::

            import polars as pl

            import fdag
            from fdag.demo import fraud
            from fdag.demo.samples import transactions

            events = transactions(users=20, count=500, days=3)
            spine = events.unique("txn_id").select("user_id", "amount", "merchant", pl.col("ts").alias("as_of"))
            frame = fdag.FrameDriver(fdag.Dag.from_modules(fraud), outputs=["spend_sum_1h", "burst_ratio"])
            report = frame.backfill(spine, {"transactions": events}, "features", progress=False)
            print(report.partitions_written, report.rows)   # 3 595
            assert frame.backfill(spine, {"transactions": events}, "features", progress=False).partitions_written == 0
        """
        return backfill(self, spine, sources, path, partition_by, as_of, engine, progress, workers, overwrite,
                        batch_rows)

    def _check_reads(self) -> None:
        """Raise if a constant a translation built in has been rebound: the row engine would read the new value."""
        for compiled in self._compiled:
            for read in compiled.reads:
                now = read.changed()
                if now is not None:
                    raise StaleDriverError(compiled.name, self._locations[compiled.name], read.name, read.value, now)

    def _inputs(self, frame: pl.DataFrame, as_of: str) -> pl.DataFrame:
        schema = frame.schema
        refuse_int64_overflow(frame, self.plan.inputs, "spine")
        columns = [(pl.lit(self.plan.defaults[name], ftype.polars) if name not in schema and name in self.plan.defaults
                    else column_expr(schema, name, ftype, "spine")).alias(name)
                   for name, ftype in self.plan.inputs.items()]
        if self.plan.uses_as_of or self.plan.sources or as_of in schema:
            columns.append(column_expr(schema, as_of, FType(datetime), "spine").alias(AS_OF))
        return frame.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias(ROW), *columns)

    def _collect_errors(self, result: pl.DataFrame, failing: list[Compiled], spine: pl.DataFrame) -> list[ErrorRecord]:
        records: list[ErrorRecord] = []
        first: tuple[int, int, str, str] | None = None
        if not failing:
            return records
        any_failed = result.select(pl.col(error_column(c.name)).is_not_null().any() for c in failing).row(0)
        for position, compiled in enumerate(failing):
            if not any_failed[position]:
                continue
            for kind, message, count, row in error_counts(result, compiled, ROW):
                records.append(ErrorRecord(compiled.name, kind, message, count))
                if first is None or (row, position) < first[:2]:
                    first = (row, position, kind, message)
        if first is not None and self.errors_mode == "raise":
            row, position, kind, message = first
            node = failing[position].name
            error_class = getattr(builtins, kind, None)
            if not (isinstance(error_class, type) and issubclass(error_class, Exception)):
                error_class = RuntimeError
            raise FeatureError(node, self._locations[node], error_class(message), spine.row(row, named=True))
        return records

    def __repr__(self) -> str:
        return f"FrameDriver(outputs={list(self.outputs)})"


_REBUILT: dict[str, FrameDriver] = {}  # token -> driver, the drivers unpickled in this process
_REBUILT_KEPT = 8


def _rebuilt(token: str, dag: Dag, outputs: Sequence[str], errors: Literal["null", "raise"]) -> FrameDriver:
    """The driver a pickle describes, built on its first unpickling in this process and reused after."""
    driver = _REBUILT.get(token)
    if driver is None:
        driver = FrameDriver(dag, outputs, errors)
        driver._token = token
        while len(_REBUILT) >= _REBUILT_KEPT:
            _REBUILT.pop(next(iter(_REBUILT)), None)
        _REBUILT[token] = driver
    return driver


def _contexts(compiled: list[Compiled], depends: Mapping[str, Sequence[str]]) -> list[list[pl.Expr]]:
    """The ``with_columns`` of a run: the features grouped by depth, so that one context computes all that is
    independent at once; per depth, the shared sub-expressions level by level, the values and error columns,
    then the values nulled where they failed."""
    depth: dict[str, int] = {}
    stages: list[list[Compiled]] = []
    for feature in compiled:
        level = 1 + max((depth.get(p, -1) for p in depends[feature.name]), default=-1)
        depth[feature.name] = level
        while len(stages) <= level:
            stages.append([])
        stages[level].append(feature)
    contexts: list[list[pl.Expr]] = []
    for stage in stages:
        lets = max((len(feature.lets) for feature in stage), default=0)
        contexts += [[e for feature in stage if i < len(feature.lets) for e in feature.lets[i]] for i in range(lets)]
        contexts.append([e for feature in stage for e in feature.compute])
        contexts.append([e for feature in stage for e in feature.finish])
    return [context for context in contexts if context]

"""``fdag.skew``: recompute logged requests offline and report where serving disagreed with training.

Every row a ``FeatureLog`` recorded is recomputed by ``FrameDriver`` at its logged ``as_of`` from the events
given, and each feature's served value is compared with the recomputed one. Only rows served by the code that
exists now are compared: a feature whose version changed since it was logged is listed in
``changed_versions`` instead (an old value compared with new code would be a false alarm, or hide a real one).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

import polars as pl

from fdag._dag.checks import recording_checks
from fdag._dag.dag import Dag
from fdag._dag.node import AS_OF
from fdag._frame.driver import FrameDriver
from fdag._logs.feature_log import FeatureLog
from fdag._logs.read import ServedLog, read_log
from fdag._logs.schema import SERVED_AT, VERSIONS
from fdag._observe.html import page, table
from fdag._values.frames import to_polars
from fdag._values.types import FType, json_value
from fdag.errors import InputError

# How close a served float must be to the recomputed one (the engines' agreement): scalar features to 1e-9
# relative; anything computed from a window or lookup to 1e-6 relative, or 1e-6 absolute near zero.
SCALAR_TOLERANCE = (1e-9, 0.0)
WINDOW_TOLERANCE = (1e-6, 1e-6)
TABLE_SCHEMA = {"feature": pl.String(), "rows": pl.Int64(), "mismatches": pl.Int64(), "mismatch_rate": pl.Float64(),
                "max_abs_diff": pl.Float64(), "max_rel_diff": pl.Float64()}
_RECOMPUTED = "__fdag_recomputed_"


@dataclass(frozen=True)
class VersionChange:
    """A logged feature whose code changed since: the versions it was served with, and the current one."""

    feature: str
    logged: tuple[str, ...]
    current: str | None  # None: the feature is no longer in the DAG
    rows: int  # logged rows not compared because of the change

    def __str__(self) -> str:
        now = "removed" if self.current is None else f"now {self.current}"
        return f"{self.feature}: logged as {', '.join(self.logged)}, {now} ({self.rows} rows not compared)"


@dataclass(frozen=True)
class SkewReport:
    """What ``fdag.skew`` found: made by ``fdag.skew``, read by you or a CI check.

    ``ok`` is true when every compared value matched; ``str()`` is the table and the examples; ``to_html()`` one
    self-contained page.

    Parameters
    ----------
    table
        One row per compared feature: ``feature``, ``rows``, ``mismatches``, ``mismatch_rate``, ``max_abs_diff``,
        ``max_rel_diff``.
    examples
        A few mismatching rows per feature, with the request, its ``as_of`` and the logged and recomputed values.
    changed_versions
        Feature → its version change: features not compared because their code changed since they were logged.
    rows
        How many logged rows were read from ``log``.
    log
        The log's directory.

    Example::

        from datetime import UTC, datetime

        import fdag
        from fdag.demo import fraud
        from fdag.demo.samples import transactions

        events, dag = transactions(users=5, count=100, days=2), fdag.Dag.from_modules(fraud)
        with fdag.FeatureLog("served") as log:
            row = fdag.RowDriver(dag, outputs=["spend_count_1h"], log=log)
            row.ingest("transactions", events)
            row.get({"user_id": "u1"}, as_of=datetime(2024, 3, 3, tzinfo=UTC))
        report = fdag.skew(dag, "served", sources={"transactions": events})
        print(report.rows, report.mismatches, report.ok)   # 1 0 True
        print(report.table["feature"].to_list())           # ['spend_count_1h']
    """

    table: pl.DataFrame
    examples: pl.DataFrame
    changed_versions: dict[str, VersionChange] = field(default_factory=dict)
    rows: int = 0  # logged rows read
    log: str = ""

    @property
    def mismatches(self) -> int:
        """Mismatching values over all compared features."""
        return int(self.table["mismatches"].sum())

    @property
    def ok(self) -> bool:
        """Every compared value matches (the serve had no skew)."""
        return self.mismatches == 0

    def __str__(self) -> str:
        with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
            lines = [f"skew of {self.rows} logged rows in {self.log}: {self.mismatches} mismatching values over "
                     f"{self.table.height} features", str(self.table)]
        if self.changed_versions:
            lines += ["not compared (code changed since logged):",
                      *(f"  {change}" for change in self.changed_versions.values())]
        if self.examples.height:
            lines.append("examples:")
            lines += [f"  {row['feature']} at {row[AS_OF]} for {row['request']}: served {row['logged']}, "
                      f"recomputed {row['recomputed']}" for row in self.examples.head(10).iter_rows(named=True)]
            if self.examples.height > 10:
                lines.append(f"  ... {self.examples.height - 10} more in report.examples")
        return "\n".join(lines)

    def to_html(self) -> str:
        """The report as one self-contained HTML page: the verdict, the table, version changes, examples."""
        header = f'<p class="muted">{self.rows} logged rows from <code>{escape(self.log)}</code></p>'
        return page("fdag skew report", header, self._body())

    def _repr_html_(self) -> str:
        """The report in a notebook: the verdict, the table, version changes and examples."""
        return self._body()

    def _body(self) -> str:
        verdict = ('<p class="good">No skew: every served value matches its offline recomputation.</p>' if self.ok
                   else f'<p class="bad">{self.mismatches} served values differ from their offline recomputation.</p>')
        body = [verdict, "<h2>Features</h2>", table(self.table, highlight="mismatches")]
        if self.changed_versions:
            items = "".join(f"<li>{escape(str(change))}</li>" for change in self.changed_versions.values())
            body += ["<h2>Not compared: code changed since logged</h2>", f"<ul>{items}</ul>"]
        if self.examples.height:
            body += ["<h2>Examples of mismatches</h2>", table(self.examples)]
        return "\n".join(body)


def skew(dag: Dag, log: str | os.PathLike[str] | FeatureLog, sources: Mapping[str, Any] | None = None,
         outputs: Sequence[str] | None = None, examples: int = 5) -> SkewReport:
    """Recompute every logged request with ``FrameDriver`` at its logged ``as_of`` and compare it with what was served.

    Floats match within the engines' tolerance (1e-9 relative for scalar features, 1e-6 relative or absolute for
    anything computed from a window or lookup); nulls match nulls; everything else must be equal. A feature whose
    logged version differs from the DAG's is not compared but listed in ``changed_versions``.

    Parameters
    ----------
    dag
        Today's DAG, the code the logged vectors are recomputed with.
    log
        A ``FeatureLog`` (flushed first) or its directory.
    sources
        Source name → its events (a frame or a Parquet path), covering what the service saw.
    outputs
        The features to compare; ``None``: every logged feature the DAG still has.
    examples
        How many mismatching rows per feature the report keeps.

    Example::

        from datetime import UTC, datetime

        import fdag
        from fdag.demo import fraud
        from fdag.demo.samples import transactions

        events, dag = transactions(users=20, count=500, days=3), fdag.Dag.from_modules(fraud)
        with fdag.FeatureLog("logs/served") as log:
            row = fdag.RowDriver(dag, outputs=["spend_count_1h", "burst_ratio"], log=log)
            row.ingest("transactions", events)
            row.get({"user_id": "u1"}, as_of=datetime(2024, 3, 4, tzinfo=UTC))
        report = fdag.skew(dag, "logs/served", sources={"transactions": events})
        assert report.ok, report   # served values equal the offline recomputation
    """
    if isinstance(log, FeatureLog):
        log.flush()
        log = log.path
    served = read_log(log)
    versions = {text: json.loads(text) for text in served.rows[VERSIONS].unique().drop_nulls().to_list()}
    names = _outputs(served, outputs)
    changed, comparable = _version_changes(dag, served.rows, names, versions)
    compared = [name for name in names if comparable[name]]
    table, shown = _compare(dag, served, compared, comparable, sources or {}, examples)
    return SkewReport(table, shown, changed, served.rows.height, os.fspath(log))


def _outputs(served: ServedLog, outputs: Sequence[str] | None) -> list[str]:
    """The features to compare: those asked for, which must have been logged, or every logged one."""
    if outputs is None:
        return list(served.outputs)
    unknown = [name for name in outputs if name not in served.outputs]
    if unknown:
        raise InputError(unknown[0], "was not logged, so there is nothing to compare it with",
                         f"ask for logged features: {', '.join(served.outputs)}")
    return list(outputs)


def _version_changes(dag: Dag, rows: pl.DataFrame, names: list[str], versions: Mapping[str, Mapping[str, str]],
                     ) -> tuple[dict[str, VersionChange], dict[str, list[str]]]:
    """Per feature: the ``versions`` texts of rows logged by its current code, and how the others differ."""
    counts = dict(rows.group_by(VERSIONS).len().iter_rows())
    changed: dict[str, VersionChange] = {}
    comparable: dict[str, list[str]] = {}
    for name in names:
        current = dag.version(name) if name in dag.nodes else None
        comparable[name] = [text for text, known in versions.items()
                            if current is not None and known.get(name) == current]
        stale = {text: known[name] for text, known in versions.items()
                 if name in known and text not in comparable[name]}
        if stale:
            changed[name] = VersionChange(name, tuple(sorted(set(stale.values()))), current,
                                          sum(counts[text] for text in stale))
    return changed, comparable


def _compare(dag: Dag, served: ServedLog, names: list[str], comparable: Mapping[str, list[str]],
             sources: Mapping[str, Any], examples: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The per-feature table and the example rows, from one offline run over the comparable logged rows."""
    if not names:
        return pl.DataFrame(schema=TABLE_SCHEMA), _examples_frame([], served)
    frame = FrameDriver(dag, names)
    missing = [name for name in frame.plan.inputs if name not in served.rows.columns]
    if missing:
        raise InputError(missing[0], "is a request input of the features compared but is not in the log",
                         "compare only features whose inputs were logged (outputs=[...])")
    wanted = pl.col(VERSIONS).is_in(sorted({text for texts in comparable.values() for text in texts}))
    rows = served.rows.filter(wanted)
    spine = rows.select(*frame.plan.inputs, AS_OF)
    events = {name: to_polars(value, f"events of source '{name}'") if isinstance(value, str | os.PathLike) else value
              for name, value in sources.items()}
    with recording_checks():  # the served vectors met their checks when served: recomputing them only compares
        recomputed = frame.run(spine, sources=events)
    recomputed = recomputed.select(pl.col(name).alias(_RECOMPUTED + name) for name in names)
    work = rows.hstack(recomputed)
    returns = {node.name: node.returns for node in frame.plan.nodes}
    checks = {name: _Check(name, returns[name], bool(frame.plan.clocks.get(name)), comparable[name])
              for name in names}
    stats = work.select(expr for check in checks.values() for expr in check.stats()).row(0, named=True)
    table = pl.DataFrame([checks[name].summary(stats) for name in names], schema=TABLE_SCHEMA, orient="row")
    shown = [row for check in checks.values() if stats[f"{check.name}:mismatches"]
             for row in check.examples(work, frame.plan.inputs, examples)]
    return table, _examples_frame(shown, served)


@dataclass(frozen=True)
class _Check:
    """The comparison of one feature: logged column vs recomputed column, on rows of its current version."""

    name: str
    ftype: FType
    windowed: bool
    versions: list[str]

    @property
    def mask(self) -> pl.Expr:
        return pl.col(VERSIONS).is_in(self.versions)

    def mismatch(self) -> pl.Expr:
        logged, recomputed = pl.col(self.name), pl.col(_RECOMPUTED + self.name)
        if self.ftype.base is not float:
            return ~logged.eq_missing(recomputed)
        rel, absolute = WINDOW_TOLERANCE if self.windowed else SCALAR_TOLERANCE
        scale = pl.max_horizontal(logged.abs(), recomputed.abs())
        close = (logged == recomputed) | ((logged - recomputed).abs() <= pl.max_horizontal(scale * rel, absolute))
        return pl.when(logged.is_null() | recomputed.is_null()).then(logged.is_null() != recomputed.is_null()) \
            .otherwise(~close)

    def diffs(self) -> tuple[pl.Expr, pl.Expr]:
        """Absolute and relative differences (numbers only; null where either side is null)."""
        if self.ftype.base not in (int, float):
            return pl.lit(None, pl.Float64()), pl.lit(None, pl.Float64())
        logged, recomputed = pl.col(self.name).cast(pl.Float64), pl.col(_RECOMPUTED + self.name).cast(pl.Float64)
        absolute = (logged - recomputed).abs()
        scale = pl.max_horizontal(logged.abs(), recomputed.abs())
        return absolute, pl.when(scale > 0).then(absolute / scale).otherwise(absolute)

    def stats(self) -> list[pl.Expr]:
        absolute, relative = self.diffs()
        return [self.mask.sum().alias(f"{self.name}:rows"),
                (self.mask & self.mismatch()).sum().alias(f"{self.name}:mismatches"),
                absolute.filter(self.mask).max().alias(f"{self.name}:abs"),
                relative.filter(self.mask).max().alias(f"{self.name}:rel")]

    def summary(self, stats: Mapping[str, Any]) -> tuple[Any, ...]:
        rows, mismatches = stats[f"{self.name}:rows"], stats[f"{self.name}:mismatches"]
        return (self.name, rows, mismatches, mismatches / rows if rows else None,
                stats[f"{self.name}:abs"], stats[f"{self.name}:rel"])

    def examples(self, work: pl.DataFrame, inputs: Mapping[str, FType], limit: int) -> list[dict[str, Any]]:
        found = work.filter(self.mask & self.mismatch()).head(limit)
        return [{"feature": self.name, SERVED_AT: row[SERVED_AT], AS_OF: row[AS_OF],
                 "request": json.dumps({name: json_value(row[name]) for name in inputs}),
                 "logged": json.dumps(json_value(row[self.name])),
                 "recomputed": json.dumps(json_value(row[_RECOMPUTED + self.name]))}
                for row in found.iter_rows(named=True)]


def _examples_frame(rows: list[dict[str, Any]], served: ServedLog) -> pl.DataFrame:
    instant = served.rows.schema.get(AS_OF, pl.Datetime("us", "UTC"))
    schema = {"feature": pl.String(), SERVED_AT: instant, AS_OF: instant, "request": pl.String(),
              "logged": pl.String(), "recomputed": pl.String()}
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)

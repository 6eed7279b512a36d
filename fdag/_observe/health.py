"""Data health of a backfilled dataset, per feature: rows, null rate, the versions that wrote it, and a
distribution plot (matplotlib, rendered to inline SVG: a histogram for numbers and instants, the top values for
strings and booleans, list lengths for lists).

The null rate counts every null value, errors included (an error makes the value null); the error rate counts
the rows where the feature's own function raised, from the per-output error counts each backfill file records in
its metadata (``errors``). A dataset with files written before fdag recorded them has no error rate.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from fdag._backfill.job import METADATA_KEY
from fdag._dag.dag import Dag
from fdag._observe.html import inline_svg
from fdag._values.frames import parquet_metadata
from fdag._values.types import FType
from fdag.errors import InputError, MissingDependencyError

_TOP_VALUES = 10
_BINS = 30


@dataclass(frozen=True)
class FeatureHealth:
    """One feature in a dataset: rows, nulls, errors (None when a file did not record them), the versions of the
    code that wrote it, its distribution (SVG)."""

    rows: int
    nulls: int
    errors: int | None
    versions: tuple[str, ...]
    plot: str | None

    @property
    def null_rate(self) -> float | None:
        """Share of null values, errors included (None for an empty dataset)."""
        return self.nulls / self.rows if self.rows else None

    @property
    def error_rate(self) -> float | None:
        """Share of rows where the feature's function raised (None for an empty dataset or unrecorded errors)."""
        return self.errors / self.rows if self.rows and self.errors is not None else None

    def facts(self, current: str) -> list[tuple[str, str]]:
        """(label, HTML) lines for the catalog card; a dataset written by other code is flagged."""
        facts = [("rows in data", f"{self.rows:,}"), ("null rate", _rate(self.null_rate, self.nulls, self.rows))]
        if self.errors is None:
            facts.append(("error rate", '<span class="muted">not recorded (written by an older fdag)</span>'))
        else:
            errors = _rate(self.error_rate, self.errors, self.rows)
            facts.append(("error rate", f'<span class="bad">{errors}</span>' if self.errors else errors))
        if self.versions and set(self.versions) != {current}:
            written = ", ".join(self.versions)
            facts.append(("data version", f'<span class="bad">written by {written}, not the current {current}: '
                                          "backfill again</span>"))
        return facts


def _rate(rate: float | None, count: int, rows: int) -> str:
    return "n/a" if rate is None else f"{rate:.1%} ({count:,} of {rows:,})"


def data_health(dag: Dag, path: str | os.PathLike[str]) -> dict[str, FeatureHealth]:
    """Health of every feature of ``dag`` found in the hive-partitioned Parquet dataset at ``path``."""
    files = sorted(Path(path).glob("**/*.parquet"))
    if not files:
        raise InputError(os.fspath(path), "holds no Parquet files",
                         "pass the folder a FrameDriver.backfill (or `fdag backfill`) wrote")
    versions: dict[str, set[str]] = {}
    errors: dict[str, int | None] = {}
    for file in files:
        meta = parquet_metadata(file, METADATA_KEY)
        for name, version in meta.get("versions", {}).items():
            versions.setdefault(name, set()).add(version)
        recorded = meta.get("errors")
        for name in meta.get("outputs", ()):
            known = errors.get(name, 0)
            count = None if not isinstance(recorded, dict) else recorded.get(name)
            errors[name] = None if known is None or not isinstance(count, int) else known + count
    frame = pl.concat([pl.scan_parquet(file, hive_partitioning=False) for file in files], how="diagonal_relaxed")
    features = [name for name in dag.nodes if name in frame.collect_schema()]
    counts = frame.select(pl.len().alias("__rows"), *(pl.col(name).null_count() for name in features)).collect()
    rows = counts["__rows"].item()
    return {name: FeatureHealth(rows, counts[name].item(), errors.get(name), tuple(sorted(versions.get(name, ()))),
                                distribution_svg(frame.select(name).collect()[name], dag.nodes[name].returns))
            for name in features}


def distribution_svg(values: pl.Series, ftype: FType) -> str | None:
    """The distribution of the non-null ``values`` as an inline SVG plot, or None when there are none."""
    try:
        from matplotlib import rc_context
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise MissingDependencyError("matplotlib", "the catalog's data health plots (--data)",
                                     extra="catalog") from None
    present = values.drop_nulls()
    if ftype.base is float:
        present = present.filter(present.is_finite())
    if present.is_empty():
        return None
    with rc_context({"svg.fonttype": "none", "font.size": 8}):
        figure = Figure(figsize=(3.6, 1.9))  # fixed margins: a layout engine would draw every plot twice
        axes = figure.add_subplot()
        base = ftype.base
        if base in (int, float, datetime, date, timedelta) or base is list:
            data, label = _numbers(present, base)
            whole = base is int or base is list
            bins: Any = min(_BINS, max(1, data.n_unique()))
            if whole:
                low, high = int(data.min()), int(data.max())  # type: ignore[arg-type]
                if high - low < _BINS:
                    bins = np.arange(low, high + 2) - 0.5  # one bar per integer, centred on it
            axes.hist(data.to_numpy(), bins=bins, color="#4c78a8")
            if whole:
                axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.set_ylabel("rows")
            if label:
                axes.set_xlabel(label)
            figure.subplots_adjust(left=0.17, right=0.96, bottom=0.2 if label else 0.14, top=0.95)
        else:
            counts = present.cast(pl.String).value_counts(sort=True).head(_TOP_VALUES)
            labels = [_short(text) for text in counts[:, 0].to_list()]
            axes.barh(labels[::-1], counts["count"].to_list()[::-1], color="#4c78a8")
            axes.set_xlabel("rows" + (f" (top {_TOP_VALUES})" if present.n_unique() > _TOP_VALUES else ""))
            figure.subplots_adjust(left=0.3, right=0.96, bottom=0.22, top=0.95)
        axes.spines[["top", "right"]].set_visible(False)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
    return inline_svg(buffer.getvalue())


def _short(text: str, width: int = 14) -> str:
    """A bar label that fits the left margin."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _numbers(values: pl.Series, base: type) -> tuple[pl.Series, str]:
    """What a histogram plots for ``values``, and the axis label it needs."""
    if base is list:
        return values.list.len(), "list length"
    if base is timedelta:
        return values.dt.total_seconds(), "seconds"
    return values, ""

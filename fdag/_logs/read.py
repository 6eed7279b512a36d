"""Reading a feature log back: every file of its directory, and which columns are request inputs and features."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from fdag._logs.schema import METADATA_KEY, SERVED_AT
from fdag.errors import InputError


@dataclass(frozen=True)
class ServedLog:
    """The rows of a feature log, in the order they were served (``served_at``), and what its columns are."""

    rows: pl.DataFrame
    inputs: tuple[str, ...]  # request input columns, over all files
    outputs: tuple[str, ...]  # feature columns, over all files
    files: tuple[Path, ...]


def read_log(path: str | os.PathLike[str]) -> ServedLog:
    """Every row logged in directory ``path``. Files of drivers with other outputs are aligned by column name
    (a feature absent from a file is null there)."""
    directory = Path(path)
    files = tuple(sorted(directory.glob("*.parquet")))
    if not files:
        raise InputError(os.fspath(directory), "holds no feature log files (*.parquet)",
                         "serve with RowDriver(..., log=fdag.FeatureLog(DIR)) and flush or close the log first")
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[Path]] = {}
    for file in files:
        meta = json.loads(pl.read_parquet_metadata(file).get(METADATA_KEY, "{}"))
        if meta.get("kind") != "feature_log":
            raise InputError(os.fspath(file), "is not a feature log file (no fdag feature_log metadata)",
                             "point at a directory written by fdag.FeatureLog only")
        groups.setdefault((tuple(meta["inputs"]), tuple(meta["outputs"])), []).append(file)
    inputs = tuple(dict.fromkeys(name for names, _ in groups for name in names))
    outputs = tuple(dict.fromkeys(name for _, names in groups for name in names))
    frames = [pl.read_parquet(group) for group in groups.values()]
    rows = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
    return ServedLog(rows.sort(SERVED_AT, maintain_order=True), inputs, outputs, files)

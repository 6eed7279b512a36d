"""The feature log's format: one Parquet row per served vector, in typed columns, with fdag metadata per file.

Columns: each request input the driver reads (its declared type), ``as_of`` (the instant the vector was
computed at), each output (its declared type), ``errors`` (a list of ``{node, type, message}`` structs),
``versions`` (JSON text: node -> version of every node the driver computes) and ``served_at`` (wall clock, UTC).
Each file's ``fdag`` metadata key holds the same names and versions as JSON, so readers know which columns are
request inputs and which are features.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from fdag._dag.node import AS_OF
from fdag._dag.plan import Plan
from fdag._values.calls import ErrorRecord
from fdag._values.types import FType, coerce_value
from fdag._version import __version__
from fdag.errors import InputError

ERRORS = "errors"
VERSIONS = "versions"
SERVED_AT = "served_at"
RESERVED = (AS_OF, ERRORS, VERSIONS, SERVED_AT)
METADATA_KEY = "fdag"
ERRORS_DTYPE = pl.List(pl.Struct({"node": pl.String(), "type": pl.String(), "message": pl.String()}))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# The hot path buffers FIELDS entries per served vector, one after the other in one flat list: the request,
# its as_of, the values (output -> value), the ErrorRecords (None when there are none) and served_at (Unix s).
FIELDS = 5


@dataclass(frozen=True)
class LogSchema:
    """The columns one driver's vectors are logged in: its request inputs, outputs and node versions."""

    inputs: Mapping[str, FType]
    outputs: Mapping[str, FType]
    versions: Mapping[str, str]

    @classmethod
    def of(cls, plan: Plan) -> LogSchema:
        """The schema of the vectors a driver of ``plan`` serves; a feature named like a log column is refused."""
        returns = {node.name: node.returns for node in plan.nodes}
        schema = cls(dict(plan.inputs), {name: returns[name] for name in plan.outputs}, dict(plan.versions))
        for name in (*schema.inputs, *schema.outputs):
            if name in RESERVED:
                raise InputError(name, "is a feature or request input named like a column of the feature log",
                                 f"rename it: the log reserves {', '.join(RESERVED)}")
        return schema

    def frame(self, rows: Sequence[Any]) -> pl.DataFrame:
        """Buffered rows (``FIELDS`` entries each) as one typed frame: the conversion the hot path leaves undone."""
        requests, instants, values, errors, served = (rows[field::FIELDS] for field in range(FIELDS))
        # Instants as µs since the epoch, then one cast: Polars reads aware datetimes ten times slower.
        micros = pl.Series(AS_OF, [(instant - _EPOCH) // _MICROSECOND for instant in instants], dtype=pl.Int64())
        inputs = self._inputs(requests).with_columns(micros.cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))
        outputs = pl.DataFrame(values, schema={name: ftype.polars for name, ftype in self.outputs.items()})
        stamps = (pl.Series(SERVED_AT, served, dtype=pl.Float64()) * 1_000_000).round().cast(pl.Int64())
        return pl.concat([inputs, outputs, pl.DataFrame([
            _errors_column(errors),
            pl.repeat(self.versions_text, len(requests), dtype=pl.String(), eager=True).alias(VERSIONS),
            stamps.cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
        ])], how="horizontal")

    def _inputs(self, requests: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
        """The request inputs. A served request holds only values its types admit, which Polars converts as
        ``coerce_value`` did for the engine (ints to floats, naive instants as UTC, aware ones converted); NaN is
        read as null here. Lists go through ``coerce_value`` item by item (NaN inside them too)."""
        scalars = {name: ftype for name, ftype in self.inputs.items() if ftype.base is not list}
        frame = pl.DataFrame(requests, schema={name: ftype.polars for name, ftype in scalars.items()}, strict=True)
        frame = frame.with_columns(pl.col(name).fill_nan(None) for name, ftype in scalars.items()
                                   if ftype.base is float)
        lists = [pl.Series(name, [coerce_value(request.get(name), ftype) for request in requests], dtype=ftype.polars)
                 for name, ftype in self.inputs.items() if name not in scalars]
        return frame.with_columns(lists).select(list(self.inputs)) if lists else frame

    @property
    def versions_text(self) -> str:
        """The ``versions`` column's value: node -> version as JSON."""
        return json.dumps(dict(self.versions), sort_keys=True)

    def metadata(self) -> dict[str, str]:
        """The Parquet key-value metadata of every log file (``fdag`` -> JSON)."""
        return {METADATA_KEY: json.dumps({
            "fdag_version": __version__,
            "kind": "feature_log",
            "inputs": {name: str(ftype) for name, ftype in self.inputs.items()},
            "outputs": {name: str(ftype) for name, ftype in self.outputs.items()},
            "versions": dict(self.versions),
        })}  # in the driver's order (inputs, outputs), which readers keep


def _errors_column(errors: Sequence[Sequence[ErrorRecord] | None]) -> pl.Series:
    """The ``errors`` column, built from the few rows that have errors: a list of structs per row is slow to
    construct value by value, and most rows have none."""
    flat = [(row, e.node, e.type, e.message) for row, found in enumerate(errors) if found for e in found]
    if not flat:
        return pl.repeat([], len(errors), dtype=ERRORS_DTYPE, eager=True).alias(ERRORS)
    schema = {"row": pl.UInt32(), "node": pl.String(), "type": pl.String(), "message": pl.String()}
    found = (pl.DataFrame(flat, schema=schema, orient="row").group_by("row", maintain_order=True)
             .agg(pl.struct("node", "type", "message").alias(ERRORS)))
    rows = pl.DataFrame({"row": pl.int_range(len(errors), eager=True, dtype=pl.UInt32())})
    joined = rows.join(found, on="row", how="left", maintain_order="left")
    return joined.select(pl.col(ERRORS).fill_null(pl.lit([], dtype=ERRORS_DTYPE))).to_series()

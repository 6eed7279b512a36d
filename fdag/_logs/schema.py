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
from typing import Any

import polars as pl

from fdag._dag.node import AS_OF
from fdag._dag.plan import Plan
from fdag._values.types import FType, coerce_value
from fdag._version import __version__
from fdag.errors import InputError

ERRORS = "errors"
VERSIONS = "versions"
SERVED_AT = "served_at"
RESERVED = (AS_OF, ERRORS, VERSIONS, SERVED_AT)
METADATA_KEY = "fdag"
ERRORS_DTYPE = pl.List(pl.Struct({"node": pl.String(), "type": pl.String(), "message": pl.String()}))
UTC_MICROS = pl.Datetime("us", "UTC")

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
        columns = [pl.Series(name, [coerce_value(request.get(name), ftype) for request in requests], dtype=ftype.polars)
                   for name, ftype in self.inputs.items()]
        columns.append(pl.Series(AS_OF, instants, dtype=UTC_MICROS))
        columns += [pl.Series(name, [row[name] for row in values], dtype=ftype.polars)
                    for name, ftype in self.outputs.items()]
        columns.append(pl.Series(ERRORS, [[{"node": e.node, "type": e.type, "message": e.message} for e in found]
                                          if found else [] for found in errors], dtype=ERRORS_DTYPE))
        columns.append(pl.Series(VERSIONS, [self.versions_text] * len(requests), dtype=pl.String()))
        stamps = pl.Series(SERVED_AT, [round(at * 1_000_000) for at in served], dtype=pl.Int64())
        columns.append(stamps.cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))
        return pl.DataFrame(columns)

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

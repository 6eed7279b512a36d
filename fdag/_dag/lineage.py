"""Lineage: which nodes, request inputs and sources (with versions) a value was made from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Lineage:
    """The provenance of one node: its version, every upstream node's version, its inputs and sources."""

    node: str
    version: str
    upstream: Mapping[str, str]  # upstream node -> version
    inputs: Mapping[str, str]  # request input -> type
    sources: Mapping[str, str]  # source name -> its key column
    tags: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (for Parquet metadata, logs and the catalog)."""
        return {
            "node": self.node,
            "version": self.version,
            "upstream": dict(self.upstream),
            "inputs": dict(self.inputs),
            "sources": dict(self.sources),
            "tags": {k: v if isinstance(v, str | int | float | bool | None) else repr(v) for k, v in self.tags.items()},
        }

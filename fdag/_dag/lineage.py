"""Lineage: which nodes, request inputs and sources (with versions) a value was made from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Lineage:
    """The provenance of one node: its version, every upstream node's version, its inputs and sources.

    ``dag.lineage(name)`` and ``vec.lineage[name]`` give it; backfills write ``to_dict()`` into every Parquet file,
    so a training set says which code made each column.

    Parameters
    ----------
    node
        The node described.
    version
        Its version (``dag.version(node)``).
    upstream
        Every node it depends on, directly or not → that node's version.
    inputs
        Every request input it reads, directly or not → its type (``as_of`` included when read).
    sources
        Every source read upstream → its key column.
    tags
        The node's own ``@fdag.tag`` metadata.

    Example::

        import json

        import fdag
        from fdag.demo import fraud

        print(json.dumps(fdag.Dag.from_modules(fraud).lineage("amount_vs_mean_10d").to_dict()["inputs"]))
        # {"amount": "float", "user_id": "str", "as_of": "datetime"}
    """

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

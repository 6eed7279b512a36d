"""A three-node DAG: two request inputs, a derived chain and an optional input."""

from __future__ import annotations

import fdag


def doubled(x: int) -> int:
    """Twice x."""
    return x * 2


@fdag.tag(owner="tests", tier=1)
def ratio(doubled: int, y: float) -> float:
    return doubled / y


def label(ratio: float | None, name: str | None) -> str:
    if ratio is None:
        return "none"
    return "big" if ratio > 10 else "small"

"""Every DAG rule broken at once: the error lists all of them."""

from __future__ import annotations

from datetime import datetime


def no_annotation(x) -> int:  # type: ignore[no-untyped-def]
    return x


def no_return(x: int):  # type: ignore[no-untyped-def]
    return x


def maybe(x: int) -> int | None:
    return x if x > 0 else None


def needs_int(maybe: int) -> int:
    return maybe


def wants_text(needs_int: str) -> str:
    return needs_int


def loop_a(loop_b: int) -> int:
    return loop_b


def loop_b(loop_a: int) -> int:
    return loop_a


def bad_as_of(as_of: int) -> int:
    return as_of


def uses_set(x: set[int]) -> int:
    return len(x)


def fine(when: datetime) -> int:
    return when.year

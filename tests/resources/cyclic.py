"""A three-node cycle and nothing else wrong."""

from __future__ import annotations


def a(c: int) -> int:
    return c + 1


def b(a: int) -> int:
    return a + 1


def c(b: int) -> int:
    return b + 1

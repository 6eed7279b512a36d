"""Defines 'doubled' again, which tiny.py already defines."""

from __future__ import annotations


def doubled(x: int) -> int:
    return x + x

"""Four features over two required request inputs and one with a default: which request keys a get accepts."""

from __future__ import annotations


def scaled(amount: float) -> float:
    return amount * 2


def capped(scaled: float, cap: float) -> float:
    return min(scaled, cap)


def tagged(label: str = "none") -> str:
    return label.upper()


def summary(capped: float, tagged: str) -> str:
    return f"{tagged}:{capped}"

"""``ratio`` and ``steps`` of ``tests/resources/checked.py`` for Apache Hamilton, one value at a time (its
primitive validators), as a model service would run them."""

from __future__ import annotations

from hamilton.function_modifiers import check_output


@check_output(range=(0.0, 1.0), allow_none=False, importance="warn")
def ratio(amount: float, limit: float) -> float:
    return amount / limit


@check_output(range=(-5, 5), importance="warn")
def steps(amount: float) -> int:
    return int(amount // 10)

"""The checks of ``tests/resources/checked.py`` (``ratio``, ``bucket``) written for Apache Hamilton, over pandas."""

from __future__ import annotations

import pandas as pd
from hamilton.function_modifiers import check_output


def _bucket(ratio: float) -> str | None:
    if pd.isna(ratio):
        return None
    if ratio < 0.3:
        return "low"
    if ratio < 0.7:
        return "mid"
    return "high" if ratio <= 1.0 else "over"


@check_output(range=(0.0, 1.0), allow_nans=False, importance="warn")
def ratio(amount: pd.Series, limit: pd.Series) -> pd.Series:
    return amount / limit


@check_output(values_in=["low", "mid", "high"], max_fraction_nans=0.25, importance="warn")
def bucket(ratio: pd.Series) -> pd.Series:
    return ratio.map(_bucket).astype(object)

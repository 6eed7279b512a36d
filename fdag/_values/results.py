"""What one run returns: ``FrameResult`` (the features of a spine and what the run observed) and ``CheckResult``.

Everything a run learns — its errors, its check outcomes, the watermark of each source — travels in the value it
returns and never on the driver, so one driver serves concurrent runs (threads, a model service, a scheduler)
without one run's errors or watermarks leaking into another's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from fdag._values.calls import ErrorRecord


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one output check on one node: how many of the ``total`` values checked ``failed``.

    Listed by ``FrameResult.checks`` (one per check a run evaluated) and ``vec.checks`` (one per row check, for
    one value); ``str()`` reads ``risk_score: range: 2 of 500 values failed``. ``range`` and ``one_of`` check the
    non-null values (``total`` counts those), ``allow_null`` and ``max_null_fraction`` every value (``failed``
    counts the nulls). A check passes when nothing failed, except ``max_null_fraction``, which passes while
    ``failed / total`` is at most its limit: ``passed`` says which.

    Parameters
    ----------
    node
        The checked feature.
    check
        Which check: ``"range"``, ``"one_of"``, ``"allow_null"`` or ``"max_null_fraction"``.
    failed
        How many values failed it (were null, for the null checks).
    total
        How many values were checked.
    passed
        Whether the check passed; ``None`` (the default) means ``failed == 0``.
    """

    node: str
    check: str
    failed: int
    total: int
    passed: bool | None = None

    def __post_init__(self) -> None:
        if self.passed is None:
            object.__setattr__(self, "passed", self.failed == 0)

    def __str__(self) -> str:
        tolerated = " (within the allowed fraction)" if self.passed and self.failed else ""
        return f"{self.node}: {self.check}: {self.failed} of {self.total} values failed{tolerated}"


# eq=False: the table is a DataFrame, whose ``==`` is element-wise; compare ``result.table.equals(other.table)``.
@dataclass(frozen=True, eq=False)
class FrameResult:
    """One ``FrameDriver.evaluate`` run: the feature table and what the run observed on the way.

    Attributes
    ----------
    table
        The spine's columns in the spine's row order, plus one column per output (and ``<output>__as_of`` columns
        when asked for); what ``FrameDriver.run`` returns.
    errors
        The errors that became null values, one ``ErrorRecord(node, type, message, count)`` per node, exception
        type and message: of features (counted in spine rows) and of window and lookup functions (named after
        the function, counted in rows of the events frames).
    checks
        One ``CheckResult`` per output check evaluated in the run.
    watermarks
        Source name → the largest event timestamp of that source in this run's events, each id counted once
        (its earliest copy, as the engines keep it; ``None`` when it had none): the instant up to which each window
        value's source data is complete.
    """

    table: pl.DataFrame
    errors: tuple[ErrorRecord, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    watermarks: Mapping[str, datetime | None] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"FrameResult(table={self.table.height}x{self.table.width}, errors={[str(e) for e in self.errors]}, "
                f"checks={[str(c) for c in self.checks]}, watermarks={dict(self.watermarks)!r})")

"""Output checks in the row engine: straight-line code in the compiled plan, choosing among prebuilt results.

A request has one value per node, so each row check has three outcomes — skipped (a null, for ``range`` and
``one_of``: 0 of 0), passed (0 of 1), failed (1 of 1) — built once per driver. The generated code picks one per
check with a comparison (``lo <= v <= hi``, ``v in frozenset``, ``v is None``) and calls back only when one failed,
to warn or raise: checking costs a few comparisons and a tuple. ``max_null_fraction`` judges a run's values and is
not applied online.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fdag._dag.checks import act
from fdag._dag.plan import Plan
from fdag._values.results import CheckResult


class RowChecks:
    """The row checks of a plan's nodes, as lines of the compiled plan."""

    def __init__(self, plan: Plan) -> None:
        self.specs = tuple(spec for node in plan.nodes for spec in node.checks if spec.online)
        self._failing = tuple(spec.result(1, 1) for spec in self.specs)

    @property
    def result(self) -> str:
        """The expression the compiled plan hands to its vector: the tuple of results, or ``()``."""
        return "checks" if self.specs else "()"

    def lines(self, var: Mapping[str, str], namespace: dict[str, Any]) -> list[str]:
        """Code setting ``checks`` to the tuple of results from the node variables ``var``; the constants it reads
        go into ``namespace``."""
        if not self.specs:
            return []
        lines = []
        for i, spec in enumerate(self.specs):
            v, skipped, passed, failing = var[spec.node], f"ck_s{i}", f"ck_p{i}", f"ck_f{i}"
            namespace[skipped], namespace[passed], namespace[failing] = spec.result(0, 0), spec.result(0, 1), \
                self._failing[i]
            if spec.check == "allow_null":
                lines.append(f"    ck_{i} = {failing} if {v} is None else {passed}")
                continue
            if spec.check == "range":
                namespace[f"ck_lo{i}"], namespace[f"ck_hi{i}"] = spec.low, spec.high
                test = f"ck_lo{i} <= {v} <= ck_hi{i}"
            else:
                namespace[f"ck_in{i}"] = frozenset(spec.values)
                test = f"{v} in ck_in{i}"
            lines.append(f"    ck_{i} = {skipped} if {v} is None else {passed} if {test} else {failing}")
        lines.append(f"    checks = ({', '.join(f'ck_{i}' for i in range(len(self.specs)))},)")
        namespace["checks_failed"] = self.failed
        failed = " or ".join(f"ck_{i} is ck_f{i}" for i in range(len(self.specs)))
        values = ", ".join(var[spec.node] for spec in self.specs)
        lines += [f"    if {failed}:", f"        checks_failed(checks, ({values},))"]
        return lines

    def failed(self, results: tuple[CheckResult, ...], values: tuple[Any, ...]) -> None:
        """Warn or raise for the failed checks, by their importance (called only when one failed)."""
        # A warning's text carries no value: the registry of shown warnings keeps one entry per check, not one
        # per distinct value served. An error, raised once, shows the value.
        examples = {i: values[i] for i, spec in enumerate(self.specs)
                    if spec.importance == "fail" and not spec.checks_nulls() and results[i] is self._failing[i]}
        act(self.specs, results, examples)


"""Output checks in the row engine: the row checks of one request's values, from prebuilt results.

A request has one value per node, so each row check has three outcomes — skipped (a null, for ``range`` and
``one_of``: 0 of 0), passed (0 of 1), failed (1 of 1) — built once per driver: checking costs a comparison
and a tuple, no allocation of results. ``max_null_fraction`` judges a run's values and is not applied online.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fdag._dag.checks import CheckSpec, act
from fdag._dag.plan import Plan
from fdag._values.results import CheckResult

# act() <- RowChecks.__call__ <- the compiled plan <- RowDriver.get <- the caller, whom a warning names.
_STACKLEVEL = 5


class RowChecks:
    """The row checks of a plan's nodes, called by the compiled plan with the checked nodes' values."""

    def __init__(self, plan: Plan) -> None:
        self.specs = tuple(spec for node in plan.nodes for spec in node.checks if spec.online)
        self.nodes = tuple(dict.fromkeys(spec.node for spec in self.specs))
        position = {name: i for i, name in enumerate(self.nodes)}
        self._table = [(position[spec.node], spec, _outcomes(spec), _predicate(spec)) for spec in self.specs]

    def __bool__(self) -> bool:
        return bool(self.specs)

    def __call__(self, *values: Any) -> tuple[CheckResult, ...]:
        """The results for one request's values of ``nodes``; a failure warns or raises by its importance."""
        results = []
        failed = False
        for index, _spec, (skipped, passed, failing), fails in self._table:
            outcome = fails(values[index])
            results.append(failing if outcome else skipped if outcome is None else passed)
            failed = failed or bool(outcome)
        if failed:
            # A warning's text carries no value: the registry of shown warnings keeps one entry per check, not
            # one per distinct value served. An error, raised once, shows the value.
            examples = {i: values[row[0]] for i, row in enumerate(self._table)
                        if row[1].importance == "fail" and not row[1].checks_nulls() and results[i] is row[2][2]}
            act(self.specs, results, examples, stacklevel=_STACKLEVEL)
        return tuple(results)


def _outcomes(spec: CheckSpec) -> tuple[CheckResult, CheckResult, CheckResult]:
    return spec.result(0, 0), spec.result(0, 1), spec.result(1, 1)


def _predicate(spec: CheckSpec) -> Callable[[Any], bool | None]:
    """value -> failed (True), passed (False) or not judged (None: a null, for ``range`` and ``one_of``)."""
    if spec.checks_nulls():
        return lambda value: value is None
    judge = spec.value_fails

    def fails(value: Any) -> bool | None:
        return None if value is None else judge(value)

    return fails

"""Output checks resolved against a node's type, and what a run does with their outcome (warn or raise).

``@fdag.check_output`` records its arguments; here each becomes a ``CheckSpec`` of one node, checked against the
node's type when the DAG is built (every misuse is a ``Problem`` with the feature's ``file:line``). Both engines
count failures with the same rules — ``range`` and ``one_of`` judge non-null values, the null checks every value —
and hand their ``CheckResult`` to ``act``, which warns or raises by the check's importance.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, TypeVar

from fdag._declare.check import CheckDecl, declared_checks
from fdag._values.results import CheckResult
from fdag._values.types import FType, coerce_value
from fdag.errors import CheckError, CheckWarning, Problem

ROW_CHECKS = ("range", "one_of", "allow_null")  # judged value by value: online and offline
RUN_CHECKS = ("max_null_fraction",)  # judged over a run's values: offline only
IMPORTANCES = ("warn", "fail")
_ONE_OF_TYPES = (int, float, bool, str, date, datetime, timedelta)
# Set while a backfill computes a batch: it acts once on the batch's merged results, the same on Ray and locally.
_RECORDING: ContextVar[bool] = ContextVar("fdag_recording_checks", default=False)
# Hamilton's argument names, for a module moved over from Hamilton.
_HAMILTON_NAMES = {"values_in": "one_of", "allow_nans": "allow_null", "allow_none": "allow_null",
                   "max_fraction_nans": "max_null_fraction"}


@dataclass(frozen=True)
class CheckSpec:
    """One resolved check of one node: which, how important, and its bound values (in the node's type)."""

    node: str
    check: str  # "range", "one_of", "allow_null" or "max_null_fraction"
    importance: str  # "warn" or "fail"
    location: str
    low: float | int | None = None  # range, inclusive
    high: float | int | None = None
    values: tuple[Any, ...] = ()  # one_of, in the node's canonical form
    limit: float | None = None  # max_null_fraction

    @property
    def online(self) -> bool:
        """Whether the row engine applies it (a check of one value at a time)."""
        return self.check in ROW_CHECKS

    @property
    def rule(self) -> str:
        """The check as a reader writes it: ``range [0.0, 1.0]``, ``one_of ['a', 'b']``, ``allow_null=False``."""
        if self.check == "range":
            return f"range [{self.low!r}, {self.high!r}]"
        if self.check == "one_of":
            return f"one_of {list(self.values)!r}"
        if self.check == "allow_null":
            return "allow_null=False"
        return f"max_null_fraction {self.limit!r}"

    def describe(self) -> str:
        """``rule`` with the importance, and "offline only" where it applies: for the catalog and DOT tooltips."""
        scope = ", offline only" if not self.online else ""
        return f"{self.rule} ({self.importance}{scope})"

    def checks_nulls(self) -> bool:
        """Whether nulls are what it counts (``allow_null``, ``max_null_fraction``); else it skips them."""
        return self.check in ("allow_null", "max_null_fraction")

    def value_fails(self, value: Any) -> bool:
        """Whether one non-null value fails ``range`` or ``one_of`` (the row engine's predicate)."""
        if self.check == "range":
            return not self.low <= value <= self.high  # type: ignore[operator]
        return value not in self.values

    def result(self, failed: int, total: int) -> CheckResult:
        """The ``CheckResult`` of ``failed`` of ``total`` values (``max_null_fraction``: within its limit passes,
        as Hamilton's ``max_fraction_nans`` does; an empty run passes)."""
        if self.check == "max_null_fraction":
            assert self.limit is not None
            return CheckResult(self.node, self.check, failed, total, total == 0 or failed / total <= self.limit)
        return CheckResult(self.node, self.check, failed, total)


class _Checkable(Protocol):
    """What resolving checks reads of a node (``Node``, which imports this module)."""

    @property
    def name(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def returns(self) -> FType: ...
    @property
    def function(self) -> Callable[..., Any]: ...
    @property
    def checks(self) -> tuple[CheckSpec, ...]: ...


N = TypeVar("N", bound=_Checkable)


def with_checks(node: N, problems: list[Problem]) -> N:
    """``node`` with the checks its function declares resolved against its type; misuse goes to ``problems``."""
    decls = declared_checks(node.function)
    if not decls:
        return node
    specs: list[CheckSpec] = []
    for decl in decls:
        specs += _resolve(node.name, node.location, node.returns, decl, problems)
    seen: set[str] = set()
    for spec in specs:
        if spec.check in seen:
            problems.append(Problem(node.name, node.location, f"declares the check {spec.check!r} twice",
                                    "keep one; stacked @fdag.check_output decorators add different checks"))
        seen.add(spec.check)
    return replace(node, checks=tuple(specs))  # type: ignore[type-var]  # a dataclass: every Node is one


def _resolve(name: str, where: str, returns: FType, decl: CheckDecl, problems: list[Problem]) -> list[CheckSpec]:
    """The checks of one declaration, with a problem for each argument the node's type cannot use."""
    found: list[Problem] = []
    for argument in decl.unknown:
        fdag_name = _HAMILTON_NAMES.get(argument)
        hint = (f"fdag calls Hamilton's {argument!r} {fdag_name!r}" if fdag_name is not None else
                "the checks are range=, one_of=, allow_null= and max_null_fraction=; compute anything else as a "
                "feature")
        found.append(Problem(name, where, f"is checked with the unknown argument {argument}=", hint))
    if decl.importance not in IMPORTANCES:
        found.append(Problem(name, where, f"has a check with importance={decl.importance!r}",
                             "write importance='warn' (record and warn) or importance='fail' (raise CheckError)"))
    base = CheckSpec(name, "", str(decl.importance), where)
    specs = [spec for spec in (_range(base, returns, decl.range, found), _one_of(base, returns, decl.one_of, found),
                               _allow_null(base, decl.allow_null, found),
                               _max_null_fraction(base, decl.max_null_fraction, found)) if spec is not None]
    if not specs and not found and decl.allow_null is not True:
        found.append(Problem(name, where, "has @fdag.check_output() without any check",
                             "give range=, one_of=, allow_null=False or max_null_fraction=, or drop the decorator"))
    problems += found
    return [] if found else specs


def _number(value: Any) -> bool:
    return type(value) in (int, float) and not (type(value) is float and math.isnan(value))


def _range(base: CheckSpec, returns: FType, given: Any, problems: list[Problem]) -> CheckSpec | None:
    if given is None:
        return None
    if returns.base not in (int, float):
        problems.append(Problem(base.node, base.location, f"is checked with range={given!r} but returns "
                                f"'{returns}'", "range= applies to int and float features; use one_of= for "
                                "other values"))
        return None
    if not isinstance(given, Sequence) or isinstance(given, str) or len(given) != 2 \
            or not all(_number(bound) for bound in given) or given[0] > given[1]:
        problems.append(Problem(base.node, base.location, f"is checked with range={given!r}, which is not a "
                                "(low, high) pair of numbers with low <= high",
                                "write e.g. range=(0.0, 1.0); both bounds are included"))
        return None
    low, high = given
    if returns.base is float:
        low, high = float(low), float(high)
    return replace(base, check="range", low=low, high=high)


def _one_of(base: CheckSpec, returns: FType, given: Any, problems: list[Problem]) -> CheckSpec | None:
    if given is None:
        return None
    if returns.base not in _ONE_OF_TYPES:
        problems.append(Problem(base.node, base.location, f"is checked with one_of= but returns '{returns}'",
                                "one_of= applies to int, float, bool, str, date, datetime and timedelta features"))
        return None
    if isinstance(given, str | bytes | Mapping) or not isinstance(given, Iterable):
        problems.append(Problem(base.node, base.location, f"is checked with one_of={given!r}, which is not a list "
                                "of values", "write e.g. one_of=['card', 'cash']"))
        return None
    values: list[Any] = []
    wrong = []
    for value in given:
        try:
            canonical = coerce_value(value, returns.required())
        except (TypeError, OverflowError):
            canonical = None
        if canonical is None:
            wrong.append(value)
        elif canonical not in values:
            values.append(canonical)
    if wrong or not values:
        shown = ", ".join(repr(v) for v in wrong)
        verb = "is" if len(wrong) == 1 else "are"
        problem = (f"is checked with one_of={list(given)!r} but {shown} {verb} not of its type '{returns.required()}'"
                   if wrong else "is checked with an empty one_of=")
        problems.append(Problem(base.node, base.location, problem, f"list values of type '{returns.required()}' "
                                "(a null is allow_null's business: allow_null=False refuses it)"))
        return None
    return replace(base, check="one_of", values=tuple(values))


def _allow_null(base: CheckSpec, given: Any, problems: list[Problem]) -> CheckSpec | None:
    if given is None or given is True:
        return None
    if given is not False:
        problems.append(Problem(base.node, base.location, f"is checked with allow_null={given!r}",
                                "write allow_null=False to refuse nulls (True or None allow them)"))
        return None
    return replace(base, check="allow_null")


def _max_null_fraction(base: CheckSpec, given: Any, problems: list[Problem]) -> CheckSpec | None:
    if given is None:
        return None
    if not _number(given) or not 0 <= given <= 1:
        problems.append(Problem(base.node, base.location, f"is checked with max_null_fraction={given!r}, which is "
                                "not a fraction from 0 to 1", "write e.g. max_null_fraction=0.05 (at most 5% nulls)"))
        return None
    return replace(base, check="max_null_fraction", limit=float(given))


def plan_checks(nodes: Iterable[_Checkable]) -> tuple[CheckSpec, ...]:
    """Every check of ``nodes`` (a plan's, in its order): the order of ``FrameResult.checks``."""
    return tuple(spec for node in nodes for spec in node.checks)


@contextmanager
def recording_checks() -> Iterator[None]:
    """Within this context (of this thread or task), runs record their check results without warning or raising."""
    token = _RECORDING.set(True)
    try:
        yield
    finally:
        _RECORDING.reset(token)


def _caller_level() -> int:
    """The ``stacklevel`` (for a ``warnings.warn`` in ``act``) of the nearest frame that is not fdag's own code nor
    code fdag generated: the user's call, however many of fdag's frames lie between (run -> evaluate -> ...)."""
    frame: FrameType | None = sys._getframe(2)  # 1 is act itself
    level = 2
    while frame is not None and (frame.f_code.co_filename.startswith(_PACKAGE)
                                 or frame.f_code.co_filename.startswith("<fdag ")):
        frame, level = frame.f_back, level + 1
    return level


_PACKAGE = str(Path(__file__).resolve().parents[1]) + os.sep


def act(specs: Sequence[CheckSpec], results: Sequence[CheckResult], examples: Mapping[int, Any] | None = None
        ) -> None:
    """Warn for each failed ``warn`` check, then raise ``CheckError`` for the first failed ``fail`` check (nothing
    inside ``recording_checks``). A warning names the user's line that called fdag.

    ``specs`` and ``results`` pair up; ``examples`` maps a position to one failing value to show.
    """
    if _RECORDING.get():
        return
    shown = examples or {}
    failing = None
    for position, (spec, result) in enumerate(zip(specs, results, strict=True)):
        if result.passed:
            continue
        fields = (spec.node, spec.location, spec.check, spec.rule, result.failed, result.total, shown.get(position))
        if spec.importance == "fail":
            failing = failing or CheckError(*fields)
        else:
            warnings.warn(CheckWarning(*fields), stacklevel=_caller_level())
    if failing is not None:
        raise failing


def merge_results(specs: Sequence[CheckSpec], runs: Iterable[Sequence[CheckResult]]) -> tuple[CheckResult, ...]:
    """The results of several runs of the same checks (a backfill's batches) as one: counts summed, judged again."""
    failed = [0] * len(specs)
    total = [0] * len(specs)
    for results in runs:
        for position, result in enumerate(results):
            failed[position] += result.failed
            total[position] += result.total
    return tuple(spec.result(f, t) for spec, f, t in zip(specs, failed, total, strict=True))

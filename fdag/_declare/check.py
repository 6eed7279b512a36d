"""``@fdag.check_output``: data-quality checks on a feature's values (Apache Hamilton's ``check_output``).

The decorator only records what it was given; the DAG build resolves each check against the node's type and
reports every misuse at once, with the feature's ``file:line`` (a range over strings, ``one_of`` values of the
wrong type, a null fraction outside ``[0, 1]``), like every other problem of a DAG.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fdag.errors import DeclarationTypeError

F = TypeVar("F", bound=Callable[..., Any])
CHECKS_ATTRIBUTE = "__fdag_checks__"


@dataclass(frozen=True)
class CheckDecl:
    """What one ``@fdag.check_output`` recorded: its arguments as given (``unknown``: any other keyword)."""

    range: Any = None
    allow_null: Any = None
    one_of: Any = None
    max_null_fraction: Any = None
    importance: Any = "warn"
    unknown: Mapping[str, Any] = field(default_factory=dict)


def check_output(
    *,
    range: tuple[float, float] | None = None,  # Hamilton's name, though it shadows the builtin here
    allow_null: bool | None = None,
    one_of: list[Any] | tuple[Any, ...] | None = None,
    max_null_fraction: float | None = None,
    importance: str = "warn",
    **unknown: Any,
) -> Callable[[F], F]:
    """Check the decorated feature's values every time an engine computes them; the values are not changed.

    Row checks apply to each value, online (``RowDriver.get``: ``vec.checks``) and offline (``FrameDriver.evaluate``:
    ``FrameResult.checks``, one vectorized pass): ``range`` and ``one_of`` judge the non-null values (a null is
    ``allow_null``'s business), ``allow_null=False`` fails every null. ``max_null_fraction`` judges a whole run, so it
    applies offline only (a single online value has no fraction; ``vec.checks`` never lists it). Each check gives a
    ``CheckResult(node, check, failed, total)``; with ``importance="warn"`` a failure also warns
    (``fdag.errors.CheckWarning``), with ``importance="fail"`` it raises ``fdag.errors.CheckError``. Checks do not
    change the node's version (they never change a value); they show in the catalog and in DOT tooltips.
    Stacked decorators add their checks; a check given twice for one feature is a ``DagError``.

    Parameters
    ----------
    range
        ``(low, high)``, inclusive: every non-null value must lie within (int and float features).
    allow_null
        ``False``: no value may be null. ``None`` or ``True``: nulls are allowed.
    one_of
        The allowed values: every non-null value must be one of them (values of the feature's type).
    max_null_fraction
        At most this fraction (0 to 1) of a run's values may be null; offline only.
    importance
        ``"warn"``: record and warn; ``"fail"``: raise ``CheckError``.
    unknown
        Any other keyword is a ``DagError`` when the DAG is built; Hamilton's names (``values_in``,
        ``allow_nans``, ``max_fraction_nans``) are answered with fdag's.

    Example::

        import fdag

        @fdag.check_output(range=(0.0, 1.0), allow_null=False)
        def risk_score(amount: float) -> float:   # in a feature module: checked in both engines
            return min(amount / 1000.0, 1.0)
    """
    decl = CheckDecl(range, allow_null, one_of, max_null_fraction, importance, dict(unknown))

    def declare(func: F) -> F:
        if not callable(func):
            raise DeclarationTypeError("check_output", func, f"decorates a {type(func).__name__}, not a feature",
                                       "put @fdag.check_output(...) on the function of a feature")
        setattr(func, CHECKS_ATTRIBUTE, (*getattr(func, CHECKS_ATTRIBUTE, ()), decl))
        return func

    return declare


def declared_checks(func: Callable[..., Any]) -> tuple[CheckDecl, ...]:
    """The ``@fdag.check_output`` declarations on ``func``, outermost last."""
    return tuple(getattr(func, CHECKS_ATTRIBUTE, ()))

"""The fdag error tree: every error fdag raises is an ``FdagError``.

Each subclass also inherits the builtin a caller would expect (``ValueError``, ``TypeError``, ``KeyError``),
keeps its data as fields, and builds its message in one place, ending with a ``Hint:`` that gives the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


class FdagError(Exception):
    """Base class of every error raised by fdag.

    Catch it to handle anything fdag raises; each subclass is also the builtin a caller expects (``DagError`` is a
    ``ValueError``, ``MissingInputError`` a ``KeyError``, ...), and every message ends with ``Hint: <the fix>``.
    """

    def __str__(self) -> str:
        # KeyError quotes its argument; fdag messages are sentences, so print them as they are.
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Problem:
    """One problem found while validating a DAG: which feature, where, what, and how to fix it."""

    feature: str
    location: str
    message: str
    hint: str

    def __str__(self) -> str:
        where = f" ({self.location})" if self.location else ""
        end = "" if self.hint.endswith((".", "?", "!")) else "."
        return f"feature '{self.feature}'{where} {self.message}. Hint: {self.hint}{end}"


class DagError(FdagError, ValueError):
    """The DAG is invalid; ``problems`` lists every problem found, not just the first.

    Also a ``ValueError``. Raised by ``Dag.from_modules`` (each problem names the feature, its ``file:line`` and
    a hint) and for an unknown output.

    Parameters
    ----------
    problems
        Every problem found, each a ``Problem(feature, location, message, hint)``.

    Example::

        import fdag
        from fdag.demo import payment

        try:
            fdag.RowDriver(fdag.Dag.from_modules(payment), outputs=["no_such_feature"])
        except fdag.DagError as error:
            print(error)   # feature 'no_such_feature' is requested as an output but no function defines it. Hint: ...
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = str(self.problems[0])
        else:
            lines = "\n".join(f"  {i}. {p}" for i, p in enumerate(self.problems, 1))
            message = f"{len(self.problems)} problems in the DAG:\n{lines}"
        super().__init__(message)


class DeclarationError(FdagError, ValueError):
    """A decorator was given an argument it cannot use (e.g. ``agg=`` naming no known aggregation).

    Also a ``ValueError``; raised when the decorator runs, i.e. when the feature module is imported.

    Parameters
    ----------
    argument
        The decorator argument (``"agg"``).
    value
        What it was given.
    problem
        What is wrong with it.
    hint
        The fix.
    """

    def __init__(self, argument: str, value: object, problem: str, hint: str) -> None:
        self.argument, self.value, self.problem, self.hint = argument, value, problem, hint
        super().__init__(f"{argument}={value!r} {problem}. Hint: {hint}")


class FeatureError(FdagError, RuntimeError):
    """A feature raised for a row while ``errors="raise"`` was asked for.

    Also a ``RuntimeError``; ``error`` is the exception the feature raised (its type and message).

    Parameters
    ----------
    node
        The feature that raised.
    location
        Its ``file:line``.
    error
        The exception it raised.
    row
        The row it raised for, when known.
    """

    def __init__(self, node: str, location: str, error: BaseException, row: object = None) -> None:
        self.node, self.location, self.error, self.row = node, location, error, row
        at_row = f" for row {row!r}" if row is not None else ""
        super().__init__(
            f"feature '{node}' ({location}) raised {type(error).__name__}: {error}{at_row}. "
            "Hint: fix the function or pass errors='null' to record the error and return null."
        )


class InputError(FdagError, ValueError):
    """A request or spine is missing an input, or gives one of the wrong type.

    Also a ``ValueError``; ``MissingInputError`` is also a ``KeyError``, ``InputTypeError`` a ``TypeError``.

    Parameters
    ----------
    name
        The input.
    message
        What is wrong with it.
    hint
        The fix.
    """

    def __init__(self, name: str, message: str, hint: str) -> None:
        self.name = name
        super().__init__(f"input '{name}' {message}. Hint: {hint}")


class MissingInputError(InputError, KeyError):
    """A request input the outputs need is absent."""


class InputTypeError(InputError, TypeError):
    """A request input has a value the declared type does not admit."""


class PointInTimeError(FdagError, ValueError):
    """A value would reflect data from after its row's ``as_of`` (a leak), or times are malformed.

    Also a ``ValueError``. ``FrameDriver.run(..., check_as_of=True)`` raises it rather than return a training set
    that uses the future.
    """


class TruncatedStateError(PointInTimeError):
    """An online window at ``as_of`` would reach below what the state still holds, so its value would be short.

    Online state keeps only the last ``longest window + allowed_lateness`` before the watermark; once it has
    dropped anything (evicted, rejected as too late, or skipped by a bootstrap), data before ``complete_from``
    may be missing, and only requests at ``as_of >= answerable_from`` (``complete_from + longest``) are exact.
    """

    def __init__(self, source: str, as_of: datetime, longest: timedelta, complete_from: datetime) -> None:
        self.source, self.as_of, self.longest, self.complete_from = source, as_of, longest, complete_from
        self.answerable_from = complete_from + longest
        super().__init__(
            f"source '{source}' state is complete only from {complete_from.isoformat()} (older events were "
            f"evicted, rejected as too late or not bootstrapped), but a window at as_of {as_of.isoformat()} "
            f"reaches back {longest} before it, so its values would be silently short. "
            "Hint: past features come from FrameDriver: frame.run(spine, sources=...) over the full history; "
            f"online, ask at as_of >= {self.answerable_from.isoformat()} (the watermark minus allowed_lateness)."
        )


class SourceError(FdagError, ValueError):
    """Events of a source are malformed: missing columns, wrong types, null keys or timestamps.

    Also a ``ValueError``. The message names the source, the event and the column; online, nothing of the batch
    was applied.
    """


class StoreError(FdagError, RuntimeError):
    """A feature store failed to read or write state.

    Also a ``RuntimeError``: e.g. Redis cannot be reached. Ingest is idempotent by id, so re-sending the batch
    that failed is safe.
    """


class NotTranslatable(FdagError, NotImplementedError):
    """A Python construct has no exact Polars translation; the engine falls back to per-row evaluation."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class StaleDriverError(FdagError, RuntimeError):
    """A module global a driver built into its translation was rebound since: results would silently differ."""

    def __init__(self, node: str, location: str, name: str, then: object, now: str) -> None:
        self.node, self.location, self.name = node, location, name
        super().__init__(
            f"feature '{node}' ({location}) was translated with {name} = {then!r}, but {name} is {now}. "
            "Hint: rebuild the Dag and the FrameDriver after changing module globals (translations and versions "
            "are taken when they are built)."
        )


class ConsistencyError(FdagError, AssertionError):
    """The row and vectorized engines disagree on a node for some input (found by ``fdag.check``).

    Also an ``AssertionError``, so a test calling ``fdag.check`` fails with the shrunk example.

    Parameters
    ----------
    node
        The node on which they disagree.
    example
        The request (and events) that shows it.
    row_value, frame_value
        What ``RowDriver`` and ``FrameDriver`` computed.
    """

    def __init__(self, node: str, example: object, row_value: object, frame_value: object) -> None:
        self.node, self.example, self.row_value, self.frame_value = node, example, row_value, frame_value
        super().__init__(
            f"engines disagree on '{node}': RowDriver gives {row_value!r}, FrameDriver gives {frame_value!r} "
            f"for {example!r}. Hint: this is an fdag bug unless the feature is non-deterministic; report it "
            "with this example."
        )


class MissingDependencyError(FdagError, ImportError):
    """An optional integration's package is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        self.package, self.extra = package, extra
        super().__init__(f"the {package} integration needs the '{package}' package, which is not installed. "
                         f"Hint: pip install 'fdag[{extra}]'")

"""The fdag error tree: every error fdag raises is an ``FdagError``.

Each subclass also inherits the builtin a caller would expect (``ValueError``, ``TypeError``, ``KeyError``,
``RuntimeError``, ``ImportError``), keeps its data as fields, and builds its message here, in one place, from
those fields, ending with a ``Hint:`` that gives the fix. Raise sites pass data, never finished sentences.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


def _hinted(text: str, hint: str) -> str:
    """``text`` followed by its fix: ``<text>. Hint: <hint>.`` (the final stop added unless the hint has one)."""
    end = "" if hint.endswith((".", "?", "!")) else "."
    return f"{text}. Hint: {hint}{end}"


def with_hint(text: str, hint: str) -> str:
    """A problem and its fix as one sentence, for problems recorded rather than raised (a stream's dead letters)."""
    return _hinted(text, hint)


def _restore(cls: type[FdagError], args: tuple[Any, ...], state: dict[str, Any]) -> FdagError:
    """Rebuild a pickled error without calling its ``__init__`` (whose parameters are its fields, not its message)."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class FdagError(Exception):
    """Base class of every error raised by fdag.

    Catch it to handle anything fdag raises; each subclass is also the builtin a caller expects (``DagError`` is a
    ``ValueError``, ``MissingInputError`` a ``KeyError``, ...), and every message ends with ``Hint: <the fix>``.
    """

    def __str__(self) -> str:
        # KeyError quotes its argument; fdag messages are sentences, so print them as they are.
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (Ray tasks, multiprocessing): pickle the message and the fields.
        return _restore, (type(self), self.args, dict(self.__dict__))


@dataclass(frozen=True)
class Problem:
    """One problem found while validating a DAG: which feature, where, what, and how to fix it."""

    feature: str
    location: str
    message: str
    hint: str

    def __str__(self) -> str:
        where = f" ({self.location})" if self.location else ""
        return _hinted(f"feature '{self.feature}'{where} {self.message}", self.hint)


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
    """An argument fdag cannot use, given where features are declared or configured: a decorator
    (``agg=`` naming no known aggregation, ``over="soon"``), ``Dag.from_modules``, a driver (``errors="maybe"``)
    or a command-line option.

    Also a ``ValueError``; a decorator raises it when it runs, i.e. when the feature module is imported.

    Parameters
    ----------
    argument
        The argument (``"agg"``).
    value
        What it was given.
    problem
        What is wrong with it.
    hint
        The fix.
    """

    def __init__(self, argument: str, value: object, problem: str, hint: str) -> None:
        self.argument, self.value, self.problem, self.hint = argument, value, problem, hint
        super().__init__(_hinted(f"{argument}={value!r} {problem}", hint))


class DeclarationTypeError(DeclarationError, TypeError):
    """A declaration's argument is of the wrong type (``window(source=3, ...)``, ``over=3600``)."""


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
        super().__init__(_hinted(f"feature '{node}' ({location}) raised {type(error).__name__}: {error}{at_row}",
                                 "fix the function or pass errors='null' to record the error and return null"))


class InputError(FdagError, ValueError):
    """A request, spine or other run-time input is missing, of the wrong type or unusable.

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
        self.name, self.problem, self.hint = name, message, hint
        super().__init__(_hinted(f"input '{name}' {message}", hint))


class MissingInputError(InputError, KeyError):
    """A request input the outputs need is absent."""


class InputTypeError(InputError, TypeError):
    """A request input has a value the declared type does not admit."""


class PointInTimeError(FdagError, ValueError):
    """A value would reflect data from after its row's ``as_of`` (a leak), or times are malformed.

    Also a ``ValueError``. ``FrameDriver.run(..., check_as_of=True)`` raises it rather than return a training set
    that uses the future.
    """

    def __init__(self, feature: str, problem: str, hint: str) -> None:
        self.feature, self.problem, self.hint = feature, problem, hint
        super().__init__(_hinted(f"feature '{feature}' {problem}", hint))


class TruncatedStateError(PointInTimeError):
    """An online window at ``as_of`` would reach below what the state still holds, so its value would be short.

    Online state keeps only the last ``longest window + allowed_lateness`` before the watermark; once it has
    dropped anything (evicted, rejected as too late, or skipped by a bootstrap), data before ``complete_from``
    may be missing, and only requests at ``as_of >= answerable_from`` (``complete_from + longest``) are exact.
    """

    def __init__(self, source: str, as_of: datetime, longest: timedelta, complete_from: datetime) -> None:
        self.source, self.as_of, self.longest, self.complete_from = source, as_of, longest, complete_from
        self.answerable_from = complete_from + longest
        self.feature = self.problem = self.hint = ""  # the state of a source, not of one feature
        super(PointInTimeError, self).__init__(_hinted(
            f"source '{source}' state is complete only from {complete_from.isoformat()} (older events were "
            f"evicted, rejected as too late or not bootstrapped), but a window at as_of {as_of.isoformat()} "
            f"reaches back {longest} before it, so its values would be silently short",
            "past features come from FrameDriver: frame.run(spine, sources=...) over the full history; "
            f"online, ask at as_of >= {self.answerable_from.isoformat()} (the watermark minus allowed_lateness)"))


class SourceError(FdagError, ValueError):
    """A source is declared wrongly, or its events (a batch, a history frame) are malformed: missing columns,
    wrong types, null keys or timestamps.

    Also a ``ValueError``. The message names the source, the event and the column; online, nothing of the batch
    was applied. ``where`` says where in the input the problem is (``"event 3"``, ``"history row 7"``),
    ``column`` which column.
    """

    def __init__(self, source: str, problem: str, hint: str, *, column: str | None = None,
                 where: str | None = None) -> None:
        self.source, self.problem, self.hint, self.column, self.where = source, problem, hint, column, where
        at = f" {where}:" if where is not None else ""
        subject = f" column '{column}'" if column is not None else ""
        super().__init__(_hinted(f"source '{source}'{at}{subject} {problem}", hint))


class StoreError(FdagError, RuntimeError):
    """A feature store (or the feature log) failed to read or write state; ``cause`` is the underlying error.

    Also a ``RuntimeError``: e.g. Redis cannot be reached. Ingest is idempotent by id, so re-sending the batch
    that failed is safe.
    """

    def __init__(self, store: str, problem: str, hint: str, cause: BaseException | None = None) -> None:
        self.store, self.problem, self.hint, self.cause = store, problem, hint, cause
        because = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
        super().__init__(_hinted(f"{store} {problem}{because}", hint))


class ModuleLoadError(FdagError, ImportError):
    """A feature module named on the command line cannot be loaded: not found, not a file, a syntax error, or it
    raised while it was imported (``cause``)."""

    def __init__(self, module: str, problem: str, hint: str, cause: BaseException | None = None) -> None:
        self.module, self.problem, self.hint, self.cause = module, problem, hint, cause
        because = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
        super().__init__(_hinted(f"{module} {problem}{because}", hint))


class NotTranslatable(FdagError, NotImplementedError):
    """A Python construct has no exact Polars translation; the engine falls back to per-row evaluation.

    Internal: the offline engine catches it and explains the fallback, so ``reason`` needs no hint.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class StaleDriverError(FdagError, RuntimeError):
    """A module global a driver built into its translation was rebound since: results would silently differ."""

    def __init__(self, node: str, location: str, name: str, then: object, now: str) -> None:
        self.node, self.location, self.name = node, location, name
        super().__init__(_hinted(
            f"feature '{node}' ({location}) was translated with {name} = {then!r}, but {name} is {now}",
            "rebuild the Dag and the FrameDriver after changing module globals (translations and versions "
            "are taken when they are built)"))


def _check_failure(node: str, location: str, rule: str, failed: int, total: int, example: object) -> str:
    """The sentence of a failed output check, shared by ``CheckError`` and ``CheckWarning``."""
    where = f" ({location})" if location else ""
    what = "are null" if rule.startswith(("allow_null", "max_null_fraction")) else "failed"
    shown = "" if example is None else f" (e.g. {example!r})"
    return f"feature '{node}'{where} failed its check {rule}: {failed} of {total} values {what}{shown}"


class CheckError(FdagError, ValueError):
    """A feature's values failed an ``@fdag.check_output`` check declared with ``importance="fail"``.

    Also a ``ValueError``. ``RowDriver.get`` raises it for the request whose value fails, ``FrameDriver.evaluate``
    after computing the run (the counts cover every row).

    Parameters
    ----------
    node
        The checked feature.
    location
        Its ``file:line``.
    check
        The check's name (``"range"``, ``"one_of"``, ``"allow_null"``, ``"max_null_fraction"``).
    rule
        The check as declared, e.g. ``range [0.0, 1.0]``.
    failed, total
        How many of the values checked failed (for the null checks: were null).
    example
        One failing value, when there is one to show.
    """

    def __init__(self, node: str, location: str, check: str, rule: str, failed: int, total: int,
                 example: object = None) -> None:
        self.node, self.location, self.check, self.rule = node, location, check, rule
        self.failed, self.total, self.example = failed, total, example
        super().__init__(_hinted(_check_failure(node, location, rule, failed, total, example),
                                 "fix the feature or its inputs, or declare the check with importance='warn' to "
                                 "record failures (CheckResult) without raising"))


class FdagWarning(UserWarning):
    """Base class of the warnings fdag emits; filter them with ``warnings.simplefilter(..., fdag.FdagWarning)``."""


class CheckWarning(FdagWarning):
    """A feature's values failed an ``@fdag.check_output`` check declared with ``importance="warn"``.

    The run goes on; the failure is also in ``vec.checks`` / ``FrameResult.checks``. Fields as ``CheckError``'s.
    """

    def __init__(self, node: str, location: str, check: str, rule: str, failed: int, total: int,
                 example: object = None) -> None:
        self.node, self.location, self.check, self.rule = node, location, check, rule
        self.failed, self.total, self.example = failed, total, example
        super().__init__(_hinted(_check_failure(node, location, rule, failed, total, example),
                                 "fix the feature or its inputs; importance='fail' raises CheckError instead"))


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
        super().__init__(_hinted(
            f"engines disagree on '{node}': RowDriver gives {row_value!r}, FrameDriver gives {frame_value!r} "
            f"for {example!r}",
            "this is an fdag bug unless the feature is non-deterministic; report it with this example"))


class MissingDependencyError(FdagError, ImportError):
    """An optional package (or program) that one use of fdag needs is not installed.

    ``extra`` names the fdag extra that installs the package (``pip install 'fdag[extra]'``); a program pip
    cannot install (Graphviz's ``dot``) gives ``install``, the command that installs it, instead.
    """

    def __init__(self, package: str, needed_by: str, extra: str | None = None, install: str | None = None) -> None:
        self.package, self.needed_by, self.extra, self.install = package, needed_by, extra, install
        what = f"the '{package}' package" if install is None else f"the '{package}' program"
        hint = install if install is not None else f"pip install 'fdag[{extra}]'"
        super().__init__(_hinted(f"{needed_by} needs {what}, which is not installed", hint))

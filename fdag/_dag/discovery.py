"""Discovery: turn modules of plain functions into typed nodes (DESIGN §1), collecting every problem."""

from __future__ import annotations

import inspect
import os
import typing
from collections.abc import Callable
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

from fdag._dag.node import AS_OF, Node
from fdag._dag.specs import LookupSpec, WindowSpec
from fdag._declare.lookup import LOOKUP_ATTRIBUTE, LookupDecl
from fdag._declare.source import Source
from fdag._declare.tag import TAGS_ATTRIBUTE
from fdag._declare.window import WINDOW_ATTRIBUTE, WindowDecl
from fdag._values.durations import parse_duration
from fdag._values.types import FType, UnsupportedType, coerce_value, ftype_of
from fdag.errors import Problem

_TYPES_HINT = "use int, float, bool, str, datetime, date, timedelta, list[T] or T | None"


def location_of(func: Callable[..., Any]) -> str:
    """``file:line`` of a function, relative to the working directory when below it."""
    code = getattr(func, "__code__", None)
    if code is None:
        return "?"
    path = code.co_filename
    try:
        relative = os.path.relpath(path)
        path = path if relative.startswith("..") else relative
    except ValueError:  # another drive on Windows
        pass
    return f"{path}:{code.co_firstlineno}"


def module_functions(module: ModuleType) -> list[Callable[..., Any]]:
    """Public functions defined in ``module`` itself (imported ones are not features), in source order."""
    found = [
        value
        for name, value in vars(module).items()
        if not name.startswith("_") and inspect.isfunction(value) and value.__module__ == module.__name__
    ]
    return sorted(found, key=lambda f: f.__code__.co_firstlineno)


def discover(func: Callable[..., Any], problems: list[Problem]) -> list[Node]:
    """The nodes one function makes (several for a window grid); problems are appended, not raised."""
    name, where = func.__name__, location_of(func)
    hints = _resolved_hints(func, problems)
    if hints is None:
        return []
    signature = inspect.signature(func)
    params: dict[str, FType] = {}
    ok = True
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            problems.append(Problem(name, where, f"takes '*{param.name}'", "features take named parameters only"))
            ok = False
            continue
        ftype = _annotation(name, where, f"parameter '{param.name}'", hints.get(param.name, _MISSING), problems)
        if ftype is None:
            ok = False
        else:
            params[param.name] = ftype
    returns = _annotation(name, where, "return", hints.get("return", _MISSING), problems)
    if returns is None or not ok:
        return []
    doc = inspect.getdoc(func) or ""
    tags = dict(getattr(func, TAGS_ATTRIBUTE, {}))
    found: LookupDecl | None = getattr(func, LOOKUP_ATTRIBUTE, None)
    if found is not None:
        spec = _lookup_spec(func, found, params, returns, where, problems)
        if spec is None:
            return []
        return [Node(name, func, _request_params(found.source), spec.returns, where, doc, tags, lookup=spec)]
    decl: WindowDecl | None = getattr(func, WINDOW_ATTRIBUTE, None)
    if decl is None:
        if AS_OF in params and params[AS_OF].required() != FType(datetime):
            problems.append(
                Problem(name, where, f"takes 'as_of: {params[AS_OF]}' but 'as_of' is the request instant",
                        "annotate it 'as_of: datetime' or rename the parameter")
            )
            return []
        return [Node(name, func, params, returns, where, doc, tags)]
    return _window_nodes(func, decl, params, returns, where, doc, tags, problems)


_MISSING = object()


def _resolved_hints(func: Callable[..., Any], problems: list[Problem]) -> dict[str, Any] | None:
    try:
        return typing.get_type_hints(func)
    except Exception as exc:  # an annotation naming something undefined, or not a type at all
        problems.append(
            Problem(func.__name__, location_of(func), f"has an annotation that cannot be resolved ({exc})",
                    f"import the names its annotations use; {_TYPES_HINT}")
        )
        return None


def _annotation(name: str, where: str, what: str, hint: Any, problems: list[Problem]) -> FType | None:
    if hint is _MISSING:
        problems.append(Problem(name, where, f"has no type annotation for its {what}",
                                f"annotate it, e.g. 'amount: float'; {_TYPES_HINT}"))
        return None
    try:
        return ftype_of(hint)
    except UnsupportedType as exc:
        problems.append(Problem(name, where, f"has an unsupported {what} annotation: {exc}", _TYPES_HINT))
        return None


def _request_params(source: Source) -> dict[str, FType]:
    """What a window or lookup node depends on: the request's key and its instant."""
    return {source.key: source.key_type, AS_OF: FType(datetime)}


def _reads_source_columns(name: str, where: str, source: Source, params: dict[str, FType],
                          problems: list[Problem]) -> bool:
    """Whether every parameter of a window or lookup function is a source column of a compatible type."""
    valid = True
    for column, wanted in params.items():
        have = source.schema.get(column)
        if have is None:
            problems.append(Problem(name, where, f"reads '{column}' but source '{source.name}' has no such column",
                                    f"window and lookup functions take source columns: {', '.join(source.schema)}"))
            valid = False
        elif not wanted.nullable().accepts(have):
            problems.append(Problem(name, where, f"takes '{column}: {wanted}' but source '{source.name}' has "
                                    f"'{column}: {have}'", f"annotate it as '{have}'"))
            valid = False
    return valid


def _lookup_spec(func: Callable[..., Any], decl: LookupDecl, params: dict[str, FType], returns: FType, where: str,
                 problems: list[Problem]) -> LookupSpec | None:
    """The resolved lookup, or None with the problems appended: source columns, ``max_age`` and ``default``.

    The node's type is the function's return type, optional unless a (non-null) default stands in for a
    missing row; the default is stored in that type's canonical form (``0`` of a float lookup is ``0.0``).
    """
    name = func.__name__
    valid = _reads_source_columns(name, where, decl.source, params, problems)
    max_age = None
    if decl.max_age is not None:
        try:
            max_age = parse_duration(decl.max_age)
        except ValueError:  # not a duration, or a negative timedelta
            max_age = None
        if max_age is None or max_age <= timedelta(0):
            problems.append(Problem(name, where, f"has max_age={decl.max_age!r}, which is not a positive duration",
                                    "write e.g. max_age='7d' or a positive timedelta, or None for no age limit"))
            valid = False
    default = None
    if decl.default is not None:
        try:
            default = coerce_value(decl.default, returns.required())
        except (TypeError, OverflowError):
            problems.append(Problem(name, where, f"has default={decl.default!r} but returns '{returns}'",
                                    f"give a default of type '{returns.required()}', or none (null)"))
            valid = False
    if not valid:
        return None
    node_type = returns.nullable() if default is None else returns
    return LookupSpec(name, decl.source, func, tuple(params), returns, decl.lag, max_age, default, node_type)


def _window_nodes(
    func: Callable[..., Any],
    decl: WindowDecl,
    params: dict[str, FType],
    returns: FType,
    where: str,
    doc: str,
    tags: dict[str, Any],
    problems: list[Problem],
) -> list[Node]:
    source, name = decl.source, func.__name__
    valid = _reads_source_columns(name, where, source, params, problems)
    nodes = []
    key_param = _request_params(source)
    for node_name, agg, over, label in decl.node_names(name):
        if not agg.kind.accepts_type(returns):
            problems.append(Problem(node_name, where, f"aggregates '{returns}' values with '{agg.name}'",
                                    agg.kind.hint))
            valid = False
        if not valid:
            continue
        result = agg.result_type(returns)
        spec = WindowSpec(node_name, source, func, tuple(params), returns, agg, over, label, decl.closed,
                          decl.default, result if decl.default is None else result.required())
        nodes.append(Node(node_name, func, key_param, spec.returns, where, doc, tags, spec))
    return nodes

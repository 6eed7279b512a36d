"""Discovery: turn modules of plain functions into typed nodes, collecting every problem."""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import typing
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

from fdag._dag.expand import feature_nodes
from fdag._dag.node import AS_OF, Node
from fdag._dag.specs import LookupSpec, VariantSpec, WindowSpec
from fdag._declare.exclude import is_excluded
from fdag._declare.extract import EXTRACT_ATTRIBUTE
from fdag._declare.lookup import LOOKUP_ATTRIBUTE, LookupDecl
from fdag._declare.marks import DECLARED_ATTRIBUTE
from fdag._declare.source import Source
from fdag._declare.tag import TAGS_ATTRIBUTE
from fdag._declare.window import WINDOW_ATTRIBUTE, WindowDecl
from fdag._values.durations import parse_duration
from fdag._values.types import FType, UnsupportedType, coerce_value, ftype_of
from fdag.errors import Problem

_TYPES_HINT = "use int, float, bool, str, datetime, date, timedelta, list[T] or T | None"


def location_of(func: Callable[..., Any]) -> str:
    """``file:line`` of a function (of the decorated one, for a wrapper), relative to the working directory."""
    with contextlib.suppress(ValueError):  # a cycle of __wrapped__: keep the outermost
        func = inspect.unwrap(func)
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


def module_functions(module: ModuleType, problems: list[Problem]) -> list[Callable[..., Any]]:
    """Public functions defined in ``module`` itself (imported ones are not features), in source order.

    Public names bound to what looks like a feature but is not a ``def`` function — a lambda, a
    ``functools.partial`` of a function of this module, a function a decorator replaced by another kind of
    object — are problems: they would silently not be nodes. Other callables (instances, imports) are not nodes.
    """
    found = []
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if inspect.isfunction(value) and value.__module__ == module.__name__:
            if is_excluded(value):
                declared = getattr(value, DECLARED_ATTRIBUTE, ())
                if declared:
                    problems.append(Problem(name, location_of(value), f"is marked @fdag.exclude but also declared "
                                            f"@{declared[0]}", f"remove @fdag.exclude to make it a node, or the "
                                            f"@{declared[0]} to keep it a helper"))
            elif value.__code__.co_name == "<lambda>":
                problems.append(Problem(name, location_of(value), "is a lambda",
                                        f"define it with 'def' and annotate it, or name it '_{name}' if it is a "
                                        "helper"))
            else:
                found.append(value)
        elif isinstance(value, functools.partial) and getattr(value.func, "__module__", None) == module.__name__:
            problems.append(Problem(name, location_of(value.func), "is a functools.partial, not a 'def' function",
                                    f"write a def that calls it with the fixed arguments, or name it '_{name}' "
                                    "if it is a helper"))
        elif callable(value) and not inspect.isclass(value) and hasattr(value, "__wrapped__") \
                and getattr(value, "__module__", None) == module.__name__:
            kind = type(value)
            problems.append(Problem(name, location_of(value), f"is a {kind.__module__}.{kind.__qualname__} made "
                                    "by a decorator, not a function",
                                    "features are plain functions: use a decorator that returns a function "
                                    f"(functools.wraps), or name it '_{name}' and call it from a def"))
    return sorted(found, key=lambda f: f.__code__.co_firstlineno)


_DECLARATIONS = ("window", "lookup", "parameterize", "extract_fields")


def discover(func: Callable[..., Any], problems: list[Problem], name: str | None = None,
             config: Mapping[str, Any] | None = None, variant: VariantSpec | None = None) -> list[Node]:
    """The nodes one function makes (several for a window grid, a parameterization, extracted fields); problems
    are appended, not raised. ``name`` is the node name of a config variant (its function's name before ``__``);
    a parameter named like a key of ``config`` receives that value."""
    name, where = name or func.__name__, location_of(func)
    kind = _unsupported_kind(func)
    if kind is not None:
        problems.append(Problem(name, where, kind, "a feature is a plain 'def' function that returns its value"))
        return []
    declared: tuple[str, ...] = getattr(func, DECLARED_ATTRIBUTE, ())
    if len(declared) > 1:
        kinds = sorted(set(declared), key=_DECLARATIONS.index)
        twice = f"with @{declared[0]} twice" if len(kinds) == 1 else "with both " + " and ".join(
            f"@{k}" for k in kinds)
        hint = ("keep one declaration per function; write one function per window or lookup"
                if set(kinds) <= {"window", "lookup"} else
                "window, lookup, parameterize and extract_fields do not combine: write one function per "
                "declaration (a feature can call a _private helper)")
        problems.append(Problem(name, where, f"is decorated {twice}", hint))
        return []
    hints = _resolved_hints(func, problems)
    if hints is None:
        return []
    # The engines call the function itself, by position: read the parameters of what is called, not of the
    # function a functools.wraps wrapper claims to be.
    signature = inspect.signature(func, follow_wrapped=False)
    wrapped = hasattr(func, "__wrapped__")
    params: dict[str, FType] = {}
    ok = True
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            stars = "*" if param.kind is param.VAR_POSITIONAL else "**"
            if wrapped:
                problems.append(Problem(name, where, f"is wrapped by a decorator whose wrapper takes "
                                        f"'{stars}{param.name}', so its inputs are unknown",
                                        "give the wrapper the function's own parameters, e.g. "
                                        "'def wrapper(amount: float) -> float', or move its logic into the "
                                        "function"))
            else:
                problems.append(Problem(name, where, f"takes '{stars}{param.name}'",
                                        "features take named parameters only"))
            ok = False
            continue
        if param.kind is param.KEYWORD_ONLY:
            problems.append(Problem(name, where, f"takes the keyword-only parameter '{param.name}'",
                                    "the engines call a feature with its inputs by position: make it an ordinary "
                                    "parameter (before any '*')"))
            ok = False
            continue
        ftype = _annotation(name, where, f"parameter '{param.name}'", hints.get(param.name, _MISSING), problems)
        if ftype is None:
            ok = False
        else:
            params[param.name] = ftype
    tags = dict(getattr(func, TAGS_ATTRIBUTE, {}))
    fields: Mapping[str, Any] | None = getattr(func, EXTRACT_ATTRIBUTE, None)
    if fields is not None:
        typed = _field_types(name, where, fields, hints.get("return", _MISSING), problems)
        if typed is None or not ok:
            return []
        return feature_nodes(func, name, params, typed, where, tags, config or {}, variant, problems)
    returns = _annotation(name, where, "return", hints.get("return", _MISSING), problems)
    if returns is None or not ok:
        return []
    doc = inspect.getdoc(func) or ""
    found: LookupDecl | None = getattr(func, LOOKUP_ATTRIBUTE, None)
    if found is not None:
        spec = _lookup_spec(func, found, params, returns, where, problems)
        if spec is None:
            return []
        return [Node(name, func, _request_params(found.source), spec.returns, where, doc, tags, lookup=spec,
                     variant=variant)]
    decl: WindowDecl | None = getattr(func, WINDOW_ATTRIBUTE, None)
    if decl is None:
        return feature_nodes(func, name, params, returns, where, tags, config or {}, variant, problems)
    return [replace(node, variant=variant)
            for node in _window_nodes(func, name, decl, params, returns, where, doc, tags, problems)]


_MISSING = object()


def _unsupported_kind(func: Callable[..., Any]) -> str | None:
    """Why calling ``func`` does not return its value (a coroutine, a generator), or None."""
    flags = func.__code__.co_flags
    if flags & inspect.CO_ASYNC_GENERATOR:
        return "is an async generator function"
    if flags & inspect.CO_COROUTINE:
        return "is an async function"
    if flags & inspect.CO_GENERATOR:
        return "is a generator function (it uses 'yield')"
    return None


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


def _field_types(name: str, where: str, fields: Mapping[str, Any], returns: Any,
                 problems: list[Problem]) -> tuple[tuple[str, FType], ...] | None:
    """The declared fields of an ``@fdag.extract_fields`` function, typed; its return must be annotated ``dict``."""
    if returns is _MISSING or (returns is not dict and typing.get_origin(returns) is not dict):
        shown = "no return annotation" if returns is _MISSING else f"'-> {getattr(returns, '__name__', returns)}'"
        problems.append(Problem(name, where, f"extracts fields but has {shown}",
                                "annotate the function '-> dict': it returns the fields in a dict"))
        return None
    typed = []
    for field, hint in fields.items():
        ftype = _annotation(name, where, f"field '{field}'", hint, problems)
        if ftype is None:
            return None
        typed.append((field, ftype))
    return tuple(typed)


def _window_nodes(
    func: Callable[..., Any],
    name: str,
    decl: WindowDecl,
    params: dict[str, FType],
    returns: FType,
    where: str,
    doc: str,
    tags: dict[str, Any],
    problems: list[Problem],
) -> list[Node]:
    source = decl.source
    valid = _reads_source_columns(name, where, source, params, problems)
    nodes = []
    key_param = _request_params(source)
    for node_name, agg, over, label in decl.node_names(name):
        default = decl.default
        if not agg.kind.accepts_type(returns):
            problems.append(Problem(node_name, where, f"aggregates '{returns}' values with '{agg.name}'",
                                    agg.kind.hint))
            valid = False
        result = agg.result_type(returns)
        if default is not None:
            result = result.required()
            default = _typed_default(node_name, where, default, result, problems)
            valid = valid and default is not None
        if not valid:
            continue
        spec = WindowSpec(node_name, source, func, tuple(params), returns, agg, over, label, decl.closed,
                          default, result)
        nodes.append(Node(node_name, func, key_param, spec.returns, where, doc, tags, spec))
    return nodes


def _typed_default(node: str, where: str, default: Any, ftype: FType, problems: list[Problem]) -> Any:
    """``default=`` as a value of the node's type (an int widened for a float node), or None and a problem.

    Both engines fill empty windows with it, so it must be a value the node's type admits exactly: a
    ``count`` defaulting to 1.5 would be 1.5 online and 1 offline.
    """
    try:
        value = coerce_value(default, ftype)
    except (TypeError, OverflowError):
        value = None
    if value is None:  # not admitted, or NaN (read as null, which a defaulted node never is)
        problems.append(Problem(node, where, f"has default={default!r}, which is not a '{ftype}' (the node's type)",
                                f"give a default of type '{ftype}', or leave it out"))
    return value

"""Node versions: a short hash of normalised code, decorator arguments and upstream versions.

A function's code fingerprint covers what its results depend on that fdag can see: its syntax, the module
constants and private helpers it reads, the values its closure captured, its default arguments and, for a
decorated function, the wrapper's code as well as the wrapped function's.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import pickle
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from fdag._dag.definition import UnverifiedSource, code_shape, definition
from fdag._dag.node import Node
from fdag._declare.exclude import is_excluded
from fdag.errors import DagError, Problem

_SIMPLE = (int, float, complex, str, bytes, bool, type(None))


class Unfingerprintable(TypeError):
    """A function captured a value whose content fdag cannot fingerprint (not plain data, a function, or
    picklable); ``what`` says which value. ``compute_versions`` turns it into a ``DagError``."""

    def __init__(self, function: Callable[..., Any], what: str) -> None:
        self.function, self.what = function, what
        super().__init__(what)


def code_fingerprint(func: Callable[..., Any]) -> str:
    """The function's code, the module constants and private helpers it reads, its closure and its defaults."""
    return _fingerprint(func, set())


def _fingerprint(func: Callable[..., Any], seen: set[int]) -> str:
    if id(func) in seen:  # recursion, or a helper reached twice: its code is in the fingerprint already
        return f"<{func.__qualname__}>"
    seen.add(id(func))
    text = _syntax_fingerprint(func) + _globals_fingerprint(func, seen)
    extras = []
    if func.__closure__:
        cells = []
        for name, cell in zip(func.__code__.co_freevars, func.__closure__, strict=True):
            try:
                content = cell.cell_contents
            except ValueError:  # not assigned yet
                cells.append(f"{name}:<unset>")
                continue
            cells.append(f"{name}={_value(func, f'closure variable {name!r}', content, seen)}")
        extras.append("closure:" + ",".join(cells))
    if func.__defaults__ or func.__kwdefaults__:
        defaults = (func.__defaults__, func.__kwdefaults__)
        extras.append("defaults:" + _value(func, "a default argument", defaults, seen))
    wrapped = getattr(func, "__wrapped__", None)
    if wrapped is not None:  # functools.wraps: the wrapper is what runs; it calls (or not) the wrapped function
        extras.append("wraps:" + _value(func, "the wrapped function", wrapped, seen))
    return "|".join([text, *extras]) if extras else text


def _syntax_fingerprint(func: Callable[..., Any]) -> str:
    """The function's syntax tree without docstring, decorators or formatting, so comments and layout don't count."""
    try:
        tree = definition(func)
    except UnverifiedSource:
        # No source that is certainly this code (a REPL, a lambda, a file changed since import): its bytecode
        # changes exactly when the code does.
        return repr(code_shape(func.__code__))
    tree.decorator_list = []
    body = tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        tree.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def _globals_fingerprint(func: Callable[..., Any], seen: set[int]) -> str:
    """Constants and private helpers the function reads from its module: changing them changes its results."""
    parts = []
    for name in sorted(set(func.__code__.co_names)):
        value = func.__globals__.get(name)
        if isinstance(value, frozenset):  # by content: a frozenset's repr follows its (per-process) hash order
            parts.append(f"{name}={_value(func, f'global {name!r}', value, seen)}")
        elif isinstance(value, int | float | str | bytes | tuple | type(None)):
            parts.append(f"{name}={value!r}")
        elif inspect.isfunction(value) and (name.startswith("_") or is_excluded(value)) and value is not func:
            parts.append(f"{name}:{_fingerprint(value, seen)}")
    return "|".join(parts)


def _value(func: Callable[..., Any], what: str, value: Any, seen: set[int]) -> str:
    """A stable text for a captured value: plain data by value, functions by their code, other objects pickled."""
    kind = type(value)
    if kind in _SIMPLE:
        return f"{kind.__name__}:{value!r}"
    if kind in (tuple, list):
        return f"{kind.__name__}({','.join(_value(func, what, v, seen) for v in value)})"
    if kind in (set, frozenset):
        return f"{kind.__name__}({','.join(sorted(_value(func, what, v, seen) for v in value))})"
    if kind is dict:
        items = sorted(f"{_value(func, what, k, seen)}:{_value(func, what, v, seen)}" for k, v in value.items())
        return f"dict({','.join(items)})"
    if inspect.isfunction(value):
        return f"function({_fingerprint(value, seen)})"
    if isinstance(value, functools.partial):
        return f"partial({_value(func, what, (value.func, value.args, value.keywords), seen)})"
    if isinstance(value, ModuleType):
        return f"module:{value.__name__}"
    if inspect.isclass(value) or inspect.isbuiltin(value):
        return f"{kind.__name__}:{value.__module__}.{value.__qualname__}"
    try:
        return f"{kind.__module__}.{kind.__qualname__}:{hashlib.sha256(pickle.dumps(value, 4)).hexdigest()}"
    except Exception:  # pickling raises anything from TypeError to errors of the object's own __reduce__
        raise Unfingerprintable(func, f"{what} holds a {kind.__module__}.{kind.__qualname__}, which fdag can "
                                "neither read as plain data nor pickle") from None


def declaration_fingerprint(node: Node) -> str:
    """What the decorator arguments contribute: a window's aggregation, length, bounds and default, a lookup's
    lag, max age and default, and the source's schema; the constants a parameterization or the config binds, the
    field an extracted node is, and the conditions and config that chose a variant."""
    extra = ""
    if node.arguments:
        extra += repr([(a.param, a.source, _value(node.function, "a bound value", a.value, set()))
                       for a in node.arguments])
    if node.extracted is not None:
        spec = node.extracted
        extra += repr(("field", spec.field, [(f, str(t)) for f, t in spec.fields]))
    if node.variant is not None:
        extra += repr(("variant", node.variant.function, node.variant.conditions, node.variant.config))
    return _source_fingerprint(node) + extra


def _source_fingerprint(node: Node) -> str:
    source = node.source
    if source is None:
        return ""
    if node.window is not None:
        spec = node.window
        # The trailing None held a lag when lookups were windows: kept, so window versions stay as they were.
        arguments: tuple[object, ...] = (spec.agg, spec.over, spec.closed, spec.default, None)
    else:
        assert node.lookup is not None
        arguments = ("lookup", node.lookup.lag, node.lookup.max_age, node.lookup.default)
    schema = sorted((column, str(ftype)) for column, ftype in source.schema.items())
    return repr((*arguments, source.name, source.key, source.timestamp, source.id, schema, str(node.returns)))


def compute_versions(order: list[str], nodes: Mapping[str, Node]) -> dict[str, str]:
    """Versions of every node in topological ``order``; request inputs have no version of their own.

    A function that captured a value fdag cannot fingerprint is a ``DagError``: its version could not change
    when that value does, and drivers would share state (RedisStore) and outputs (backfills) across it.
    """
    versions: dict[str, str] = {}
    problems = []
    for name in order:
        node = nodes[name]
        try:
            code = code_fingerprint(node.function)
        except Unfingerprintable as exc:
            problems.append(Problem(name, node.location, f"cannot be versioned: {exc.what}",
                                    "capture plain values (numbers, strings, tuples, dicts), functions or "
                                    "picklable objects, or read the value as a request input"))
            continue
        digest = hashlib.sha256()
        for part in (name, code, declaration_fingerprint(node), str(node.returns)):
            digest.update(part.encode())
            digest.update(b"\0")
        for param, ftype in node.params.items():
            digest.update(f"{param}:{ftype}={versions.get(param, 'input')}\0".encode())
        versions[name] = digest.hexdigest()[:12]
    if problems:
        raise DagError(problems)
    return versions

"""Node versions: a short hash of normalised code, decorator arguments and upstream versions (DESIGN §3)."""

from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap
from collections.abc import Callable, Mapping
from typing import Any

from fdag._dag.node import Node


def code_fingerprint(func: Callable[..., Any]) -> str:
    """The function's code and the module constants and private helpers it reads."""
    return _syntax_fingerprint(func) + _globals_fingerprint(func)


def _syntax_fingerprint(func: Callable[..., Any]) -> str:
    """The function's syntax tree without docstring, decorators or formatting, so comments and layout don't count."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        # No source (e.g. defined in a REPL): the bytecode still changes exactly when the code does.
        code = func.__code__
        return repr((code.co_code, code.co_consts, code.co_names, code.co_varnames))
    definition = tree.body[0]
    if isinstance(definition, ast.FunctionDef | ast.AsyncFunctionDef):
        definition.decorator_list = []
        body = definition.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            definition.body = body[1:] or [ast.Pass()]
    return ast.dump(definition, include_attributes=False)


def _globals_fingerprint(func: Callable[..., Any]) -> str:
    """Constants and private helpers the function reads from its module: changing them changes its results."""
    parts = []
    for name in sorted(set(func.__code__.co_names)):
        value = func.__globals__.get(name)
        if isinstance(value, int | float | str | bytes | tuple | frozenset | type(None)):
            parts.append(f"{name}={value!r}")
        elif inspect.isfunction(value) and name.startswith("_") and value is not func:
            parts.append(f"{name}:{_syntax_fingerprint(value)}")
    return "|".join(parts)


def declaration_fingerprint(node: Node) -> str:
    """What the decorator arguments contribute: a window's aggregation, length, bounds and default, a lookup's
    lag, max age and default, and the source's schema."""
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
    """Versions of every node in topological ``order``; request inputs have no version of their own."""
    versions: dict[str, str] = {}
    for name in order:
        node = nodes[name]
        digest = hashlib.sha256()
        for part in (name, code_fingerprint(node.function), declaration_fingerprint(node), str(node.returns)):
            digest.update(part.encode())
            digest.update(b"\0")
        for param, ftype in node.params.items():
            digest.update(f"{param}:{ftype}={versions.get(param, 'input')}\0".encode())
        versions[name] = digest.hexdigest()[:12]
    return versions

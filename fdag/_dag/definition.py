"""A function's ``def`` as source, verified to be the code that actually runs.

The vectorized translator and node versions read a function's source text, but the text is not always what
runs: the file may have changed since the module was imported, and ``inspect.getsource`` follows
``functools.wraps``' ``__wrapped__`` to the wrapped function's source rather than the wrapper's. Reading the
source of the function's own code object, and checking that it compiles to that very code, rules out both.
"""

from __future__ import annotations
import __future__

import ast
import functools
import inspect
import linecache
import textwrap
from collections.abc import Callable
from types import CodeType
from typing import Any

# The ``from __future__`` flags a code object records, passed on so that the source compiles the same way.
_FUTURE_FLAGS = functools.reduce(
    int.__or__, (getattr(__future__, name).compiler_flag for name in __future__.all_feature_names)
)


class UnverifiedSource(ValueError):
    """The source of a function is unavailable or is not the code that runs; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def definition(func: Callable[..., Any]) -> ast.FunctionDef:
    """The parsed ``def`` of ``func``'s own code, or ``UnverifiedSource`` saying why there is none to trust."""
    code = getattr(func, "__code__", None)
    if not inspect.isfunction(func) or not isinstance(code, CodeType):
        raise UnverifiedSource("not a plain function")
    if code.co_name == "<lambda>":
        raise UnverifiedSource("lambda")
    try:
        text = textwrap.dedent(inspect.getsource(code))  # the code's own lines: no __wrapped__
        tree = ast.parse(text)
    except (OSError, TypeError, SyntaxError) as exc:
        raise UnverifiedSource(f"source code unavailable ({exc})") from None
    node = tree.body[0] if tree.body else None
    if isinstance(node, ast.AsyncFunctionDef) and node.name == code.co_name:
        raise UnverifiedSource("async function")
    if not isinstance(node, ast.FunctionDef) or node.name != code.co_name or not _compiles_to(text, code):
        raise UnverifiedSource("the source file differs from the loaded code (it changed after the module was "
                               "imported)")
    return node


def code_shape(code: CodeType) -> tuple[Any, ...]:
    """What a code object computes, without line numbers: equal shapes mean the same behaviour.

    Constants are compared by type and ``repr`` (``0.0 == -0.0`` and ``1 == True``, but they compute differently),
    frozensets whatever their iteration order, nested code objects (inner functions, comprehensions) by shape.
    """
    consts = tuple(_constant(c) for c in code.co_consts)
    return (code.co_name, code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars,
            code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount)


def _constant(value: Any) -> Any:
    if isinstance(value, CodeType):
        return code_shape(value)
    if type(value) is tuple:
        return "tuple", tuple(_constant(v) for v in value)
    if type(value) is frozenset:
        return "frozenset", tuple(sorted(repr(_constant(v)) for v in value))
    return type(value).__name__, repr(value)


def _compiles_to(text: str, code: CodeType) -> bool:
    """Whether the ``def`` in ``text`` compiles to ``code``: same bytecode, constants and names, line numbers aside."""
    filename = code.co_filename
    compiled = _compiled_shape(text, code.co_name, code.co_freevars, code.co_flags & _FUTURE_FLAGS, filename,
                               _imported_names(filename))
    return compiled == code_shape(code)


@functools.lru_cache(maxsize=1024)  # both the translator and versions check every function of a DAG
def _compiled_shape(text: str, name: str, freevars: tuple[str, ...], flags: int, filename: str,
                    imports: frozenset[str]) -> tuple[Any, ...] | None:
    """The shape of the function ``name`` that the ``def`` in ``text`` compiles to, in its module's context."""
    statement = ast.parse(text).body[0]
    if freevars:
        # A closure's free names are local to the function defining it: compile it inside one that defines them.
        enclosing = ast.parse(f"def _enclosing():\n    {' = '.join(freevars)} = None").body[0]
        assert isinstance(enclosing, ast.FunctionDef)
        enclosing.body.append(statement)
        statement = enclosing
    # CPython compiles ``name.attr(...)`` differently when ``name`` is bound by a module-level import
    # (``import math`` gives LOAD_ATTR, not LOAD_METHOD): give the snippet the same imports as its file.
    preamble: list[ast.stmt] = [ast.Import([ast.alias(imported)]) for imported in sorted(imports)]
    module = ast.fix_missing_locations(ast.Module([*preamble, statement], []))
    try:
        compiled = compile(module, filename, "exec", flags=flags, dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    found = _find(compiled, name, freevars)
    return None if found is None else code_shape(found)


def _imported_names(filename: str) -> frozenset[str]:
    """The names the module-level statements of ``filename`` (as it is now) bind by ``import``."""
    return _imports_in("".join(linecache.getlines(filename)))


@functools.lru_cache(maxsize=32)
def _imports_in(text: str) -> frozenset[str]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return frozenset()
    names: set[str] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:  # module level includes the bodies of if/try/with/for at module level, not of defs
        statement = pending.pop()
        if isinstance(statement, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in statement.names if a.name != "*")
        elif not isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(statement, field, ()):
                    pending.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])
    return frozenset(names)


def _find(code: CodeType, name: str, freevars: tuple[str, ...]) -> CodeType | None:
    """The code object of the function ``name`` compiled within ``code``."""
    for const in code.co_consts:
        if isinstance(const, CodeType):
            if const.co_name == name and const.co_freevars == freevars:
                return const
            inner = _find(const, name, freevars)
            if inner is not None:
                return inner
    return None

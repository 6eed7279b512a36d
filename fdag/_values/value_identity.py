"""When two per-event functions compute the same value for every event, so that one value column can serve both.

Decided on the compiled code, never on names: two functions are the same value when their bytecode, constants
(by type and bits: ``1``, ``True`` and ``1.0`` differ, so do ``0.0`` and ``-0.0``), local names and flags are
identical once what cannot change a result is set aside — the function's name, file and line numbers, and a
docstring no instruction reads — and they read the same source columns with the same declared types and return
the same type.

Only functions whose result can depend on nothing but their arguments qualify: no global, builtin, attribute or
module name (``co_names`` empty: a global may be rebound, an attribute call may have effects), no closure,
defaults, nested functions, classes or generators, and every argument and the result an immutable scalar, so
calling one function once instead of each once per event cannot be told apart (not even by a mutated argument or
a shared mutable result). Anything else gets ``None``: it is computed on its own, as before.
"""

from __future__ import annotations

import dis
import inspect
import marshal
import types
from collections.abc import Callable, Hashable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from fdag._values.types import FType

_IMMUTABLE = (int, float, bool, str, datetime, date, timedelta)
_SUSPENDS = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE | inspect.CO_ASYNC_GENERATOR
_MARSHAL_VERSION = 2  # binary floats, no back-references: the bytes depend on the code alone, not on refcounts


def value_identity(function: Callable[..., Any], params: Mapping[str, FType], returns: FType) -> Hashable | None:
    """A key equal for functions that give the same value for every event (see the module docstring), or None
    when ``function`` cannot be proven equal to any other.

    ``params`` are the source columns the function reads (in call order) with their declared types, ``returns``
    its declared return type: both are part of the value (they decide the null rule and the coercion).
    """
    if type(function) is not types.FunctionType:
        return None
    code = function.__code__
    if function.__defaults__ or function.__kwdefaults__ or function.__closure__:
        return None
    if code.co_names or code.co_freevars or code.co_cellvars or code.co_flags & _SUSPENDS:
        return None
    if any(isinstance(constant, types.CodeType) for constant in code.co_consts):
        return None
    if not all(_immutable(ftype) for ftype in (*params.values(), returns)):
        return None
    consts = code.co_consts
    if consts and function.__doc__ is not None and consts[0] is function.__doc__ and not _reads_constant(code, 0):
        consts = (None, *consts[1:])  # the docstring: never loaded, it cannot change a result
    # what no instruction reads (names, file, line numbers) cleared before comparing
    bare = code.replace(co_consts=consts, co_name="", co_qualname="", co_filename="", co_firstlineno=1,
                        co_linetable=b"")
    return marshal.dumps(bare, _MARSHAL_VERSION), tuple(params.items()), returns


def _immutable(ftype: FType) -> bool:
    """Whether values of ``ftype`` are immutable scalars (a list argument could be mutated by a call)."""
    return ftype.item is None and ftype.base in _IMMUTABLE


def _reads_constant(code: types.CodeType, position: int) -> bool:
    """Whether an instruction of ``code`` reads ``co_consts[position]``."""
    return any(instruction.opcode in dis.hasconst and instruction.arg == position
               for instruction in dis.get_instructions(code))

"""Translate a scalar feature function into one Polars expression with Python's exact semantics, or refuse.

The translation is the function's value plus the conditions under which Python would have raised. Anything
without an exact translation raises ``NotTranslatable`` with a short reason; the engine then evaluates the
function row by row instead, so refusing is always safe while a wrong translation never is.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import polars as pl

from fdag._dag.definition import UnverifiedSource, definition
from fdag._dag.specs import Argument
from fdag._declare.exclude import is_excluded
from fdag._frame.translate.body import Body, Path, check_weight
from fdag._frame.translate.patches import PATCHED, Patches
from fdag._frame.translate.value import INT64, Error, Scope, Val, constant, finite, merge, refuse
from fdag._values.calls import INT64_OVERFLOW
from fdag._values.fields import missing_field
from fdag._values.types import FType
from fdag.errors import NotTranslatable

__all__ = ["FieldsTranslation", "Read", "Translation", "translate", "translate_fields", "with_lets"]

_BUILTINS = ("abs", "max", "min", "round", "int", "float", "bool", "len", "str")
_CONSTANT_TYPES = (int, float, bool, str, type(None))
_KINDS = {int: "int", float: "float", bool: "bool", str: "str", list: "list"}


_UNBOUND = object()
FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


@dataclass(frozen=True)
class Read:
    """A name the translation looked up outside the function (module constant, closure value, builtin) and built
    into the expression: the value it had then, and how to look it up again."""

    name: str
    value: Any
    function: Callable[..., Any] = field(repr=False, compare=False)

    def changed(self) -> str | None:
        """What the name is now, when it no longer has the value the translation used; else None."""
        now = _lookup(self.function, self.name)
        if now is _UNBOUND:
            return "no longer defined"
        return None if _identity(now) == _identity(self.value) else f"now {now!r}"


def _identity(value: Any) -> Any:
    """Constants by type and text (``0.0`` is not ``-0.0``, ``1`` is not ``True``); other objects by identity."""
    kind = type(value)
    if kind in _CONSTANT_TYPES:
        return kind, repr(value)
    if kind in (tuple, frozenset):
        return kind, kind(_identity(v) for v in value)
    return "object", id(value)


@dataclass(frozen=True)
class Translation:
    """A feature as Polars: its value, the ``(condition, exception type, message)`` rows where Python raises,
    the outside names it read (the translation is only valid while they keep their values), the shared
    sub-expressions both read, to add to the frame first (``with_lets``), and, for an optimistic translation,
    the rows where its value may not be Python's (``assumption``: the value is exact if it holds on no row)."""

    value: pl.Expr
    errors: tuple[tuple[pl.Expr, str, str], ...]
    reads: tuple[Read, ...] = ()
    lets: tuple[tuple[pl.Expr, ...], ...] = ()
    assumption: pl.Expr | None = None


@dataclass(frozen=True)
class FieldsTranslation:
    """An ``@fdag.extract_fields`` function as Polars: each field's value and the rows where that field is in
    error, the rows where the function itself raises, the outside names it read, and the shared
    sub-expressions, to add to the frame first (``with_lets``)."""

    values: Mapping[str, pl.Expr]
    field_errors: Mapping[str, tuple[tuple[pl.Expr, str, str], ...]]
    errors: tuple[tuple[pl.Expr, str, str], ...]
    reads: tuple[Read, ...] = ()
    lets: tuple[tuple[pl.Expr, ...], ...] = ()


def with_lets(frame: FrameT, lets: Sequence[Sequence[pl.Expr]]) -> FrameT:
    """``frame`` (eager or lazy) with the shared sub-expressions of a translation, level by level."""
    for stage in lets:
        frame = frame.with_columns(stage)
    return frame


def translate(func: Callable[..., Any], params: Mapping[str, FType], returns: FType,
              arguments: Sequence[Argument] = (), optimistic: bool = False) -> Translation:
    """Translate ``func`` or raise ``NotTranslatable`` saying why.

    ``params`` are the columns it reads with their types; ``arguments`` says what each parameter receives (a
    column or a bound constant), by default the column named like it. ``optimistic`` leaves out the patches
    of fast expressions (see ``Patches``) and returns where they would have applied as the ``assumption``.
    """
    patches = Patches(optimistic)
    body, returns_, reads = _run(func, params, arguments, patches)
    if returns.base is not int and _wide_ints(body.errors):
        raise refuse("a float converted to int that may exceed int64, where the result is not that int")
    expr = _result(_merge_returns(returns_), returns, body.errors)
    errors = tuple((cond.fill_null(False), kind, message) for cond, kind, message in body.errors)
    return Translation(expr, errors, tuple(reads), body.lets.stages(), patches.assumption())


def translate_fields(func: Callable[..., Any], group: str, params: Mapping[str, FType],
                     fields: Sequence[tuple[str, FType]], arguments: Sequence[Argument] = ()) -> FieldsTranslation:
    """Translate an extract_fields function whose returns are dict literals (or None); a return without a field
    is that field's error on its rows."""
    body, returns_, reads = _run(func, params, arguments)
    if _wide_ints(body.errors):
        # The translation stands for a float-to-int beyond 120 bits by int64's overflow error, right only when the
        # int is what is returned; here it would null every field where Python errs (if at all) in one field.
        raise refuse("a float converted to int that may exceed int64, in a function of several fields")
    values: dict[str, pl.Expr] = {}
    field_errors: dict[str, tuple[tuple[pl.Expr, str, str], ...]] = {}
    for name, ftype in fields:
        per_return = []
        errors: list[Error] = []
        for live, value in returns_:
            if value.kind == "none":
                per_return.append((live, value))
            elif value.kind != "dict":
                raise refuse(f"a return gives a {value.kind}, not a dict of fields")
            elif name in value.const:
                per_return.append((live, value.const[name]))
            else:
                missing = missing_field(group, name)
                errors.append((pl.lit(True) if live is None else live, type(missing).__name__, str(missing)))
                per_return.append((live, constant(None)))
        values[name] = _result(_merge_returns(per_return), ftype, errors)
        field_errors[name] = tuple((cond.fill_null(False), kind, message) for cond, kind, message in errors)
    errors_ = tuple((cond.fill_null(False), kind, message) for cond, kind, message in body.errors)
    return FieldsTranslation(values, field_errors, errors_, tuple(reads), body.lets.stages())


def _wide_ints(errors: Sequence[Error]) -> bool:
    """Whether the body converts a float to an int that may exceed int64: the translation stands for such values
    by int64's overflow error, which is Python's outcome only when that int is what the feature returns."""
    return any(message == INT64_OVERFLOW for _, _, message in errors)


def _run(func: Callable[..., Any], params: Mapping[str, FType], arguments: Sequence[Argument],
         patches: Patches = PATCHED) -> tuple[Body, list[tuple[pl.Expr | None, Val]], list[Read]]:
    """Run ``func``'s body symbolically: the body (with its errors), its returns and the outside names read."""
    definition = _definition(func)
    names = [a.arg for a in (*definition.args.posonlyargs, *definition.args.args)]
    given = list(arguments) or [Argument(name, name) for name in params]
    if [a.param for a in given] != names:
        raise refuse(f"parameters {names} do not match the columns {[a.param for a in given]}")
    env = {a.param: _param(a.source, params[a.source]) if a.source is not None else _bound(a.param, a.value)
           for a in given}
    reads: list[Read] = []
    body = Body(_resolver(func, _assigned(definition) - set(names), reads), patches)
    end = body.block(definition.body, Path(None, env))
    returns_ = list(body.returns)
    if end is not None:
        returns_.append((end.live, constant(None)))
    return body, returns_, reads


def _merge_returns(returns_: list[tuple[pl.Expr | None, Val]]) -> Val:
    """One value from the returns of disjoint paths: each return's rows pick its value."""
    result = returns_[-1][1]
    size = result.weight
    for live, value in reversed(returns_[:-1]):
        # paths are disjoint, so each return's rows pick its value; rows that raised are nulled by the engine
        result = merge(pl.lit(True) if live is None else live, value, result)
        size = check_weight(size + value.weight)
    return result


def _bound(param: str, value: Any) -> Val:
    """A parameter bound to a constant (``fdag.value`` or the config)."""
    if type(value) not in _CONSTANT_TYPES:
        raise refuse(f"parameter '{param}' is bound to a {type(value).__name__} constant (not translated)")
    return constant(value)


_MAX_INLINE_DEPTH = 8


def _inliner(helper: Callable[..., Any], reads: list[Read], depth: int) -> Callable[[list[Val], Scope], Val]:
    """A call of a pure helper (``_private`` or ``@fdag.exclude``) translated by running its body on the
    arguments: its errors are the caller's, on the rows that reach the call."""

    def inline(args: list[Val], scope: Scope) -> Val:
        if depth >= _MAX_INLINE_DEPTH:
            raise refuse(f"helper calls nested more than {_MAX_INLINE_DEPTH} deep (recursion?)")
        try:
            definition = _definition(helper)
        except NotTranslatable as exc:
            raise refuse(f"calls '{helper.__name__}', which is {exc.reason}") from None
        if helper.__defaults__ or helper.__closure__:  # type: ignore[attr-defined]
            raise refuse(f"calls '{helper.__name__}', which has default arguments or a closure (not inlined)")
        names = [a.arg for a in (*definition.args.posonlyargs, *definition.args.args)]
        if len(args) != len(names):
            raise refuse(f"calls '{helper.__name__}' with {len(args)} arguments for {len(names)} parameters")
        body = Body(_resolver(helper, _assigned(definition) - set(names), reads, depth + 1), scope.patches)
        before = len(scope.errors)
        body.errors, body.lets = scope.errors, scope.lets
        try:
            end = body.block(definition.body, Path(scope.guard, dict(zip(names, args, strict=True))))
        except NotTranslatable as exc:
            raise refuse(f"in helper '{helper.__name__}': {exc.reason}") from None
        if _wide_ints(scope.errors[before:]):
            raise refuse(f"in helper '{helper.__name__}': a float converted to int that may exceed int64")
        returns_ = list(body.returns)
        if end is not None:
            returns_.append((end.live, constant(None)))
        return _merge_returns(returns_)

    return inline


def _definition(func: Callable[..., Any]) -> ast.FunctionDef:
    """The function's ``def``, only when it is certainly the code the row engine calls."""
    if hasattr(func, "__wrapped__"):
        raise refuse("wrapped by a decorator (functools.wraps): the wrapper's behaviour cannot be translated")
    try:
        node = definition(func)
    except UnverifiedSource as exc:
        raise refuse(exc.reason) from None
    args = node.args
    if args.vararg or args.kwarg or args.kwonlyargs:
        raise refuse("*args, **kwargs or keyword-only parameters")
    return node


def _assigned(definition: ast.FunctionDef) -> set[str]:
    """Names the function assigns anywhere: Python treats them as local from the start."""
    found: set[str] = set()
    for node in ast.walk(definition):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
    return found


def _param(name: str, ftype: FType) -> Val:
    col = pl.col(name)
    kind = _KINDS.get(ftype.base, ftype.base.__name__)
    if ftype.base is int:
        return Val("int", col, ftype.optional, *INT64)
    if ftype.base is bool:
        return Val("bool", col, ftype.optional, 0, 1)
    return Val(kind, col, ftype.optional, item=ftype.item)


def _resolver(func: Callable[..., Any], locals_: set[str], reads: list[Read], depth: int = 0
              ) -> Callable[[str], Val]:
    """Looks up a name the function reads from outside (closure, module, builtins), recording it in ``reads``."""

    def resolve(name: str) -> Val:
        if name in locals_:
            raise refuse(f"'{name}' may be used before it is assigned")
        value = _lookup(func, name)
        if value is _UNBOUND:
            closure = name in func.__code__.co_freevars  # type: ignore[attr-defined]
            raise refuse(f"closure variable '{name}' is not set" if closure else f"unknown name '{name}'")
        reads.append(Read(name, value, func))
        if inspect.isfunction(value) and (name.startswith("_") or is_excluded(value)) \
                and value.__module__ == func.__module__:
            return Val("function", pl.lit(None), const=("inline", _inliner(value, reads, depth)))
        return _from_python(value)

    return resolve


def _lookup(func: Callable[..., Any], name: str) -> Any:
    """What ``name`` means in ``func`` now: its closure cell, else its module's global, else a builtin."""
    code = func.__code__  # type: ignore[attr-defined]
    if name in code.co_freevars:
        cells: tuple[Any, ...] = func.__closure__ or ()  # type: ignore[attr-defined]
        cell = cells[code.co_freevars.index(name)]
        try:
            return cell.cell_contents
        except ValueError:
            return _UNBOUND
    namespace: dict[str, Any] = func.__globals__  # type: ignore[attr-defined]
    if name in namespace:
        return namespace[name]
    builtin_names = namespace.get("__builtins__", builtins)
    builtin_names = vars(builtin_names) if inspect.ismodule(builtin_names) else builtin_names
    return builtin_names.get(name, _UNBOUND)


def _from_python(value: Any) -> Val:
    """A global or closure value: a constant, the math module, a known function, or opaque."""
    if value is math:
        return Val("module", pl.lit(None), const=math)
    if type(value) in _CONSTANT_TYPES:
        return constant(value)
    if type(value) in (tuple, frozenset) and all(type(v) in _CONSTANT_TYPES for v in value):
        if any(v != v for v in value):
            raise refuse("a constant collection holding NaN")
        return Val("tuple", pl.lit(None), const=tuple(value))
    for name in _BUILTINS:
        if getattr(builtins, name) is value:
            return Val("function", pl.lit(None), const=("builtin", name))
    function_name = getattr(value, "__name__", None)
    if isinstance(function_name, str) and getattr(math, function_name, None) is value:
        return Val("function", pl.lit(None), const=("math", function_name))
    return Val("opaque", pl.lit(None), const=value)


def _result(value: Val, returns: FType, errors: list[Error]) -> pl.Expr:
    """The returned value as the declared dtype; refuse what the row engine would reject on every row."""
    dtype = returns.polars
    if value.kind == "none":
        return pl.lit(None, dtype)
    base = returns.base
    kind = value.kind
    if base is float and kind in ("float", "int", "num"):
        return value.expr.cast(pl.Float64)
    if base is int and kind == "int":
        if INT64[0] <= value.lo and value.hi <= INT64[1]:
            return value.expr.cast(pl.Int64)
        if value.rounded is not None:
            # a float rounded to an int and returned as is: range-check and convert the float, not an Int128
            fits = (value.rounded >= -(2.0**63)) & (value.rounded < 2.0**63)  # false for NaN and infinities
            errors.append(((~fits & finite(value.rounded)).fill_null(False), "OverflowError", INT64_OVERFLOW))
            return pl.when(fits).then(value.rounded).otherwise(None).cast(pl.Int64)
        outside = (value.expr < INT64[0]) | (value.expr > INT64[1])
        errors.append((outside.fill_null(False), "OverflowError", INT64_OVERFLOW))
        return pl.when(outside).then(None).otherwise(value.expr).cast(pl.Int64)
    if base is list and kind == "list" and value.item == returns.item:
        return value.expr
    if base is not list and kind == _KINDS.get(base, base.__name__):
        return value.expr
    described = "an int or a float (depending on the row)" if kind == "num" else f"a {kind}"
    raise NotTranslatable(f"returns {described} where '{returns}' is declared")

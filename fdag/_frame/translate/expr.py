"""Python expressions to ``Val``s: one handler per AST node type, refusing every node type not listed.

Sub-expressions that Python may skip (the right side of ``and``/``or``, the branches of ``x if c else y``, the
rest of a chained comparison) are evaluated under a narrower guard, so their errors count only where reached.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import polars as pl

from fdag._frame.translate.arith import binop, unary
from fdag._frame.translate.calls import MATH_CONSTANTS, call_builtin, call_math
from fdag._frame.translate.compare import compare
from fdag._frame.translate.methods import attribute, method_call
from fdag._frame.translate.value import Scope, Val, constant, merge, refuse, truth

_BINOPS: dict[type, str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
}
_UNARY: dict[type, str] = {ast.USub: "-", ast.UAdd: "+", ast.Invert: "~"}
_COMPARE: dict[type, str] = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Is: "is",
    ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
}
_REFUSED: dict[type, str] = {
    ast.JoinedStr: "f-string formatting", ast.Lambda: "lambda", ast.ListComp: "comprehension",
    ast.SetComp: "comprehension", ast.DictComp: "comprehension", ast.GeneratorExp: "generator expression",
    ast.NamedExpr: "assignment expression (:=)", ast.Starred: "starred expression", ast.Subscript: "subscript",
    ast.Dict: "dict literal", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
}


def evaluate(node: ast.expr, scope: Scope) -> Val:
    """The translation of one Python expression."""
    handler = _HANDLERS.get(type(node))
    if handler is None:
        raise refuse(_REFUSED.get(type(node), f"expression '{ast.unparse(node)}'"))
    return handler(node, scope)


def condition(node: ast.expr, scope: Scope) -> pl.Expr:
    """``bool(<node>)`` as a non-null Boolean, without building the value of ``and``/``or`` chains."""
    if isinstance(node, ast.BoolOp):
        is_and = isinstance(node.op, ast.And)
        result = condition(node.values[0], scope)
        for i, item in enumerate(node.values[1:], 1):
            reached = result if is_and else ~result
            known = set().union(*(not_none(v, is_and) for v in node.values[:i]))
            nxt = condition(item, scope.under(reached).narrow(known))
            result = (result & nxt) if is_and else (result | nxt)
        return result
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return ~condition(node.operand, scope)
    return truth(_value(evaluate(node, scope), node))


def not_none(node: ast.expr, outcome: bool) -> set[str]:
    """Local names that cannot be None where ``bool(<node>)`` is ``outcome`` (``x is not None``, ``x``, ...)."""
    if isinstance(node, ast.Name):
        return {node.id} if outcome else set()
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not_none(node.operand, not outcome)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.left, ast.Name):
        right = node.comparators[0]
        if isinstance(right, ast.Constant) and right.value is None and isinstance(node.ops[0], ast.Is | ast.IsNot):
            return {node.left.id} if isinstance(node.ops[0], ast.IsNot) == outcome else set()
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And) == outcome:
        return set().union(*(not_none(v, outcome) for v in node.values))
    return set()


def _value(v: Val, node: ast.expr) -> Val:
    if v.kind in ("module", "function", "opaque", "tuple", "dict"):
        raise refuse(f"'{ast.unparse(node)}' used as a value")
    return v


def _constant(node: ast.Constant, scope: Scope) -> Val:
    return constant(node.value)


def _name(node: ast.Name, scope: Scope) -> Val:
    if node.id in scope.env:
        value = scope.env[node.id]
        if value.kind == "unbound":
            raise refuse(value.const)
        return value
    return scope.resolve(node.id)


def _binop(node: ast.BinOp, scope: Scope) -> Val:
    op = _BINOPS.get(type(node.op))
    if op is None:
        raise refuse(f"operator '{ast.unparse(node)}'")
    left = _value(evaluate(node.left, scope), node.left)
    right = _value(evaluate(node.right, scope), node.right)
    return binop(op, left, right, scope)


def _unaryop(node: ast.UnaryOp, scope: Scope) -> Val:
    if isinstance(node.op, ast.Not):
        return Val("bool", ~condition(node.operand, scope))
    return unary(_UNARY[type(node.op)], _value(evaluate(node.operand, scope), node.operand), scope)


def _boolop(node: ast.BoolOp, scope: Scope) -> Val:
    is_and = isinstance(node.op, ast.And)
    items = [_value(evaluate(node.values[0], scope), node.values[0])]
    tests = [truth(items[0])]
    for i, item in enumerate(node.values[1:], 1):
        # Python evaluates the next operand only while the previous ones are truthy (and) or falsy (or)
        reached = pl.lit(True)
        for t in tests:
            reached = reached & (t if is_and else ~t)
        known = set().union(*(not_none(v, is_and) for v in node.values[:i]))
        value = _value(evaluate(item, scope.under(reached).narrow(known)), item)
        items.append(value)
        tests.append(truth(value))
    result = items[-1]
    for value, test in zip(reversed(items[:-1]), reversed(tests[:-1]), strict=True):
        # `a and rest` is `rest` when a is truthy, else a; `a or rest` is a when a is truthy, else rest
        result = merge(test, result, value) if is_and else merge(test, replace(value, nullable=False), result)
    return result


def _compare(node: ast.Compare, scope: Scope) -> Val:
    left = _value(evaluate(node.left, scope), node.left)
    result: pl.Expr | None = None
    current = scope
    for op_node, right_node in zip(node.ops, node.comparators, strict=True):
        op = _COMPARE[type(op_node)]
        right = evaluate(right_node, current)
        if not (op in ("in", "not in") and right.kind == "tuple"):
            right = _value(right, right_node)
        step = compare(op, left, right, current)
        result = step if result is None else result & step
        current = scope.under(result)
        left = right
    assert result is not None
    return Val("bool", result)


def _ifexp(node: ast.IfExp, scope: Scope) -> Val:
    test = condition(node.test, scope)
    yes = _value(evaluate(node.body, scope.under(test).narrow(not_none(node.test, True))), node.body)
    no = _value(evaluate(node.orelse, scope.under(~test).narrow(not_none(node.test, False))), node.orelse)
    return merge(test, yes, no)


def _collection(node: ast.Tuple | ast.List | ast.Set, scope: Scope) -> Val:
    items = []
    for item in node.elts:
        if not isinstance(item, ast.Constant) or type(item.value) not in (int, float, bool, str, type(None)):
            raise refuse("a tuple, list or set that is not made of constants (only 'x in (...)' is translated)")
        items.append(item.value)
    return Val("tuple", pl.lit(None), const=tuple(items))


def _dict(node: ast.Dict, scope: Scope) -> Val:
    """A dict literal with constant string keys: only returned, as the fields of an extract_fields function."""
    fields: dict[str, Val] = {}
    for key, item in zip(node.keys, node.values, strict=True):
        if not isinstance(key, ast.Constant) or type(key.value) is not str:
            raise refuse("a dict whose keys are not constant strings")
        fields[key.value] = _value(evaluate(item, scope), item)
    return Val("dict", pl.lit(None), const=fields)


def _attribute(node: ast.Attribute, scope: Scope) -> Val:
    obj = evaluate(node.value, scope)
    if obj.kind == "module":
        if node.attr in MATH_CONSTANTS:
            return constant(MATH_CONSTANTS[node.attr])
        return Val("function", pl.lit(None), const=("math", node.attr))
    if obj.kind in ("function", "opaque", "tuple", "dict"):
        raise refuse(f"attribute '{ast.unparse(node)}'")
    return attribute(obj, node.attr, scope)


def _call(node: ast.Call, scope: Scope) -> Val:
    if node.keywords:
        raise refuse(f"call with keyword arguments '{ast.unparse(node)}'")
    func = node.func
    if isinstance(func, ast.Attribute):
        obj = evaluate(func.value, scope)
        if obj.kind not in ("module", "function", "opaque", "tuple", "dict"):
            args = [_value(evaluate(a, scope), a) for a in node.args]
            return method_call(obj, func.attr, args, scope)
    target = evaluate(func, scope)
    if target.kind != "function":
        raise refuse(f"calls '{ast.unparse(func)}' (not a known pure function)")
    args = [_value(evaluate(a, scope), a) for a in node.args]
    family, name = target.const
    if family == "inline":
        inline: Any = name
        return inline(args, scope)
    return call_math(name, args, scope) if family == "math" else call_builtin(name, args, scope)


_HANDLERS: dict[type, Callable[..., Val]] = {
    ast.Constant: _constant, ast.Name: _name, ast.BinOp: _binop, ast.UnaryOp: _unaryop, ast.BoolOp: _boolop,
    ast.Compare: _compare, ast.IfExp: _ifexp, ast.Tuple: _collection, ast.List: _collection, ast.Set: _collection,
    ast.Attribute: _attribute, ast.Call: _call, ast.Dict: _dict,
}

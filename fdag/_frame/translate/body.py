"""Statements: the function body run symbolically, one path condition per point of the code.

``if`` splits the rows reaching it into two paths, each with its own copy of the local names; a ``return``
ends its path and records ``(rows, value)``; after an ``if`` the surviving paths are merged again.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable
from dataclasses import dataclass, replace

import polars as pl

from fdag._frame.translate.arith import binop
from fdag._frame.translate.expr import _BINOPS, condition, evaluate, not_none
from fdag._frame.translate.patches import PATCHED, Patches
from fdag._frame.translate.value import Error, Lets, Scope, Val, both, constant, merge, refuse
from fdag.errors import NotTranslatable

MAX_WEIGHT = 4000  # beyond this the expression tree (which Polars expands) makes planning slower than the row path

_REFUSED: dict[type, str] = {
    ast.For: "loop", ast.AsyncFor: "loop", ast.While: "loop", ast.Try: "try statement", ast.With: "with statement",
    ast.AsyncWith: "with statement", ast.FunctionDef: "nested function", ast.AsyncFunctionDef: "nested function",
    ast.ClassDef: "nested class", ast.Global: "global statement", ast.Nonlocal: "nonlocal statement",
    ast.Assert: "assert statement", ast.Delete: "del statement", ast.Import: "import", ast.ImportFrom: "import",
    ast.Match: "match statement",
}


@dataclass
class Path:
    """Rows that reach a point of the body (``None``: every row), the local names there, and the size of ``live``."""

    live: pl.Expr | None
    env: dict[str, Val]
    weight: int = 0


def weight(node: ast.AST, env: dict[str, Val]) -> int:
    """Estimated tree size of an expression's translation: its nodes plus the size of every local it reads."""
    total = 0
    for sub in ast.walk(node):
        total += 1
        if isinstance(sub, ast.Name) and sub.id in env:
            total += env[sub.id].weight
    return check_weight(total)


def check_weight(total: int) -> int:
    """``total``, or a refusal when the translation would be too large to plan quickly."""
    if total > MAX_WEIGHT:
        raise refuse("the translation would be too large (e.g. many sequential ifs reassigning a variable)")
    return total


class Body:
    """Runs a function body symbolically, collecting its returns and its error conditions."""

    def __init__(self, resolve: Callable[[str], Val], patches: Patches = PATCHED) -> None:
        self.resolve = resolve
        self.errors: list[Error] = []
        self.lets = Lets()
        self.patches = patches
        self.returns: list[tuple[pl.Expr | None, Val]] = []

    def block(self, statements: list[ast.stmt], path: Path | None) -> Path | None:
        """Run ``statements`` from ``path``; ``None`` when every row has returned (later code is unreachable)."""
        for statement in statements:
            if path is None:
                break
            path = self.statement(statement, path)
        return path

    def statement(self, node: ast.stmt, path: Path) -> Path | None:
        """Run one statement."""
        handler = _HANDLERS.get(type(node))
        if handler is None:
            raise refuse(_REFUSED.get(type(node), f"statement '{ast.unparse(node).splitlines()[0]}'"))
        return handler(self, node, path)

    def scope(self, path: Path) -> Scope:
        """Where the expressions of a statement on ``path`` are evaluated."""
        return Scope(path.env, self.resolve, self.errors, path.live, self.lets, self.patches)

    def _return(self, node: ast.Return, path: Path) -> None:
        value = constant(None) if node.value is None else evaluate(node.value, self.scope(path))
        if value.kind in ("module", "function", "opaque", "tuple"):
            raise refuse(f"returns '{ast.unparse(node.value or node)}'")
        size = 1 if node.value is None else weight(node.value, path.env)
        self.returns.append((path.live, replace(value, weight=check_weight(size + path.weight))))
        return None

    def _assign(self, node: ast.Assign | ast.AnnAssign, path: Path) -> Path:
        if node.value is None:
            return path
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if len(targets) == 1 and isinstance(targets[0], ast.Tuple) and isinstance(node.value, ast.Tuple) \
                and len(targets[0].elts) == len(node.value.elts) and not any(
                    isinstance(e, ast.Starred) for e in (*targets[0].elts, *node.value.elts)):
            return self._unpack(targets[0], node.value, path)
        if not all(isinstance(t, ast.Name) for t in targets):
            raise refuse("assignment to something other than a simple name (unpacking, attribute, subscript)")
        value = evaluate(node.value, self.scope(path))
        if value.kind in ("module", "function", "opaque", "tuple"):
            raise refuse(f"assigns '{ast.unparse(node.value)}' to a local name")
        value = replace(value, weight=weight(node.value, path.env))
        env = dict(path.env)
        for target in targets:
            assert isinstance(target, ast.Name)
            env[target.id] = value
        return Path(path.live, env, path.weight)

    def _unpack(self, target: ast.Tuple, value: ast.Tuple, path: Path) -> Path:
        """``a, b = x, y``: every value is evaluated first, then bound left to right (as Python does)."""
        if not all(isinstance(t, ast.Name) for t in target.elts):
            raise refuse("unpacking into something other than simple names")
        values = []
        for item in value.elts:
            evaluated = evaluate(item, self.scope(path))
            if evaluated.kind in ("module", "function", "opaque", "tuple", "dict"):
                raise refuse(f"assigns '{ast.unparse(item)}' to a local name")
            values.append(replace(evaluated, weight=weight(item, path.env)))
        env = dict(path.env)
        for name, item_value in zip(target.elts, values, strict=True):
            assert isinstance(name, ast.Name)
            env[name.id] = item_value
        return Path(path.live, env, path.weight)

    def _augassign(self, node: ast.AugAssign, path: Path) -> Path:
        op = _BINOPS.get(type(node.op))
        if not isinstance(node.target, ast.Name) or op is None:
            raise refuse("augmented assignment to an unsupported target")
        scope = self.scope(path)
        current = evaluate(ast.Name(node.target.id, ast.Load()), scope)
        value = binop(op, current, evaluate(node.value, scope), scope)
        size = check_weight(current.weight + weight(node.value, path.env) + 1)
        return Path(path.live, {**path.env, node.target.id: replace(value, weight=size)}, path.weight)

    def _if(self, node: ast.If, path: Path) -> Path | None:
        test = condition(node.test, self.scope(path))
        size = weight(node.test, path.env)
        start_yes = self._branch(path, test, size, not_none(node.test, True))
        start_no = self._branch(path, ~test, size, not_none(node.test, False))
        yes, no = self.block(node.body, start_yes), self.block(node.orelse, start_no)
        if yes is None or no is None:
            return no if yes is None else yes
        assert yes.live is not None and no.live is not None
        if yes.live is start_yes.live and no.live is start_no.live:
            live, live_weight = path.live, path.weight  # no row returned inside: the same rows continue
        else:
            live, live_weight = yes.live | no.live, check_weight(yes.weight + no.weight)
        env: dict[str, Val] = {}
        for name in yes.env.keys() | no.env.keys():
            a, b = yes.env.get(name), no.env.get(name)
            if a is b:
                assert a is not None
                env[name] = a
            elif a is not None and b is not None and a.expr is b.expr and a.kind == b.kind:
                env[name] = a if a.nullable else b  # the same value, narrowed to "not None" in one branch
            elif a is None or b is None:
                env[name] = _unbound(f"'{name}' may be used before it is assigned")
            else:
                merged = _merged(name, yes.live, a, b)
                env[name] = replace(merged, weight=check_weight(a.weight + b.weight + yes.weight))
        return Path(live, env, live_weight)

    def _branch(self, path: Path, test: pl.Expr, size: int, known: set[str]) -> Path:
        return Path(both(path.live, test), self.scope(path).narrow(known).env.copy(), check_weight(path.weight + size))

    def _expr(self, node: ast.Expr, path: Path) -> Path:
        if isinstance(node.value, ast.Constant) and (isinstance(node.value.value, str) or node.value.value is ...):
            return path  # a docstring or `...`
        raise refuse(f"expression statement '{ast.unparse(node)}' (its value is discarded)")

    def _pass(self, node: ast.Pass, path: Path) -> Path:
        return path

    def _raise(self, node: ast.Raise, path: Path) -> None:
        exc = node.exc
        args: list[object] = []
        if isinstance(exc, ast.Call) and not exc.keywords and len(exc.args) <= 1:
            for arg in exc.args:
                if not isinstance(arg, ast.Constant) or not isinstance(arg.value, str | int | float):
                    raise refuse("raise with a message that is not a constant")
                args.append(arg.value)
            exc = exc.func
        if node.cause is not None or not isinstance(exc, ast.Name):
            raise refuse("raise of something other than a builtin exception with a constant message")
        kind = getattr(builtins, exc.id, None)
        if not (isinstance(kind, type) and issubclass(kind, Exception) and self.resolve(exc.id).const is kind):
            raise refuse(f"raise of '{exc.id}' (not a builtin exception)")
        self.errors.append((pl.lit(True) if path.live is None else path.live, exc.id, str(kind(*args))))
        return None


def _unbound(reason: str) -> Val:
    return Val("unbound", pl.lit(None), const=reason)


def _merged(name: str, cond: pl.Expr, a: Val, b: Val) -> Val:
    if "unbound" in (a.kind, b.kind):
        return a if a.kind == "unbound" else b
    try:
        return merge(cond, a, b)
    except NotTranslatable as exc:
        return _unbound(f"'{name}' {exc.reason}")


_HANDLERS: dict[type, Callable[..., Path | None]] = {
    ast.Return: Body._return, ast.Assign: Body._assign, ast.AnnAssign: Body._assign, ast.AugAssign: Body._augassign,
    ast.If: Body._if, ast.Expr: Body._expr, ast.Pass: Body._pass, ast.Raise: Body._raise,
}

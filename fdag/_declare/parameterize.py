"""``@fdag.parameterize``: many nodes from one function, each binding some parameters to constants or nodes.

Hamilton's ``@parameterize`` with ``value`` and ``source`` (here ``fdag.value`` and ``fdag.ref``): each keyword
names a node and maps parameters of the function to what they receive. Unbound parameters stay ordinary
dependencies (the node or request input named like them); the function itself is not a node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fdag._declare.marks import mark
from fdag.errors import DeclarationError, DeclarationTypeError

F = TypeVar("F", bound=Callable[..., Any])
PARAMETERIZE_ATTRIBUTE = "__fdag_parameterize__"


@dataclass(frozen=True)
class Value:
    """A parameter bound to a constant (``fdag.value(100.0)``)."""

    value: Any


@dataclass(frozen=True)
class Ref:
    """A parameter bound to another node or request input (``fdag.ref("credit_limit")``)."""

    name: str


def value(constant: Any) -> Value:
    """Bind a parameter of a ``@fdag.parameterize`` node to a constant (Hamilton's ``value``).

    The constant is part of the node's version; it must be of the parameter's type.

    Parameters
    ----------
    constant
        What the parameter receives on every row.

    Example::

        import fdag

        @fdag.parameterize(amount_over_100={"limit": fdag.value(100.0)})
        def amount_over(amount: float, limit: float) -> bool:
            return amount > limit
    """
    return Value(constant)


def ref(name: str) -> Ref:
    """Bind a parameter of a ``@fdag.parameterize`` node to another node or request input (Hamilton's ``source``).

    Parameters
    ----------
    name
        The node (or request input) whose value the parameter receives.

    Example::

        import fdag

        @fdag.parameterize(amount_over_limit={"limit": fdag.ref("credit_limit")})
        def amount_over(amount: float, limit: float) -> bool:
            return amount > limit
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise DeclarationTypeError("ref", name, "is not the name of a node or request input",
                                   "pass a name such as fdag.ref('credit_limit')")
    return Ref(name)


@dataclass(frozen=True)
class Parameterization:
    """One node of a ``@fdag.parameterize``: its name, what its parameters are bound to, its docstring if given."""

    node: str
    bindings: Mapping[str, Value | Ref]
    doc: str | None


def parameterize(**nodes: Mapping[str, Value | Ref] | tuple[Mapping[str, Value | Ref], str]) -> Callable[[F], F]:
    """Make one node per keyword from the decorated function, each with some parameters bound.

    ``name={"param": fdag.value(x)}`` binds a constant, ``{"param": fdag.ref("other")}`` another node or
    request input; a ``(bindings, "docstring")`` pair also sets the node's doc. The function's docstring is
    formatted with the bindings (``{limit}``) and ``{output_name}``, as Hamilton does. The function itself is not
    a node.

    Parameters
    ----------
    nodes
        Node name → its bindings (or bindings and docstring).

    Example::

        import fdag

        @fdag.parameterize(
            amount_over_100={"limit": fdag.value(100.0)},
            amount_over_limit={"limit": fdag.ref("credit_limit")},
        )
        def amount_over(amount: float, limit: float) -> bool:
            \"\"\"Whether the amount is above {limit}.\"\"\"
            return amount > limit
    """
    if not nodes:
        raise DeclarationError("parameterize", {}, "names no node", "pass e.g. amount_over_100={'limit': "
                               "fdag.value(100.0)}")
    found = []
    for name, spec in nodes.items():
        doc = None
        if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], str):
            spec, doc = spec
        if not isinstance(spec, Mapping):
            raise DeclarationTypeError(name, spec, "is not a mapping of parameter to fdag.value/fdag.ref",
                                       f"write {name}={{'param': fdag.value(1.0)}}")
        for param, bound in spec.items():
            if not isinstance(bound, Value | Ref):
                raise DeclarationTypeError(f"{name}[{param!r}]", bound, "is neither fdag.value(...) nor fdag.ref(...)",
                                           f"wrap it: fdag.value({bound!r}) for a constant, fdag.ref('node') for "
                                           "another node")
        found.append(Parameterization(name, dict(spec), doc))

    def declare(func: F) -> F:
        mark(func, "parameterize", PARAMETERIZE_ATTRIBUTE, tuple(found))
        return func

    return declare

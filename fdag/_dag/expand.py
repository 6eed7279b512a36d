"""Nodes of plain functions: parameters bound by ``@fdag.parameterize`` or the config, ``@fdag.extract_fields``
field nodes, and parameter defaults (optional request inputs).

Discovery hands over a function with its typed parameters; this module decides what each parameter receives
(an ``Argument``: a dependency or a constant) and which nodes the function makes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from fdag._dag.node import AS_OF, Node
from fdag._dag.specs import Argument, FieldSpec, VariantSpec
from fdag._declare.parameterize import PARAMETERIZE_ATTRIBUTE, Parameterization, Ref, Value
from fdag._values.types import FType, coerce_value
from fdag.errors import Problem


def feature_nodes(
    func: Callable[..., Any],
    name: str,
    params: dict[str, FType],
    returns: FType | tuple[tuple[str, FType], ...],
    where: str,
    tags: Mapping[str, Any],
    config: Mapping[str, Any],
    variant: VariantSpec | None,
    problems: list[Problem],
) -> list[Node]:
    """The nodes of a plain function (several for ``@fdag.parameterize`` and ``@fdag.extract_fields``).

    ``returns`` is the node's type, or the declared fields of an ``@fdag.extract_fields`` function.
    """
    doc = inspect.getdoc(func) or ""
    signature = inspect.signature(func, follow_wrapped=False)
    defaults = {p.name: p.default for p in signature.parameters.values() if p.default is not p.empty}
    parameterizations: tuple[Parameterization, ...] | None = getattr(func, PARAMETERIZE_ATTRIBUTE, None)
    if parameterizations is None:
        parameterizations = (Parameterization(name, {}, None),)
    nodes = []
    for spec in parameterizations:
        bound = _bind(spec.node, where, params, spec.bindings, config, defaults, problems)
        if bound is None:
            continue
        arguments, deps, node_defaults = bound
        node_doc = spec.doc if spec.doc is not None else _formatted(doc, spec)
        if isinstance(returns, FType):
            nodes.append(Node(spec.node, func, deps, returns, where, node_doc, dict(tags), arguments=arguments,
                              variant=variant, defaults=node_defaults))
            continue
        for field_name, ftype in returns:
            field = FieldSpec(name, field_name, returns, where)
            nodes.append(Node(field_name, func, deps, ftype, where, node_doc, dict(tags), arguments=arguments,
                              extracted=field, variant=variant, defaults=node_defaults))
    return nodes


def _bind(
    node: str,
    where: str,
    params: dict[str, FType],
    bindings: Mapping[str, Value | Ref],
    config: Mapping[str, Any],
    defaults: Mapping[str, Any],
    problems: list[Problem],
) -> tuple[tuple[Argument, ...], dict[str, FType], dict[str, Any]] | None:
    """What each parameter receives: ``(arguments, dependency -> type, dependency -> default)``, or None with the
    problems appended. ``arguments`` is empty when every parameter reads the node named like it."""
    ok = True
    for param in bindings:
        if param not in params:
            problems.append(Problem(node, where, f"binds '{param}' but the function has no parameter '{param}'",
                                    f"bind one of its parameters: {', '.join(params) or '(none)'}"))
            ok = False
    arguments: list[Argument] = []
    deps: dict[str, FType] = {}
    node_defaults: dict[str, Any] = {}
    for param, ftype in params.items():
        bound = bindings.get(param)
        if bound is None and param in config:
            bound = Value(config[param])
            what = f"config[{param!r}]"
        else:
            what = f"value({bound.value!r})" if isinstance(bound, Value) else ""
        if isinstance(bound, Value):
            try:
                constant, admitted = coerce_value(bound.value, ftype), True
            except (TypeError, OverflowError):
                constant, admitted = None, False
            if not admitted or (constant is None and not ftype.optional):  # null where the function needs a value
                problems.append(Problem(node, where, f"takes '{param}: {ftype}' but is given {what}",
                                        f"give a value of type '{ftype}', or annotate the parameter to match"))
                ok = False
                continue
            arguments.append(Argument(param, None, constant))
            continue
        source = param if bound is None else bound.name
        if source in deps and deps[source] != ftype:
            problems.append(Problem(node, where, f"reads '{source}' twice with different types ({deps[source]} and "
                                    f"{ftype})", "annotate both parameters alike"))
            ok = False
            continue
        if source == AS_OF and ftype.required() != FType(datetime):
            problems.append(Problem(node, where, f"takes 'as_of: {ftype}' but 'as_of' is the request instant",
                                    "annotate it 'as_of: datetime' or rename the parameter"))
            ok = False
            continue
        deps[source] = ftype
        arguments.append(Argument(param, source))
        if param in defaults:
            try:
                node_defaults[source] = coerce_value(defaults[param], ftype)
            except (TypeError, OverflowError):
                problems.append(Problem(node, where, f"takes '{param}: {ftype}' with the default "
                                        f"{defaults[param]!r}, which is not a '{ftype}'",
                                        f"give a default of type '{ftype}' (or None)"))
                ok = False
    if not ok:
        return None
    plain = all(a.source == a.param for a in arguments)
    return (() if plain else tuple(arguments)), deps, node_defaults


def _formatted(doc: str, spec: Parameterization) -> str:
    """The function's docstring for one parameterized node: ``{param}`` and ``{output_name}`` filled in."""
    if not doc or not spec.bindings:
        return doc
    shown = {p: (b.value if isinstance(b, Value) else b.name) for p, b in spec.bindings.items()}
    try:
        return doc.format(output_name=spec.node, **shown)
    except (KeyError, IndexError, ValueError):  # braces that are not placeholders: keep the text as written
        return doc

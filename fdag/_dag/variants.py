"""Config variants: which function of each ``@fdag.config`` group a DAG built with ``config=`` keeps.

A variant ``def vat_rate__eu`` belongs to the node ``vat_rate`` (the name before its last ``__``); a function of
that name without a ``config`` decorator is a variant that always applies. Exactly one variant of a node must
apply to the config; none, or several, is a problem naming each variant with its ``file:line``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fdag._dag.discovery import location_of
from fdag._dag.specs import VariantSpec
from fdag._declare.config import conditions_of
from fdag.errors import Problem


@dataclass(frozen=True)
class Chosen:
    """A function that makes nodes under this config: the node name it stands for and, for a variant, why."""

    function: Callable[..., Any]
    name: str
    variant: VariantSpec | None


def variant_name(func: Callable[..., Any]) -> str:
    """The node a config variant makes: the function's name before its last ``__`` (Hamilton's rule)."""
    name: str = func.__name__
    return name.rsplit("__", 1)[0] if "__" in name.strip("_") else name


def choose(functions: list[Callable[..., Any]], config: Mapping[str, Any], problems: list[Problem]) -> list[Chosen]:
    """The functions that make nodes under ``config``, in the order given; problems are appended."""
    groups: dict[str, list[Callable[..., Any]]] = {}
    for func in functions:
        if conditions_of(func):
            if func.__name__.endswith("__"):
                problems.append(Problem(func.__name__, location_of(func), "is a config variant whose name ends "
                                        "with '__', so it names no node",
                                        "name variants '<node>__<variant>', e.g. 'vat_rate__eu'"))
                continue
            groups.setdefault(variant_name(func), []).append(func)
    plain = {func.__name__ for func in functions if not conditions_of(func)}
    chosen: dict[int, Chosen] = {}
    for name, variants in groups.items():
        members = [*variants, *(f for f in functions if f.__name__ == name and not conditions_of(f))]
        applying = [f for f in members if all(c.holds(config) for c in conditions_of(f))]
        if len(applying) == 1:
            func = applying[0]
            conditions = conditions_of(func)
            used = tuple(sorted({(c.key, repr(config.get(c.key))) for c in conditions}))
            variant = VariantSpec(func.__name__, tuple(str(c) for c in conditions), used) if conditions else None
            chosen[id(func)] = Chosen(func, name, variant)
            continue
        listed = "; ".join(f"{f.__name__} ({location_of(f)}: {_described(f)})" for f in members)
        shown = {key: config[key] for key in sorted(config)}
        if applying:
            problems.append(Problem(name, location_of(applying[0]), f"has {len(applying)} config variants that "
                                    f"apply to config {shown!r}: "
                                    + "; ".join(f"{f.__name__} ({location_of(f)})" for f in applying),
                                    "make the variants' conditions exclusive (exactly one must apply)"))
        else:
            keys = sorted({c.key for f in members for c in conditions_of(f)})
            problems.append(Problem(name, location_of(members[0]), f"has no config variant that applies to config "
                                    f"{shown!r}; the variants are {listed}",
                                    f"set {', '.join(repr(k) for k in keys)} in Dag.from_modules(..., config=...) "
                                    "to a value a variant accepts, or add a variant for this config"))
    found = []
    for func in functions:
        picked = chosen.get(id(func))
        if picked is not None:
            found.append(picked)
        elif not conditions_of(func) and func.__name__ not in groups and func.__name__ in plain:
            found.append(Chosen(func, func.__name__, None))
    return found


def _described(func: Callable[..., Any]) -> str:
    conditions = conditions_of(func)
    return " and ".join(str(c) for c in conditions) if conditions else "always"

"""``@fdag.config.when``: variants of one node, chosen by the configuration a DAG is built with.

Hamilton's model: ``def vat_rate__eu()`` under ``@config.when(region="eu")`` is a variant of the node
``vat_rate`` (the name before the last ``__``). ``Dag.from_modules(module, config={...})`` keeps the variant whose
conditions hold; exactly one variant of each node must hold (a ``DagError`` otherwise). Stacked decorators all
have to hold, as do the several keywords of one decorator.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fdag.errors import DeclarationError, DeclarationTypeError

F = TypeVar("F", bound=Callable[..., Any])
CONFIG_ATTRIBUTE = "__fdag_config__"


@dataclass(frozen=True)
class Condition:
    """One keyword of a ``config`` decorator: ``key`` compared with ``values`` (``when``: one value)."""

    kind: str  # "when", "when_not", "when_in", "when_not_in"
    key: str
    values: tuple[Any, ...]

    def holds(self, config: Mapping[str, Any]) -> bool:
        """Whether the condition holds for ``config`` (a missing key reads as ``None``, as in Hamilton)."""
        value = config.get(self.key)
        inside = any(value == v for v in self.values)
        return inside if self.kind in ("when", "when_in") else not inside

    def __str__(self) -> str:
        shown = repr(self.values[0]) if self.kind in ("when", "when_not") else repr(list(self.values))
        operator = {"when": "==", "when_not": "!=", "when_in": "in", "when_not_in": "not in"}[self.kind]
        return f"{self.key} {operator} {shown}"


def conditions_of(func: Callable[..., Any]) -> tuple[Condition, ...]:
    """The conditions stacked on ``func`` (empty: not a config variant)."""
    found: tuple[Condition, ...] = getattr(func, CONFIG_ATTRIBUTE, ())
    return found


def _declare(kind: str, pairs: Mapping[str, Any]) -> Callable[[F], F]:
    if not pairs:
        raise DeclarationError(f"config.{kind}", {}, "has no condition",
                               f"name at least one config key, e.g. @fdag.config.{kind}(region=...)")
    conditions = []
    for key, wanted in pairs.items():
        if kind in ("when_in", "when_not_in"):
            if isinstance(wanted, str | bytes) or not isinstance(wanted, Collection):
                raise DeclarationTypeError(key, wanted, f"is not a collection of values (config.{kind})",
                                           f"pass a list, e.g. @fdag.config.{kind}({key}=['a', 'b'])")
            conditions.append(Condition(kind, key, tuple(wanted)))
        else:
            conditions.append(Condition(kind, key, (wanted,)))

    def declare(func: F) -> F:
        setattr(func, CONFIG_ATTRIBUTE, (*conditions_of(func), *conditions))
        return func

    return declare


class config:
    """Config variants: ``@fdag.config.when(region="eu")`` on ``def vat_rate__eu()`` makes it the ``vat_rate``
    of DAGs built with ``config={"region": "eu"}``.

    The node is named by the function's name before its last ``__``; every keyword must hold (a missing key
    reads as ``None``), and stacked decorators must all hold. ``Dag.from_modules(..., config=...)`` keeps exactly
    one variant per node, and a parameter named like a config key receives that key's value.

    Example::

        import fdag

        @fdag.config.when(region="eu")
        def vat_rate__eu() -> float:
            return 0.2

        @fdag.config.when_in(region=["us", "ca"])
        def vat_rate__americas() -> float:
            return 0.0
    """

    @staticmethod
    def when(**key_values: Any) -> Callable[[F], F]:
        """The variant applies when every ``key`` of the config equals its value.

        Parameters
        ----------
        key_values
            Config key → the value it must have.
        """
        return _declare("when", key_values)

    @staticmethod
    def when_not(**key_values: Any) -> Callable[[F], F]:
        """The variant applies when every ``key`` of the config differs from its value (or is absent).

        Parameters
        ----------
        key_values
            Config key → a value it must not have.
        """
        return _declare("when_not", key_values)

    @staticmethod
    def when_in(**key_groups: Collection[Any]) -> Callable[[F], F]:
        """The variant applies when every ``key`` of the config is one of its values.

        Parameters
        ----------
        key_groups
            Config key → the values it may have.
        """
        return _declare("when_in", key_groups)

    @staticmethod
    def when_not_in(**key_groups: Collection[Any]) -> Callable[[F], F]:
        """The variant applies when no ``key`` of the config is one of its values.

        Parameters
        ----------
        key_groups
            Config key → the values it must not have.
        """
        return _declare("when_not_in", key_groups)

"""``@fdag.exclude``: a public function of a feature module that is a helper, not a node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
EXCLUDED_ATTRIBUTE = "__fdag_excluded__"


def exclude(func: F) -> F:
    """Keep a public function out of the DAG: a helper that features call, as a ``_private`` one would be.

    The function is unchanged. Features calling it are translated to Polars with its body inlined (when it is
    translatable), and its code counts in their versions, exactly as for a ``_private`` helper.

    Parameters
    ----------
    func
        The helper.

    Example::

        import math

        import fdag

        @fdag.exclude
        def haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
            a = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
            return 2 * 6371.0 * math.asin(math.sqrt(a))
    """
    setattr(func, EXCLUDED_ATTRIBUTE, True)
    return func


def is_excluded(value: Any) -> bool:
    """Whether ``value`` was marked ``@fdag.exclude``."""
    return getattr(value, EXCLUDED_ATTRIBUTE, False) is True

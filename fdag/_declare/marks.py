"""The marks ``@window`` and ``@lookup`` leave on a function: the declaration, and the list of declarations.

Each decorator stores its declaration in its own attribute, so stacking both (or one twice) would silently
keep one of them. Every mark is also appended to one shared list, from which discovery reports the stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DECLARED_ATTRIBUTE = "__fdag_declared__"


def mark(func: Callable[..., Any], kind: str, attribute: str, declaration: Any) -> None:
    """Record ``declaration`` on ``func`` under ``attribute``, and ``kind`` ("window", "lookup") in its list."""
    setattr(func, attribute, declaration)
    setattr(func, DECLARED_ATTRIBUTE, (*getattr(func, DECLARED_ATTRIBUTE, ()), kind))

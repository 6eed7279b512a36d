"""``@fdag.tag``: metadata on any feature (owner, PII, ...), shown in DOT, lineage and the catalog."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TAGS_ATTRIBUTE = "__fdag_tags__"


def tag(**tags: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Attach metadata to a feature; tags show in DOT tooltips, lineage and the catalog.

    Example::

        @fdag.tag(owner="risk", pii=False)
        def amount_bucket(amount: float) -> int: ...
    """

    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        merged = {**getattr(func, TAGS_ATTRIBUTE, {}), **tags}
        setattr(func, TAGS_ATTRIBUTE, merged)
        return func

    return mark

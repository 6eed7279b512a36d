"""``@fdag.tag``: metadata on any feature (owner, PII, ...), shown in DOT, lineage and the catalog."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TAGS_ATTRIBUTE = "__fdag_tags__"


def tag(**tags: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Attach metadata to a feature; tags show in DOT tooltips, lineage and the catalog.

    Tags change nothing the feature computes (nor its version); stacked ``@fdag.tag`` decorators merge, the
    outer one winning on a shared name. They combine with ``@fdag.window`` and ``@fdag.lookup``.

    Parameters
    ----------
    tags
        Name → value, e.g. ``owner="risk", pii=False``.

    Example::

        import fdag
        from fdag.demo import payment

        @fdag.tag(owner="risk", pii=False)
        def amount_bucket(amount: float) -> int:
            return 0 if amount < 10 else 1

        print(amount_bucket(120.0))   # 1: the function itself is unchanged
        print(fdag.Dag.from_modules(payment).lineage("risk_score").tags)   # {'owner': 'risk', 'model_input': True}
    """

    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        merged = {**getattr(func, TAGS_ATTRIBUTE, {}), **tags}
        setattr(func, TAGS_ATTRIBUTE, merged)
        return func

    return mark

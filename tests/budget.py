"""How many examples a hypothesis test draws: its bounded number in the suite, ``FDAG_RELIABILITY_SCALE`` times
that in the long run (``make reliability``)."""

from __future__ import annotations

import os

SCALE = int(os.environ.get("FDAG_RELIABILITY_SCALE", "1"))


def examples(bounded: int) -> int:
    """``bounded`` examples in the suite, scaled up for the long run."""
    return bounded * SCALE

"""Which past ``as_of`` a window state still answers exactly: one rule, shared by every store.

A state loses data in three ways. An event arriving below the retention horizon (``watermark - longest window
- allowed_lateness``) is rejected as too late, and a bootstrap skips rows below it: exactly those events are
missing, so the state is complete from just after the newest one dropped. And events the horizon has passed
are evicted — lazily, at moments that differ between stores — so once the horizon has passed any accepted
event, everything below the horizon may be gone. A state that lost nothing answers any ``as_of``; otherwise a
query whose longest window starts before ``complete_from`` raises ``TruncatedStateError`` rather than
answering from truncated state.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fdag._values.instants import EPOCH, MICROSECOND
from fdag.errors import TruncatedStateError

NEVER = -(2**63)  # "no such instant": nothing dropped, nothing lost, any as_of answers
NO_EVENT = 2**63 - 1  # the oldest accepted timestamp of a state that accepted none


def complete_from(watermark: int, retention: int, oldest_accepted: int, newest_dropped: int) -> int:
    """The instant (µs) from which the state holds every event of its source, or ``NEVER`` if it lost none.

    ``oldest_accepted``: the oldest timestamp ever accepted (``NO_EVENT`` if none); ``newest_dropped``: the
    newest timestamp rejected as too late or skipped by a bootstrap (``NEVER`` if none).
    """
    complete = newest_dropped + 1 if newest_dropped != NEVER else NEVER
    horizon = watermark - retention
    if horizon > oldest_accepted:  # an accepted event is below the horizon: it, and all below, may be evicted
        complete = max(complete, horizon)
    return complete


def answerable_from(complete: int, longest: timedelta) -> int:
    """The earliest ``as_of`` (µs) whose longest window starts at or after ``complete`` (``NEVER``: any)."""
    return NEVER if complete == NEVER else complete + longest // MICROSECOND


def truncated(source: str, as_of: datetime, longest: timedelta, complete: int) -> TruncatedStateError:
    """The error for a query at ``as_of`` whose window reaches back before ``complete`` (µs)."""
    return TruncatedStateError(source, as_of, longest, EPOCH + complete * MICROSECOND)

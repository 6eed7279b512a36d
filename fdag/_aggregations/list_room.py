"""Room to grow for lists built in bulk, so the appends that follow do not all reallocate at once.

CPython gives a list built or extended in one big step (a slice assignment, a slice) exactly the room it needs,
so the next append reallocates it. One key's state has a dozen such lists rebuilt together (its derived arrays
after a bulk refresh, its events after a bootstrap); the first event pushed afterwards then reallocates and
copies every one of them, touching fresh pages (on this kind of machine ~2 µs per page fault): streaming
scoring's p99 was set by those first pushes. ``reserve`` grows a list as its appends would have (by an eighth)
while the bulk step's cost is being paid anyway: CPython keeps a list's allocation when it shrinks to no less
than half of it, so extending a list by at most an eighth of its length and deleting again leaves the room.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat
from typing import Any


def reserve(lists: Iterable[list[Any]], grown: int) -> None:
    """Give each of ``lists`` room for an eighth of ``grown`` more items (what appending ``grown`` items one by
    one would have left), without changing its contents; a list shorter than ``grown`` gets none."""
    extra = grown >> 3
    if extra:
        for items in lists:
            if extra <= len(items) >> 3:  # then the list is at least half its grown allocation: CPython keeps it
                items.extend(repeat(None, extra))
                del items[-extra:]

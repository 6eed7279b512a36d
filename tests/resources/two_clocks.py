"""One source read at two instants: a window at as_of and lookups at as_of - 1µs (two online states)."""

from __future__ import annotations

from datetime import datetime

import fdag

ticks = fdag.Source(
    "ticks", key="k", timestamp="ts", id="tick_id",
    schema={"tick_id": int, "k": str, "ts": datetime, "seq": int, "tag": str},
)


@fdag.window(ticks, agg="count", over="10d")
def ticks_10d(seq: int) -> int:
    return seq


@fdag.lookup(ticks, lag="1us")
def latest_seq(seq: int) -> int:
    return seq


@fdag.lookup(ticks, lag="1us")
def latest_tag(tag: str) -> str:
    return tag

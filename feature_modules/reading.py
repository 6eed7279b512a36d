"""Recommender features from a stream of article reads: what the reader read last, how long they read, their
top category and how diverse their reading is. The request is a page view: `user_id` at `as_of`.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import fdag

reads = fdag.Source(
    "reads", key="user_id", timestamp="ts", id="read_id",
    schema={"read_id": str, "user_id": str, "ts": datetime, "article_id": str, "category": str,
            "seconds": float},
)


@fdag.window(reads, agg="last_n(5)", over="30d")
def last_5_articles(article_id: str) -> str:
    """The five articles read most recently (newest last): candidates to exclude and to find neighbours of."""
    return article_id


@fdag.window(reads, agg="sum", over="30d")
def reading_seconds_30d(seconds: float) -> float:
    """Time spent reading in the last 30 days; reads without a duration are skipped."""
    return seconds


@fdag.window(reads, agg="last_n(50)", over="30d")
def recent_categories(category: str) -> str:
    return category.lower()


@fdag.window(reads, agg="distinct_count", over="30d")
def categories_30d(category: str) -> str:
    return category.lower()


@fdag.window(reads, agg="count", over="30d")
def reads_30d(article_id: str) -> str:
    return article_id


def top_category(recent_categories: list[str]) -> str | None:
    """The category read most among the last 50 reads (ties: the one reached first)."""
    if not recent_categories:
        return None
    return Counter(recent_categories).most_common(1)[0][0]


def reading_diversity(categories_30d: int, reads_30d: int) -> float | None:
    """Distinct categories per read over 30 days: 1.0 reads everything, near 0 reads one thing."""
    if reads_30d == 0:
        return None
    return categories_30d / reads_30d


def average_read_seconds(reading_seconds_30d: float, reads_30d: int) -> float | None:
    if reads_30d == 0:
        return None
    return reading_seconds_30d / reads_30d

"""fdag: features as plain Python functions, run row-at-a-time online and vectorized over Polars offline."""

from fdag._dag import Dag
from fdag._frame import Explanation, FrameDriver
from fdag._lineage import Lineage
from fdag._lookup import lookup
from fdag._node import Node, tag
from fdag._redis_store import RedisStore
from fdag._row import RowDriver
from fdag._source import Source
from fdag._stores import MemoryStore
from fdag._types import FType
from fdag._vector import ErrorRecord, FeatureVector
from fdag._window import window
from fdag.check import check
from fdag.errors import (
    ConsistencyError,
    DagError,
    FdagError,
    FeatureError,
    InputError,
    PointInTimeError,
    SourceError,
    StoreError,
)

__version__ = "0.1.0"

__all__ = [
    "ConsistencyError",
    "Dag",
    "DagError",
    "ErrorRecord",
    "Explanation",
    "FType",
    "FdagError",
    "FeatureError",
    "FeatureVector",
    "FrameDriver",
    "InputError",
    "Lineage",
    "MemoryStore",
    "Node",
    "PointInTimeError",
    "RedisStore",
    "RowDriver",
    "Source",
    "SourceError",
    "StoreError",
    "check",
    "lookup",
    "tag",
    "window",
]

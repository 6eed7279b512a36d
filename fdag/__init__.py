"""fdag: features as plain Python functions, run row-at-a-time online and vectorized over Polars offline."""

from fdag._check.check import check
from fdag._dag.dag import Dag
from fdag._dag.lineage import Lineage
from fdag._dag.node import Node
from fdag._declare.lookup import lookup
from fdag._declare.source import Source
from fdag._declare.tag import tag
from fdag._declare.window import window
from fdag._frame.driver import Explanation, FrameDriver
from fdag._logs.feature_log import FeatureLog
from fdag._observe.skew import SkewReport, skew
from fdag._row.driver import RowDriver
from fdag._row.vector import FeatureVector
from fdag._stores.memory import MemoryStore
from fdag._stores.redis import RedisStore
from fdag._values.calls import ErrorRecord
from fdag._values.types import FType
from fdag._version import __version__ as __version__
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

__all__ = [
    "ConsistencyError",
    "Dag",
    "DagError",
    "ErrorRecord",
    "Explanation",
    "FType",
    "FdagError",
    "FeatureError",
    "FeatureLog",
    "FeatureVector",
    "FrameDriver",
    "InputError",
    "Lineage",
    "MemoryStore",
    "Node",
    "PointInTimeError",
    "RedisStore",
    "RowDriver",
    "SkewReport",
    "Source",
    "SourceError",
    "StoreError",
    "check",
    "lookup",
    "skew",
    "tag",
    "window",
]

"""fdag: features as plain Python functions, run row-at-a-time online and vectorized over Polars offline.

``import fdag`` loads what a model service needs to serve (Polars, the DAG, ``RowDriver`` and the stores). The
offline engine (``FrameDriver``, ``Explanation``: numpy and the Polars translator) and ``fdag.check``
(hypothesis) are imported on first use, and networkx, pyarrow, tqdm, graphviz, Ray and Dagster only where a
call needs them.
"""

import importlib
import typing

from fdag._dag.dag import Dag
from fdag._dag.lineage import Lineage
from fdag._dag.node import Node
from fdag._dag.provenance import Provenance, ProvenanceEvent
from fdag._declare.check import check_output
from fdag._declare.lookup import lookup
from fdag._declare.source import Source
from fdag._declare.tag import tag
from fdag._declare.window import window
from fdag._logs.feature_log import FeatureLog
from fdag._row.driver import RowDriver
from fdag._row.vector import FeatureVector
from fdag._stores.memory import MemoryStore
from fdag._stores.redis import RedisStore
from fdag._streams.log import StreamLog
from fdag._streams.memory import MemoryStream
from fdag._streams.redis import RedisStream
from fdag._values.calls import ErrorRecord
from fdag._values.results import CheckResult, FrameResult
from fdag._values.types import FType
from fdag._version import __version__ as __version__
from fdag.errors import (
    CheckError,
    ConsistencyError,
    DagError,
    DeclarationError,
    FdagError,
    FeatureError,
    InputError,
    PointInTimeError,
    SourceError,
    StoreError,
)

if typing.TYPE_CHECKING:
    from fdag._check.check import check
    from fdag._frame.driver import Explanation, FrameDriver
    from fdag._observe.skew import SkewReport, skew

# Public names imported on first use (PEP 562), by the module that defines them.
_LAZY = {
    "check": "fdag._check.check",
    "Explanation": "fdag._frame.driver",
    "FrameDriver": "fdag._frame.driver",
    "SkewReport": "fdag._observe.skew",
    "skew": "fdag._observe.skew",
}

__all__ = [
    "CheckError",
    "CheckResult",
    "ConsistencyError",
    "Dag",
    "DagError",
    "DeclarationError",
    "ErrorRecord",
    "Explanation",
    "FType",
    "FdagError",
    "FeatureError",
    "FeatureLog",
    "FeatureVector",
    "FrameDriver",
    "FrameResult",
    "InputError",
    "Lineage",
    "MemoryStore",
    "MemoryStream",
    "Node",
    "PointInTimeError",
    "Provenance",
    "ProvenanceEvent",
    "RedisStore",
    "RedisStream",
    "RowDriver",
    "SkewReport",
    "Source",
    "SourceError",
    "StoreError",
    "StreamLog",
    "check",
    "check_output",
    "lookup",
    "skew",
    "tag",
    "window",
]

# Public names read as `fdag.X` in reprs, tracebacks and docs, not as the private module that defines them.
for _name in __all__:
    if _name in globals():
        globals()[_name].__module__ = __name__
del _name


def __getattr__(name: str) -> typing.Any:
    """A lazy public name, imported on first use and then kept as a plain attribute."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    value.__module__ = __name__
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

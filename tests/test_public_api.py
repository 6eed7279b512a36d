"""The public surface is pinned: adding or removing a name is a deliberate change of this test."""

from __future__ import annotations

import fdag


def test_exported_names() -> None:
    assert fdag.__all__ == sorted(fdag.__all__)
    assert set(fdag.__all__) == {
        "ConsistencyError", "Dag", "DagError", "ErrorRecord", "Explanation", "FType", "FdagError", "FeatureError",
        "FeatureLog", "FeatureVector", "FrameDriver", "InputError", "Lineage", "MemoryStore", "Node",
        "PointInTimeError", "RedisStore", "RowDriver", "SkewReport", "Source", "SourceError", "StoreError", "check",
        "lookup", "skew", "tag", "window",
    }
    assert all(getattr(fdag, name) is not None for name in fdag.__all__)


def test_every_error_is_an_fdag_error_and_its_builtin() -> None:
    assert issubclass(fdag.DagError, ValueError)
    assert issubclass(fdag.InputError, ValueError)
    assert issubclass(fdag.FeatureError, RuntimeError)
    assert issubclass(fdag.ConsistencyError, AssertionError)
    for name in ("DagError", "FeatureError", "InputError", "PointInTimeError", "SourceError", "StoreError"):
        assert issubclass(getattr(fdag, name), fdag.FdagError)

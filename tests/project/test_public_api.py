"""The public surface is pinned: adding or removing a name is a deliberate change of this test."""

from __future__ import annotations

import inspect

import fdag


def test_exported_names() -> None:
    assert fdag.__all__ == sorted(fdag.__all__)
    assert set(fdag.__all__) == {
        "CheckResult", "ConsistencyError", "Dag", "DagError", "DeclarationError", "ErrorRecord", "Explanation", "FType",
        "FdagError", "FeatureError", "FeatureLog", "FeatureVector", "FrameDriver", "FrameResult", "InputError",
        "Lineage", "MemoryStore", "MemoryStream", "Node", "PointInTimeError", "RedisStore", "RedisStream", "RowDriver",
        "SkewReport", "Source", "SourceError", "StoreError", "StreamLog", "check", "lookup", "skew", "tag", "window",
    }
    assert all(getattr(fdag, name) is not None for name in fdag.__all__)


def test_all_is_what_the_package_exports() -> None:
    public = {name for name in dir(fdag) if not name.startswith("_") and not inspect.ismodule(getattr(fdag, name))}
    assert public == set(fdag.__all__)  # dir() lists the lazy names too, loaded or not


def test_every_export_reads_as_fdag() -> None:
    assert {name: getattr(fdag, name).__module__ for name in fdag.__all__} == dict.fromkeys(fdag.__all__, "fdag")
    assert repr(fdag.FrameDriver) == "<class 'fdag.FrameDriver'>"


def test_every_error_is_an_fdag_error_and_its_builtin() -> None:
    assert issubclass(fdag.DagError, ValueError)
    assert issubclass(fdag.DeclarationError, ValueError)
    assert issubclass(fdag.InputError, ValueError)
    assert issubclass(fdag.FeatureError, RuntimeError)
    assert issubclass(fdag.ConsistencyError, AssertionError)
    for name in ("DagError", "DeclarationError", "FeatureError", "InputError", "PointInTimeError", "SourceError",
                 "StoreError"):
        assert issubclass(getattr(fdag, name), fdag.FdagError)


def test_exports_still_pickle_under_their_public_name() -> None:
    import pickle

    for value in (fdag.FType(int, optional=True), fdag.ErrorRecord("node", "ValueError", "bad", 2)):
        assert pickle.loads(pickle.dumps(value)) == value
    error = pickle.loads(pickle.dumps(fdag.StoreError("Redis at redis://h", "is down", "start it")))
    assert type(error) is fdag.StoreError and str(error) == "Redis at redis://h is down. Hint: start it."
    assert (error.store, error.problem, error.hint) == ("Redis at redis://h", "is down", "start it")

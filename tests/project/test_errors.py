"""One error tree, built in one place: every raise in fdag is an ``FdagError`` whose message (made in
``fdag/errors.py`` from its fields) ends with the fix; decorator misuse fails when the decorator runs; a missing
optional package names the extra that installs it."""

from __future__ import annotations

import ast
import builtins
import pickle
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import fdag
from fdag import errors
from fdag.errors import (
    DeclarationError,
    DeclarationTypeError,
    FdagError,
    MissingDependencyError,
    ModuleLoadError,
    Problem,
)
from tests.conftest import ROOT
from tests.resources import tiny

PACKAGE = ROOT / "fdag"

# Raises of builtin exceptions that never reach a caller of the public API, with the reason.
ALLOWED_BUILTIN_RAISES = {
    # Coercion signals: every caller turns them into an InputTypeError, a SourceError or a DAG problem, or records
    # them as a feature's error, where the type a user sees must be the one Python raises for a wrong-typed value.
    ("_values/types.py", "coerce_value", "TypeError"),
    ("_values/types.py", "coerce_value", "OverflowError"),
    ("_values/types.py", "to_utc", "OverflowError"),
    # Internal signals of the stream codec, caught where they arise: `_encode` turns a value without an encoding
    # into a SourceError naming the event and column; a batch that fails the fast decode is decoded entry by entry
    # (bad entries go to the dead letters); the retry loop's last line cannot be reached.
    ("_streams/encoding.py", "encode_value", "TypeError"),
    ("_streams/encoding.py", "_rows", "ValueError"),
    ("_streams/redis.py", "_call", "AssertionError"),
    # Python's protocol for a module's missing attribute: hasattr() and `from fdag import x` need AttributeError.
    ("__init__.py", "__getattr__", "AttributeError"),
}


def _builtin_exception(node: ast.expr | None) -> str | None:
    """The builtin exception class a ``raise`` statement raises (``raise ValueError(...)``), if any."""
    target = node.func if isinstance(node, ast.Call) else node
    if not isinstance(target, ast.Name):
        return None
    value = getattr(builtins, target.id, None)
    return target.id if isinstance(value, type) and issubclass(value, BaseException) else None


def _raises_and_hints() -> tuple[list[str], list[str]]:
    """Every unallowed ``raise <builtin>`` and every "Hint:" text outside errors.py, as ``file:line`` strings."""
    raises, hints = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "errors.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = {id(child): node.name for node in ast.walk(tree)
                     if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) for child in ast.walk(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise):
                name = _builtin_exception(node.exc)
                if name and (relative, functions.get(id(node), "<module>"), name) not in ALLOWED_BUILTIN_RAISES:
                    raises.append(f"fdag/{relative}:{node.lineno} raises {name}")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "Hint:" in node.value:
                hints.append(f"fdag/{relative}:{node.lineno}")
    return raises, hints


def test_no_builtin_exception_is_raised_outside_errors_py() -> None:
    raises, _ = _raises_and_hints()
    assert raises == []


def test_messages_are_built_only_in_errors_py() -> None:
    _, hints = _raises_and_hints()
    assert hints == []


def test_the_checker_sees_what_it_must_refuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk above would catch both kinds of violation (an oracle for the two tests, not the package)."""
    (tmp_path / "bad.py").write_text('def f(x):\n    if x:\n        raise ValueError(f"{x} is bad. Hint: fix it")\n'
                                     '    raise KeyError\n')
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    raises, hints = _raises_and_hints()
    assert set(raises) == {"fdag/bad.py:3 raises ValueError", "fdag/bad.py:4 raises KeyError"}
    assert hints == ["fdag/bad.py:3"]


# ------------------------------------------------------------------------------------------------ the classes

T0 = datetime(2024, 3, 1, tzinfo=UTC)
EXAMPLES: list[FdagError] = [
    errors.DagError([Problem("a", "m.py:3", "is bad", "fix it")]),
    DeclarationError("over", "soon", "is not a duration", "write e.g. '1h'"),
    DeclarationTypeError("source", 3, "is not an fdag.Source", "pass the Source"),
    errors.FeatureError("ratio", "m.py:9", ZeroDivisionError("division by zero"), {"x": 1}),
    errors.InputError("x", "is bad", "pass a good one"),
    errors.MissingInputError("y", "is missing from the request", "pass it"),
    errors.InputTypeError("x", "is a str ('3') but the type is 'int'", "pass a int or None"),
    errors.PointInTimeError("spend", "has 1 values whose as-of is after their row's as_of", "report it"),
    errors.TruncatedStateError("s", T0, timedelta(hours=1), T0),
    errors.SourceError("s", "is null", "drop the row", column="k", where="history row 3"),
    errors.StoreError("Redis at redis://h", "failed", "check the server", OSError("down")),
    ModuleLoadError("nope", "is not an importable module", "give a module", ModuleNotFoundError("no")),
    errors.StaleDriverError("capped", "m.py:3", "LIMIT", 10, "20"),
    errors.ConsistencyError("doubled", {"x": 1}, 2, 3),
    MissingDependencyError("ray", "backfill(engine='ray')", extra="ray"),
]


@pytest.mark.parametrize("error", EXAMPLES, ids=lambda e: type(e).__name__)
def test_every_error_ends_with_its_fix_and_pickles(error: FdagError) -> None:
    text = str(error)
    assert " Hint: " in text and text.endswith("."), text
    copy = pickle.loads(pickle.dumps(error))  # Ray and multiprocessing send errors between processes
    assert type(copy) is type(error) and str(copy) == text and vars(copy).keys() == vars(error).keys()


def test_each_class_inherits_the_builtin_a_caller_expects() -> None:
    expected = {"DagError": ValueError, "DeclarationError": ValueError, "DeclarationTypeError": TypeError,
                "FeatureError": RuntimeError, "InputError": ValueError, "MissingInputError": KeyError,
                "InputTypeError": TypeError, "PointInTimeError": ValueError, "SourceError": ValueError,
                "StoreError": RuntimeError, "ModuleLoadError": ImportError, "StaleDriverError": RuntimeError,
                "ConsistencyError": AssertionError, "MissingDependencyError": ImportError,
                "NotTranslatable": NotImplementedError}
    classes = {name: value for name, value in vars(errors).items()
               if isinstance(value, type) and issubclass(value, FdagError) and value is not FdagError}
    assert set(classes) == {*expected, "TruncatedStateError"}
    for name, builtin in expected.items():
        assert issubclass(classes[name], builtin), name


def test_the_message_is_made_from_the_fields() -> None:
    error = errors.SourceError("transactions", "is null", "every event needs its key", column="user_id",
                               where="event 3")
    assert str(error) == "source 'transactions' event 3: column 'user_id' is null. Hint: every event needs its key."
    assert (error.source, error.column, error.where, error.hint) == ("transactions", "user_id", "event 3",
                                                                   "every event needs its key")
    assert str(errors.StoreError("Redis at redis://h:1", "failed", "check it", ValueError("OOM"))) == \
        "Redis at redis://h:1 failed (ValueError: OOM). Hint: check it."
    assert str(DeclarationError("agg", "range", "is not a known aggregation", "use one of sum or mean.")) == \
        "agg='range' is not a known aggregation. Hint: use one of sum or mean."  # no second full stop


# ------------------------------------------------------------------------------------------ drivers

@pytest.mark.parametrize(("build", "kind", "message"), [
    (lambda: fdag.RowDriver(fdag.Dag.from_modules(tiny), errors="maybe"), DeclarationError,  # type: ignore[arg-type]
     r"^errors='maybe' is not 'null' or 'raise'\. Hint: 'null' records errors per row\.$"),
    (lambda: fdag.FrameDriver(fdag.Dag.from_modules(tiny), errors="maybe"), DeclarationError,  # type: ignore[arg-type]
     r"^errors='maybe' is not 'null' or 'raise'\."),
    (lambda: fdag.RowDriver(fdag.Dag.from_modules(tiny), store=object()), DeclarationTypeError,
     r"^store=<object object at .*> is not a store .*Hint: pass fdag\.MemoryStore\(\) or fdag\.RedisStore\(url\)"),
    (lambda: fdag.RowDriver(fdag.Dag.from_modules(tiny), log="logs/"), DeclarationTypeError,  # type: ignore[arg-type]
     r"^log='logs/' is not an fdag\.FeatureLog\. Hint: pass fdag\.FeatureLog\(directory\)"),
    (lambda: fdag.RowDriver(tiny), DeclarationTypeError,  # type: ignore[arg-type]
     r"^dag=<module 'tests\.resources\.tiny' .*> is not an fdag\.Dag\. Hint: build one with fdag\.Dag\.from_modules"),
    (lambda: fdag.FrameDriver(fdag.Dag.from_modules(tiny), outputs=3), DeclarationTypeError,  # type: ignore[arg-type]
     r"^outputs=3 is not a list of feature names\."),
    (lambda: fdag.RowDriver(fdag.Dag.from_modules(tiny), outputs=[3]), fdag.DagError,  # type: ignore[list-item]
     r"^feature '3' is requested as an output but is a int, not a feature name\. Hint: name outputs with str\.$"),
    (lambda: fdag.Dag.from_modules(tiny, "tests.resources.tiny"), DeclarationTypeError,  # type: ignore[arg-type]
     r"^modules\[1\]='tests\.resources\.tiny' is not a module\. Hint: pass imported modules"),
])
def test_bad_driver_and_dag_arguments_are_named(build: Any, kind: type[FdagError], message: str) -> None:
    with pytest.raises(kind, match=message):
        build()


# -------------------------------------------------------------------------------------- optional packages

def _blocked(monkeypatch: pytest.MonkeyPatch, *packages: str) -> None:
    """Make ``import package`` fail as if it were not installed."""
    for name in list(sys.modules):
        if name in packages or name.startswith(tuple(f"{p}." for p in packages)):
            monkeypatch.delitem(sys.modules, name)
    for package in packages:
        monkeypatch.setitem(sys.modules, package, None)


def test_a_ray_backfill_without_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _blocked(monkeypatch, "ray")
    spine = pl.DataFrame({"x": [1], "y": [2.0], "as_of": [T0]})
    with pytest.raises(MissingDependencyError, match=r"^backfill\(engine='ray'\) needs the 'ray' package, which is "
                                                     r"not installed\. Hint: pip install 'fdag\[ray\]'\.$"):
        fdag.FrameDriver(fdag.Dag.from_modules(tiny)).backfill(spine, {}, tmp_path, engine="ray", progress=False)


def test_data_health_plots_without_matplotlib_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from fdag._observe.health import distribution_svg
    from fdag._values.types import FType

    _blocked(monkeypatch, "matplotlib")
    with pytest.raises(MissingDependencyError, match=r"Hint: pip install 'fdag\[catalog\]'\.$"):
        distribution_svg(pl.Series([1.0, 2.0]), FType(float))


def test_rendering_without_graphviz_names_the_program(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    dag = fdag.Dag.from_modules(tiny)
    with pytest.raises(MissingDependencyError, match=r"^rendering g\.svg needs the 'dot' program, which is not "
                                                     r"installed\. Hint: apt-get install graphviz"):
        dag.render(tmp_path / "g.svg")
    assert dag.render(tmp_path / "g.dot").read_text().startswith("digraph")  # text needs no program
    assert dag._repr_svg_() is None  # a notebook falls back to the text repr instead of showing an error


def test_the_model_service_without_its_packages_names_the_extra() -> None:
    for package in ("pydantic", "sklearn"):
        code = f"import sys; sys.modules[{package!r}] = None; import drivers.model_service"
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines()[-1] == (
            f"fdag.errors.MissingDependencyError: the model service needs the '{package}' package, which is not "
            "installed. Hint: pip install 'fdag[service]'.")

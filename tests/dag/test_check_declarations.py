"""``@fdag.check_output`` misuse: a ``DagError`` at build, every problem at once, each with ``file:line`` and a hint.

Also pinned: checks do not change versions (they never change a value), and they do change nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import ModuleType

import pytest

import fdag
from fdag._dag.checks import CheckSpec

MakeModule = Callable[[str, str], ModuleType]


@pytest.fixture(autouse=True)
def _in_module_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Locations are relative to the working directory: run where make_module writes, so they read 'm.py:4'."""
    monkeypatch.chdir(tmp_path)


def _problems(module: ModuleType) -> list[str]:
    with pytest.raises(fdag.DagError) as caught:
        fdag.Dag.from_modules(module)
    return [str(p) for p in caught.value.problems]


def test_every_misuse_is_reported_at_once_with_its_line(make_module: MakeModule) -> None:
    module = make_module("bad_checks", """
        from datetime import date
        import fdag

        @fdag.check_output(range=(0, 1))
        def name(who: str) -> str:
            return who

        @fdag.check_output(one_of=[1, "a", 2.5])
        def level(x: float) -> int:
            return 1

        @fdag.check_output(max_null_fraction=1.5)
        def spread(x: float) -> float:
            return x

        @fdag.check_output(range=(0.0, 1.0), importance="error")
        def score(x: float) -> float:
            return x

        @fdag.check_output(allow_null="no")
        def flag(x: float) -> bool:
            return x > 0

        @fdag.check_output(one_of=[[1]])
        def items(x: float) -> list[int]:
            return [1]

        @fdag.check_output(range=(2, 1))
        def backwards(x: float) -> float:
            return x

        @fdag.check_output(range=(0, float("nan")))
        def nan_bound(x: float) -> float:
            return x

        @fdag.check_output()
        def nothing(x: float) -> float:
            return x

        @fdag.check_output(one_of=[])
        def empty(x: float) -> str:
            return "a"

        @fdag.check_output(one_of=[None, "a"])
        def null_value(x: float) -> str:
            return "a"

        @fdag.check_output(max_null_fraction=True)
        def boolean_fraction(x: float) -> float:
            return x

        @fdag.check_output(one_of=[True, 1])
        def flags(x: float) -> bool:
            return True

        @fdag.check_output(range=(0.0, 1.0))
        @fdag.check_output(range=(0.0, 2.0), allow_null=False)
        def twice(x: float) -> float:
            return x
    """)
    problems = _problems(module)
    assert problems == [
        "feature 'name' (bad_checks.py:5) is checked with range=(0, 1) but returns 'str'. Hint: range= applies to "
        "int and float features; use one_of= for other values.",
        "feature 'level' (bad_checks.py:9) is checked with one_of=[1, 'a', 2.5] but 'a', 2.5 are not of its type "
        "'int'. Hint: list values of type 'int' (a null is allow_null's business: allow_null=False refuses it).",
        "feature 'spread' (bad_checks.py:13) is checked with max_null_fraction=1.5, which is not a fraction from 0 "
        "to 1. Hint: write e.g. max_null_fraction=0.05 (at most 5% nulls).",
        "feature 'score' (bad_checks.py:17) has a check with importance='error'. Hint: write importance='warn' "
        "(record and warn) or importance='fail' (raise CheckError).",
        "feature 'flag' (bad_checks.py:21) is checked with allow_null='no'. Hint: write allow_null=False to refuse "
        "nulls (True or None allow them).",
        "feature 'items' (bad_checks.py:25) is checked with one_of= but returns 'list[int]'. Hint: one_of= applies "
        "to int, float, bool, str, date, datetime and timedelta features.",
        "feature 'backwards' (bad_checks.py:29) is checked with range=(2, 1), which is not a (low, high) pair of "
        "numbers with low <= high. Hint: write e.g. range=(0.0, 1.0); both bounds are included.",
        "feature 'nan_bound' (bad_checks.py:33) is checked with range=(0, nan), which is not a (low, high) pair of "
        "numbers with low <= high. Hint: write e.g. range=(0.0, 1.0); both bounds are included.",
        "feature 'nothing' (bad_checks.py:37) has @fdag.check_output() without any check. Hint: give range=, one_of=, "
        "allow_null=False or max_null_fraction=, or drop the decorator.",
        "feature 'empty' (bad_checks.py:41) is checked with an empty one_of=. Hint: list values of type 'str' (a null "
        "is allow_null's business: allow_null=False refuses it).",
        "feature 'null_value' (bad_checks.py:45) is checked with one_of=[None, 'a'] but None is not of its type "
        "'str'. Hint: list values of type 'str' (a null is allow_null's business: allow_null=False refuses it).",
        "feature 'boolean_fraction' (bad_checks.py:49) is checked with max_null_fraction=True, which is not a "
        "fraction from 0 to 1. Hint: write e.g. max_null_fraction=0.05 (at most 5% nulls).",
        "feature 'flags' (bad_checks.py:53) is checked with one_of=[True, 1] but 1 is not of its type 'bool'. Hint: "
        "list values of type 'bool' (a null is allow_null's business: allow_null=False refuses it).",
        "feature 'twice' (bad_checks.py:57) declares the check 'range' twice. Hint: keep one; stacked "
        "@fdag.check_output decorators add different checks.",
    ]


def test_check_problems_come_with_the_dags_other_problems(make_module: MakeModule) -> None:
    module = make_module("mixed_checks", """
        import fdag

        @fdag.check_output(range=(0, 1))
        def label(x: float) -> str:
            return "a"

        def untyped(x):
            return x
    """)
    problems = _problems(module)
    assert len(problems) == 3
    assert problems[0].startswith("feature 'label' (mixed_checks.py:4) is checked with range=(0, 1)")
    assert all("untyped" in p for p in problems[1:])


def test_hamiltons_argument_names_are_answered_with_fdags(make_module: MakeModule) -> None:
    module = make_module("hamilton_names", """
        import fdag

        @fdag.check_output(values_in=["a"], allow_nans=False, max_fraction_nans=0.1, data_type=str)
        def label(x: float) -> str:
            return "a"
    """)
    assert _problems(module) == [
        "feature 'label' (hamilton_names.py:4) is checked with the unknown argument values_in=. Hint: fdag calls "
        "Hamilton's 'values_in' 'one_of'.",
        "feature 'label' (hamilton_names.py:4) is checked with the unknown argument allow_nans=. Hint: fdag calls "
        "Hamilton's 'allow_nans' 'allow_null'.",
        "feature 'label' (hamilton_names.py:4) is checked with the unknown argument max_fraction_nans=. Hint: fdag "
        "calls Hamilton's 'max_fraction_nans' 'max_null_fraction'.",
        "feature 'label' (hamilton_names.py:4) is checked with the unknown argument data_type=. Hint: the checks are "
        "range=, one_of=, allow_null= and max_null_fraction=; compute anything else as a feature.",
    ]


def test_a_window_check_is_judged_by_the_aggregations_type(make_module: MakeModule) -> None:
    module = make_module("window_checks", """
        from datetime import datetime
        import fdag

        events = fdag.Source("events", key="k", timestamp="ts", schema={"k": str, "ts": datetime, "m": str})

        @fdag.check_output(range=(0, 100))
        @fdag.window(events, agg=["count", "last"], over="1h")
        def m(m: str) -> str:
            return m
    """)
    # count is an int (a range applies), last is the str value (it does not)
    assert _problems(module) == [
        "feature 'm_last_1h' (window_checks.py:7) is checked with range=(0, 100) but returns 'str | None'. Hint: "
        "range= applies to int and float features; use one_of= for other values."]


def test_check_output_on_a_source_fails_at_once() -> None:
    source = fdag.Source("s", key="k", timestamp="ts", schema={"k": str, "ts": datetime})
    with pytest.raises(fdag.errors.DeclarationTypeError, match=re.escape(
            "check_output=Source('s', key='k', timestamp='ts', id=None) decorates a Source, not a feature. Hint: put "
            "@fdag.check_output(...) on the function of a feature.")):
        fdag.check_output(range=(0, 1))(source)  # type: ignore[type-var]


def test_values_are_resolved_to_the_nodes_type(make_module: MakeModule) -> None:
    module = make_module("typed_checks", """
        from datetime import datetime
        import fdag

        @fdag.check_output(range=(0, 1), one_of=[0, 1, 1], importance="fail")
        def share(x: float) -> float:
            return x

        @fdag.check_output(one_of=[datetime(2024, 1, 1)])
        def when(x: float) -> datetime:
            return datetime(2024, 1, 1)
    """)
    dag = fdag.Dag.from_modules(module)
    range_check, one_of = dag.nodes["share"].checks
    assert (range_check.low, range_check.high) == (0.0, 1.0) and type(range_check.low) is float
    assert one_of.values == (0.0, 1.0) and all(type(v) is float for v in one_of.values)  # widened, deduplicated
    assert one_of.importance == "fail" and one_of.describe() == "one_of [0.0, 1.0] (fail)"
    (instant,) = dag.nodes["when"].checks
    assert instant.values[0].tzinfo is not None  # a naive instant is read as UTC, like every instant
    assert CheckSpec("n", "max_null_fraction", "warn", "", limit=0.1).describe() == \
        "max_null_fraction 0.1 (warn, offline only)"


def test_checks_do_not_change_versions(make_module: MakeModule) -> None:
    plain = fdag.Dag.from_modules(make_module("versioned", """
        def score(x: float) -> float:
            return x * 2

        def doubled(score: float) -> float:
            return score * 2
    """))
    checked = fdag.Dag.from_modules(make_module("versioned", """
        import fdag

        @fdag.check_output(range=(0.0, 1.0), importance="fail")
        def score(x: float) -> float:
            return x * 2

        def doubled(score: float) -> float:
            return score * 2
    """))
    assert checked.nodes["score"].checks and not plain.nodes["score"].checks
    assert {n: checked.version(n) for n in checked.nodes} == {n: plain.version(n) for n in plain.nodes}

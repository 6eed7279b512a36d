"""Building and validating DAGs: discovery, types, and one DagError listing every problem."""

from __future__ import annotations

import re

import pytest

import fdag
from fdag._values.types import FType
from tests.resources import broken, cyclic, duplicate, reserved, tiny


def test_discovery_finds_public_functions_defined_in_the_module() -> None:
    dag = fdag.Dag.from_modules(tiny)
    assert list(dag.nodes) == ["doubled", "ratio", "label"]
    assert dict(dag.inputs) == {"name": FType(str, optional=True), "x": FType(int), "y": FType(float)}
    assert dag.nodes["ratio"].params == {"doubled": FType(int), "y": FType(float)}
    assert dag.nodes["label"].returns == FType(str)
    assert dag.nodes["doubled"].doc == "Twice x."
    assert dag.nodes["ratio"].tags == {"owner": "tests", "tier": 1}
    assert re.fullmatch(r"tests/resources/tiny\.py:\d+", dag.nodes["doubled"].location)


def test_imported_and_private_functions_are_not_nodes() -> None:
    from fdag.demo import payment

    dag = fdag.Dag.from_modules(payment)
    assert "tag" not in dag.nodes and "datetime" not in dag.nodes
    assert all(not name.startswith("_") for name in dag.nodes)


def test_every_problem_is_listed_once_with_location_and_hint() -> None:
    with pytest.raises(fdag.DagError) as caught:
        fdag.Dag.from_modules(broken)
    message = str(caught.value)
    assert message.startswith("7 problems in the DAG:\n")
    assert len(caught.value.problems) == 7
    expected = [
        r"feature 'no_annotation' \(tests/resources/broken\.py:8\) has no type annotation for its parameter 'x'\. "
        r"Hint: annotate it",
        r"feature 'no_return' \(tests/resources/broken\.py:12\) has no type annotation for its return\.",
        r"feature 'bad_as_of' \(tests/resources/broken\.py:36\) takes 'as_of: int' but 'as_of' is the request "
        r"instant\. Hint: annotate it 'as_of: datetime' or rename the parameter\.",
        r"feature 'uses_set' .* unsupported parameter 'x' annotation: type 'set' is not supported\. Hint:",
        r"feature 'loop_a' \(tests/resources/broken\.py:28\) is part of a cycle: loop_a -> loop_b -> loop_a\. Hint:",
        r"feature 'needs_int' \(tests/resources/broken\.py:20\) takes 'maybe: int' but 'maybe' returns "
        r"'int \| None'\. Hint: annotate the parameter as 'int \| None' or make 'maybe' non-optional\.",
        r"feature 'wants_text' .* takes 'needs_int: str' but 'needs_int' returns 'int'\. Hint:",
    ]
    for pattern in expected:
        assert re.search(pattern, message), pattern


def test_a_cycle_is_reported_with_its_path() -> None:
    with pytest.raises(fdag.DagError, match=r"is part of a cycle: a -> b -> c -> a\. Hint:"):
        fdag.Dag.from_modules(cyclic)


def test_a_name_defined_twice_across_modules() -> None:
    with pytest.raises(fdag.DagError, match=r"feature 'doubled' .* is defined 2 times \(tests/resources/tiny\.py:\d+, "
                       r"tests/resources/duplicate\.py:\d+\)\. Hint: rename one"):
        fdag.Dag.from_modules(tiny, duplicate)


def test_as_of_is_reserved() -> None:
    with pytest.raises(fdag.DagError, match=r"feature 'as_of' .* is reserved for the request instant"):
        fdag.Dag.from_modules(reserved)


def test_unknown_outputs_suggest_close_names() -> None:
    dag = fdag.Dag.from_modules(tiny)
    with pytest.raises(fdag.DagError, match=r"feature 'ratoi' is requested as an output .* Hint: did you mean 'ratio'"):
        fdag.RowDriver(dag, ["ratoi"])
    with pytest.raises(fdag.DagError, match="'nope' is requested"):
        fdag.FrameDriver(dag, ["nope"])


def test_dag_error_is_a_value_error_and_an_fdag_error() -> None:
    with pytest.raises(ValueError):
        fdag.Dag.from_modules(cyclic)
    assert issubclass(fdag.DagError, fdag.FdagError)


def test_no_modules_is_an_error() -> None:
    with pytest.raises(fdag.DagError, match="no modules were given"):
        fdag.Dag.from_modules()


def test_conflicting_input_types(make_module) -> None:  # type: ignore[no-untyped-def]
    module = make_module("conflict_mod", """
        def a(x: int) -> int:
            return x

        def b(x: str) -> str:
            return x
    """)
    with pytest.raises(fdag.DagError, match=r"feature 'b' .* takes input 'x: str' but 'a' .* takes 'x: int'"):
        fdag.Dag.from_modules(module)


def test_int_widens_to_float_but_optional_does_not_narrow(make_module) -> None:  # type: ignore[no-untyped-def]
    module = make_module("widen_mod", """
        def n(x: int) -> int:
            return x

        def f(n: float) -> float:
            return n / 2
    """)
    dag = fdag.Dag.from_modules(module)
    assert fdag.RowDriver(dag, ["f"]).get({"x": 3})["f"] == 1.5


def test_plan_contains_only_what_outputs_need() -> None:
    dag = fdag.Dag.from_modules(tiny)
    plan = dag.plan(["ratio"])
    assert plan.node_names == ("doubled", "ratio")
    assert list(plan.inputs) == ["x", "y"]

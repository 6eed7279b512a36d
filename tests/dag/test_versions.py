"""Versions change exactly when a node's code, decorator arguments or anything upstream changes."""

from __future__ import annotations

import fdag

BASE = """
import fdag
THRESHOLD = 10

def a(x: int) -> int:
    return x + 1

def b(a: int) -> int:
    return a * 2

def c(b: int, y: int) -> int:
    return b - y

def other(y: int) -> int:
    return y
"""


def versions(make_module, name: str, source: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    dag = fdag.Dag.from_modules(make_module(name, source))
    return {node: dag.version(node) for node in dag.nodes}


def test_changing_a_function_changes_it_and_everything_downstream_only(make_module) -> None:  # type: ignore[no-untyped-def]
    before = versions(make_module, "v_base", BASE)
    after = versions(make_module, "v_changed", BASE.replace("return a * 2", "return a * 3"))
    assert {n for n in before if before[n] != after[n]} == {"b", "c"}


def test_comments_docstrings_and_layout_do_not_change_versions(make_module) -> None:  # type: ignore[no-untyped-def]
    before = versions(make_module, "v_base2", BASE)
    reformatted = BASE.replace("def b(a: int) -> int:\n    return a * 2",
                               'def b(a: int) -> int:\n    """Doubles."""\n    # why: tests\n    return (a * 2)')
    assert versions(make_module, "v_fmt", reformatted) == before


def test_a_module_constant_the_function_reads_is_part_of_its_version(make_module) -> None:  # type: ignore[no-untyped-def]
    source = BASE.replace("return x + 1", "return x + THRESHOLD")
    before = versions(make_module, "v_const1", source)
    after = versions(make_module, "v_const2", source.replace("THRESHOLD = 10", "THRESHOLD = 11"))
    assert {n for n in before if before[n] != after[n]} == {"a", "b", "c"}


def test_window_arguments_are_part_of_the_version(make_module) -> None:  # type: ignore[no-untyped-def]
    source = """
from datetime import datetime
import fdag
events = fdag.Source("events", key="k", timestamp="ts", schema={"k": str, "ts": datetime, "v": float})

@fdag.window(events, agg="sum", over="1h")
def v_sum(v: float) -> float:
    return v

def doubled(v_sum: float) -> float:
    return v_sum * 2
"""
    before = versions(make_module, "v_win1", source)
    after = versions(make_module, "v_win2", source.replace('over="1h"', 'over="2h"'))
    assert before["v_sum"] != after["v_sum"] and before["doubled"] != after["doubled"]


def test_versions_are_short_hex_and_stable_across_builds(make_module) -> None:  # type: ignore[no-untyped-def]
    first = versions(make_module, "v_s1", BASE)
    second = versions(make_module, "v_s2", BASE)
    assert first == second
    assert all(len(v) == 12 and int(v, 16) >= 0 for v in first.values())


def test_lineage_lists_upstream_versions_inputs_and_tags() -> None:
    from tests.resources import tiny

    dag = fdag.Dag.from_modules(tiny)
    lineage = dag.lineage("label")
    assert lineage.version == dag.version("label")
    assert lineage.upstream == {"doubled": dag.version("doubled"), "ratio": dag.version("ratio")}
    assert lineage.inputs == {"name": "str | None", "x": "int", "y": "float"}
    assert lineage.sources == {}
    assert dag.lineage("ratio").tags == {"owner": "tests", "tier": 1}
    assert lineage.to_dict()["node"] == "label"

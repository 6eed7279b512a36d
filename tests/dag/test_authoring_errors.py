"""Misuse of the Hamilton-style decorators: every problem at once, each with its file:line and a hint."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from types import ModuleType

import pytest

import fdag
from fdag.errors import LikelyTypoWarning

Make = Callable[[str, str], ModuleType]


def _problems(module: ModuleType, **kwargs: object) -> list[str]:
    with pytest.raises(fdag.DagError) as caught:
        fdag.Dag.from_modules(module, **kwargs)  # type: ignore[arg-type]
    return [str(p) for p in caught.value.problems]


def test_no_and_two_matching_variants_are_both_reported(make_module: Make) -> None:
    module = make_module("variants_bad", """
        import fdag

        @fdag.config.when(region="eu")
        def vat__eu() -> float:
            return 0.2

        @fdag.config.when(region="us")
        def vat__us() -> float:
            return 0.0

        @fdag.config.when_in(tier=["gold", "silver"])
        def fee__rich() -> float:
            return 0.0

        @fdag.config.when_not(tier="basic")
        def fee__not_basic() -> float:
            return 1.0
        """)
    problems = _problems(module, config={"region": "uk", "tier": "gold"})
    assert len(problems) == 2
    assert re.fullmatch(
        r"feature 'vat' \(.*variants_bad\.py:4\) has no config variant that applies to config \{'region': 'uk', "
        r"'tier': 'gold'\}; the variants are vat__eu \(.*:4: region == 'eu'\); vat__us \(.*:8: region == 'us'\)\. "
        r"Hint: set 'region' in Dag\.from_modules\(\.\.\., config=\.\.\.\) to a value a variant accepts, or add a "
        r"variant for this config\.", problems[0])
    assert re.fullmatch(
        r"feature 'fee' \(.*:12\) has 2 config variants that apply to config \{'region': 'uk', 'tier': 'gold'\}: "
        r"fee__rich \(.*:12\); fee__not_basic \(.*:16\)\. Hint: make the variants' conditions exclusive \(exactly "
        r"one must apply\)\.", problems[1])


def test_a_variant_beside_an_undecorated_function_of_its_name_is_two_matches(make_module: Make) -> None:
    module = make_module("variant_and_plain", """
        import fdag

        def vat() -> float:
            return 0.1

        @fdag.config.when(region="eu")
        def vat__eu() -> float:
            return 0.2
        """)
    assert "has 2 config variants that apply" in _problems(module, config={"region": "eu"})[0]
    assert fdag.Dag.from_modules(module, config={"region": "us"}).nodes["vat"].function.__name__ == "vat"


def test_bindings_refs_fields_and_combinations(make_module: Make) -> None:
    module = make_module("bindings_bad", """
        import fdag

        def amount_limit(x: float) -> float:
            return x

        @fdag.parameterize(a_over={"limit": fdag.value("high")}, b_over={"limt": fdag.value(1.0)},
                           c_over={"limit": fdag.ref("amount_limt")}, d_over={"limit": fdag.value(None)})
        def over(x: float, limit: float) -> bool:
            return x > limit

        @fdag.extract_fields({"amount_limit": float, "other": int})
        def parts(x: float) -> dict:
            return {"amount_limit": x, "other": 1}

        @fdag.extract_fields({"a": int})
        def not_a_dict(x: float) -> int:
            return 1

        @fdag.parameterize(p={"x": fdag.value(1.0)})
        @fdag.extract_fields({"q": int})
        def both(x: float) -> dict:
            return {"q": 1}

        def takes_default(x: float, n: int = "three") -> int:
            return 1
        """)
    problems = _problems(module)
    texts = [re.sub(r" \([^()]*bindings_bad\.py:\d+[^()]*\)", "", p) for p in problems]
    assert texts == [
        "feature 'a_over' takes 'limit: float' but is given value('high'). Hint: give a value of type 'float', or "
        "annotate the parameter to match.",
        "feature 'b_over' binds 'limt' but the function has no parameter 'limt'. Hint: bind one of its parameters: "
        "x, limit.",
        "feature 'd_over' takes 'limit: float' but is given value(None). Hint: give a value of type 'float', or "
        "annotate the parameter to match.",
        "feature 'not_a_dict' extracts fields but has '-> int'. Hint: annotate the function '-> dict': it returns "
        "the fields in a dict.",
        "feature 'both' is decorated with both @parameterize and @extract_fields. Hint: window, lookup, parameterize "
        "and extract_fields do not combine: write one function per declaration (a feature can call a _private "
        "helper).",
        "feature 'takes_default' takes 'n: int' with the default 'three', which is not a 'int'. Hint: give a "
        "default of type 'int' (or None).",
        "feature 'amount_limit' is defined 2 times. Hint: rename one of them; a node name must be unique across "
        "modules.",
        "feature 'c_over' binds 'limit' to ref('amount_limt'), which is no node. Hint: did you mean "
        "'amount_limit'? (a ref naming no node reads a request input; rename it if that is meant).",
    ]
    assert all(re.search(r"bindings_bad\.py:\d+", p) for p in problems)
    assert re.search(r"defined 2 times \(.*bindings_bad\.py:4, .*bindings_bad\.py:12\)", problems[6])


def test_config_values_must_fit_the_parameter_and_not_shadow_a_node(make_module: Make) -> None:
    module = make_module("config_bad", """
        def threshold(limit: int) -> int:
            return limit

        def limit_node(x: int) -> int:
            return x
        """)
    problems = _problems(module, config={"limit": "ten", "limit_node": 3})
    assert [re.sub(r" \(.*?config_bad\.py:\d+\)", "", p) for p in problems] == [
        "feature 'threshold' takes 'limit: int' but is given config['limit']. Hint: give a value of type 'int', or "
        "annotate the parameter to match.",
        "feature 'limit_node' is both a node and a key of the config. Hint: rename the node or the config key "
        "'limit_node'.",
    ]


def test_conflicting_defaults_of_one_input(make_module: Make) -> None:
    module = make_module("defaults_bad", """
        def a(rate: float = 0.1) -> float:
            return rate

        def b(rate: float = 0.2) -> float:
            return rate
        """)
    assert re.fullmatch(r"feature 'b' \(.*:5\) gives input 'rate' the default 0\.2 but 'a' \(.*:2\) gives it 0\.1\. "
                        r"Hint: give the input one default everywhere\.", _problems(module)[0])


def test_exclude_beside_a_declaration_and_bad_decorator_arguments(make_module: Make) -> None:
    module = make_module("exclude_bad", """
        import fdag

        @fdag.exclude
        @fdag.parameterize(x={"a": fdag.value(1)})
        def helper(a: int) -> int:
            return a
        """)
    assert re.sub(r" \(.*?\)", "", _problems(module)[0], count=1) == (
        "feature 'helper' is marked @fdag.exclude but also declared @parameterize. Hint: remove @fdag.exclude to "
        "make it a node, or the @parameterize to keep it a helper.")
    with pytest.raises(fdag.DeclarationError, match=r"is neither fdag\.value\(\.\.\.\) nor fdag\.ref\(\.\.\.\)\. "
                       r"Hint: wrap it: fdag\.value\(3\) for a constant"):
        fdag.parameterize(a={"x": 3})
    with pytest.raises(fdag.DeclarationError, match=r"config\.when=\{\} has no condition"):
        fdag.config.when()
    with pytest.raises(fdag.DeclarationError, match=r"region='eu' is not a collection of values"):
        fdag.config.when_in(region="eu")
    with pytest.raises(fdag.DeclarationError, match=r"fields=\{\} names no field"):
        fdag.extract_fields({})
    with pytest.raises(fdag.DeclarationError, match=r"ref='a b' is not the name of a node or request input"):
        fdag.ref("a b")
    with pytest.raises(fdag.DeclarationError, match=r"config=\['region'\] is not a mapping"):
        fdag.Dag.from_modules(module, config=["region"])  # type: ignore[arg-type]


def test_an_input_one_edit_away_from_a_node_is_warned(make_module: Make) -> None:
    module = make_module("typo", """
        def fare_mean_7d(fare: float) -> float:
            return fare

        def ratio(fare: float, fare_mean_7: float) -> float:
            return fare / fare_mean_7
        """)
    with pytest.warns(LikelyTypoWarning, match=r"request input 'fare_mean_7' \(read by 'ratio'\) is one edit away "
                      r"from the node 'fare_mean_7d'\. Hint: rename the parameter to 'fare_mean_7d'"):
        fdag.Dag.from_modules(module)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fdag.Dag.from_modules(make_module("no_typo", "def a(x: int) -> int:\n    return x\n"))

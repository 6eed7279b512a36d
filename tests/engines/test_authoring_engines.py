"""Each Hamilton-style decorator in both engines: RowDriver, FrameDriver and a hand-written oracle agree on
values, nulls and error records (text included) on generated requests; overrides and optional inputs."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fdag
from tests.resources import authoring

AT = datetime(2024, 3, 1, tzinfo=UTC)
DAG = fdag.Dag.from_modules(authoring, config={"scale": 3})
amounts = st.one_of(st.none(), st.floats(-500, 500, allow_nan=False), st.sampled_from([0.0, 100.0, 250.0, 450.0]))
texts = st.one_of(st.none(), st.sampled_from(["ab-cd", "boom-1", "solo", "q-x", "a-", "-z"]), st.text(max_size=6))
requests = st.lists(st.fixed_dictionaries({"amount": amounts, "credit_limit": amounts, "text": texts},
                                          optional={"fee_rate": st.floats(0, 1, allow_nan=False),
                                                    "floor": st.one_of(st.none(), st.floats(0, 10))}),
                    min_size=1, max_size=8)


def _oracle(r: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    """The rules computed by hand: null inputs skip, exceptions null and record, fields checked one by one."""
    a, limit, text = r["amount"], r["credit_limit"], r["text"]
    out: dict[str, Any] = {"doubled": None if a is None else a * 2}
    errors: list[tuple[str, str, str]] = []
    out["over_100"] = None if a is None else a > 100
    out["over_limit"] = out["at_limit"] = None if a is None or limit is None else a > limit
    out["over_doubled"] = None if a is None else a > out["doubled"]
    out["scaled"] = None if a is None else a * 3.0
    rate, floor = r.get("fee_rate", 0.02), r.get("floor")
    if a is None or rate is None:
        out["fee"] = None
    else:
        cost = a * rate
        out["fee"] = cost if floor is None or cost > floor else floor
    if a is None or limit is None:
        out["bounded_ratio"] = None
    elif limit == 0:
        out["bounded_ratio"] = None
        errors.append(("bounded_ratio", "ZeroDivisionError", "float division by zero"))
    else:
        out["bounded_ratio"] = min(1.0, max(-1.0, a / limit))
    out.update(sign=None, magnitude=None, big=None)
    if a is not None and a > 400:
        out.update(sign=1, magnitude=a)
        errors.append(("big", "LookupError", "sign_parts returned no field 'big'"))
    elif a is not None and a != 0:
        out.update(sign=1 if a > 0 else -1, magnitude=abs(a), big=a > 300)
    out.update(head=None, tail_len=None, code=None)
    if text is not None:
        head, _, tail = text.partition("-")
        if head == "boom":
            errors.append(("split", "ValueError", "boom"))
        else:
            out["head"], out["tail_len"] = head, len(tail)
            if tail == "":
                errors.append(("code", "LookupError", "split returned no field 'code'"))
            elif tail == "x":
                errors.append(("code", "TypeError", "field 'code' is a str ('x') but the type is 'int | None'"))
            else:
                out["code"] = len(head) * 7
    return out, errors


@settings(max_examples=60, deadline=None)
@given(batch=requests)
def test_row_frame_and_oracle_agree(batch: list[dict[str, Any]]) -> None:
    row = fdag.RowDriver(DAG)
    frame = fdag.FrameDriver(DAG)
    for with_optional in (True, False):
        chosen = [r for r in batch if ("fee_rate" in r) == with_optional and ("floor" in r) == with_optional]
        if not chosen:
            continue
        expected = [_oracle(r) for r in chosen]
        vectors = row.get_many(chosen, as_of=AT)
        result = frame.evaluate(pl.DataFrame(chosen, schema_overrides={"text": pl.String}).with_columns(
            as_of=pl.lit(AT)))
        for (want, _), vector, got in zip(expected, vectors, result.table.to_dicts(), strict=True):
            assert vector.values == {name: want[name] for name in vector.values}
            assert {name: got[name] for name in vector.values} == vector.values
        wanted = Counter(e for _, errs in expected for e in errs)
        online = Counter((e.node, e.type, e.message) for v in vectors for e in v.errors)
        offline = Counter({(e.node, e.type, e.message): e.count for e in result.errors})
        assert online == wanted == offline


def test_everything_is_translated_but_what_the_body_needs_a_fallback_for() -> None:
    explained = {e.node: str(e) for e in fdag.FrameDriver(DAG).explanations() if e.how not in ("translated", "input")}
    reason = "fallback (assignment to something other than a simple name (unpacking, attribute, subscript))"
    assert explained == {name: f"{name}: {reason}" for name in ("head", "tail_len", "code")}


def test_a_helper_that_is_neither_private_nor_excluded_falls_back(make_module: Any) -> None:
    module = make_module("public_helper", """
        def helper_node(x: float) -> float:
            return x

        def uses(x: float) -> float:
            return helper_node(x) + 1
        """)
    explained = {e.node: str(e) for e in fdag.FrameDriver(fdag.Dag.from_modules(module)).explanations()}
    assert explained["uses"] == "uses: fallback (calls 'helper_node' (not a known pure function))"


def test_parameterized_docs_and_versions() -> None:
    assert DAG.nodes["over_100"].doc == "Whether the amount is above 100."  # the value as written
    assert DAG.nodes["over_limit"].doc == "Whether the amount is above credit_limit."
    assert DAG.nodes["at_limit"].doc == "Whether the amount is above the credit limit."
    other = fdag.Dag.from_modules(authoring, config={"scale": 4})
    assert other.version("scaled") != DAG.version("scaled")  # the config value is part of the version
    assert other.version("over_100") == DAG.version("over_100")
    assert len({DAG.version(n) for n in ("over_100", "over_limit", "over_doubled", "at_limit")}) == 4
    assert DAG.nodes["code"].declared == "field 'code' of split"
    assert DAG.nodes["over_100"].declared == "over with limit=100.0"
    assert DAG.lineage("over_doubled").upstream == {"doubled": DAG.version("doubled")}
    assert DAG.defaults == {"fee_rate": 0.02, "floor": None}


def test_variant_versions_include_the_config_and_dot_shows_the_kinds(make_module: Any) -> None:
    module = make_module("variant_versions", """
        import fdag

        @fdag.config.when_in(region=["eu", "uk"])
        def vat__europe() -> float:
            return 0.2

        @fdag.config.when_not(region="eu")
        @fdag.config.when_not(region="uk")
        def vat__elsewhere() -> float:
            return 0.0
        """)
    eu, uk, us = (fdag.Dag.from_modules(module, config={"region": r}) for r in ("eu", "uk", "us"))
    assert eu.version("vat") != uk.version("vat") != us.version("vat")
    assert fdag.RowDriver(uk).get({})["vat"] == 0.2 and fdag.RowDriver(us).get({})["vat"] == 0.0
    assert "vat\\nvariant vat__europe (region in ['eu', 'uk'])\\nfloat" in eu.to_dot()
    assert "code\\nfield 'code' of split\\nint | None" in DAG.to_dot()


@pytest.mark.parametrize("engine", ["row", "frame"])
def test_overrides_replace_a_node_and_what_only_it_needs(engine: str) -> None:
    request = {"amount": 10.0, "credit_limit": 5.0, "text": "a-b", "doubled": 1.0}
    if engine == "row":
        row = fdag.RowDriver(DAG, outputs=["over_doubled", "doubled"])
        with pytest.raises(fdag.InputError, match=r"input 'doubled' is both a request key and a node this request "
                           r"computes\. Hint: drop that key, or pass overrides=\['doubled'\]"):
            row.get(request, as_of=AT)
        assert row.get(request, as_of=AT, overrides=["doubled"]).values == {"over_doubled": True, "doubled": 1.0}
        assert row.get_many([request], as_of=AT, overrides=["doubled"])[0]["over_doubled"] is True
        with pytest.raises(fdag.InputError, match="input 'doubled' is missing from the request"):
            row.get({"amount": 1.0}, as_of=AT, overrides=["doubled"])
        only = fdag.RowDriver(DAG, outputs=["doubled", "over_doubled"])  # 'amount' is still needed by over_doubled
        with pytest.raises(fdag.InputError, match="input 'amount' is missing"):
            only.get({"doubled": 4.0}, as_of=AT, overrides=["doubled"])
        alone = fdag.RowDriver(DAG, outputs=["doubled"])  # what only 'doubled' read is not read
        assert alone.get({"doubled": 4.0}, as_of=AT, overrides=["doubled"]).values == {"doubled": 4.0}
    else:
        frame = fdag.FrameDriver(DAG, outputs=["over_doubled"])
        spine = pl.DataFrame([request]).with_columns(as_of=pl.lit(AT))
        with pytest.raises(fdag.InputError, match=r"input 'doubled' is both a spine column and a node this run "
                           r"computes"):
            frame.run(spine)
        assert frame.run(spine, overrides=["doubled"])["over_doubled"].to_list() == [True]
        assert frame.evaluate(spine, overrides=["doubled"]).table["over_doubled"].to_list() == [True]
    with pytest.raises(fdag.DeclarationError, match=r"overrides=\['doubld'\] names 'doubld', which is no node\. "
                       r"Hint: did you mean 'doubled', 'over_doubled'\?"):
        DAG.plan(["over_doubled"], overrides=["doubld"])


def test_optional_inputs_absent_read_the_default_present_and_null_are_null() -> None:
    row = fdag.RowDriver(DAG, outputs=["fee"])
    frame = fdag.FrameDriver(DAG, outputs=["fee"])
    assert row.get({"amount": 100.0}, as_of=AT)["fee"] == 2.0
    assert row.get({"amount": 100.0, "fee_rate": None}, as_of=AT)["fee"] is None
    assert row.get({"amount": 100.0, "floor": 5.0}, as_of=AT)["fee"] == 5.0
    spine = pl.DataFrame({"amount": [100.0], "as_of": [AT]})
    assert frame.run(spine)["fee"].to_list() == [2.0]
    assert frame.run(spine.with_columns(fee_rate=pl.lit(None, pl.Float64)))["fee"].to_list() == [None]

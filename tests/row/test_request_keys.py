"""Which request keys ``RowDriver.get`` accepts, against a brute-force reading of the rule.

A key named like a node the request computes is an ``InputError`` (it would silently lose to the computed value),
reported before a missing input; keys the plan does not read are ignored. The compiled function skips the set test
when a request has exactly as many keys as it reads inputs, so requests of every size, with and without the
defaulted input and overrides, are generated here.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fdag
from fdag.errors import MissingInputError
from tests.resources import request_keys

DAG = fdag.Dag.from_modules(request_keys)
AT = datetime(2024, 1, 1, tzinfo=UTC)
VALUES = {"amount": 3.0, "cap": 5.0, "label": "a", "scaled": 1.0, "capped": 2.0, "tagged": "T", "summary": "s",
          "unread": 0}
OUTPUTS = [["summary"], ["capped"], ["tagged"], ["summary", "scaled"]]


def expected(outputs: list[str], overrides: list[str], request: dict[str, object]) -> str:
    """``clash <key>``, ``missing`` or ``values``: the rule read off the plan, key by key."""
    plan = DAG.plan(outputs, overrides)
    computed = set(plan.node_names)
    clashing = [key for key in request if key in computed]
    if clashing:
        return f"clash {clashing[0]}"
    required = [name for name in plan.inputs if name != "label"] + sorted(plan.overrides)
    return "missing" if any(name not in request for name in required) else "values"


@settings(max_examples=300, deadline=None)
@given(outputs=st.sampled_from(OUTPUTS), overrides=st.sampled_from([[], ["scaled"], ["capped"], ["tagged"]]),
       keys=st.lists(st.sampled_from(sorted(VALUES)), unique=True))
def test_a_key_naming_a_computed_node_is_refused_first(outputs: list[str], overrides: list[str],
                                                       keys: list[str]) -> None:
    row = fdag.RowDriver(DAG, outputs)
    overrides = [name for name in overrides if name in DAG.plan(outputs).node_names]
    request = {key: VALUES[key] for key in keys}
    want = expected(outputs, overrides, request)
    if want.startswith("clash"):
        with pytest.raises(fdag.InputError, match=rf"^input '{want[6:]}' is both a request key and a node this "
                                                   r"request computes\. Hint: drop that key, or pass overrides="):
            row.get(request, AT, overrides)
    elif want == "missing":
        with pytest.raises(MissingInputError, match="is missing from the request"):
            row.get(request, AT, overrides)
    else:
        assert set(row.get(request, AT, overrides).values) == set(outputs)


def test_a_request_of_exactly_the_read_size_with_a_clash_instead_of_an_input() -> None:
    row = fdag.RowDriver(DAG, ["capped"])  # reads amount and cap: two keys, one of them a node
    with pytest.raises(fdag.InputError, match=r"^input 'scaled' is both a request key"):
        row.get({"amount": 1.0, "scaled": 2.0}, AT)
    with pytest.raises(MissingInputError, match=r"^input 'cap' is missing"):
        row.get({"amount": 1.0, "unread": 2.0}, AT)
    assert row.get({"amount": 1.0, "cap": 0.5}, AT).values == {"capped": 0.5}


def test_provenance_refuses_the_keys_get_refuses() -> None:
    row = fdag.RowDriver(DAG)
    with pytest.raises(fdag.InputError, match=r"^input 'scaled' is both a request key"):
        row.provenance({"amount": 1.0, "cap": 2.0, "scaled": 3.0}, "capped", AT)
    assert row.provenance({"amount": 1.0, "cap": 2.0}, "capped", AT).value == 2.0

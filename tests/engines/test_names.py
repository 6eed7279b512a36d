"""Names are data, never code: any string naming a source column works in both engines and is never executed.

The key, timestamp and id columns of a source (and so the request input that names the entity) may be any
string; feature parameters must be identifiers, so these columns are what a user can name freely.
"""

from __future__ import annotations

import builtins
import re
import sys
import types
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

import fdag
from fdag.errors import MissingInputError, SourceError

NAMES = [
    "user-id",
    "user id",
    "class",
    "ünïcødé",
    "x'); import os; os._exit(3) #",
    "a\nb",
    "__import__('os')",
    "__import__('builtins').__setattr__('FDAG_RAN', 1)",
    "v_0",  # the generated code's own variable names are no special case
    "in_0",
    "'''",
    '\\"',
]
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _module(key: str) -> types.ModuleType:
    """A source keyed by ``key``, with a window and a lookup over it (two states of one source) and a feature."""
    module = types.ModuleType(f"names_{abs(hash(key))}")
    module.__dict__.update(KEY=key, TS=f"{key} ts", ID=f"{key} id")
    source = """
from __future__ import annotations
from datetime import datetime
import fdag

payments = fdag.Source("pay " + KEY, key=KEY, timestamp=TS, id=ID,
                       schema={KEY: str, TS: datetime, ID: str, "amount": float})

@fdag.window(payments, agg="sum", over="1h")
def spent(amount: float) -> float:
    return amount

@fdag.lookup(payments)
def last_amount(amount: float) -> float:
    return amount

def doubled(spent: float, last_amount: float | None) -> float | None:
    return None if last_amount is None else spent * 2 + last_amount
"""
    sys.modules[module.__name__] = module
    exec(compile(source, f"<{module.__name__}>", "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("key", NAMES)
def test_any_source_column_name_gives_correct_values_in_both_engines(key: str) -> None:
    module = _module(key)
    try:
        dag = fdag.Dag.from_modules(module)
        source = f"pay {key}"
        events = [{key: "u1", f"{key} ts": T0, f"{key} id": "e1", "amount": 2.5},
                  {key: "u1", f"{key} ts": T0 + timedelta(minutes=1), f"{key} id": "e2", "amount": 4.0},
                  {key: "u2", f"{key} ts": T0, f"{key} id": "e3", "amount": 1.0}]
        outputs = ["spent", "last_amount", "doubled"]
        at = T0 + timedelta(minutes=2)
        expected = [{"spent": 6.5, "last_amount": 4.0, "doubled": 17.0},
                    {"spent": 1.0, "last_amount": 1.0, "doubled": 3.0},
                    {"spent": 0.0, "last_amount": None, "doubled": None}]
        row = fdag.RowDriver(dag, outputs)
        row.ingest(source, events)
        got = [row.get({key: user}, at).values for user in ("u1", "u2", "u3")]
        assert got == expected
        spine = pl.DataFrame({key: ["u1", "u2", "u3"], "as_of": [at] * 3})
        table = fdag.FrameDriver(dag, outputs).run(spine, sources={source: pl.DataFrame(events)})
        assert table.select(outputs).to_dicts() == expected
        assert table[key].to_list() == ["u1", "u2", "u3"]
        with pytest.raises(MissingInputError, match="is missing from the request"):
            row.get({}, at)
        assert not hasattr(builtins, "FDAG_RAN")
    finally:
        sys.modules.pop(module.__name__, None)


@pytest.mark.parametrize("name", ["*", "^user$"])
def test_names_polars_reads_as_patterns_are_refused(name: str) -> None:
    with pytest.raises(SourceError, match=rf"source 'pay' key {re.escape(repr(name))} is what Polars reads as a "
                       r"pattern .*\. Hint: rename the column\."):
        fdag.Source("pay", key=name, timestamp="ts", schema={name: str, "ts": datetime})


@pytest.mark.parametrize(
    ("arguments", "named"),
    [({"name": 1}, "source '1' name"), ({"key": 3, "schema": {3: str, "ts": datetime}}, "source 'pay' key 3"),
     ({"schema": {"user": str, "ts": datetime, 5: int}}, "source 'pay' column 5")],
)
def test_names_that_are_not_strings_are_refused(arguments: dict[str, object], named: str) -> None:
    given: dict[str, object] = {"name": "pay", "key": "user", "timestamp": "ts",
                                "schema": {"user": str, "ts": datetime}, **arguments}
    with pytest.raises(SourceError, match=rf"{named} is a int, not a str\. Hint: "):
        fdag.Source(**given)  # type: ignore[arg-type]

"""The event encoding of RedisStore: rows encoded column by column equal the row-by-row encoding and decode back."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from operator import is_
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from fdag._stores.redis_codec import decoder, encode_json, encode_rows, encoder
from fdag._values.types import FType

TEXTS = ["", "a,b", ",", '"', '","', "],[", "\\", "é", "日本", "\U0001f600", "\n\t\x00", "null"]


def decoded(member: str) -> list[Any]:
    """What the window queries read back from a stored member: the body of a JSON array."""
    return list(json.loads("[" + member + "]"))


def same(a: Any, b: Any) -> bool:
    """Equal, a float's sign of zero included."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return type(a) is type(b) and a == b


def test_each_type_round_trips_exactly() -> None:
    columns: list[list[Any]] = [
        [0, -1, 2**63 - 1, -(2**63), 10**20, 7, 8, 9, 10, 11, 12, 13],
        [0.0, -0.0, 1e300, -1e300, 5e-324, 0.1, 1 / 3, 2.0**53 + 2, math.inf, -math.inf, 1e16, -2.5],
        [True, False, None, True, None, False, True, False, None, True, False, None],
        TEXTS,
        [None, "x", *TEXTS[1:11]],
    ]
    members = encode_rows(columns)
    rows = [list(row) for row in zip(*columns, strict=True)]
    assert members == [encode_json(row)[1:-1] for row in rows]
    for member, row in zip(members, rows, strict=True):
        assert all(map(same, decoded(member), row)), member


def test_datetimes_dates_and_durations_travel_as_integers() -> None:
    instants = [datetime(2024, 3, 1, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC),
                datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), None]
    columns = {FType(datetime): instants, FType(date): [date(2024, 2, 29), date(1, 1, 1), None, date(9999, 12, 31)],
               FType(timedelta): [timedelta(microseconds=-1), timedelta(days=10), None, timedelta(0)],
               FType(list, item=FType(datetime)): [[instants[0], None], [], None, [instants[2]]]}
    stamps = [1, 2, 3, 4]
    native = [[v if (f := encoder(t)) is None else f(v) for v in values] for t, values in columns.items()]
    members = encode_rows([stamps, *native])
    for e, member in enumerate(members):
        ts, *values = decoded(member)
        assert ts == stamps[e]
        for j, ftype in enumerate(columns):
            convert = decoder(ftype)
            assert convert is not None and convert(values[j]) == columns[ftype][e]


def test_an_empty_batch_has_no_rows() -> None:
    assert encode_rows([[], []]) == []


json_values = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
                        st.text(), st.lists(st.one_of(st.integers(), st.text(max_size=3)), max_size=3))


@given(st.integers(1, 8).flatmap(lambda n: st.lists(st.lists(json_values, min_size=n, max_size=n), min_size=1,
                                                    max_size=5)))
def test_any_columns_encode_as_their_rows(columns: list[list[Any]]) -> None:
    members = encode_rows(columns)
    rows = [list(row) for row in zip(*columns, strict=True)]
    assert members == [encode_json(row)[1:-1] for row in rows]
    assert [decoded(member) for member in members] == rows


def test_a_column_of_an_earlier_ones_objects_shares_its_texts_and_equal_values_do_not() -> None:
    """Two functions passing the same event column through give the same objects: encoded once. Values that are
    equal but not the same object (-0.0 and 0.0, 1, 1.0 and True) keep their own texts."""
    amounts = [12.5, -0.0, 1e300, None, 1, 1.0]
    equal = [12.5, 0.0, 1e300, None, True, 1]
    assert equal == amounts
    columns = [amounts, list(amounts), equal]
    assert all(map(is_, columns[1], amounts))  # the same objects, another list
    members = encode_rows(columns)
    assert members == [encode_json(list(row))[1:-1] for row in zip(*columns, strict=True)]
    assert members[1:] == ["-0.0,-0.0,0.0", "1e+300,1e+300,1e+300", "null,null,null", "1,1,true", "1.0,1.0,1"]

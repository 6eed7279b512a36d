"""fdag's stream encoding: every supported value reads back exactly, typed by the source; bad events never leave."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fdag
from fdag._streams.encoding import EventDecoder, encode_events, encode_value
from fdag._streams.log import Entry
from tests.stream_events import SOURCE, make_payments

EVERY_TYPE = fdag.Source(
    "every", key="k", timestamp="ts",
    schema={"k": int, "ts": datetime, "f": float | None, "b": bool | None, "s": str | None, "d": date | None,
            "td": timedelta | None, "li": list[int] | None, "lt": list[datetime | None] | None},
)

instants = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))
events = st.fixed_dictionaries({
    "k": st.integers(-(2**63), 2**63 - 1),
    "ts": instants,
    "f": st.none() | st.floats(allow_nan=False),
    "b": st.none() | st.booleans(),
    "s": st.none() | st.text(st.characters(exclude_categories=("Cs",))),
    "d": st.none() | st.dates(),
    "td": st.none() | st.timedeltas(),
    "li": st.none() | st.lists(st.integers(-(2**63), 2**63 - 1), max_size=4),
    "lt": st.none() | st.lists(st.none() | instants, max_size=4),
})


def decode(fields: list[dict[str, str]], source: fdag.Source = EVERY_TYPE) -> tuple[list[Any], list[str]]:
    entries = [Entry(f"{i}-0", {k.encode(): v.encode() for k, v in f.items()}) for i, f in enumerate(fields)]
    good, bad = EventDecoder(source).decode(entries)
    return [event for _, event in good], [reason for _, reason in bad]


@settings(max_examples=300, deadline=None)
@given(st.lists(events, min_size=1, max_size=5))
def test_every_value_round_trips_exactly(batch: list[dict[str, Any]]) -> None:
    decoded, bad = decode(encode_events(batch, EVERY_TYPE))
    assert bad == [] and decoded == batch
    for event, back in zip(batch, decoded, strict=True):  # floats bit for bit, not just ==
        if event["f"] is not None:
            assert math.copysign(1, event["f"]) == math.copysign(1, back["f"]) and event["f"].hex() == back["f"].hex()


def test_the_encoding_is_json_by_type() -> None:
    when = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert [encode_value(v) for v in (None, True, 7, 0.1, 1e16, float("inf"), float("nan"), "é\"x", when,
                                       date(1970, 1, 2), timedelta(seconds=1), [1, None])] == [
        "null", "true", "7", "0.1", "1e+16", "Infinity", "null", '"é\\"x"', "1714564800123456", "1", "1000000",
        "[1,null]",
    ]
    naive, paris = datetime(2024, 5, 1, 12), datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    assert encode_value(naive) == encode_value(paris) == "1714564800000000"  # naive is UTC; aware is converted


def test_typed_publishing_coerces_to_the_declared_types() -> None:
    event = {"k": 1, "ts": datetime(2024, 5, 1), "f": 3, "b": None, "s": "x", "d": None, "td": None, "li": None,
             "lt": None}
    [fields] = encode_events(event, EVERY_TYPE)
    assert fields["f"] == "3.0" and fields["ts"] == "1714521600000000"
    assert encode_events(event, None)[0]["f"] == "3"  # untyped: as given


def test_frames_publish_as_their_rows() -> None:
    batch = make_payments(20, cards=3, seed=1)
    as_dicts = encode_events(batch, SOURCE)
    frame = pl.DataFrame(batch)
    assert encode_events(frame, SOURCE) == as_dicts
    assert encode_events(frame.to_arrow(), SOURCE) == as_dicts
    pandas = pd.DataFrame(batch)
    pandas["ts"] = pandas["ts"].dt.tz_convert("Europe/Paris")  # another zone: the same instants
    assert encode_events(pandas, SOURCE) == as_dicts


@pytest.mark.parametrize(("change", "message"), [
    ({"amount": "12"}, r"source 'payments' event 1: column 'amount' holds a str \('12'\) but the type is 'float'; "
                       r"nothing was published. Hint: send values of the declared type"),
    ({"items": 2**63}, r"event 1: column 'items' holds 9223372036854775808, which does not fit in int64; nothing"),
    ({"card": None}, r"event 1: column 'card' is null; nothing was published. Hint: every event needs its key"),
    ({"merchant": ...}, r"event 1: column 'merchant' is missing; nothing was published. Hint: every event carries "
                        r"all of payment_id, card, ts, amount, items, merchant, flagged \(null where unknown\)"),
])
def test_publishing_a_mistyped_event_sends_nothing(change: dict[str, Any], message: str) -> None:
    batch = make_payments(3, cards=2, seed=2)
    batch[1] = {k: v for k, v in {**batch[1], **change}.items() if v is not ...}
    log = fdag.MemoryStream("payments", source=SOURCE)
    with pytest.raises(fdag.SourceError, match=message):
        log.publish(batch)
    assert len(log) == 0


def test_untyped_publishing_rejects_values_without_an_encoding() -> None:
    with pytest.raises(fdag.SourceError, match=r"event 0: column 'x' cannot be encoded \(a set \(\{1\}\) has no "
                                               r"stream encoding\); nothing was published\. Hint:"):
        fdag.MemoryStream("s").publish({"x": {1}})


def test_decoding_reads_absent_columns_as_absent_and_keeps_type_errors_for_ingest() -> None:
    fields = encode_events({"k": 1, "ts": datetime(2024, 5, 1), "s": "x"}, None)[0]
    fields["f"] = '"not a float"'
    [event], [] = decode([fields])
    assert event == {"k": 1, "ts": datetime(2024, 5, 1, tzinfo=UTC), "s": "x", "f": "not a float"}


def test_a_bad_entry_in_a_batch_spoils_only_itself() -> None:
    good = encode_events({"k": 1, "ts": datetime(2024, 5, 1), "f": 1.5}, None)[0]
    decoded, reasons = decode([good, {**good, "f": "1.5.5"}, good, {**good, "ts": "9" * 30}, {**good, "f": "1,2"}])
    assert len(decoded) == 2 and decoded[0]["f"] == 1.5
    assert reasons[0] == ("entry 1-0 of source 'every': column 'f' holds b'1.5.5', which is not fdag's stream "
                          "encoding (JSON text). Hint: publish with RedisStream.publish, or encode as "
                          "docs/streams.md describes.")
    assert "entry 3-0" in reasons[1] and "column 'ts'" in reasons[1] and "entry 4-0" in reasons[2]

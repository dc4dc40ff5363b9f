"""The row sink and table schemas every protocol module writes through."""

from __future__ import annotations

import gc

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzer.collector import collector_paused
from analyzer.errors import Weird
from analyzer.protocols import base
from analyzer.protocols.base import Column, Envelope, Schema, Sink

SCHEMA = Schema(
    "example",
    "one row per example message",
    (
        Column("answer", "Int64", "a number"),
        Column("text", "string", "some text"),
        Column("kind", "category", "a label"),
    ),
)


def env(frame: int, ts_ns: int = 1_000) -> Envelope:
    return Envelope(ts_ns, frame, 3, "10.0.0.1", 1024, "10.0.0.2", 53, "udp")


def test_rows_come_out_in_frame_order_whatever_order_they_were_added_in() -> None:
    sink = Sink()
    for frame, text in ((5, "a"), (2, "b"), (9, "c"), (2, "d")):
        sink.add("example", env(frame), text=text)
    table = sink.tables({"example": SCHEMA})["example"]
    assert table["frame"].tolist() == [2, 2, 5, 9]
    assert table["text"].tolist() == ["b", "d", "a", "c"]  # ties keep the order of arrival


def test_a_value_left_out_of_a_row_is_missing_in_its_table_column() -> None:
    sink = Sink()
    sink.add("example", env(1), answer=1, text="one")
    sink.add("example", env(2), text="two", kind="b")
    table = sink.tables({"example": SCHEMA})["example"]
    assert table["answer"].isna().tolist() == [False, True]
    assert table["text"].tolist() == ["one", "two"]
    assert table["kind"].isna().tolist() == [True, False]


def test_a_value_named_like_an_envelope_field_takes_its_place() -> None:
    sink = Sink()
    sink.add("example", env(7), frame=4, answer=1)
    assert sink.tables({"example": SCHEMA})["example"]["frame"].tolist() == [4]
    assert sink.rows["example"][0]["frame"] == 4


def test_tables_carry_the_declared_dtypes_and_utc_times() -> None:
    sink = Sink()
    sink.add("example", env(1, ts_ns=1_330_596_000_000_000_000), answer=42, text="x", kind="a")
    table = sink.tables({"example": SCHEMA})["example"]
    assert table["ts"].tolist() == [pd.Timestamp("2012-03-01T10:00:00Z")]
    assert str(table["answer"].dtype) == "Int64"
    assert str(table["kind"].dtype) == "category"
    assert str(table["sport"].dtype) == "Int32"


def test_a_table_nobody_wrote_to_is_empty_with_its_columns() -> None:
    table = Sink().tables({"example": SCHEMA})["example"]
    assert table.empty
    assert list(table.columns) == [c.name for c in SCHEMA.all_columns()]


def test_rows_as_dicts_show_the_envelope_then_the_values() -> None:
    sink = Sink()
    sink.add("example", env(1), answer=42)
    sink.add("example", None, text="no envelope")
    first, second = sink.rows["example"]
    assert first == {
        "ts_ns": 1_000, "frame": 1, "flow": 3, "src": "10.0.0.1", "sport": 1024,
        "dst": "10.0.0.2", "dport": 53, "transport": "udp", "answer": 42,
    }  # fmt: skip
    assert second == {"text": "no envelope"}


def test_frame_from_dicts_and_from_the_sink_build_the_same_table() -> None:
    sink = Sink()
    sink.add("example", env(3), answer=3, text="c")
    sink.add("example", env(1), kind="k")
    from_sink = sink.tables({"example": SCHEMA})["example"]
    from_dicts = SCHEMA.frame(sink.rows["example"])
    pd.testing.assert_frame_equal(from_sink, from_dicts)


def test_rows_beyond_the_cap_are_dropped_with_one_weird_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(base, "MAX_ROWS_PER_TABLE", 3)
    sink = Sink()
    for frame in range(1, 7):
        sink.add("example", env(frame), answer=frame)
    assert sink.tables({"example": SCHEMA})["example"]["answer"].tolist() == [1, 2, 3]
    assert sink.weird_counts == {"table_row_cap": 1}
    assert isinstance(sink.weird[0], Weird)


def test_the_collector_is_paused_inside_the_block_and_restored_after() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block leaves the outer pause alone
    assert gc.isenabled()


NULLABLE = ("Int8", "Int16", "Int32", "Int64")


@given(st.lists(st.none() | st.integers(-(2**40), 2**40)), st.sampled_from(NULLABLE))
def test_integer_columns_convert_as_pandas_does(values: list[int | None], dtype: str) -> None:
    expected: object
    try:
        expected = pd.Series(pd.array(values, dtype=dtype))
    except (TypeError, ValueError, OverflowError) as error:
        expected = type(error)
    try:
        got: object = pd.Series(base._series(values, dtype))
    except (TypeError, ValueError, OverflowError) as error:
        got = type(error)
    if isinstance(expected, pd.Series) and isinstance(got, pd.Series):
        pd.testing.assert_series_equal(got, expected)
    else:
        assert got == expected


@given(st.lists(st.none() | st.booleans()))
def test_boolean_columns_convert_as_pandas_does(values: list[bool | None]) -> None:
    pd.testing.assert_series_equal(
        pd.Series(base._series(values, "boolean")), pd.Series(pd.array(values, dtype="boolean"))
    )


@given(st.lists(st.none() | st.sampled_from(["SRV", "A", "AAAA", "NXDOMAIN", "", "é"])))
def test_category_columns_convert_as_pandas_does(values: list[str | None]) -> None:
    pd.testing.assert_series_equal(
        pd.Series(base._series(values, "category")), pd.Series(pd.array(values, dtype="category"))
    )


def test_a_category_column_of_other_values_still_converts() -> None:
    assert list(base._series([3, None, 1], "category").categories) == [1, 3]


def test_integer_columns_taken_from_another_table_keep_their_missing_values() -> None:
    column = base._series([1, pd.NA, None], "Int32")
    assert column.isna().tolist() == [False, True, True]


def test_a_certificate_seen_again_is_kept_once() -> None:
    sink = Sink()
    der = bytes(range(200))
    sink.certificate(der, env(1), "tls", role="server")
    sink.certificate(bytes(bytearray(der)), env(9), "tls", role="server")
    first, again = sink.certificates
    assert first["der"] is again["der"]
    assert (first["frame"], again["frame"]) == (1, 9)

"""The bounds-checked buffer every parser reads through."""

from __future__ import annotations

import pytest

from analyzer.errors import Malformed, Truncated
from analyzer.protocols.buffer import Buffer


def test_integers_are_big_endian() -> None:
    buf = Buffer(bytes.fromhex("01 0203 040506 0708090a 0b0c0d0e0f101112"))
    assert buf.pull_u8() == 0x01
    assert buf.pull_u16() == 0x0203
    assert buf.pull_u24() == 0x040506
    assert buf.pull_u32() == 0x0708090A
    assert buf.pull_u64() == 0x0B0C0D0E0F101112
    assert buf.eof()


def test_reading_past_the_end_raises_truncated_with_the_offset() -> None:
    buf = Buffer(b"\x00\x01\x02")
    buf.pull_u16()
    with pytest.raises(Truncated) as info:
        buf.pull_u16()
    assert info.value.offset == 2


def test_restrict_limits_reads_to_the_block() -> None:
    buf = Buffer(b"\x02abXYZ")
    with buf.restrict(buf.pull_u8()), pytest.raises(Truncated):
        buf.pull_bytes(3)
    assert buf.pull_bytes(3) == b"XYZ"


def test_leaving_a_block_skips_what_the_parser_did_not_read() -> None:
    buf = Buffer(b"\x04abcdZ")
    with buf.restrict(buf.pull_u8()):
        assert buf.pull_u8() == ord("a")
    assert buf.pull_bytes(1) == b"Z"


def test_block_longer_than_the_data_is_truncated() -> None:
    buf = Buffer(b"\x09abc")
    with pytest.raises(Truncated):
        buf.pull_block(1)


def test_seek_outside_the_data_is_malformed() -> None:
    with pytest.raises(Malformed):
        Buffer(b"abc").seek(4)

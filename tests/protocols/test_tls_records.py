"""TLS record layer: framing, handshake reassembly, recognising TLS, and STARTTLS preludes."""

from __future__ import annotations

import contextlib
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.capture.pipeline import FlowInfo
from analyzer.errors import DecodeError, Malformed
from analyzer.protocols.tls import (
    MAX_HANDSHAKE_MESSAGE,
    HandshakeReader,
    Record,
    RecordReader,
    TlsDissector,
    _MySqlPrelude,
    _SmtpPrelude,
)

ALERT_RECORD = bytes.fromhex(
    "15"  # content type: alert
    "0301"  # record version TLS 1.0
    "0002"  # length
    "0230"  # fatal unknown_ca
)
CCS_RECORD = bytes.fromhex("140301000101")  # ChangeCipherSpec


def records_of(data: bytes, reader: RecordReader | None = None) -> list[Record]:
    reader = reader or RecordReader()
    reader.feed(data)
    out = []
    while (record := reader.next()) is not None:
        out.append(record)
    return out


def test_record_header_and_payload() -> None:
    (record,) = records_of(ALERT_RECORD)
    assert record == Record(21, 0x0301, bytes.fromhex("0230"))


def test_several_records_in_one_segment() -> None:
    assert [r.content_type for r in records_of(CCS_RECORD + ALERT_RECORD)] == [20, 21]


def test_record_fed_one_byte_at_a_time() -> None:
    reader = RecordReader()
    got = []
    for byte in ALERT_RECORD + CCS_RECORD:
        got += records_of(bytes([byte]), reader)
    assert [r.content_type for r in got] == [21, 20]


def test_unknown_content_type_is_malformed() -> None:
    with pytest.raises(Malformed):
        records_of(b"GET / HTTP/1.1\r\n")


def test_record_version_major_must_be_3() -> None:
    with pytest.raises(Malformed):
        records_of(bytes.fromhex("16 0201 0004 01000000"))


def test_record_longer_than_tls_allows_is_malformed() -> None:
    with pytest.raises(Malformed):
        records_of(bytes.fromhex("17 0303 4801"))  # 18433 bytes > 2^14 + 2048


def test_sslv2_two_byte_header() -> None:
    (record,) = records_of(bytes.fromhex("8003010002"))  # length 3, CLIENT-HELLO...
    assert (record.content_type, record.payload) == (0, bytes.fromhex("010002"))


def test_sslv2_three_byte_header_drops_padding() -> None:
    reader = RecordReader()
    reader.sslv2_session = True
    (record,) = records_of(bytes.fromhex("000402aabbccdd"), reader)  # 2 padding bytes
    assert record.payload == bytes.fromhex("aabb")


def test_sslv2_record_that_is_all_padding_is_malformed() -> None:
    reader = RecordReader()
    reader.sslv2_session = True
    with pytest.raises(Malformed):
        records_of(bytes.fromhex("000202aabb"), reader)  # 2 bytes, both padding


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_record_reader_on_random_bytes_only_raises_decode_error(data: bytes, v2: bool) -> None:
    reader = RecordReader()
    reader.sslv2_session = v2
    with contextlib.suppress(DecodeError):
        records_of(data, reader)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([20, 21, 22, 23]), st.binary(max_size=40)), max_size=6),
    st.lists(st.integers(min_value=0, max_value=300), max_size=8),
)
def test_records_do_not_depend_on_how_the_stream_is_cut(
    records: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    # Whole records are read in place, a cut one is kept and completed by later bytes:
    # every way of cutting the stream must give the records of reading it at once.
    stream = b"".join(bytes([ct, 3, 3]) + len(p).to_bytes(2, "big") + p for ct, p in records)
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    reader = RecordReader()
    got = []
    for start, end in pairwise(bounds):
        got += records_of(stream[start:end], reader)
    assert got == [Record(ct, 0x0303, p) for ct, p in records]
    assert reader.buffered == 0


def test_reader_keeps_no_reference_to_a_fed_bytearray() -> None:
    data = bytearray(ALERT_RECORD[:3])
    reader = RecordReader()
    reader.feed(data)  # type: ignore[arg-type]
    data[:] = b"\x00" * 3  # the caller reuses its buffer
    assert records_of(ALERT_RECORD[3:], reader) == [Record(21, 0x0301, bytes.fromhex("0230"))]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=30)), max_size=6),
    st.lists(st.integers(min_value=0, max_value=250), max_size=8),
)
def test_handshake_messages_do_not_depend_on_how_records_cut_them(
    messages: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    stream = b"".join(bytes([t]) + len(body).to_bytes(3, "big") + body for t, body in messages)
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    reader = HandshakeReader()
    got = []
    for start, end in pairwise(bounds):
        reader.feed(stream[start:end])
        while (message := reader.next()) is not None:
            got.append(message)
    assert got == messages
    assert reader.buffered == 0


def test_handshake_message_spanning_records() -> None:
    reader = HandshakeReader()
    reader.feed(bytes.fromhex("0b 000005 0000"))  # Certificate header + 2 of 5 bytes
    assert reader.next() is None
    reader.feed(bytes.fromhex("02 aabb"))
    assert reader.next() == (11, bytes.fromhex("000002aabb"))


def test_several_handshake_messages_in_one_record() -> None:
    reader = HandshakeReader()
    reader.feed(bytes.fromhex("0e0000000e000000"))  # two ServerHelloDone
    assert [reader.next(), reader.next(), reader.next()] == [(14, b""), (14, b""), None]


def test_handshake_message_over_the_cap_is_malformed() -> None:
    reader = HandshakeReader()
    reader.feed(bytes([11]) + (MAX_HANDSHAKE_MESSAGE + 1).to_bytes(3, "big"))
    with pytest.raises(Malformed):
        reader.next()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=8))
def test_handshake_reader_on_random_bytes_only_raises_decode_error(chunks: list[bytes]) -> None:
    reader = HandshakeReader()
    with contextlib.suppress(DecodeError):
        for chunk in chunks:
            reader.feed(chunk)
            while reader.next() is not None:
                pass


# -- recognising TLS ---------------------------------------------------------------------

SNIFF = TlsDissector().sniff
CLIENT_HELLO_HEAD = bytes.fromhex(
    "16"  # handshake
    "0301"  # record version
    "00c8"  # record length 200
    "01"  # ClientHello
    "0000c4"  # handshake length 196
    "0303"  # client version
)


@pytest.mark.parametrize(
    "head, verdict",
    [
        (CLIENT_HELLO_HEAD, True),
        (bytes.fromhex("16 0303 0051 02 00004d"), True),  # ServerHello
        (bytes.fromhex("16 0301 00"), None),  # too short to tell
        (bytes.fromhex("17 0303 0040"), False),  # application data: not a start
        (bytes.fromhex("16 0303 0040 0b 00003c"), False),  # Certificate: not a start
        (bytes.fromhex("16 0205 00c8 01"), False),  # version 2.5
        (bytes.fromhex("16 0301 0000 01"), False),  # empty record
        (bytes.fromhex("16 0301 00c8 01 000004"), False),  # hello of 4 bytes
        (bytes.fromhex("802e 01 0301 0015"), True),  # SSLv2-compatible CLIENT-HELLO
        (bytes.fromhex("802e 02 0301 0015"), False),  # SSLv2 message type 2
        (bytes.fromhex("802e 01 0505"), False),  # unknown version
        (b"220 mail.example.com ESMTP\r\n", False),
        (b"", None),
    ],
)
def test_sniff(head: bytes, verdict: bool | None) -> None:
    assert SNIFF(0, head) is verdict


def flow(sport: int, dport: int) -> FlowInfo:
    return FlowInfo(1, "tcp", "10.20.0.57", sport, "10.1.0.50", dport, 1)


@pytest.mark.parametrize(
    "sport, dport, wanted",
    [
        (1399, 5061, True),
        (50810, 443, True),
        (40000, 636, True),
        (40000, 25, True),  # SMTP, for STARTTLS
        (40000, 3306, True),  # MySQL, for its SSLRequest
        (5061, 1399, True),  # capture began after the SYN: the server looks first
        (40000, 389, False),  # LDAP: the LDAP dissector hands over after StartTLS
        (3269, 80, False),  # an ephemeral port that happens to be 3269, talking HTTP
    ],
)
def test_wants_tls_ports(sport: int, dport: int, wanted: bool) -> None:
    assert TlsDissector().wants(flow(sport, dport)) is wanted


def test_session_on_smtp_port_skips_the_smtp_dialogue() -> None:
    assert TlsDissector().session(flow(40000, 587), None).prelude.name == "smtp"  # type: ignore[arg-type,union-attr]


# -- STARTTLS ----------------------------------------------------------------------------

SMTP_DIALOGUE = [
    (1, b"220 mx.example.com ESMTP\r\n"),
    (0, b"EHLO client.example.com\r\n"),
    (1, b"250-mx.example.com\r\n250-SIZE 35882577\r\n250 STARTTLS\r\n"),
    (0, b"STARTTLS\r\n"),
    (1, b"220 2.0.0 Ready to start TLS\r\n"),
    (0, CLIENT_HELLO_HEAD),
    (1, CCS_RECORD),
]


def run_prelude(prelude: _SmtpPrelude | _MySqlPrelude, steps: list[tuple[int, bytes]]) -> list:
    out = []
    for direction, data in steps:
        out += prelude.feed(direction, data)
    return out


def test_smtp_starttls_hands_over_the_bytes_after_the_220() -> None:
    assert run_prelude(_SmtpPrelude(), SMTP_DIALOGUE) == [(0, CLIENT_HELLO_HEAD), (1, CCS_RECORD)]


def test_smtp_starttls_fed_one_byte_at_a_time() -> None:
    steps = [(d, bytes([b])) for d, data in SMTP_DIALOGUE for b in data]
    out = run_prelude(_SmtpPrelude(), steps)
    assert b"".join(data for d, data in out if d == 0) == CLIENT_HELLO_HEAD
    assert b"".join(data for d, data in out if d == 1) == CCS_RECORD


def test_smtp_client_hello_sent_before_the_220_is_held_back() -> None:
    steps = [(0, b"STARTTLS\r\n" + CLIENT_HELLO_HEAD), (1, b"220 go ahead\r\n")]
    assert run_prelude(_SmtpPrelude(), steps) == [(0, CLIENT_HELLO_HEAD)]


def test_smtp_refused_starttls_keeps_reading_smtp() -> None:
    prelude = _SmtpPrelude()
    out = run_prelude(
        prelude,
        [(0, b"STARTTLS\r\n"), (1, b"454 TLS not available\r\n"), (0, b"MAIL FROM:<a@b>\r\n")],
    )
    assert out == [] and prelude.failed  # mail in clear: nothing for TLS


def test_mysql_greeting_and_ssl_request_then_tls() -> None:
    greeting = bytes.fromhex("05000000") + b"\x0a5.7\x00"  # 5 bytes, seq 0, protocol 10
    ssl_request = bytes.fromhex("2000000105aeff01") + bytes(28)  # CLIENT_SSL set
    out = run_prelude(_MySqlPrelude(), [(1, greeting), (0, ssl_request + CLIENT_HELLO_HEAD)])
    assert out == [(0, CLIENT_HELLO_HEAD)]


def test_mysql_login_without_ssl_is_not_ours() -> None:
    login = bytes.fromhex("2000000105a6ff01") + bytes(28)  # CLIENT_SSL clear
    prelude = _MySqlPrelude()
    run_prelude(prelude, [(1, bytes.fromhex("0100000a0a")), (0, login)])
    assert prelude.failed

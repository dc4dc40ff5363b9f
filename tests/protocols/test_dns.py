"""DNS, mDNS and LLMNR: messages, records in presentation form, hostile names, TCP framing,
transactions, and the DecodeError contract."""

from __future__ import annotations

import contextlib
import gc
import json
import struct
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from builders import ethernet, ipv4_tcp, ipv4_udp, pcap
from conftest import SAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.api import analyze
from analyzer.errors import DecodeError, Malformed, Truncated
from analyzer.protocols.base import Envelope, Sink
from analyzer.protocols.dns import (
    DNS_SCHEMA,
    MAX_POINTER_HOPS,
    MAX_RECORDS,
    DnsStreamSession,
    DnsTcpFramer,
    _fast_values,
    add_message,
    derive_transactions,
    message_values,
    parse_dns,
)
from analyzer.summary import table_json

# The seed case's answer: pool01 is found through _sipinternaltls._tcp.contoso.com.
SRV_RESPONSE = bytes.fromhex(
    "e3e8"  # id
    "8580"  # flags: response, opcode QUERY, aa, rd, ra, rcode NOERROR
    "0001 0001 0000 0001"  # 1 question, 1 answer, 0 authority, 1 additional
    # offset 12: question _sipinternaltls._tcp.contoso.com
    "0f5f736970696e7465726e616c746c73 045f746370 07636f6e746f736f 03636f6d 00"
    "0021 0001"  # type SRV, class IN
    # offset 50: answer, name = pointer to offset 12 (the question's name)
    "c00c 0021 0001 00000e10 001c"  # SRV, IN, TTL 3600, 28 bytes of RDATA
    "0000 0000 13c5"  # priority 0, weight 0, port 5061
    "06706f6f6c3031 07636f6e746f736f 056c6f63616c 00"  # offset 68: pool01.contoso.local
    # additional: pointer to offset 68, A, IN, TTL 1200, 10.1.0.50
    "c044 0001 0001 000004b0 0004 0a010032"
)

# The phone's first lookup, answered NXDOMAIN with the zone's SOA as authority.
NXDOMAIN_RESPONSE = bytes.fromhex(
    "1345 8583"  # id; response, aa, rd, ra, rcode 3 (NXDOMAIN)
    "0001 0000 0001 0000"
    # offset 12: ucupdates-r2 (offset 25:) contoso local, type A, class IN
    "0c7563757064617465732d7232 07636f6e746f736f 056c6f63616c 00 0001 0001"
    "c019 0006 0001 00000e10 0028"  # contoso.local (pointer to 25) SOA, TTL 3600, 40 bytes
    "0464633031 c019"  # mname dc01.contoso.local
    "0a686f73746d6173746572 c019"  # rname hostmaster.contoso.local
    "0000002a 00000384 00000258 00015180 00000e10"  # serial refresh retry expire minimum
)


def wire_name(name: str) -> bytes:
    """An uncompressed name: "a.b" -> 01 61 01 62 00."""
    out = b""
    for label in name.split(".") if name else []:
        raw = label.encode()
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def message(
    *,
    ident: int = 0x1234,
    flags: int = 0x0100,
    question: tuple[str, int] | None = ("example.com", 1),
    answers: tuple[bytes, ...] = (),
    additionals: tuple[bytes, ...] = (),
) -> bytes:
    """A message from parts; records are given in wire form (see ``record``)."""
    head = struct.pack(
        "!HHHHHH", ident, flags, 1 if question else 0, len(answers), 0, len(additionals)
    )
    body = wire_name(question[0]) + struct.pack("!HH", question[1], 1) if question else b""
    return head + body + b"".join(answers) + b"".join(additionals)


def record(name: str, rtype: int, rdata: bytes, ttl: int = 60, rclass: int = 1) -> bytes:
    return wire_name(name) + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def one_answer(rtype: int, rdata: bytes) -> str:
    msg = parse_dns(message(flags=0x8180, answers=(record("x.example", rtype, rdata),)))
    assert msg.error is None
    return msg.answers[0].data


# ------------------------------------------------------------------ header and questions


def test_query_header_flags_and_question() -> None:
    msg = parse_dns(
        bytes.fromhex(
            "ef78 0100"  # id; flags: query, rd
            "0001 0000 0000 0000"
            "03777777 036d736e 03636f6d 00 0001 0001"  # www.msn.com, A, IN
        )
    )
    assert (msg.id, msg.response, msg.opcode, msg.flag_names()) == (0xEF78, False, 0, ["rd"])
    assert [(q.name, q.type_name, q.qclass) for q in msg.questions] == [("www.msn.com.", "A", 1)]


def test_srv_answer_in_zone_file_form_with_compressed_names() -> None:
    msg = parse_dns(SRV_RESPONSE)
    assert msg.flag_names() == ["qr", "aa", "rd", "ra"]
    assert msg.rcode_name == "NOERROR"
    (srv,) = msg.answers
    assert (srv.name, srv.type_name, srv.ttl) == ("_sipinternaltls._tcp.contoso.com.", "SRV", 3600)
    assert srv.data == "0 0 5061 pool01.contoso.local."
    assert [(r.name, r.data) for r in msg.additionals] == [("pool01.contoso.local.", "10.1.0.50")]


def test_nxdomain_with_soa_authority() -> None:
    msg = parse_dns(NXDOMAIN_RESPONSE)
    assert msg.rcode_name == "NXDOMAIN"
    assert msg.answers == ()
    (soa,) = msg.authorities
    assert soa.name == "contoso.local."
    assert soa.data == "dc01.contoso.local. hostmaster.contoso.local. 42 900 600 86400 3600"


def test_several_questions_are_all_kept() -> None:
    msg = parse_dns(
        bytes.fromhex("0001 0000 0002 0000 0000 0000")  # 2 questions
        + wire_name("a.example")
        + bytes.fromhex("0001 0001")
        + wire_name("b.example")
        + bytes.fromhex("001c 0001")
    )
    assert [(q.name, q.type_name) for q in msg.questions] == [
        ("a.example.", "A"),
        ("b.example.", "AAAA"),
    ]


def test_unknown_opcode_and_rcode_get_numeric_mnemonics() -> None:
    msg = parse_dns(message(flags=0x8000 | (3 << 11) | 12))  # opcode 3, rcode 12
    assert msg.response and msg.rcode_name == "RCODE12"
    from analyzer.protocols.dns import opcode_name

    assert opcode_name(msg.opcode) == "OPCODE3"


# ------------------------------------------------------------------ record data


def test_a_and_aaaa_data() -> None:
    assert one_answer(1, bytes([10, 1, 0, 50])) == "10.1.0.50"
    assert one_answer(28, bytes.fromhex("20010db8000000000000000000000001")) == "2001:db8::1"


def test_cname_ptr_ns_data_are_fully_qualified_names() -> None:
    assert one_answer(5, wire_name("pool01.contoso.local")) == "pool01.contoso.local."
    assert one_answer(12, wire_name("dc01.contoso.local")) == "dc01.contoso.local."
    assert one_answer(2, wire_name("")) == "."  # the root


def test_mx_data() -> None:
    assert one_answer(15, b"\x00\x0a" + wire_name("mail.contoso.com")) == "10 mail.contoso.com."


def test_txt_strings_are_quoted_and_escaped() -> None:
    rdata = (
        b"\x0fv=spf1 ptr ?all"  # a plain string (space kept inside quotes)
        + b'\x07say "x"'  # quotes escaped
        + b"\x03a\\\x01"  # backslash escaped, control byte as \DDD
    )
    assert one_answer(16, rdata) == r'"v=spf1 ptr ?all" "say \"x\"" "a\\\001"'


def test_unknown_type_is_kept_raw_as_rfc3597_hex() -> None:
    msg = parse_dns(message(flags=0x8180, answers=(record("x", 65280, b"\xde\xad\xbe\xef"),)))
    assert msg.answers[0].type_name == "TYPE65280"
    assert msg.answers[0].data == r"\# 4 deadbeef"
    assert msg.answers[0].rdata == b"\xde\xad\xbe\xef"


@pytest.mark.parametrize(
    ("rtype", "mnemonic"),
    [
        (65, "HTTPS"),
        (48, "DNSKEY"),
        (43, "DS"),
        (46, "RRSIG"),
        (249, "TKEY"),
        (250, "TSIG"),
        (29, "LOC"),
        (255, "ANY"),
    ],
)
def test_common_types_without_decoder_keep_their_mnemonic(rtype: int, mnemonic: str) -> None:
    msg = parse_dns(message(flags=0x8180, answers=(record("x", rtype, b"\x01\x02"),)))
    assert (msg.answers[0].type_name, msg.answers[0].data) == (mnemonic, r"\# 2 0102")


def test_opt_record_gives_udp_size_do_bit_and_options() -> None:
    opt = record("", 41, bytes.fromhex("000a 0008 8f06be7d691442f0"), ttl=0x00008000, rclass=4096)
    msg = parse_dns(message(additionals=(opt,)))  # OPT: udp 4096, DO, client cookie
    assert msg.edns is not None
    assert (msg.edns.udp_size, msg.edns.dnssec_ok, msg.edns.version) == (4096, True, 0)
    assert msg.additionals[0].as_dict() == {
        "name": ".",
        "type": "OPT",
        "class": None,
        "ttl": None,
        "data": "udp 4096; version 0; flags do; COOKIE 8f06be7d691442f0",
    }


def test_edns_client_subnet_option() -> None:
    ecs = bytes.fromhex("0008 0007 0001 18 00 c00002")  # ECS, IPv4, /24, scope 0, 192.0.2
    msg = parse_dns(message(additionals=(record("", 41, ecs, ttl=0, rclass=1232),)))
    assert msg.additionals[0].data == "udp 1232; version 0; ECS 192.0.2.0/24/0"


def test_extended_rcode_combines_opt_and_header_bits() -> None:
    # OPT TTL's top byte 1 (<< 4 = 16) with header rcode 0: BADVERS.
    opt = record("", 41, b"", ttl=0x01000000, rclass=512)
    msg = parse_dns(message(flags=0x8000, additionals=(opt,)))
    assert (msg.rcode, msg.rcode_name) == (16, "BADVERS")


def test_record_with_bad_rdata_is_kept_raw_and_the_rest_still_decodes() -> None:
    bad_a = record("x", 1, b"\x0a\x01\x00")  # an A record with 3 bytes
    good = record("y", 1, b"\x0a\x01\x00\x01")
    msg = parse_dns(message(flags=0x8180, answers=(bad_a, good)))
    assert [r.data for r in msg.answers] == [r"\# 3 0a0100", "10.1.0.1"]
    assert isinstance(msg.error, Truncated)


def test_trailing_bytes_after_a_name_in_rdata_are_malformed() -> None:
    msg = parse_dns(message(flags=0x8180, answers=(record("x", 5, wire_name("a") + b"\x00"),)))
    assert isinstance(msg.error, Malformed)
    assert msg.answers[0].data == r"\# 4 01610000"


def test_message_cut_inside_an_answer_keeps_question_and_earlier_records() -> None:
    cut = SRV_RESPONSE[:-6]  # the additional A record loses its RDATA
    msg = parse_dns(cut)
    assert msg.questions[0].name == "_sipinternaltls._tcp.contoso.com."
    assert [r.data for r in msg.answers] == ["0 0 5061 pool01.contoso.local."]
    assert msg.additionals == ()
    assert isinstance(msg.error, Truncated)


def test_cut_header_raises_truncated() -> None:
    with pytest.raises(Truncated):
        parse_dns(SRV_RESPONSE[:11])


def test_records_beyond_the_cap_are_not_decoded() -> None:
    many = tuple(record("", 1, b"\x01\x02\x03\x04") for _ in range(MAX_RECORDS + 5))
    msg = parse_dns(message(flags=0x8180, answers=many))
    assert msg.capped
    assert len(msg.answers) == MAX_RECORDS - 1  # the question counts too


# ------------------------------------------------------------------ names: compression, caps


def test_compression_pointer_to_an_earlier_name() -> None:
    # Answer name = "www" + pointer to the question's "example.com" (offset 12).
    answer = b"\x03www\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([1, 2, 3, 4])
    msg = parse_dns(message(flags=0x8180, answers=(answer,)))
    assert msg.answers[0].name == "www.example.com."


def test_forward_compression_pointer_is_malformed() -> None:
    # The question's name points at offset 40, after itself.
    data = bytes.fromhex("0001 0000 0001 0000 0000 0000") + b"\xc0\x28" + bytes(30)
    with pytest.raises(Malformed, match="does not point before"):
        parse_dns(data)


def test_pointer_to_itself_is_malformed() -> None:
    data = bytes.fromhex("0001 0000 0001 0000 0000 0000") + b"\xc0\x0c\x00\x01\x00\x01"
    with pytest.raises(Malformed):
        parse_dns(data)


def test_pointer_loop_through_an_earlier_label_is_impossible() -> None:
    # Offset 12: label "a" then a pointer back to offset 12. The pointer points before
    # itself, but not before the start of its own label run (12): rejected, so the
    # name a.a.a.a... can never be built.
    data = bytes.fromhex("0001 0000 0001 0000 0000 0000") + b"\x01a\xc0\x0c\x00\x01\x00\x01"
    with pytest.raises(Malformed):
        parse_dns(data)


def test_name_longer_than_255_octets_is_malformed() -> None:
    long_name = b"\x3f" + b"a" * 63
    data = bytes.fromhex("0001 0000 0001 0000 0000 0000") + long_name * 4 + b"\x00\x00\x01\x00\x01"
    with pytest.raises(Malformed, match="255"):
        parse_dns(data)


def test_extended_label_types_are_malformed() -> None:
    data = bytes.fromhex("0001 0000 0001 0000 0000 0000") + b"\x41abc\x00\x00\x01\x00\x01"
    with pytest.raises(Malformed, match="label type"):
        parse_dns(data)


def test_hostile_labels_are_escaped_as_in_zone_files() -> None:
    # Labels: "a.b" (a dot inside a label), "c d" (space), "\x00", "x\\y", "é" in UTF-8.
    name = b"\x03a.b\x03c d\x01\x00\x03x\\y\x02\xc3\xa9\x00"
    data = bytes.fromhex("0001 0000 0001 0000 0000 0000") + name + b"\x00\x01\x00\x01"
    assert parse_dns(data).questions[0].name == r"a\.b.c\032d.\000.x\\y.\195\169."


# ------------------------------------------------------------------ mDNS and LLMNR


#: An mDNS response whose question has the unicast-response bit and whose answer the
#: cache-flush bit, both in the class field.
MDNS_ANSWER_WITH_CLASS_BITS = (
    bytes.fromhex("0000 8400 0001 0001 0000 0000")
    + wire_name("phone.local")
    + bytes.fromhex("0001 8001")  # QU bit on the question
    + record("phone.local", 1, bytes([10, 20, 0, 57]), rclass=0x8001)  # cache-flush
)


def test_mdns_unicast_response_and_cache_flush_bits_are_cleared() -> None:
    data = MDNS_ANSWER_WITH_CLASS_BITS
    msg = parse_dns(data, mdns=True)
    assert msg.questions[0].qclass == 1
    assert msg.answers[0].as_dict()["class"] == "IN"


def test_llmnr_conflict_and_tentative_bits_have_their_own_names() -> None:
    msg = parse_dns(message(flags=0x8000 | 0x0400 | 0x0100))  # QR, C, T
    assert msg.flag_names("llmnr") == ["qr", "c", "t"]
    assert msg.flag_names("dns") == ["qr", "aa", "rd"]


# ------------------------------------------------------------------ the DecodeError contract

VALID = [SRV_RESPONSE, NXDOMAIN_RESPONSE]


@pytest.mark.parametrize("data", VALID, ids=["srv", "nxdomain"])
def test_every_truncated_prefix_raises_decode_error_or_reports_it(data: bytes) -> None:
    for end in range(len(data)):
        try:
            msg = parse_dns(data[:end])
        except DecodeError:
            continue
        assert msg.error is not None or len(msg.answers + msg.additionals) < 2


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300), st.booleans())
def test_random_bytes_only_raise_decode_errors(data: bytes, mdns: bool) -> None:
    with contextlib.suppress(DecodeError):
        parse_dns(data, mdns=mdns)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(VALID), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255))))
def test_mutated_messages_only_raise_decode_errors(
    data: bytes, changes: list[tuple[int, int]]
) -> None:
    mutated = bytearray(data)
    for at, value in changes:
        mutated[at % len(mutated)] = value
    with contextlib.suppress(DecodeError):
        msg = parse_dns(bytes(mutated))
        json.dumps([r.as_dict() for r in msg.answers + msg.authorities + msg.additionals])


# ------------------------------------------------------------------ TCP framing

ENV = Envelope(1_331_714_843_000_000_000, 12, 3, "10.20.0.57", 1400, "10.1.0.10", 53, "tcp")


def framed(*messages: bytes) -> bytes:
    return b"".join(struct.pack("!H", len(m)) + m for m in messages)


STREAM = framed(message(ident=1), b"\x00\x02\x01", message(ident=2, question=("b.example", 33)))


def test_framer_cuts_several_messages_from_one_segment() -> None:
    framer = DnsTcpFramer()
    assert framer.feed(framed(b"one", b"two")) == [b"one", b"two"]


def test_framer_joins_a_message_split_across_segments() -> None:
    framer = DnsTcpFramer()
    data = framed(b"hello")
    assert framer.feed(data[:1]) == [] and framer.feed(data[1:4]) == []
    assert framer.feed(data[4:]) == [b"hello"]


def test_gap_inside_a_message_loses_only_that_message() -> None:
    framer = DnsTcpFramer()
    framer.feed(framed(b"0123456789")[:4])  # length 10 known, 2 bytes of it held
    assert framer.gap(5)  # 5 of the 8 missing bytes never arrive
    assert framer.feed(b"789" + framed(b"next")) == [b"next"]


def test_gap_where_the_next_length_is_unknown_loses_the_framing() -> None:
    framer = DnsTcpFramer()
    assert not framer.gap(10)
    assert framer.lost and framer.feed(framed(b"x")) == []


def rows_of(chunks: list[bytes]) -> list[dict[str, Any]]:
    sink = Sink()
    session = DnsStreamSession(sink, "dns")
    for chunk in chunks:
        session.data(0, chunk, ENV)
    return sink.rows.get("dns", []) + [{"weird": w.name} for w in sink.weird]


def test_tcp_stream_gives_one_row_per_message_and_a_weird_row_for_a_bad_one() -> None:
    rows = rows_of([STREAM])
    assert [r.get("id") for r in rows] == [1, 2, None]
    assert rows[2] == {"weird": "dns_malformed"}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 40), max_size=40))
def test_tcp_stream_fed_in_any_pieces_gives_the_rows_it_gives_whole(sizes: list[int]) -> None:
    chunks, pos = [], 0
    for size in sizes:
        chunks.append(STREAM[pos : pos + size])
        pos += size
    chunks.append(STREAM[pos:])
    assert rows_of(chunks) == rows_of([STREAM])


def test_tcp_stream_fed_one_byte_at_a_time_gives_the_rows_it_gives_whole() -> None:
    assert rows_of([STREAM[i : i + 1] for i in range(len(STREAM))]) == rows_of([STREAM])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(1, 50))
def test_random_tcp_bytes_never_escape_the_session(data: bytes, size: int) -> None:
    sink = Sink()
    session = DnsStreamSession(sink, "dns")
    for i in range(0, len(data), size):
        session.data(1, data[i : i + size], ENV)
    session.gap(1, 7, ENV)
    session.close(ENV)


# ------------------------------------------------------------------ the fast path
# add_message builds the rows of plain messages without parse_dns (see _fast_values). It
# must give exactly the row message_values(parse_dns(...)) gives, or decline.


def assert_fast_path_agrees(data: bytes, protocol: str) -> None:
    """The fast path's row is the careful path's, or the fast path declined."""
    fast = _fast_values(data, protocol)
    try:
        msg = parse_dns(data, mdns=protocol == "mdns")
    except DecodeError:
        assert fast is None
        return
    if fast is not None:
        assert msg.error is None and not msg.capped
        careful = message_values(msg, protocol)
        assert fast == careful
        assert list(fast) == list(careful)  # same columns in the same order


A_RR = struct.pack("!HHIH", 1, 1, 60, 4) + bytes([10, 1, 0, 50])  # after a name: A, IN, 10.1.0.50
HOSTILE_LABELS = [
    b"a",
    b"pool01",
    b"contoso",
    b"_tcp",
    b"x.y",
    b"a b",
    b'"\\',
    b"\x00\xff",
    b"A" * 63,
]
PROTOCOLS = st.sampled_from(["dns", "mdns", "llmnr"])


@st.composite
def dns_messages(draw: st.DrawFn) -> bytes:
    """Messages in the shapes captures have (compressed names, common and odd types),
    with counts, lengths and pointers that are now and then wrong."""
    out = bytearray()
    name_starts: list[int] = []

    def name() -> None:
        name_starts.append(len(out))
        for label in draw(st.lists(st.sampled_from(HOSTILE_LABELS), max_size=4)):
            out.extend(bytes([len(label)]) + label)
        if len(name_starts) > 1 and draw(st.booleans()):
            target = draw(st.sampled_from(name_starts[:-1]) | st.integers(0, len(out) + 2))
            out.extend(struct.pack("!H", 0xC000 | target))
        else:
            out.append(0)

    def rdata(rtype: int) -> None:
        if rtype == 1:
            out.extend(draw(st.sampled_from([bytes([10, 1, 0, 50]), b"\x0a\x01\x00"])))
        elif rtype == 28:
            out.extend(bytes(range(16)))
        elif rtype in (2, 5, 12, 39):
            name()
        elif rtype in (15, 33):  # MX: preference; SRV: priority, weight, port
            out.extend(b"\x00\x0a" if rtype == 15 else b"\x00\x00\x00\x64\x13\xc5")
            name()
        elif rtype == 6:
            name()
            name()
            out.extend(struct.pack("!5I", 42, 900, 600, 86400, 3600))
        elif rtype == 16:
            for text in draw(st.lists(st.sampled_from([b"v=spf1 -all", b'a"b\\', b"\x7f"]))):
                out.extend(bytes([len(text)]) + text)
        elif rtype == 41:
            out.extend(draw(st.sampled_from([b"", bytes.fromhex("000a 0008 8f06be7d691442f0")])))
        else:
            out.extend(draw(st.binary(max_size=6)))

    counts = [draw(st.integers(0, 3)) for _ in range(4)]
    ident, flags = draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF))
    out.extend(struct.pack("!6H", ident, flags, *counts))
    for _ in range(counts[0]):
        name()
        out.extend(struct.pack("!HH", draw(st.sampled_from([1, 33, 255])), 0x8001))
    for section, count in enumerate(counts[1:]):
        for _ in range(count):
            name()
            types = [1, 2, 5, 6, 12, 15, 16, 28, 33, 39, 41, 99, 65280]
            rtype = draw(st.sampled_from([41, *types] if section == 2 else types))
            rclass = draw(st.sampled_from([1, 0x8001, 4096]))
            ttl = draw(st.sampled_from([0, 60, 0x01008000]))
            out.extend(struct.pack("!HHI", rtype, rclass, ttl))
            length_at = len(out)
            out.extend(b"\x00\x00")
            rdata(rtype)
            out.extend(draw(st.sampled_from([b"", b"", b"", b"\x00"])))  # trailing byte
            length = len(out) - length_at - 2 + draw(st.sampled_from([0, 0, 0, 0, -1, 1]))
            out[length_at : length_at + 2] = struct.pack("!H", max(length, 0))
    if draw(st.booleans()):  # a header count that does not match the records
        out[4 + 2 * draw(st.integers(0, 3))] ^= draw(st.integers(1, 255))
    return bytes(out)


def pointer_chain(hops: int) -> bytes:
    """Answers whose names point at the previous answer's name, the first at the question's:
    the last name takes ``hops`` pointers."""
    answers, previous, offset = [], 12, 12 + len(wire_name("example.com")) + 4
    for _ in range(hops):
        answers.append(struct.pack("!H", 0xC000 | previous) + A_RR)
        previous, offset = offset, offset + 2 + len(A_RR)
    return message(flags=0x8180, answers=tuple(answers))


# Offset 12 is the question's name in every message below (header: 1 question).
EDGE_CASES = {
    f"{MAX_POINTER_HOPS} pointers to the question": pointer_chain(MAX_POINTER_HOPS),
    f"{MAX_POINTER_HOPS + 1} pointers to the question": pointer_chain(MAX_POINTER_HOPS + 1),
    "pointer to a root name": message(question=("", 1), answers=(b"\xc0\x0c" + A_RR,)),
    "labels, then a pointer to a root name": message(
        question=("", 1), answers=(b"\x01a\xc0\x0c" + A_RR,)
    ),
    "pointer to a pointer": message(
        flags=0x8180, answers=(b"\xc0\x0c" + A_RR, b"\x01b\xc0\x1d" + A_RR)
    ),
    "pointer into the middle of a name": message(answers=(b"\xc0\x14" + A_RR,)),
    "255 octets through a pointer": message(
        question=(".".join(["a" * 63] * 3), 1), answers=(b"\x3d" + b"x" * 61 + b"\xc0\x0c" + A_RR,)
    ),
    "256 octets through a pointer": message(
        question=(".".join(["a" * 63] * 3), 1), answers=(b"\x3e" + b"x" * 62 + b"\xc0\x0c" + A_RR,)
    ),
    "pointer from a pointed-to run to after that run": bytes.fromhex(
        "0001 8180 0002 0000 0000 0000"
        "0161 c011 0001 0001"  # offset 12: a + pointer to 17, after its run but before 22
        "0162 00 0001 0001"  # offset 17: b.
        "c00c 0001 0001"  # offset 24: pointer to 12
    ),
    "a name in RDATA followed by a byte": message(
        flags=0x8180, answers=(record("x", 5, wire_name("a") + b"\x00"),)
    ),
    "SRV RDATA followed by a byte": message(
        flags=0x8180, answers=(record("x", 33, bytes(6) + wire_name("a") + b"\x00"),)
    ),
    "SRV without a target": message(flags=0x8180, answers=(record("x", 33, bytes(6)),)),
    "SOA with a number missing": message(
        flags=0x8180, answers=(record("x", 6, wire_name("a") + wire_name("b") + bytes(16)),)
    ),
    "A with 5 bytes": message(flags=0x8180, answers=(record("x", 1, bytes(5)),)),
    "extended rcode from OPT": message(
        flags=0x8183, additionals=(record("", 41, b"", ttl=0x01000000, rclass=512),)
    ),
    "OPT in the answer section": message(
        flags=0x8180, answers=(record("", 41, b"", ttl=0x01000000, rclass=512),)
    ),
    "two OPT records": message(
        additionals=(record("", 41, b"", rclass=512), record("", 41, b"", rclass=1232))
    ),
    "OPT with a cut option": message(
        additionals=(record("", 41, b"\x00\x0a\x00\x08", rclass=512),)
    ),
    "no question": message(question=None, answers=(record("x", 1, bytes(4)),)),
    "three questions": message(question=("a", 1))[:4]
    + b"\x00\x03"
    + message(question=("a", 1))[6:]
    + wire_name("b")
    + b"\x00\x1c\x00\x01"
    + b"\xc0\x0c\x00\x21\x80\x01",
}


@pytest.mark.parametrize("protocol", ["dns", "mdns", "llmnr"])
@pytest.mark.parametrize("data", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_fast_path_gives_the_careful_row_for_edge_cases(data: bytes, protocol: str) -> None:
    assert_fast_path_agrees(data, protocol)


@settings(max_examples=1500, deadline=None)
@given(dns_messages(), PROTOCOLS)
def test_fast_path_gives_the_careful_row_for_generated_messages(data: bytes, protocol: str) -> None:
    assert_fast_path_agrees(data, protocol)


@settings(max_examples=500, deadline=None)
@given(dns_messages(), PROTOCOLS, st.data())
def test_fast_path_gives_the_careful_row_for_cut_messages(
    data: bytes, protocol: str, cut: st.DataObject
) -> None:
    assert_fast_path_agrees(data[: cut.draw(st.integers(0, len(data)))], protocol)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(VALID),
    PROTOCOLS,
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_fast_path_gives_the_careful_row_for_mutated_messages(
    data: bytes, protocol: str, changes: list[tuple[int, int]]
) -> None:
    mutated = bytearray(data)
    for at, value in changes:
        mutated[at % len(mutated)] = value
    assert_fast_path_agrees(bytes(mutated), protocol)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=4, max_size=4), st.binary(max_size=120), PROTOCOLS)
def test_fast_path_gives_the_careful_row_for_random_bytes(
    counts: list[int], data: bytes, protocol: str
) -> None:
    # A header announcing a few questions and records, then anything.
    assert_fast_path_agrees(struct.pack("!6H", 1, 0x8180, *counts) + data, protocol)


@pytest.mark.parametrize("protocol", ["dns", "mdns", "llmnr"])
@pytest.mark.parametrize("data", VALID, ids=["srv", "nxdomain"])
def test_plain_messages_take_the_fast_path(data: bytes, protocol: str) -> None:
    assert _fast_values(data, protocol) is not None
    assert_fast_path_agrees(data, protocol)


def test_a_repeated_message_gets_its_own_id_and_shares_its_records() -> None:
    sink = Sink()
    again = b"\xab\xcd" + SRV_RESPONSE[2:]  # the same response to another query ID
    add_message(sink, ENV, SRV_RESPONSE, "dns")
    add_message(sink, ENV, again, "dns")
    first, second = sink.rows["dns"]
    assert (first["id"], second["id"]) == (0xE3E8, 0xABCD)
    assert {**first, "id": 0} == {**second, "id": 0}
    assert second["answers"] is first["answers"]
    expected = message_values(parse_dns(SRV_RESPONSE), "dns")
    assert {column: second[column] for column in expected} == {**expected, "id": 0xABCD}


def test_a_repeated_message_is_decoded_for_each_protocol() -> None:
    data = MDNS_ANSWER_WITH_CLASS_BITS
    sink = Sink()
    add_message(sink, ENV, data, "dns")
    add_message(sink, ENV, data, "mdns")
    assert [r["qclass"] for r in sink.rows["dns"]] == ["CLASS32769", "IN"]


# ------------------------------------------------------------------ through a capture

PHONE, DC = bytes([10, 20, 0, 57]), bytes([10, 1, 0, 10])
LLMNR_GROUP, MDNS_GROUP = bytes([224, 0, 0, 252]), bytes([224, 0, 0, 251])


def capture(tmp_path: Path, frames: list[tuple[float, bytes]]) -> Path:
    path = tmp_path / "dns.pcap"
    path.write_bytes(pcap([(t, ethernet(f)) for t, f in frames]))
    return path


def test_protocol_follows_the_port(tmp_path: Path) -> None:
    query = message()
    path = capture(
        tmp_path,
        [
            (1.0, ipv4_udp(PHONE, DC, 1400, 53, query)),
            (2.0, ipv4_udp(PHONE, MDNS_GROUP, 5353, 5353, query)),
            (3.0, ipv4_udp(PHONE, LLMNR_GROUP, 50000, 5355, query)),
        ],
    )
    dns = analyze(path, protocols=["dns"], strict=True).dns
    assert list(dns["protocol"]) == ["dns", "mdns", "llmnr"]


def test_dns_over_tcp_split_across_segments(tmp_path: Path) -> None:
    stream = framed(SRV_RESPONSE, NXDOMAIN_RESPONSE)
    syn, syn_ack, ack, psh = 0x02, 0x12, 0x10, 0x18
    path = capture(
        tmp_path,
        [
            (1.0, ipv4_tcp(PHONE, DC, 1400, 53, seq=99, flags=syn)),
            (1.1, ipv4_tcp(DC, PHONE, 53, 1400, seq=499, ack=100, flags=syn_ack)),
            (1.2, ipv4_tcp(PHONE, DC, 1400, 53, seq=100, ack=500, flags=ack)),
            # the server's two messages in three segments: cut inside the first message,
            # then the rest of it together with the whole second one
            (1.3, ipv4_tcp(DC, PHONE, 53, 1400, seq=500, ack=100, flags=psh, payload=stream[:30])),
            (
                1.4,
                ipv4_tcp(DC, PHONE, 53, 1400, seq=530, ack=100, flags=psh, payload=stream[30:60]),
            ),
            (
                1.5,
                ipv4_tcp(DC, PHONE, 53, 1400, seq=560, ack=100, flags=psh, payload=stream[60:]),
            ),
        ],
    )
    dns = analyze(path, protocols=["dns"], strict=True).dns
    assert list(dns["frame"]) == [6, 6]
    assert list(dns["rcode"]) == ["NOERROR", "NXDOMAIN"]
    assert list(dns["transport"]) == ["tcp", "tcp"]


def test_json_rows_carry_the_contract_fields(tmp_path: Path) -> None:
    path = capture(
        tmp_path,
        [
            (
                1.0,
                ipv4_udp(
                    PHONE,
                    DC,
                    1400,
                    53,
                    message(ident=0xE3E8, question=("_sipinternaltls._tcp.contoso.com", 33)),
                ),
            ),
            (1.001, ipv4_udp(DC, PHONE, 53, 1400, SRV_RESPONSE)),
        ],
    )
    query, response = json.loads(table_json(analyze(path, protocols=["dns"]).dns))
    for row in (query, response):
        for key in ("frame", "ts", "flow", "src", "dst", "response", "id", "qname", "qtype"):
            assert key in row
    assert (query["response"], query["rcode"], query["qtype"]) == (False, None, "SRV")
    assert response["rcode"] == "NOERROR"
    assert response["answers"] == [
        {
            "name": "_sipinternaltls._tcp.contoso.com.",
            "type": "SRV",
            "class": "IN",
            "ttl": 3600,
            "data": "0 0 5061 pool01.contoso.local.",
        }
    ]
    assert response["additionals"][0]["data"] == "10.1.0.50"


def test_malformed_datagram_leaves_a_weird_row(tmp_path: Path) -> None:
    path = capture(tmp_path, [(1.0, ipv4_udp(PHONE, DC, 1400, 53, b"\x00\x01\x02"))])
    analysis = analyze(path, protocols=["dns"], strict=True)
    assert analysis.dns.empty
    assert list(analysis.weird["name"]) == ["dns_malformed"]


# ------------------------------------------------------------------ transactions


def transactions(tmp_path: Path, frames: list[tuple[float, bytes]]) -> pd.DataFrame:
    return analyze(capture(tmp_path, frames), protocols=["dns"], strict=True).dns_transactions


def test_retransmitted_query_is_one_transaction(tmp_path: Path) -> None:
    query = message(ident=7)
    answer = message(ident=7, flags=0x8180, answers=(record("example.com", 1, b"\x0a\0\0\x01"),))
    txns = transactions(
        tmp_path,
        [
            (1.0, ipv4_udp(PHONE, DC, 1400, 53, query)),
            (2.0, ipv4_udp(PHONE, DC, 1400, 53, query)),  # retransmission after 1 s
            (2.5, ipv4_udp(DC, PHONE, 53, 1400, answer)),
        ],
    )
    (txn,) = txns.to_dict("records")
    assert (txn["query_frame"], txn["response_frame"], txn["retransmissions"]) == (1, 3, 1)
    assert txn["answered"] and txn["latency_s"] == pytest.approx(1.5)
    assert txn["answers"] == ["10.0.0.1"] and txn["frames"] == [1, 2, 3]
    assert (txn["client"], txn["server"], txn["qname"]) == (
        "10.20.0.57",
        "10.1.0.10",
        "example.com.",
    )


def test_unanswered_query_appears_with_answered_false(tmp_path: Path) -> None:
    txns = transactions(tmp_path, [(1.0, ipv4_udp(PHONE, DC, 1400, 53, message()))])
    (txn,) = txns.to_dict("records")
    assert txn["answered"] is False or not txn["answered"]
    assert txn["server"] == "10.1.0.10"  # who was asked
    assert pd.isna(txn["rcode"]) and pd.isna(txn["response_frame"])


def test_same_question_much_later_is_a_new_transaction(tmp_path: Path) -> None:
    query = message(ident=7)
    txns = transactions(
        tmp_path,
        [(1.0, ipv4_udp(PHONE, DC, 1400, 53, query)), (60.0, ipv4_udp(PHONE, DC, 1400, 53, query))],
    )
    assert list(txns["retransmissions"]) == [0, 0]


def test_response_without_query_gets_its_own_row(tmp_path: Path) -> None:
    txns = transactions(tmp_path, [(1.0, ipv4_udp(DC, PHONE, 53, 1400, NXDOMAIN_RESPONSE))])
    (txn,) = txns.to_dict("records")
    assert pd.isna(txn["query_frame"]) and txn["answered"] and txn["rcode"] == "NXDOMAIN"
    assert (txn["client"], txn["server"]) == ("10.20.0.57", "10.1.0.10")


def test_llmnr_multicast_query_matches_the_unicast_answer(tmp_path: Path) -> None:
    query = message(ident=9, flags=0, question=("pool01", 1))
    answer = message(
        ident=9, flags=0x8000, question=("pool01", 1), answers=(record("pool01", 1, DC),)
    )
    txns = transactions(
        tmp_path,
        [
            (1.0, ipv4_udp(PHONE, LLMNR_GROUP, 50000, 5355, query)),
            (1.1, ipv4_udp(DC, PHONE, 5355, 50000, answer)),
        ],
    )
    (txn,) = txns.to_dict("records")
    assert (txn["protocol"], txn["server"], txn["answers"]) == ("llmnr", "10.1.0.10", ["10.1.0.10"])


def test_mdns_multicast_answer_matches_the_query_for_its_name(tmp_path: Path) -> None:
    query = message(ident=0, flags=0, question=("dc01.local", 1))
    answer = bytes.fromhex("0000 8400 0000 0001 0000 0000") + record(
        "dc01.local", 1, DC, rclass=0x8001
    )
    txns = transactions(
        tmp_path,
        [
            (1.0, ipv4_udp(PHONE, MDNS_GROUP, 5353, 5353, query)),
            (1.2, ipv4_udp(DC, MDNS_GROUP, 5353, 5353, answer)),
        ],
    )
    (txn,) = txns.to_dict("records")
    assert txn["answered"] and txn["response_frame"] == 2 and txn["server"] == "10.1.0.10"


def test_no_dns_rows_give_an_empty_transactions_table() -> None:
    empty = derive_transactions({})["dns_transactions"]
    assert empty.empty and "latency_s" in empty.columns


# ------------------------------------------------------------------ the samples


@pytest.mark.parametrize("enabled", [True, False])
def test_transactions_leave_the_garbage_collector_as_they_found_it(enabled: bool) -> None:
    # derive_transactions pauses the collector while it matches (see _collector_paused).
    sink = Sink()
    add_message(sink, ENV, message(), "dns")
    dns = DNS_SCHEMA.frame(sink.rows["dns"])
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        transactions = derive_transactions({"dns": dns})["dns_transactions"]
        assert gc.isenabled() is enabled
        assert len(transactions) == 1
    finally:
        (gc.enable if was else gc.disable)()


def test_logon_loop_lookups_and_what_came_back() -> None:
    txns = analyze(SAMPLES / "cx700-logon-loop.pcapng", protocols=["dns"]).dns_transactions
    phone = txns[txns["client"] == "10.20.0.57"]
    first = phone.drop_duplicates("qname").set_index("qname")
    assert first.loc["ucupdates-r2.contoso.local.", "rcode"] == "NXDOMAIN"
    assert first.loc["_sipinternaltls._tcp.contoso.com.", "answers"] == [
        "0 0 5061 pool01.contoso.local."
    ]
    assert first.loc["pool01.contoso.local.", "answers"] == ["10.1.0.50"]
    assert phone["answered"].all()
    # one SRV lookup for the pool per attempt: the loop's seven attempts
    assert (phone["qname"] == "_sipinternaltls._tcp.contoso.com.").sum() == 7


def test_missing_srv_every_sip_name_is_nxdomain() -> None:
    txns = analyze(SAMPLES / "missing-srv.pcap", protocols=["dns"]).dns_transactions
    sip = txns[txns["qname"].str.contains("sip", na=False)]
    assert set(sip["qname"]) == {
        "_sipinternaltls._tcp.contoso.com.",
        "_sip._tls.contoso.com.",
        "_sipinternal._tcp.contoso.com.",
        "sipinternal.contoso.com.",
        "sip.contoso.com.",
        "sipexternal.contoso.com.",
    }
    assert set(sip["rcode"]) == {"NXDOMAIN"}

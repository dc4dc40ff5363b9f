"""NBNS: NetBIOS names with their suffix, opcodes, answers with addresses, node status,
broadcast versus WINS, and the DecodeError contract."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import pytest
from builders import ethernet, ipv4_udp, pcap
from conftest import SAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.api import analyze
from analyzer.errors import DecodeError, Truncated
from analyzer.protocols.nbns import message_values, name_from_labels, netbios_name, parse_nbns

# The phone's fallback after NXDOMAIN: a broadcast query for UCUPDATES-R2<00>.
BROADCAST_QUERY = bytes.fromhex(
    "8a3c"  # id
    "0110"  # flags: request, opcode 0 (query), rd, B (broadcast)
    "0001 0000 0000 0000"  # 1 question
    "20"  # a 32-byte label: "UCUPDATES-R2" + 3 spaces + suffix 0x00, first-level encoded
    "46464544464646414545454246454546 4644434e464344434341434143414141"
    "00"  # end of name (no scope)
    "0020 0001"  # type NB, class IN
)

# A WINS server's positive answer: two addresses, the second a group member.
POSITIVE_RESPONSE = bytes.fromhex(
    "8a3c 8500"  # id; response, opcode query, aa, rd, rcode 0
    "0000 0001 0000 0000"  # 1 answer
    "20 46464544464646414545454246454546 4644434e464344434341434143414141 00"
    "0020 0001 000493e0 000c"  # NB, IN, TTL 300000 s, 12 bytes
    "0000 0a01003c"  # flags: unique, B-node; 10.1.0.60
    "a000 0a01003d"  # flags: group (bit 15), P-node (bits 14-13 = 01); 10.1.0.61
)

# "No such name": rcode 3 and a NULL record.
NEGATIVE_RESPONSE = bytes.fromhex(
    "8a3d 8583 0000 0001 0000 0000"  # response, aa, rd, rcode 3 (NAM_ERR)
    "20 46464544464646414545454246454546 4644434e464344434341434143414141 00"
    "000a 0001 00000000 0000"  # NULL, IN, TTL 0, no data
)

# Name registration: the address being registered is in the additional record, whose
# name is a compression pointer to the question's (offset 12).
REGISTRATION = bytes.fromhex(
    "0011 2910"  # id 17; request, opcode 5 (registration), rd, B
    "0001 0000 0000 0001"
    "20 45444649444844414441434e44424544 44444542444645464341434143414141 00"  # CX700-1C3A5E
    "0020 0001"
    "c00c 0020 0001 000493e0 0006 0000 0a140039"  # NB, TTL 300000, unique B-node 10.20.0.57
)


def encoded(name: bytes) -> bytes:
    """A 16-byte NetBIOS name as its first-level encoded label."""
    return bytes(c for b in name for c in (0x41 + (b >> 4), 0x41 + (b & 15)))


def test_encoding_helper_matches_the_literals() -> None:
    assert b"\x20" + encoded(b"UCUPDATES-R2   \x00") in BROADCAST_QUERY
    assert b"\x20" + encoded(b"CX700-1C3A5E   \x00") in REGISTRATION


def test_broadcast_query_name_suffix_and_flags() -> None:
    msg = parse_nbns(BROADCAST_QUERY)
    assert (msg.id, msg.response, msg.opcode_name, msg.broadcast) == (0x8A3C, False, "query", True)
    assert [(q.name, q.type_name) for q in msg.questions] == [("UCUPDATES-R2<00>", "NB")]
    row = message_values(msg, "10.20.0.255")
    assert (row["asked"], row["rcode"], row["name"]) == ("broadcast", None, "UCUPDATES-R2<00>")


def test_unicast_query_to_a_wins_server_is_asked_unicast() -> None:
    unicast = BROADCAST_QUERY[:2] + b"\x01\x00" + BROADCAST_QUERY[4:]  # B flag cleared
    assert message_values(parse_nbns(unicast), "10.1.0.10")["asked"] == "unicast"


def test_broadcast_address_without_b_flag_still_counts_as_broadcast() -> None:
    unicast = BROADCAST_QUERY[:2] + b"\x01\x00" + BROADCAST_QUERY[4:]
    assert message_values(parse_nbns(unicast), "255.255.255.255")["asked"] == "broadcast"


def test_names_keep_inner_spaces_lose_padding_and_show_unprintables_as_hex() -> None:
    assert netbios_name(b"MY PC          \x20") == "MY PC<20>"
    assert netbios_name(b"\x01\x02__MSBROWSE__\x02\x01") == "<01><02>__MSBROWSE__<02><01>"
    assert netbios_name(b"*" + bytes(15)) == "*" + "<00>" * 15


def test_scope_id_follows_the_name() -> None:
    labels = (encoded(b"DC01           \x20"), b"contoso", b"com")
    assert name_from_labels(labels) == "DC01<20>.contoso.com"


def test_label_that_is_not_first_level_encoded_is_shown_as_a_dns_name() -> None:
    assert name_from_labels((b"plain", b"name")) == "plain.name"
    assert name_from_labels((b"Z" * 32,)) == "Z" * 32


def test_positive_response_addresses_with_group_and_node_type() -> None:
    msg = parse_nbns(POSITIVE_RESPONSE)
    (answer,) = msg.answers
    assert (answer.name, answer.type_name, answer.ttl) == ("UCUPDATES-R2<00>", "NB", 300000)
    assert answer.addresses == ("10.1.0.60", "10.1.0.61")
    assert answer.data == "10.1.0.60 unique B-node; 10.1.0.61 group P-node"
    row = message_values(msg, "10.20.0.57")
    assert (row["rcode"], row["asked"], row["addresses"]) == (
        "NOERROR",
        None,
        ["10.1.0.60", "10.1.0.61"],
    )


def test_negative_response_is_nam_err_with_a_null_record() -> None:
    msg = parse_nbns(NEGATIVE_RESPONSE)
    assert msg.rcode_name == "NAM_ERR"
    assert [(r.type_name, r.data) for r in msg.answers] == [("NULL", r"\# 0")]


def test_registration_carries_the_address_in_the_additional_record() -> None:
    msg = parse_nbns(REGISTRATION)
    assert (msg.opcode_name, msg.broadcast) == ("registration", True)
    (additional,) = msg.additionals
    assert (additional.name, additional.addresses) == ("CX700-1C3A5E<00>", ("10.20.0.57",))
    assert message_values(msg, "10.20.0.255")["addresses"] == ["10.20.0.57"]


@pytest.mark.parametrize(
    ("opcode", "name"),
    [
        (0, "query"),
        (5, "registration"),
        (6, "release"),
        (7, "wack"),
        (8, "refresh"),
        (9, "refresh"),
        (15, "multihomed_registration"),
        (3, "opcode3"),
    ],
)
def test_opcode_names(opcode: int, name: str) -> None:
    flags = struct.pack("!H", opcode << 11)
    assert parse_nbns(BROADCAST_QUERY[:2] + flags + BROADCAST_QUERY[4:]).opcode_name == name


def test_wack_data_is_kept_raw() -> None:
    wack = (
        bytes.fromhex("0011 bc00 0000 0001 0000 0000")  # response, opcode 7 (wack), aa
        + REGISTRATION[12:46]  # the name
        + bytes.fromhex("0020 0001 00000002 0002 2910")  # NB, TTL 2 s, the request's flags
    )
    msg = parse_nbns(wack)
    assert msg.opcode_name == "wack"
    assert msg.answers[0].data == r"\# 2 2910"


def test_node_status_answer_lists_names_and_mac() -> None:
    names = (
        b"CX700-1C3A5E   \x00"
        + b"\x04\x00"  # unique, active
        + b"CONTOSO        \x00"
        + b"\x84\x00"  # group, active
    )
    rdata = b"\x02" + names + bytes.fromhex("0004f21c3a5e") + bytes(40)  # count, names, MAC
    status = (
        bytes.fromhex("0101 8400 0000 0001 0000 0000")
        + b"\x20"
        + encoded(b"*" + bytes(15))
        + b"\x00"
        + struct.pack("!HHIH", 0x21, 1, 0, len(rdata))
        + rdata
    )
    (answer,) = parse_nbns(status).answers
    assert answer.type_name == "NBSTAT"
    assert answer.node_names == ("CX700-1C3A5E<00>", "CONTOSO<00>")
    assert answer.unit_id == "00:04:f2:1c:3a:5e"
    assert answer.as_dict()["data"] == (
        "CX700-1C3A5E<00>; CONTOSO<00> group; unit 00:04:f2:1c:3a:5e"
    )


def test_answer_cut_short_keeps_the_header_and_flags_the_message() -> None:
    msg = parse_nbns(POSITIVE_RESPONSE[:-3])
    assert msg.answers == ()
    assert isinstance(msg.error, Truncated)


@pytest.mark.parametrize(
    "data",
    [BROADCAST_QUERY, POSITIVE_RESPONSE, NEGATIVE_RESPONSE, REGISTRATION],
    ids=["query", "positive", "negative", "registration"],
)
def test_every_truncated_prefix_raises_decode_error_or_reports_it(data: bytes) -> None:
    for end in range(len(data)):
        try:
            msg = parse_nbns(data[:end])
        except DecodeError:
            continue
        assert msg.error is not None or not (msg.answers or msg.additionals)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_decode_errors(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        msg = parse_nbns(data)
        message_values(msg, "10.0.0.255")


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from([POSITIVE_RESPONSE, REGISTRATION]),
    st.lists(st.tuples(st.integers(0, 100), st.integers(0, 255))),
)
def test_mutated_messages_only_raise_decode_errors(
    data: bytes, changes: list[tuple[int, int]]
) -> None:
    mutated = bytearray(data)
    for at, value in changes:
        mutated[at % len(mutated)] = value
    with contextlib.suppress(DecodeError):
        message_values(parse_nbns(bytes(mutated)), "10.0.0.1")


def test_capture_rows_and_malformed_datagram(tmp_path: Path) -> None:
    phone, subnet = bytes([10, 20, 0, 57]), bytes([10, 20, 0, 255])
    path = tmp_path / "nbns.pcap"
    frames = [
        ipv4_udp(phone, subnet, 137, 137, BROADCAST_QUERY),
        ipv4_udp(phone, subnet, 137, 137, b"\x01"),
    ]
    path.write_bytes(pcap([(1.0 + i, ethernet(f)) for i, f in enumerate(frames)]))
    analysis = analyze(path, protocols=["nbns"], strict=True)
    assert list(analysis.nbns["name"]) == ["UCUPDATES-R2<00>"]
    assert list(analysis.weird["name"]) == ["nbns_malformed"]


def test_missing_srv_phone_falls_back_to_unanswered_nbns_broadcasts() -> None:
    nbns = analyze(SAMPLES / "missing-srv.pcap", protocols=["nbns"]).nbns
    assert len(nbns) == 3
    assert set(nbns["name"]) == {"UCUPDATES-R2<00>"}
    assert set(nbns["asked"]) == {"broadcast"}
    assert not nbns["response"].any()
    assert nbns["id"].nunique() == 1  # retransmissions repeat the id

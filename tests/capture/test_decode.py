"""Columnar L2-L4 decoding: link layers, VLAN tags, IP versions, transport fields."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from builders import ethernet, ipv4_tcp, ipv4_udp, pcap

from analyzer.capture.decode import (
    BAD_IP,
    OK,
    TRUNCATED_IP,
    TRUNCATED_LINK,
    TRUNCATED_TRANSPORT,
    UNKNOWN_LINKTYPE,
    Decoded,
    address_text,
    decode_batch,
)
from analyzer.capture.readers import open_capture

IPV6_UDP = (
    bytes.fromhex("60000000")  # version 6, traffic class and flow label 0
    + struct.pack("!HBB", 8 + 3, 17, 64)  # payload length, next header UDP, hop limit
    + bytes.fromhex("20010db8000000000000000000000001")
    + bytes.fromhex("20010db8000000000000000000000002")
    + struct.pack("!HHHH", 5353, 53, 11, 0)
    + b"abc"
)


def decode(tmp_path: Path, frames: list[bytes], linktype: int = 1) -> Decoded:
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap([(float(i), f) for i, f in enumerate(frames)], linktype=linktype))
    with open_capture(path) as cap:
        (batch,) = list(cap.batches())
    return decode_batch(batch)


def payload(d: Decoded, row: int) -> bytes:
    return d.batch.buf[int(d.payload_start[row]) : int(d.payload_end[row])]


def endpoints(d: Decoded, row: int) -> tuple[str, int, str, int]:
    return (
        address_text(int(d.src_hi[row]), int(d.src_lo[row])),
        int(d.sport[row]),
        address_text(int(d.dst_hi[row]), int(d.dst_lo[row])),
        int(d.dport[row]),
    )


def test_ethernet_ipv4_udp_fields(tmp_path: Path) -> None:
    d = decode(tmp_path, [ethernet(ipv4_udp(sport=1234, dport=53, payload=b"query"))])
    assert endpoints(d, 0) == ("10.0.0.1", 1234, "10.0.0.2", 53)
    assert d.ip_proto[0] == 17
    assert payload(d, 0) == b"query"
    assert d.problem[0] == OK


def test_tcp_fields_and_payload(tmp_path: Path) -> None:
    frame = ethernet(ipv4_tcp(seq=0xFFFFFFF0, ack=77, flags=0x18, payload=b"REGISTER"))
    d = decode(tmp_path, [frame])
    assert (d.tcp_seq[0], d.tcp_ack[0], d.tcp_flags[0]) == (0xFFFFFFF0, 77, 0x18)
    assert payload(d, 0) == b"REGISTER"


def test_ethernet_padding_is_not_payload(tmp_path: Path) -> None:
    frame = ethernet(ipv4_tcp(flags=0x10)) + b"\x00" * 6  # padded to the 60-byte minimum
    d = decode(tmp_path, [frame])
    assert payload(d, 0) == b""
    assert d.payload_wire_len[0] == 0


def test_single_and_double_vlan_tags_are_peeled(tmp_path: Path) -> None:
    frames = [
        ethernet(ipv4_udp(), vlans=(20,)),
        ethernet(ipv4_udp(), vlans=(100, 20)),
    ]
    d = decode(tmp_path, frames)
    assert d.vlan_outer.tolist() == [20, 100]
    assert d.vlan_inner.tolist() == [-1, 20]
    assert d.ip_proto.tolist() == [17, 17]


def test_qinq_with_8021ad_outer_tag(tmp_path: Path) -> None:
    frame = (
        bytes(12)
        + struct.pack("!HH", 0x88A8, 300)
        + struct.pack("!HH", 0x8100, 20)
        + struct.pack("!H", 0x0800)
        + ipv4_udp()
    )
    d = decode(tmp_path, [frame])
    assert (d.vlan_outer[0], d.vlan_inner[0], d.ip_proto[0]) == (300, 20, 17)


def test_pppoe_session_carries_ipv4(tmp_path: Path) -> None:
    ip = ipv4_udp()
    pppoe = struct.pack("!BBHH", 0x11, 0, 0x1234, len(ip) + 2) + struct.pack("!H", 0x0021)
    d = decode(tmp_path, [ethernet(pppoe + ip, ethertype=0x8864)])
    assert d.ip_version[0] == 4
    assert endpoints(d, 0) == ("10.0.0.1", 1024, "10.0.0.2", 53)


def test_ipv6_udp(tmp_path: Path) -> None:
    d = decode(tmp_path, [ethernet(IPV6_UDP, ethertype=0x86DD)])
    assert endpoints(d, 0) == ("2001:db8::1", 5353, "2001:db8::2", 53)
    assert payload(d, 0) == b"abc"


@pytest.mark.parametrize("linktype", [12, 101, 228])
def test_raw_ipv4_link_types(tmp_path: Path, linktype: int) -> None:
    d = decode(tmp_path, [ipv4_udp()], linktype=linktype)
    assert d.ip_version[0] == 4 and d.sport[0] == 1024


def test_raw_link_type_229_is_ipv6(tmp_path: Path) -> None:
    d = decode(tmp_path, [IPV6_UDP], linktype=229)
    assert d.ip_version[0] == 6


@pytest.mark.parametrize(
    ("family", "linktype"),
    [(struct.pack("<I", 2), 0), (struct.pack(">I", 2), 0), (struct.pack(">I", 2), 108)],
    ids=["null-little-endian", "null-big-endian", "loop"],
)
def test_bsd_null_and_loop_families(tmp_path: Path, family: bytes, linktype: int) -> None:
    d = decode(tmp_path, [family + ipv4_udp()], linktype=linktype)
    assert d.ip_version[0] == 4


def test_bsd_null_ipv6_family_30(tmp_path: Path) -> None:
    d = decode(tmp_path, [struct.pack("<I", 30) + IPV6_UDP], linktype=0)
    assert d.ip_version[0] == 6


def test_linux_sll_and_sll2(tmp_path: Path) -> None:
    sll = struct.pack("!HHH8sH", 0, 1, 6, bytes(8), 0x0800) + ipv4_udp()
    sll2 = struct.pack("!HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, bytes(8)) + ipv4_udp()
    assert decode(tmp_path, [sll], linktype=113).sport[0] == 1024
    assert decode(tmp_path, [sll2], linktype=276).sport[0] == 1024


def test_unknown_link_type_is_flagged_not_fatal(tmp_path: Path) -> None:
    d = decode(tmp_path, [b"\x01\x02\x03"], linktype=147)
    assert d.problem[0] == UNKNOWN_LINKTYPE
    assert d.ip_version[0] == 0


def test_arp_is_not_ip(tmp_path: Path) -> None:
    d = decode(tmp_path, [ethernet(bytes(28), ethertype=0x0806)])
    assert (d.ethertype[0], d.ip_version[0], d.problem[0]) == (0x0806, 0, OK)


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        (bytes(10), TRUNCATED_LINK),
        (ethernet(ipv4_udp())[:24], TRUNCATED_IP),
        (ethernet(ipv4_tcp())[:40], TRUNCATED_TRANSPORT),
        (ethernet(b"\x65" + ipv4_udp()[1:]), BAD_IP),  # version 6 in an IPv4 ethertype
        (ethernet(b"\x44" + ipv4_udp()[1:]), BAD_IP),  # IHL 4 is shorter than the header
    ],
    ids=["short-ethernet", "short-ip", "short-tcp", "wrong-version", "bad-ihl"],
)
def test_damaged_headers_are_classified(tmp_path: Path, frame: bytes, problem: int) -> None:
    d = decode(tmp_path, [frame, ethernet(ipv4_udp())])
    assert d.problem.tolist() == [problem, OK]


def test_ipv4_fragments_and_ipv6_extension_headers_go_to_the_slow_path(tmp_path: Path) -> None:
    fragment = ethernet(ipv4_udp(frag=0x2000))  # More Fragments set
    hop_by_hop = IPV6_UDP[:6] + b"\x00" + IPV6_UDP[7:40] + bytes([17, 0]) + bytes(6) + IPV6_UDP[40:]
    hop_by_hop = hop_by_hop[:4] + struct.pack("!H", 8 + 11) + hop_by_hop[6:]
    d = decode(tmp_path, [fragment, ethernet(hop_by_hop, ethertype=0x86DD), ethernet(ipv4_udp())])
    assert d.slow.tolist() == [True, True, False]


def test_tso_ipv4_total_length_zero_uses_captured_length(tmp_path: Path) -> None:
    packet = bytearray(ipv4_tcp(payload=b"x" * 100))
    packet[2:4] = b"\x00\x00"
    d = decode(tmp_path, [ethernet(bytes(packet))])
    assert d.problem[0] == OK
    assert payload(d, 0) == b"x" * 100


def test_frame_numbers_continue_across_packets(tmp_path: Path) -> None:
    d = decode(tmp_path, [ethernet(ipv4_udp())] * 3)
    assert np.array_equal(d.frame, [1, 2, 3])

"""Flows: ids, directions, port reuse and the conversations table."""

from __future__ import annotations

from pathlib import Path

from builders import ethernet, ipv4_tcp, ipv4_udp, pcap

from analyzer.capture.flows import ACK, FIN, RST, SYN, tcp_state
from analyzer.capture.pipeline import read_capture

PHONE, POOL = bytes([10, 20, 0, 15]), bytes([10, 1, 0, 40])


def conversations(tmp_path: Path, frames: list[bytes]):  # type: ignore[no-untyped-def]
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap([(1000.0 + i, f) for i, f in enumerate(frames)]))
    return read_capture(path).flows.conversations()


def tcp(
    src: bytes, dst: bytes, sport: int, dport: int, flags: int, seq: int = 1, payload: bytes = b""
) -> bytes:
    return ethernet(ipv4_tcp(src, dst, sport, dport, seq=seq, flags=flags, payload=payload))


def handshake(sport: int, isn: int) -> list[bytes]:
    return [
        tcp(PHONE, POOL, sport, 5061, SYN, isn),
        tcp(POOL, PHONE, 5061, sport, SYN | ACK, 9000),
        tcp(PHONE, POOL, sport, 5061, ACK, isn + 1),
    ]


def test_both_directions_of_a_connection_are_one_flow_oriented_by_the_syn(tmp_path: Path) -> None:
    table = conversations(tmp_path, handshake(40000, 100))
    assert len(table) == 1
    row = table.iloc[0]
    assert (row.src, row.sport, row.dst, row.dport) == ("10.20.0.15", 40000, "10.1.0.40", 5061)
    assert (row.src_packets, row.dst_packets) == (2, 1)
    assert row.tcp_state == "established"


def test_flow_ids_follow_first_packet_order(tmp_path: Path) -> None:
    frames = [
        ethernet(ipv4_udp(PHONE, POOL, 5000, 53)),
        ethernet(ipv4_udp(PHONE, POOL, 5001, 53)),
        ethernet(ipv4_udp(POOL, PHONE, 53, 5000)),
    ]
    table = conversations(tmp_path, frames)
    assert table["sport"].tolist() == [5000, 5001]
    assert table["flow"].tolist() == [0, 1]
    assert table["packets"].tolist() == [2, 1]


def test_capture_starting_with_syn_ack_names_the_receiver_originator(tmp_path: Path) -> None:
    table = conversations(tmp_path, handshake(40000, 100)[1:])
    row = table.iloc[0]
    assert (row.src, row.sport) == ("10.20.0.15", 40000)
    assert row.tcp_state == "midstream"


def test_new_syn_after_close_on_same_ports_is_a_new_connection(tmp_path: Path) -> None:
    first = [
        *handshake(40000, 100),
        tcp(PHONE, POOL, 40000, 5061, FIN | ACK, 101),
        tcp(POOL, PHONE, 5061, 40000, FIN | ACK, 9001),
    ]
    second = handshake(40000, 5555)
    table = conversations(tmp_path, first + second)
    assert table["flow"].tolist() == [0, 1]
    assert table["stream"].tolist() == [0, 1]
    assert table["packets"].tolist() == [5, 3]
    assert table["tcp_state"].tolist() == ["closed", "established"]


def test_retransmitted_syn_with_same_isn_stays_one_connection(tmp_path: Path) -> None:
    syn = tcp(PHONE, POOL, 40000, 5061, SYN, 100)
    table = conversations(tmp_path, [syn, syn, syn])
    assert len(table) == 1
    assert table.iloc[0].tcp_state == "syn_sent"


def test_syn_answered_by_reset_is_rejected(tmp_path: Path) -> None:
    frames = [tcp(PHONE, POOL, 40000, 5061, SYN, 100), tcp(POOL, PHONE, 5061, 40000, RST | ACK, 0)]
    assert conversations(tmp_path, frames).iloc[0].tcp_state == "rejected"


def test_bytes_count_frame_lengths_each_way(tmp_path: Path) -> None:
    query = ethernet(ipv4_udp(PHONE, POOL, 5000, 53, payload=b"q" * 10))
    answer = ethernet(ipv4_udp(POOL, PHONE, 53, 5000, payload=b"a" * 30))
    row = conversations(tmp_path, [query, answer]).iloc[0]
    assert (row.src_bytes, row.dst_bytes) == (len(query), len(answer))
    assert row.duration_s == 1.0


def test_flows_continue_across_batches(tmp_path: Path) -> None:
    frames = [ethernet(ipv4_udp(PHONE, POOL, 5000 + i % 3, 53)) for i in range(300)]
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap([(float(i), f) for i, f in enumerate(frames)]))
    table = read_capture(path, chunk_bytes=1000).flows.conversations()
    assert table["packets"].tolist() == [100, 100, 100]


def test_tcp_state_from_flags() -> None:
    assert tcp_state(SYN, 0) == "syn_sent"
    assert tcp_state(SYN | ACK, SYN | ACK | FIN) == "half_closed"
    assert tcp_state(SYN | ACK | RST, SYN | ACK) == "reset"
    assert tcp_state(ACK, ACK) == "midstream"


def test_syn_on_a_connection_picked_up_mid_stream_starts_a_new_one(tmp_path: Path) -> None:
    frames = [
        tcp(PHONE, POOL, 40000, 5061, ACK, 500, b"old data"),
        *handshake(40000, 100),
    ]
    table = conversations(tmp_path, frames)
    assert table["packets"].tolist() == [1, 3]
    assert table["tcp_state"].tolist() == ["midstream", "established"]


class _Offers:
    """A consumer that records every flow it is offered and wants none."""

    def __init__(self) -> None:
        self.offered: list[tuple[int, int, int]] = []

    def offer(self, flow):  # type: ignore[no-untyped-def]
        self.offered.append((flow.flow, flow.sport, flow.first_frame))
        return None


def test_consumers_are_offered_each_new_flow_once_with_its_first_frame(tmp_path: Path) -> None:
    frames = [
        ethernet(ipv4_udp(PHONE, POOL, 6000, 53)),  # flow 0; its key sorts after 5000's
        ethernet(ipv4_udp(PHONE, POOL, 5000, 53)),  # flow 1
        ethernet(ipv4_udp(POOL, PHONE, 53, 6000)),
        *handshake(40000, 100),  # flow 2 (frames 4-6)
        tcp(PHONE, POOL, 40000, 5061, FIN | ACK, 101),
        tcp(POOL, PHONE, 5061, 40000, FIN | ACK, 9001),
        *handshake(40000, 5555),  # the ports reused: flow 3 from frame 9
    ]
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap([(1000.0 + i, f) for i, f in enumerate(frames)]))
    offers = _Offers()
    read_capture(path, [offers])
    assert offers.offered == [(0, 6000, 1), (1, 5000, 2), (2, 40000, 4), (3, 40000, 9)]

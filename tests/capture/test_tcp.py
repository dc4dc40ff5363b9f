"""TCP connection tracking and stream reassembly: one test per behaviour, then fuzzing.

Sequence numbers are written out explicitly; the handshake helper uses ISNs 1000 (client)
and 5000 (server) unless a test says otherwise, so client data starts at seq 1001 and
server data at seq 5001.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.capture.tcp import (
    ACK,
    FIN,
    PSH,
    RST,
    SYN,
    ReassemblyBudget,
    StreamClosed,
    StreamData,
    StreamGap,
    TcpConnection,
    TcpEvent,
)
from analyzer.errors import Weird

C_ISN, S_ISN = 1000, 5000
MOD = 1 << 32


def handshake(conn: TcpConnection, c_isn: int = C_ISN, s_isn: int = S_ISN) -> None:
    assert conn.segment(1, 1.0, 0, c_isn, 0, SYN, b"") == []
    assert conn.segment(2, 1.1, 1, s_isn, (c_isn + 1) % MOD, SYN | ACK, b"") == []
    assert conn.segment(3, 1.2, 0, (c_isn + 1) % MOD, (s_isn + 1) % MOD, ACK, b"") == []


def data(events: Sequence[TcpEvent], direction: int = 0) -> list[tuple[int, bytes]]:
    return [
        (e.offset, e.data) for e in events if isinstance(e, StreamData) and e.direction == direction
    ]


def weirds(events: Sequence[TcpEvent]) -> list[str]:
    return [e.name for e in events if isinstance(e, Weird)]


def gaps(events: Sequence[TcpEvent]) -> list[StreamGap]:
    return [e for e in events if isinstance(e, StreamGap)]


def closes(events: Sequence[TcpEvent]) -> list[tuple[int, str]]:
    return [(e.direction, e.how) for e in events if isinstance(e, StreamClosed)]


# -- handshake and connection identity ----------------------------------------------------


def test_handshake_sets_isn_and_data_offsets_count_from_isn_plus_one() -> None:
    conn = TcpConnection()
    handshake(conn)
    assert conn.isn(0) == 1000 and conn.isn(1) == 5000
    assert conn.state == "established" and conn.handshake == "complete"
    ev = conn.segment(4, 1.3, 0, 1001, 5001, ACK | PSH, b"GET /")
    assert ev == [StreamData(0, 0, b"GET /", 4, 4, 1.3)]
    ev = conn.segment(5, 1.4, 1, 5001, 1006, ACK | PSH, b"HTTP/1.1")
    assert ev == [StreamData(1, 0, b"HTTP/1.1", 5, 5, 1.4)]
    assert conn.seq_at(0, 5) == 1006


def test_syn_retransmitted_with_same_isn_is_harmless() -> None:
    conn = TcpConnection()
    conn.segment(1, 1.0, 0, 1000, 0, SYN, b"")
    assert not conn.is_new_connection(0, SYN, 1000)
    assert conn.segment(2, 2.0, 0, 1000, 0, SYN, b"") == []
    conn.segment(3, 2.1, 1, 5000, 1001, SYN | ACK, b"")
    conn.segment(4, 2.2, 0, 1001, 5001, ACK, b"")
    assert data(conn.segment(5, 2.3, 0, 1001, 5001, ACK, b"hi")) == [(0, b"hi")]
    assert conn.stats[0].packets == 4


def test_syn_with_different_isn_is_a_new_connection() -> None:
    conn = TcpConnection(flow=3)
    conn.segment(1, 1.0, 0, 1000, 0, SYN, b"")
    assert conn.is_new_connection(0, SYN, 77_000)
    ev = conn.segment(2, 2.0, 0, 77_000, 0, SYN, b"")
    assert ev == [Weird("tcp_port_reuse", frame=2, flow=3, detail="SYN seq=77000")]
    assert conn.isn(0) == 1000  # the old connection is left as it was


def test_syn_after_fin_or_rst_is_a_new_connection_even_with_same_isn() -> None:
    for closing in (FIN | ACK, RST | ACK):
        conn = TcpConnection()
        handshake(conn)
        conn.segment(4, 2.0, 1, 5001, 1001, closing, b"")
        # Windows retries a refused connect with the same ISN; Wireshark opens a new
        # tcp.stream for it, and so do we.
        assert conn.is_new_connection(0, SYN, 1000)
        assert weirds(conn.segment(5, 3.0, 0, 1000, 0, SYN, b"")) == ["tcp_port_reuse"]
    # Only a pure SYN can start a connection.
    assert not conn.is_new_connection(0, SYN | ACK, 1000)
    assert not conn.is_new_connection(0, ACK, 1000)


def test_synack_with_new_isn_before_any_data_is_adopted() -> None:
    conn = TcpConnection()
    conn.segment(1, 1.0, 0, 1000, 0, SYN, b"")
    conn.segment(2, 1.1, 1, 5000, 1001, SYN | ACK, b"")
    conn.segment(3, 2.0, 1, 9000, 1001, SYN | ACK, b"")  # answers a retransmitted SYN
    conn.segment(4, 2.1, 0, 1001, 9001, ACK, b"")
    assert conn.isn(1) == 9000
    assert data(conn.segment(5, 2.2, 1, 9001, 1001, ACK, b"220"), 1) == [(0, b"220")]


def test_synack_contradicting_seen_data_is_ignored() -> None:
    conn = TcpConnection()
    handshake(conn)
    conn.segment(4, 2.0, 1, 5001, 1001, ACK, b"220 ready")
    assert weirds(conn.segment(5, 2.1, 1, 123, 1001, SYN | ACK, b"")) == ["tcp_isn_changed"]
    assert data(conn.segment(6, 2.2, 1, 5010, 1001, ACK, b"!"), 1) == [(9, b"!")]


def test_midstream_pickup_first_seq_is_offset_zero() -> None:
    conn = TcpConnection()
    ev = conn.segment(1, 1.0, 0, 3_000_000, 7_000_000, ACK, b"abc")
    assert ev == [StreamData(0, 0, b"abc", 1, 1, 1.0)]
    assert data(conn.segment(2, 1.1, 1, 7_000_000, 3_000_003, ACK, b"xy"), 1) == [(0, b"xy")]
    assert data(conn.segment(3, 1.2, 0, 3_000_003, 7_000_002, ACK, b"d")) == [(3, b"d")]
    assert conn.state == "midstream" and conn.handshake == "none"
    # A late copy of the SYN that preceded byte 0 belongs to this connection...
    assert not conn.is_new_connection(0, SYN, 2_999_999)
    # ...any other SYN does not.
    assert conn.is_new_connection(0, SYN, 42)


def test_handshake_partial_when_synack_not_captured() -> None:
    conn = TcpConnection()
    conn.segment(1, 1.0, 0, 1000, 0, SYN, b"")
    assert conn.state == "syn_sent" and conn.handshake == "partial"
    conn.segment(2, 1.2, 0, 1001, 5001, ACK, b"hello")
    assert conn.state == "established" and conn.handshake == "partial"


def test_state_follows_handshake_and_close() -> None:
    conn = TcpConnection()
    conn.segment(1, 1.0, 0, 1000, 0, SYN, b"")
    assert conn.state == "syn_sent"
    conn.segment(2, 1.1, 1, 5000, 1001, SYN | ACK, b"")
    assert conn.state == "syn_received"
    conn.segment(3, 1.2, 0, 1001, 5001, ACK, b"")
    assert conn.state == "established"
    conn.segment(4, 1.3, 0, 1001, 5001, FIN | ACK, b"")
    assert conn.state == "fin_wait"
    conn.segment(5, 1.4, 1, 5001, 1002, FIN | ACK, b"")
    assert conn.state == "closed" and conn.done
    reset = TcpConnection()
    reset.segment(1, 1.0, 0, 1000, 0, SYN, b"")
    reset.segment(2, 1.1, 1, 0, 1001, RST | ACK, b"")
    assert reset.state == "reset" and reset.handshake == "partial"


def test_syn_carrying_data_delivers_it_at_offset_zero() -> None:
    conn = TcpConnection()
    ev = conn.segment(1, 1.0, 0, 1000, 0, SYN, b"fastopen")  # TCP Fast Open
    assert data(ev) == [(0, b"fastopen")]
    conn.segment(2, 1.1, 1, 5000, 1009, SYN | ACK, b"")
    assert conn.segment(3, 1.2, 0, 1000, 0, SYN, b"fastopen") == []  # retransmitted SYN
    assert data(conn.segment(4, 1.3, 0, 1009, 5001, ACK, b"!")) == [(8, b"!")]


# -- delivery -------------------------------------------------------------------------------


def test_in_order_data_delivered_immediately_without_copy() -> None:
    conn = TcpConnection()
    handshake(conn)
    payload = b"x" * 1460
    (ev,) = conn.segment(4, 1.3, 0, 1001, 5001, ACK, payload)
    assert isinstance(ev, StreamData) and ev.data is payload
    assert conn.stats[0].delivered_bytes == 1460


def test_memoryview_payload_is_copied_once_delivered() -> None:
    conn = TcpConnection()
    handshake(conn)
    buf = bytearray(b"abcdef")
    (ev,) = conn.segment(4, 1.3, 0, 1001, 5001, ACK, memoryview(buf)[1:4])
    buf[1:4] = b"XXX"  # the reader reuses its buffer: delivered bytes must not change
    assert isinstance(ev, StreamData) and ev.data == b"bcd"


def test_out_of_order_segments_buffered_until_hole_fills() -> None:
    conn = TcpConnection()
    handshake(conn)
    assert conn.segment(5, 1.4, 0, 1011, 5001, ACK, b"KLMNO") == []  # offsets 10-14
    assert conn.segment(6, 1.5, 0, 1006, 5001, ACK, b"FGHIJ") == []  # offsets 5-9
    assert conn.stats[0].out_of_order_segments == 2
    ev = conn.segment(4, 1.6, 0, 1001, 5001, ACK, b"ABCDE")  # offsets 0-4 fill the hole
    assert ev == [StreamData(0, 0, b"ABCDEFGHIJKLMNO", 4, 5, 1.4)]


def test_retransmission_of_delivered_data_dropped_and_counted() -> None:
    conn = TcpConnection()
    handshake(conn)
    conn.segment(4, 1.3, 0, 1001, 5001, ACK, b"hello")
    assert conn.segment(5, 1.9, 0, 1001, 5001, ACK, b"hello") == []
    assert conn.stats[0].retransmitted_bytes == 5
    assert conn.stats[0].delivered_bytes == 5


def test_retransmission_of_buffered_data_dropped_and_counted() -> None:
    conn = TcpConnection()
    handshake(conn)
    conn.segment(5, 1.4, 0, 1006, 5001, ACK, b"world")
    assert conn.segment(6, 1.5, 0, 1006, 5001, ACK, b"world") == []
    assert conn.stats[0].retransmitted_bytes == 5
    assert data(conn.segment(4, 1.6, 0, 1001, 5001, ACK, b"hello")) == [(0, b"helloworld")]


def test_partial_overlap_delivers_only_the_new_part() -> None:
    conn = TcpConnection()
    handshake(conn)
    conn.segment(4, 1.3, 0, 1001, 5001, ACK, b"abcd")  # offsets 0-3
    ev = conn.segment(5, 1.4, 0, 1003, 5001, ACK, b"cdefg")  # re-segmented: 2-6
    assert data(ev) == [(4, b"efg")]
    assert conn.stats[0].retransmitted_bytes == 2


def test_overlap_differing_from_delivered_data_is_weird_and_first_wins() -> None:
    conn = TcpConnection(flow=9)
    handshake(conn)
    conn.segment(4, 1.3, 0, 1001, 5001, ACK, b"abcd")
    ev = conn.segment(5, 1.4, 0, 1003, 5001, ACK, b"XYef")  # offsets 2-5, 2-3 differ
    assert data(ev) == [(4, b"ef")]
    (w,) = [e for e in ev if isinstance(e, Weird)]
    assert (w.name, w.frame, w.flow, w.offset) == ("tcp_overlap_mismatch", 5, 9, 2)


def test_overlap_differing_from_buffered_data_is_weird_and_first_wins() -> None:
    conn = TcpConnection()
    handshake(conn)
    conn.segment(5, 1.4, 0, 1005, 5001, ACK, b"EFGH")  # offsets 4-7, buffered
    ev = conn.segment(6, 1.5, 0, 1003, 5001, ACK, b"CDxxxxIJ")  # 2-9: 4-7 differ
    assert weirds(ev) == ["tcp_overlap_mismatch"]
    ev = conn.segment(4, 1.6, 0, 1001, 5001, ACK, b"AB")
    assert data(ev) == [(0, b"ABCDEFGHIJ")]


def test_sequence_numbers_wrap_around_2_to_the_32() -> None:
    conn = TcpConnection()
    handshake(conn, c_isn=0xFFFFFFF0)  # data starts at seq 0xFFFFFFF1
    chunk = bytes(range(10))
    out: list[TcpEvent] = []
    # offsets 10-19 cross the wrap: seq 0xFFFFFFFB .. 0x00000004
    out += conn.segment(5, 1.4, 0, 0xFFFFFFFB, 5001, ACK, chunk)
    out += conn.segment(6, 1.5, 0, 0x00000005, 5001, ACK, chunk)  # offsets 20-29
    out += conn.segment(4, 1.6, 0, 0xFFFFFFF1, 5001, ACK, chunk)  # offsets 0-9
    assert data(out) == [(0, chunk * 3)]
    assert conn.seq_at(0, 20) == 5
    # Offsets keep growing past 2**32 of data without going back to 0.
    big = TcpConnection()
    big.segment(1, 1.0, 0, 0xFFFFFFFF, 0, ACK, b"a")
    conn_next = big.segment(2, 1.1, 0, 0, 0, ACK, b"b")
    assert data(conn_next) == [(1, b"b")]


def test_keepalive_does_not_break_the_stream() -> None:
    conn = TcpConnection()
    handshake(conn)
    conn.segment(4, 1.3, 0, 1001, 5001, ACK, b"abc")
    # Keep-alive: one garbage byte at next seq - 1 (offset 2, which was b"c").
    assert conn.segment(5, 60.0, 0, 1003, 5001, ACK, b"\x00") == []
    assert conn.segment(6, 120.0, 0, 1003, 5001, ACK, b"") == []  # zero-length variant
    assert conn.stats[0].keepalives == 2
    assert data(conn.segment(7, 121.0, 0, 1004, 5001, ACK, b"d")) == [(3, b"d")]


def test_zero_window_probe_then_retransmission_with_more_data() -> None:
    conn = TcpConnection()
    handshake(conn)
    conn.segment(4, 1.3, 0, 1001, 5001, ACK, b"abc")
    conn.segment(5, 1.4, 1, 5001, 1004, ACK, b"", window=0)
    assert conn.stats[1].zero_windows == 1
    # The probe carries the next byte; the sender later sends it again with more.
    assert data(conn.segment(6, 2.0, 0, 1004, 5001, ACK, b"d")) == [(3, b"d")]
    conn.segment(7, 2.1, 1, 5001, 1004, ACK, b"", window=0)  # probe byte not taken
    assert data(conn.segment(8, 3.0, 0, 1004, 5001, ACK, b"defg")) == [(4, b"efg")]


# -- closing ------------------------------------------------------------------------------


def test_fin_closes_direction_after_its_data() -> None:
    conn = TcpConnection()
    handshake(conn)
    ev = conn.segment(4, 1.3, 0, 1001, 5001, FIN | ACK | PSH, b"bye")
    assert data(ev) == [(0, b"bye")] and closes(ev) == [(0, "fin")]
    assert ev[-1] == StreamClosed(0, 4, 1.3, "fin")
    assert conn.segment(5, 1.4, 0, 1004, 5001, FIN | ACK, b"") == []  # retransmitted FIN


def test_fin_out_of_order_waits_for_the_data_before_it() -> None:
    conn = TcpConnection()
    handshake(conn)
    assert conn.segment(5, 1.4, 0, 1004, 5001, FIN | ACK, b"") == []
    ev = conn.segment(4, 1.5, 0, 1001, 5001, ACK, b"bye")
    assert data(ev) == [(0, b"bye")] and ev[-1] == StreamClosed(0, 4, 1.5, "fin")


def test_fin_whose_data_never_comes_is_a_gap_at_finish() -> None:
    conn = TcpConnection()
    handshake(conn)
    conn.segment(5, 1.4, 0, 1004, 5001, FIN | ACK, b"")
    ev = conn.finish(99)
    assert ev == [StreamGap(0, 0, 3, 99, "capture_end"), StreamClosed(0, 99, 1.4, "fin")]


def test_data_after_fin_is_weird_and_not_delivered() -> None:
    conn = TcpConnection()
    handshake(conn)
    conn.segment(4, 1.3, 0, 1001, 5001, FIN | ACK, b"ab")
    ev = conn.segment(5, 1.4, 0, 1004, 5001, ACK, b"late")
    assert weirds(ev) == ["tcp_data_after_fin"] and data(ev) == []
    # Buffered data beyond a FIN that arrives later is dropped too.
    conn2 = TcpConnection()
    handshake(conn2)
    conn2.segment(5, 1.4, 0, 1006, 5001, ACK, b"beyond")
    ev = conn2.segment(6, 1.5, 0, 1003, 5001, FIN | ACK, b"")
    assert weirds(ev) == ["tcp_data_after_fin"]
    ev = conn2.segment(4, 1.6, 0, 1001, 5001, ACK, b"ab")
    assert data(ev) == [(0, b"ab")] and closes(ev) == [(0, "fin")]


def test_rst_closes_both_directions_and_flushes_buffers_with_gaps() -> None:
    budget = ReassemblyBudget()
    conn = TcpConnection(budget=budget)
    handshake(conn)
    conn.segment(4, 1.3, 0, 1001, 5001, ACK, b"ab")
    conn.segment(5, 1.4, 0, 1006, 5001, ACK, b"fg")  # offsets 5-6 after a 3-byte hole
    ev = conn.segment(6, 1.5, 1, 5001, 1003, RST | ACK, b"")
    assert ev == [
        StreamGap(0, 2, 3, 6, "closed"),
        StreamData(0, 5, b"fg", 5, 5, 1.4),
        StreamClosed(0, 6, 1.5, "rst"),
        StreamClosed(1, 6, 1.5, "rst"),
    ]
    assert budget.buffered == 0 and conn.done
    ev = conn.segment(7, 1.6, 0, 1008, 5001, ACK, b"more")
    assert weirds(ev) == ["tcp_data_after_reset"]


# -- caps -----------------------------------------------------------------------------------


def test_buffer_cap_skips_the_hole_and_delivers_what_is_buffered() -> None:
    conn = TcpConnection(max_buffered=8)
    handshake(conn)
    assert conn.segment(5, 1.4, 0, 1011, 5001, ACK, b"12345") == []  # offsets 10-14
    ev = conn.segment(6, 1.5, 0, 1016, 5001, ACK, b"6789")  # 15-18: 9 bytes > 8
    assert weirds(ev) == ["tcp_buffer_cap"]
    assert gaps(ev) == [StreamGap(0, 0, 10, 6, "buffer_cap")]
    assert data(ev) == [(10, b"123456789")]
    # The skipped bytes arrive after all: old now, dropped.
    assert data(conn.segment(4, 1.6, 0, 1001, 5001, ACK, b"0123456789")) == []
    assert data(conn.segment(7, 1.7, 0, 1020, 5001, ACK, b"!")) == [(19, b"!")]


def test_segment_count_cap_bounds_many_tiny_segments() -> None:
    conn = TcpConnection(max_segments=4)
    handshake(conn)
    out: list[TcpEvent] = []
    for k in range(5):  # one byte every other offset: 5 separate pieces
        out += conn.segment(10 + k, 2.0, 0, 1001 + 2 + 2 * k, 5001, ACK, b"x")
    assert weirds(out) == ["tcp_buffer_cap"]
    assert gaps(out) == [StreamGap(0, 0, 2, 14, "buffer_cap")]
    assert data(out) == [(2, b"x")]


def test_shared_budget_exceeded_makes_the_connection_give_up_its_hole() -> None:
    budget = ReassemblyBudget(max_bytes=10)
    a, b = TcpConnection(budget=budget), TcpConnection(budget=budget)
    handshake(a)
    handshake(b)
    a.segment(4, 1.3, 0, 1011, 5001, ACK, b"A" * 8)  # a holds 8 of the 10
    assert budget.buffered == 8
    ev = b.segment(5, 1.4, 0, 1006, 5001, ACK, b"B" * 4)
    assert weirds(ev) == ["tcp_budget_exceeded"]
    assert gaps(ev) == [StreamGap(0, 0, 5, 5, "budget")]
    assert data(ev) == [(5, b"BBBB")]
    assert budget.buffered == 8


def test_budget_is_returned_on_delivery_stop_and_finish() -> None:
    budget = ReassemblyBudget()
    conns = [TcpConnection(budget=budget) for _ in range(3)]
    for c in conns:
        handshake(c)
        c.segment(5, 1.4, 0, 1006, 5001, ACK, b"later")
        c.segment(6, 1.5, 1, 5010, 1001, ACK, b"reply")
    assert budget.buffered == 30
    conns[0].segment(4, 1.6, 0, 1001, 5001, ACK, b"early")  # delivery
    assert budget.buffered == 25
    conns[1].stop(0)
    conns[1].stop(1)
    assert budget.buffered == 15
    conns[2].finish()
    assert budget.buffered == 5
    conns[0].finish()
    assert budget.buffered == 0


def test_seq_wildly_out_of_window_is_weird_and_ignored() -> None:
    conn = TcpConnection()
    handshake(conn)
    ev = conn.segment(4, 1.3, 0, 1001 + (1 << 30) + 1, 5001, ACK, b"corrupt")
    assert weirds(ev) == ["tcp_seq_out_of_window"]
    ev = conn.segment(5, 1.4, 0, (1001 - (1 << 30) - 1) % MOD, 5001, FIN | ACK, b"")
    assert weirds(ev) == ["tcp_seq_out_of_window"]
    assert conn.state == "established"  # the out-of-window FIN was ignored too
    assert conn.finish() == []  # nothing was buffered


def test_data_after_stop_is_ignored() -> None:
    budget = ReassemblyBudget()
    conn = TcpConnection(budget=budget)
    handshake(conn)
    conn.stop(0)
    assert conn.segment(4, 1.3, 0, 1001, 5001, ACK, b"hello") == []
    assert conn.segment(5, 1.4, 0, 1010, 5001, ACK, b"ahead") == []
    assert budget.buffered == 0
    assert conn.stats[0].payload_bytes == 10  # still counted
    assert conn.segment(6, 1.5, 0, 1015, 5001, FIN | ACK, b"") == []
    assert conn.state == "fin_wait"  # still tracked
    assert data(conn.segment(7, 1.6, 1, 5001, 1016, ACK, b"ok"), 1) == [(0, b"ok")]


def test_finish_reports_holes_and_delivers_the_rest() -> None:
    conn = TcpConnection()
    handshake(conn)
    conn.segment(4, 1.3, 0, 1001, 5001, ACK, b"ab")
    conn.segment(5, 1.4, 0, 1005, 5001, ACK, b"ef")  # hole at 2-3
    conn.segment(6, 1.5, 0, 1009, 5001, ACK, b"ij")  # hole at 6-7
    conn.segment(7, 1.6, 1, 5003, 1001, ACK, b"zz")  # hole at server 0-1
    ev = conn.finish(50)
    assert ev == [
        StreamGap(0, 2, 2, 50, "capture_end"),
        StreamData(0, 4, b"ef", 5, 5, 1.4),
        StreamGap(0, 6, 2, 50, "capture_end"),
        StreamData(0, 8, b"ij", 6, 6, 1.5),
        StreamGap(1, 0, 2, 50, "capture_end"),
        StreamData(1, 2, b"zz", 7, 7, 1.6),
    ]
    assert conn.stats[0].gap_bytes == 4


def test_acked_unseen_segment_is_skipped_at_once() -> None:
    conn = TcpConnection()
    handshake(conn)
    conn.segment(4, 1.3, 0, 1001, 5001, ACK, b"ab")
    conn.segment(6, 1.5, 0, 1006, 5001, ACK, b"fg")  # offsets 2-4 never captured
    ev = conn.segment(7, 1.6, 1, 5001, 1008, ACK, b"")  # the server has them all
    assert weirds(ev) == ["tcp_acked_unseen_segment"]
    assert gaps(ev) == [StreamGap(0, 2, 3, 7, "acked_unseen")]
    assert data(ev) == [(5, b"fg")]
    cautious = TcpConnection(trust_acks=False)
    handshake(cautious)
    cautious.segment(6, 1.5, 0, 1006, 5001, ACK, b"fg")
    assert cautious.segment(7, 1.6, 1, 5001, 1008, ACK, b"") == []


def test_bad_direction_is_weird_not_an_exception() -> None:
    conn = TcpConnection()
    assert weirds(conn.segment(1, 1.0, 2, 0, 0, ACK, b"x")) == ["tcp_bad_direction"]
    conn.stop(5)
    assert conn.isn(-1) is None and conn.seq_at(3, 0) is None


# -- properties ---------------------------------------------------------------------------

seqs = st.integers(0, MOD - 1)
near_wrap = st.one_of(seqs, st.integers(MOD - 64, MOD - 1), st.integers(0, 64))


def check_tiling(events: Sequence[TcpEvent], fed: list[int]) -> list[int]:
    """Per direction, data and gaps tile the stream from 0 without overlap; nothing after
    a close. Returns the delivered byte counts."""
    pos = [0, 0]
    delivered = [0, 0]
    closed = [False, False]
    for e in events:
        if isinstance(e, StreamData | StreamGap):
            assert not closed[e.direction]
            assert e.offset == pos[e.direction], (e, pos)
            size = len(e.data) if isinstance(e, StreamData) else e.length
            assert size > 0
            pos[e.direction] += size
            if isinstance(e, StreamData):
                delivered[e.direction] += size
        elif isinstance(e, StreamClosed):
            assert not closed[e.direction]
            closed[e.direction] = True
    assert delivered[0] <= fed[0] and delivered[1] <= fed[1]
    return delivered


# Mostly plausible segments (seqs within a small window, common flag sets) so that
# buffering, caps and closing are reached, with garbage mixed in.
close_seqs = st.one_of(st.integers(0, 150), st.integers(MOD - 150, MOD - 1))
segment_st = st.tuples(
    st.integers(0, 1),  # direction
    st.one_of(close_seqs, close_seqs, close_seqs, seqs),  # seq
    st.one_of(close_seqs, seqs),  # ack
    st.one_of(
        st.sampled_from([ACK, ACK | PSH, ACK, ACK | PSH, ACK | FIN, SYN, SYN | ACK, RST]),
        st.integers(0, 0x1FF),  # flags, garbage included
    ),
    st.binary(max_size=40),
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(segment_st, segment_st, st.tuples(st.just("stop"), st.integers(0, 1))),
        max_size=50,
    ),
    st.integers(1, 64),
    st.integers(1, 6),
)
def test_random_segments_never_raise_nor_deliver_more_than_fed(
    ops: list[tuple[object, ...]], max_buffered: int, max_segments: int
) -> None:
    budget = ReassemblyBudget(max_bytes=48)
    conn = TcpConnection(
        flow=1, max_buffered=max_buffered, max_segments=max_segments, budget=budget, max_history=16
    )
    events: list[TcpEvent] = []
    fed = [0, 0]
    for frame, op in enumerate(ops):
        if op[0] == "stop":
            assert isinstance(op[1], int)
            conn.stop(op[1])
            continue
        direction, seq, ack, flags, payload = op
        assert isinstance(direction, int) and isinstance(payload, bytes)
        assert isinstance(seq, int) and isinstance(ack, int) and isinstance(flags, int)
        fed[direction] += len(payload)
        events += conn.segment(frame, float(frame), direction, seq, ack, flags, payload, 0)
        assert 0 <= budget.buffered <= max(48, budget.buffered)
    events += conn.finish()
    check_tiling(events, fed)
    assert budget.buffered == 0
    assert conn.state in {
        "syn_sent",
        "syn_received",
        "established",
        "fin_wait",
        "closed",
        "reset",
        "midstream",
    }
    assert conn.handshake in {"complete", "partial", "none"}


def cut(stream: bytes, rnd: random.Random, isn: int) -> list[tuple[int, bytes]]:
    """Segments covering ``stream``, re-segmented copies and retransmissions, shuffled."""
    segs: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(stream):
        size = rnd.randint(1, 30)
        segs.append((pos, stream[pos : pos + size]))
        pos += size
    for _ in range(rnd.randint(0, len(segs))):  # overlapping copies of random ranges
        a = rnd.randrange(len(stream))
        b = rnd.randint(a + 1, min(len(stream), a + 40))
        segs.append((a, stream[a:b]))
    segs += rnd.sample(segs, k=rnd.randint(0, len(segs)))  # exact duplicates
    rnd.shuffle(segs)
    return [((isn + 1 + off) % MOD, chunk) for off, chunk in segs]


def feed_two_streams(
    conn: TcpConnection,
    streams: tuple[bytes, bytes],
    isns: tuple[int, int],
    rnd: random.Random,
    with_fin: bool,
    acked: Sequence[tuple[int, int]] = (),
) -> list[TcpEvent]:
    """Handshake, then both streams cut up and shuffled together. ``acked`` adds pure
    ACKs (direction acknowledged, bytes acknowledged) shuffled in with the data."""
    events: list[TcpEvent] = []
    c_isn, s_isn = isns
    events += conn.segment(1, 0.0, 0, c_isn, 0, SYN, b"")
    events += conn.segment(2, 0.0, 1, s_isn, (c_isn + 1) % MOD, SYN | ACK, b"")
    events += conn.segment(3, 0.0, 0, (c_isn + 1) % MOD, (s_isn + 1) % MOD, ACK, b"")
    start = ((c_isn + 1) % MOD, (s_isn + 1) % MOD)
    # (direction, seq, ack, flags, payload); data segments acknowledge nothing new.
    plan: list[tuple[int, int, int, int, bytes]] = []
    for d in (0, 1):
        for seq, chunk in cut(streams[d], rnd, isns[d]):
            plan.append((d, seq, start[1 - d], ACK | PSH, chunk))
        if with_fin:
            plan.append((d, (start[d] + len(streams[d])) % MOD, start[1 - d], FIN | ACK, b""))
    for d, amount in acked:
        plan.append((1 - d, start[1 - d], (start[d] + amount) % MOD, ACK, b""))
    rnd.shuffle(plan)
    for frame, (d, seq, ack, flags, chunk) in enumerate(plan, start=4):
        events += conn.segment(frame, float(frame), d, seq, ack, flags, chunk)
    return events


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(min_size=1, max_size=600),
    st.binary(max_size=300),
    near_wrap,
    near_wrap,
    st.randoms(use_true_random=False),
    st.booleans(),
)
def test_shuffled_duplicated_resegmented_stream_reassembles_exactly(
    s0: bytes, s1: bytes, c_isn: int, s_isn: int, rnd: random.Random, with_fin: bool
) -> None:
    budget = ReassemblyBudget()
    conn = TcpConnection(budget=budget)
    events = feed_two_streams(conn, (s0, s1), (c_isn, s_isn), rnd, with_fin)
    if not with_fin:
        events += conn.finish()
    assert gaps(events) == [] and weirds(events) == []
    check_tiling(events, [len(s0) * 100, len(s1) * 100])
    for d, s in ((0, s0), (1, s1)):
        assert b"".join(chunk for _, chunk in data(events, d)) == s
    if with_fin:
        assert sorted(closes(events)) == [(0, "fin"), (1, "fin")] and conn.state == "closed"
    assert budget.buffered == 0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(min_size=1, max_size=600),
    st.binary(max_size=300),
    near_wrap,
    near_wrap,
    st.randoms(use_true_random=False),
    st.booleans(),
    st.integers(1, 80),
    st.integers(1, 8),
    st.integers(1, 120),
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 700)), max_size=6),
)
def test_with_small_caps_data_plus_gaps_cover_the_stream_and_data_is_right(
    s0: bytes,
    s1: bytes,
    c_isn: int,
    s_isn: int,
    rnd: random.Random,
    with_fin: bool,
    max_buffered: int,
    max_segments: int,
    budget_bytes: int,
    acks: list[tuple[int, int]],
) -> None:
    budget = ReassemblyBudget(max_bytes=budget_bytes)
    conn = TcpConnection(budget=budget, max_buffered=max_buffered, max_segments=max_segments)
    other = TcpConnection(budget=budget)  # a second connection holding part of the budget
    other.segment(1, 0.0, 0, 77, 0, ACK, b"o")
    other.segment(2, 0.0, 0, 79, 0, ACK, b"held" * (budget_bytes // 8))
    # The ACKs acknowledge random amounts of data, possibly before it is fed: holes
    # "acknowledged but not captured" are given up, and the data arriving later is old.
    events = feed_two_streams(conn, (s0, s1), (c_isn, s_isn), rnd, with_fin, acks)
    events += conn.finish()
    check_tiling(events, [len(s0) * 100, len(s1) * 100])
    for d, s in ((0, s0), (1, s1)):
        covered = sum(len(c) for _, c in data(events, d))
        covered += sum(g.length for g in gaps(events) if g.direction == d)
        assert covered == len(s)
        for off, chunk in data(events, d):
            assert s[off : off + len(chunk)] == chunk
    other.finish()
    assert budget.buffered == 0

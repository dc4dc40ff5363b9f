"""The dispatcher: which flows reach which dissector, and how stream bytes arrive."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from builders import ethernet, ipv4_tcp, ipv4_udp, pcap

from analyzer.capture.pipeline import FlowInfo, read_capture
from analyzer.dissect import Dispatcher
from analyzer.errors import Malformed
from analyzer.protocols.base import Envelope, Sink

PHONE, SERVER = bytes([10, 20, 0, 57]), bytes([10, 1, 0, 50])
SYN, ACK, PSH = 0x02, 0x10, 0x08


class EchoDatagrams:
    name: ClassVar[str] = "echo"

    def wants(self, flow: FlowInfo) -> bool:
        return 7 in (flow.sport, flow.dport)

    def datagram(self, env: Envelope, payload: bytes, sink: Sink) -> None:
        if payload == b"bad":
            raise Malformed("bad echo", offset=0)
        sink.add("echo", env, payload=payload)


class Session:
    def __init__(self, sink: Sink, flow: FlowInfo) -> None:
        self.sink, self.flow = sink, flow
        self.closed = False

    def data(self, direction: int, data: bytes, env: Envelope) -> bool:
        self.sink.add("lines", env, direction=direction, data=data)
        return True

    def gap(self, direction: int, length: int, env: Envelope) -> bool:
        return True

    def close(self, env: Envelope | None) -> None:
        self.sink.add("lines", env, closed=True)


class Greeting:
    """Claims flows whose first bytes are 'HELO', on any port."""

    name: ClassVar[str] = "greeting"

    def wants(self, flow: FlowInfo) -> bool:
        return False

    def sniff(self, direction: int, head: bytes) -> bool | None:
        if len(head) < 4:
            return None
        return head.startswith(b"HELO")

    def session(self, flow: FlowInfo, sink: Sink) -> Session:
        return Session(sink, flow)


def run(tmp_path: Path, frames: list[bytes]) -> Sink:
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap([(100.0 + i, f) for i, f in enumerate(frames)]))
    sink = Sink()
    read_capture(path, [Dispatcher([EchoDatagrams()], [Greeting()], sink)], strict=True)
    return sink


def test_datagrams_reach_the_dissector_that_wants_the_port(tmp_path: Path) -> None:
    sink = run(
        tmp_path,
        [
            ethernet(ipv4_udp(PHONE, SERVER, 5000, 7, payload=b"ping")),
            ethernet(ipv4_udp(SERVER, PHONE, 7, 5000, payload=b"pong")),
            ethernet(ipv4_udp(PHONE, SERVER, 5000, 9, payload=b"other")),
        ],
    )
    rows = sink.rows["echo"]
    assert [(r["frame"], r["src"], r["payload"]) for r in rows] == [
        (1, "10.20.0.57", b"ping"),
        (2, "10.1.0.50", b"pong"),
    ]


def test_malformed_datagram_becomes_a_weird_row(tmp_path: Path) -> None:
    sink = run(tmp_path, [ethernet(ipv4_udp(PHONE, SERVER, 5000, 7, payload=b"bad"))])
    assert sink.weird_counts == {"echo_malformed": 1}
    assert sink.weird[0].frame == 1


def test_content_sniffing_claims_a_tcp_flow_on_any_port(tmp_path: Path) -> None:
    frames = [
        ethernet(ipv4_tcp(PHONE, SERVER, 40000, 4444, seq=100, flags=SYN)),
        ethernet(ipv4_tcp(SERVER, PHONE, 4444, 40000, seq=900, ack=101, flags=SYN | ACK)),
        ethernet(
            ipv4_tcp(PHONE, SERVER, 40000, 4444, seq=101, ack=901, flags=ACK | PSH, payload=b"HE")
        ),
        ethernet(
            ipv4_tcp(
                PHONE, SERVER, 40000, 4444, seq=103, ack=901, flags=ACK | PSH, payload=b"LO world"
            )
        ),
        ethernet(
            ipv4_tcp(
                SERVER, PHONE, 4444, 40000, seq=901, ack=111, flags=ACK | PSH, payload=b"250 ok"
            )
        ),
    ]
    sink = run(tmp_path, frames)
    rows = [r for r in sink.rows["lines"] if "data" in r]
    assert [(r["direction"], r["data"], r["frame"]) for r in rows] == [
        (0, b"HE", 3),
        (0, b"LO world", 4),
        (1, b"250 ok", 5),
    ]
    assert sink.rows["lines"][-1]["closed"] is True


def test_flows_nobody_claims_are_released(tmp_path: Path) -> None:
    frames = [
        ethernet(
            ipv4_tcp(
                PHONE, SERVER, 40000, 4444, seq=100, flags=ACK | PSH, payload=b"GET / HTTP/1.0\r\n"
            )
        ),
    ]
    assert "lines" not in run(tmp_path, frames).rows

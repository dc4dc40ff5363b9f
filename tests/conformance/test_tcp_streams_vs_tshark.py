"""Conformance: TCP reassembly gives the same byte streams as ``tshark -z follow,tcp,raw``.

Every TCP connection of every capture is reassembled by the analyzer (through the same
consumer interface protocol parsers use) and by tshark; each direction's bytes must match.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import all_captures, capture_id, run_tshark

from analyzer.capture.pipeline import FlowInfo, read_capture
from analyzer.capture.tcp import StreamClosed, StreamData, StreamGap

CAPTURES = all_captures()


class StreamCollector:
    """A consumer that wants every TCP flow and keeps both directions' bytes."""

    def __init__(self) -> None:
        self.flows: dict[int, tuple[FlowInfo, _Streams]] = {}

    def offer(self, info: FlowInfo) -> _Streams | None:
        if info.transport != "tcp":
            return None
        streams = _Streams()
        self.flows[info.flow] = (info, streams)
        return streams


class _Streams:
    def __init__(self) -> None:
        self.data = [bytearray(), bytearray()]
        self.gaps = 0

    def datagram(self, frame: int, ts_ns: int, direction: int, payload: bytes) -> bool:
        raise AssertionError("TCP flows get stream events, not datagrams")

    def stream(self, event: StreamData | StreamGap | StreamClosed) -> bool:
        if isinstance(event, StreamData):
            self.data[event.direction] += event.data
        elif isinstance(event, StreamGap):
            self.gaps += 1
        return True

    def finish(self) -> None:
        pass


def _tshark_follow(capture: Path, streams: list[int]) -> dict[int, tuple[str, bytes, bytes]]:
    """stream -> (node 0 endpoint, bytes from node 0, bytes from node 1)."""
    args = []
    for s in streams:
        args += ["-z", f"follow,tcp,raw,{s}"]
    out = run_tshark(capture, "-q", *args)
    result: dict[int, tuple[str, bytes, bytes]] = {}
    current = None
    node0 = ""
    parts: list[bytearray] = []
    for line in out.splitlines():
        if line.startswith("Filter: tcp.stream eq "):
            current = int(line.rsplit(" ", 1)[1])
            parts = [bytearray(), bytearray()]
        elif line.startswith("Node 0: "):
            node0 = line[len("Node 0: ") :]
        elif line.startswith("====") and current is not None and parts:
            result[current] = (node0, bytes(parts[0]), bytes(parts[1]))
            current = None
        elif current is not None and line.strip() and not line.startswith(("Node 1:", "Follow:")):
            side = 1 if line.startswith("\t") else 0
            parts[side] += bytes.fromhex(line.strip())
    return result


@pytest.mark.tshark
@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
def test_reassembled_tcp_streams_match_tshark_follow(capture: Path) -> None:
    collector = StreamCollector()
    result = read_capture(capture, [collector], strict=True)
    table = result.flows.conversations().set_index("flow")
    ours = {}
    for fid, (info, streams) in collector.flows.items():
        ours[int(table.loc[fid, "stream"])] = (info, streams)
    if not ours:
        tshark_streams = run_tshark(capture, "-Y", "tcp", "-T", "fields", "-e", "tcp.stream")
        assert tshark_streams.split() == [], "tshark sees TCP that the analyzer missed"
        return
    theirs = _tshark_follow(capture, sorted(ours))
    for stream, (info, streams) in sorted(ours.items()):
        node0, from0, from1 = theirs.get(stream, ("", b"", b""))
        if not from0 and not from1 and not any(streams.data):
            continue
        ours_from_originator = bytes(streams.data[0])
        ours_from_responder = bytes(streams.data[1])
        if node0 in (f"{info.src}:{info.sport}", f"[{info.src}]:{info.sport}"):
            expected = (from0, from1)
        else:
            expected = (from1, from0)
        assert (ours_from_originator, ours_from_responder) == expected, (
            f"tcp.stream {stream}: originator {len(ours_from_originator)} vs "
            f"{len(expected[0])} bytes, responder {len(ours_from_responder)} vs "
            f"{len(expected[1])} bytes"
        )

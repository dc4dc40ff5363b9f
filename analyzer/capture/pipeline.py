"""The capture pipeline: file -> batches -> L2-L4 columns -> flows -> payload consumers.

Bulk traffic is only counted. Payload goes through Python one packet at a time only for
flows that a consumer (a protocol parser) has asked for, and only until it lets go: a TLS
parser releases its flow after the handshake, so its application data is never buffered.

>>> from analyzer.capture.pipeline import read_capture
>>> result = read_capture("samples/cx700-logon-loop.pcapng")
>>> result.stats.packets, result.flows.flow_count
(3056, 69)
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np

from analyzer.capture import decode as dec
from analyzer.capture.decode import Decoded, addresses_text, decode_batch, decode_slow
from analyzer.capture.defrag import Defragmenter
from analyzer.capture.flows import FlowTable, transport_name
from analyzer.capture.readers import CaptureInfo, linktype_name, open_capture
from analyzer.capture.tcp import (
    ReassemblyBudget,
    StreamClosed,
    StreamData,
    StreamGap,
    TcpConnection,
    TcpEvent,
)
from analyzer.collector import collector_paused
from analyzer.errors import DecodeError, Weird

#: Weird rows kept with their details; beyond this only the per-name counts grow.
MAX_WEIRD_ROWS = 10_000
ETHERTYPE_NAMES = {
    0x0800: "ipv4",
    0x86DD: "ipv6",
    0x0806: "arp",
    0x88CC: "lldp",
    0x8035: "rarp",
    0x888E: "eapol",
    0x8863: "pppoe_discovery",
    0x88F7: "ptp",
}


class FlowInfo(NamedTuple):
    """What a consumer is told about a new flow to decide whether it wants it.

    A NamedTuple: one is made per flow (30k on the benchmark capture), at a quarter of
    the cost of a frozen dataclass.
    """

    flow: int
    transport: str
    src: str
    sport: int
    dst: str
    dport: int
    first_frame: int


class FlowHandler(Protocol):
    """Receives one flow's payload. Each method returns False once it wants no more."""

    def datagram(self, frame: int, ts_ns: int, direction: int, payload: bytes) -> bool: ...

    def stream(self, event: StreamData | StreamGap | StreamClosed) -> bool: ...

    def finish(self) -> None: ...


class Consumer(Protocol):
    """A protocol parser's entry point: offered every new flow, returns a handler or None."""

    def offer(self, flow: FlowInfo) -> FlowHandler | None: ...


@dataclass
class CaptureStats:
    """Whole-capture counters."""

    packets: int = 0
    bytes: int = 0
    captured_bytes: int = 0
    first_ts_ns: int | None = None
    last_ts_ns: int | None = None
    link_types: Counter[str] = field(default_factory=Counter)
    network: Counter[str] = field(default_factory=Counter)
    transports: Counter[str] = field(default_factory=Counter)
    vlans: Counter[int] = field(default_factory=Counter)
    ip_fragments: int = 0
    weird: Counter[str] = field(default_factory=Counter)


@dataclass
class CaptureResult:
    """Everything one pass over a capture produced."""

    info: CaptureInfo
    stats: CaptureStats
    flows: FlowTable
    weird: list[Weird]


class _Run:
    """State of one pass; see :func:`read_capture`."""

    def __init__(self, consumers: Iterable[Consumer], strict: bool) -> None:
        self.consumers = list(consumers)
        self.strict = strict
        self.stats = CaptureStats()
        self.flows = FlowTable()
        self.weird: list[Weird] = []
        self.defrag = Defragmenter()
        self.budget = ReassemblyBudget()
        self.handlers: dict[int, list[FlowHandler]] = {}
        self.connections: dict[int, TcpConnection] = {}
        #: By flow id: True while the flow has handlers, so that _feed picks its packets
        #: with one lookup each. The last slot stays False for the -1 of flowless packets.
        self.handled = np.zeros(1024, dtype=bool)

    def note(self, w: Weird, count: int = 1) -> None:
        self.stats.weird[w.name] += count
        if len(self.weird) < MAX_WEIRD_ROWS:
            self.weird.append(w)

    # -- per batch --------------------------------------------------------------------

    def batch(self, d: Decoded) -> None:
        batch = d.batch
        n = len(batch)
        st = self.stats
        st.packets += n
        st.bytes += int(batch.origlen.sum())
        st.captured_bytes += int(batch.caplen.sum())
        ts = batch.ts_ns
        if n:
            lo, hi = int(ts.min()), int(ts.max())
            st.first_ts_ns = lo if st.first_ts_ns is None else min(st.first_ts_ns, lo)
            st.last_ts_ns = hi if st.last_ts_ns is None else max(st.last_ts_ns, hi)
        _count(st.link_types, batch.linktype, linktype_name)
        _count(st.vlans, d.vlan_outer[d.vlan_outer >= 0], int)
        _count(st.network, d.ethertype[d.ethertype >= 0], _ethertype_name)

        extra_payload: dict[int, bytes] = {}
        pending_fragment = np.zeros(n, dtype=np.bool_)
        slow_rows = np.flatnonzero(d.slow)
        if len(slow_rows):
            self._slow_path(d, slow_rows, extra_payload, pending_fragment)

        ip = d.ip_version > 0
        _count(st.transports, d.ip_proto[ip & ~pending_fragment], transport_name)
        problems = np.bincount(d.problem, minlength=len(dec.PROBLEMS))
        for code in np.flatnonzero(problems[1:]) + 1:
            first = int(d.frame[np.argmax(d.problem == code)])
            name = dec.PROBLEMS[code]
            count = int(problems[code])
            self.note(Weird(name, frame=first, detail=f"{count} packet(s) in this batch"), count)

        has_flow = (
            ip
            & ~pending_fragment
            & ((d.problem == dec.OK) | (d.problem == dec.TRUNCATED_TRANSPORT))
        )
        has_flow &= ~((d.problem == dec.TRUNCATED_TRANSPORT) & np.isin(d.ip_proto, (6, 17)))
        assignment = self.flows.assign(d, has_flow)
        if self.consumers and len(assignment.new_flow_rows):
            if self.flows.flow_count >= len(self.handled):  # one slot more for flow -1
                grown = np.zeros(2 * self.flows.flow_count, dtype=bool)
                grown[: len(self.handled) - 1] = self.handled[:-1]
                self.handled = grown
            self._offer_new_flows(d, assignment.flow, assignment.new_flow_rows)
        if self.handlers:
            self._feed(d, assignment.flow, assignment.direction, extra_payload)

    def _slow_path(
        self,
        d: Decoded,
        rows: np.ndarray,
        extra_payload: dict[int, bytes],
        pending_fragment: np.ndarray,
    ) -> None:
        buf = d.batch.buf
        ends = d.batch.data_offset + d.batch.caplen
        for r in rows.tolist():
            start = int(d.l3_start[r])
            stop = min(int(d.l3_end[r]), int(ends[r]))
            version = int(d.ip_version[r])
            frame = int(d.frame[r])
            try:
                slow = decode_slow(buf[start:stop], version)
            except DecodeError:
                d.problem[r] = dec.BAD_IPV6_EXT if version == 6 else dec.BAD_IP
                d.ip_version[r] = 0
                continue
            d.ip_proto[r] = slow.ip_proto
            transport = slow.transport
            payload_base = stop - len(transport) if transport is not None else -1
            if slow.fragment is not None:
                self.stats.ip_fragments += 1
                ident, offset, more = slow.fragment
                key = (
                    version,
                    int(d.src_hi[r]),
                    int(d.src_lo[r]),
                    int(d.dst_hi[r]),
                    int(d.dst_lo[r]),
                    ident,
                    slow.ip_proto,
                )
                assert transport is not None
                whole, weird = self.defrag.add(
                    key, frame, d.batch.ts_ns[r] / 1e9, offset, more, transport
                )
                for w in weird:
                    self.note(w)
                if whole is None:
                    pending_fragment[r] = True
                    continue
                transport = whole
                payload_base = -1
            assert transport is not None
            hdr = dec.parse_transport(slow.ip_proto, transport)
            if hdr.payload_offset < 0:
                if slow.ip_proto in (6, 17):
                    d.problem[r] = dec.TRUNCATED_TRANSPORT
                continue
            d.sport[r], d.dport[r] = hdr.sport, hdr.dport
            d.tcp_flags[r], d.tcp_seq[r] = hdr.tcp_flags, hdr.tcp_seq
            d.tcp_ack[r], d.tcp_window[r] = hdr.tcp_ack, hdr.tcp_window
            d.payload_wire_len[r] = max(0, len(transport) - hdr.payload_offset)
            if payload_base >= 0:
                d.payload_start[r] = payload_base + hdr.payload_offset
                d.payload_end[r] = max(stop, int(d.payload_start[r]))
            else:
                extra_payload[r] = transport[hdr.payload_offset :]

    def _offer_new_flows(self, d: Decoded, flow: np.ndarray, rows: np.ndarray) -> None:
        fids = flow[rows]
        # The first packet may come from the responder (a SYN-ACK): orient the info.
        flip = (d.ip_proto[rows] == 6) & ((d.tcp_flags[rows] & 0x12) == 0x12)
        src_text = addresses_text(d.src_hi[rows], d.src_lo[rows])
        dst_text = addresses_text(d.dst_hi[rows], d.dst_lo[rows])
        for fid, proto, src, sport, dst, dport, frame, flipped in zip(
            fids.tolist(),
            d.ip_proto[rows].tolist(),
            src_text.tolist(),
            d.sport[rows].tolist(),
            dst_text.tolist(),
            d.dport[rows].tolist(),
            d.frame[rows].tolist(),
            flip.tolist(),
            strict=True,
        ):
            if flipped:
                src, dst, sport, dport = dst, src, dport, sport
            info = FlowInfo(fid, transport_name(proto), src, sport, dst, dport, frame)
            handlers = []
            for consumer in self.consumers:
                handler = self._guard(frame, fid, consumer.offer, info)
                if handler is not None:
                    handlers.append(handler)
            if handlers:
                self.handlers[fid] = handlers
                self.handled[fid] = True
                if proto == 6:
                    self.connections[fid] = TcpConnection(flow=fid, budget=self.budget)

    def _feed(
        self,
        d: Decoded,
        flow: np.ndarray,
        direction: np.ndarray,
        extra_payload: dict[int, bytes],
    ) -> None:
        rows = np.flatnonzero(self.handled[flow])
        if len(rows) == 0:
            return
        buf = d.batch.buf
        # One conversion of the wanted rows' columns to Python ints; indexing numpy arrays
        # element by element in this loop would cost more than the parsers themselves.
        columns = zip(
            rows.tolist(),
            flow[rows].tolist(),
            direction[rows].tolist(),
            d.frame[rows].tolist(),
            d.batch.ts_ns[rows].tolist(),
            d.payload_start[rows].tolist(),
            d.payload_end[rows].tolist(),
            d.tcp_seq[rows].tolist(),
            d.tcp_ack[rows].tolist(),
            d.tcp_flags[rows].tolist(),
            d.tcp_window[rows].tolist(),
            strict=True,
        )
        handlers_of, connections, guard = self.handlers, self.connections, self._guard
        for r, fid, towards, frame, ts_ns, start, stop, seq, ack, flags, window in columns:
            handlers = handlers_of.get(fid)
            if handlers is None:
                continue  # released earlier in this batch
            payload = extra_payload.get(r) if extra_payload else None
            if payload is None:
                payload = buf[start:stop] if start >= 0 else b""
            conn = connections.get(fid)
            if conn is None:
                # Nearly always every handler wants more: no new list for them then.
                keep = handlers
                for h in handlers:
                    if not guard(frame, fid, h.datagram, frame, ts_ns, towards, payload):
                        keep = [k for k in keep if k is not h]
            else:
                events = conn.segment(frame, ts_ns, towards, seq, ack, flags, payload, window)
                keep = self._deliver(fid, handlers, events, frame) if events else handlers
            if keep:
                if keep is not handlers:
                    handlers_of[fid] = keep
            else:
                self._release(fid)

    def _deliver(
        self, fid: int, handlers: list[FlowHandler], events: list[TcpEvent], frame: int
    ) -> list[FlowHandler]:
        keep = handlers
        for event in events:
            if isinstance(event, Weird):
                self.note(event)
                continue
            for h in keep:
                if not self._guard(frame, fid, h.stream, event):
                    keep = [k for k in keep if k is not h]
            if not keep:
                break
        return keep

    def _release(self, fid: int) -> None:
        self.handled[fid] = False
        for h in self.handlers.pop(fid, []):
            self._guard(None, fid, h.finish)
        conn = self.connections.pop(fid, None)
        if conn is not None:
            conn.stop(0)
            conn.stop(1)

    def _guard(self, frame: int | None, fid: int, call: Callable[..., Any], *args: object) -> Any:
        """Run consumer code; a bug in one parser is reported, not fatal (unless strict)."""
        try:
            return call(*args)
        except Exception as e:
            if self.strict:
                raise
            self.note(Weird("parser_bug", frame=frame, flow=fid, detail=f"{type(e).__name__}: {e}"))
            return None

    def finish(self) -> None:
        for fid in list(self.handlers):
            conn = self.connections.get(fid)
            if conn is not None:
                keep = self._deliver(fid, self.handlers[fid], conn.finish(), -1)
                self.handlers[fid] = keep
            self._release(fid)
        for w in self.defrag.finish():
            self.note(w)


def read_capture(
    path: str | os.PathLike[str],
    consumers: Iterable[Consumer] = (),
    *,
    progress: Callable[[int, int], None] | None = None,
    strict: bool = False,
    chunk_bytes: int | None = None,
) -> CaptureResult:
    """Read a whole capture once, counting everything and feeding ``consumers``.

    ``progress(done_bytes, total_bytes)`` is called after each batch. Raises
    :class:`~analyzer.errors.CaptureError` for a file that is not a usable capture; damage
    later in the file ends reading there and is reported in ``weird`` and ``info.damage``.
    """
    run = _Run(consumers, strict)
    kwargs = {} if chunk_bytes is None else {"chunk_bytes": chunk_bytes}
    with collector_paused():
        with open_capture(path, **kwargs) as capture:
            for batch in capture.batches():
                run.batch(decode_batch(batch))
                if progress is not None:
                    progress(capture.position(), capture.file_size)
            info = capture.info
        run.finish()
    for w in info.damage:
        run.note(w)
    return CaptureResult(info, run.stats, run.flows, run.weird)


def _ethertype_name(value: int) -> str:
    return ETHERTYPE_NAMES.get(value, "llc" if value < 0x600 else f"ethertype_{value:#06x}")


def _count(counter: Counter[Any], values: np.ndarray, name: Callable[[int], Any]) -> None:
    if len(values) == 0:
        return
    uniq, counts = np.unique(values, return_counts=True)
    for v, c in zip(uniq.tolist(), counts.tolist(), strict=True):
        counter[name(v)] += c

"""Flows: a stable id per TCP connection or datagram pair, and per-flow counters.

A flow is keyed by IP protocol and the unordered pair of (address, port) endpoints. TCP
keys are split into several connections when a port is reused: a SYN from the originator
after the previous connection closed or reset, or with a different initial sequence number
(Wireshark does the same, so ``stream`` matches ``tcp.stream`` in a display filter).

Flow ids are assigned in order of each flow's first packet, so they are stable for a given
capture. All per-packet work is columnar; only packets with SYN, FIN or RST go through a
Python loop (to find connection boundaries), and only once per batch per flow otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from analyzer.capture.decode import PROTO_TCP, PROTO_UDP, Decoded, addresses_text

if TYPE_CHECKING:
    import pandas as pd

I64 = npt.NDArray[np.int64]

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
_HASH_MULTIPLIERS = [
    np.uint64(0x9E3779B97F4A7C15),
    np.uint64(0xC2B2AE3D27D4EB4F),
    np.uint64(0x165667B19E3779F9),
    np.uint64(0xD6E8FEB86659FD93),
    np.uint64(0xFF51AFD7ED558CCD),
]
TRANSPORT_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp"}


def transport_name(proto: int) -> str:
    """Short lowercase name of an IP protocol number.

    >>> transport_name(6), transport_name(47)
    ('tcp', 'ip-47')
    """
    return TRANSPORT_NAMES.get(proto, f"ip-{proto}")


class _Growable:
    """A numpy column that grows by doubling as flows are added."""

    def __init__(self, dtype: type, fill: int | float = 0) -> None:
        self.fill = fill
        self.data: npt.NDArray[Any] = np.full(1024, fill, dtype=dtype)

    def ensure(self, size: int) -> None:
        if size > len(self.data):
            cap = len(self.data)
            while cap < size:
                cap *= 2
            grown = np.full(cap, self.fill, dtype=self.data.dtype)
            grown[: len(self.data)] = self.data
            self.data = grown


@dataclass(slots=True)
class FlowAssignment:
    """Flow id and direction (0 from the originator, 1 towards it) of each packet of a
    batch, and the rows where the flows this batch created begin, in flow-id order."""

    flow: I64
    direction: I64
    new_flow_rows: I64


class FlowTable:
    """Assigns flow ids to decoded batches and accumulates per-flow counters.

    >>> table = FlowTable()
    >>> table.flow_count
    0
    """

    def __init__(self) -> None:
        self._current: dict[tuple[int, int, int, int, int], int] = {}
        self.flow_count = 0
        self._streams: dict[int, int] = {}
        # Per-flow attributes (index = flow id).
        self._key: list[tuple[int, int, int, int, int]] = []
        self._proto = _Growable(np.int64)
        self._stream = _Growable(np.int64)
        self._orig_is_a = _Growable(np.bool_, False)
        self._first_frame = _Growable(np.int64)
        self._first_ts = _Growable(np.int64)
        self._last_frame = _Growable(np.int64)
        self._last_ts = _Growable(np.int64)
        self._vlan = _Growable(np.int64, -1)
        self._packets = _Growable(np.int64)  # index 2*flow + direction
        self._bytes = _Growable(np.int64)
        self._flags = _Growable(np.int64)
        # TCP connection-boundary state, only for flows that saw a control packet.
        self._syn_isn: dict[int, int] = {}
        self._closed: set[int] = set()
        self._capacity = 0
        self._grow(1)

    # -- assignment -------------------------------------------------------------------

    def assign(self, d: Decoded, has_flow: npt.NDArray[np.bool_]) -> FlowAssignment:
        """Give every packet with ``has_flow`` a flow id and direction; others get -1."""
        n = len(d)
        flow = np.full(n, -1, dtype=np.int64)
        direction = np.full(n, -1, dtype=np.int64)
        rows = np.flatnonzero(has_flow)
        if len(rows) == 0:
            return FlowAssignment(flow, direction, np.zeros(0, dtype=np.int64))
        proto = d.ip_proto[rows]
        ported = np.isin(proto, (PROTO_TCP, PROTO_UDP))
        sport = np.where(ported, d.sport[rows], 0)
        dport = np.where(ported, d.dport[rows], 0)
        shi, slo, dhi, dlo = d.src_hi[rows], d.src_lo[rows], d.dst_hi[rows], d.dst_lo[rows]
        src_is_a = (shi < dhi) | ((shi == dhi) & ((slo < dlo) | ((slo == dlo) & (sport <= dport))))
        a_hi = np.where(src_is_a, shi, dhi)
        a_lo = np.where(src_is_a, slo, dlo)
        b_hi = np.where(src_is_a, dhi, shi)
        b_lo = np.where(src_is_a, dlo, slo)
        a_port = np.where(src_is_a, sport, dport)
        b_port = np.where(src_is_a, dport, sport)
        word0 = ((proto << 32) | (a_port << 16) | b_port).astype(np.uint64)
        words = (word0, a_hi, a_lo, b_hi, b_lo)
        codes, first_of_code = _group(words)

        # Map each distinct key of the batch to its current flow, creating new flows.
        code_flow = np.empty(len(first_of_code), dtype=np.int64)
        new_rows: list[int] = []
        current = self._current
        w = [col[first_of_code].tolist() for col in words]
        for u, key in enumerate(zip(*w, strict=True)):
            fid = current.get(key)
            if fid is None:
                fid = self._new_flow(key)
                new_rows.append(int(first_of_code[u]))
            code_flow[u] = fid
        row_flow = code_flow[codes]

        flags = d.tcp_flags[rows]
        control = np.flatnonzero((proto == PROTO_TCP) & ((flags & (SYN | FIN | RST)) != 0))
        if len(control):
            row_flow = self._split_reused_ports(
                control,
                codes,
                code_flow,
                first_of_code,
                row_flow,
                flags,
                d.tcp_seq[rows],
                src_is_a,
                new_rows,
                w,
            )

        self._init_new_flows(new_rows, row_flow, rows, d, src_is_a, flags)
        orig_is_a = self._orig_is_a.data[row_flow]
        row_dir = (src_is_a != orig_is_a).astype(np.int64)
        self._accumulate(row_flow, row_dir, rows, d, flags)
        flow[rows] = row_flow
        direction[rows] = row_dir
        firsts = np.array(new_rows, dtype=np.int64)
        new_flow_rows = rows[firsts[np.argsort(row_flow[firsts], kind="stable")]]
        return FlowAssignment(flow, direction, new_flow_rows)

    def _new_flow(self, key: tuple[int, int, int, int, int]) -> int:
        fid = self.flow_count
        self.flow_count += 1
        self._current[key] = fid
        self._key.append(key)
        if fid >= self._capacity:
            self._grow(fid + 1)
        proto = key[0] >> 32
        self._proto.data[fid] = proto
        stream = self._streams.get(proto, 0)
        self._streams[proto] = stream + 1
        self._stream.data[fid] = stream
        return fid

    def _grow(self, size: int) -> None:
        for col in (
            self._proto,
            self._stream,
            self._orig_is_a,
            self._first_frame,
            self._first_ts,
            self._last_frame,
            self._last_ts,
            self._vlan,
        ):
            col.ensure(size)
        # Every per-flow column grows in step, so they share one capacity.
        self._capacity = min(
            len(col.data)
            for col in (
                self._proto,
                self._stream,
                self._orig_is_a,
                self._first_frame,
                self._first_ts,
                self._last_frame,
                self._last_ts,
                self._vlan,
            )
        )
        for col in (self._packets, self._bytes, self._flags):
            col.ensure(2 * self._capacity)

    def _split_reused_ports(
        self,
        control: I64,
        codes: I64,
        code_flow: I64,
        first_of_code: I64,
        row_flow: I64,
        flags: I64,
        seq: I64,
        src_is_a: npt.NDArray[np.bool_],
        new_rows: list[int],
        words: list[list[int]],
    ) -> I64:
        """Walk SYN/FIN/RST packets in order and start a new connection on port reuse."""
        splits: list[tuple[int, int, int]] = []  # (row, code, new flow)
        flow_of_code = code_flow.copy()
        syn_isn, closed, orig = self._syn_isn, self._closed, self._orig_is_a.data
        existing = self.flow_count - len(new_rows)  # flows created before this batch
        first_row = {int(code_flow[c]): int(r) for c, r in enumerate(first_of_code)}
        for r, c, f, s, from_a in zip(
            control.tolist(),
            codes[control].tolist(),
            flags[control].tolist(),
            seq[control].tolist(),
            src_is_a[control].tolist(),
            strict=True,
        ):
            fid = int(flow_of_code[c])
            if f & SYN and not f & (ACK | RST):
                isn = syn_isn.get(fid)
                # A SYN on a connection that already carried other packets without one
                # (picked up mid-stream) is a new connection too, as in Wireshark.
                midstream = isn is None and (fid < existing or r > first_row.get(fid, r))
                if fid in closed or midstream or (isn is not None and isn != s):
                    key = (words[0][c], words[1][c], words[2][c], words[3][c], words[4][c])
                    fid = self._new_flow(key)
                    orig = self._orig_is_a.data
                    flow_of_code[c] = fid
                    splits.append((r, c, fid))
                    new_rows.append(r)
                    orig[fid] = from_a
                    syn_isn[fid] = s
                elif isn is None:
                    syn_isn[fid] = s
            if f & (FIN | RST):
                closed.add(fid)
        if splits:
            row_flow = row_flow.copy()
            index = np.arange(len(row_flow))
            for r, c, fid in splits:
                row_flow[(codes == c) & (index >= r)] = fid
        return row_flow

    def _init_new_flows(
        self,
        new_rows: list[int],
        row_flow: I64,
        rows: I64,
        d: Decoded,
        src_is_a: npt.NDArray[np.bool_],
        flags: I64,
    ) -> None:
        if not new_rows:
            return
        r = np.array(new_rows, dtype=np.int64)
        fids = row_flow[r]
        # Whoever sent the first packet is the originator, unless that packet is the
        # SYN-ACK of a handshake whose SYN we missed.
        syn_ack = (flags[r] & (SYN | ACK)) == (SYN | ACK)
        self._orig_is_a.data[fids] = np.where(syn_ack, ~src_is_a[r], src_is_a[r])
        packet_rows = rows[r]
        self._first_frame.data[fids] = d.frame[packet_rows]
        self._first_ts.data[fids] = d.batch.ts_ns[packet_rows]
        self._vlan.data[fids] = d.vlan_outer[packet_rows]

    def _accumulate(self, row_flow: I64, row_dir: I64, rows: I64, d: Decoded, flags: I64) -> None:
        slot = row_flow * 2 + row_dir
        size = 2 * self.flow_count
        self._packets.data[:size] += np.bincount(slot, minlength=size)
        self._bytes.data[:size] += np.bincount(
            slot, weights=d.batch.origlen[rows], minlength=size
        ).astype(np.int64)
        np.bitwise_or.at(self._flags.data, slot, flags)
        last_row = np.full(self.flow_count, -1, dtype=np.int64)
        np.maximum.at(last_row, row_flow, np.arange(len(rows)))
        touched = np.flatnonzero(last_row >= 0)
        packet_rows = rows[last_row[touched]]
        self._last_frame.data[touched] = d.frame[packet_rows]
        self._last_ts.data[touched] = d.batch.ts_ns[packet_rows]

    # -- results ----------------------------------------------------------------------

    def conversations(self) -> pd.DataFrame:
        """The conversations table: one row per flow, endpoints as originator/responder."""
        # pandas is imported only here: reading a capture does not need it, and leaving
        # its ~80 MB out of the reading phase keeps peak memory under the bar.
        import pandas as pd

        nf = self.flow_count
        orig_is_a = self._orig_is_a.data[:nf]
        keys = np.array(self._key, dtype=np.uint64).reshape(nf, 5)
        a_text = addresses_text(keys[:, 1], keys[:, 2])
        b_text = addresses_text(keys[:, 3], keys[:, 4])
        a_port = ((keys[:, 0] >> np.uint64(16)) & np.uint64(0xFFFF)).astype(np.int64)
        b_port = (keys[:, 0] & np.uint64(0xFFFF)).astype(np.int64)
        src = np.where(orig_is_a, a_text, b_text)
        dst = np.where(orig_is_a, b_text, a_text)
        sport = np.where(orig_is_a, a_port, b_port)
        dport = np.where(orig_is_a, b_port, a_port)
        proto = self._proto.data[:nf]
        ported = np.isin(proto, (PROTO_TCP, PROTO_UDP))
        packets = self._packets.data[: 2 * nf].reshape(nf, 2)
        nbytes = self._bytes.data[: 2 * nf].reshape(nf, 2)
        flags = self._flags.data[: 2 * nf].reshape(nf, 2)
        first_ts = pd.to_datetime(self._first_ts.data[:nf], unit="ns", utc=True)
        last_ts = pd.to_datetime(self._last_ts.data[:nf], unit="ns", utc=True)
        table = pd.DataFrame(
            {
                "flow": np.arange(nf, dtype=np.int64),
                "transport": pd.Categorical([transport_name(int(p)) for p in proto]),
                "stream": self._stream.data[:nf],
                "src": src,
                "sport": pd.array(np.where(ported, sport, 0), dtype="Int32"),
                "dst": dst,
                "dport": pd.array(np.where(ported, dport, 0), dtype="Int32"),
                "vlan": pd.array(self._vlan.data[:nf], dtype="Int32"),
                "first_frame": self._first_frame.data[:nf],
                "last_frame": self._last_frame.data[:nf],
                "first_ts": first_ts,
                "last_ts": last_ts,
                "duration_s": (self._last_ts.data[:nf] - self._first_ts.data[:nf]) / 1e9,
                "src_packets": packets[:, 0],
                "src_bytes": nbytes[:, 0],
                "dst_packets": packets[:, 1],
                "dst_bytes": nbytes[:, 1],
                "packets": packets.sum(axis=1),
                "bytes": nbytes.sum(axis=1),
                "tcp_state": pd.Categorical(
                    [
                        tcp_state(int(f0), int(f1)) if p == PROTO_TCP else None
                        for p, (f0, f1) in zip(proto.tolist(), flags.tolist(), strict=True)
                    ],
                    categories=TCP_STATES,
                ),
            }
        )
        table.loc[~ported, ["sport", "dport"]] = pd.NA
        table.loc[table["vlan"] < 0, "vlan"] = pd.NA
        return table

    def orientation(self, flows: I64) -> npt.NDArray[np.bool_]:
        """Whether each flow's originator is its key's lower endpoint (for consumers)."""
        return self._orig_is_a.data[flows]

    def proto(self, flows: I64) -> I64:
        """IP protocol number of each flow."""
        return self._proto.data[flows]


TCP_STATES = ["syn_sent", "rejected", "established", "half_closed", "closed", "reset", "midstream"]


def tcp_state(orig_flags: int, resp_flags: int) -> str:
    """State of a TCP connection at the end of the capture, from the flags each side sent.

    >>> tcp_state(SYN | ACK | FIN, SYN | ACK | FIN)
    'closed'
    >>> tcp_state(SYN, RST | ACK)
    'rejected'
    """
    both = orig_flags | resp_flags
    if both & RST:
        if orig_flags & SYN and not resp_flags & SYN:
            return "rejected"
        return "reset"
    if orig_flags & FIN and resp_flags & FIN:
        return "closed"
    if both & FIN:
        return "half_closed"
    if orig_flags & SYN:
        return "established" if resp_flags & SYN else "syn_sent"
    return "midstream"


def _group(words: tuple[npt.NDArray[np.uint64], ...]) -> tuple[I64, I64]:
    """Group rows by the tuple of ``words``: (code per row, first row of each code).

    Rows are grouped by a 64-bit hash of the key; every row is then checked against its
    group's first row so that a hash collision can never merge two flows.
    """
    h = words[0] * _HASH_MULTIPLIERS[0]
    for col, mult in zip(words[1:], _HASH_MULTIPLIERS[1:], strict=True):
        h ^= (col * mult) ^ (col >> np.uint64(29))
    _, first, codes = np.unique(h, return_index=True, return_inverse=True)
    # Number groups by first appearance so that flow ids follow packet order.
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    codes = rank[codes.ravel()].astype(np.int64)
    first = first[order].astype(np.int64)
    rep = first[codes]
    if all(np.array_equal(col, col[rep]) for col in words):
        return codes, first
    stacked = np.ascontiguousarray(np.stack(words, axis=1))
    keys = stacked.view(np.dtype((np.void, stacked.dtype.itemsize * len(words)))).ravel()
    _, first, codes = np.unique(keys, return_index=True, return_inverse=True)
    # np.unique numbers groups by sorted key; renumber them by first appearance so flow ids
    # follow packet order as on the fast path.
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[codes.ravel()].astype(np.int64), first[order].astype(np.int64)

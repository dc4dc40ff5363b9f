"""TCP connection tracking and per-direction stream reassembly (sans-IO).

The flow layer owns one :class:`TcpConnection` per TCP connection that a protocol parser
still wants and feeds it every segment of that connection in capture order. Each call
returns what the segment made available: in-order :class:`StreamData` for one direction,
:class:`StreamGap` for bytes that will never arrive, :class:`StreamClosed` when a
direction ends, and :class:`~analyzer.errors.Weird` rows for anomalies. Nothing here does
I/O, and nothing raises on bad input: corrupt segments become ``Weird`` rows.

Offsets are stream offsets, not sequence numbers: offset 0 is the first byte after the
SYN (or the first byte seen, when the connection was picked up mid-stream), and offsets
keep growing past 2**32 when the sequence space wraps.

Policies, chosen to match what Wireshark and Zeek do by default:

* overlapping data that differs from what was seen first: the first copy wins and a
  ``tcp_overlap_mismatch`` row is left (Zeek's ``rexmit_inconsistency``);
* a hole the peer has acknowledged but the capture never saw (Wireshark's "ACKed segment
  that wasn't captured") is skipped at once instead of waiting for a retransmission that
  will never come (``trust_acks=False`` turns this off);
* memory is bounded three ways: out-of-order bytes and segments per direction, and a
  :class:`ReassemblyBudget` shared by all connections. Hitting a bound skips the oldest
  hole (a :class:`StreamGap` plus a ``Weird``) rather than dropping new data.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Final, TypeAlias

from analyzer.errors import Weird

__all__ = [
    "ACK",
    "FIN",
    "PSH",
    "RST",
    "SYN",
    "URG",
    "DirectionStats",
    "ReassemblyBudget",
    "StreamClosed",
    "StreamData",
    "StreamGap",
    "TcpConnection",
    "TcpEvent",
]

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20

_MASK: Final = 0xFFFFFFFF
_HALF: Final = 1 << 31
# Anything further than this from where we are in a direction is not a plausible window
# (the largest scaled window is 2**30), so it is a corrupt or foreign segment.
_WINDOW: Final = 1 << 30
_SFR: Final = SYN | FIN | RST

Payload: TypeAlias = "bytes | bytearray | memoryview"
# One buffered out-of-order piece: (stream offset, bytes, frame, timestamp). Pieces of a
# direction never overlap, so the list sorted by offset is also sorted by end offset.
_Piece: TypeAlias = "tuple[int, bytes, int, float]"
_start_of = itemgetter(0)


@dataclass(frozen=True, slots=True)
class StreamData:
    """Bytes delivered in order for one direction.

    ``offset`` is the stream offset of ``data[0]``; consecutive events of a direction
    (data and gaps) tile the stream without overlap. ``first_frame``/``last_frame`` are the
    frames whose segments supplied the first and the last byte; ``ts`` is the time of
    ``last_frame``. The frame that made the bytes deliverable is the one just fed.
    """

    direction: int
    offset: int
    data: bytes
    first_frame: int
    last_frame: int
    #: Time of last_frame, in whatever unit the caller passes to ``segment`` (the pipeline
    #: passes integer ns since the epoch, so no precision is lost to floats).
    ts: float


@dataclass(frozen=True, slots=True)
class StreamGap:
    """``length`` bytes at ``offset`` that will never be delivered.

    ``reason`` says why we stopped waiting: ``"capture_end"`` (finish() with a hole),
    ``"buffer_cap"`` (per-direction cap), ``"budget"`` (shared budget), ``"closed"`` (RST)
    or ``"acked_unseen"`` (the peer acknowledged bytes the capture never saw).
    """

    direction: int
    offset: int
    length: int
    frame: int
    reason: str


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """A direction ended: ``how`` is ``"fin"`` (after all data before the FIN) or ``"rst"``."""

    direction: int
    frame: int
    ts: float
    how: str
    #: The direction whose segment carried the FIN or RST (a RST ends both directions).
    sender: int | None = field(default=None, compare=False)


TcpEvent: TypeAlias = "StreamData | StreamGap | StreamClosed | Weird"


@dataclass(slots=True)
class DirectionStats:
    """Counters for one direction of a connection (all in bytes or segments)."""

    packets: int = 0
    payload_bytes: int = 0
    #: Payload bytes at offsets already delivered or buffered (retransmissions, overlaps).
    retransmitted_bytes: int = 0
    #: Segments that arrived ahead of a hole and had to be buffered.
    out_of_order_segments: int = 0
    keepalives: int = 0
    #: ACK segments (no SYN/FIN/RST) advertising a zero receive window.
    zero_windows: int = 0
    delivered_bytes: int = 0
    gap_bytes: int = 0


class ReassemblyBudget:
    """Total cap on out-of-order bytes buffered by all connections sharing this object.

    When a connection would push ``buffered`` past ``max_bytes`` it gives up its own
    oldest hole (``StreamGap(reason="budget")``) instead of buffering more, so one capture
    with heavy loss cannot exhaust memory.

    >>> budget = ReassemblyBudget(max_bytes=10)
    >>> conn = TcpConnection(budget=budget)
    >>> _ = conn.segment(1, 0.0, 0, 1000, 0, ACK, b"x")          # offset 0, delivered
    >>> _ = conn.segment(2, 0.0, 0, 1005, 0, ACK, b"abcd")       # offsets 5-8, buffered
    >>> budget.buffered
    4
    >>> _ = conn.finish()
    >>> budget.buffered
    0
    """

    __slots__ = ("buffered", "max_bytes")

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.buffered = 0  # bytes currently held by all connections


class _Half:
    """State of one direction. Plain attributes with slots: this is on the hot path."""

    __slots__ = (
        "after_fin_reported",
        "base",
        "closed",
        "fast",
        "fin_off",
        "fin_seen",
        "fin_wait",
        "history",
        "history_bytes",
        "index",
        "isn",
        "next_off",
        "pending",
        "pending_bytes",
        "started",
        "stats",
        "stopped",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.started = False  # base is known
        self.base = 0  # raw sequence number of stream offset 0
        self.isn: int | None = None  # sequence number of this direction's SYN, if seen
        self.next_off = 0  # every offset below this was delivered or reported as a gap
        self.pending: list[_Piece] = []
        self.pending_bytes = 0
        self.fin_seen = False
        self.fin_off: int | None = None  # stream offset of the FIN (first FIN wins)
        self.fin_wait = False  # FIN known but data before it still missing
        self.closed = False  # StreamClosed emitted (or RST)
        self.stopped = False
        # True when the next in-order segment may take the fast path in segment().
        self.fast = False
        # Recently delivered (offset, bytes), kept by reference (no copy) so that a
        # retransmission can be compared with what the parser already got.
        self.history: deque[tuple[int, bytes]] = deque()
        self.history_bytes = 0
        self.after_fin_reported = False
        self.stats = DirectionStats()


class TcpConnection:
    """One TCP connection: handshake and close tracking, and reassembly of both directions.

    Feed every segment with :meth:`segment` in capture order; direction 0 is the
    originator. Each call returns the events it made available, in stream order.

    >>> conn = TcpConnection(flow=7)
    >>> conn.segment(1, 0.0, 0, 0xFFFFFFF0, 0, SYN, b"")
    []
    >>> conn.segment(2, 0.1, 1, 5000, 0xFFFFFFF1, SYN | ACK, b"")
    []
    >>> conn.segment(3, 0.2, 0, 0xFFFFFFF1, 5001, ACK, b"")
    []
    >>> conn.segment(5, 0.4, 0, 0xFFFFFFF6, 5001, ACK | PSH, b"world")  # ahead of a hole
    []
    >>> conn.segment(4, 0.3, 0, 0xFFFFFFF1, 5001, ACK, b"hello")  # fills it: one event
    [StreamData(direction=0, offset=0, data=b'helloworld', first_frame=4, last_frame=5, ts=0.4)]
    >>> conn.state, conn.handshake
    ('established', 'complete')

    Memory is bounded by ``max_buffered`` out-of-order bytes and ``max_segments`` pending
    pieces per direction, by the shared ``budget``, and by ``max_history`` bytes of
    delivered data kept per direction to detect retransmissions that differ.
    """

    __slots__ = (
        "_after_rst_reported",
        "_established",
        "_h0",
        "_h1",
        "_hs_complete",
        "_hs_watch",
        "_rst",
        "_syn_dir",
        "_synack_seen",
        "budget",
        "flow",
        "last_frame",
        "last_ts",
        "max_buffered",
        "max_history",
        "max_segments",
        "trust_acks",
    )

    def __init__(
        self,
        *,
        flow: int | None = None,
        max_buffered: int = 1 << 20,
        budget: ReassemblyBudget | None = None,
        max_segments: int = 1024,
        max_history: int = 16 * 1024,
        trust_acks: bool = True,
    ) -> None:
        self.flow = flow
        self.max_buffered = max_buffered
        self.max_segments = max_segments
        self.max_history = max_history
        self.budget = budget
        self.trust_acks = trust_acks
        self.last_frame = 0
        self.last_ts = 0.0
        self._h0 = _Half(0)
        self._h1 = _Half(1)
        self._rst = False
        self._syn_dir: int | None = None  # direction that sent the pure SYN
        self._synack_seen = False
        self._established = False
        self._hs_complete = False
        # A SYN was seen and the handshake outcome is not settled yet: the slow path
        # must look at every segment until then.
        self._hs_watch = False
        self._after_rst_reported = False

    # -- public state -------------------------------------------------------------------

    @property
    def stats(self) -> tuple[DirectionStats, DirectionStats]:
        """Counters of direction 0 and direction 1."""
        return (self._h0.stats, self._h1.stats)

    @property
    def state(self) -> str:
        """Connection state now: ``syn_sent``, ``syn_received``, ``established``,
        ``fin_wait`` (one side sent FIN), ``closed`` (both did), ``reset`` or
        ``midstream`` (no handshake seen, still open)."""
        if self._rst:
            return "reset"
        fins = self._h0.fin_seen + self._h1.fin_seen
        if fins == 2:
            return "closed"
        if fins == 1:
            return "fin_wait"
        if self._syn_dir is None and not self._synack_seen:
            return "midstream"
        if self._established:
            return "established"
        return "syn_received" if self._synack_seen else "syn_sent"

    @property
    def handshake(self) -> str:
        """``complete`` (SYN, SYN-ACK, ACK seen), ``partial`` (some of it) or ``none``."""
        if self._hs_complete:
            return "complete"
        if self._syn_dir is not None or self._synack_seen:
            return "partial"
        return "none"

    @property
    def done(self) -> bool:
        """True when neither direction can deliver anything more (closed or stopped)."""
        return all(h.closed or h.stopped for h in (self._h0, self._h1))

    def isn(self, direction: int) -> int | None:
        """Sequence number of ``direction``'s SYN, or None if no SYN was seen."""
        return self._half(direction).isn if direction in (0, 1) else None

    def seq_at(self, direction: int, offset: int) -> int | None:
        """Raw sequence number of stream ``offset`` (for ``tcp.seq_raw`` filters), if known."""
        if direction not in (0, 1) or not self._half(direction).started:
            return None
        return (self._half(direction).base + offset) & _MASK

    def next_offset(self, direction: int) -> int:
        """Stream offset up to which ``direction`` was delivered or reported as gaps."""
        return self._half(direction).next_off if direction in (0, 1) else 0

    def is_new_connection(self, direction: int, flags: int, seq: int) -> bool:
        """Would this segment start a new connection on the same ports (port reuse)?

        True for a SYN without ACK after a FIN or RST was seen, or whose sequence number
        differs from the one this direction started with (Wireshark's rule, so that flow
        ids follow ``tcp.stream``). A SYN carrying the same ISN on an open connection is a
        retransmission. Call it before :meth:`segment`; if it says True, open a new
        :class:`TcpConnection` for the segment instead.
        """
        if flags & (SYN | ACK | RST) != SYN or direction not in (0, 1):
            return False
        if self._rst or self._h0.fin_seen or self._h1.fin_seen:
            return True
        h = self._half(direction)
        if not h.started:
            return False
        if h.isn is not None:
            return seq & _MASK != h.isn
        # Picked up mid-stream: only a late copy of the SYN that preceded our first byte
        # belongs to this connection.
        return (seq + 1) & _MASK != h.base

    # -- feeding ------------------------------------------------------------------------

    def segment(
        self,
        frame: int,
        ts: float,
        direction: int,
        seq: int,
        ack: int,
        flags: int,
        payload: Payload,
        window: int | None = None,
    ) -> list[TcpEvent]:
        """Feed one TCP segment; return what it made deliverable, in order.

        ``seq``/``ack`` are the raw 32-bit header fields, ``flags`` the flag bits (unknown
        bits are ignored), ``window`` the raw window field if known (only counted).
        """
        if direction == 0:
            h, o = self._h0, self._h1
        elif direction == 1:
            h, o = self._h1, self._h0
        else:
            return [self._weird("tcp_bad_direction", frame, f"direction {direction!r}")]
        self.last_frame = frame
        self.last_ts = ts
        # Fast path: the next in-order bytes of an established direction with nothing
        # buffered on either side. No copy (bytes(b) is b), no lookups, one event.
        if (
            payload
            and h.fast
            and not (flags & _SFR)
            and not h.pending
            and not o.pending
            and not o.fin_wait
            and not (seq - h.base - h.next_off) & _MASK
        ):
            data = bytes(payload)
            n = len(data)
            st = h.stats
            st.packets += 1
            st.payload_bytes += n
            st.delivered_bytes += n
            if window == 0 and flags & ACK:
                st.zero_windows += 1
            off = h.next_off
            h.next_off = off + n
            limit = self.max_history
            if limit:
                # _remember(), inlined: this is the per-packet path.
                hist = h.history
                hist.append((off, data))
                kept = h.history_bytes + n
                while kept > limit:
                    kept -= len(hist.popleft()[1])
                h.history_bytes = kept
            return [StreamData(direction, off, data, frame, frame, ts)]
        return self._slow(
            frame, ts, direction, h, o, seq & _MASK, ack & _MASK, flags, payload, window
        )

    def finish(self, frame: int | None = None) -> list[TcpEvent]:
        """Capture ended (or the consumer gave up): give up every hole.

        Each hole becomes ``StreamGap(reason="capture_end")`` and the data buffered beyond
        it is delivered; a direction whose FIN was seen is then closed. Buffered bytes go
        back to the budget. ``frame`` defaults to the last frame fed.
        """
        fr = self.last_frame if frame is None else frame
        out: list[TcpEvent] = []
        for h in (self._h0, self._h1):
            if h.stopped or h.closed:
                continue
            while h.pending:
                self._skip(h, "capture_end", fr, out)
            if h.fin_wait and h.fin_off is not None:
                if h.next_off < h.fin_off:
                    self._gap(h, h.fin_off, "capture_end", fr, out)
                self._check_close(h, fr, self.last_ts, out)
        return out

    def stop(self, direction: int) -> None:
        """The consumer no longer wants ``direction``: drop its buffers, deliver nothing more.

        Counters and connection state keep being tracked.
        """
        if direction not in (0, 1):
            return
        h = self._half(direction)
        h.stopped = True
        self._release(h, h.pending_bytes)
        h.pending = []
        h.history.clear()
        h.history_bytes = 0
        h.fin_wait = False
        self._refresh()

    # -- slow path ----------------------------------------------------------------------

    def _slow(
        self,
        frame: int,
        ts: float,
        direction: int,
        h: _Half,
        o: _Half,
        seq: int,
        ack: int,
        flags: int,
        payload: Payload,
        window: int | None,
    ) -> list[TcpEvent]:
        out: list[TcpEvent] = []
        n = len(payload)
        if flags & SYN and self.is_new_connection(direction, flags, seq):
            # Not counted here: the caller is expected to open a new connection for it.
            out.append(self._weird("tcp_port_reuse", frame, f"SYN seq={seq}"))
            return out
        st = h.stats
        st.packets += 1
        st.payload_bytes += n
        if window == 0 and flags & ACK and not flags & _SFR:
            st.zero_windows += 1
        if flags & RST:
            # Payload of a RST is diagnostic text at most (RFC 1122 4.2.2.12), not stream.
            self._on_rst(frame, ts, out, direction)
            return out
        if self._rst:
            if n and not h.stopped and not self._after_rst_reported:
                self._after_rst_reported = True
                out.append(self._weird("tcp_data_after_reset", frame, f"{n} bytes"))
            return out
        if flags & SYN:
            if not self._on_syn(frame, direction, h, seq, flags, out):
                return out
            dseq = (seq + 1) & _MASK  # data of a SYN (TCP Fast Open) follows the ISN
        else:
            if not h.started:
                # Picked up mid-stream: this segment's first byte is offset 0.
                h.started = True
                h.base = seq
                self._refresh()
            dseq = seq
            if self._hs_watch and flags & ACK:
                self._on_handshake_ack(direction)

        delta = ((dseq - h.base - h.next_off + _HALF) & _MASK) - _HALF
        if delta > _WINDOW or delta < -_WINDOW:
            out.append(
                self._weird(
                    "tcp_seq_out_of_window",
                    frame,
                    f"seq={seq} is {delta} bytes from the expected one",
                )
            )
            return out
        off = h.next_off + delta
        if n:
            if not h.stopped:
                self._data(h, off, payload, frame, ts, flags, out)
        elif delta == -1 and not flags & (SYN | FIN):
            st.keepalives += 1
        if flags & FIN:
            self._on_fin(h, off + n, frame, ts, out)
        if flags & ACK and self.trust_acks and (o.pending or o.fin_wait) and not o.stopped:
            self._on_ack(o, ack, frame, ts, out)
        return out

    def _on_syn(
        self, frame: int, direction: int, h: _Half, seq: int, flags: int, out: list[TcpEvent]
    ) -> bool:
        """Take the ISN from a SYN or SYN-ACK; False if the segment must be ignored."""
        if not h.started:
            h.started = True
            h.isn = seq
            h.base = (seq + 1) & _MASK
        elif h.isn is None:
            if (seq + 1) & _MASK != h.base:
                # A SYN-ACK that contradicts the data already seen in this direction.
                out.append(self._weird("tcp_isn_changed", frame, f"SYN seq={seq}"))
                return False
            h.isn = seq  # the SYN was captured after our first byte: same stream
        elif h.isn != seq:
            if h.next_off == 0 and not h.pending and h.fin_off is None:
                # A fresh SYN-ACK (the server answered a retransmitted SYN with a new
                # half-open connection) before any data: adopt it.
                h.isn = seq
                h.base = (seq + 1) & _MASK
            else:
                out.append(self._weird("tcp_isn_changed", frame, f"SYN seq={seq}, ISN was {h.isn}"))
                return False
        if flags & ACK:
            if self._syn_dir != direction:
                self._synack_seen = True
        elif self._syn_dir is None:
            self._syn_dir = direction
        if not self._hs_complete:
            self._hs_watch = True
        self._refresh()
        return True

    def _on_handshake_ack(self, direction: int) -> None:
        self._established = True
        # The SYN sender's first ACK settles the handshake; an ACK from the other side
        # only shows the connection is up.
        if self._syn_dir is None or direction == self._syn_dir:
            self._hs_complete = self._syn_dir is not None and self._synack_seen
            self._hs_watch = False
            self._refresh()

    def _data(
        self,
        h: _Half,
        off: int,
        payload: Payload,
        frame: int,
        ts: float,
        flags: int,
        out: list[TcpEvent],
    ) -> None:
        buf = payload if isinstance(payload, bytes) else bytes(payload)
        n = len(buf)
        end = off + n
        st = h.stats
        if h.fin_off is not None and end > h.fin_off:
            if not h.after_fin_reported:
                h.after_fin_reported = True
                out.append(
                    self._weird(
                        "tcp_data_after_fin",
                        frame,
                        f"{end - max(off, h.fin_off)} bytes after the FIN",
                        offset=h.fin_off,
                    )
                )
            if off >= h.fin_off:
                return
            end = h.fin_off
            buf = buf[: end - off]
            n = len(buf)
        nxt = h.next_off
        if end <= nxt:
            if n == 1 and off == nxt - 1 and not flags & (SYN | FIN):
                # Keep-alive: one garbage byte at seq-1, expected to differ.
                st.keepalives += 1
                return
            st.retransmitted_bytes += n
            if h.history:
                self._check_history(h, off, buf, frame, out)
            return
        if off < nxt:
            k = nxt - off
            st.retransmitted_bytes += k
            if h.history:
                self._check_history(h, off, buf[:k], frame, out)
            buf = buf[k:]
            off = nxt
        if off == nxt and not h.pending:
            st.delivered_bytes += len(buf)
            h.next_off = end
            if self.max_history:
                self._remember(h, off, buf)
            out.append(StreamData(h.index, off, buf, frame, frame, ts))
            self._check_close(h, frame, ts, out)
            return
        if off > nxt:
            st.out_of_order_segments += 1
        self._insert(h, off, buf, frame, ts, out)
        self._drain(h, out)
        # Bound memory: skip the oldest hole until this direction is within its caps.
        while h.pending and (
            h.pending_bytes > self.max_buffered or len(h.pending) > self.max_segments
        ):
            out.append(
                self._weird(
                    "tcp_buffer_cap",
                    frame,
                    f"{h.pending_bytes} bytes in {len(h.pending)} out-of-order segments "
                    f"(caps {self.max_buffered} bytes, {self.max_segments} segments)",
                    offset=h.next_off,
                )
            )
            self._skip(h, "buffer_cap", frame, out)
        b = self.budget
        while b is not None and b.buffered > b.max_bytes and h.pending:
            out.append(
                self._weird(
                    "tcp_budget_exceeded",
                    frame,
                    f"{b.buffered} bytes buffered by all connections > {b.max_bytes}",
                    offset=h.next_off,
                )
            )
            self._skip(h, "budget", frame, out)
        self._check_close(h, frame, ts, out)

    def _insert(
        self, h: _Half, off: int, buf: bytes, frame: int, ts: float, out: list[TcpEvent]
    ) -> None:
        """Buffer the parts of [off, off+len) not already buffered; first-seen bytes win."""
        end = off + len(buf)
        pend = h.pending
        i = bisect_left(pend, off, key=_start_of)
        pos = off
        mismatch = -1
        old = 0
        if i > 0:
            ps, pd, _, _ = pend[i - 1]
            pe = ps + len(pd)
            if pe > off:
                pos = min(pe, end)
                old += pos - off
                if pd[off - ps : pos - ps] != buf[: pos - off]:
                    mismatch = off
        repl: list[_Piece] = []
        added = 0
        j = i
        while pos < end:
            if j < len(pend) and pend[j][0] < end:
                piece = pend[j]
                s, sd = piece[0], piece[1]
                if s > pos:
                    repl.append((pos, buf[pos - off : s - off], frame, ts))
                    added += s - pos
                pos = min(s + len(sd), end)
                old += pos - s
                if mismatch < 0 and sd[: pos - s] != buf[s - off : pos - off]:
                    mismatch = s
                repl.append(piece)
                j += 1
            else:
                repl.append((pos, buf if pos == off else buf[pos - off :], frame, ts))
                added += end - pos
                pos = end
        if repl:
            pend[i:j] = repl
        h.stats.retransmitted_bytes += old
        if added:
            h.pending_bytes += added
            if self.budget is not None:
                self.budget.buffered += added
        if mismatch >= 0:
            out.append(
                self._weird(
                    "tcp_overlap_mismatch",
                    frame,
                    "retransmitted bytes differ from the buffered ones; first seen kept",
                    offset=mismatch,
                )
            )

    def _drain(self, h: _Half, out: list[TcpEvent]) -> None:
        """Deliver the buffered pieces that now continue the stream, as one StreamData."""
        pend = h.pending
        nxt = h.next_off
        if not pend or pend[0][0] != nxt:
            return
        pos = nxt
        k = 0
        while k < len(pend) and pend[k][0] == pos:
            pos += len(pend[k][1])
            k += 1
        first, last = pend[0], pend[k - 1]
        data = first[1] if k == 1 else b"".join([p[1] for p in pend[:k]])
        del pend[:k]
        size = pos - nxt
        self._release(h, size)
        h.stats.delivered_bytes += size
        h.next_off = pos
        if self.max_history:
            self._remember(h, nxt, data)
        out.append(StreamData(h.index, nxt, data, first[2], last[2], last[3]))

    def _skip(self, h: _Half, reason: str, frame: int, out: list[TcpEvent]) -> None:
        """Give up the hole before the first buffered piece and deliver what follows it."""
        self._gap(h, h.pending[0][0], reason, frame, out)
        self._drain(h, out)

    def _gap(self, h: _Half, upto: int, reason: str, frame: int, out: list[TcpEvent]) -> None:
        size = upto - h.next_off
        out.append(StreamGap(h.index, h.next_off, size, frame, reason))
        h.stats.gap_bytes += size
        h.next_off = upto

    def _on_fin(self, h: _Half, fin_off: int, frame: int, ts: float, out: list[TcpEvent]) -> None:
        h.fin_seen = True
        if h.closed or h.stopped:
            return
        if h.fin_off is None:
            if fin_off < h.next_off:
                out.append(
                    self._weird(
                        "tcp_fin_inconsistent",
                        frame,
                        f"FIN at offset {fin_off} but {h.next_off} bytes already delivered",
                        offset=fin_off,
                    )
                )
                fin_off = h.next_off
            h.fin_off = fin_off
            h.fin_wait = True
            self._truncate(h, fin_off, frame, out)
            self._refresh()
        elif fin_off != h.fin_off:
            out.append(
                self._weird(
                    "tcp_fin_moved",
                    frame,
                    f"FIN at offset {fin_off}, first FIN at {h.fin_off}",
                    offset=fin_off,
                )
            )
        self._check_close(h, frame, ts, out)

    def _truncate(self, h: _Half, limit: int, frame: int, out: list[TcpEvent]) -> None:
        """Drop buffered bytes at or beyond ``limit`` (the FIN): they cannot be stream data."""
        pend = h.pending
        i = bisect_left(pend, limit, key=_start_of)
        dropped = sum(len(p[1]) for p in pend[i:])
        del pend[i:]
        if pend:
            s, d, f, t = pend[-1]
            if s + len(d) > limit:
                dropped += s + len(d) - limit
                pend[-1] = (s, d[: limit - s], f, t)
        if dropped:
            self._release(h, dropped)
            if not h.after_fin_reported:
                h.after_fin_reported = True
                out.append(
                    self._weird(
                        "tcp_data_after_fin",
                        frame,
                        f"{dropped} buffered bytes after the FIN",
                        offset=limit,
                    )
                )

    def _check_close(self, h: _Half, frame: int, ts: float, out: list[TcpEvent]) -> None:
        if h.fin_wait and h.fin_off is not None and h.next_off >= h.fin_off:
            h.fin_wait = False
            h.closed = True
            out.append(StreamClosed(h.index, frame, ts, "fin"))

    def _on_ack(self, o: _Half, ack: int, frame: int, ts: float, out: list[TcpEvent]) -> None:
        """The peer acknowledged ``o``'s bytes up to ``ack``: holes below it never come back."""
        delta = ((ack - o.base - o.next_off + _HALF) & _MASK) - _HALF
        if delta <= 0 or delta > _WINDOW:
            return
        limit = o.next_off + delta
        if o.fin_off is not None:
            limit = min(limit, o.fin_off)  # the FIN itself takes one sequence number
        while o.next_off < limit:
            if o.pending:
                upto = min(o.pending[0][0], limit)
            elif o.fin_wait:
                upto = limit
            else:
                break
            out.append(
                self._weird(
                    "tcp_acked_unseen_segment",
                    frame,
                    f"{upto - o.next_off} bytes acknowledged but not captured",
                    offset=o.next_off,
                )
            )
            self._gap(o, upto, "acked_unseen", frame, out)
            self._drain(o, out)
        self._check_close(o, frame, ts, out)

    def _on_rst(self, frame: int, ts: float, out: list[TcpEvent], sender: int) -> None:
        if self._rst:
            return
        self._rst = True
        for h in (self._h0, self._h1):
            if h.stopped or h.closed:
                continue
            while h.pending:
                self._skip(h, "closed", frame, out)
            if h.fin_wait and h.fin_off is not None:
                # The direction had ended with a FIN; only data before it was missing.
                if h.next_off < h.fin_off:
                    self._gap(h, h.fin_off, "closed", frame, out)
                self._check_close(h, frame, ts, out)
            else:
                h.closed = True
                out.append(StreamClosed(h.index, frame, ts, "rst", sender))
        self._refresh()

    def _check_history(
        self, h: _Half, off: int, data: bytes, frame: int, out: list[TcpEvent]
    ) -> None:
        """Compare retransmitted bytes with the delivered ones still remembered."""
        end = off + len(data)
        for hs, hd in reversed(h.history):
            he = hs + len(hd)
            if he <= off:
                break  # history is in offset order: everything further back is older
            if hs >= end:
                continue
            a, b = max(hs, off), min(he, end)
            if hd[a - hs : b - hs] != data[a - off : b - off]:
                out.append(
                    self._weird(
                        "tcp_overlap_mismatch",
                        frame,
                        "retransmitted bytes differ from the delivered ones; first seen kept",
                        offset=a,
                    )
                )
                return

    # -- helpers ------------------------------------------------------------------------

    def _half(self, direction: int) -> _Half:
        return self._h1 if direction == 1 else self._h0

    def _remember(self, h: _Half, off: int, data: bytes) -> None:
        hist = h.history
        hist.append((off, data))
        h.history_bytes += len(data)
        while h.history_bytes > self.max_history:
            h.history_bytes -= len(hist.popleft()[1])

    def _release(self, h: _Half, size: int) -> None:
        h.pending_bytes -= size
        if self.budget is not None:
            self.budget.buffered -= size

    def _refresh(self) -> None:
        """Recompute which directions may use the fast path (after any state change)."""
        ok = not self._rst and not self._hs_watch
        for h in (self._h0, self._h1):
            h.fast = ok and h.started and not h.stopped and h.fin_off is None

    def _weird(self, name: str, frame: int, detail: str, offset: int | None = None) -> Weird:
        return Weird(name, frame=frame, flow=self.flow, detail=detail, offset=offset)

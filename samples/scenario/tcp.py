"""A TCP connection as a capture point next to the client sees it.

Real sequence and acknowledgement numbers, MSS segmentation, an ACK for every
second full segment and a 200 ms delayed ACK for a trailing odd one, optional
loss (after the capture point, so the original and its retransmission are both
seen) and reordering, FIN and RST endings.

Times: the client is next to the capture point, the server ``rtt`` away.  A
segment the client sends at ``t`` is answered by the server at ``t + rtt``; a
segment the server sends that is seen at ``t`` reaches the client at once.
"""

from __future__ import annotations

import struct

from .wire import Capture, Host

CLIENT, SERVER = 0, 1
DELAYED_ACK = 0.200
WIRE_GAP = 0.00013  # one full-size frame at 100 Mbit/s


def opt_mss(mss: int = 1460) -> bytes:
    return struct.pack("!BBH", 2, 4, mss)


NOP = b"\x01"
SACK_PERM = b"\x04\x02"


def opt_wscale(shift: int) -> bytes:
    return struct.pack("!BBB", 3, 3, shift)


# Windows CE 6.0 (the phones): MSS only, no window scaling, no SACK.
CE_SYN_OPTIONS = opt_mss(1460)
# Windows 7 / Server 2008 R2 with a peer that offers scaling and SACK.
WIN7_SYN_OPTIONS = opt_mss(1460) + NOP + opt_wscale(8) + NOP + NOP + SACK_PERM
W2K8_SYNACK_OPTIONS = opt_mss(1460) + NOP + opt_wscale(8) + SACK_PERM + NOP + NOP


class TcpConn:
    def __init__(
        self,
        cap: Capture,
        client: Host,
        cport: int,
        server: Host,
        sport: int,
        *,
        rtt: float = 0.0008,
        mss: int = 1460,
        windows: tuple[int, int] = (32768, 65535),
        syn_options: tuple[bytes, bytes] = (CE_SYN_OPTIONS, CE_SYN_OPTIONS),
        tos: int = 0,
        prio: int = 0,
    ) -> None:
        self.cap = cap
        self.hosts = (client, server)
        self.ports = (cport, sport)
        self.rtt = rtt
        self.mss = mss
        self.windows = windows
        self.syn_options = syn_options
        self.tos = tos
        self.prio = prio
        rng = cap.rng
        self.nxt = [rng.getrandbits(32), rng.getrandbits(32)]
        self.last_ts = 0.0
        self.closed = False
        # a delayed ACK waiting for its timer, per side: (due time, ack number); it is dropped
        # when that side sends anything earlier (the ACK rides on that segment)
        self.pending: list[tuple[float, int] | None] = [None, None]
        cap.finalizers.append(self.flush)

    # ---------------------------------------------------------------- util
    def endpoint(self, d: int) -> str:
        return f"{self.hosts[d].ip}:{self.ports[d]}"

    def flow(self) -> dict:
        return {"client": self.endpoint(CLIENT), "server": self.endpoint(SERVER)}

    def _settle(self, d: int, t: float) -> None:
        """Side d is about to send at t: its delayed ACK fires first or rides along."""
        pending = self.pending[d]
        if pending is not None:
            self.pending[d] = None
            if pending[0] <= t:  # the timer fired first
                self._emit(d, pending[0], "A", ack=pending[1])

    def _emit(
        self,
        d: int,
        t: float,
        flags: str,
        payload: bytes = b"",
        seq: int | None = None,
        options: bytes = b"",
        ack: int | None = None,
    ) -> None:
        self._settle(d, t)
        src, dst = self.hosts[d], self.hosts[1 - d]
        seq = self.nxt[d] if seq is None else seq
        self.cap.tcp(
            t,
            src,
            self.ports[d],
            dst,
            self.ports[1 - d],
            seq,
            self.nxt[1 - d] if ack is None else ack,
            flags,
            self.windows[d],
            payload,
            options,
            tos=self.tos,
            prio=self.prio,
        )
        self.last_ts = max(self.last_ts, t)

    def flush(self) -> None:
        """Emit delayed ACKs still waiting when the capture ends."""
        for d in (CLIENT, SERVER):
            pending = self.pending[d]
            if pending is not None:
                self.pending[d] = None
                self._emit(d, pending[0], "A", ack=pending[1])

    def _reply_delay(self, d: int) -> float:
        """Time from seeing a segment of direction d to seeing the peer's response."""
        jitter = self.cap.rng.uniform(0.00005, 0.0003)
        return (self.rtt if d == CLIENT else 0.0) + jitter

    # ----------------------------------------------------------- handshake
    def connect(self, t: float) -> float:
        """Three-way handshake; returns the time of the client's ACK."""
        self._emit(CLIENT, t, "S", options=self.syn_options[0])
        self.nxt[CLIENT] += 1
        t += self._reply_delay(CLIENT)
        self._emit(SERVER, t, "SA", options=self.syn_options[1])
        self.nxt[SERVER] += 1
        t += self._reply_delay(SERVER)
        self._emit(CLIENT, t, "A")
        return t

    def syn_unanswered(self, t: float, retries: tuple[float, ...] = (3.0, 6.0)) -> float:
        """A SYN and its retransmissions with no answer; returns the last SYN's time."""
        self._emit(CLIENT, t, "S", options=self.syn_options[0])
        for wait in retries:
            t += wait + self.cap.rng.uniform(0.0, 0.02)
            self._emit(CLIENT, t, "S", options=self.syn_options[0])
        self.nxt[CLIENT] += 1
        self.closed = True
        return t

    def syn_refused(self, t: float) -> float:
        """SYN answered by RST/ACK (port closed)."""
        self._emit(CLIENT, t, "S", options=self.syn_options[0])
        self.nxt[CLIENT] += 1
        t += self._reply_delay(CLIENT)
        self._emit(SERVER, t, "RA", seq=0)
        self.closed = True
        return t

    # ---------------------------------------------------------------- data
    def send(
        self,
        d: int,
        data: bytes,
        t: float,
        *,
        lose: int | None = None,
        reorder: int | None = None,
        rto: float = 0.35,
    ) -> float:
        """Send ``data`` from side d starting at time t; returns the last data segment's time.

        The receiver ACKs every second segment at once and a trailing odd one after the
        delayed-ACK timer, unless it sends something before the timer fires.
        lose: index of a segment lost after the capture point: the receiver sends a
        duplicate ACK for each later segment and the sender retransmits after ``rto``.
        reorder: index i such that segment i+1 is seen (and received) before segment i.
        """
        rng = self.cap.rng
        self._settle(d, t)
        segs = []
        start = self.nxt[d]
        for off in range(0, len(data), self.mss):
            segs.append((start + off, data[off : off + self.mss]))
        self.nxt[d] = start + len(data)
        order = list(range(len(segs)))
        if reorder is not None and reorder + 1 < len(segs):
            order[reorder], order[reorder + 1] = order[reorder + 1], order[reorder]
        peer = 1 - d
        # the receiver's view: what it has in order, and how many full segments since its last ACK
        received = set()
        rcv_nxt = start
        unacked = 0
        waiting = self.pending[peer]
        if waiting is not None:
            if waiting[0] <= t:
                self._settle(peer, t)
            else:  # the new data makes it the second unacknowledged segment
                unacked = 1
        times = []
        for n, i in enumerate(order):
            seq, chunk = segs[i]
            t_seg = t + n * WIRE_GAP + (rng.uniform(0, 0.00004) if n else 0.0)
            flags = "PA" if i == len(segs) - 1 else "A"
            self._emit(d, t_seg, flags, chunk, seq=seq)
            times.append(t_seg)
            if i == lose:
                continue
            received.add(i)
            t_ack = t_seg + (self.rtt if peer == SERVER else 0.0) + rng.uniform(0.00003, 0.0002)
            before = rcv_nxt
            while (rcv_nxt - start) // self.mss in received and rcv_nxt < self.nxt[d]:
                rcv_nxt = min(rcv_nxt + self.mss, self.nxt[d])
            if rcv_nxt == before:  # a hole: duplicate ACK at once
                self._ack(peer, t_ack, before)
                continue
            unacked += 1
            if rcv_nxt - before > self.mss or unacked >= 2:  # a hole just filled: ACK at once
                self._ack(peer, t_ack, rcv_nxt)
                unacked = 0
        t_last = max(times)
        if lose is not None:
            seq, chunk = segs[lose]
            t_re = t_last + rto + rng.uniform(0, 0.05)
            self._emit(d, t_re, "PA" if lose == len(segs) - 1 else "A", chunk, seq=seq)
            rcv_nxt = self.nxt[d]
            self._ack(peer, t_re + (self.rtt if peer == SERVER else 0.0) + 0.0001, rcv_nxt)
            unacked = 0
            t_last = t_re
        if unacked:
            self.pending[peer] = (
                t_last
                + DELAYED_ACK
                + rng.uniform(0, 0.002)
                + (self.rtt if peer == SERVER else 0.0),
                self.nxt[d],
            )
        elif not unacked:
            self.pending[peer] = None
        return t_last

    def _ack(self, d: int, t: float, ack_no: int) -> None:
        self._emit(d, t, "A", ack=ack_no)

    def exchange(
        self, t: float, request: bytes, response: bytes, *, think: float = 0.002, **kw
    ) -> float:
        """Client request, server response (the response piggybacks the ACK)."""
        t = self.send(CLIENT, request, t)
        return self.send(SERVER, response, t + self.rtt + think, **kw)

    # ------------------------------------------------------------ teardown
    def fin(self, d: int, t: float) -> float:
        """Orderly close started by side d; returns the time of the final ACK."""
        self._emit(d, t, "FA")
        self.nxt[d] += 1
        peer = 1 - d
        t += self._reply_delay(d)
        if peer == CLIENT:  # the client ACKs, then closes its side shortly after
            self._emit(peer, t, "A")
            t += self.cap.rng.uniform(0.0005, 0.003)
        self._emit(peer, t, "FA")
        self.nxt[peer] += 1
        t += self._reply_delay(peer)
        self._emit(d, t, "A")
        self.closed = True
        return t

    def rst(self, d: int, t: float) -> float:
        self._emit(d, t, "RA")
        self.closed = True
        return t

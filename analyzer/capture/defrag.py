"""IPv4 and IPv6 fragment reassembly (sans-IO).

The decoder hands every fragment to one :class:`Defragmenter` with a key that names its
datagram, ``(version, src, dst, ident, proto)``; the defragmenter returns the reassembled
payload (the transport header onward) when the last missing piece arrives. Fragments may
come in any order. Anomalies come back as :class:`~analyzer.errors.Weird` rows; nothing
raises on bad input.

Policies:

* overlapping fragments whose bytes differ: the first copy wins (what Wireshark shows by
  default; a teardrop-style attack leaves ``ip_fragment_overlap_mismatch``);
* duplicates (a SPAN port that copies every packet twice, or a copy re-fragmented
  differently) are ignored, also after the datagram was completed: a late fragment whose
  bytes match a datagram completed within ``timeout`` does not start a datagram that can
  never complete;
* a datagram longer than 65535 bytes is dropped (``ip_fragment_too_large``, ping of death);
* memory is bounded by ``max_datagrams`` incomplete datagrams and ``max_bytes`` buffered
  bytes (the oldest datagram is dropped first), and by ``timeout`` seconds per datagram
  (an IPv4 ident is reused sooner or later, so an old half-datagram must not absorb the
  fragments of a new one). Completed datagrams remembered for duplicate detection are
  held by reference, at most ``max_bytes // 4`` bytes of them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Hashable
from operator import itemgetter
from typing import Final

from analyzer.errors import Weird

__all__ = ["MAX_DATAGRAM", "Defragmenter"]

#: Largest payload an IP datagram can carry (16-bit lengths; jumbograms are never fragmented).
MAX_DATAGRAM: Final = 65535

_start_of = itemgetter(0)


class _Datagram:
    __slots__ = ("first_ts", "frames", "have", "pieces", "total")

    def __init__(self, ts: float) -> None:
        self.first_ts = ts
        self.frames: list[int] = []
        # (offset, bytes), sorted and never overlapping: first-seen bytes win.
        self.pieces: list[tuple[int, bytes]] = []
        self.have = 0  # bytes held (sum of piece lengths)
        self.total: int | None = None  # known once the last fragment (MF=0) arrived


class Defragmenter:
    """Reassemble IP datagrams from their fragments, in any order.

    >>> d = Defragmenter()
    >>> key = (4, "10.0.0.1", "10.0.0.2", 0x1234, 17)
    >>> d.add(key, 7, 0.0, 8, False, b"world")   # last fragment first
    (None, [])
    >>> d.pending
    1
    >>> d.add(key, 6, 0.1, 0, True, b"hello-00")
    (b'hello-00world', [])
    >>> d.last_frames, d.pending
    ((7, 6), 0)
    """

    def __init__(
        self,
        *,
        max_datagrams: int = 4096,
        max_bytes: int = 16 * 1024 * 1024,
        timeout: float = 60.0,
    ) -> None:
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self.timeout = timeout
        #: Frames that carried a fragment of the datagram returned by the last successful
        #: :meth:`add` (duplicates included), in arrival order: the last one completed it
        #: and is the frame to attribute the datagram to, as Wireshark does.
        self.last_frames: tuple[int, ...] = ()
        self._datagrams: dict[Hashable, _Datagram] = {}  # insertion order = oldest first
        self._bytes = 0
        # Recently completed datagrams: key -> (completion time, payload), to recognise
        # late duplicates. The payload is the object returned to the caller (no copy).
        self._done: OrderedDict[Hashable, tuple[float, bytes]] = OrderedDict()
        self._done_bytes = 0

    @property
    def pending(self) -> int:
        """Incomplete datagrams held."""
        return len(self._datagrams)

    @property
    def buffered(self) -> int:
        """Bytes held in incomplete datagrams."""
        return self._bytes

    def add(
        self,
        key: Hashable,
        frame: int,
        ts: float,
        offset: int,
        more_fragments: bool,
        payload: bytes | bytearray | memoryview,
    ) -> tuple[bytes | None, list[Weird]]:
        """Add one fragment; return the whole payload once complete (else None) and anomalies.

        ``offset`` is in bytes (the header field times 8). When a payload is returned,
        :attr:`last_frames` lists the frames that made it.
        """
        weird: list[Weird] = []
        buf = payload if isinstance(payload, bytes) else bytes(payload)
        end = offset + len(buf)
        if offset < 0:
            weird.append(Weird("ip_fragment_bad_offset", frame=frame, detail=f"offset {offset}"))
            return None, weird
        if end > MAX_DATAGRAM:
            weird.append(
                Weird(
                    "ip_fragment_too_large",
                    frame=frame,
                    detail=f"fragment ends at byte {end} > {MAX_DATAGRAM}",
                )
            )
            dropped = self._datagrams.pop(key, None)
            if dropped is not None:
                self._bytes -= dropped.have
            return None, weird
        dg = self._datagrams.get(key)
        if dg is None:
            done = self._done.get(key)
            if done is not None:
                done_ts, whole = done
                same_end = end < len(whole) if more_fragments else end == len(whole)
                if ts - done_ts <= self.timeout and same_end and whole[offset:end] == buf:
                    return None, weird  # late copy of a datagram already delivered
                self._forget(key)  # the ident was reused: a new datagram
        elif ts - dg.first_ts > self.timeout:
            weird.append(self._drop(key, "ip_fragment_timeout"))
            dg = None
        if dg is None:
            if self._datagrams and len(self._datagrams) >= self.max_datagrams:
                weird.append(self._drop(next(iter(self._datagrams)), "ip_fragment_cap"))
            dg = _Datagram(ts)
            self._datagrams[key] = dg
        dg.frames.append(frame)

        if not more_fragments:
            if dg.total is None:
                dg.total = end
                self._truncate(dg, end, frame, weird)
            elif dg.total != end:
                weird.append(
                    Weird(
                        "ip_fragment_end_mismatch",
                        frame=frame,
                        detail=f"last fragment ends at {end}, first one at {dg.total}; first kept",
                    )
                )
        if dg.total is not None and end > dg.total:
            weird.append(
                Weird(
                    "ip_fragment_beyond_end",
                    frame=frame,
                    detail=f"fragment ends at {end} after the datagram end {dg.total}",
                )
            )
            buf = buf[: max(0, dg.total - offset)]
        if buf:
            self._insert(dg, offset, buf, frame, weird)

        if dg.total is not None and dg.have == dg.total:
            del self._datagrams[key]
            self._bytes -= dg.have
            self.last_frames = tuple(dg.frames)
            pieces = dg.pieces
            whole = pieces[0][1] if len(pieces) == 1 else b"".join(p[1] for p in pieces)
            self._remember(key, ts, whole)
            return whole, weird
        if self._bytes > self.max_bytes:
            # Oldest first; the datagram just fed goes last (it may be about to complete).
            for old in [k for k in self._datagrams if k != key]:
                if self._bytes <= self.max_bytes:
                    break
                weird.append(self._drop(old, "ip_fragment_cap"))
            if self._bytes > self.max_bytes:
                weird.append(self._drop(key, "ip_fragment_cap"))
        return None, weird

    def expire(self, now: float) -> list[Weird]:
        """Drop incomplete datagrams whose first fragment is older than ``timeout``."""
        old = [k for k, dg in self._datagrams.items() if now - dg.first_ts > self.timeout]
        weird = [self._drop(k, "ip_fragment_timeout") for k in old]
        for k in [k for k, (t, _) in self._done.items() if now - t > self.timeout]:
            self._forget(k)
        return weird

    def finish(self) -> list[Weird]:
        """Capture ended: one ``ip_fragments_incomplete`` row per incomplete datagram."""
        weird = [self._drop(k, "ip_fragments_incomplete") for k in list(self._datagrams)]
        self._done.clear()
        self._done_bytes = 0
        return weird

    # -- helpers ------------------------------------------------------------------------

    def _insert(self, dg: _Datagram, off: int, buf: bytes, frame: int, weird: list[Weird]) -> None:
        """Keep the parts of [off, off+len) not held yet; report overlaps that differ."""
        end = off + len(buf)
        pieces = dg.pieces
        i = bisect_left(pieces, off, key=_start_of)
        pos = off
        mismatch = -1
        if i > 0:
            ps, pd = pieces[i - 1]
            pe = ps + len(pd)
            if pe > off:
                pos = min(pe, end)
                if pd[off - ps : pos - ps] != buf[: pos - off]:
                    mismatch = off
        repl: list[tuple[int, bytes]] = []
        added = 0
        j = i
        while pos < end:
            if j < len(pieces) and pieces[j][0] < end:
                s, sd = pieces[j]
                if s > pos:
                    repl.append((pos, buf[pos - off : s - off]))
                    added += s - pos
                pos = min(s + len(sd), end)
                if mismatch < 0 and sd[: pos - s] != buf[s - off : pos - off]:
                    mismatch = s
                repl.append(pieces[j])
                j += 1
            else:
                repl.append((pos, buf if pos == off else buf[pos - off :]))
                added += end - pos
                pos = end
        if repl:
            pieces[i:j] = repl
        dg.have += added
        self._bytes += added
        if mismatch >= 0:
            weird.append(
                Weird(
                    "ip_fragment_overlap_mismatch",
                    frame=frame,
                    offset=mismatch,
                    detail="overlapping fragment bytes differ; first seen kept",
                )
            )

    def _truncate(self, dg: _Datagram, total: int, frame: int, weird: list[Weird]) -> None:
        """The datagram ends at ``total``: drop bytes held beyond it."""
        pieces = dg.pieces
        i = bisect_left(pieces, total, key=_start_of)
        dropped = sum(len(p[1]) for p in pieces[i:])
        del pieces[i:]
        if pieces:
            s, d = pieces[-1]
            if s + len(d) > total:
                dropped += s + len(d) - total
                pieces[-1] = (s, d[: total - s])
        if dropped:
            dg.have -= dropped
            self._bytes -= dropped
            weird.append(
                Weird(
                    "ip_fragment_beyond_end",
                    frame=frame,
                    detail=f"{dropped} bytes held beyond the datagram end {total}",
                )
            )

    def _drop(self, key: Hashable, name: str) -> Weird:
        dg = self._datagrams.pop(key)
        self._bytes -= dg.have
        total = "?" if dg.total is None else str(dg.total)
        return Weird(
            name,
            frame=dg.frames[-1] if dg.frames else None,
            detail=f"{dg.have} of {total} bytes from {len(dg.frames)} fragments, "
            f"frames {dg.frames[:8]}",
        )

    def _remember(self, key: Hashable, ts: float, whole: bytes) -> None:
        self._forget(key)
        self._done[key] = (ts, whole)
        self._done_bytes += len(whole)
        while self._done and (
            len(self._done) > self.max_datagrams or self._done_bytes > self.max_bytes // 4
        ):
            self._done_bytes -= len(self._done.popitem(last=False)[1][1])

    def _forget(self, key: Hashable) -> None:
        done = self._done.pop(key, None)
        if done is not None:
            self._done_bytes -= len(done[1])

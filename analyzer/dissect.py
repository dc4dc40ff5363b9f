"""Routes flows to protocol dissectors: by port first, by content for unclaimed TCP flows.

The :class:`Dispatcher` is the pipeline's consumer. A UDP flow is taken only when some
datagram dissector wants its ports, so RTP is never touched by Python. A TCP flow is taken
when a stream dissector wants its ports or when a content sniffer (TLS on any port) might
want it; in the second case only its first bytes are examined and it is let go at once if
nobody claims it.

>>> from analyzer.dissect import Dispatcher
>>> Dispatcher([], []).offer  # doctest: +ELLIPSIS
<bound method Dispatcher.offer of ...>
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from analyzer.capture.pipeline import FlowInfo
from analyzer.capture.tcp import StreamClosed, StreamData, StreamGap
from analyzer.errors import DecodeError, Weird
from analyzer.protocols.base import (
    DatagramDissector,
    Envelope,
    Sink,
    StreamDissector,
    StreamSession,
)

#: Bytes of a flow's first payload kept for content sniffing.
SNIFF_BYTES = 64


class Dispatcher:
    """The pipeline consumer that feeds every registered dissector."""

    def __init__(
        self,
        datagram: Sequence[DatagramDissector],
        stream: Sequence[StreamDissector],
        sink: Sink | None = None,
    ) -> None:
        self.datagram_dissectors = list(datagram)
        self.stream_dissectors = list(stream)
        self.sink = sink if sink is not None else Sink()

    def offer(self, flow: FlowInfo) -> _DatagramHandler | _StreamHandler | None:
        transport = flow.transport
        if transport == "udp" and self.datagram_dissectors:
            wanted = [d for d in self.datagram_dissectors if d.wants(flow)]
            return _DatagramHandler(flow, wanted, self.sink) if wanted else None
        if transport == "tcp" and self.stream_dissectors:
            return _StreamHandler(flow, self.stream_dissectors, self.sink)
        return None


class _DatagramHandler:
    __slots__ = ("dissectors", "flow", "sink")

    def __init__(self, flow: FlowInfo, dissectors: list[DatagramDissector], sink: Sink) -> None:
        self.flow = flow
        self.dissectors = dissectors
        self.sink = sink

    def datagram(self, frame: int, ts_ns: int, direction: int, payload: bytes) -> bool:
        env = Envelope.of(self.flow, direction, frame, ts_ns)
        sink = self.sink
        for d in self.dissectors:
            try:
                d.datagram(env, payload, sink)
            except DecodeError as e:
                sink.malformed(d.name, env, e)
        return True

    def stream(self, event: StreamData | StreamGap | StreamClosed) -> bool:
        return False

    def finish(self) -> None:
        pass


class _StreamHandler:
    """Decides which stream dissector owns a TCP flow, then feeds its session.

    Every TCP flow gets one (content sniffing may claim any of them) and a session's flow
    sends it every event, so the per-event path is kept to one type test, one Envelope
    and one call: no closure per event, and no Envelope for events no session sees.
    """

    __slots__ = ("candidates", "flow", "head", "last_env", "owner", "pending", "session", "sink")

    def __init__(self, flow: FlowInfo, dissectors: list[StreamDissector], sink: Sink) -> None:
        self.flow = flow
        self.sink = sink
        self.session: StreamSession | None = None
        self.owner: StreamDissector | None = None
        #: Sniffers still undecided; never mutated (a shrinking list replaces it).
        self.candidates: Sequence[StreamDissector] = ()
        for dissector in dissectors:
            if dissector.wants(flow):
                self._claim(dissector)
                break
        else:
            self.candidates = dissectors
        #: The first SNIFF_BYTES of each direction, for the sniffers.
        self.head = [b"", b""]
        #: Payload seen before any dissector claimed the flow, replayed to the owner.
        self.pending: list[tuple[int, bytes, Envelope]] = []
        #: The envelope of the last event a session was given (or could have been).
        self.last_env: Envelope | None = None

    def _claim(self, dissector: StreamDissector) -> None:
        self.owner = dissector
        self.session = dissector.session(self.flow, self.sink)

    def datagram(self, frame: int, ts_ns: int, direction: int, payload: bytes) -> bool:
        return False

    def stream(self, event: StreamData | StreamGap | StreamClosed) -> bool:
        session = self.session
        # The pipeline feeds TCP with integer ns timestamps, which events carry back.
        if type(event) is StreamData:
            direction = event.direction
            env = self.last_env = Envelope.of(self.flow, direction, event.last_frame, int(event.ts))
            if session is None:
                return self._sniff(direction, event.data, env)
            return self._call(env, session.data, direction, event.data, env)
        if session is None:
            # Nothing to sniff in a gap or a close; a session claimed later starts from
            # data, whose envelope replaces any made here, so none is made.
            return type(event) is StreamGap and bool(self.candidates)
        if type(event) is StreamGap:
            last = self.last_env
            env = self.last_env = Envelope.of(
                self.flow, event.direction, event.frame, last.ts_ns if last is not None else 0
            )
            return self._call(env, session.gap, event.direction, event.length, env)
        assert isinstance(event, StreamClosed)
        ts_ns = int(event.ts)
        env = self.last_env = Envelope.of(self.flow, event.direction, event.frame, ts_ns)
        # Optional: sessions that care how a side ended define closed(sender, how, env),
        # called with the side that sent the FIN or RST (a RST ends both halves).
        closed = getattr(session, "closed", None)
        if not callable(closed):
            return True
        sender = event.direction if event.sender is None else event.sender
        if sender != event.direction:
            env = Envelope.of(self.flow, sender, event.frame, ts_ns)
        try:
            return closed(sender, event.how, env) is not False
        except DecodeError as e:
            return self._abandon(env, e)

    def _sniff(self, direction: int, data: bytes, env: Envelope) -> bool:
        self.pending.append((direction, data, env))
        head = self.head[direction]
        if len(head) < SNIFF_BYTES:  # only the bytes the sniffers may see are copied
            head = self.head[direction] = head + data[: SNIFF_BYTES - len(head)]
        undecided = []
        for dissector in self.candidates:
            verdict = dissector.sniff(direction, head)
            if verdict:
                self._claim(dissector)
                session = self.session
                assert session is not None
                # Replay everything seen so far, both directions, in arrival order.
                pending, self.pending = self.pending, []
                return all(
                    self._call(penv, session.data, d, chunk, penv) for d, chunk, penv in pending
                )
            # A sniffer still undecided after SNIFF_BYTES has had its chance.
            if verdict is None and len(head) < SNIFF_BYTES:
                undecided.append(dissector)
        self.candidates = undecided
        return bool(undecided)

    def _call(self, env: Envelope, method: Callable[..., object], *args: object) -> bool:
        """A session method's answer (False: no more wanted); a DecodeError abandons the
        flow. A bound method and its arguments, not a closure per event."""
        try:
            return bool(method(*args))
        except DecodeError as e:
            return self._abandon(env, e)

    def _abandon(self, env: Envelope, error: DecodeError) -> bool:
        """The session raised: report it and let the flow go."""
        assert self.owner is not None
        self.sink.malformed(self.owner.name, env, error)
        self.sink.note(Weird(f"{self.owner.name}_stream_abandoned", frame=env.frame, flow=env.flow))
        return False

    def finish(self) -> None:
        if self.session is not None:
            self.session.close(self.last_env)

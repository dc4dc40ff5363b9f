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
        if flow.transport == "udp":
            wanted = [d for d in self.datagram_dissectors if d.wants(flow)]
            return _DatagramHandler(flow, wanted, self.sink) if wanted else None
        if flow.transport == "tcp" and self.stream_dissectors:
            return _StreamHandler(flow, self.stream_dissectors, self.sink)
        return None


class _DatagramHandler:
    def __init__(self, flow: FlowInfo, dissectors: list[DatagramDissector], sink: Sink) -> None:
        self.flow = flow
        self.dissectors = dissectors
        self.sink = sink

    def datagram(self, frame: int, ts_ns: int, direction: int, payload: bytes) -> bool:
        env = Envelope.of(self.flow, direction, frame, ts_ns)
        for d in self.dissectors:
            try:
                d.datagram(env, payload, self.sink)
            except DecodeError as e:
                self.sink.malformed(d.name, env, e)
        return True

    def stream(self, event: StreamData | StreamGap | StreamClosed) -> bool:
        return False

    def finish(self) -> None:
        pass


class _StreamHandler:
    """Decides which stream dissector owns a TCP flow, then feeds its session."""

    def __init__(self, flow: FlowInfo, dissectors: list[StreamDissector], sink: Sink) -> None:
        self.flow = flow
        self.sink = sink
        self.session: StreamSession | None = None
        self.owner: StreamDissector | None = None
        by_port = [d for d in dissectors if d.wants(flow)]
        if by_port:
            self._claim(by_port[0])
            self.candidates: list[StreamDissector] = []
        else:
            self.candidates = list(dissectors)
        self.head = [b"", b""]
        #: Payload seen before any dissector claimed the flow, replayed to the owner.
        self.pending: list[tuple[int, bytes, Envelope]] = []
        self.last_env: Envelope | None = None

    def _claim(self, dissector: StreamDissector) -> None:
        self.owner = dissector
        self.session = dissector.session(self.flow, self.sink)

    def datagram(self, frame: int, ts_ns: int, direction: int, payload: bytes) -> bool:
        return False

    def stream(self, event: StreamData | StreamGap | StreamClosed) -> bool:
        frame = event.last_frame if isinstance(event, StreamData) else event.frame
        # The pipeline feeds TCP with integer ns timestamps, which events carry back.
        ts_ns = int(event.ts) if isinstance(event, StreamData | StreamClosed) else None
        if ts_ns is None:
            ts_ns = self.last_env.ts_ns if self.last_env is not None else 0
        env = Envelope.of(self.flow, event.direction, frame, ts_ns)
        self.last_env = env
        if self.session is None:
            if not isinstance(event, StreamData):
                return not isinstance(event, StreamClosed) and bool(self.candidates)
            return self._sniff(event, env)
        return self._feed(event, env)

    def _sniff(self, event: StreamData, env: Envelope) -> bool:
        d = event.direction
        self.pending.append((d, event.data, env))
        self.head[d] = (self.head[d] + event.data)[:SNIFF_BYTES]
        undecided = []
        for dissector in self.candidates:
            verdict = dissector.sniff(d, self.head[d])
            if verdict:
                self._claim(dissector)
                # Replay everything seen so far, both directions, in arrival order.
                pending, self.pending = self.pending, []
                return all(self._feed_data(pd, data, penv) for pd, data, penv in pending)
            # A sniffer still undecided after SNIFF_BYTES has had its chance.
            if verdict is None and len(self.head[d]) < SNIFF_BYTES:
                undecided.append(dissector)
        self.candidates = undecided
        return bool(undecided)

    def _feed(self, event: StreamData | StreamGap | StreamClosed, env: Envelope) -> bool:
        assert self.session is not None
        if isinstance(event, StreamData):
            return self._feed_data(event.direction, event.data, env)
        if isinstance(event, StreamGap):
            session = self.session
            return self._guarded(lambda: session.gap(event.direction, event.length, env), env)
        # Optional: sessions that care how a side ended define closed(sender, how, env),
        # called with the side that sent the FIN or RST (a RST ends both halves).
        closed = getattr(self.session, "closed", None)
        if callable(closed):
            sender = event.direction if event.sender is None else event.sender
            how = event.how
            env = Envelope.of(self.flow, sender, env.frame, env.ts_ns)
            return self._guarded(lambda: closed(sender, how, env) is not False, env)
        return True

    def _feed_data(self, direction: int, data: bytes, env: Envelope) -> bool:
        assert self.session is not None
        session = self.session
        return self._guarded(lambda: session.data(direction, data, env), env)

    def _guarded(self, call: Callable[[], bool], env: Envelope) -> bool:
        assert self.owner is not None
        try:
            return bool(call())
        except DecodeError as e:
            self.sink.malformed(self.owner.name, env, e)
            self.sink.note(
                Weird(f"{self.owner.name}_stream_abandoned", frame=env.frame, flow=env.flow)
            )
            return False

    def finish(self) -> None:
        if self.session is not None:
            self.session.close(self.last_env)

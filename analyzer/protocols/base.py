"""What every protocol parser plugs into: envelopes, the row sink, table schemas, dissectors.

A protocol module declares its tables (:class:`Schema`) and one dissector
(:class:`DatagramDissector` for UDP, :class:`StreamDissector` for TCP, or both). The
dispatcher (:mod:`analyzer.dissect`) offers it flows, hands it payload with an
:class:`Envelope` saying where the bytes came from, and the dissector writes rows into a
:class:`Sink`. Parsing proper stays sans-IO: a function or object that takes bytes and
returns typed events or raises :class:`~analyzer.errors.DecodeError`; the dissector only
turns events into rows.

>>> env = Envelope(1_330_596_000_000_000_000, 7, 3, "10.20.0.57", 49152, "10.1.0.10", 53, "udp")
>>> sink = Sink()
>>> sink.add("example", env, answer=42)
>>> sink.rows["example"][0]["answer"], sink.rows["example"][0]["frame"]
(42, 7)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import pandas as pd

from analyzer.capture.pipeline import FlowInfo
from analyzer.errors import DecodeError, Weird

#: Rows kept per table; beyond this the table is cut and a weird row says so, so a
#: capture made of nothing but DNS floods cannot exhaust memory.
MAX_ROWS_PER_TABLE = 2_000_000


@dataclass(frozen=True, slots=True)
class Envelope:
    """Where one message came from: the first columns of every event row."""

    ts_ns: int
    frame: int
    flow: int
    src: str
    sport: int | None
    dst: str
    dport: int | None
    transport: str

    @staticmethod
    def of(flow: FlowInfo, direction: int, frame: int, ts_ns: int) -> Envelope:
        """The envelope of bytes sent in ``direction`` (0 = from the flow's originator)."""
        if direction == 0:
            return Envelope(
                ts_ns,
                frame,
                flow.flow,
                flow.src,
                flow.sport,
                flow.dst,
                flow.dport,
                flow.transport,
            )
        return Envelope(
            ts_ns, frame, flow.flow, flow.dst, flow.dport, flow.src, flow.sport, flow.transport
        )


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table: its name, pandas dtype and what it holds."""

    name: str
    dtype: str
    doc: str


ENVELOPE_COLUMNS = (
    Column("ts", "datetime64[ns, UTC]", "capture time of the frame that completed the message"),
    Column("frame", "int64", "frame number (1-based, as in Wireshark)"),
    Column("flow", "int64", "flow id (see the conversations table)"),
    Column("src", "string", "sender address"),
    Column("sport", "Int32", "sender port"),
    Column("dst", "string", "receiver address"),
    Column("dport", "Int32", "receiver port"),
    Column("transport", "category", "tcp or udp"),
)


@dataclass(frozen=True)
class Schema:
    """A table: its name, what one row is, and its columns after the envelope."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    #: Columns shown by default in the human (terminal) view, in order.
    human: tuple[str, ...] = ()
    envelope: bool = True

    def all_columns(self) -> tuple[Column, ...]:
        return (ENVELOPE_COLUMNS if self.envelope else ()) + self.columns

    def frame(self, rows: list[dict[str, Any]]) -> pd.DataFrame:
        """Build the table from row dicts with the declared dtypes (missing keys -> NA).

        Event tables come out in frame order: dissectors write a row when a message or a
        connection is complete, which is not the order its frame arrived in.
        """
        cols = self.all_columns()
        if self.envelope:
            rows = sorted(rows, key=_frame_of)
        data: dict[str, Any] = {}
        for col in cols:
            values = [row.get(col.name) for row in rows]
            if col.name == "ts":
                data["ts"] = pd.to_datetime(
                    pd.array([row.get("ts_ns") for row in rows], dtype="Int64"),
                    unit="ns",
                    utc=True,
                )
                continue
            data[col.name] = _series(values, col.dtype)
        return pd.DataFrame(data, columns=[c.name for c in cols])


def _frame_of(row: dict[str, Any]) -> int:
    frame = row.get("frame")
    return frame if isinstance(frame, int) else 0


def _series(values: list[Any], dtype: str) -> Any:
    if dtype == "object":
        return pd.Series(values, dtype="object")
    if dtype.startswith("datetime64"):
        return pd.to_datetime(pd.array(values, dtype="Int64"), unit="ns", utc=True)
    return pd.array(values, dtype=dtype)


@dataclass
class Sink:
    """Collects the rows, anomalies and certificates produced by dissectors."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    weird: list[Weird] = field(default_factory=list)
    weird_counts: Counter[str] = field(default_factory=Counter)
    #: One entry per certificate sighting: DER plus where it was seen.
    certificates: list[dict[str, Any]] = field(default_factory=list)

    def add(self, table: str, env: Envelope | None, **values: Any) -> None:
        """Append one row to ``table``: the envelope's fields, then ``values``."""
        rows = self.rows.setdefault(table, [])
        if len(rows) >= MAX_ROWS_PER_TABLE:
            if len(rows) == MAX_ROWS_PER_TABLE:
                self.note(
                    Weird("table_row_cap", detail=f"{table}: rows beyond {len(rows)} dropped")
                )
                rows.append({})  # marks the cap as reported; removed in tables()
            return
        if env is not None:
            row: dict[str, Any] = {
                "ts_ns": env.ts_ns,
                "frame": env.frame,
                "flow": env.flow,
                "src": env.src,
                "sport": env.sport,
                "dst": env.dst,
                "dport": env.dport,
                "transport": env.transport,
            }
            row.update(values)
        else:
            row = dict(values)
        rows.append(row)

    def note(self, w: Weird) -> None:
        self.weird_counts[w.name] += 1
        if len(self.weird) < 10_000:
            self.weird.append(w)

    def malformed(self, protocol: str, env: Envelope, error: DecodeError) -> None:
        """Record a message that did not decode: a weird row named ``<protocol>_malformed``."""
        self.note(
            Weird(
                f"{protocol}_malformed",
                frame=env.frame,
                flow=env.flow,
                detail=str(error),
                offset=error.offset,
            )
        )

    def certificate(self, der: bytes, env: Envelope | None, source: str, **context: Any) -> None:
        """A certificate seen on the wire (``source``: tls, ldap, http) or in a file."""
        entry: dict[str, Any] = {"der": der, "source": source, **context}
        if env is not None:
            entry.update(ts_ns=env.ts_ns, frame=env.frame, flow=env.flow, src=env.src, dst=env.dst)
        self.certificates.append(entry)

    def tables(self, schemas: dict[str, Schema]) -> dict[str, pd.DataFrame]:
        """Every declared table as a DataFrame (empty tables keep their columns)."""
        out = {}
        for name, schema in schemas.items():
            rows = [r for r in self.rows.get(name, []) if r]
            out[name] = schema.frame(rows)
        return out


class DatagramDissector(Protocol):
    """Parses UDP payloads of the flows it wants; stateless between datagrams."""

    name: ClassVar[str]

    def wants(self, flow: FlowInfo) -> bool:
        """Decide from the flow's ports (no payload yet) whether to parse its datagrams."""
        ...

    def datagram(self, env: Envelope, payload: bytes, sink: Sink) -> None:
        """Parse one datagram and add rows; raise DecodeError for malformed payload."""
        ...


class StreamSession(Protocol):
    """One TCP connection's parser state (both directions)."""

    def data(self, direction: int, data: bytes, env: Envelope) -> bool:
        """Bytes delivered in order for ``direction``; return False once no more are wanted.

        ``env.frame`` is the frame that supplied the last of these bytes.
        """
        ...

    def gap(self, direction: int, length: int, env: Envelope) -> bool:
        """``length`` bytes of ``direction`` will never arrive; False to give up the flow."""
        ...

    def close(self, env: Envelope | None) -> None:
        """The connection ended, the capture ended, or the parser gave up."""
        ...


class StreamDissector(Protocol):
    """Parses TCP connections, chosen by port (``wants``) or by content (``sniff``)."""

    name: ClassVar[str]

    def wants(self, flow: FlowInfo) -> bool:
        """True when the ports alone say this flow is ours (e.g. 53, 389)."""
        ...

    def sniff(self, direction: int, head: bytes) -> bool | None:
        """Look at the first bytes of a flow not claimed by port: True ours, False not,
        None need more bytes. ``head`` holds at most 64 bytes."""
        ...

    def session(self, flow: FlowInfo, sink: Sink) -> StreamSession: ...

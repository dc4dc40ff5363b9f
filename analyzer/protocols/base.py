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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from operator import itemgetter
from typing import Any, ClassVar, NamedTuple, Protocol, TypeVar

import numpy as np
import pandas as pd

from analyzer.capture.pipeline import FlowInfo
from analyzer.errors import DecodeError, Weird

#: Rows kept per table; beyond this the table is cut and a weird row says so, so a
#: capture made of nothing but DNS floods cannot exhaust memory.
MAX_ROWS_PER_TABLE = 2_000_000


class Envelope(NamedTuple):
    """Where one message came from: the first columns of every event row.

    A named tuple: one is made per message, and a table's envelopes transpose into its
    first columns in one step.
    """

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
        # tuple.__new__ directly: the NamedTuple constructor is one more Python call, and
        # this runs for every datagram and every stream event.
        f = flow
        if direction == 0:
            fields = (ts_ns, frame, f.flow, f.src, f.sport, f.dst, f.dport, f.transport)
        else:
            fields = (ts_ns, frame, f.flow, f.dst, f.dport, f.src, f.sport, f.transport)
        return _new_envelope(Envelope, fields)


_new_envelope = tuple.__new__


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

    def frame(self, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """Build the table from row dicts with the declared dtypes (missing keys -> NA).

        Event tables come out in frame order: dissectors write a row when a message or a
        connection is complete, which is not the order its frame arrived in.
        """
        names = [c.name for c in self.all_columns()]
        if self.envelope:
            names.append("ts_ns")
        return self.from_columns(_columns_of_dicts(names, rows), len(rows))

    def from_columns(self, columns: Mapping[str, Sequence[Any]], length: int) -> pd.DataFrame:
        """Build the table from value lists by column name, each ``length`` long (a
        missing column is all NA); the envelope's ``ts`` comes from ``ts_ns``.

        >>> schema = Schema("t", "doc", (Column("n", "Int64", "a number"),), envelope=False)
        >>> schema.from_columns({"n": [2, None]}, 2)["n"].tolist()
        [2, <NA>]
        """
        cols = self.all_columns()
        order: Sequence[int] | None = None
        if self.envelope and length > 1:
            frames = [f if isinstance(f, int) else 0 for f in columns.get("frame", ())]
            if any(a > b for a, b in pairwise(frames)):
                order = sorted(range(length), key=frames.__getitem__)
        data: dict[str, Any] = {}
        for col in cols:
            name = "ts_ns" if col.name == "ts" else col.name
            values = columns.get(name)
            if values is None:
                values = [None] * length
            elif order is not None:
                values = [values[i] for i in order]
            dtype = "datetime64[ns, UTC]" if col.name == "ts" else col.dtype
            data[col.name] = _series(values, dtype)
        # copy=False: the arrays were made for this table (a copy would double its peak).
        return pd.DataFrame(data, columns=[c.name for c in cols], copy=False)


def epoch_ns(times: pd.Series) -> list[int | None]:
    """``pd.Timestamp(t).value`` per time of a table column (None where missing), taken
    from the column's integers when it holds datetimes: for loops over a table's rows.

    >>> epoch_ns(pd.Series(pd.to_datetime([1_000, None], unit="ns", utc=True)))
    [1000, None]
    """
    if not pd.api.types.is_datetime64_any_dtype(times.dtype):
        return [None if t is None or pd.isna(t) else int(pd.Timestamp(t).value) for t in times]
    in_ns = times.dt.as_unit("ns")
    out: list[int | None] = list(in_ns.array.asi8.tolist())
    for i in np.flatnonzero(in_ns.isna().to_numpy()):
        out[i] = None
    return out


def _columns_of_dicts(
    names: list[str], rows: Sequence[Mapping[str, Any]]
) -> dict[str, Sequence[Any]]:
    """The ``names`` columns of row dicts; rows that all have every column (the rows of
    a derived table usually do) are transposed in C, others read key by key."""
    if len(names) > 1 and rows:
        try:
            values = list(map(itemgetter(*names), rows))
        except KeyError:
            pass
        else:
            return dict(zip(names, zip(*values, strict=True), strict=True))
    return {n: [row.get(n) for row in rows] for n in names}


def _series(values: Sequence[Any], dtype: str) -> Any:
    if dtype == "object":
        return pd.Series(values, dtype="object")
    if dtype.startswith("datetime64"):
        return pd.to_datetime(_masked(values, "Int64"), unit="ns", utc=True)
    if dtype == "category":
        return _categorical(values)
    if dtype[0] == "I" or dtype == "boolean" or dtype == "int64":
        return _masked(values, dtype)
    return pd.array(values, dtype=dtype)


# pandas converts a list holding None to a masked or categorical array element by element
# in Python (50 ms for a 51k-row column); numpy's conversion of the values that are there
# is a C loop. Each fast path takes only what it can convert exactly (plain ints, plain
# bools, strings) and leaves the rest to pandas, which raises as it always did.


def _masked(values: Sequence[Any], dtype: str) -> Any:
    """A nullable integer or boolean array (``Int8`` .. ``Int64``, ``int64``, ``boolean``)."""
    boolean = dtype == "boolean"
    try:
        has_missing = None in values
    except TypeError:  # pd.NA refuses to be compared: values taken from another table
        return pd.array(values, dtype=dtype)
    if has_missing:
        fill = False if boolean else 0
        missing = np.array([v is None for v in values])
        present = np.array([fill if v is None else v for v in values])
    else:
        missing = np.zeros(len(values), dtype=bool)
        present = np.array(values)
    if boolean:
        if present.dtype.kind == "b":
            return pd.arrays.BooleanArray(present, missing)
    elif present.dtype.kind == "i" and not (dtype == "int64" and missing.any()):
        numpy_dtype = np.dtype(dtype.lower())
        limits = np.iinfo(numpy_dtype)
        if limits.min <= present.min() and present.max() <= limits.max:
            if dtype == "int64":
                return pd.array(present, dtype=dtype)
            return pd.arrays.IntegerArray(present.astype(numpy_dtype), missing)
    return pd.array(values, dtype=dtype)


def _categorical(values: Sequence[Any]) -> Any:
    """A categorical array with sorted categories, as ``pd.array(values, "category")``."""
    codes_of: dict[Any, int] = {}
    codes = [-1 if v is None else codes_of.setdefault(v, len(codes_of)) for v in values]
    if not codes_of or not all(type(v) is str for v in codes_of):
        return pd.array(values, dtype="category")
    categories = sorted(codes_of)
    rank = np.empty(len(categories) + 1, dtype=np.int64)
    rank[[codes_of[c] for c in categories]] = np.arange(len(categories))
    rank[-1] = -1  # code -1 (missing) indexes the last slot
    return pd.Categorical.from_codes(rank[np.array(codes, dtype=np.int64)], categories)


class _TableRows:
    """The rows of one table as tuples: ``(shape, envelope or None, *values)``.

    A shape is the names of the values a row was given, in order; nearly every table has
    one (one call site, or call sites passing the same keys). Tuples rather than a dict
    per row: a third of the memory, and the columns come out by one transposition.
    """

    __slots__ = ("capped", "rows", "shapes")

    def __init__(self) -> None:
        self.shapes: dict[tuple[str, ...], int] = {}
        self.rows: list[tuple[Any, ...]] = []
        self.capped = False

    def columns(self) -> dict[str, Sequence[Any]]:
        """Every column by name (envelope fields as ``ts_ns``, ``frame``, ...), NA-filled."""
        if len(self.shapes) == 1:
            (names,) = self.shapes
            return _columns_of(names, self.rows)
        columns: dict[str, list[Any]] = {}
        for names, shape in self.shapes.items():
            positions = [i for i, row in enumerate(self.rows) if row[0] == shape]
            part = _columns_of(names, [self.rows[i] for i in positions])
            for name, values in part.items():
                column = columns.setdefault(name, [None] * len(self.rows))
                for i, value in zip(positions, values, strict=True):
                    column[i] = value
        return dict(columns)


def _columns_of(names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> dict[str, Sequence[Any]]:
    """The columns of rows of one shape, by one transposition."""
    _, envelopes, *values = zip(*rows, strict=True)
    columns: dict[str, Sequence[Any]] = {}
    if None not in envelopes:
        columns.update(zip(Envelope._fields, zip(*envelopes, strict=True), strict=True))
    elif any(e is not None for e in envelopes):
        for index, attr in enumerate(Envelope._fields):
            columns[attr] = [None if e is None else e[index] for e in envelopes]
    columns.update(zip(names, values, strict=True))  # a value named like a field wins
    return columns


_State = TypeVar("_State")


@dataclass
class Sink:
    """Collects the rows, anomalies and certificates produced by dissectors.

    One Sink serves one analysis; dissector objects are shared by all of them, so what a
    dissector learns that outlives one datagram is kept here (:meth:`state`).
    """

    weird: list[Weird] = field(default_factory=list)
    weird_counts: Counter[str] = field(default_factory=Counter)
    #: One entry per certificate sighting: DER plus where it was seen.
    certificates: list[dict[str, Any]] = field(default_factory=list)
    _tables: dict[str, _TableRows] = field(default_factory=dict)
    _certificate_ders: dict[bytes, bytes] = field(default_factory=dict)
    _states: dict[str, Any] = field(default_factory=dict)

    def state(self, owner: str, make: Callable[[], _State]) -> _State:
        """This analysis's state of dissector ``owner`` (its name), made on first use.

        >>> sink = Sink()
        >>> seen = sink.state("demo", dict)
        >>> seen["x"] = 1
        >>> sink.state("demo", dict), Sink().state("demo", dict)
        ({'x': 1}, {})
        """
        found = self._states.get(owner)
        if found is None:
            found = self._states[owner] = make()
        return found

    def add(self, table: str, env: Envelope | None, **values: Any) -> None:
        """Append one row to ``table``: the envelope's fields, then ``values`` (a value
        named like an envelope field takes its place)."""
        self.add_row(table, env, values)

    def add_row(self, table: str, env: Envelope | None, values: Mapping[str, Any]) -> None:
        """:meth:`add` with the values in a mapping, for rows built as dicts (no copy)."""
        rows = self._tables.get(table)
        if rows is None:
            rows = self._tables[table] = _TableRows()
        if len(rows.rows) >= MAX_ROWS_PER_TABLE:
            if not rows.capped:
                rows.capped = True
                self.note(
                    Weird("table_row_cap", detail=f"{table}: rows beyond {len(rows.rows)} dropped")
                )
            return
        names = tuple(values)
        shape = rows.shapes.get(names)
        if shape is None:
            shape = rows.shapes[names] = len(rows.shapes)
        rows.rows.append((shape, env, *values.values()))

    @property
    def rows(self) -> dict[str, list[dict[str, Any]]]:
        """Every table's rows as dicts, in the order they were added (for inspection and
        tests; :meth:`tables` builds the DataFrames without them)."""
        out = {}
        for table, rows in self._tables.items():
            names_of = {shape: names for names, shape in rows.shapes.items()}
            dicts = []
            for shape, env, *values in rows.rows:
                row = {} if env is None else env._asdict()
                row.update(zip(names_of[shape], values, strict=True))
                dicts.append(row)
            out[table] = dicts
        return out

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
        # A server sends the same chain on every connection: keep one copy of each DER.
        der = bytes(der)
        der = self._certificate_ders.setdefault(der, der)
        entry: dict[str, Any] = {"der": der, "source": source, **context}
        if env is not None:
            entry.update(ts_ns=env.ts_ns, frame=env.frame, flow=env.flow, src=env.src, dst=env.dst)
        self.certificates.append(entry)

    def tables(
        self, schemas: dict[str, Schema], *, keep_rows: bool = True
    ) -> dict[str, pd.DataFrame]:
        """Every declared table as a DataFrame (empty tables keep their columns).

        ``keep_rows=False`` lets go of each table's rows once its DataFrame is built,
        so that the rows and the tables are never all in memory at once.
        """
        out = {}
        for name, schema in schemas.items():
            rows = self._tables.get(name) if keep_rows else self._tables.pop(name, None)
            if rows is None:
                out[name] = schema.from_columns({}, 0)
                continue
            columns, length = rows.columns(), len(rows.rows)
            del rows  # without keep_rows, the row tuples go before the arrays come
            out[name] = schema.from_columns(columns, length)
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

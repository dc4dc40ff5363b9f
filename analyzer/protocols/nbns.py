"""NetBIOS Name Service (RFC 1001/1002) over UDP 137: the phone's fallback when DNS fails.

A phone that gets NXDOMAIN for ``ucupdates-r2`` asks again over NBNS, as a broadcast on
its subnet or unicast to a WINS server; whether anyone answered, and from where, is what
this table shows. Names are shown decoded, NetBIOS style: the 15-character name without
its padding spaces, then the 16th byte (the service suffix) as ``<xx>``, e.g.
``UCUPDATES-R2<00>``; unprintable bytes inside a name are shown as ``<xx>`` too (as
Wireshark does), and a scope id follows after a dot.

>>> msg = parse_nbns(bytes.fromhex(
...     "8a3c 0110 0001 0000 0000 0000"  # id, flags: query, rd, broadcast; 1 question
...     "20 46464544464646414545454246454546 4644434e464344434341434143414141 00"  # encoded
...     # name: "UCUPDATES-R2", padded with spaces to 15, suffix 0x00
...     "0020 0001"))  # type NB, class IN
>>> msg.opcode_name, msg.broadcast, msg.questions[0].name, msg.questions[0].type_name
('query', True, 'UCUPDATES-R2<00>', 'NB')
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, ClassVar

from analyzer.capture.pipeline import FlowInfo
from analyzer.errors import DecodeError, Malformed, Weird
from analyzer.protocols.base import Column, Envelope, Schema, Sink
from analyzer.protocols.buffer import Buffer
from analyzer.protocols.dns import generic_rdata, label_text, name_text, read_name
from analyzer.protocols.registry import ProtocolModule

NBNS_PORT = 137
#: Records kept per message (a datagram holds at most ~130 of the smallest).
MAX_RECORDS = 256

OPCODE_NAMES = {
    0: "query",
    5: "registration",
    6: "release",
    7: "wack",
    8: "refresh",
    9: "refresh",  # RFC 1002 says 8; many implementations send 9
    15: "multihomed_registration",
}
#: RFC 1002 4.2 response codes.
RCODE_NAMES = {
    0: "NOERROR",
    1: "FMT_ERR",
    2: "SRV_ERR",
    3: "NAM_ERR",
    4: "IMP_ERR",
    5: "RFS_ERR",
    6: "ACT_ERR",
    7: "CFT_ERR",
}
TYPE_NAMES = {1: "A", 2: "NS", 10: "NULL", 32: "NB", 33: "NBSTAT"}
T_A, T_NS, T_NB, T_NBSTAT = 1, 2, 32, 33
NODE_TYPES = ("B", "P", "M", "H")

QR, AA, TC, RD, RA, BROADCAST = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0010


def type_name(rtype: int) -> str:
    return TYPE_NAMES.get(rtype, f"TYPE{rtype}")


def _first_level_decode(label: bytes) -> bytes | None:
    """RFC 1001 14.1: 32 letters 'A'-'P', two per byte (high nibble first); else None."""
    if len(label) != 32:
        return None
    nibbles = [c - 0x41 for c in label]
    if any(not 0 <= n <= 15 for n in nibbles):
        return None
    return bytes((nibbles[i] << 4) | nibbles[i + 1] for i in range(0, 32, 2))


def _plain(raw: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b <= 0x7E else f"<{b:02x}>" for b in raw)


def netbios_name(raw: bytes) -> str:
    """A 16-byte NetBIOS name as ``NAME<suffix>``, padding spaces stripped."""
    return _plain(raw[:15]).rstrip(" ") + f"<{raw[15]:02x}>"


def name_from_labels(labels: tuple[bytes, ...]) -> str:
    """An encoded NetBIOS name (first label) plus scope (the other labels) as text.

    A first label that is not a valid first-level encoding is shown as a DNS name.
    """
    raw = _first_level_decode(labels[0]) if labels else None
    if raw is None:
        return name_text(labels).rstrip(".") or "."
    text = netbios_name(raw)
    if len(labels) > 1:
        text += "." + ".".join(label_text(label) for label in labels[1:])
    return text


@dataclass(frozen=True, slots=True)
class NbnsQuestion:
    name: str
    qtype: int

    @property
    def type_name(self) -> str:
        return type_name(self.qtype)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type_name}


@dataclass(frozen=True, slots=True)
class NbnsRecord:
    """One resource record; ``data`` is readable text, ``addresses`` the NB addresses,
    ``node_names`` the names of an NBSTAT (node status) answer."""

    name: str
    rtype: int
    ttl: int
    data: str
    addresses: tuple[str, ...] = ()
    node_names: tuple[str, ...] = ()
    unit_id: str | None = None

    @property
    def type_name(self) -> str:
        return type_name(self.rtype)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type_name,
            "ttl": self.ttl,
            "data": self.data,
        }
        if self.rtype in (T_NB, T_A):
            out["addresses"] = list(self.addresses)
        if self.rtype == T_NBSTAT:
            out["node_names"] = list(self.node_names)
            out["unit_id"] = self.unit_id
        return out


@dataclass(frozen=True, slots=True)
class NbnsMessage:
    """One NBNS message; ``error`` set when a record did not decode (earlier ones kept)."""

    id: int
    flags: int
    questions: tuple[NbnsQuestion, ...]
    answers: tuple[NbnsRecord, ...]
    authorities: tuple[NbnsRecord, ...]
    additionals: tuple[NbnsRecord, ...]
    error: DecodeError | None = None
    capped: bool = False

    @property
    def response(self) -> bool:
        return bool(self.flags & QR)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF

    @property
    def opcode_name(self) -> str:
        return OPCODE_NAMES.get(self.opcode, f"opcode{self.opcode}")

    @property
    def rcode(self) -> int:
        return self.flags & 0xF

    @property
    def rcode_name(self) -> str:
        return RCODE_NAMES.get(self.rcode, f"RCODE{self.rcode}")

    @property
    def broadcast(self) -> bool:
        return bool(self.flags & BROADCAST)


def parse_nbns(data: bytes) -> NbnsMessage:
    """Parse one NBNS datagram; DecodeError when the header or a question is unusable."""
    buf = Buffer(data)
    ident = buf.pull_u16()
    flags = buf.pull_u16()
    counts = [buf.pull_u16() for _ in range(4)]
    capped = sum(counts) > MAX_RECORDS
    questions = []
    for _ in range(min(counts[0], MAX_RECORDS)):
        name = name_from_labels(read_name(buf))
        qtype = buf.pull_u16()
        buf.pull_u16()  # class: always IN
        questions.append(NbnsQuestion(name, qtype))
    sections: tuple[list[NbnsRecord], ...] = ([], [], [])
    kept = len(questions)
    error: DecodeError | None = None
    try:
        for records, count in zip(sections, counts[1:], strict=True):
            for _ in range(min(count, MAX_RECORDS - kept)):
                records.append(_read_record(buf))
                kept += 1
    except DecodeError as e:
        error = e
    answers, authorities, additionals = (tuple(records) for records in sections)
    return NbnsMessage(
        ident, flags, tuple(questions), answers, authorities, additionals, error, capped
    )


def _read_record(buf: Buffer) -> NbnsRecord:
    name = name_from_labels(read_name(buf))
    rtype = buf.pull_u16()
    buf.pull_u16()  # class
    ttl = buf.pull_u32()
    rdlength = buf.pull_u16()
    with buf.restrict(rdlength):
        start = buf.position
        if rtype == T_NB and rdlength % 6 == 0 and rdlength:
            return _nb_record(buf, name, ttl)
        if rtype == T_NBSTAT and rdlength:
            return _nbstat_record(buf, name, ttl)
        if rtype == T_A and rdlength == 4:
            address = str(ipaddress.IPv4Address(buf.pull_bytes(4)))
            return NbnsRecord(name, rtype, ttl, address, addresses=(address,))
        if rtype == T_NS:
            return NbnsRecord(name, rtype, ttl, name_text(read_name(buf)))
        # WACK (NB with 2 bytes of flags), NULL in negative responses, anything else.
        return NbnsRecord(name, rtype, ttl, generic_rdata(buf.data[start : start + rdlength]))


def _nb_record(buf: Buffer, name: str, ttl: int) -> NbnsRecord:
    addresses, described = [], []
    while buf.remaining:
        nb_flags = buf.pull_u16()
        address = str(ipaddress.IPv4Address(buf.pull_bytes(4)))
        addresses.append(address)
        kind = "group" if nb_flags & 0x8000 else "unique"
        described.append(f"{address} {kind} {NODE_TYPES[(nb_flags >> 13) & 3]}-node")
    return NbnsRecord(name, T_NB, ttl, "; ".join(described), addresses=tuple(addresses))


def _nbstat_record(buf: Buffer, name: str, ttl: int) -> NbnsRecord:
    count = buf.pull_u8()
    names, described = [], []
    for _ in range(count):
        node = netbios_name(buf.pull_bytes(16))
        node_flags = buf.pull_u16()
        names.append(node)
        described.append(node + (" group" if node_flags & 0x8000 else ""))
    unit_id = None
    if buf.remaining >= 6:
        unit_id = ":".join(f"{b:02x}" for b in buf.pull_bytes(6))
        described.append(f"unit {unit_id}")
    if not count and unit_id is None:
        raise Malformed("empty node status", offset=buf.position)
    return NbnsRecord(
        name, T_NBSTAT, ttl, "; ".join(described), node_names=tuple(names), unit_id=unit_id
    )


NBNS_SCHEMA = Schema(
    "nbns",
    "One NetBIOS Name Service message (UDP 137).",
    (
        Column("id", "Int32", "transaction id (retransmissions repeat it)"),
        Column("response", "boolean", "true for a response"),
        Column(
            "opcode",
            "category",
            "query, registration, release, wack, refresh, multihomed_registration",
        ),
        Column(
            "rcode",
            "category",
            "NOERROR or RFC 1002 error (NAM_ERR: no such name, ACT_ERR, CFT_ERR, ...); "
            "null for requests",
        ),
        Column("broadcast", "boolean", "the B flag: sent as a subnet broadcast"),
        Column(
            "asked",
            "category",
            "for requests, how the sender asked: broadcast (B flag or a broadcast "
            "address) or unicast (to a WINS server, or the node itself for a node "
            "status query); null for responses",
        ),
        Column("aa", "boolean", "authoritative answer"),
        Column("tc", "boolean", "truncated"),
        Column("rd", "boolean", "recursion desired (ask the WINS server)"),
        Column("ra", "boolean", "recursion available (the answer is from a WINS server)"),
        Column("name", "string", "the (first) question's name, else the first record's"),
        Column("type", "category", "NB (name) or NBSTAT (node status)"),
        Column("questions", "object", "every question as {name, type}"),
        Column(
            "answers",
            "object",
            "answer records: {name, type, ttl, data, addresses (NB) or node_names and "
            "unit_id (NBSTAT)}",
        ),
        Column("authorities", "object", "authority records, as answers"),
        Column(
            "additionals",
            "object",
            "additional records, as answers (the address being registered or released)",
        ),
        Column(
            "addresses",
            "object",
            "every address in the answer and additional records (the name's owners)",
        ),
        Column("malformed", "string", "why the records stopped decoding; null when clean"),
    ),
    human=(
        "frame",
        "ts",
        "src",
        "dst",
        "opcode",
        "response",
        "asked",
        "name",
        "rcode",
        "addresses",
    ),
)


def _broadcast_address(address: str) -> bool:
    return address == "255.255.255.255" or address.endswith(".255")


def message_values(msg: NbnsMessage, dst: str) -> dict[str, Any]:
    """The ``nbns`` row (without envelope) of one message sent to ``dst``."""
    first_name = None
    first_type = None
    if msg.questions:
        first_name, first_type = msg.questions[0].name, msg.questions[0].type_name
    else:
        for record in msg.answers + msg.additionals + msg.authorities:
            first_name, first_type = record.name, record.type_name
            break
    asked = None
    if not msg.response:
        asked = "broadcast" if msg.broadcast or _broadcast_address(dst) else "unicast"
    addresses = [a for r in msg.answers + msg.additionals for a in r.addresses]
    return {
        "id": msg.id,
        "response": msg.response,
        "opcode": msg.opcode_name,
        "rcode": msg.rcode_name if msg.response else None,
        "broadcast": msg.broadcast,
        "asked": asked,
        "aa": bool(msg.flags & AA),
        "tc": bool(msg.flags & TC),
        "rd": bool(msg.flags & RD),
        "ra": bool(msg.flags & RA),
        "name": first_name,
        "type": first_type,
        "questions": [q.as_dict() for q in msg.questions],
        "answers": [r.as_dict() for r in msg.answers],
        "authorities": [r.as_dict() for r in msg.authorities],
        "additionals": [r.as_dict() for r in msg.additionals],
        "addresses": addresses,
        "malformed": str(msg.error) if msg.error is not None else None,
    }


class NbnsDissector:
    """Datagram dissector for UDP port 137."""

    name: ClassVar[str] = "nbns"

    def wants(self, flow: FlowInfo) -> bool:
        return NBNS_PORT in (flow.sport, flow.dport)

    def datagram(self, env: Envelope, payload: bytes, sink: Sink) -> None:
        msg = parse_nbns(payload)
        sink.add("nbns", env, **message_values(msg, env.dst))
        if msg.error is not None:
            sink.malformed("nbns", env, msg.error)
        if msg.capped:
            sink.note(
                Weird(
                    "nbns_record_cap",
                    frame=env.frame,
                    flow=env.flow,
                    detail=f"records beyond {MAX_RECORDS} not decoded",
                )
            )


PROTOCOL = ProtocolModule(
    name="nbns",
    doc="NetBIOS Name Service (UDP 137): names asked for by broadcast or WINS",
    schemas=(NBNS_SCHEMA,),
    datagram=NbnsDissector(),
)

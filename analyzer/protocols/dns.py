"""DNS (RFC 1035) over UDP and TCP 53, mDNS (RFC 6762, UDP 5353) and LLMNR (RFC 4795, UDP
and TCP 5355): every name a device asked for and what came back.

The phone's logon is a chain of lookups (``_ldap._tcp.dc._msdcs``, ``_sipinternaltls._tcp``,
the pool's A record, ``ucupdates-r2``); an NXDOMAIN, an unanswered query or an SRV target
in another zone explains where an attempt stops. Table ``dns`` has one row per message,
the derived table ``dns_transactions`` one row per question asked (matched with its
response, retransmissions counted, unanswered ones included).

Everything in the ``data`` of a record is in zone-file presentation form: names fully
qualified with a trailing dot, unusual bytes in labels escaped as in zone files
(``\\.``, ``\\032``), types without a decoder as RFC 3597 ``\\# <length> <hex>``.

>>> msg = parse_dns(bytes.fromhex(
...     "1234 8183 0001 0000 0000 0000"  # id, flags: response, rd ra, NXDOMAIN; 1 question
...     "0c7563757064617465732d7232 07636f6e746f736f 056c6f63616c 00"  # ucupdates-r2.contoso.local.
...     "0001 0001"))  # type A, class IN
>>> msg.response, msg.rcode_name, msg.questions[0].name, msg.questions[0].type_name
(True, 'NXDOMAIN', 'ucupdates-r2.contoso.local.', 'A')
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from socket import inet_ntoa
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from analyzer.capture.pipeline import FlowInfo
from analyzer.collector import collector_paused
from analyzer.errors import DecodeError, Malformed, Truncated, Weird
from analyzer.protocols.base import Column, Envelope, Schema, Sink, epoch_ns
from analyzer.protocols.buffer import Buffer
from analyzer.protocols.registry import ProtocolModule

DNS_PORT = 53
MDNS_PORT = 5353
LLMNR_PORT = 5355
UDP_PORTS = {DNS_PORT: "dns", MDNS_PORT: "mdns", LLMNR_PORT: "llmnr"}
TCP_PORTS = {DNS_PORT: "dns", LLMNR_PORT: "llmnr"}

#: RFC 1035 2.3.4: a name is at most 255 octets on the wire (length bytes and root
#: included); labels are at most 63 octets, which the two top bits of the length byte
#: already guarantee (01 and 10 are reserved label types and rejected).
MAX_NAME_OCTETS = 255
#: Compression pointers followed for one name. Every pointer must point strictly before
#: the start of the label run it ends, so loops are impossible; this cap only bounds
#: the work of a crafted chain of pointers to pointers.
MAX_POINTER_HOPS = 127
#: Records kept per message; a 64 KiB TCP message could carry ~6000 tiny ones.
MAX_RECORDS = 512

#: Type mnemonics (IANA "Resource Record (RR) TYPEs"); others are shown as TYPE<n>.
TYPE_NAMES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 10: "NULL", 11: "WKS", 12: "PTR", 13: "HINFO",
    15: "MX", 16: "TXT", 17: "RP", 18: "AFSDB", 24: "SIG", 25: "KEY", 28: "AAAA", 29: "LOC",
    33: "SRV", 35: "NAPTR", 36: "KX", 37: "CERT", 39: "DNAME", 41: "OPT", 42: "APL",
    43: "DS", 44: "SSHFP", 45: "IPSECKEY", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY",
    49: "DHCID", 50: "NSEC3", 51: "NSEC3PARAM", 52: "TLSA", 53: "SMIMEA", 55: "HIP",
    59: "CDS", 60: "CDNSKEY", 61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD", 64: "SVCB",
    65: "HTTPS", 99: "SPF", 249: "TKEY", 250: "TSIG", 251: "IXFR", 252: "AXFR",
    255: "ANY", 256: "URI", 257: "CAA", 32768: "TA", 32769: "DLV",
}  # fmt: skip
CLASS_NAMES = {1: "IN", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}
OPCODE_NAMES = {0: "QUERY", 1: "IQUERY", 2: "STATUS", 4: "NOTIFY", 5: "UPDATE", 6: "DSO"}
RCODE_NAMES = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 11: "DSOTYPENI",
    16: "BADVERS", 17: "BADKEY", 18: "BADTIME", 19: "BADMODE", 20: "BADNAME", 21: "BADALG",
    22: "BADTRUNC", 23: "BADCOOKIE",
}  # fmt: skip
#: EDNS option codes shown by name in an OPT record's data.
EDNS_OPTION_NAMES = {3: "NSID", 8: "ECS", 10: "COOKIE", 11: "KEEPALIVE", 12: "PADDING", 15: "EDE"}

T_A, T_NS, T_CNAME, T_SOA, T_PTR, T_MX, T_TXT, T_AAAA, T_SRV, T_DNAME, T_OPT, T_SPF = (
    1, 2, 5, 6, 12, 15, 16, 28, 33, 39, 41, 99,
)  # fmt: skip

_HEADER = struct.Struct("!HHHHHH")
_QUESTION = struct.Struct("!HH")
_RECORD = struct.Struct("!HHIH")
_SRV_NUMBERS = struct.Struct("!HHH")
_SOA_NUMBERS = struct.Struct("!IIIII")

QR, AA, TC, RD, RA, Z, AD, CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0040, 0x0020, 0x0010


def type_name(rtype: int) -> str:
    return TYPE_NAMES.get(rtype) or f"TYPE{rtype}"


def class_name(rclass: int) -> str:
    return CLASS_NAMES.get(rclass) or f"CLASS{rclass}"


def rcode_name(rcode: int) -> str:
    return RCODE_NAMES.get(rcode) or f"RCODE{rcode}"


def opcode_name(opcode: int) -> str:
    return OPCODE_NAMES.get(opcode) or f"OPCODE{opcode}"


# ---------------------------------------------------------------- names and text


def _escape_table(specials: bytes, low: int) -> tuple[str, ...]:
    out = []
    for b in range(256):
        if b in specials:
            out.append("\\" + chr(b))
        elif low <= b <= 0x7E:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03d}")
    return tuple(out)


# Zone-file escaping (RFC 1035 5.1, as BIND and dnspython print it): in a label, the
# characters with a meaning in master files get a backslash, everything outside
# printable ASCII (space included) becomes \DDD. Inside a quoted string only " and \ do.
_LABEL_ESCAPES = _escape_table(b'."();\\@$', 0x21)
_STRING_ESCAPES = _escape_table(b'"\\', 0x20)
_PLAIN_LABEL = re.compile(rb"[A-Za-z0-9_\-*/+=:,!#%&'<>?\[\]^`{|}~]*")
_PLAIN_NAME = re.compile(rb"[A-Za-z0-9_\-*/+=:,!#%&'<>?\[\]^`{|}~.]*")
#: Printable ASCII except " and backslash: what _STRING_ESCAPES leaves as it is.
_PLAIN_STRING = re.compile(rb"[ !#-\[\]-~]*")


def label_text(label: bytes) -> str:
    """One label in presentation form: ``b"a.b"`` -> ``a\\.b``, ``b"a b"`` -> ``a\\032b``."""
    if _PLAIN_LABEL.fullmatch(label):
        return label.decode("ascii")
    return "".join(_LABEL_ESCAPES[b] for b in label)


def name_text(labels: Sequence[bytes]) -> str:
    """A fully qualified name with its trailing dot; the root is ``.``."""
    if not labels:
        return "."
    joined = b".".join(labels)
    # Fast path: plain characters only, and no dot inside a label.
    if joined.count(b".") == len(labels) - 1 and _PLAIN_NAME.fullmatch(joined):
        return joined.decode("ascii") + "."
    return "".join(label_text(label) + "." for label in labels)


def string_text(value: bytes) -> str:
    """A <character-string> as a quoted zone-file string."""
    if _PLAIN_STRING.fullmatch(value):  # fast path: nothing to escape
        return '"' + value.decode("ascii") + '"'
    return '"' + "".join(_STRING_ESCAPES[b] for b in value) + '"'


def read_name(buf: Buffer) -> tuple[bytes, ...]:
    """Read a (possibly compressed) name at the buffer's position; return its labels.

    Compression pointers may point anywhere earlier in the message, but each one must
    point strictly before the start of the label run that contains it (the name's own
    start, then each pointer's target): targets strictly decrease, so a loop cannot be
    built. The buffer is left after the name as it appears at its position (after the
    first pointer, if any). Uncompressed labels must fit in the buffer's current window
    (a record's RDATA); labels reached through a pointer only in the message.
    """
    data = buf.data
    pos = buf.position
    end = pos + buf.remaining
    limit = pos
    resume = -1
    hops = 0
    octets = 1  # the root label's length byte
    labels: list[bytes] = []
    while True:
        if pos >= end:
            raise Truncated(f"name runs past the end at offset {pos}", offset=pos)
        length = data[pos]
        if length >= 0xC0:
            if pos + 1 >= end:
                raise Truncated(f"compression pointer cut at offset {pos}", offset=pos)
            target = ((length & 0x3F) << 8) | data[pos + 1]
            if target >= limit:
                raise Malformed(
                    f"compression pointer at offset {pos} to {target} does not point "
                    f"before {limit}",
                    offset=pos,
                )
            hops += 1
            if hops > MAX_POINTER_HOPS:
                raise Malformed(f"more than {MAX_POINTER_HOPS} compression pointers", offset=pos)
            if resume < 0:
                resume = pos + 2
            limit = pos = target
            end = len(data)
            continue
        if length & 0xC0:
            raise Malformed(f"unsupported label type 0x{length & 0xC0:02x}", offset=pos)
        if length == 0:
            pos += 1
            break
        octets += length + 1
        if octets > MAX_NAME_OCTETS:
            raise Malformed(f"name longer than {MAX_NAME_OCTETS} octets", offset=pos)
        if pos + 1 + length > end:
            raise Truncated(f"label of {length} bytes cut at offset {pos}", offset=pos)
        labels.append(data[pos + 1 : pos + 1 + length])
        pos += 1 + length
    buf.seek(resume if resume >= 0 else pos)
    return tuple(labels)


def _name(buf: Buffer) -> str:
    return name_text(read_name(buf))


# ---------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class Question:
    name: str
    qtype: int
    qclass: int

    @property
    def type_name(self) -> str:
        return type_name(self.qtype)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type_name, "class": class_name(self.qclass)}


@dataclass(frozen=True, slots=True)
class ResourceRecord:
    """One record; ``data`` is the RDATA in presentation form (``rdata`` the raw bytes)."""

    name: str
    rtype: int
    rclass: int
    ttl: int
    data: str
    rdata: bytes

    @property
    def type_name(self) -> str:
        return type_name(self.rtype)

    def as_dict(self) -> dict[str, Any]:
        if self.rtype == T_OPT:
            # OPT's class and TTL fields carry the UDP size and EDNS flags (in ``data``).
            return {"name": self.name, "type": "OPT", "class": None, "ttl": None, "data": self.data}
        return {
            "name": self.name,
            "type": self.type_name,
            "class": class_name(self.rclass),
            "ttl": self.ttl,
            "data": self.data,
        }


@dataclass(frozen=True, slots=True)
class Edns:
    """The OPT pseudo-record (RFC 6891)."""

    udp_size: int
    extended_rcode: int
    version: int
    dnssec_ok: bool
    options: tuple[tuple[int, bytes], ...]


@dataclass(frozen=True, slots=True)
class DnsMessage:
    """One DNS/mDNS/LLMNR message.

    ``error`` is set when the header and questions decoded but a record did not: the
    records before it are kept (a truncated answer still says who asked what).
    ``capped`` says records beyond :data:`MAX_RECORDS` were not decoded.
    """

    id: int
    flags: int
    qdcount: int
    ancount: int
    nscount: int
    arcount: int
    questions: tuple[Question, ...]
    answers: tuple[ResourceRecord, ...]
    authorities: tuple[ResourceRecord, ...]
    additionals: tuple[ResourceRecord, ...]
    edns: Edns | None = None
    error: DecodeError | None = None
    capped: bool = False

    @property
    def response(self) -> bool:
        return bool(self.flags & QR)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF

    @property
    def rcode(self) -> int:
        """The response code, with the 8 high bits from OPT when EDNS is present."""
        low = self.flags & 0xF
        return low | (self.edns.extended_rcode << 4) if self.edns else low

    @property
    def rcode_name(self) -> str:
        return rcode_name(self.rcode)

    def flag_names(self, protocol: str = "dns") -> list[str]:
        """The set header bits as dig prints them; LLMNR's C and T bits as ``c`` and ``t``."""
        bits: tuple[tuple[int, str], ...]
        if protocol == "llmnr":
            bits = ((QR, "qr"), (AA, "c"), (TC, "tc"), (RD, "t"))
        else:
            bits = ((QR, "qr"), (AA, "aa"), (TC, "tc"), (RD, "rd"), (RA, "ra"), (Z, "z"),
                    (AD, "ad"), (CD, "cd"))  # fmt: skip
        return [name for bit, name in bits if self.flags & bit]


def parse_dns(data: bytes, *, mdns: bool = False) -> DnsMessage:
    """Parse one DNS message (the UDP payload, or a TCP message without its length).

    With ``mdns`` the top bit of each class (mDNS unicast-response / cache-flush) is
    cleared. Raises DecodeError when the header or a question is unusable; a bad record
    sets ``error`` on the returned message instead (see :class:`DnsMessage`).
    """
    buf = Buffer(data)
    ident, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack(buf.pull_bytes(12))
    class_mask = 0x7FFF if mdns else 0xFFFF
    questions = []
    for _ in range(min(qdcount, MAX_RECORDS)):
        name = _name(buf)
        qtype, qclass = _QUESTION.unpack(buf.pull_bytes(4))
        questions.append(Question(name, qtype, qclass & class_mask))
    capped = qdcount > MAX_RECORDS
    sections: tuple[list[ResourceRecord], ...] = ([], [], [])
    error: DecodeError | None = None
    kept = len(questions)
    try:
        for records, count in zip(sections, (ancount, nscount, arcount), strict=True):
            for _ in range(count):
                if kept >= MAX_RECORDS:
                    capped = True
                    break
                rr, rdata_error = _read_record(buf, class_mask)
                records.append(rr)
                kept += 1
                if rdata_error is not None and error is None:
                    error = rdata_error
    except DecodeError as e:
        error = e
    edns = None
    for rr in sections[2]:
        if rr.rtype == T_OPT:
            edns = _edns(rr)
            break
    return DnsMessage(
        ident,
        flags,
        qdcount,
        ancount,
        nscount,
        arcount,
        tuple(questions),
        tuple(sections[0]),
        tuple(sections[1]),
        tuple(sections[2]),
        edns,
        error,
        capped,
    )


def _read_record(buf: Buffer, class_mask: int) -> tuple[ResourceRecord, DecodeError | None]:
    """One record; an RDATA that does not decode is kept in generic form with its error."""
    name = _name(buf)
    rtype, rclass, ttl, rdlength = _RECORD.unpack(buf.pull_bytes(10))
    start = buf.position
    error = None
    if rtype == T_A and rdlength == 4:  # the common case, without a nested window
        rdata = buf.pull_bytes(4)
        return ResourceRecord(name, rtype, rclass & class_mask, ttl, inet_ntoa(rdata), rdata), None
    with buf.restrict(rdlength):
        rdata = buf.data[start : start + rdlength]
        try:
            data = _rdata_text(buf, rtype, rclass, ttl)
            if buf.remaining:
                raise Malformed(
                    f"{buf.remaining} bytes after {type_name(rtype)} data", offset=start
                )
        except DecodeError as e:
            data, error = generic_rdata(rdata), e
    if rtype != T_OPT:
        rclass &= class_mask
    return ResourceRecord(name, rtype, rclass, ttl, data, rdata), error


def generic_rdata(rdata: bytes) -> str:
    """RFC 3597 presentation of RDATA nobody decodes: ``\\# <length> <hex>``."""
    return f"\\# {len(rdata)} {rdata.hex()}" if rdata else "\\# 0"


def _rdata_text(buf: Buffer, rtype: int, rclass: int, ttl: int) -> str:
    if rtype == T_A:
        return inet_ntoa(buf.pull_bytes(4))
    if rtype == T_AAAA:
        return str(ipaddress.IPv6Address(buf.pull_bytes(16)))
    if rtype in (T_NS, T_CNAME, T_PTR, T_DNAME):
        return _name(buf)
    if rtype == T_MX:
        preference = buf.pull_u16()
        return f"{preference} {_name(buf)}"
    if rtype == T_SRV:
        priority, weight, port = buf.pull_u16(), buf.pull_u16(), buf.pull_u16()
        return f"{priority} {weight} {port} {_name(buf)}"
    if rtype == T_SOA:
        mname, rname = _name(buf), _name(buf)
        numbers = " ".join(str(buf.pull_u32()) for _ in range(5))
        return f"{mname} {rname} {numbers}"
    if rtype in (T_TXT, T_SPF):
        strings = []
        while buf.remaining:
            strings.append(string_text(buf.pull_block(1)))
        return " ".join(strings)
    if rtype == T_OPT:
        return _opt_text(buf, rclass, ttl)
    return generic_rdata(buf.pull_rest())


def _opt_options(rdata: bytes) -> tuple[tuple[int, bytes], ...]:
    buf = Buffer(rdata)
    options = []
    while buf.remaining:
        code = buf.pull_u16()
        options.append((code, buf.pull_block(2)))
    return tuple(options)


def _opt_text(buf: Buffer, udp_size: int, ttl: int) -> str:
    options = _opt_options(buf.pull_rest())
    parts = [f"udp {udp_size}", f"version {(ttl >> 16) & 0xFF}"]
    if ttl & 0x8000:
        parts.append("flags do")
    if ttl >> 24:
        parts.append(f"extended-rcode {ttl >> 24}")
    parts.extend(_option_text(code, value) for code, value in options)
    return "; ".join(parts)


def _option_text(code: int, value: bytes) -> str:
    name = EDNS_OPTION_NAMES.get(code, f"OPT{code}")
    if code == 8 and len(value) >= 4:  # client subnet: family, source prefix, scope, address
        family, source, scope = int.from_bytes(value[:2], "big"), value[2], value[3]
        size = {1: 4, 2: 16}.get(family)
        if size is not None and len(value) - 4 <= size:
            raw = value[4:] + bytes(size - len(value) + 4)
            address = ipaddress.ip_address(raw)
            return f"ECS {address}/{source}/{scope}"
    if code == 12:
        return f"PADDING {len(value)}"
    if code == 15 and len(value) >= 2:
        text = value[2:].decode("utf-8", "replace")
        return f"EDE {int.from_bytes(value[:2], 'big')}" + (f" {text!r}" if text else "")
    return f"{name} {value.hex()}" if value else name


def _edns(rr: ResourceRecord) -> Edns:
    try:
        options = _opt_options(rr.rdata)
    except DecodeError:
        options = ()
    return Edns(
        udp_size=rr.rclass,
        extended_rcode=rr.ttl >> 24,
        version=(rr.ttl >> 16) & 0xFF,
        dnssec_ok=bool(rr.ttl & 0x8000),
        options=options,
    )


# ---------------------------------------------------------------- TCP framing


class DnsTcpFramer:
    """Cuts one direction of a DNS-over-TCP stream into messages (RFC 1035 4.2.2).

    Each message is preceded by its length in two bytes. Bytes are fed in order as they
    arrive (any split); complete messages come out in order. A gap inside a message whose
    length is known costs that message only (the framer skips to the next one); a gap
    where the next length is unknown loses the framing for good (``lost``).
    """

    __slots__ = ("_buffer", "_skip", "lost")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._skip = 0
        self.lost = False

    @property
    def pending(self) -> int:
        """Bytes held of an incomplete message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        if self.lost:
            return []
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        buffer = self._buffer
        buffer += data
        messages = []
        pos = 0
        while len(buffer) - pos >= 2:
            length = (buffer[pos] << 8) | buffer[pos + 1]
            if len(buffer) - pos - 2 < length:
                break
            messages.append(bytes(buffer[pos + 2 : pos + 2 + length]))
            pos += 2 + length
        if pos:
            del buffer[:pos]
        return messages

    def gap(self, length: int) -> bool:
        """``length`` bytes are missing; True while the framing survives."""
        if self.lost:
            return False
        if self._skip >= length:
            self._skip -= length
            return True
        length -= self._skip
        self._skip = 0
        buffer = self._buffer
        if len(buffer) >= 2:
            missing = 2 + ((buffer[0] << 8) | buffer[1]) - len(buffer)
            if length <= missing:
                self._skip = missing - length
                buffer.clear()
                return True
        self.lost = True
        buffer.clear()
        return False


# ---------------------------------------------------------------- dissectors

DNS_SCHEMA = Schema(
    "dns",
    "One DNS, mDNS or LLMNR message (UDP datagram or TCP message).",
    (
        Column("protocol", "category", "dns, mdns (UDP 5353) or llmnr (5355)"),
        Column("id", "Int32", "transaction id"),
        Column("response", "boolean", "true for a response (QR bit)"),
        Column("opcode", "category", "QUERY, NOTIFY, UPDATE, ... (OPCODE<n> if unknown)"),
        Column(
            "rcode",
            "category",
            "response code (NOERROR, NXDOMAIN, SERVFAIL, ...; extended by OPT); null for queries",
        ),
        Column("flags", "string", "the set header bits as dig prints them, e.g. 'qr rd ra'"),
        Column("aa", "boolean", "authoritative answer (null for LLMNR, where the bit is C)"),
        Column("tc", "boolean", "truncated: the answer did not fit (retry over TCP)"),
        Column("rd", "boolean", "recursion desired (null for LLMNR, where the bit is T)"),
        Column("ra", "boolean", "recursion available (null for LLMNR)"),
        Column("ad", "boolean", "authentic data (DNSSEC; null for LLMNR)"),
        Column("cd", "boolean", "checking disabled (DNSSEC; null for LLMNR)"),
        Column("qname", "string", "the (first) question's name, with its trailing dot"),
        Column("qtype", "category", "the (first) question's type: A, AAAA, SRV, PTR, ..."),
        Column("qclass", "category", "the (first) question's class, normally IN"),
        Column(
            "questions",
            "object",
            "every question as {name, type, class} when there is not exactly one; else null",
        ),
        Column(
            "answers",
            "object",
            "answer records: list of {name, type, class, ttl, data}; data in zone-file "
            "form (SRV '0 100 5061 pool01.contoso.local.', A '10.1.0.50', unknown types "
            "'\\# <len> <hex>'); rows of identical messages share these lists",
        ),
        Column("authorities", "object", "authority records (SOA of a negative answer), as answers"),
        Column("additionals", "object", "additional records, as answers (OPT included)"),
        Column("qdcount", "Int32", "questions announced in the header"),
        Column("ancount", "Int32", "answers announced in the header"),
        Column("nscount", "Int32", "authority records announced in the header"),
        Column("arcount", "Int32", "additional records announced in the header"),
        Column("edns_udp_size", "Int32", "UDP payload size the sender accepts (EDNS OPT)"),
        Column("edns_do", "boolean", "DNSSEC OK bit (EDNS OPT); null without OPT"),
        Column(
            "malformed",
            "string",
            "why the records stopped decoding (earlier ones are kept); null when clean",
        ),
    ),
    human=("frame", "ts", "src", "dst", "id", "qname", "qtype", "rcode", "answers"),
)

TRANSACTIONS_SCHEMA = Schema(
    "dns_transactions",
    "One question asked (with its retransmissions) and the response it got, if any.",
    (
        Column("protocol", "category", "dns, mdns or llmnr"),
        Column("transport", "category", "udp or tcp"),
        Column("flow", "Int64", "flow of the query (of the response when no query was seen)"),
        Column("client", "string", "who asked"),
        Column("server", "string", "who answered, or who was asked when nobody answered"),
        Column("id", "Int32", "transaction id"),
        Column("qname", "string", "the name asked for, with its trailing dot"),
        Column("qtype", "category", "the type asked for"),
        Column("query_frame", "Int64", "frame of the first query; null if only a response"),
        Column("query_ts", "datetime64[ns, UTC]", "time of the first query"),
        Column("response_frame", "Int64", "frame of the response; null when unanswered"),
        Column("response_ts", "datetime64[ns, UTC]", "time of the response"),
        Column(
            "latency_s",
            "Float64",
            "seconds from the first query to the response (what the client waited)",
        ),
        Column(
            "retransmissions",
            "Int32",
            "times the same query (same client, id and question) was sent again before an answer",
        ),
        Column("answered", "boolean", "true when a response came back"),
        Column("rcode", "category", "the response's code (NXDOMAIN, ...); null when unanswered"),
        Column("answers", "object", "the answer records' data, e.g. ['0 100 5061 pool01.x.']"),
        Column(
            "frames",
            "object",
            "every frame of the transaction: queries, retransmissions, response(s)",
        ),
    ),
    human=(
        "query_ts",
        "client",
        "server",
        "qname",
        "qtype",
        "answered",
        "rcode",
        "latency_s",
        "retransmissions",
        "answers",
    ),
    envelope=False,
)


def message_values(msg: DnsMessage, protocol: str) -> dict[str, Any]:
    """The ``dns`` row (without envelope) of one message."""
    first = msg.questions[0] if msg.questions else None
    llmnr = protocol == "llmnr"
    flags = msg.flags
    edns = msg.edns
    return {
        "protocol": protocol,
        "id": msg.id,
        "response": msg.response,
        "opcode": opcode_name(msg.opcode),
        "rcode": msg.rcode_name if msg.response else None,
        "flags": " ".join(msg.flag_names(protocol)),
        "aa": None if llmnr else bool(flags & AA),
        "tc": bool(flags & TC),
        "rd": None if llmnr else bool(flags & RD),
        "ra": None if llmnr else bool(flags & RA),
        "ad": None if llmnr else bool(flags & AD),
        "cd": None if llmnr else bool(flags & CD),
        "qname": first.name if first else None,
        "qtype": first.type_name if first else None,
        "qclass": class_name(first.qclass) if first else None,
        "questions": None if msg.qdcount == 1 else [q.as_dict() for q in msg.questions],
        "answers": [rr.as_dict() for rr in msg.answers],
        "authorities": [rr.as_dict() for rr in msg.authorities],
        "additionals": [rr.as_dict() for rr in msg.additionals],
        "qdcount": msg.qdcount,
        "ancount": msg.ancount,
        "nscount": msg.nscount,
        "arcount": msg.arcount,
        "edns_udp_size": edns.udp_size if edns else None,
        "edns_do": edns.dnssec_ok if edns else None,
        "malformed": str(msg.error) if msg.error is not None else None,
    }


# ---------------------------------------------------------------- fast path
#
# add_message runs once per DNS message of a capture, and nearly all of them are plain: a
# question, a few A/AAAA/SRV/SOA records, names uncompressed or pointing at an earlier
# name. For those, _fast_values builds the row straight from the bytes (struct.unpack_from
# into local variables, each name's text looked up rather than rebuilt), skipping the
# Buffer, the dataclasses and message_values in between: about 3x less work per message,
# 15x when the same message was seen before (_plain_values).
#
# It is not a second decoder: it returns None on anything it is not sure to render exactly
# as ``message_values(parse_dns(...))`` does (any error, a cap, a record type it leaves to
# _rdata_text that fails), and add_message then takes that careful path. Its bounds checks
# mirror read_name's and Buffer's; test_dns checks that both paths give the same row for
# generated, edge-case, cut, mutated and random messages.

#: Text of a run of uncompressed labels (their wire bytes, without the root label or the
#: pointer that ends the run). Captures repeat the same few names in message after
#: message; the cache is cleared when full.
_RUN_TEXT: dict[bytes, str] = {}
_RUN_TEXT_MAX = 4096


def _run_text(run: bytes) -> str:
    text = _RUN_TEXT.get(run)
    if text is None:
        labels = []
        pos = 0
        while pos < len(run):
            after = pos + 1 + run[pos]
            labels.append(run[pos + 1 : after])
            pos = after
        text = name_text(labels)
        if len(_RUN_TEXT) >= _RUN_TEXT_MAX:
            _RUN_TEXT.clear()
        _RUN_TEXT[run] = text
    return text


#: (text, octets, pointer hops) of the name that starts at an offset of the message.
_NameEntry = tuple[str, int, int]


def _fast_name(
    data: bytes, pos: int, end: int, names: dict[int, _NameEntry]
) -> tuple[str, int] | None:
    """:func:`read_name` + :func:`name_text` at ``pos`` -> (text, position after the name).

    None wherever read_name raises. name_text works label by label, so a name's text is
    the concatenation of its runs' texts (:func:`_run_text`), the root adding nothing.
    Names are remembered by start offset in ``names``: a pointer to an earlier name's
    start (``c00c``, the usual case) reuses its text. read_name would walk that name
    again to the same labels: it was checked from the same offset with the same pointer
    limit (its start), in a window no larger than the whole message.
    """
    start = limit = run = pos
    pieces: list[str] = []
    octets = 1  # the root label's length byte
    hops = 0
    resume = -1
    while True:
        if pos >= end:
            return None
        length = data[pos]
        if length < 0x40:
            if length:
                pos += 1 + length  # checked against end on the next turn
                continue
            if pos > run:
                pieces.append(_run_text(data[run:pos]))
                octets += pos - run
            pos += 1
            break
        if length < 0xC0 or pos + 1 >= end:
            return None
        target = ((length & 0x3F) << 8) | data[pos + 1]
        if target >= limit:
            return None
        if pos > run:
            pieces.append(_run_text(data[run:pos]))
            octets += pos - run
        hops += 1
        if resume < 0:
            resume = pos + 2
        known = names.get(target)
        if known is not None:
            known_text, known_octets, known_hops = known
            if known_text != ".":
                pieces.append(known_text)
            octets += known_octets - 1
            hops += known_hops
            break
        limit = pos = run = target
        end = len(data)
    if octets > MAX_NAME_OCTETS or hops > MAX_POINTER_HOPS:
        return None
    text = pieces[0] if len(pieces) == 1 else "".join(pieces) or "."
    names[start] = (text, octets, hops)
    return text, (resume if resume >= 0 else pos)


#: Per header flags word and protocol: the row's header columns (see _header_columns).
_HEADER_COLUMNS: dict[tuple[int, str], tuple[Any, ...]] = {}
_HEADER_KEYS = ("response", "opcode", "rcode", "flags", "aa", "tc", "rd", "ra", "ad", "cd")


def _header_columns(flags: int, protocol: str) -> tuple[Any, ...]:
    """The header's columns of the row, from message_values itself (rcode without EDNS)."""
    key = (flags, protocol)
    columns = _HEADER_COLUMNS.get(key)
    if columns is None:
        values = message_values(DnsMessage(0, flags, 0, 0, 0, 0, (), (), (), ()), protocol)
        columns = tuple(values[k] for k in _HEADER_KEYS)
        if len(_HEADER_COLUMNS) < 4096:  # 16 bits of flags x 3 protocols: keep the usual
            _HEADER_COLUMNS[key] = columns
    return columns


_NAME_RDATA = frozenset((T_NS, T_CNAME, T_PTR, T_DNAME))


def _fast_values(data: bytes, protocol: str) -> dict[str, Any] | None:
    """``message_values(parse_dns(data), protocol)`` for plain messages, else None."""
    size = len(data)
    if size < 12:
        return None
    ident, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
    if qdcount + ancount + nscount + arcount > MAX_RECORDS:
        return None
    class_mask = 0x7FFF if protocol == "mdns" else 0xFFFF
    names: dict[int, _NameEntry] = {}
    pos = 12
    questions = []
    for _ in range(qdcount):
        name = _fast_name(data, pos, size, names)
        if name is None or name[1] + 4 > size:
            return None
        qtype, qclass = _QUESTION.unpack_from(data, name[1])
        questions.append((name[0], qtype, qclass & class_mask))
        pos = name[1] + 4
    sections: tuple[list[dict[str, Any]], ...] = ([], [], [])
    edns: tuple[int, int] | None = None  # (UDP size, TTL field) of the first additional OPT
    if ancount or nscount or arcount:
        for records, count in zip(sections, (ancount, nscount, arcount), strict=True):
            for _ in range(count):
                name = _fast_name(data, pos, size, names)
                if name is None or name[1] + 10 > size:
                    return None
                owner, pos = name
                rtype, rclass, ttl, rdlength = _RECORD.unpack_from(data, pos)
                pos += 10
                end = pos + rdlength
                if end > size:
                    return None
                text: str | None
                if rtype == T_A:
                    text = inet_ntoa(data[pos:end]) if rdlength == 4 else None
                elif rtype in _NAME_RDATA:
                    name = _fast_name(data, pos, end, names)
                    text = name[0] if name is not None and name[1] == end else None
                elif rtype == T_SRV:
                    text = _fast_srv(data, pos, end, names)
                elif rtype == T_SOA:
                    text = _fast_soa(data, pos, end, names)
                else:
                    text = _careful_rdata(data, pos, end, rtype, rclass, ttl)
                if text is None:
                    return None
                pos = end
                if rtype == T_OPT:
                    if edns is None and records is sections[2]:
                        edns = (rclass, ttl)
                    records.append(
                        {"name": owner, "type": "OPT", "class": None, "ttl": None, "data": text}
                    )
                else:
                    records.append(
                        {
                            "name": owner,
                            "type": type_name(rtype),
                            "class": class_name(rclass & class_mask),
                            "ttl": ttl,
                            "data": text,
                        }
                    )
    response, opcode, rcode, flag_text, aa, tc, rd, ra, ad, cd = _header_columns(flags, protocol)
    if edns is not None and response:
        rcode = rcode_name((flags & 0xF) | ((edns[1] >> 24) << 4))
    qname = qtype = qclass = None
    if questions:
        qname, qtype, qclass = questions[0]
    return {
        "protocol": protocol,
        "id": ident,
        "response": response,
        "opcode": opcode,
        "rcode": rcode,
        "flags": flag_text,
        "aa": aa,
        "tc": tc,
        "rd": rd,
        "ra": ra,
        "ad": ad,
        "cd": cd,
        "qname": qname,
        "qtype": None if qtype is None else type_name(qtype),
        "qclass": None if qclass is None else class_name(qclass),
        "questions": None
        if qdcount == 1
        else [{"name": n, "type": type_name(t), "class": class_name(c)} for n, t, c in questions],
        "answers": sections[0],
        "authorities": sections[1],
        "additionals": sections[2],
        "qdcount": qdcount,
        "ancount": ancount,
        "nscount": nscount,
        "arcount": arcount,
        "edns_udp_size": None if edns is None else edns[0],
        "edns_do": None if edns is None else bool(edns[1] & 0x8000),
        "malformed": None,
    }


def _fast_srv(data: bytes, pos: int, end: int, names: dict[int, _NameEntry]) -> str | None:
    target = _fast_name(data, pos + 6, end, names) if end - pos > 6 else None
    if target is None or target[1] != end:
        return None
    priority, weight, port = _SRV_NUMBERS.unpack_from(data, pos)
    return f"{priority} {weight} {port} {target[0]}"


def _fast_soa(data: bytes, pos: int, end: int, names: dict[int, _NameEntry]) -> str | None:
    mname = _fast_name(data, pos, end, names)
    rname = _fast_name(data, mname[1], end, names) if mname is not None else None
    if mname is None or rname is None or rname[1] + 20 != end:
        return None
    numbers = " ".join(map(str, _SOA_NUMBERS.unpack_from(data, rname[1])))
    return f"{mname[0]} {rname[0]} {numbers}"


def _careful_rdata(
    data: bytes, pos: int, end: int, rtype: int, rclass: int, ttl: int
) -> str | None:
    """The RDATA of any other type through the careful code; None where it has an error."""
    buf = Buffer(data, pos)
    try:
        with buf.restrict(end - pos):
            text = _rdata_text(buf, rtype, rclass, ttl)
            if buf.remaining:
                return None
    except DecodeError:
        return None
    return text


#: Rows of recent plain messages, by protocol and the message's bytes after its ID. A
#: capture repeats the same messages again and again: a phone retries its lookups, every
#: phone on the VLAN asks for the same names, and the DC's DNS, authoritative for its zone,
#: answers them with the same TTLs. Only small messages; cleared when full.
_RECENT_ROWS: dict[tuple[str, bytes], dict[str, Any]] = {}
_RECENT_ROWS_MAX = 1024
_RECENT_MESSAGE_MAX = 512


def _plain_values(payload: bytes, protocol: str) -> dict[str, Any] | None:
    """:func:`_fast_values`, from the row of the same message seen recently if any.

    Rows of the same message share its lists of questions and records rather than each
    holding copies (14 MB on the benchmark capture's 51k messages): like every value of
    a table they are read, not changed.
    """
    if len(payload) > _RECENT_MESSAGE_MAX:
        return _fast_values(payload, protocol)
    key = (protocol, payload[2:])
    row = _RECENT_ROWS.get(key)
    if row is None:
        row = _fast_values(payload, protocol)
        if row is None:
            return None
        if len(_RECENT_ROWS) >= _RECENT_ROWS_MAX:
            _RECENT_ROWS.clear()
        _RECENT_ROWS[key] = row
    values = row.copy()
    values["id"] = (payload[0] << 8) | payload[1]
    return values


def add_message(sink: Sink, env: Envelope, payload: bytes, protocol: str) -> None:
    """Parse one message and add its row (and weird rows for what went wrong in it)."""
    values = _plain_values(payload, protocol)
    if values is not None:
        sink.add_row("dns", env, values)
        return
    msg = parse_dns(payload, mdns=protocol == "mdns")
    sink.add_row("dns", env, message_values(msg, protocol))
    if msg.error is not None:
        sink.malformed("dns", env, msg.error)
    if msg.capped:
        sink.note(
            Weird(
                "dns_record_cap",
                frame=env.frame,
                flow=env.flow,
                detail=f"records beyond {MAX_RECORDS} not decoded",
            )
        )


def _protocol(ports: dict[int, str], sport: int | None, dport: int | None) -> str:
    # mDNS and LLMNR first: a one-shot mDNS query goes from an ephemeral port to 5353.
    for port in (MDNS_PORT, LLMNR_PORT):
        if (sport == port or dport == port) and port in ports:
            return ports[port]
    return "dns"


class DnsDatagramDissector:
    """DNS on UDP 53, mDNS on 5353, LLMNR on 5355."""

    name: ClassVar[str] = "dns"

    def wants(self, flow: FlowInfo) -> bool:
        return flow.sport in UDP_PORTS or flow.dport in UDP_PORTS

    def datagram(self, env: Envelope, payload: bytes, sink: Sink) -> None:
        add_message(sink, env, payload, _protocol(UDP_PORTS, env.sport, env.dport))


class DnsStreamSession:
    """One TCP connection carrying DNS (or LLMNR) messages in both directions."""

    def __init__(self, sink: Sink, protocol: str) -> None:
        self.sink = sink
        self.protocol = protocol
        self.framers = (DnsTcpFramer(), DnsTcpFramer())

    def data(self, direction: int, data: bytes, env: Envelope) -> bool:
        for message in self.framers[direction].feed(data):
            try:
                add_message(self.sink, env, message, self.protocol)
            except DecodeError as e:
                # The length framing is intact: lose this message only.
                self.sink.malformed("dns", env, e)
        return not all(f.lost for f in self.framers)

    def gap(self, direction: int, length: int, env: Envelope) -> bool:
        framer = self.framers[direction]
        if not framer.lost:
            kept = framer.gap(length)
            self.sink.note(
                Weird(
                    "dns_tcp_gap" if kept else "dns_tcp_framing_lost",
                    frame=env.frame,
                    flow=env.flow,
                    detail=f"{length} bytes missing"
                    + ("" if kept else "; rest of this direction skipped"),
                )
            )
        return not all(f.lost for f in self.framers)

    def close(self, env: Envelope | None) -> None:
        for framer in self.framers:
            if framer.pending and not framer.lost and env is not None:
                self.sink.note(
                    Weird(
                        "dns_tcp_incomplete",
                        frame=env.frame,
                        flow=env.flow,
                        detail=f"{framer.pending} bytes of an unfinished message",
                    )
                )


class DnsStreamDissector:
    """DNS over TCP 53 and LLMNR over TCP 5355 (claimed by port only)."""

    name: ClassVar[str] = "dns"

    def wants(self, flow: FlowInfo) -> bool:
        return flow.sport in TCP_PORTS or flow.dport in TCP_PORTS

    def sniff(self, direction: int, head: bytes) -> bool | None:
        return False

    def session(self, flow: FlowInfo, sink: Sink) -> DnsStreamSession:
        return DnsStreamSession(sink, _protocol(TCP_PORTS, flow.sport, flow.dport))


# ---------------------------------------------------------------- transactions

#: A query repeated (same client, id and question) within this many seconds of the last
#: copy, before any answer, is a retransmission; later, it is a new transaction.
RETRANSMISSION_WINDOW_S = 10.0
MDNS_GROUPS = {"224.0.0.251", "ff02::fb"}


#: A transaction while queries and responses are matched: a list (a capture has one per
#: query, so the cheapest container) whose slots are the ``dns_transactions`` columns but
#: latency_s and answered, in this order, then the time of the last copy of the query.
_Transaction = list[Any]
_SLOTS = (
    "protocol", "transport", "flow", "client", "server", "id", "qname", "qtype",
    "query_frame", "query_ts", "response_frame", "response_ts", "retransmissions", "rcode",
    "answers", "frames",
)  # fmt: skip
(
    _PROTOCOL, _TRANSPORT, _FLOW, _CLIENT, _SERVER, _ID, _QNAME, _QTYPE, _QUERY_FRAME,
    _QUERY_TS, _RESPONSE_FRAME, _RESPONSE_TS, _RETRANSMISSIONS, _RCODE, _ANSWERS, _FRAMES,
    _LAST_QUERY_TS,
) = range(len(_SLOTS) + 1)  # fmt: skip


def _transactions_table(done: list[_Transaction]) -> pd.DataFrame:
    """The ``dns_transactions`` table of the matched transactions, in creation order."""
    if not done:
        return TRANSACTIONS_SCHEMA.frame([])
    # Every slot but the last (the last query's time) is a column.
    slots = zip(*done, strict=True)
    columns: dict[str, Sequence[Any]] = dict(zip(_SLOTS, slots, strict=False))
    columns["answered"] = [t[_RESPONSE_FRAME] is not None for t in done]
    columns["latency_s"] = [
        (t[_RESPONSE_TS] - t[_QUERY_TS]) / 1e9
        if t[_RESPONSE_FRAME] is not None
        and t[_QUERY_TS] is not None
        and t[_RESPONSE_TS] is not None
        else None
        for t in done
    ]
    return TRANSACTIONS_SCHEMA.from_columns(columns, len(done))


def _questions_of(
    questions: Any, qname: str | None, qtype: str | None
) -> list[tuple[str | None, str | None]]:
    """A row's questions as (name, type); ``qname``/``qtype`` are its first, as text."""
    if questions is None or (isinstance(questions, float) and pd.isna(questions)):
        return [(qname, qtype)]
    return [(q["name"], q["type"]) for q in questions] or [(None, None)]


def _texts(column: pd.Series) -> list[str | None]:
    """Every value of ``column`` as text, None where it is missing."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        # One str() per category rather than per row; code -1 (missing) picks the None.
        texts = np.array([*map(str, column.cat.categories), None], dtype=object)
        by_row: list[str | None] = texts[column.cat.codes.to_numpy()].tolist()
        return by_row
    return [
        None if missing else str(value)
        for value, missing in zip(column.tolist(), column.isna().tolist(), strict=True)
    ]


def derive_transactions(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Match queries with responses: the ``dns_transactions`` table.

    A query is keyed by (transport, client address and port, id, question; the TCP
    connection too). A response is matched on the same key seen from the other side, so
    LLMNR answers (unicast, to the multicast query's sender) match as well; when its
    question does not match (a FORMERR without question) it falls back to the latest
    unanswered query with its id. An mDNS response sent to the multicast group answers
    the earliest unanswered mDNS query for one of its records' name and type. Responses
    that match no query (the capture began after it) get a row of their own, except mDNS
    announcements.
    """
    dns = tables.get("dns")
    if dns is None or dns.empty:
        return {"dns_transactions": TRANSACTIONS_SCHEMA.frame([])}
    # The matching allocates a few small containers per row (never a cycle): without the
    # pause, collections scanning the capture's tables took 40% of its time.
    with collector_paused():
        return {"dns_transactions": _transactions_table(_match(dns))}


def _match(dns: pd.DataFrame) -> list[_Transaction]:
    """The transactions of ``dns_transactions`` (see :func:`derive_transactions`)."""
    # Time order, not frame order: a capture merged from two taps can list a response
    # before its query.
    view = dns.sort_values(["ts", "frame"], kind="stable")
    done: list[_Transaction] = []
    pending: dict[tuple[Any, ...], _Transaction] = {}
    by_id: dict[tuple[Any, ...], _Transaction] = {}
    mdns_pending: dict[tuple[str, str], list[_Transaction]] = {}
    window_ns = RETRANSMISSION_WINDOW_S * 1e9
    # The loop reads plain Python lists, one per column: per-row pandas access
    # (itertuples, .iloc) would cost several times the matching itself.
    columns = zip(
        view["frame"].tolist(),
        epoch_ns(view["ts"]),
        view["flow"].tolist(),
        view["src"].tolist(),
        view["sport"].tolist(),
        view["dst"].tolist(),
        view["dport"].tolist(),
        _texts(view["transport"]),
        _texts(view["protocol"]),
        view["id"].tolist(),
        view["response"].tolist(),
        _texts(view["rcode"]),
        _texts(view["qname"]),
        _texts(view["qtype"]),
        view["questions"].tolist(),
        view["answers"].tolist(),
        strict=True,
    )
    for (
        frame, ts, flow, src, sport, dst, dport, transport, protocol, ident, response, rcode,
        qname, qtype, questions, records,
    ) in columns:  # fmt: skip
        frame, ident = int(frame), int(ident)
        conn = flow if transport == "tcp" else None
        if type(questions) is list and len(questions) == 1:  # the common case, inline
            asked = [(questions[0]["name"], questions[0]["type"])]
        else:
            asked = _questions_of(questions, qname, qtype)
        if not response:
            endpoint = (transport, conn, src, sport, ident)
            for name, rtype in asked:
                key = (*endpoint, (name or "").lower(), rtype)
                txn = pending.get(key)
                if (
                    txn is not None
                    and txn[_RESPONSE_FRAME] is None
                    and (ts - txn[_LAST_QUERY_TS]) <= window_ns
                ):
                    txn[_RETRANSMISSIONS] += 1
                    txn[_LAST_QUERY_TS] = ts
                    txn[_FRAMES].append(frame)
                    continue
                txn = [
                    protocol, transport, int(flow), str(src), str(dst), ident, name, rtype,
                    frame, ts, None, None, 0, None, [], [frame], ts,
                ]  # fmt: skip
                pending[key] = by_id[endpoint] = txn
                done.append(txn)
                if protocol == "mdns" and name is not None and rtype is not None:
                    mdns_pending.setdefault((name.lower(), rtype), []).append(txn)
            continue
        answers = [a["data"] for a in records] if type(records) is list else []
        endpoint = (transport, conn, dst, dport, ident)
        matched: list[_Transaction] = []
        for name, rtype in asked:
            txn = pending.get((*endpoint, (name or "").lower(), rtype))
            if txn is not None and txn not in matched:
                matched.append(txn)
        if not matched:
            txn = by_id.get(endpoint)
            if txn is not None and txn[_RESPONSE_FRAME] is None:
                matched.append(txn)
        if not matched and protocol == "mdns" and str(dst) in MDNS_GROUPS:
            matched = _mdns_match(mdns_pending, records)
        for txn in matched:
            txn[_FRAMES].append(frame)
            if txn[_RESPONSE_FRAME] is None:
                txn[_RESPONSE_FRAME], txn[_RESPONSE_TS] = frame, ts
                txn[_SERVER] = str(src)
                txn[_RCODE] = rcode
                txn[_ANSWERS] = answers
        if not matched and protocol != "mdns":
            name, rtype = asked[0]
            done.append(
                [
                    protocol, transport, int(flow), str(dst), str(src), ident, name, rtype,
                    None, None, frame, ts, 0, rcode, answers, [frame], 0,
                ]
            )  # fmt: skip
    return done


def _mdns_match(
    pending: dict[tuple[str, str], list[_Transaction]], answers: Any
) -> list[_Transaction]:
    if not isinstance(answers, list):
        return []
    for record in answers:
        for qtype in (record["type"], "ANY"):
            waiting = pending.get((str(record["name"]).lower(), qtype))
            while waiting:
                txn = waiting.pop(0)
                if txn[_RESPONSE_FRAME] is None:
                    return [txn]
    return []


PROTOCOL = ProtocolModule(
    name="dns",
    doc="DNS (UDP/TCP 53), mDNS (UDP 5353) and LLMNR (UDP/TCP 5355)",
    schemas=(DNS_SCHEMA,),
    datagram=DnsDatagramDissector(),
    stream=DnsStreamDissector(),
    derived=(TRANSACTIONS_SCHEMA,),
    derive=derive_transactions,
)

"""DHCP and BOOTP (RFC 951, 2131, 2132) over UDP 67/68: what each phone was told.

A desk phone takes its address, DNS servers (6), domain (15), search list (119) and NTP
servers (42) from DHCP; Lync Phone Edition then sends DHCPINFORM with vendor class (60)
``MS-UC-Client`` for the certificate provisioning URL (43, sub-options 1-5) and the SIP
server (120), and with ``CPE-OCPHONE`` for the voice VLAN (43, sub-option 10). An INFORM
answered without 43 or 120 is one of the failure classes the diagnosis looks for.

Two tables: ``dhcp`` (one row per message) and ``dhcp_clients`` (one row per client MAC:
what it asked for and what it was told).

>>> msg = parse_dhcp(bytes([1, 1, 6, 0]) + bytes.fromhex("d129b552") + bytes(228)
...                  + MAGIC_COOKIE + bytes.fromhex("350101" "0c03" "50484f" "ff"))
>>> msg.op, hex(msg.xid), msg.message_type_name, msg.option(12)
(1, '0xd129b552', 'DISCOVER', b'PHO')
"""

from __future__ import annotations

import socket
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd

from analyzer.capture.pipeline import FlowInfo
from analyzer.errors import DecodeError, Malformed, Truncated, Weird
from analyzer.protocols.base import Column, Envelope, Schema, Sink
from analyzer.protocols.buffer import Buffer
from analyzer.protocols.registry import ProtocolModule

SERVER_PORT = 67
CLIENT_PORT = 68
_PORTS = frozenset((SERVER_PORT, CLIENT_PORT))
MAGIC_COOKIE = b"\x63\x82\x53\x63"
#: op(1) htype(1) hlen(1) hops(1) xid(4) secs(2) flags(2) ciaddr yiaddr siaddr giaddr(16)
#: chaddr(16) sname(64) file(128): the fixed BOOTP header before the vendor area.
HEADER_LEN = 236
BROADCAST_FLAG = 0x8000
PAD, END = 0, 255
OVERLOAD_FILE, OVERLOAD_SNAME = 1, 2
#: Option instances kept per message (a 1500-byte datagram holds at most ~750).
MAX_OPTIONS = 512
#: Names decoded from one option 119 / 120 value.
MAX_NAMES = 64
#: (client MAC, xid) -> vendor class entries kept to decode option 43 in replies.
MAX_VENDOR_CLASS_ENTRIES = 4096

MS_UC_CLIENT = "MS-UC-Client"
CPE_OCPHONE = "CPE-OCPHONE"

MESSAGE_TYPES = {
    1: "DISCOVER",
    2: "OFFER",
    3: "REQUEST",
    4: "DECLINE",
    5: "ACK",
    6: "NAK",
    7: "RELEASE",
    8: "INFORM",
    9: "FORCERENEW",
    10: "LEASEQUERY",
    11: "LEASEUNASSIGNED",
    12: "LEASEUNKNOWN",
    13: "LEASEACTIVE",
    14: "BULKLEASEQUERY",
    15: "LEASEQUERYDONE",
    16: "ACTIVELEASEQUERY",
    17: "LEASEQUERYSTATUS",
    18: "TLS",
}

#: IANA "BOOTP Vendor Extensions and DHCP Options" names (the common ones; others "unknown").
OPTION_NAMES = {
    1: "subnet_mask",
    2: "time_offset",
    3: "router",
    4: "time_server",
    5: "name_server",
    6: "domain_name_server",
    7: "log_server",
    9: "lpr_server",
    12: "host_name",
    13: "boot_file_size",
    15: "domain_name",
    17: "root_path",
    19: "ip_forwarding",
    23: "default_ip_ttl",
    26: "interface_mtu",
    28: "broadcast_address",
    31: "router_discovery",
    33: "static_route",
    35: "arp_cache_timeout",
    40: "nis_domain",
    41: "nis_servers",
    42: "ntp_servers",
    43: "vendor_specific",
    44: "netbios_name_server",
    45: "netbios_dd_server",
    46: "netbios_node_type",
    47: "netbios_scope",
    50: "requested_ip_address",
    51: "ip_address_lease_time",
    52: "option_overload",
    53: "dhcp_message_type",
    54: "server_identifier",
    55: "parameter_request_list",
    56: "message",
    57: "maximum_dhcp_message_size",
    58: "renewal_time",
    59: "rebinding_time",
    60: "vendor_class_identifier",
    61: "client_identifier",
    64: "nisplus_domain",
    65: "nisplus_servers",
    66: "tftp_server_name",
    67: "bootfile_name",
    69: "smtp_server",
    77: "user_class",
    80: "rapid_commit",
    81: "client_fqdn",
    82: "relay_agent_information",
    93: "client_system_architecture",
    94: "client_network_interface",
    97: "client_machine_identifier",
    116: "auto_configure",
    118: "subnet_selection",
    119: "domain_search",
    120: "sip_servers",
    121: "classless_static_route",
    125: "vendor_identifying_vendor_specific",
    150: "tftp_server_address",
    249: "ms_classless_static_route",
    252: "wpad_url",
}

#: Option 43 sub-options of vendor class MS-UC-Client (Lync/OCS certificate provisioning).
MS_UC_SUBOPTIONS = {1: "identifier", 2: "protocol", 3: "web_server", 4: "port", 5: "path"}

# Control characters in hostile names must not reach a terminal as such.
_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}


@dataclass(frozen=True, slots=True)
class DhcpOption:
    """One option instance as on the wire; ``field`` is where it was found: ``options``,
    or ``file`` / ``sname`` when option 52 overloads those header fields."""

    code: int
    data: bytes
    field: str = "options"

    @property
    def name(self) -> str:
        return OPTION_NAMES.get(self.code, "unknown")


@dataclass(frozen=True, slots=True)
class DhcpMessage:
    """One BOOTP/DHCP message: the fixed header, and its options in wire order.

    ``problems`` lists what was wrong but did not stop the decoding (an option running
    past the end of its field, a missing End option, a bad overload value); the options
    before the problem are kept. ``vendor_area`` holds the bytes after the header when
    they do not start with the DHCP magic cookie (plain BOOTP).
    """

    op: int
    htype: int
    hlen: int
    hops: int
    xid: int
    secs: int
    flags: int
    ciaddr: str
    yiaddr: str
    siaddr: str
    giaddr: str
    chaddr: bytes
    sname: bytes
    file: bytes
    dhcp: bool
    options: tuple[DhcpOption, ...]
    overload: int | None
    vendor_area: bytes | None
    problems: tuple[str, ...]

    def option(self, code: int) -> bytes | None:
        """The value of option ``code``: all its instances concatenated (RFC 3396), in the
        order options, file, sname; None when absent."""
        parts = [o.data for o in self.options if o.code == code]
        return b"".join(parts) if parts else None

    @property
    def broadcast(self) -> bool:
        return bool(self.flags & BROADCAST_FLAG)

    @property
    def message_type(self) -> int | None:
        """Option 53, or None for BOOTP (no option 53)."""
        value = self.option(53)
        return value[0] if value else None

    @property
    def message_type_name(self) -> str | None:
        """DISCOVER, OFFER, ...; ``BOOTP`` without option 53; None when 53 is empty."""
        value = self.option(53)
        if value is None:
            return "BOOTP"
        if not value:
            return None
        return MESSAGE_TYPES.get(value[0], f"unknown({value[0]})")

    @property
    def client_mac(self) -> str | None:
        """chaddr in colon hex: 6 bytes for Ethernet, else ``hlen`` bytes (at most 16)."""
        n = 6 if self.htype == 1 and self.hlen == 6 else min(self.hlen, 16)
        return ":".join(f"{b:02x}" for b in self.chaddr[:n]) or None


@dataclass(frozen=True, slots=True)
class SipServers:
    """Option 120 (RFC 3361): encoding 0 = domain names, 1 = IPv4 addresses."""

    encoding: int
    servers: tuple[str, ...]


def text(raw: bytes) -> str:
    """Option or header text for display: trailing NULs dropped, invalid UTF-8 and
    control characters backslash-escaped.

    >>> text(b"pool01\\x1b[2J\\x00")
    'pool01\\\\x1b[2J'
    """
    return raw.rstrip(b"\x00").decode("utf-8", "backslashreplace").translate(_ESCAPES)


def _ipv4(raw: bytes) -> str:
    return socket.inet_ntoa(raw)


def parse_dhcp(data: bytes) -> DhcpMessage:
    """Parse one BOOTP/DHCP message; raise DecodeError when the header is incomplete or
    ``op`` is neither request (1) nor reply (2)."""
    buf = Buffer(data)
    op = buf.pull_u8()
    if op not in (1, 2):
        raise Malformed(f"BOOTP op {op} is neither request nor reply", offset=0)
    htype = buf.pull_u8()
    hlen = buf.pull_u8()
    hops = buf.pull_u8()
    xid = buf.pull_u32()
    secs = buf.pull_u16()
    flags = buf.pull_u16()
    ciaddr, yiaddr, siaddr, giaddr = (_ipv4(buf.pull_bytes(4)) for _ in range(4))
    chaddr = buf.pull_bytes(16)
    sname = buf.pull_bytes(64)
    file = buf.pull_bytes(128)
    problems: list[str] = []
    if hlen > 16:
        problems.append(f"hardware address length {hlen} exceeds the 16-byte chaddr field")
    rest = buf.pull_rest()
    if rest[:4] != MAGIC_COOKIE:
        return DhcpMessage(
            op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr,
            chaddr, sname, file, False, (), None, rest or None, tuple(problems),
        )  # fmt: skip
    options: list[DhcpOption] = []
    _parse_options(rest[4:], "options", HEADER_LEN + 4, options, problems)
    overload = None
    main = [o for o in options if o.code == 52]
    if main:
        overload = main[0].data[0] if main[0].data else None
        if overload not in (1, 2, 3):
            problems.append(f"option overload value {overload} is not 1, 2 or 3")
        else:
            # RFC 2131 4.1: the file field is read before the sname field.
            if overload & OVERLOAD_FILE:
                _parse_options(file, "file", 108, options, problems)
            if overload & OVERLOAD_SNAME:
                _parse_options(sname, "sname", 44, options, problems)
    if any(o.code == 52 and o.field != "options" for o in options):
        problems.append("option overload inside an overloaded field (ignored)")
    return DhcpMessage(
        op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr,
        chaddr, sname, file, True, tuple(options), overload, None, tuple(problems),
    )  # fmt: skip


def _parse_options(
    data: bytes, field: str, base: int, out: list[DhcpOption], problems: list[str]
) -> None:
    """Options of one field up to End; a truncated option ends the field with a problem."""
    buf = Buffer(data)
    while not buf.eof():
        at = base + buf.position
        code = buf.pull_u8()
        if code == PAD:
            continue
        if code == END:
            return
        if len(out) >= MAX_OPTIONS:
            problems.append(f"more than {MAX_OPTIONS} options; the rest ignored")
            return
        try:
            value = buf.pull_block(1)
        except Truncated:
            problems.append(f"option {code} at offset {at} runs past the end of {field}")
            return
        out.append(DhcpOption(code, value, field))
    problems.append(f"no End option in {field}")


def encode_options(options: Iterable[tuple[int, bytes]]) -> bytes:
    """Options as wire bytes (no End); a value over 255 bytes is split into several
    instances of the same code (RFC 3396). The inverse of the option parsing."""
    out = bytearray()
    for code, value in options:
        if code in (PAD, END):
            raise ValueError(f"option code {code} carries no value")
        chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [b""]
        for chunk in chunks:
            out += bytes([code, len(chunk)]) + chunk
    return bytes(out)


# ------------------------------------------------------------------ option values


def ipv4_list(data: bytes) -> list[str]:
    """A list of IPv4 addresses (options 3, 6, 42, ...)."""
    if not data or len(data) % 4:
        raise Malformed(f"{len(data)} bytes is not a list of IPv4 addresses")
    return [_ipv4(data[i : i + 4]) for i in range(0, len(data), 4)]


def ipv4_address(data: bytes) -> str:
    if len(data) != 4:
        raise Malformed(f"{len(data)} bytes is not an IPv4 address")
    return _ipv4(data)


def uint32(data: bytes) -> int:
    if len(data) != 4:
        raise Malformed(f"{len(data)} bytes is not a 32-bit integer")
    return int.from_bytes(data, "big")


def domain_list(data: bytes) -> list[str]:
    """RFC 1035 names one after another (option 119, RFC 3397; option 120 encoding 0):
    compression pointers are offsets into ``data`` and may only point backwards."""
    names: list[str] = []
    pos = 0
    while pos < len(data):
        if len(names) >= MAX_NAMES:
            raise Malformed(f"more than {MAX_NAMES} names", offset=pos)
        name, pos = _read_name(data, pos)
        names.append(name)
    return names


def _read_name(data: bytes, start: int) -> tuple[str, int]:
    labels: list[str] = []
    pos, after, limit, length = start, -1, start, 0
    while True:
        if pos >= len(data):
            raise Truncated(f"name at offset {start} runs past the end", offset=pos)
        n = data[pos]
        if n == 0:
            return ".".join(labels), (pos + 1 if after < 0 else after)
        if n & 0xC0 == 0xC0:
            if pos + 1 >= len(data):
                raise Truncated("compression pointer cut short", offset=pos)
            target = (n & 0x3F) << 8 | data[pos + 1]
            if after < 0:
                after = pos + 2
            # Each jump must land strictly before the previous one: no loops.
            if target >= limit:
                raise Malformed(f"compression pointer to {target} is not backwards", offset=pos)
            pos = limit = target
            continue
        if n & 0xC0:
            raise Malformed(f"label type {n >> 6:#x}", offset=pos)
        label = data[pos + 1 : pos + 1 + n]
        if len(label) < n:
            raise Truncated(f"label at offset {pos} runs past the end", offset=pos)
        length += n + 1
        if length > 255:
            raise Malformed("name longer than 255 bytes", offset=pos)
        labels.append(text(label).replace(".", "\\."))
        pos += 1 + n


def sip_servers(data: bytes) -> SipServers:
    """Option 120 (RFC 3361); name compression pointers count from the first name."""
    if not data:
        raise Truncated("empty SIP servers option")
    encoding, body = data[0], data[1:]
    if encoding == 0:
        return SipServers(0, tuple(domain_list(body)))
    if encoding == 1:
        return SipServers(1, tuple(ipv4_list(body)))
    raise Malformed(f"SIP servers encoding {encoding}", offset=0)


def suboptions(data: bytes) -> list[tuple[int, bytes]]:
    """Encapsulated vendor options (option 43, RFC 2132 8.4): code/length/value, with
    Pad and End as in the options field."""
    out: list[tuple[int, bytes]] = []
    buf = Buffer(data)
    while not buf.eof():
        code = buf.pull_u8()
        if code == PAD:
            continue
        if code == END:
            break
        out.append((code, buf.pull_block(1)))
    return out


def vendor_specific(vendor_class: str | None, data: bytes) -> dict[str, str | int] | None:
    """Option 43 decoded for the vendor classes this analyzer knows, else None (raw).

    ``MS-UC-Client``: sub-options 1-5 as text under ``identifier``, ``protocol``,
    ``web_server``, ``port``, ``path``. ``CPE-OCPHONE``: sub-option 10 as ``voice_vlan``.
    Other sub-options are kept as hex under their number.
    """
    if vendor_class not in (MS_UC_CLIENT, CPE_OCPHONE):
        return None
    out: dict[str, str | int] = {}
    for code, value in suboptions(data):
        if vendor_class == MS_UC_CLIENT and code in MS_UC_SUBOPTIONS:
            out[MS_UC_SUBOPTIONS[code]] = text(value)
        elif vendor_class == CPE_OCPHONE and code == 10:
            if not 1 <= len(value) <= 2:
                raise Malformed(f"voice VLAN sub-option of {len(value)} bytes")
            out["voice_vlan"] = int.from_bytes(value, "big")
        else:
            out[str(code)] = value.hex()
    return out


def provisioning_url(vendor: dict[str, Any] | None) -> str | None:
    """The certificate provisioning URL from MS-UC-Client sub-options 2-5.

    >>> provisioning_url({"protocol": "https", "web_server": "lyncweb.contoso.local",
    ...                   "port": "443", "path": "/CertProv/CertProvisioningService.svc"})
    'https://lyncweb.contoso.local:443/CertProv/CertProvisioningService.svc'
    """
    if not vendor or not vendor.get("web_server"):
        return None
    url = f"{vendor.get('protocol') or 'https'}://{vendor['web_server']}"
    if vendor.get("port"):
        url += f":{vendor['port']}"
    path = str(vendor.get("path") or "")
    return url + (path if path.startswith("/") else "/" + path)


# ------------------------------------------------------------------ tables

DHCP_SCHEMA = Schema(
    "dhcp",
    "One BOOTP/DHCP message (UDP 67/68).",
    (
        Column("op", "category", "request (client or relay to server) or reply"),
        Column(
            "message_type",
            "category",
            "DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM, ... (option 53); "
            "BOOTP when option 53 is absent",
        ),
        Column("xid", "string", "transaction id, hex (0x...)"),
        Column("secs", "Int32", "seconds since the client began acquiring"),
        Column("broadcast", "boolean", "broadcast flag: the client wants replies broadcast"),
        Column("hops", "Int16", "relay hops"),
        Column("client_mac", "string", "chaddr, colon hex"),
        Column("ciaddr", "string", "client address the client already has (renew, INFORM)"),
        Column("yiaddr", "string", "address offered or assigned by the server"),
        Column("siaddr", "string", "next server (boot server) address"),
        Column("giaddr", "string", "relay agent address (0.0.0.0 when not relayed)"),
        Column("sname", "string", "server host name field, when set and not overloaded"),
        Column("file", "string", "boot file name field, when set and not overloaded"),
        Column("hostname", "string", "option 12"),
        Column("requested_address", "string", "option 50"),
        Column("server_id", "string", "option 54: the DHCP server's identifier"),
        Column("lease_time_s", "Int64", "option 51, seconds"),
        Column("parameter_request_list", "object", "option 55: list of option codes"),
        Column("vendor_class", "string", "option 60, text"),
        Column("client_id", "string", "option 61, hex (type byte first)"),
        Column("subnet_mask", "string", "option 1"),
        Column("routers", "object", "option 3: list of addresses"),
        Column("dns_servers", "object", "option 6: list of addresses"),
        Column("domain", "string", "option 15"),
        Column("ntp_servers", "object", "option 42: list of addresses"),
        Column("vendor_specific_hex", "string", "option 43, raw hex"),
        Column(
            "vendor_specific_class",
            "string",
            "vendor class governing option 43: for a reply, the one the client sent in "
            "its request with the same xid, else the reply's own option 60",
        ),
        Column(
            "vendor_specific",
            "object",
            "option 43 decoded when the governing vendor class is MS-UC-Client "
            "(identifier, protocol, web_server, port, path) or CPE-OCPHONE (voice_vlan); "
            "other sub-options as hex under their number",
        ),
        Column("tftp_server", "string", "option 66"),
        Column("domain_search", "object", "option 119: list of domains"),
        Column("sip_server_encoding", "Int8", "option 120 encoding: 0 names, 1 addresses"),
        Column("sip_servers", "object", "option 120: list of names or addresses"),
        Column("wpad_url", "string", "option 252"),
        Column("message", "string", "option 56: server's error text (e.g. in a NAK)"),
        Column("overload", "Int8", "option 52: 1 file, 2 sname, 3 both hold options"),
        Column(
            "options",
            "object",
            "every option instance in wire order: list of {code, name, hex, field}; field "
            "is options, file or sname",
        ),
        Column("vendor_area_hex", "string", "BOOTP vendor area without the DHCP magic cookie"),
    ),
    human=(
        "frame",
        "ts",
        "src",
        "dst",
        "message_type",
        "xid",
        "client_mac",
        "yiaddr",
        "hostname",
        "vendor_class",
    ),
)

CLIENTS_SCHEMA = Schema(
    "dhcp_clients",
    "One DHCP client (by MAC): what it asked for and what the servers told it.",
    (
        Column("client_mac", "string", "chaddr, colon hex"),
        Column("hostname", "string", "last option 12 the client sent"),
        Column("vendor_class", "string", "last option 60 the client sent"),
        Column("messages", "Int64", "messages to and from this client"),
        Column("first_frame", "Int64", "its first DHCP message"),
        Column("last_frame", "Int64", "its last DHCP message"),
        Column("assigned_address", "string", "yiaddr of the last ACK that assigned one"),
        Column("dhcp_server", "string", "server id (or source) of that ACK, else the last ACK"),
        Column("lease_time_s", "Int64", "lease time of that ACK"),
        Column(
            "dns_servers",
            "object",
            "what the client was told (here and below): the last ACK carrying the option, "
            "else the last OFFER",
        ),
        Column("domain", "string", "option 15"),
        Column("search_list", "object", "option 119"),
        Column("ntp_servers", "object", "option 42"),
        Column("routers", "object", "option 3"),
        Column("sip_servers", "object", "option 120"),
        Column(
            "provisioning_url",
            "string",
            "certificate provisioning URL from option 43 (MS-UC-Client sub-options 2-5)",
        ),
        Column("voice_vlan", "Int32", "option 43 sub-option 10 (CPE-OCPHONE)"),
        Column("informs", "Int64", "INFORMs sent (distinct xids)"),
        Column("informs_answered", "Int64", "of those, answered by an ACK with the same xid"),
        Column(
            "inform_missing_43",
            "boolean",
            "the client asked for 43 in an INFORM and no answer to such an INFORM carried "
            "it (true also when none was answered); false when it never asked; null when "
            "it sent no INFORM",
        ),
        Column("inform_missing_120", "boolean", "the same for option 120 (SIP servers)"),
    ),
    human=(
        "client_mac",
        "hostname",
        "vendor_class",
        "assigned_address",
        "dns_servers",
        "provisioning_url",
        "sip_servers",
        "inform_missing_43",
        "inform_missing_120",
    ),
    envelope=False,
)


@dataclass
class _VendorClasses:
    """What one analysis remembers for option 43: (client MAC, xid) -> the vendor class
    the client sent, because a server's reply decodes option 43 by the request's vendor
    class and often lacks option 60 itself."""

    by_request: OrderedDict[tuple[str | None, int], str] = field(default_factory=OrderedDict)
    cap_noted: bool = False

    def governing(self, msg: DhcpMessage, own: str | None) -> str | None:
        """The vendor class option 43 of ``msg`` is decoded by (``own``: its option 60)."""
        key = (msg.client_mac, msg.xid)
        if msg.op == 1:
            if own is not None:
                self.by_request[key] = own
                self.by_request.move_to_end(key)
            return own
        return self.by_request.get(key, own)


class DhcpDissector:
    """Datagram dissector for UDP 67/68 (client-server and relay-server alike).

    Stateless itself: the vendor classes of one analysis live in its Sink.
    """

    name: ClassVar[str] = "dhcp"

    def wants(self, flow: FlowInfo) -> bool:
        return flow.sport in _PORTS or flow.dport in _PORTS

    def datagram(self, env: Envelope, payload: bytes, sink: Sink) -> None:
        msg = parse_dhcp(payload)
        for problem in msg.problems:
            sink.note(Weird("dhcp_option_problem", env.frame, env.flow, problem))
        sink.add("dhcp", env, **self._row(msg, env, sink))

    def _row(self, msg: DhcpMessage, env: Envelope, sink: Sink) -> dict[str, Any]:
        def decoded(code: int, decode: Any) -> Any:
            value = msg.option(code)
            if value is None:
                return None
            try:
                return decode(value)
            except DecodeError as e:
                detail = f"option {code}: {e}"
                sink.note(Weird("dhcp_option_malformed", env.frame, env.flow, detail))
                return None

        vendor_class = decoded(60, text)
        remembered = sink.state(self.name, _VendorClasses)
        governing = remembered.governing(msg, vendor_class)
        if len(remembered.by_request) > MAX_VENDOR_CLASS_ENTRIES:
            remembered.by_request.popitem(last=False)
            if not remembered.cap_noted:
                remembered.cap_noted = True
                sink.note(
                    Weird(
                        "dhcp_vendor_class_map_full",
                        env.frame,
                        env.flow,
                        f"more than {MAX_VENDOR_CLASS_ENTRIES} (client, xid) pairs; "
                        "oldest forgotten",
                    )
                )
        sip = decoded(120, sip_servers)
        overloaded = msg.overload or 0
        raw_43 = msg.option(43)
        return {
            "op": "request" if msg.op == 1 else "reply",
            "message_type": msg.message_type_name,
            "xid": f"0x{msg.xid:08x}",
            "secs": msg.secs,
            "broadcast": msg.broadcast,
            "hops": msg.hops,
            "client_mac": msg.client_mac,
            "ciaddr": msg.ciaddr,
            "yiaddr": msg.yiaddr,
            "siaddr": msg.siaddr,
            "giaddr": msg.giaddr,
            "sname": None if overloaded & OVERLOAD_SNAME else _cstring(msg.sname),
            "file": None if overloaded & OVERLOAD_FILE else _cstring(msg.file),
            "hostname": decoded(12, text),
            "requested_address": decoded(50, ipv4_address),
            "server_id": decoded(54, ipv4_address),
            "lease_time_s": decoded(51, uint32),
            "parameter_request_list": decoded(55, list),
            "vendor_class": vendor_class,
            "client_id": decoded(61, bytes.hex),
            "subnet_mask": decoded(1, ipv4_address),
            "routers": decoded(3, ipv4_list),
            "dns_servers": decoded(6, ipv4_list),
            "domain": decoded(15, text),
            "ntp_servers": decoded(42, ipv4_list),
            "vendor_specific_hex": raw_43.hex() if raw_43 is not None else None,
            "vendor_specific_class": governing if raw_43 is not None else None,
            "vendor_specific": decoded(43, lambda v: vendor_specific(governing, v)),
            "tftp_server": decoded(66, text),
            "domain_search": decoded(119, domain_list),
            "sip_server_encoding": sip.encoding if sip is not None else None,
            "sip_servers": list(sip.servers) if sip is not None else None,
            "wpad_url": decoded(252, text),
            "message": decoded(56, text),
            "overload": msg.overload,
            "options": [
                {"code": o.code, "name": o.name, "hex": o.data.hex(), "field": o.field}
                for o in msg.options
            ],
            "vendor_area_hex": msg.vendor_area.hex() if msg.vendor_area is not None else None,
        }


def _cstring(raw: bytes) -> str | None:
    value = raw.split(b"\x00", 1)[0]
    return text(value) if value else None


# ------------------------------------------------------------------ dhcp_clients


def _present(value: Any) -> bool:
    if value is None or value is pd.NA:
        return False
    return not (isinstance(value, float) and value != value)


def derive_clients(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Build ``dhcp_clients`` from the ``dhcp`` table: one row per client MAC."""
    dhcp = tables.get("dhcp")
    by_mac: dict[str, list[dict[str, Any]]] = {}
    if dhcp is not None and len(dhcp):
        for row in dhcp.sort_values("frame", kind="stable").to_dict("records"):
            mac = row.get("client_mac")
            if _present(mac):
                by_mac.setdefault(str(mac), []).append(row)
    return {"dhcp_clients": CLIENTS_SCHEMA.frame([_client(mac, r) for mac, r in by_mac.items()])}


def _last(rows: list[dict[str, Any]], column: str) -> Any:
    for row in reversed(rows):
        if _present(row.get(column)):
            return row[column]
    return None


def _option_codes(row: dict[str, Any]) -> set[int]:
    options = row.get("options")
    return {o["code"] for o in options} if isinstance(options, list) else set()


def _client(mac: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    sent = [r for r in rows if r["op"] == "request"]
    replies = [r for r in rows if r["op"] == "reply"]
    acks = [r for r in replies if r["message_type"] == "ACK"]
    offers = [r for r in replies if r["message_type"] == "OFFER"]

    def told(column: str) -> Any:
        value = _last(acks, column)
        return value if value is not None else _last(offers, column)

    assigning = [r for r in acks if _present(r["yiaddr"]) and r["yiaddr"] != "0.0.0.0"]
    lease = assigning[-1] if assigning else (acks[-1] if acks else None)
    # An INFORM retransmitted keeps its xid, and a relay repeats it: count xids.
    informs: dict[str, list[int] | None] = {}
    for r in sent:
        if r["message_type"] == "INFORM":
            prl = r.get("parameter_request_list")
            informs.setdefault(r["xid"], prl if isinstance(prl, list) else None)
    answers: dict[str, list[dict[str, Any]]] = {}
    for r in acks:
        if r["xid"] in informs:
            answers.setdefault(r["xid"], []).append(r)

    def missing(code: int) -> bool | None:
        if not informs:
            return None
        asked = [x for x, prl in informs.items() if prl is None or code in prl]
        if not asked:
            return False
        return not any(code in _option_codes(a) for x in asked for a in answers.get(x, []))

    return {
        "client_mac": mac,
        "hostname": _last(sent, "hostname"),
        "vendor_class": _last(sent, "vendor_class"),
        "messages": len(rows),
        "first_frame": rows[0]["frame"],
        "last_frame": rows[-1]["frame"],
        "assigned_address": assigning[-1]["yiaddr"] if assigning else None,
        "dhcp_server": (
            (lease["server_id"] if _present(lease["server_id"]) else lease["src"])
            if lease is not None
            else None
        ),
        "lease_time_s": lease["lease_time_s"] if lease is not None else None,
        "dns_servers": told("dns_servers"),
        "domain": told("domain"),
        "search_list": told("domain_search"),
        "ntp_servers": told("ntp_servers"),
        "routers": told("routers"),
        "sip_servers": told("sip_servers"),
        "provisioning_url": provisioning_url(
            _last_with(acks, "web_server") or _last_with(offers, "web_server")
        ),
        "voice_vlan": (
            _last_with(acks, "voice_vlan") or _last_with(offers, "voice_vlan") or {}
        ).get("voice_vlan"),
        "informs": len(informs),
        "informs_answered": len(answers),
        "inform_missing_43": missing(43),
        "inform_missing_120": missing(120),
    }


def _last_with(rows: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """The last decoded option 43 in ``rows`` (in frame order) holding ``key``."""
    for r in reversed(rows):
        vendor = r.get("vendor_specific")
        if isinstance(vendor, dict) and key in vendor:
            return vendor
    return None


PROTOCOL = ProtocolModule(
    name="dhcp",
    doc="DHCP/BOOTP (UDP 67/68): leases, INFORMs, options 6/15/42/43/119/120",
    schemas=(DHCP_SCHEMA,),
    datagram=DhcpDissector(),
    derived=(CLIENTS_SCHEMA,),
    derive=derive_clients,
)

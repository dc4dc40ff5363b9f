"""Byte builders for the benchmark capture: 802.1Q frames, IPv4/IPv6, UDP/TCP and the
application messages a phone VLAN carries (DNS, TLS, LDAP/CLDAP, DHCP, NTP, RTP, ARP,
ICMPv6 neighbour discovery).

Everything here is plain ``struct``/``bytes`` work so that a million frames can be made in
seconds; scapy is never called per packet. Checksums are real (IPv4 header, UDP, TCP,
ICMPv6) and computed with one big-integer modulo: the ones' complement sum of 16-bit words
is the value of the bytes read as one big-endian integer modulo 0xFFFF, because
2**16 == 1 (mod 0xFFFF). Parts of a checksummed region can therefore be summed separately
as long as every part but the last has an even length.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ETH_VLAN = struct.Struct("!6s6sHHH")  # dst, src, TPID 0x8100, TCI, ethertype
IPV4 = struct.Struct("!BBHHHBBH4s4s")
IPV6 = struct.Struct("!IHBB16s16s")
UDP = struct.Struct("!HHHH")
TCP = struct.Struct("!HHIIBBHHH")
ARP = struct.Struct("!HHBBH6s4s6s4s")
RTP = struct.Struct("!BBHII")

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_ARP = 0x0806
TPID_8021Q = 0x8100
MIN_FRAME = 60  # shortest Ethernet frame without FCS; shorter frames are zero-padded

PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ICMPV6 = 58

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MF = 0x2000  # IPv4 "more fragments"
DF = 0x4000  # IPv4 "don't fragment"

BROADCAST_MAC = b"\xff" * 6
SYN_OPTIONS = bytes.fromhex("020405b40103030801010402")  # MSS 1460, NOP, WS 8, NOP NOP, SACK_PERM
SYNACK_OPTIONS = bytes.fromhex("020405b40103030801010402")


def ones_sum(data: bytes) -> int:
    """Ones' complement sum of ``data`` (zero-padded to even length), modulo 0xFFFF."""
    value = int.from_bytes(data, "big")
    if len(data) & 1:
        value <<= 8
    return value % 0xFFFF


def finish_checksum(total: int) -> int:
    """Turn a running sum into the checksum field value (0 when the sum is 0xFFFF)."""
    rest = total % 0xFFFF
    return 0xFFFF - rest if rest else 0


@dataclass(eq=False)
class Host:
    """A station as the capture sees it.

    ``vlan`` 0 means the host is behind the router: its frames carry the router's MAC and
    the VLAN of whichever local host it talks to.
    """

    name: str
    mac: bytes
    ip4: bytes
    ip6: bytes | None = None
    vlan: int = 0
    ttl: int = 128
    ident: int = 0

    def next_ident(self) -> int:
        """The next IPv4 identification (one global counter per host, Windows-style)."""
        self.ident = (self.ident + 1) & 0xFFFF
        return self.ident


class Way:
    """One direction of an IP conversation on the capture VLAN, with its L2 header and the
    address part of the checksums computed once."""

    __slots__ = (
        "_ip_sum",
        "_pseudo",
        "dst",
        "flow_label",
        "hop_limit",
        "l2",
        "owner",
        "src",
        "tos",
        "v6",
    )

    def __init__(
        self,
        *,
        vlan: int,
        src_mac: bytes,
        dst_mac: bytes,
        src_ip: bytes,
        dst_ip: bytes,
        owner: Host,
        ttl: int,
        pcp: int = 0,
        tos: int = 0,
        flow_label: int = 0,
    ) -> None:
        self.v6 = len(src_ip) == 16
        ethertype = ETH_IPV6 if self.v6 else ETH_IPV4
        self.l2 = ETH_VLAN.pack(dst_mac, src_mac, TPID_8021Q, (pcp << 13) | vlan, ethertype)
        self.src = src_ip
        self.dst = dst_ip
        self.owner = owner
        self.hop_limit = ttl
        self.tos = tos
        self.flow_label = flow_label
        address_sum = ones_sum(src_ip + dst_ip)
        self._pseudo = address_sum
        self._ip_sum = address_sum + ((0x45 << 8) | tos) + (ttl << 8)

    # -- L3 -----------------------------------------------------------------------------
    def ip(self, proto: int, l4: bytes, frag: int = DF, ident: int | None = None) -> bytes:
        """A whole frame carrying ``l4`` as protocol ``proto``."""
        if self.v6:
            frame = (
                self.l2
                + IPV6.pack(
                    (6 << 28) | (self.tos << 20) | self.flow_label,
                    len(l4),
                    proto,
                    self.hop_limit,
                    self.src,
                    self.dst,
                )
                + l4
            )
        else:
            total = 20 + len(l4)
            if ident is None:
                ident = self.owner.next_ident()
            check = finish_checksum(self._ip_sum + total + ident + frag + proto)
            frame = (
                self.l2
                + IPV4.pack(
                    0x45,
                    self.tos,
                    total,
                    ident,
                    frag,
                    self.hop_limit,
                    proto,
                    check,
                    self.src,
                    self.dst,
                )
                + l4
            )
        if len(frame) < MIN_FRAME:
            frame += bytes(MIN_FRAME - len(frame))
        return frame

    # -- L4 -----------------------------------------------------------------------------
    def udp_segment(self, sport: int, dport: int, payload: bytes) -> bytes:
        """UDP header (with checksum) plus payload."""
        length = 8 + len(payload)
        total = self._pseudo + PROTO_UDP + length + length + sport + dport + ones_sum(payload)
        check = finish_checksum(total) or 0xFFFF  # 0 means "no checksum" in UDP
        return UDP.pack(sport, dport, length, check) + payload

    def udp(self, sport: int, dport: int, payload: bytes) -> bytes:
        """A UDP datagram in one frame."""
        return self.ip(PROTO_UDP, self.udp_segment(sport, dport, payload))

    def udp_fragments(self, sport: int, dport: int, payload: bytes, mtu: int = 1500) -> list[bytes]:
        """A UDP datagram larger than the MTU, as IPv4 fragments (first fragment first)."""
        assert not self.v6, "IPv6 fragmentation is not generated"
        segment = self.udp_segment(sport, dport, payload)
        step = (mtu - 20) // 8 * 8
        ident = self.owner.next_ident()
        frames = []
        for offset in range(0, len(segment), step):
            more = MF if offset + step < len(segment) else 0
            frames.append(
                self.ip(PROTO_UDP, segment[offset : offset + step], more | (offset // 8), ident)
            )
        return frames

    def tcp(
        self,
        sport: int,
        dport: int,
        seq: int,
        ack: int,
        flags: int,
        window: int,
        payload: bytes = b"",
        options: bytes = b"",
    ) -> bytes:
        """A TCP segment in one frame; ``options`` must be a multiple of 4 bytes."""
        header_len = 20 + len(options)
        length = header_len + len(payload)
        offset_flags = (header_len // 4) << 12 | flags
        total = (
            self._pseudo
            + PROTO_TCP
            + length
            + sport
            + dport
            + seq
            + ack
            + offset_flags
            + window
            + ones_sum(options)
            + ones_sum(payload)
        )
        check = finish_checksum(total)
        header = TCP.pack(sport, dport, seq, ack, (header_len // 4) << 4, flags, window, check, 0)
        return self.ip(PROTO_TCP, header + options + payload)

    def icmpv6(self, icmp_type: int, code: int, body: bytes) -> bytes:
        """An ICMPv6 message (checksum over the IPv6 pseudo header)."""
        length = 4 + len(body)
        total = self._pseudo + PROTO_ICMPV6 + length + ((icmp_type << 8) | code) + ones_sum(body)
        return self.ip(
            PROTO_ICMPV6, struct.pack("!BBH", icmp_type, code, finish_checksum(total)) + body
        )


class TcpConn:
    """Sequence and acknowledgement bookkeeping for one TCP connection, so every segment
    carries the numbers a real stack would put there."""

    __slots__ = (
        "c2s",
        "cacked",
        "cport",
        "cseq",
        "cwin",
        "label",
        "s2c",
        "sacked",
        "sport",
        "sseq",
        "swin",
    )

    def __init__(
        self,
        c2s: Way,
        s2c: Way,
        cport: int,
        sport: int,
        cseq: int,
        sseq: int,
        label: str,
        cwin: int = 1026,
        swin: int = 513,
    ) -> None:
        # Windows after the handshake are in units of 256 (window scale 8 in the SYNs).
        self.c2s, self.s2c = c2s, s2c
        self.cport, self.sport = cport, sport
        self.cseq, self.sseq = cseq, sseq
        self.cwin, self.swin = cwin, swin
        self.label = label
        self.cacked, self.sacked = sseq, cseq  # the last ACK number each side has sent

    def segment(
        self, client: bool, flags: int, payload: bytes = b"", options: bytes = b""
    ) -> bytes:
        """One segment from the client (``client``) or the server; advances its sequence."""
        step = len(payload) + (1 if flags & (SYN | FIN) else 0)
        ack = (self.sseq if client else self.cseq) if flags & ACK else 0
        if client:
            frame = self.c2s.tcp(
                self.cport, self.sport, self.cseq, ack, flags, self.cwin, payload, options
            )
            self.cseq = (self.cseq + step) & 0xFFFFFFFF
            self.cacked = ack
        else:
            frame = self.s2c.tcp(
                self.sport, self.cport, self.sseq, ack, flags, self.swin, payload, options
            )
            self.sseq = (self.sseq + step) & 0xFFFFFFFF
            self.sacked = ack
        return frame

    def owes_ack(self, client: bool) -> bool:
        """Whether ``client`` (or the server) has unacknowledged data from its peer."""
        return self.cacked != self.sseq if client else self.sacked != self.cseq

    def syn(self) -> bytes:
        frame = self.c2s.tcp(self.cport, self.sport, self.cseq, 0, SYN, 64240, b"", SYN_OPTIONS)
        self.cseq = (self.cseq + 1) & 0xFFFFFFFF
        return frame

    def synack(self) -> bytes:
        frame = self.s2c.tcp(
            self.sport, self.cport, self.sseq, self.cseq, SYN | ACK, 65535, b"", SYNACK_OPTIONS
        )
        self.sseq = (self.sseq + 1) & 0xFFFFFFFF
        return frame

    def ack(self, client: bool) -> bytes:
        return self.segment(client, ACK)

    def fin(self, client: bool) -> bytes:
        return self.segment(client, FIN | ACK)

    def rst(self, client: bool) -> bytes:
        return self.segment(client, RST | ACK)


# -- ARP ----------------------------------------------------------------------------------
def arp_frame(
    vlan: int, eth_dst: bytes, op: int, sha: bytes, spa: bytes, tha: bytes, tpa: bytes
) -> bytes:
    """An ARP request (op 1) or reply (op 2), padded to the minimum frame size."""
    frame = ETH_VLAN.pack(eth_dst, sha, TPID_8021Q, vlan, ETH_ARP) + ARP.pack(
        1, ETH_IPV4, 6, 4, op, sha, spa, tha, tpa
    )
    return frame + bytes(MIN_FRAME - len(frame))


# -- ICMPv6 neighbour discovery (bodies after type/code/checksum) ----------------------------
def solicited_node(addr: bytes) -> tuple[bytes, bytes]:
    """The solicited-node multicast address of ``addr`` and its MAC."""
    ip = bytes.fromhex("ff02" + "00" * 9 + "01ff") + addr[13:]
    return ip, b"\x33\x33" + ip[12:]


def ra_body(mac: bytes, prefix: bytes) -> bytes:
    """Router advertisement: hop limit 64, lifetime 1800 s, source link-layer, MTU, prefix."""
    return (
        struct.pack("!BBHII", 64, 0, 1800, 0, 0)
        + b"\x01\x01"
        + mac
        + struct.pack("!BBHI", 5, 1, 0, 1500)
        + struct.pack("!BBBBIII", 3, 4, 64, 0xC0, 2592000, 604800, 0)
        + prefix
    )


def ns_body(target: bytes, mac: bytes) -> bytes:
    return bytes(4) + target + b"\x01\x01" + mac


def na_body(target: bytes, mac: bytes) -> bytes:
    return struct.pack("!I", 0x60000000) + target + b"\x02\x01" + mac  # solicited, override


# -- DNS ----------------------------------------------------------------------------------
TYPE_A, TYPE_SOA, TYPE_TXT, TYPE_AAAA, TYPE_SRV, TYPE_OPT = 1, 6, 16, 28, 33, 41
NOERROR, NXDOMAIN = 0, 3


def dns_name(name: str) -> bytes:
    """Uncompressed wire form of a dotted name."""
    out = bytearray()
    for label in name.rstrip(".").split("."):
        if label:
            out.append(len(label))
            out += label.encode("ascii")
    out.append(0)
    return bytes(out)


def dns_query(ident: int, name: str, qtype: int, edns: bool = False) -> bytes:
    """A recursive query for ``name``/``qtype`` (optionally with an EDNS0 OPT record)."""
    opt = b"\x00" + struct.pack("!HHIH", TYPE_OPT, 4096, 0, 0) if edns else b""
    return (
        struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 1 if edns else 0)
        + dns_name(name)
        + struct.pack("!HH", qtype, 1)
        + opt
    )


def srv_rdata(priority: int, weight: int, port: int, target: str) -> bytes:
    return struct.pack("!HHH", priority, weight, port) + dns_name(target)


def soa_rdata(zone: str) -> bytes:
    return (
        dns_name("dc01." + zone)
        + dns_name("hostmaster." + zone)
        + struct.pack("!IIIII", 2024031201, 900, 600, 86400, 3600)
    )


def dns_response(
    ident: int,
    name: str,
    qtype: int,
    answers: Sequence[tuple[int, int, bytes]] = (),
    rcode: int = NOERROR,
    soa_zone: str | None = None,
    edns: bool = False,
) -> bytes:
    """A response; answers are (type, ttl, rdata) owned by the query name (pointer 0xC00C).
    ``soa_zone`` adds the negative-caching SOA to the authority section."""
    flags = 0x8180 | rcode  # QR, RD, RA
    authority = b""
    if soa_zone is not None:
        rdata = soa_rdata(soa_zone)
        authority = dns_name(soa_zone) + struct.pack("!HHIH", TYPE_SOA, 1, 3600, len(rdata)) + rdata
    records = b"".join(
        b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata
        for rtype, ttl, rdata in answers
    )
    opt = b"\x00" + struct.pack("!HHIH", TYPE_OPT, 4096, 0, 0) if edns else b""
    header = struct.pack(
        "!HHHHHH", ident, flags, 1, len(answers), 1 if authority else 0, 1 if edns else 0
    )
    return header + dns_name(name) + struct.pack("!HH", qtype, 1) + records + authority + opt


def txt_rdata(strings: Iterable[bytes]) -> bytes:
    return b"".join(bytes([len(s)]) + s for s in strings)


# -- TLS ----------------------------------------------------------------------------------
TLS10, TLS12 = 0x0301, 0x0303
CT_CCS, CT_ALERT, CT_HANDSHAKE, CT_APPDATA = 20, 21, 22, 23


def tls_record(content_type: int, version: int, body: bytes) -> bytes:
    return struct.pack("!BHH", content_type, version, len(body)) + body


def handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def _ext(ext_type: int, body: bytes) -> bytes:
    return struct.pack("!HH", ext_type, len(body)) + body


def _u16_list(values: Iterable[int]) -> bytes:
    packed = b"".join(v.to_bytes(2, "big") for v in values)
    return len(packed).to_bytes(2, "big") + packed


def ext_sni(host: str) -> bytes:
    name = host.encode("ascii")
    entry = b"\x00" + len(name).to_bytes(2, "big") + name
    return _ext(0, len(entry).to_bytes(2, "big") + entry)


def ext_alpn(protocols: Iterable[bytes]) -> bytes:
    body = b"".join(bytes([len(p)]) + p for p in protocols)
    return _ext(16, len(body).to_bytes(2, "big") + body)


EXT_RENEGOTIATION = _ext(0xFF01, b"\x00")
EXT_EMS = _ext(23, b"")
EXT_TICKET = _ext(35, b"")
EXT_POINT_FORMATS = _ext(11, b"\x01\x00")
EXT_GROUPS = _ext(10, _u16_list([0x001D, 0x0017, 0x0018]))
EXT_SIG_ALGS = _ext(
    13, _u16_list([0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0201])
)

SUITES_PHONE = [0x002F, 0x0035, 0x0005, 0x000A, 0x0004]  # what a Windows CE TLS 1.0 stack offers
SUITES_PC = [
    0xC02B,
    0xC02F,
    0xC02C,
    0xC030,
    0xCCA9,
    0xCCA8,
    0xC013,
    0xC014,
    0x009C,
    0x009D,
    0x002F,
    0x0035,
]


def client_hello(
    version: int, rnd: bytes, session_id: bytes, suites: Sequence[int], extensions: bytes
) -> bytes:
    body = (
        version.to_bytes(2, "big")
        + rnd
        + bytes([len(session_id)])
        + session_id
        + _u16_list(suites)
        + b"\x01\x00"
        + len(extensions).to_bytes(2, "big")
        + extensions
    )
    return handshake(1, body)


def server_hello(
    version: int, rnd: bytes, session_id: bytes, suite: int, extensions: bytes
) -> bytes:
    body = (
        version.to_bytes(2, "big")
        + rnd
        + bytes([len(session_id)])
        + session_id
        + suite.to_bytes(2, "big")
        + b"\x00"
    )
    if extensions:
        body += len(extensions).to_bytes(2, "big") + extensions
    return handshake(2, body)


def certificate_msg(chain: Sequence[bytes]) -> bytes:
    certs = b"".join(len(der).to_bytes(3, "big") + der for der in chain)
    return handshake(11, len(certs).to_bytes(3, "big") + certs)


def server_key_exchange_ecdhe(point: bytes, signature: bytes) -> bytes:
    """ECDHE parameters on secp256r1, signed with rsa_pkcs1_sha256 (TLS 1.2 layout)."""
    body = (
        b"\x03\x00\x17"
        + bytes([len(point)])
        + point
        + b"\x04\x01"
        + len(signature).to_bytes(2, "big")
        + signature
    )
    return handshake(12, body)


SERVER_HELLO_DONE = handshake(14, b"")


def client_key_exchange_rsa(encrypted: bytes) -> bytes:
    return handshake(16, len(encrypted).to_bytes(2, "big") + encrypted)


def client_key_exchange_ecdhe(point: bytes) -> bytes:
    return handshake(16, bytes([len(point)]) + point)


# -- LDAP / CLDAP (BER) ---------------------------------------------------------------------
def ber(tag: int, content: bytes) -> bytes:
    """One BER TLV with definite length (short or long form)."""
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + n.to_bytes(size, "big") + content


def ber_int(value: int, tag: int = 0x02) -> bytes:
    return ber(tag, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def ber_str(value: str | bytes, tag: int = 0x04) -> bytes:
    return ber(tag, value.encode("utf-8") if isinstance(value, str) else value)


def ldap_message(message_id: int, op: bytes) -> bytes:
    return ber(0x30, ber_int(message_id) + op)


def ldap_simple_bind(dn: str = "", password: str = "") -> bytes:
    return ber(0x60, ber_int(3) + ber_str(dn) + ber_str(password, 0x80))


def ldap_result(app_tag: int, code: int = 0, matched: str = "", message: str = "") -> bytes:
    return ber(app_tag, ber_int(code, 0x0A) + ber_str(matched) + ber_str(message))


def ldap_eq(attribute: str, value: str | bytes) -> bytes:
    return ber(0xA3, ber_str(attribute) + ber_str(value))


def ldap_present(attribute: str) -> bytes:
    return ber_str(attribute, 0x87)


def ldap_and(*filters: bytes) -> bytes:
    return ber(0xA0, b"".join(filters))


def ldap_search(base: str, scope: int, filt: bytes, attributes: Sequence[str]) -> bytes:
    attrs = ber(0x30, b"".join(ber_str(a) for a in attributes))
    return ber(
        0x63,
        ber_str(base)
        + ber_int(scope, 0x0A)
        + ber_int(0, 0x0A)
        + ber_int(0)
        + ber_int(0)
        + b"\x01\x01\x00"
        + filt
        + attrs,
    )


def ldap_entry(dn: str, attributes: Sequence[tuple[str, Sequence[bytes]]]) -> bytes:
    attrs = b"".join(
        ber(0x30, ber_str(name) + ber(0x31, b"".join(ber_str(v) for v in values)))
        for name, values in attributes
    )
    return ber(0x64, ber_str(dn) + ber(0x30, attrs))


LDAP_UNBIND = b"\x42\x00"


def netlogon_sam_logon_response_ex(
    domain_guid: bytes, forest: str, dc_host: str, netbios_domain: str, dc_netbios: str, site: str
) -> bytes:
    """NETLOGON_SAM_LOGON_RESPONSE_EX (MS-ADTS 6.3.1.9), the CLDAP ``Netlogon`` value."""
    return (
        struct.pack("<HHI", 23, 0, 0x0003F3FD)
        + domain_guid
        + dns_name(forest)
        + dns_name(forest)
        + dns_name(dc_host)
        + dns_name(netbios_domain)
        + dns_name(dc_netbios)
        + b"\x00"
        + dns_name(site)
        + dns_name(site)
        + struct.pack("<IHH", 5, 0xFFFF, 0xFFFF)
    )


# -- DHCP ---------------------------------------------------------------------------------
DHCP_MAGIC = b"\x63\x82\x53\x63"
DISCOVER, OFFER, REQUEST, DHCPACK, INFORM = 1, 2, 3, 5, 8


def dhcp_option(code: int, value: bytes) -> bytes:
    return bytes([code, len(value)]) + value


def dhcp_message(
    op: int,
    xid: int,
    chaddr: bytes,
    options: bytes,
    *,
    ciaddr: bytes = bytes(4),
    yiaddr: bytes = bytes(4),
    giaddr: bytes = bytes(4),
    broadcast: bool = False,
    secs: int = 0,
) -> bytes:
    """A BOOTP/DHCP message padded to the classic 300-byte minimum."""
    body = (
        struct.pack("!BBBBIHH", op, 1, 6, 0, xid, secs, 0x8000 if broadcast else 0)
        + ciaddr
        + yiaddr
        + bytes(4)
        + giaddr
        + chaddr.ljust(16, b"\x00")
        + bytes(64 + 128)
        + DHCP_MAGIC
        + options
        + b"\xff"
    )
    return body + bytes(max(0, 300 - len(body)))


# -- NTP, RTP, RTCP -----------------------------------------------------------------------
NTP_EPOCH_OFFSET = 2208988800


def ntp_timestamp(ts_us: int) -> bytes:
    seconds, micros = divmod(ts_us, 1_000_000)
    return struct.pack("!II", seconds + NTP_EPOCH_OFFSET, (micros << 32) // 1_000_000)


def ntp_request(ts_us: int) -> bytes:
    return b"\x23" + bytes(39) + ntp_timestamp(ts_us)  # v4, client


def ntp_response(request_transmit: bytes, recv_us: int, send_us: int, ref_id: bytes) -> bytes:
    head = (
        struct.pack("!BBbbII", 0x24, 3, 6, -23, 0x0000_0A00, 0x0000_1200) + ref_id
    )  # v4, server, stratum 3
    return (
        head
        + ntp_timestamp(recv_us - 60_000_000)
        + request_transmit
        + ntp_timestamp(recv_us)
        + ntp_timestamp(send_us)
    )


def rtcp_sender_report(
    ssrc: int, ts_us: int, rtp_ts: int, packets: int, octets: int, cname: bytes
) -> bytes:
    sr = (
        struct.pack("!BBHI", 0x80, 200, 6, ssrc)
        + ntp_timestamp(ts_us)
        + struct.pack("!III", rtp_ts, packets, octets)
    )
    item = b"\x01" + bytes([len(cname)]) + cname + b"\x00"
    item += bytes(-(len(item) + 4) % 4)
    sdes = struct.pack("!BBHI", 0x81, 202, (len(item) + 4) // 4, ssrc) + item
    return sr + sdes


# -- certificates -------------------------------------------------------------------------
_SMALL_PRIMES = math.prod(
    p for p in range(3, 1000, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2))
)


def _probable_prime(n: int, rng: random.Random) -> bool:
    """Miller-Rabin with witnesses from ``rng`` (deterministic for a seed)."""
    if math.gcd(n, _SMALL_PRIMES) != 1:
        return False
    d, s = n - 1, 0
    while not d & 1:
        d >>= 1
        s += 1
    for _ in range(10):
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, rng: random.Random) -> int:
    while True:
        candidate = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if _probable_prime(candidate, rng):
            return candidate


@dataclass(frozen=True)
class Pki:
    """DER certificates for the capture: an enterprise chain and a public one."""

    enterprise_root: bytes
    pool_leaf: bytes
    web_leaf: bytes
    public_ca: bytes
    public_leaves: tuple[bytes, ...]


def make_pki(rng: random.Random, public_names: Sequence[str]) -> Pki:
    """Build deterministic certificates: the CA keys come from seeded primes and
    RSA PKCS#1 v1.5 signatures are deterministic; leaf keys are random public moduli
    (nobody needs their private halves)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    def ca_key() -> rsa.RSAPrivateKey:
        e = 65537
        while True:
            p, q = _prime(1024, rng), _prime(1024, rng)
            phi = (p - 1) * (q - 1)
            if p != q and phi % e:
                break
        d = pow(e, -1, phi)
        numbers = rsa.RSAPrivateNumbers(
            p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q)
        )
        return numbers.private_key()

    def leaf_key() -> rsa.RSAPublicKey:
        return rsa.RSAPublicNumbers(65537, rng.getrandbits(2048) | (1 << 2047) | 1).public_key()

    def name(common: str, org: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                x509.NameAttribute(NameOID.COMMON_NAME, common),
            ]
        )

    start = datetime.datetime(2023, 6, 1, tzinfo=datetime.timezone.utc)

    def build(
        subject: x509.Name,
        issuer: x509.Name,
        public: rsa.RSAPublicKey,
        signer: rsa.RSAPrivateKey,
        years: int,
        sans: Sequence[str] = (),
        ca: bool = False,
    ) -> bytes:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public)
            .serial_number(rng.getrandbits(120) | 1 << 119)
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if sans:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False
            )
        return builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    root_key = ca_key()
    root_name = name("Example Enterprise Root CA", "Example Corp")
    root = build(root_name, root_name, root_key.public_key(), root_key, 20, ca=True)
    pool = build(
        name("pool01.example.com", "Example Corp"),
        root_name,
        leaf_key(),
        root_key,
        2,
        ["pool01.example.com", "sip.example.com", "sipinternal.example.com"],
    )
    web = build(
        name("webpool.example.com", "Example Corp"),
        root_name,
        leaf_key(),
        root_key,
        2,
        ["webpool.example.com", "ucupdates-r2.example.com"],
    )
    public_key = ca_key()
    public_name = name("Example Public TLS CA G2", "Example Trust Services")
    public_ca = build(public_name, public_name, public_key.public_key(), public_key, 15, ca=True)
    leaves = tuple(
        build(name(host, "Example Online"), public_name, leaf_key(), public_key, 1, [host])
        for host in public_names
    )
    return Pki(root, pool, web, public_ca, leaves)

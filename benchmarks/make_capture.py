"""Seeded generator of a realistic phone-VLAN capture for the throughput benchmark.

    python benchmarks/make_capture.py --packets 1000000 --seed 1 --out /tmp/vlan.pcap

What the capture holds (a trunk port seeing the voice VLAN 20 and a little of the data
VLAN 10, every frame 802.1Q-tagged):

* ~60 desk phones with G.711 RTP calls between each other and to a mediation server
  (20 ms, 218-byte tagged frames, RTCP every 5 s) - the bulk of the packets;
* each phone's long-lived SIP-over-TLS connection to the pool on 5061 (already open when
  the capture starts, so first seen mid-stream), and HTTPS sessions to the web services with
  full TCP handshakes, TLS 1.0 handshakes with real certificates, delayed ACKs and FIN endings;
* phones rebooting: DHCP DORA and INFORM, ARP, NTP, DC location (DNS SRV + CLDAP), the root
  CA downloaded over LDAP, then TLS to the pool; two phones stuck in a logon loop whose TLS
  dies right after the server's Certificate;
* PCs on VLAN 10 browsing over TLS 1.2 (some over IPv6, some resumed), LDAP and CLDAP to the
  DCs, plain HTTP, connection attempts that get RST or no answer, DNS A/AAAA/SRV/TXT with
  NXDOMAIN and large EDNS answers that arrive as IPv4 fragments, ICMPv6 neighbour discovery.

Frames are built from ``struct`` templates (see ``wire.py``), never with scapy per packet,
and the output is a pure function of ``--seed`` and ``--packets``. Activity runs as
generator "processes" on a discrete-event clock (a heap of wake-up times); packets are built
when the clock reaches them, so TCP sequence numbers always follow capture order.
"""

from __future__ import annotations

import argparse
import calendar
import heapq
import itertools
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pcapfile import CaptureWriter, open_writer
from wire import (
    ACK,
    BROADCAST_MAC,
    CT_ALERT,
    CT_APPDATA,
    CT_CCS,
    CT_HANDSHAKE,
    DHCPACK,
    DISCOVER,
    EXT_EMS,
    EXT_GROUPS,
    EXT_POINT_FORMATS,
    EXT_RENEGOTIATION,
    EXT_SIG_ALGS,
    EXT_TICKET,
    INFORM,
    LDAP_UNBIND,
    NXDOMAIN,
    OFFER,
    PSH,
    REQUEST,
    RST,
    RTP,
    SERVER_HELLO_DONE,
    SUITES_PC,
    SUITES_PHONE,
    TLS10,
    TLS12,
    TYPE_A,
    TYPE_AAAA,
    TYPE_SRV,
    TYPE_TXT,
    Host,
    Pki,
    TcpConn,
    Way,
    arp_frame,
    certificate_msg,
    client_hello,
    client_key_exchange_ecdhe,
    client_key_exchange_rsa,
    dhcp_message,
    dhcp_option,
    dns_name,
    dns_query,
    dns_response,
    ext_alpn,
    ext_sni,
    ldap_and,
    ldap_entry,
    ldap_eq,
    ldap_message,
    ldap_present,
    ldap_result,
    ldap_search,
    ldap_simple_bind,
    make_pki,
    na_body,
    netlogon_sam_logon_response_ex,
    ns_body,
    ntp_request,
    ntp_response,
    ra_body,
    rtcp_sender_report,
    server_hello,
    server_key_exchange_ecdhe,
    solicited_node,
    srv_rdata,
    tls_record,
    txt_rdata,
)

GENERATOR_VERSION = 1  # bump whenever the bytes for a given (seed, packets) change
START_US = calendar.timegm((2024, 3, 12, 8, 30, 0, 0, 0, 0)) * 1_000_000
DOMAIN = "example.com"
VOICE_VLAN, DATA_VLAN = 20, 10
N_PHONES, N_PCS = 60, 12
CALL_SLOTS = 5  # concurrent call "lines"; sets the RTP share (~75%)
LOOPING_PHONES = 2
POOL_SIZE = 1 << 20

Proc = Generator[int, None, None]  # a process yields the absolute time (us) it wakes up at


def ip4(text: str) -> bytes:
    return bytes(int(part) for part in text.split("."))


def ip6(text: str) -> bytes:
    import ipaddress

    return ipaddress.IPv6Address(text).packed


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


@dataclass(eq=False)
class Phone:
    host: Host
    sip: TcpConn | None = None  # the registered SIP-over-TLS connection to the pool
    busy: bool = False  # in a call or rebooting
    looping: bool = False


@dataclass(eq=False)
class Site:
    """A public HTTPS site the PCs visit."""

    name: str
    host: Host
    chain: tuple[bytes, ...]
    rtt: int


@dataclass
class Stats:
    packets: int = 0
    frame_bytes: int = 0
    ipv6: int = 0
    data_vlan: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    bytes_by_kind: Counter[str] = field(default_factory=Counter)


class Scenario:
    """The phone VLAN: hosts, their processes, and the clock that runs them."""

    def __init__(self, seed: int, target: int, writer: CaptureWriter) -> None:
        self.rng = random.Random(seed)
        self.target = target
        self.writer = writer
        self.now = START_US
        self.stats = Stats()
        self._heap: list[tuple[int, int, Proc]] = []
        self._order = itertools.count()
        self._ways: dict[tuple[int, int, bool, int], Way] = {}
        self._ports: dict[int, int] = {}
        self.pool = self.rng.randbytes(POOL_SIZE)
        self._blob_offset = 0
        self._build_network()

    # -- the network ---------------------------------------------------------------------
    def _build_network(self) -> None:
        rng = self.rng
        router_mac = mac("00:1b:54:c2:a1:01")
        self.gw_voice = Host("gw-voice", router_mac, ip4("10.20.0.1"), None, VOICE_VLAN, 255)
        self.gw_data = Host(
            "gw-data", router_mac, ip4("10.10.0.1"), ip6("fe80::21b:54ff:fec2:a101"), DATA_VLAN, 255
        )
        self.router_mac = router_mac
        self.broadcast = Host("broadcast", BROADCAST_MAC, b"\xff" * 4, None, VOICE_VLAN)

        def server(name: str, addr: str, addr6: str | None = None, ttl: int = 127) -> Host:
            return Host(
                name,
                router_mac,
                ip4(addr),
                ip6(addr6) if addr6 else None,
                0,
                ttl,
                rng.getrandbits(16),
            )

        self.dcs = [
            server("dc01", "10.1.0.10", "2001:db8:1::10"),
            server("dc02", "10.1.0.11", "2001:db8:1::11"),
        ]
        self.dhcp_server = server("dhcp01", "10.1.0.20")
        self.pool_vip = server("pool01", "10.1.0.30")
        self.webpool = server("webpool", "10.1.0.40")
        self.mediation = server("mediation01", "10.1.0.60")

        ouis = ["00:04:f2", "00:08:5d", "00:1f:29", "00:1e:75"]  # Polycom, Aastra, HP, LG-Nortel
        self.phones: list[Phone] = []
        for i in range(N_PHONES):
            oui = mac(ouis[i % len(ouis)])
            host = Host(
                f"PHONE{i + 1:02d}",
                oui + rng.randbytes(3),
                ip4(f"10.20.0.{101 + i}"),
                None,
                VOICE_VLAN,
                128,
                rng.getrandbits(16),
            )
            self.phones.append(Phone(host))
        for phone in self.phones[-LOOPING_PHONES:]:
            phone.looping = True
        self.pcs: list[Host] = []
        for i in range(N_PCS):
            v6 = ip6(f"2001:db8:10::{0x50 + i:x}") if i % 2 == 0 else None
            self.pcs.append(
                Host(
                    f"PC{i + 1:02d}",
                    mac("18:66:da") + rng.randbytes(3),
                    ip4(f"10.10.0.{50 + i}"),
                    v6,
                    DATA_VLAN,
                    128,
                    rng.getrandbits(16),
                )
            )

        site_names = [
            "www.example.org",
            "cdn.example.net",
            "login.example.net",
            "news.example.org",
            "mail.example.com",
            "files.example.net",
            "api.example.org",
            "video.example.net",
        ]
        self.pki: Pki = make_pki(rng, site_names)
        self.sites: list[Site] = []
        for i, name in enumerate(site_names):
            site_v6 = f"2001:db8:f00::{i + 1:x}" if i % 3 != 2 else None
            host = server(name, f"203.0.113.{10 + i * 7}", site_v6, 52)
            self.sites.append(
                Site(
                    name,
                    host,
                    (self.pki.public_leaves[i], self.pki.public_ca),
                    rng.randint(8_000, 45_000),
                )
            )

        self.zone: dict[tuple[str, int], list[tuple[int, int, bytes]]] = {
            ("pool01." + DOMAIN, TYPE_A): [(TYPE_A, 3600, self.pool_vip.ip4)],
            ("webpool." + DOMAIN, TYPE_A): [(TYPE_A, 3600, self.webpool.ip4)],
            ("ucupdates-r2." + DOMAIN, TYPE_A): [(TYPE_A, 3600, self.webpool.ip4)],
            ("dc01." + DOMAIN, TYPE_A): [(TYPE_A, 3600, self.dcs[0].ip4)],
            ("dc02." + DOMAIN, TYPE_A): [(TYPE_A, 3600, self.dcs[1].ip4)],
            ("_sipinternaltls._tcp." + DOMAIN, TYPE_SRV): [
                (TYPE_SRV, 300, srv_rdata(0, 0, 5061, "pool01." + DOMAIN))
            ],
            ("_ldap._tcp.dc._msdcs." + DOMAIN, TYPE_SRV): [
                (TYPE_SRV, 600, srv_rdata(0, 100, 389, "dc01." + DOMAIN)),
                (TYPE_SRV, 600, srv_rdata(0, 100, 389, "dc02." + DOMAIN)),
            ],
            ("_kerberos._tcp." + DOMAIN, TYPE_SRV): [
                (TYPE_SRV, 600, srv_rdata(0, 100, 88, "dc01." + DOMAIN)),
                (TYPE_SRV, 600, srv_rdata(0, 100, 88, "dc02." + DOMAIN)),
            ],
            ("time.windows.com", TYPE_A): [(TYPE_A, 900, ip4("198.51.100.123"))],
        }
        for site in self.sites:
            self.zone[(site.name, TYPE_A)] = [(TYPE_A, 300, site.host.ip4)]
            if site.host.ip6:
                self.zone[(site.name, TYPE_AAAA)] = [(TYPE_AAAA, 300, site.host.ip6)]
        self.known_names = {name for name, _ in self.zone}

    # -- clock and output ----------------------------------------------------------------
    def spawn(self, proc: Proc, delay: int = 0) -> None:
        heapq.heappush(self._heap, (self.now + delay, next(self._order), proc))

    def run(self) -> Stats:
        """Run processes in time order until ``target`` packets have been written."""
        heap = self._heap
        pop, push, order = heapq.heappop, heapq.heappush, self._order
        stats = self.stats
        while heap and stats.packets < self.target:
            when, _, proc = pop(heap)
            self.now = when
            try:
                wake = next(proc)
            except StopIteration:
                continue
            push(heap, (wake, next(order), proc))
        return stats

    def emit(self, kind: str, frame: bytes) -> None:
        """Write ``frame`` at the current time."""
        stats = self.stats
        if stats.packets >= self.target:
            return
        self.writer.write(self.now, frame)
        stats.packets += 1
        stats.frame_bytes += len(frame)
        stats.by_kind[kind] += 1
        stats.bytes_by_kind[kind] += len(frame)
        if frame[16] == 0x86:
            stats.ipv6 += 1
        if frame[15] == DATA_VLAN:
            stats.data_vlan += 1

    def emit_all(self, kind: str, frames: Sequence[bytes], gap: int = 0) -> Proc:
        """Emit ``frames`` back to back, ``gap`` us apart (serialisation on the port)."""
        for i, frame in enumerate(frames):
            if i and gap:
                yield self.now + gap
            self.emit(kind, frame)

    # -- helpers ---------------------------------------------------------------------------
    def seconds(self, mean: float) -> int:
        """An exponential delay with the given mean (seconds), in us."""
        return int(self.rng.expovariate(1.0 / mean) * 1_000_000)

    def between(self, low_us: int, high_us: int) -> int:
        return low_us + int(self.rng.random() * (high_us - low_us))

    def blob(self, n: int) -> bytes:
        """``n`` pseudo-random bytes (encrypted payload, audio) sliced from a seeded pool."""
        n = min(n, POOL_SIZE)
        offset = int(self.rng.random() * (POOL_SIZE - n))
        return self.pool[offset : offset + n]

    def port(self, host: Host) -> int:
        """The host's next ephemeral port."""
        current = self._ports.get(id(host))
        if current is None:
            current = self.rng.randint(49152, 60000)
        current = current + 1 if current < 65535 else 49152
        self._ports[id(host)] = current
        return current

    def way(self, src: Host, dst: Host, v6: bool = False, pcp: int = 0, tos: int = 0) -> Way:
        key = (id(src), id(dst), v6, pcp)
        way = self._ways.get(key)
        if way is None:
            src_ip, dst_ip = (src.ip6, dst.ip6) if v6 else (src.ip4, dst.ip4)
            assert src_ip is not None and dst_ip is not None
            way = Way(
                vlan=src.vlan or dst.vlan,
                src_mac=src.mac,
                dst_mac=dst.mac,
                src_ip=src_ip,
                dst_ip=dst_ip,
                owner=src,
                ttl=src.ttl,
                pcp=pcp,
                tos=tos,
                flow_label=self.rng.getrandbits(20) if v6 else 0,
            )
            self._ways[key] = way
        return way

    def conn(
        self, client: Host, server: Host, dport: int, kind: str, v6: bool = False, pcp: int = 0
    ) -> TcpConn:
        return TcpConn(
            self.way(client, server, v6, pcp),
            self.way(server, client, v6, pcp),
            self.port(client),
            dport,
            self.rng.getrandbits(32),
            self.rng.getrandbits(32),
            kind,
        )

    # -- TCP -------------------------------------------------------------------------------
    def tcp_open(self, conn: TcpConn, rtt: int) -> Proc:
        self.emit(conn.label, conn.syn())
        yield self.now + rtt
        self.emit(conn.label, conn.synack())
        yield self.now + self.between(40, 400)
        self.emit(conn.label, conn.ack(True))

    def tcp_close(self, conn: TcpConn, client_first: bool, rtt: int) -> Proc:
        self.emit(conn.label, conn.fin(client_first))
        yield self.now + (rtt if client_first else self.between(100, 2_000))
        self.emit(conn.label, conn.fin(not client_first))
        yield self.now + (self.between(40, 400) if client_first else rtt)
        self.emit(conn.label, conn.ack(client_first))

    def tcp_send(self, conn: TcpConn, client: bool, data: bytes, mss: int = 1460) -> Proc:
        """Send ``data`` in MSS-sized segments (PSH on the last); the receiver ACKs every
        second segment as it arrives. Each segment is built when it is emitted, so the
        ACKs in between carry the right numbers."""
        size = len(data)
        for i, start in enumerate(range(0, size, mss)):
            if i:
                yield self.now + self.between(60, 250)
            last = start + mss >= size
            self.emit(
                conn.label,
                conn.segment(client, ACK | (PSH if last else 0), data[start : start + mss]),
            )
            if i % 2 == 1 and not last:
                yield self.now + self.between(20, 120)
                self.emit(conn.label, conn.ack(not client))

    def delayed_ack(self, conn: TcpConn, client: bool) -> Proc:
        yield self.now + self.between(40_000, 200_000)
        if conn.owes_ack(client):
            self.emit(conn.label, conn.ack(client))

    # -- TLS -------------------------------------------------------------------------------
    def appdata(self, size: int, version: int) -> bytes:
        """One application-data record for ``size`` plaintext bytes: AES-CBC-SHA for TLS 1.0
        (padded to blocks, 20-byte MAC), AES-GCM for TLS 1.2 (8-byte nonce, 16-byte tag)."""
        body = (size + 21 + 15) // 16 * 16 if version == TLS10 else size + 24
        return tls_record(CT_APPDATA, version, self.blob(body))

    def appdata_stream(self, size: int, version: int) -> bytes:
        return b"".join(
            self.appdata(min(16384, size - start), version) for start in range(0, size, 16384)
        )

    def tls_exchange(
        self, conn: TcpConn, version: int, steps: Sequence[tuple[bool, int]], rtt: int
    ) -> Proc:
        """Messages in turn (sender is client?, plaintext size); the last receiver ACKs late."""
        for i, (client, size) in enumerate(steps):
            if i:
                yield self.now + (rtt if client == steps[i - 1][0] else self.between(500, 15_000))
            yield from self.tcp_send(conn, client, self.appdata_stream(size, version))
        yield from self.delayed_ack(conn, not steps[-1][0])

    def tls10_handshake(
        self, conn: TcpConn, sni: str, chain: Sequence[bytes], rtt: int, alert: int | None = None
    ) -> Proc:
        """A phone's TLS 1.0 RSA handshake; with ``alert``, the phone rejects the chain."""
        hello = client_hello(
            TLS10, self.blob(32), b"", SUITES_PHONE, ext_sni(sni) + EXT_RENEGOTIATION
        )
        yield from self.tcp_send(conn, True, tls_record(CT_HANDSHAKE, TLS10, hello))
        yield self.now + rtt
        flight = server_hello(TLS10, self.blob(32), self.blob(32), 0x002F, EXT_RENEGOTIATION)
        flight += certificate_msg(chain) + SERVER_HELLO_DONE
        yield from self.tcp_send(conn, False, tls_record(CT_HANDSHAKE, TLS10, flight))
        yield self.now + self.between(15_000, 60_000)  # the phone's slow RSA and chain checks
        if alert is not None:
            yield from self.tcp_send(conn, True, tls_record(CT_ALERT, TLS10, bytes([2, alert])))
            return
        finish = tls_record(CT_HANDSHAKE, TLS10, client_key_exchange_rsa(self.blob(256)))
        finish += tls_record(CT_CCS, TLS10, b"\x01") + tls_record(
            CT_HANDSHAKE, TLS10, self.blob(48)
        )
        yield from self.tcp_send(conn, True, finish)
        yield self.now + rtt + self.between(500, 3_000)
        yield from self.tcp_send(
            conn,
            False,
            tls_record(CT_CCS, TLS10, b"\x01") + tls_record(CT_HANDSHAKE, TLS10, self.blob(48)),
        )

    def tls12_handshake(
        self, conn: TcpConn, sni: str, chain: Sequence[bytes], rtt: int, resume: bool
    ) -> Proc:
        """A PC's TLS 1.2 handshake: full ECDHE-RSA, or an abbreviated one resuming a session."""
        session = self.blob(32) if resume else b""
        exts = (
            ext_sni(sni)
            + EXT_EMS
            + EXT_RENEGOTIATION
            + EXT_GROUPS
            + EXT_POINT_FORMATS
            + EXT_TICKET
            + EXT_SIG_ALGS
            + ext_alpn([b"h2", b"http/1.1"])
        )
        hello = client_hello(TLS12, self.blob(32), session, SUITES_PC, exts)
        yield from self.tcp_send(conn, True, tls_record(CT_HANDSHAKE, TLS10, hello))
        yield self.now + rtt
        server_exts = EXT_RENEGOTIATION + EXT_EMS + EXT_POINT_FORMATS + ext_alpn([b"h2"])
        finished = tls_record(CT_CCS, TLS12, b"\x01") + tls_record(
            CT_HANDSHAKE, TLS12, self.blob(40)
        )
        if resume:
            flight = tls_record(
                CT_HANDSHAKE,
                TLS12,
                server_hello(TLS12, self.blob(32), session, 0xC02F, server_exts),
            )
            yield from self.tcp_send(conn, False, flight + finished)
            yield self.now + self.between(300, 2_000)
            yield from self.tcp_send(conn, True, finished)
            return
        flight = tls_record(
            CT_HANDSHAKE,
            TLS12,
            server_hello(TLS12, self.blob(32), self.blob(32), 0xC02F, server_exts)
            + certificate_msg(chain)
            + server_key_exchange_ecdhe(b"\x04" + self.blob(64), self.blob(256))
            + SERVER_HELLO_DONE,
        )
        yield from self.tcp_send(conn, False, flight)
        yield self.now + self.between(1_000, 5_000)
        key_exchange = tls_record(
            CT_HANDSHAKE, TLS12, client_key_exchange_ecdhe(b"\x04" + self.blob(64))
        )
        yield from self.tcp_send(conn, True, key_exchange + finished)
        yield self.now + rtt
        yield from self.tcp_send(conn, False, finished)

    # -- UDP services ----------------------------------------------------------------------
    def resolve(self, name: str, qtype: int) -> tuple[list[tuple[int, int, bytes]], int]:
        answers = self.zone.get((name, qtype))
        if answers is not None:
            return answers, 0
        return [], 0 if name in self.known_names else NXDOMAIN

    def dns(
        self, client: Host, name: str, qtype: int, v6: bool = False, edns: bool = False
    ) -> Proc:
        """One lookup against the client's DC; big answers come back as IPv4 fragments."""
        server = self.dcs[0] if self.rng.random() < 0.8 else self.dcs[1]
        v6 = v6 and server.ip6 is not None and client.ip6 is not None
        ident, sport = self.rng.getrandbits(16), self.port(client)
        self.emit(
            "dns", self.way(client, server, v6).udp(sport, 53, dns_query(ident, name, qtype, edns))
        )
        yield self.now + self.between(300, 3_000)
        if qtype == TYPE_TXT:
            answers = [
                (
                    TYPE_TXT,
                    300,
                    txt_rdata(
                        self.blob(200).hex().encode()[:250] for _ in range(self.rng.randint(3, 12))
                    ),
                )
            ]
            rcode = 0
        else:
            answers, rcode = self.resolve(name, qtype)
        zone = None if answers else (DOMAIN if name.endswith(DOMAIN) else name.split(".", 1)[-1])
        response = dns_response(ident, name, qtype, answers, rcode, zone, edns)
        back = self.way(server, client, v6)
        if not v6 and len(response) > 1472:
            yield from self.emit_all("dns", back.udp_fragments(53, sport, response), gap=12)
        else:
            self.emit("dns", back.udp(53, sport, response))

    def cldap_ping(self, client: Host) -> Proc:
        """The DC locator's UDP LDAP search for the Netlogon attribute."""
        dc = self.dcs[0]
        ident, sport = self.rng.randint(1, 2000), self.port(client)
        query = ldap_search(
            "",
            0,
            ldap_and(
                ldap_eq("DnsDomain", DOMAIN),
                ldap_eq("Host", client.name),
                ldap_eq("NtVer", b"\x06\x00\x00\x00"),
            ),
            ["Netlogon"],
        )
        self.emit("cldap", self.way(client, dc).udp(sport, 389, ldap_message(ident, query)))
        yield self.now + self.between(300, 2_000)
        netlogon = netlogon_sam_logon_response_ex(
            b"\x5a" * 16, DOMAIN, "dc01." + DOMAIN, "EXAMPLE", "DC01", "Default-First-Site-Name"
        )
        answer = ldap_message(ident, ldap_entry("", [("netlogon", [netlogon])])) + ldap_message(
            ident, ldap_result(0x65)
        )
        self.emit("cldap", self.way(dc, client).udp(389, sport, answer))

    def ntp(self, client: Host) -> Proc:
        server = self.dcs[0]
        request = ntp_request(self.now)
        self.emit("ntp", self.way(client, server).udp(123, 123, request))
        received = self.now + self.between(200, 600)
        yield received + 40
        self.emit(
            "ntp",
            self.way(server, client).udp(
                123, 123, ntp_response(request[40:48], received, self.now, server.ip4)
            ),
        )

    # -- processes: phones -----------------------------------------------------------------
    def sip_traffic(self, phone: Phone) -> Proc:
        """Keep-alives, presence NOTIFYs and SUBSCRIBE/SERVICE requests on the pool connection."""
        while True:
            yield self.now + self.seconds(2.0)
            conn = phone.sip
            if conn is None:
                continue
            roll = self.rng.random()
            if roll < 0.5:
                steps = [(True, 4)]  # CRLF keep-alive
            elif roll < 0.8:
                steps = [(False, self.rng.randint(300, 1000))]  # NOTIFY from the pool
            else:
                steps = [(True, self.rng.randint(300, 900)), (False, self.rng.randint(200, 700))]
            yield from self.tls_exchange(conn, TLS10, steps, self.between(300, 900))

    def call_line(self) -> Proc:
        """Calls one after another: SIP over the phones' TLS connections, then RTP both ways."""
        while True:
            yield self.now + self.seconds(25)
            idle = [p for p in self.phones if not p.busy and p.sip is not None]
            if len(idle) < 2:
                continue
            caller, callee = self.rng.sample(idle, 2)
            far: Host = callee.host
            if self.rng.random() < 0.4:  # PSTN call through the mediation server
                callee, far = caller, self.mediation
            caller.busy = callee.busy = True
            rtt = self.between(300, 900)
            assert caller.sip is not None and callee.sip is not None
            yield from self.tls_exchange(
                caller.sip, TLS10, [(True, 1300), (False, 400)], rtt
            )  # INVITE, 100 Trying
            if callee is not caller:
                yield from self.tls_exchange(
                    callee.sip, TLS10, [(False, 1400), (True, 420)], rtt
                )  # 180 Ringing
            yield self.now + self.between(2_000_000, 9_000_000)
            yield from self.tls_exchange(
                caller.sip, TLS10, [(False, 1100), (True, 600)], rtt
            )  # 200 OK, ACK
            duration = self.between(20_000_000, 300_000_000)
            a_port, b_port = (
                self.rng.randrange(20000, 30000, 2),
                self.rng.randrange(20000, 30000, 2),
            )
            self.spawn(
                self.rtp_stream(caller.host, far, a_port, b_port, duration), self.between(0, 20_000)
            )
            self.spawn(
                self.rtp_stream(far, caller.host, b_port, a_port, duration), self.between(0, 20_000)
            )
            yield self.now + duration + 40_000
            yield from self.tls_exchange(
                caller.sip, TLS10, [(True, 700), (False, 450)], rtt
            )  # BYE, 200 OK
            caller.busy = callee.busy = False

    def rtp_stream(self, src: Host, dst: Host, sport: int, dport: int, duration: int) -> Proc:
        """G.711 u-law, 20 ms packets with arrival jitter, an RTCP sender report every 5 s."""
        rng_random = self.rng.random
        way = self.way(src, dst, pcp=5, tos=0xB8)
        pool = self.pool
        ssrc, seq, stamp = (
            self.rng.getrandbits(32),
            self.rng.getrandbits(16),
            self.rng.getrandbits(32),
        )
        cname = f"{src.name.lower()}@{DOMAIN}".encode()
        offset = int(rng_random() * (POOL_SIZE - 200))
        begin = self.now
        count = int(duration // 20_000)
        for n in range(count):
            if n:
                yield begin + n * 20_000 + int(rng_random() * 1_500)
            payload = (
                RTP.pack(0x80, 0x80 if n == 0 else 0, seq, stamp, ssrc)
                + pool[offset : offset + 160]
            )
            self.emit("rtp", way.udp(sport, dport, payload))
            seq = (seq + 1) & 0xFFFF
            stamp = (stamp + 160) & 0xFFFFFFFF
            offset = (offset + 1_601) % (POOL_SIZE - 200)
            if n % 250 == 249:
                report = rtcp_sender_report(ssrc, self.now, stamp, n + 1, (n + 1) * 160, cname)
                self.emit("rtcp", way.udp(sport + 1, dport + 1, report))

    def web_services(self, phone: Phone) -> Proc:
        """HTTPS to the web pool (address book, calendar, certificate provisioning)."""
        while True:
            yield self.now + self.seconds(120)
            if phone.busy or phone.looping or phone.sip is None:
                continue
            yield from self.https_phone(
                phone.host,
                self.webpool,
                "webpool." + DOMAIN,
                (self.pki.web_leaf, self.pki.enterprise_root),
            )

    def https_phone(self, client: Host, server: Host, sni: str, chain: Sequence[bytes]) -> Proc:
        rtt = self.between(300, 900)
        conn = self.conn(client, server, 443, "tls")
        yield from self.tcp_open(conn, rtt)
        yield self.now + self.between(200, 2_000)
        yield from self.tls10_handshake(conn, sni, chain, rtt)
        for _ in range(self.rng.randint(1, 3)):
            yield self.now + self.between(1_000, 30_000)
            size = int(min(120_000, self.rng.lognormvariate(6.5, 1.0)))
            yield from self.tls_exchange(
                conn, TLS10, [(True, self.rng.randint(300, 900)), (False, size)], rtt
            )
        yield self.now + self.between(100_000, 2_000_000)
        yield from self.tcp_close(conn, True, rtt)

    def phone_dns(self, phone: Phone) -> Proc:
        names = [
            ("_sipinternaltls._tcp." + DOMAIN, TYPE_SRV),
            ("pool01." + DOMAIN, TYPE_A),
            ("ucupdates-r2." + DOMAIN, TYPE_A),
            ("_ntp._udp." + DOMAIN, TYPE_SRV),
            ("time.windows.com", TYPE_A),
            ("sipinternal." + DOMAIN, TYPE_A),
            ("_sip._tls." + DOMAIN, TYPE_SRV),
        ]
        while True:
            yield self.now + self.seconds(8)
            if phone.busy and phone.sip is None:
                continue
            name, qtype = names[int(self.rng.random() * len(names))]
            yield from self.dns(phone.host, name, qtype)
            if name.startswith("ucupdates") and self.rng.random() < 0.5:
                yield self.now + self.between(1_000, 20_000)
                yield from self.http_get(phone.host, self.webpool, "ucupdates-r2." + DOMAIN, 500)

    def phone_ntp(self, phone: Phone) -> Proc:
        while True:
            yield self.now + self.between(64_000_000, 1_024_000_000)
            yield from self.ntp(phone.host)

    def locate_dc_and_root(self, phone: Phone) -> Proc:
        """Steps 1-3 of the sign-in: find a DC, ask it for the root CA over LDAP."""
        host = phone.host
        yield from self.dns(host, "_ldap._tcp.dc._msdcs." + DOMAIN, TYPE_SRV)
        yield self.now + self.between(1_000, 10_000)
        yield from self.cldap_ping(host)
        yield self.now + self.between(1_000, 10_000)
        yield from self.dns(host, "dc01." + DOMAIN, TYPE_A)
        yield self.now + self.between(1_000, 10_000)
        yield from self.ldap_root_download(host, self.dcs[0])

    def ldap_root_download(self, client: Host, dc: Host) -> Proc:
        rtt = self.between(300, 900)
        conn = self.conn(client, dc, 389, "ldap")
        yield from self.tcp_open(conn, rtt)
        yield self.now + self.between(500, 5_000)
        base = (
            "CN=Certification Authorities,CN=Public Key Services,CN=Services,CN=Configuration,"
            "DC=example,DC=com"
        )
        requests = [
            (ldap_message(1, ldap_simple_bind()), ldap_message(1, ldap_result(0x61))),
            (
                ldap_message(
                    2,
                    ldap_search(
                        base,
                        1,
                        ldap_eq("objectCategory", "certificationAuthority"),
                        ["cACertificate", "cn"],
                    ),
                ),
                ldap_message(
                    2,
                    ldap_entry(
                        "CN=Example Enterprise Root CA," + base,
                        [
                            ("cn", [b"Example Enterprise Root CA"]),
                            ("cACertificate", [self.pki.enterprise_root]),
                        ],
                    ),
                )
                + ldap_message(2, ldap_result(0x65)),
            ),
        ]
        for request, response in requests:
            yield from self.tcp_send(conn, True, request)
            yield self.now + rtt
            yield from self.tcp_send(conn, False, response)
            yield self.now + self.between(500, 5_000)
        yield from self.tcp_send(conn, True, ldap_message(3, LDAP_UNBIND))
        yield self.now + self.between(50, 500)
        yield from self.tcp_close(conn, True, rtt)

    def connect_pool(self, phone: Phone, alert: int | None = None) -> Proc:
        """Step 4: find the pool, connect over TLS, register (or fail after Certificate)."""
        host = phone.host
        yield from self.dns(host, "_sipinternaltls._tcp." + DOMAIN, TYPE_SRV)
        yield self.now + self.between(1_000, 10_000)
        yield from self.dns(host, "pool01." + DOMAIN, TYPE_A)
        yield self.now + self.between(1_000, 10_000)
        rtt = self.between(300, 900)
        conn = self.conn(host, self.pool_vip, 5061, "tls", pcp=3)
        yield from self.tcp_open(conn, rtt)
        yield self.now + self.between(200, 2_000)
        yield from self.tls10_handshake(
            conn, "pool01." + DOMAIN, (self.pki.pool_leaf, self.pki.enterprise_root), rtt, alert
        )
        if alert is not None:
            yield self.now + self.between(100, 1_000)
            yield from self.tcp_close(conn, True, rtt)
            return
        yield self.now + self.between(5_000, 50_000)
        # REGISTER, 401 with the NTLM/Kerberos challenge, REGISTER again, 200 OK, SUBSCRIBEs.
        yield from self.tls_exchange(
            conn,
            TLS10,
            [(True, 1100), (False, 700), (True, 1900), (False, 1300), (True, 900), (False, 2500)],
            rtt,
        )
        phone.sip = conn

    def boots(self) -> Proc:
        """Now and then a phone restarts and signs in from scratch."""
        yield self.now + self.between(1_000_000, 3_000_000)
        while True:
            idle = [p for p in self.phones if not p.busy and not p.looping]
            if idle:
                self.spawn(self.boot(self.rng.choice(idle)))
            yield self.now + self.seconds(150)

    def boot(self, phone: Phone) -> Proc:
        phone.busy = True
        phone.sip = None  # the old connection just vanishes with the reboot
        yield self.now + self.between(20_000_000, 45_000_000)
        yield from self.dhcp_dora(phone.host)
        yield self.now + self.between(300_000, 2_000_000)
        yield from self.dhcp_inform(phone.host)
        yield self.now + self.between(100_000, 1_000_000)
        yield from self.ntp(phone.host)
        yield self.now + self.between(100_000, 1_000_000)
        yield from self.locate_dc_and_root(phone)
        yield self.now + self.between(500_000, 3_000_000)
        yield from self.connect_pool(phone)
        phone.busy = False

    def logon_loop(self, phone: Phone) -> Proc:
        """A phone that cannot use the pool's chain: steps 1-4 over and over."""
        alert = 42 if phone is self.phones[-1] else 48  # bad_certificate / unknown_ca
        period = self.between(55_000_000, 95_000_000)
        yield self.now + self.between(2_000_000, 20_000_000)
        while True:
            yield from self.locate_dc_and_root(phone)
            yield self.now + self.between(500_000, 2_000_000)
            yield from self.connect_pool(phone, alert)
            yield self.now + period + self.between(-3_000_000, 3_000_000)

    # -- DHCP ------------------------------------------------------------------------------
    def dhcp_options(self, kind: int, extra: bytes = b"") -> bytes:
        server = self.dhcp_server.ip4
        return (
            dhcp_option(53, bytes([kind]))
            + dhcp_option(54, server)
            + dhcp_option(51, (691200).to_bytes(4, "big"))
            + dhcp_option(1, ip4("255.255.255.0"))
            + dhcp_option(3, self.gw_voice.ip4)
            + dhcp_option(6, self.dcs[0].ip4 + self.dcs[1].ip4)
            + dhcp_option(15, DOMAIN.encode())
            + dhcp_option(42, self.dcs[0].ip4)
            + dhcp_option(119, dns_name(DOMAIN))
            + dhcp_option(120, b"\x00" + dns_name("pool01." + DOMAIN))
            + extra
        )

    def dhcp_dora(self, phone: Host) -> Proc:
        xid = self.rng.getrandbits(32)
        chaddr = phone.mac
        unconfigured = Way(
            vlan=VOICE_VLAN,
            src_mac=phone.mac,
            dst_mac=BROADCAST_MAC,
            src_ip=bytes(4),
            dst_ip=self.broadcast.ip4,
            owner=phone,
            ttl=128,
        )
        relay_to_phone = Way(
            vlan=VOICE_VLAN,
            src_mac=self.router_mac,
            dst_mac=phone.mac,
            src_ip=self.gw_voice.ip4,
            dst_ip=phone.ip4,
            owner=self.gw_voice,
            ttl=255,
        )
        asks = (
            dhcp_option(61, b"\x01" + phone.mac)
            + dhcp_option(12, phone.name.encode())
            + dhcp_option(60, b"MS-UC-Client")
            + dhcp_option(55, bytes([1, 3, 6, 15, 42, 43, 44, 119, 120]))
        )
        discover = dhcp_message(1, xid, chaddr, dhcp_option(53, bytes([DISCOVER])) + asks)
        self.emit("dhcp", unconfigured.udp(68, 67, discover))
        yield self.now + self.between(2_000, 20_000)
        offer = dhcp_message(
            2, xid, chaddr, self.dhcp_options(OFFER), yiaddr=phone.ip4, giaddr=self.gw_voice.ip4
        )
        self.emit("dhcp", relay_to_phone.udp(67, 68, offer))
        yield self.now + self.between(1_000, 10_000)
        request = dhcp_message(
            1,
            xid,
            chaddr,
            dhcp_option(53, bytes([REQUEST]))
            + dhcp_option(50, phone.ip4)
            + dhcp_option(54, self.dhcp_server.ip4)
            + asks,
        )
        self.emit("dhcp", unconfigured.udp(68, 67, request))
        yield self.now + self.between(2_000, 20_000)
        ack = dhcp_message(
            2, xid, chaddr, self.dhcp_options(DHCPACK), yiaddr=phone.ip4, giaddr=self.gw_voice.ip4
        )
        self.emit("dhcp", relay_to_phone.udp(67, 68, ack))
        yield self.now + self.between(5_000, 50_000)
        # gratuitous ARP, then resolve the gateway
        self.emit(
            "arp",
            arp_frame(VOICE_VLAN, BROADCAST_MAC, 1, phone.mac, phone.ip4, bytes(6), phone.ip4),
        )
        yield self.now + self.between(100_000, 1_000_000)
        yield from self.arp_pair(phone, self.gw_voice)

    def dhcp_inform(self, phone: Host) -> Proc:
        xid = self.rng.getrandbits(32)
        asks = (
            dhcp_option(53, bytes([INFORM]))
            + dhcp_option(61, b"\x01" + phone.mac)
            + dhcp_option(60, b"MS-UC-Client")
            + dhcp_option(55, bytes([1, 3, 6, 15, 43, 120]))
        )
        inform = dhcp_message(1, xid, phone.mac, asks, ciaddr=phone.ip4)
        self.emit("dhcp", self.way(phone, self.broadcast).udp(68, 67, inform))
        yield self.now + self.between(2_000, 20_000)
        sub = b"".join(
            dhcp_option(code, value)
            for code, value in [
                (1, b"MS-UC-Client"),
                (2, b"https"),
                (3, ("webpool." + DOMAIN).encode()),
                (4, b"443"),
                (5, b"/CertProv/CertProvisioningService.svc"),
            ]
        )
        options = (
            dhcp_option(53, bytes([DHCPACK]))
            + dhcp_option(54, self.dhcp_server.ip4)
            + dhcp_option(43, sub)
            + dhcp_option(120, b"\x00" + dns_name("pool01." + DOMAIN))
        )
        ack = dhcp_message(2, xid, phone.mac, options, ciaddr=phone.ip4, giaddr=self.gw_voice.ip4)
        self.emit("dhcp", self.way(self.gw_voice, phone).udp(67, 68, ack))

    # -- processes: PCs and background -----------------------------------------------------
    def pc_activity(self, pc: Host) -> Proc:
        while True:
            yield self.now + self.seconds(8)
            roll = self.rng.random()
            if roll < 0.62:
                yield from self.browse(pc)
            elif roll < 0.72:
                yield from self.ldap_pc(pc)
            elif roll < 0.76:
                yield from self.cldap_ping(pc)
            elif roll < 0.84:
                site = self.rng.choice(self.sites)
                yield from self.dns(pc, site.name, TYPE_A)
                yield self.now + self.between(500, 5_000)
                yield from self.http_get(
                    pc, site.host, site.name, self.rng.randint(200, 30_000), site.rtt
                )
            elif roll < 0.91:
                name = self.rng.choice(
                    [
                        "wpad." + DOMAIN,
                        "printer7." + DOMAIN,
                        "intranet.exmaple.com",
                        "isatap." + DOMAIN,
                    ]
                )
                yield from self.dns(pc, name, TYPE_A, v6=self.rng.random() < 0.5)
            elif roll < 0.95:
                yield from self.dns(pc, self.rng.choice(self.sites).name, TYPE_TXT, edns=True)
            else:
                yield from self.tcp_refused(pc)

    def pc_background(self, pc: Host) -> Proc:
        """What a domain-joined PC does on its own: name lookups, LDAP, DC pings."""
        names = [(site.name, TYPE_A) for site in self.sites] + [
            ("_ldap._tcp.dc._msdcs." + DOMAIN, TYPE_SRV),
            ("_kerberos._tcp." + DOMAIN, TYPE_SRV),
            ("wpad." + DOMAIN, TYPE_A),
            ("dc01." + DOMAIN, TYPE_A),
            ("time.windows.com", TYPE_A),
        ]
        while True:
            yield self.now + self.seconds(2.0)
            roll = self.rng.random()
            if roll < 0.93:
                name, qtype = names[int(self.rng.random() * len(names))]
                yield from self.dns(pc, name, qtype, v6=self.rng.random() < 0.3)
            elif roll < 0.97:
                yield from self.ldap_pc(pc)
            else:
                yield from self.cldap_ping(pc)

    def browse(self, pc: Host) -> Proc:
        site = self.rng.choice(self.sites)
        v6 = pc.ip6 is not None and site.host.ip6 is not None and self.rng.random() < 0.7
        yield from self.dns(pc, site.name, TYPE_A, v6=self.rng.random() < 0.3)
        if pc.ip6 is not None:
            yield from self.dns(pc, site.name, TYPE_AAAA, v6=self.rng.random() < 0.3)
        yield self.now + self.between(200, 3_000)
        conn = self.conn(pc, site.host, 443, "tls", v6=v6)
        yield from self.tcp_open(conn, site.rtt)
        yield from self.tls12_handshake(
            conn, site.name, site.chain, site.rtt, resume=self.rng.random() < 0.3
        )
        for _ in range(self.rng.randint(1, 4)):
            yield self.now + self.between(1_000, 200_000)
            size = int(min(150_000, self.rng.lognormvariate(6.8, 1.0)))
            yield from self.tls_exchange(
                conn, TLS12, [(True, self.rng.randint(200, 1_200)), (False, size)], site.rtt
            )
        yield self.now + self.between(1_000_000, 10_000_000)
        yield from self.tcp_close(conn, self.rng.random() < 0.5, site.rtt)

    def http_get(
        self, client: Host, server: Host, name: str, body: int, rtt: int | None = None
    ) -> Proc:
        rtt = rtt or self.between(300, 900)
        conn = self.conn(client, server, 80, "tcp")
        yield from self.tcp_open(conn, rtt)
        request = (
            "GET /RequestHandler/ucdevice.upx HTTP/1.1\r\n"
            f"Host: {name}\r\nUser-Agent: OCPhone/4.0\r\n\r\n"
        )
        yield from self.tcp_send(conn, True, request.encode())
        yield self.now + rtt
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {body}\r\n\r\n"
        )
        yield from self.tcp_send(conn, False, head.encode() + self.blob(body))
        yield from self.delayed_ack(conn, True)
        yield self.now + self.between(10_000, 500_000)
        yield from self.tcp_close(conn, True, rtt)

    def ldap_pc(self, pc: Host) -> Proc:
        """A rootDSE read and a user search, anonymous, then unbind."""
        rtt = self.between(300, 900)
        dc = self.rng.choice(self.dcs)
        conn = self.conn(pc, dc, 389, "ldap")
        yield from self.tcp_open(conn, rtt)
        root = ldap_entry(
            "",
            [
                ("defaultNamingContext", [b"DC=example,DC=com"]),
                ("dnsHostName", [f"{dc.name}.{DOMAIN}".encode()]),
                ("supportedLDAPVersion", [b"3", b"2"]),
            ],
        )
        user = ldap_entry(
            f"CN={pc.name} User,OU=Staff,DC=example,DC=com",
            [
                ("sAMAccountName", [pc.name.lower().encode()]),
                ("mail", [f"{pc.name.lower()}@{DOMAIN}".encode()]),
            ],
        )
        exchanges = [
            (
                ldap_search(
                    "",
                    0,
                    ldap_present("objectClass"),
                    ["defaultNamingContext", "dnsHostName", "supportedLDAPVersion"],
                ),
                root,
            ),
            (
                ldap_search(
                    "DC=example,DC=com",
                    2,
                    ldap_eq("sAMAccountName", pc.name.lower()),
                    ["mail", "sAMAccountName"],
                ),
                user,
            ),
        ]
        for message_id, (request, entry) in enumerate(exchanges, start=1):
            yield from self.tcp_send(conn, True, ldap_message(message_id, request))
            yield self.now + rtt
            yield from self.tcp_send(
                conn,
                False,
                ldap_message(message_id, entry) + ldap_message(message_id, ldap_result(0x65)),
            )
            yield self.now + self.between(500, 5_000)
        yield from self.tcp_send(conn, True, ldap_message(len(exchanges) + 1, LDAP_UNBIND))
        yield self.now + self.between(50, 500)
        yield from self.tcp_close(conn, True, rtt)

    def tcp_refused(self, pc: Host) -> Proc:
        """A SYN answered by RST, or never answered (retransmitted after 1 s and 2 s)."""
        server = self.rng.choice([self.webpool, self.pool_vip, self.dcs[1]])
        conn = self.conn(pc, server, self.rng.choice([8080, 8443, 3389, 5060]), "tcp")
        if self.rng.random() < 0.6:
            self.emit("tcp", conn.syn())
            yield self.now + self.between(300, 900)
            self.emit("tcp", conn.s2c.tcp(conn.sport, conn.cport, 0, conn.cseq, RST | ACK, 0))
            return
        frame = conn.syn()
        self.emit("tcp", frame)
        for wait in (1_000_000, 2_000_000):
            yield self.now + wait
            self.emit("tcp", frame)

    def arp_background(self) -> Proc:
        """The router refreshing its ARP cache and hosts resolving their gateway."""
        locals_ = [p.host for p in self.phones] + self.pcs
        while True:
            yield self.now + self.seconds(0.4)
            host = self.rng.choice(locals_)
            gateway = self.gw_voice if host.vlan == VOICE_VLAN else self.gw_data
            if self.rng.random() < 0.5:
                yield from self.arp_pair(gateway, host)
            else:
                yield from self.arp_pair(host, gateway)

    def arp_pair(self, asker: Host, target: Host) -> Proc:
        vlan = asker.vlan
        self.emit(
            "arp", arp_frame(vlan, BROADCAST_MAC, 1, asker.mac, asker.ip4, bytes(6), target.ip4)
        )
        yield self.now + self.between(100, 2_000)
        self.emit(
            "arp", arp_frame(vlan, asker.mac, 2, target.mac, target.ip4, asker.mac, asker.ip4)
        )

    def ipv6_background(self) -> Proc:
        """Router advertisements and neighbour solicitations on the data VLAN."""
        router = self.gw_data
        assert router.ip6 is not None
        all_nodes = Host(
            "all-nodes", mac("33:33:00:00:00:01"), bytes(4), ip6("ff02::1"), DATA_VLAN, 255
        )
        next_ra = self.now
        v6_pcs = [pc for pc in self.pcs if pc.ip6 is not None]
        while True:
            if self.now >= next_ra:
                self.emit(
                    "icmpv6",
                    self.way(router, all_nodes, v6=True).icmpv6(
                        134, 0, ra_body(router.mac, ip6("2001:db8:10::"))
                    ),
                )
                next_ra = self.now + self.between(150_000_000, 250_000_000)
            yield self.now + self.seconds(2.0)
            pc = self.rng.choice(v6_pcs)
            asker, target = (pc, router) if self.rng.random() < 0.5 else (router, pc)
            assert asker.ip6 is not None and target.ip6 is not None
            group_ip, group_mac = solicited_node(target.ip6)
            group = Host("solicited", group_mac, bytes(4), group_ip, DATA_VLAN, 255)
            ns = Way(
                vlan=DATA_VLAN,
                src_mac=asker.mac,
                dst_mac=group.mac,
                src_ip=asker.ip6,
                dst_ip=group_ip,
                owner=asker,
                ttl=255,
            )
            self.emit("icmpv6", ns.icmpv6(135, 0, ns_body(target.ip6, asker.mac)))
            yield self.now + self.between(100, 1_000)
            na = Way(
                vlan=DATA_VLAN,
                src_mac=target.mac,
                dst_mac=asker.mac,
                src_ip=target.ip6,
                dst_ip=asker.ip6,
                owner=target,
                ttl=255,
            )
            self.emit("icmpv6", na.icmpv6(136, 0, na_body(target.ip6, target.mac)))

    # -- start -----------------------------------------------------------------------------
    def start(self) -> None:
        """Spawn every process. Phones not in a logon loop are registered before the capture
        starts: their pool connections are first seen mid-stream."""
        for phone in self.phones:
            if not phone.looping:
                phone.sip = self.conn(phone.host, self.pool_vip, 5061, "tls", pcp=3)
                self.spawn(self.sip_traffic(phone), self.seconds(3))
                self.spawn(self.web_services(phone))
                self.spawn(self.phone_dns(phone))
            else:
                self.spawn(self.logon_loop(phone))
            self.spawn(self.phone_ntp(phone), self.between(0, 300_000_000))
        for pc in self.pcs:
            self.spawn(self.pc_activity(pc), self.seconds(2))
            self.spawn(self.pc_background(pc), self.seconds(2))
        for _ in range(CALL_SLOTS):
            self.spawn(self.call_line(), self.between(0, 2_000_000))
        self.spawn(self.boots())
        self.spawn(self.arp_background())
        self.spawn(self.ipv6_background(), self.between(0, 1_000_000))


def generate(
    path: Path, packets: int, seed: int, *, pcapng: bool = False, compress: bool = False
) -> Stats:
    """Write the capture for (``packets``, ``seed``) to ``path`` and return what was written."""
    writer = open_writer(path, pcapng=pcapng, compress=compress)
    try:
        scenario = Scenario(seed, packets, writer)
        scenario.start()
        stats = scenario.run()
    finally:
        writer.close()
    if stats.packets < packets:
        raise RuntimeError(f"scenario ran dry after {stats.packets} packets")
    stats.by_kind = Counter(dict(stats.by_kind.most_common()))
    return stats


def describe(stats: Stats, path: Path, seconds: float, log: Callable[[str], None]) -> None:
    size = path.stat().st_size
    log(
        f"wrote {stats.packets} packets, {size} bytes ({size / 1e6:.1f} MB) to {path}"
        f" in {seconds:.1f} s"
    )
    parts = ", ".join(f"{kind} {100 * n / stats.packets:.1f}%" for kind, n in stats.by_kind.items())
    log(f"  packets: {parts}")
    parts = ", ".join(
        f"{kind} {100 * stats.bytes_by_kind[kind] / stats.frame_bytes:.1f}%"
        for kind in stats.by_kind
    )
    log(f"  bytes:   {parts}")
    log(
        f"  IPv6 {100 * stats.ipv6 / stats.packets:.1f}%,"
        f" VLAN {DATA_VLAN} {100 * stats.data_vlan / stats.packets:.1f}%,"
        f" mean frame {stats.frame_bytes / stats.packets:.0f} bytes"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--packets", type=int, default=1_000_000, help="number of frames (default 1000000)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--out", type=Path, required=True, help="output file")
    parser.add_argument(
        "--pcapng", action="store_true", help="write pcapng (implied by a .pcapng name)"
    )
    parser.add_argument(
        "--gzip", action="store_true", help="gzip the output (implied by a .gz name)"
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)
    if args.packets < 1:
        parser.error("--packets must be positive")
    name = args.out.name
    pcapng = args.pcapng or name.endswith((".pcapng", ".pcapng.gz"))
    compress = args.gzip or name.endswith(".gz")
    began = time.perf_counter()
    stats = generate(args.out, args.packets, args.seed, pcapng=pcapng, compress=compress)
    if not args.quiet:
        describe(stats, args.out, time.perf_counter() - began, print)
    return 0


if __name__ == "__main__":
    sys.exit(main())

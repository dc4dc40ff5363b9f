"""Frames on the wire: hosts, Ethernet/802.1Q/IPv4/UDP/TCP headers, capture files.

L2-L4 headers are packed by hand (with correct checksums) rather than with scapy
layers: scapy needs about a millisecond per packet, and the VLAN captures hold
thousands of RTP frames.  Application payloads that scapy builds well (DNS) are
still built with scapy, see ``proto.py``.

Everything random comes from the ``random.Random`` held by the ``Capture``, so a
scenario run with the same seed produces the same bytes.
"""

from __future__ import annotations

import gzip
import io
import ipaddress
import random
import struct
from dataclasses import dataclass, field

BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_VLAN = 0x8100
ETH_LLDP = 0x88CC
PROTO_TCP = 6
PROTO_UDP = 17


def mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def ip_bytes(ip: str) -> bytes:
    return ipaddress.IPv4Address(ip).packed


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@dataclass
class Host:
    """One IP endpoint as the capture point sees it.

    ``vlan`` is None for hosts beyond the router: their frames reach the capture
    point with the VLAN gateway's MAC as source and a TTL lowered by ``hops``.
    """

    name: str
    ip: str
    mac: str = ""
    vlan: int | None = None
    role: str = "server"
    model: str = ""
    ttl: int = 128
    hops: int = 0
    firmware: str = ""
    other_ips: tuple[str, ...] = ()  # addresses it held earlier in the capture
    ip_id: int = 0
    id_stride: tuple[int, int] = (
        1,
        1,
    )  # a busy server's IP ID also moves for traffic we do not see

    def next_ip_id(self, rng: random.Random) -> int:
        self.ip_id = (self.ip_id + rng.randint(*self.id_stride)) & 0xFFFF
        return self.ip_id

    def device(self) -> dict:
        d = {
            "role": self.role,
            "name": self.name,
            "ip": self.ip,
            "mac": self.mac or None,
            "model": self.model or None,
        }
        if self.firmware:
            d["firmware"] = self.firmware
        if self.other_ips:
            d["other_ips"] = list(self.other_ips)
        if self.vlan is not None:
            d["vlan"] = self.vlan
        return d


@dataclass
class Vlan:
    vid: int
    network: str
    gateway_mac: str
    gateway_ip: str


@dataclass
class Frame:
    ts: float
    order: int
    data: bytes


@dataclass
class Capture:
    """Frames of one scenario plus the network they live on."""

    seed: int
    vlans: dict[int, Vlan] = field(default_factory=dict)
    frames: list[Frame] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._order = 0
        self.seen: dict[str, Host] = {}  # hosts that sent or received IP packets, by name
        self.finalizers: list = []  # called once before the frames are read (pending ACKs)

    # -------------------------------------------------------------- hosts
    def host(self, name: str, ip: str, **kw) -> Host:
        h = Host(name=name, ip=ip, **kw)
        h.ip_id = self.rng.randrange(0x10000)
        return h

    def vlan_of(self, ip: str) -> Vlan | None:
        for v in self.vlans.values():
            if ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(v.network):
                return v
        return None

    # ------------------------------------------------------------- frames
    def add(self, ts: float, data: bytes) -> None:
        self._order += 1
        self.frames.append(Frame(ts, self._order, data))

    def ether(
        self,
        ts: float,
        src_mac: str,
        dst_mac: str,
        vlan: int | None,
        ethertype: int,
        payload: bytes,
        prio: int = 0,
    ) -> None:
        hdr = mac_bytes(dst_mac) + mac_bytes(src_mac)
        if vlan is not None:
            hdr += struct.pack("!HH", ETH_VLAN, (prio << 13) | vlan)
        frame = hdr + struct.pack("!H", ethertype) + payload
        if len(frame) < 60:  # pad to the Ethernet minimum (FCS not captured)
            frame += b"\0" * (60 - len(frame))
        self.add(ts, frame)

    def l2_path(self, src: Host, dst: Host) -> tuple[str, str, int | None, int]:
        """(src MAC, dst MAC, VLAN tag, TTL as seen) for an IP packet from src to dst."""
        if src.vlan is not None and dst.vlan == src.vlan:
            return src.mac, dst.mac, src.vlan, src.ttl
        if src.vlan is not None:  # leaving the VLAN through its router
            return src.mac, self.vlans[src.vlan].gateway_mac, src.vlan, src.ttl
        if dst.vlan is None:
            raise ValueError(f"neither {src.name} nor {dst.name} is on a captured VLAN")
        return self.vlans[dst.vlan].gateway_mac, dst.mac, dst.vlan, src.ttl - src.hops

    def ipv4(
        self,
        ts: float,
        src: Host,
        dst: Host,
        proto: int,
        l4: bytes,
        *,
        tos: int = 0,
        df: bool = True,
        prio: int = 0,
        src_ip: str | None = None,
        dst_ip: str | None = None,
        src_mac: str | None = None,
        dst_mac: str | None = None,
        ttl: int | None = None,
    ) -> None:
        self.seen.setdefault(src.name, src)
        if dst is not None:
            self.seen.setdefault(dst.name, dst)
        smac, dmac, vlan, seen_ttl = (
            self.l2_path(src, dst)
            if dst is not None
            else (src.mac, BROADCAST_MAC, src.vlan, src.ttl)
        )
        packet = (
            ip_header(
                src_ip or src.ip,
                dst_ip or dst.ip,
                proto,
                len(l4),
                ttl if ttl is not None else seen_ttl,
                src.next_ip_id(self.rng),
                tos,
                df,
            )
            + l4
        )
        self.ether(ts, src_mac or smac, dst_mac or dmac, vlan, ETH_IPV4, packet, prio)

    def udp(
        self, ts: float, src: Host, sport: int, dst: Host | None, dport: int, payload: bytes, **kw
    ) -> None:
        s_ip = kw.get("src_ip") or src.ip
        d_ip = kw.get("dst_ip") or dst.ip
        self.ipv4(ts, src, dst, PROTO_UDP, udp_segment(s_ip, d_ip, sport, dport, payload), **kw)

    def tcp(
        self,
        ts: float,
        src: Host,
        sport: int,
        dst: Host,
        dport: int,
        seq: int,
        ack: int,
        flags: str,
        window: int,
        payload: bytes = b"",
        options: bytes = b"",
        **kw,
    ) -> None:
        seg = tcp_segment(src.ip, dst.ip, sport, dport, seq, ack, flags, window, payload, options)
        self.ipv4(ts, src, dst, PROTO_TCP, seg, **kw)

    def sorted_frames(self) -> list[Frame]:
        for fin in self.finalizers:
            fin()
        return sorted(self.frames, key=lambda f: (round(f.ts * 1e6), f.order))


def ip_header(
    src: str, dst: str, proto: int, l4_len: int, ttl: int, ip_id: int, tos: int = 0, df: bool = True
) -> bytes:
    hdr = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        tos,
        20 + l4_len,
        ip_id,
        0x4000 if df else 0,
        ttl,
        proto,
        0,
        ip_bytes(src),
        ip_bytes(dst),
    )
    return hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]


def _pseudo(src: str, dst: str, proto: int, length: int) -> bytes:
    return ip_bytes(src) + ip_bytes(dst) + struct.pack("!BBH", 0, proto, length)


def udp_segment(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    hdr = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    csum = checksum(_pseudo(src, dst, PROTO_UDP, 8 + len(payload)) + hdr + payload) or 0xFFFF
    return hdr[:6] + struct.pack("!H", csum) + payload


TCP_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20}


def tcp_segment(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: str,
    window: int,
    payload: bytes = b"",
    options: bytes = b"",
) -> bytes:
    assert len(options) % 4 == 0
    bits = 0
    for f in flags:
        bits |= TCP_FLAGS[f]
    off = (20 + len(options)) // 4
    hdr = (
        struct.pack(
            "!HHIIBBHHH",
            sport,
            dport,
            seq & 0xFFFFFFFF,
            ack & 0xFFFFFFFF if "A" in flags else 0,
            off << 4,
            bits,
            window,
            0,
            0,
        )
        + options
    )
    csum = checksum(_pseudo(src, dst, PROTO_TCP, len(hdr) + len(payload)) + hdr + payload)
    return hdr[:16] + struct.pack("!H", csum) + hdr[18:] + payload


# ------------------------------------------------------------------ files
LINKTYPE_ETHERNET = 1


def pcap_bytes(frames: list[Frame]) -> bytes:
    out = io.BytesIO()
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET))
    for f in frames:
        us = round(f.ts * 1e6)
        out.write(struct.pack("<IIII", us // 1_000_000, us % 1_000_000, len(f.data), len(f.data)))
        out.write(f.data)
    return out.getvalue()


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def _ng_option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad4(value)


def _ng_block(btype: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def pcapng_bytes(frames: list[Frame], comment: str, interface: str = "span0") -> bytes:
    """Section header, one Ethernet interface (microsecond timestamps), enhanced packet blocks.

    Only fixed strings go into the options, so the bytes depend on the frames alone.
    """
    shb_opts = (
        _ng_option(1, comment.encode())
        + _ng_option(4, b"analyzer samples/generate.py")
        + _ng_option(0, b"")
    )
    shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts
    idb_opts = _ng_option(2, interface.encode()) + _ng_option(9, bytes([6])) + _ng_option(0, b"")
    idb = struct.pack("<HHI", LINKTYPE_ETHERNET, 0, 65535) + idb_opts
    out = [_ng_block(0x0A0D0D0A, shb), _ng_block(1, idb)]
    for f in frames:
        us = round(f.ts * 1e6)
        body = struct.pack("<IIIII", 0, us >> 32, us & 0xFFFFFFFF, len(f.data), len(f.data))
        out.append(_ng_block(6, body + _pad4(f.data)))
    return b"".join(out)


def gzip_bytes(data: bytes) -> bytes:
    """gzip with no file name and mtime 0, so equal input gives equal output."""
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return out.getvalue()

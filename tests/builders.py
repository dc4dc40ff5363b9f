"""Tiny writers of capture bytes for tests: every field explicit, nothing hidden."""

from __future__ import annotations

import struct


def ipv4_udp(
    src: bytes = bytes([10, 0, 0, 1]),
    dst: bytes = bytes([10, 0, 0, 2]),
    sport: int = 1024,
    dport: int = 53,
    payload: bytes = b"hello",
    ident: int = 1,
    frag: int = 0,
) -> bytes:
    """An IPv4 header (no options) + UDP header + payload; checksums left zero."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident, frag, 64, 17, 0, src, dst)
    return ip + udp


def ipv4_tcp(
    src: bytes = bytes([10, 0, 0, 1]),
    dst: bytes = bytes([10, 0, 0, 2]),
    sport: int = 40000,
    dport: int = 5061,
    seq: int = 1000,
    ack: int = 0,
    flags: int = 0x02,
    payload: bytes = b"",
) -> bytes:
    tcp = struct.pack("!HHIIHHHH", sport, dport, seq, ack, (5 << 12) | flags, 65535, 0, 0)
    body = tcp + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 7, 0x4000, 128, 6, 0, src, dst)
    return ip + body


def ethernet(l3: bytes, ethertype: int = 0x0800, vlans: tuple[int, ...] = ()) -> bytes:
    """Ethernet II frame; each VLAN id adds an 802.1Q tag (outer first)."""
    header = bytes.fromhex("00 04 f2 00 00 01") + bytes.fromhex("00 15 5d 00 00 02")
    for vid in vlans:
        header += struct.pack("!HH", 0x8100, vid)
    return header + struct.pack("!H", ethertype) + l3


def pcap(
    packets: list[tuple[float, bytes]],
    linktype: int = 1,
    endian: str = "<",
    nanoseconds: bool = False,
) -> bytes:
    """A classic pcap file: (timestamp in seconds, frame bytes) per packet."""
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    scale = 1_000_000_000 if nanoseconds else 1_000_000
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for ts, frame in packets:
        sec = int(ts)
        frac = round((ts - sec) * scale)
        out += struct.pack(endian + "IIII", sec, frac, len(frame), len(frame)) + frame
    return out


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def pcapng_block(block_type: int, body: bytes, endian: str = "<") -> bytes:
    body = _pad4(body)
    length = 12 + len(body)
    return struct.pack(endian + "II", block_type, length) + body + struct.pack(endian + "I", length)


def pcapng_shb(endian: str = "<") -> bytes:
    body = struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    return pcapng_block(0x0A0D0D0A, body, endian)


def pcapng_idb(linktype: int = 1, tsresol: int | None = None, endian: str = "<") -> bytes:
    body = struct.pack(endian + "HHI", linktype, 0, 65535)
    if tsresol is not None:
        body += struct.pack(endian + "HH", 9, 1) + bytes([tsresol, 0, 0, 0])
        body += struct.pack(endian + "HH", 0, 0)
    return pcapng_block(1, body, endian)


def pcapng_epb(iface: int, ticks: int, frame: bytes, endian: str = "<") -> bytes:
    body = struct.pack(
        endian + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)
    )
    return pcapng_block(6, body + frame, endian)


def pcapng_spb(frame: bytes, endian: str = "<") -> bytes:
    return pcapng_block(3, struct.pack(endian + "I", len(frame)) + frame, endian)


def tcp_conversation(
    messages: list[tuple[int, bytes]],
    client: tuple[bytes, int] = (bytes([10, 20, 0, 57]), 49160),
    server: tuple[bytes, int] = (bytes([10, 1, 0, 50]), 5060),
    t0: float = 1_330_596_000.0,
) -> bytes:
    """A pcap of one TCP connection: handshake, ``(direction, payload)`` segments
    (0 = client to server) with consistent sequence and acknowledgement numbers, then
    FIN both ways."""
    seq = [1000, 5000]
    ends = [client, server]
    frames: list[tuple[float, bytes]] = []

    def segment(direction: int, flags: int, payload: bytes = b"") -> None:
        (src, sport), (dst, dport) = ends[direction], ends[1 - direction]
        tcp = ipv4_tcp(src, dst, sport, dport, seq[direction], seq[1 - direction], flags, payload)
        frames.append((t0 + len(frames) * 0.001, ethernet(tcp)))
        seq[direction] += len(payload) + (1 if flags & 0x03 else 0)

    segment(0, 0x02)  # SYN
    segment(1, 0x12)  # SYN-ACK
    segment(0, 0x10)  # ACK
    for direction, payload in messages:
        segment(direction, 0x18, payload)  # PSH-ACK
    segment(0, 0x11)  # FIN-ACK
    segment(1, 0x11)
    return pcap(frames)

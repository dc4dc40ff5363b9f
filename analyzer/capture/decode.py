"""Columnar L2-L4 decoding: every packet of a batch at once, no Python object per packet.

:func:`decode_batch` gathers the link, IP and transport header fields of all packets in a
:class:`~analyzer.capture.readers.RecordBatch` with numpy fancy indexing. The rare packets
that need sequential work (IP fragments, IPv6 extension headers) are flagged ``slow`` and
finished by :func:`decode_slow` one by one.

Addresses are kept as two ``uint64`` halves of an IPv6 address; IPv4 addresses are mapped
(``::ffff:a.b.c.d``) so one key shape covers both families.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.capture.readers import RecordBatch
from analyzer.errors import Malformed, Truncated

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
Bool = npt.NDArray[np.bool_]

ETH_IPV4, ETH_IPV6, ETH_ARP = 0x0800, 0x86DD, 0x0806
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
PPPOE_SESSION = 0x8864
IPV4_MAPPED = np.uint64(0xFFFF_0000_0000)
IPV6_EXTENSION_HEADERS = (0, 43, 44, 51, 60, 135, 139, 140)
PROTO_TCP, PROTO_UDP = 6, 17
#: The link types decoded here; others are counted as unknown.
KNOWN_LINKTYPES = (0, 1, 12, 14, 101, 108, 113, 228, 229, 276)

#: Why a packet could not be decoded down to its transport header (``problem`` column).
PROBLEMS = (
    "",  # 0: fine
    "unknown_link_type",
    "truncated_link_header",
    "truncated_ip_header",
    "bad_ip_header",
    "truncated_transport_header",
    "bad_ipv6_extension_header",
)
(
    OK,
    UNKNOWN_LINKTYPE,
    TRUNCATED_LINK,
    TRUNCATED_IP,
    BAD_IP,
    TRUNCATED_TRANSPORT,
    BAD_IPV6_EXT,
) = range(len(PROBLEMS))


@dataclass(slots=True)
class Decoded:
    """Header fields of every packet in a batch, one numpy column each.

    Missing values are -1 (ports, ``ip_proto``, VLAN ids) or 0 (addresses, flags).
    ``payload_start``/``payload_end`` index ``batch.buf`` (``payload_end`` is already cut
    to the captured bytes; ``payload_wire_len`` is what the IP length says was sent).
    """

    batch: RecordBatch
    frame: I64
    ethertype: I64
    vlan_outer: I64
    vlan_inner: I64
    ip_version: I64
    ip_proto: I64
    src_hi: U64
    src_lo: U64
    dst_hi: U64
    dst_lo: U64
    sport: I64
    dport: I64
    tcp_flags: I64
    tcp_seq: I64
    tcp_ack: I64
    tcp_window: I64
    payload_start: I64
    payload_end: I64
    payload_wire_len: I64
    #: Needs :func:`decode_slow`: an IP fragment or an IPv6 extension header chain.
    slow: Bool
    #: Index into :data:`PROBLEMS`.
    problem: I64
    #: Offset of the IP header in ``batch.buf`` (-1 when not IP); used by the slow path.
    l3_start: I64
    l3_end: I64

    def __len__(self) -> int:
        return len(self.frame)


class _Bytes:
    """Bounds-safe vectorised big-endian reads from one buffer, without copying it.

    A read that would run past the end is clamped to the last full value there: callers
    mask those rows out. (Byte gathers and shifts: numpy gathers from an unaligned
    big-endian view of the buffer measured slower.)
    """

    def __init__(self, buf: bytes) -> None:
        if len(buf) < 8:  # so that every clamp below lands inside the buffer
            buf = buf + bytes(8)
        self.a = np.frombuffer(buf, dtype=np.uint8)
        self.limit = len(buf)

    def u8(self, idx: I64) -> I64:
        return self.a[np.minimum(idx, self.limit - 1)].astype(np.int64)

    def u16(self, idx: I64) -> I64:
        i = np.minimum(idx, self.limit - 2)
        value: I64 = (self.a[i].astype(np.int64) << 8) | self.a[i + 1]
        return value

    def u32(self, idx: I64) -> I64:
        i = np.minimum(idx, self.limit - 4)
        a = self.a
        value: I64 = (
            (a[i].astype(np.int64) << 24)
            | (a[i + 1].astype(np.int64) << 16)
            | (a[i + 2].astype(np.int64) << 8)
            | a[i + 3]
        )
        return value

    def u64(self, idx: I64) -> U64:
        i = np.minimum(idx, self.limit - 8)
        rows = self.a[i[:, None] + np.arange(8)]
        return np.ascontiguousarray(rows).view(">u8").ravel().astype(np.uint64)


def decode_batch(batch: RecordBatch) -> Decoded:
    """Decode link, IP and transport headers of all packets in ``batch``.

    >>> from analyzer.capture.readers import open_capture
    >>> with open_capture("samples/cx700-logon-loop.pcapng") as cap:
    ...     d = decode_batch(next(cap.batches()))
    ...     int((d.ip_proto == 6).sum())
    436
    """
    n = len(batch)
    b = _Bytes(batch.buf)
    start = batch.data_offset
    end = start + batch.caplen  # where each packet's decodable bytes end (narrowed below)
    lt = batch.linktype
    neg = np.full(n, -1, dtype=np.int64)
    ethertype = neg.copy()
    l3 = neg.copy()
    problem = np.zeros(n, dtype=np.int64)

    known = np.isin(lt, KNOWN_LINKTYPES)
    problem[~known] = UNKNOWN_LINKTYPE

    eth = lt == 1
    if eth.any():
        ok = eth & (end - start >= 14)
        problem[eth & ~ok] = TRUNCATED_LINK
        ethertype[ok] = b.u16(start[ok] + 12)
        l3[ok] = start[ok] + 14
    for code, hdr, proto_at in ((113, 16, 14), (276, 20, 0)):  # Linux SLL, SLL2
        sel = lt == code
        if sel.any():
            ok = sel & (end - start >= hdr)
            problem[sel & ~ok] = TRUNCATED_LINK
            ethertype[ok] = b.u16(start[ok] + proto_at)
            l3[ok] = start[ok] + hdr
    raw = np.isin(lt, (12, 14, 101))
    if raw.any():
        ok = raw & (end > start)
        problem[raw & ~ok] = TRUNCATED_LINK
        version = b.u8(start[ok]) >> 4
        ethertype[ok] = np.where(version == 4, ETH_IPV4, np.where(version == 6, ETH_IPV6, -1))
        l3[ok] = start[ok]
    for code, et in ((228, ETH_IPV4), (229, ETH_IPV6)):
        sel = lt == code
        ethertype[sel] = et
        l3[sel] = start[sel]
    null = (lt == 0) | (lt == 108)
    if null.any():
        ok = null & (end - start >= 4)
        problem[null & ~ok] = TRUNCATED_LINK
        be = b.u32(start[ok])
        le = ((be & 0xFF) << 24) | ((be & 0xFF00) << 8) | ((be >> 8) & 0xFF00) | (be >> 24)
        # The family is in the capturing host's byte order, which the file does not record.
        family = np.where(be <= 0xFFFF, be, le)
        ethertype[ok] = np.where(
            family == 2, ETH_IPV4, np.where(np.isin(family, (10, 24, 28, 30)), ETH_IPV6, -1)
        )
        l3[ok] = start[ok] + 4

    # 802.1Q / 802.1ad tags (any link type may carry them after its own header) and PPPoE.
    vlan_outer = neg.copy()
    vlan_inner = neg.copy()
    for _ in range(3):
        tagged = np.isin(ethertype, VLAN_TPIDS)
        if not tagged.any():
            break
        ok = tagged & (l3 + 4 <= end)
        problem[tagged & ~ok] = TRUNCATED_LINK
        ethertype[tagged & ~ok] = -1
        vid = b.u16(l3[ok]) & 0x0FFF
        outer_free = vlan_outer[ok] == -1
        vlan_inner[ok] = np.where(outer_free, vlan_inner[ok], vid)
        vlan_outer[ok] = np.where(outer_free, vid, vlan_outer[ok])
        ethertype[ok] = b.u16(l3[ok] + 2)
        l3[ok] += 4
    pppoe = ethertype == PPPOE_SESSION
    if pppoe.any():
        ok = pppoe & (l3 + 8 <= end)
        problem[pppoe & ~ok] = TRUNCATED_LINK
        ppp = b.u16(l3[ok] + 6)
        ethertype[pppoe] = -1
        ethertype[ok] = np.where(ppp == 0x21, ETH_IPV4, np.where(ppp == 0x57, ETH_IPV6, -1))
        # The PPPoE length (which counts the 2-byte PPP protocol) bounds what follows, so
        # padding after a short session frame is not read as IP payload.
        session_end = l3[ok] + 6 + b.u16(l3[ok] + 4)
        end[ok] = np.minimum(end[ok], session_end)
        l3[ok] += 8

    ip_version = np.zeros(n, dtype=np.int64)
    ip_proto = neg.copy()
    src_hi = np.zeros(n, dtype=np.uint64)
    src_lo = np.zeros(n, dtype=np.uint64)
    dst_hi = np.zeros(n, dtype=np.uint64)
    dst_lo = np.zeros(n, dtype=np.uint64)
    l3_end = neg.copy()
    l4 = neg.copy()
    slow = np.zeros(n, dtype=np.bool_)

    v4 = ethertype == ETH_IPV4
    if v4.any():
        room = v4 & (l3 + 20 <= end)
        problem[v4 & ~room] = TRUNCATED_IP
        vihl = b.u8(l3)
        ihl = (vihl & 0x0F) * 4
        total = b.u16(l3 + 2)
        # Total length 0 comes from TCP segmentation offload on the capturing host: the
        # frame is larger than the IP header admits, so trust the captured length (as
        # Wireshark does).
        total = np.where(total == 0, end - l3, total)
        good = room & ((vihl >> 4) == 4) & (ihl >= 20) & (total >= ihl)
        problem[room & ~good] = BAD_IP
        short = good & (l3 + ihl > end)
        problem[short] = TRUNCATED_IP
        good &= ~short
        idx = l3[good]
        ip_version[good] = 4
        ip_proto[good] = b.u8(idx + 9)
        src_lo[good] = b.u32(idx + 12).astype(np.uint64) | IPV4_MAPPED
        dst_lo[good] = b.u32(idx + 16).astype(np.uint64) | IPV4_MAPPED
        l3_end[good] = idx + total[good]
        l4[good] = idx + ihl[good]
        frag = b.u16(idx + 6)
        slow[good] = (frag & 0x3FFF) != 0  # MF set or a non-zero offset
    v6 = ethertype == ETH_IPV6
    if v6.any():
        room = v6 & (l3 + 40 <= end)
        problem[v6 & ~room] = TRUNCATED_IP
        good = room & ((b.u8(l3) >> 4) == 6)
        problem[room & ~good] = BAD_IP
        idx = l3[good]
        ip_version[good] = 6
        nxt = b.u8(idx + 6)
        ip_proto[good] = nxt
        src_hi[good] = b.u64(idx + 8)
        src_lo[good] = b.u64(idx + 16)
        dst_hi[good] = b.u64(idx + 24)
        dst_lo[good] = b.u64(idx + 32)
        plen = b.u16(idx + 4)
        # Payload length 0 means a jumbogram (or TSO capture): trust the captured length.
        l3_end[good] = np.where(plen == 0, end[good], idx + 40 + plen)
        l4[good] = idx + 40
        slow[good] = np.isin(nxt, IPV6_EXTENSION_HEADERS)

    # The IP length, not the frame length, bounds the payload: Ethernet pads short frames.
    data_end = np.minimum(l3_end, end)
    fast = (ip_version > 0) & ~slow

    sport = neg.copy()
    dport = neg.copy()
    tcp_flags = np.zeros(n, dtype=np.int64)
    tcp_seq = np.zeros(n, dtype=np.int64)
    tcp_ack = np.zeros(n, dtype=np.int64)
    tcp_window = np.zeros(n, dtype=np.int64)
    payload_start = neg.copy()
    payload_end = neg.copy()
    payload_wire = np.zeros(n, dtype=np.int64)

    tcp = fast & (ip_proto == PROTO_TCP)
    if tcp.any():
        ok = tcp & (l4 + 20 <= data_end)
        problem[tcp & ~ok] = TRUNCATED_TRANSPORT
        idx = l4[ok]
        sport[ok] = b.u16(idx)
        dport[ok] = b.u16(idx + 2)
        tcp_seq[ok] = b.u32(idx + 4)
        tcp_ack[ok] = b.u32(idx + 8)
        off_flags = b.u16(idx + 12)
        tcp_flags[ok] = off_flags & 0x01FF
        tcp_window[ok] = b.u16(idx + 14)
        # A data offset beyond the captured bytes (or below the 20-byte minimum) is a
        # broken header: no payload, and the packet is flagged, never read past its end.
        doff = ((off_flags >> 12) & 0xF) * 4
        bad = (doff < 20) | (idx + doff > data_end[ok])
        problem[np.flatnonzero(ok)[bad]] = TRUNCATED_TRANSPORT
        pstart = np.where(bad, data_end[ok], idx + doff)
        payload_start[ok] = pstart
        payload_end[ok] = np.maximum(pstart, data_end[ok])
        payload_wire[ok] = np.maximum(0, l3_end[ok] - pstart)
    udp = fast & (ip_proto == PROTO_UDP)
    if udp.any():
        ok = udp & (l4 + 8 <= data_end)
        problem[udp & ~ok] = TRUNCATED_TRANSPORT
        idx = l4[ok]
        sport[ok] = b.u16(idx)
        dport[ok] = b.u16(idx + 2)
        payload_start[ok] = idx + 8
        payload_end[ok] = np.maximum(idx + 8, data_end[ok])
        payload_wire[ok] = np.maximum(0, l3_end[ok] - idx - 8)

    return Decoded(
        batch=batch,
        frame=batch.first_frame + np.arange(n, dtype=np.int64),
        ethertype=ethertype,
        vlan_outer=vlan_outer,
        vlan_inner=vlan_inner,
        ip_version=ip_version,
        ip_proto=ip_proto,
        src_hi=src_hi,
        src_lo=src_lo,
        dst_hi=dst_hi,
        dst_lo=dst_lo,
        sport=sport,
        dport=dport,
        tcp_flags=tcp_flags,
        tcp_seq=tcp_seq,
        tcp_ack=tcp_ack,
        tcp_window=tcp_window,
        payload_start=payload_start,
        payload_end=payload_end,
        payload_wire_len=payload_wire,
        slow=slow,
        problem=problem,
        l3_start=np.where(ip_version > 0, l3, -1),
        l3_end=l3_end,
    )


@dataclass(slots=True)
class SlowPacket:
    """What :func:`decode_slow` found in one fragment or extension-header packet."""

    ip_proto: int
    #: The transport header and payload, or None while a fragmented datagram is incomplete.
    transport: bytes | None
    #: (ident, offset, more_fragments) when the packet is a fragment.
    fragment: tuple[int, int, bool] | None


def decode_slow(packet: bytes, version: int) -> SlowPacket:
    """Walk one IP packet's fragment fields and IPv6 extension headers.

    ``packet`` starts at the IP header and ends at the IP length (or the capture's end).
    Raises :class:`~analyzer.errors.DecodeError` for headers that do not fit.

    >>> p = bytes.fromhex("45000020 abcd2000 4011 0000 0a000001 0a000002") + bytes(12)
    >>> s = decode_slow(p, 4)
    >>> s.ip_proto, s.fragment, len(s.transport)
    (17, (43981, 0, True), 12)
    """
    if version == 4:
        if len(packet) < 20:
            raise Truncated(f"IPv4 header needs 20 bytes, have {len(packet)}", offset=0)
        ihl = (packet[0] & 0x0F) * 4
        if ihl < 20 or ihl > len(packet):
            raise Malformed(f"IPv4 header length {ihl} in a {len(packet)}-byte packet", offset=0)
        ident, frag = struct.unpack_from("!HH", packet, 4)
        proto = packet[9]
        body = packet[ihl:]
        offset = (frag & 0x1FFF) * 8
        more = bool(frag & 0x2000)
        if offset or more:
            return SlowPacket(proto, body, (ident, offset, more))
        return SlowPacket(proto, body, None)
    if len(packet) < 40:
        raise Truncated(f"IPv6 header needs 40 bytes, have {len(packet)}", offset=0)
    nxt = packet[6]
    pos = 40
    fragment = None
    hops = 0
    while nxt in IPV6_EXTENSION_HEADERS:
        hops += 1
        if pos + 8 > len(packet):
            raise Truncated(f"IPv6 extension header {nxt} cut short", offset=pos)
        if hops > 16:
            raise Malformed("more than 16 IPv6 extension headers", offset=pos)
        if nxt == 44:  # Fragment header: fixed 8 bytes
            frag, ident = struct.unpack_from("!HI", packet, pos + 2)
            fragment = (ident, frag & 0xFFF8, bool(frag & 1))
            nxt = packet[pos]
            pos += 8
        elif nxt == 51:  # AH counts its length in 4-byte words
            nxt, length = packet[pos], packet[pos + 1]
            pos += (length + 2) * 4
        else:
            nxt, length = packet[pos], packet[pos + 1]
            pos += (length + 1) * 8
    if pos > len(packet):
        raise Truncated(f"IPv6 extension headers run past the packet ({pos} bytes)", offset=pos)
    if fragment is not None and (fragment[1] or fragment[2]):
        return SlowPacket(nxt, packet[pos:], fragment)
    return SlowPacket(nxt, packet[pos:], None)


def address_text(hi: int, lo: int) -> str:
    """Text form of an address kept as two 64-bit halves.

    >>> address_text(0, 0xFFFF_0A00_0001)
    '10.0.0.1'
    >>> address_text(0x20010DB8_00000000, 1)
    '2001:db8::1'
    """
    if hi == 0 and (lo >> 32) == 0xFFFF:
        return socket.inet_ntoa((lo & 0xFFFFFFFF).to_bytes(4, "big"))
    return socket.inet_ntop(socket.AF_INET6, ((hi << 64) | lo).to_bytes(16, "big"))


def addresses_text(hi: U64, lo: U64) -> npt.NDArray[np.object_]:
    """:func:`address_text` for whole columns, formatting each distinct address once
    (a dict, not ``np.unique(axis=0)``: for the few hundred new flows of a batch the sort
    of 128-bit rows cost more than the formatting it saved)."""
    texts: dict[tuple[int, int], str] = {}
    out = np.empty(len(hi), dtype=object)
    for i, pair in enumerate(zip(hi.tolist(), lo.tolist(), strict=True)):
        text = texts.get(pair)
        if text is None:
            text = texts[pair] = address_text(*pair)
        out[i] = text
    return out


@dataclass(slots=True)
class TransportHeader:
    """Ports and TCP fields of a transport header parsed from bytes (the slow path)."""

    sport: int = -1
    dport: int = -1
    tcp_flags: int = 0
    tcp_seq: int = 0
    tcp_ack: int = 0
    tcp_window: int = 0
    #: Offset of the payload in the transport bytes, or -1 when the header is cut short.
    payload_offset: int = -1


def parse_transport(proto: int, data: bytes) -> TransportHeader:
    """Parse a TCP or UDP header at the start of ``data`` (other protocols: no ports).

    >>> h = parse_transport(17, bytes.fromhex("0035 c001 000c 0000") + b"abcd")
    >>> h.sport, h.dport, h.payload_offset
    (53, 49153, 8)
    """
    if proto == PROTO_TCP and len(data) >= 20:
        sport, dport, seq, ack, off_flags, window = struct.unpack_from("!HHIIHH", data)
        return TransportHeader(
            sport, dport, off_flags & 0x01FF, seq, ack, window, ((off_flags >> 12) & 0xF) * 4
        )
    if proto == PROTO_UDP and len(data) >= 8:
        sport, dport = struct.unpack_from("!HH", data)
        return TransportHeader(sport, dport, payload_offset=8)
    return TransportHeader()

"""Payload bytes of the UDP and link-layer protocols: DHCP, DNS, NTP, NBNS, LLDP, ARP, RTP, HTTP."""

from __future__ import annotations

import random
import struct

from scapy.layers.dns import DNS, DNSQR, DNSRR, DNSRRSOA, DNSRRSRV, dns_compress

from .wire import ip_bytes, mac_bytes

# ------------------------------------------------------------------ DHCP
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)
MAGIC = b"\x63\x82\x53\x63"


def dns_name(fqdn: str) -> bytes:
    out = b""
    for label in fqdn.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def opt(code: int, value: bytes) -> bytes:
    assert len(value) < 256
    return bytes([code, len(value)]) + value


def opt_ips(code: int, ips: list[str]) -> bytes:
    return opt(code, b"".join(ip_bytes(i) for i in ips))


def opt_u32(code: int, n: int) -> bytes:
    return opt(code, struct.pack("!I", n))


def opt_str(code: int, s: str) -> bytes:
    return opt(code, s.encode())


def opt_search_list(domains: list[str]) -> bytes:
    """Option 119 (RFC 3397), names in DNS wire format without compression."""
    return opt(119, b"".join(dns_name(d) for d in domains))


def opt_sip_server(fqdns: list[str]) -> bytes:
    """Option 120 (RFC 3361): encoding byte 0, then DNS-encoded names."""
    return opt(120, b"\x00" + b"".join(dns_name(d) for d in fqdns))


def sub(code: int, value: bytes) -> bytes:
    return bytes([code, len(value)]) + value


def opt43_ms_uc_client(
    web_fqdn: str, port: int = 443, path: str = "/CertProv/CertProvisioningService.svc"
) -> bytes:
    """Option 43 for vendor class MS-UC-Client: the certificate provisioning service URL parts."""
    return opt(
        43,
        sub(1, b"MS-UC-Client")
        + sub(2, b"https")
        + sub(3, web_fqdn.encode())
        + sub(4, str(port).encode())
        + sub(5, path.encode()),
    )


def opt43_cpe_ocphone(vlan: int) -> bytes:
    """Option 43 for vendor class CPE-OCPHONE: sub-option 10, the voice VLAN id."""
    return opt(43, sub(10, struct.pack("!H", vlan)))


def bootp(
    op: int,
    xid: int,
    chaddr: str,
    options: list[bytes],
    *,
    secs: int = 0,
    flags: int = 0,
    ciaddr: str = "0.0.0.0",
    yiaddr: str = "0.0.0.0",
    siaddr: str = "0.0.0.0",
    giaddr: str = "0.0.0.0",
    hops: int = 0,
) -> bytes:
    body = struct.pack(
        "!BBBBIHH4s4s4s4s",
        op,
        1,
        6,
        hops,
        xid,
        secs,
        flags,
        ip_bytes(ciaddr),
        ip_bytes(yiaddr),
        ip_bytes(siaddr),
        ip_bytes(giaddr),
    )
    body += mac_bytes(chaddr) + b"\0" * 10 + b"\0" * 64 + b"\0" * 128
    body += MAGIC + b"".join(options) + b"\xff"
    if len(body) < 300:  # BOOTP minimum, as most clients and servers pad
        body += b"\0" * (300 - len(body))
    return body


def msg_type(t: int) -> bytes:
    return opt(53, bytes([t]))


def client_id(mac: str) -> bytes:
    return opt(61, b"\x01" + mac_bytes(mac))


def param_request(codes: list[int]) -> bytes:
    return opt(55, bytes(codes))


# ------------------------------------------------------------------- DNS
A, SRV, SOA = 1, 33, 6
NOERROR, NXDOMAIN, SERVFAIL = 0, 3, 2


def dns_query(txid: int, name: str, qtype: int) -> bytes:
    return bytes(DNS(id=txid, rd=1, qd=[DNSQR(qname=name, qtype=qtype)]))


def dns_response(
    txid: int,
    name: str,
    qtype: int,
    *,
    rcode: int = NOERROR,
    answers: list | None = None,
    additional: list | None = None,
    authority: list | None = None,
    aa: bool = True,
) -> bytes:
    pkt = DNS(
        id=txid,
        qr=1,
        aa=int(aa),
        rd=1,
        ra=1,
        rcode=rcode,
        qd=[DNSQR(qname=name, qtype=qtype)],
        an=answers or [],
        ns=authority or [],
        ar=additional or [],
    )
    return bytes(dns_compress(pkt))


def rr_a(name: str, ip: str, ttl: int = 1200) -> DNSRR:
    return DNSRR(rrname=name, type="A", ttl=ttl, rdata=ip)


def rr_srv(
    name: str, target: str, port: int, prio: int = 0, weight: int = 0, ttl: int = 3600
) -> DNSRRSRV:
    return DNSRRSRV(rrname=name, ttl=ttl, priority=prio, weight=weight, port=port, target=target)


def rr_soa(zone: str, primary: str, mailbox: str, serial: int, ttl: int = 3600) -> DNSRRSOA:
    return DNSRRSOA(
        rrname=zone,
        ttl=ttl,
        mname=primary,
        rname=mailbox,
        serial=serial,
        refresh=900,
        retry=600,
        expire=86400,
        minimum=3600,
    )


# ------------------------------------------------------------------- NTP
NTP_EPOCH = 2208988800


def ntp_ts(t: float) -> bytes:
    sec = int(t) + NTP_EPOCH
    frac = int((t - int(t)) * (1 << 32)) & 0xFFFFFFFF
    return struct.pack("!II", sec & 0xFFFFFFFF, frac)


def ntp_request(client_clock: float) -> bytes:
    """Mode 3, version 3, as Windows CE's SNTP client sends it."""
    return (
        struct.pack("!BBbbII4s", (0 << 6) | (3 << 3) | 3, 0, 10, -6, 0, 0, b"\0" * 4)
        + b"\0" * 24
        + ntp_ts(client_clock)
    )


def ntp_response(
    orig: bytes, recv: float, xmit: float, refid: str, ref: float, stratum: int = 3
) -> bytes:
    return (
        struct.pack(
            "!BBbbII4s",
            (0 << 6) | (3 << 3) | 4,
            stratum,
            10,
            -20,
            0x0000031F,
            0x00000C9A,
            ip_bytes(refid),
        )
        + ntp_ts(ref)
        + orig
        + ntp_ts(recv)
        + ntp_ts(xmit)
    )


# ------------------------------------------------------------------ NBNS


def netbios_encode(name: str, suffix: int = 0x00) -> bytes:
    raw = name.upper().ljust(15)[:15].encode() + bytes([suffix])
    enc = b"".join(bytes([0x41 + (c >> 4), 0x41 + (c & 0xF)]) for c in raw)
    return b"\x20" + enc + b"\x00"


def nbns_query(txid: int, name: str, suffix: int = 0x00) -> bytes:
    # flags 0x0110: query, recursion desired, broadcast
    return (
        struct.pack("!HHHHHH", txid, 0x0110, 1, 0, 0, 0)
        + netbios_encode(name, suffix)
        + struct.pack("!HH", 0x20, 1)
    )


# ------------------------------------------------------------------ LLDP


def _lldp_tlv(t: int, value: bytes) -> bytes:
    return struct.pack("!H", (t << 9) | len(value)) + value


def lldp_med(switch_mac: str, port: str, system: str, voice_vlan: int, mgmt_ip: str) -> bytes:
    """An LLDP-MED frame body from an access switch advertising the voice VLAN policy."""
    # network policy: app type 1 (voice), U=0 T=1 X=0, VLAN, L2 priority 5, DSCP 46
    v = (0 << 23) | (1 << 22) | (0 << 21) | (voice_vlan << 9) | (5 << 6) | 46
    policy = struct.pack("!B", 1) + v.to_bytes(3, "big")
    mgmt = bytes([5, 1]) + ip_bytes(mgmt_ip) + bytes([2]) + struct.pack("!I", 1) + b"\0"
    tlvs = [
        _lldp_tlv(1, b"\x04" + mac_bytes(switch_mac)),
        _lldp_tlv(2, b"\x05" + port.encode()),
        _lldp_tlv(3, struct.pack("!H", 120)),
        _lldp_tlv(4, f"GigabitEthernet{port[2:]}".encode()),
        _lldp_tlv(5, system.encode()),
        _lldp_tlv(
            6,
            b"Cisco IOS Software, C3560 Software (C3560-IPBASEK9-M), "
            b"Version 12.2(55)SE5, RELEASE SOFTWARE (fc1)",
        ),
        _lldp_tlv(7, struct.pack("!HH", 0x0014, 0x0004)),
        _lldp_tlv(8, mgmt),
        _lldp_tlv(127, b"\x00\x12\x0f\x01" + struct.pack("!BHH", 0x03, 0x6C00, 0x0010)),
        _lldp_tlv(127, b"\x00\x12\xbb\x01" + struct.pack("!HB", 0x0023, 4)),
        _lldp_tlv(127, b"\x00\x12\xbb\x02" + policy),
        _lldp_tlv(0, b""),
    ]
    return b"".join(tlvs)


# ------------------------------------------------------------------- ARP


def arp(op: int, sha: str, spa: str, tha: str, tpa: str) -> bytes:
    return (
        struct.pack("!HHBBH", 1, 0x0800, 6, 4, op)
        + mac_bytes(sha)
        + ip_bytes(spa)
        + mac_bytes(tha)
        + ip_bytes(tpa)
    )


# ------------------------------------------------------------------- RTP


def rtp(
    rng: random.Random,
    pt: int,
    seq: int,
    ts: int,
    ssrc: int,
    payload_len: int,
    marker: bool = False,
) -> bytes:
    return struct.pack(
        "!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc
    ) + rng.randbytes(payload_len)


def rtcp_sr_sdes(ssrc: int, t: float, rtp_ts: int, packets: int, octets: int, cname: str) -> bytes:
    """A compound RTCP packet: sender report (no report blocks) and SDES CNAME."""
    sr = (
        struct.pack("!BBH", 0x80, 200, 6)
        + struct.pack("!I", ssrc)
        + ntp_ts(t)
        + struct.pack("!III", rtp_ts & 0xFFFFFFFF, packets, octets)
    )
    item = bytes([1, len(cname)]) + cname.encode() + b"\0"
    chunk = struct.pack("!I", ssrc) + item
    chunk += b"\0" * (-len(chunk) % 4)
    sdes = struct.pack("!BBH", 0x81, 202, len(chunk) // 4) + chunk
    return sr + sdes


# ------------------------------------------------------------------ HTTP


def http_request(
    method: str, path: str, host: str, headers: list[tuple[str, str]], body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers]
    lines.append(f"Host: {host}")
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def http_response(
    status: int, reason: str, headers: list[tuple[str, str]], body: bytes = b""
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

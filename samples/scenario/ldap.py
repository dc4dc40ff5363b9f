"""LDAPv3 messages (RFC 4511) in BER, and the GSS-SPNEGO / NTLMSSP tokens of a SASL bind."""

from __future__ import annotations

import random
import struct

# ------------------------------------------------------------------- BER


def ber_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + ber_len(len(content)) + content


def integer(n: int, tag: int = 0x02) -> bytes:
    length = max(1, (n.bit_length() + 8) // 8)
    return tlv(tag, n.to_bytes(length, "big", signed=True))


def enumerated(n: int) -> bytes:
    return integer(n, 0x0A)


def octets(b: bytes | str, tag: int = 0x04) -> bytes:
    return tlv(tag, b.encode() if isinstance(b, str) else b)


def boolean(v: bool) -> bytes:
    return tlv(0x01, b"\xff" if v else b"\x00")


def seq(*items: bytes, tag: int = 0x30) -> bytes:
    return tlv(tag, b"".join(items))


def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        body += bytes(reversed(chunk))
    return tlv(0x06, body)


# ------------------------------------------------------------------ LDAP
APP = 0x60  # [APPLICATION n] constructed
SUCCESS, SASL_BIND_IN_PROGRESS = 0, 14
SCOPE_BASE, SCOPE_ONE, SCOPE_SUB = 0, 1, 2


def message(msg_id: int, op: bytes) -> bytes:
    return seq(integer(msg_id), op)


def bind_request_sasl(mechanism: str, credentials: bytes | None, name: str = "") -> bytes:
    sasl = octets(mechanism) + (octets(credentials) if credentials is not None else b"")
    return tlv(APP | 0, integer(3) + octets(name) + tlv(0xA3, sasl))


def bind_response(code: int, sasl_creds: bytes | None = None, diag: str = "") -> bytes:
    body = enumerated(code) + octets("") + octets(diag)
    if sasl_creds is not None:
        body += octets(sasl_creds, tag=0x87)
    return tlv(APP | 1, body)


def unbind_request() -> bytes:
    return tlv(0x42, b"")


def filter_equal(attr: str, value: str) -> bytes:
    return tlv(0xA3, octets(attr) + octets(value))


def filter_present(attr: str) -> bytes:
    return tlv(0x87, attr.encode())


def filter_and(*filters: bytes) -> bytes:
    return tlv(0xA0, b"".join(filters))


def search_request(
    base: str,
    scope: int,
    flt: bytes,
    attributes: list[str],
    size_limit: int = 0,
    time_limit: int = 0,
) -> bytes:
    return tlv(
        APP | 3,
        octets(base)
        + enumerated(scope)
        + enumerated(0)
        + integer(size_limit)
        + integer(time_limit)
        + boolean(False)
        + flt
        + seq(*[octets(a) for a in attributes]),
    )


def search_res_entry(dn: str, attributes: list[tuple[str, list[bytes]]]) -> bytes:
    attrs = [
        seq(octets(name), tlv(0x31, b"".join(octets(v) for v in values)))
        for name, values in attributes
    ]
    return tlv(APP | 4, octets(dn) + seq(*attrs))


def search_res_done(code: int = SUCCESS, matched: str = "", diag: str = "") -> bytes:
    return tlv(APP | 5, enumerated(code) + octets(matched) + octets(diag))


# ------------------------------------------------------- SPNEGO / NTLMSSP
OID_SPNEGO = "1.3.6.1.5.5.2"
OID_NTLMSSP = "1.3.6.1.4.1.311.2.2.10"

NTLM_UNICODE = 0x00000001
NTLM_REQUEST_TARGET = 0x00000004
NTLM_SIGN = 0x00000010
NTLM_SEAL = 0x00000020
NTLM_DATAGRAM = 0x00000040  # connectionless NTLM (MS-SIPAE)
NTLM_NTLM = 0x00000200
NTLM_ALWAYS_SIGN = 0x00008000
NTLM_TARGET_TYPE_DOMAIN = 0x00010000
NTLM_EXTENDED_SESSIONSECURITY = 0x00080000
NTLM_TARGET_INFO = 0x00800000
NTLM_VERSION = 0x02000000
NTLM_128 = 0x20000000
NTLM_KEY_EXCH = 0x40000000
NTLM_56 = 0x80000000

BASE_FLAGS = (
    NTLM_UNICODE
    | NTLM_REQUEST_TARGET
    | NTLM_NTLM
    | NTLM_ALWAYS_SIGN
    | NTLM_EXTENDED_SESSIONSECURITY
    | NTLM_VERSION
    | NTLM_128
    | NTLM_56
)
SEAL_FLAGS = NTLM_SIGN | NTLM_SEAL | NTLM_KEY_EXCH

# Windows CE 6.0 reports itself as 6.0 build 0; Windows Server 2008 R2 as 6.1.7601
VERSION_CE6 = struct.pack("<BBHxxxB", 6, 0, 0, 15)
VERSION_W2K8R2 = struct.pack("<BBHxxxB", 6, 1, 7601, 15)


def _utf16(s: str) -> bytes:
    return s.encode("utf-16-le")


def ntlm_negotiate(flags: int) -> bytes:
    # no domain/workstation supplied: empty fields pointing at the end of the fixed part
    empty = struct.pack("<HHI", 0, 0, 40)
    return b"NTLMSSP\0" + struct.pack("<II", 1, flags) + empty + empty + VERSION_CE6


def _av(av_id: int, value: bytes) -> bytes:
    return struct.pack("<HH", av_id, len(value)) + value


def ntlm_target_info(
    nb_domain: str, nb_host: str, dns_domain: str, dns_host: str, filetime: int
) -> bytes:
    return (
        _av(2, _utf16(nb_domain))
        + _av(1, _utf16(nb_host))
        + _av(4, _utf16(dns_domain))
        + _av(3, _utf16(dns_host))
        + _av(5, _utf16(dns_domain))
        + _av(7, struct.pack("<Q", filetime))
        + _av(0, b"")
    )


def ntlm_challenge(rng: random.Random, flags: int, nb_domain: str, target_info: bytes) -> bytes:
    target = _utf16(nb_domain)
    fixed = 56
    ti_off = fixed + len(target)
    return (
        b"NTLMSSP\0"
        + struct.pack("<I", 2)
        + struct.pack("<HHI", len(target), len(target), fixed)
        + struct.pack("<I", flags | NTLM_TARGET_TYPE_DOMAIN | NTLM_TARGET_INFO)
        + rng.randbytes(8)
        + b"\0" * 8
        + struct.pack("<HHI", len(target_info), len(target_info), ti_off)
        + VERSION_W2K8R2
        + target
        + target_info
    )


def ntlm_authenticate(
    rng: random.Random,
    flags: int,
    domain: str,
    user: str,
    workstation: str,
    target_info: bytes,
    filetime: int,
) -> bytes:
    """NTLMv2 AUTHENTICATE_MESSAGE (no MIC) with an LMv2 and an NTLMv2 response."""
    lm = rng.randbytes(16) + rng.randbytes(8)
    blob = (
        b"\x01\x01\0\0\0\0\0\0"
        + struct.pack("<Q", filetime)
        + rng.randbytes(8)
        + b"\0" * 4
        + target_info
        + b"\0" * 4
    )
    nt = rng.randbytes(16) + blob
    dom, usr, ws = _utf16(domain), _utf16(user), _utf16(workstation)
    key = rng.randbytes(16) if flags & NTLM_KEY_EXCH else b""
    fixed = 72
    payload = b""
    fields = []
    for item in (lm, nt, dom, usr, ws, key):
        fields.append(struct.pack("<HHI", len(item), len(item), fixed + len(payload)))
        payload += item
    return (
        b"NTLMSSP\0"
        + struct.pack("<I", 3)
        + b"".join(fields)
        + struct.pack("<I", flags)
        + VERSION_CE6
        + payload
    )


def spnego_init(ntlm_token: bytes) -> bytes:
    inner = seq(tlv(0xA0, seq(oid(OID_NTLMSSP))), tlv(0xA2, octets(ntlm_token)))
    return tlv(0x60, oid(OID_SPNEGO) + tlv(0xA0, inner))


def spnego_resp(state: int | None, token: bytes | None = None, with_mech: bool = False) -> bytes:
    parts = b""
    if state is not None:
        parts += tlv(0xA0, enumerated(state))
    if with_mech:
        parts += tlv(0xA1, oid(OID_NTLMSSP))
    if token is not None:
        parts += tlv(0xA2, octets(token))
    return tlv(0xA1, seq(parts))


def sasl_sealed(rng: random.Random, plain_len: int, seqno: int) -> bytes:
    """An LDAP PDU wrapped by the NTLM SASL security layer: length, signature, RC4 ciphertext."""
    signature = struct.pack("<I", 1) + rng.randbytes(8) + struct.pack("<I", seqno)
    body = signature + rng.randbytes(plain_len)
    return struct.pack("!I", len(body)) + body

"""TLS 1.0-era records and handshake messages, byte by byte (RFC 2246 / 5246)."""

from __future__ import annotations

import random
import struct

TLS10, TLS11, TLS12 = 0x0301, 0x0302, 0x0303
CT_CCS, CT_ALERT, CT_HANDSHAKE, CT_APPDATA = 20, 21, 22, 23
HS_CLIENT_HELLO, HS_SERVER_HELLO, HS_CERTIFICATE, HS_SERVER_HELLO_DONE = 1, 2, 11, 14
HS_CLIENT_KEY_EXCHANGE = 16

ALERT_WARNING, ALERT_FATAL = 1, 2
HANDSHAKE_FAILURE = 40
BAD_CERTIFICATE = 42
CERTIFICATE_EXPIRED = 45
CERTIFICATE_UNKNOWN = 46
UNKNOWN_CA = 48
PROTOCOL_VERSION = 70
CLOSE_NOTIFY = 0

# What Windows CE 6.0 Schannel offers (RSA key exchange, RC4/3DES/DES/AES, no ECC)
CE6_CIPHERS = [
    0x0004,
    0x0005,
    0x000A,
    0x002F,
    0x0035,
    0x0009,
    0x0064,
    0x0062,
    0x0003,
    0x0006,
    0x0013,
    0x0012,
    0x0063,
]
# Windows 7 Schannel, TLS 1.0 default
WIN7_CIPHERS = [
    0x002F,
    0x0035,
    0x0005,
    0x000A,
    0xC013,
    0xC014,
    0xC009,
    0xC00A,
    0x0032,
    0x0038,
    0x0013,
    0x0004,
]
TLS_RSA_WITH_RC4_128_MD5 = 0x0004
TLS_RSA_WITH_AES_128_CBC_SHA = 0x002F


def u8(n: int) -> bytes:
    return struct.pack("!B", n)


def u16(n: int) -> bytes:
    return struct.pack("!H", n)


def u24(n: int) -> bytes:
    return struct.pack("!I", n)[1:]


def vec8(b: bytes) -> bytes:
    return u8(len(b)) + b


def vec16(b: bytes) -> bytes:
    return u16(len(b)) + b


def vec24(b: bytes) -> bytes:
    return u24(len(b)) + b


def record(ct: int, body: bytes, version: int = TLS10) -> bytes:
    out = b""
    for off in range(0, max(len(body), 1), 16384):
        out += u8(ct) + u16(version) + vec16(body[off : off + 16384])
    return out


def handshake(msg_type: int, body: bytes) -> bytes:
    return u8(msg_type) + vec24(body)


def hello_random(rng: random.Random, unix_time: float) -> bytes:
    return struct.pack("!I", int(unix_time)) + rng.randbytes(28)


def ext_server_name(host: str) -> bytes:
    name = u8(0) + vec16(host.encode())
    return u16(0) + vec16(vec16(name))


def ext_renegotiation_info() -> bytes:
    return u16(0xFF01) + vec16(u8(0))


def client_hello(
    rng: random.Random,
    unix_time: float,
    *,
    version: int = TLS10,
    ciphers: list[int] = CE6_CIPHERS,
    session_id: bytes = b"",
    extensions: list[bytes] | None = None,
) -> bytes:
    body = (
        u16(version)
        + hello_random(rng, unix_time)
        + vec8(session_id)
        + vec16(b"".join(u16(c) for c in ciphers))
        + vec8(b"\x00")
    )
    if extensions:
        body += vec16(b"".join(extensions))
    return handshake(HS_CLIENT_HELLO, body)


def server_hello(
    rng: random.Random,
    unix_time: float,
    *,
    version: int = TLS10,
    cipher: int = TLS_RSA_WITH_AES_128_CBC_SHA,
    session_id: bytes | None = None,
    extensions: list[bytes] | None = None,
) -> bytes:
    sid = rng.randbytes(32) if session_id is None else session_id
    body = u16(version) + hello_random(rng, unix_time) + vec8(sid) + u16(cipher) + u8(0)
    if extensions:
        body += vec16(b"".join(extensions))
    return handshake(HS_SERVER_HELLO, body)


def certificate(chain: list[bytes]) -> bytes:
    return handshake(HS_CERTIFICATE, vec24(b"".join(vec24(c) for c in chain)))


def server_hello_done() -> bytes:
    return handshake(HS_SERVER_HELLO_DONE, b"")


def client_key_exchange(rng: random.Random, modulus_bytes: int) -> bytes:
    """RSA-encrypted premaster secret (random bytes of the modulus size stand in for it)."""
    return handshake(HS_CLIENT_KEY_EXCHANGE, vec16(rng.randbytes(modulus_bytes)))


def alert(level: int, desc: int, version: int = TLS10) -> bytes:
    return record(CT_ALERT, u8(level) + u8(desc), version)


def change_cipher_spec(version: int = TLS10) -> bytes:
    return record(CT_CCS, b"\x01", version)


def encrypted_size(plain: int, cipher: int) -> int:
    """Record payload size for a plaintext of ``plain`` bytes (TLS 1.0, no explicit IV)."""
    if cipher == TLS_RSA_WITH_RC4_128_MD5:
        return plain + 16
    block = plain + 20 + 1  # MAC (SHA-1) and the padding-length byte
    return block + (-block % 16)


def encrypted_finished(rng: random.Random, cipher: int, version: int = TLS10) -> bytes:
    return record(CT_HANDSHAKE, rng.randbytes(encrypted_size(16, cipher)), version)


def application_data(
    rng: random.Random, plain_len: int, cipher: int, version: int = TLS10
) -> bytes:
    """One or more encrypted application-data records carrying ``plain_len`` bytes."""
    out = b""
    while plain_len > 0:
        n = min(plain_len, 16384)
        out += record(CT_APPDATA, rng.randbytes(encrypted_size(n, cipher)), version)
        plain_len -= n
    return out

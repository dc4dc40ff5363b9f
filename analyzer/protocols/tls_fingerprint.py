"""Client and server fingerprints of TLS hellos: JA3, JA3S and JA4.

- JA3 (Salesforce): ``SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats``
  of the ClientHello, decimal values joined by ``-``, GREASE (RFC 8701) left out, and its
  MD5. JA3S: ``SSLVersion,Cipher,Extensions`` of the ServerHello. Both equal Wireshark's
  ``tls.handshake.ja3``/``ja3s``. An SSL 2.0-format hello has none (neither the reference
  implementation nor Wireshark define one).
- JA4 (FoxIO, the client fingerprint only): ``t`` + version + ``d``/``i`` (SNI or not) +
  cipher count + extension count + first and last character of the first ALPN value,
  then the first 12 hex digits of the SHA-256 of the sorted cipher suites, then of the
  sorted extensions (SNI and ALPN left out) ``_`` the signature algorithms in order.

>>> from analyzer.protocols.tls_messages import ClientHello, Extension
>>> hello = ClientHello(0x0303, bytes(32), b"", (0x1A1A, 0x1301, 0x002F), (0,),
...     (Extension(0, b""), Extension(10, b""), Extension(13, b""), Extension(16, b"")),
...     server_name="example.com", supported_groups=(0x001D,), signature_algorithms=(0x0403,),
...     alpn=(b"h2",))
>>> ja3_string(hello)
'771,4865-47,0-10-13-16,29,'
>>> ja4(hello)
't12d0204h2_84cdcbea686c_63be3268461f'
"""

from __future__ import annotations

import hashlib

from analyzer.protocols.tls_messages import EXT_ALPN, EXT_SERVER_NAME, ClientHello, ServerHello
from analyzer.protocols.tls_names import is_grease

_JA4_VERSIONS = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0002: "s2",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}


def _dashed(values: tuple[int, ...] | list[int]) -> str:
    return "-".join(str(v) for v in values if not is_grease(v))


def ja3_string(hello: ClientHello) -> str | None:
    """The JA3 input string of a ClientHello (None for the SSL 2.0 format)."""
    if hello.sslv2_format:
        return None
    return ",".join(
        (
            str(hello.legacy_version),
            _dashed(hello.cipher_suites),
            _dashed(hello.extension_types),
            _dashed(hello.supported_groups),
            _dashed(hello.ec_point_formats),
        )
    )


def ja3(hello: ClientHello) -> str | None:
    """MD5 (hex) of :func:`ja3_string`."""
    text = ja3_string(hello)
    return None if text is None else hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def ja3s_string(hello: ServerHello) -> str:
    return ",".join(
        (str(hello.legacy_version), str(hello.cipher_suite), _dashed(hello.extension_types))
    )


def ja3s(hello: ServerHello) -> str:
    return hashlib.md5(ja3s_string(hello).encode(), usedforsecurity=False).hexdigest()


def _ja4_alpn(alpn: tuple[bytes, ...]) -> str:
    if not alpn or not alpn[0]:
        return "00"
    value = alpn[0]
    first, last = value[0], value[-1]
    if _alnum(first) and _alnum(last):
        return chr(first) + chr(last)
    # Not alphanumeric: the first and last characters of the value's hex form.
    text = value.hex()
    return text[0] + text[-1]


def _alnum(byte: int) -> bool:
    return 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


def _hash12(text: str) -> str:
    if not text:
        return "000000000000"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _ja4_parts(hello: ClientHello, transport: str) -> tuple[str, str, str] | None:
    if hello.sslv2_format:
        return None
    versions = [v for v in hello.supported_versions if not is_grease(v)]
    version = max(versions) if versions else hello.legacy_version
    ciphers = [c for c in hello.cipher_suites if not is_grease(c)]
    extensions = [e for e in hello.extension_types if not is_grease(e)]
    a = (
        transport
        + _JA4_VERSIONS.get(version, "00")
        + ("d" if EXT_SERVER_NAME in extensions else "i")
        + f"{min(len(ciphers), 99):02d}"
        + f"{min(len(extensions), 99):02d}"
        + _ja4_alpn(hello.alpn)
    )
    b = ",".join(f"{c:04x}" for c in sorted(ciphers))
    c = ",".join(f"{e:04x}" for e in sorted(extensions) if e not in (EXT_SERVER_NAME, EXT_ALPN))
    signatures = ",".join(f"{s:04x}" for s in hello.signature_algorithms if not is_grease(s))
    if c and signatures:
        c += "_" + signatures
    return a, b, c


def ja4(hello: ClientHello, transport: str = "t") -> str | None:
    """The JA4 fingerprint (``transport``: ``t`` TCP, ``q`` QUIC, ``d`` DTLS)."""
    parts = _ja4_parts(hello, transport)
    if parts is None:
        return None
    a, b, c = parts
    return f"{a}_{_hash12(b)}_{_hash12(c)}"


def ja4_raw(hello: ClientHello, transport: str = "t") -> str | None:
    """JA4_r: the same with the sorted lists in clear instead of their hashes."""
    parts = _ja4_parts(hello, transport)
    if parts is None:
        return None
    return "_".join(parts)

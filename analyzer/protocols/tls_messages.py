"""TLS handshake messages, alerts and SSL 2.0 hellos: pure parsers, bytes in, values out.

Each ``parse_*`` function takes the body of one message (the bytes after the 4-byte
handshake header, or an SSL 2.0 record's payload) and returns an immutable value (a frozen
dataclass, or a NamedTuple for the messages of every handshake), or raises
:class:`~analyzer.errors.DecodeError`. Nothing here knows about records, streams or
connections (see :mod:`analyzer.protocols.tls` for those).

Extensions are kept in order as ``(type, raw bytes)`` and the ones the analyzer reads
are decoded into fields; an extension whose body does not decode is listed in
``malformed_extensions`` instead of failing the whole hello.

>>> body = bytes.fromhex(
...     "0301" + "00" * 32  # legacy_version TLS 1.0, random
...     + "00"  # no session id
...     + "0004" "002f" "0035"  # two cipher suites
...     + "01" "00"  # one compression method: null
...     + "000c"  # extensions: 12 bytes
...     + "0000" "0008" "0006" "00" "0003" "616263"  # server_name: host_name "abc"
... )
>>> hello = parse_client_hello(body)
>>> hello.cipher_suites, hello.server_name, hello.extension_types
((47, 53), 'abc', (0,))
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from analyzer.errors import DecodeError, Malformed, Truncated
from analyzer.protocols.buffer import Buffer
from analyzer.protocols.tls_names import HELLO_RETRY_REQUEST_RANDOM, printable

#: Certificates kept from one Certificate message; a longer chain is cut (and noted).
MAX_CHAIN_LENGTH = 32
#: CA names kept from one CertificateRequest.
MAX_CA_NAMES = 256
#: Bytes of an undecoded extension kept as hex in rows.
MAX_RAW_EXTENSION_BYTES = 256

# Extension types the parsers decode.
EXT_SERVER_NAME = 0
EXT_STATUS_REQUEST = 5
EXT_SUPPORTED_GROUPS = 10
EXT_EC_POINT_FORMATS = 11
EXT_SIGNATURE_ALGORITHMS = 13
EXT_ALPN = 16
EXT_SESSION_TICKET = 35
EXT_PRE_SHARED_KEY = 41
EXT_SUPPORTED_VERSIONS = 43
EXT_PSK_KEY_EXCHANGE_MODES = 45
EXT_CERTIFICATE_AUTHORITIES = 47
EXT_KEY_SHARE = 51
EXT_RENEGOTIATION_INFO = 0xFF01


class Extension(NamedTuple):
    """One hello extension as sent: its type and its body. A NamedTuple, not a dataclass:
    a hello carries a dozen, and a tuple is built several times faster."""

    type: int
    data: bytes


def _u16_list(data: bytes) -> tuple[int, ...]:
    if len(data) % 2:
        raise Malformed(f"odd length {len(data)} for a list of 16-bit values")
    # One struct call for the whole list (struct caches the compiled format per length).
    return struct.unpack(f"!{len(data) >> 1}H", data)


def _block_u16_list(buf: Buffer, length_bytes: int = 2) -> tuple[int, ...]:
    return _u16_list(buf.pull_block(length_bytes))


def _strict(data: bytes) -> Buffer:
    return Buffer(data)


def parse_extensions(data: bytes) -> tuple[Extension, ...]:
    """The extension list of a hello (the bytes inside its 2-byte length)."""
    extensions = _extensions_fast(data, 0, len(data))
    return extensions if extensions is not None else _parse_extensions_checked(data)


def _extensions_fast(data: bytes, pos: int, end: int) -> tuple[Extension, ...] | None:
    """The extensions in ``data[pos:end]`` by direct indexing, or None when the list is
    not well formed (then :func:`_parse_extensions_checked` raises the precise error)."""
    out = []
    while pos < end:
        if pos + 4 > end:
            return None
        stop = pos + 4 + ((data[pos + 2] << 8) | data[pos + 3])
        if stop > end:
            return None
        out.append(Extension((data[pos] << 8) | data[pos + 1], data[pos + 4 : stop]))
        pos = stop
    return tuple(out)


#: A hello's extensions, the fields decoded from them, and the types that did not decode.
_Decoded = tuple[tuple[Extension, ...], dict[str, object], tuple[int, ...]]
_NO_EXTENSIONS: _Decoded = ((), {}, ())

#: Decoded extension blocks, keyed by their bytes. A client sends the same hello again and
#: again (random and session id change, and they are outside the block), so its block is
#: decoded once. Bounded in entries and in block size; the values are immutable (tuples,
#: bytes, str) and shared by the hellos, the fields dict is only ever unpacked.
_EXTENSION_CACHE_ENTRIES = 512
_EXTENSION_CACHE_MAX_BLOCK = 4096
_client_extensions: dict[object, _Decoded] = {}
_server_extensions: dict[object, _Decoded] = {}


def _block_of_extensions(
    body: bytes,
    pos: int,
    cache: dict[object, _Decoded],
    key: object,
    decode: Callable[[tuple[Extension, ...], object], _Decoded],
) -> _Decoded | None:
    """The decoded extensions of a hello whose 2-byte block length is at ``pos``; None
    when the block runs past the body or does not hold whole extensions. ``decode`` turns
    the extensions into a :data:`_Decoded`; ``key`` is added to the block's cache key."""
    n = len(body)
    if pos + 2 > n:
        return None
    end = pos + 2 + ((body[pos] << 8) | body[pos + 1])
    if end > n:
        return None
    block = body[pos + 2 : end]
    decoded = cache.get((key, block))
    if decoded is None:
        extensions = _extensions_fast(block, 0, len(block))
        if extensions is None:
            return None
        decoded = decode(extensions, key)
        if len(block) <= _EXTENSION_CACHE_MAX_BLOCK:
            if len(cache) >= _EXTENSION_CACHE_ENTRIES:
                cache.clear()
            cache[(key, block)] = decoded
    return decoded


def _parse_extensions_checked(data: bytes) -> tuple[Extension, ...]:
    buf = Buffer(data)
    out = []
    while not buf.eof():
        ext_type = buf.pull_u16()
        out.append(Extension(ext_type, buf.pull_block(2)))
    return tuple(out)


class ClientHello(NamedTuple):
    """A ClientHello (TLS format or SSL 2.0 format), extensions decoded where known.

    A NamedTuple, like the other messages every handshake has (ServerHello,
    ServerKeyExchange): immutable like a frozen dataclass, and built several times faster
    (a frozen dataclass sets each of its 21 fields through ``object.__setattr__``)."""

    legacy_version: int
    random: bytes
    session_id: bytes
    #: Cipher suites in order (SSL 2.0 format: 3-byte CIPHER-SPECs, TLS ones as 0x00XXXX).
    cipher_suites: tuple[int, ...]
    compression_methods: tuple[int, ...] = ()
    extensions: tuple[Extension, ...] = ()
    #: True when sent in the SSL 2.0 record format (SSLv2-compatible hello).
    sslv2_format: bool = False
    server_name: str | None = None
    supported_versions: tuple[int, ...] = ()
    signature_algorithms: tuple[int, ...] = ()
    supported_groups: tuple[int, ...] = ()
    ec_point_formats: tuple[int, ...] = ()
    alpn: tuple[bytes, ...] = ()
    key_share_groups: tuple[int, ...] = ()
    psk_key_exchange_modes: tuple[int, ...] = ()
    renegotiation_info: bytes | None = None
    #: The SessionTicket extension's body (b"" asks for a new ticket) or None if absent.
    session_ticket: bytes | None = None
    status_request: bool = False
    pre_shared_key: bool = False
    malformed_extensions: tuple[int, ...] = ()

    @property
    def extension_types(self) -> tuple[int, ...]:
        return tuple([e.type for e in self.extensions])

    @property
    def alpn_names(self) -> tuple[str, ...]:
        return tuple(printable(p) for p in self.alpn)


class ServerHello(NamedTuple):
    """A ServerHello (or HelloRetryRequest, told apart by its fixed random). A NamedTuple,
    as :class:`ClientHello`."""

    legacy_version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int
    extensions: tuple[Extension, ...] = ()
    #: The supported_versions extension's choice (TLS 1.3), else None.
    selected_version: int | None = None
    alpn: bytes | None = None
    #: key_share group (the server's share, or the group an HRR asks for).
    key_share_group: int | None = None
    pre_shared_key: bool = False
    renegotiation_info: bytes | None = None
    session_ticket: bool = False
    ec_point_formats: tuple[int, ...] = ()
    malformed_extensions: tuple[int, ...] = ()

    @property
    def version(self) -> int:
        """The negotiated version: supported_versions when present, else legacy_version."""
        return self.selected_version if self.selected_version is not None else self.legacy_version

    @property
    def hello_retry_request(self) -> bool:
        return self.random == HELLO_RETRY_REQUEST_RANDOM

    @property
    def extension_types(self) -> tuple[int, ...]:
        return tuple([e.type for e in self.extensions])


# Extension bodies are decoded by direct indexing: a hello has several, and a Buffer with
# a contextlib ``restrict`` block costs more than the decoding. Their errors only ever say
# "this extension is malformed" (the hello lists its type in malformed_extensions), so
# these raise a plain Truncated/Malformed where the data is short or inconsistent.


def _vector(data: bytes, length_bytes: int) -> bytes:
    """The vector at the start of ``data``: a 1- or 2-byte length, then that many bytes
    (anything after it is ignored)."""
    n = len(data)
    if n < length_bytes:
        raise Truncated(f"vector length of {length_bytes} bytes in {n}")
    size = data[0] if length_bytes == 1 else (data[0] << 8) | data[1]
    if length_bytes + size > n:
        raise Truncated(f"vector of {size} bytes in {n - length_bytes}")
    return data[length_bytes : length_bytes + size]


def _server_name(data: bytes) -> str | None:
    # ServerNameList: 2-byte length, then entries of type(1) + 2-byte-length name; the
    # first host_name (type 0) wins, and entries after it are not looked at.
    items = _vector(data, 2)
    pos, end = 0, len(items)
    while pos < end:
        if pos + 3 > end:
            raise Truncated("server_name entry header cut short")
        stop = pos + 3 + ((items[pos + 1] << 8) | items[pos + 2])
        if stop > end:
            raise Truncated("server_name entry cut short")
        if items[pos] == 0:
            return printable(items[pos + 3 : stop])
        pos = stop
    return None


def _alpn(data: bytes) -> tuple[bytes, ...]:
    # ProtocolNameList: 2-byte length, then 1-byte-length names.
    items = _vector(data, 2)
    out = []
    pos, end = 0, len(items)
    while pos < end:
        stop = pos + 1 + items[pos]
        if stop > end:
            raise Truncated("ALPN protocol name cut short")
        out.append(items[pos + 1 : stop])
        pos = stop
    return tuple(out)


def _key_share_groups(data: bytes) -> tuple[int, ...]:
    # KeyShareClientHello: 2-byte length, then entries of group(2) + 2-byte-length key,
    # laid out as extensions are (type(2) + 2-byte-length body): one walk serves both.
    items = _vector(data, 2)
    entries = _extensions_fast(items, 0, len(items))
    if entries is None:
        raise Truncated("key_share entry cut short")
    return tuple([group for group, _key in entries])


def _u16_value(data: bytes) -> int:
    if len(data) < 2:
        raise Truncated(f"need 2 bytes, have {len(data)}")
    return (data[0] << 8) | data[1]


def parse_client_hello(body: bytes) -> ClientHello:
    """A TLS-format ClientHello body (RFC 5246 7.4.1.2, RFC 8446 4.1.2)."""
    # Fast path (one hello per handshake): the fixed layout read by direct indexing, the
    # suites with one struct call. Whatever does not fit it (a short or inconsistent
    # body) is read again by the Buffer-based parse, which raises the precise error.
    n = len(body)
    try:
        sid_end = 35 + body[34]
        suites_end = sid_end + 2 + ((body[sid_end] << 8) | body[sid_end + 1])
        comp_end = suites_end + 1 + body[suites_end]
    except IndexError:
        return _parse_client_hello_checked(body)
    if comp_end > n or (suites_end - sid_end) & 1:
        return _parse_client_hello_checked(body)
    decoded = _NO_EXTENSIONS
    if comp_end < n:  # the extensions block is optional
        found = _block_of_extensions(
            body, comp_end, _client_extensions, None, _decode_client_extensions
        )
        if found is None:
            return _parse_client_hello_checked(body)
        decoded = found
    return _client_hello(
        (body[0] << 8) | body[1],
        body[2:34],
        body[35:sid_end],
        struct.unpack_from(f"!{(suites_end - sid_end - 2) >> 1}H", body, sid_end + 2),
        tuple(body[suites_end + 1 : comp_end]),
        decoded,
    )


def _parse_client_hello_checked(body: bytes) -> ClientHello:
    buf = Buffer(body)
    version = buf.pull_u16()
    random = buf.pull_bytes(32)
    session_id = buf.pull_block(1)
    suites = _block_u16_list(buf)
    compression = tuple(buf.pull_block(1))
    extensions = parse_extensions(buf.pull_block(2)) if not buf.eof() else ()
    decoded = _decode_client_extensions(extensions, None)
    return _client_hello(version, random, session_id, suites, compression, decoded)


def _decode_client_extensions(extensions: tuple[Extension, ...], _: object) -> _Decoded:
    fields: dict[str, object] = {}
    malformed = []
    for ext in extensions:
        try:
            _decode_client_extension(ext, fields)
        except DecodeError:
            malformed.append(ext.type)
    return extensions, fields, tuple(malformed)


def _client_hello(
    version: int,
    random: bytes,
    session_id: bytes,
    suites: tuple[int, ...],
    compression: tuple[int, ...],
    decoded: _Decoded,
) -> ClientHello:
    extensions, fields, malformed = decoded
    return ClientHello(
        legacy_version=version,
        random=random,
        session_id=session_id,
        cipher_suites=suites,
        compression_methods=compression,
        extensions=extensions,
        malformed_extensions=malformed,
        **fields,  # type: ignore[arg-type]
    )


def _decode_client_extension(ext: Extension, fields: dict[str, object]) -> None:
    t, data = ext.type, ext.data
    if t == EXT_SERVER_NAME:
        if data:
            fields["server_name"] = _server_name(data)
    elif t == EXT_SUPPORTED_VERSIONS:
        fields["supported_versions"] = _u16_list(_vector(data, 1))
    elif t == EXT_SIGNATURE_ALGORITHMS:
        fields["signature_algorithms"] = _u16_list(_vector(data, 2))
    elif t == EXT_SUPPORTED_GROUPS:
        fields["supported_groups"] = _u16_list(_vector(data, 2))
    elif t == EXT_EC_POINT_FORMATS:
        fields["ec_point_formats"] = tuple(_vector(data, 1))
    elif t == EXT_ALPN:
        fields["alpn"] = _alpn(data)
    elif t == EXT_KEY_SHARE:
        fields["key_share_groups"] = _key_share_groups(data)
    elif t == EXT_PSK_KEY_EXCHANGE_MODES:
        fields["psk_key_exchange_modes"] = tuple(_vector(data, 1))
    elif t == EXT_RENEGOTIATION_INFO:
        fields["renegotiation_info"] = _vector(data, 1)
    elif t == EXT_SESSION_TICKET:
        fields["session_ticket"] = data
    elif t == EXT_STATUS_REQUEST:
        fields["status_request"] = True
    elif t == EXT_PRE_SHARED_KEY:
        fields["pre_shared_key"] = True


def parse_server_hello(body: bytes) -> ServerHello:
    """A ServerHello body (RFC 5246 7.4.1.3, RFC 8446 4.1.3; HelloRetryRequest too)."""
    # Fast path as for the ClientHello; anything irregular is parsed again, checked.
    n = len(body)
    if n < 35 or 35 + body[34] + 3 > n:
        return _parse_server_hello_checked(body)
    sid_end = 35 + body[34]
    end = sid_end + 3  # suite and compression method
    random = body[2:34]
    decoded = _NO_EXTENSIONS
    if end < n:  # the extensions block is optional
        hrr = random == HELLO_RETRY_REQUEST_RANDOM
        found = _block_of_extensions(body, end, _server_extensions, hrr, _decode_server_extensions)
        if found is None:
            return _parse_server_hello_checked(body)
        decoded = found
    return _server_hello(
        (body[0] << 8) | body[1],
        random,
        body[35:sid_end],
        (body[sid_end] << 8) | body[sid_end + 1],
        body[sid_end + 2],
        decoded,
    )


def _parse_server_hello_checked(body: bytes) -> ServerHello:
    buf = Buffer(body)
    version = buf.pull_u16()
    random = buf.pull_bytes(32)
    session_id = buf.pull_block(1)
    suite = buf.pull_u16()
    compression = buf.pull_u8()
    extensions = parse_extensions(buf.pull_block(2)) if not buf.eof() else ()
    decoded = _decode_server_extensions(extensions, random == HELLO_RETRY_REQUEST_RANDOM)
    return _server_hello(version, random, session_id, suite, compression, decoded)


def _decode_server_extensions(extensions: tuple[Extension, ...], hrr: object) -> _Decoded:
    fields: dict[str, object] = {}
    malformed = []
    for ext in extensions:
        try:
            _decode_server_extension(ext, fields, bool(hrr))
        except DecodeError:
            malformed.append(ext.type)
    return extensions, fields, tuple(malformed)


def _server_hello(
    version: int,
    random: bytes,
    session_id: bytes,
    suite: int,
    compression: int,
    decoded: _Decoded,
) -> ServerHello:
    extensions, fields, malformed = decoded
    return ServerHello(
        legacy_version=version,
        random=random,
        session_id=session_id,
        cipher_suite=suite,
        compression_method=compression,
        extensions=extensions,
        malformed_extensions=malformed,
        **fields,  # type: ignore[arg-type]
    )


def _decode_server_extension(ext: Extension, fields: dict[str, object], hrr: bool) -> None:
    t, data = ext.type, ext.data
    if t == EXT_SUPPORTED_VERSIONS:
        fields["selected_version"] = _u16_value(data)
    elif t == EXT_ALPN:
        names = _alpn(data)
        if names:
            fields["alpn"] = names[0]
    elif t == EXT_KEY_SHARE:
        # ServerHello: KeyShareEntry (group + key); HelloRetryRequest: the group only.
        fields["key_share_group"] = _u16_value(data)
    elif t == EXT_PRE_SHARED_KEY:
        fields["pre_shared_key"] = True
    elif t == EXT_RENEGOTIATION_INFO:
        fields["renegotiation_info"] = _vector(data, 1)
    elif t == EXT_SESSION_TICKET:
        fields["session_ticket"] = True
    elif t == EXT_EC_POINT_FORMATS:
        fields["ec_point_formats"] = tuple(_vector(data, 1))


@dataclass(frozen=True)
class CertificateChain:
    """A Certificate message: the DER certificates in the order sent (leaf first)."""

    certificates: tuple[bytes, ...]
    #: TLS 1.3 only: the certificate_request_context and each entry's extensions.
    request_context: bytes = b""
    entry_extensions: tuple[tuple[Extension, ...], ...] = ()
    #: Certificates beyond MAX_CHAIN_LENGTH that were not kept.
    dropped: int = 0


def parse_certificate(body: bytes, tls13: bool = False) -> CertificateChain:
    """A Certificate message (RFC 5246 7.4.2; RFC 8446 4.4.2 when ``tls13``)."""
    buf = Buffer(body)
    context = buf.pull_block(1) if tls13 else b""
    certs: list[bytes] = []
    entry_exts: list[tuple[Extension, ...]] = []
    dropped = 0
    with buf.restrict(buf.pull_u24()):
        while not buf.eof():
            der = buf.pull_block(3)
            exts = parse_extensions(buf.pull_block(2)) if tls13 else ()
            if len(certs) >= MAX_CHAIN_LENGTH:
                dropped += 1
                continue
            certs.append(der)
            entry_exts.append(exts)
    return CertificateChain(
        tuple(certs), context, tuple(entry_exts) if tls13 else (), dropped=dropped
    )


class ServerKeyExchange(NamedTuple):
    """What a ServerKeyExchange says about the ephemeral key. A NamedTuple, as
    :class:`ClientHello`."""

    #: The key exchange the cipher suite implies (see tls_names.key_exchange_of).
    key_exchange: str
    #: Named group of an ECDHE key ("explicit" for explicit curve parameters).
    group: int | None = None
    #: Size of the DH prime / RSA export modulus in bits (None for EC groups).
    key_bits: int | None = None
    #: TLS 1.2 SignatureAndHashAlgorithm of the signature, if signed and present.
    signature_algorithm: int | None = None
    explicit_curve: bool = False
    psk_identity_hint: bytes | None = None


def _bits(value: bytes) -> int:
    return int.from_bytes(value, "big").bit_length()


def parse_server_key_exchange(body: bytes, key_exchange: str, version: int) -> ServerKeyExchange:
    """ServerKeyExchange (RFC 4492 5.4, RFC 5246 7.4.3, RFC 4279/5489 for PSK).

    Its layout depends on the negotiated cipher suite's key exchange (``key_exchange`` as
    from :func:`~analyzer.protocols.tls_names.key_exchange_of`) and, for the signature, on
    the version (TLS 1.2 names the signature algorithm).
    """
    buf = Buffer(body)
    hint = None
    if key_exchange.endswith("psk"):
        hint = buf.pull_block(2)
    group = None
    bits = None
    if key_exchange in ("ecdhe", "ecdhe_psk"):
        curve_type = buf.pull_u8()
        if curve_type == 3:  # named_curve
            group = buf.pull_u16()
            buf.pull_block(1)  # the public point
        else:
            # explicit_prime (1) / explicit_char2 (2): parameters on the wire, as in
            # CurveBall; not decoded further, and nothing after them is read.
            return ServerKeyExchange(key_exchange, explicit_curve=True, psk_identity_hint=hint)
    elif key_exchange in ("dhe", "dhe_psk"):
        bits = _bits(buf.pull_block(2))  # p
        buf.pull_block(2)  # g
        buf.pull_block(2)  # Ys
    elif key_exchange in ("rsa_export", "rsa"):
        bits = _bits(buf.pull_block(2))  # modulus
        buf.pull_block(2)  # exponent
    else:
        return ServerKeyExchange(key_exchange, psk_identity_hint=hint)
    signature = None
    if version >= 0x0303 and buf.remaining >= 4 and not key_exchange.endswith("psk"):
        signature = buf.pull_u16()
    return ServerKeyExchange(
        key_exchange,
        group=group,
        key_bits=bits,
        signature_algorithm=signature,
        psk_identity_hint=hint,
    )


@dataclass(frozen=True)
class CertificateRequest:
    """The server asks for a client certificate: of which types, signed how, by whom."""

    certificate_types: tuple[int, ...]
    signature_algorithms: tuple[int, ...]
    #: DER-encoded distinguished names of the CAs the server accepts.
    certificate_authorities: tuple[bytes, ...]


def parse_certificate_request(body: bytes, version: int) -> CertificateRequest:
    """CertificateRequest (RFC 5246 7.4.4; TLS 1.0/1.1 and SSL 3.0 have no algorithms;
    RFC 8446 4.3.2 for TLS 1.3, whose fields are extensions)."""
    buf = Buffer(body)
    if version == 0x0304:
        buf.pull_block(1)  # certificate_request_context
        sig: tuple[int, ...] = ()
        cas: tuple[bytes, ...] = ()
        for ext in parse_extensions(buf.pull_block(2)):
            if ext.type == EXT_SIGNATURE_ALGORITHMS:
                sig = _block_u16_list(_strict(ext.data))
            elif ext.type == EXT_CERTIFICATE_AUTHORITIES:
                cas = _distinguished_names(_strict(ext.data))
        return CertificateRequest((), sig, cas)
    types = tuple(buf.pull_block(1))
    sig = _block_u16_list(buf) if version >= 0x0303 else ()
    return CertificateRequest(types, sig, _distinguished_names(buf))


def _distinguished_names(buf: Buffer) -> tuple[bytes, ...]:
    out: list[bytes] = []
    with buf.restrict(buf.pull_u16()):
        while not buf.eof():
            dn = buf.pull_block(2)
            if len(out) < MAX_CA_NAMES:
                out.append(dn)
    return tuple(out)


@dataclass(frozen=True)
class NewSessionTicket:
    lifetime_s: int
    ticket_length: int


def parse_new_session_ticket(body: bytes, tls13: bool = False) -> NewSessionTicket:
    """NewSessionTicket (RFC 5077 3.3; RFC 8446 4.6.1)."""
    buf = Buffer(body)
    lifetime = buf.pull_u32()
    if tls13:
        buf.pull_u32()  # ticket_age_add
        buf.pull_block(1)  # ticket_nonce
    return NewSessionTicket(lifetime, len(buf.pull_block(2)))


@dataclass(frozen=True, slots=True)
class Alert:
    level: int
    description: int


def parse_alerts(payload: bytes) -> tuple[Alert, ...]:
    """The alerts of a plaintext alert record (two bytes each; usually exactly one)."""
    if not payload or len(payload) % 2:
        raise Malformed(f"alert record of {len(payload)} bytes")
    return tuple(Alert(payload[i], payload[i + 1]) for i in range(0, len(payload), 2))


# -- SSL 2.0 -------------------------------------------------------------------------


def parse_sslv2_client_hello(payload: bytes) -> ClientHello:
    """An SSL 2.0 CLIENT-HELLO record payload (message type 1 included).

    Also the SSLv2-compatible hello of SSL 3.0/TLS clients (RFC 5246 E.2): cipher specs
    of the form 0x00XXXX are TLS suites.
    """
    buf = Buffer(payload)
    if buf.pull_u8() != 1:
        raise Malformed("not an SSL 2.0 CLIENT-HELLO")
    version = buf.pull_u16()
    specs_len = buf.pull_u16()
    session_len = buf.pull_u16()
    challenge_len = buf.pull_u16()
    if specs_len % 3:
        raise Malformed(f"cipher specs length {specs_len} is not a multiple of 3")
    specs = buf.pull_bytes(specs_len)
    session_id = buf.pull_bytes(session_len)
    challenge = buf.pull_bytes(challenge_len)
    suites = tuple(int.from_bytes(specs[i : i + 3], "big") for i in range(0, specs_len, 3))
    return ClientHello(
        legacy_version=version,
        # The challenge becomes the right-aligned random of the TLS handshake (E.2).
        random=challenge.rjust(32, b"\x00")[-32:],
        session_id=session_id,
        cipher_suites=suites,
        sslv2_format=True,
    )


@dataclass(frozen=True)
class Sslv2ServerHello:
    session_id_hit: bool
    certificate_type: int
    version: int
    certificate: bytes
    cipher_specs: tuple[int, ...]
    connection_id: bytes


def parse_sslv2_server_hello(payload: bytes) -> Sslv2ServerHello:
    """An SSL 2.0 SERVER-HELLO record payload (message type 4 included)."""
    buf = Buffer(payload)
    if buf.pull_u8() != 4:
        raise Malformed("not an SSL 2.0 SERVER-HELLO")
    hit = buf.pull_u8()
    cert_type = buf.pull_u8()
    version = buf.pull_u16()
    cert_len = buf.pull_u16()
    specs_len = buf.pull_u16()
    conn_len = buf.pull_u16()
    if specs_len % 3:
        raise Malformed(f"cipher specs length {specs_len} is not a multiple of 3")
    cert = buf.pull_bytes(cert_len)
    specs = buf.pull_bytes(specs_len)
    conn = buf.pull_bytes(conn_len)
    return Sslv2ServerHello(
        session_id_hit=bool(hit),
        certificate_type=cert_type,
        version=version,
        certificate=cert,
        cipher_specs=tuple(
            int.from_bytes(specs[i : i + 3], "big") for i in range(0, len(specs), 3)
        ),
        connection_id=conn,
    )


def parse_sslv2_client_master_key(payload: bytes) -> int:
    """The CIPHER-KIND an SSL 2.0 CLIENT-MASTER-KEY chose."""
    buf = Buffer(payload)
    if buf.pull_u8() != 2:
        raise Malformed("not an SSL 2.0 CLIENT-MASTER-KEY")
    return int.from_bytes(buf.pull_bytes(3), "big")


# -- distinguished names ----------------------------------------------------------------

_STRING_TAGS = {
    0x0C: "utf-8",  # UTF8String
    0x13: "latin-1",  # PrintableString
    0x14: "latin-1",  # TeletexString (T61): latin-1 is the usual practice
    0x16: "latin-1",  # IA5String
    0x1A: "latin-1",  # VisibleString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}


@dataclass
class _Der:
    data: bytes
    pos: int = 0
    end: int = field(default=-1)

    def __post_init__(self) -> None:
        if self.end < 0:
            self.end = len(self.data)

    def tlv(self) -> tuple[int, bytes]:
        buf = Buffer(self.data[: self.end], self.pos)
        tag = buf.pull_u8()
        if tag & 0x1F == 0x1F:
            raise Malformed("high-tag-number form in a distinguished name")
        first = buf.pull_u8()
        if first < 0x80:
            length = first
        else:
            n = first & 0x7F
            if n == 0 or n > 4:
                raise Malformed(f"unsupported DER length form 0x{first:02x}")
            length = int.from_bytes(buf.pull_bytes(n), "big")
        value = buf.pull_bytes(length)
        self.pos = buf.position
        return tag, value

    def eof(self) -> bool:
        return self.pos >= self.end


def _oid(raw: bytes) -> str:
    if not raw:
        raise Malformed("empty OID")
    arcs: list[int] = []
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if raw[-1] & 0x80:
        raise Malformed("truncated OID")
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in (first, arcs[0] - 40 * first, *arcs[1:]))


def describe_name(der: bytes) -> str:
    """An X.501 Name (DER) in RFC 4514 form as ``cryptography`` writes it.

    A name that does not decode, or that cryptography refuses (a 3-letter country, a
    non-string value), is kept raw in RFC 4514's notation for that: ``#`` + DER hex.
    """
    from cryptography import x509
    from cryptography.x509.oid import ObjectIdentifier

    try:
        rdns = []
        for rdn in _name_attributes(der):
            attrs = []
            for oid, tag, raw in rdn:
                encoding = _STRING_TAGS.get(tag)
                if encoding is None:
                    raise ValueError(f"attribute value with tag 0x{tag:02x}")
                attrs.append(x509.NameAttribute(ObjectIdentifier(oid), raw.decode(encoding)))
            rdns.append(x509.RelativeDistinguishedName(attrs))
        return x509.Name(rdns).rfc4514_string()
    except (DecodeError, ValueError, UnicodeDecodeError):
        return "#" + der.hex()


def _name_attributes(der: bytes) -> list[list[tuple[str, int, bytes]]]:
    """Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }, as (oid, tag, value)."""
    top = _Der(der)
    tag, seq = top.tlv()
    if tag != 0x30 or not top.eof():
        raise Malformed("a Name is one SEQUENCE")
    rdns = []
    outer = _Der(seq)
    while not outer.eof():
        tag, rdn_set = outer.tlv()
        if tag != 0x31:
            raise Malformed("a Name holds SETs")
        attrs = []
        inner = _Der(rdn_set)
        while not inner.eof():
            tag, atv = inner.tlv()
            if tag != 0x30:
                raise Malformed("an RDN holds SEQUENCEs")
            pair = _Der(atv)
            oid_tag, oid_raw = pair.tlv()
            value_tag, value_raw = pair.tlv()
            if oid_tag != 0x06:
                raise Malformed("attribute type is not an OID")
            attrs.append((_oid(oid_raw), value_tag, value_raw))
        if not attrs:
            raise Malformed("empty RDN")
        rdns.append(attrs)
    return rdns

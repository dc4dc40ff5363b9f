"""TLS handshake message parsers: every field from commented bytes, and only DecodeError out."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.errors import DecodeError, Malformed, Truncated
from analyzer.protocols import tls_messages, tls_names
from analyzer.protocols.tls_messages import (
    describe_name,
    parse_alerts,
    parse_certificate,
    parse_certificate_request,
    parse_client_hello,
    parse_extensions,
    parse_new_session_ticket,
    parse_server_hello,
    parse_server_key_exchange,
    parse_sslv2_client_hello,
    parse_sslv2_client_master_key,
    parse_sslv2_server_hello,
)
from analyzer.protocols.tls_names import HELLO_RETRY_REQUEST_RANDOM


def _with_length(hex_body: str, width: int = 2) -> str:
    """``hex_body`` preceded by its length in ``width`` bytes (as TLS vectors are)."""
    return f"{len(bytes.fromhex(hex_body)):0{2 * width}x}" + hex_body


CLIENT_HELLO_EXTENSIONS = "".join(
    [
        "00000010000e00000b6578616d706c652e636f6d",  # server_name example.com
        "000500050100000000",  # status_request: ocsp, no responders/extensions
        "000a000800062a2a001d0017",  # supported_groups: GREASE x25519 P-256
        "000b00020100",  # ec_point_formats: uncompressed
        "000d00080006040308040401",  # signature_algorithms
        "0010000e000c02683208687474702f312e31",  # ALPN: h2, http/1.1
        "00170000",  # extended_master_secret
        "00230000",  # session_ticket: empty, asks for a ticket
        "002b00050403040303",  # supported_versions: TLS 1.3, TLS 1.2
        "002d00020101",  # psk_key_exchange_modes: psk_dhe_ke
        "003300260024001d0020" + "cc" * 32,  # key_share: one x25519 share
        "ff01000100",  # renegotiation_info: empty (initial handshake)
        "fe020003abcdef",  # an unregistered extension
    ]
)
CLIENT_HELLO = bytes.fromhex(
    "0303"  # legacy_version: TLS 1.2
    + "aa" * 32  # random
    + "20"
    + "bb" * 32  # session id: 32 bytes (TLS 1.3 middlebox compatibility)
    + "0008"
    "1a1a"
    "1301"
    "c02f"
    "002f"  # cipher suites: GREASE, 3 real ones
     + "01"
    "00"  # compression methods: null
     + _with_length(CLIENT_HELLO_EXTENSIONS)
)

SERVER_HELLO_12 = bytes.fromhex(
    "0301"  # legacy_version: TLS 1.0
    + "cc" * 32  # random
    + "00"  # no session id
    + "002f"  # TLS_RSA_WITH_AES_128_CBC_SHA
    + "00"  # compression: null
    + _with_length(
        "ff01"
        "0001"
        "00"  # renegotiation_info
        "0023"
        "0000"  # session_ticket: the server will send one
        "0010"
        "0005"
        "0003"
        "02"
        "6832"  # ALPN: h2
    )
)

SERVER_HELLO_13 = bytes.fromhex(
    "0303"  # legacy_version: TLS 1.2 (frozen in TLS 1.3)
    + "dd" * 32
    + "20"
    + "bb" * 32  # echoes the client's session id
    + "1301"  # TLS_AES_128_GCM_SHA256
    + "00"
    + _with_length(
        "002b"
        "0002"
        "0304"  # supported_versions: TLS 1.3 chosen
        "0033"
        "0024"
        "001d"
        "0020" + "ee" * 32  # key_share: x25519
    )
)


def test_client_hello_fields() -> None:
    hello = parse_client_hello(CLIENT_HELLO)
    assert hello.legacy_version == 0x0303
    assert hello.random == b"\xaa" * 32 and hello.session_id == b"\xbb" * 32
    assert hello.cipher_suites == (0x1A1A, 0x1301, 0xC02F, 0x002F)
    assert hello.compression_methods == (0,)


def test_client_hello_extensions_decoded() -> None:
    hello = parse_client_hello(CLIENT_HELLO)
    assert hello.server_name == "example.com"
    assert hello.status_request
    assert hello.supported_groups == (0x2A2A, 0x001D, 0x0017)
    assert hello.ec_point_formats == (0,)
    assert hello.signature_algorithms == (0x0403, 0x0804, 0x0401)
    assert hello.alpn == (b"h2", b"http/1.1")
    assert hello.session_ticket == b""
    assert hello.supported_versions == (0x0304, 0x0303)
    assert hello.psk_key_exchange_modes == (1,)
    assert hello.key_share_groups == (0x001D,)
    assert hello.renegotiation_info == b""


def test_client_hello_keeps_every_extension_in_order_with_its_bytes() -> None:
    hello = parse_client_hello(CLIENT_HELLO)
    assert hello.extension_types == (0, 5, 10, 11, 13, 16, 23, 35, 43, 45, 51, 0xFF01, 0xFE02)
    assert hello.extensions[-1].data == bytes.fromhex("abcdef")


def test_malformed_extension_is_listed_and_the_rest_still_decodes() -> None:
    extensions = (
        "000a"
        "0003"
        "0004"
        "00"  # supported_groups claiming 4 bytes but holding 1
        "0000"
        "0010"
        "000e"
        "00"
        "000b"
        "6578616d706c652e636f6d"  # server_name
    )
    body = bytes.fromhex("0301" + "00" * 32 + "00" + "0002002f" + "0100" + _with_length(extensions))
    hello = parse_client_hello(body)
    assert hello.malformed_extensions == (10,)
    assert hello.server_name == "example.com"


def test_client_hello_without_extensions() -> None:
    # SSL 3.0 / early TLS clients end the hello after the compression methods.
    hello = parse_client_hello(bytes.fromhex("0300" + "00" * 32 + "00" + "0002000a" + "0100"))
    assert (hello.legacy_version, hello.cipher_suites, hello.extensions) == (0x0300, (10,), ())


def test_hostile_server_name_is_escaped() -> None:
    name = b"evil\n\x1b[31mname"
    sni = "0000" + _with_length(_with_length("00" + _with_length(name.hex())))
    body = bytes.fromhex("0303" + "00" * 32 + "00" + "0002002f" + "0100" + _with_length(sni))
    assert parse_client_hello(body).server_name == "evil\\x0a\\x1b[31mname"


def test_truncated_client_hello_raises_truncated() -> None:
    with pytest.raises(Truncated):
        parse_client_hello(CLIENT_HELLO[:40])


def test_server_hello_tls12() -> None:
    hello = parse_server_hello(SERVER_HELLO_12)
    assert (hello.version, hello.cipher_suite, hello.compression_method) == (0x0301, 0x002F, 0)
    assert hello.selected_version is None
    assert hello.renegotiation_info == b"" and hello.session_ticket
    assert hello.alpn == b"h2"
    assert hello.extension_types == (0xFF01, 35, 16)
    assert not hello.hello_retry_request


def test_server_hello_tls13_selects_version_by_extension() -> None:
    hello = parse_server_hello(SERVER_HELLO_13)
    assert hello.legacy_version == 0x0303
    assert hello.version == 0x0304
    assert hello.key_share_group == 0x001D


def test_hello_retry_request_is_told_by_its_random() -> None:
    body = (
        bytes.fromhex("0303")
        + HELLO_RETRY_REQUEST_RANDOM
        + bytes.fromhex("00130200")
        + bytes.fromhex(_with_length("002b00020304003300020017"))  # asks P-256
    )
    hello = parse_server_hello(body)
    assert hello.hello_retry_request
    assert hello.key_share_group == 0x0017


def test_certificate_chain_in_order() -> None:
    body = bytes.fromhex(
        _with_length(
            _with_length("3003020101", 3)  # leaf (any DER)
            + _with_length("3003020102", 3),  # issuer
            3,
        )
    )
    chain = parse_certificate(body)
    assert chain.certificates == (bytes.fromhex("3003020101"), bytes.fromhex("3003020102"))


def test_tls13_certificate_entries_carry_extensions() -> None:
    body = bytes.fromhex(
        "00"  # certificate_request_context: empty
        + _with_length(
            _with_length("3003020101", 3) + _with_length("00050002abcd"),  # + an OCSP ext
            3,
        )
    )
    chain = parse_certificate(body, tls13=True)
    assert chain.certificates == (bytes.fromhex("3003020101"),)
    assert chain.entry_extensions[0][0].type == 5


def test_certificate_length_beyond_the_message_raises() -> None:
    with pytest.raises(Truncated):
        parse_certificate(bytes.fromhex("00001000000c3003"))


def test_ecdhe_server_key_exchange_names_curve_and_signature() -> None:
    body = bytes.fromhex(
        "03"
        "0017"  # named_curve secp256r1
        + "41"
        + "04"
        + "dd" * 64  # uncompressed point
        + "0401"  # TLS 1.2 signature: rsa_pkcs1_sha256
        + "0100"
        + "ee" * 256
    )
    ske = parse_server_key_exchange(body, "ecdhe", 0x0303)
    assert (ske.group, ske.signature_algorithm, ske.key_bits) == (0x0017, 0x0401, None)


def test_dhe_server_key_exchange_gives_prime_size() -> None:
    body = bytes.fromhex(
        "0080"
        + "ff" * 128  # p: 1024 bits
        + "0001"
        "02"  # g = 2
        + "0080"
        + "11" * 128  # Ys
        + "0080"
        + "22" * 128  # TLS 1.0 signature: no algorithm field
    )
    ske = parse_server_key_exchange(body, "dhe", 0x0301)
    assert (ske.key_bits, ske.signature_algorithm) == (1024, None)


def test_explicit_curve_server_key_exchange_is_flagged() -> None:
    # CurveBall-style: curve_type explicit_prime (1) with parameters on the wire.
    ske = parse_server_key_exchange(bytes.fromhex("01" + "00" * 40), "ecdhe", 0x0303)
    assert ske.explicit_curve and ske.group is None


def _dn(common_name: str) -> bytes:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "contoso"),
        ]
    ).public_bytes()


def test_certificate_request_tls12_types_algorithms_and_ca_names() -> None:
    dns = _with_length(_dn("Contoso Root CA").hex()) + _with_length(_dn("Other CA").hex())
    body = bytes.fromhex(
        "02"
        "01"
        "40" + "0004"  # certificate types: rsa_sign, ecdsa_sign
        "0401"
        "0201"  # signature algorithms
         + _with_length(dns)
    )
    request = parse_certificate_request(body, 0x0303)
    assert request.certificate_types == (1, 64)
    assert request.signature_algorithms == (0x0401, 0x0201)
    names = [describe_name(dn) for dn in request.certificate_authorities]
    assert names == ["DC=contoso,CN=Contoso Root CA", "DC=contoso,CN=Other CA"]


def test_certificate_request_tls10_has_no_signature_algorithms() -> None:
    body = bytes.fromhex("0101" + _with_length(_with_length(_dn("Root").hex())))
    request = parse_certificate_request(body, 0x0301)
    assert request.signature_algorithms == ()
    assert describe_name(request.certificate_authorities[0]) == "DC=contoso,CN=Root"


def test_undecodable_ca_name_is_kept_raw() -> None:
    assert describe_name(bytes.fromhex("3003020101")) == "#3003020101"


def test_new_session_ticket() -> None:
    ticket = parse_new_session_ticket(bytes.fromhex("00001c20000401020304"))
    assert (ticket.lifetime_s, ticket.ticket_length) == (7200, 4)


def test_alerts_are_pairs_of_level_and_description() -> None:
    (alert,) = parse_alerts(bytes.fromhex("0230"))  # fatal unknown_ca
    assert (alert.level, alert.description) == (2, 48)
    with pytest.raises(Malformed):
        parse_alerts(bytes.fromhex("02"))


SSLV2_CLIENT_HELLO = bytes.fromhex(
    "01"  # CLIENT-HELLO
    "0002"  # version SSL 2.0
    "0006"  # cipher specs: 6 bytes
    "0000"  # no session id
    "0010"  # challenge: 16 bytes
    "0700c0"
    "000005" + "ab" * 16  # SSL2_DES_192_EDE3_CBC_WITH_MD5, TLS_RSA_WITH_RC4_128_SHA
)


def test_sslv2_client_hello() -> None:
    hello = parse_sslv2_client_hello(SSLV2_CLIENT_HELLO)
    assert hello.sslv2_format and hello.legacy_version == 0x0002
    assert hello.cipher_suites == (0x0700C0, 0x000005)
    assert hello.random == b"\x00" * 16 + b"\xab" * 16


def test_sslv2_server_hello_carries_the_certificate() -> None:
    payload = bytes.fromhex(
        "04"  # SERVER-HELLO
        "00"  # session id not hit
        "01"  # certificate type X.509
        "0002"  # version
        "0005"
        "0003"
        "0010"  # certificate, cipher specs, connection id lengths
        "3003020101"
        "0700c0" + "cd" * 16
    )
    hello = parse_sslv2_server_hello(payload)
    assert hello.certificate == bytes.fromhex("3003020101")
    assert hello.cipher_specs == (0x0700C0,)


def test_sslv2_client_master_key_names_the_cipher() -> None:
    assert parse_sslv2_client_master_key(bytes.fromhex("020700c00000")) == 0x0700C0


PARSERS: list[Callable[[bytes], object]] = [
    parse_client_hello,
    parse_server_hello,
    parse_certificate,
    lambda b: parse_certificate(b, tls13=True),
    lambda b: parse_server_key_exchange(b, "ecdhe", 0x0303),
    lambda b: parse_server_key_exchange(b, "dhe_psk", 0x0301),
    lambda b: parse_certificate_request(b, 0x0303),
    lambda b: parse_certificate_request(b, 0x0304),
    lambda b: parse_new_session_ticket(b, tls13=True),
    parse_alerts,
    parse_sslv2_client_hello,
    parse_sslv2_server_hello,
    parse_sslv2_client_master_key,
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(range(len(PARSERS))), st.binary(max_size=300))
def test_random_bytes_only_raise_decode_errors(which: int, data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        PARSERS[which](data)


@pytest.mark.parametrize(
    "parse, message",
    [
        (parse_client_hello, CLIENT_HELLO),
        (parse_server_hello, SERVER_HELLO_12),
        (parse_server_hello, SERVER_HELLO_13),
        (parse_sslv2_client_hello, SSLV2_CLIENT_HELLO),
    ],
)
def test_every_truncated_prefix_parses_or_raises_decode_error(
    parse: Callable[[bytes], object], message: bytes
) -> None:
    for n in range(len(message)):
        with contextlib.suppress(DecodeError):
            parse(message[:n])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_describe_name_never_raises(data: bytes) -> None:
    assert isinstance(describe_name(data), str)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 200), st.integers(0, 255))
def test_describe_name_survives_any_corrupted_byte(position: int, value: int) -> None:
    der = bytearray(_dn("Contoso Root CA"))
    der[position % len(der)] = value
    assert isinstance(describe_name(bytes(der)), str)


# ------------------------------------------------ fast path and checked path
#
# Hellos and extension lists are read by direct indexing; a body that does not fit the
# plain layout is read again by the Buffer-based parse, which raises the precise error.
# Whatever the bytes, both must give the same hello or the same error.


def _outcome(call: Callable[[], object]) -> object:
    try:
        return call()
    except DecodeError as e:
        return (type(e).__name__, str(e), e.offset)


def _corrupt(message: bytes, position: int, value: int, cut: int) -> bytes:
    data = bytearray(message[: max(0, len(message) - cut)])
    if data:
        data[position % len(data)] = value
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["client", "server12", "server13"]),
    st.integers(0, 400),
    st.integers(0, 255),
    st.integers(0, 60),
)
def test_fast_hello_parse_agrees_with_the_checked_parse(
    which: str, position: int, value: int, cut: int
) -> None:
    if which == "client":
        data = _corrupt(CLIENT_HELLO, position, value, cut)
        fast = _outcome(lambda: parse_client_hello(data))
        checked = _outcome(lambda: tls_messages._parse_client_hello_checked(data))
    else:
        message = SERVER_HELLO_12 if which == "server12" else SERVER_HELLO_13
        data = _corrupt(message, position, value, cut)
        fast = _outcome(lambda: parse_server_hello(data))
        checked = _outcome(lambda: tls_messages._parse_server_hello_checked(data))
    assert fast == checked


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 400), st.integers(0, 255), st.integers(0, 30))
def test_fast_extension_list_agrees_with_the_checked_parse(
    position: int, value: int, cut: int
) -> None:
    data = _corrupt(bytes.fromhex(CLIENT_HELLO_EXTENSIONS), position, value, cut)
    fast = _outcome(lambda: parse_extensions(data))
    assert fast == _outcome(lambda: tls_messages._parse_extensions_checked(data))


@pytest.mark.parametrize(
    "extension, malformed",
    [
        ("000a 0003 0004 00", True),  # supported_groups: list longer than the extension
        ("000a 0005 0002 001d ff", False),  # bytes after the list are ignored
        ("000a 0003 0001 00", True),  # a list of 16-bit values of odd length
        ("0010 0004 0002 0568", True),  # ALPN: a name longer than the list
        ("0033 0006 0004 001d 0005", True),  # key_share: a key longer than the list
        ("002b 0000", True),  # supported_versions without its length octet
        # server_name: the first host_name wins, entries after it are not looked at
        ("0000 0009 0007 00 0001 61 01 00ff", False),
    ],
)
def test_extension_bodies_that_do_not_decode_are_listed_as_malformed(
    extension: str, malformed: bool
) -> None:
    body = bytes.fromhex(
        "0303" + "00" * 32 + "00" + "0002002f" + "0100" + _with_length(extension.replace(" ", ""))
    )
    hello = parse_client_hello(body)
    assert bool(hello.malformed_extensions) == malformed


# -- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table",
    ["CIPHER_SUITES", "EXTENSIONS", "NAMED_GROUPS", "SIGNATURE_SCHEMES", "VERSIONS"],
)
def test_no_grease_value_is_a_key_of_a_name_table(table: str) -> None:
    # The name functions look the table up before asking is_grease; that is only the same
    # as asking first while no GREASE value (0x?A?A) has a name of its own.
    names = getattr(tls_names, table)
    assert [hex(v) for v in range(0x10000) if tls_names.is_grease(v) and v in names] == []


@pytest.mark.parametrize(
    "name, value, expected",
    [
        (tls_names.cipher_name, 0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA"),
        (tls_names.cipher_name, 0x1A1A, "GREASE"),
        (tls_names.cipher_name, 0x1234, "0x1234"),
        (tls_names.cipher_name, 0x010080, "SSL2_RC4_128_WITH_MD5"),
        (tls_names.cipher_name, 0x123456, "0x123456"),
        (tls_names.extension_name, 0xFAFA, "GREASE"),
        (tls_names.extension_name, 0xFFFE, "0xfffe"),
        (tls_names.group_name, 0x2A2A, "GREASE"),
        (tls_names.group_name, 0x001D, "x25519"),
        (tls_names.signature_scheme_name, 0x0A0A, "GREASE"),
        (tls_names.signature_scheme_name, 0x0B0B, "0x0b0b"),
        (tls_names.alert_name, 200, "unknown_200"),
        (tls_names.alert_level_name, 3, "unknown_3"),
        (tls_names.handshake_name, 99, "handshake_type_99"),
        (tls_names.handshake_name, 11, "certificate"),
    ],
)
def test_names_fall_back_to_grease_or_hex(
    name: Callable[[int], str], value: int, expected: str
) -> None:
    assert name(value) == expected

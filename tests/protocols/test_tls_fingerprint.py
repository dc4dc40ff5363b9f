"""JA3/JA3S and JA4 from ClientHello/ServerHello fields, on the specifications' own examples."""

from __future__ import annotations

import pytest

from analyzer.protocols.tls_fingerprint import ja3, ja3_string, ja3s_string, ja4, ja4_raw
from analyzer.protocols.tls_messages import ClientHello, Extension, ServerHello


def hello(
    ciphers: tuple[int, ...],
    extensions: tuple[int, ...],
    *,
    version: int = 0x0303,
    groups: tuple[int, ...] = (),
    formats: tuple[int, ...] = (),
    signatures: tuple[int, ...] = (),
    versions: tuple[int, ...] = (),
    alpn: tuple[bytes, ...] = (),
    sslv2: bool = False,
) -> ClientHello:
    return ClientHello(
        legacy_version=version,
        random=bytes(32),
        session_id=b"",
        cipher_suites=ciphers,
        extensions=tuple(Extension(t, b"") for t in extensions),
        supported_groups=groups,
        ec_point_formats=formats,
        signature_algorithms=signatures,
        supported_versions=versions,
        alpn=alpn,
        sslv2_format=sslv2,
    )


# The HelloRetryRequest capture's ClientHello (zeek/hrr.pcap), as tshark prints its JA3.
HRR_CLIENT = hello(
    (4866, 4867, 4865, 255),
    (11, 10, 35, 22, 23, 13, 43, 45, 51),
    groups=(21, 23, 24),
    formats=(0, 1, 2),
)


def test_ja3_string_and_hash_match_tshark() -> None:
    assert (
        ja3_string(HRR_CLIENT) == "771,4866-4867-4865-255,11-10-35-22-23-13-43-45-51,21-23-24,0-1-2"
    )
    assert ja3(HRR_CLIENT) == "0f14b679807628ec7f9c02cada3ee941"


def test_ja3_leaves_out_grease_everywhere() -> None:
    greasy = hello((0x0A0A, 47), (0x1A1A, 0, 10), groups=(0x2A2A, 29), formats=(0,))
    assert ja3_string(greasy) == "771,47,0-10,29,0"


def test_ja3_of_a_hello_without_extensions_keeps_the_empty_fields() -> None:
    assert ja3_string(hello((47, 53), (), version=0x0301)) == "769,47-53,,,"


def test_sslv2_format_hello_has_no_ja3_or_ja4() -> None:
    old = hello((0x0700C0, 0x000005), (), version=0x0002, sslv2=True)
    assert ja3(old) is None and ja4(old) is None


def test_ja3s_string() -> None:
    server = ServerHello(
        0x0301, bytes(32), b"", 47, 0, (Extension(0xFF01, b"\x00"), Extension(35, b""))
    )
    assert ja3s_string(server) == "769,47,65281-35"


# The worked example of the JA4 specification (technical_details/JA4.md).
SPEC_CIPHERS = (
    0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9,
    0xCCA8, 0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035,
)  # fmt: skip
SPEC_EXTENSIONS = (
    0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D,
    0x0005, 0x0023, 0x0012, 0x002B, 0xFF01, 0x000B, 0x000A, 0x0015,
)  # fmt: skip
SPEC_SIGNATURES = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)
SPEC_HELLO = hello(
    (0x2A2A, *SPEC_CIPHERS),  # a GREASE suite first, as Chrome sends
    (0x3A3A, *SPEC_EXTENSIONS),
    signatures=SPEC_SIGNATURES,
    versions=(0x5A5A, 0x0304, 0x0303),
    alpn=(b"h2", b"http/1.1"),
)


def test_ja4_of_the_specification_example() -> None:
    assert ja4(SPEC_HELLO) == "t13d1516h2_8daaf6152771_e5627efa2ab1"


def test_ja4_raw_of_the_specification_example() -> None:
    assert ja4_raw(SPEC_HELLO) == (
        "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,"
        "cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_"
        "0403,0804,0401,0503,0805,0501,0806,0601"
    )


def test_ja4_without_signature_algorithms_hashes_the_extensions_alone() -> None:
    bare = hello(SPEC_CIPHERS, SPEC_EXTENSIONS, versions=(0x0304,), alpn=(b"h2",))
    assert ja4(bare) == "t13d1516h2_8daaf6152771_6d807ffa2a79"  # the spec's second example


def test_ja4_without_sni_alpn_or_supported_versions() -> None:
    # TLS 1.0 phone: version from the hello, "i" (no SNI), "00" (no ALPN).
    phone = hello((0x002F, 0x0035), (), version=0x0301)
    # sha256("002f,0035")[:12] = f54dd463d39b; no extensions: zeros.
    assert ja4(phone) == "t10i020000_f54dd463d39b_000000000000"


def test_ja4_with_no_ciphers_prints_zeros() -> None:
    assert ja4(hello((), ())).split("_")[1] == "000000000000"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "alpn, expected",
    [
        ((b"http/1.1",), "h1"),
        ((b"h",), "hh"),  # a single character is first and last
        ((b"",), "00"),
        ((b"\xab",), "ab"),  # not alphanumeric: hex of the value, first and last digit
        ((b"\xab\xcd",), "ad"),
        ((b"0\xab",), "3b"),
        ((b"01\xab\xcd",), "3d"),
        ((b"0\xab\xcd1",), "01"),
    ],
)
def test_ja4_alpn_characters(alpn: tuple[bytes, ...], expected: str) -> None:
    fingerprint = ja4(hello((0x002F,), (0x0010,), alpn=alpn))
    assert fingerprint is not None and fingerprint[8:10] == expected


def test_ja4_counts_cap_at_99() -> None:
    many = hello(tuple(range(1, 150)), ())
    assert ja4(many).startswith("t12i9900")  # type: ignore[union-attr]

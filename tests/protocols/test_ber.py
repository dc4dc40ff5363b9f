"""BER/DER TLV decoding: lengths, tags, primitives, the caps, and the DecodeError contract.

Also home of the tiny DER encoder the LDAP and Kerberos tests build their messages with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.errors import DecodeError, Malformed, Truncated
from analyzer.protocols.ber import (
    APPLICATION,
    CONTEXT,
    MAX_DEPTH,
    SEQUENCE,
    SET,
    UNIVERSAL,
    BerReader,
    Node,
    decode_oid,
    element_size,
    parse_header,
    parse_tree,
)

# ------------------------------------------------------------ a tiny DER encoder


def der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    """One element with a single-octet identifier (class|constructed|number)."""
    return bytes([tag]) + der_len(len(content)) + content


def seq(*items: bytes, tag: int = 0x30) -> bytes:
    return tlv(tag, b"".join(items))


def integer(n: int, tag: int = 0x02) -> bytes:
    return tlv(tag, n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True))


def octets(value: bytes | str, tag: int = 0x04) -> bytes:
    return tlv(tag, value.encode() if isinstance(value, str) else value)


def boolean(value: bool, tag: int = 0x01) -> bytes:
    return tlv(tag, b"\xff" if value else b"\x00")


def enumerated(n: int) -> bytes:
    return integer(n, 0x0A)


def explicit(n: int, inner: bytes) -> bytes:
    """[n] EXPLICIT (context, constructed)."""
    return tlv(0xA0 | n, inner)


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


# --------------------------------------------------------------------- headers


def test_short_form_length() -> None:
    # 04 03 'abc': OCTET STRING, 3 content octets
    header = parse_header(bytes.fromhex("0403616263"))
    assert (header.cls, header.constructed, header.number, header.length) == (
        UNIVERSAL,
        False,
        4,
        3,
    )
    assert header.header_length == 2 and header.end == 5


def test_long_form_length_with_leading_zeros_as_windows_sends_it() -> None:
    # 30 84 00000005: SEQUENCE, length in 4 octets (Active Directory always uses 0x84)
    header = parse_header(bytes.fromhex("30840000000502010104 00"))
    assert header.length == 5 and header.header_length == 6


def test_multi_byte_tag_number() -> None:
    # bf 81 00: context-specific, constructed, high tag number form: 0x81 0x00 = 128
    header = parse_header(bytes.fromhex("bf8100 00"))
    assert (header.cls, header.constructed, header.number, header.length) == (
        CONTEXT,
        True,
        128,
        0,
    )


def test_tag_number_over_four_octets_is_malformed() -> None:
    with pytest.raises(Malformed):
        parse_header(bytes.fromhex("1f8181818101 00"))


def test_tag_number_with_leading_zero_octet_is_malformed() -> None:
    with pytest.raises(Malformed):
        parse_header(bytes.fromhex("1f8001 00"))


def test_indefinite_length_is_rejected() -> None:
    # 30 80 ... 00 00: BER indefinite form, forbidden in LDAP and Kerberos
    with pytest.raises(Malformed, match="indefinite"):
        parse_header(bytes.fromhex("3080 020101 0000"))


def test_length_over_the_cap_is_malformed() -> None:
    with pytest.raises(Malformed, match="cap"):
        parse_header(bytes.fromhex("04 84 01000000"), max_length=1 << 20)


def test_length_of_five_octets_is_malformed() -> None:
    with pytest.raises(Malformed):
        parse_header(bytes.fromhex("04 85 0000000001 00"))


def test_element_size_waits_for_the_whole_header() -> None:
    # A stream framer asks how long the next PDU is before it has all of it.
    assert element_size(b"") is None
    assert element_size(bytes.fromhex("30")) is None
    assert element_size(bytes.fromhex("3084 0000")) is None
    assert element_size(bytes.fromhex("3084 00000100")) == 6 + 256
    assert element_size(bytes.fromhex("3005")) == 7  # contents need not be there yet


def test_contents_shorter_than_the_length_are_truncated() -> None:
    with pytest.raises(Truncated):
        BerReader(bytes.fromhex("0405 6162")).read()


# ------------------------------------------------------------------ primitives


def test_integers_are_twos_complement() -> None:
    r = BerReader(integer(0) + integer(127) + integer(128) + integer(-1) + integer(-129))
    assert [r.read_integer() for _ in range(5)] == [0, 127, 128, -1, -129]


def test_integer_without_content_is_malformed() -> None:
    with pytest.raises(Malformed):
        BerReader(bytes.fromhex("0200")).read_integer()


def test_boolean_any_non_zero_octet_is_true() -> None:
    r = BerReader(bytes.fromhex("010100 0101ff 010101"))
    assert [r.read_boolean() for _ in range(3)] == [False, True, True]


def test_boolean_of_two_octets_is_malformed() -> None:
    with pytest.raises(Malformed):
        BerReader(bytes.fromhex("01020000")).read_boolean()


def test_oids_in_dotted_form() -> None:
    assert BerReader(oid("1.2.840.113554.1.2.2")).read_oid() == "1.2.840.113554.1.2.2"
    assert BerReader(oid("2.5.4.3")).read_oid() == "2.5.4.3"
    assert decode_oid(bytes.fromhex("2b0601050502")) == "1.3.6.1.5.5.2"  # SPNEGO


def test_oid_ending_inside_an_arc_is_malformed() -> None:
    with pytest.raises(Malformed):
        decode_oid(bytes.fromhex("2a86"))


def test_wrong_tag_is_malformed() -> None:
    with pytest.raises(Malformed, match="expected"):
        BerReader(integer(5)).read_octets()


def test_constructed_octet_string_is_rejected() -> None:
    # 24 05 0403616263: BER constructed OCTET STRING (segments), not used by LDAP
    with pytest.raises(Malformed):
        BerReader(bytes.fromhex("2405 0403616263")).read_octets()


# ----------------------------------------------------------------- constructed


def test_leaving_a_sequence_skips_unread_children() -> None:
    data = seq(integer(1), octets("unknown trailing field")) + integer(2)
    r = BerReader(data)
    with r.constructed() as s:
        assert s.read_integer() == 1
    assert r.read_integer() == 2


def test_reads_cannot_run_past_the_enclosing_element() -> None:
    # SEQUENCE of 3 octets holding an INTEGER that claims 4
    r = BerReader(bytes.fromhex("3003 0204 01") + bytes(4))
    with pytest.raises(Truncated), r.constructed() as s:
        s.read_integer()


def test_context_and_application_tags() -> None:
    data = tlv(0x63, explicit(1, integer(5)) + tlv(0x80, b"x"))
    r = BerReader(data)
    with r.constructed(APPLICATION, 3) as app:
        with app.constructed(CONTEXT, 1) as field:
            assert field.read_integer() == 5
        assert app.peek_is(CONTEXT, 0)
        assert app.read_primitive(CONTEXT, 0) == b"x"


def test_enter_opens_any_constructed_choice() -> None:
    r = BerReader(tlv(0xA7, integer(9)))
    with r.enter() as (header, inner):
        assert (header.cls, header.number) == (CONTEXT, 7)
        assert inner.read_integer() == 9


def test_set_and_sequence_children() -> None:
    tree = parse_tree(seq(octets("cn"), seq(octets("a"), octets("b"), tag=0x31)))
    (top,) = tree
    assert top.header.number == SEQUENCE
    name, values = top.children
    assert name.value == b"cn"
    assert values.header.number == SET
    assert [v.value for v in values.children] == [b"a", b"b"]


def _nested(depth: int) -> bytes:
    data = b""
    for _ in range(depth):
        data = seq(data)
    return data


def test_nesting_at_the_cap_is_accepted() -> None:
    tree = parse_tree(_nested(MAX_DEPTH))
    depth = 0
    node: Node | None = tree[0]
    while node is not None:
        depth += 1
        node = node.children[0] if node.children else None
    assert depth == MAX_DEPTH


def test_nesting_beyond_the_cap_is_malformed() -> None:
    with pytest.raises(Malformed, match="nesting"):
        parse_tree(_nested(MAX_DEPTH + 1))


def test_very_deep_nesting_hits_the_cap_not_the_recursion_limit() -> None:
    # 5000 nested SEQUENCEs with long-form lengths: Malformed, never RecursionError
    data = b""
    for _ in range(5000):
        data = b"\x30\x84" + len(data).to_bytes(4, "big") + data
    with pytest.raises(Malformed):
        parse_tree(data)


def test_element_count_is_capped() -> None:
    with pytest.raises(Malformed, match="elements"):
        parse_tree(integer(1) * 11, max_elements=10)


# --------------------------------------------------------------------- fuzzing


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_decode_errors(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        parse_tree(data)


@st.composite
def der_trees(draw: st.DrawFn, depth: int = 0) -> bytes:
    if depth >= 4 or draw(st.booleans()):
        kind = draw(st.sampled_from(["int", "octets", "bool", "oid"]))
        if kind == "int":
            return integer(draw(st.integers(-(2**64), 2**64)))
        if kind == "octets":
            return octets(draw(st.binary(max_size=300)))
        if kind == "bool":
            return boolean(draw(st.booleans()))
        return oid("1.2." + ".".join(str(draw(st.integers(0, 2**40))) for _ in range(3)))
    children = draw(st.lists(der_trees(depth + 1), max_size=4))  # type: ignore[call-arg]
    tag = draw(st.sampled_from([0x30, 0x31, 0xA0, 0xA3, 0x63, 0x7E]))
    return seq(*children, tag=tag)


@settings(max_examples=200, deadline=None)
@given(der_trees())
def test_valid_trees_decode_and_every_truncation_raises_truncated(data: bytes) -> None:
    tree = parse_tree(data)
    assert tree and tree[0].header.end == len(data)
    for cut in range(1, len(data)):
        with pytest.raises(Truncated):
            parse_tree(data[:cut])


# --------------------------------------------------- fast path and checked path
#
# The reader parses plain headers (one-octet tag, definite length of at most 4 octets)
# by direct indexing and sends everything else through the checked parse, which raises
# the precise error. These tests pin that both paths read the same.


def _outcome(call: Callable[[], object]) -> object:
    try:
        return call()
    except DecodeError as e:
        return (type(e).__name__, str(e), e.offset)


@settings(max_examples=500, deadline=None)
@given(st.binary(min_size=1, max_size=12), st.sampled_from([3, 300, 16 * 1024 * 1024]))
def test_fast_header_parse_agrees_with_the_checked_parse(data: bytes, cap: int) -> None:
    fast = _outcome(lambda: BerReader(data, max_length=cap).peek())
    checked = _outcome(lambda: parse_header(data, max_length=cap))
    assert fast == checked


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=12))
def test_element_size_fast_path_agrees_with_the_checked_parse(data: bytes) -> None:
    expected: object
    try:
        header = parse_header(data, max_length=1 << 32)
        expected = header.header_length + header.length
    except Truncated:
        expected = None  # the header is still incomplete
    except DecodeError as e:
        expected = (type(e).__name__, str(e), e.offset)
    assert _outcome(lambda: element_size(data, max_length=1 << 32)) == expected


def test_long_form_lengths_read_like_short_ones() -> None:
    # 30 84 0000000b ...: Active Directory's 4-octet lengths, and 81/82 forms inside
    data = bytes.fromhex("3084 0000000e 0281 0105 0482 0003 616263 0a0102")
    r = BerReader(data)
    with r.constructed() as s:
        assert (s.read_integer(), s.read_octets(), s.read_enumerated()) == (5, b"abc", 2)
    assert r.eof()


def test_high_tag_numbers_are_read_by_the_checked_path() -> None:
    # 7f 28 03 020105: [APPLICATION 40] constructed; 9f 64 01 ff: [CONTEXT 100] primitive
    r = BerReader(bytes.fromhex("7f2803020105 9f6401ff"))
    with r.constructed(APPLICATION, 40) as app:
        assert app.read_integer() == 5
    assert r.peek_is(CONTEXT, 100)
    assert r.read_primitive(CONTEXT, 100) == b"\xff"


def test_peek_tag_gives_the_identifier_octet_without_consuming() -> None:
    r = BerReader(bytes.fromhex("a303 020101"))
    assert r.peek_tag() == 0xA3 and r.position == 0
    with r.constructed(CONTEXT, 3) as inner:
        assert inner.peek_tag() == 0x02
        inner.read_integer()
        assert inner.peek_tag() == -1  # end of the element


def test_peek_tag_raises_for_a_broken_header_like_peek() -> None:
    with pytest.raises(Malformed, match="indefinite"):
        BerReader(bytes.fromhex("3080 0000")).peek_tag()


def test_read_octets_list_reads_a_set_of_strings() -> None:
    # SET OF OCTET STRING: "a", 200 x "b" (long-form length), ""
    values = octets("a") + octets(b"b" * 200) + octets("")
    r = BerReader(seq(values, tag=0x31))
    with r.constructed(UNIVERSAL, SET) as vals:
        assert vals.read_octets_list() == [b"a", b"b" * 200, b""]
    assert r.eof()


def test_read_octets_list_rejects_another_type_like_read_octets() -> None:
    r = BerReader(seq(octets("a") + integer(1), tag=0x31))
    with pytest.raises(Malformed, match="expected"), r.constructed(UNIVERSAL, SET) as vals:
        vals.read_octets_list()


def test_an_error_inside_nested_elements_leaves_every_level() -> None:
    # SEQUENCE { SEQUENCE { INTEGER claiming more than is there } } then an INTEGER
    data = seq(seq(bytes.fromhex("0205 01"))) + integer(7)
    r = BerReader(data)
    with pytest.raises(Truncated), r.constructed() as outer, outer.constructed() as inner:
        inner.read_integer()
    assert r.depth == 0 and r.read_integer() == 7

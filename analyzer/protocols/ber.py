"""A BER/DER TLV decoder (X.690) on top of :class:`~analyzer.protocols.buffer.Buffer`.

Used by LDAP and Kerberos. Sans-IO and bounded: nesting depth and element lengths are
capped, lengths must be definite (LDAP and Kerberos forbid the indefinite form, so it is
rejected as :class:`~analyzer.errors.Malformed`), tags may be multi-byte. Only the
:class:`~analyzer.errors.DecodeError` family escapes.

A reader walks one element after the other; ``constructed()`` enters a SEQUENCE, SET or
context/application tag and narrows the reader to its contents:

>>> r = BerReader(bytes.fromhex("300b 020105 0403616263 0a0102"))
>>> with r.constructed() as seq:
...     seq.read_integer(), seq.read_octets(), seq.read_enumerated()
(5, b'abc', 2)
>>> r.eof()
True
>>> element_size(bytes.fromhex("30 84 0000"))  # header incomplete: need more bytes
>>> element_size(bytes.fromhex("30 84 00000005"))  # 6 header octets + 5
11
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.errors import Malformed, Truncated
from analyzer.protocols.buffer import Buffer

# Tag classes (the two top bits of the identifier octet).
UNIVERSAL, APPLICATION, CONTEXT, PRIVATE = 0, 1, 2, 3
CLASS_NAMES = ("universal", "application", "context", "private")

# Universal tag numbers used by LDAP and Kerberos.
BOOLEAN = 1
INTEGER = 2
BIT_STRING = 3
OCTET_STRING = 4
NULL = 5
OID = 6
ENUMERATED = 10
UTF8_STRING = 12
SEQUENCE = 16
SET = 17
IA5_STRING = 22
GENERALIZED_TIME = 24
GENERAL_STRING = 27

#: Deepest nesting of constructed elements a reader enters.
MAX_DEPTH = 32
#: Longest element (content octets) accepted by default.
MAX_LENGTH = 16 * 1024 * 1024
#: Longest tag number, in base-128 octets after the 0x1f marker (28 bits).
MAX_TAG_OCTETS = 4
#: Longest INTEGER, in content octets (Kerberos nonces and LDAP ids take at most 5).
MAX_INTEGER_OCTETS = 32
#: Most arcs in an OBJECT IDENTIFIER.
MAX_OID_ARCS = 64


@dataclass(frozen=True, slots=True)
class Header:
    """One TLV header: the identifier (class, constructed, number) and content length."""

    cls: int
    constructed: bool
    number: int
    length: int
    #: Offset of the identifier octet in the data the reader was given.
    offset: int
    #: Octets of identifier plus length.
    header_length: int

    @property
    def end(self) -> int:
        """Offset just past the element's contents."""
        return self.offset + self.header_length + self.length

    def is_(self, cls: int, number: int) -> bool:
        return self.cls == cls and self.number == number

    def describe(self) -> str:
        form = "constructed" if self.constructed else "primitive"
        return f"[{CLASS_NAMES[self.cls]} {self.number}] {form}"


def _parse_header(buf: Buffer, max_length: int) -> Header:
    """Read an identifier and a definite length from ``buf`` (Truncated when incomplete)."""
    offset = buf.position
    first = buf.pull_u8()
    cls = first >> 6
    constructed = bool(first & 0x20)
    number = first & 0x1F
    if number == 0x1F:
        # High tag number form: base-128 big-endian, bit 8 set on all but the last octet.
        number = 0
        for i in range(MAX_TAG_OCTETS + 1):
            if i == MAX_TAG_OCTETS:
                raise Malformed("tag number longer than 4 octets", offset=offset)
            octet = buf.pull_u8()
            if i == 0 and octet == 0x80:
                raise Malformed("tag number with a leading zero octet", offset=offset)
            number = (number << 7) | (octet & 0x7F)
            if not octet & 0x80:
                break
    first_len = buf.pull_u8()
    if first_len < 0x80:
        length = first_len
    elif first_len == 0x80:
        raise Malformed("indefinite length (not allowed here)", offset=offset)
    elif first_len == 0xFF:
        raise Malformed("reserved length octet 0xff", offset=offset)
    else:
        count = first_len & 0x7F
        if count > 4:
            raise Malformed(f"length of {count} octets", offset=offset)
        length = int.from_bytes(buf.pull_bytes(count), "big")
    if length > max_length:
        raise Malformed(f"element of {length} bytes exceeds the cap of {max_length}", offset=offset)
    return Header(cls, constructed, number, length, offset, buf.position - offset)


def plain_header(data: bytes, pos: int, end: int, max_length: int) -> tuple[int, int, int] | None:
    """(identifier octet, content start, content end) of the element at ``pos`` when its
    header is in the plain form, else None; the checked parse then gives the precise answer.

    Plain: a low tag number, a definite length of at most 4 octets within ``max_length``,
    the header complete before ``end`` (the contents need not be). Nearly every element of
    real traffic is plain, and this is the header parse by direct indexing, without a
    Buffer or a :class:`Header`, that the hot paths (LDAP framing, BerReader) take first.
    """
    if pos + 2 > end:
        return None
    ident = data[pos]
    if ident & 0x1F == 0x1F:
        return None  # high tag number form
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F  # 0: indefinite form; 0x7f: reserved 0xff
        if not 0 < count <= 4 or pos + count > end:
            return None
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if length > max_length:
        return None
    return ident, pos, pos + length


def parse_header(data: bytes, offset: int = 0, *, max_length: int = MAX_LENGTH) -> Header:
    """The TLV header at ``offset`` (Truncated if the header itself is incomplete)."""
    return _parse_header(Buffer(data, offset), max_length)


def element_size(data: bytes, offset: int = 0, *, max_length: int = MAX_LENGTH) -> int | None:
    """Total octets (header + contents) of the element at ``offset``, or None while the
    header is still incomplete: the framing function of BER streams such as LDAP over TCP.

    Raises Malformed for a header that can never become valid (indefinite length, too long).
    """
    plain = plain_header(data, offset, len(data), max_length)
    if plain is not None:
        return plain[2] - offset
    try:
        header = parse_header(data, offset, max_length=max_length)
    except Truncated:
        return None
    return header.header_length + header.length


@dataclass(frozen=True, slots=True)
class Element:
    """A whole TLV: its header and its content octets (for constructed ones, the encoded
    children)."""

    header: Header
    value: bytes


class BerReader:
    """Reads consecutive BER elements from ``data``.

    ``constructed()`` enters one constructed element, checks its tag and narrows reads to
    its contents; it must be used as ``with reader.constructed() as inner:``, and leaving
    the block moves past the element even when not every child was read (unknown trailing
    fields are skipped, not misread). Entering deeper than ``max_depth`` raises Malformed,
    never RecursionError.

    Why this is not built on :class:`~analyzer.protocols.buffer.Buffer` and
    ``contextlib``: LDAP and Kerberos read a dozen elements per message, and a generator
    context manager plus a Buffer call per octet cost several microseconds per element.
    So the reader keeps its own ``(data, position, end)`` and a stack of enclosing ends,
    ``constructed()`` returns the reader itself (whose ``__exit__`` pops the stack), and
    every read first tries the fast path (:func:`plain_header`), a header parse by
    direct indexing that accepts only the plain case (one-octet tag, definite length
    within the caps). Anything
    else takes the slow path: the checked :func:`_parse_header` on a Buffer, which raises
    the precise error. Both paths accept exactly the same input (tests/protocols/test_ber.py
    checks them against each other).
    """

    __slots__ = ("_data", "_end", "_outer", "_pos", "max_depth", "max_length")

    def __init__(
        self,
        data: bytes,
        *,
        offset: int = 0,
        max_depth: int = MAX_DEPTH,
        max_length: int = MAX_LENGTH,
    ) -> None:
        self._data = bytes(data) if not isinstance(data, bytes) else data
        self._pos = offset
        self._end = len(self._data)
        #: The end of each enclosing element entered, innermost last (its length is the depth).
        self._outer: list[int] = []
        self.max_depth = max_depth
        self.max_length = max_length

    # -------------------------------------------------------------- positioning
    def eof(self) -> bool:
        return self._pos >= self._end

    @property
    def position(self) -> int:
        return self._pos

    @property
    def depth(self) -> int:
        """Constructed elements currently entered."""
        return len(self._outer)

    def _next(self) -> tuple[int, int, int] | None:
        """:func:`plain_header` of the next element (consumes nothing; callers check that
        the contents are all there, as they need)."""
        return plain_header(self._data, self._pos, self._end, self.max_length)

    def _header(self) -> Header:
        """Consume the next header: the fast path, else the checked parse (precise errors)."""
        head = self._next()
        if head is not None:
            ident, start, stop = head
            offset = self._pos
            self._pos = start
            return Header(
                ident >> 6, bool(ident & 0x20), ident & 0x1F, stop - start, offset, start - offset
            )
        buf = Buffer(self._data, self._pos)
        with buf.restrict(self._end - self._pos):
            try:
                return _parse_header(buf, self.max_length)
            finally:
                self._pos = buf.position

    def peek(self) -> Header | None:
        """The next element's header without consuming it; None at the end."""
        if self._pos >= self._end:
            return None
        start = self._pos
        try:
            return self._header()
        finally:
            self._pos = start

    def peek_tag(self) -> int:
        """The next element's identifier octet (class, form, low tag number) without
        consuming it, or -1 at the end. Raises what :meth:`peek` raises for a broken
        header; for a high tag number the octet's number bits are 0x1f (use :meth:`peek`)."""
        if self._pos >= self._end:
            return -1
        if self._next() is None:
            self.peek()  # raises for a broken header; a valid high-tag one falls through
        return self._data[self._pos]

    def peek_is(self, cls: int, number: int) -> bool:
        """True when the next element has this tag (False at the end)."""
        if number < 0x1F:
            head = self._next()
            if head is not None:
                return head[0] & 0xDF == (cls << 6) | number
        header = self.peek()
        return header is not None and header.is_(cls, number)

    def read_header(self) -> Header:
        """Consume the next header (not the contents); checks the contents are all there."""
        header = self._header()
        remaining = self._end - self._pos
        if header.length > remaining:
            raise Truncated(
                f"{header.describe()} of {header.length} bytes at offset {header.offset}, "
                f"{remaining} left",
                offset=header.offset,
            )
        return header

    def read(self) -> Element:
        """Consume the next whole element."""
        header = self.read_header()
        value = self._data[self._pos : header.end]
        self._pos = header.end
        return Element(header, value)

    def skip(self) -> Header:
        """Consume the next element without looking inside."""
        header = self.read_header()
        self._pos = header.end
        return header

    def _expect(self, cls: int, number: int, constructed: bool | None) -> Header:
        header = self.read_header()
        if not header.is_(cls, number):
            raise Malformed(
                f"expected [{CLASS_NAMES[cls]} {number}], found {header.describe()}",
                offset=header.offset,
            )
        if constructed is not None and header.constructed != constructed:
            form = "constructed" if constructed else "primitive"
            raise Malformed(f"{header.describe()} should be {form}", offset=header.offset)
        return header

    def _plain(self, cls: int, number: int, form: int) -> tuple[int, int] | None:
        """(content start, content end) of the next element if it is plain (:meth:`_next`),
        has this tag (``form`` 0x20 for constructed) and its contents are all present;
        else None, for the checked path (:meth:`_expect`) to take or refuse it."""
        if number >= 0x1F:
            return None
        head = self._next()
        if head is None or head[0] != (cls << 6) | form | number or head[2] > self._end:
            return None
        return head[1], head[2]

    def constructed(self, cls: int = UNIVERSAL, number: int = SEQUENCE) -> BerReader:
        """Enter the next element, which must be constructed with this tag; use as
        ``with reader.constructed(...) as inner:`` (``inner`` is this reader)."""
        plain = self._plain(cls, number, 0x20)
        if plain is not None and len(self._outer) < self.max_depth:
            self._outer.append(self._end)
            self._pos, self._end = plain
            return self
        self._push(self._expect(cls, number, True))
        return self

    def enter(self) -> _Entered:
        """Enter the next constructed element whatever its tag (for CHOICEs):
        ``with reader.enter() as (header, inner):``."""
        header = self.read_header()
        if not header.constructed:
            raise Malformed(f"{header.describe()} should be constructed", offset=header.offset)
        self._push(header)
        return _Entered(header, self)

    def _push(self, header: Header) -> None:
        if len(self._outer) >= self.max_depth:
            raise Malformed(f"nesting deeper than {self.max_depth}", offset=header.offset)
        self._pos = header.offset + header.header_length
        self._outer.append(self._end)
        self._end = header.end

    def __enter__(self) -> BerReader:
        return self

    def __exit__(self, *exc: object) -> None:
        # Leave the innermost element entered: move past it, widen back to its parent.
        self._pos = self._end
        self._end = self._outer.pop()

    # --------------------------------------------------------------- primitives
    def read_primitive(self, cls: int = UNIVERSAL, number: int = OCTET_STRING) -> bytes:
        """The content octets of a primitive element with this tag (by default an OCTET
        STRING)."""
        plain = self._plain(cls, number, 0)
        if plain is not None:
            start, self._pos = plain
            return self._data[start : self._pos]
        header = self._expect(cls, number, False)
        self._pos = header.end
        return self._data[header.end - header.length : header.end]

    def read_integer(self, cls: int = UNIVERSAL, number: int = INTEGER) -> int:
        raw = self.read_primitive(cls, number)
        if 0 < len(raw) <= MAX_INTEGER_OCTETS:
            return int.from_bytes(raw, "big", signed=True)
        return decode_integer(raw, self._pos)  # raises the precise error

    def read_enumerated(self, cls: int = UNIVERSAL, number: int = ENUMERATED) -> int:
        return self.read_integer(cls, number)

    def read_boolean(self, cls: int = UNIVERSAL, number: int = BOOLEAN) -> bool:
        raw = self.read_primitive(cls, number)
        if len(raw) != 1:
            raise Malformed(f"BOOLEAN of {len(raw)} octets", offset=self._pos)
        return raw != b"\x00"  # BER: any non-zero octet is TRUE

    #: An OCTET STRING (or any string type given by tag), primitive form only: the very
    #: method :meth:`read_primitive`, not a wrapper around it, because strings are most of
    #: what LDAP and Kerberos read and a wrapper costs a call each.
    read_octets = read_primitive

    def read_octets_list(self, cls: int = UNIVERSAL, number: int = OCTET_STRING) -> list[bytes]:
        """Every remaining element, each an OCTET STRING (or the given tag): the contents
        of a SET OF / SEQUENCE OF strings."""
        out = []
        while self._pos < self._end:
            out.append(self.read_primitive(cls, number))
        return out

    def read_oid(self, cls: int = UNIVERSAL, number: int = OID) -> str:
        return decode_oid(self.read_primitive(cls, number), self._pos)

    def read_null(self, cls: int = UNIVERSAL, number: int = NULL) -> None:
        if self.read_primitive(cls, number):
            raise Malformed("NULL with contents", offset=self._pos)

    def read_bit_string(self, cls: int = UNIVERSAL, number: int = BIT_STRING) -> tuple[int, bytes]:
        """(unused bits in the last octet, the octets)."""
        raw = self.read_primitive(cls, number)
        if not raw or raw[0] > 7:
            raise Malformed("BIT STRING without a valid unused-bits octet", offset=self.position)
        return raw[0], raw[1:]


class _Entered:
    """What :meth:`BerReader.enter` returns: ``with`` gives (header, reader)."""

    __slots__ = ("header", "reader")

    def __init__(self, header: Header, reader: BerReader) -> None:
        self.header = header
        self.reader = reader

    def __enter__(self) -> tuple[Header, BerReader]:
        return self.header, self.reader

    def __exit__(self, *exc: object) -> None:
        self.reader.__exit__()


def decode_integer(raw: bytes, offset: int | None = None) -> int:
    """Two's complement big-endian INTEGER contents."""
    if not raw:
        raise Malformed("INTEGER with no content octets", offset=offset)
    if len(raw) > MAX_INTEGER_OCTETS:
        raise Malformed(f"INTEGER of {len(raw)} octets", offset=offset)
    return int.from_bytes(raw, "big", signed=True)


def decode_oid(raw: bytes, offset: int | None = None) -> str:
    """OBJECT IDENTIFIER contents in dotted form."""
    if not raw:
        raise Malformed("empty OBJECT IDENTIFIER", offset=offset)
    arcs: list[int] = []
    value = 0
    started = False
    for octet in raw:
        if not started and octet == 0x80:
            raise Malformed("OID arc with a leading zero octet", offset=offset)
        started = bool(octet & 0x80)
        value = (value << 7) | (octet & 0x7F)
        if value.bit_length() > 64:
            raise Malformed("OID arc over 64 bits", offset=offset)
        if not octet & 0x80:
            arcs.append(value)
            value = 0
            if len(arcs) > MAX_OID_ARCS:
                raise Malformed("OID with too many arcs", offset=offset)
    if started:
        raise Malformed("OID ends inside an arc", offset=offset)
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


@dataclass(frozen=True, slots=True)
class Node:
    """One element of a decoded tree (:func:`parse_tree`)."""

    header: Header
    #: Content octets of a primitive element; empty for constructed ones.
    value: bytes
    children: tuple[Node, ...]


def parse_tree(
    data: bytes, *, max_depth: int = MAX_DEPTH, max_elements: int = 100_000
) -> list[Node]:
    """Every element of ``data`` as a tree (constructed elements opened): for tests and
    drilling into unknown structures. Depth-capped without Python recursion limits mattering:
    nesting beyond ``max_depth`` raises Malformed."""
    reader = BerReader(data, max_depth=max_depth)
    count = [0]

    def level() -> list[Node]:
        nodes = []
        while not reader.eof():
            count[0] += 1
            if count[0] > max_elements:
                raise Malformed(f"more than {max_elements} elements", offset=reader.position)
            header = reader.peek()
            assert header is not None
            if header.constructed:
                with reader.enter() as (h, _):
                    children = tuple(level())
                nodes.append(Node(h, b"", children))
            else:
                element = reader.read()
                nodes.append(Node(element.header, element.value, ()))
        return nodes

    return level()

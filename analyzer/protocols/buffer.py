"""A bounds-checked reader over bytes: the one way protocol parsers read wire data.

Every read checks the remaining length and raises :class:`~analyzer.errors.Truncated`
instead of ``IndexError`` or ``struct.error``, so a parser built on it obeys the contract
"events out, or DecodeError" without a try/except of its own.

>>> buf = Buffer(bytes.fromhex("0102 0003 616263 ff"))
>>> buf.pull_u8(), buf.pull_u8(), buf.pull_u16()
(1, 2, 3)
>>> with buf.restrict(3):
...     buf.pull_bytes(3)
b'abc'
>>> buf.pull_u16()
Traceback (most recent call last):
...
analyzer.errors.Truncated: need 2 bytes at offset 7, have 1
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager

from analyzer.errors import Malformed, Truncated

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")


class Buffer:
    """Read big-endian integers and byte strings from ``data``, never past its end.

    ``restrict(n)`` narrows the readable window to the next ``n`` bytes (a nested length
    field); leaving the block moves the position to its end whether or not the parser
    consumed all of it, so unknown trailing fields are skipped, not misread.
    """

    __slots__ = ("_data", "_end", "_pos")

    def __init__(self, data: bytes | bytearray | memoryview, offset: int = 0) -> None:
        self._data = bytes(data) if not isinstance(data, bytes) else data
        self._pos = offset
        self._end = len(self._data)

    @property
    def data(self) -> bytes:
        """The whole underlying byte string (for pointer-based formats such as DNS names)."""
        return self._data

    @property
    def position(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return self._end - self._pos

    def eof(self) -> bool:
        return self._pos >= self._end

    def seek(self, offset: int) -> None:
        if not 0 <= offset <= self._end:
            raise Malformed(f"offset {offset} outside 0..{self._end}", offset=offset)
        self._pos = offset

    def _need(self, n: int) -> int:
        pos = self._pos
        if n < 0:
            raise Malformed(f"negative length {n}", offset=pos)
        if pos + n > self._end:
            raise Truncated(f"need {n} bytes at offset {pos}, have {self._end - pos}", offset=pos)
        self._pos = pos + n
        return pos

    def pull_u8(self) -> int:
        pos = self._need(1)
        return self._data[pos]

    def pull_u16(self) -> int:
        return int(_U16.unpack_from(self._data, self._need(2))[0])

    def pull_u24(self) -> int:
        pos = self._need(3)
        return int.from_bytes(self._data[pos : pos + 3], "big")

    def pull_u32(self) -> int:
        return int(_U32.unpack_from(self._data, self._need(4))[0])

    def pull_u64(self) -> int:
        return int(_U64.unpack_from(self._data, self._need(8))[0])

    def pull_bytes(self, n: int) -> bytes:
        pos = self._need(n)
        return self._data[pos : pos + n]

    def pull_rest(self) -> bytes:
        return self.pull_bytes(self.remaining)

    def peek_u8(self, at: int = 0) -> int:
        pos = self._pos + at
        if pos >= self._end:
            raise Truncated(f"need 1 byte at offset {pos}, have 0", offset=pos)
        return self._data[pos]

    def pull_block(self, length_bytes: int) -> bytes:
        """A byte string preceded by its length in ``length_bytes`` bytes (1, 2, 3 or 4)."""
        n = int.from_bytes(self.pull_bytes(length_bytes), "big")
        return self.pull_bytes(n)

    @contextmanager
    def restrict(self, n: int) -> Iterator[Buffer]:
        """Limit reads to the next ``n`` bytes for the duration of the block."""
        start = self._pos
        if n < 0 or start + n > self._end:
            raise Truncated(
                f"block of {n} bytes at offset {start} exceeds the {self._end - start} left",
                offset=start,
            )
        outer_end = self._end
        self._end = start + n
        try:
            yield self
        finally:
            self._pos = start + n
            self._end = outer_end

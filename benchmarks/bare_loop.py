"""The floor for reading a capture in Python: walk the record headers of a classic pcap
(mmap, one precompiled ``struct.Struct``), counting packets and captured bytes, decoding
nothing. Any tool written in Python that looks at every packet costs at least this much.

    python benchmarks/bare_loop.py CAPTURE.pcap     # prints {"packets": ..., "bytes": ...}
"""

from __future__ import annotations

import json
import mmap
import struct
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

LITTLE_ENDIAN_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")  # microsecond, nanosecond
BIG_ENDIAN_MAGICS = (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d")
FILE_HEADER_LEN = 24
RECORD_HEADER_LEN = 16
WINDOW = 32 << 20  # bytes walked between releases of the mapped pages


def walk(path: Path) -> tuple[int, int]:
    """Return (packets, captured bytes) of the classic pcap file at ``path``.

    Raises ``ValueError`` if the file is not a classic pcap.
    """
    with open(path, "rb") as f:
        head = f.read(FILE_HEADER_LEN)
        if len(head) < FILE_HEADER_LEN:
            raise ValueError(f"{path}: too short for a pcap file header")
        if head[:4] in LITTLE_ENDIAN_MAGICS:
            record = struct.Struct("<IIII")
        elif head[:4] in BIG_ENDIAN_MAGICS:
            record = struct.Struct(">IIII")
        else:
            raise ValueError(f"{path}: not a classic pcap file (magic {head[:4].hex()})")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _walk_records(data, record.unpack_from)


def _walk_records(
    data: mmap.mmap, unpack: Callable[[mmap.mmap, int], tuple[int, ...]]
) -> tuple[int, int]:
    # Only locals in the inner loop: this is the per-packet floor being measured. The file is
    # walked in windows; the pages of a finished window are released (MADV_DONTNEED) so
    # the resident set stays flat instead of growing to the size of the file: mapped file
    # pages count in a process's RSS even though they live in the page cache.
    release = getattr(mmap, "MADV_DONTNEED", None)
    size = len(data)
    offset = FILE_HEADER_LEN
    packets = captured = 0
    released = 0
    while offset <= size - RECORD_HEADER_LEN:
        limit = min(offset + WINDOW, size) - RECORD_HEADER_LEN
        while offset <= limit:
            _, _, included, _ = unpack(data, offset)
            offset += RECORD_HEADER_LEN + included
            packets += 1
            captured += included
        done = min(offset, size) // mmap.PAGESIZE * mmap.PAGESIZE
        if release is not None and done > released:
            data.madvise(release, released, done - released)
            released = done
    return packets, captured


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: bare_loop.py CAPTURE.pcap", file=sys.stderr)
        return 2
    try:
        packets, captured = walk(Path(args[0]))
    except (OSError, ValueError) as exc:
        print(f"bare_loop: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"packets": packets, "bytes": captured}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

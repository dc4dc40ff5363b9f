"""Streaming capture readers: classic pcap and pcapng, plain or compressed.

A reader turns a file into :class:`RecordBatch` objects: one chunk of the file's bytes and
numpy columns that locate each packet inside it. Nothing is copied per packet and the whole
file is never held in memory; a batch covers a few MB and is dropped once decoded.

The format is recognised by magic bytes, never by the file name, and compression (gzip,
bzip2, xz, zstd) is peeled off first, so ``trace.pcapng.gz`` and ``trace.bin`` both work.

>>> from analyzer.capture.readers import open_capture
>>> with open_capture("samples/cx700-logon-loop.pcapng") as capture:
...     for batch in capture.batches():
...         print(batch.first_frame, len(batch))
1 3056
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from analyzer.errors import CaptureError, Weird

CHUNK_BYTES = 4 * 1024 * 1024
#: A record claiming more than this is treated as corruption, not as a huge packet: no link
#: layer we read carries frames this large, and trusting it would make us buffer garbage.
MAX_RECORD_BYTES = 256 * 1024
#: pcapng blocks other than packet blocks (name resolution, statistics, custom) stay small.
MAX_BLOCK_BYTES = 16 * 1024 * 1024

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000),  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # little-endian, nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
COMPRESSION_MAGICS = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)

LINKTYPE_NAMES = {
    0: "NULL",
    1: "ETHERNET",
    12: "RAW",
    14: "RAW",
    101: "RAW",
    105: "IEEE802_11",
    108: "LOOP",
    113: "LINUX_SLL",
    127: "IEEE802_11_RADIOTAP",
    228: "IPV4",
    229: "IPV6",
    276: "LINUX_SLL2",
}


def linktype_name(linktype: int) -> str:
    """Name of a LINKTYPE_ value as tcpdump spells it.

    >>> linktype_name(1), linktype_name(276), linktype_name(4242)
    ('ETHERNET', 'LINUX_SLL2', 'LINKTYPE_4242')
    """
    return LINKTYPE_NAMES.get(linktype, f"LINKTYPE_{linktype}")


@dataclass(slots=True)
class RecordBatch:
    """A chunk of capture bytes and the position of each packet in it.

    ``data_offset[i]`` and ``caplen[i]`` locate packet ``first_frame + i`` inside ``buf``;
    ``origlen`` is its length on the wire, ``ts_ns`` its time in ns since the Unix epoch,
    ``linktype`` the link type of the interface it was captured on.
    """

    buf: bytes
    first_frame: int
    data_offset: npt.NDArray[np.int64]
    caplen: npt.NDArray[np.int64]
    origlen: npt.NDArray[np.int64]
    ts_ns: npt.NDArray[np.int64]
    linktype: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return len(self.data_offset)

    def packet(self, index: int) -> bytes:
        """Bytes of the ``index``-th packet of the batch (for drilling down, not the hot path)."""
        start = int(self.data_offset[index])
        return self.buf[start : start + int(self.caplen[index])]


@dataclass(slots=True)
class Interface:
    """One capture interface (pcap has exactly one; pcapng one per IDB)."""

    linktype: int
    snaplen: int
    #: Timestamp unit: (numerator, denominator) of ns per tick, e.g. (1000, 1) for us.
    ns_per_tick: tuple[int, int] = (1000, 1)
    ts_offset_s: int = 0


@dataclass
class CaptureInfo:
    """What the reader learnt about the file itself, filled in while reading."""

    path: str
    file_format: str = "unknown"
    compression: str | None = None
    interfaces: list[Interface] = field(default_factory=list)
    sections: int = 0
    bytes_read: int = 0
    #: Damage (truncation, corrupt records, skipped blocks) as weird records.
    damage: list[Weird] = field(default_factory=list)
    skipped_blocks: dict[str, int] = field(default_factory=dict)


def _open_decompressed(path: str) -> tuple[BinaryIO, BinaryIO, str | None]:
    """Open ``path`` and peel off one layer of compression recognised by its magic bytes."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - handed to the caller, closed by Capture
    except FileNotFoundError:
        raise CaptureError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CaptureError(f"{path}: is a directory, not a capture file") from None
    except OSError as e:
        raise CaptureError(f"{path}: cannot open: {e.strerror or e}") from None
    head = raw.read(6)
    raw.seek(0)
    for magic, name in COMPRESSION_MAGICS:
        if head.startswith(magic):
            if name == "gzip":
                return gzip.GzipFile(fileobj=raw, mode="rb"), raw, name  # type: ignore[return-value]
            if name == "bzip2":
                return bz2.BZ2File(raw, "rb"), raw, name  # type: ignore[return-value]
            if name == "xz":
                return lzma.LZMAFile(raw, "rb"), raw, name  # type: ignore[return-value]
            try:
                import zstandard
            except ImportError:
                raw.close()
                raise CaptureError(
                    f"{path}: zstd-compressed; install the 'zstandard' package to read it"
                ) from None
            reader = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
            return io.BufferedReader(reader, CHUNK_BYTES), raw, name
    return raw, raw, None


class Capture:
    """An open capture file; iterate :meth:`batches` once to read it.

    Use :func:`open_capture` to make one. Errors in the file header raise
    :class:`CaptureError`; damage later in the file stops reading there and is listed in
    ``info.damage`` so that everything before it is still analysed.
    """

    def __init__(self, path: str | os.PathLike[str], chunk_bytes: int = CHUNK_BYTES) -> None:
        self.path = os.fspath(path)
        self.chunk_bytes = chunk_bytes
        self.info = CaptureInfo(self.path)
        self._stream, self._raw, self.info.compression = _open_decompressed(self.path)
        self.file_size = os.path.getsize(self.path)
        try:
            head = self._read_exact_or_less(24)
        except (OSError, EOFError, lzma.LZMAError) as e:
            self.close()
            raise CaptureError(f"{self.path}: cannot decompress: {e}") from None
        if not head:
            self.close()
            raise CaptureError(f"{self.path}: empty file")
        self._head = head
        if head[:4] in PCAP_MAGICS:
            self.info.file_format = "pcap"
        elif head[:4] == PCAPNG_SHB:
            self.info.file_format = "pcapng"
        else:
            self.close()
            what = f"{self.info.compression}-compressed data" if self.info.compression else "file"
            raise CaptureError(
                f"{self.path}: not a pcap or pcapng capture ({what} starts with {head[:4].hex()})"
            )

    def _read_exact_or_less(self, n: int) -> bytes:
        parts = []
        remaining = n
        while remaining > 0:
            piece = self._stream.read(remaining)
            if not piece:
                break
            parts.append(piece)
            remaining -= len(piece)
        return b"".join(parts)

    def close(self) -> None:
        self._stream.close()
        self._raw.close()

    def position(self) -> int:
        """How far into the file (compressed bytes) reading has got, for progress bars."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- chunking ---------------------------------------------------------------------

    def _chunks(self) -> Iterator[bytes]:
        """Raw decompressed bytes in chunks of roughly ``chunk_bytes``; the header first.

        Compressed streams are read in small pieces so that a stream cut short (a capture
        copied while still being written) loses only its last piece, not a whole chunk.
        """
        yield self._head
        piece_size = self.chunk_bytes if self.info.compression is None else 256 * 1024
        # read1 decompresses from one read of the underlying file, so data before the
        # point of damage is returned before the error is raised.
        read = getattr(self._stream, "read1", None) if self.info.compression else None
        read = read or self._stream.read
        while True:
            pieces: list[bytes] = []
            have = 0
            failure = None
            while have < self.chunk_bytes:
                try:
                    piece = read(min(piece_size, self.chunk_bytes - have))
                except (OSError, EOFError, lzma.LZMAError, ValueError) as e:
                    failure = e
                    break
                if not piece:
                    break
                pieces.append(piece)
                have += len(piece)
            if pieces:
                yield b"".join(pieces)
            if failure is not None:
                self.info.damage.append(
                    Weird(
                        "capture_decompression_error",
                        detail=f"{self.info.compression} stream is damaged or cut short: {failure}",
                    )
                )
                return
            if have < self.chunk_bytes:
                return

    def batches(self) -> Iterator[RecordBatch]:
        """Yield the file's packets batch by batch, in file order."""
        if self.info.file_format == "pcap":
            yield from self._pcap_batches()
        else:
            yield from self._pcapng_batches()

    # -- classic pcap -----------------------------------------------------------------

    def _pcap_batches(self) -> Iterator[RecordBatch]:
        chunks = self._chunks()
        buf = b""
        for piece in chunks:
            buf += piece
            if len(buf) >= 24:
                break
        if len(buf) < 24:
            raise CaptureError(f"{self.path}: truncated pcap file header ({len(buf)} of 24 bytes)")
        endian, ns_per_tick = PCAP_MAGICS[buf[:4]]
        _major, _minor, _zone, _sigfigs, snaplen, network = struct.unpack_from(
            endian + "HHiIII", buf, 4
        )
        # Only the low 16 bits are the link type; the top bits may carry an FCS length.
        linktype = network & 0xFFFF
        self.info.interfaces.append(Interface(linktype, snaplen, (ns_per_tick, 1)))
        self.info.sections = 1
        record_header = struct.Struct(endian + "IIII")
        pos = 24
        frame = 1
        base = 0  # file offset of buf[0], for messages
        for piece in _with_tail(buf, chunks):
            if pos:
                buf = buf[pos:] + piece if pos < len(buf) else piece
                base += pos
                pos = 0
            else:
                buf = buf + piece
            batch, pos, stop = self._scan_pcap(
                buf, record_header, ns_per_tick, linktype, frame, base
            )
            if batch is not None:
                frame += len(batch)
                yield batch
            if stop:
                return
        leftover = len(buf) - pos
        self.info.bytes_read = base + pos
        if leftover:
            self._truncated_tail(base + pos, leftover, buf[pos:], record_header)

    def _scan_pcap(
        self,
        buf: bytes,
        record_header: struct.Struct,
        ns_per_tick: int,
        linktype: int,
        frame: int,
        base: int,
    ) -> tuple[RecordBatch | None, int, bool]:
        # The loop only finds where records start (one struct read and one append per
        # record: this is the per-packet floor); the header fields are gathered afterwards
        # for all records at once.
        unpack_length = struct.Struct(record_header.format[0] + "I").unpack_from
        end = len(buf)
        pos = 0
        starts: list[int] = []
        add = starts.append
        stop = False
        while pos + 16 <= end:
            (incl,) = unpack_length(buf, pos + 8)
            if incl > MAX_RECORD_BYTES:
                self.info.damage.append(
                    Weird(
                        "capture_corrupt_record",
                        frame=frame + len(starts),
                        detail=f"record at file offset {base + pos} claims {incl} bytes; "
                        "reading stopped there",
                        offset=base + pos,
                    )
                )
                stop = True
                break
            nxt = pos + 16 + incl
            if nxt > end:
                break
            add(pos)
            pos = nxt
        if stop:
            self.info.bytes_read = base + pos
        if not starts:
            return None, pos, stop
        offsets = np.array(starts, dtype=np.int64)
        dtype = np.dtype(record_header.format[0] + "u4")
        # Gather the 16-byte record headers into one (n, 4) array of u32 in file order.
        raw = np.frombuffer(buf, dtype=np.uint8)
        headers = raw[offsets[:, None] + np.arange(16)].view(dtype).astype(np.int64)
        ts_ns = headers[:, 0] * 1_000_000_000 + headers[:, 1] * ns_per_tick
        batch = RecordBatch(
            buf=buf,
            first_frame=frame,
            data_offset=offsets + 16,
            caplen=headers[:, 2].copy(),
            origlen=headers[:, 3].copy(),
            ts_ns=ts_ns,
            linktype=np.full(len(starts), linktype, dtype=np.int32),
        )
        return batch, pos, stop

    def _truncated_tail(
        self, offset: int, leftover: int, tail: bytes, record_header: struct.Struct
    ) -> None:
        if leftover >= 16:
            need = 16 + record_header.unpack_from(tail, 0)[2]
            detail = f"last record at file offset {offset} is cut short: {leftover} of {need} bytes"
        else:
            detail = f"last record header at file offset {offset} is cut short: {leftover} bytes"
        self.info.damage.append(Weird("capture_truncated", detail=detail, offset=offset))

    # -- pcapng -----------------------------------------------------------------------

    def _pcapng_batches(self) -> Iterator[RecordBatch]:
        state = _PcapngState()
        chunks = self._chunks()
        buf = b""
        pos = 0
        base = 0
        frame = 1
        for piece in chunks:
            if pos:
                buf = buf[pos:] + piece if pos < len(buf) else piece
                base += pos
                pos = 0
            else:
                buf = buf + piece
            batch, pos, stop = self._scan_pcapng(buf, state, frame, base)
            if batch is not None:
                frame += len(batch)
                yield batch
            if stop:
                return
        self.info.bytes_read = base + pos
        leftover = len(buf) - pos
        if leftover:
            self.info.damage.append(
                Weird(
                    "capture_truncated",
                    detail=f"last pcapng block at file offset {base + pos} is cut short: "
                    f"{leftover} bytes present",
                    offset=base + pos,
                )
            )

    def _scan_pcapng(
        self, buf: bytes, state: _PcapngState, frame: int, base: int
    ) -> tuple[RecordBatch | None, int, bool]:
        end = len(buf)
        pos = 0
        offsets: list[int] = []
        ticks: list[int] = []
        caplens: list[int] = []
        origlens: list[int] = []
        ifaces: list[int] = []
        stop = False
        while pos + 12 <= end:
            if buf[pos : pos + 4] == PCAPNG_SHB:
                if pos + 12 > end:
                    break
                bom = buf[pos + 8 : pos + 12]
                # The magic 0x1A2B3C4D written in the section's own byte order.
                if bom == b"\x4d\x3c\x2b\x1a":
                    state.set_endian("<")
                elif bom == b"\x1a\x2b\x3c\x4d":
                    state.set_endian(">")
                else:
                    self._pcapng_corrupt(base + pos, frame + len(offsets), "bad byte-order magic")
                    stop = True
                    break
            btype, blen = state.block_header.unpack_from(buf, pos)
            if blen < 12 or blen % 4 or blen > MAX_BLOCK_BYTES:
                self._pcapng_corrupt(
                    base + pos, frame + len(offsets), f"block type {btype:#x} has length {blen}"
                )
                stop = True
                break
            if pos + blen > end:
                break
            body = pos + 8
            if btype == 6 or btype == 2:  # Enhanced Packet Block, obsolete Packet Block
                if btype == 6:
                    iface, ts_hi, ts_lo, incl, orig = state.epb.unpack_from(buf, body)
                else:
                    iface, _drops, ts_hi, ts_lo, incl, orig = state.opb.unpack_from(buf, body)
                if incl > blen - 32:
                    self._pcapng_corrupt(
                        base + pos,
                        frame + len(offsets),
                        f"packet of {incl} bytes in a {blen}-byte block",
                    )
                    stop = True
                    break
                offsets.append(body + 20)
                ticks.append((ts_hi << 32) | ts_lo)
                caplens.append(incl)
                origlens.append(orig)
                ifaces.append(state.section_base + iface)
            elif btype == 3:  # Simple Packet Block: no timestamp, interface 0
                (orig,) = state.u32.unpack_from(buf, body)
                offsets.append(body + 4)
                ticks.append(-1)
                caplens.append(min(orig, blen - 16))
                origlens.append(orig)
                ifaces.append(state.section_base)
            elif btype == 1:  # Interface Description Block
                state.add_interface(buf, body, pos + blen - 4, self.info)
            elif btype == 0x0A0D0D0A:
                state.new_section(len(self.info.interfaces))
                self.info.sections += 1
            else:
                name = {4: "name_resolution", 5: "interface_statistics", 0xA: "decryption_secrets"}
                key = name.get(btype, f"type_{btype:#x}")
                self.info.skipped_blocks[key] = self.info.skipped_blocks.get(key, 0) + 1
            pos += blen
        if not offsets:
            return None, pos, stop
        batch = state.make_batch(
            buf, frame, offsets, ticks, caplens, origlens, ifaces, self.info, base
        )
        return batch, pos, stop

    def _pcapng_corrupt(self, offset: int, frame: int, why: str) -> None:
        self.info.damage.append(
            Weird(
                "capture_corrupt_record",
                frame=frame,
                detail=f"pcapng block at file offset {offset}: {why}; reading stopped there",
                offset=offset,
            )
        )


class _PcapngState:
    """Per-section state of a pcapng file: byte order and the section's interfaces."""

    def __init__(self) -> None:
        #: Index in CaptureInfo.interfaces of this section's interface 0: packets are
        #: tagged with global interface indices so a batch may span sections.
        self.section_base = 0
        self.set_endian("<")

    def set_endian(self, endian: str) -> None:
        self.endian = endian
        self.block_header = struct.Struct(endian + "II")
        self.u32 = struct.Struct(endian + "I")
        self.epb = struct.Struct(endian + "IIIII")
        self.opb = struct.Struct(endian + "HHIIII")
        self.idb = struct.Struct(endian + "HHI")
        self.option = struct.Struct(endian + "HH")

    def new_section(self, section_base: int) -> None:
        self.section_base = section_base

    def add_interface(self, buf: bytes, body: int, end: int, info: CaptureInfo) -> None:
        linktype, _reserved, snaplen = self.idb.unpack_from(buf, body)
        iface = Interface(linktype, snaplen, (1000, 1))
        pos = body + 8
        while pos + 4 <= end:
            code, length = self.option.unpack_from(buf, pos)
            value = buf[pos + 4 : pos + 4 + length]
            if code == 0:
                break
            if code == 9 and length >= 1:  # if_tsresol
                res = value[0]
                if res & 0x80:
                    # Power-of-two resolution: ticks of 2**-n seconds.
                    iface.ns_per_tick = (1_000_000_000, 1 << (res & 0x7F))
                else:
                    exp = res & 0x7F
                    iface.ns_per_tick = (10 ** (9 - exp), 1) if exp <= 9 else (1, 10 ** (exp - 9))
            elif code == 14 and length == 8:  # if_tsoffset, seconds
                iface.ts_offset_s = struct.unpack(self.endian + "q", value)[0]
            pos += 4 + ((length + 3) & ~3)
        info.interfaces.append(iface)

    def make_batch(
        self,
        buf: bytes,
        frame: int,
        offsets: list[int],
        ticks: list[int],
        caplens: list[int],
        origlens: list[int],
        ifaces: list[int],
        info: CaptureInfo,
        base: int,
    ) -> RecordBatch:
        n = len(offsets)
        iface_idx = np.array(ifaces, dtype=np.int64)
        linktypes = np.full(n, -1, dtype=np.int32)
        ts_ns = np.zeros(n, dtype=np.int64)
        tick_arr = np.array(ticks, dtype=np.int64)
        for i in np.unique(iface_idx).tolist():
            if i >= len(info.interfaces):
                continue
            iface = info.interfaces[i]
            sel = iface_idx == i
            linktypes[sel] = iface.linktype
            num, den = iface.ns_per_tick
            t = tick_arr[sel]
            scaled = t * num if den == 1 else (t // den) * num + (t % den) * num // den
            ts_ns[sel] = scaled + iface.ts_offset_s * 1_000_000_000
        ts_ns[tick_arr < 0] = 0  # Simple Packet Blocks carry no timestamp
        unknown = linktypes == -1
        if unknown.any():
            first_bad = int(np.argmax(unknown))
            info.damage.append(
                Weird(
                    "pcapng_unknown_interface",
                    frame=frame + first_bad,
                    detail=f"{int(unknown.sum())} packet(s) name an interface that was never "
                    "described",
                )
            )
        return RecordBatch(
            buf=buf,
            first_frame=frame,
            data_offset=np.array(offsets, dtype=np.int64),
            caplen=np.array(caplens, dtype=np.int64),
            origlen=np.array(origlens, dtype=np.int64),
            ts_ns=ts_ns,
            linktype=linktypes,
        )


def _with_tail(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    """Yield an empty piece first (so the already-read header is scanned), then the rest."""
    yield b""
    yield from rest


def open_capture(path: str | os.PathLike[str], chunk_bytes: int = CHUNK_BYTES) -> Capture:
    """Open a pcap or pcapng file, compressed or not.

    Raises :class:`~analyzer.errors.CaptureError` with a one-line reason when the file is
    missing, empty or not a capture.

    >>> open_capture("/nonexistent.pcap")
    Traceback (most recent call last):
    ...
    analyzer.errors.CaptureError: /nonexistent.pcap: no such file
    """
    return Capture(path, chunk_bytes)

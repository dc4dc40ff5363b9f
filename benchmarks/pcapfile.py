"""Capture file writers for the benchmark generator: classic pcap (microseconds,
little-endian, Ethernet) and pcapng, optionally gzip-compressed. Records are gathered in
memory and written in large blocks."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import BinaryIO, Protocol

LINKTYPE_ETHERNET = 1
SNAPLEN = 65535
PCAP_HEADER = struct.Struct("<IHHiIII")
PCAP_RECORD = struct.Struct("<IIII")
PCAP_MAGIC_US = 0xA1B2C3D4
PCAPNG_EPB = struct.Struct("<IIIIIII")
FLUSH_EVERY = 8192  # records per write()


class CaptureWriter(Protocol):
    bytes_written: int

    def write(self, ts_us: int, frame: bytes) -> None: ...

    def close(self) -> None: ...


class _Buffered:
    def __init__(self, out: BinaryIO, raw: BinaryIO | None) -> None:
        self._out = out
        self._raw = raw  # the file under a gzip stream, closed after it
        self._parts: list[bytes] = []
        self.bytes_written = 0

    def _put(self, *parts: bytes) -> None:
        self._parts.extend(parts)
        if len(self._parts) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        block = b"".join(self._parts)
        self._parts.clear()
        self._out.write(block)
        self.bytes_written += len(block)

    def close(self) -> None:
        self.flush()
        self._out.close()
        if self._raw is not None:
            self._raw.close()


class PcapWriter(_Buffered):
    """Classic pcap, microsecond timestamps, little-endian, LINKTYPE_ETHERNET."""

    def __init__(self, out: BinaryIO, raw: BinaryIO | None = None) -> None:
        super().__init__(out, raw)
        self._put(PCAP_HEADER.pack(PCAP_MAGIC_US, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))

    def write(self, ts_us: int, frame: bytes) -> None:
        seconds, micros = divmod(ts_us, 1_000_000)
        n = len(frame)
        self._parts.append(PCAP_RECORD.pack(seconds, micros, n, n))
        self._parts.append(frame)
        if len(self._parts) >= FLUSH_EVERY:
            self.flush()


class PcapngWriter(_Buffered):
    """pcapng: one section, one Ethernet interface with the default microsecond resolution,
    Enhanced Packet Blocks."""

    def __init__(self, out: BinaryIO, raw: BinaryIO | None = None) -> None:
        super().__init__(out, raw)
        shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
        idb = struct.pack("<IIHHI", 1, 20, LINKTYPE_ETHERNET, 0, SNAPLEN) + struct.pack("<I", 20)
        self._put(shb, idb)

    def write(self, ts_us: int, frame: bytes) -> None:
        n = len(frame)
        pad = -n % 4
        total = 32 + n + pad
        self._parts.append(PCAPNG_EPB.pack(6, total, 0, ts_us >> 32, ts_us & 0xFFFFFFFF, n, n))
        self._parts.append(frame + bytes(pad) + total.to_bytes(4, "little"))
        if len(self._parts) >= FLUSH_EVERY:
            self.flush()


def open_writer(path: Path, *, pcapng: bool = False, compress: bool = False) -> CaptureWriter:
    """A writer for ``path``; gzip output is deterministic (no name, mtime 0)."""
    raw = open(path, "wb")  # noqa: SIM115 - closed by the writer
    if compress:
        out: BinaryIO = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0)  # type: ignore[assignment]
        return PcapngWriter(out, raw) if pcapng else PcapWriter(out, raw)
    return PcapngWriter(raw) if pcapng else PcapWriter(raw)

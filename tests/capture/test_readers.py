"""Capture readers: formats, byte orders, time resolutions, compression and damage."""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path

import numpy as np
import pytest
import zstandard
from builders import (
    ethernet,
    ipv4_udp,
    pcap,
    pcapng_block,
    pcapng_epb,
    pcapng_idb,
    pcapng_shb,
    pcapng_spb,
)

from analyzer.capture.readers import open_capture
from analyzer.errors import CaptureError

FRAME_A = ethernet(ipv4_udp(payload=b"first"))
FRAME_B = ethernet(ipv4_udp(payload=b"second!"))


def read_all(path: Path, **kwargs: int) -> tuple[list[bytes], list[int], list[int], object]:
    frames, times, linktypes = [], [], []
    with open_capture(path, **kwargs) as cap:
        for batch in cap.batches():
            frames += [batch.packet(i) for i in range(len(batch))]
            times += batch.ts_ns.tolist()
            linktypes += batch.linktype.tolist()
        info = cap.info
    return frames, times, linktypes, info


def write(tmp_path: Path, data: bytes, name: str = "capture.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("endian", ["<", ">"])
def test_pcap_in_either_byte_order_gives_frames_and_microsecond_times(
    tmp_path: Path, endian: str
) -> None:
    path = write(tmp_path, pcap([(1330596000.25, FRAME_A), (1330596001.5, FRAME_B)], endian=endian))
    frames, times, linktypes, info = read_all(path)
    assert frames == [FRAME_A, FRAME_B]
    assert times == [1_330_596_000_250_000_000, 1_330_596_001_500_000_000]
    assert linktypes == [1, 1]
    assert info.file_format == "pcap"


def test_pcap_nanosecond_magic_keeps_nanoseconds(tmp_path: Path) -> None:
    path = write(tmp_path, pcap([(1.000000001, FRAME_A)], nanoseconds=True))
    _, times, _, _ = read_all(path)
    assert times == [1_000_000_001]


def test_pcap_link_type_ignores_fcs_bits(tmp_path: Path) -> None:
    path = write(tmp_path, pcap([(1.0, FRAME_A)], linktype=1 | 0x14000000))
    _, _, linktypes, _ = read_all(path)
    assert linktypes == [1]


def test_records_spanning_chunk_boundaries_are_read_whole(tmp_path: Path) -> None:
    packets = [(float(i), ethernet(ipv4_udp(payload=bytes([i]) * i))) for i in range(50)]
    path = write(tmp_path, pcap(packets))
    frames, _, _, _ = read_all(path, chunk_bytes=7)
    assert frames == [p for _, p in packets]


def test_pcapng_interfaces_have_their_own_link_type_and_resolution(tmp_path: Path) -> None:
    raw_ip = ipv4_udp(payload=b"raw")
    data = (
        pcapng_shb()
        + pcapng_idb(linktype=1)  # default resolution: microseconds
        + pcapng_idb(linktype=101, tsresol=9)  # nanoseconds
        + pcapng_idb(linktype=1, tsresol=0x80 | 10)  # 2**-10 s ticks
        + pcapng_epb(0, 1_500_000, FRAME_A)
        + pcapng_epb(1, 2_000_000_007, raw_ip)
        + pcapng_epb(2, 3 * 1024 + 512, FRAME_B)
    )
    frames, times, linktypes, info = read_all(write(tmp_path, data))
    assert frames == [FRAME_A, raw_ip, FRAME_B]
    assert times == [1_500_000_000, 2_000_000_007, 3_500_000_000]
    assert linktypes == [1, 101, 1]
    assert info.file_format == "pcapng"


def test_pcapng_sections_may_change_byte_order_and_restart_interfaces(tmp_path: Path) -> None:
    data = (
        pcapng_shb("<")
        + pcapng_idb(1, endian="<")
        + pcapng_epb(0, 1_000_000, FRAME_A, "<")
        + pcapng_shb(">")
        + pcapng_idb(101, endian=">")
        + pcapng_epb(0, 2_000_000, ipv4_udp(), ">")
    )
    frames, times, linktypes, info = read_all(write(tmp_path, data))
    assert frames == [FRAME_A, ipv4_udp()]
    assert times == [1_000_000_000, 2_000_000_000]
    assert linktypes == [1, 101]
    assert info.sections == 2


def test_pcapng_simple_packet_block_uses_interface_zero(tmp_path: Path) -> None:
    data = pcapng_shb() + pcapng_idb(1) + pcapng_spb(FRAME_A)
    frames, times, linktypes, _ = read_all(write(tmp_path, data))
    assert frames == [FRAME_A]
    assert linktypes == [1]
    assert times == [0]


def test_pcapng_unknown_blocks_are_skipped_and_counted(tmp_path: Path) -> None:
    data = (
        pcapng_shb()
        + pcapng_idb(1)
        + pcapng_block(0x0BAD, b"vendor data")
        + pcapng_block(4, b"\x00" * 4)
        + pcapng_epb(0, 0, FRAME_A)
    )
    frames, _, _, info = read_all(write(tmp_path, data))
    assert frames == [FRAME_A]
    assert info.skipped_blocks == {"type_0xbad": 1, "name_resolution": 1}


@pytest.mark.parametrize(
    "compress",
    [gzip.compress, bz2.compress, lzma.compress, zstandard.ZstdCompressor().compress],
    ids=["gzip", "bzip2", "xz", "zstd"],
)
def test_compressed_captures_are_recognised_by_magic_not_name(
    tmp_path: Path, compress: object
) -> None:
    plain = pcap([(1.0, FRAME_A), (2.0, FRAME_B)])
    path = write(tmp_path, compress(plain), "trace.txt")  # type: ignore[operator]
    frames, _, _, info = read_all(path)
    assert frames == [FRAME_A, FRAME_B]
    assert info.compression is not None


def test_truncated_last_record_keeps_everything_before_it(tmp_path: Path) -> None:
    data = pcap([(1.0, FRAME_A), (2.0, FRAME_B)])
    frames, _, _, info = read_all(write(tmp_path, data[:-5]))
    assert frames == [FRAME_A]
    assert [w.name for w in info.damage] == ["capture_truncated"]
    assert "cut short" in info.damage[0].detail


def test_corrupt_record_length_stops_reading_with_a_report(tmp_path: Path) -> None:
    data = bytearray(pcap([(1.0, FRAME_A), (2.0, FRAME_B), (3.0, FRAME_A)]))
    second = 24 + 16 + len(FRAME_A)
    data[second + 8 : second + 12] = (0x7FFFFFFF).to_bytes(4, "little")
    frames, _, _, info = read_all(write(tmp_path, bytes(data)))
    assert frames == [FRAME_A]
    assert info.damage[0].name == "capture_corrupt_record"
    assert info.damage[0].offset == second


def test_truncated_gzip_stream_keeps_what_decompressed(tmp_path: Path) -> None:
    packets = [(float(i), ethernet(ipv4_udp(payload=bytes(200)))) for i in range(200)]
    data = gzip.compress(pcap(packets))
    frames, _, _, info = read_all(write(tmp_path, data[: len(data) // 2]))
    assert 0 < len(frames) < 200
    assert info.damage


def test_empty_file_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="empty file"):
        open_capture(write(tmp_path, b""))


def test_non_capture_file_is_refused_naming_its_first_bytes(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=r"not a pcap or pcapng capture.*3c68746d"):
        open_capture(write(tmp_path, b"<html><body>not a capture</body></html>"))


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="no such file"):
        open_capture(tmp_path / "absent.pcap")


def test_short_pcap_header_is_refused(tmp_path: Path) -> None:
    with (
        pytest.raises(CaptureError, match="truncated pcap file header"),
        open_capture(write(tmp_path, pcap([])[:20])) as cap,
    ):
        list(cap.batches())


def test_batch_columns_have_one_entry_per_packet(tmp_path: Path) -> None:
    path = write(tmp_path, pcap([(1.0, FRAME_A), (2.0, FRAME_B)]))
    with open_capture(path) as cap:
        (batch,) = list(cap.batches())
    assert batch.first_frame == 1
    assert len(batch) == 2
    assert np.array_equal(batch.caplen, [len(FRAME_A), len(FRAME_B)])
    assert np.array_equal(batch.origlen, batch.caplen)

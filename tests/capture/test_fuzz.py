"""Fuzzing the capture layer: whatever the bytes, only CaptureError/DecodeError escape."""

from __future__ import annotations

import contextlib
import struct
import tempfile
from pathlib import Path

import numpy as np
from builders import ethernet, ipv4_tcp, ipv4_udp, pcap, pcapng_epb, pcapng_idb, pcapng_shb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.capture.decode import decode_batch, decode_slow
from analyzer.capture.pipeline import read_capture
from analyzer.capture.readers import RecordBatch
from analyzer.errors import CaptureError, DecodeError

LINKTYPES = st.sampled_from([0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147])
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _read(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.pcap"
        path.write_bytes(data)
        try:
            result = read_capture(path, chunk_bytes=97)
        except CaptureError:
            return
        assert result.stats.packets >= 0


def _frames_near_valid() -> st.SearchStrategy[bytes]:
    valid = st.sampled_from(
        [
            ethernet(ipv4_udp()),
            ethernet(ipv4_tcp(payload=b"x" * 30), vlans=(20,)),
            ethernet(ipv4_udp(frag=0x2000)),
            ethernet(ipv4_udp(frag=0x0001)),
        ]
    )
    mutated = st.tuples(valid, st.integers(0, 80), st.binary(min_size=1, max_size=4)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + len(t[2]) :]
    )
    truncated = st.tuples(valid, st.integers(0, 80)).map(lambda t: t[0][: t[1]])
    return st.one_of(valid, mutated, truncated, st.binary(max_size=120))


@FUZZ
@given(st.binary(max_size=300))
def test_random_files_only_raise_capture_error(data: bytes) -> None:
    _read(data)


@FUZZ
@given(st.binary(max_size=400))
def test_pcap_header_then_random_records_never_crash(records: bytes) -> None:
    _read(pcap([]) + records)


@FUZZ
@given(st.binary(max_size=400))
def test_pcapng_header_then_random_blocks_never_crash(blocks: bytes) -> None:
    _read(pcapng_shb() + pcapng_idb(1) + blocks)


@FUZZ
@given(st.lists(_frames_near_valid(), max_size=12), st.integers(0, 2000))
def test_every_prefix_of_a_capture_reads_without_crashing(frames: list[bytes], cut: int) -> None:
    data = pcap([(float(i), f) for i, f in enumerate(frames)])
    _read(data[:cut])
    ng = pcapng_shb() + pcapng_idb(1) + b"".join(pcapng_epb(0, i, f) for i, f in enumerate(frames))
    _read(ng[:cut])


@FUZZ
@given(st.lists(st.tuples(LINKTYPES, _frames_near_valid()), min_size=1, max_size=16))
def test_decode_batch_accepts_any_frames_and_keeps_payload_in_bounds(
    frames: list[tuple[int, bytes]],
) -> None:
    buf = b""
    offsets, lengths = [], []
    for _, frame in frames:
        offsets.append(len(buf))
        lengths.append(len(frame))
        buf += frame
    n = len(frames)
    batch = RecordBatch(
        buf=buf,
        first_frame=1,
        data_offset=np.array(offsets, dtype=np.int64),
        caplen=np.array(lengths, dtype=np.int64),
        origlen=np.array(lengths, dtype=np.int64),
        ts_ns=np.zeros(n, dtype=np.int64),
        linktype=np.array([lt for lt, _ in frames], dtype=np.int32),
    )
    d = decode_batch(batch)
    assert len(d) == n
    has = d.payload_start >= 0
    starts = np.array(offsets)[has]
    ends = starts + np.array(lengths)[has]
    assert (d.payload_start[has] >= starts).all()
    assert (d.payload_end[has] <= ends).all()
    assert (d.payload_end[has] >= d.payload_start[has]).all()


@FUZZ
@given(st.binary(max_size=120), st.sampled_from([4, 6]))
def test_decode_slow_raises_only_decode_errors(packet: bytes, version: int) -> None:
    with contextlib.suppress(DecodeError):
        decode_slow(packet, version)


def test_ipv6_extension_header_loop_is_bounded() -> None:
    # 20 chained hop-by-hop headers: more than any real packet, must be refused, not walked.
    header = bytes.fromhex("60000000") + struct.pack("!HBB", 160, 0, 64) + bytes(32)
    chain = b"".join(bytes([0, 0]) + bytes(6) for _ in range(20))
    try:
        decode_slow(header + chain, 6)
    except DecodeError:
        return
    raise AssertionError("expected the extension-header chain to be refused")

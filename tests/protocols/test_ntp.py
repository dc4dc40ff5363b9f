"""NTP: header fields, timestamps, the clock offset, and the DecodeError contract."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from conftest import SAMPLES, all_captures, capture_id, run_tshark
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.api import analyze
from analyzer.errors import DecodeError, Malformed, Truncated
from analyzer.protocols.ntp import parse_ntp

# A server reply (mode 4, version 3, stratum 2) whose transmit time is
# 2012-03-14T08:47:17.5Z: seconds since 1900 = 1331714837 + 2208988800, fraction 0.5.
SERVER_REPLY = bytes.fromhex(
    "1c"  # LI 0, version 3, mode 4
    "02"  # stratum 2
    "06"  # poll 2**6 s
    "ec"  # precision 2**-20 s
    "00000800"  # root delay 1/32 s
    "00001000"  # root dispersion 1/16 s
    "0a010001"  # reference id: upstream server 10.1.0.1
    "d30ad99500000000"  # reference timestamp: 2012-03-14T08:47:17Z
    "0000000000000000"  # origin timestamp: unset
    "0000000000000000"  # receive timestamp: unset
    "d30ad995"  # transmit timestamp: seconds since 1900 ...
    "80000000"  # ... and half a second
)


def test_server_reply_fields() -> None:
    msg = parse_ntp(SERVER_REPLY)
    assert (msg.version, msg.mode_name, msg.stratum, msg.poll, msg.precision) == (
        3,
        "server",
        2,
        6,
        -20,
    )
    assert msg.reference_id == "10.1.0.1"
    assert (msg.root_delay_s, msg.root_dispersion_s) == (1 / 32, 1 / 16)


def test_timestamps_are_unix_nanoseconds_and_zero_means_unset() -> None:
    msg = parse_ntp(SERVER_REPLY)
    assert msg.transmit_ns == 1_331_714_837_500_000_000
    assert msg.origin_ns is None and msg.receive_ns is None


def test_stratum_1_reference_id_is_a_source_code() -> None:
    msg = parse_ntp(
        SERVER_REPLY[:1] + b"\x01" + SERVER_REPLY[2:12] + b"GPS\x00" + SERVER_REPLY[16:]
    )
    assert msg.reference_id == "GPS"


def test_truncated_header_raises_truncated() -> None:
    with pytest.raises(Truncated):
        parse_ntp(SERVER_REPLY[:47])


def test_version_zero_is_malformed() -> None:
    with pytest.raises(Malformed):
        parse_ntp(b"\x04" + SERVER_REPLY[1:])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60))
def test_random_bytes_only_raise_decode_errors(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        parse_ntp(data)


def test_unanswered_time_sync_shows_only_client_messages() -> None:
    ntp = analyze(SAMPLES / "expired-certificate.pcap", protocols=["ntp"]).ntp
    assert len(ntp) == 4
    assert set(ntp["mode"]) == {"client"}


NTP_CAPTURES = [
    p
    for p in all_captures()
    if p.name
    in {"cx700-logon-loop.pcapng", "expired-certificate.pcap", "lpe-cert-provisioning.pcapng"}
]


@pytest.mark.tshark
@pytest.mark.parametrize("capture", NTP_CAPTURES, ids=capture_id)
def test_ntp_messages_match_tshark(capture: Path) -> None:
    out = run_tshark(
        capture,
        "-Y",
        "ntp",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "frame.number",
        "-e",
        "ntp.flags.mode",
        "-e",
        "ntp.stratum",
    )
    theirs = [tuple(int(x) for x in line.split("|")) for line in out.splitlines()]
    ntp = analyze(capture, protocols=["ntp"]).ntp
    modes = {"client": 3, "server": 4}
    ours = [(int(r.frame), modes[r.mode], int(r.stratum)) for r in ntp.itertuples()]
    assert ours == theirs
    assert theirs

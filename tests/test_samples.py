"""The sample captures in samples/ and their ground truth.

- the generator reproduces every committed capture and truth file byte for byte;
- tshark dissects every capture without malformed packets or error-level expert info
  (with CI set, a missing tshark fails instead of skipping);
- the loop sample's certificate chain spans 3+ TCP segments and tshark sees its 6-8
  failed handshakes;
- the certificates tshark sees in TLS and LDAP are exactly those in the ground truth;
- what tshark sees in the captures of the last three failure classes is what their truth
  says: every DHCPINFORM ACK lacks options 43 and 120, the SIP SRV target lies outside the
  queried domain and gets no connection, the auth-failure handshakes complete and are
  followed by three short request/response pairs and the phone's FIN.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_tshark

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
MAX_BYTES = 2 * 1024 * 1024
EXPERT_ERROR = 0x00800000  # _ws.expert.severity of PI_ERROR


def _scenarios():
    sys.path.insert(0, str(SAMPLES))
    try:
        from scenario.scenarios import SCENARIOS
    finally:
        sys.path.remove(str(SAMPLES))
    return SCENARIOS


SCENARIOS = _scenarios()
CAPTURES = [s.file for s in SCENARIOS]
MAIN = "cx700-logon-loop.pcapng"


def truth_of(capture: str) -> dict:
    name = next(s.name for s in SCENARIOS if s.file == capture)
    return json.loads((SAMPLES / f"{name}.truth.json").read_text())


def test_generator_reproduces_committed_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(SAMPLES / "generate.py"), "--out", str(tmp_path), "-q"], check=True
    )
    produced = sorted(p.name for p in tmp_path.iterdir())
    expected = sorted(CAPTURES + [f"{s.name}.truth.json" for s in SCENARIOS])
    assert produced == expected
    for name in expected:
        committed = SAMPLES / name
        assert committed.exists(), f"{name} is not committed"
        assert (tmp_path / name).read_bytes() == committed.read_bytes(), (
            f"{name} differs from the committed file: run python samples/generate.py"
        )


@pytest.mark.parametrize("capture", CAPTURES)
def test_capture_is_small(capture: str) -> None:
    assert (SAMPLES / capture).stat().st_size < MAX_BYTES


@pytest.mark.tshark
@pytest.mark.parametrize("capture", CAPTURES)
def test_tshark_sees_no_malformed_or_error(capture: str) -> None:
    path = SAMPLES / capture
    bad = run_tshark(
        Path(path),
        "-Y",
        f"_ws.malformed or _ws.expert.severity >= {EXPERT_ERROR}",
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "_ws.expert.message",
    )
    assert bad.strip() == "", f"tshark reports errors in {capture}:\n{bad}"
    expert = run_tshark(path, "-q", "-z", "expert,error")
    assert "Errors (" not in expert, expert
    assert (
        int(run_tshark(path, "-T", "fields", "-e", "frame.number").split()[-1])
        == truth_of(capture)["packets"]
    )


@pytest.mark.tshark
def test_loop_certificate_spans_three_or_more_segments() -> None:
    out = run_tshark(
        SAMPLES / MAIN,
        "-Y",
        "tls.handshake.type == 11",
        "-T",
        "fields",
        "-e",
        "tcp.segment.count",
    )
    counts = [int(c) for c in out.split()]
    assert counts and max(counts) >= 3, counts


def _handshakes(capture: str) -> dict[int, dict]:
    """Per TCP stream: did the server send a Certificate, did the client send a key exchange."""
    out = run_tshark(
        SAMPLES / capture,
        "-Y",
        "tls.handshake.type",
        "-T",
        "fields",
        "-e",
        "tcp.stream",
        "-e",
        "ip.src",
        "-e",
        "tls.handshake.type",
    )
    streams: dict[int, dict] = {}
    for line in out.splitlines():
        stream, src, types = line.split("\t")
        s = streams.setdefault(
            int(stream), {"certificate": False, "key_exchange": False, "client": None}
        )
        kinds = {int(t) for t in types.split(",") if t}
        if 1 in kinds:
            s["client"] = src
        s["certificate"] |= 11 in kinds
        s["key_exchange"] |= 16 in kinds
    return streams


@pytest.mark.tshark
def test_tshark_sees_the_loop() -> None:
    truth = truth_of(MAIN)
    phone = next(d["ip"] for d in truth["devices"] if d["name"] == truth["loop"]["device"])
    failed = [
        s
        for s in _handshakes(MAIN).values()
        if s["client"] == phone and s["certificate"] and not s["key_exchange"]
    ]
    assert 6 <= len(failed) <= 8
    assert len(failed) == truth["loop"]["attempts"]
    assert 25 <= truth["loop"]["period_s"] <= 35


@pytest.mark.tshark
def test_fixed_capture_completes_the_handshake() -> None:
    done = [
        s
        for s in _handshakes("cx700-public-dns-fixed.pcapng").values()
        if s["certificate"] and s["key_exchange"]
    ]
    assert len(done) == 1


@pytest.mark.tshark
@pytest.mark.parametrize("capture", CAPTURES)
def test_truth_certificates_match_what_tshark_sees(capture: str) -> None:
    path = SAMPLES / capture
    seen: dict[str, set[str]] = {}
    tls_out = run_tshark(
        Path(path),
        "-Y",
        "tls.handshake.certificate",
        "-T",
        "fields",
        "-e",
        "tls.handshake.certificate",
    )
    for line in tls_out.split():
        for cert in line.split(","):
            sha = hashlib.sha256(bytes.fromhex(cert.replace(":", ""))).hexdigest()
            seen.setdefault(sha, set()).add("tls")
    truth = truth_of(capture)
    expected = {c["sha256"]: set(c["served_via"]) for c in truth["certificates"]}
    assert {k for k, v in expected.items() if "tls" in v} == set(seen)
    for cert in truth["certificates"]:
        assert cert["signature_hash"] in ("sha1", "sha256")
        assert cert["role"] in ("root", "intermediate", "leaf")


def test_truth_files_are_consistent() -> None:
    phases = [
        "dhcp",
        "time",
        "locate_dc",
        "download_certificate",
        "connect_server",
        "authenticating",
        "signed_in",
    ]
    for s in SCENARIOS:
        truth = json.loads((SAMPLES / f"{s.name}.truth.json").read_text())
        assert truth["capture"] == s.file
        assert truth["attempts"], s.name
        starts = [a["start_ts"] for a in truth["attempts"]]
        assert starts == sorted(starts)
        for a in truth["attempts"]:
            assert a["phase_reached"] in phases
            assert truth["capture_start"]["ts"] <= a["start_ts"] <= truth["capture_end"]["ts"]
        assert any(d["role"] == "phone" for d in truth["devices"])
        assert truth["expected_diagnosis"]["failure_class"] == truth["failure_class"]


def _fields(capture: str, display_filter: str, *fields: str) -> list[list[str]]:
    args = ["-Y", display_filter, "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    out = run_tshark(SAMPLES / capture, *args)
    return [line.split("\t") for line in out.splitlines()]


@pytest.mark.tshark
def test_dhcp_inform_ack_lacks_uc_options() -> None:
    capture = "dhcp-options-missing.pcapng"
    truth = truth_of(capture)
    rows = _fields(
        capture,
        "dhcp",
        "dhcp.id",
        "dhcp.option.dhcp",
        "dhcp.option.type",
        "dhcp.option.request_list_item",
        "dhcp.option.vendor_class_id",
    )
    informs = {r[0]: r for r in rows if r[1] == "8"}
    acks = {r[0]: r for r in rows if r[1] == "5"}
    assert len(informs) == truth["loop"]["attempts"] >= 3
    for xid, inform in informs.items():
        assert inform[4] == "MS-UC-Client"
        assert {"43", "120"} <= set(inform[3].split(","))
        ack_options = set(acks[xid][2].split(","))
        assert not ack_options & {"43", "120"}, (xid, ack_options)
    # the lease itself carries neither, and the phone never opens a TCP connection
    for ack in acks.values():
        assert not set(ack[2].split(",")) & {"43", "120"}
    assert _fields(capture, "tcp", "frame.number") == []
    assert truth["expected_diagnosis"]["missing_options"] == [43, 120]


@pytest.mark.tshark
def test_srv_target_outside_zone_gets_no_connection() -> None:
    capture = "srv-other-zone.pcapng"
    truth = truth_of(capture)
    diagnosis = truth["expected_diagnosis"]
    name = diagnosis["queried_name"]
    answers = _fields(
        capture,
        f'dns.flags.response == 1 && dns.qry.name == "{name}"',
        "dns.flags.rcode",
        "dns.srv.target",
        "dns.srv.port",
        "dns.a",
    )
    assert len(answers) == truth["loop"]["attempts"] >= 3
    zone = name.split(".", 2)[2]  # _service._proto.<domain>
    for rcode, target, port, address in answers:
        assert rcode == "0"
        assert target == diagnosis["srv_target"] and port == "5061"
        assert not (target == zone or target.endswith("." + zone))
        assert address == diagnosis["srv_target_address"]
    # the target is neither looked up nor contacted; no SIP connection at all
    target, address = diagnosis["srv_target"], diagnosis["srv_target_address"]
    assert _fields(capture, f'dns.qry.name == "{target}"', "frame.number") == []
    assert _fields(capture, f"ip.addr == {address}", "frame.number") == []
    assert _fields(capture, "tcp.port == 5061 || tcp.port == 443", "frame.number") == []


@pytest.mark.tshark
def test_auth_failure_handshakes_complete_then_short_sessions() -> None:
    capture = "auth-failure.pcap.gz"
    truth = truth_of(capture)
    phone = next(d["ip"] for d in truth["devices"] if d["name"] == truth["loop"]["device"])
    done = {
        n
        for n, s in _handshakes(capture).items()
        if s["client"] == phone and s["certificate"] and s["key_exchange"]
    }
    assert len(done) == truth["loop"]["attempts"] >= 3
    records: dict[int, list[tuple[str, int]]] = {}
    for stream, src, types, lengths in _fields(
        capture,
        "tls.record.content_type == 23",
        "tcp.stream",
        "ip.src",
        "tls.record.content_type",
        "tls.record.length",
    ):
        if int(stream) in done:
            for kind, length in zip(types.split(","), lengths.split(","), strict=True):
                if kind == "23":
                    records.setdefault(int(stream), []).append((src, int(length) + 5))
    fins = {
        int(stream)
        for stream, src in _fields(capture, "tcp.flags.fin == 1", "tcp.stream", "ip.src")
        if src == phone
    }
    attempts = [a for a in truth["attempts"] if a["device"] == truth["loop"]["device"]]
    for stream, attempt in zip(sorted(done), attempts, strict=True):
        expected = []
        for x in attempt["detail"]["sip_exchanges"]:
            expected += [(phone, x["request_tls_bytes"]), ("10.1.0.50", x["response_tls_bytes"])]
        assert records[stream] == expected
        sizes = [n for _, n in records[stream]]
        assert sizes[-1] == sizes[1] < 1000  # the final 401 is the size of the first
        assert stream in fins  # the phone closes

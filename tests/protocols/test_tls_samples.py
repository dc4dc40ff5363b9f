"""The sample captures' ground truth, seen through the tls table.

Each sample's ``attempts[]`` names the phone's SIP-over-TLS connection (``tls_flow``) and
how the attempt failed; the handshake outcome must say the same thing:

| truth                                   | tls outcome                                 |
| --------------------------------------- | ------------------------------------------- |
| phase authenticating / signed_in        | completed                                   |
| client_closed_after_certificate         | client_rejected_certificate, detail ``fin`` |
| client_alert_N                          | client_rejected_certificate, detail alert N |
| server_alert_70/40/71 (no ServerHello)  | version_or_cipher_mismatch, detail alert N  |
| tcp_reset / tcp_no_answer               | no row: no TLS byte was exchanged           |

The tls-version-mismatch sample is ``version_or_cipher_mismatch`` rather than
``server_alert``: the server's fatal protocol_version comes right after the ClientHello,
before any ServerHello, which is the signature of the mismatch (DOMAIN.md); the alert
itself is in ``alerts`` and ``outcome_detail``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import SAMPLES, capture_id, sample_captures

from analyzer.api import analyze
from analyzer.protocols.tls_names import alert_name


def truth_of(capture: Path) -> dict[str, Any] | None:
    for path in SAMPLES.glob("*.truth.json"):
        data = json.loads(path.read_text())
        if data.get("capture") == capture.name:
            return dict(data)
    return None


SAMPLES_WITH_TRUTH = [p for p in sample_captures() if truth_of(p) is not None]


@cache
def tls_rows(capture: Path) -> pd.DataFrame:
    return analyze(capture, protocols=["tls"]).tls


def expected_outcome(attempt: dict[str, Any]) -> tuple[str, str | None] | None:
    failure = attempt["failure"] or ""
    if attempt["phase_reached"] in ("authenticating", "signed_in"):
        return "completed", None
    if failure == "client_closed_after_certificate":
        return "client_rejected_certificate", "fin"
    if failure.startswith("client_alert_"):
        return "client_rejected_certificate", alert_name(int(failure.rsplit("_", 1)[1]))
    if failure.startswith("server_alert_"):
        code = int(failure.rsplit("_", 1)[1])
        outcome = "version_or_cipher_mismatch" if code in (40, 70, 71) else "server_alert"
        return outcome, alert_name(code)
    if failure in ("tcp_reset", "tcp_no_answer"):
        return None
    raise AssertionError(f"no tls expectation for failure {failure!r}")


@pytest.mark.parametrize("capture", SAMPLES_WITH_TRUTH, ids=capture_id)
def test_every_attempt_ends_its_handshake_as_the_truth_says(capture: Path) -> None:
    truth = truth_of(capture)
    assert truth is not None
    rows = tls_rows(capture).set_index(["client", "server"])
    checked = 0
    for attempt in truth["attempts"]:
        flow = attempt.get("tls_flow")
        if not flow:
            continue
        key = (flow["client"], flow["server"])
        want = expected_outcome(attempt)
        if want is None:
            assert key not in rows.index, f"attempt {attempt['index']}: no TLS expected"
            continue
        row = rows.loc[key]
        got = (row["outcome"], None if pd.isna(row["outcome_detail"]) else row["outcome_detail"])
        assert got == want, f"attempt {attempt['index']} {key}"
        checked += 1
    if any(a.get("tls_flow") for a in truth["attempts"]):
        assert checked or truth["failure_class"] == "pool_unreachable"


def test_logon_loop_attempts_all_die_after_the_certificate() -> None:
    rows = tls_rows(SAMPLES / "cx700-logon-loop.pcapng")
    phone = rows[rows["client"].str.startswith("10.20.0.57:")]
    assert len(phone) == 7
    assert set(phone["outcome"]) == {"client_rejected_certificate"}
    assert all(len(chain) == 3 for chain in phone["certificates"])
    # The rejection follows the Certificate: the decisive frame comes after it.
    assert all(phone["outcome_frame"] > phone["certificate_frame"])


def test_fixed_phone_completes_its_handshake_with_the_edge() -> None:
    rows = tls_rows(SAMPLES / "cx700-public-dns-fixed.pcapng")
    edge = rows[rows["server"] == "203.0.113.10:443"]
    assert list(edge["outcome"]) == ["completed"]
    assert list(edge["version"]) == ["TLS 1.0"]


def test_version_mismatch_shows_the_server_alert() -> None:
    rows = tls_rows(SAMPLES / "tls-version-mismatch.pcap")
    assert set(rows["outcome"]) == {"version_or_cipher_mismatch"}
    for alerts in rows["alerts"]:
        assert [(a["sender"], a["level"], a["description"]) for a in alerts] == [
            ("server", "fatal", "protocol_version")
        ]
    assert all(versions == ["TLS 1.0"] for versions in rows["client_versions"])


@pytest.mark.parametrize("capture", SAMPLES_WITH_TRUTH, ids=capture_id)
def test_server_certificates_are_the_truths_tls_certificates(capture: Path) -> None:
    truth = truth_of(capture)
    assert truth is not None
    served = {c["sha256"] for c in truth["certificates"] if "tls" in str(c.get("served_via"))}
    ours = {sha for chain in tls_rows(capture)["certificates"] for sha in chain}
    assert ours == served


def test_signed_in_phones_keepalive_connections_are_midstream() -> None:
    # Two phones were signed in before the capture began: their TLS connections show
    # only application data.
    rows = tls_rows(SAMPLES / "cx700-logon-loop.pcapng")
    midstream = rows[rows["outcome"] == "midstream"]
    assert sorted(midstream["client"]) == ["10.20.0.41:1199", "10.20.0.42:1228"]
    assert midstream["version"].isna().all()

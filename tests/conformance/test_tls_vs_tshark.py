"""TLS: every connection of every capture against tshark (the oracle's ``tls`` section).

The reference for a capture is its ``tls`` section: the stored ``X.oracle.json`` beside
corpus captures, ``../shared/tools/oracle.py --stdout`` for the samples. Connections are
matched by Wireshark's ``tcp.stream`` (the conversations table's ``stream``). For each
one with a hello both must agree on: the ClientHello's frame, SNI, version, cipher
suites, extensions and ALPN; the ServerHello's frame, negotiated version and cipher
suite; HelloRetryRequest; the certificate chains as sent (SHA-256, leaf first) and the
Certificate's frame; the alerts (sender and description where in clear). JA3/JA3S are
compared with tshark's own ``tls.handshake.ja3``/``ja3s`` fields.

Documented differences (tshark's, not ours):

* ``zeek/tls-fragmented-handshake.pcap.gz``: the ~340 KB Certificate message arrives in 21
  TLS records; tshark 4.0 does not reassemble it (the oracle has no chain and 21
  "unparsed handshake records"). We do: our chain is a superset of tshark's (empty) one
  and holds the certificate Zeek's ssl.log names, af4a46e9....
* Encrypted alerts: we stop following a connection once its handshake is complete and
  application data flows (the slow path is for handshakes), so encrypted alerts sent
  later (close_notify at the end of a session) are in tshark's list and not in ours;
  ours must be a prefix-subset (same frames) of tshark's.
* SSL 2.0 CLIENT-MASTER-KEY: the oracle's summary has no chosen cipher for SSL 2.0; ours
  comes from CLIENT-MASTER-KEY and is checked against the oracle's
  ``ssl2_client_master_key_cipher`` instead.
* JA3 of an SSL 2.0-format ClientHello: tshark computes none, nor do we.
* ``zeek/hrr.pcap``: the server's flight after the HelloRetryRequest arrives out of order
  (frame 9 before frame 11, which fills the hole before it). tshark 4.0 shows frame 9 as
  "Continuation Data" and never decodes that ServerHello, so the oracle has only the
  HelloRetryRequest; we reassemble the stream and see the ServerHello (TLS 1.3,
  TLS_AES_256_GCM_SHA384) in the delivery that frame 11 completes (reported with frame 9,
  the frame holding its last bytes).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import CORPUS, all_captures, capture_id, require_tshark, run_tshark

from analyzer.api import Analysis, analyze
from analyzer.protocols.registry import protocol_modules
from analyzer.protocols.tls_names import cipher_name, extension_name

ORACLE_TOOL = CORPUS.parent / "tools" / "oracle.py"
FRAGMENTED = "zeek/tls-fragmented-handshake.pcap.gz"
#: ServerHellos tshark does not decode (module docstring): capture id -> (version, cipher).
TSHARK_MISSED_SERVER_HELLO = {"zeek/hrr.pcap": ("TLS 1.3", "TLS_AES_256_GCM_SHA384")}
ZEEK_FRAGMENTED_LEAF = "af4a46e989dc24078ee2a205490856e059e7f2f9d2114cec4d4c44974add9d34"
ORACLE_VERSIONS = {
    "SSLv2": "SSL 2.0",
    "SSLv3": "SSL 3.0",
    "TLSv1.0": "TLS 1.0",
    "TLSv1.1": "TLS 1.1",
    "TLSv1.2": "TLS 1.2",
    "TLSv1.3": "TLS 1.3",
}


@cache
def oracle(capture: Path) -> dict[str, Any]:
    """The stored oracle of a corpus capture, or one made now for a sample."""
    committed = capture.with_name(capture.name + ".oracle.json")
    if committed.exists():
        return dict(json.loads(committed.read_text()))
    require_tshark()
    if not ORACLE_TOOL.exists():
        pytest.skip(f"{ORACLE_TOOL} not present")
    out = subprocess.run(
        [sys.executable, str(ORACLE_TOOL), "--stdout", str(capture)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(json.loads(out))


def _has_tls(capture: Path) -> bool:
    committed = capture.with_name(capture.name + ".oracle.json")
    if not committed.exists():
        return True  # samples: decided by the oracle made at test time
    return any(c["transport"] == "tcp" for c in json.loads(committed.read_text())["tls"])


CAPTURES = [p for p in all_captures() if _has_tls(p)]


@cache
def ours(capture: Path) -> Analysis:
    # LDAP hands the bytes after StartTLS to the TLS dissector (suricata-verify's
    # ldap-starttls.pcap), so it runs too when it is there.
    names = {m.name for m in protocol_modules()}
    return analyze(capture, protocols=[n for n in ("tls", "ldap") if n in names], strict=True)


@cache
def rows_by_stream(capture: Path) -> dict[int, dict[str, Any]]:
    analysis = ours(capture)
    stream_of = analysis.conversations.set_index("flow")["stream"]
    out = {}
    for row in analysis.tls.to_dict("records"):
        out[int(stream_of[row["flow"]])] = row
    return out


def connections(capture: Path) -> dict[int, dict[str, Any]]:
    return {c["stream"]: c for c in oracle(capture)["tls"] if c["transport"] == "tcp"}


def with_hello(capture: Path) -> dict[int, dict[str, Any]]:
    return {
        s: c for s, c in connections(capture).items() if c["client_hellos"] or c["server_hellos"]
    }


def na(value: Any) -> Any:
    return None if value is None or (not isinstance(value, list) and pd.isna(value)) else value


@pytest.mark.tshark
@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
def test_same_tls_connections_as_tshark(capture: Path) -> None:
    theirs = connections(capture)
    mine = rows_by_stream(capture)
    if "ldap" not in {m.name for m in protocol_modules()} and "starttls" in capture.name:
        pytest.skip("the LDAP dissector (which hands over after StartTLS) is not present")
    assert set(mine) == set(theirs)
    for stream, conn in theirs.items():
        row = mine[stream]
        if conn["client_hellos"] or conn["server_hellos"]:
            assert (row["client"], row["server"]) == (conn["client"], conn["server"]), stream
        else:
            # tshark saw only records without a hello: a connection joined mid-stream.
            assert row["outcome"] == "midstream", stream


@pytest.mark.tshark
@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
def test_client_hello_as_tshark_decodes_it(capture: Path) -> None:
    mine = rows_by_stream(capture)
    for stream, conn in with_hello(capture).items():
        if not conn["client_hellos"]:
            continue
        hello, row = conn["client_hellos"][0], mine[stream]
        assert row["client_hello_frame"] == hello["frame"], stream
        assert na(row["sni"]) == hello["sni"], stream
        assert row["client_hello_version"] == ORACLE_VERSIONS[hello["handshake_version_name"]]
        assert row["cipher_suites_offered"] == [
            cipher_name(int(c, 16)) for c in hello["cipher_suites"]
        ], stream
        assert row["extensions_offered"] == [extension_name(e) for e in hello["extensions"]]
        assert row["alpn_offered"] == hello.get("alpn", []), stream
        offered = [int(v, 16) for v in hello["supported_versions"] if int(v, 16) & 0x0F0F != 0x0A0A]
        if offered:
            assert row["client_versions"] == [
                ORACLE_VERSIONS.get(_oracle_name(v), _oracle_name(v)) for v in offered
            ]
        else:
            assert row["client_versions"] == [row["client_hello_version"]]


def _oracle_name(version: int) -> str:
    names = {0x0300: "SSLv3", 0x0301: "TLSv1.0", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2"}
    return names.get(version, "TLSv1.3" if version == 0x0304 else f"0x{version:04x}")


@pytest.mark.tshark
@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
def test_server_hello_as_tshark_decodes_it(capture: Path) -> None:
    mine = rows_by_stream(capture)
    for stream, conn in with_hello(capture).items():
        row = mine[stream]
        real = [s for s in conn["server_hellos"] if not s["hello_retry_request"]]
        assert row["hello_retry_request"] == any(
            s["hello_retry_request"] for s in conn["server_hellos"]
        )
        if not real:
            missed = TSHARK_MISSED_SERVER_HELLO.get(capture_id(capture))
            if missed is not None:
                assert (row["version"], row["cipher"]) == missed
                continue
            assert na(row["version"]) is None and na(row["server_hello_frame"]) is None, stream
            continue
        hello = real[0]
        assert row["server_hello_frame"] == hello["frame"], stream
        assert row["version"] == ORACLE_VERSIONS[hello["negotiated_version"]], stream
        if hello["cipher_suite_name"] is not None:
            assert row["cipher"] == hello["cipher_suite_name"], stream
        elif conn.get("ssl2_client_master_key_cipher") is not None:
            assert row["cipher"] == cipher_name(int(conn["ssl2_client_master_key_cipher"], 16))


@pytest.mark.tshark
@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
def test_certificate_chains_as_sent(capture: Path) -> None:
    mine = rows_by_stream(capture)
    for stream, conn in with_hello(capture).items():
        row, summary = mine[stream], conn["summary"]
        if capture_id(capture) == FRAGMENTED:
            # tshark 4.0 does not reassemble the 21-record Certificate (module docstring).
            assert summary["server_chain_sha256"] == []
            assert row["certificates"][0] == ZEEK_FRAGMENTED_LEAF
            continue
        assert row["certificates"] == summary["server_chain_sha256"], stream
        assert row["client_certificates"] == summary["client_chain_sha256"], stream
        server = [c for c in conn["certificates"] if c["from_role"] == "server"]
        if server:
            assert row["certificate_frame"] == server[0]["frame"], stream


@pytest.mark.tshark
@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
def test_all_tls_certificates_are_tsharks(capture: Path) -> None:
    theirs = {
        c["sha256"]
        for c in oracle(capture)["certificates"]
        if any(seen["proto"] == "tls" for seen in c["seen_in"])
    }
    mine = {
        hashlib.sha256(s["der"]).hexdigest()
        for s in ours(capture).certificate_sightings
        if s["source"] == "tls"
    }
    if capture_id(capture) == FRAGMENTED:
        assert mine >= theirs and ZEEK_FRAGMENTED_LEAF in mine
    else:
        assert mine == theirs


@pytest.mark.tshark
@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
def test_alerts_as_tshark_sees_them(capture: Path) -> None:
    mine = rows_by_stream(capture)
    for stream, conn in connections(capture).items():
        row = mine[stream]
        # Senders as ip:port: for a connection joined mid-stream tshark takes the first
        # sender for the client, we take the side on the TLS port for the server.
        alerts = [{**a, "from": row[a["sender"]]} for a in row["alerts"]]
        clear = [(a["from"], a["description"]) for a in alerts if not a["encrypted"]]
        assert clear == [
            (a["from"], a["description_name"]) for a in conn["alerts"] if not a["encrypted"]
        ], stream
        # Encrypted alerts: ours are those tshark saw before we stopped following.
        encrypted = [(a["from"], a["frame"]) for a in alerts if a["encrypted"]]
        theirs = [(a["from"], a["frame"]) for a in conn["alerts"] if a["encrypted"]]
        assert encrypted == theirs[: len(encrypted)], stream


def _tshark_hello_fields(capture: Path, field: str, msg_type: int) -> dict[int, str]:
    out = run_tshark(
        capture,
        "-Y",
        f"tls.handshake.type == {msg_type}",
        "-T",
        "fields",
        "-E",
        "occurrence=f",
        "-e",
        "frame.number",
        "-e",
        field,
    )
    found = {}
    for line in out.splitlines():
        frame, _, value = line.partition("\t")
        found[int(frame)] = value
    return found


@pytest.mark.tshark
@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
def test_ja3_and_ja3s_equal_tsharks(capture: Path) -> None:
    ja3 = _tshark_hello_fields(capture, "tls.handshake.ja3", 1)
    ja3s = _tshark_hello_fields(capture, "tls.handshake.ja3s", 2)
    checked = 0
    for row in rows_by_stream(capture).values():
        frame = na(row["client_hello_frame"])
        if frame is not None and frame in ja3:
            assert (na(row["ja3"]) or "") == ja3[frame], frame
            checked += 1
        frame = na(row["server_hello_frame"])
        if frame is not None and frame in ja3s and not row["sslv2_hello"]:
            assert (na(row["ja3s"]) or "") == ja3s[frame], frame
    hellos = [c for c in with_hello(capture).values() if c["client_hellos"]]
    assert checked == len(hellos)

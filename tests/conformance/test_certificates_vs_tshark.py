"""Conformance: the certificate catalogue agrees with tshark on every capture.

For every capture in samples/ and ../shared/corpus/, the set of SHA-256 fingerprints in
``analyzer.analyze(capture).certificates`` must equal the ``certificates`` section of the
tshark oracle (``X.oracle.json`` beside corpus captures; generated with
../shared/tools/oracle.py for the samples), and the facts of every certificate both
know must agree (subject, issuer, serial, validity, signature algorithm, key, SAN DNS
names, CA flag). The samples' ground truth (``*.truth.json``) is checked the same way.

Documented differences (tshark/oracle errors, not ours):

- ``zeek/tls-fragmented-handshake.pcap.gz``: tshark 4.0 does not reassemble the ~360 KB
  Certificate message fragmented over 21 TLS records, so the oracle lists no certificate;
  Zeek's ssl.log beside it has the real chain (one certificate, SHA-256 af4a46e9...).
- Samples: the oracle's LDAP pass builds ``frame.number in {a b}`` without commas, which
  tshark 4.0 rejects, so when two or more frames carry LDAP certificates their
  certificates are missing from the oracle; the ground truth lists them (served_via
  ``ldap``). The oracle does not look into HTTP bodies at all; the truth lists the root
  the Lync provisioning service returns (served_via ``http``). Both come from the truth.

Each capture needs the parsers of the sources its certificates come from; until a parser
has landed (no protocol module of that name) the capture is a strict xfail naming it, so
the test starts checking by itself the day the parser arrives.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS, SAMPLES, all_captures, capture_id, require_tshark

from analyzer.api import analyze
from analyzer.protocols.registry import protocol_modules

ORACLE_TOOL = CORPUS.parent / "tools" / "oracle.py"
CAPTURES = all_captures()

#: Certificates tshark misses, by capture id, with the reason (see the module docstring).
TSHARK_MISSES: dict[str, dict[str, str]] = {
    "zeek/tls-fragmented-handshake.pcap.gz": {
        "af4a46e989dc24078ee2a205490856e059e7f2f9d2114cec4d4c44974add9d34": (
            "tshark 4.0 does not reassemble a Certificate message fragmented over 21 TLS "
            "records; Zeek's ssl.log has this certificate"
        ),
    },
}
#: Oracle section name of a source -> our protocol module that reports it.
PARSER_OF = {"tls": "tls", "dtls": "tls", "ldap": "ldap", "cldap": "ldap", "http": "http"}


@cache
def oracle(capture: Path) -> dict[str, Any]:
    """The tshark oracle of a capture: committed next to corpus captures, generated for
    the samples (a few seconds each)."""
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


def truth(capture: Path) -> dict[str, Any] | None:
    if capture.parent != SAMPLES:
        return None
    for path in SAMPLES.glob("*.truth.json"):
        data = json.loads(path.read_text())
        if data.get("capture") == capture.name:
            return dict(data)
    return None


def expected(capture: Path) -> dict[str, set[str]]:
    """SHA-256 -> the sources it is seen in (oracle names, plus the truth's for samples)."""
    out: dict[str, set[str]] = {}
    for cert in oracle(capture).get("certificates", []):
        out.setdefault(cert["sha256"], set()).update(s["proto"] for s in cert["seen_in"])
    for sha in TSHARK_MISSES.get(capture_id(capture), {}):
        out.setdefault(sha, set()).add("tls")
    t = truth(capture)
    if t is not None:
        for cert in t["certificates"]:
            on_wire = set(cert["served_via"]) - {"ldap_sealed"}
            if on_wire:
                out.setdefault(cert["sha256"], set()).update(on_wire)
    return out


def _missing_parsers(sources: set[str]) -> list[str]:
    have = {m.name for m in protocol_modules()}
    return sorted({PARSER_OF.get(s, s) for s in sources} - have)


@cache
def ours(capture: Path) -> Any:
    return analyze(capture, strict=True, profile=[]).certificates


def check(capture: Path, test: Callable[[], None]) -> None:
    """Run ``test``; a failure on a capture whose certificates need a parser that has not
    landed yet is an xfail naming the parser."""
    want = expected(capture)
    missing = _missing_parsers(set().union(*want.values()) if want else set())
    try:
        test()
    except AssertionError:
        if missing:
            pytest.xfail(f"parser(s) not landed yet: {', '.join(missing)}")
        raise


@pytest.mark.tshark
@pytest.mark.slow
@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
def test_certificate_fingerprints_match_tshark(capture: Path) -> None:
    def test() -> None:
        want, got = set(expected(capture)), set(ours(capture)["sha256"])
        assert got == want, f"only ours: {sorted(got - want)}, only tshark: {sorted(want - got)}"

    check(capture, test)


@pytest.mark.tshark
@pytest.mark.slow
@pytest.mark.parametrize("capture", [c for c in CAPTURES if c.parent != SAMPLES], ids=capture_id)
def test_certificate_facts_match_the_oracle(capture: Path) -> None:
    theirs = {c["sha256"]: c for c in oracle(capture).get("certificates", [])}

    def test() -> None:
        rows = {r["sha256"]: r for r in ours(capture).to_dict("records")}
        assert set(theirs) <= set(rows), "certificates missing (see the fingerprint test)"
        for sha, o in theirs.items():
            _same_facts(rows[sha], o)

    check(capture, test)


def _same_facts(row: dict[str, Any], o: dict[str, Any]) -> None:
    assert row["sha1"] == o["sha1"]
    if "parse_error" in o:
        assert row["parse_error"]
        return
    assert row["subject"] == o["subject"]
    assert row["issuer"] == o["issuer"]
    assert row["serial"] == o["serial"]
    assert row["version"] == o["version"]
    assert row["not_before"].strftime("%Y-%m-%dT%H:%M:%SZ") == o["not_before"]
    assert row["not_after"].strftime("%Y-%m-%dT%H:%M:%SZ") == o["not_after"]
    assert row["signature_algorithm_oid"] == o["signature_algorithm_oid"]
    key = o["public_key"]
    assert row["key_type"] == key["algorithm"]
    if "error" in key:
        assert row["parse_error"] and "public key" in row["parse_error"]
    else:
        assert row["key_size"] == key["size"]
        if "curve" in key:
            assert row["key_curve"] == key["curve"]
    assert row["san_dns"] == o.get("san_dns", [])
    if "basic_constraints_ca" in o:
        assert bool(row["is_ca"]) == o["basic_constraints_ca"]


@pytest.mark.parametrize("capture", [c for c in CAPTURES if c.parent == SAMPLES], ids=capture_id)
def test_certificate_facts_and_sources_match_the_truth(capture: Path) -> None:
    t = truth(capture)
    if t is None:
        pytest.skip("no truth file")
    certs = [c for c in t["certificates"] if set(c["served_via"]) - {"ldap_sealed"}]

    def test() -> None:
        table = ours(capture).set_index("sha256")
        assert {c["sha256"] for c in certs} == set(table.index)
        for cert in certs:
            row = table.loc[cert["sha256"]]
            assert row["subject"] == cert["subject"]
            assert row["issuer"] == cert["issuer"]
            assert row["serial"] == cert["serial"]
            assert row["not_before"].isoformat() == cert["not_before"]
            assert row["not_after"].isoformat() == cert["not_after"]
            assert row["signature_hash"] == cert["signature_hash"]
            assert (row["key_type"], row["key_size"]) == (cert["key_type"], cert["key_size"])
            assert set(row["sources"]) == set(cert["served_via"]) - {"ldap_sealed"}

    check(capture, test)


def test_missing_intermediate_agrees_with_zeek_validation() -> None:
    """zeek/missing-intermediate.pcap: Zeek's ssl.log (validate-certs-no-cache) says
    "unable to get local issuer certificate" for the two connections whose server sends
    only its leaf, and "ok" for the one that sends leaf, intermediate and root. We build
    the leaf-only paths from the other connection's certificates, but say the server did
    not send the intermediate."""
    capture = CORPUS / "zeek" / "missing-intermediate.pcap"
    if not capture.exists():
        pytest.skip("corpus not present")
    status: dict[str, str] = {}
    log = capture.with_name(capture.name + ".zeek-ssl.log").read_text()
    for line in log.splitlines():
        if not line.startswith("#"):
            fields = line.split("\t")
            status[fields[15].split(",")[0]] = fields[-1]  # cert_chain_fps[0] -> status
    chains = analyze(capture, profile=[]).chains
    assert len(chains) == 3
    for chain in chains.to_dict("records"):
        if status[chain["leaf_sha256"]] == "ok":
            assert "missing_intermediate" not in chain["problems"]
            assert chain["complete"] and chain["signatures_ok"]
        else:
            assert status[chain["leaf_sha256"]] == "unable to get local issuer certificate"
            assert "missing_intermediate" in chain["problems"]

"""``analyzer certs CAPTURE``: the table, --json rows, --export, --profile, --trust."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from certfactory import make, rsa_key, served, sighting
from conftest import SAMPLES
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from analyzer.cli import _print_certs, main
from analyzer.pki import PkiBuilder

LOOP = str(SAMPLES / "cx700-logon-loop.pcapng")
CONTRACT = {
    "sha256",
    "subject",
    "issuer",
    "not_before",
    "not_after",
    "key_type",
    "key_size",
    "signature_hash",
    "san_dns",
    "sources",
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_rows_have_the_contract_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "certs", LOOP, "--json", "--no-progress")
    rows = json.loads(out)
    assert code == 0 and rows
    for row in rows:
        assert set(row) >= CONTRACT
        assert set(row["sources"]) <= {"tls", "ldap", "http", "trust"}
    root = next(r for r in rows if r["subject"] == "CN=Contoso Root CA,DC=contoso,DC=local")
    assert (root["key_type"], root["key_size"], root["signature_hash"]) == ("rsa", 4096, "sha256")
    assert "ldap" in root["sources"]
    assert "findings" not in root


def test_json_with_profile_adds_findings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "certs", LOOP, "--json", "--profile", "ocs2007r2-ce6")
    assert code == 0
    root = next(r for r in json.loads(out) if r["subject_cn"] == "Contoso Root CA")
    assert sorted(f["check"] for f in root["findings"]) == ["rsa_key_size", "signature_hash"]


def test_human_table_with_profile(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "certs", LOOP, "--profile", "ocs2007r2-ce6")
    assert code == 0
    assert "Contoso Root CA" in out and "rsa 4096" in out
    assert "findings for OCS 2007 R2 Phone Edition" in out
    assert "rsa_key_size" in out and "unconfirmed" in out


def test_chains_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "certs", LOOP, "--json", "--chains")
    assert code == 0 and isinstance(json.loads(out), list)


def test_export_writes_pem_and_der(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "certs", LOOP, "--json", "--export", str(tmp_path / "out"))
    rows = json.loads(out)
    assert code == 0
    for row in rows:
        der = (tmp_path / "out" / f"{row['sha256']}.der").read_bytes()
        pem = (tmp_path / "out" / f"{row['sha256']}.pem").read_bytes()
        assert x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER) == der


def test_trust_dir_certificates_are_listed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    extra = make("My Trusted Root", key=rsa_key("web-rsa2048"), ca=True)
    (tmp_path / "mine.cer").write_bytes(extra.der)
    code, out, _ = run(capsys, "certs", LOOP, "--json", "--trust", str(tmp_path))
    trusted = [r for r in json.loads(out) if r["sha256"] == extra.sha256]
    assert code == 0 and trusted[0]["sources"] == ["trust"]


def test_unknown_profile_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "certs", LOOP, "--profile", "no-such-phone")
    assert code == 2 and "unknown profile" in err and "Traceback" not in err


def test_missing_trust_dir_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "certs", LOOP, "--trust", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in err


def test_hostile_names_print_as_text_not_markup() -> None:
    evil = "[bold]pwn[/] \x1b[2J\u202e"
    root = make(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, evil)]), ca=True)
    leaf = make("[/]", issuer=root, sans=("[red]x",))
    result = PkiBuilder(profile="modern").build(
        [sighting(root, "ldap"), *served(leaf, root, sni="[link=x]y")]
    )
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        _print_certs(result, True)
    out = buffer.getvalue()
    assert "[bold]pwn[/]" in out and "\\x1b[2J\\u202e" in out and "\x1b" not in out


def test_chain_name_checked_against_the_srv_target(capsys: pytest.CaptureFixture[str]) -> None:
    # name-mismatch: SRV says pool01.contoso.local, the certificate names only fe01.
    code, out, _ = run(capsys, "certs", str(SAMPLES / "name-mismatch.pcapng"))
    assert code == 0 and "name_mismatch" in out
    code, out, _ = run(
        capsys,
        "certs",
        str(SAMPLES / "name-mismatch.pcapng"),
        "--json",
        "--chains",
        "--expect",
        "fe01.contoso.local",
    )
    assert {c["name_ok"] for c in json.loads(out)} == {True}

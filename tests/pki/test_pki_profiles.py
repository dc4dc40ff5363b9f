"""Device profiles: the built-in TOML files, user profiles, and findings, including the
seed case (the OCS 2007 R2 phone and the SHA-256 / RSA-4096 enterprise root)."""

from __future__ import annotations

from pathlib import Path

import pytest
from certfactory import ec_key, make, rsa_key, sample_pki, served, sighting
from conftest import SAMPLES

from analyzer.api import analyze
from analyzer.pki import PkiBuilder
from analyzer.pki.profiles import (
    CONFIDENCE,
    ProfileError,
    builtin_profiles,
    load_profile,
    load_profiles,
    parse_profile,
)

PKI = sample_pki()
# The loop sample's chain (leaf, issuing CA, root) and the fixed sample's Edge chain.
LOOP_CHAIN = [PKI.build(PKI.POOL_SHA256), PKI.build(PKI.ISSUING_SHA256), PKI.build(PKI.ROOT_SHA256)]
EDGE_CHAIN = [PKI.build(PKI.EDGE), PKI.build(PKI.PUBLIC_CA)]


def findings(sightings: list[dict], profile: str) -> list:
    return PkiBuilder(profile=profile).build(sightings).findings


def test_builtin_profiles() -> None:
    assert builtin_profiles() == [
        "lync-phone-edition-early",
        "lync-phone-edition-later",
        "modern",
        "ocs2007r2-ce6",
    ]


@pytest.mark.parametrize("name", builtin_profiles())
def test_every_builtin_limit_says_how_sure_and_why(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name and profile.title
    assert profile.limits
    for limit in profile.limits.values():
        assert limit.confidence in CONFIDENCE
        assert len(limit.source) > 20


def test_ocs2007r2_profile_limits() -> None:
    p = load_profile("ocs2007r2-ce6")
    assert p.limits["tls_versions"].values == ("TLS 1.0",)
    assert "DOMAIN.md" in p.limits["tls_versions"].source
    assert p.supports_tls_version("TLS 1.0") and not p.supports_tls_version("SSL 3.0")
    assert p.supports_cipher_suite(0x0004) and not p.supports_cipher_suite(0xC02F)
    sig = p.limits["signature_hash"]
    assert (sig.values, sig.confidence) == (("md5", "sha1"), "mixed")
    assert "vendor statement" in sig.source
    key = p.limits["rsa_key_size_max"]
    assert (key.bits, key.confidence) == (2048, "unconfirmed")
    assert "together with SHA-256" in key.source


def test_lync_later_accepts_sha256_with_an_unconfirmed_key_limit() -> None:
    p = load_profile("lync-phone-edition-later")
    assert "sha256" in p.limits["signature_hash"].values
    assert p.limits["rsa_key_size_max"].bits == 4096
    assert p.limits["rsa_key_size_max"].confidence == "unconfirmed"


def test_modern_profile() -> None:
    p = load_profile("modern")
    assert p.limits["tls_versions"].values == ("TLS 1.2", "TLS 1.3")
    assert "sha1" not in p.limits["signature_hash"].values
    assert p.limits["rsa_key_size_min"].bits == 2048
    assert "rsa_key_size_max" not in p.limits


# ------------------------------------------------------------------ the seed case
def test_seed_case_root_breaks_hash_and_key_size_as_two_findings() -> None:
    sightings = [sighting(LOOP_CHAIN[2], "ldap", frame=57, attribute="cACertificate")]
    sightings += served(*LOOP_CHAIN, frame=80, flow=12)
    found = findings(sightings, "ocs2007r2-ce6")
    root = PKI.describe(PKI.ROOT_SHA256, [])["sha256"]
    by_cert = {(f.sha256, f.check): f for f in found}
    hash_finding = by_cert[(root, "signature_hash")]
    key_finding = by_cert[(root, "rsa_key_size")]
    assert (hash_finding.role, hash_finding.value, hash_finding.confidence) == (
        "root",
        "sha256",
        "mixed",
    )
    assert hash_finding.limit == "accepted: md5, sha1"
    assert (key_finding.value, key_finding.limit, key_finding.confidence) == (
        "4096 bits",
        "at most 2048 bits",
        "unconfirmed",
    )
    assert "4096-bit RSA key" in key_finding.sentence
    assert "sha256" in hash_finding.sentence and "4096" not in hash_finding.sentence
    assert key_finding.seen_in == ("ldap", "tls") and key_finding.frames == (57, 80)
    assert key_finding.filter == "frame.number in {57, 80}"
    # The leaf and the issuing CA (RSA-2048) break only the hash limit.
    assert sorted((f.role, f.check) for f in found) == [
        ("intermediate", "signature_hash"),
        ("leaf", "signature_hash"),
        ("root", "rsa_key_size"),
        ("root", "signature_hash"),
    ]


def test_seed_case_fixed_edge_chain_has_no_finding() -> None:
    assert findings(served(*EDGE_CHAIN), "ocs2007r2-ce6") == []


def test_seed_case_chain_passes_later_lync_builds() -> None:
    sightings = [sighting(LOOP_CHAIN[2], "ldap"), *served(*LOOP_CHAIN)]
    assert findings(sightings, "lync-phone-edition-later") == []


def test_seed_case_from_the_loop_capture() -> None:
    analysis = analyze(SAMPLES / "cx700-logon-loop.pcapng", profile="ocs2007r2-ce6")
    table = analysis.certificate_findings
    root = analysis.certificates.query("subject_cn == 'Contoso Root CA'")
    assert len(root) == 1 and root.iloc[0]["key_size"] == 4096
    rows = table[table["sha256"] == root.iloc[0]["sha256"]]
    assert sorted(rows["check"]) == ["rsa_key_size", "signature_hash"]
    assert set(rows["confidence"]) == {"mixed", "unconfirmed"}


def test_seed_case_fixed_capture_has_no_finding() -> None:
    analysis = analyze(SAMPLES / "cx700-public-dns-fixed.pcapng", profile="ocs2007r2-ce6")
    assert analysis.certificate_findings.empty


def test_downloaded_root_is_judged_even_without_a_chain() -> None:
    found = findings([sighting(LOOP_CHAIN[2], "ldap")], "ocs2007r2-ce6")
    assert [(f.role, f.check) for f in found] == [
        ("downloaded", "signature_hash"),
        ("downloaded", "rsa_key_size"),
    ]


def test_trusted_but_unused_certificates_are_not_judged(tmp_path: Path) -> None:
    (tmp_path / "root.der").write_bytes(LOOP_CHAIN[2])
    assert PkiBuilder(trust=tmp_path, profile="ocs2007r2-ce6").build([]).findings == []


def test_modern_profile_flags_sha1_below_the_root_only() -> None:
    found = findings(served(*EDGE_CHAIN, PKI.build(PKI.PUBLIC_ROOT)), "modern")
    assert sorted((f.role, f.check, f.value) for f in found) == [
        ("intermediate", "signature_hash", "sha1"),
        ("leaf", "signature_hash", "sha1"),
    ]


def test_modern_profile_flags_small_rsa_keys() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    small = make("small.example", key=rsa.generate_private_key(65537, 1024))
    (finding,) = [f for f in findings(served(small), "modern") if f.check == "rsa_key_size"]
    assert (finding.value, finding.limit) == ("1024 bits", "at least 2048 bits")
    assert "fewer than the 2048 bits" in finding.sentence


def test_ec_key_breaks_the_ce6_key_type_limit() -> None:
    leaf = make("ec.example", key=ec_key("profiles"), issuer=make("R", key=rsa_key(), ca=True))
    (finding,) = [f for f in findings(served(leaf), "ocs2007r2-ce6") if f.check == "key_type"]
    assert (finding.value, finding.confidence) == ("ec", "assumed")


def test_every_builtin_profile_by_default() -> None:
    result = PkiBuilder().build([sighting(LOOP_CHAIN[2], "ldap")])
    assert {f.profile for f in result.findings} == {"ocs2007r2-ce6", "lync-phone-edition-early"}
    assert "profile" in result.tables()["certificate_findings"].columns


# ------------------------------------------------------------------ user profiles
USER_PROFILE = """
name = "my-phone"
title = "My phone"
[signature_hash]
accepted = ["SHA1"]
confidence = "field_reports"
source = "our lab, firmware 1.2.3"
[rsa_key_size_max]
bits = 1024
confidence = "documented"
source = "vendor release notes"
"""


def test_user_profile_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "phone.toml"
    path.write_text(USER_PROFILE)
    p = load_profile(str(path))
    assert p.name == "my-phone" and p.limits["signature_hash"].values == ("sha1",)
    found = findings(served(*EDGE_CHAIN), str(path))
    assert {(f.check, f.value) for f in found} == {("rsa_key_size", "2048 bits")}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = 1", "'name' and 'title'"),
        ('name = "x"\ntitle = "x"\n[signature_hashes]\n', "unknown keys signature_hashes"),
        (
            'name = "x"\ntitle = "x"\n[signature_hash]\naccepted = ["sha1"]\nsource = "s"\n',
            "confidence must be one of",
        ),
        (
            'name = "x"\ntitle = "x"\n[signature_hash]\naccepted = ["sha1"]\nconfidence = '
            '"documented"\n',
            "'source'",
        ),
        (
            'name = "x"\ntitle = "x"\n[rsa_key_size_max]\nbits = "2048"\nconfidence = '
            '"documented"\nsource = "s"\n',
            "positive integer",
        ),
        (
            'name = "x"\ntitle = "x"\n[tls_versions]\nsupported = ["TLSv1"]\nconfidence = '
            '"documented"\nsource = "s"\n',
            "unknown versions",
        ),
        (
            'name = "x"\ntitle = "x"\n[signature_hash]\naccepted = ["sha1"]\nconfidence = '
            '"documented"\nsource = "s"\nmax = 3\n',
            "unknown keys max",
        ),
        ("name = [", "not valid TOML"),
    ],
)
def test_invalid_profiles_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_profile(text.encode())


def test_unknown_profile_name_lists_the_builtins() -> None:
    with pytest.raises(ProfileError, match="ocs2007r2-ce6"):
        load_profile("cx700")


def test_missing_profile_file() -> None:
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile("/nonexistent/phone.toml")


def test_load_profiles_accepts_lists_and_none() -> None:
    assert [p.name for p in load_profiles(["modern", "ocs2007r2-ce6"])] == [
        "modern",
        "ocs2007r2-ce6",
    ]
    assert len(load_profiles(None)) == len(builtin_profiles())
    assert load_profiles([]) == []

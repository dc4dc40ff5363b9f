"""The certificate catalogue: facts read with cryptography, sightings merged by SHA-256,
the trust directory, and certificates that do not parse."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from certfactory import TS_NS, ec_key, make, resign, rsa_key, served, sighting
from conftest import CORPUS, run_tshark
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from analyzer.pki.catalogue import (
    Catalogue,
    TrustStoreError,
    load_certificate,
    printable,
)

ROOT_4096 = make(
    x509.Name(
        [
            x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "local"),
            x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "contoso"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Test Root CA"),
        ]
    ),
    key=rsa_key("contoso-root-ca-2012-rsa4096"),
    ca=True,
    path_length=1,
    serial=0x1A6C3E0F22B4A89D,
)
ROOT_SHA1 = make("Old Root CA", key=rsa_key("contoso-enterprise-root-ca-rsa2048"), ca=True)
LEAF_SHA1 = make(
    "pool01.contoso.local",
    issuer=ROOT_SHA1,
    hash="sha1",
    sans=("pool01.contoso.local", "sip.contoso.com"),
    ips=("10.1.0.50",),
    crl=("http://pki.contoso.com/pki/Old%20Root%20CA.crl",),
    ocsp=("http://ocsp.contoso.com/ocsp",),
    ca_issuers=("http://pki.contoso.com/pki/OldRootCA.crt",),
)


def test_rsa_4096_sha256_root_facts() -> None:
    f = load_certificate(ROOT_4096.der)
    assert f.parse_error is None
    assert f.subject == "CN=Test Root CA,DC=contoso,DC=local"  # RFC 4514: last RDN first
    assert f.issuer == f.subject and f.is_self_signed is True
    assert f.subject_cn == "Test Root CA"
    assert (f.key_type, f.key_size, f.key_curve) == ("rsa", 4096, None)
    assert (f.signature_algorithm, f.signature_hash) == ("sha256WithRSAEncryption", "sha256")
    assert f.serial == "1a6c3e0f22b4a89d"
    assert (f.is_ca, f.path_length) == (True, 1)
    assert f.key_usage == ("key_cert_sign", "crl_sign")
    assert f.ski is not None and f.aki == f.ski  # self-issued: both name its own key
    assert f.sha256 == hashlib.sha256(ROOT_4096.der).hexdigest()
    assert f.sha1 == hashlib.sha1(ROOT_4096.der).hexdigest()
    assert f.version == "v3"


def test_validity_is_utc() -> None:
    f = load_certificate(ROOT_4096.der)
    assert f.not_before == dt.datetime(2011, 3, 7, 10, 0, tzinfo=dt.timezone.utc)
    assert f.not_after == dt.datetime(2013, 3, 6, 10, 0, tzinfo=dt.timezone.utc)


def test_sha1_certificate_made_by_resigning_the_tbs() -> None:
    f = load_certificate(LEAF_SHA1.der)
    assert f.signature_algorithm_oid == "1.2.840.113549.1.1.5"
    assert (f.signature_algorithm, f.signature_hash) == ("sha1WithRSAEncryption", "sha1")
    assert (f.key_type, f.key_size) == ("rsa", 2048)


def test_md5_signature_hash() -> None:
    f = load_certificate(make("md5.example", issuer=ROOT_SHA1, hash="md5").der)
    assert (f.signature_algorithm_oid, f.signature_hash) == ("1.2.840.113549.1.1.4", "md5")


def test_leaf_extensions() -> None:
    f = load_certificate(LEAF_SHA1.der)
    assert f.san_dns == ("pool01.contoso.local", "sip.contoso.com")
    assert f.san_ip == ("10.1.0.50",)
    assert f.key_usage == ("digital_signature", "key_encipherment")
    assert f.extended_key_usage == ("serverAuth", "clientAuth")
    assert f.is_ca is None  # no basicConstraints at all
    assert f.crl_urls == ("http://pki.contoso.com/pki/Old%20Root%20CA.crl",)
    assert f.ocsp_urls == ("http://ocsp.contoso.com/ocsp",)
    assert f.ca_issuers_urls == ("http://pki.contoso.com/pki/OldRootCA.crt",)
    assert f.aki == load_certificate(ROOT_SHA1.der).ski
    assert f.is_self_signed is False


def test_ec_p256_key() -> None:
    root = make("EC Root", key=ec_key("root"), ca=True)
    leaf = make("ec.contoso.com", key=ec_key("leaf"), issuer=root)
    f = load_certificate(leaf.der)
    assert (f.key_type, f.key_size, f.key_curve) == ("ec", 256, "secp256r1")
    assert (f.signature_algorithm, f.signature_hash) == ("ecdsa-with-SHA256", "sha256")


def test_expired_certificate_keeps_its_dates() -> None:
    old = make(
        "old.contoso.com",
        issuer=ROOT_SHA1,
        not_before=dt.datetime(2011, 1, 15, 10, tzinfo=dt.timezone.utc),
        not_after=dt.datetime(2013, 1, 15, 10, tzinfo=dt.timezone.utc),
    )
    row = Catalogue().add(old.der, "tls").row()  # type: ignore[union-attr]
    assert (row["not_before"], row["not_after"]) == ("2011-01-15T10:00:00Z", "2013-01-15T10:00:00Z")


def test_wildcard_san_is_kept_as_presented() -> None:
    f = load_certificate(make("*.contoso.com", issuer=ROOT_SHA1, sans=("*.contoso.com",)).der)
    assert f.san_dns == ("*.contoso.com",)
    assert f.subject_cn == "*.contoso.com"


def test_garbage_keeps_fingerprints_and_the_reason() -> None:
    der = b"\x30\x03\x02\x01\x00"  # SEQUENCE { INTEGER 0 }: not a certificate
    f = load_certificate(der)
    assert f.sha256 == hashlib.sha256(der).hexdigest()
    assert f.sha1 == hashlib.sha1(der).hexdigest()
    assert f.der == der and f.der_length == 5
    assert f.parse_error and f.subject is None and f.cert is None


def test_truncated_certificate_is_a_parse_error() -> None:
    f = load_certificate(ROOT_4096.der[:-10])
    assert f.parse_error is not None
    assert f.sha256 == hashlib.sha256(ROOT_4096.der[:-10]).hexdigest()


@pytest.mark.tshark
def test_explicit_curve_key_keeps_the_other_facts() -> None:
    """The CurveBall (CVE-2020-0601) CA in ja4/badcurveball.pcap has an EC key with
    explicit curve parameters, which cryptography refuses to load."""
    capture = CORPUS / "ja4" / "badcurveball.pcap"
    if not capture.exists():
        pytest.skip("corpus not present")
    out = run_tshark(
        capture,
        "-Y",
        "tls.handshake.certificate",
        "-T",
        "fields",
        "-e",
        "tls.handshake.certificate",
    )
    der = bytes.fromhex(out.split()[0].split(",")[1].replace(":", ""))
    f = load_certificate(der)
    assert f.sha256 == "45f7246e18837abc380f4c1b1cf17d3a72438407bdade09086ec65eb6a0fc4dc"
    assert f.parse_error is not None and f.parse_error.startswith("public key: ")
    assert "explicit" in f.parse_error
    assert (f.key_type, f.key_size, f.key_curve) == ("ec", None, "explicit")
    assert f.subject == "CN=INFIGO,O=INFIGO IS,ST=Zagreb,C=HR"
    assert f.signature_hash == "sha256" and f.is_ca is True


@pytest.mark.filterwarnings("ignore:Attribute's length")  # the CN is too long on purpose
def test_hostile_names_are_escaped_and_capped() -> None:
    evil = "evil\n\x1b[31m\u202eexe.com[/bold]" + "x" * 5000
    cert = make(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, evil, _validate=False)]),
        issuer=ROOT_SHA1,
        sans=("a\x00b.contoso.com",),
    )
    row = Catalogue().add(cert.der, "tls").row()  # type: ignore[union-attr]
    text = json.dumps(row, ensure_ascii=False)
    for field in ("subject", "subject_cn"):
        value = row[field]
        assert "\n" not in value and "\x1b" not in value and "\u202e" not in value
        assert "\\n\\x1b[31m\\u202eexe.com" in value
        assert value.endswith("chars)") and len(value) < 1100
    assert row["san_dns"] == ["a\\x00b.contoso.com"]
    assert all(c.isprintable() for c in text)


def test_printable_keeps_non_ascii_letters() -> None:
    assert printable("Contoso Бухгалтерия 東京") == "Contoso Бухгалтерия 東京"
    assert printable("tab\there") == "tab\\there"


def test_sightings_merge_by_sha256() -> None:
    cat = Catalogue()
    cat.add_sighting(
        sighting(
            ROOT_SHA1,
            "ldap",
            frame=5,
            flow=2,
            attribute="cACertificate",
            dn="CN=Old Root CA,CN=Certification Authorities",
        )
    )
    for s in served(LEAF_SHA1, ROOT_SHA1, frame=40, flow=7, sni="pool01.contoso.local"):
        cat.add_sighting(s)
    for s in served(LEAF_SHA1, ROOT_SHA1, frame=90, flow=9, ts_ns=TS_NS + 30_000_000_000):
        cat.add_sighting(s)
    assert len(cat) == 2
    root = cat[ROOT_SHA1.sha256]
    assert (root.count, root.sources, root.flows) == (3, {"ldap", "tls"}, {2, 7, 9})
    assert (root.first_frame, root.last_frame) == (5, 90)
    row = root.row()
    assert row["sources"] == ["ldap", "tls"]
    assert row["first_ts"] == "2012-03-06T10:00:00.000000000Z"
    assert row["last_ts"] == "2012-03-06T10:00:30.000000000Z"
    ldap = row["sightings"][0]
    assert ldap["source"] == "ldap" and ldap["attribute"] == "cACertificate"
    assert ldap["frame"] == 5 and ldap["flow"] == 2
    tls = row["sightings"][1]
    assert (tls["position"], tls["role"], tls["sni"]) == (1, "server", "pool01.contoso.local")


def test_table_has_the_contract_columns_and_dtypes() -> None:
    cat = Catalogue()
    cat.add_sighting(sighting(ROOT_4096))
    table = cat.table()
    contract = [
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
    ]
    assert set(contract) <= set(table.columns)
    assert str(table["not_after"].dtype) == "datetime64[s, UTC]"
    assert table.loc[0, "key_size"] == 4096 and table.loc[0, "sources"] == ["tls"]


def test_year_9999_not_after_fits_the_table() -> None:
    forever = make(
        "Forever CA",
        ca=True,
        key=rsa_key("web-rsa2048"),
        not_after=dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc),
    )
    cat = Catalogue()
    cat.add(forever.der, "trust")
    assert cat.table().loc[0, "not_after"].year == 9999


def test_sightings_per_certificate_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    import analyzer.pki.catalogue as catalogue

    monkeypatch.setattr(catalogue, "MAX_SIGHTINGS", 3)
    cat = Catalogue()
    for frame in range(1, 11):
        cat.add_sighting(sighting(ROOT_SHA1, frame=frame))
    entry = cat[ROOT_SHA1.sha256]
    assert entry.count == 10 and len(entry.sightings) == 3 and entry.last_frame == 10


def test_distinct_certificates_are_capped_with_a_weird(monkeypatch: pytest.MonkeyPatch) -> None:
    import analyzer.pki.catalogue as catalogue

    monkeypatch.setattr(catalogue, "MAX_CERTIFICATES", 2)
    cat = Catalogue()
    for i in range(5):
        cat.add(bytes([0x30, 1, i]), "http")
    assert len(cat) == 2
    assert [w.name for w in cat.weird] == ["certificate_catalogue_cap"]


# ------------------------------------------------------------------ trust directory
def test_trust_directory_reads_pem_der_and_pkcs7(tmp_path: Path) -> None:
    ec_root = make("EC Root", key=ec_key("trust"), ca=True)
    (tmp_path / "bundle.pem").write_text(
        "junk before\n"
        + ROOT_4096.cert.public_bytes(serialization.Encoding.PEM).decode()
        + ROOT_SHA1.cert.public_bytes(serialization.Encoding.PEM).decode()
    )
    (tmp_path / "ec.cer").write_bytes(ec_root.der)
    (tmp_path / "chain.p7b").write_bytes(
        pkcs7.serialize_certificates([LEAF_SHA1.cert], serialization.Encoding.DER)
    )
    (tmp_path / "README.txt").write_text("not a certificate")
    cat = Catalogue()
    assert cat.add_trust(tmp_path) == 4
    assert {e.sha256 for e in cat} == {
        ROOT_4096.sha256,
        ROOT_SHA1.sha256,
        ec_root.sha256,
        LEAF_SHA1.sha256,
    }
    assert all(e.sources == {"trust"} for e in cat)
    assert cat[ec_root.sha256].sightings[0].context["path"].endswith("ec.cer")
    assert [w.name for w in cat.weird] == ["trust_file_not_certificate"]


def test_unparseable_der_file_in_trust_dir_is_kept(tmp_path: Path) -> None:
    (tmp_path / "broken.der").write_bytes(b"\x30\x03\x02\x01\x00")
    cat = Catalogue()
    cat.add_trust(tmp_path)
    (entry,) = list(cat)
    assert entry.facts.parse_error is not None


def test_missing_trust_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TrustStoreError):
        Catalogue().add_trust(tmp_path / "nope")


def test_resign_produces_a_certificate_cryptography_reads() -> None:
    der = resign(make("x.example", issuer=ROOT_SHA1).der, ROOT_SHA1.key, "sha1")
    assert x509.load_der_x509_certificate(der).signature_algorithm_oid.dotted_string == (
        "1.2.840.113549.1.1.5"
    )

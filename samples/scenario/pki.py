"""The certificates of the scenarios, built from the committed test keys in samples/keys/.

RSA key generation cannot be seeded, so the keys were generated once and committed;
everything else (names, serials, fixed validity dates, extensions) is fixed here and
PKCS#1 v1.5 signatures are deterministic, so the DER is the same on every run.

`cryptography` refuses to sign with SHA-1, so a SHA-1 certificate is built as a
SHA-256 one, then its TBSCertificate gets the sha1WithRSAEncryption identifier
(same length) and is signed with SHA-1 directly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from . import ldap as ber

KEYS = Path(__file__).resolve().parent.parent / "keys"

OID_SHA256_RSA = ber.oid("1.2.840.113549.1.1.11")
OID_SHA1_RSA = ber.oid("1.2.840.113549.1.1.5")
MS_CA_VERSION = ObjectIdentifier("1.3.6.1.4.1.311.21.1")
MS_CERT_TEMPLATE_NAME = ObjectIdentifier("1.3.6.1.4.1.311.20.2")


@cache
def load_key(name: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key((KEYS / f"{name}.pem").read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, ss, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class CertSpec:
    key: str
    subject: tuple[tuple[str, str], ...]  # (attribute, value) from C down to CN
    issuer: CertSpec | None  # None: self-signed
    hash: str  # "sha256" or "sha1"
    not_before: dt.datetime
    not_after: dt.datetime
    serial: int
    ca: bool = False
    sans: tuple[str, ...] = ()
    ldap_cdp: str = ""  # AD CS-style LDAP CDP/AIA host name
    http_base: str = ""
    template: str = ""
    role: str = field(default="leaf")


ATTRS = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
    "DC": NameOID.DOMAIN_COMPONENT,
}


def name_of(attrs: tuple[tuple[str, str], ...]) -> x509.Name:
    return x509.Name([x509.NameAttribute(ATTRS[a], v) for a, v in attrs])


def _cn(spec: CertSpec) -> str:
    return dict(spec.subject)["CN"]


def _extensions(b: x509.CertificateBuilder, spec: CertSpec) -> x509.CertificateBuilder:
    pub = load_key(spec.key).public_key()
    issuer_key = load_key(spec.issuer.key if spec.issuer else spec.key).public_key()
    if spec.ca:
        b = b.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=False,
        )
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        b = b.add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False),
            critical=True,
        )
        b = b.add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
    if spec.issuer is not None:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key), critical=False
        )
    if spec.sans:
        b = b.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in spec.sans]), critical=False
        )
    if spec.template:
        bmp = spec.template.encode("utf-16-be")
        b = b.add_extension(
            x509.UnrecognizedExtension(MS_CERT_TEMPLATE_NAME, bytes([0x1E, len(bmp)]) + bmp),
            critical=False,
        )
    if spec.ca and spec.issuer is None and spec.ldap_cdp:
        b = b.add_extension(
            x509.UnrecognizedExtension(MS_CA_VERSION, b"\x02\x01\x00"), critical=False
        )
    if spec.issuer is not None:
        issuer_cn = _cn(spec.issuer)
        cdp, aia = [], []
        if spec.ldap_cdp:  # AD CS publishes CRLs and CA certificates in the directory
            cfg = "CN=Public%20Key%20Services,CN=Services,CN=Configuration,DC=contoso,DC=local"
            esc = issuer_cn.replace(" ", "%20")
            cdp.append(
                x509.UniformResourceIdentifier(
                    f"ldap:///CN={esc},CN={spec.ldap_cdp},CN=CDP,{cfg}"
                    "?certificateRevocationList?base?objectClass=cRLDistributionPoint"
                )
            )
            aia.append(
                x509.AccessDescription(
                    x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                    x509.UniformResourceIdentifier(
                        f"ldap:///CN={esc},CN=AIA,{cfg}?cACertificate?base"
                        "?objectClass=certificationAuthority"
                    ),
                )
            )
        if spec.http_base:
            fname = issuer_cn.replace(" ", "")
            cdp.append(x509.UniformResourceIdentifier(f"{spec.http_base}/{fname}.crl"))
            aia.append(
                x509.AccessDescription(
                    x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                    x509.UniformResourceIdentifier(f"{spec.http_base}/{fname}.crt"),
                )
            )
        if cdp:
            b = b.add_extension(
                x509.CRLDistributionPoints([x509.DistributionPoint(cdp, None, None, None)]),
                critical=False,
            )
            b = b.add_extension(x509.AuthorityInformationAccess(aia), critical=False)
    return b


def _split(der: bytes) -> list[bytes]:
    """The TLVs inside the outer SEQUENCE of a DER certificate."""

    def read(buf: bytes, pos: int) -> tuple[int, int]:
        n = buf[pos + 1]
        if n < 0x80:
            return pos + 2, n
        k = n & 0x7F
        return pos + 2 + k, int.from_bytes(buf[pos + 2 : pos + 2 + k], "big")

    start, length = read(der, 0)
    out, pos = [], start
    while pos < start + length:
        body, n = read(der, pos)
        out.append(der[pos : body + n])
        pos = body + n
    return out


def _resign_sha1(der: bytes, signer: rsa.RSAPrivateKey) -> bytes:
    tbs, alg, _sig = _split(der)
    assert tbs.count(OID_SHA256_RSA) == 1
    tbs = tbs.replace(OID_SHA256_RSA, OID_SHA1_RSA)
    sig = signer.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    alg = alg.replace(OID_SHA256_RSA, OID_SHA1_RSA)
    return ber.seq(tbs, alg, ber.tlv(0x03, b"\0" + sig))


@cache
def build(spec: CertSpec) -> bytes:
    """DER of the certificate described by spec."""
    signer = load_key(spec.issuer.key if spec.issuer else spec.key)
    issuer_name = name_of(spec.issuer.subject if spec.issuer else spec.subject)
    b = (
        x509.CertificateBuilder()
        .subject_name(name_of(spec.subject))
        .issuer_name(issuer_name)
        .public_key(load_key(spec.key).public_key())
        .serial_number(spec.serial)
        .not_valid_before(spec.not_before)
        .not_valid_after(spec.not_after)
    )
    b = _extensions(b, spec)
    der = b.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    if spec.hash == "sha1":
        der = _resign_sha1(der, signer)
    else:
        assert spec.hash == "sha256"
    x509.load_der_x509_certificate(der)  # must still parse
    return der


def describe(spec: CertSpec, served_via: list[str]) -> dict:
    der = build(spec)
    cert = x509.load_der_x509_certificate(der)
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return {
        "sha256": hashlib.sha256(der).hexdigest(),
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "signature_hash": spec.hash,
        "key_type": "rsa",
        "key_size": key.key_size,
        "role": spec.role,
        "served_via": sorted(served_via),
    }


def public_modulus_bytes(spec: CertSpec) -> int:
    return load_key(spec.key).key_size // 8


# ------------------------------------------------------------- the catalog
CONTOSO_DC = (("DC", "local"), ("DC", "contoso"))
ORG = (("C", "US"), ("ST", "Washington"), ("L", "Redmond"), ("O", "Contoso Ltd"))
PUBLIC_HTTP = "http://crl.woodgrove.example/pki"

# The enterprise PKI of the incident: SHA-256 / RSA-4096 root, SHA-256 issuing CA.
ROOT_SHA256 = CertSpec(
    "contoso-root-ca-2012-rsa4096",
    (*CONTOSO_DC, ("CN", "Contoso Root CA")),
    None,
    "sha256",
    utc(2011, 6, 1, 17, 2, 11),
    utc(2031, 6, 1, 17, 12, 10),
    0x1A6C3E0F22B4A89D4F0C21E6B30D7A15,
    ca=True,
    ldap_cdp="dc01",
    role="root",
)
ISSUING_SHA256 = CertSpec(
    "contoso-issuing-ca-2012-rsa2048",
    (*CONTOSO_DC, ("CN", "Contoso Issuing CA 01")),
    ROOT_SHA256,
    "sha256",
    utc(2011, 6, 2, 9, 40, 0),
    utc(2021, 6, 2, 9, 50, 0),
    0x61F3A0B2000000000002,
    ca=True,
    ldap_cdp="dc01",
    http_base="http://pki.contoso.com/pki",
    template="SubCA",
    role="intermediate",
)
POOL_SHA256 = CertSpec(
    "pool01-rsa2048",
    (*ORG, ("CN", "pool01.contoso.local")),
    ISSUING_SHA256,
    "sha256",
    utc(2012, 1, 10, 15, 21, 7),
    utc(2014, 1, 9, 15, 21, 7),
    0x1D3C5A7B000000000041,
    sans=("pool01.contoso.local", "sip.contoso.com", "fe01.contoso.local"),
    ldap_cdp="dc01",
    http_base="http://pki.contoso.com/pki",
    template="WebServer",
)

# The PKI before the upgrade (and of the other scenarios): SHA-1 / RSA-2048.
ROOT_SHA1 = CertSpec(
    "contoso-enterprise-root-ca-rsa2048",
    (*CONTOSO_DC, ("CN", "Contoso Enterprise Root CA")),
    None,
    "sha1",
    utc(2008, 3, 1, 11, 0, 0),
    utc(2028, 3, 1, 11, 10, 0),
    0x3F9D02C7E51A4B8C4A1B2E3D4C5F6071,
    ca=True,
    ldap_cdp="dc01",
    role="root",
)


POOL_NOT_BEFORE = utc(2011, 9, 1, 8, 0, 0)
POOL_NOT_AFTER = utc(2013, 8, 31, 8, 0, 0)


def pool_sha1(
    cn: str = "pool01.contoso.local",
    sans: tuple[str, ...] | None = None,
    not_before: dt.datetime = POOL_NOT_BEFORE,
    not_after: dt.datetime = POOL_NOT_AFTER,
    serial: int = 0x2B,
    issuer: CertSpec = ROOT_SHA1,
) -> CertSpec:
    if sans is None:
        sans = (cn, "sip.contoso.com")
    return CertSpec(
        "pool01-rsa2048",
        (*ORG, ("CN", cn)),
        issuer,
        "sha1",
        not_before,
        not_after,
        0x610E22F4000000000000 + serial,
        sans=sans,
        ldap_cdp="dc01",
        template="WebServer",
    )


POOL_SHA1 = pool_sha1()
POOL_SHA1_EXPIRED = pool_sha1(
    not_before=utc(2011, 1, 15, 10, 0, 0), not_after=utc(2013, 1, 15, 10, 0, 0), serial=0x17
)
POOL_WRONG_NAME = pool_sha1(cn="fe01.contoso.local", sans=("fe01.contoso.local",), serial=0x33)
UNPUBLISHED_ROOT = CertSpec(
    "contoso-unpublished-root-ca-rsa2048",
    (*CONTOSO_DC, ("CN", "Contoso Internal Root CA")),
    None,
    "sha1",
    utc(2012, 5, 1, 10, 0, 0),
    utc(2032, 5, 1, 10, 10, 0),
    0x52C1D7A09E3B48F6431D0E8A7B6C5D4E,
    ca=True,
    role="root",
)
POOL_UNTRUSTED = pool_sha1(
    serial=0x05,
    issuer=UNPUBLISHED_ROOT,
    not_before=utc(2012, 5, 2, 9, 0, 0),
    not_after=utc(2014, 5, 2, 9, 0, 0),
)
WEB_SHA1 = CertSpec(
    "web-rsa2048",
    (*ORG, ("CN", "lyncweb.contoso.local")),
    ROOT_SHA1,
    "sha1",
    utc(2012, 2, 20, 8, 0, 0),
    utc(2014, 2, 19, 8, 0, 0),
    0x610E22F400000000004C,
    sans=("lyncweb.contoso.local", "lyncdiscoverinternal.contoso.com"),
    ldap_cdp="dc01",
    template="WebServer",
)

# The public CA behind the Edge server's external interface: SHA-1 / RSA-2048.
PUBLIC_ROOT = CertSpec(
    "woodgrove-public-root-rsa2048",
    (("C", "US"), ("O", "Woodgrove Trust"), ("CN", "Woodgrove Global Root CA")),
    None,
    "sha1",
    utc(2006, 11, 10, 0, 0, 0),
    utc(2031, 11, 10, 0, 0, 0),
    0x083BE056904246B1A1756AC95991C74A,
    ca=True,
    role="root",
)
PUBLIC_CA = CertSpec(
    "woodgrove-public-server-ca-rsa2048",
    (
        ("C", "US"),
        ("O", "Woodgrove Trust"),
        ("OU", "www.woodgrove.example/cps"),
        ("CN", "Woodgrove Secure Server CA - G2"),
    ),
    PUBLIC_ROOT,
    "sha1",
    utc(2010, 4, 2, 12, 0, 0),
    utc(2020, 4, 2, 12, 0, 0),
    0x0A5F114D035B179D5D6C83A6AF7B3C11,
    ca=True,
    http_base=PUBLIC_HTTP,
    role="intermediate",
)
EDGE = CertSpec(
    "edge-rsa2048",
    (*ORG, ("CN", "sip.contoso.com")),
    PUBLIC_CA,
    "sha1",
    utc(2012, 2, 1, 0, 0, 0),
    utc(2014, 2, 1, 12, 0, 0),
    0x0E77A1C35B2D4F9E8C1A0B3D5E7F9A2C,
    sans=("sip.contoso.com", "access.contoso.com", "webconf.contoso.com"),
    http_base=PUBLIC_HTTP,
)

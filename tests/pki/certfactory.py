"""Certificates for the PKI tests, made with ``cryptography``.

``CertificateBuilder`` refuses SHA-1 and MD5, so such certificates are built as SHA-256
ones, then the signature algorithm identifier is swapped (same length) in the
TBSCertificate and the outer AlgorithmIdentifier and the TBS is signed directly with the
old hash (DESIGN.md, Tests).

RSA keys come from samples/keys (test-only keys: RSA generation cannot be seeded and
4096-bit generation is slow); EC keys are generated per run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEYS = Path(__file__).resolve().parents[2] / "samples" / "keys"

# AlgorithmIdentifier OIDs as DER (06 09 ...): the SHA-256 one is swapped for another
# of the same length.
OID_DER = {
    "sha256": bytes.fromhex("06092a864886f70d01010b"),  # 1.2.840.113549.1.1.11
    "sha1": bytes.fromhex("06092a864886f70d010105"),  # 1.2.840.113549.1.1.5
    "md5": bytes.fromhex("06092a864886f70d010104"),  # 1.2.840.113549.1.1.4
}
OLD_HASHES: dict[str, hashes.HashAlgorithm] = {"sha1": hashes.SHA1(), "md5": hashes.MD5()}

T0 = dt.datetime(2012, 3, 6, 10, 0, 0, tzinfo=dt.timezone.utc)
#: Capture time used with these certificates (epoch ns of T0).
TS_NS = int(T0.timestamp()) * 1_000_000_000


@cache
def rsa_key(name: str = "pool01-rsa2048") -> rsa.RSAPrivateKey:
    """A committed test key: pool01/web/edge-rsa2048, contoso-root-ca-2012-rsa4096, ..."""
    key = serialization.load_pem_private_key((KEYS / f"{name}.pem").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@cache
def ec_key(label: str = "ec", curve: str = "secp256r1") -> ec.EllipticCurvePrivateKey:
    """A fresh EC key per (label, curve), reused within the run."""
    curves = {"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1()}
    return ec.generate_private_key(curves[curve])


def sample_pki() -> Any:
    """samples/scenario/pki.py: the exact certificates of the sample captures."""
    import sys

    samples = str(KEYS.parent)
    sys.path.insert(0, samples)
    try:
        from scenario import pki
    finally:
        sys.path.remove(samples)
    return pki


def name(cn: str, *more: x509.NameAttribute) -> x509.Name:
    return x509.Name([*more, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Made:
    """A certificate made for a test: DER, the parsed certificate, its private key."""

    der: bytes
    cert: x509.Certificate
    key: Any

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()


def make(
    subject: x509.Name | str,
    *,
    key: Any = None,
    issuer: Made | None = None,
    hash: str = "sha256",
    not_before: dt.datetime = T0 - dt.timedelta(days=365),
    not_after: dt.datetime = T0 + dt.timedelta(days=365),
    ca: bool = False,
    path_length: int | None = None,
    sans: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    serial: int = 0x1234ABCD,
    aki: bool = True,
    ski: bool = True,
    crl: tuple[str, ...] = (),
    ocsp: tuple[str, ...] = (),
    ca_issuers: tuple[str, ...] = (),
    eku: bool = True,
    issuer_name: x509.Name | None = None,
    signer: Any = None,
) -> Made:
    """One certificate. ``issuer=None`` makes it self-signed; ``signer`` overrides the
    signing key (to make a bad signature); ``issuer_name`` overrides the issuer DN."""
    import ipaddress

    key = key if key is not None else rsa_key()
    subject_name = name(subject) if isinstance(subject, str) else subject
    signing_key = signer or (issuer.key if issuer else key)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject_name)
        .issuer_name(issuer_name or (issuer.cert.subject if issuer else subject_name))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if ca:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=path_length), True)
        b = b.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    else:
        b = b.add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), True
        )
        if eku:
            b = b.add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                False,
            )
    if ski:
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    if aki:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                (issuer.key if issuer else key).public_key()
            ),
            False,
        )
    if sans or ips:
        general: list[x509.GeneralName] = [x509.DNSName(n) for n in sans]
        general += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        b = b.add_extension(x509.SubjectAlternativeName(general), False)
    if crl:
        points = [x509.UniformResourceIdentifier(u) for u in crl]
        b = b.add_extension(
            x509.CRLDistributionPoints([x509.DistributionPoint(points, None, None, None)]), False
        )
    if ocsp or ca_issuers:
        aia = [
            x509.AccessDescription(
                x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u)
            )
            for u in ocsp
        ] + [
            x509.AccessDescription(
                x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(u),
            )
            for u in ca_issuers
        ]
        b = b.add_extension(x509.AuthorityInformationAccess(aia), False)
    algorithm = None if isinstance(signing_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    der = b.sign(signing_key, algorithm).public_bytes(serialization.Encoding.DER)
    if hash != "sha256":
        der = resign(der, signing_key, hash)
    return Made(der, x509.load_der_x509_certificate(der), key)


# ------------------------------------------------------------------ DER surgery
def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _children(der: bytes) -> list[bytes]:
    """The TLVs inside the outer SEQUENCE."""

    def header(pos: int) -> tuple[int, int]:
        n = der[pos + 1]
        if n < 0x80:
            return pos + 2, n
        k = n & 0x7F
        return pos + 2 + k, int.from_bytes(der[pos + 2 : pos + 2 + k], "big")

    start, length = header(0)
    out, pos = [], start
    while pos < start + length:
        body, n = header(pos)
        out.append(der[pos : body + n])
        pos = body + n
    return out


def resign(der: bytes, key: rsa.RSAPrivateKey, hash: str) -> bytes:
    """Re-sign an RSA/SHA-256 certificate with ``hash`` (sha1 or md5) by hand."""
    tbs, alg, _signature = _children(der)
    assert tbs.count(OID_DER["sha256"]) == 1
    tbs = tbs.replace(OID_DER["sha256"], OID_DER[hash])
    alg = alg.replace(OID_DER["sha256"], OID_DER[hash])
    signature = key.sign(tbs, padding.PKCS1v15(), OLD_HASHES[hash])
    return _tlv(0x30, tbs + alg + _tlv(0x03, b"\x00" + signature))


def sighting(
    made: Made | bytes,
    source: str = "tls",
    *,
    frame: int = 10,
    flow: int = 1,
    ts_ns: int = TS_NS,
    **context: Any,
) -> dict[str, Any]:
    """A ``Sink.certificates`` entry, as a parser would make it."""
    der = made.der if isinstance(made, Made) else made
    return {
        "der": der,
        "source": source,
        "ts_ns": ts_ns,
        "frame": frame,
        "flow": flow,
        "src": "10.1.0.50",
        "dst": "10.20.0.57",
        **context,
    }


def served(
    *certs: Made | bytes,
    frame: int = 10,
    flow: int = 1,
    sni: str | None = None,
    role: str = "server",
    ts_ns: int = TS_NS,
) -> list[dict[str, Any]]:
    """The sightings of one TLS Certificate message carrying ``certs`` in order."""
    return [
        sighting(c, "tls", frame=frame, flow=flow, ts_ns=ts_ns, position=i, role=role, sni=sni)
        for i, c in enumerate(certs)
    ]

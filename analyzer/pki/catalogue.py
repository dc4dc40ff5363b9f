"""The certificate catalogue: one entry per SHA-256 fingerprint, whatever the source.

Every certificate the dissectors see (``sink.certificate(der, env, source, ...)``: a TLS
Certificate message, an LDAP ``cACertificate`` value, an HTTP body) and every file of the
user's trust directory becomes a *sighting*; sightings of the same DER share one
:class:`CatalogueEntry`, which holds the certificate's facts (:class:`CertificateFacts`,
read with ``cryptography``) and where and when it was seen.

Loading never raises: a certificate that ``cryptography`` cannot parse (or whose public
key it cannot load, e.g. an explicit-curve "CurveBall" key) keeps its DER, fingerprints
and the reason in :attr:`CertificateFacts.parse_error`. Text taken from a certificate
(names, SAN entries, URLs) is backslash-escaped and length-capped, so hostile names
cannot break a terminal, a table or a JSON consumer.

>>> facts = load_certificate(b"\\x30\\x03\\x02\\x01\\x00")
>>> facts.sha256[:16], facts.parse_error is not None
('b560833d6f787af4', True)
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import re
import unicodedata
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from analyzer.errors import AnalyzerError, Weird
from analyzer.protocols.base import Column, Schema

#: Longest text kept from one certificate field (a name, a SAN entry, a URL).
MAX_TEXT = 1024
#: Entries kept per list-valued fact (SAN names, URLs, ...).
MAX_LIST = 1000
#: DER larger than this is fingerprinted but not parsed.
MAX_DER_BYTES = 4 * 1024 * 1024
#: Distinct certificates kept; sightings of further new certificates are dropped.
MAX_CERTIFICATES = 100_000
#: Sightings kept per certificate (the count goes on).
MAX_SIGHTINGS = 1000
#: Flows listed per certificate.
MAX_FLOWS = 1000
#: Files read from a trust directory, and the largest file read.
MAX_TRUST_FILES = 10_000
MAX_TRUST_FILE_BYTES = 16 * 1024 * 1024

#: Hash of a signature algorithm, by OID (kept here rather than asked of cryptography,
#: which raises for algorithms it does not implement).
SIGNATURE_HASHES: dict[str, str] = {
    "1.2.840.113549.1.1.2": "md2",  # md2WithRSAEncryption
    "1.2.840.113549.1.1.3": "md4",  # md4WithRSAEncryption
    "1.2.840.113549.1.1.4": "md5",  # md5WithRSAEncryption
    "1.2.840.113549.1.1.5": "sha1",  # sha1WithRSAEncryption
    "1.3.14.3.2.29": "sha1",  # sha1WithRSASignature (OIW)
    "1.3.14.3.2.27": "sha1",  # dsaWithSHA1 (OIW)
    "1.2.840.113549.1.1.14": "sha224",
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
    "1.2.840.10040.4.3": "sha1",  # dsa-with-sha1
    "2.16.840.1.101.3.4.3.1": "sha224",  # dsa-with-sha224
    "2.16.840.1.101.3.4.3.2": "sha256",  # dsa-with-sha256
    "1.2.840.10045.4.1": "sha1",  # ecdsa-with-SHA1
    "1.2.840.10045.4.3.1": "sha224",
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
    "2.16.840.1.101.3.4.3.9": "sha3-224",  # ecdsa-with-SHA3-224
    "2.16.840.1.101.3.4.3.10": "sha3-256",
    "2.16.840.1.101.3.4.3.11": "sha3-384",
    "2.16.840.1.101.3.4.3.12": "sha3-512",
    "2.16.840.1.101.3.4.3.13": "sha3-224",  # id-rsassa-pkcs1-v1_5-with-sha3-224
    "2.16.840.1.101.3.4.3.14": "sha3-256",
    "2.16.840.1.101.3.4.3.15": "sha3-384",
    "2.16.840.1.101.3.4.3.16": "sha3-512",
    "1.3.101.112": "none",  # Ed25519 signs the message itself
    "1.3.101.113": "none",  # Ed448
}
#: RSASSA-PSS: the hash is in the algorithm's parameters.
OID_RSASSA_PSS = "1.2.840.113549.1.1.10"
#: Public key algorithm names by SPKI OID, for keys cryptography cannot load.
KEY_TYPES_BY_OID = {
    "1.2.840.113549.1.1.1": "rsa",
    "1.2.840.113549.1.1.10": "rsa",  # RSASSA-PSS key
    "1.2.840.10045.2.1": "ec",
    "1.2.840.10040.4.1": "dsa",
    "1.3.101.112": "ed25519",
    "1.3.101.113": "ed448",
    "1.2.643.2.2.19": "gost2001",
    "1.2.643.7.1.1.1.1": "gost2012-256",
    "1.2.643.7.1.1.1.2": "gost2012-512",
}
KEY_USAGE_BITS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)
#: Where a certificate can come from; anything else a parser reports is kept as given.
SOURCES = ("tls", "ldap", "http", "trust")


class TrustStoreError(AnalyzerError):
    """The trust directory (``--trust``) is missing or unreadable."""


# ----------------------------------------------------------------- hostile text
_ESCAPE = re.compile(r"[^\x20-\x7e]")


def printable(value: object, limit: int = MAX_TEXT) -> str:
    """``value`` as one line of safe text: control, format (bidi) and separator characters
    backslash-escaped, cut to ``limit`` characters with a marker saying how much was cut.

    >>> printable("evil\\nname\\u202e.com")
    'evil\\\\nname\\\\u202e.com'
    >>> printable("x" * 10, limit=4)
    'xxxx...(+6 chars)'
    """
    if type(value) is str and len(value) <= limit and value.isascii() and value.isprintable():
        return value  # the common case, without the regular expression: \x20-\x7e only
    text = value if isinstance(value, str) else str(value)
    if _ESCAPE.search(text):
        text = "".join(_escape_char(c) for c in text)
    if len(text) > limit:
        return f"{text[:limit]}...(+{len(text) - limit} chars)"
    return text


def _escape_char(c: str) -> str:
    if " " <= c <= "~":
        return c
    if c == "\n":
        return "\\n"
    if c == "\r":
        return "\\r"
    if c == "\t":
        return "\\t"
    code = ord(c)
    category = unicodedata.category(c)
    # Letters, marks, digits, punctuation and symbols outside ASCII are kept (names in
    # Cyrillic or CJK are legitimate); controls, format characters (bidi overrides),
    # separators other than space, surrogates and unassigned code points are escaped.
    if category[0] in "LMNPS":
        return c
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _text_list(values: Iterable[object], what: str, notes: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    total = 0
    for v in values:
        total += 1
        if len(out) < MAX_LIST:
            out.append(printable(v))
    if total > MAX_LIST:
        notes.append(f"{what}: {total} entries, first {MAX_LIST} kept")
    return tuple(out)


def _error(e: BaseException) -> str:
    return printable(f"{type(e).__name__}: {e}", 300)


# ----------------------------------------------------------------- facts
@dataclass(frozen=True)
class CertificateFacts:
    """What one certificate says, read once from its DER.

    Every field but the fingerprints may be None (or empty) when the certificate could
    not be parsed; :attr:`parse_error` then says why. Times are UTC.
    """

    sha256: str
    sha1: str
    der: bytes = field(repr=False)
    der_length: int
    parse_error: str | None = None
    version: str | None = None
    subject: str | None = None
    issuer: str | None = None
    subject_cn: str | None = None
    serial: str | None = None
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    key_type: str | None = None
    key_size: int | None = None
    key_curve: str | None = None
    signature_algorithm: str | None = None
    signature_algorithm_oid: str | None = None
    signature_hash: str | None = None
    san_dns: tuple[str, ...] = ()
    san_ip: tuple[str, ...] = ()
    key_usage: tuple[str, ...] = ()
    extended_key_usage: tuple[str, ...] = ()
    is_ca: bool | None = None
    path_length: int | None = None
    aki: str | None = None
    ski: str | None = None
    crl_urls: tuple[str, ...] = ()
    ocsp_urls: tuple[str, ...] = ()
    ca_issuers_urls: tuple[str, ...] = ()
    is_self_signed: bool | None = None
    #: Caps hit and oddities that are not errors (e.g. "san_dns: 5000 entries, ...").
    notes: tuple[str, ...] = ()
    #: Names normalised for chain building (RFC 5280 7.1-ish: case and space folded).
    subject_key: str | None = field(default=None, repr=False)
    issuer_key: str | None = field(default=None, repr=False)
    #: The parsed certificate, for signature checks; None when it did not parse.
    cert: x509.Certificate | None = field(default=None, repr=False, compare=False)

    @property
    def label(self) -> str:
        """A short human name: the subject CN, else the subject, else the fingerprint."""
        return self.subject_cn or self.subject or f"sha256:{self.sha256[:16]}"

    def pem(self) -> str:
        """The DER as PEM text (also for certificates that did not parse)."""
        b64 = base64.b64encode(self.der).decode("ascii")
        lines = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
        return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n"


def load_certificate(der: bytes) -> CertificateFacts:
    """The facts of one DER certificate. Never raises: failures go to ``parse_error``."""
    der = bytes(der)
    sha256 = hashlib.sha256(der).hexdigest()
    sha1 = hashlib.sha1(der).hexdigest()
    base: dict[str, Any] = {"sha256": sha256, "sha1": sha1, "der": der, "der_length": len(der)}
    if len(der) > MAX_DER_BYTES:
        return CertificateFacts(
            **base, parse_error=f"not parsed: {len(der)} bytes (cap {MAX_DER_BYTES})"
        )
    try:
        with warnings.catch_warnings():
            # cryptography warns (and will refuse) on negative serials and similar
            # encoding sins; they are facts about the certificate, not our problem.
            warnings.simplefilter("ignore")
            cert = x509.load_der_x509_certificate(der)
    except Exception as e:  # cryptography raises ValueError and others for bad DER
        return CertificateFacts(**base, parse_error=_error(e))
    errors: list[str] = []
    notes: list[str] = []
    facts: dict[str, Any] = {}
    for name, reader in _READERS:
        found, error = _run_reader(reader, cert, notes)
        facts.update(found)
        if error is not None:
            errors.append(f"{name}: {error}")
    facts["is_self_signed"] = _self_signed(facts)
    return CertificateFacts(
        **base,
        **facts,
        parse_error="; ".join(errors) or None,
        notes=tuple(notes),
        cert=cert,
    )


def _read_version(cert: x509.Certificate, notes: list[str]) -> dict[str, Any]:
    return {"version": cert.version.name}


def _read_names(cert: x509.Certificate, notes: list[str]) -> dict[str, Any]:
    subject, issuer = cert.subject, cert.issuer
    cns = subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    cn = cns[0].value if cns else None
    return {
        "subject": printable(subject.rfc4514_string()),
        "issuer": printable(issuer.rfc4514_string()),
        "subject_cn": printable(cn) if cn is not None else None,
        "subject_key": name_key(subject),
        "issuer_key": name_key(issuer),
    }


def _read_serial(cert: x509.Certificate, notes: list[str]) -> dict[str, Any]:
    serial = cert.serial_number
    return {"serial": format(serial, "x") if serial >= 0 else "-" + format(-serial, "x")}


def _read_validity(cert: x509.Certificate, notes: list[str]) -> dict[str, Any]:
    return {"not_before": cert.not_valid_before_utc, "not_after": cert.not_valid_after_utc}


def _read_signature(cert: x509.Certificate, notes: list[str]) -> dict[str, Any]:
    oid = cert.signature_algorithm_oid
    name = getattr(oid, "_name", None)
    out: dict[str, Any] = {
        "signature_algorithm_oid": oid.dotted_string,
        "signature_algorithm": printable(name)
        if name and name != "Unknown OID"
        else oid.dotted_string,
        "signature_hash": SIGNATURE_HASHES.get(oid.dotted_string),
    }
    if oid.dotted_string == OID_RSASSA_PSS:
        algorithm = cert.signature_hash_algorithm
        out["signature_hash"] = algorithm.name.replace("_", "-") if algorithm else None
    return out


def _read_key(cert: x509.Certificate, notes: list[str]) -> dict[str, Any]:
    oid = cert.public_key_algorithm_oid.dotted_string
    out: dict[str, Any] = {"key_type": KEY_TYPES_BY_OID.get(oid, oid)}
    try:
        key = cert.public_key()
    except Exception as e:
        if "explicit" in str(e):
            out["key_curve"] = "explicit"
        raise _PartialError(out, e) from e
    if isinstance(key, rsa.RSAPublicKey):
        out.update(key_type="rsa", key_size=key.key_size)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        out.update(key_type="ec", key_size=key.curve.key_size, key_curve=key.curve.name)
    elif isinstance(key, dsa.DSAPublicKey):
        out.update(key_type="dsa", key_size=key.key_size)
    elif isinstance(key, ed25519.Ed25519PublicKey):
        out.update(key_type="ed25519", key_size=256)
    elif isinstance(key, ed448.Ed448PublicKey):
        out.update(key_type="ed448", key_size=456)
    return out


class _PartialError(Exception):
    """A reader failed after learning something worth keeping."""

    def __init__(self, partial: dict[str, Any], cause: BaseException) -> None:
        super().__init__(str(cause))
        self.partial = partial
        self.cause = cause


def _read_extensions(cert: x509.Certificate, notes: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ext in cert.extensions:
        value = ext.value
        if isinstance(value, x509.SubjectAlternativeName):
            out["san_dns"] = _text_list(value.get_values_for_type(x509.DNSName), "san_dns", notes)
            out["san_ip"] = _text_list(
                (str(ip) for ip in value.get_values_for_type(x509.IPAddress)), "san_ip", notes
            )
        elif isinstance(value, x509.KeyUsage):
            out["key_usage"] = tuple(_key_usage(value))
        elif isinstance(value, x509.ExtendedKeyUsage):
            out["extended_key_usage"] = _text_list(
                (_oid_name(o) for o in value), "extended_key_usage", notes
            )
        elif isinstance(value, x509.BasicConstraints):
            out["is_ca"] = value.ca
            out["path_length"] = value.path_length
        elif isinstance(value, x509.AuthorityKeyIdentifier):
            if value.key_identifier is not None:
                out["aki"] = value.key_identifier.hex()
        elif isinstance(value, x509.SubjectKeyIdentifier):
            out["ski"] = value.digest.hex()
        elif isinstance(value, x509.CRLDistributionPoints):
            urls = (
                name.value
                for point in value
                for name in (point.full_name or ())
                if isinstance(name, x509.UniformResourceIdentifier)
            )
            out["crl_urls"] = _text_list(urls, "crl_urls", notes)
        elif isinstance(value, x509.AuthorityInformationAccess):
            out["ocsp_urls"] = _text_list(_access(value, "OCSP"), "ocsp_urls", notes)
            out["ca_issuers_urls"] = _text_list(
                _access(value, "CA_ISSUERS"), "ca_issuers_urls", notes
            )
    return out


def _key_usage(value: x509.KeyUsage) -> Iterator[str]:
    for bit in KEY_USAGE_BITS:
        try:
            if getattr(value, bit):
                yield bit
        except ValueError:  # encipher_only/decipher_only are undefined without key_agreement
            continue


def _access(value: x509.AuthorityInformationAccess, method: str) -> Iterator[str]:
    wanted = getattr(x509.oid.AuthorityInformationAccessOID, method)
    for desc in value:
        loc = desc.access_location
        if desc.access_method == wanted and isinstance(loc, x509.UniformResourceIdentifier):
            yield loc.value


def _oid_name(oid: x509.ObjectIdentifier) -> str:
    name = getattr(oid, "_name", None)
    return name if name and name != "Unknown OID" else oid.dotted_string


_READERS = (
    ("version", _read_version),
    ("names", _read_names),
    ("serial", _read_serial),
    ("validity", _read_validity),
    ("signature", _read_signature),
    ("public key", _read_key),
    ("extensions", _read_extensions),
)


def _self_signed(facts: Mapping[str, Any]) -> bool | None:
    """Subject equals issuer and the key identifiers (when both present) agree.

    Whether the self-signature verifies is checked by the chain builder.
    """
    subject, issuer = facts.get("subject_key"), facts.get("issuer_key")
    if subject is None or issuer is None:
        return None
    if subject != issuer:
        return False
    aki, ski = facts.get("aki"), facts.get("ski")
    return aki is None or ski is None or aki == ski


def name_key(name: x509.Name) -> str:
    """A distinguished name folded for comparison: attribute OIDs with case-folded,
    space-collapsed values, RDN by RDN (RFC 5280 7.1 asks for about this much)."""
    parts = []
    for rdn in name.rdns:
        attrs = sorted(
            f"{a.oid.dotted_string}={' '.join(str(a.value).split()).casefold()}" for a in rdn
        )
        parts.append("+".join(attrs))
    return "/".join(parts)


def _run_reader(
    reader: Any, cert: x509.Certificate, notes: list[str]
) -> tuple[dict[str, Any], str | None]:
    """Run one fact reader; a failure costs only that reader's facts (a reader that
    raises :class:`_PartialError` keeps what it learnt before failing)."""
    try:
        with warnings.catch_warnings():
            # cryptography warns about encoding sins (negative serials, ...); they are
            # facts about the certificate, not a reason to stop.
            warnings.simplefilter("ignore")
            return reader(cert, notes), None
    except _PartialError as e:
        return e.partial, _error(e.cause)
    except Exception as e:  # one unreadable field must not lose the others
        return {}, _error(e)


# ----------------------------------------------------------------- sightings
@dataclass(frozen=True)
class Sighting:
    """Where and when one copy of a certificate was seen."""

    source: str
    frame: int | None = None
    flow: int | None = None
    ts_ns: int | None = None
    src: str | None = None
    dst: str | None = None
    #: What the parser added: position/role/sni (tls), attribute/dn (ldap),
    #: url/content_type (http), path (trust). Values are JSON-safe.
    context: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source}
        for key in ("frame", "flow", "src", "dst"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.ts_ns is not None:
            out["ts"] = iso_ns(self.ts_ns)
        out.update(self.context)
        return out


def _safe(value: Any) -> Any:
    """A context value as JSON-safe data (hostile text escaped, bytes as hex)."""
    if type(value) is str:  # the common case first
        return printable(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)[:MAX_TEXT].hex()
    if isinstance(value, list | tuple):
        return [_safe(v) for v in list(value)[:MAX_LIST]]
    return printable(value)


#: Keys of a ``Sink.certificates`` entry that are :class:`Sighting` fields (or the DER).
_NOT_CONTEXT = frozenset(("der", "source", "frame", "flow", "ts_ns", "src", "dst"))


def sighting_of(entry: Mapping[str, Any]) -> Sighting:
    """A :class:`Sighting` from one ``Sink.certificates`` entry (the DER excluded)."""
    context = {printable(k, 64): _safe(v) for k, v in entry.items() if k not in _NOT_CONTEXT}
    return Sighting(
        source=printable(entry.get("source", "unknown"), 32),
        frame=_int_or_none(entry.get("frame")),
        flow=_int_or_none(entry.get("flow")),
        ts_ns=_int_or_none(entry.get("ts_ns")),
        src=None if entry.get("src") is None else printable(entry["src"], 64),
        dst=None if entry.get("dst") is None else printable(entry["dst"], 64),
        context=context,
    )


def _int_or_none(value: Any) -> int | None:
    if type(value) is int:  # the common case first
        return value
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def iso_ns(ts_ns: int) -> str:
    """Epoch nanoseconds as ISO 8601 UTC with nanoseconds (``...Z``)."""
    seconds, ns = divmod(ts_ns, 1_000_000_000)
    day = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    return day.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"


def iso_s(value: dt.datetime | None) -> str | None:
    """A certificate time as ISO 8601 UTC to the second (``...Z``), or None."""
    if value is None:
        return None
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(eq=False)
class CatalogueEntry:
    """One distinct certificate and every sighting of it."""

    facts: CertificateFacts
    sightings: list[Sighting] = field(default_factory=list)
    count: int = 0
    sources: set[str] = field(default_factory=set)
    flows: set[int] = field(default_factory=set)
    first_frame: int | None = None
    last_frame: int | None = None
    first_ts_ns: int | None = None
    last_ts_ns: int | None = None

    @property
    def sha256(self) -> str:
        return self.facts.sha256

    def seen(self, sighting: Sighting) -> None:
        self.count += 1
        self.sources.add(sighting.source)
        if len(self.sightings) < MAX_SIGHTINGS:
            self.sightings.append(sighting)
        if sighting.flow is not None and len(self.flows) < MAX_FLOWS:
            self.flows.add(sighting.flow)
        if sighting.frame is not None:
            if self.first_frame is None or sighting.frame < self.first_frame:
                self.first_frame = sighting.frame
            if self.last_frame is None or sighting.frame > self.last_frame:
                self.last_frame = sighting.frame
        if sighting.ts_ns is not None:
            if self.first_ts_ns is None or sighting.ts_ns < self.first_ts_ns:
                self.first_ts_ns = sighting.ts_ns
            if self.last_ts_ns is None or sighting.ts_ns > self.last_ts_ns:
                self.last_ts_ns = sighting.ts_ns

    def frames(self, limit: int = 50) -> list[int]:
        """Frames of the kept sightings, sorted, at most ``limit``."""
        return sorted({s.frame for s in self.sightings if s.frame is not None})[:limit]

    def row(self) -> dict[str, Any]:
        """The JSON-ready row (times as ISO 8601 text)."""
        f = self.facts
        return {
            "sha256": f.sha256,
            "sha1": f.sha1,
            "subject": f.subject,
            "issuer": f.issuer,
            "subject_cn": f.subject_cn,
            "serial": f.serial,
            "version": f.version,
            "not_before": iso_s(f.not_before),
            "not_after": iso_s(f.not_after),
            "key_type": f.key_type,
            "key_size": f.key_size,
            "key_curve": f.key_curve,
            "signature_algorithm": f.signature_algorithm,
            "signature_algorithm_oid": f.signature_algorithm_oid,
            "signature_hash": f.signature_hash,
            "san_dns": list(f.san_dns),
            "san_ip": list(f.san_ip),
            "key_usage": list(f.key_usage),
            "extended_key_usage": list(f.extended_key_usage),
            "is_ca": f.is_ca,
            "path_length": f.path_length,
            "aki": f.aki,
            "ski": f.ski,
            "crl_urls": list(f.crl_urls),
            "ocsp_urls": list(f.ocsp_urls),
            "ca_issuers_urls": list(f.ca_issuers_urls),
            "is_self_signed": f.is_self_signed,
            "der_length": f.der_length,
            "parse_error": f.parse_error,
            "notes": list(f.notes),
            "sources": sorted(self.sources),
            "count": self.count,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "first_ts": None if self.first_ts_ns is None else iso_ns(self.first_ts_ns),
            "last_ts": None if self.last_ts_ns is None else iso_ns(self.last_ts_ns),
            "flows": sorted(self.flows),
            "sightings": [s.as_dict() for s in self.sightings],
        }


CERTIFICATES_SCHEMA = Schema(
    "certificates",
    "Every distinct X.509 certificate seen (TLS chains, LDAP attributes, HTTP bodies, "
    "the --trust directory), one row per SHA-256 fingerprint.",
    (
        Column("sha256", "string", "SHA-256 of the DER (the catalogue key)"),
        Column("sha1", "string", "SHA-1 of the DER (what Windows calls the thumbprint)"),
        Column("subject", "string", "subject DN, RFC 4514 (escaped, capped)"),
        Column("issuer", "string", "issuer DN, RFC 4514"),
        Column("subject_cn", "string", "first common name of the subject"),
        Column("serial", "string", "serial number in hex"),
        Column("version", "category", "X.509 version (v1, v3)"),
        Column("not_before", "datetime64[s, UTC]", "start of validity"),
        Column("not_after", "datetime64[s, UTC]", "end of validity"),
        Column("key_type", "category", "public key algorithm: rsa, ec, dsa, ed25519, ..."),
        Column("key_size", "Int32", "key size in bits (RSA modulus, curve order)"),
        Column("key_curve", "string", "EC curve name (explicit for custom parameters)"),
        Column("signature_algorithm", "string", "signature algorithm name (OID if unnamed)"),
        Column("signature_algorithm_oid", "string", "signature algorithm OID"),
        Column("signature_hash", "category", "hash of the signature: md5, sha1, sha256, ..."),
        Column("san_dns", "object", "subjectAltName dNSName entries"),
        Column("san_ip", "object", "subjectAltName iPAddress entries"),
        Column("key_usage", "object", "keyUsage bits that are set"),
        Column("extended_key_usage", "object", "extendedKeyUsage purposes (names or OIDs)"),
        Column("is_ca", "boolean", "basicConstraints cA (NA when absent)"),
        Column("path_length", "Int32", "basicConstraints pathLenConstraint"),
        Column("aki", "string", "authorityKeyIdentifier keyIdentifier, hex"),
        Column("ski", "string", "subjectKeyIdentifier, hex"),
        Column("crl_urls", "object", "CRL distribution point URLs"),
        Column("ocsp_urls", "object", "AIA OCSP URLs"),
        Column("ca_issuers_urls", "object", "AIA caIssuers URLs"),
        Column("is_self_signed", "boolean", "subject equals issuer and key ids agree"),
        Column("der_length", "Int64", "DER size in bytes"),
        Column("parse_error", "string", "why cryptography could not read (part of) it"),
        Column("notes", "object", "caps hit while reading it"),
        Column("sources", "object", "where it was seen: tls, ldap, http, trust"),
        Column("count", "Int64", "sightings"),
        Column("first_frame", "Int64", "first frame it was seen in"),
        Column("last_frame", "Int64", "last frame it was seen in"),
        Column("first_ts", "datetime64[ns, UTC]", "time of the first sighting"),
        Column("last_ts", "datetime64[ns, UTC]", "time of the last sighting"),
        Column("flows", "object", "flows it was seen in"),
        Column(
            "sightings",
            "object",
            "one object per sighting: source, frame, flow, ts, src, dst and the parser's "
            "context (position, role, sni / attribute, dn / url, content_type / path)",
        ),
    ),
    human=(
        "sha256",
        "subject_cn",
        "signature_hash",
        "key_type",
        "key_size",
        "not_after",
        "sources",
    ),
    envelope=False,
)


def frame_of(schema: Schema, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A DataFrame with the schema's dtypes from row dicts whose times are ISO text."""
    data: dict[str, Any] = {}
    for col in schema.all_columns():
        values = [row.get(col.name) for row in rows]
        if col.dtype.startswith("datetime64"):
            unit = "s" if "[s" in col.dtype else "ns"
            parsed = [None if v is None else pd.Timestamp(v) for v in values]
            data[col.name] = pd.Series(
                parsed, dtype=f"datetime64[{unit}, UTC]" if parsed else col.dtype
            )
        elif col.dtype == "object":
            data[col.name] = pd.Series(values, dtype="object")
        else:
            data[col.name] = pd.array(values, dtype=col.dtype)
    return pd.DataFrame(data, columns=[c.name for c in schema.all_columns()])


# ----------------------------------------------------------------- the catalogue
class Catalogue:
    """Every certificate by SHA-256, with its sightings.

    >>> cat = Catalogue()
    >>> entry = cat.add(b"not a certificate", "http", url="http://x/ca.crt")
    >>> len(cat), entry.sources, entry.facts.parse_error is not None
    (1, {'http'}, True)
    """

    def __init__(self) -> None:
        self.entries: dict[str, CatalogueEntry] = {}
        #: Anomalies met while cataloguing (caps, unreadable trust files).
        self.weird: list[Weird] = []
        #: Sightings recorded so far: every change to the catalogue comes with one, so
        #: what is derived from it (:class:`~analyzer.pki.chains.ChainBuilder`'s cached
        #: verdicts) is stale when this has moved.
        self.sightings_recorded = 0
        self._by_subject: dict[str, list[CatalogueEntry]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[CatalogueEntry]:
        return iter(self.entries.values())

    def __contains__(self, sha256: object) -> bool:
        return sha256 in self.entries

    def __getitem__(self, sha256: str) -> CatalogueEntry:
        return self.entries[sha256]

    def add(self, der: bytes, source: str, **context: Any) -> CatalogueEntry | None:
        """Record one sighting of ``der`` (``context`` as ``Sink.certificate`` gets it)."""
        return self.add_sighting({"der": der, "source": source, **context})

    def add_sighting(
        self, entry: Mapping[str, Any], facts: CertificateFacts | None = None
    ) -> CatalogueEntry | None:
        """Record one ``Sink.certificates`` entry; None when the catalogue is full.

        ``facts`` saves parsing again a certificate already loaded elsewhere."""
        der = entry.get("der")
        if not isinstance(der, bytes | bytearray | memoryview):
            self.weird.append(Weird("certificate_without_der", detail=printable(entry, 200)))
            return None
        der = bytes(der)
        sha256 = hashlib.sha256(der).hexdigest()
        found = self.entries.get(sha256)
        if found is None:
            if len(self.entries) >= MAX_CERTIFICATES:
                if len(self.entries) == MAX_CERTIFICATES and not any(
                    w.name == "certificate_catalogue_cap" for w in self.weird
                ):
                    self.weird.append(
                        Weird(
                            "certificate_catalogue_cap",
                            detail=f"more than {MAX_CERTIFICATES} distinct certificates; "
                            "further new ones dropped",
                        )
                    )
                return None
            if facts is None or facts.sha256 != sha256:
                facts = load_certificate(der)
            found = CatalogueEntry(facts)
            self.entries[sha256] = found
            if found.facts.subject_key is not None:
                self._by_subject.setdefault(found.facts.subject_key, []).append(found)
        found.seen(sighting_of(entry))
        self.sightings_recorded += 1
        return found

    def with_subject(self, name_key: str | None) -> list[CatalogueEntry]:
        """Every certificate whose subject (folded) is ``name_key``."""
        if name_key is None:
            return []
        return list(self._by_subject.get(name_key, ()))

    def add_trust(self, path: str | os.PathLike[str]) -> int:
        """Add every certificate in a directory (or one file) of PEM/DER/PKCS#7 files as
        source ``trust``; returns how many were added. Unreadable files leave a weird."""
        root = Path(path)
        if not root.exists():
            raise TrustStoreError(f"trust directory {root} does not exist")
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        if len(files) > MAX_TRUST_FILES:
            self.weird.append(
                Weird(
                    "trust_file_cap",
                    detail=f"{len(files)} files in {root}, first {MAX_TRUST_FILES} read",
                )
            )
            files = files[:MAX_TRUST_FILES]
        added = 0
        for file in files:
            try:
                if file.stat().st_size > MAX_TRUST_FILE_BYTES:
                    raise ValueError(f"larger than {MAX_TRUST_FILE_BYTES} bytes")
                data = file.read_bytes()
            except (OSError, ValueError) as e:
                self.weird.append(Weird("trust_file_unreadable", detail=f"{file}: {_error(e)}"))
                continue
            ders = certificates_in_file(data, file.suffix.lower())
            if not ders:
                self.weird.append(Weird("trust_file_not_certificate", detail=printable(str(file))))
            for i, der in enumerate(ders):
                self.add(der, "trust", path=str(file), position=i)
                added += 1
        return added

    def rows(self) -> list[dict[str, Any]]:
        """JSON-ready rows, in order of first sighting."""
        return [entry.row() for entry in self.entries.values()]

    def table(self) -> pd.DataFrame:
        """The ``certificates`` table."""
        return frame_of(CERTIFICATES_SCHEMA, self.rows())


_PEM = re.compile(
    rb"-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----(.*?)-----END (?:X509 |TRUSTED )?"
    rb"CERTIFICATE-----",
    re.S,
)
_PEM_PKCS7 = re.compile(rb"-----BEGIN PKCS7-----(.*?)-----END PKCS7-----", re.S)
DER_SUFFIXES = (".der", ".cer", ".crt", ".pem", ".cert")


def certificates_in_file(data: bytes, suffix: str = "") -> list[bytes]:
    """The DER certificates in a file's bytes: PEM blocks (CERTIFICATE, TRUSTED
    CERTIFICATE, PKCS7), a DER certificate, or a DER PKCS#7 bundle (.p7b)."""
    from cryptography.hazmat.primitives.serialization import pkcs7

    ders: list[bytes] = []
    if b"-----BEGIN" in data:
        for block in _PEM.findall(data):
            try:
                ders.append(base64.b64decode(b"".join(block.split()), validate=True))
            except ValueError:
                continue
        for block in _PEM_PKCS7.findall(data):
            try:
                raw = base64.b64decode(b"".join(block.split()), validate=True)
                ders.extend(
                    c.public_bytes(serialization.Encoding.DER)
                    for c in pkcs7.load_der_pkcs7_certificates(raw)
                )
            except ValueError:
                continue
        return ders
    if not data.startswith(b"\x30"):
        return []
    try:
        x509.load_der_x509_certificate(data)
        return [data]
    except ValueError:
        pass
    try:
        return [
            c.public_bytes(serialization.Encoding.DER)
            for c in pkcs7.load_der_pkcs7_certificates(data)
        ]
    except ValueError:
        pass
    # A DER file by name that cryptography cannot read is still a certificate the user
    # trusts: keep it (its parse_error will say why).
    return [data] if suffix in DER_SUFFIXES else []


__all__ = [
    "CERTIFICATES_SCHEMA",
    "Catalogue",
    "CatalogueEntry",
    "CertificateFacts",
    "Sighting",
    "TrustStoreError",
    "certificates_in_file",
    "iso_ns",
    "iso_s",
    "load_certificate",
    "name_key",
    "printable",
]

"""Certificate chains: the path from each served leaf to a root, and what is wrong with it.

For every chain a server (or client) sent in a TLS Certificate message, the path is built
from the leaf by issuer name and authority/subject key identifier across *all* sources in
the catalogue: a root downloaded over LDAP or HTTP, or found in the user's trust
directory, completes a chain served over TLS. Each link's signature is verified where
``cryptography`` can (SHA-1 and MD5 signatures included; unsupported algorithms are
recorded, not fatal), validity is checked at the time of the handshake, and the leaf's
name is matched against the SNI and the names the device was given (the SRV target),
per RFC 6125.

>>> dns_name_matches("*.contoso.com", "sip.contoso.com"), dns_name_matches("*.com", "a.com")
(True, False)
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

from analyzer.errors import Weird
from analyzer.pki.catalogue import (
    OID_RSASSA_PSS,
    Catalogue,
    CatalogueEntry,
    CertificateFacts,
    frame_of,
    iso_ns,
    iso_s,
    printable,
)
from analyzer.protocols.base import Column, Schema, epoch_ns

#: Longest path built (leaf included); longer ones are cut with a problem.
MAX_PATH_LENGTH = 10
#: Certificates of one served chain considered.
MAX_SERVED = 50
#: Chains kept; beyond, a weird row.
MAX_CHAINS = 100_000
#: Names checked per chain.
MAX_NAMES = 16

#: Where a root can come from, most telling first: the device downloaded it (LDAP, the
#: Lync certificate provisioning service over HTTP), the user trusts it, or it only
#: came with a TLS chain (which proves nothing about trust).
ROOT_SOURCE_ORDER = ("ldap", "http", "trust", "tls")

#: A per-flow mapping (flow id -> names) or names that apply to every server chain.
ExpectedNames = Mapping[int, Sequence[str]] | Sequence[str] | str | None

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "md5": hashes.MD5,
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha3-224": hashes.SHA3_224,
    "sha3-256": hashes.SHA3_256,
    "sha3-384": hashes.SHA3_384,
    "sha3-512": hashes.SHA3_512,
}


# ----------------------------------------------------------------- served chains
@dataclass(frozen=True)
class ServedChain:
    """The certificates of one TLS Certificate message, in the order sent."""

    certificates: tuple[str, ...]
    flow: int | None = None
    frame: int | None = None
    ts_ns: int | None = None
    #: Who sent the chain and who received it.
    src: str | None = None
    dst: str | None = None
    role: str = "server"
    sni: str | None = None


def served_chains(
    sightings: Iterable[Mapping[str, Any]], fingerprints: Sequence[str | None] | None = None
) -> list[ServedChain]:
    """Group the TLS sightings (``sink.certificates`` entries, in order) into chains.

    Consecutive TLS sightings with the same flow, frame, role and sender form one chain;
    ``position`` 0 (or a position that does not follow) starts a new one. ``fingerprints``
    (one per sighting, None where unknown) saves hashing again DER the catalogue hashed.
    """
    chains: list[ServedChain] = []
    current: list[str] = []
    key: tuple[Any, ...] | None = None
    head: Mapping[str, Any] = {}

    def close() -> None:
        if current:
            chains.append(
                ServedChain(
                    tuple(current[:MAX_SERVED]),
                    flow=_int(head.get("flow")),
                    frame=_int(head.get("frame")),
                    ts_ns=_int(head.get("ts_ns")),
                    src=_str(head.get("src")),
                    dst=_str(head.get("dst")),
                    role=_str(head.get("role")) or "server",
                    sni=_str(head.get("sni")),
                )
            )

    for i, entry in enumerate(sightings):
        if entry.get("source") != "tls":
            continue
        der = entry.get("der")
        if not isinstance(der, bytes | bytearray | memoryview):
            continue
        this = (entry.get("flow"), entry.get("frame"), entry.get("role"), entry.get("src"))
        position = entry.get("position")
        follows = this == key and (not isinstance(position, int) or position == len(current))
        if not follows:
            close()
            current, key, head = [], this, entry
        known = None if fingerprints is None else fingerprints[i]
        current.append(known or hashlib.sha256(bytes(der)).hexdigest())
    close()
    return chains


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return None if value is None else printable(value, 255)


# ----------------------------------------------------------------- signatures
@dataclass(frozen=True)
class SignatureCheck:
    """Whether ``issuer``'s key verifies ``child``'s signature: True, False, or None
    (could not be checked) with the reason."""

    ok: bool | None
    reason: str = ""


def _family(oid: str) -> str | None:
    if oid.startswith("1.2.840.113549.1.1.") or oid == "1.3.14.3.2.29":
        return "rsa"
    if oid.startswith("1.2.840.10045.4.") or oid in {
        "2.16.840.1.101.3.4.3.9",
        "2.16.840.1.101.3.4.3.10",
        "2.16.840.1.101.3.4.3.11",
        "2.16.840.1.101.3.4.3.12",
    }:
        return "ec"
    if oid in {
        "1.2.840.10040.4.3",
        "2.16.840.1.101.3.4.3.1",
        "2.16.840.1.101.3.4.3.2",
        "1.3.14.3.2.27",
    }:
        return "dsa"
    if oid == "1.3.101.112":
        return "ed25519"
    if oid == "1.3.101.113":
        return "ed448"
    if oid.startswith("2.16.840.1.101.3.4.3."):
        return "rsa"  # id-rsassa-pkcs1-v1_5-with-sha3-*
    return None


def verify_signature(child: CertificateFacts, issuer: CertificateFacts) -> SignatureCheck:
    """Verify ``child``'s signature with ``issuer``'s public key.

    Done by hand rather than with ``verify_directly_issued_by``, which refuses SHA-1 and
    MD5 signatures: the very certificates old phones are built around.
    """
    cert, signer = child.cert, issuer.cert
    if cert is None or signer is None:
        return SignatureCheck(None, "a certificate did not parse")
    oid = child.signature_algorithm_oid or ""
    family = _family(oid)
    try:
        key = signer.public_key()
    except Exception as e:
        return SignatureCheck(None, printable(f"issuer key not loadable: {e}", 200))
    key_family = {
        rsa.RSAPublicKey: "rsa",
        ec.EllipticCurvePublicKey: "ec",
        dsa.DSAPublicKey: "dsa",
        ed25519.Ed25519PublicKey: "ed25519",
        ed448.Ed448PublicKey: "ed448",
    }
    have = next((name for cls, name in key_family.items() if isinstance(key, cls)), None)
    if family is None:
        return SignatureCheck(None, f"unsupported signature algorithm {oid}")
    if have != family:
        return SignatureCheck(
            False,
            f"signature algorithm {child.signature_algorithm} needs a {family} key, "
            f"the issuer has {have or 'another kind of'} key",
        )
    try:
        signature, tbs = cert.signature, cert.tbs_certificate_bytes
        if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, tbs)
            return SignatureCheck(True)
        if oid == OID_RSASSA_PSS:
            algorithm = cert.signature_hash_algorithm
            pss = cert.signature_algorithm_parameters
            if (
                algorithm is None
                or not isinstance(pss, padding.PSS)
                or not isinstance(key, rsa.RSAPublicKey)
            ):
                return SignatureCheck(None, "RSASSA-PSS parameters not usable")
            key.verify(signature, tbs, pss, algorithm)
            return SignatureCheck(True)
        hash_class = _HASHES.get(child.signature_hash or "")
        if hash_class is None:
            return SignatureCheck(None, f"unsupported signature hash {child.signature_hash}")
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, tbs, padding.PKCS1v15(), hash_class())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, tbs, ec.ECDSA(hash_class()))
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(signature, tbs, hash_class())
        else:  # pragma: no cover - excluded by the family check
            return SignatureCheck(None, "unsupported key type")
    except InvalidSignature:
        return SignatureCheck(False, "signature does not verify")
    except Exception as e:  # UnsupportedAlgorithm, odd parameters: not checkable
        return SignatureCheck(None, printable(f"{type(e).__name__}: {e}", 200))
    return SignatureCheck(True)


# ----------------------------------------------------------------- names (RFC 6125)
def _dns_label_form(name: str) -> str | None:
    """A DNS name lower-cased, one trailing dot removed, IDNs as A-labels."""
    name = name.strip()
    if name.endswith("."):
        name = name[:-1]
    name = name.lower()
    if not name or len(name) > 253:
        return None
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return name


def dns_name_matches(presented: str, reference: str) -> bool:
    """Does a certificate's DNS name (``presented``) match the name the client wanted?

    RFC 6125 6.4: case-insensitive, a trailing dot ignored; a wildcard only as the whole
    left-most label (``*.example.com``), matching exactly one non-empty label, and not
    above a registered-domain-like suffix (``*.com`` matches nothing). Partial-label
    wildcards (``f*.example.com``), which RFC 6125 lets clients refuse, are refused.

    >>> dns_name_matches("*.contoso.com", "a.b.contoso.com")
    False
    """
    p, r = _dns_label_form(presented), _dns_label_form(reference)
    if p is None or r is None:
        return False
    if "*" not in p:
        return p == r
    p_labels, r_labels = p.split("."), r.split(".")
    if p_labels[0] != "*" or "*" in ".".join(p_labels[1:]):
        return False
    if len(p_labels) < 3 or len(r_labels) != len(p_labels):
        return False
    return bool(r_labels[0]) and r_labels[1:] == p_labels[1:]


def certificate_matches_name(facts: CertificateFacts, reference: str) -> bool:
    """RFC 6125 matching of a reference identity (a DNS name or an IP address) against a
    certificate: SAN dNSName (or iPAddress for an IP), the subject CN only when the
    certificate has no SAN entry of that kind."""
    try:
        ip = ipaddress.ip_address(reference.strip())
    except ValueError:
        ip = None
    if ip is not None:
        if facts.san_ip:
            return any(_same_ip(ip, s) for s in facts.san_ip)
        return facts.subject_cn is not None and _same_ip(ip, facts.subject_cn)
    if facts.san_dns:
        return any(dns_name_matches(name, reference) for name in facts.san_dns)
    return facts.subject_cn is not None and dns_name_matches(facts.subject_cn, reference)


def _same_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, text: str) -> bool:
    try:
        return ipaddress.ip_address(text.strip()) == ip
    except ValueError:
        return False


# ----------------------------------------------------------------- path building
@dataclass
class ChainResult:
    """One served chain, the path built from its leaf, and the checks."""

    served: ServedChain
    leaf_sha256: str
    path: list[str]
    complete: bool
    root_sha256: str | None
    root_source: str | None
    signatures_ok: bool | None
    valid_at_capture_time: bool | None
    name_ok: bool | None
    names_checked: list[str]
    problems: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    leaf_subject: str | None = None
    root_subject: str | None = None

    def problem(self, code: str, detail: str) -> None:
        if code not in self.problems:
            self.problems.append(code)
        self.details.append(detail)

    def row(self) -> dict[str, Any]:
        s = self.served
        return {
            "ts": None if s.ts_ns is None else iso_ns(s.ts_ns),
            "frame": s.frame,
            "flow": s.flow,
            "sender": s.src,
            "receiver": s.dst,
            "role": s.role,
            "sni": s.sni,
            "names_checked": list(self.names_checked),
            "leaf_sha256": self.leaf_sha256,
            "leaf_subject": self.leaf_subject,
            "served": list(s.certificates),
            "path": list(self.path),
            "complete": self.complete,
            "root_sha256": self.root_sha256,
            "root_subject": self.root_subject,
            "root_source": self.root_source,
            "signatures_ok": self.signatures_ok,
            "valid_at_capture_time": self.valid_at_capture_time,
            "name_ok": self.name_ok,
            "problems": list(self.problems),
            "details": list(self.details),
        }


CHAINS_SCHEMA = Schema(
    "chains",
    "One row per certificate chain served in a TLS Certificate message: the path built "
    "from its leaf across every source, and the signature, validity and name checks.",
    (
        Column("ts", "datetime64[ns, UTC]", "time of the Certificate message"),
        Column("frame", "Int64", "frame that completed the Certificate message"),
        Column("flow", "Int64", "flow id (see the conversations table)"),
        Column("sender", "string", "address that sent the chain"),
        Column("receiver", "string", "address it was sent to"),
        Column("role", "category", "server or client chain"),
        Column("sni", "string", "server name the client asked for (ClientHello SNI)"),
        Column("names_checked", "object", "names the leaf was matched against (SNI, SRV)"),
        Column("leaf_sha256", "string", "the end-entity certificate"),
        Column("leaf_subject", "string", "its subject"),
        Column("served", "object", "SHA-256 of each certificate, in the order sent"),
        Column("path", "object", "SHA-256 from the leaf up, as built across all sources"),
        Column("complete", "boolean", "the path ends in a self-signed root"),
        Column("root_sha256", "string", "that root"),
        Column("root_subject", "string", "its subject"),
        Column(
            "root_source",
            "category",
            "where the root was found: ldap, http (downloaded), trust (--trust), "
            "tls (only with a chain)",
        ),
        Column(
            "signatures_ok",
            "boolean",
            "every signature on the path verified (NA: some could not be checked, none failed)",
        ),
        Column("valid_at_capture_time", "boolean", "every path certificate valid at ts"),
        Column("name_ok", "boolean", "the leaf matches every name checked (NA: no name)"),
        Column(
            "problems",
            "object",
            "codes: out_of_order, duplicate_certificates, unused_certificates, "
            "issuer_not_found, missing_intermediate, root_only_in_chain, bad_signature, "
            "signature_unchecked, issuer_not_ca, expired, not_yet_valid, name_mismatch, "
            "unparsed_certificate, path_too_long",
        ),
        Column("details", "object", "one sentence per problem"),
    ),
    human=(
        "frame",
        "flow",
        "sender",
        "sni",
        "leaf_subject",
        "complete",
        "root_source",
        "signatures_ok",
        "valid_at_capture_time",
        "name_ok",
        "problems",
    ),
    envelope=False,
)


@dataclass(frozen=True)
class _Verdict:
    """What :meth:`ChainBuilder.build` finds for one served certificate list, apart from
    the connection: the path and every check. Validity problems name the handshake time,
    so each chain words its own; the other problems are kept in the order found, split
    around them, so that a chain built from a shared verdict reads as if built alone."""

    leaf: CatalogueEntry
    path: tuple[CatalogueEntry, ...]
    complete: bool
    root_source: str | None
    signatures_ok: bool | None
    valid_at_capture_time: bool | None
    name_ok: bool | None
    before_validity: tuple[tuple[str, str], ...]
    after_validity: tuple[tuple[str, str], ...]


class ChainBuilder:
    """Builds and checks paths over one catalogue, caching signature checks and verdicts.

    A capture's thousands of handshakes mostly serve the same few chains to clients that
    want the same names, so a verdict is built once per distinct case: the certificates
    sent, the names checked and which catalogue certificates are valid at the handshake
    (all that its time decides, path building included, but the wording of validity
    problems). The catalogue may change between calls; the verdicts made before are then
    dropped.
    """

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._signatures: dict[tuple[str, str], SignatureCheck] = {}
        self._verdicts: dict[tuple[Any, ...], _Verdict] = {}
        #: Catalogue.sightings_recorded when the verdicts and validity bounds were made.
        self._catalogue_state = -1
        #: notBefore and notAfter of every catalogue certificate that has both, sorted.
        self._not_before: list[dt.datetime] = []
        self._not_after: list[dt.datetime] = []

    def signature(self, child: CatalogueEntry, issuer: CatalogueEntry) -> SignatureCheck:
        key = (child.sha256, issuer.sha256)
        found = self._signatures.get(key)
        if found is None:
            found = verify_signature(child.facts, issuer.facts)
            self._signatures[key] = found
        return found

    def issuers(self, child: CatalogueEntry) -> list[CatalogueEntry]:
        """Catalogue certificates whose subject is ``child``'s issuer and whose key id
        does not contradict ``child``'s AKI."""
        aki = child.facts.aki
        return [
            e
            for e in self.catalogue.with_subject(child.facts.issuer_key)
            if aki is None or e.facts.ski is None or e.facts.ski == aki
        ]

    def build(self, served: ServedChain, names: Sequence[str] = ()) -> ChainResult:
        """The path from ``served``'s leaf and every check on it."""
        if self.catalogue.sightings_recorded != self._catalogue_state:
            self._reread_catalogue()
        when = _when(served.ts_ns)
        wanted = _names_to_check(served, names)
        key = (served.certificates, self._validity_epoch(when), wanted)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._verdict(served.certificates, when, wanted)
            self._verdicts[key] = verdict
        path, leaf, complete = verdict.path, verdict.leaf, verdict.complete
        validity_problems: list[tuple[str, str]] = []
        if verdict.valid_at_capture_time is False:  # worded with this handshake's time
            self._check_validity(path, when, validity_problems)
        result = ChainResult(
            served=served,
            leaf_sha256=leaf.sha256,
            path=[e.sha256 for e in path],
            complete=complete,
            root_sha256=path[-1].sha256 if complete else None,
            root_source=verdict.root_source,
            signatures_ok=verdict.signatures_ok,
            valid_at_capture_time=verdict.valid_at_capture_time,
            name_ok=verdict.name_ok,
            names_checked=list(wanted),
            leaf_subject=leaf.facts.subject,
            root_subject=path[-1].facts.subject if complete else None,
        )
        for code, detail in (*verdict.before_validity, *validity_problems, *verdict.after_validity):
            result.problem(code, detail)
        return result

    def _reread_catalogue(self) -> None:
        """Drop the verdicts made on an older catalogue and take its validity bounds."""
        self._verdicts.clear()
        self._catalogue_state = self.catalogue.sightings_recorded
        dated = [
            (f.not_before, f.not_after)
            for f in (e.facts for e in self.catalogue)
            if f.not_before is not None and f.not_after is not None
        ]
        self._not_before = sorted(start for start, _ in dated)
        self._not_after = sorted(end for _, end in dated)

    def _validity_epoch(self, when: dt.datetime | None) -> tuple[int, int] | None:
        """Which catalogue certificates are valid at ``when``, told by how many notBefore
        times are at or before it and how many notAfter times before it: two handshakes
        with the same counts find each certificate equally (in)valid (:func:`_valid_at`)."""
        if when is None:
            return None
        return bisect.bisect_right(self._not_before, when), bisect.bisect_left(
            self._not_after, when
        )

    def _verdict(
        self, certificates: Sequence[str], when: dt.datetime | None, wanted: Sequence[str]
    ) -> _Verdict:
        cat = self.catalogue
        entries = [cat[s] for s in certificates if s in cat]
        unique: list[CatalogueEntry] = []
        for e in entries:
            if e not in unique:
                unique.append(e)
        problems: list[tuple[str, str]] = []
        if len(unique) < len(entries):
            problems.append(
                ("duplicate_certificates", "the chain sends the same certificate twice")
            )
        leaf = self._leaf(unique, problems)
        path, links, complete, root_check = self._path(leaf, unique, when, problems)
        root_source = _root_source(path[-1]) if complete else None
        if complete and root_source == "tls":
            problems.append(
                (
                    "root_only_in_chain",
                    f"the root {path[-1].facts.label} came only with a TLS chain, not from "
                    "LDAP, HTTP or the trust dir: the device trusts it only if its store "
                    "already has it",
                )
            )
        self._check_order(problems, unique, path)
        self._check_intermediates(problems, unique, path, complete)
        signatures_ok = self._check_signatures(problems, path, links, root_check)
        valid = self._check_validity(path, when, [])
        after: list[tuple[str, str]] = []
        name_ok = self._check_names(after, leaf, wanted)
        for e in path:
            if e.facts.cert is None:
                after.append(
                    (
                        "unparsed_certificate",
                        f"{e.facts.label} could not be parsed: {e.facts.parse_error}",
                    )
                )
        return _Verdict(
            leaf=leaf,
            path=tuple(path),
            complete=complete,
            root_source=root_source,
            signatures_ok=signatures_ok,
            valid_at_capture_time=valid,
            name_ok=name_ok,
            before_validity=tuple(problems),
            after_validity=tuple(after),
        )

    def _leaf(
        self, unique: list[CatalogueEntry], problems: list[tuple[str, str]]
    ) -> CatalogueEntry:
        """The served certificate that issues no other served one; normally the first."""
        first = unique[0]
        issuers_of_others = {
            i.sha256 for e in unique for i in self.issuers(e) if i.sha256 != e.sha256
        }
        bottoms = [e for e in unique if e.sha256 not in issuers_of_others]
        if not bottoms or first in bottoms:
            return first
        leaf = bottoms[0]
        problems.append(
            (
                "out_of_order",
                f"the leaf {leaf.facts.label} is sent at position {unique.index(leaf)}, not first",
            )
        )
        return leaf

    def _path(
        self,
        leaf: CatalogueEntry,
        served: list[CatalogueEntry],
        when: dt.datetime | None,
        problems: list[tuple[str, str]],
    ) -> tuple[list[CatalogueEntry], list[SignatureCheck], bool, SignatureCheck | None]:
        path = [leaf]
        links: list[SignatureCheck] = []
        while True:
            current = path[-1]
            if current.facts.is_self_signed:
                return path, links, True, self.signature(current, current)
            if len(path) >= MAX_PATH_LENGTH:
                problems.append(("path_too_long", f"path cut at {MAX_PATH_LENGTH} certificates"))
                return path, links, False, None
            candidates = [e for e in self.issuers(current) if e not in path]
            if not candidates:
                problems.append(self._missing(current, leaf, served, path))
                return path, links, False, None
            best = min(
                candidates,
                key=lambda e: (
                    _rank_signature(self.signature(current, e)),
                    0 if e in served else 1,
                    _source_rank(e),
                    0 if _valid_at(e.facts, when) is not False else 1,
                    e.sha256,
                ),
            )
            links.append(self.signature(current, best))
            path.append(best)

    def _missing(
        self,
        current: CatalogueEntry,
        leaf: CatalogueEntry,
        served: list[CatalogueEntry],
        path: list[CatalogueEntry],
    ) -> tuple[str, str]:
        issuer = current.facts.issuer or "(unreadable issuer)"
        unused = [e for e in served if e not in path]
        if current is leaf and (len(served) > 1 or unused):
            return (
                "missing_intermediate",
                f"the issuer '{issuer}' of the leaf {leaf.facts.label} is not in the chain "
                "nor anywhere else in the capture or the trust dir: the server sent other "
                "certificates but not this intermediate",
            )
        return (
            "issuer_not_found",
            f"the issuer '{issuer}' of {current.facts.label} is neither in the capture nor "
            "in the trust dir (a root the device must already hold, or an intermediate "
            "the server did not send)",
        )

    @staticmethod
    def _check_order(
        problems: list[tuple[str, str]], served: list[CatalogueEntry], path: list[CatalogueEntry]
    ) -> None:
        on_path = [e for e in served if e in path]
        if on_path != path[: len(on_path)] and all(c != "out_of_order" for c, _ in problems):
            problems.append(
                (
                    "out_of_order",
                    "the chain is not sent leaf first with each certificate followed by its issuer",
                )
            )
        unused = [e for e in served if e not in path]
        if unused:
            problems.append(
                (
                    "unused_certificates",
                    "sent but not on the path: " + ", ".join(e.facts.label for e in unused),
                )
            )

    @staticmethod
    def _check_intermediates(
        problems: list[tuple[str, str]],
        served: list[CatalogueEntry],
        path: list[CatalogueEntry],
        complete: bool,
    ) -> None:
        """An intermediate the server did not send, found only in another TLS chain: a
        device that does not cache intermediates cannot build this path."""
        middle = path[1:-1] if complete else path[1:]
        for e in middle:
            if e not in served and not e.sources & {"ldap", "http", "trust"}:
                problems.append(
                    (
                        "missing_intermediate",
                        f"the server did not send the intermediate {e.facts.label}; it was "
                        "found only in another TLS chain of the capture",
                    )
                )

    @staticmethod
    def _check_signatures(
        problems: list[tuple[str, str]],
        path: list[CatalogueEntry],
        links: list[SignatureCheck],
        root_check: SignatureCheck | None,
    ) -> bool | None:
        """Every signature on the path verified (None: some could not be checked)."""
        checks = [(path[i], path[i + 1], c) for i, c in enumerate(links)]
        if root_check is not None:
            checks.append((path[-1], path[-1], root_check))
        verdicts: list[bool | None] = []
        for child, issuer, check in checks:
            verdicts.append(check.ok)
            what = (
                f"the self-signature of {child.facts.label}"
                if child is issuer
                else f"the signature of {issuer.facts.label} on {child.facts.label}"
            )
            if check.ok is False:
                problems.append(("bad_signature", f"{what} does not verify ({check.reason})"))
            elif check.ok is None:
                problems.append(
                    ("signature_unchecked", f"{what} could not be checked ({check.reason})")
                )
            if child is not issuer and issuer.facts.is_ca is False:
                problems.append(
                    (
                        "issuer_not_ca",
                        f"{issuer.facts.label} issued {child.facts.label} but is not a CA "
                        "(basicConstraints cA false)",
                    )
                )
        if not verdicts:
            return None
        if any(v is False for v in verdicts):
            return False
        if all(v is True for v in verdicts):
            return True
        return None

    @staticmethod
    def _check_validity(
        path: Sequence[CatalogueEntry], when: dt.datetime | None, problems: list[tuple[str, str]]
    ) -> bool | None:
        """Every path certificate valid at the handshake (None: some validity unknown)."""
        if when is None:
            return None
        verdicts = []
        for e in path:
            valid = _valid_at(e.facts, when)
            verdicts.append(valid)
            if valid is False:
                f = e.facts
                assert f.not_before is not None and f.not_after is not None
                if when > f.not_after:
                    problems.append(
                        (
                            "expired",
                            f"{f.label} expired {iso_s(f.not_after)}, before the handshake "
                            f"({iso_s(when)})",
                        )
                    )
                else:
                    problems.append(
                        (
                            "not_yet_valid",
                            f"{f.label} is valid only from {iso_s(f.not_before)}, after the "
                            f"handshake ({iso_s(when)})",
                        )
                    )
        if any(v is False for v in verdicts):
            return False
        if all(v is True for v in verdicts):
            return True
        return None

    @staticmethod
    def _check_names(
        problems: list[tuple[str, str]], leaf: CatalogueEntry, wanted: Sequence[str]
    ) -> bool | None:
        """The leaf matches every wanted name (None: no name, or the leaf did not parse)."""
        if not wanted or leaf.facts.cert is None:
            return None
        bad = [n for n in wanted if not certificate_matches_name(leaf.facts, n)]
        if bad:
            f = leaf.facts
            presented = list(f.san_dns) or ([f.subject_cn] if f.subject_cn else [])
            problems.append(
                (
                    "name_mismatch",
                    f"the leaf names {', '.join(presented[:8]) or 'nothing'}; not "
                    + ", ".join(printable(n, 255) for n in bad),
                )
            )
        return not bad


def _names_to_check(served: ServedChain, names: Sequence[str]) -> tuple[str, ...]:
    """The names a server chain's leaf is matched against: its SNI, then ``names``."""
    wanted: list[str] = []
    if served.role == "server":
        for name in [served.sni, *names]:
            if name and name not in wanted and len(wanted) < MAX_NAMES:
                wanted.append(name)
    return tuple(wanted)


def _rank_signature(check: SignatureCheck) -> int:
    return {True: 0, None: 1, False: 2}[check.ok]


def _source_rank(entry: CatalogueEntry) -> int:
    ranks = [ROOT_SOURCE_ORDER.index(s) for s in entry.sources if s in ROOT_SOURCE_ORDER]
    return min(ranks, default=len(ROOT_SOURCE_ORDER))


def _root_source(root: CatalogueEntry) -> str | None:
    for source in ROOT_SOURCE_ORDER:
        if source in root.sources:
            return source
    return next(iter(sorted(root.sources)), None)


def _when(ts_ns: int | None) -> dt.datetime | None:
    """A handshake time (epoch ns) as the UTC datetime certificates are judged at."""
    return None if ts_ns is None else dt.datetime.fromtimestamp(ts_ns / 1e9, dt.timezone.utc)


def _valid_at(facts: CertificateFacts, when: dt.datetime | None) -> bool | None:
    if when is None or facts.not_before is None or facts.not_after is None:
        return None
    return facts.not_before <= when <= facts.not_after


def names_for(chain: ServedChain, expected: ExpectedNames) -> list[str]:
    """The names a chain's leaf must match besides its SNI."""
    if expected is None:
        return []
    if isinstance(expected, str):
        return [expected]
    if isinstance(expected, Mapping):
        if chain.flow is None:
            return []
        return [str(n) for n in expected.get(chain.flow, ())]
    return [str(n) for n in expected]


class DnsNames:
    """The name a client was given for a server, read from the ``dns`` table: the latest
    SRV target (before the handshake) that resolves to the server's address in answers
    sent to that client, else the latest A/AAAA name the client resolved to it.

    This is what the phone checks the certificate against (DOMAIN.md: SRV
    ``_sipinternaltls._tcp``, then A records ``sipinternal``, ``sip``, ...).
    """

    def __init__(self, dns: pd.DataFrame | None) -> None:
        self.addresses: dict[str, set[str]] = {}
        # Client -> the distinct answers it was given, each with the times it was given
        # them: so each chain scans only its own client's answers, and a repeated answer
        # costs a time and no object (the table has a row per DNS message).
        self._given: dict[str, list[_Answer]] = {}
        self._timelines: dict[tuple[str, str, str], _Timeline] = {}  # see _timeline
        wanted = {"ts", "dst", "qname", "qtype", "response", "answers"}
        if dns is None or dns.empty or not wanted <= set(dns.columns):
            return
        # Whole columns rather than row dicts.
        answered = dns["response"].fillna(False).astype(bool).to_numpy() & _text_in(
            dns["qtype"], ("SRV", "A", "AAAA")
        )
        rows = np.flatnonzero(answered)
        given: defaultdict[str, list[_Answer]] = defaultdict(list)
        # Most responses repeat the last answer to the same question, so each distinct
        # answer list is read once per name: what a row adds depends only on its name and
        # its answers (compared with ``==``), besides its time and client.
        last: dict[str | None, _Answer] = {}
        for ts_ns, client, qname, answers in zip(
            epoch_ns(dns["ts"].iloc[rows]),
            dns["dst"].iloc[rows].tolist(),
            dns["qname"].iloc[rows].tolist(),
            dns["answers"].iloc[rows].tolist(),
            strict=True,
        ):
            if ts_ns is None or not isinstance(client, str) or not isinstance(answers, list):
                continue
            if not answers:  # adds nothing; skipped rather than displace the last answer
                continue
            question = qname if isinstance(qname, str) else None
            seen = last.get(question)
            if seen is None or seen.answers != answers:
                seen = last[question] = self._read(question, answers)
            times = seen.times.get(client)
            if times is None:
                times = seen.times[client] = []
                given[client].append(seen)
            times.append(ts_ns)
        self._given = dict(given)

    def _read(self, qname: str | None, answers: list[Any]) -> _Answer:
        """Record the addresses of every name in ``answers`` (to the question ``qname``)
        and return what the answers give a client."""
        ips: set[str] = set()
        targets: list[str] = []
        for answer in answers:
            if not isinstance(answer, Mapping):
                continue
            kind, owner, data = answer.get("type"), answer.get("name"), answer.get("data")
            if not isinstance(data, str) or not isinstance(owner, str):
                continue
            if kind in ("A", "AAAA"):
                ips.add(data)
                self.addresses.setdefault(_fold(owner), set()).add(data)
            elif kind == "SRV":
                parts = data.split()
                if len(parts) == 4:
                    targets.append(_fold(parts[3]))
        if not ips or qname is None:
            return _Answer(answers, tuple(targets), "", frozenset())
        self.addresses.setdefault(_fold(qname), set()).update(ips)
        return _Answer(answers, tuple(targets), _fold(qname), frozenset(ips))

    def for_chain(self, chain: ServedChain) -> list[str]:
        server, client, ts = chain.src, chain.dst, chain.ts_ns
        if server is None or client is None or ts is None or chain.role != "server":
            return []
        for source in ("srv", "lookups"):
            times, names = self._timeline(source, client, server)
            before = bisect.bisect_right(times, ts)
            if before:
                return [names[before - 1]]
        return []

    def _timeline(self, source: str, client: str, server: str) -> _Timeline:
        """The SRV targets given to ``client`` that resolve to ``server`` (``source``
        "srv") or the names ``client`` resolved to ``server`` ("lookups"), sorted by (time,
        name): the last one up to a handshake is the latest (ties: the greatest name).
        Made once per pair: a capture has thousands of handshakes but few such pairs."""
        key = (source, client, server)
        found = self._timelines.get(key)
        if found is None:
            given = self._given.get(client, ())
            if source == "srv":
                events = [
                    (t, target)
                    for answer in given
                    for target in answer.targets
                    if server in self.addresses.get(target, ())
                    for t in answer.times[client]
                ]
            else:
                events = [
                    (t, answer.name)
                    for answer in given
                    if server in answer.resolved
                    for t in answer.times[client]
                ]
            events.sort()
            found = self._timelines[key] = ([t for t, _ in events], [name for _, name in events])
        return found


@dataclass
class _Answer:
    """One distinct answer list to a question, what it gives a client, and when each
    client was given it."""

    answers: list[Any]
    #: SRV targets, folded.
    targets: tuple[str, ...]
    #: The question's name, folded, and the addresses it resolved to (none when there is
    #: no address or no question).
    name: str
    resolved: frozenset[str]
    #: Client -> the times (epoch ns) it was given these answers.
    times: dict[str, list[int]] = field(default_factory=dict)


#: Times (sorted) and the name at each.
_Timeline = tuple[list[int], list[str]]


def _text_in(column: pd.Series, values: Sequence[str]) -> npt.NDArray[np.bool_]:
    """``column.astype("string").isin(values)`` as a numpy mask; for a categorical column
    (the DNS ``qtype``) only its categories are converted."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        per_category = column.cat.categories.astype("string").isin(values)
        # Code -1 (missing) picks the False appended last.
        mask = np.append(per_category, False)[column.cat.codes.to_numpy()]
    else:
        mask = column.astype("string").isin(values).to_numpy(dtype=bool, na_value=False)
    return np.asarray(mask, dtype=np.bool_)


def _fold(name: str) -> str:
    return name.rstrip(".").lower()


def build_chains(
    catalogue: Catalogue,
    served: Iterable[ServedChain],
    expected_names: ExpectedNames = None,
    weird: list[Weird] | None = None,
    dns: pd.DataFrame | None = None,
) -> list[ChainResult]:
    """Build and check every served chain (certificates missing from the catalogue, e.g.
    beyond its cap, are skipped). Without ``expected_names`` the names come from ``dns``
    (see :class:`DnsNames`)."""
    builder = ChainBuilder(catalogue)
    from_dns = DnsNames(dns) if expected_names is None else None
    results: list[ChainResult] = []
    for chain in served:
        if not any(s in catalogue for s in chain.certificates):
            continue
        if len(results) >= MAX_CHAINS:
            if weird is not None:
                weird.append(
                    Weird("chain_cap", detail=f"more than {MAX_CHAINS} chains; rest dropped")
                )
            break
        names = (
            from_dns.for_chain(chain) if from_dns is not None else names_for(chain, expected_names)
        )
        results.append(builder.build(chain, names))
    return results


def chains_table(results: Sequence[ChainResult]) -> pd.DataFrame:
    """The ``chains`` table."""
    return frame_of(CHAINS_SCHEMA, [r.row() for r in results])

"""Device profiles: what a phone's TLS stack can process, each limit with how sure we are.

A profile is data (TOML, built-ins in ``analyzer/pki/profiles/``; users pass their own
with ``--profile path.toml``). Every limit is its own section with a ``confidence`` and a
``source``, so a finding can say which limit it rests on and how well that limit is
known: "signature hash" and "key size" stay separate checks (DOMAIN.md: the RSA-4096
limit is only ever reported together with SHA-256).

Sections (all optional except the header keys ``name`` and ``title``):

========================  ==========================  ====================================
section                   value key                   checked against
========================  ==========================  ====================================
``signature_hash``        ``accepted`` (names)        each certificate's signature hash
``rsa_key_size_max``      ``bits``                    RSA key sizes above it
``rsa_key_size_min``      ``bits``                    RSA key sizes below it
``key_type``              ``accepted`` (rsa, ec, ...) the public key algorithm
``ec_curve``              ``accepted`` (curve names)  EC keys' curves
``tls_versions``          ``supported``               (handshake analysis) versions offered
``cipher_suites``         ``supported`` (integers)    (handshake analysis) suites offered
``trust_store``           ``notes``                   (text only)
========================  ==========================  ====================================

Each section also takes ``confidence`` (one of :data:`CONFIDENCE`), ``source`` (where the
claim comes from) and optional ``notes``; certificate sections take ``roots`` (default
true: also judge self-signed roots).

>>> profile = load_profile("ocs2007r2-ce6")
>>> profile.limits["signature_hash"].values, profile.limits["rsa_key_size_max"].bits
(('md5', 'sha1'), 2048)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeGuard

import pandas as pd

from analyzer.errors import AnalyzerError
from analyzer.pki.catalogue import Catalogue, CatalogueEntry, CertificateFacts, frame_of, iso_ns
from analyzer.pki.chains import ChainResult
from analyzer.protocols.base import Column, Schema

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: How well a limit is known, best first.
CONFIDENCE = (
    "documented",
    "vendor_statement",
    "field_reports",
    "mixed",
    "unconfirmed",
    "assumed",
)
#: The sections a profile may have and the key that holds each one's value.
SECTIONS: dict[str, str] = {
    "signature_hash": "accepted",
    "rsa_key_size_max": "bits",
    "rsa_key_size_min": "bits",
    "key_type": "accepted",
    "ec_curve": "accepted",
    "tls_versions": "supported",
    "cipher_suites": "supported",
    "trust_store": "notes",
}
CERTIFICATE_SECTIONS = (
    "signature_hash",
    "rsa_key_size_max",
    "rsa_key_size_min",
    "key_type",
    "ec_curve",
)
TLS_VERSION_NAMES = ("SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3")
HEADER_KEYS = {"name", "title", "description", "devices"}
#: Roles of a certificate in what the device processes, most specific first.
ROLES = ("leaf", "intermediate", "root", "extra", "downloaded")


class ProfileError(AnalyzerError):
    """A profile name that is not built in, or a profile file that is not valid."""


@dataclass(frozen=True)
class Limit:
    """One limit of a device: its value(s), how sure we are, and where it comes from."""

    section: str
    confidence: str
    source: str
    values: tuple[str, ...] = ()
    codes: tuple[int, ...] = ()
    bits: int | None = None
    notes: str = ""
    roots: bool = True

    @property
    def check(self) -> str:
        """The finding's ``check`` name (min and max key size are one check)."""
        return "rsa_key_size" if self.section.startswith("rsa_key_size") else self.section


@dataclass(frozen=True)
class Profile:
    """A device's limits (see the module docstring for the sections)."""

    name: str
    title: str
    description: str = ""
    devices: tuple[str, ...] = ()
    limits: Mapping[str, Limit] = field(default_factory=dict)
    path: str | None = None

    def supports_tls_version(self, version: str) -> bool | None:
        """Whether the device speaks ``version`` ("TLS 1.0"); None if the profile is silent."""
        limit = self.limits.get("tls_versions")
        return None if limit is None else version in limit.values

    def supports_cipher_suite(self, code: int) -> bool | None:
        """Whether the device offers cipher suite ``code``; None if the profile is silent."""
        limit = self.limits.get("cipher_suites")
        return None if limit is None else code in limit.codes

    def violations(
        self, facts: CertificateFacts, *, is_root: bool = False
    ) -> list[tuple[Limit, str, str]]:
        """The limits ``facts`` breaks, as (limit, value found, the limit as text)."""
        out: list[tuple[Limit, str, str]] = []
        if facts.cert is None and facts.signature_hash is None and facts.key_type is None:
            return out  # nothing known to judge
        for section in CERTIFICATE_SECTIONS:
            limit = self.limits.get(section)
            if limit is None or (is_root and not limit.roots):
                continue
            found = _violation(limit, facts)
            if found is not None:
                out.append((limit, *found))
        return out


def _violation(limit: Limit, f: CertificateFacts) -> tuple[str, str] | None:
    """(value found, limit as text) when ``f`` breaks ``limit``, else None."""
    accepted = ", ".join(limit.values)
    section, bits = limit.section, limit.bits
    rsa_size = f.key_size if f.key_type == "rsa" else None
    if section == "signature_hash":
        if f.signature_algorithm is not None and f.signature_hash not in limit.values:
            value = f.signature_hash or f"unknown hash ({f.signature_algorithm})"
            return value, f"accepted: {accepted}"
    elif section == "rsa_key_size_max":
        if rsa_size is not None and bits is not None and rsa_size > bits:
            return f"{rsa_size} bits", f"at most {bits} bits"
    elif section == "rsa_key_size_min":
        if rsa_size is not None and bits is not None and rsa_size < bits:
            return f"{rsa_size} bits", f"at least {bits} bits"
    elif section == "key_type":
        if f.key_type is not None and f.key_type not in limit.values:
            return f.key_type, f"accepted: {accepted}"
    elif section == "ec_curve":
        curve = f.key_curve if f.key_type == "ec" else None
        if curve is not None and curve not in limit.values:
            return curve, f"accepted: {accepted}"
    return None


# ----------------------------------------------------------------- loading
def builtin_profiles() -> list[str]:
    """Names of the profiles shipped with the analyzer."""
    folder = resources.files("analyzer.pki").joinpath("profiles")
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_profile(spec: str | os.PathLike[str]) -> Profile:
    """A built-in profile by name, or a profile from a TOML file path."""
    text_spec = os.fspath(spec)
    path = Path(text_spec)
    if text_spec.endswith(".toml") or path.is_file():
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ProfileError(f"cannot read profile {text_spec}: {e.strerror or e}") from e
        return parse_profile(data, origin=text_spec)
    if text_spec in builtin_profiles():
        resource = (
            resources.files("analyzer.pki").joinpath("profiles").joinpath(f"{text_spec}.toml")
        )
        return parse_profile(resource.read_bytes(), origin=f"built-in {text_spec}", path=None)
    raise ProfileError(
        f"unknown profile {text_spec!r}: built-in profiles are "
        + ", ".join(builtin_profiles())
        + "; or pass a .toml file"
    )


def load_profiles(spec: str | os.PathLike[str] | Profile | Iterable[Any] | None) -> list[Profile]:
    """Profiles from a name, a path, a :class:`Profile`, a list of those, or None (every
    built-in profile)."""
    if spec is None:
        return [load_profile(name) for name in builtin_profiles()]
    if isinstance(spec, Profile):
        return [spec]
    if isinstance(spec, str | os.PathLike):
        return [load_profile(spec)]
    out: list[Profile] = []
    for item in spec:
        out.extend(load_profiles(item))
    return out


def parse_profile(data: bytes, origin: str = "profile", path: str | None = "") -> Profile:
    """A :class:`Profile` from TOML bytes; :class:`ProfileError` says what is wrong."""
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ProfileError(f"{origin}: not valid TOML: {e}") from e
    unknown = set(doc) - HEADER_KEYS - set(SECTIONS)
    if unknown:
        raise ProfileError(
            f"{origin}: unknown keys {', '.join(sorted(unknown))}; sections are "
            + ", ".join(SECTIONS)
        )
    name, title = doc.get("name"), doc.get("title")
    if not isinstance(name, str) or not name or not isinstance(title, str):
        raise ProfileError(f"{origin}: 'name' and 'title' (strings) are required")
    devices = doc.get("devices", [])
    if not _strings(devices):
        raise ProfileError(f"{origin}: 'devices' must be a list of strings")
    limits = {
        section: _limit(section, doc[section], origin) for section in SECTIONS if section in doc
    }
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise ProfileError(f"{origin}: 'description' must be a string")
    return Profile(
        name=name,
        title=title,
        description=description.strip(),
        devices=tuple(devices),
        limits=limits,
        path=origin if path == "" else path,
    )


def _strings(value: Any) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _limit(section: str, table: Any, origin: str) -> Limit:
    where = f"{origin}: [{section}]"
    if not isinstance(table, dict):
        raise ProfileError(f"{where} must be a table")
    key = SECTIONS[section]
    allowed = {key, "confidence", "source", "notes", "roots"}
    unknown = set(table) - allowed
    if unknown:
        raise ProfileError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    confidence, source = table.get("confidence"), table.get("source")
    if confidence not in CONFIDENCE:
        raise ProfileError(f"{where}: confidence must be one of {', '.join(CONFIDENCE)}")
    if not isinstance(source, str) or not source.strip():
        raise ProfileError(f"{where}: 'source' (where the limit comes from) is required")
    notes = table.get("notes", "")
    roots = table.get("roots", True)
    if not isinstance(notes, str) or not isinstance(roots, bool):
        raise ProfileError(f"{where}: 'notes' must be a string and 'roots' a boolean")
    value = table.get(key)
    common: dict[str, Any] = {
        "section": section,
        "confidence": confidence,
        "source": " ".join(source.split()),
        "notes": " ".join(notes.split()),
        "roots": roots,
    }
    if key == "bits":
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ProfileError(f"{where}: 'bits' must be a positive integer")
        return Limit(**common, bits=value)
    if key == "notes":
        if value is None:
            raise ProfileError(f"{where}: 'notes' is required")
        return Limit(**common)
    if section == "cipher_suites":
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 0xFFFF for v in value
        ):
            raise ProfileError(f"{where}: 'supported' must be a list of 16-bit integers")
        return Limit(**common, codes=tuple(value))
    if not _strings(value):
        raise ProfileError(f"{where}: '{key}' must be a list of strings")
    values = tuple(v.lower() if section != "tls_versions" else v for v in value)
    if section == "tls_versions":
        bad = [v for v in values if v not in TLS_VERSION_NAMES]
        if bad:
            raise ProfileError(
                f"{where}: unknown versions {', '.join(bad)}; use {', '.join(TLS_VERSION_NAMES)}"
            )
    return Limit(**common, values=values)


# ----------------------------------------------------------------- findings
@dataclass(frozen=True)
class Finding:
    """One certificate breaking one limit of one profile."""

    profile: str
    sha256: str
    subject: str | None
    role: str
    check: str
    value: str
    limit: str
    confidence: str
    source: str
    sentence: str
    seen_in: tuple[str, ...]
    frames: tuple[int, ...]
    flows: tuple[int, ...]
    first_ts_ns: int | None

    @property
    def filter(self) -> str | None:
        """A Wireshark display filter isolating the frames that carried the certificate."""
        if not self.frames:
            return None
        return "frame.number in {" + ", ".join(str(f) for f in self.frames) + "}"

    def row(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "sha256": self.sha256,
            "subject": self.subject,
            "role": self.role,
            "check": self.check,
            "value": self.value,
            "limit": self.limit,
            "confidence": self.confidence,
            "source": self.source,
            "sentence": self.sentence,
            "seen_in": list(self.seen_in),
            "frames": list(self.frames),
            "flows": list(self.flows),
            "filter": self.filter,
            "first_ts": None if self.first_ts_ns is None else iso_ns(self.first_ts_ns),
        }


FINDINGS_SCHEMA = Schema(
    "certificate_findings",
    "One row per (profile, certificate the device must process, limit it breaks): "
    "certificates on the path of a served server chain, extra ones sent with it, and "
    "certificates downloaded over LDAP or HTTP.",
    (
        Column("profile", "category", "device profile name"),
        Column("sha256", "string", "the certificate"),
        Column("subject", "string", "its subject"),
        Column(
            "role",
            "category",
            "leaf, intermediate, root (on a served chain's path), extra (sent, not on the "
            "path), downloaded (LDAP/HTTP only)",
        ),
        Column("check", "category", "signature_hash, rsa_key_size, key_type, ec_curve"),
        Column("value", "string", "what the certificate has (sha256, 4096 bits, ...)"),
        Column("limit", "string", "what the profile allows"),
        Column("confidence", "category", "how well the limit is known (see profiles)"),
        Column("source", "string", "where the limit comes from"),
        Column("sentence", "string", "the finding in one sentence"),
        Column("seen_in", "object", "sources the certificate came from (tls, ldap, http)"),
        Column("frames", "object", "frames that carried it (evidence)"),
        Column("flows", "object", "flows that carried it"),
        Column("filter", "string", "Wireshark display filter for those frames"),
        Column("first_ts", "datetime64[ns, UTC]", "when it was first seen"),
    ),
    human=("profile", "role", "subject", "check", "value", "limit", "confidence"),
    envelope=False,
)


def certificate_roles(catalogue: Catalogue, chains: Sequence[ChainResult]) -> dict[str, str]:
    """The role of every certificate the device processes: on a served server chain's
    path (leaf, intermediate, root), sent but unused (extra), or downloaded (LDAP/HTTP)."""
    roles: dict[str, str] = {}

    def give(sha: str, role: str) -> None:
        old = roles.get(sha)
        if old is None or ROLES.index(role) < ROLES.index(old):
            roles[sha] = role

    for chain in chains:
        if chain.served.role != "server":
            continue
        for i, sha in enumerate(chain.path):
            if i == 0:
                give(sha, "leaf")
            elif chain.complete and i == len(chain.path) - 1:
                give(sha, "root")
            else:
                give(sha, "intermediate")
        for sha in chain.served.certificates:
            if sha not in chain.path:
                give(sha, "extra")
    for entry in catalogue:
        if entry.sources & {"ldap", "http"}:
            give(entry.sha256, "downloaded")
    return roles


def certificate_findings(
    catalogue: Catalogue, chains: Sequence[ChainResult], profiles: Sequence[Profile]
) -> list[Finding]:
    """Every (profile, certificate, limit broken), certificates in order of first sighting."""
    roles = certificate_roles(catalogue, chains)
    out: list[Finding] = []
    for profile in profiles:
        for entry in catalogue:
            role = roles.get(entry.sha256)
            if role is None:
                continue
            is_root = bool(entry.facts.is_self_signed)
            for limit, value, limit_text in profile.violations(entry.facts, is_root=is_root):
                out.append(_finding(profile, entry, role, limit, value, limit_text))
    return out


def _finding(
    profile: Profile,
    entry: CatalogueEntry,
    role: str,
    limit: Limit,
    value: str,
    limit_text: str,
) -> Finding:
    f = entry.facts
    seen = ", ".join(sorted(entry.sources))
    who = f"{f.label} ({role}, seen via {seen})"
    if limit.check == "signature_hash":
        what = f"is self-signed with {value}" if f.is_self_signed else f"is signed with {value}"
        sentence = f"{who} {what}; {profile.title} accepts only {limit_text[10:]}"
    elif limit.check == "rsa_key_size":
        if limit.section.endswith("max"):
            bound = f"more than the {limit.bits} bits {profile.title} can use"
        else:
            bound = f"fewer than the {limit.bits} bits {profile.title} requires"
        sentence = f"{who} has a {f.key_size}-bit RSA key, {bound}"
    elif limit.check == "key_type":
        sentence = f"{who} has a {value} key; {profile.title} accepts only {limit_text[10:]}"
    else:
        sentence = f"{who} uses curve {value}; {profile.title} accepts only {limit_text[10:]}"
    sentence += f" (confidence: {limit.confidence})."
    return Finding(
        profile=profile.name,
        sha256=entry.sha256,
        subject=f.subject,
        role=role,
        check=limit.check,
        value=value,
        limit=limit_text,
        confidence=limit.confidence,
        source=limit.source,
        sentence=sentence,
        seen_in=tuple(sorted(entry.sources)),
        frames=tuple(entry.frames()),
        flows=tuple(sorted(entry.flows))[:50],
        first_ts_ns=entry.first_ts_ns,
    )


def findings_table(findings: Sequence[Finding]) -> pd.DataFrame:
    """The ``certificate_findings`` table."""
    return frame_of(FINDINGS_SCHEMA, [f.row() for f in findings])

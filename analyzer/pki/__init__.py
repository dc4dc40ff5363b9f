"""Certificates: the catalogue, the chains built from it, and device-profile findings.

The protocol parsers report every certificate they see with ``sink.certificate(...)``;
after the pass :class:`PkiBuilder` turns those sightings (plus the user's trust
directory) into three tables:

- ``certificates``: one row per SHA-256 (:mod:`analyzer.pki.catalogue`);
- ``chains``: one row per chain served in a TLS Certificate message
  (:mod:`analyzer.pki.chains`);
- ``certificate_findings``: one row per (profile, certificate, limit broken)
  (:mod:`analyzer.pki.profiles`).

>>> from analyzer.pki import PkiBuilder
>>> result = PkiBuilder(profile="ocs2007r2-ce6").build([])
>>> sorted(result.tables())
['certificate_findings', 'certificates', 'chains']
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analyzer.errors import Weird
from analyzer.pki.catalogue import (
    CERTIFICATES_SCHEMA,
    Catalogue,
    CatalogueEntry,
    CertificateFacts,
    Sighting,
    TrustStoreError,
    load_certificate,
)
from analyzer.pki.chains import (
    CHAINS_SCHEMA,
    ChainResult,
    ExpectedNames,
    ServedChain,
    build_chains,
    certificate_matches_name,
    chains_table,
    dns_name_matches,
    served_chains,
)
from analyzer.pki.profiles import (
    FINDINGS_SCHEMA,
    Finding,
    Profile,
    ProfileError,
    builtin_profiles,
    certificate_findings,
    findings_table,
    load_profile,
    load_profiles,
)
from analyzer.protocols.base import Schema

#: The tables this package adds to an analysis, by name.
SCHEMAS: dict[str, Schema] = {
    s.name: s for s in (CERTIFICATES_SCHEMA, CHAINS_SCHEMA, FINDINGS_SCHEMA)
}

ProfileSpec = str | os.PathLike[str] | Profile | Sequence[str | os.PathLike[str] | Profile]


@dataclass
class PkiResult:
    """The catalogue, the checked chains and the findings of one analysis."""

    catalogue: Catalogue
    chains: list[ChainResult]
    findings: list[Finding]
    profiles: list[Profile]
    weird: list[Weird] = field(default_factory=list)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "certificates": self.catalogue.table(),
            "chains": chains_table(self.chains),
            "certificate_findings": findings_table(self.findings),
        }

    def findings_of(self, sha256: str) -> list[Finding]:
        return [f for f in self.findings if f.sha256 == sha256]


class PkiBuilder:
    """Loads the trust directory and profiles up front (so bad input fails before a
    long pass), then builds the tables from the pass's sightings.

    ``profile=None`` judges against every built-in profile (the findings table has a
    ``profile`` column); a name, a TOML path, a :class:`Profile` or a list restricts it.
    """

    def __init__(
        self,
        trust: str | os.PathLike[str] | None = None,
        profile: ProfileSpec | None = None,
    ) -> None:
        self.trust = Path(trust) if trust is not None else None
        self.trust_catalogue = Catalogue()
        if self.trust is not None:
            self.trust_catalogue.add_trust(self.trust)
        self.profiles = load_profiles(profile)

    def build(
        self,
        sightings: Iterable[Mapping[str, Any]],
        expected_names: ExpectedNames = None,
        dns: pd.DataFrame | None = None,
    ) -> PkiResult:
        """Catalogue every sighting (in order) and the trust certificates, build every
        served chain and judge what the device processes against the profiles.

        The leaf of a server chain must match its SNI and ``expected_names``; without
        them, the name the client resolved to the server in ``dns`` (the SRV target)."""
        sightings = list(sightings)
        catalogue = Catalogue()
        added = [catalogue.add_sighting(entry) for entry in sightings]
        for trusted in self.trust_catalogue:
            for sighting in trusted.sightings:
                catalogue.add_sighting(
                    {"der": trusted.facts.der, "source": "trust", **sighting.context},
                    trusted.facts,
                )
        weird = [*self.trust_catalogue.weird, *catalogue.weird]
        served = served_chains(sightings, [None if e is None else e.sha256 for e in added])
        chains = build_chains(catalogue, served, expected_names, weird, dns)
        findings = certificate_findings(catalogue, chains, self.profiles)
        return PkiResult(catalogue, chains, findings, self.profiles, weird)


__all__ = [
    "SCHEMAS",
    "Catalogue",
    "CatalogueEntry",
    "CertificateFacts",
    "ChainResult",
    "Finding",
    "PkiBuilder",
    "PkiResult",
    "Profile",
    "ProfileError",
    "ServedChain",
    "Sighting",
    "TrustStoreError",
    "builtin_profiles",
    "certificate_matches_name",
    "dns_name_matches",
    "load_certificate",
    "load_profile",
    "load_profiles",
]

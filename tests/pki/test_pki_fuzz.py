"""Certificate loading never raises: random, truncated or mutated DER ends up as a
recorded ``parse_error``, and the chain builder and profiles cope with what is left."""

from __future__ import annotations

import hashlib

from certfactory import make, rsa_key, served, sighting
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.pki import PkiBuilder
from analyzer.pki.catalogue import Catalogue, load_certificate, printable

ROOT = make("Fuzz Root", key=rsa_key("contoso-root-ca-2012-rsa4096"), ca=True)
LEAF = make(
    "fuzz.contoso.com",
    issuer=ROOT,
    sans=("fuzz.contoso.com", "*.contoso.com"),
    crl=("http://pki/fuzz.crl",),
    ocsp=("http://ocsp/",),
)
BUILDER = PkiBuilder()  # every built-in profile
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.binary(max_size=2048))
def test_random_bytes_are_a_parse_error(data: bytes) -> None:
    f = load_certificate(data)
    assert f.sha256 == hashlib.sha256(data).hexdigest()
    assert f.parse_error is not None  # random bytes are (almost surely) no certificate


@SETTINGS
@given(st.integers(min_value=0, max_value=len(LEAF.der) - 1))
def test_truncated_prefix_is_a_parse_error(n: int) -> None:
    f = load_certificate(LEAF.der[:n])
    assert f.parse_error is not None and f.der_length == n


@SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(LEAF.der) - 1), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    )
)
def test_mutated_certificate_never_raises(changes: list[tuple[int, int]]) -> None:
    der = bytearray(LEAF.der)
    for pos, value in changes:
        der[pos] = value
    f = load_certificate(bytes(der))
    if f.cert is None:
        assert f.parse_error
    row = Catalogue().add(bytes(der), "tls").row()  # type: ignore[union-attr]
    assert all(c.isprintable() for c in str(row["subject"]) + str(row["san_dns"]))


@settings(SETTINGS, max_examples=100)  # the tables cost ~60 ms of pandas each
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(LEAF.der) - 1), st.integers(0, 255)),
        max_size=4,
    ),
    st.integers(min_value=0, max_value=len(ROOT.der)),
    st.sampled_from(["fuzz.contoso.com", "x.contoso.com", "10.0.0.1", "", "\u00e9.example"]),
)
def test_chains_and_findings_on_damaged_certificates_never_raise(
    changes: list[tuple[int, int]], root_cut: int, sni: str
) -> None:
    der = bytearray(LEAF.der)
    for pos, value in changes:
        der[pos] = value
    sightings = [sighting(ROOT.der[:root_cut], "ldap"), *served(bytes(der), ROOT, sni=sni)]
    result = BUILDER.build(sightings, expected_names=[sni])
    assert len(result.chains) == 1
    result.tables()


@SETTINGS
@given(st.text(max_size=300))
def test_printable_output_is_one_safe_line(text: str) -> None:
    out = printable(text, limit=100)
    assert out.isprintable()
    assert len(out) <= 100 + len("...(+99999 chars)")

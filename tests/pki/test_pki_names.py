"""Server name matching per RFC 6125: SAN dNSName first, a left-most wildcard label, the
subject CN only when the certificate has no SAN dNSName."""

from __future__ import annotations

import pytest
from certfactory import make

from analyzer.pki.catalogue import load_certificate
from analyzer.pki.chains import certificate_matches_name, dns_name_matches


@pytest.mark.parametrize(
    ("presented", "reference"),
    [
        ("pool01.contoso.local", "pool01.contoso.local"),
        ("POOL01.Contoso.Local", "pool01.contoso.local"),  # case-insensitive (6.4.1)
        ("pool01.contoso.local.", "pool01.contoso.local"),  # trailing dot ignored
        ("pool01.contoso.local", "pool01.contoso.local."),
        ("*.contoso.com", "sip.contoso.com"),  # wildcard = one whole left-most label
        ("*.Contoso.com", "SIP.contoso.COM"),
        ("xn--bcher-kva.example", "bücher.example"),  # U-label reference, A-label SAN
    ],
)
def test_names_that_match(presented: str, reference: str) -> None:
    assert dns_name_matches(presented, reference)


@pytest.mark.parametrize(
    ("presented", "reference"),
    [
        ("pool01.contoso.local", "pool02.contoso.local"),
        ("*.contoso.com", "contoso.com"),  # the wildcard needs a label
        ("*.contoso.com", "a.b.contoso.com"),  # ... exactly one
        ("*.com", "contoso.com"),  # not over a bare top-level label
        ("f*.contoso.com", "fe01.contoso.com"),  # partial-label wildcards refused
        ("www.*.com", "www.contoso.com"),  # wildcard only left-most
        ("*.*.contoso.com", "a.b.contoso.com"),
        ("", "contoso.com"),
        ("pool01.contoso.local", ""),
    ],
)
def test_names_that_do_not_match(presented: str, reference: str) -> None:
    assert not dns_name_matches(presented, reference)


def test_san_wins_over_cn() -> None:
    # CN names fe01, SAN names only pool01: the CN must not be consulted (6.4.4).
    f = load_certificate(make("fe01.contoso.local", sans=("pool01.contoso.local",)).der)
    assert certificate_matches_name(f, "pool01.contoso.local")
    assert not certificate_matches_name(f, "fe01.contoso.local")


def test_cn_is_used_when_there_is_no_san() -> None:
    f = load_certificate(make("pool01.contoso.local").der)
    assert certificate_matches_name(f, "POOL01.contoso.local")
    assert not certificate_matches_name(f, "sip.contoso.com")


def test_cn_is_used_when_san_has_only_addresses() -> None:
    f = load_certificate(make("pool01.contoso.local", ips=("10.1.0.50",)).der)
    assert certificate_matches_name(f, "pool01.contoso.local")
    assert certificate_matches_name(f, "10.1.0.50")


def test_wildcard_san_matches_one_label() -> None:
    f = load_certificate(make("*.contoso.com", sans=("*.contoso.com",)).der)
    assert certificate_matches_name(f, "sip.contoso.com")
    assert not certificate_matches_name(f, "contoso.com")
    assert not certificate_matches_name(f, "a.sip.contoso.com")


def test_ip_reference_matches_san_ip_only() -> None:
    f = load_certificate(make("x", sans=("10.1.0.50",), ips=("10.1.0.51", "2001:db8::1")).der)
    assert certificate_matches_name(f, "10.1.0.51")
    assert certificate_matches_name(f, "2001:DB8:0::1")
    # An address written as a dNSName is not an iPAddress entry.
    assert not certificate_matches_name(f, "10.1.0.50")

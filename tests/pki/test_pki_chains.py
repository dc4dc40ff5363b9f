"""Chains: grouping a TLS Certificate message's sightings, building the path from the leaf
across every source (TLS, LDAP, HTTP, the trust dir), and each check on it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from certfactory import OID_DER, TS_NS, Made, make, rsa_key, served, sighting
from cryptography.hazmat.primitives import serialization

from analyzer.pki import PkiBuilder
from analyzer.pki.chains import ChainResult, served_chains

# A three-level enterprise PKI: root (RSA-4096) -> issuing CA -> pool leaf.
ROOT = make("Contoso Root CA", key=rsa_key("contoso-root-ca-2012-rsa4096"), ca=True)
ISSUING = make(
    "Contoso Issuing CA 01", key=rsa_key("contoso-issuing-ca-2012-rsa2048"), issuer=ROOT, ca=True
)
POOL = make(
    "pool01.contoso.local", issuer=ISSUING, sans=("pool01.contoso.local", "sip.contoso.com")
)
# A public PKI whose root the capture never shows.
PUBLIC_ROOT = make(
    "Woodgrove Global Root CA", key=rsa_key("woodgrove-public-root-rsa2048"), ca=True, hash="sha1"
)
PUBLIC_CA = make(
    "Woodgrove Secure Server CA - G2",
    key=rsa_key("woodgrove-public-server-ca-rsa2048"),
    issuer=PUBLIC_ROOT,
    ca=True,
    hash="sha1",
)
EDGE = make(
    "sip.contoso.com",
    key=rsa_key("edge-rsa2048"),
    issuer=PUBLIC_CA,
    hash="sha1",
    sans=("sip.contoso.com", "access.contoso.com"),
)


def chains_of(sightings: list[dict], trust: Path | None = None, **kw: object) -> list[ChainResult]:
    return PkiBuilder(trust=trust, profile=[]).build(sightings, **kw).chains  # type: ignore[arg-type]


def only(sightings: list[dict], **kw: object) -> ChainResult:
    (chain,) = chains_of(sightings, **kw)
    return chain


def test_one_certificate_message_is_one_chain() -> None:
    (chain,) = served_chains(served(POOL, ISSUING, ROOT, frame=40, flow=7, sni="pool01"))
    assert chain.certificates == (POOL.sha256, ISSUING.sha256, ROOT.sha256)
    assert (chain.frame, chain.flow, chain.role, chain.sni) == (40, 7, "server", "pool01")
    assert (chain.src, chain.dst, chain.ts_ns) == ("10.1.0.50", "10.20.0.57", TS_NS)


def test_position_zero_starts_a_new_chain_in_the_same_frame() -> None:
    # Two Certificate messages completed by one frame (e.g. a renegotiation).
    chains = served_chains(served(POOL, ISSUING, frame=40) + served(EDGE, frame=40))
    assert [c.certificates for c in chains] == [(POOL.sha256, ISSUING.sha256), (EDGE.sha256,)]


def test_ldap_and_http_sightings_are_not_chains() -> None:
    assert served_chains([sighting(ROOT, "ldap"), sighting(ROOT, "http")]) == []


def test_root_downloaded_over_ldap_completes_a_chain_served_over_tls() -> None:
    chain = only([sighting(ROOT, "ldap", frame=5, flow=2), *served(POOL, ISSUING, frame=40)])
    assert chain.path == [POOL.sha256, ISSUING.sha256, ROOT.sha256]
    assert chain.complete and chain.root_sha256 == ROOT.sha256
    assert chain.root_source == "ldap"
    assert chain.signatures_ok is True and chain.valid_at_capture_time is True
    assert chain.problems == []


def test_root_downloaded_later_still_completes_the_chain() -> None:
    # Chains are built after the pass, over the whole catalogue.
    chain = only([*served(POOL, ISSUING, frame=40), sighting(ROOT, "http", frame=99)])
    assert chain.complete and chain.root_source == "http"


def test_root_in_the_trust_dir_completes_the_chain(tmp_path: Path) -> None:
    (tmp_path / "woodgrove.pem").write_bytes(
        PUBLIC_ROOT.cert.public_bytes(serialization.Encoding.PEM)
    )
    chain = only(served(EDGE, PUBLIC_CA), trust=tmp_path)
    assert chain.path == [EDGE.sha256, PUBLIC_CA.sha256, PUBLIC_ROOT.sha256]
    assert chain.complete and chain.root_source == "trust"
    assert chain.signatures_ok is True  # SHA-1 signatures are verified too


def test_root_the_capture_never_shows_leaves_the_path_incomplete() -> None:
    chain = only(served(EDGE, PUBLIC_CA))
    assert chain.path == [EDGE.sha256, PUBLIC_CA.sha256]
    assert not chain.complete and chain.root_source is None
    assert chain.problems == ["issuer_not_found"]
    assert "CN=Woodgrove Global Root CA" in chain.details[0]
    assert chain.signatures_ok is True  # the one link there is verifies


def test_root_that_only_came_with_the_chain_is_noted() -> None:
    chain = only(served(POOL, ISSUING, ROOT))
    assert chain.complete and chain.root_source == "tls"
    assert chain.problems == ["root_only_in_chain"]


def test_missing_intermediate() -> None:
    # The server sends the leaf and the root but not the issuing CA between them.
    chain = only(served(POOL, ROOT))
    assert chain.path == [POOL.sha256]
    assert not chain.complete
    assert chain.problems == ["missing_intermediate", "unused_certificates"]


def test_out_of_order_chain_still_builds_from_the_leaf() -> None:
    chain = only(served(ISSUING, POOL, ROOT))
    assert chain.leaf_sha256 == POOL.sha256
    assert chain.path == [POOL.sha256, ISSUING.sha256, ROOT.sha256]
    assert "out_of_order" in chain.problems


def test_reversed_chain_is_out_of_order() -> None:
    chain = only(served(ROOT, ISSUING, POOL))
    assert chain.leaf_sha256 == POOL.sha256 and chain.complete
    assert "out_of_order" in chain.problems


def test_duplicate_certificate_in_chain() -> None:
    chain = only(served(POOL, ISSUING, ISSUING, ROOT))
    assert chain.path == [POOL.sha256, ISSUING.sha256, ROOT.sha256]
    assert "duplicate_certificates" in chain.problems
    assert "out_of_order" not in chain.problems


def test_signature_by_the_wrong_key_fails() -> None:
    # Names the issuing CA as issuer (no AKI to tell them apart) but signed by another key.
    forged = make("pool01.contoso.local", issuer=ISSUING, aki=False, signer=rsa_key("web-rsa2048"))
    chain = only(served(forged, ISSUING, ROOT))
    assert chain.signatures_ok is False
    assert "bad_signature" in chain.problems


def test_aki_that_names_another_key_is_not_the_issuer() -> None:
    # Same issuer name, but the AKI points at a key no certificate in the capture has.
    other_issuer = make("Contoso Issuing CA 01", key=rsa_key("web-rsa2048"), issuer=ROOT, ca=True)
    leaf = make("pool01.contoso.local", issuer=other_issuer)
    chain = only(served(leaf, ISSUING, ROOT))
    assert chain.path == [leaf.sha256]
    assert "missing_intermediate" in chain.problems


def test_issuer_whose_signature_verifies_is_preferred() -> None:
    # Two CA certificates with the same name and no key identifiers (a re-keyed CA).
    old_key_ca = make("Renewed CA", key=rsa_key("web-rsa2048"), issuer=ROOT, ca=True, ski=False)
    new_key_ca = make(
        "Renewed CA", key=rsa_key("edge-rsa2048"), issuer=ROOT, ca=True, ski=False, serial=2
    )
    leaf = make("x.contoso.com", issuer=new_key_ca, aki=False)
    for order in ((old_key_ca, new_key_ca), (new_key_ca, old_key_ca)):
        sightings = [sighting(ca, "ldap") for ca in order] + served(leaf, frame=50)
        chain = only(sightings)
        assert chain.path == [leaf.sha256, new_key_ca.sha256]
        assert chain.signatures_ok is True


def test_signature_that_cannot_be_checked_is_not_a_failure() -> None:
    # The leaf claims md2WithRSAEncryption (same-length OID swapped in): no MD2 to verify.
    md2 = bytes.fromhex("06092a864886f70d010102")  # 1.2.840.113549.1.1.2
    der = POOL.der.replace(OID_DER["sha256"], md2)
    chain = only(served(der, ISSUING, ROOT))
    assert chain.signatures_ok is None
    assert "signature_unchecked" in chain.problems and "bad_signature" not in chain.problems
    assert "md2" in " ".join(chain.details)


def test_expired_leaf_at_capture_time() -> None:
    expired = make(
        "pool01.contoso.local",
        issuer=ISSUING,
        not_before=dt.datetime(2011, 1, 15, 10, tzinfo=dt.timezone.utc),
        not_after=dt.datetime(2012, 1, 15, 10, tzinfo=dt.timezone.utc),
    )
    chain = only(served(expired, ISSUING, ROOT))
    assert chain.valid_at_capture_time is False
    assert "expired" in chain.problems
    assert "expired 2012-01-15T10:00:00Z" in " ".join(chain.details)


def test_not_yet_valid_at_capture_time() -> None:
    future = make(
        "pool01.contoso.local",
        issuer=ISSUING,
        not_before=dt.datetime(2013, 1, 1, tzinfo=dt.timezone.utc),
    )
    chain = only(served(future, ISSUING, ROOT))
    assert chain.valid_at_capture_time is False and "not_yet_valid" in chain.problems


def test_validity_is_judged_at_the_handshake_time() -> None:
    ts_2014 = int(dt.datetime(2014, 1, 1, tzinfo=dt.timezone.utc).timestamp()) * 10**9
    chain = only(served(POOL, ISSUING, ROOT, ts_ns=ts_2014))
    assert chain.valid_at_capture_time is False  # POOL expired 2013-03-06


def test_name_checked_against_sni() -> None:
    assert only(served(POOL, ISSUING, ROOT, sni="sip.contoso.com")).name_ok is True
    bad = only(served(POOL, ISSUING, ROOT, sni="fe01.contoso.local"))
    assert bad.name_ok is False and "name_mismatch" in bad.problems
    assert bad.names_checked == ["fe01.contoso.local"]


def test_name_checked_against_expected_names_for_every_chain() -> None:
    chain = only(served(POOL, ISSUING, ROOT), expected_names=["pool01.contoso.local"])
    assert chain.name_ok is True and chain.names_checked == ["pool01.contoso.local"]


def test_expected_names_per_flow() -> None:
    chains = chains_of(
        served(POOL, ISSUING, ROOT, flow=1) + served(POOL, ISSUING, ROOT, flow=2, frame=20),
        expected_names={2: ["fe01.contoso.local"]},
    )
    assert [c.name_ok for c in chains] == [None, False]


def test_no_name_to_check_leaves_name_ok_unknown() -> None:
    assert only(served(POOL, ISSUING, ROOT)).name_ok is None


def test_client_chains_are_not_name_checked() -> None:
    chain = only(served(POOL, ISSUING, role="client", sni="other.example"))
    assert chain.served.role == "client" and chain.name_ok is None


def test_unparseable_certificate_in_a_chain() -> None:
    chain = only(served(b"\x30\x03\x02\x01\x00", ISSUING, ROOT))
    assert not chain.complete
    assert "unparsed_certificate" in chain.problems


def test_cross_signed_loop_terminates() -> None:
    a_key, b_key = rsa_key("web-rsa2048"), rsa_key("edge-rsa2048")
    a_stub = Made(b"", make("CA A", key=a_key, ca=True).cert, a_key)
    b_stub = Made(b"", make("CA B", key=b_key, ca=True).cert, b_key)
    a = make("CA A", key=a_key, issuer=b_stub, ca=True)  # A signed by B
    b = make("CA B", key=b_key, issuer=a_stub, ca=True)  # B signed by A
    leaf = make("loop.example", issuer=a)
    chain = only(served(leaf, a, b))
    assert chain.path == [leaf.sha256, a.sha256, b.sha256]
    assert not chain.complete and "issuer_not_found" in chain.problems


def test_chains_table_columns() -> None:
    result = PkiBuilder(profile=[]).build(
        [sighting(ROOT, "ldap"), *served(POOL, ISSUING, sni="pool01.contoso.local")]
    )
    table = result.tables()["chains"]
    assert list(table.columns[:3]) == ["ts", "frame", "flow"]
    row = table.iloc[0]
    assert row["path"] == [POOL.sha256, ISSUING.sha256, ROOT.sha256]
    assert bool(row["complete"]) and row["root_source"] == "ldap"
    assert row["problems"] == [] and row["sni"] == "pool01.contoso.local"


def test_intermediate_found_only_in_another_connection_is_missing() -> None:
    # Flow 1 sends the full chain; flow 2 only the leaf. Flow 2's path is completed from
    # flow 1's certificates, but a phone does not cache intermediates.
    chains = chains_of(served(POOL, ISSUING, ROOT, flow=1) + served(POOL, flow=2, frame=20))
    assert chains[1].path == [POOL.sha256, ISSUING.sha256, ROOT.sha256]
    assert set(chains[1].problems) == {"missing_intermediate", "root_only_in_chain"}
    assert chains[0].problems == ["root_only_in_chain"]


def test_intermediate_downloaded_over_ldap_is_not_missing() -> None:
    chain = chains_of([sighting(ROOT, "ldap"), sighting(ISSUING, "ldap"), *served(POOL)])[0]
    assert chain.complete and chain.problems == []


def _dns_row(frame: int, ts_ns: int, qname: str, qtype: str, *answers: tuple[str, str, str]):
    import pandas as pd

    return {
        "frame": frame,
        "ts": pd.Timestamp(ts_ns, unit="ns", tz="UTC"),
        "dst": "10.20.0.57",  # the phone
        "qname": qname,
        "qtype": qtype,
        "response": True,
        "answers": [
            {"name": n, "type": t, "class": "IN", "ttl": 600, "data": d} for n, t, d in answers
        ],
    }


def test_without_expected_names_the_srv_target_from_dns_is_checked() -> None:
    import pandas as pd

    dns = pd.DataFrame(
        [
            _dns_row(
                3,
                TS_NS - 2_000_000,
                "_sipinternaltls._tcp.contoso.com.",
                "SRV",
                ("_sipinternaltls._tcp.contoso.com.", "SRV", "0 0 5061 fe01.contoso.local."),
            ),
            _dns_row(
                5,
                TS_NS - 1_000_000,
                "fe01.contoso.local.",
                "A",
                ("fe01.contoso.local.", "A", "10.1.0.50"),
            ),
            # Later than the handshake: not what the phone was given.
            _dns_row(
                99,
                TS_NS + 1_000_000,
                "_sipinternaltls._tcp.contoso.com.",
                "SRV",
                ("_sipinternaltls._tcp.contoso.com.", "SRV", "0 0 5061 pool01.contoso.local."),
            ),
        ]
    )
    chain = PkiBuilder(profile=[]).build(served(POOL, ISSUING, ROOT), dns=dns).chains[0]
    assert chain.names_checked == ["fe01.contoso.local"]
    assert chain.name_ok is False and "name_mismatch" in chain.problems


def test_a_record_name_when_there_is_no_srv() -> None:
    import pandas as pd

    dns = pd.DataFrame(
        [_dns_row(5, TS_NS - 1, "sip.contoso.com.", "A", ("sip.contoso.com.", "A", "10.1.0.50"))]
    )
    chain = PkiBuilder(profile=[]).build(served(POOL, ISSUING, ROOT), dns=dns).chains[0]
    assert chain.names_checked == ["sip.contoso.com"] and chain.name_ok is True


def test_name_mismatch_sample_is_caught_from_its_srv_answer() -> None:
    from conftest import SAMPLES

    from analyzer.api import analyze

    chains = analyze(SAMPLES / "name-mismatch.pcapng", profile=[]).chains
    assert len(chains) >= 1
    assert set(chains["problems"].map(tuple)) == {("name_mismatch",)}
    assert set(chains["names_checked"].map(tuple)) == {("pool01.contoso.local",)}

"""What the chain builder and the DNS name lookup cache: handshakes that serve the same
chain share one verdict, but only where nothing that decides it differs (the handshake
time against the certificates' validity, the names checked, the catalogue), and a
repeated DNS answer is read once without changing which name a handshake gets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pandas as pd
from certfactory import T0, TS_NS, make, rsa_key, served, sighting
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.pki import PkiBuilder
from analyzer.pki.catalogue import Catalogue
from analyzer.pki.chains import ChainBuilder, ChainResult, DnsNames, ServedChain, served_chains

ROOT = make("Contoso Root CA", key=rsa_key("contoso-root-ca-2012-rsa4096"), ca=True)
ISSUING_KEY = rsa_key("contoso-issuing-ca-2012-rsa2048")
ISSUING = make("Contoso Issuing CA 01", key=ISSUING_KEY, issuer=ROOT, ca=True)
NOT_BEFORE = T0 - dt.timedelta(days=30)
NOT_AFTER = T0 + dt.timedelta(days=1)
LEAF = make(
    "pool01.contoso.local",
    issuer=ISSUING,
    not_before=NOT_BEFORE,
    not_after=NOT_AFTER,
    sans=("pool01.contoso.local", "sip.contoso.com"),
)
US = 1_000  # ns: certificates are judged at microsecond resolution


def ns(when: dt.datetime) -> int:
    return int(when.timestamp()) * 1_000_000_000


def chains_of(sightings: list[dict[str, Any]], **kw: Any) -> list[ChainResult]:
    return PkiBuilder(profile=[]).build(sightings, **kw).chains


def handshakes(*times: int) -> list[dict[str, Any]]:
    """The same chain served at each time, one connection each."""
    return [
        s
        for i, ts in enumerate(times)
        for s in served(LEAF, ISSUING, ROOT, flow=i, frame=10 * (i + 1), ts_ns=ts)
    ]


def test_validity_is_judged_per_handshake_on_either_side_of_not_after() -> None:
    later = ns(NOT_AFTER + dt.timedelta(days=1))
    chains = chains_of(handshakes(TS_NS, ns(NOT_AFTER) + US, later, TS_NS))
    assert [c.valid_at_capture_time for c in chains] == [True, False, False, True]
    assert [c.problems for c in chains] == [
        ["root_only_in_chain"],
        ["root_only_in_chain", "expired"],
        ["root_only_in_chain", "expired"],
        ["root_only_in_chain"],
    ]
    # Each expired chain names its own handshake time, not the first one's.
    assert chains[1].details[-1].endswith("before the handshake (2012-03-07T10:00:00Z)")
    assert chains[2].details[-1].endswith("before the handshake (2012-03-08T10:00:00Z)")


def test_validity_bounds_are_inclusive() -> None:
    start, end = ns(NOT_BEFORE), ns(NOT_AFTER)
    chains = chains_of(handshakes(start - US, start, end, end + US, start))
    assert [c.valid_at_capture_time for c in chains] == [False, True, True, False, True]
    assert "not_yet_valid" in chains[0].problems and "expired" in chains[3].problems


def test_path_takes_the_issuer_valid_at_each_handshake() -> None:
    # The issuing CA renewed with the same name and key: which one the path goes through
    # depends on the handshake time.
    old = make(
        "Contoso Issuing CA 01",
        key=ISSUING_KEY,
        issuer=ROOT,
        ca=True,
        not_before=T0 - dt.timedelta(days=700),
        not_after=T0,
        serial=1,
    )
    new = make(
        "Contoso Issuing CA 01",
        key=ISSUING_KEY,
        issuer=ROOT,
        ca=True,
        not_before=T0 + dt.timedelta(seconds=1),
        not_after=T0 + dt.timedelta(days=700),
        serial=2,
    )
    leaf = make("pool01.contoso.local", issuer=old)
    times = [TS_NS - 10**9, TS_NS + 2 * 10**9, TS_NS - 10**9]
    chains = chains_of(
        [
            sighting(ROOT, "ldap"),
            sighting(old, "ldap"),
            sighting(new, "ldap"),
            *(s for i, t in enumerate(times) for s in served(leaf, flow=i, frame=i, ts_ns=t)),
        ]
    )
    assert [c.path[1] for c in chains] == [old.sha256, new.sha256, old.sha256]
    assert all(c.valid_at_capture_time for c in chains)


def test_chains_checked_against_different_names_do_not_share_a_verdict() -> None:
    chains = chains_of(
        handshakes(TS_NS, TS_NS, TS_NS),
        expected_names={0: ["pool01.contoso.local"], 1: ["fe01.contoso.local"]},
    )
    assert [c.name_ok for c in chains] == [True, False, None]
    assert [c.names_checked for c in chains] == [
        ["pool01.contoso.local"],
        ["fe01.contoso.local"],
        [],
    ]
    assert [("name_mismatch" in c.problems) for c in chains] == [False, True, False]


def test_chains_with_different_sni_do_not_share_a_verdict() -> None:
    sightings = [
        *served(LEAF, ISSUING, ROOT, flow=1, sni="sip.contoso.com"),
        *served(LEAF, ISSUING, ROOT, flow=2, frame=20, sni="fe01.contoso.local"),
        *served(LEAF, ISSUING, ROOT, flow=3, frame=30, sni="fe01.contoso.local", role="client"),
    ]
    assert [c.name_ok for c in chains_of(sightings)] == [True, False, None]


def test_a_reused_builder_sees_what_the_catalogue_learnt_since() -> None:
    catalogue = Catalogue()
    sightings = served(LEAF, ISSUING, ROOT)
    for s in sightings:
        catalogue.add_sighting(s)
    (chain,) = served_chains(sightings)
    builder = ChainBuilder(catalogue)
    first = builder.build(chain)
    assert first.root_source == "tls" and first.problems == ["root_only_in_chain"]
    catalogue.add(ROOT.der, "ldap")  # no new certificate, a new source
    second = builder.build(chain)
    assert second.root_source == "ldap" and second.problems == []


# ------------------------------------------------------------------ DNS names
PHONE, OTHER_PHONE, SERVER = "10.20.0.57", "10.20.0.58", "10.1.0.50"


def dns_table(rows: list[tuple[int, str | None, str, str, list[Any], bool | None]]) -> pd.DataFrame:
    """A ``dns`` table with the protocol's dtypes: (ts_ns, dst, qname, qtype, answers,
    response); a negative time is missing."""
    return pd.DataFrame(
        {
            "ts": pd.Series(
                [pd.NaT if t < 0 else pd.Timestamp(t, unit="ns", tz="UTC") for t, *_ in rows],
                dtype="datetime64[ns, UTC]",
            ),
            "dst": pd.Series([r[1] for r in rows], dtype="string"),
            "qname": pd.Series([r[2] for r in rows], dtype="string"),
            "qtype": pd.Series([r[3] for r in rows], dtype="category"),
            "response": pd.Series([r[5] for r in rows], dtype="boolean"),
            "answers": pd.Series([r[4] for r in rows], dtype="object"),
        }
    )


def answer(name: str, kind: str, data: str) -> dict[str, Any]:
    return {"name": name, "type": kind, "class": "IN", "ttl": 600, "data": data}


def chain_at(ts_ns: int, client: str = PHONE, server: str = SERVER) -> ServedChain:
    return ServedChain(("x",), ts_ns=ts_ns, src=server, dst=client)


def test_repeated_and_changed_srv_answers() -> None:
    srv = "_sipinternaltls._tcp.contoso.com."

    def target(name: str) -> list[Any]:
        return [answer(srv, "SRV", f"0 0 5061 {name}.")]

    names = DnsNames(
        dns_table(
            [
                (100, PHONE, srv, "SRV", target("fe01.contoso.local"), True),
                (200, PHONE, srv, "SRV", target("fe01.contoso.local"), True),
                (250, PHONE, srv, "SRV", [], True),  # an empty answer changes nothing
                (300, PHONE, srv, "SRV", target("pool01.contoso.local"), True),
                (350, OTHER_PHONE, srv, "SRV", target("pool01.contoso.local"), True),
                (400, PHONE, "x.", "A", [answer("fe01.contoso.local.", "A", SERVER)], True),
                (400, PHONE, "y.", "A", [answer("pool01.contoso.local.", "A", SERVER)], True),
                (500, PHONE, "Web.contoso.com.", "A", [answer("w.", "A", "10.1.0.60")], True),
            ]
        )
    )
    assert names.for_chain(chain_at(99)) == []
    assert names.for_chain(chain_at(100)) == ["fe01.contoso.local"]
    assert names.for_chain(chain_at(299)) == ["fe01.contoso.local"]
    assert names.for_chain(chain_at(300)) == ["pool01.contoso.local"]
    assert names.for_chain(chain_at(340, OTHER_PHONE)) == []
    assert names.for_chain(chain_at(350, OTHER_PHONE)) == ["pool01.contoso.local"]
    # A server no SRV target resolves to: the name the phone resolved to it.
    assert names.for_chain(chain_at(499, server="10.1.0.60")) == []
    assert names.for_chain(chain_at(500, server="10.1.0.60")) == ["web.contoso.com"]
    assert names.for_chain(chain_at(999, server="10.9.9.9")) == []


def reference_names(dns: pd.DataFrame, chain: ServedChain) -> list[str]:
    """What the name lookup must give, read row by row with no cache."""
    addresses: dict[str, set[str]] = {}
    srv: list[tuple[int, str, str]] = []  # (ts, client, target)
    lookups: list[tuple[int, str, str, set[str]]] = []  # (ts, client, name, ips)
    answered = dns[dns["response"].fillna(False).astype(bool)]
    answered = answered[answered["qtype"].astype("string").isin(["SRV", "A", "AAAA"])]
    for row in answered.to_dict("records"):
        if pd.isna(row["ts"]) or not isinstance(row["dst"], str):
            continue
        ts, ips = pd.Timestamp(row["ts"]).value, set()
        for a in row["answers"]:
            if not isinstance(a, Mapping) or not isinstance(a.get("data"), str):
                continue
            if a["type"] in ("A", "AAAA"):
                ips.add(a["data"])
                addresses.setdefault(a["name"].rstrip(".").lower(), set()).add(a["data"])
            elif a["type"] == "SRV" and len(a["data"].split()) == 4:
                srv.append((ts, row["dst"], a["data"].split()[3].rstrip(".").lower()))
        if ips and isinstance(row["qname"], str):
            name = row["qname"].rstrip(".").lower()
            addresses.setdefault(name, set()).update(ips)
            lookups.append((ts, row["dst"], name, ips))
    assert chain.ts_ns is not None and chain.src is not None
    found = [
        (t, target)
        for t, client, target in srv
        if client == chain.dst and t <= chain.ts_ns and chain.src in addresses.get(target, ())
    ]
    if not found:
        found = [
            (t, name)
            for t, client, name, ips in lookups
            if client == chain.dst and t <= chain.ts_ns and chain.src in ips
        ]
    return [max(found)[1]] if found else []


QNAMES = ["_sip._tls.contoso.com.", "sip.contoso.com.", "Pool01.contoso.local.", "x."]
ANSWERS = st.lists(
    st.builds(
        answer,
        st.sampled_from(QNAMES),
        st.sampled_from(["A", "AAAA", "SRV", "CNAME"]),
        st.sampled_from(
            [SERVER, "10.1.0.51", "0 0 5061 pool01.contoso.local.", "0 0 5061 sip.contoso.com"]
        ),
    ),
    max_size=3,
)
ROWS = st.lists(
    st.tuples(
        st.integers(-1, 20),
        st.sampled_from([PHONE, OTHER_PHONE, None]),
        st.sampled_from(QNAMES),
        st.sampled_from(["A", "SRV", "AAAA", "TXT"]),
        ANSWERS,
        st.sampled_from([True, False, None]),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(ROWS, st.integers(0, 21), st.sampled_from([PHONE, OTHER_PHONE]))
def test_names_match_a_row_by_row_reading(
    rows: list[tuple[int, str | None, str, str, list[Any], bool | None]], ts: int, client: str
) -> None:
    dns = dns_table(rows)
    names = DnsNames(dns)
    for server in (SERVER, "10.1.0.51"):
        chain = chain_at(ts, client, server)
        assert names.for_chain(chain) == reference_names(dns, chain)

"""Kerberos: AS/TGS requests and replies, KRB-ERROR (names, server time, e-data), TCP record
marking, and the DecodeError contract. Messages are built with the DER encoder of test_ber."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import pandas as pd
import pytest
from builders import ethernet, ipv4_udp, pcap
from conftest import CORPUS, all_captures, capture_id, run_tshark
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ber import explicit, integer, octets, seq, tlv

import analyzer.protocols.kerberos as kerberos_module
from analyzer.api import analyze
from analyzer.capture.pipeline import FlowInfo
from analyzer.errors import DecodeError, Malformed, Truncated
from analyzer.protocols.base import Envelope, Sink
from analyzer.protocols.kerberos import KerberosSession, kerberos_values, parse_kerberos

# --------------------------------------------------------------------- builders


def kstring(s: str) -> bytes:
    return tlv(0x1B, s.encode())  # GeneralString


def ktime(s: str) -> bytes:
    return tlv(0x18, s.encode())  # GeneralizedTime


def principal(name_type: int, *parts: str) -> bytes:
    # PrincipalName ::= SEQUENCE { name-type [0] Int32, name-string [1] SEQUENCE OF String }
    return seq(explicit(0, integer(name_type)), explicit(1, seq(*[kstring(p) for p in parts])))


def padata(pa_type: int, value: bytes = b"") -> bytes:
    return seq(explicit(1, integer(pa_type)), explicit(2, octets(value)))


def req_body(
    cname: str | None, realm: str, sname: tuple[str, ...], nonce: int, etypes: list[int]
) -> bytes:
    fields = [explicit(0, tlv(0x03, bytes.fromhex("0040810010")))]  # kdc-options 0x40810010
    if cname is not None:
        fields.append(explicit(1, principal(1, cname)))
    fields += [
        explicit(2, kstring(realm)),
        explicit(3, principal(2, *sname)),
        explicit(5, ktime("20370913024805Z")),
        explicit(7, integer(nonce)),
        explicit(8, seq(*[integer(e) for e in etypes])),
    ]
    return seq(*fields)


def kdc_req(app: int, msg_type: int, pa: list[bytes], body: bytes) -> bytes:
    fields = [explicit(1, integer(5)), explicit(2, integer(msg_type))]
    if pa:
        fields.append(explicit(3, seq(*pa)))
    fields.append(explicit(4, body))
    return tlv(app, seq(*fields))


def encrypted(etype: int, kvno: int | None = None) -> bytes:
    kv = [explicit(1, integer(kvno))] if kvno is not None else []
    return seq(explicit(0, integer(etype)), *kv, explicit(2, octets(b"\x00" * 16)))


def ticket(realm: str, sname: tuple[str, ...], etype: int) -> bytes:
    return tlv(
        0x61,
        seq(
            explicit(0, integer(5)),
            explicit(1, kstring(realm)),
            explicit(2, principal(2, *sname)),
            explicit(3, encrypted(etype, 2)),
        ),
    )


def kdc_rep(app: int, msg_type: int, pa: list[bytes], realm: str, cname: str, tkt: bytes) -> bytes:
    fields = [explicit(0, integer(5)), explicit(1, integer(msg_type))]
    if pa:
        fields.append(explicit(2, seq(*pa)))
    fields += [
        explicit(3, kstring(realm)),
        explicit(4, principal(1, cname)),
        explicit(5, tkt),
        explicit(6, encrypted(23)),
    ]
    return tlv(app, seq(*fields))


def krb_error(
    code: int,
    *,
    stime: str = "20120911154004Z",
    susec: int = 250000,
    ctime: str | None = None,
    text: str | None = None,
    e_data: bytes | None = None,
    cname: str | None = "CX700-1C3A5E$",
    sname: tuple[str, ...] = ("krbtgt", "CONTOSO.LOCAL"),
) -> bytes:
    fields = [explicit(0, integer(5)), explicit(1, integer(30))]
    if ctime:
        fields.append(explicit(2, ktime(ctime)))
    fields += [explicit(4, ktime(stime)), explicit(5, integer(susec)), explicit(6, integer(code))]
    if cname:
        fields += [explicit(7, kstring("CONTOSO.LOCAL")), explicit(8, principal(1, cname))]
    fields += [explicit(9, kstring("CONTOSO.LOCAL")), explicit(10, principal(2, *sname))]
    if text is not None:
        fields.append(explicit(11, kstring(text)))
    if e_data is not None:
        fields.append(explicit(12, octets(e_data)))
    return tlv(0x7E, seq(*fields))


def etype_info2(*etypes: int) -> bytes:
    return seq(
        *[seq(explicit(0, integer(e)), explicit(1, kstring("CONTOSO.LOCALjdoe"))) for e in etypes]
    )


AS_REQ = kdc_req(
    0x6A,
    10,
    [padata(128, seq(explicit(0, tlv(0x01, b"\xff"))))],  # PA-PAC-REQUEST include-pac TRUE
    req_body("jdoe", "CONTOSO.LOCAL", ("krbtgt", "CONTOSO.LOCAL"), 312297110, [18, 17, 23]),
)
AS_REP = kdc_rep(
    0x6B,
    11,
    [padata(19, etype_info2(18))],
    "CONTOSO.LOCAL",
    "jdoe",
    ticket("CONTOSO.LOCAL", ("krbtgt", "CONTOSO.LOCAL"), 18),
)
TGS_REQ = kdc_req(
    0x6C,
    12,
    [padata(1, b"\x6e\x00")],  # PA-TGS-REQ carrying the AP-REQ
    req_body(None, "CONTOSO.LOCAL", ("sip", "pool01.contoso.local"), 524919997, [23, 18]),
)
TGS_REP = kdc_rep(
    0x6D,
    13,
    [],
    "CONTOSO.LOCAL",
    "jdoe",
    ticket("CONTOSO.LOCAL", ("sip", "pool01.contoso.local"), 23),
)
ENV = Envelope(1_347_378_004_000_000_000, 21, 5, "10.20.0.57", 1105, "10.1.0.10", 88, "udp")


# ------------------------------------------------------------------- messages


def test_as_req_client_server_nonce_etypes_padata() -> None:
    msg = parse_kerberos(AS_REQ)
    assert (msg.name, msg.pvno, msg.realm, msg.cname, msg.sname) == (
        "AS-REQ",
        5,
        "CONTOSO.LOCAL",
        "jdoe",
        "krbtgt/CONTOSO.LOCAL",
    )
    assert (msg.nonce, msg.etypes, msg.padata_types) == (312297110, (18, 17, 23), (128,))
    assert msg.kdc_options == 0x40810010
    row = kerberos_values(msg, ENV)
    assert row["etype_names"] == ["aes256-cts-hmac-sha1-96", "aes128-cts-hmac-sha1-96", "rc4-hmac"]
    assert row["padata_names"] == ["PA-PAC-REQUEST"]


def test_as_rep_client_ticket_and_the_etypes_the_kdc_offers() -> None:
    msg = parse_kerberos(AS_REP)
    assert (msg.name, msg.realm, msg.cname, msg.sname) == (
        "AS-REP",
        "CONTOSO.LOCAL",
        "jdoe",
        "krbtgt/CONTOSO.LOCAL",
    )
    assert (msg.ticket_etype, msg.enc_etype, msg.etype_info) == (18, 23, (18,))
    assert msg.padata_types == (19,)


def test_tgs_req_names_the_service_and_has_no_client_in_clear() -> None:
    msg = parse_kerberos(TGS_REQ)
    assert (msg.name, msg.cname, msg.sname, msg.padata_types) == (
        "TGS-REQ",
        None,
        "sip/pool01.contoso.local",
        (1,),
    )


def test_tgs_rep_service_ticket() -> None:
    msg = parse_kerberos(TGS_REP)
    assert (msg.name, msg.sname, msg.ticket_etype) == ("TGS-REP", "sip/pool01.contoso.local", 23)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (25, "KDC_ERR_PREAUTH_REQUIRED"),
        (37, "KRB_AP_ERR_SKEW"),
        (6, "KDC_ERR_C_PRINCIPAL_UNKNOWN"),
        (7, "KDC_ERR_S_PRINCIPAL_UNKNOWN"),
        (14, "KDC_ERR_ETYPE_NOSUPP"),
        (24, "KDC_ERR_PREAUTH_FAILED"),
        (999, "error_999"),
    ],
)
def test_krb_error_codes_are_named(code: int, name: str) -> None:
    row = kerberos_values(parse_kerberos(krb_error(code)), ENV)
    assert (row["msg_type"], row["error_code"], row["error_name"]) == ("KRB-ERROR", code, name)


def test_preauth_required_lists_the_preauth_the_kdc_accepts() -> None:
    # e-data = METHOD-DATA: PA-ETYPE-INFO2 (aes256, rc4), PA-ENC-TIMESTAMP, PA-PK-AS-REQ
    method_data = seq(padata(19, etype_info2(18, 23)), padata(2), padata(16))
    msg = parse_kerberos(krb_error(25, e_data=method_data))
    assert msg.padata_types == (19, 2, 16)
    assert msg.etype_info == (18, 23)


def test_other_e_data_forms_leave_the_padata_list_empty() -> None:
    # Microsoft KERB-ERROR-DATA { data-type [1], data-value [2] }: not METHOD-DATA
    kerb_error_data = seq(explicit(1, integer(3)), explicit(2, octets(b"\x00" * 12)))
    msg = parse_kerberos(krb_error(6, e_data=kerb_error_data))
    assert (msg.error_code, msg.padata_types) == (6, ())


def test_skew_error_carries_the_kdc_time_as_clock_evidence() -> None:
    # The KDC says it is 2012-09-11T15:40:04.25Z; the frame was captured 15:40:04.00Z.
    msg = parse_kerberos(krb_error(37, ctime="20120911150000Z", text="clock skew too great"))
    row = kerberos_values(msg, ENV)
    assert row["stime"] == 1_347_378_004_250_000_000
    assert row["ctime"] == 1_347_375_600_000_000_000
    assert row["kdc_clock_offset_s"] == pytest.approx(0.25)
    assert row["error_text"] == "clock skew too great"


def test_principal_unknown_names_the_missing_spn() -> None:
    msg = parse_kerberos(krb_error(7, sname=("sip", "pool01.contoso.local"), cname=None))
    assert (msg.sname, msg.realm, msg.cname) == (
        "sip/pool01.contoso.local",
        "CONTOSO.LOCAL",
        None,
    )


def test_unparseable_time_is_left_empty() -> None:
    assert parse_kerberos(krb_error(37, stime="not-a-time!!!!Z")).stime_ns is None


def test_other_application_messages_are_named_only() -> None:
    msg = parse_kerberos(tlv(0x6E, seq(explicit(0, integer(5)))))
    assert (msg.name, msg.cname) == ("AP-REQ", None)
    assert parse_kerberos(tlv(0x79, seq())).name == "msg_25"  # [APPLICATION 25]: none


def test_not_an_application_tag_is_malformed() -> None:
    with pytest.raises(Malformed):
        parse_kerberos(seq(integer(5)))


def test_truncated_message_raises_truncated() -> None:
    with pytest.raises(Truncated):
        parse_kerberos(AS_REQ[:-1])


# ------------------------------------------------------------------------- TCP

FLOW = FlowInfo(5, "tcp", "10.20.0.57", 1105, "10.1.0.10", 88, 1)
TCP_ENV = Envelope(1_347_378_004_000_000_000, 30, 5, "10.20.0.57", 1105, "10.1.0.10", 88, "tcp")


def record(msg: bytes) -> bytes:
    return struct.pack("!I", len(msg)) + msg


def feed(chunks: list[tuple[int, bytes]], *, bytewise: bool = False) -> Sink:
    sink = Sink()
    session = KerberosSession(FLOW, sink)
    for direction, data in chunks:
        for piece in [data[i : i + 1] for i in range(len(data))] if bytewise else [data]:
            session.data(direction, piece, TCP_ENV)
    return sink


def kinds(sink: Sink) -> list[str]:
    return [r["msg_type"] for r in sink.rows.get("kerberos", [])]


def test_tcp_records_several_per_segment_and_split_across_segments() -> None:
    stream = record(AS_REQ) + record(TGS_REQ)
    sink = feed([(0, stream[:7]), (0, stream[7:100]), (0, stream[100:]), (1, record(AS_REP))])
    assert kinds(sink) == ["AS-REQ", "TGS-REQ", "AS-REP"]


def test_tcp_stream_fed_byte_by_byte_gives_the_same_rows() -> None:
    chunks = [(0, record(AS_REQ)), (1, record(krb_error(25)) + record(AS_REP))]
    assert feed(chunks, bytewise=True).rows == feed(chunks).rows


def test_tcp_record_with_the_reserved_bit_ends_that_direction() -> None:
    sink = feed([(0, b"\x80\x00\x00\x10" + bytes(16) + record(AS_REQ)), (1, record(AS_REP))])
    assert kinds(sink) == ["AS-REP"]
    assert sink.weird_counts["kerberos_malformed"] == 1


def test_tcp_malformed_record_is_skipped() -> None:
    sink = feed([(0, record(b"\x30\x00") + record(AS_REQ))])
    assert kinds(sink) == ["AS-REQ"]
    assert sink.weird_counts["kerberos_malformed"] == 1


def test_tcp_oversized_record_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kerberos_module, "MAX_RECORD", len(TGS_REQ))
    big = record(bytes(len(TGS_REQ) + 1))
    sink = feed([(0, big[:60]), (0, big[60:] + record(TGS_REQ))])
    assert kinds(sink) == ["TGS-REQ"]
    assert sink.weird_counts["kerberos_record_too_large"] == 1


def test_tcp_gap_inside_a_record_loses_only_that_record() -> None:
    sink = Sink()
    session = KerberosSession(FLOW, sink)
    session.data(0, record(AS_REQ)[:20], TCP_ENV)
    assert session.gap(0, 10, TCP_ENV)
    session.data(0, record(AS_REQ)[30:] + record(TGS_REQ), TCP_ENV)
    assert kinds(sink) == ["TGS-REQ"]


# ------------------------------------------------------------------- captures


def test_udp_kdc_exchange_in_a_capture(tmp_path: Path) -> None:
    phone, dc = bytes([10, 20, 0, 57]), bytes([10, 1, 0, 10])
    frames = [
        (100.0, ethernet(ipv4_udp(phone, dc, 1105, 88, payload=AS_REQ))),
        (100.01, ethernet(ipv4_udp(dc, phone, 88, 1105, payload=krb_error(25)))),
        (100.02, ethernet(ipv4_udp(phone, dc, 1105, 88, payload=b"\x6a\x05garbage"))),
    ]
    path = tmp_path / "krb.pcap"
    path.write_bytes(pcap(frames))
    analysis = analyze(path, protocols=["kerberos"])
    table = analysis.kerberos
    assert list(table.msg_type) == ["AS-REQ", "KRB-ERROR"]
    assert list(table.frame) == [1, 2]
    assert table.error_name.iloc[1] == "KDC_ERR_PREAUTH_REQUIRED"
    assert str(table.stime.dtype) == "datetime64[ns, UTC]"
    assert (analysis.weird.name == "kerberos_malformed").sum() == 1


def _has_kdc_traffic(capture: Path) -> bool:
    return capture == CORPUS / "zeek" / "aduser1.pcap"


KERBEROS_CAPTURES = [p for p in all_captures() if _has_kdc_traffic(p)]


@pytest.mark.tshark
@pytest.mark.parametrize("capture", KERBEROS_CAPTURES, ids=capture_id)
def test_kdc_messages_match_tshark(capture: Path) -> None:
    """zeek/aduser1.pcap has the only KDC exchange (TCP 88) among the captures; Kerberos in
    zeek/tkey.pcap (DNS GSS-TSIG) and zeek/missing_ldap_logs.pcapng (LDAP SASL binds) is
    inside other protocols, not to a KDC, and is not this table's."""
    out = run_tshark(
        capture,
        "-Y",
        "kerberos and (tcp.port == 88 or udp.port == 88)",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-E",
        "aggregator=,",
        "-e",
        "frame.number",
        "-e",
        "kerberos.msg_type",
        "-e",
        "kerberos.CNameString",
        "-e",
        "kerberos.nonce",
        "-e",
        "kerberos.ENCTYPE",
        "-e",
        "kerberos.padata_type",
        "-e",
        "kerberos.error_code",
    )
    theirs = []
    for line in out.splitlines():
        frame, msg_type, cname, nonce, etypes, pa, error = line.split("|")
        theirs.append(
            (
                int(frame),
                int(msg_type.split(",")[0]),  # TGS-REQ: "12,14" (its PA-TGS-REQ AP-REQ)
                cname or None,
                int(nonce) if nonce else None,
                [int(e) for e in etypes.split(",")] if etypes else [],
                [int(p) for p in pa.split(",")] if pa else [],
                int(error) if error else None,
            )
        )
    table = analyze(capture, protocols=["kerberos"]).kerberos
    codes = {"AS-REQ": 10, "AS-REP": 11, "TGS-REQ": 12, "TGS-REP": 13, "KRB-ERROR": 30}
    ours = [
        (
            int(r.frame),
            codes[r.msg_type],
            None if pd.isna(r.cname) else r.cname,
            None if pd.isna(r.nonce) else int(r.nonce),
            list(r.etypes) if isinstance(r.etypes, list) else [],
            list(r.padata_types),
            None if pd.isna(r.error_code) else int(r.error_code),
        )
        for r in table.itertuples()
    ]
    assert ours == theirs and theirs
    # Realm and service names: tshark joins name components with ","; ours with "/".
    out = run_tshark(
        capture,
        "-Y",
        "kerberos and tcp.port == 88",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "kerberos.SNameString",
    )
    snames = [line.split(",") for line in out.splitlines()]
    # TGS-REQ: tshark lists the PA-TGS-REQ ticket's sname (krbtgt) before the request's.
    assert [s.split("/") for s in table.sname] == [
        parts if len(parts) <= 2 else parts[2:] for parts in snames
    ]


# ---------------------------------------------------------------------- fuzzing

VALID = [AS_REQ, AS_REP, TGS_REQ, TGS_REP, krb_error(25, e_data=seq(padata(2)), text="x")]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_decode_errors(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        parse_kerberos(data)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(VALID), st.data())
def test_every_truncation_raises_a_decode_error(msg: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(msg) - 1))
    with pytest.raises(DecodeError):
        parse_kerberos(msg[:cut])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=40)), max_size=8))
def test_tcp_session_fed_random_bytes_never_raises(chunks: list[tuple[int, bytes]]) -> None:
    feed(chunks)

"""SIP: start lines, header fields (compact forms, name-addr, challenges), TCP framing,
sniffing, rows from captures, and the DecodeError contract."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from builders import ethernet, ipv4_udp, pcap, tcp_conversation
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.api import analyze
from analyzer.errors import DecodeError, Malformed, Truncated
from analyzer.protocols import sip
from analyzer.protocols.base import Envelope, Sink
from analyzer.protocols.sip import (
    SipFramed,
    SipNote,
    SipStream,
    parse_name_addr,
    parse_sip,
    sniff_sip,
    split_top_level,
)

# A Lync front end's challenge to a phone's first REGISTER (over TLS in real life; the
# same bytes in clear here), three schemes in three headers.
LYNC_401 = (
    b"SIP/2.0 401 Unauthorized\r\n"
    b"Date: Tue, 06 Nov 2012 08:12:41 GMT\r\n"
    b'WWW-Authenticate: NTLM realm="SIP Communications Service", '
    b'targetname="pool01.contoso.local", version=4\r\n'
    b'WWW-Authenticate: Kerberos realm="SIP Communications Service", '
    b'targetname="sip/pool01.contoso.local", version=4\r\n'
    b'WWW-Authenticate: TLS-DSK realm="SIP Communications Service", '
    b'targetname="pool01.contoso.local", version=4, '
    b'sts-uri="https://pool01.contoso.local:443/CertProv/CertProvisioningService.svc"\r\n'
    b"From: <sip:cx600@contoso.com>;tag=a1b2c3;epid=01010101\r\n"
    b"To: <sip:cx600@contoso.com>;tag=D5E0A4B0B3C6F5A1\r\n"
    b"Call-ID: 5a3e0f1c2b@10.20.0.88\r\n"
    b"CSeq: 1 REGISTER\r\n"
    b"Via: SIP/2.0/TLS 10.20.0.88:49160;branch=z9hG4bK1;ms-received-port=49160\r\n"
    b"Server: RTC/4.0\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)

# The phone's second REGISTER: compact header forms and an NTLM Authorization whose
# token must never reach a table.
REGISTER_WITH_AUTH = (
    b"REGISTER sip:contoso.com SIP/2.0\r\n"
    b"v: SIP/2.0/TCP 10.20.0.88:49160;branch=z9hG4bK2, SIP/2.0/TCP 10.9.9.9\r\n"  # Via
    b'f: "CX600, Lobby" <sip:cx600@contoso.com>;tag=a1b2c3\r\n'  # From, comma in quotes
    b"t: <sip:cx600@contoso.com>\r\n"  # To
    b"i: 5a3e0f1c2b@10.20.0.88\r\n"  # Call-ID
    b"CSeq: 2 REGISTER\r\n"
    b"m: <sip:10.20.0.88:49160;transport=tcp>;expires=900\r\n"  # Contact
    b"k: gruu\r\n"  # Supported
    b"User-Agent: OC/4.0.7577.4066 (Polycom CX600)\r\n"
    b'Authorization: NTLM qop="auth", realm="SIP Communications Service", '
    b'targetname="pool01.contoso.local", gssapi-data="TlRMTVNTUAADAAAAGAAYAHg="\r\n'
    b"c: application/sdp\r\n"  # Content-Type
    b"l: 4\r\n"  # Content-Length
    b"\r\n"
    b"v=0\n"
)


def test_request_line_fields() -> None:
    msg = parse_sip(REGISTER_WITH_AUTH)
    assert (msg.is_request, msg.method, msg.request_uri, msg.version) == (
        True,
        "REGISTER",
        "sip:contoso.com",
        "SIP/2.0",
    )


def test_status_line_fields() -> None:
    msg = parse_sip(LYNC_401)
    assert (msg.is_request, msg.status, msg.reason) == (False, 401, "Unauthorized")


def test_compact_header_forms_are_understood() -> None:
    msg = parse_sip(REGISTER_WITH_AUTH)
    assert msg.call_id == "5a3e0f1c2b@10.20.0.88"
    assert msg.from_ is not None and msg.from_.uri == "sip:cx600@contoso.com"
    assert msg.to is not None and msg.to.uri == "sip:cx600@contoso.com"
    assert (msg.content_type, msg.content_length, msg.body_length) == ("application/sdp", 4, 4)
    assert msg.headers.get("supported") == "gruu"


def test_cseq_number_and_method() -> None:
    msg = parse_sip(LYNC_401)
    assert (msg.cseq, msg.cseq_method) == (1, "REGISTER")


def test_from_and_to_tags() -> None:
    msg = parse_sip(LYNC_401)
    assert msg.from_ is not None and msg.to is not None
    assert (msg.from_.param("tag"), msg.from_.param("epid")) == ("a1b2c3", "01010101")
    assert msg.to.param("tag") == "D5E0A4B0B3C6F5A1"


def test_quoted_display_name_may_hold_commas() -> None:
    msg = parse_sip(REGISTER_WITH_AUTH)
    assert msg.from_ is not None and msg.from_.display == "CX600, Lobby"


def test_via_is_the_first_hop_only() -> None:
    assert parse_sip(REGISTER_WITH_AUTH).via == "SIP/2.0/TCP 10.20.0.88:49160;branch=z9hG4bK2"


def test_contact_uri_and_its_expires_parameter() -> None:
    msg = parse_sip(REGISTER_WITH_AUTH)
    assert (msg.contact, msg.expires) == ("sip:10.20.0.88:49160;transport=tcp", 900)


def test_expires_header_wins_over_the_contact_parameter() -> None:
    msg = parse_sip(REGISTER_WITH_AUTH.replace(b"k: gruu", b"Expires: 60"))
    assert msg.expires == 60


def test_challenges_list_every_scheme_with_realm_and_targetname() -> None:
    msg = parse_sip(LYNC_401)
    assert msg.auth_schemes == ("NTLM", "Kerberos", "TLS-DSK")
    assert msg.auth_realm == "SIP Communications Service"
    assert msg.auth_targetname == "pool01.contoso.local"
    assert [c.targetname for c in msg.challenges][1] == "sip/pool01.contoso.local"


def test_digest_proxy_challenge() -> None:
    msg = parse_sip(
        b"SIP/2.0 407 Proxy Authentication Required\r\n"
        b'Proxy-Authenticate: Digest realm="sip.example.com", nonce="abc", algorithm=MD5\r\n'
        b"\r\n"
    )
    assert (msg.auth_schemes, msg.auth_realm, msg.auth_targetname) == (
        ("Digest",),
        "sip.example.com",
        None,
    )


def test_authorization_keeps_the_scheme_never_the_credentials() -> None:
    msg = parse_sip(REGISTER_WITH_AUTH)
    assert msg.authorization == "NTLM"
    sink = Sink()
    sip.add_row(sink, _ENV, msg)
    (row,) = sink.rows["sip"]
    assert not any("TlRMTVNTUA" in str(v) for v in row.values())


def test_server_and_user_agent() -> None:
    assert parse_sip(LYNC_401).server == "RTC/4.0"
    assert parse_sip(REGISTER_WITH_AUTH).user_agent == "OC/4.0.7577.4066 (Polycom CX600)"


def test_message_without_blank_line_is_all_head() -> None:
    msg = parse_sip(b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n")
    assert (msg.method, msg.call_id, msg.body_length) == ("OPTIONS", "x", 0)


def test_very_long_via_is_kept() -> None:
    # zeek/sip-long-request-response-paths.pcap has a 9.5 kB Via.
    long_via = b"SIP/2.0/UDP " + b"a" * 9500
    msg = parse_sip(b"OPTIONS sip:bob@example.com SIP/2.0\r\nVia: " + long_via + b"\r\n\r\n")
    assert msg.via == long_via.decode()


def test_header_value_over_the_line_cap_is_cut() -> None:
    msg = parse_sip(
        b"OPTIONS sip:a@b SIP/2.0\r\nSubject: " + b"x" * (sip.MAX_LINE + 1) + b"\r\n\r\n"
    )
    assert len(msg.headers.raw("subject") or b"") == sip.MAX_LINE
    assert "header_line_cap" in msg.anomalies


def test_header_count_is_capped() -> None:
    many = b"".join(b"X-%d: v\r\n" % i for i in range(sip.MAX_HEADERS + 1))
    msg = parse_sip(b"OPTIONS sip:a@b SIP/2.0\r\n" + many + b"Call-ID: late\r\n\r\n")
    assert len(msg.headers) == sip.MAX_HEADERS and msg.call_id is None
    assert "header_count_cap" in msg.anomalies


def test_head_over_the_cap_is_malformed() -> None:
    with pytest.raises(Malformed):
        parse_sip(b"OPTIONS sip:a@b SIP/2.0\r\n" + b"X: y\r\n" * (sip.MAX_HEAD // 6 + 1) + b"\r\n")


def test_bad_start_line_is_malformed() -> None:
    with pytest.raises(Malformed):
        parse_sip(b"HELLO WORLD\r\n\r\n")


def test_empty_message_is_truncated() -> None:
    with pytest.raises(Truncated):
        parse_sip(b"\r\n\r\n")


def test_unterminated_uri_is_an_anomaly_not_an_error() -> None:
    msg = parse_sip(b"OPTIONS sip:a@b SIP/2.0\r\nFrom: <sip:a@b\r\n\r\n")
    assert msg.from_ is None and msg.anomalies == ("bad_from",)


def test_split_top_level_ignores_commas_in_quotes_and_brackets() -> None:
    assert split_top_level(b'"a,b" <sip:x;p=1,2>, <sip:y>') == [b'"a,b" <sip:x;p=1,2>', b"<sip:y>"]


def test_addr_spec_parameters_belong_to_the_header() -> None:
    addr = parse_name_addr(b"sip:bob@example.com;tag=7")
    assert (addr.uri, addr.param("tag")) == ("sip:bob@example.com", "7")


def test_keepalives_are_not_messages() -> None:
    assert sip.is_keepalive(b"\r\n\r\n") and sip.is_keepalive(b"\x00\x00\x00\x00")
    assert not sip.is_keepalive(LYNC_401)


# --------------------------------------------------------------------- TCP framing


def _frame(stream: SipStream[int], *chunks: bytes, close: bool = True) -> list[Any]:
    events: list[Any] = []
    for i, chunk in enumerate(chunks):
        events += stream.feed(chunk, i)
    if close:
        events += stream.close(len(chunks) - 1)
    return events


def _summary(events: list[Any]) -> list[Any]:
    return [
        (e.message.method or e.message.status, e.message.body_length, e.mark)
        if isinstance(e, SipFramed)
        else e.name
        for e in events
    ]


def test_messages_are_framed_by_content_length() -> None:
    events = _frame(SipStream(), REGISTER_WITH_AUTH + LYNC_401)
    assert _summary(events) == [("REGISTER", 4, 0), (401, 0, 0)]


def test_crlf_keepalives_between_messages_are_skipped() -> None:
    events = _frame(SipStream(), b"\r\n\r\n", LYNC_401, b"\r\n", LYNC_401)
    assert _summary(events) == [(401, 0, 1), (401, 0, 3)]


def test_body_split_across_segments_completes_at_its_last_byte() -> None:
    events = _frame(SipStream(), REGISTER_WITH_AUTH[:-2], REGISTER_WITH_AUTH[-2:])
    assert _summary(events) == [("REGISTER", 4, 1)]


def test_gap_inside_a_body_is_skipped() -> None:
    stream: SipStream[int] = SipStream()
    events = stream.feed(REGISTER_WITH_AUTH[:-3], 0) + stream.gap(2, 1)
    events += stream.feed(b"\n" + LYNC_401, 2)
    assert _summary(events) == [("REGISTER", 2, 2), (401, 0, 2)]


def test_gap_in_a_head_ends_the_framing() -> None:
    stream: SipStream[int] = SipStream()
    events = stream.feed(LYNC_401[:20], 0) + stream.gap(5, 1)
    assert _summary(events) == ["sip_gap"] and stream.done


def test_message_cut_by_the_end_of_the_capture_is_still_reported() -> None:
    events = _frame(SipStream(), REGISTER_WITH_AUTH[:-2])
    assert _summary(events) == [("REGISTER", 2, 0), "sip_truncated_body"]


def test_malformed_head_ends_the_framing() -> None:
    events = _frame(SipStream(), b"NOT SIP AT ALL\r\n\r\n" + LYNC_401)
    (note,) = events
    assert isinstance(note, SipNote) and isinstance(note.error, Malformed)


def test_unterminated_head_over_the_cap_is_malformed() -> None:
    stream: SipStream[int] = SipStream()
    events = stream.feed(b"OPTIONS sip:a@b SIP/2.0\r\nX: " + b"a" * sip.MAX_HEAD, 0)
    assert _summary(events) == ["sip_malformed"] and stream.done


@pytest.mark.parametrize(
    ("head", "verdict"),
    [
        (b"REGISTER sip:contoso.com SIP/2.0\r\n", True),
        (b"INVITE sips:bob@contoso.com SIP/2.0\r\n", True),
        (b"INVITE tel:+14255550100 SIP/2.0\r\n", True),
        (b"SIP/2.0 401 Unauthorized\r\n", True),
        (b"\r\n\r\nSIP/2.0 200 OK\r\n", True),  # after a keep-alive
        (b"\r\n", None),
        (b"REGIS", None),
        (b"REGISTER si", None),
        (b"SIP/2.0 4", None),
        (b"GET / HTTP/1.1\r\n", False),
        (b"OPTIONS * HTTP/1.1\r\n", False),
        (b"SIP/3.0 200 OK", False),
        (b"\x16\x03\x01\x00\xa5", False),
    ],
)
def test_sniffing(head: bytes, verdict: bool | None) -> None:
    assert sniff_sip(head) is verdict


# ------------------------------------------------------------------ from captures

_ENV = Envelope(1_352_189_561_000_000_000, 1, 0, "10.20.0.88", 5060, "10.1.0.50", 5060, "udp")


def _udp_capture(tmp_path: Path, *payloads: bytes, sport: int = 5060) -> Path:
    frames = [
        (1_352_189_561.0 + i, ethernet(ipv4_udp(sport=sport, dport=5060, payload=p)))
        for i, p in enumerate(payloads)
    ]
    path = tmp_path / "sip.pcap"
    path.write_bytes(pcap(frames))
    return path


def test_udp_rows_one_per_message(tmp_path: Path) -> None:
    path = _udp_capture(tmp_path, REGISTER_WITH_AUTH, b"\r\n\r\n", LYNC_401)
    table = analyze(path, protocols=["sip"], strict=True).sip
    assert list(table["frame"]) == [1, 3]
    assert list(table["kind"]) == ["request", "response"]
    assert table["auth_schemes"][1] == ["NTLM", "Kerberos", "TLS-DSK"]
    assert table["authorization"][0] == "NTLM"


def test_malformed_datagram_is_a_weird_row(tmp_path: Path) -> None:
    analysis = analyze(_udp_capture(tmp_path, b"\x80\x00garbage"), protocols=["sip"])
    assert len(analysis.sip) == 0
    assert list(analysis.weird["name"]) == ["sip_malformed"]


def test_tcp_on_another_port_is_claimed_by_content(tmp_path: Path) -> None:
    path = tmp_path / "sip-tcp.pcap"
    server = (bytes([10, 1, 0, 50]), 5070)
    path.write_bytes(
        tcp_conversation(
            [(0, REGISTER_WITH_AUTH[:50]), (0, REGISTER_WITH_AUTH[50:]), (1, LYNC_401)],
            server=server,
        )
    )
    table = analyze(path, protocols=["sip"], strict=True).sip
    assert list(table["frame"]) == [5, 6]  # the frames that completed each message
    assert list(table["transport"]) == ["tcp", "tcp"]
    assert list(table["status"].astype("object").fillna(0)) == [0, 401]


# ------------------------------------------------------------------------ fuzzing


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_only_raise_decode_errors(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        parse_sip(data)


_lines = st.lists(
    st.sampled_from(
        [
            b"f: <sip:a@b>;tag=1",
            b'From: "x',
            b"To: <sip:",
            b"CSeq: x y",
            b"CSeq: 99999999999999999999 REGISTER",
            b"Contact: *",
            b"m: <sip:a>;expires=abc",
            b"WWW-Authenticate: ",
            b'WWW-Authenticate: NTLM realm="',
            b"Authorization: ",
            b"l: -1",
            b"Via: ,",
            b" folded",
            b"\xff\xfe: \x00",
        ]
    ),
    max_size=12,
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([b"REGISTER sip:a SIP/2.0", b"SIP/2.0 401 X"]), _lines)
def test_hostile_header_values_only_raise_decode_errors(first: bytes, lines: list[bytes]) -> None:
    with contextlib.suppress(DecodeError):
        parse_sip(b"\r\n".join([first, *lines]) + b"\r\n\r\n")


STREAM = b"\r\n" + REGISTER_WITH_AUTH + b"\r\n\r\n" + LYNC_401 + REGISTER_WITH_AUTH


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(STREAM)))
def test_stream_fed_byte_by_byte_gives_the_same_messages(cut: int) -> None:
    data = STREAM[:cut]
    whole = _frame(SipStream(), data, close=False)
    bytewise: list[Any] = []
    stream: SipStream[int] = SipStream()
    for i in range(len(data)):
        bytewise += stream.feed(data[i : i + 1], 0)
    assert [e.message for e in bytewise] == [e.message for e in whole]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=120), max_size=8))
def test_random_streams_never_raise(chunks: list[bytes]) -> None:
    _frame(SipStream(), *chunks)

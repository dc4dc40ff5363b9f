"""HTTP/1.x: heads, framing, request/response pairing, certificates in bodies, sniffing,
and the DecodeError contract."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gzip
import json
import zlib
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from builders import tcp_conversation
from conftest import SAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.api import analyze
from analyzer.errors import DecodeError, Malformed, Truncated
from analyzer.protocols import http
from analyzer.protocols.base import Envelope, Sink
from analyzer.protocols.http import (
    HttpConnection,
    HttpNote,
    HttpTransaction,
    decode_content,
    find_certificates,
    parse_header_lines,
    parse_http_head,
    sniff_http,
)

# ------------------------------------------------------------------ test certificates


def _certificate(cn: str) -> bytes:
    """A small self-signed EC certificate, DER."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2012, 1, 1, tzinfo=dt.timezone.utc))
        .not_valid_after(dt.datetime(2032, 1, 1, tzinfo=dt.timezone.utc))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER)


ROOT = _certificate("Contoso Test Root")
ISSUING = _certificate("Contoso Test Issuing")


def _pem(der: bytes) -> bytes:
    b64 = base64.encodebytes(der).replace(b"\n", b"")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"


def _p7b(*ders: bytes, pem: bool = False) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

    certs = [x509.load_der_x509_certificate(d) for d in ders]
    return pkcs7.serialize_certificates(certs, Encoding.PEM if pem else Encoding.DER)


# ------------------------------------------------------------------------- heads


def test_request_line_fields() -> None:
    head = parse_http_head(
        b"POST /CertProv/CertProvisioningService.svc HTTP/1.1\r\n"  # method, target, version
        b"Host: lyncweb.contoso.local\r\n"
        b"\r\n"
    )
    assert (head.is_request, head.method, head.target, head.version) == (
        True,
        "POST",
        "/CertProv/CertProvisioningService.svc",
        "HTTP/1.1",
    )


def test_status_line_fields() -> None:
    head = parse_http_head(b"HTTP/1.0 304 Not Modified\r\n\r\n")
    assert (head.is_request, head.status, head.reason, head.version) == (
        False,
        304,
        "Not Modified",
        "HTTP/1.0",
    )


def test_status_line_without_reason_phrase() -> None:
    assert parse_http_head(b"HTTP/1.1 200\r\n\r\n").reason is None


def test_header_names_are_case_insensitive() -> None:
    head = parse_http_head(b"GET / HTTP/1.1\r\ncOnTeNt-TyPe: text/xml\r\n\r\n")
    assert head.headers.get("Content-Type") == "text/xml"


def test_folded_header_lines_are_joined_with_one_space() -> None:
    head = parse_http_head(b"GET / HTTP/1.1\r\nX-Long: first\r\n \t second\r\n\r\n")
    assert head.headers.get("x-long") == "first second"


def test_bare_lf_line_ends_are_accepted() -> None:
    head = parse_http_head(b"GET /a HTTP/1.0\nHost: h\n\n")
    assert (head.target, head.headers.get("host")) == ("/a", "h")


def test_header_count_is_capped() -> None:
    lines = [b"X-%d: v" % i for i in range(http.MAX_HEADERS + 10)]
    headers, anomalies = parse_header_lines(lines)
    assert len(headers) == http.MAX_HEADERS
    assert "header_count_cap" in anomalies


def test_long_header_value_is_cut() -> None:
    headers, anomalies = parse_header_lines([b"X-Big: " + b"a" * (http.MAX_LINE + 5)])
    assert len(headers.raw("x-big") or b"") == http.MAX_LINE
    assert anomalies == ["header_line_cap"]


def test_folded_value_is_cut_after_it_is_joined() -> None:
    lines = [b"X-Big: a", *([b" " + b"b" * 1000] * 20)]
    headers, anomalies = parse_header_lines(lines, max_line=5000)
    assert headers.raw("x-big") == (b"a" + (b" " + b"b" * 1000) * 20)[:5000]
    assert anomalies == ["header_line_cap"]


def test_many_folded_lines_are_joined_in_order() -> None:
    headers, anomalies = parse_header_lines([b"X: v", *([b" x"] * 10_000)], max_line=10**6)
    assert headers.raw("x") == b"v" + b" x" * 10_000 and anomalies == []


@pytest.mark.parametrize(
    ("block", "lines"),
    [
        (b"a\r\nb\r\n\r\n", [b"a", b"b"]),
        (b"a\r\r\nb\r", [b"a\r", b"b"]),
        (b"a\n\r\r\n\r\n", [b"a"]),
        (b"a\rb\n\r", [b"a\rb"]),
        (b"\r", []),
    ],
)
def test_split_lines_takes_one_cr_off_each_line(block: bytes, lines: list[bytes]) -> None:
    assert http.split_lines(block) == lines


def test_display_text_escapes_control_characters_only() -> None:
    assert http.text(b"a\tb\x7fc\xe2\x80\xa8d\xc3\xa9") == "a\tb\\x7fc\u2028dé"


def test_header_line_without_colon_is_skipped() -> None:
    headers, anomalies = parse_header_lines([b"garbage line", b"Host: h"])
    assert headers.get("host") == "h" and anomalies == ["header_without_colon"]


def test_control_characters_in_values_are_escaped() -> None:
    head = parse_http_head(b"GET / HTTP/1.1\r\nUser-Agent: a\x1b[2Jb\r\n\r\n")
    assert head.headers.get("user-agent") == "a\\x1b[2Jb"


def test_start_line_that_is_not_http_is_malformed() -> None:
    with pytest.raises(Malformed):
        parse_http_head(b"SSH-2.0-OpenSSH_8.9\r\n\r\n")


def test_http_2_status_line_is_malformed() -> None:
    with pytest.raises(Malformed):
        parse_http_head(b"HTTP/2.0 200 OK\r\n\r\n")


def test_empty_head_is_truncated() -> None:
    with pytest.raises(Truncated):
        parse_http_head(b"\r\n")


# ---------------------------------------------------------------------- framing

MARK = 0


def _feed(conn: HttpConnection[int], *chunks: tuple[int, bytes], close: bool = True) -> list[Any]:
    """Feed (direction, bytes) pieces, each with its index as mark; events out."""
    events: list[Any] = []
    for i, (direction, data) in enumerate(chunks):
        events += conn.feed(direction, data, i)
    if close:
        events += conn.close()
    return events


def _pairs(events: list[Any]) -> list[tuple[Any, ...]]:
    out = []
    for e in events:
        if isinstance(e, HttpTransaction):
            req, resp = e.request, e.response
            out.append(
                (
                    req.head.target if req else None,
                    resp.head.status if resp else None,
                    resp.body_length if resp else None,
                )
            )
    return out


def _notes(events: list[Any]) -> list[str]:
    return [e.name for e in events if isinstance(e, HttpNote)]


GET_A = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
GET_B = b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"


def test_body_delimited_by_content_length() -> None:
    conn: HttpConnection[int] = HttpConnection(keep_body=lambda head: True)
    events = _feed(
        conn,
        (0, GET_A),
        (1, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"),
        (1, b"lo"),
    )
    (t,) = events
    assert t.response.body == b"hello" and t.response.complete
    assert (t.request.end_mark, t.response.head_mark, t.response.end_mark) == (0, 1, 2)


def test_chunked_body_with_trailers() -> None:
    conn: HttpConnection[int] = HttpConnection(keep_body=lambda head: True)
    events = _feed(
        conn,
        (0, GET_A),
        (
            1,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n"  # chunk of 5 bytes with an extension
            b"6\r\n world\r\n"  # chunk of 6 bytes
            b"0\r\n"  # last chunk
            b"Checksum: abc\r\n\r\n",  # trailer section
        ),
    )
    (t,) = events
    assert t.response.body == b"hello world"
    assert t.response.trailers is not None and t.response.trailers.get("checksum") == "abc"


def test_chunked_body_without_trailers() -> None:
    conn: HttpConnection[int] = HttpConnection()
    events = _feed(
        conn,
        (0, GET_A),
        (1, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        (1, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        close=False,
    )
    assert _pairs(events) == [("/a", 200, 3), (None, 200, 0)]


def test_response_to_head_has_no_body() -> None:
    conn: HttpConnection[int] = HttpConnection()
    events = _feed(
        conn,
        (0, b"HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n" + GET_B),
        # Content-Length describes the GET's body, none follows the HEAD answer.
        (1, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"),
        (1, b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"),
    )
    assert _pairs(events) == [("/a", 200, 0), ("/b", 404, 2)]


@pytest.mark.parametrize("status", [204, 304])
def test_204_and_304_have_no_body(status: int) -> None:
    conn: HttpConnection[int] = HttpConnection()
    events = _feed(conn, (0, GET_A), (1, b"HTTP/1.1 %d X\r\n\r\n" % status))
    assert _pairs(events) == [("/a", status, 0)]


def test_interim_100_continue_is_skipped_and_does_not_consume_the_request() -> None:
    conn: HttpConnection[int] = HttpConnection()
    events = _feed(
        conn,
        (0, b"POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"),
        (1, b"HTTP/1.1 100 Continue\r\n\r\n"),
        (0, b"ok"),
        (1, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
    )
    assert _pairs(events) == [("/up", 201, 0)]


def test_response_without_length_runs_until_the_close() -> None:
    conn: HttpConnection[int] = HttpConnection(keep_body=lambda head: True)
    events = _feed(conn, (0, GET_A), (1, b"HTTP/1.0 200 OK\r\n\r\nall "), (1, b"of it"))
    (t,) = events
    assert t.response.body == b"all of it" and t.response.complete
    assert t.response.end_mark == 2  # the last data, not the close


def test_pipelined_requests_are_matched_in_order() -> None:
    conn: HttpConnection[int] = HttpConnection()
    events = _feed(
        conn,
        (0, GET_A + GET_B),  # both requests in one segment
        (1, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nAHTTP/1.1 404 No\r\nContent-Length: 0"),
        (1, b"\r\n\r\n"),
    )
    assert _pairs(events) == [("/a", 200, 1), ("/b", 404, 0)]


def test_unanswered_request_is_reported_at_the_close() -> None:
    conn: HttpConnection[int] = HttpConnection()
    assert _pairs(_feed(conn, (0, GET_A))) == [("/a", None, None)]


def test_response_without_request_is_reported_alone() -> None:
    conn: HttpConnection[int] = HttpConnection()
    events = _feed(conn, (1, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    assert _pairs(events) == [(None, 200, 0)]


def test_connect_tunnel_ends_the_parsing() -> None:
    conn: HttpConnection[int] = HttpConnection()
    events = _feed(
        conn,
        (0, b"CONNECT pool01.contoso.local:443 HTTP/1.1\r\n\r\n"),
        (1, b"HTTP/1.1 200 Connection established\r\n\r\n"),
        close=False,
    )
    assert _pairs(events) == [("pool01.contoso.local:443", 200, 0)]
    assert conn.done
    assert conn.feed(0, b"\x16\x03\x01\x00\x05hello", 9) == []  # TLS inside: not parsed


def test_switching_protocols_ends_the_parsing() -> None:
    conn: HttpConnection[int] = HttpConnection()
    _feed(
        conn,
        (0, b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"),
        (1, b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
        close=False,
    )
    assert conn.done


def test_pending_requests_are_capped() -> None:
    conn: HttpConnection[int] = HttpConnection(max_pending=2)
    events = _feed(conn, (0, GET_A * 3), close=False)
    assert _notes(events) == ["http_pending_cap"]
    assert _pairs(events) == [("/a", None, None)]  # the oldest, reported unanswered


def test_body_over_the_cap_is_counted_not_kept() -> None:
    conn: HttpConnection[int] = HttpConnection(keep_body=lambda head: True, max_body=4)
    events = _feed(conn, (0, GET_A), (1, b"HTTP/1.0 200 OK\r\n\r\n12345678"))
    assert _notes(events) == ["http_body_cap"]
    (t,) = [e for e in events if isinstance(e, HttpTransaction)]
    assert t.response is not None
    assert t.response.body is None and t.response.body_length == 8


def test_declared_length_over_the_cap_is_reported_at_the_head() -> None:
    conn: HttpConnection[int] = HttpConnection(keep_body=lambda head: True, max_body=4)
    events = conn.feed(1, b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", 0)
    assert _notes(events) == ["http_body_cap"]


def test_head_over_the_cap_is_malformed() -> None:
    conn: HttpConnection[int] = HttpConnection()
    events = conn.feed(0, b"GET / HTTP/1.1\r\nX: " + b"a" * (http.MAX_HEAD + 1), 0)
    assert _notes(events) == ["http_malformed"]
    assert conn.feed(0, b"\r\n\r\n", 1) == []  # the direction is given up


def test_gap_inside_a_body_of_known_length_is_skipped() -> None:
    conn: HttpConnection[int] = HttpConnection(keep_body=lambda head: True)
    events = conn.feed(0, GET_A, 0)
    events += conn.feed(1, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 1)
    events += conn.gap(1, 4, 2)
    events += conn.feed(1, b"xyz" + b"HTTP/1.1 204 No\r\n\r\n", 3)
    t = events[0]
    assert isinstance(t, HttpTransaction) and t.response is not None
    assert (t.response.body_length, t.response.body_missing, t.response.body) == (6, 4, None)
    assert _pairs(events) == [("/a", 200, 6), (None, 204, 0)]


def test_gap_in_a_head_gives_up_the_direction() -> None:
    conn: HttpConnection[int] = HttpConnection()
    events = conn.feed(0, b"GET /a HT", 0) + conn.gap(0, 10, 1)
    assert _notes(events) == ["http_gap"]


def test_bad_chunk_size_is_malformed() -> None:
    conn: HttpConnection[int] = HttpConnection()
    events = conn.feed(1, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0)
    (note,) = [e for e in events if isinstance(e, HttpNote)]
    assert isinstance(note.error, Malformed)


def test_conflicting_content_lengths_are_malformed() -> None:
    conn: HttpConnection[int] = HttpConnection()
    events = conn.feed(0, b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 0)
    assert _notes(events) == ["http_malformed"]


# ----------------------------------------------------------------- certificates


def test_der_certificate_body() -> None:
    assert find_certificates(ROOT) == [ROOT]


def test_concatenated_der_certificates() -> None:
    assert find_certificates(ROOT + ISSUING) == [ROOT, ISSUING]


def test_pem_blocks_in_any_text() -> None:
    body = b"Root:\n" + _pem(ROOT) + b"\nIssuing:\r\n" + _pem(ISSUING).replace(b"\n", b"\r\n")
    assert find_certificates(body) == [ROOT, ISSUING]


def test_der_pkcs7_p7b() -> None:
    assert find_certificates(_p7b(ROOT, ISSUING)) == [ROOT, ISSUING]


def test_pem_pkcs7() -> None:
    assert find_certificates(_p7b(ROOT, pem=True)) == [ROOT]


def test_base64_pkcs7_in_a_soap_envelope() -> None:
    # What the Lync Certificate Provisioning service answers (see samples/scenario).
    chain = base64.b64encode(_p7b(ROOT, ISSUING))
    body = (
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
        b"<GetRootCertificateChainResponse>"
        b'<CertificateChain encoding="base64-pkcs7">' + chain + b"</CertificateChain>"
        b"</GetRootCertificateChainResponse></s:Body></s:Envelope>"
    )
    assert find_certificates(body) == [ROOT, ISSUING]


def test_base64_certificate_with_xml_line_break_entities() -> None:
    b64 = base64.b64encode(ROOT)
    wrapped = b"&#13;\n".join(b64[i : i + 76] for i in range(0, len(b64), 76))
    assert find_certificates(b"<Cert>" + wrapped + b"</Cert>") == [ROOT]


def test_base64_certificate_in_json() -> None:
    body = json.dumps({"certificate": base64.b64encode(ROOT).decode()}).encode()
    assert find_certificates(body) == [ROOT]


def test_repeated_certificate_is_listed_once() -> None:
    assert find_certificates(_pem(ROOT) + _pem(ROOT)) == [ROOT]


def test_body_without_certificates() -> None:
    assert find_certificates(b"<html>MII but not base64 enough</html>") == []
    assert find_certificates(b"\x30\x82\x00\x10" + bytes(16)) == []  # a SEQUENCE, not a cert


def test_gzip_body_is_decompressed() -> None:
    assert decode_content(gzip.compress(_pem(ROOT)), "gzip") == (_pem(ROOT), None)


def test_raw_deflate_body_is_decompressed() -> None:
    raw = zlib.compressobj(wbits=-15)
    data = raw.compress(ROOT) + raw.flush()
    assert decode_content(data, "deflate") == (ROOT, None)


def test_decompression_is_capped() -> None:
    bomb = gzip.compress(bytes(http.MAX_DECOMPRESSED + 1000))
    out, anomaly = decode_content(bomb, "gzip")
    assert anomaly == "decompress_cap" and out is not None
    assert len(out) == http.MAX_DECOMPRESSED


def test_unknown_content_coding_is_not_decoded() -> None:
    assert decode_content(b"x", "br") == (None, "content_encoding_unsupported")


def test_corrupt_gzip_is_reported() -> None:
    assert decode_content(b"not gzip", "gzip") == (None, "decompress_failed")


# ------------------------------------------------------------------------ sniffing


@pytest.mark.parametrize(
    ("head", "verdict"),
    [
        (b"GET /index.html HTTP/1.1\r\n", True),
        (b"POST http://proxy.example/x HTTP/1.0\r\n", True),
        (b"OPTIONS * HTTP/1.1\r\n", True),
        (b"CONNECT pool01.contoso.local:443 HTTP/1.1\r\n", True),
        (b"HTTP/1.1 200 OK\r\n", True),
        (b"GET /" + b"a" * 70, True),  # a long target fills the 64-byte window
        (b"GE", None),
        (b"GET /in", None),
        (b"GET /index.html HTT", None),
        (b"HTTP/1.", None),
        (b"OPTIONS sip:bob@example.com SIP/2.0\r\n", False),  # SIP, not HTTP
        (b"REGISTER sip:contoso.com SIP/2.0\r\n", False),
        (b"\x16\x03\x01\x00\xa5\x01\x00", False),  # a TLS ClientHello
        (b"GET index.html HTTP/1.1\r\n", False),  # not an origin-form target
        (b"GET /a HTTP/2.0\r\n", False),
        (b"HTTP/2.0 200 OK\r\n", False),
        (b"SSH-2.0-OpenSSH\r\n", False),
    ],
)
def test_sniffing(head: bytes, verdict: bool | None) -> None:
    assert sniff_http(head) is verdict


# ------------------------------------------------------------------ session rows


def _env(direction: int, frame: int = 1, ts_ns: int = 1_000_000_000) -> Envelope:
    ends = [("10.20.0.88", 1273), ("10.1.0.55", 80)]
    (src, sport), (dst, dport) = ends[direction], ends[1 - direction]
    return Envelope(ts_ns, frame, 1, src, sport, dst, dport, "tcp")


def _run_session(chunks: list[tuple[int, bytes]], *, bytewise: bool = False) -> Sink:
    sink = Sink()
    session = http.HttpSession(None, sink)  # type: ignore[arg-type]
    for frame, (direction, data) in enumerate(chunks, 1):
        env = _env(direction, frame, frame * 1_000_000)
        pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
        for piece in pieces:
            session.data(direction, piece, env)
    session.close(None)
    return sink


PROVISIONING = [
    (
        0,
        b"POST /CertProv/CertProvisioningService.svc HTTP/1.1\r\n"
        b"Content-Type: application/soap+xml; charset=utf-8\r\n"
        b"User-Agent: OC/4.0.7577.4066 (Polycom CX600)\r\n"
        b"Host: lyncweb.contoso.local\r\nContent-Length: 4\r\n\r\n<s/>",
    ),
    (
        1,
        b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml; charset=utf-8\r\n"
        b"Server: Microsoft-IIS/7.5\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"
        b"\r\n",
    ),
]


def _provisioning() -> list[tuple[int, bytes]]:
    body = gzip.compress(
        b"<CertificateChain>" + base64.b64encode(_p7b(ROOT)) + b"</CertificateChain>"
    )
    return [*PROVISIONING, (1, b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")]


def test_row_pairs_request_and_response_with_certificates() -> None:
    sink = _run_session(_provisioning())
    (row,) = sink.rows["http"]
    assert (row["method"], row["host"], row["path"], row["status"]) == (
        "POST",
        "lyncweb.contoso.local",
        "/CertProv/CertProvisioningService.svc",
        200,
    )
    assert (row["request_frame"], row["response_frame"], row["latency_s"]) == (1, 3, 0.002)
    assert (row["src"], row["dst"], row["frame"]) == ("10.20.0.88", "10.1.0.55", 1)
    assert row["certificate_sha256"] == [sha256(ROOT).hexdigest()]
    (sighting,) = sink.certificates
    assert sighting["der"] == ROOT and sighting["source"] == "http"
    assert sighting["url"] == "http://lyncweb.contoso.local/CertProv/CertProvisioningService.svc"


def test_unsolicited_response_row_is_oriented_client_to_server() -> None:
    sink = _run_session([(1, b"HTTP/1.1 204 No Content\r\n\r\n")])
    (row,) = sink.rows["http"]
    assert (row["src"], row["dst"], row["status"], row.get("method")) == (
        "10.20.0.88",
        "10.1.0.55",
        204,
        None,
    )


def test_images_are_not_kept() -> None:
    assert not http.may_carry_certificates(
        parse_http_head(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n")
    )
    assert http.may_carry_certificates(
        parse_http_head(b"HTTP/1.1 200 OK\r\nContent-Type: application/pkix-cert\r\n\r\n")
    )


def test_streams_fed_byte_by_byte_give_the_same_rows() -> None:
    whole = _run_session(_provisioning())
    bytewise = _run_session(_provisioning(), bytewise=True)
    assert bytewise.rows == whole.rows
    assert [c["der"] for c in bytewise.certificates] == [c["der"] for c in whole.certificates]


# ------------------------------------------------------------ the sample capture


def test_provisioning_sample_certificates_equal_the_truth() -> None:
    truth = json.loads((SAMPLES / "lpe-cert-provisioning.truth.json").read_text())
    expected = {c["sha256"] for c in truth["certificates"] if "http" in c["served_via"]}
    analysis = analyze(SAMPLES / "lpe-cert-provisioning.pcapng", protocols=["http"], strict=True)
    seen = {sha256(c["der"]).hexdigest() for c in analysis.certificate_sightings}
    assert seen == expected
    (row,) = analysis.http.itertuples()
    assert (row.method, row.status, row.server) == ("POST", 200, "Microsoft-IIS/7.5")
    assert row.certificate_sha256 == sorted(expected)


def test_another_port_is_claimed_by_content(tmp_path: Path) -> None:
    # WinRM-style HTTP on 5985: no port rule, the request line gives it away.
    path = tmp_path / "http-5985.pcap"
    request = b"GET /wsman HTTP/1.1\r\nHost: dc01\r\n\r\n"
    response = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\n"
    response += b"Content-Length: 0\r\n\r\n"
    path.write_bytes(
        tcp_conversation(
            [(0, request[:10]), (0, request[10:]), (1, response)],
            server=(bytes([10, 1, 0, 10]), 5985),
        )
    )
    table = analyze(path, protocols=["http"], strict=True).http
    assert list(zip(table["path"], table["status"], table["request_frame"], strict=True)) == [
        ("/wsman", 401, 5)
    ]


def test_tls_on_port_443_is_not_claimed(tmp_path: Path) -> None:
    path = tmp_path / "tls.pcap"
    hello = bytes.fromhex("16 0301 0031 01 00002d 0301") + bytes(43)  # a ClientHello start
    path.write_bytes(tcp_conversation([(0, hello)], server=(bytes([10, 1, 0, 50]), 443)))
    assert len(analyze(path, protocols=["http"], strict=True).http) == 0


# ------------------------------------------------------------------------ fuzzing


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_heads_only_raise_decode_errors(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        parse_http_head(data)


CONVERSATION = [
    (0, GET_A),
    (1, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nMIIB\r\n0\r\nX: y\r\n\r\n"),
    (0, b"POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
    (1, b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + _pem(ROOT)),
]

_pieces = st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=80)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(_pieces)
def test_random_streams_never_raise(pieces: list[tuple[int, bytes]]) -> None:
    conn: HttpConnection[int] = HttpConnection(keep_body=lambda head: True)
    _feed(conn, *pieces)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, sum(len(d) for _, d in CONVERSATION)), st.randoms(use_true_random=False))
def test_truncated_and_resplit_conversations_agree(cut: int, rnd: Any) -> None:
    """A conversation cut anywhere and split at random points gives the same events as
    the same cut fed in whole pieces."""
    chunks: list[tuple[int, bytes]] = []
    left = cut
    for direction, data in CONVERSATION:
        if left <= 0:
            break
        chunks.append((direction, data[:left]))
        left -= len(data)
    split: list[tuple[int, bytes]] = []
    for direction, data in chunks:
        while data:
            n = rnd.randint(1, max(1, len(data)))
            split.append((direction, data[:n]))
            data = data[n:]

    def summary(pieces: list[tuple[int, bytes]]) -> list[Any]:
        conn: HttpConnection[int] = HttpConnection(keep_body=lambda head: True)
        events = []
        for direction, data in pieces:
            events += conn.feed(direction, data, MARK)
        events += conn.close()
        return [
            (
                _pairs([e]),
                e.response.body if isinstance(e, HttpTransaction) and e.response else None,
            )
            if isinstance(e, HttpTransaction)
            else e.name
            for e in events
        ]

    assert summary(split) == summary(chunks)

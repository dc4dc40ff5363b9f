"""One TLS connection, both directions: what its row says and how the handshake ended.

Conversations are written record by record below; each list item is one TCP delivery
(``(direction, bytes)``, 0 = client) or a close (``(direction, "fin" | "rst")``), and gets
frame number = its position + 1.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from builders import ethernet, ipv4_tcp, pcap
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.api import analyze
from analyzer.capture.pipeline import FlowInfo
from analyzer.protocols.base import Envelope, Sink
from analyzer.protocols.tls import TlsDissector
from analyzer.protocols.tls_names import HELLO_RETRY_REQUEST_RANDOM

PHONE, POOL = "10.20.0.57", "10.1.0.50"
FLOW = FlowInfo(7, "tcp", PHONE, 1399, POOL, 5061, 1)
T0 = 1_330_596_000_000_000_000  # 2012-03-01T10:00:00Z, ns
Event = tuple[int, Any]


def record(content_type: int, payload: bytes, version: int = 0x0301) -> bytes:
    return (
        bytes([content_type])
        + version.to_bytes(2, "big")
        + len(payload).to_bytes(2, "big")
        + payload
    )


def handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def vector(data: bytes, width: int) -> bytes:
    return len(data).to_bytes(width, "big") + data


CLIENT_HELLO = handshake(
    1,
    bytes.fromhex(
        "0301"  # TLS 1.0, as Windows CE sends
        + "11" * 32  # random
        + "00"  # no session id
        + "0004"
        "002f"
        "0035"  # AES128-SHA, AES256-SHA
         + "0100"  # compression: null
    ),
)
SERVER_HELLO = handshake(2, bytes.fromhex("0301" + "22" * 32 + "00" + "002f" + "00"))
LEAF, ISSUER, ROOT = b"leaf-certificate-der", b"issuing-ca-der", b"root-ca-der"
CERTIFICATE = handshake(11, vector(b"".join(vector(c, 3) for c in (LEAF, ISSUER, ROOT)), 3))
SERVER_HELLO_DONE = handshake(14, b"")
CLIENT_KEY_EXCHANGE = handshake(16, vector(b"\x33" * 128, 2))
CCS = record(20, b"\x01")
FINISHED = record(22, b"\x44" * 48)  # encrypted, after ChangeCipherSpec
APP_DATA = record(23, b"\x55" * 64)


def alert(level: int, description: int) -> bytes:
    return record(21, bytes([level, description]))


SERVER_FLIGHT = record(22, SERVER_HELLO + CERTIFICATE + SERVER_HELLO_DONE)
FULL_HANDSHAKE: list[Event] = [
    (0, record(22, CLIENT_HELLO)),
    (1, SERVER_FLIGHT),
    (0, record(22, CLIENT_KEY_EXCHANGE) + CCS + FINISHED),
    (1, CCS + FINISHED),
    (0, APP_DATA),
]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run(
    events: list[Event], flow: FlowInfo = FLOW, chunks: list[list[int]] | None = None
) -> tuple[dict[str, Any], Sink, list[bool]]:
    """Feed a conversation to a fresh session; ``chunks[i]`` splits event i's bytes."""
    sink = Sink()
    session = TlsDissector().session(flow, sink)
    wanted = []
    for i, (direction, what) in enumerate(events):
        env = Envelope.of(flow, direction, i + 1, T0 + (i + 1) * 1_000_000)
        if isinstance(what, str):
            wanted.append(session.closed(direction, what, env))
            continue
        cuts = chunks[i] if chunks else []
        pieces = [what[a:b] for a, b in zip([0, *cuts], [*cuts, len(what)], strict=True)]
        for piece in pieces:
            wanted.append(session.data(direction, piece, env))
    session.close(None)
    rows = sink.rows.get("tls", [])
    assert len(rows) == 1
    return rows[0], sink, wanted


def test_full_handshake_completes() -> None:
    row, _, _ = run(FULL_HANDSHAKE)
    assert (row["version"], row["cipher"]) == ("TLS 1.0", "TLS_RSA_WITH_AES_128_CBC_SHA")
    assert (row["outcome"], row["resumed"]) == ("completed", False)
    assert row["outcome_frame"] == 4  # the server's Finished


def test_session_lets_go_after_the_first_application_data() -> None:
    _, _, wanted = run(FULL_HANDSHAKE)
    assert wanted == [True, True, True, True, False]


def test_row_envelope_is_the_client_hello_from_client_to_server() -> None:
    row, _, _ = run(FULL_HANDSHAKE)
    assert (row["frame"], row["src"], row["dst"], row["dport"]) == (1, PHONE, POOL, 5061)
    assert (row["client"], row["server"]) == ("10.20.0.57:1399", "10.1.0.50:5061")
    assert (row["client_hello_frame"], row["server_hello_frame"], row["certificate_frame"]) == (
        1,
        2,
        2,
    )


def test_handshake_steps_in_order_with_frame_time_and_sender() -> None:
    row, _, _ = run(FULL_HANDSHAKE)
    steps = [(s["frame"], s["sender"], s["message"]) for s in row["handshake"]]
    assert steps == [
        (1, "client", "client_hello"),
        (2, "server", "server_hello"),
        (2, "server", "certificate"),
        (2, "server", "server_hello_done"),
        (3, "client", "client_key_exchange"),
        (3, "client", "change_cipher_spec"),
        (3, "client", "encrypted_handshake"),
        (4, "server", "change_cipher_spec"),
        (4, "server", "encrypted_handshake"),
        (5, "client", "application_data"),
    ]
    assert row["handshake"][1]["ts"] == (T0 + 2_000_000) / 1e9


def test_server_chain_as_sent_leaf_first() -> None:
    row, _, _ = run(FULL_HANDSHAKE)
    assert row["certificates"] == [sha(LEAF), sha(ISSUER), sha(ROOT)]
    assert row["certificates_encrypted"] is False


def test_every_certificate_goes_to_the_catalogue() -> None:
    _, sink, _ = run(FULL_HANDSHAKE)
    seen = [
        (c["der"], c["source"], c["position"], c["role"], c["frame"]) for c in sink.certificates
    ]
    assert seen == [
        (LEAF, "tls", 0, "server", 2),
        (ISSUER, "tls", 1, "server", 2),
        (ROOT, "tls", 2, "server", 2),
    ]


def test_certificate_split_across_records_and_segments() -> None:
    # The Certificate message in three records, the flight delivered in 7-byte pieces
    # over frames 2-4 (as a 4-segment flight is): the row is the same, the Certificate
    # completes in the frame that brought its last byte.
    body = SERVER_HELLO + CERTIFICATE + SERVER_HELLO_DONE
    flight = b"".join(record(22, body[i : i + 40]) for i in range(0, len(body), 40))
    split: list[Event] = [(0, record(22, CLIENT_HELLO))]
    pieces = [flight[i : i + 7] for i in range(0, len(flight), 7)]
    thirds = len(pieces) // 3
    split += [(1, b"".join(pieces[:thirds])), (1, b"".join(pieces[thirds : 2 * thirds]))]
    split += [(1, b"".join(pieces[2 * thirds :])), (0, "fin")]
    row, _, _ = run(split)
    assert row["certificates"] == [sha(LEAF), sha(ISSUER), sha(ROOT)]
    assert row["outcome"] == "client_rejected_certificate"
    assert row["certificate_frame"] == 4


# -- outcomes ----------------------------------------------------------------------------


def test_client_fin_after_the_certificate_is_a_rejection() -> None:
    # The CX700 loop: ServerHello, Certificate, ServerHelloDone; the phone sends FIN.
    row, _, _ = run([(0, record(22, CLIENT_HELLO)), (1, SERVER_FLIGHT), (0, "fin"), (1, "fin")])
    assert (row["outcome"], row["outcome_detail"], row["outcome_frame"]) == (
        "client_rejected_certificate",
        "fin",
        3,
    )
    assert [s["message"] for s in row["handshake"]][-2:] == ["fin", "fin"]


def test_client_rst_after_the_certificate_is_a_rejection() -> None:
    row, _, _ = run([(0, record(22, CLIENT_HELLO)), (1, SERVER_FLIGHT), (0, "rst")])
    assert (row["outcome"], row["outcome_detail"]) == ("client_rejected_certificate", "rst")


def test_client_alert_after_the_certificate_is_a_rejection_naming_the_alert() -> None:
    events: list[Event] = [
        (0, record(22, CLIENT_HELLO)),
        (1, SERVER_FLIGHT),
        (0, alert(2, 48)),  # fatal unknown_ca
        (0, "fin"),
    ]
    row, _, _ = run(events)
    assert (row["outcome"], row["outcome_detail"]) == ("client_rejected_certificate", "unknown_ca")
    assert [(a["sender"], a["level"], a["description"], a["encrypted"]) for a in row["alerts"]] == [
        ("client", "fatal", "unknown_ca", False)
    ]


def test_server_protocol_version_alert_after_client_hello_is_a_mismatch() -> None:
    events: list[Event] = [(0, record(22, CLIENT_HELLO)), (1, alert(2, 70)), (1, "fin")]
    row, _, _ = run(events)
    assert (row["outcome"], row["outcome_detail"]) == (
        "version_or_cipher_mismatch",
        "protocol_version",
    )
    assert row["version"] is None and row["cipher"] is None


def test_server_reset_after_client_hello_is_a_mismatch() -> None:
    row, _, _ = run([(0, record(22, CLIENT_HELLO)), (1, "rst")])
    assert (row["outcome"], row["outcome_detail"]) == ("version_or_cipher_mismatch", "server rst")


def test_server_fin_after_client_hello_is_no_server_hello() -> None:
    row, _, _ = run([(0, record(22, CLIENT_HELLO)), (1, "fin")])
    assert (row["outcome"], row["outcome_detail"]) == ("no_server_hello", "server fin")


def test_client_hello_and_then_nothing_is_no_server_hello() -> None:
    row, _, _ = run([(0, record(22, CLIENT_HELLO))])
    assert (row["outcome"], row["outcome_frame"]) == ("no_server_hello", None)


def test_server_alert_after_server_hello_is_a_server_alert() -> None:
    events: list[Event] = [
        (0, record(22, CLIENT_HELLO)),
        (1, SERVER_FLIGHT),
        (0, record(22, CLIENT_KEY_EXCHANGE) + CCS + FINISHED),
        (1, alert(2, 20)),  # bad_record_mac, in clear: the server has not switched
    ]
    row, _, _ = run(events)
    assert (row["outcome"], row["outcome_detail"]) == ("server_alert", "bad_record_mac")


def test_reset_after_the_key_exchange_is_a_reset() -> None:
    events: list[Event] = [
        (0, record(22, CLIENT_HELLO)),
        (1, SERVER_FLIGHT),
        (0, record(22, CLIENT_KEY_EXCHANGE) + CCS + FINISHED),
        (1, "rst"),
    ]
    row, _, _ = run(events)
    assert (row["outcome"], row["outcome_detail"]) == ("reset", "server rst")


def test_capture_ending_mid_handshake_is_incomplete() -> None:
    row, _, _ = run([(0, record(22, CLIENT_HELLO)), (1, SERVER_FLIGHT)])
    assert row["outcome"] == "incomplete"


def test_warning_alert_decides_nothing() -> None:
    events = list(FULL_HANDSHAKE)
    events[1] = (1, alert(1, 112) + SERVER_FLIGHT)  # warning unrecognized_name first
    row, _, _ = run(events)
    assert row["outcome"] == "completed"
    assert row["alerts"][0]["level"] == "warning"


def test_abbreviated_handshake_is_resumed() -> None:
    session_id = b"\x77" * 32
    hello = handshake(
        1, bytes.fromhex("0301" + "11" * 32) + vector(session_id, 1) + bytes.fromhex("0002002f0100")
    )
    server = handshake(
        2, bytes.fromhex("0301" + "22" * 32) + vector(session_id, 1) + bytes.fromhex("002f00")
    )
    events: list[Event] = [
        (0, record(22, hello)),
        (1, record(22, server) + CCS + FINISHED),  # the server finishes first
        (0, CCS + FINISHED),
        (0, APP_DATA),
    ]
    row, _, _ = run(events)
    assert (row["outcome"], row["resumed"], row["certificates"]) == ("resumed", True, [])


def test_encrypted_alert_after_change_cipher_spec() -> None:
    events = [*FULL_HANDSHAKE[:4], (0, record(21, b"\x66" * 32))]  # encrypted alert
    row, _, _ = run(events)
    assert row["outcome"] == "completed"
    assert [(a["sender"], a["description"], a["encrypted"]) for a in row["alerts"]] == [
        ("client", None, True)
    ]


def test_client_certificate_and_requested_ca_names() -> None:
    ca = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Contoso Root CA")]).public_bytes()
    request = handshake(13, bytes.fromhex("0101") + vector(vector(ca, 2), 2))  # rsa_sign
    client_cert = handshake(11, vector(vector(b"phone-certificate", 3), 3))
    events: list[Event] = [
        (0, record(22, CLIENT_HELLO)),
        (1, record(22, SERVER_HELLO + CERTIFICATE + request + SERVER_HELLO_DONE)),
        (0, record(22, client_cert + CLIENT_KEY_EXCHANGE) + CCS + FINISHED),
        (1, CCS + FINISHED),
    ]
    row, sink, _ = run(events)
    assert row["client_certificate_requested"] is True
    assert row["ca_names_requested"] == ["CN=Contoso Root CA"]
    assert row["client_certificates"] == [sha(b"phone-certificate")]
    assert sink.certificates[-1]["role"] == "client"
    assert row["outcome"] == "completed"


def test_ecdhe_server_key_exchange_in_the_row() -> None:
    server = handshake(2, bytes.fromhex("0303" + "22" * 32 + "00" + "c02f" + "00"))
    ske = handshake(12, bytes.fromhex("03001741" + "04" + "dd" * 64 + "04010002eeee"))
    events: list[Event] = [
        (0, record(22, CLIENT_HELLO)),
        (1, record(22, server + CERTIFICATE + ske + SERVER_HELLO_DONE, 0x0303)),
    ]
    row, _, _ = run(events)
    assert (row["key_exchange"], row["kx_group"], row["kx_signature"]) == (
        "ecdhe",
        "secp256r1",
        "rsa_pkcs1_sha256",
    )


# -- TLS 1.3 -----------------------------------------------------------------------------

CLIENT_HELLO_13 = handshake(
    1,
    bytes.fromhex("0303" + "11" * 32 + "20" + "bb" * 32 + "000213010100")
    + vector(
        bytes.fromhex(
            "002b"
            "0003"
            "02"
            "0304"  # supported_versions: TLS 1.3
            "000a"
            "0004"
            "0002"
            "001d"  # supported_groups: x25519
            "0033"
            "0026"
            "0024"
            "001d"
            "0020" + "cc" * 32  # key_share
        ),
        2,
    ),
)


def server_hello_13(random: bytes = b"\x22" * 32, group: int = 0x001D) -> bytes:
    share = bytes.fromhex("00330002") + group.to_bytes(2, "big")
    if random != HELLO_RETRY_REQUEST_RANDOM:
        share = bytes.fromhex("00330024") + group.to_bytes(2, "big") + vector(b"\xee" * 32, 2)
    extensions = bytes.fromhex("002b00020304") + share
    return handshake(
        2,
        bytes.fromhex("0303")
        + random
        + vector(b"\xbb" * 32, 1)
        + bytes.fromhex("130100")
        + vector(extensions, 2),
    )


ENCRYPTED = record(23, b"\x99" * 100, 0x0303)
TLS13: list[Event] = [
    (0, record(22, CLIENT_HELLO_13)),
    (1, record(22, server_hello_13(), 0x0303) + CCS + ENCRYPTED + ENCRYPTED),  # EE..Finished
    (0, CCS + ENCRYPTED),  # the client's Finished
    (0, ENCRYPTED),  # its first data
]


def test_tls13_certificates_are_encrypted() -> None:
    row, sink, _ = run(TLS13)
    assert (row["version"], row["cipher"]) == ("TLS 1.3", "TLS_AES_128_GCM_SHA256")
    assert row["client_versions"] == ["TLS 1.3"]
    assert row["certificates_encrypted"] is True
    assert row["certificates"] == [] and sink.certificates == []


def test_tls13_completes_when_the_client_sends_data_after_its_finished() -> None:
    row, _, wanted = run(TLS13)
    assert (row["outcome"], row["outcome_frame"]) == ("completed", 4)
    assert wanted[-1] is False


def test_tls13_client_closing_before_its_finished_is_not_completed() -> None:
    row, _, _ = run([*TLS13[:2], (0, "fin")])
    assert (row["outcome"], row["outcome_detail"]) == ("closed", "client fin")


def test_hello_retry_request_and_the_second_client_hello() -> None:
    hrr = server_hello_13(HELLO_RETRY_REQUEST_RANDOM, 0x0017)
    events: list[Event] = [
        (0, record(22, CLIENT_HELLO_13)),
        (1, record(22, hrr, 0x0303) + CCS),
        (0, CCS + record(22, CLIENT_HELLO_13)),  # compatibility CCS, then ClientHello again
        *TLS13[1:],
    ]
    row, sink, _ = run(events)
    assert row["hello_retry_request"] is True
    assert [s["message"] for s in row["handshake"]][:5] == [
        "client_hello",
        "hello_retry_request",
        "change_cipher_spec",
        "change_cipher_spec",
        "client_hello",
    ]
    assert (row["client_hello_frame"], row["server_hello_frame"]) == (1, 4)
    assert row["outcome"] == "completed" and not sink.weird


# -- SSL 2.0 -----------------------------------------------------------------------------


def sslv2(payload: bytes) -> bytes:
    return (0x8000 | len(payload)).to_bytes(2, "big") + payload


def test_sslv2_handshake() -> None:
    hello = bytes.fromhex("0100020003000000100700c0") + b"\xab" * 16
    server = bytes.fromhex("0400010002") + bytes.fromhex("000b00030010")
    server += b"certificate" + bytes.fromhex("0700c0") + b"\xcd" * 16
    master_key = bytes.fromhex("020700c0000000080000") + b"\x01" * 8
    events: list[Event] = [
        (0, sslv2(hello)),
        (1, sslv2(server)),
        (0, sslv2(master_key)),
        (1, sslv2(b"\x77" * 33)),  # SERVER-VERIFY, encrypted
        (0, sslv2(b"\x78" * 33)),  # CLIENT-FINISHED, encrypted
    ]
    row, _, wanted = run(events, FlowInfo(9, "tcp", PHONE, 1400, POOL, 443, 1))
    assert (row["version"], row["cipher"], row["sslv2_hello"]) == (
        "SSL 2.0",
        "SSL2_DES_192_EDE3_CBC_WITH_MD5",
        True,
    )
    assert row["certificates"] == [sha(b"certificate")]
    assert (row["outcome"], row["ja3"], row["ja4"]) == ("completed", None, None)
    assert wanted[-1] is False


def test_sslv2_compatible_hello_answered_in_tls() -> None:
    hello = bytes.fromhex("01030100030000001000002f") + b"\xab" * 16
    events = [(0, sslv2(hello)), *FULL_HANDSHAKE[1:]]
    row, _, _ = run(events)
    assert row["client_versions"] == ["TLS 1.0"] and row["sslv2_hello"] is True
    assert row["outcome"] == "completed"


# -- what else can arrive ----------------------------------------------------------------


def test_connection_joined_midstream_is_said_so_and_let_go() -> None:
    events: list[Event] = [(1, APP_DATA), (0, APP_DATA), (0, APP_DATA)]
    row, _, wanted = run(events, FlowInfo(3, "tcp", POOL, 5061, "10.20.0.42", 1228, 1))
    assert row["outcome"] == "midstream"
    assert (row["client"], row["server"]) == ("10.20.0.42:1228", "10.1.0.50:5061")
    assert wanted[:2] == [True, False]


def test_gap_before_the_handshake_ends_leaves_it_incomplete() -> None:
    sink = Sink()
    session = TlsDissector().session(FLOW, sink)
    session.data(0, record(22, CLIENT_HELLO), Envelope.of(FLOW, 0, 1, T0))
    assert session.gap(1, 1460, Envelope.of(FLOW, 1, 2, T0)) is True
    session.close(None)
    row = sink.rows["tls"][0]
    assert (row["outcome"], row["outcome_detail"]) == ("incomplete", "server stream not followed")


def test_malformed_record_is_a_weird_row_not_an_exception() -> None:
    events: list[Event] = [(0, record(22, CLIENT_HELLO)), (1, b"\x47\x03\x01\x00\x02ab")]
    row, sink, _ = run(events)
    assert [w.name for w in sink.weird] == ["tls_malformed"]
    assert row["outcome"] == "incomplete"


def test_malformed_handshake_message_is_a_weird_row_and_parsing_goes_on() -> None:
    broken = handshake(12, b"\x03")  # ServerKeyExchange cut short
    flight = record(22, SERVER_HELLO + CERTIFICATE + broken + SERVER_HELLO_DONE)
    row, sink, _ = run([(0, record(22, CLIENT_HELLO)), (1, flight), (0, "fin")])
    assert [w.name for w in sink.weird] == ["tls_malformed"]
    assert row["outcome"] == "client_rejected_certificate"  # still seen after the bad one
    assert [s["message"] for s in row["handshake"]][-2] == "server_hello_done"


def test_fingerprints_in_the_row() -> None:
    row, _, _ = run(FULL_HANDSHAKE)
    assert row["ja3_string"] == "769,47-53,,,"
    assert row["ja3"] == hashlib.md5(b"769,47-53,,,").hexdigest()
    assert row["ja4"].startswith("t10i020000_")
    assert row["ja3s_string"] == "769,47,"


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_chunking_gives_the_same_row(data: st.DataObject) -> None:
    conversations = [FULL_HANDSHAKE, TLS13, [*FULL_HANDSHAKE[:2], (0, alert(2, 48))]]
    events = data.draw(st.sampled_from(conversations))
    chunks = [
        sorted(set(data.draw(st.lists(st.integers(1, max(1, len(what) - 1)), max_size=6))))
        if isinstance(what, bytes) and len(what) > 1
        else []
        for _, what in events
    ]
    assert run(events, chunks=chunks)[0] == run(events)[0]


def test_fed_one_byte_at_a_time_gives_the_same_row() -> None:
    chunks = [list(range(1, len(what))) if isinstance(what, bytes) else [] for _, what in TLS13]
    assert run(TLS13, chunks=chunks)[0] == run(TLS13)[0]
    chunks = [
        list(range(1, len(what))) if isinstance(what, bytes) else [] for _, what in FULL_HANDSHAKE
    ]
    assert run(FULL_HANDSHAKE, chunks=chunks)[0] == run(FULL_HANDSHAKE)[0]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=80)), max_size=10))
def test_random_streams_never_raise(deliveries: list[tuple[int, bytes]]) -> None:
    sink = Sink()
    session = TlsDissector().session(FLOW, sink)
    for i, (direction, payload) in enumerate(deliveries):
        env = Envelope.of(FLOW, direction, i + 1, T0)
        assert session.data(direction, record(22, payload) if i == 0 else payload, env) in (
            True,
            False,
        )
    session.close(None)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(SERVER_FLIGHT) - 1), st.integers(0, 255))
def test_corrupted_server_flight_never_raises(position: int, value: int) -> None:
    flight = bytearray(SERVER_FLIGHT)
    flight[position] = value
    run([(0, record(22, CLIENT_HELLO)), (1, bytes(flight)), (0, "fin")])


# -- through the pipeline ----------------------------------------------------------------


def capture(tmp_path: Path, steps: list[tuple[int, int, bytes]], dport: int = 5061) -> Path:
    """A pcap of one TCP connection: handshake, then ``(direction, flags, payload)``."""
    phone, pool = bytes([10, 20, 0, 57]), bytes([10, 1, 0, 50])
    seq = [1000, 5000]
    frames = []

    def segment(direction: int, flags: int, payload: bytes = b"") -> None:
        src, dst = (phone, pool) if direction == 0 else (pool, phone)
        sport, port = (1399, dport) if direction == 0 else (dport, 1399)
        frame = ipv4_tcp(src, dst, sport, port, seq[direction], seq[1 - direction], flags, payload)
        frames.append((1_330_596_000.0 + len(frames) * 0.01, ethernet(frame)))
        seq[direction] += len(payload) + (1 if flags & 0x03 else 0)

    segment(0, 0x02)
    segment(1, 0x12)
    segment(0, 0x10)
    for direction, flags, payload in steps:
        segment(direction, flags, payload)
    path = tmp_path / "tls.pcap"
    path.write_bytes(pcap(frames))
    return path


def test_pipeline_reports_the_phone_closing_after_the_certificate(tmp_path: Path) -> None:
    path = capture(
        tmp_path,
        [(0, 0x18, record(22, CLIENT_HELLO)), (1, 0x18, SERVER_FLIGHT), (0, 0x11, b"")],
    )
    tls = analyze(path, protocols=["tls"], strict=True).tls
    assert list(tls["outcome"]) == ["client_rejected_certificate"]
    assert (tls["outcome_detail"][0], tls["outcome_frame"][0]) == ("fin", 6)


def test_pipeline_reports_a_reset_after_the_client_hello(tmp_path: Path) -> None:
    path = capture(tmp_path, [(0, 0x18, record(22, CLIENT_HELLO)), (1, 0x14, b"")])
    tls = analyze(path, protocols=["tls"], strict=True).tls
    assert (tls["outcome"][0], tls["outcome_detail"][0]) == (
        "version_or_cipher_mismatch",
        "server rst",
    )


def test_pipeline_recognises_tls_on_any_port(tmp_path: Path) -> None:
    path = capture(tmp_path, [(0, 0x18, record(22, CLIENT_HELLO)), (1, 0x18, SERVER_FLIGHT)], 9443)
    tls = analyze(path, protocols=["tls"], strict=True).tls
    assert list(tls["server"]) == ["10.1.0.50:9443"]


SSLV2_START: list[Event] = [
    (0, sslv2(bytes.fromhex("0100020003000000100700c0") + b"\xab" * 16)),
    (1, sslv2(bytes.fromhex("0400010002000100030010300700c0") + b"\xcd" * 16)),
]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([FULL_HANDSHAKE[:2], TLS13[:2], SSLV2_START]),
    st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=60)), max_size=8),
)
def test_valid_start_then_random_bytes_never_raises(
    start: list[Event], deliveries: list[tuple[int, bytes]]
) -> None:
    run([*start, *deliveries])

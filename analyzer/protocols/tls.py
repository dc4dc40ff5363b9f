"""TLS (SSL 2.0 to TLS 1.3) over TCP: one row per connection saying how its handshake went.

The phone's sign-in dies in the TLS handshake with the pool: right after the server's
Certificate (a chain it cannot process), at the ClientHello (a version it does not
speak), or it completes. This module follows each handshake message by message and writes
one ``tls`` row per connection with what was offered, what was chosen, the server's
certificate chain (every certificate also goes to the certificate catalogue through
``sink.certificate``), the alerts, and an ``outcome`` with the frame that decided it.

How the bytes get here:

- ports 443, 5061, 636, 3269, 993, 995, 465, 8443 are claimed outright; on any other
  port a flow is recognised by its first bytes (a handshake record carrying a
  ClientHello or ServerHello, or an SSL 2.0-format ClientHello);
- SMTP on 25/587: the SMTP dialogue is skipped until the server's ``220`` answer to
  ``STARTTLS``; MySQL on 3306: the greeting and the client's SSLRequest are skipped;
- LDAP StartTLS: the LDAP dissector hands the bytes after its StartTLS to a session
  made by ``PROTOCOL.stream.session(flow, sink)``.

Once both sides have switched to encryption and the first application data has been
seen (TLS 1.3: once the client's Finished and data both ways have been seen), the
session returns False and the flow leaves the slow path: application data is not
followed further.

>>> sniff = TlsDissector().sniff
>>> sniff(0, bytes.fromhex("16 0301 00c8 01 0000c4")), sniff(0, b"GET / HTTP/1.1\\r\\n")
(True, False)
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any, ClassVar, NamedTuple

from analyzer.capture.pipeline import FlowInfo
from analyzer.errors import DecodeError, Malformed, Weird
from analyzer.protocols.base import Column, Envelope, Schema, Sink
from analyzer.protocols.registry import ProtocolModule
from analyzer.protocols.tls_fingerprint import ja3_string, ja3s_string, ja4, ja4_raw
from analyzer.protocols.tls_messages import (
    CertificateChain,
    CertificateRequest,
    ClientHello,
    ServerHello,
    ServerKeyExchange,
    Sslv2ServerHello,
    describe_name,
    parse_alerts,
    parse_certificate,
    parse_certificate_request,
    parse_client_hello,
    parse_new_session_ticket,
    parse_server_hello,
    parse_server_key_exchange,
    parse_sslv2_client_hello,
    parse_sslv2_client_master_key,
    parse_sslv2_server_hello,
)
from analyzer.protocols.tls_names import (
    EXTENSIONS,
    SSL2_MESSAGE_TYPES,
    alert_level_name,
    alert_name,
    cipher_name,
    extension_name,
    group_name,
    handshake_name,
    is_grease,
    is_tls13,
    key_exchange_of,
    printable,
    signature_scheme_name,
    version_name,
)

# key_exchange_of reads the suite's name apart, and every connection asks it again for
# the same few suites: memoised (lru_cache is C code, and bounded).
_key_exchange_of = lru_cache(maxsize=4096)(key_exchange_of)

#: Ports whose TCP flows are TLS from the first byte.
TLS_PORTS = frozenset({443, 5061, 636, 3269, 993, 995, 465, 8443})
#: SMTP ports where TLS starts after STARTTLS (RFC 3207).
SMTP_PORTS = frozenset({25, 587})
#: MySQL: TLS starts after the server greeting and the client's SSLRequest.
MYSQL_PORTS = frozenset({3306})
CLAIMED_PORTS = TLS_PORTS | SMTP_PORTS | MYSQL_PORTS

#: Largest record a TLS peer may send (2^14 plaintext + 2048 expansion, RFC 5246 6.2.3).
MAX_RECORD_LENGTH = 16384 + 2048
#: Largest handshake message reassembled (a Certificate with a long chain is the big one).
MAX_HANDSHAKE_MESSAGE = 1 << 20
#: Records followed per connection before giving up on a handshake that never ends.
MAX_RECORDS = 4096
#: Bytes of a STARTTLS dialogue (SMTP) skipped before giving up.
MAX_PRELUDE_BYTES = 64 * 1024
#: Entries kept in the handshake timeline and in the alerts list of one row.
MAX_STEPS = 64
MAX_ALERTS = 32

CT_SSL2 = 0  # an SSL 2.0 record (no content type on the wire)
CT_CHANGE_CIPHER_SPEC = 20
CT_ALERT = 21
CT_HANDSHAKE = 22
CT_APPLICATION_DATA = 23
CT_HEARTBEAT = 24

HS_CLIENT_HELLO = 1
HS_SERVER_HELLO = 2
HS_NEW_SESSION_TICKET = 4
HS_CERTIFICATE = 11
HS_SERVER_KEY_EXCHANGE = 12
HS_CERTIFICATE_REQUEST = 13
HS_CLIENT_KEY_EXCHANGE = 16

#: Alerts a server sends when it cannot agree on a version or cipher suite.
MISMATCH_ALERTS = frozenset({40, 70, 71})  # handshake_failure, protocol_version, insuff._sec.

SSL2_ERRORS = {
    1: "ssl2_no_cipher",
    2: "ssl2_no_certificate",
    4: "ssl2_bad_certificate",
    6: "ssl2_unsupported_certificate_type",
}

OUTCOMES = (
    "completed",
    "resumed",
    "client_rejected_certificate",
    "server_alert",
    "client_alert",
    "version_or_cipher_mismatch",
    "no_server_hello",
    "reset",
    "closed",
    "incomplete",
    "midstream",
)


# -- record layer ----------------------------------------------------------------------


class Record(NamedTuple):
    """One record: content type (0 for SSL 2.0), record version, payload. A NamedTuple:
    one is built per record, several times faster than a frozen dataclass."""

    content_type: int
    version: int
    payload: bytes


class _ByteQueue:
    """Bytes pushed by ``feed`` and read from the front by a subclass's ``next``.

    The unread bytes are ``_buf[_pos:]``. Bytes fed while nothing is pending (the usual
    case: TCP segments carry whole records, records whole messages) are read where they
    are, without being copied into a buffer; only the tail of an incomplete record or
    message is copied, into a bytearray of the reader's own that later bytes are appended
    to (amortised, so a record trickling in a byte at a time stays linear).
    """

    __slots__ = ("_buf", "_pos")

    def __init__(self) -> None:
        self._buf: bytes | bytearray = b""
        self._pos = 0

    def feed(self, data: bytes) -> None:
        buf, pos = self._buf, self._pos
        if pos == len(buf):
            self._buf = bytes(data)  # no copy of bytes; never keep a caller's bytearray
            self._pos = 0
            return
        if not isinstance(buf, bytearray):
            buf = self._buf = bytearray(buf[pos:])
        elif pos:
            del buf[:pos]
        buf += data
        self._pos = 0

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos


class RecordReader(_ByteQueue):
    """Cuts one direction's byte stream into TLS (or SSL 2.0) records. Sans-IO.

    Push bytes with :meth:`feed`, pull complete records with :meth:`next` until it
    returns None. A header that cannot be a record raises Malformed: the stream cannot be
    resynchronised after that.

    >>> reader = RecordReader()
    >>> reader.feed(bytes.fromhex("15 0301 0002 02"))
    >>> reader.next() is None
    True
    >>> reader.feed(b"\\x28")
    >>> reader.next()
    Record(content_type=21, version=769, payload=b'\\x02(')
    """

    __slots__ = ("sslv2_session",)

    def __init__(self) -> None:
        super().__init__()
        #: After an SSL 2.0 SERVER-HELLO, records may also have SSL 2.0's 3-byte header.
        self.sslv2_session = False

    def next(self) -> Record | None:
        buf, pos = self._buf, self._pos
        size = len(buf) - pos
        if size <= 0:
            return None
        first = buf[pos]
        if first & 0x80 or self.sslv2_session:
            return self._next_sslv2()
        if not CT_CHANGE_CIPHER_SPEC <= first <= CT_HEARTBEAT:
            raise Malformed(f"not a TLS record: content type {first}")
        if size >= 2 and buf[pos + 1] != 3:
            raise Malformed(f"not a TLS record: version major {buf[pos + 1]}")
        if size < 5:
            return None
        length = (buf[pos + 3] << 8) | buf[pos + 4]
        if length > MAX_RECORD_LENGTH:
            raise Malformed(f"record of {length} bytes exceeds {MAX_RECORD_LENGTH}")
        end = pos + 5 + length
        if len(buf) < end:
            return None
        self._pos = end
        return Record(first, (buf[pos + 1] << 8) | buf[pos + 2], bytes(buf[pos + 5 : end]))

    def _next_sslv2(self) -> Record | None:
        buf, pos = self._buf, self._pos
        size = len(buf) - pos
        if buf[pos] & 0x80:
            if size < 2:
                return None
            header, length, padding = 2, ((buf[pos] & 0x7F) << 8) | buf[pos + 1], 0
        else:
            if size < 3:
                return None
            header, length, padding = 3, ((buf[pos] & 0x3F) << 8) | buf[pos + 1], buf[pos + 2]
        if length == 0 or padding >= length:
            raise Malformed(f"SSL 2.0 record of {length} bytes with {padding} padding")
        if size < header + length:
            return None
        start = pos + header
        self._pos = start + length
        return Record(CT_SSL2, 0x0002, bytes(buf[start : start + length - padding]))


class HandshakeReader(_ByteQueue):
    """Reassembles handshake messages from the payloads of handshake records.

    A message may span records (and so TCP segments), and a record may hold several.

    >>> reader = HandshakeReader()
    >>> reader.feed(bytes.fromhex("0e 000000 0b 00"))  # ServerHelloDone + half a header
    >>> reader.next(), reader.next()
    ((14, b''), None)
    """

    __slots__ = ()

    def next(self) -> tuple[int, bytes] | None:
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 4:
            return None
        length = (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]
        if length > MAX_HANDSHAKE_MESSAGE:
            raise Malformed(f"handshake message of {length} bytes exceeds {MAX_HANDSHAKE_MESSAGE}")
        end = pos + 4 + length
        if len(buf) < end:
            return None
        self._pos = end
        return buf[pos], bytes(buf[pos + 4 : end])


# -- what comes before TLS (STARTTLS) --------------------------------------------------


class _Prelude:
    """Skips a cleartext protocol until TLS starts; ``feed`` returns the TLS bytes."""

    name: ClassVar[str] = ""

    def __init__(self) -> None:
        self.tls = [False, False]
        self.failed = False

    def feed(self, direction: int, data: bytes) -> list[tuple[int, bytes]]:
        raise NotImplementedError


class _SmtpPrelude(_Prelude):
    """SMTP until the server's ``220`` to the client's ``STARTTLS`` (RFC 3207 4)."""

    name = "smtp"

    def __init__(self) -> None:
        super().__init__()
        self.lines = [bytearray(), bytearray()]
        self.requested = False
        #: Client bytes after its STARTTLS line, held until the server has answered.
        self.held = bytearray()
        self.seen = 0

    def feed(self, direction: int, data: bytes) -> list[tuple[int, bytes]]:
        if self.tls[direction]:
            return [(direction, data)]
        self.seen += len(data)
        if self.seen > MAX_PRELUDE_BYTES:
            self.failed = True
            return []
        if direction == 0 and self.requested:
            self.held += data
            return []
        buf = self.lines[direction]
        buf += data
        out: list[tuple[int, bytes]] = []
        while not self.failed:
            end = buf.find(b"\n")
            if end < 0:
                break
            line = bytes(buf[: end + 1])
            del buf[: end + 1]
            if direction == 0:
                command = line.strip().upper()
                if command == b"STARTTLS":
                    self.requested = True
                    self.held += buf
                    buf.clear()
                elif command.startswith((b"MAIL ", b"DATA", b"QUIT")):
                    self.failed = True  # mail in clear: no TLS on this connection
            elif self.requested and line[3:4] != b"-":  # the last line of the reply
                self.requested = False
                held = bytes(self.held)
                self.held.clear()
                if line.startswith(b"220"):
                    self.tls = [True, True]
                    rest = bytes(buf)
                    buf.clear()
                    out += [(0, held)] if held else []
                    out += [(1, rest)] if rest else []
                    break
                out += self.feed(0, held) if held else []  # refused: SMTP goes on
        return out


class _MySqlPrelude(_Prelude):
    """MySQL: the server's greeting packet, then the client's SSLRequest packet (32 bytes,
    capability CLIENT_SSL); TLS follows each in its direction."""

    name = "mysql"
    CLIENT_SSL = 0x0800

    def __init__(self) -> None:
        super().__init__()
        self.buf = [bytearray(), bytearray()]

    def feed(self, direction: int, data: bytes) -> list[tuple[int, bytes]]:
        if self.tls[direction]:
            return [(direction, data)]
        buf = self.buf[direction]
        buf += data
        if len(buf) < 4:
            return []
        length = int.from_bytes(buf[:3], "little")
        if len(buf) < 4 + length:
            if len(buf) > MAX_PRELUDE_BYTES:
                self.failed = True
            return []
        packet = bytes(buf[4 : 4 + length])
        rest = bytes(buf[4 + length :])
        buf.clear()
        if direction == 0 and (
            length != 32 or not int.from_bytes(packet[:4], "little") & self.CLIENT_SSL
        ):
            self.failed = True  # the client logs in without TLS
            return []
        self.tls[direction] = True
        return [(direction, rest)] if rest else []


# -- one connection --------------------------------------------------------------------


class _Side:
    """One direction's parser state."""

    __slots__ = (
        "app_records",
        "ccs",
        "closed",
        "enc_after_hello",
        "encrypted",
        "encrypted_bytes",
        "encrypted_records",
        "finished",
        "handshake",
        "lost",
        "records",
    )

    def __init__(self) -> None:
        self.records = RecordReader()
        self.handshake = HandshakeReader()
        #: Sent ChangeCipherSpec (TLS <= 1.2) / SSL 2.0 keys: later records are ciphertext.
        self.encrypted = False
        self.ccs = False
        #: Sent its first encrypted handshake record (Finished) after ChangeCipherSpec.
        self.finished = False
        self.encrypted_records = 0
        self.encrypted_bytes = 0
        self.app_records = 0
        #: TLS 1.3: encrypted records sent after the ServerHello.
        self.enc_after_hello = 0
        self.closed: str | None = None
        #: The stream can no longer be parsed (gap, malformed framing).
        self.lost = False


def _endpoint(ip: str, port: int | None) -> str:
    if port is None:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class TlsSession:
    """One TCP connection's TLS handshake, both directions; writes its row in close()."""

    def __init__(self, flow: FlowInfo, sink: Sink, prelude: _Prelude | None = None) -> None:
        self.flow = flow
        self.sink = sink
        self.prelude = prelude
        self.sides = (_Side(), _Side())
        self.client_dir = 0
        self.roles_fixed = False
        self.client_hello: ClientHello | None = None
        self.client_hello_env: Envelope | None = None
        self.server_hello: ServerHello | None = None
        self.server_hello_env: Envelope | None = None
        self.sslv2_server_hello: Sslv2ServerHello | None = None
        self.sslv2_cipher: int | None = None
        self.hello_retry_request = False
        self.tls13 = False
        self.server_chain: tuple[bytes, ...] = ()
        self.client_chain: tuple[bytes, ...] = ()
        self.certificate_env: Envelope | None = None
        self.server_key_exchange: ServerKeyExchange | None = None
        self.certificate_request: CertificateRequest | None = None
        self.session_ticket_issued = False
        self.client_key_exchange = False
        self.ccs_order: list[str] = []
        self.client_finished_seq: int | None = None
        self.server_after_client_finished = False
        self.alerts: list[dict[str, Any]] = []
        self.steps: list[dict[str, Any]] = []
        self.outcome: str | None = None
        self.outcome_detail: str | None = None
        self.outcome_frame: int | None = None
        self.completed = False
        self.midstream = False
        self.stop = False
        self.records = 0
        self.first_env: Envelope | None = None
        self.last_ts_ns: int | None = None
        self.written = False

    # roles

    def role(self, direction: int) -> str:
        return "client" if direction == self.client_dir else "server"

    def _fix_roles(self, client_dir: int) -> None:
        if not self.roles_fixed:
            self.roles_fixed = True
            self.client_dir = client_dir

    @property
    def client(self) -> _Side:
        return self.sides[self.client_dir]

    @property
    def server(self) -> _Side:
        return self.sides[1 - self.client_dir]

    # StreamSession

    def data(self, direction: int, data: bytes, env: Envelope) -> bool:
        if self.stop:
            return False
        self.last_ts_ns = env.ts_ns
        if self.prelude is None:  # plain TLS: no list of chunks to build
            self._records(direction, data, env)
            return self._wanting()
        chunks = self.prelude.feed(direction, data)
        if self.prelude.failed:
            self.stop = True
            return False
        for d, chunk in chunks:
            self._records(d, chunk, env)
            if self.stop:
                return False
        return self._wanting()

    def gap(self, direction: int, length: int, env: Envelope) -> bool:
        side = self.sides[direction]
        if not side.lost and (self.prelude is None or self.prelude.tls[direction]):
            side.lost = True
            self._step(direction, env, "gap")
        elif self.prelude is not None and not self.prelude.tls[direction]:
            self.stop = True  # lost the cleartext dialogue: cannot tell where TLS starts
        return self._wanting()

    def closed(self, direction: int, how: str, env: Envelope) -> bool:
        """The peer in ``direction`` closed its side: ``how`` is ``fin`` or ``rst``."""
        self.last_ts_ns = env.ts_ns
        side = self.sides[direction]
        if side.closed is not None or self.first_env is None:
            return not self.stop
        side.closed = how
        self._step(direction, env, how)
        if not self.completed and self.outcome is None and not self.midstream:
            self._decide_close(self.role(direction), how, env)
        return not self.stop

    def close(self, env: Envelope | None) -> None:
        if self.written or self.first_env is None:
            return
        self.written = True
        self._write_row()

    def _wanting(self) -> bool:
        if self.stop:
            return False
        first, second = self.sides
        return not (first.lost and second.lost)

    # records

    def _records(self, direction: int, data: bytes, env: Envelope) -> None:
        side = self.sides[direction]
        if side.lost or not data:
            return
        reader = side.records
        reader.feed(data)
        while not side.lost and not self.stop:
            try:
                record = reader.next()
            except DecodeError as e:
                side.lost = True
                self.sink.malformed("tls", env, e)
                return
            if record is None:
                return
            self.records += 1
            if self.records > MAX_RECORDS:
                self.sink.note(
                    Weird(
                        "tls_record_cap",
                        frame=env.frame,
                        flow=env.flow,
                        detail=f"handshake still open after {MAX_RECORDS} records",
                    )
                )
                self.stop = True
                return
            if self.first_env is None:
                self.first_env = env
                # Joined an established connection: nothing but ciphertext will follow.
                self.midstream = record.content_type not in (CT_HANDSHAKE, CT_SSL2)
                if self.midstream:
                    # No hello to tell the roles: the side on the TLS port is the server.
                    self._fix_roles(1 if _server_port(self.flow) == self.flow.sport else 0)
            self._record(direction, record, env)

    def _record(self, direction: int, record: Record, env: Envelope) -> None:
        side = self.sides[direction]
        ct = record.content_type
        if ct == CT_SSL2:
            self._sslv2(direction, record.payload, env)
        elif ct == CT_HANDSHAKE:
            if side.encrypted or self.midstream:
                self._encrypted(direction, record, env, handshake=True)
                return
            try:
                side.handshake.feed(record.payload)
                while (message := side.handshake.next()) is not None:
                    self._message(direction, message[0], message[1], env)
            except DecodeError as e:
                side.lost = True
                self.sink.malformed("tls", env, e)
        elif ct == CT_CHANGE_CIPHER_SPEC:
            self._change_cipher_spec(direction, env)
        elif ct == CT_ALERT:
            encrypted = side.encrypted and not self.tls13
            if encrypted or (self.midstream and len(record.payload) != 2):
                self._alert(direction, None, None, env)
                return
            try:
                alerts = parse_alerts(record.payload)
            except DecodeError as e:
                self.sink.malformed("tls", env, e)
                return
            for alert in alerts:
                self._alert(direction, alert.level, alert.description, env)
        elif ct == CT_APPLICATION_DATA:
            self._encrypted(direction, record, env, handshake=False)
        elif ct == CT_HEARTBEAT:
            self._step(direction, env, "heartbeat")

    def _change_cipher_spec(self, direction: int, env: Envelope) -> None:
        self._step(direction, env, "change_cipher_spec")
        side = self.sides[direction]
        # Before a real ServerHello a ChangeCipherSpec is TLS 1.3's middlebox-compatibility
        # record (RFC 8446 D.4), as it always is once TLS 1.3 was chosen: no key change.
        if self.tls13 or self.server_hello is None or side.ccs:
            return
        side.ccs = side.encrypted = True
        self.ccs_order.append(self.role(direction))

    def _encrypted(self, direction: int, record: Record, env: Envelope, handshake: bool) -> None:
        side = self.sides[direction]
        side.encrypted_records += 1
        side.encrypted_bytes += len(record.payload)
        if self.midstream:
            if side.encrypted_records == 1:
                self._step(direction, env, "application_data")
            seen = [s.encrypted_records for s in self.sides]
            if min(seen) >= 1 or sum(seen) >= 8:
                self.stop = True
            return
        if self.tls13:
            self._encrypted_tls13(direction, self.role(direction), env)
            return
        if handshake:
            if not side.finished:
                side.finished = True
                self._step(direction, env, "encrypted_handshake")
                self._check_completed(env)
            return
        side.app_records += 1
        if side.app_records == 1:
            self._step(direction, env, "application_data")
        if self.completed:
            self.stop = True

    def _encrypted_tls13(self, direction: int, role: str, env: Envelope) -> None:
        # Everything after a TLS 1.3 ServerHello is an application_data record; which
        # ones are handshake is invisible. The client's first one after the server's
        # flight is its Finished (or its alert); the handshake completed when the client
        # sends more after it (it accepted the server's flight), or when the server
        # sends more after it (tickets, data: it accepted the Finished).
        side = self.sides[direction]
        if self.server_hello is None:
            return  # 0-RTT early data
        side.enc_after_hello += 1
        if role == "client":
            if side.enc_after_hello == 1:
                self.client_finished_seq = self.records
                self._step(direction, env, "encrypted_handshake")
            elif side.enc_after_hello == 2:
                self._step(direction, env, "application_data")
        else:
            if side.enc_after_hello == 1:
                self._step(direction, env, "encrypted_handshake")
            if self.client_finished_seq is not None and not self.server_after_client_finished:
                self.server_after_client_finished = True
                self._step(direction, env, "application_data")
        if self.client.enc_after_hello >= 2 or self.server_after_client_finished:
            self._complete(env)
            self.stop = True

    def _check_completed(self, env: Envelope) -> None:
        if self.completed or self.server_hello is None or self.tls13:
            return
        if self.client.finished and self.server.finished:
            self._complete(env)
            if self.client.app_records or self.server.app_records:
                self.stop = True

    def _complete(self, env: Envelope) -> None:
        self.completed = True
        if self._abbreviated():
            self._decide("resumed", None, env)
        else:
            self._decide("completed", None, env)

    def _abbreviated(self) -> bool:
        if self.tls13:
            return self.server_hello is not None and self.server_hello.pre_shared_key
        if self.sslv2_server_hello is not None:
            return self.sslv2_server_hello.session_id_hit
        # Abbreviated handshake (RFC 5246 7.3): the server finishes first, no key exchange.
        server_first = bool(self.ccs_order) and self.ccs_order[0] == "server"
        return server_first and not self.client_key_exchange

    # handshake messages

    def _message(self, direction: int, msg_type: int, body: bytes, env: Envelope) -> None:
        try:
            if msg_type == HS_CLIENT_HELLO:
                self._client_hello(direction, parse_client_hello(body), env)
                return
            if msg_type == HS_SERVER_HELLO:
                self._server_hello(direction, parse_server_hello(body), env)
                return
            self._step(direction, env, handshake_name(msg_type))
            if msg_type == HS_CERTIFICATE:
                self._certificate(direction, _parse_certificate(body, self.tls13), env)
            elif msg_type == HS_SERVER_KEY_EXCHANGE and self.server_hello is not None:
                sh = self.server_hello
                self.server_key_exchange = parse_server_key_exchange(
                    body, _key_exchange_of(sh.cipher_suite), sh.version
                )
            elif msg_type == HS_CERTIFICATE_REQUEST:
                version = self.server_hello.version if self.server_hello else 0x0303
                self.certificate_request = parse_certificate_request(body, version)
            elif msg_type == HS_CLIENT_KEY_EXCHANGE:
                self.client_key_exchange = True
            elif msg_type == HS_NEW_SESSION_TICKET:
                parse_new_session_ticket(body, self.tls13)
                self.session_ticket_issued = True
        except DecodeError as e:
            if msg_type in (HS_CLIENT_HELLO, HS_SERVER_HELLO):
                self._step(direction, env, handshake_name(msg_type))
            self.sink.malformed("tls", env, e)

    def _client_hello(self, direction: int, hello: ClientHello, env: Envelope) -> None:
        self._fix_roles(direction)
        if self.client_hello is None:
            self.client_hello = hello
            self.client_hello_env = env
        self._step(direction, env, "ssl2_client_hello" if hello.sslv2_format else "client_hello")

    def _server_hello(self, direction: int, hello: ServerHello, env: Envelope) -> None:
        self._fix_roles(1 - direction)
        if hello.hello_retry_request:
            self.hello_retry_request = True
            self._step(direction, env, "hello_retry_request")
            return
        self._step(direction, env, "server_hello")
        if self.server_hello is None:
            self.server_hello = hello
            self.server_hello_env = env
            self.tls13 = is_tls13(hello.version)

    def _certificate(self, direction: int, chain: CertificateChain, env: Envelope) -> None:
        role = self.role(direction)
        if role == "server" and not self.server_chain:
            self.server_chain = chain.certificates
            self.certificate_env = env
        elif role == "client" and not self.client_chain:
            self.client_chain = chain.certificates
        self._catalogue(chain.certificates, env, role)
        if chain.dropped:
            self.sink.note(
                Weird(
                    "tls_chain_cap",
                    frame=env.frame,
                    flow=env.flow,
                    detail=f"{chain.dropped} certificates beyond the first "
                    f"{len(chain.certificates)} not kept",
                )
            )

    def _catalogue(self, ders: tuple[bytes, ...], env: Envelope, role: str) -> None:
        sni = self.client_hello.server_name if self.client_hello else None
        for position, der in enumerate(ders):
            self.sink.certificate(der, env, "tls", position=position, role=role, sni=sni)

    # SSL 2.0

    def _sslv2(self, direction: int, payload: bytes, env: Envelope) -> None:
        side = self.sides[direction]
        if side.encrypted:
            side.encrypted_records += 1
            side.encrypted_bytes += len(payload)
            if side.encrypted_records == 1:
                self._step(direction, env, "encrypted_handshake")
            if (
                self.client.encrypted_records
                and self.server.encrypted_records
                and (self.client_key_exchange or self._abbreviated())
                and not self.completed
            ):
                self._complete(env)
                self.stop = True
            return
        if not payload:
            return
        msg_type = payload[0]
        name = SSL2_MESSAGE_TYPES.get(msg_type, f"ssl2_type_{msg_type}")
        try:
            if msg_type == 1:
                self._client_hello(direction, parse_sslv2_client_hello(payload), env)
            elif msg_type == 4:
                self._sslv2_server_hello(direction, parse_sslv2_server_hello(payload), env)
            elif msg_type == 2:
                self._step(direction, env, name)
                self.sslv2_cipher = parse_sslv2_client_master_key(payload)
                self.client_key_exchange = True
                side.encrypted = True
            elif msg_type == 0:
                self._step(direction, env, name)
                code = int.from_bytes(payload[1:3], "big")
                self._record_alert(direction, 2, SSL2_ERRORS.get(code, f"ssl2_error_{code}"), env)
            else:
                self._step(direction, env, name)
        except DecodeError as e:
            self.sink.malformed("tls", env, e)

    def _sslv2_server_hello(self, direction: int, hello: Sslv2ServerHello, env: Envelope) -> None:
        self._fix_roles(1 - direction)
        self._step(direction, env, "ssl2_server_hello")
        if self.sslv2_server_hello is not None:
            return
        self.sslv2_server_hello = hello
        self.server_hello_env = env
        for side in self.sides:
            side.records.sslv2_session = True
        # The server's next message (SERVER-VERIFY) is encrypted; so is the client's when
        # the session is resumed (no CLIENT-MASTER-KEY).
        self.server.encrypted = True
        if hello.session_id_hit:
            self.client.encrypted = True
        if hello.certificate_type == 1 and hello.certificate:
            self.server_chain = (hello.certificate,)
            self.certificate_env = env
            self._catalogue(self.server_chain, env, "server")

    # alerts and closes: what decides the outcome

    def _alert(self, direction: int, level: int | None, desc: int | None, env: Envelope) -> None:
        if desc is None:
            self._record_alert(direction, None, None, env)
        else:
            self._record_alert(direction, level, alert_name(desc), env, desc)

    def _record_alert(
        self,
        direction: int,
        level: int | None,
        description: str | None,
        env: Envelope,
        code: int | None = None,
    ) -> None:
        role = self.role(direction)
        encrypted = description is None
        if len(self.alerts) < MAX_ALERTS:
            self.alerts.append(
                {
                    "frame": env.frame,
                    "ts": env.ts_ns / 1e9,
                    "sender": role,
                    "level": None if level is None else alert_level_name(level),
                    "description": description,
                    "encrypted": encrypted,
                }
            )
        self._step(direction, env, f"alert:{description or 'encrypted'}")
        if self.completed or self.outcome is not None or self.midstream:
            return
        if not encrypted and (level is None or level < 2):
            return  # warnings (unrecognized_name, no_renegotiation...) end nothing
        detail = description or "encrypted"
        if role == "server":
            no_hello = self.server_hello is None and self.sslv2_server_hello is None
            if no_hello and code in MISMATCH_ALERTS:
                self._decide("version_or_cipher_mismatch", detail, env)
            else:
                self._decide("server_alert", detail, env)
        elif self._client_rejecting():
            self._decide("client_rejected_certificate", detail, env)
        else:
            self._decide("client_alert", detail, env)

    def _client_rejecting(self) -> bool:
        """The server's Certificate has arrived and the client has not answered it yet."""
        return (
            bool(self.server_chain)
            and not self.client_key_exchange
            and not self.client.ccs
            and not self.client.finished
        )

    def _decide_close(self, role: str, how: str, env: Envelope) -> None:
        no_hello = self.server_hello is None and self.sslv2_server_hello is None
        if role == "client":
            if self._client_rejecting():
                self._decide("client_rejected_certificate", how, env)
            elif no_hello:
                self._decide("no_server_hello", f"client {how}", env)
            elif how == "rst":
                self._decide("reset", "client rst", env)
            else:
                self._decide("closed", "client fin", env)
        elif no_hello:
            if how == "rst":
                self._decide("version_or_cipher_mismatch", "server rst", env)
            else:
                self._decide("no_server_hello", "server fin", env)
        elif how == "rst":
            self._decide("reset", "server rst", env)
        else:
            self._decide("closed", "server fin", env)

    def _decide(self, outcome: str, detail: str | None, env: Envelope) -> None:
        if self.outcome is None:
            self.outcome = outcome
            self.outcome_detail = detail
            self.outcome_frame = env.frame

    def _step(self, direction: int, env: Envelope, message: str) -> None:
        if len(self.steps) < MAX_STEPS:
            self.steps.append(
                {
                    "frame": env.frame,
                    "ts": env.ts_ns / 1e9,
                    "sender": "client" if direction == self.client_dir else "server",
                    "message": message,
                }
            )

    # the row

    def _final_outcome(self) -> tuple[str, str | None, int | None]:
        if self.outcome is not None:
            return self.outcome, self.outcome_detail, self.outcome_frame
        if self.midstream:
            return "midstream", None, None
        lost = [self.role(d) for d, side in enumerate(self.sides) if side.lost]
        if self.client_hello is not None and (
            self.server_hello is None and self.sslv2_server_hello is None and not lost
        ):
            return "no_server_hello", None, None
        return "incomplete", (f"{' and '.join(lost)} stream not followed" if lost else None), None

    def _write_row(self) -> None:
        assert self.first_env is not None
        flow = self.flow
        ch, sh = self.client_hello, self.server_hello
        start = self.client_hello_env or self.first_env
        env = Envelope.of(flow, self.client_dir, start.frame, start.ts_ns)
        outcome, detail, outcome_frame = self._final_outcome()
        version = None
        cipher = None
        if sh is not None:
            version = version_name(sh.version)
            cipher = cipher_name(sh.cipher_suite)
        elif self.sslv2_server_hello is not None:
            version = version_name(0x0002)
            if self.sslv2_cipher is not None:
                cipher = cipher_name(self.sslv2_cipher)
        ske = self.server_key_exchange
        kx = kx_group = kx_signature = None
        kx_bits = None
        if sh is not None:
            kx = _key_exchange_of(sh.cipher_suite)
            if self.tls13 and sh.key_share_group is not None:
                kx_group = group_name(sh.key_share_group)
        if ske is not None:
            if ske.group is not None:
                kx_group = group_name(ske.group)
            elif ske.explicit_curve:
                kx_group = "explicit"
            kx_bits = ske.key_bits
            if ske.signature_algorithm is not None:
                kx_signature = signature_scheme_name(ske.signature_algorithm)
        request = self.certificate_request
        last_ts = self.last_ts_ns if self.last_ts_ns is not None else start.ts_ns
        first_ts = self.first_env.ts_ns
        first, second = self.sides
        encrypted_records = first.encrypted_records + second.encrypted_records
        encrypted_bytes = first.encrypted_bytes + second.encrypted_bytes
        self.sink.add(
            "tls",
            env,
            client=_endpoint(env.src, env.sport),
            server=_endpoint(env.dst, env.dport),
            sni=ch.server_name if ch else None,
            client_versions=_offered_versions(ch) if ch else None,
            version=version,
            cipher=cipher,
            certificates=[_sha256(der) for der in self.server_chain],
            client_certificates=[_sha256(der) for der in self.client_chain],
            certificates_encrypted=self.tls13,
            alerts=list(self.alerts),
            outcome=outcome,
            outcome_detail=detail,
            outcome_frame=outcome_frame,
            resumed=outcome == "resumed",
            **_client_hello_columns(ch),
            unknown_extensions=_unknown_extensions(ch, sh),
            **_server_hello_columns(sh),
            alpn=_alpn(sh),
            key_exchange=kx,
            kx_group=kx_group,
            kx_bits=kx_bits,
            kx_signature=kx_signature,
            client_certificate_requested=request is not None,
            ca_names_requested=(
                [describe_name(dn) for dn in request.certificate_authorities] if request else None
            ),
            session_ticket_issued=self.session_ticket_issued,
            hello_retry_request=self.hello_retry_request,
            handshake=list(self.steps),
            client_hello_frame=self.client_hello_env.frame if self.client_hello_env else None,
            server_hello_frame=self.server_hello_env.frame if self.server_hello_env else None,
            certificate_frame=self.certificate_env.frame if self.certificate_env else None,
            first_ts=first_ts,
            last_ts=last_ts,
            duration_s=(last_ts - first_ts) / 1e9,
            encrypted_records=encrypted_records,
            encrypted_bytes=encrypted_bytes,
            starttls=self.prelude.name if self.prelude is not None else None,
        )


_CLIENT_COLUMNS = (
    "ja3",
    "ja3_string",
    "ja4",
    "ja4_r",
    "client_hello_version",
    "sslv2_hello",
    "cipher_suites_offered",
    "extensions_offered",
    "supported_groups_offered",
    "signature_algorithms_offered",
    "alpn_offered",
)


def _client_hello_columns(hello: ClientHello | None) -> dict[str, Any]:
    """The ClientHello's columns. Clients repeat the same hello (only random and session
    id change), so the names and fingerprints are computed once per distinct hello."""
    if hello is None:
        return dict.fromkeys(_CLIENT_COLUMNS)
    key = (
        hello.legacy_version,
        hello.sslv2_format,
        hello.cipher_suites,
        hello.extension_types,
        hello.supported_groups,
        hello.ec_point_formats,
        hello.signature_algorithms,
        hello.supported_versions,
        hello.alpn,
    )
    columns = _client_columns_cached(key, hello)
    # Fresh lists per row: rows must not share mutable values.
    values = columns.copy()
    for name in _CLIENT_LIST_COLUMNS:
        values[name] = list(columns[name])
    return values


#: The client columns that are lists (kept as tuples in the cache).
_CLIENT_LIST_COLUMNS = (
    "cipher_suites_offered",
    "extensions_offered",
    "supported_groups_offered",
    "signature_algorithms_offered",
    "alpn_offered",
)


_client_cache: dict[tuple[Any, ...], dict[str, Any]] = {}


def _client_columns_cached(key: tuple[Any, ...], hello: ClientHello) -> dict[str, Any]:
    columns = _client_cache.get(key)
    if columns is None:
        text = ja3_string(hello)
        columns = {
            "ja3": None
            if text is None
            else hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
            "ja3_string": text,
            "ja4": ja4(hello),
            "ja4_r": ja4_raw(hello),
            "client_hello_version": version_name(hello.legacy_version),
            "sslv2_hello": hello.sslv2_format,
            "cipher_suites_offered": tuple(cipher_name(c) for c in hello.cipher_suites),
            "extensions_offered": tuple(extension_name(e) for e in hello.extension_types),
            "supported_groups_offered": tuple(group_name(g) for g in hello.supported_groups),
            "signature_algorithms_offered": tuple(
                signature_scheme_name(a) for a in hello.signature_algorithms
            ),
            "alpn_offered": hello.alpn_names,
        }
        if len(_client_cache) >= 4096:
            _client_cache.clear()  # bounded: distinct hellos are few, but never unbounded
        _client_cache[key] = columns
    return columns


def _server_hello_columns(hello: ServerHello | None) -> dict[str, Any]:
    """The ServerHello's columns, computed once per distinct (version, suite, extensions)
    as for the client's."""
    if hello is None:
        return {"ja3s": None, "ja3s_string": None, "server_extensions": None}
    key = (hello.legacy_version, hello.cipher_suite, hello.extension_types)
    cached = _server_cache.get(key)
    if cached is None:
        text = ja3s_string(hello)
        cached = (
            hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
            text,
            tuple(extension_name(e) for e in hello.extension_types),
        )
        if len(_server_cache) >= 4096:
            _server_cache.clear()
        _server_cache[key] = cached
    ja3s, text, names = cached
    return {"ja3s": ja3s, "ja3s_string": text, "server_extensions": list(names)}


_server_cache: dict[tuple[Any, ...], tuple[str, str, tuple[str, ...]]] = {}


def _parse_certificate(body: bytes, tls13: bool) -> CertificateChain:
    """parse_certificate, memoised: a server sends the same Certificate message to every
    client, and the chain is immutable. Bounded in entries and message size."""
    key = (tls13, body)
    chain = _chain_cache.get(key)
    if chain is None:
        chain = parse_certificate(body, tls13)  # raises before anything is cached
        if len(body) <= 64 * 1024:
            if len(_chain_cache) >= 64:
                _chain_cache.clear()
            _chain_cache[key] = chain
    return chain


_chain_cache: dict[tuple[bool, bytes], CertificateChain] = {}


def _sha256(der: bytes) -> str:
    # Servers send the same chain to every client: hashing the DER for a dict look-up
    # costs a fraction of SHA-256 over it. Bounded in entries and in certificate size
    # (at most 256 x 16 KiB kept).
    digest = _sha_cache.get(der)
    if digest is None:
        digest = hashlib.sha256(der).hexdigest()
        if len(der) <= 16 * 1024:
            if len(_sha_cache) >= 256:
                _sha_cache.clear()
            _sha_cache[der] = digest
    return digest


_sha_cache: dict[bytes, str] = {}


def _offered_versions(hello: ClientHello) -> list[str]:
    if hello.supported_versions:
        return [version_name(v) for v in hello.supported_versions if not is_grease(v)]
    return [version_name(hello.legacy_version)]


def _alpn(hello: ServerHello | None) -> str | None:
    if hello is None or hello.alpn is None:
        return None
    return printable(hello.alpn)


def _unknown_extensions(
    ch: ClientHello | None, sh: ServerHello | None
) -> list[dict[str, Any]] | None:
    out = []
    for sender, hello in (("client", ch), ("server", sh)):
        if hello is None:
            continue
        for ext in hello.extensions:
            if ext.type not in EXTENSIONS and not is_grease(ext.type):
                out.append({"sender": sender, "type": ext.type, "hex": ext.data[:256].hex()})
    return out


# -- the dissector ---------------------------------------------------------------------


def _server_port(flow: FlowInfo) -> int | None:
    """The claimed port at the server side (the originator's peer, unless the capture
    began mid-connection and the server looks like the originator)."""
    if flow.dport in CLAIMED_PORTS:
        return flow.dport
    if flow.sport in CLAIMED_PORTS and (flow.dport is None or flow.dport >= 1024):
        return flow.sport
    return None


class TlsDissector:
    """Stream dissector: TLS ports by ``wants``, TLS on any port by ``sniff``."""

    name: ClassVar[str] = "tls"

    def wants(self, flow: FlowInfo) -> bool:
        return _server_port(flow) is not None

    def sniff(self, direction: int, head: bytes) -> bool | None:
        if not head:
            return None
        first = head[0]
        if first == CT_HANDSHAKE:
            if len(head) >= 2 and head[1] != 3:
                return False
            if len(head) < 6:
                return None
            length = int.from_bytes(head[3:5], "big")
            if head[2] > 4 or not 4 <= length <= MAX_RECORD_LENGTH:
                return False
            if head[5] not in (HS_CLIENT_HELLO, HS_SERVER_HELLO):
                return False
            # A hello body is at least 38 bytes (version, random, session id, ...).
            return len(head) < 9 or int.from_bytes(head[6:9], "big") >= 38
        if first & 0x80:
            # SSL 2.0 CLIENT-HELLO: 2-byte header, message type 1, then the version.
            if len(head) < 5:
                return None
            length = ((first & 0x7F) << 8) | head[1]
            version = int.from_bytes(head[3:5], "big")
            return head[2] == 1 and length >= 9 and version in (2, 0x0300, 0x0301, 0x0302, 0x0303)
        return False

    def session(self, flow: FlowInfo, sink: Sink) -> TlsSession:
        port = _server_port(flow)
        prelude: _Prelude | None = None
        if port in SMTP_PORTS:
            prelude = _SmtpPrelude()
        elif port in MYSQL_PORTS:
            prelude = _MySqlPrelude()
        return TlsSession(flow, sink, prelude)


TLS_SCHEMA = Schema(
    "tls",
    "One TLS/SSL connection (TCP): its handshake, certificate chain, alerts and outcome. "
    "The envelope is the ClientHello's (src = client, dst = server).",
    (
        Column("client", "string", "client ip:port (IPv6 as [addr]:port)"),
        Column("server", "string", "server ip:port"),
        Column("sni", "string", "server_name the client asked for (SNI), if any"),
        Column(
            "client_versions",
            "object",
            "versions the client offers: its supported_versions list (GREASE left out), "
            "else the ClientHello's version, e.g. ['TLS 1.0']",
        ),
        Column("version", "category", "negotiated version, e.g. 'TLS 1.0'; null: none agreed"),
        Column("cipher", "category", "chosen cipher suite (Wireshark's name, hex if unknown)"),
        Column(
            "certificates",
            "object",
            "SHA-256 (hex) of the server's certificates as sent, leaf first",
        ),
        Column("client_certificates", "object", "SHA-256 of the client's certificates"),
        Column(
            "certificates_encrypted",
            "boolean",
            "TLS 1.3: the Certificate messages are encrypted and cannot be seen",
        ),
        Column(
            "alerts",
            "object",
            "alerts in order: {frame, ts, sender (client/server), level, description, "
            "encrypted}; encrypted alerts (after ChangeCipherSpec) have no level/description",
        ),
        Column(
            "outcome",
            "category",
            "completed (both Finished; TLS 1.3: the client's Finished followed by more client "
            "records or by server records), "
            "resumed (abbreviated handshake), client_rejected_certificate (client alert, FIN "
            "or RST after the server's Certificate, before its own key exchange), "
            "server_alert, client_alert (fatal alerts elsewhere), version_or_cipher_mismatch "
            "(server alert protocol_version/handshake_failure/insufficient_security, or a "
            "server RST, right after the ClientHello), no_server_hello, reset (RST "
            "elsewhere), closed (FIN elsewhere mid-handshake), incomplete (the capture or "
            "the stream ended mid-handshake), midstream (only encrypted records: the "
            "handshake happened before the capture)",
        ),
        Column(
            "outcome_detail",
            "string",
            "the alert description, or 'fin'/'rst' and who sent it, that decided the outcome",
        ),
        Column("outcome_frame", "Int64", "frame of the event that decided the outcome"),
        Column("resumed", "boolean", "an abbreviated (session id / ticket / PSK) handshake"),
        Column("ja3", "string", "JA3 of the ClientHello (MD5, as tshark's tls.handshake.ja3)"),
        Column("ja3_string", "string", "the JA3 input string"),
        Column("ja3s", "string", "JA3S of the ServerHello"),
        Column("ja3s_string", "string", "the JA3S input string"),
        Column("ja4", "string", "JA4 client fingerprint (FoxIO)"),
        Column("ja4_r", "string", "JA4_r: JA4 with the sorted lists in clear"),
        Column("client_hello_version", "category", "the ClientHello's legacy_version"),
        Column("sslv2_hello", "boolean", "the ClientHello used the SSL 2.0 record format"),
        Column("cipher_suites_offered", "object", "the client's cipher suites, in order"),
        Column("extensions_offered", "object", "the client's extensions (names), in order"),
        Column(
            "unknown_extensions",
            "object",
            "extensions with no registered name: {sender, type, hex (first 256 bytes)}",
        ),
        Column("supported_groups_offered", "object", "supported_groups, in order"),
        Column("signature_algorithms_offered", "object", "signature_algorithms, in order"),
        Column("alpn_offered", "object", "ALPN protocols offered"),
        Column("server_extensions", "object", "the ServerHello's extensions (names)"),
        Column("alpn", "string", "ALPN protocol the server chose"),
        Column(
            "key_exchange",
            "category",
            "key exchange of the chosen suite: rsa, ecdhe, dhe, ... (tls13 for TLS 1.3)",
        ),
        Column("kx_group", "category", "ECDHE curve / TLS 1.3 key_share group"),
        Column("kx_bits", "Int32", "DHE prime / RSA-export modulus size in bits"),
        Column("kx_signature", "category", "signature algorithm of the ServerKeyExchange"),
        Column(
            "client_certificate_requested",
            "boolean",
            "the server sent a CertificateRequest",
        ),
        Column(
            "ca_names_requested",
            "object",
            "CertificateRequest: the CA names the server accepts (RFC 4514; '#'+DER hex "
            "when not decodable)",
        ),
        Column("session_ticket_issued", "boolean", "the server sent a NewSessionTicket"),
        Column("hello_retry_request", "boolean", "TLS 1.3 HelloRetryRequest seen"),
        Column(
            "handshake",
            "object",
            "the steps in order: {frame, ts (epoch s), sender, message}; messages are "
            "handshake types, change_cipher_spec, encrypted_handshake, application_data "
            "(first per side), alert:<description>, fin, rst, gap",
        ),
        Column("client_hello_frame", "Int64", "frame of the (first) ClientHello"),
        Column("server_hello_frame", "Int64", "frame of the ServerHello"),
        Column("certificate_frame", "Int64", "frame completing the server's Certificate"),
        Column("first_ts", "datetime64[ns, UTC]", "first TLS record"),
        Column("last_ts", "datetime64[ns, UTC]", "last event followed"),
        Column("duration_s", "Float64", "last_ts - first_ts"),
        Column(
            "encrypted_records",
            "Int64",
            "encrypted records counted (both ways) until the session stopped following",
        ),
        Column("encrypted_bytes", "Int64", "their payload bytes"),
        Column("starttls", "category", "smtp / mysql when TLS followed a cleartext dialogue"),
    ),
    human=(
        "frame",
        "ts",
        "client",
        "server",
        "sni",
        "version",
        "cipher",
        "outcome",
        "outcome_detail",
    ),
)


PROTOCOL = ProtocolModule(
    name="tls",
    doc="TLS/SSL handshakes: versions, cipher, certificate chain, alerts, outcome",
    schemas=(TLS_SCHEMA,),
    stream=TlsDissector(),
)

"""SIP in clear over UDP and TCP: registrations, challenges, calls.

A phone that got past TLS registers with ``REGISTER``; the registrar answers ``401`` with
its authentication schemes (NTLM, Kerberos, TLS-DSK for Lync; Digest elsewhere), then
``200``. Where SIP runs in clear (UDP/TCP 5060), this module shows each message; over TLS
it is encrypted and only the TLS module sees the connection.

:func:`parse_sip` parses one message (a UDP datagram, or one framed from a TCP stream by
:class:`SipStream`, which delimits messages by ``Content-Length``). Compact header forms
(``i``, ``f``, ``t``, ``v``, ``m``, ``l``, ``c``, ``k``, ...) are understood; credentials
are never kept, only the scheme of an ``Authorization`` header.

>>> msg = parse_sip(b"SIP/2.0 401 Unauthorized\\r\\ni: abc@10.20.0.57\\r\\n"
...                 b'WWW-Authenticate: NTLM realm="SIP Communications Service", '
...                 b'targetname="pool01.contoso.local", version=4\\r\\nl: 0\\r\\n\\r\\n')
>>> msg.status, msg.call_id, msg.auth_schemes, msg.auth_targetname
(401, 'abc@10.20.0.57', ('NTLM',), 'pool01.contoso.local')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import ClassVar, Generic, TypeVar

from analyzer.capture.pipeline import FlowInfo
from analyzer.errors import DecodeError, Malformed, Truncated, Weird
from analyzer.protocols.base import Column, Envelope, Schema, Sink
from analyzer.protocols.http import (
    Headers,
    matches_shape,
    parse_header_lines,
    split_lines,
    text,
)
from analyzer.protocols.registry import ProtocolModule

#: UDP ports whose datagrams are parsed as SIP (5061 carries SIP over UDP for some
#: gateways; over TCP it is TLS, left to the TLS module).
SIP_UDP_PORTS = frozenset({5060, 5061})
#: TCP ports claimed without looking at the payload; other ports are claimed by content.
SIP_TCP_PORTS = frozenset({5060})
#: A message head longer than this is malformed (and ends the framing of a TCP direction).
MAX_HEAD = 64 * 1024
#: Header fields kept per message; the rest are dropped with a weird row.
MAX_HEADERS = 256
#: A header value longer than this is cut, with a weird row.
MAX_LINE = 32 * 1024

#: RFC 3261 section 7.3.3 and later RFCs' single-letter header names.
COMPACT_FORMS = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class NameAddr:
    """A From/To/Contact value: ``"Display" <uri>;tag=...`` or ``uri;tag=...``."""

    display: str | None
    uri: str
    params: tuple[tuple[str, str | None], ...]

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Challenge:
    """One WWW-Authenticate / Proxy-Authenticate challenge (no tokens kept)."""

    scheme: str
    realm: str | None
    targetname: str | None


@dataclass(frozen=True, slots=True)
class SipMessage:
    """One SIP request or response, with the header fields the analyses use."""

    is_request: bool
    version: str
    method: str | None
    request_uri: str | None
    status: int | None
    reason: str | None
    headers: Headers
    call_id: str | None
    cseq: int | None
    cseq_method: str | None
    from_: NameAddr | None
    to: NameAddr | None
    #: First Via hop (``SIP/2.0/TCP host:port;branch=...``).
    via: str | None
    #: URI of the first Contact (or ``*``).
    contact: str | None
    user_agent: str | None
    server: str | None
    #: Expires header, else the first Contact's ``expires`` parameter.
    expires: int | None
    content_type: str | None
    content_length: int | None
    body_length: int
    challenges: tuple[Challenge, ...]
    #: Scheme of the request's Authorization / Proxy-Authorization (never the credentials).
    authorization: str | None
    #: Anomaly names (header caps, unparsable fields).
    anomalies: tuple[str, ...] = ()

    @property
    def auth_schemes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.scheme for c in self.challenges))

    @property
    def auth_realm(self) -> str | None:
        return next((c.realm for c in self.challenges if c.realm is not None), None)

    @property
    def auth_targetname(self) -> str | None:
        return next((c.targetname for c in self.challenges if c.targetname is not None), None)


# ---------------------------------------------------------------------- field parsing


def split_top_level(value: bytes) -> list[bytes]:
    """Split a header value at commas outside quotes and angle brackets.

    >>> split_top_level(b'"Doe, J" <sip:j@x>;q=1, <sip:k@y>')
    [b'"Doe, J" <sip:j@x>;q=1', b'<sip:k@y>']
    """
    parts: list[bytes] = []
    start = 0
    quoted = angle = False
    escaped = False
    for i, c in enumerate(value):
        if escaped:
            escaped = False
        elif quoted:
            if c == 0x5C:  # backslash
                escaped = True
            elif c == 0x22:
                quoted = False
        elif c == 0x22:
            quoted = True
        elif c == 0x3C:
            angle = True
        elif c == 0x3E:
            angle = False
        elif c == 0x2C and not angle:
            parts.append(value[start:i].strip())
            start = i + 1
    parts.append(value[start:].strip())
    return [p for p in parts if p]


def _params(raw: bytes) -> tuple[tuple[str, str | None], ...]:
    out = []
    for part in raw.split(b";"):
        key, eq, value = part.partition(b"=")
        key = key.strip()
        if key:
            out.append((text(key).lower(), text(value.strip().strip(b'"')) if eq else None))
    return tuple(out)


def parse_name_addr(value: bytes) -> NameAddr:
    """Parse a From/To/Contact value.

    >>> a = parse_name_addr(b'"Bob" <sip:bob@example.com;transport=tcp>;tag=99')
    >>> a.display, a.uri, a.param("tag")
    ('Bob', 'sip:bob@example.com;transport=tcp', '99')
    >>> parse_name_addr(b"sip:alice@example.com;tag=1").uri
    'sip:alice@example.com'
    """
    v = value.strip()
    display = None
    if v[:1] == b'"':
        m = re.match(rb'"((?:[^"\\]|\\.)*)"', v)
        if m is None:
            raise Malformed(f"unterminated display name in {text(v[:60])!r}", offset=0)
        display = text(m.group(1))
        v = v[m.end() :].lstrip()
    lt = v.find(b"<")
    if lt >= 0:
        gt = v.find(b">", lt)
        if gt < 0:
            raise Malformed(f"unterminated <uri> in {text(v[:60])!r}", offset=0)
        if display is None and v[:lt].strip():
            display = text(v[:lt].strip())
        return NameAddr(display, text(v[lt + 1 : gt].strip()), _params(v[gt + 1 :]))
    uri, _, params = v.partition(b";")
    return NameAddr(display, text(uri.strip()), _params(params))


_AUTH_PARAM = re.compile(rb'([A-Za-z0-9_\-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')


def parse_challenge(value: bytes) -> Challenge:
    """Scheme, realm and targetname of a challenge; tokens (gssapi-data, nonce) dropped.

    >>> c = parse_challenge(b'Kerberos realm="SIP Communications Service", '
    ...                     b'targetname="sip/pool01.contoso.local", version=4')
    >>> c.scheme, c.realm, c.targetname
    ('Kerberos', 'SIP Communications Service', 'sip/pool01.contoso.local')
    """
    scheme, _, rest = value.strip().partition(b" ")
    realm = targetname = None
    for m in _AUTH_PARAM.finditer(rest):
        key = m.group(1).lower()
        val = m.group(2)
        if val[:1] == b'"':
            val = val[1:-1]
        if key == b"realm" and realm is None:
            realm = text(val)
        elif key == b"targetname" and targetname is None:
            targetname = text(val)
    return Challenge(text(scheme), realm, targetname)


def _int(value: bytes | None) -> int | None:
    if value is None:
        return None
    v = value.strip()
    return int(v) if v.isdigit() and len(v) <= 18 else None


def _expand_compact(headers: Headers) -> Headers:
    return Headers(tuple((COMPACT_FORMS.get(name, name), value) for name, value in headers.fields))


_REQUEST_LINE = re.compile(rb"([!%*+\-.`'~0-9A-Za-z_]+) +([^ ]+) +SIP/([0-9]+\.[0-9]+)")
_STATUS_LINE = re.compile(rb"SIP/([0-9]+\.[0-9]+) +([0-9]{3})(?: (.*))?")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def head_end(data: bytes | bytearray, start: int = 0) -> int:
    """Index just past the blank line ending the head that starts at ``start``, or -1."""
    m = _BLANK_LINE.search(data, start)
    return -1 if m is None else m.end()


def parse_sip(data: bytes) -> SipMessage:
    """Parse one SIP message (head, then body up to the end of ``data``).

    Leading CRLFs are skipped. Without a blank line the whole of ``data`` is the head.
    Raises :class:`Truncated` for empty input and :class:`Malformed` for a start line
    that is neither ``METHOD uri SIP/2.0`` nor ``SIP/2.0 NNN reason``, or a head over
    :data:`MAX_HEAD` bytes.
    """
    start = len(data) - len(data.lstrip(b"\r\n"))
    end = head_end(data, start)
    if end < 0:
        end = len(data)
    if end - start > MAX_HEAD:
        raise Malformed(f"head of {end - start} bytes exceeds {MAX_HEAD}", offset=start)
    lines = split_lines(data[start:end])
    if not lines:
        raise Truncated("no start line", offset=start)
    first = lines[0]
    parsed, anomalies = parse_header_lines(lines[1:], max_headers=MAX_HEADERS, max_line=MAX_LINE)
    headers = _expand_compact(parsed)
    method = uri = reason = None
    status = None
    if first.startswith(b"SIP/"):
        m = _STATUS_LINE.fullmatch(first)
        if m is None:
            raise Malformed(f"bad status line {text(first[:80])!r}", offset=start)
        version, status = m.group(1), int(m.group(2))
        reason = text(m.group(3)).strip() if m.group(3) is not None else None
    else:
        m = _REQUEST_LINE.fullmatch(first)
        if m is None:
            raise Malformed(f"bad request line {text(first[:80])!r}", offset=start)
        method, uri, version = text(m.group(1)), text(m.group(2)), m.group(3)
    return _message(
        method,
        uri,
        status,
        reason,
        "SIP/" + version.decode("ascii"),
        headers,
        anomalies,
        body_length=len(data) - end,
    )


def _name_addr(headers: Headers, name: str, anomalies: list[str]) -> NameAddr | None:
    raw = headers.raw(name)
    if raw is None:
        return None
    values = split_top_level(raw) if b"," in raw else [raw]
    try:
        if not values or not values[0].strip():
            raise Malformed(f"empty {name}", offset=0)
        return parse_name_addr(values[0])
    except DecodeError:
        anomalies.append(f"bad_{name.replace('-', '_')}")
        return None


def _message(
    method: str | None,
    uri: str | None,
    status: int | None,
    reason: str | None,
    version: str,
    headers: Headers,
    header_anomalies: list[str],
    *,
    body_length: int,
) -> SipMessage:
    anomalies = list(header_anomalies)
    cseq = cseq_method = None
    raw_cseq = headers.raw("cseq")
    if raw_cseq is not None:
        number, _, cmethod = raw_cseq.strip().partition(b" ")
        cseq = _int(number)
        cseq_method = text(cmethod.strip()) or None
        if cseq is None:
            anomalies.append("bad_cseq")
    contact_uri = None
    contact_expires = None
    raw_contact = headers.raw("contact")
    if raw_contact is not None:
        if raw_contact.strip() == b"*":
            contact_uri = "*"
        else:
            contact = _name_addr(headers, "contact", anomalies)
            if contact is not None:
                contact_uri = contact.uri
                contact_expires = contact.param("expires")
    expires = _int(headers.raw("expires"))
    if expires is None and contact_expires is not None:
        expires = _int(contact_expires.encode("ascii", "replace"))
    hops = split_top_level(headers.raw("via") or b"")
    via = text(hops[0]) if hops else None
    challenges = tuple(
        parse_challenge(v)
        for name in ("www-authenticate", "proxy-authenticate")
        for v in headers.get_all(name)
        if v.strip()
    )
    authorization = None
    for name in ("authorization", "proxy-authorization"):
        raw = headers.raw(name)
        if raw is not None and raw.strip():
            authorization = text(raw.strip().split(b" ", 1)[0])
            break
    raw_length = headers.raw("content-length")
    content_length = _int(raw_length)
    if raw_length is not None and content_length is None:
        anomalies.append("bad_content_length")
    return SipMessage(
        is_request=method is not None,
        version=version,
        method=method,
        request_uri=uri,
        status=status,
        reason=reason,
        headers=headers,
        call_id=headers.get("call-id"),
        cseq=cseq,
        cseq_method=cseq_method,
        from_=_name_addr(headers, "from", anomalies),
        to=_name_addr(headers, "to", anomalies),
        via=via,
        contact=contact_uri,
        user_agent=headers.get("user-agent"),
        server=headers.get("server"),
        expires=expires,
        content_type=headers.get("content-type"),
        content_length=content_length,
        body_length=body_length,
        challenges=challenges,
        authorization=authorization,
        anomalies=tuple(dict.fromkeys(anomalies)),
    )


def is_keepalive(data: bytes) -> bool:
    """CRLF pings/pongs (RFC 5626) and NUL-filled NAT keep-alives: not a message."""
    return not data.strip(b"\r\n\x00 \t")


# ----------------------------------------------------------------------- TCP framing


@dataclass(frozen=True, slots=True)
class SipFramed(Generic[M]):
    """A message framed from a stream; ``mark`` is the one of its last byte."""

    message: SipMessage
    mark: M


@dataclass(frozen=True, slots=True)
class SipNote(Generic[M]):
    """An anomaly (``error`` None) or a malformed message (``error`` set)."""

    name: str
    mark: M
    detail: str = ""
    error: DecodeError | None = None


SipEvent = SipFramed[M] | SipNote[M]


class SipStream(Generic[M]):
    """Frames one direction of a SIP-over-TCP connection by ``Content-Length``.

    CRLF keep-alives between messages are skipped; a message without Content-Length has
    no body (RFC 3261 requires the header over TCP). Bodies are counted, never kept. A
    malformed head or a gap outside a body ends the framing (:attr:`done`).
    """

    def __init__(self) -> None:
        self.buf = bytearray()
        self.scan = 0
        self.head: SipMessage | None = None
        self.remaining = 0
        #: Body bytes seen of the message being framed (gaps excluded).
        self.seen = 0
        self.done = False

    def feed(self, data: bytes, mark: M) -> list[SipEvent[M]]:
        events: list[SipEvent[M]] = []
        pos, n = 0, len(data)
        while pos < n and not self.done:
            if self.head is not None:
                take = min(self.remaining, n - pos)
                pos += take
                self.remaining -= take
                self.seen += take
                if self.remaining == 0:
                    events.append(self._complete(mark))
                continue
            if not self.buf:
                while pos < n and data[pos] in b"\r\n":
                    pos += 1
                if pos == n:
                    break
            before = len(self.buf)
            self.buf += data[pos:]
            end = head_end(self.buf, max(0, self.scan - 3))
            if end < 0:
                self.scan = len(self.buf)
                if len(self.buf) > MAX_HEAD:
                    events.append(self._fail(Malformed(f"head over {MAX_HEAD} bytes"), mark))
                return events
            pos += end - before
            block = bytes(self.buf[:end])
            del self.buf[:]
            self.scan = 0
            try:
                msg = parse_sip(block)
            except DecodeError as e:
                events.append(self._fail(e, mark))
                return events
            length = msg.content_length or 0
            self.head = msg
            self.remaining = length
            self.seen = 0
            if length == 0:
                events.append(self._complete(mark))
        return events

    def gap(self, length: int, mark: M) -> list[SipEvent[M]]:
        if self.done:
            return []
        if self.head is not None and length <= self.remaining:
            self.remaining -= length
            return [self._complete(mark)] if self.remaining == 0 else []
        self.done = True
        return [SipNote("sip_gap", mark, f"{length} bytes missing")]

    def close(self, mark: M | None) -> list[SipEvent[M]]:
        """End of the stream: a message whose body was cut short is still reported."""
        events: list[SipEvent[M]] = []
        if not self.done and mark is not None:
            if self.head is not None:
                events.append(self._complete(mark))
                events.append(SipNote("sip_truncated_body", mark, f"{self.remaining} missing"))
            elif self.buf:
                events.append(SipNote("sip_truncated_head", mark, f"{len(self.buf)} bytes"))
        self.done = True
        return events

    def _complete(self, mark: M) -> SipFramed[M]:
        assert self.head is not None
        msg = self.head
        self.head = None
        return SipFramed(_with_body(msg, self.seen), mark)

    def _fail(self, error: DecodeError, mark: M) -> SipNote[M]:
        self.done = True
        del self.buf[:]
        return SipNote("sip_malformed", mark, str(error), error)


def _with_body(msg: SipMessage, body_length: int) -> SipMessage:
    return replace(msg, body_length=body_length)


# ------------------------------------------------------------------------- sniffing


def sniff_sip(head: bytes) -> bool | None:
    """Does a TCP stream start like SIP? ``METHOD sip:``/``sips:``/``tel:`` or
    ``SIP/2.0 NNN`` (after optional CRLF keep-alives). None: need more bytes.

    >>> sniff_sip(b"REGISTER sip:contoso.com SIP/2.0\\r\\n"), sniff_sip(b"SIP/2.0 4")
    (True, None)
    >>> sniff_sip(b"GET / HTTP/1.1\\r\\n")
    False
    """
    head = head.lstrip(b"\r\n")
    if not head:
        return None
    if head[:1] == b"S":
        status = matches_shape(head, b"SIP/2.0 ###")
        if status is not False:
            return status
    space = head.find(b" ")
    if space < 0:
        return None if len(head) <= 16 and re.fullmatch(rb"[A-Z]+", head) else False
    if re.fullmatch(rb"[A-Z]{2,16}", head[:space]) is None:
        return False
    rest = head[space + 1 :].lower()
    verdicts = [matches_shape(rest, scheme) for scheme in (b"sip:", b"sips:", b"tel:")]
    if True in verdicts:
        return True
    return None if None in verdicts else False


# ------------------------------------------------------------------------ dissectors

SIP_SCHEMA = Schema(
    "sip",
    "One SIP message in clear (UDP, or TCP framed by Content-Length).",
    (
        Column("kind", "category", "request or response"),
        Column("method", "category", "request method (REGISTER, INVITE, ...)"),
        Column("request_uri", "string", "Request-URI of a request"),
        Column("status", "Int16", "response status code"),
        Column("reason", "string", "response reason phrase"),
        Column("call_id", "string", "Call-ID"),
        Column("cseq", "Int64", "CSeq sequence number"),
        Column("cseq_method", "category", "CSeq method (says what a response answers)"),
        Column("from_uri", "string", "From URI"),
        Column("from_tag", "string", "From tag parameter"),
        Column("to_uri", "string", "To URI"),
        Column("to_tag", "string", "To tag parameter (set by the answering side)"),
        Column("via", "string", "first Via hop: SIP/2.0/transport sent-by;params"),
        Column("contact", "string", "first Contact URI (or *)"),
        Column("user_agent", "string", "User-Agent header"),
        Column("server", "string", "Server header"),
        Column("expires", "Int64", "Expires header, else the first Contact's expires"),
        Column("content_type", "string", "Content-Type header"),
        Column("content_length", "Int64", "declared Content-Length"),
        Column("body_length", "Int64", "body bytes seen"),
        Column(
            "auth_schemes",
            "object",
            "schemes offered in WWW-/Proxy-Authenticate challenges (NTLM, Kerberos, "
            "TLS-DSK, Digest), in order",
        ),
        Column("auth_realm", "string", "realm of the first challenge that has one"),
        Column(
            "auth_targetname",
            "string",
            "targetname of the first challenge that has one (the server's FQDN for NTLM)",
        ),
        Column(
            "authorization",
            "category",
            "scheme of the request's Authorization/Proxy-Authorization (never credentials)",
        ),
    ),
    human=(
        "frame",
        "ts",
        "src",
        "dst",
        "transport",
        "method",
        "status",
        "reason",
        "cseq",
        "cseq_method",
        "from_uri",
        "auth_schemes",
        "authorization",
    ),
)


def _note_anomalies(sink: Sink, env: Envelope, msg: SipMessage) -> None:
    for name in msg.anomalies:
        sink.note(Weird(f"sip_{name}", frame=env.frame, flow=env.flow))


def add_row(sink: Sink, env: Envelope, msg: SipMessage) -> None:
    """One ``sip`` row (and the message's anomalies as weird rows)."""
    _note_anomalies(sink, env, msg)
    sink.add(
        "sip",
        env,
        kind="request" if msg.is_request else "response",
        method=msg.method,
        request_uri=msg.request_uri,
        status=msg.status,
        reason=msg.reason,
        call_id=msg.call_id,
        cseq=msg.cseq,
        cseq_method=msg.cseq_method,
        from_uri=msg.from_.uri if msg.from_ is not None else None,
        from_tag=msg.from_.param("tag") if msg.from_ is not None else None,
        to_uri=msg.to.uri if msg.to is not None else None,
        to_tag=msg.to.param("tag") if msg.to is not None else None,
        via=msg.via,
        contact=msg.contact,
        user_agent=msg.user_agent,
        server=msg.server,
        expires=msg.expires,
        content_type=msg.content_type,
        content_length=msg.content_length,
        body_length=msg.body_length,
        auth_schemes=list(msg.auth_schemes),
        auth_realm=msg.auth_realm,
        auth_targetname=msg.auth_targetname,
        authorization=msg.authorization,
    )


class SipDatagramDissector:
    """SIP over UDP 5060/5061: one message per datagram."""

    name: ClassVar[str] = "sip"

    def wants(self, flow: FlowInfo) -> bool:
        return flow.sport in SIP_UDP_PORTS or flow.dport in SIP_UDP_PORTS

    def datagram(self, env: Envelope, payload: bytes, sink: Sink) -> None:
        if is_keepalive(payload):
            return
        add_row(sink, env, parse_sip(payload))


class SipSession:
    """One SIP-over-TCP connection: both directions framed independently."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.streams: tuple[SipStream[Envelope], SipStream[Envelope]] = (SipStream(), SipStream())
        self.last_env: list[Envelope | None] = [None, None]

    def data(self, direction: int, data: bytes, env: Envelope) -> bool:
        self.last_env[direction] = env
        self._emit(self.streams[direction].feed(data, env))
        return not all(s.done for s in self.streams)

    def gap(self, direction: int, length: int, env: Envelope) -> bool:
        self._emit(self.streams[direction].gap(length, env))
        return not all(s.done for s in self.streams)

    def close(self, env: Envelope | None) -> None:
        for direction, stream in enumerate(self.streams):
            self._emit(stream.close(self.last_env[direction]))

    def _emit(self, events: list[SipEvent[Envelope]]) -> None:
        for event in events:
            if isinstance(event, SipFramed):
                add_row(self.sink, event.mark, event.message)
            elif event.error is not None:
                self.sink.malformed("sip", event.mark, event.error)
            else:
                self.sink.note(
                    Weird(
                        event.name,
                        frame=event.mark.frame,
                        flow=event.mark.flow,
                        detail=event.detail,
                    )
                )


class SipStreamDissector:
    """SIP over TCP: port 5060, or any port whose first bytes look like SIP."""

    name: ClassVar[str] = "sip"

    def wants(self, flow: FlowInfo) -> bool:
        return flow.sport in SIP_TCP_PORTS or flow.dport in SIP_TCP_PORTS

    def sniff(self, direction: int, head: bytes) -> bool | None:
        return sniff_sip(head)

    def session(self, flow: FlowInfo, sink: Sink) -> SipSession:
        return SipSession(sink)


PROTOCOL = ProtocolModule(
    name="sip",
    doc="SIP in clear over UDP 5060/5061 and TCP (5060 and by content)",
    schemas=(SIP_SCHEMA,),
    datagram=SipDatagramDissector(),
    stream=SipStreamDissector(),
)

"""HTTP/1.x in clear over TCP: requests, responses, and the certificates their bodies carry.

Lync Phone Edition downloads the enterprise root chain from the Certificate Provisioning
web service (``/CertProv/CertProvisioningService.svc``), often over plain HTTP on port 80:
the answer is a SOAP envelope holding a base64 PKCS#7. Certificate revocation and AIA
downloads (``.crt``, ``.p7c``) also travel in clear. This module pairs every request with
its response and hands every certificate found in a body to the certificate catalog.

The parser is sans-IO: :func:`parse_http_head` parses one message head, and
:class:`HttpConnection` frames a whole connection (both directions) pushed to it in pieces,
returning :class:`HttpTransaction` events; :func:`find_certificates` looks for DER, PEM,
PKCS#7 and base64-in-XML certificates in a body.

>>> head = parse_http_head(b"GET /pki/root.crt HTTP/1.1\\r\\nHost: pki.contoso.com\\r\\n\\r\\n")
>>> head.method, head.target, head.headers.get("HOST")
('GET', '/pki/root.crt', 'pki.contoso.com')
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import warnings
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from hashlib import sha256
from typing import ClassVar, Generic, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from analyzer.capture.pipeline import FlowInfo
from analyzer.errors import DecodeError, Malformed, Truncated, Weird
from analyzer.protocols.base import Column, Envelope, Schema, Sink
from analyzer.protocols.ber import plain_header
from analyzer.protocols.registry import ProtocolModule

#: TCP ports claimed without looking at the payload; any other port is claimed by content.
HTTP_PORTS = frozenset({80, 8000, 8080})
#: A message head (start line + headers) longer than this is malformed: nothing legitimate
#: needs more, and the head is buffered whole.
MAX_HEAD = 64 * 1024
#: Header lines kept per head; the rest are dropped with a weird row.
MAX_HEADERS = 128
#: One header line (after unfolding) longer than this is cut, with a weird row.
MAX_LINE = 16 * 1024
#: A chunk-size line longer than this is malformed.
MAX_CHUNK_LINE = 1024
#: Requests waiting for their response; beyond, the oldest is reported unanswered.
MAX_PENDING = 64
#: Bytes of a body kept for certificate extraction; a longer body is counted, not kept.
MAX_BODY_KEPT = 4 * 1024 * 1024
#: Bytes a gzip/deflate body may inflate to before certificate extraction gives up.
MAX_DECOMPRESSED = 8 * 1024 * 1024
#: Certificates taken from one body.
MAX_CERTIFICATES = 64
#: Base64 runs tried per body (XML/SOAP/JSON text).
MAX_BASE64_RUNS = 256

#: Request methods that a content sniffer accepts on a port that is not an HTTP port.
SNIFF_METHODS = frozenset(
    {
        b"GET",
        b"HEAD",
        b"POST",
        b"PUT",
        b"DELETE",
        b"CONNECT",
        b"OPTIONS",
        b"TRACE",
        b"PATCH",
        b"PROPFIND",
        b"PROPPATCH",
        b"MKCOL",
        b"COPY",
        b"MOVE",
        b"LOCK",
        b"UNLOCK",
        b"SEARCH",
        b"REPORT",
        b"RPC_IN_DATA",
        b"RPC_OUT_DATA",
    }
)

M = TypeVar("M")

# ----------------------------------------------------------------------------- text


#: The display form of every ASCII character: control characters (except tab) escaped,
#: the rest themselves. Identity entries are there on purpose: ``str.translate`` pays a
#: raised and cleared KeyError for every character its table lacks.
_DISPLAY = {
    c: f"\\x{c:02x}" if (c < 0x20 and c != 0x09) or c == 0x7F else chr(c) for c in range(0x80)
}


def text(raw: bytes) -> str:
    """Wire text for display: UTF-8 (invalid bytes replaced), control characters escaped.

    Several header values of every message go through here and nearly all are printable:
    ``str.isprintable`` proves in one C call that there is nothing to escape (every
    escaped character is a control character, which is never printable).

    >>> text(b"a\\x1b[31mb\\xff")
    'a\\\\x1b[31mb\\ufffd'
    """
    decoded = raw.decode("utf-8", "replace")
    return decoded if decoded.isprintable() else decoded.translate(_DISPLAY)


# -------------------------------------------------------------------------- headers


@dataclass(frozen=True, slots=True)
class Headers:
    """Header fields in wire order: (lower-case name, raw value). Names compare
    case-insensitively; values are decoded only when asked for."""

    fields: tuple[tuple[str, bytes], ...] = ()

    def raw(self, name: str) -> bytes | None:
        name = name.lower()
        for key, value in self.fields:
            if key == name:
                return value
        return None

    def get(self, name: str) -> str | None:
        """The first value of ``name`` as display text, or None."""
        value = self.raw(name)
        return None if value is None else text(value)

    def get_all(self, name: str) -> list[bytes]:
        name = name.lower()
        return [value for key, value in self.fields if key == name]

    def __len__(self) -> int:
        return len(self.fields)


_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def parse_header_lines(
    lines: list[bytes], *, max_headers: int = MAX_HEADERS, max_line: int = MAX_LINE
) -> tuple[Headers, list[str]]:
    """Header lines (no line ends) to :class:`Headers`, plus anomaly names.

    Folded lines (starting with a space or tab) continue the previous field. Anomalies,
    not errors: a line without a colon or with a bad name is skipped
    (``header_without_colon``), fields beyond ``max_headers`` are dropped
    (``header_count_cap``), a value longer than ``max_line`` is cut (``header_line_cap``).
    """
    names: list[str] = []
    values: list[bytes] = []
    # Continuation lines by field index: joined once at the end, because extending a
    # value line by line would copy it again for every folded line (quadratic in a head
    # made of folds).
    folded: dict[int, list[bytes]] = {}
    anomalies: list[str] = []
    dropped = False
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if names and not dropped:
                last = len(names) - 1
                folded.setdefault(last, [values[last]]).append(line.strip(b" \t"))
            continue
        name, colon, value = line.partition(b":")
        name = name.rstrip(b" \t")
        if not colon or _TOKEN.fullmatch(name) is None:
            anomalies.append("header_without_colon")
            continue
        if len(names) >= max_headers:
            dropped = True
            continue
        names.append(name.decode("ascii").lower())
        values.append(value.strip(b" \t"))
    if dropped:
        anomalies.append("header_count_cap")
    for index, parts in folded.items():
        values[index] = b" ".join(parts)
    if max(map(len, values), default=0) > max_line:  # one C pass when none is too long
        for index, value in enumerate(values):
            if len(value) > max_line:
                values[index] = value[:max_line]
                anomalies.append("header_line_cap")
    return Headers(tuple(zip(names, values, strict=True))), anomalies


def split_lines(block: bytes) -> list[bytes]:
    """A head's lines without their ends (CRLF or bare LF), trailing blank lines dropped.

    A line loses one CR before its LF (``replace`` does that for every line in one pass,
    rather than a test per line); the last line, with no LF after it, loses its CR here.
    A blank line is one of nothing but CRs.
    """
    lines = block.replace(b"\r\n", b"\n").split(b"\n")
    if lines[-1].endswith(b"\r"):
        lines[-1] = lines[-1][:-1]
    while lines and lines[-1].rstrip(b"\r") == b"":
        lines.pop()
    return lines


# ----------------------------------------------------------------------------- head


@dataclass(frozen=True, slots=True)
class HttpHead:
    """A request or response head: start line fields and headers."""

    is_request: bool
    version: str
    method: str | None = None
    target: str | None = None
    status: int | None = None
    reason: str | None = None
    headers: Headers = field(default_factory=Headers)
    #: Header anomalies (see :func:`parse_header_lines`).
    anomalies: tuple[str, ...] = ()

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


_REQUEST_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) +([^ ]+) +HTTP/(1\.[0-9])")
_STATUS_LINE = re.compile(rb"HTTP/(1\.[0-9]) +([0-9]{3})(?: (.*))?")


def parse_http_head(block: bytes) -> HttpHead:
    """Parse a message head (start line and header lines, optionally with the blank line).

    Raises :class:`Malformed` for a start line that is neither ``METHOD target HTTP/1.x``
    nor ``HTTP/1.x NNN reason``, and :class:`Truncated` for an empty block.
    """
    if len(block) > MAX_HEAD:
        raise Malformed(f"head of {len(block)} bytes exceeds {MAX_HEAD}", offset=0)
    lines = split_lines(block.lstrip(b"\r\n"))
    if not lines:
        raise Truncated("no start line", offset=0)
    start = lines[0]
    headers, anomalies = parse_header_lines(lines[1:])
    if start.startswith(b"HTTP/"):
        m = _STATUS_LINE.fullmatch(start)
        if m is None:
            raise Malformed(f"bad status line {text(start[:80])!r}", offset=0)
        return HttpHead(
            is_request=False,
            version="HTTP/" + m.group(1).decode("ascii"),
            status=int(m.group(2)),
            reason=text(m.group(3)).strip() if m.group(3) is not None else None,
            headers=headers,
            anomalies=tuple(anomalies),
        )
    m = _REQUEST_LINE.fullmatch(start)
    if m is None:
        raise Malformed(f"bad request line {text(start[:80])!r}", offset=0)
    return HttpHead(
        is_request=True,
        version="HTTP/" + m.group(3).decode("ascii"),
        method=m.group(1).decode("ascii"),
        target=text(m.group(2)),
        headers=headers,
        anomalies=tuple(anomalies),
    )


# ---------------------------------------------------------------------- connection


@dataclass(slots=True, eq=False)
class HttpMessage(Generic[M]):
    """One message of a connection as framed so far.

    ``head_mark``/``end_mark`` are the marks passed with the bytes that completed the head
    and the whole message (the dissector passes the Envelope, so these say which frame).
    """

    head: HttpHead
    head_mark: M
    end_mark: M
    #: Body bytes seen (after removing chunked framing; before content decoding).
    body_length: int = 0
    #: Body bytes the capture never delivered (TCP gaps inside the body).
    body_missing: int = 0
    #: The body, when kept (see ``keep_body``), complete and under the cap; else None.
    body: bytes | None = None
    #: True once the framing says the message is over (length reached, last chunk, close).
    complete: bool = False
    trailers: Headers | None = None


@dataclass(frozen=True, slots=True)
class HttpTransaction(Generic[M]):
    """A request and its response; one side is None for an unanswered request or an
    unsolicited response."""

    request: HttpMessage[M] | None
    response: HttpMessage[M] | None


@dataclass(frozen=True, slots=True)
class HttpNote(Generic[M]):
    """An anomaly (``error`` None: a weird row) or a malformed message (``error`` set)."""

    name: str
    mark: M
    detail: str = ""
    error: DecodeError | None = None


HttpEvent = HttpTransaction[M] | HttpNote[M]

# Direction states.
_START, _HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _CLOSE, _DONE = range(9)
_BLANK_LINE = re.compile(rb"\n\r?\n")


class _Direction(Generic[M]):
    """Framing state of one direction."""

    __slots__ = ("answering", "body", "buf", "last_mark", "message", "remaining", "scan", "state")

    def __init__(self) -> None:
        self.state = _START
        #: Bytes of an unfinished line-oriented element (head, chunk line, trailers).
        self.buf = bytearray()
        #: How far ``buf`` has been searched for its terminator.
        self.scan = 0
        self.message: HttpMessage[M] | None = None
        #: The request that the response being framed answers.
        self.answering: HttpMessage[M] | None = None
        self.remaining = 0
        self.body: bytearray | None = None
        self.last_mark: M | None = None


def _never(head: HttpHead) -> bool:
    return False


class HttpConnection(Generic[M]):
    """Frames both directions of one HTTP/1.x connection and pairs requests with responses.

    Push in-order bytes with :meth:`feed` (``mark`` is any value identifying where the
    bytes came from; it comes back in the events), holes with :meth:`gap`, and call
    :meth:`close` at the end. Responses are matched to requests in order (pipelining);
    interim 1xx responses are skipped; HEAD, 1xx, 204 and 304 responses have no body; a
    response without length runs until the close; a 2xx to CONNECT and a 101 end the
    parsing (the rest is a tunnel). ``keep_body(head)`` decides which bodies are kept
    (up to ``max_body`` bytes) for :func:`find_certificates`.

    Nothing is raised: malformed input becomes an :class:`HttpNote` with ``error`` set
    and ends the framing of that direction (there is no reliable way to resynchronise).
    """

    def __init__(
        self,
        keep_body: Callable[[HttpHead], bool] = _never,
        max_body: int = MAX_BODY_KEPT,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.keep_body = keep_body
        self.max_body = max_body
        self.max_pending = max_pending
        self._dirs: tuple[_Direction[M], _Direction[M]] = (_Direction(), _Direction())
        self._pending: deque[HttpMessage[M]] = deque()
        self._events: list[HttpEvent[M]] = []
        self._closed = False

    @property
    def done(self) -> bool:
        """True when neither direction can yield anything more (tunnel, error, close)."""
        first, second = self._dirs
        return self._closed or (first.state == _DONE and second.state == _DONE)

    # -- input

    def feed(self, direction: int, data: bytes, mark: M) -> list[HttpEvent[M]]:
        """In-order bytes of ``direction`` (0 or 1); returns the events they complete."""
        d = self._dirs[direction]
        if d.state == _DONE or self._closed or not data:
            return self._take()
        d.last_mark = mark
        pos, n = 0, len(data)
        try:
            while pos < n and d.state != _DONE:
                state = d.state
                if state == _START:
                    while pos < n and data[pos] in b"\r\n":
                        pos += 1
                    if pos < n:
                        d.state = _HEAD
                elif state in (_LENGTH, _CHUNK_DATA):
                    take = min(d.remaining, n - pos)
                    self._body(d, data, pos, take, mark)
                    pos += take
                    d.remaining -= take
                    if d.remaining == 0:
                        if state == _LENGTH:
                            self._finish(d, mark)
                        else:
                            d.state = _CHUNK_END
                elif state == _CLOSE:
                    self._body(d, data, pos, n - pos, mark)
                    pos = n
                else:
                    pos = self._line_state(d, data, pos, mark)
        except DecodeError as e:
            self._events.append(HttpNote("http_malformed", mark, str(e), e))
            self._abandon(d, mark)
        return self._take()

    def gap(self, direction: int, length: int, mark: M) -> list[HttpEvent[M]]:
        """``length`` bytes of ``direction`` are missing. Inside a body of known length
        they are skipped; anywhere else the direction cannot be framed any more."""
        d = self._dirs[direction]
        if d.state == _DONE or self._closed or length <= 0:
            return self._take()
        msg = d.message
        if msg is not None and d.state in (_LENGTH, _CHUNK_DATA) and length <= d.remaining:
            msg.body_missing += length
            d.body = None
            d.remaining -= length
            if d.remaining == 0:
                if d.state == _LENGTH:
                    self._finish(d, mark)
                else:
                    d.state = _CHUNK_END
        elif msg is not None and d.state == _CLOSE:
            msg.body_missing += length
            d.body = None
        else:
            self._events.append(HttpNote("http_gap", mark, f"{length} bytes missing"))
            self._abandon(d, mark)
        return self._take()

    def close(self, mark: M | None = None) -> list[HttpEvent[M]]:
        """The connection (or the capture) ended: finish bodies that run until the close,
        report messages cut short, and every request still waiting as unanswered."""
        if self._closed:
            return []
        for d in self._dirs:
            end = d.last_mark if d.last_mark is not None else mark
            if d.state != _DONE and end is not None:
                if d.message is not None and d.state == _CLOSE:
                    self._finish(d, end)
                elif d.message is not None:
                    self._abandon(d, end)
                elif d.buf:
                    self._events.append(
                        HttpNote("http_truncated_head", end, f"{len(d.buf)} bytes of a head")
                    )
            d.state = _DONE
        while self._pending:
            self._events.append(HttpTransaction(self._pending.popleft(), None))
        self._closed = True
        return self._take()

    # -- internals

    def _take(self) -> list[HttpEvent[M]]:
        events, self._events = self._events, []
        return events

    def _line_state(self, d: _Direction[M], data: bytes, pos: int, mark: M) -> int:
        """Find the end of a line-oriented element (head, trailers: a blank line; chunk
        size and chunk end: one line), buffering across calls; act on it."""
        state = d.state
        multi = state in (_HEAD, _TRAILERS)
        buffered = len(d.buf)
        hay: bytes | bytearray
        if buffered:
            d.buf += data[pos:]
            hay, start, search = d.buf, 0, max(0, d.scan - 2)
        else:
            hay, start, search = data, pos, pos
        end = _terminator(hay, start, search, multi)
        if end < 0:
            if not buffered:
                d.buf += data[pos:]
            d.scan = len(d.buf)
            cap = MAX_HEAD if multi else MAX_CHUNK_LINE
            if len(d.buf) > cap:
                raise Malformed(f"line-oriented element longer than {cap} bytes", offset=0)
            return len(data)
        block = bytes(hay[start:end])
        if buffered:
            new_pos = pos + end - buffered
            del d.buf[:]
        else:
            new_pos = end
        d.scan = 0
        if state == _HEAD:
            self._head(d, block, mark)
        elif state == _TRAILERS:
            assert d.message is not None
            if block.strip(b"\r\n"):
                d.message.trailers, _ = parse_header_lines(split_lines(block))
            self._finish(d, mark)
        elif state == _CHUNK_SIZE:
            size = _chunk_size(block.rstrip(b"\r\n"))
            if size == 0:
                d.state = _TRAILERS
            else:
                d.state = _CHUNK_DATA
                d.remaining = size
        else:  # _CHUNK_END: the line end after a chunk's data
            if block.rstrip(b"\r\n"):
                raise Malformed("chunk data not followed by CRLF", offset=0)
            d.state = _CHUNK_SIZE
        return new_pos

    def _head(self, d: _Direction[M], block: bytes, mark: M) -> None:
        head = parse_http_head(block)
        for name in dict.fromkeys(head.anomalies):
            self._events.append(HttpNote(f"http_{name}", mark))
        msg: HttpMessage[M] = HttpMessage(head, mark, mark)
        d.answering = None
        if head.is_request:
            if len(self._pending) >= self.max_pending:
                self._events.append(
                    HttpNote("http_pending_cap", mark, f"more than {self.max_pending} waiting")
                )
                self._events.append(HttpTransaction(self._pending.popleft(), None))
            self._pending.append(msg)
        elif not _interim(head) and self._pending:
            d.answering = self._pending.popleft()
        d.message = msg
        d.body = None
        method = d.answering.head.method if d.answering is not None else None
        mode, length = _framing(head, method)
        if mode in (_LENGTH, _CHUNK_SIZE, _CLOSE) and self.keep_body(head):
            if length > self.max_body:
                self._events.append(
                    HttpNote("http_body_cap", mark, f"body of {length} bytes not kept")
                )
            else:
                d.body = bytearray()
        if mode == _LENGTH and length == 0:
            mode = _START
        if mode == _START:
            self._finish(d, mark)
        elif mode == _DONE:  # tunnel: nothing more to learn in either direction
            self._finish(d, mark)
            for other in self._dirs:
                other.state = _DONE
                del other.buf[:]
        else:
            d.state = mode
            d.remaining = length

    def _body(self, d: _Direction[M], data: bytes, pos: int, size: int, mark: M) -> None:
        """``size`` body bytes at ``data[pos:]``: counted; copied only when kept."""
        msg = d.message
        assert msg is not None
        msg.body_length += size
        msg.end_mark = mark
        if d.body is not None:
            if len(d.body) + size > self.max_body:
                d.body = None
                self._events.append(
                    HttpNote("http_body_cap", mark, f"body beyond {self.max_body} bytes not kept")
                )
            else:
                d.body += data[pos : pos + size]

    def _finish(self, d: _Direction[M], mark: M) -> None:
        msg = d.message
        assert msg is not None
        msg.end_mark = mark
        msg.complete = True
        if d.body is not None and msg.body_missing == 0:
            msg.body = bytes(d.body)
        self._emit(d, msg)
        d.state = _START

    def _abandon(self, d: _Direction[M], mark: M) -> None:
        """Stop framing ``d``; a response cut short is still reported with its request."""
        msg = d.message
        if msg is not None:
            msg.end_mark = mark
            self._emit(d, msg)
        d.state = _DONE
        del d.buf[:]

    def _emit(self, d: _Direction[M], msg: HttpMessage[M]) -> None:
        d.message = None
        d.body = None
        request, d.answering = d.answering, None
        if msg.head.is_request or _interim(msg.head):
            return  # a request is reported with its response, or unanswered at the close
        self._events.append(HttpTransaction(request, msg))


def _interim(head: HttpHead) -> bool:
    """A 1xx response other than 101: the final response is still to come."""
    return (
        not head.is_request
        and head.status is not None
        and 100 <= head.status < 200
        and (head.status != 101)
    )


def _terminator(hay: bytes | bytearray, start: int, search: int, multi: bool) -> int:
    """Index just past the end of the element starting at ``start``, or -1."""
    if multi:
        if hay[start : start + 1] == b"\n":
            return start + 1
        if hay[start : start + 2] == b"\r\n":
            return start + 2
        m = _BLANK_LINE.search(hay, max(search, start))
        return -1 if m is None else m.end()
    nl = hay.find(b"\n", search)
    return -1 if nl < 0 else nl + 1


_HEX = re.compile(rb"[0-9A-Fa-f]+")


def _chunk_size(line: bytes) -> int:
    size = line.split(b";", 1)[0].strip(b" \t")
    if not size or len(size) > 16 or _HEX.fullmatch(size) is None:
        raise Malformed(f"bad chunk size {text(line[:40])!r}", offset=0)
    return int(size, 16)


def _framing(head: HttpHead, request_method: str | None) -> tuple[int, int]:
    """How the body of ``head`` is delimited (RFC 9112 section 6.3): a direction state
    (_START no body, _LENGTH, _CHUNK_SIZE, _CLOSE, _DONE tunnel) and a length."""
    h = head.headers
    if not head.is_request:
        status = head.status or 0
        if request_method == "HEAD" or status < 200 or status in (204, 304):
            return (_DONE, 0) if status == 101 else (_START, 0)
        if request_method == "CONNECT" and status < 300:
            return _DONE, 0
    # Most heads have neither field: look each up once, split and strip only when present.
    transfer_encoding = h.get_all("transfer-encoding")
    if transfer_encoding:
        codings = [c.strip().lower() for v in transfer_encoding for c in v.split(b",")]
        codings = [c for c in codings if c]
        if codings:
            if codings[-1] == b"chunked":
                return _CHUNK_SIZE, 0
            if head.is_request:
                raise Malformed("request transfer-encoding without chunked", offset=0)
            return _CLOSE, 0
    content_length = h.get_all("content-length")
    if content_length:
        lengths = {v.strip() for raw in content_length for v in raw.split(b",")}
        if len(lengths) > 1:
            raise Malformed("conflicting Content-Length values", offset=0)
        value = lengths.pop()
        if not value.isdigit() or len(value) > 18:
            raise Malformed(f"bad Content-Length {text(value[:40])!r}", offset=0)
        return _LENGTH, int(value)
    return (_START, 0) if head.is_request else (_CLOSE, 0)


# --------------------------------------------------------------------- certificates


_PEM_BLOCK = re.compile(
    rb"-----BEGIN (CERTIFICATE|X509 CERTIFICATE|TRUSTED CERTIFICATE|PKCS7|CERTIFICATE CHAIN)"
    rb"-----[A-Za-z0-9+/=\s]*?-----END \1-----"
)
#: A base64 run long enough for a certificate, starting like a DER SEQUENCE ("MI").
_BASE64_RUN = re.compile(rb"MI[A-Za-z0-9+/\s]{200,}={0,2}")
_XML_LINE_BREAK = re.compile(rb"&#(?:13|10|x0*[dDaA]);")
_WHITESPACE = re.compile(rb"\s+")
#: Content types that never carry certificates: their bodies are counted, not kept.
_NO_CERTIFICATES = ("image/", "audio/", "video/", "font/")
_NO_CERTIFICATE_TYPES = frozenset(
    {
        "text/css",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "application/wasm",
    }
)


def may_carry_certificates(head: HttpHead) -> bool:
    """Whether a body is worth keeping to look for certificates (by its content type)."""
    ct = media_type(head.content_type)
    if ct is None:
        return True
    return not ct.startswith(_NO_CERTIFICATES) and ct not in _NO_CERTIFICATE_TYPES


def media_type(content_type: str | None) -> str | None:
    """``"Application/PKCS7-MIME; smime-type=certs-only"`` -> ``"application/pkcs7-mime"``."""
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _der_length(data: bytes, at: int) -> int | None:
    """Total length of the DER SEQUENCE at ``at`` (tag, length and content), or None."""
    plain = plain_header(data, at, len(data), 1 << 32)
    if plain is None or plain[0] != 0x30:
        return None
    return plain[2] - at


def _quiet(parse: Callable[[bytes], list[bytes]]) -> Callable[[bytes], list[bytes]]:
    """Run ``parse`` with warnings ignored: cryptography warns (non-positive serials, BER
    fallback) on odd but loadable input, wire data rather than the user's code, so the
    warnings would only be noise. Wrapped around the functions that call cryptography,
    not around the whole body search: setting the filter up costs more than searching a
    body that holds no certificate, which nearly every body is."""

    @functools.wraps(parse)
    def quiet(data: bytes) -> list[bytes]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return parse(data)

    return quiet


@_quiet
def _certificates_in_der(data: bytes) -> list[bytes]:
    """DER certificates (one or several concatenated) or a DER PKCS#7 at the start of
    ``data``; [] when it is neither."""
    out: list[bytes] = []
    at = 0
    while at < len(data) and len(out) < MAX_CERTIFICATES:
        length = _der_length(data, at)
        if length is None or at + length > len(data):
            break
        piece = data[at : at + length]
        try:
            out.append(x509.load_der_x509_certificate(piece).public_bytes(Encoding.DER))
        except Exception:  # cryptography raises ValueError and a few others on bad input
            if at == 0:
                return _pkcs7(piece, pem=False)
            break
        at += length
    return out


def _pkcs7(data: bytes, *, pem: bool) -> list[bytes]:
    try:
        certs = (
            pkcs7.load_pem_pkcs7_certificates(data)
            if pem
            else pkcs7.load_der_pkcs7_certificates(data)
        )
        return [c.public_bytes(Encoding.DER) for c in certs[:MAX_CERTIFICATES]]
    except Exception:  # not PKCS#7, no certificates in it, or an unsupported structure
        return []


@_quiet
def _certificates_in_pem(data: bytes) -> list[bytes]:
    out: list[bytes] = []
    for m in _PEM_BLOCK.finditer(data):
        block = m.group(0)
        if m.group(1) in (b"PKCS7", b"CERTIFICATE CHAIN"):
            out += _pkcs7(block.replace(b"CERTIFICATE CHAIN", b"PKCS7"), pem=True)
            continue
        # load_pem_x509_certificates wants the plain CERTIFICATE label.
        block = block.replace(m.group(1), b"CERTIFICATE")
        try:
            out += [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(block)]
        except Exception:
            continue
        if len(out) >= MAX_CERTIFICATES:
            break
    return out


def find_certificates(body: bytes) -> list[bytes]:
    """Every X.509 certificate in an HTTP body, as DER, first-seen order, no duplicates.

    Looks for, in order: PEM blocks (``CERTIFICATE``, ``PKCS7``) anywhere; a DER
    certificate, several concatenated, or a DER PKCS#7 (``.p7b``/``.p7c``) as the whole
    body; and base64 runs (XML/SOAP elements such as the Lync provisioning service's
    ``CertificateChain``, JSON strings) that decode to a DER certificate or PKCS#7 or to
    PEM text. At most :data:`MAX_CERTIFICATES` are returned.

    >>> find_certificates(b"<html>no certificate here</html>")
    []
    """
    found: list[bytes] = []
    if b"-----BEGIN " in body:
        found += _certificates_in_pem(body)
    if body[:1] == b"\x30":
        found += _certificates_in_der(body)
    if not found:
        textual = _XML_LINE_BREAK.sub(b"", body) if b"&#" in body else body
        for i, m in enumerate(_BASE64_RUN.finditer(textual)):
            if i >= MAX_BASE64_RUNS or len(found) >= MAX_CERTIFICATES:
                break
            run = _WHITESPACE.sub(b"", m.group(0))
            try:
                decoded = base64.b64decode(run[: len(run) - len(run) % 4], validate=True)
            except (binascii.Error, ValueError):
                continue
            if decoded[:1] == b"\x30":
                found += _certificates_in_der(decoded)
            elif b"-----BEGIN " in decoded:
                found += _certificates_in_pem(decoded)
    unique = list(dict.fromkeys(found))
    return unique[:MAX_CERTIFICATES]


def decode_content(body: bytes, content_encoding: str | None) -> tuple[bytes | None, str | None]:
    """Undo gzip/deflate content codings with a size cap.

    Returns the decoded body (None when it cannot be decoded) and an anomaly name or None:
    ``content_encoding_unsupported``, ``decompress_failed``, ``decompress_cap`` (the output
    was cut at :data:`MAX_DECOMPRESSED` bytes; what was decoded is returned).

    >>> decode_content(zlib.compress(b"x" * 10), "deflate")
    (b'xxxxxxxxxx', None)
    """
    if not content_encoding:
        return body, None  # nearly every body: nothing to undo
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if len(codings) > 2:
        return None, "content_encoding_unsupported"
    anomaly = None
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip"):
            attempts = [16 + zlib.MAX_WBITS]
        elif coding == "deflate":
            attempts = [zlib.MAX_WBITS, -zlib.MAX_WBITS]  # zlib-wrapped, or raw as IIS sent
        else:
            return None, "content_encoding_unsupported"
        for wbits in attempts:
            try:
                inflater = zlib.decompressobj(wbits)
                out = inflater.decompress(body, MAX_DECOMPRESSED)
            except zlib.error:
                continue
            if inflater.unconsumed_tail:
                anomaly = "decompress_cap"
            body = out
            break
        else:
            return None, "decompress_failed"
    return body, anomaly


# ------------------------------------------------------------------------- sniffing


def matches_shape(data: bytes, template: bytes) -> bool | None:
    """Does ``data`` follow ``template`` (``#`` = any digit)? None: too short to tell."""
    for c, t in zip(data, template, strict=False):
        if not (0x30 <= c <= 0x39 if t == 0x23 else c == t):
            return False
    return True if len(data) >= len(template) else None


_AUTHORITY = re.compile(rb"[A-Za-z0-9.\-\[\]:]+")
_METHOD_PREFIX = re.compile(rb"[A-Z_]+")
_VISIBLE = re.compile(rb"[!-~]*")


def sniff_http(head: bytes) -> bool | None:
    """Does a stream start like HTTP/1.x? True, False, or None (need more bytes).

    A request line ``METHOD target HTTP/1.x`` with a known method and an origin
    (``/...``), absolute (``http://``), asterisk or authority (``host:port``, CONNECT
    only) target; or a status line ``HTTP/1.x NNN``. A target still running when the
    sniffing window (64 bytes) is full is accepted.

    >>> sniff_http(b"GET /index.html HTTP/1.1\\r\\n"), sniff_http(b"HTTP/1.1 20")
    (True, None)
    >>> sniff_http(b"OPTIONS sip:bob@example.com SIP/2.0\\r\\n")
    False
    """
    if not head:
        return None
    if head[:1] == b"H" and matches_shape(head, b"HTTP/") is not False:
        status = matches_shape(head, b"HTTP/1.# ###")
        if status is not False or head.startswith(b"HTTP/"):
            return status
    space = head.find(b" ")
    if space < 0:
        if len(head) > 16 or _METHOD_PREFIX.fullmatch(head) is None:
            return False
        return None if any(m.startswith(head) for m in SNIFF_METHODS) else False
    method, rest = head[:space], head[space + 1 :]
    if method not in SNIFF_METHODS:
        return False
    if not rest:
        return None
    space = rest.find(b" ")
    target = rest if space < 0 else rest[:space]
    origin = target[:1] in (b"/", b"*")
    absolute = any(
        matches_shape(target[:8].lower(), scheme) is not False
        for scheme in (b"http://", b"https://")
    )
    authority = method == b"CONNECT" and _AUTHORITY.fullmatch(target) is not None
    if not (origin or absolute or authority) or _VISIBLE.fullmatch(target) is None:
        return False
    if space < 0:
        return True if len(head) >= 64 else None
    version = matches_shape(rest[space:], b" HTTP/1.#")
    if version is not True:
        return version
    end = rest[space + 9 : space + 10]
    return None if not end else end in (b"\r", b"\n")


# ------------------------------------------------------------------------ dissector

HTTP_SCHEMA = Schema(
    "http",
    "One HTTP/1.x request and its response (or an unanswered request, or a response "
    "whose request was not seen). src/dst are the client and the server; ts/frame are "
    "the request's (the response's when there is no request).",
    (
        Column("method", "category", "request method (GET, POST, ...)"),
        Column("host", "string", "Host header (or the authority of an absolute target)"),
        Column("path", "string", "request target as sent (/CertProv/..., or an absolute URL)"),
        Column("version", "category", "HTTP version of the request (else the response)"),
        Column("user_agent", "string", "request's User-Agent header"),
        Column("request_content_type", "string", "request's Content-Type header"),
        Column("request_body_length", "Int64", "request body bytes seen"),
        Column("status", "Int16", "response status code"),
        Column("reason", "string", "response reason phrase"),
        Column("server", "string", "response's Server header"),
        Column("content_type", "string", "response's Content-Type header"),
        Column("content_encoding", "string", "response's Content-Encoding header"),
        Column("content_length", "Int64", "response's declared Content-Length"),
        Column(
            "body_length",
            "Int64",
            "response body bytes seen (chunked framing removed, before decompression)",
        ),
        Column(
            "response_complete",
            "boolean",
            "the response ended as its framing says (false: cut by a gap or the capture end)",
        ),
        Column("request_frame", "Int64", "frame that completed the request"),
        Column("request_ts", "datetime64[ns, UTC]", "time of request_frame"),
        Column("response_frame", "Int64", "frame that completed the response"),
        Column("response_ts", "datetime64[ns, UTC]", "time of response_frame"),
        Column(
            "latency_s",
            "Float64",
            "response_ts minus request_ts (as Wireshark's http.time)",
        ),
        Column(
            "certificate_sha256",
            "object",
            "SHA-256 (hex) of every certificate found in the request or response body",
        ),
    ),
    human=(
        "frame",
        "ts",
        "src",
        "dst",
        "method",
        "host",
        "path",
        "status",
        "content_type",
        "body_length",
        "latency_s",
        "certificate_sha256",
    ),
)


def _swap(env: Envelope) -> Envelope:
    return Envelope(
        env.ts_ns, env.frame, env.flow, env.dst, env.dport, env.src, env.sport, env.transport
    )


def _url(head: HttpHead) -> str | None:
    target = head.target
    if target is None:
        return None
    if not target.startswith("/"):
        return target
    host = head.headers.get("host")
    return f"http://{host}{target}" if host else target


_ABSOLUTE_AUTHORITY = re.compile(r"https?://([^/?#]*)", re.IGNORECASE)


def _host(head: HttpHead) -> str | None:
    host = head.headers.get("host")
    if host is None and head.target is not None:
        m = _ABSOLUTE_AUTHORITY.match(head.target)
        if m is not None:
            host = m.group(1)
    return host


def _content_length(head: HttpHead) -> int | None:
    raw = head.headers.raw("content-length")
    if raw is None:
        return None
    value = raw.split(b",", 1)[0].strip()
    return int(value) if value.isdigit() and len(value) <= 18 else None


class HttpSession:
    """One TCP connection: frames it, writes ``http`` rows, extracts certificates."""

    def __init__(self, flow: FlowInfo, sink: Sink) -> None:
        self.sink = sink
        self.conn: HttpConnection[Envelope] = HttpConnection(keep_body=may_carry_certificates)
        self.last_env: Envelope | None = None

    def data(self, direction: int, data: bytes, env: Envelope) -> bool:
        self.last_env = env
        self._emit(self.conn.feed(direction, data, env))
        return not self.conn.done

    def gap(self, direction: int, length: int, env: Envelope) -> bool:
        self._emit(self.conn.gap(direction, length, env))
        return not self.conn.done

    def close(self, env: Envelope | None) -> None:
        self._emit(self.conn.close(env if env is not None else self.last_env))

    def _emit(self, events: list[HttpEvent[Envelope]]) -> None:
        for event in events:
            if isinstance(event, HttpNote):
                if event.error is not None:
                    self.sink.malformed("http", event.mark, event.error)
                else:
                    self.sink.note(
                        Weird(
                            event.name,
                            frame=event.mark.frame,
                            flow=event.mark.flow,
                            detail=event.detail,
                        )
                    )
            else:
                self._row(event)

    def _certificates(self, msg: HttpMessage[Envelope], request: HttpHead | None) -> list[str]:
        """Hand the certificates of ``msg``'s body to the catalogue (with the URL of
        ``request``, built only then) and return their SHA-256s."""
        if msg.body is None or not msg.body:
            return []
        head = msg.head
        body, anomaly = decode_content(msg.body, head.headers.get("content-encoding"))
        if anomaly is not None:
            self.sink.note(
                Weird(f"http_{anomaly}", frame=msg.end_mark.frame, flow=msg.end_mark.flow)
            )
        if body is None:
            return []
        found = find_certificates(body)
        url = _url(request) if found and request is not None else None
        for der in found:
            self.sink.certificate(
                der, msg.end_mark, "http", url=url, content_type=head.content_type
            )
        return [sha256(der).hexdigest() for der in found]

    def _row(self, t: HttpTransaction[Envelope]) -> None:
        req, resp = t.request, t.response
        if req is not None:
            env = req.end_mark
        else:
            assert resp is not None
            env = _swap(resp.end_mark)
        request = req.head if req is not None else None
        certs: list[str] = []
        values: dict[str, object] = {}
        if req is not None:
            head = req.head
            certs += self._certificates(req, request)
            values.update(
                method=head.method,
                host=_host(head),
                path=head.target,
                version=head.version,
                user_agent=head.headers.get("user-agent"),
                request_content_type=head.content_type,
                request_body_length=req.body_length,
                request_frame=req.end_mark.frame,
                request_ts=req.end_mark.ts_ns,
            )
        if resp is not None:
            head = resp.head
            certs += self._certificates(resp, request)
            values.update(
                status=head.status,
                reason=head.reason,
                server=head.headers.get("server"),
                content_type=head.content_type,
                content_encoding=head.headers.get("content-encoding"),
                content_length=_content_length(head),
                body_length=resp.body_length,
                response_complete=resp.complete and resp.body_missing == 0,
                response_frame=resp.end_mark.frame,
                response_ts=resp.end_mark.ts_ns,
            )
            values.setdefault("version", head.version)
            if req is not None:
                values["latency_s"] = (resp.end_mark.ts_ns - req.end_mark.ts_ns) / 1e9
        values["certificate_sha256"] = list(dict.fromkeys(certs))
        self.sink.add_row("http", env, values)  # values is this row's own dict: no copy


class HttpDissector:
    """Stream dissector: TCP 80/8000/8080 by port, any port by content."""

    name: ClassVar[str] = "http"

    def wants(self, flow: FlowInfo) -> bool:
        return flow.transport == "tcp" and (flow.sport in HTTP_PORTS or flow.dport in HTTP_PORTS)

    def sniff(self, direction: int, head: bytes) -> bool | None:
        return sniff_http(head)

    def session(self, flow: FlowInfo, sink: Sink) -> HttpSession:
        return HttpSession(flow, sink)


PROTOCOL = ProtocolModule(
    name="http",
    doc="HTTP/1.x in clear (TCP 80/8000/8080 and by content): requests, responses, "
    "certificates in bodies",
    schemas=(HTTP_SCHEMA,),
    stream=HttpDissector(),
)

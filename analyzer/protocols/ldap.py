"""LDAP (RFC 4511) over TCP 389/3268 and CLDAP over UDP 389: binds, searches, entries.

Why it matters here: the phone downloads the enterprise root CA from Active Directory
with an LDAP search for ``cACertificate`` (under ``CN=Certification Authorities,...``).
This module shows the bind (mechanism, result), the search (base, scope, filter as RFC 4515
text), the entries returned (attribute names and printable values), and hands every
certificate-valued attribute to the certificate catalogue. When the SASL bind negotiated a
security layer (NTLM or Kerberos sign/seal), later PDUs travel in 4-byte-length-prefixed
SASL buffers: those become ``sasl_wrapped`` rows (sealed or not), signed-only buffers are
opened and their LDAP messages decoded, and every later row of the connection carries
``session_sealed`` so an analysis can say "LDAP results sealed", not "no certificate".
After a successful StartTLS the connection is handed to the TLS module when there is one.

CLDAP (the DC locator "netlogon ping") is decoded too: the searchResEntry's ``Netlogon``
value (MS-ADTS 6.3.1.9 NETLOGON_SAM_LOGON_RESPONSE_EX) gives the DC, domain, forest and site.

>>> msg = parse_ldap_message(bytes.fromhex(
...     "3025 020103"                         # LDAPMessage, messageID 3
...     "6320 0400 0a0100 0a0100 020100 020100 010100"  # searchRequest: base "", base, ...
...     "870b 6f626a656374436c617373"         # filter: present objectClass
...     "3000"))                              # attributes: none
>>> msg.message_id, msg.op, msg.scope, msg.filter
(3, 'searchRequest', 'base', '(objectClass=*)')
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from analyzer.capture.pipeline import FlowInfo
from analyzer.errors import DecodeError, Malformed, Truncated, Weird
from analyzer.protocols.base import Column, Envelope, Schema, Sink, StreamSession
from analyzer.protocols.ber import (
    APPLICATION,
    CONTEXT,
    SEQUENCE,
    SET,
    UNIVERSAL,
    BerReader,
    element_size,
    parse_header,
)
from analyzer.protocols.buffer import Buffer
from analyzer.protocols.registry import ProtocolModule, protocol_modules

LDAP_TCP_PORTS = frozenset({389, 3268})
CLDAP_PORT = 389

#: Largest LDAPMessage or SASL buffer decoded; larger ones are skipped with a weird row.
MAX_MESSAGE = 16 * 1024 * 1024
#: Bind requests remembered per connection until their response (for the mechanism).
MAX_PENDING_BINDS = 64
#: Values listed per attribute in a row (all are parsed; certificates are all catalogued).
MAX_VALUES_SHOWN = 1024
#: Characters kept of one printable value in a row.
MAX_VALUE_CHARS = 4096
#: Elements of one AND/OR filter.
MAX_FILTER_ITEMS = 10_000

OP_NAMES = {
    0: "bindRequest",
    1: "bindResponse",
    2: "unbindRequest",
    3: "searchRequest",
    4: "searchResEntry",
    5: "searchResDone",
    6: "modifyRequest",
    7: "modifyResponse",
    8: "addRequest",
    9: "addResponse",
    10: "delRequest",
    11: "delResponse",
    12: "modDNRequest",
    13: "modDNResponse",
    14: "compareRequest",
    15: "compareResponse",
    16: "abandonRequest",
    19: "searchResRef",
    23: "extendedReq",
    24: "extendedResp",
    25: "intermediateResponse",
}
#: Operations whose body is an LDAPResult.
RESULT_OPS = frozenset({1, 5, 7, 9, 11, 13, 15, 24})

RESULT_NAMES = {
    0: "success",
    1: "operationsError",
    2: "protocolError",
    3: "timeLimitExceeded",
    4: "sizeLimitExceeded",
    5: "compareFalse",
    6: "compareTrue",
    7: "authMethodNotSupported",
    8: "strongerAuthRequired",
    10: "referral",
    11: "adminLimitExceeded",
    12: "unavailableCriticalExtension",
    13: "confidentialityRequired",
    14: "saslBindInProgress",
    16: "noSuchAttribute",
    17: "undefinedAttributeType",
    18: "inappropriateMatching",
    19: "constraintViolation",
    20: "attributeOrValueExists",
    21: "invalidAttributeSyntax",
    32: "noSuchObject",
    33: "aliasProblem",
    34: "invalidDNSyntax",
    36: "aliasDereferencingProblem",
    48: "inappropriateAuthentication",
    49: "invalidCredentials",
    50: "insufficientAccessRights",
    51: "busy",
    52: "unavailable",
    53: "unwillingToPerform",
    54: "loopDetect",
    64: "namingViolation",
    65: "objectClassViolation",
    66: "notAllowedOnNonLeaf",
    67: "notAllowedOnRDN",
    68: "entryAlreadyExists",
    69: "objectClassModsProhibited",
    71: "affectsMultipleDSAs",
    80: "other",
    118: "canceled",
    119: "noSuchOperation",
    120: "tooLate",
    121: "cannotCancel",
    122: "assertionFailed",
    123: "authorizationDenied",
}
SCOPE_NAMES = {0: "base", 1: "one", 2: "sub", 3: "children"}
DEREF_NAMES = {0: "never", 1: "in_searching", 2: "finding_base", 3: "always"}
MODIFY_OPERATIONS = {0: "add", 1: "delete", 2: "replace", 3: "increment"}
AUTH_NAMES = {
    0: "simple",
    3: "sasl",
    # Microsoft's pre-SASL NTLM bind ("Sicily"), MS-ADTS 5.1.1.1.3.
    9: "sicily_discovery",
    10: "sicily_negotiate",
    11: "sicily_response",
}

OID_STARTTLS = "1.3.6.1.4.1.1466.20037"
EXTENDED_NAMES = {
    OID_STARTTLS: "StartTLS",
    "1.3.6.1.4.1.4203.1.11.1": "PasswordModify",
    "1.3.6.1.4.1.4203.1.11.3": "WhoAmI",
    "1.3.6.1.1.8": "Cancel",
    "1.3.6.1.4.1.1466.20036": "NoticeOfDisconnection",
    "1.3.6.1.4.1.1466.101.119.1": "DynamicRefresh",
    "1.3.6.1.4.1.4203.1.11.2": "Cancel(draft)",
    "1.2.840.113556.1.4.1781": "FastConcurrentBind",
    "1.2.840.113556.1.4.2212": "BatchRequest",
}

#: Attributes whose values are DER certificates (RFC 4523), compared on the name before
#: any option (";binary") and case-insensitively. crossCertificatePair holds a SEQUENCE of
#: an optional forward [0] and reverse [1] certificate.
CERTIFICATE_ATTRIBUTES = frozenset({"cacertificate", "usercertificate", "crosscertificatepair"})

# NTLMSSP negotiate flags that decide the SASL security layer (MS-NLMP 2.2.2.5).
NTLM_SIGN = 0x00000010
NTLM_SEAL = 0x00000020
NTLM_MESSAGE_NAMES = {1: "NTLMSSP_NEGOTIATE", 2: "NTLMSSP_CHALLENGE", 3: "NTLMSSP_AUTH"}
# DER of the Kerberos mechanism OIDs (1.2.840.113554.1.2.2 and Microsoft's 1.2.840.48018...)
_KRB5_OIDS = (bytes.fromhex("06092a864886f712010202"), bytes.fromhex("06092a864882f712010202"))
_KRB5_TOKENS = {b"\x01\x00": "krb5_ap_req", b"\x02\x00": "krb5_ap_rep", b"\x03\x00": "krb5_error"}


# ------------------------------------------------------------------ messages
@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute of an entry: its description and raw values."""

    type: str
    values: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Change:
    """One modification of a modifyRequest."""

    operation: str
    attribute: Attribute


@dataclass(slots=True)
class LdapMessage:
    """One LDAPMessage; only the fields of its operation are set."""

    message_id: int
    op: str
    controls: tuple[str, ...] = ()
    # bindRequest
    version: int | None = None
    name: str | None = None
    auth: str | None = None
    sasl_mechanism: str | None = None
    #: Length of a simple bind's password: the password itself is never kept.
    password_length: int | None = None
    #: SASL (or Sicily) credentials of a bind request, or serverSaslCreds of a response.
    sasl_credentials: bytes | None = None
    # LDAPResult
    result_code: int | None = None
    matched_dn: str | None = None
    diagnostic_message: str | None = None
    referrals: tuple[str, ...] = ()
    # searchRequest
    base_object: str | None = None
    scope: str | None = None
    deref: str | None = None
    size_limit: int | None = None
    time_limit: int | None = None
    types_only: bool | None = None
    filter: str | None = None
    requested_attributes: tuple[str, ...] = ()
    # searchResEntry, addRequest, delRequest, modifyRequest, modDNRequest, compareRequest
    object_name: str | None = None
    attributes: tuple[Attribute, ...] = ()
    changes: tuple[Change, ...] = ()
    new_rdn: str | None = None
    delete_old_rdn: bool | None = None
    new_superior: str | None = None
    assertion: str | None = None
    # abandonRequest
    abandon_id: int | None = None
    # extendedReq / extendedResp / intermediateResponse
    extended_oid: str | None = None
    extended_value: bytes | None = None


def _text(raw: bytes) -> str:
    """An LDAPString (UTF-8 by definition); invalid bytes are backslash-escaped."""
    return raw.decode("utf-8", "backslashreplace")


def parse_ldap_message(data: bytes) -> LdapMessage:
    """Parse exactly one LDAPMessage (no bytes may follow it)."""
    reader = BerReader(data)
    msg = _read_message(reader)
    if not reader.eof():
        raise Malformed(f"{len(data) - reader.position} bytes after the LDAPMessage")
    return msg


def parse_ldap_messages(data: bytes) -> list[LdapMessage]:
    """Parse consecutive LDAPMessages (a CLDAP datagram, an unwrapped SASL buffer)."""
    reader = BerReader(data)
    out = []
    while not reader.eof():
        out.append(_read_message(reader))
    return out


def _read_message(reader: BerReader) -> LdapMessage:
    with reader.constructed() as m:
        message_id = m.read_integer()
        op = _peek_number(m, APPLICATION, "protocolOp")
        if op < 0:
            raise Truncated("LDAPMessage without protocolOp", offset=m.position)
        # The fallback names are built only when needed (here and for the other code
        # tables below): a ``get`` default is evaluated on every call.
        msg = LdapMessage(message_id, OP_NAMES.get(op) or f"op_{op}")
        constructed = _CONSTRUCTED_OPS.get(op)
        if constructed is not None:
            with m.constructed(APPLICATION, op) as body:
                constructed(body, msg)
        elif op in _PRIMITIVE_OPS:
            _PRIMITIVE_OPS[op](m.read_primitive(APPLICATION, op), msg)
        else:
            m.skip()  # unknown operation: kept as op_<n>
        if m.peek_is(CONTEXT, 0):
            msg.controls = _read_controls(m)
    return msg


def _peek_number(reader: BerReader, cls: int, what: str) -> int:
    """The tag number of the next element, which must be of class ``cls`` (Malformed
    naming it ``what`` otherwise); -1 at the end. The identifier octet answers for a low
    tag number (no Header built: this runs a few times per message); high tag numbers
    and broken headers take :meth:`BerReader.peek`, which raises the precise error."""
    tag = reader.peek_tag()
    if tag < 0:
        return -1
    if tag & 0x1F != 0x1F and tag >> 6 == cls:
        return tag & 0x1F
    header = reader.peek()
    assert header is not None
    if header.cls != cls:
        raise Malformed(f"{what} is {header.describe()}", offset=header.offset)
    return header.number


def _read_controls(m: BerReader) -> tuple[str, ...]:
    oids = []
    with m.constructed(CONTEXT, 0) as controls:
        while not controls.eof():
            with controls.constructed() as control:
                oids.append(_text(control.read_octets()))
    return tuple(oids)


def _read_result(body: BerReader, msg: LdapMessage) -> None:
    msg.result_code = body.read_enumerated()
    msg.matched_dn = _text(body.read_octets())
    msg.diagnostic_message = _text(body.read_octets())
    if body.peek_is(CONTEXT, 3):
        referrals = []
        with body.constructed(CONTEXT, 3) as refs:
            while not refs.eof():
                referrals.append(_text(refs.read_octets()))
        msg.referrals = tuple(referrals)


def _bind_request(body: BerReader, msg: LdapMessage) -> None:
    msg.version = body.read_integer()
    msg.name = _text(body.read_octets())
    header = body.peek()
    if header is None:
        raise Truncated("bindRequest without authentication", offset=body.position)
    msg.auth = AUTH_NAMES.get(header.number) or f"auth_{header.number}"
    if header.cls != CONTEXT:
        raise Malformed(f"authentication is {header.describe()}", offset=header.offset)
    if header.number == 0:
        msg.password_length = len(body.read_primitive(CONTEXT, 0))
    elif header.number == 3:
        with body.constructed(CONTEXT, 3) as sasl:
            msg.sasl_mechanism = _text(sasl.read_octets())
            if not sasl.eof():
                msg.sasl_credentials = sasl.read_octets()
    elif header.number in (9, 10, 11) and not header.constructed:
        msg.sasl_credentials = body.read_primitive(CONTEXT, header.number)
    else:
        body.skip()


def _bind_response(body: BerReader, msg: LdapMessage) -> None:
    _read_result(body, msg)
    if body.peek_is(CONTEXT, 7):
        msg.sasl_credentials = body.read_primitive(CONTEXT, 7)


def _search_request(body: BerReader, msg: LdapMessage) -> None:
    msg.base_object = _text(body.read_octets())
    scope = body.read_enumerated()
    msg.scope = SCOPE_NAMES.get(scope) or str(scope)
    deref = body.read_enumerated()
    msg.deref = DEREF_NAMES.get(deref) or str(deref)
    msg.size_limit = body.read_integer()
    msg.time_limit = body.read_integer()
    msg.types_only = body.read_boolean()
    msg.filter = render_filter(body)
    with body.constructed() as attrs:
        names = [_text(raw) for raw in attrs.read_octets_list()]
    msg.requested_attributes = tuple(names)


def _read_attribute(reader: BerReader) -> Attribute:
    with reader.constructed() as attr:
        name = _text(attr.read_octets())
        with attr.constructed(UNIVERSAL, SET) as vals:
            values = vals.read_octets_list()
    return Attribute(name, tuple(values))


def _read_attribute_list(body: BerReader) -> tuple[Attribute, ...]:
    attrs = []
    with body.constructed() as items:
        while not items.eof():
            attrs.append(_read_attribute(items))
    return tuple(attrs)


def _search_entry(body: BerReader, msg: LdapMessage) -> None:
    msg.object_name = _text(body.read_octets())
    msg.attributes = _read_attribute_list(body)


def _search_reference(body: BerReader, msg: LdapMessage) -> None:
    refs = []
    while not body.eof():
        refs.append(_text(body.read_octets()))
    msg.referrals = tuple(refs)


def _modify_request(body: BerReader, msg: LdapMessage) -> None:
    msg.object_name = _text(body.read_octets())
    changes = []
    with body.constructed() as items:
        while not items.eof():
            with items.constructed() as change:
                operation = change.read_enumerated()
                attribute = _read_attribute(change)
            changes.append(Change(MODIFY_OPERATIONS.get(operation) or str(operation), attribute))
    msg.changes = tuple(changes)


def _add_request(body: BerReader, msg: LdapMessage) -> None:
    msg.object_name = _text(body.read_octets())
    msg.attributes = _read_attribute_list(body)


def _mod_dn_request(body: BerReader, msg: LdapMessage) -> None:
    msg.object_name = _text(body.read_octets())
    msg.new_rdn = _text(body.read_octets())
    msg.delete_old_rdn = body.read_boolean()
    if body.peek_is(CONTEXT, 0):
        msg.new_superior = _text(body.read_primitive(CONTEXT, 0))


def _compare_request(body: BerReader, msg: LdapMessage) -> None:
    msg.object_name = _text(body.read_octets())
    with body.constructed() as ava:
        desc = _text(ava.read_octets())
        value = ava.read_octets()
    msg.assertion = f"({desc}={escape_filter_value(value)})"


def _extended_request(body: BerReader, msg: LdapMessage) -> None:
    msg.extended_oid = _text(body.read_primitive(CONTEXT, 0))
    if body.peek_is(CONTEXT, 1):
        msg.extended_value = body.read_primitive(CONTEXT, 1)


def _extended_response(body: BerReader, msg: LdapMessage) -> None:
    _read_result(body, msg)
    if body.peek_is(CONTEXT, 10):
        msg.extended_oid = _text(body.read_primitive(CONTEXT, 10))
    if body.peek_is(CONTEXT, 11):
        msg.extended_value = body.read_primitive(CONTEXT, 11)


def _intermediate_response(body: BerReader, msg: LdapMessage) -> None:
    if body.peek_is(CONTEXT, 0):
        msg.extended_oid = _text(body.read_primitive(CONTEXT, 0))
    if body.peek_is(CONTEXT, 1):
        msg.extended_value = body.read_primitive(CONTEXT, 1)


def _unbind(raw: bytes, msg: LdapMessage) -> None:
    pass


def _del_request(raw: bytes, msg: LdapMessage) -> None:
    msg.object_name = _text(raw)


def _abandon(raw: bytes, msg: LdapMessage) -> None:
    if not raw:
        raise Malformed("abandonRequest without a message id")
    msg.abandon_id = int.from_bytes(raw[:8], "big", signed=True)


_CONSTRUCTED_OPS = {
    0: _bind_request,
    1: _bind_response,
    3: _search_request,
    4: _search_entry,
    6: _modify_request,
    8: _add_request,
    12: _mod_dn_request,
    14: _compare_request,
    19: _search_reference,
    23: _extended_request,
    24: _extended_response,
    25: _intermediate_response,
    **{op: _read_result for op in RESULT_OPS - {1, 24}},
}
_PRIMITIVE_OPS = {2: _unbind, 10: _del_request, 16: _abandon}


# -------------------------------------------------------------------- filters
_FILTER_SPECIALS = frozenset(b"*()\\\x00")


def _hex_escape(octets: bytes) -> str:
    return "".join(f"\\{b:02x}" for b in octets)


#: How each octet of an assertion value that is not UTF-8 is written: printable ASCII
#: other than the specials as itself, any other octet as ``\hh``.
_OCTET_FORMS = {
    b: chr(b) if 0x20 <= b < 0x7F and b not in _FILTER_SPECIALS else _hex_escape(bytes([b]))
    for b in range(0x100)
}


class _CharacterForms(dict[int, str]):
    """How each character of a UTF-8 assertion value is written, as a ``str.translate``
    table: ASCII is all in the table (the specials and control characters as ``\\hh``,
    the rest as themselves); any other character is worked out when met and not kept,
    there being too many: itself when printable, else the ``\\hh`` of its UTF-8 octets.
    One ``translate`` call per value, not a Python step per character."""

    def __missing__(self, code: int) -> str:
        character = chr(code)
        return character if character.isprintable() else _hex_escape(character.encode("utf-8"))


_CHARACTER_FORMS = _CharacterForms(
    {
        c: _hex_escape(bytes([c])) if c < 0x20 or c == 0x7F or c in _FILTER_SPECIALS else chr(c)
        for c in range(0x80)
    }
)


def escape_filter_value(raw: bytes) -> str:
    """An assertion value as RFC 4515 text: ``* ( ) \\ NUL``, control characters and
    (when the value is not UTF-8) every non-ASCII octet become ``\\hh``.

    >>> escape_filter_value(b"a*(b)\\\\c"), escape_filter_value(bytes([0x16, 0, 0, 0]))
    ('a\\\\2a\\\\28b\\\\29\\\\5cc', '\\\\16\\\\00\\\\00\\\\00')
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1").translate(_OCTET_FORMS)  # latin-1: octet b is chr(b)
    return text.translate(_CHARACTER_FORMS)


_AVA_OPERATORS = {3: "=", 5: ">=", 6: "<=", 8: "~="}


def render_filter(reader: BerReader) -> str:
    """Read one Filter and render it as RFC 4515 text (nesting capped by the reader)."""
    n = _peek_number(reader, CONTEXT, "filter")
    if n < 0:
        raise Truncated("missing filter", offset=reader.position)
    if n in (0, 1):
        parts: list[str] = []
        with reader.constructed(CONTEXT, n) as items:
            while not items.eof():
                if len(parts) >= MAX_FILTER_ITEMS:
                    raise Malformed(f"filter with over {MAX_FILTER_ITEMS} items")
                parts.append(render_filter(items))
        return "(" + "&|"[n] + "".join(parts) + ")"
    if n == 2:
        with reader.constructed(CONTEXT, 2) as inner:
            return "(!" + render_filter(inner) + ")"
    if n in _AVA_OPERATORS:
        with reader.constructed(CONTEXT, n) as ava:
            desc = _text(ava.read_octets())
            raw = ava.read_octets()
        return f"({desc}{_AVA_OPERATORS[n]}{escape_filter_value(raw)})"
    if n == 4:
        with reader.constructed(CONTEXT, 4) as sub:
            desc = _text(sub.read_octets())
            initial, final = "", ""
            anys: list[str] = []
            with sub.constructed() as pieces:
                while not pieces.eof():
                    piece = pieces.peek()
                    assert piece is not None
                    if piece.cls != CONTEXT or piece.number not in (0, 1, 2):
                        raise Malformed(f"substring is {piece.describe()}", offset=piece.offset)
                    text = escape_filter_value(pieces.read_primitive(CONTEXT, piece.number))
                    if piece.number == 0:
                        initial = text
                    elif piece.number == 1:
                        anys.append(text)
                    else:
                        final = text
        return f"({desc}={initial}*{''.join(a + '*' for a in anys)}{final})"
    if n == 7:
        return f"({_text(reader.read_primitive(CONTEXT, 7))}=*)"
    if n == 9:
        rule = desc = ""
        dn_attributes = False
        with reader.constructed(CONTEXT, 9) as mra:
            if mra.peek_is(CONTEXT, 1):
                rule = _text(mra.read_primitive(CONTEXT, 1))
            if mra.peek_is(CONTEXT, 2):
                desc = _text(mra.read_primitive(CONTEXT, 2))
            match = escape_filter_value(mra.read_primitive(CONTEXT, 3))
            if mra.peek_is(CONTEXT, 4):
                dn_attributes = mra.read_boolean(CONTEXT, 4)
        return f"({desc}{':dn' if dn_attributes else ''}{':' + rule if rule else ''}:={match})"
    reader.skip()
    return f"(?filter-{n})"


# ----------------------------------------------------------------- SASL layer
@dataclass(frozen=True, slots=True)
class SaslToken:
    """What a bind's SASL credentials hold (never the secrets themselves)."""

    kind: str
    #: NTLMSSP negotiate flags, when the token is an NTLMSSP message.
    ntlm_flags: int | None = None


def describe_sasl_token(creds: bytes) -> SaslToken | None:
    """Recognise NTLMSSP and Kerberos tokens, bare or inside SPNEGO (RFC 4178).

    >>> describe_sasl_token(b"NTLMSSP\\x00" + bytes([1, 0, 0, 0, 0x35, 0x82, 0x08, 0xe2]))
    SaslToken(kind='NTLMSSP_NEGOTIATE', ntlm_flags=3792208437)
    """
    try:
        inner = _spnego_inner_token(creds)
    except DecodeError:
        inner = None
    if inner is False:
        return SaslToken("spnego")
    return _classify_token(creds if inner is None or inner is True else inner)


def _spnego_inner_token(creds: bytes) -> bytes | bool | None:
    """The mechToken/responseToken of a SPNEGO token; True when SPNEGO carries none
    (e.g. the final accept-completed), None when ``creds`` is not SPNEGO."""
    reader = BerReader(creds)
    header = reader.peek()
    if header is None:
        return None
    if header.is_(APPLICATION, 0):  # GSS-API InitialContextToken framing
        with reader.constructed(APPLICATION, 0) as gss:
            if gss.read_oid() != "1.3.6.1.5.5.2":
                return None
            with gss.constructed(CONTEXT, 0) as init, init.constructed() as fields:
                return _token_field(fields)
    if header.is_(CONTEXT, 1):  # negTokenResp
        with reader.constructed(CONTEXT, 1) as resp, resp.constructed() as fields:
            return _token_field(fields)
    return None


def _token_field(fields: BerReader) -> bytes | bool:
    # NegTokenInit.mechToken and NegTokenResp.responseToken are both [2] OCTET STRING.
    while not fields.eof():
        if fields.peek_is(CONTEXT, 2):
            with fields.constructed(CONTEXT, 2) as token:
                return token.read_octets()
        fields.skip()
    return False


#: Kerberos message tags ([APPLICATION n]) a raw mechToken may start with.
_KRB5_RAW = {0x6E: "krb5_ap_req", 0x6F: "krb5_ap_rep", 0x7E: "krb5_error"}


def _classify_token(token: bytes) -> SaslToken | None:
    at = token.find(b"NTLMSSP\x00")
    if at >= 0:
        buf = Buffer(token, at + 8)
        try:
            msg_type = int.from_bytes(buf.pull_bytes(4), "little")
            flag_offset = {1: 12, 2: 20, 3: 60}.get(msg_type)
            flags = None
            if flag_offset is not None:
                buf.seek(at + flag_offset)
                flags = int.from_bytes(buf.pull_bytes(4), "little")
        except DecodeError:
            return SaslToken("NTLMSSP")
        return SaslToken(NTLM_MESSAGE_NAMES.get(msg_type) or f"NTLMSSP_{msg_type}", flags)
    if token[:1] and token[0] in _KRB5_RAW:
        return SaslToken(_KRB5_RAW[token[0]])
    # GSS-API framed Kerberos (RFC 1964 1.1): the mechanism OID then a TOK_ID
    # (01 00 AP-REQ, 02 00 AP-REP, 03 00 error).
    for oid in _KRB5_OIDS:
        at = token.find(oid)
        if at >= 0:
            tok = token[at + len(oid) : at + len(oid) + 2]
            return SaslToken(_KRB5_TOKENS.get(tok, "krb5"))
    return None


@dataclass(frozen=True, slots=True)
class SaslBuffer:
    """One SASL security-layer buffer (RFC 4422 3.7): a 4-byte length and a wrap token."""

    #: ntlmssp (MS-NLMP signature + data), krb5_cfx (RFC 4121 wrap token),
    #: krb5_gss (RFC 1964/4757 wrap token), unknown.
    wrap: str
    #: True when the payload is encrypted, False when signed only, None when unknown.
    sealed: bool | None
    #: The LDAP bytes inside a signed-only buffer.
    plaintext: bytes | None


def unwrap_sasl(token: bytes, ntlm_flags: int | None = None) -> SaslBuffer:
    """Classify a SASL buffer's payload (the bytes after the 4-byte length).

    ``ntlm_flags`` are the NTLMSSP flags negotiated by the bind, when seen: with the seal
    flag the payload is ciphertext; without it, it is the signature then the plaintext.

    >>> unwrap_sasl(bytes.fromhex("050404ff000c000c 0000000000000001")
    ...             + b"C" * 12 + bytes.fromhex("30050201026200")).plaintext.hex()
    '30050201026200'
    """
    if token[:4] == b"\x01\x00\x00\x00" and len(token) >= 16:
        # NTLMSSP_MESSAGE_SIGNATURE (version 1, 8-byte checksum, 4-byte seq) then data.
        data = token[16:]
        if ntlm_flags is not None:
            sealed = bool(ntlm_flags & NTLM_SEAL)
            return SaslBuffer("ntlmssp", sealed, None if sealed else data)
        readable = _looks_like_ldap(data)
        return SaslBuffer("ntlmssp", not readable, data if readable else None)
    if token[:2] == b"\x05\x04" and len(token) >= 16:
        # RFC 4121 4.2.6.2: TOK_ID, Flags, Filler, EC, RRC, SND_SEQ, then Data rotated
        # right by RRC; not sealed: Data = plaintext | checksum (EC octets).
        flags = token[2]
        if flags & 0x02:
            return SaslBuffer("krb5_cfx", True, None)
        ec, rrc = struct.unpack_from("!HH", token, 4)
        data = token[16:]
        if data:
            rrc %= len(data)
            data = data[rrc:] + data[:rrc]
        if ec > len(data):
            return SaslBuffer("krb5_cfx", False, None)
        return SaslBuffer("krb5_cfx", False, data[: len(data) - ec])
    if token[:1] == b"\x60":
        return _unwrap_gss_v1(token)
    readable = _looks_like_ldap(token)
    return SaslBuffer("unknown", False if readable else None, token if readable else None)


def _unwrap_gss_v1(token: bytes) -> SaslBuffer:
    # RFC 1964 / RFC 4757 wrap token: [APPLICATION 0] { OID, TOK_ID 02 01, SGN_ALG,
    # SEAL_ALG (ff ff = none), filler, SND_SEQ(8), SGN_CKSUM(8), confounder(8), data }.
    try:
        reader = BerReader(token)
        header = reader.read_header()
        if not header.is_(APPLICATION, 0):
            return SaslBuffer("unknown", None, None)
        reader.read_oid()
        buf = Buffer(token, reader.position)
        tok_id = buf.pull_bytes(2)
        buf.pull_u16()  # SGN_ALG
        seal_alg = buf.pull_u16()
    except DecodeError:
        return SaslBuffer("unknown", None, None)
    if tok_id != b"\x02\x01":
        return SaslBuffer("krb5_gss", None, None)
    if seal_alg != 0xFFFF:
        return SaslBuffer("krb5_gss", True, None)
    start = buf.position + 2 + 8 + 8 + 8
    return SaslBuffer("krb5_gss", False, token[start:])


def _looks_like_ldap(data: bytes) -> bool:
    """True when ``data`` starts with a complete, parseable LDAPMessage."""
    if data[:1] != b"\x30":
        return False
    try:
        size = element_size(data, max_length=len(data))
        if size is None or size > len(data):
            return False
        parse_ldap_message(data[:size])
    except DecodeError:
        return False
    return True


def _leading_messages(data: bytes) -> list[LdapMessage]:
    """The LDAPMessages at the start of ``data``; trailing padding (RFC 1964) is ignored."""
    out: list[LdapMessage] = []
    offset = 0
    while offset < len(data) and data[offset] == 0x30:
        size = element_size(data, offset, max_length=len(data))
        if size is None or offset + size > len(data):
            if out:
                break
            raise Truncated("SASL buffer ends inside an LDAPMessage", offset=offset)
        out.append(parse_ldap_message(data[offset : offset + size]))
        offset += size
    if not out and data:
        raise Malformed("signed SASL buffer holds no LDAPMessage")
    return out


# --------------------------------------------------------------- CLDAP netlogon
NETLOGON_OPCODES = {
    19: "LOGON_SAM_LOGON_RESPONSE",
    20: "LOGON_SAM_PAUSE_RESPONSE",
    21: "LOGON_SAM_USER_UNKNOWN",
    23: "LOGON_SAM_LOGON_RESPONSE_EX",
    24: "LOGON_SAM_PAUSE_RESPONSE_EX",
    25: "LOGON_SAM_USER_UNKNOWN_EX",
}
#: Compression pointers followed in one name before it is judged a loop.
MAX_NAME_POINTERS = 32


@dataclass(frozen=True, slots=True)
class NetlogonResponse:
    """The DC locator answer of a CLDAP ping (MS-ADTS 6.3.1.9, best effort)."""

    opcode: int
    opcode_name: str
    flags: int | None = None
    domain_guid: str | None = None
    forest: str | None = None
    domain: str | None = None
    dc_name: str | None = None
    netbios_domain: str | None = None
    netbios_dc: str | None = None
    user: str | None = None
    dc_site: str | None = None
    client_site: str | None = None
    dc_address: str | None = None
    next_closest_site: str | None = None
    nt_version: int | None = None

    def as_dict(self) -> dict[str, Any]:
        # Every field is a str, int or None: a plain dict (dataclasses.asdict deep-copies
        # field by field and costs more than the whole parse).
        return {name: getattr(self, name) for name in _NETLOGON_FIELDS}


_NETLOGON_FIELDS = tuple(f.name for f in fields(NetlogonResponse))


def _netlogon_name(data: bytes, buf: Buffer) -> str:
    """An RFC 1035 name, compression pointers relative to the response, backward only.

    One cursor walks the labels and follows the pointers (eight names per CLDAP answer);
    ``buf`` moves past the name as it stands in the response."""
    labels: list[str] = []
    size = 0  # characters of the name so far, one dot per label included
    cursor = Buffer(data, buf.position)
    jumped = False
    for _ in range(MAX_NAME_POINTERS):
        while True:
            pos = cursor.position
            length = cursor.pull_u8()
            if length == 0:
                if not jumped:
                    buf.seek(pos + 1)
                return ".".join(labels)
            if length & 0xC0 == 0xC0:
                target = ((length & 0x3F) << 8) | cursor.pull_u8()
                if target >= pos:
                    raise Malformed("netlogon name pointer does not point backwards", offset=pos)
                if not jumped:
                    buf.seek(pos + 2)
                jumped = True
                cursor.seek(target)
                break
            if length & 0xC0:
                raise Malformed(f"netlogon label length byte {length:#x}", offset=pos)
            label = cursor.pull_bytes(length).decode("utf-8", "backslashreplace")
            labels.append(label)
            size += len(label) + 1
            if size > 255:
                raise Malformed("netlogon name longer than 255", offset=pos)
    raise Malformed("netlogon name pointer chain too long", offset=cursor.position)


def _utf16z(buf: Buffer) -> str:
    chars = bytearray()
    for _ in range(512):
        pair = buf.pull_bytes(2)
        if pair == b"\x00\x00":
            return chars.decode("utf-16-le", "backslashreplace")
        chars += pair
    raise Malformed("netlogon UTF-16 string without terminator", offset=buf.position)


def parse_netlogon(data: bytes) -> NetlogonResponse:
    """Decode a CLDAP ``Netlogon`` attribute value (EX forms fully, older ones partly)."""
    buf = Buffer(data)
    opcode = int.from_bytes(buf.pull_bytes(2), "little")
    name = NETLOGON_OPCODES.get(opcode) or f"opcode_{opcode}"
    if opcode in (23, 24, 25):
        buf.pull_bytes(2)  # Sbz
        flags = int.from_bytes(buf.pull_bytes(4), "little")
        guid = str(uuid.UUID(bytes_le=buf.pull_bytes(16)))
        names = [_netlogon_name(data, buf) for _ in range(8)]
        dc_address = next_site = version = None
        # Optional fields depend on the request's NtVer (5EP: DcSockAddr; VCS: next
        # closest site); the fixed tail is NtVersion(4) LmNtToken(2) Lm20Token(2).
        if buf.remaining > 8:
            size = buf.peek_u8()
            if size == 16 and buf.remaining >= 17 + 8:
                buf.pull_u8()
                sockaddr = buf.pull_bytes(16)
                dc_address = ".".join(str(b) for b in sockaddr[4:8])
        if buf.remaining > 8:
            next_site = _netlogon_name(data, buf)
        if buf.remaining >= 4:
            version = int.from_bytes(buf.pull_bytes(4), "little")
        return NetlogonResponse(
            opcode,
            name,
            flags=flags,
            domain_guid=guid,
            forest=names[0],
            domain=names[1],
            dc_name=names[2],
            netbios_domain=names[3],
            netbios_dc=names[4],
            user=names[5],
            dc_site=names[6],
            client_site=names[7],
            dc_address=dc_address,
            next_closest_site=next_site,
            nt_version=version,
        )
    if opcode in (19, 20, 21):
        server = _utf16z(buf).lstrip("\\")
        user = _utf16z(buf)
        domain = _utf16z(buf)
        if buf.remaining < 32 + 3:
            return NetlogonResponse(
                opcode, name, netbios_dc=server, user=user, netbios_domain=domain
            )
        guid = str(uuid.UUID(bytes_le=buf.pull_bytes(16)))
        buf.pull_bytes(16)  # NullGuid
        forest, dns_domain, host = (_netlogon_name(data, buf) for _ in range(3))
        address = ".".join(str(b) for b in buf.pull_bytes(4))
        flags = int.from_bytes(buf.pull_bytes(4), "little")
        return NetlogonResponse(
            opcode,
            name,
            flags=flags,
            domain_guid=guid,
            forest=forest,
            domain=dns_domain,
            dc_name=host,
            netbios_domain=domain,
            netbios_dc=server,
            user=user,
            dc_address=address,
        )
    return NetlogonResponse(opcode, name)


# ------------------------------------------------------------------------ rows
def render_value(raw: bytes) -> str:
    """An attribute value for a row: the text when it is printable UTF-8, else ``<N bytes>``.

    >>> render_value(b"Contoso Root CA"), render_value(bytes(16))
    ('Contoso Root CA', '<16 bytes>')
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(raw)} bytes>"
    # str.isprintable() answers for almost every value in one C call; the per-character
    # test only runs for text with a tab or line break (or something unprintable).
    if not text.isprintable() and not all(ch.isprintable() or ch in "\t\r\n" for ch in text):
        return f"<{len(raw)} bytes>"
    if len(text) > MAX_VALUE_CHARS:
        return text[:MAX_VALUE_CHARS] + f"...<{len(raw)} bytes>"
    return text


def is_certificate_attribute(name: str) -> bool:
    """cACertificate, userCertificate, crossCertificatePair, with or without options
    (``;binary``), case-insensitively."""
    return name.split(";", 1)[0].strip().lower() in CERTIFICATE_ATTRIBUTES


def _is_der_sequence(value: bytes) -> bool:
    try:
        header = parse_header(value, max_length=len(value))
    except DecodeError:
        return False
    return header.is_(UNIVERSAL, SEQUENCE) and header.constructed and header.end == len(value)


def certificates_in_value(attribute: str, value: bytes) -> list[bytes]:
    """The DER certificates an attribute value holds (a crossCertificatePair holds up to
    two: forward [0] and reverse [1])."""
    base = attribute.split(";", 1)[0].strip().lower()
    if base != "crosscertificatepair":
        return [value] if _is_der_sequence(value) else []
    out = []
    try:
        reader = BerReader(value)
        with reader.constructed() as pair:
            while not pair.eof():
                with pair.enter() as (_, inner):
                    cert = inner.read()
                    der = value[cert.header.offset : cert.header.end]
                    if _is_der_sequence(der):
                        out.append(der)
    except DecodeError:
        return out
    return out


LDAP_SCHEMA = Schema(
    "ldap",
    "One LDAP or CLDAP message (RFC 4511), or one SASL security-layer buffer "
    "(op sasl_wrapped), or the switch to TLS after StartTLS (op starttls).",
    (
        Column("message_id", "Int64", "LDAPMessage messageID (pairs requests and responses)"),
        Column(
            "op",
            "category",
            "bindRequest, bindResponse, searchRequest, searchResEntry, searchResDone, "
            "searchResRef, modifyRequest, addRequest, delRequest, modDNRequest, compareRequest, "
            "their responses, abandonRequest, unbindRequest, extendedReq, extendedResp, "
            "intermediateResponse; sasl_wrapped for a SASL buffer; starttls when the "
            "connection switches to TLS",
        ),
        Column("cldap", "boolean", "true for connectionless LDAP (UDP 389, the DC locator ping)"),
        Column(
            "in_sasl",
            "boolean",
            "true when the message was read from inside a signed-only SASL buffer",
        ),
        Column(
            "session_sealed",
            "boolean",
            "true once this connection has carried a sealed (encrypted) SASL buffer: later "
            "results are unreadable, so 'LDAP results sealed', not 'no certificate'",
        ),
        Column("controls", "object", "OIDs of the message's controls"),
        Column("bind_version", "Int8", "bindRequest: LDAP version (3)"),
        Column("bind_name", "string", "bindRequest: the DN or name that binds"),
        Column(
            "auth",
            "category",
            "bind: simple, sasl, sicily_negotiate/sicily_response (Microsoft NTLM bind); "
            "on bindResponse, taken from the request with the same messageID",
        ),
        Column("sasl_mechanism", "category", "bind: SASL mechanism (GSS-SPNEGO, GSSAPI, ...)"),
        Column("password_length", "Int32", "simple bindRequest: password length (never the value)"),
        Column("sasl_credentials_length", "Int32", "bind: octets of SASL credentials"),
        Column(
            "sasl_token",
            "category",
            "bind: what the SASL credentials hold: NTLMSSP_NEGOTIATE/CHALLENGE/AUTH, "
            "krb5_ap_req/krb5_ap_rep, spnego",
        ),
        Column(
            "sasl_protection",
            "category",
            "bind with an NTLMSSP token: the security layer its flags ask for: seal, sign, none",
        ),
        Column("result_code", "Int32", "responses: LDAP resultCode"),
        Column("result", "category", "responses: resultCode name (success, ...)"),
        Column("matched_dn", "string", "responses: matchedDN"),
        Column("diagnostic_message", "string", "responses: diagnosticMessage"),
        Column("referrals", "object", "referral URIs (LDAPResult referral, searchResRef)"),
        Column("base_object", "string", "searchRequest: base DN"),
        Column("scope", "category", "searchRequest: base, one, sub (children)"),
        Column("deref", "category", "searchRequest: alias dereferencing"),
        Column("size_limit", "Int64", "searchRequest: sizeLimit (0 = none)"),
        Column("time_limit", "Int64", "searchRequest: timeLimit in seconds (0 = none)"),
        Column("types_only", "boolean", "searchRequest: typesOnly"),
        Column("filter", "string", "searchRequest: the filter as RFC 4515 text, values escaped"),
        Column("requested_attributes", "object", "searchRequest: attributes asked for"),
        Column("object_name", "string", "searchResEntry/add/del/modify/modDN/compare: the DN"),
        Column(
            "attributes",
            "object",
            "searchResEntry/addRequest: list of {type, values}; values are text when "
            "printable UTF-8, '<N bytes>' otherwise",
        ),
        Column("attribute_names", "object", "searchResEntry/addRequest/modifyRequest: types"),
        Column(
            "certificate_sha256",
            "object",
            "SHA-256 of every certificate in cACertificate/userCertificate/"
            "crossCertificatePair values (also sent to the certificate catalogue)",
        ),
        Column("changes", "object", "modifyRequest: list of {operation, type, values}"),
        Column("new_rdn", "string", "modDNRequest: newrdn"),
        Column("delete_old_rdn", "boolean", "modDNRequest: deleteoldrdn"),
        Column("new_superior", "string", "modDNRequest: newSuperior"),
        Column("assertion", "string", "compareRequest: the assertion as (type=value)"),
        Column("abandon_id", "Int64", "abandonRequest: messageID abandoned"),
        Column("extended_oid", "string", "extended/intermediate: requestName or responseName OID"),
        Column("extended_name", "category", "extended: the OID's name (StartTLS, WhoAmI, ...)"),
        Column("extended_value_length", "Int32", "extended/intermediate: octets of the value"),
        Column("direction", "Int8", "sasl_wrapped: 0 from the connection's originator, 1 back"),
        Column("length", "Int64", "sasl_wrapped: octets of the SASL buffer (after its length)"),
        Column("wrap", "category", "sasl_wrapped: ntlmssp, krb5_cfx, krb5_gss, unknown"),
        Column(
            "sealed",
            "boolean",
            "sasl_wrapped: true when encrypted, false when signed only (then the inner "
            "messages are decoded as rows with in_sasl), NA when unknown",
        ),
        Column("netlogon_opcode", "category", "CLDAP Netlogon: response type"),
        Column("netlogon_dc", "string", "CLDAP Netlogon: the DC's DNS host name"),
        Column("netlogon_domain", "string", "CLDAP Netlogon: DNS domain"),
        Column("netlogon_forest", "string", "CLDAP Netlogon: DNS forest"),
        Column("netlogon_site", "string", "CLDAP Netlogon: the DC's site"),
        Column("netlogon_client_site", "string", "CLDAP Netlogon: the client's site"),
        Column("netlogon", "object", "CLDAP Netlogon: every decoded field, or {raw: hex}"),
    ),
    human=(
        "frame",
        "ts",
        "src",
        "dst",
        "message_id",
        "op",
        "result",
        "sasl_mechanism",
        "base_object",
        "filter",
        "object_name",
        "attribute_names",
        "sealed",
    ),
)


def _attribute_dict(attr: Attribute, sink: Sink, env: Envelope) -> dict[str, Any]:
    values = [render_value(v) for v in attr.values[:MAX_VALUES_SHOWN]]
    if len(attr.values) > MAX_VALUES_SHOWN:
        sink.note(
            Weird(
                "ldap_values_capped",
                frame=env.frame,
                flow=env.flow,
                detail=f"{attr.type}: {len(attr.values)} values, {MAX_VALUES_SHOWN} shown",
            )
        )
    return {"type": attr.type, "values": values}


def message_values(
    msg: LdapMessage, env: Envelope, sink: Sink, *, catalogue: bool = True
) -> dict[str, Any]:
    """The row of one LDAPMessage; certificate values go to ``sink.certificate``."""
    row: dict[str, Any] = {"message_id": msg.message_id, "op": msg.op}
    if msg.controls:
        row["controls"] = list(msg.controls)
    if msg.op == "bindRequest":
        row.update(
            bind_version=msg.version,
            bind_name=msg.name,
            auth=msg.auth,
            sasl_mechanism=msg.sasl_mechanism,
            password_length=msg.password_length,
        )
    if msg.sasl_credentials is not None:
        row["sasl_credentials_length"] = len(msg.sasl_credentials)
        token = describe_sasl_token(msg.sasl_credentials)
        if token is not None:
            row["sasl_token"] = token.kind
            if token.ntlm_flags is not None:
                flags = token.ntlm_flags
                row["sasl_protection"] = (
                    "seal" if flags & NTLM_SEAL else "sign" if flags & NTLM_SIGN else "none"
                )
    if msg.result_code is not None:
        row.update(
            result_code=msg.result_code,
            result=RESULT_NAMES.get(msg.result_code) or f"code_{msg.result_code}",
            matched_dn=msg.matched_dn,
            diagnostic_message=msg.diagnostic_message,
        )
    if msg.referrals:
        row["referrals"] = list(msg.referrals)
    if msg.op == "searchRequest":
        row.update(
            base_object=msg.base_object,
            scope=msg.scope,
            deref=msg.deref,
            size_limit=msg.size_limit,
            time_limit=msg.time_limit,
            types_only=msg.types_only,
            filter=msg.filter,
            requested_attributes=list(msg.requested_attributes),
        )
    if msg.object_name is not None:
        row["object_name"] = msg.object_name
    if msg.op in ("searchResEntry", "addRequest"):
        row["attributes"] = [_attribute_dict(a, sink, env) for a in msg.attributes]
        row["attribute_names"] = [a.type for a in msg.attributes]
        shas = []
        for attr in msg.attributes:
            if not is_certificate_attribute(attr.type):
                continue
            for value in attr.values:
                ders = certificates_in_value(attr.type, value)
                if not ders:
                    sink.note(
                        Weird(
                            "ldap_certificate_not_der",
                            frame=env.frame,
                            flow=env.flow,
                            detail=f"{attr.type} value of {len(value)} bytes",
                        )
                    )
                for der in ders:
                    shas.append(hashlib.sha256(der).hexdigest())
                    if catalogue:
                        sink.certificate(
                            der,
                            env,
                            "ldap",
                            attribute=attr.type,
                            dn=msg.object_name,
                            message_id=msg.message_id,
                        )
        row["certificate_sha256"] = shas
        for attr in msg.attributes:
            if attr.type.lower() == "netlogon" and attr.values:
                row.update(_netlogon_values(attr.values[0]))
    if msg.changes:
        row["changes"] = [
            {"operation": c.operation, **_attribute_dict(c.attribute, sink, env)}
            for c in msg.changes
        ]
        row["attribute_names"] = [c.attribute.type for c in msg.changes]
    if msg.op == "modDNRequest":
        row.update(
            new_rdn=msg.new_rdn, delete_old_rdn=msg.delete_old_rdn, new_superior=msg.new_superior
        )
    if msg.assertion is not None:
        row["assertion"] = msg.assertion
    if msg.abandon_id is not None:
        row["abandon_id"] = msg.abandon_id
    if msg.extended_oid is not None:
        row["extended_oid"] = msg.extended_oid
        row["extended_name"] = EXTENDED_NAMES.get(msg.extended_oid)
    if msg.extended_value is not None:
        row["extended_value_length"] = len(msg.extended_value)
    return row


def _netlogon_values(value: bytes) -> dict[str, Any]:
    try:
        nl = parse_netlogon(value)
    except DecodeError:
        return {"netlogon": {"raw": value.hex()}}
    return {
        "netlogon_opcode": nl.opcode_name,
        "netlogon_dc": nl.dc_name,
        "netlogon_domain": nl.domain,
        "netlogon_forest": nl.forest,
        "netlogon_site": nl.dc_site,
        "netlogon_client_site": nl.client_site,
        "netlogon": nl.as_dict()
        if nl.forest is not None or nl.user is not None
        else {**nl.as_dict(), "raw": value.hex()},
    }


# ---------------------------------------------------------------------- stream
def _pdu_size(data: bytes, pos: int) -> int | None:
    """Size of the PDU at ``data[pos]``, an LDAPMessage (BER) or a SASL buffer; None
    while its header is incomplete. Malformed when it can be neither."""
    first = data[pos]
    if first == 0x30:
        # Only the header octets (at most 6), so that a header error says offset 0, the
        # start of the PDU.
        return element_size(data[pos : pos + 6], max_length=1 << 32)
    if first == 0x00:
        if len(data) - pos < 4:
            return None
        return 4 + int.from_bytes(data[pos : pos + 4], "big")
    raise Malformed(f"PDU starts with {first:#04x}", offset=pos)


@dataclass(slots=True)
class _Direction:
    """Reassembly state of one direction: the bytes of an unfinished PDU.

    Only a PDU that a segment leaves unfinished is buffered: the PDUs a segment holds
    whole (nearly all of them) are parsed from the segment itself, never copied.
    """

    #: The start of the next PDU, when a segment ended before the PDU did.
    buf: bytearray = field(default_factory=bytearray)
    #: Total size of the PDU in ``buf`` once its header has been read.
    need: int | None = None
    #: Bytes still to discard (an oversized PDU, or one broken by a gap).
    skip: int = 0
    #: Framing lost for good (garbage or a gap at a PDU boundary).
    lost: bool = False

    def pending(self) -> int:
        return len(self.buf)

    def clear(self) -> None:
        self.buf = bytearray()
        self.need = None


class LdapSession:
    """One LDAP connection: frames LDAPMessages and SASL buffers in both directions."""

    def __init__(self, flow: FlowInfo, sink: Sink) -> None:
        self.flow = flow
        self.sink = sink
        self.dirs = (_Direction(), _Direction())
        #: Latest NTLMSSP flags of the bind (AUTHENTICATE wins): decide sign vs seal.
        self.ntlm_flags: int | None = None
        self.sealed = False
        self.binds: dict[int, tuple[str | None, str | None]] = {}
        self.starttls_ids: set[int] = set()
        self.tls: StreamSession | None = None
        self.finished = False

    # ------------------------------------------------------------ StreamSession
    def data(self, direction: int, data: bytes, env: Envelope) -> bool:
        if self.tls is not None:
            return bool(self.tls.data(direction, data, env))
        if self.finished:
            return False
        d = self.dirs[direction]
        if d.lost:
            return self._alive()
        if d.skip:
            dropped = min(d.skip, len(data))
            d.skip -= dropped
            data = data[dropped:]
            if not data:
                return True
        return self._drain(direction, data, env)

    def gap(self, direction: int, length: int, env: Envelope) -> bool:
        if self.tls is not None:
            return bool(self.tls.gap(direction, length, env))
        d = self.dirs[direction]
        if d.lost or self.finished:
            return self._alive()
        if d.skip >= length:
            d.skip -= length
            return True
        if d.need is not None and not d.skip and length <= d.need - d.pending():
            # The hole falls inside the PDU being assembled: that PDU is lost, the
            # framing survives (its length is known).
            d.skip = d.need - d.pending() - length
            d.clear()
            self._weird("ldap_message_lost_in_gap", env, f"{length} bytes missing")
            return True
        d.clear()
        d.skip = 0
        d.lost = True
        self._weird("ldap_gap_desync", env, f"{length} bytes missing at a message boundary")
        return self._alive()

    def closed(self, direction: int, how: str, env: Envelope) -> bool:
        """A side ended (FIN/RST, see the dispatcher): forwarded to the TLS session after
        StartTLS when it wants to know."""
        forward = getattr(self.tls, "closed", None)
        if callable(forward):
            return forward(direction, how, env) is not False
        return True

    def close(self, env: Envelope | None) -> None:
        if self.tls is not None:
            self.tls.close(env)
            return
        for d in self.dirs:
            if not d.lost and d.pending():
                self.sink.note(
                    Weird(
                        "ldap_truncated_message",
                        frame=env.frame if env else None,
                        flow=self.flow.flow,
                        detail=f"{d.pending()} bytes of an unfinished LDAP PDU",
                    )
                )
                d.clear()

    # ----------------------------------------------------------------- framing
    def _alive(self) -> bool:
        return not self.finished and not all(d.lost for d in self.dirs)

    def _weird(self, name: str, env: Envelope, detail: str) -> None:
        self.sink.note(Weird(name, frame=env.frame, flow=env.flow, detail=detail))

    def _drain(self, direction: int, data: bytes, env: Envelope) -> bool:
        """Parse every PDU that ``data`` completes; buffer the start of an unfinished one.

        The PDUs are sliced out of ``data`` itself (a PDU filling the whole segment is
        ``data``, no copy at all); ``data`` is only joined to the buffered bytes when
        there are some, and while the PDU being assembled is still short of its known
        size, the segment is appended and nothing else is done.
        """
        d = self.dirs[direction]
        if d.buf:
            d.buf += data
            if d.need is not None and len(d.buf) < d.need:
                return True
            data = bytes(d.buf)
            d.buf = bytearray()
        pos, end = 0, len(data)
        need = d.need
        while pos < end:
            if need is None:
                try:
                    need = _pdu_size(data, pos)
                except DecodeError as e:
                    self.sink.malformed("ldap", env, e)
                    self._weird("ldap_stream_desync", env, "not an LDAPMessage or SASL buffer")
                    d.clear()
                    d.lost = True
                    return self._alive()
                if need is None:
                    break
                if need > MAX_MESSAGE:
                    self._weird("ldap_message_too_large", env, f"{need} bytes skipped")
                    if end - pos >= need:
                        pos += need
                        need = None
                        continue
                    d.skip = need - (end - pos)
                    d.clear()
                    return True
            if end - pos < need:
                break
            unit = data[pos : pos + need]
            pos += need
            need = None
            self._unit(direction, unit, env)
            if self.finished:
                d.buf = bytearray(data[pos:])
                d.need = None
                return self._switch_to_tls(env)
        d.need = need
        if pos < end:
            d.buf = bytearray(data[pos:])
        return True

    def _unit(self, direction: int, unit: bytes, env: Envelope) -> None:
        try:
            if unit[0] == 0x30:
                self._message(parse_ldap_message(unit), direction, env, in_sasl=False)
            else:
                self._sasl(unit[4:], direction, env)
        except DecodeError as e:
            self.sink.malformed("ldap", env, e)

    def _sasl(self, token: bytes, direction: int, env: Envelope) -> None:
        wrapped = unwrap_sasl(token, self.ntlm_flags)
        if wrapped.sealed:
            self.sealed = True
        self.sink.add(
            "ldap",
            env,
            op="sasl_wrapped",
            cldap=False,
            session_sealed=self.sealed,
            direction=direction,
            length=len(token),
            wrap=wrapped.wrap,
            sealed=wrapped.sealed,
        )
        if wrapped.plaintext is not None:
            for msg in _leading_messages(wrapped.plaintext):
                self._message(msg, direction, env, in_sasl=True)

    def _message(self, msg: LdapMessage, direction: int, env: Envelope, *, in_sasl: bool) -> None:
        row = message_values(msg, env, self.sink)
        if msg.sasl_credentials is not None:
            token = describe_sasl_token(msg.sasl_credentials)
            if token is not None and token.ntlm_flags is not None:
                self.ntlm_flags = token.ntlm_flags
        if msg.op == "bindRequest":
            if len(self.binds) >= MAX_PENDING_BINDS:
                self.binds.pop(next(iter(self.binds)))
                self._weird("ldap_pending_binds_capped", env, f"over {MAX_PENDING_BINDS}")
            self.binds[msg.message_id] = (msg.auth, msg.sasl_mechanism)
        elif msg.op == "bindResponse":
            auth, mechanism = self.binds.pop(msg.message_id, (None, None))
            if msg.result_code == 14:  # saslBindInProgress: the next leg reuses the id
                self.binds[msg.message_id] = (auth, mechanism)
            row.update(auth=auth, sasl_mechanism=mechanism)
        elif msg.op == "extendedReq" and msg.extended_oid == OID_STARTTLS:
            if len(self.starttls_ids) < MAX_PENDING_BINDS:
                self.starttls_ids.add(msg.message_id)
        elif msg.op == "extendedResp" and (
            msg.message_id in self.starttls_ids or msg.extended_oid == OID_STARTTLS
        ):
            self.starttls_ids.discard(msg.message_id)
            if msg.extended_oid is None:
                row.update(extended_oid=OID_STARTTLS, extended_name="StartTLS")
            if msg.result_code == 0:
                self.finished = True
        row.update(cldap=False, in_sasl=in_sasl, session_sealed=self.sealed)
        self.sink.add_row("ldap", env, row)  # the row is ours: no copy into keywords
        if self.finished:
            self.sink.add(
                "ldap",
                env,
                op="starttls",
                cldap=False,
                session_sealed=self.sealed,
                message_id=msg.message_id,
                direction=direction,
            )

    def _switch_to_tls(self, env: Envelope) -> bool:
        """After a successful StartTLS response: the rest of both directions is TLS."""
        module = next((m for m in protocol_modules() if m.name == "tls"), None)
        if module is None or module.stream is None:
            for d in self.dirs:
                d.clear()
            return False
        self.tls = module.stream.session(self.flow, self.sink)
        alive = True
        for direction, d in enumerate(self.dirs):
            rest = bytes(d.buf)
            d.clear()
            if rest:
                alive = bool(self.tls.data(direction, rest, env)) and alive
        return alive


class LdapStreamDissector:
    """LDAP over TCP 389 (and 3268, the global catalog)."""

    name: ClassVar[str] = "ldap"

    def wants(self, flow: FlowInfo) -> bool:
        return flow.sport in LDAP_TCP_PORTS or flow.dport in LDAP_TCP_PORTS

    def sniff(self, direction: int, head: bytes) -> bool | None:
        return False

    def session(self, flow: FlowInfo, sink: Sink) -> LdapSession:
        return LdapSession(flow, sink)


class CldapDissector:
    """Connectionless LDAP over UDP 389: one or more LDAPMessages per datagram."""

    name: ClassVar[str] = "ldap"

    def wants(self, flow: FlowInfo) -> bool:
        return CLDAP_PORT in (flow.sport, flow.dport)

    def datagram(self, env: Envelope, payload: bytes, sink: Sink) -> None:
        reader = BerReader(payload)
        while not reader.eof():
            msg = _read_message(reader)
            row = message_values(msg, env, sink)
            row["cldap"] = True
            sink.add_row("ldap", env, row)


PROTOCOL = ProtocolModule(
    name="ldap",
    doc="LDAP over TCP 389/3268 (binds, searches, entries, SASL layers, StartTLS) and "
    "CLDAP over UDP 389 (DC locator netlogon ping)",
    schemas=(LDAP_SCHEMA,),
    datagram=CldapDissector(),
    stream=LdapStreamDissector(),
)

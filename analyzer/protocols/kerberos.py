"""Kerberos V5 (RFC 4120) KDC exchanges over UDP and TCP 88: who asked for which ticket,
and why the KDC said no.

A phone that authenticates to the pool with Kerberos needs a TGT and a service ticket;
the KDC's errors say what went wrong: ``KDC_ERR_PREAUTH_REQUIRED`` (25, the normal first
answer), ``KRB_AP_ERR_SKEW`` (37, the phone's clock is off: ``stime`` in the error is the
KDC's time), ``KDC_ERR_C_PRINCIPAL_UNKNOWN`` (6), ``KDC_ERR_S_PRINCIPAL_UNKNOWN`` (7, no SPN
for the pool), ``KDC_ERR_ETYPE_NOSUPP`` (14, no common encryption type). TCP carries each
message after a 4-byte length (RFC 4120 7.2.2).

>>> msg = parse_kerberos(bytes.fromhex(
...     "7e5e 305c"                               # KRB-ERROR [APPLICATION 30] SEQUENCE
...     "a003020105 a10302011e"                   # pvno 5, msg-type 30
...     "a411180f32303132303931313135343030345a"  # stime 20120911154004Z
...     "a503020100 a603020119"                   # susec 0, error-code 25
...     "a90f1b0d434f4e544f534f2e4c4f43414c"      # realm CONTOSO.LOCAL
...     "aa223020a003020102a11930171b066b72627467741b0d434f4e544f534f2e4c4f43414c"))
>>> msg.name, msg.error_code, msg.sname, msg.realm
('KRB-ERROR', 25, 'krbtgt/CONTOSO.LOCAL', 'CONTOSO.LOCAL')
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from typing import ClassVar

from analyzer.capture.pipeline import FlowInfo
from analyzer.errors import DecodeError, Malformed, Truncated, Weird
from analyzer.protocols.base import Column, Envelope, Schema, Sink
from analyzer.protocols.ber import APPLICATION, CONTEXT, UNIVERSAL, BerReader
from analyzer.protocols.registry import ProtocolModule

KERBEROS_PORT = 88
#: Largest TCP record accepted; larger ones are skipped with a weird row.
MAX_RECORD = 1024 * 1024
#: Names in one PrincipalName, entries in one list (etypes, padata).
MAX_ITEMS = 256

MESSAGE_TYPES = {
    10: "AS-REQ",
    11: "AS-REP",
    12: "TGS-REQ",
    13: "TGS-REP",
    14: "AP-REQ",
    15: "AP-REP",
    20: "KRB-SAFE",
    21: "KRB-PRIV",
    22: "KRB-CRED",
    30: "KRB-ERROR",
}

ERROR_NAMES = {
    0: "KDC_ERR_NONE",
    1: "KDC_ERR_NAME_EXP",
    2: "KDC_ERR_SERVICE_EXP",
    3: "KDC_ERR_BAD_PVNO",
    4: "KDC_ERR_C_OLD_MAST_KVNO",
    5: "KDC_ERR_S_OLD_MAST_KVNO",
    6: "KDC_ERR_C_PRINCIPAL_UNKNOWN",
    7: "KDC_ERR_S_PRINCIPAL_UNKNOWN",
    8: "KDC_ERR_PRINCIPAL_NOT_UNIQUE",
    9: "KDC_ERR_NULL_KEY",
    10: "KDC_ERR_CANNOT_POSTDATE",
    11: "KDC_ERR_NEVER_VALID",
    12: "KDC_ERR_POLICY",
    13: "KDC_ERR_BADOPTION",
    14: "KDC_ERR_ETYPE_NOSUPP",
    15: "KDC_ERR_SUMTYPE_NOSUPP",
    16: "KDC_ERR_PADATA_TYPE_NOSUPP",
    17: "KDC_ERR_TRTYPE_NOSUPP",
    18: "KDC_ERR_CLIENT_REVOKED",
    19: "KDC_ERR_SERVICE_REVOKED",
    20: "KDC_ERR_TGT_REVOKED",
    21: "KDC_ERR_CLIENT_NOTYET",
    22: "KDC_ERR_SERVICE_NOTYET",
    23: "KDC_ERR_KEY_EXPIRED",
    24: "KDC_ERR_PREAUTH_FAILED",
    25: "KDC_ERR_PREAUTH_REQUIRED",
    26: "KDC_ERR_SERVER_NOMATCH",
    27: "KDC_ERR_MUST_USE_USER2USER",
    28: "KDC_ERR_PATH_NOT_ACCEPTED",
    29: "KDC_ERR_SVC_UNAVAILABLE",
    31: "KRB_AP_ERR_BAD_INTEGRITY",
    32: "KRB_AP_ERR_TKT_EXPIRED",
    33: "KRB_AP_ERR_TKT_NYV",
    34: "KRB_AP_ERR_REPEAT",
    35: "KRB_AP_ERR_NOT_US",
    36: "KRB_AP_ERR_BADMATCH",
    37: "KRB_AP_ERR_SKEW",
    38: "KRB_AP_ERR_BADADDR",
    39: "KRB_AP_ERR_BADVERSION",
    40: "KRB_AP_ERR_MSG_TYPE",
    41: "KRB_AP_ERR_MODIFIED",
    42: "KRB_AP_ERR_BADORDER",
    44: "KRB_AP_ERR_BADKEYVER",
    45: "KRB_AP_ERR_NOKEY",
    46: "KRB_AP_ERR_MUT_FAIL",
    47: "KRB_AP_ERR_BADDIRECTION",
    48: "KRB_AP_ERR_METHOD",
    49: "KRB_AP_ERR_BADSEQ",
    50: "KRB_AP_ERR_INAPP_CKSUM",
    51: "KRB_AP_PATH_NOT_ACCEPTED",
    52: "KRB_ERR_RESPONSE_TOO_BIG",
    60: "KRB_ERR_GENERIC",
    61: "KRB_ERR_FIELD_TOOLONG",
    62: "KDC_ERR_CLIENT_NOT_TRUSTED",
    63: "KDC_ERR_KDC_NOT_TRUSTED",
    64: "KDC_ERR_INVALID_SIG",
    65: "KDC_ERR_KEY_TOO_WEAK",
    66: "KDC_ERR_CERTIFICATE_MISMATCH",
    67: "KRB_AP_ERR_NO_TGT",
    68: "KDC_ERR_WRONG_REALM",
    69: "KRB_AP_ERR_USER_TO_USER_REQUIRED",
    70: "KDC_ERR_CANT_VERIFY_CERTIFICATE",
    71: "KDC_ERR_INVALID_CERTIFICATE",
    72: "KDC_ERR_REVOKED_CERTIFICATE",
    73: "KDC_ERR_REVOCATION_STATUS_UNKNOWN",
    74: "KDC_ERR_REVOCATION_STATUS_UNAVAILABLE",
    75: "KDC_ERR_CLIENT_NAME_MISMATCH",
    76: "KDC_ERR_KDC_NAME_MISMATCH",
    77: "KDC_ERR_INCONSISTENT_KEY_PURPOSE",
    78: "KDC_ERR_DIGEST_IN_CERT_NOT_ACCEPTED",
    79: "KDC_ERR_PA_CHECKSUM_MUST_BE_INCLUDED",
    80: "KDC_ERR_DIGEST_IN_SIGNED_DATA_NOT_ACCEPTED",
    81: "KDC_ERR_PUBLIC_KEY_ENCRYPTION_NOT_SUPPORTED",
    90: "KDC_ERR_PREAUTH_EXPIRED",
    91: "KDC_ERR_MORE_PREAUTH_DATA_REQUIRED",
    93: "KDC_ERR_UNKNOWN_CRITICAL_FAST_OPTIONS",
}

ETYPE_NAMES = {
    1: "des-cbc-crc",
    2: "des-cbc-md4",
    3: "des-cbc-md5",
    5: "des3-cbc-md5",
    7: "des3-cbc-sha1",
    16: "des3-cbc-sha1-kd",
    17: "aes128-cts-hmac-sha1-96",
    18: "aes256-cts-hmac-sha1-96",
    19: "aes128-cts-hmac-sha256-128",
    20: "aes256-cts-hmac-sha384-192",
    23: "rc4-hmac",
    24: "rc4-hmac-exp",
    25: "camellia128-cts-cmac",
    26: "camellia256-cts-cmac",
    -128: "rc4-md4",
    -133: "rc4-hmac-old",
    -135: "rc4-plain",
    -136: "rc4-plain-exp",
    -140: "rc4-plain-old",
}

PADATA_NAMES = {
    1: "PA-TGS-REQ",
    2: "PA-ENC-TIMESTAMP",
    3: "PA-PW-SALT",
    11: "PA-ETYPE-INFO",
    14: "PA-PK-AS-REQ-OLD",
    15: "PA-PK-AS-REP-OLD",
    16: "PA-PK-AS-REQ",
    17: "PA-PK-AS-REP",
    19: "PA-ETYPE-INFO2",
    20: "PA-SVR-REFERRAL-INFO",
    128: "PA-PAC-REQUEST",
    129: "PA-FOR-USER",
    130: "PA-FOR-X509-USER",
    133: "PA-FX-COOKIE",
    136: "PA-FX-FAST",
    137: "PA-FX-ERROR",
    138: "PA-ENCRYPTED-CHALLENGE",
    147: "PA-PKINIT-KX",
    149: "PA-REQ-ENC-PA-REP",
    150: "PA-AS-FRESHNESS",
    165: "PA-SUPPORTED-ENCTYPES",
    167: "PA-PAC-OPTIONS",
}
PA_ETYPE_INFO, PA_ETYPE_INFO2 = 11, 19


@dataclass(slots=True)
class KerberosMessage:
    """One Kerberos message; fields not carried by its type stay None/empty."""

    msg_type: int
    pvno: int | None = None
    realm: str | None = None
    cname: str | None = None
    sname: str | None = None
    nonce: int | None = None
    kdc_options: int | None = None
    till_ns: int | None = None
    etypes: tuple[int, ...] = ()
    padata_types: tuple[int, ...] = ()
    #: etypes the KDC offers in PA-ETYPE-INFO(2) (AS-REP padata or KRB-ERROR e-data).
    etype_info: tuple[int, ...] = ()
    ticket_etype: int | None = None
    enc_etype: int | None = None
    error_code: int | None = None
    error_text: str | None = None
    stime_ns: int | None = None
    ctime_ns: int | None = None

    @property
    def name(self) -> str:
        return MESSAGE_TYPES.get(self.msg_type, f"msg_{self.msg_type}")


# ----------------------------------------------------------------------- parsing
def _string(reader: BerReader) -> str:
    """A KerberosString (GeneralString; other string types accepted), decoded at the edge."""
    element = reader.read()
    if element.header.cls != UNIVERSAL or element.header.constructed:
        raise Malformed(f"string is {element.header.describe()}", offset=element.header.offset)
    return element.value.decode("utf-8", "backslashreplace")


def _time(reader: BerReader) -> int | None:
    """A KerberosTime (GeneralizedTime YYYYMMDDHHMMSSZ) in ns since the epoch."""
    raw = _string(reader)
    try:
        parsed = time.strptime(raw, "%Y%m%d%H%M%SZ")
    except ValueError:
        return None
    return calendar.timegm(parsed) * 1_000_000_000


def _principal(reader: BerReader) -> str:
    # PrincipalName ::= SEQUENCE { name-type [0] Int32, name-string [1] SEQUENCE OF String }
    parts: list[str] = []
    with reader.constructed() as name:
        with name.constructed(CONTEXT, 0) as name_type:
            name_type.read_integer()
        with name.constructed(CONTEXT, 1) as f, f.constructed() as strings:
            while not strings.eof():
                if len(parts) >= MAX_ITEMS:
                    raise Malformed("principal with too many components")
                parts.append(_string(strings))
    return "/".join(parts)


def _integers(reader: BerReader) -> tuple[int, ...]:
    out: list[int] = []
    with reader.constructed() as seq:
        while not seq.eof():
            if len(out) >= MAX_ITEMS:
                raise Malformed("list with too many entries")
            out.append(seq.read_integer())
    return tuple(out)


def _padata(reader: BerReader, msg: KerberosMessage) -> tuple[int, ...]:
    """SEQUENCE OF PA-DATA { padata-type [1], padata-value [2] }: the types; ETYPE-INFO(2)
    values are opened for the etypes the KDC offers."""
    types: list[int] = []
    with reader.constructed() as seq:
        while not seq.eof():
            if len(types) >= MAX_ITEMS:
                raise Malformed("too many PA-DATA")
            with seq.constructed() as pa:
                with pa.constructed(CONTEXT, 1) as f:
                    pa_type = f.read_integer()
                value = b""
                if pa.peek_is(CONTEXT, 2):
                    with pa.constructed(CONTEXT, 2) as f:
                        value = f.read_octets()
            types.append(pa_type)
            if pa_type in (PA_ETYPE_INFO, PA_ETYPE_INFO2) and value:
                msg.etype_info = _etype_info(value)
    return tuple(types)


def _etype_info(value: bytes) -> tuple[int, ...]:
    # ETYPE-INFO(2) ::= SEQUENCE OF SEQUENCE { etype [0] Int32, salt [1], s2kparams [2] }
    try:
        reader = BerReader(value)
        out: list[int] = []
        with reader.constructed() as seq:
            while not seq.eof() and len(out) < MAX_ITEMS:
                with seq.constructed() as entry, entry.constructed(CONTEXT, 0) as f:
                    out.append(f.read_integer())
        return tuple(out)
    except DecodeError:
        return ()


def _encrypted_etype(reader: BerReader) -> int:
    # EncryptedData ::= SEQUENCE { etype [0] Int32, kvno [1] OPTIONAL, cipher [2] }
    with reader.constructed() as enc, enc.constructed(CONTEXT, 0) as f:
        return f.read_integer()


def _kdc_req(seq: BerReader, msg: KerberosMessage) -> None:
    # KDC-REQ ::= SEQUENCE { pvno [1], msg-type [2], padata [3] OPTIONAL, req-body [4] }
    while not seq.eof():
        with seq.enter() as (header, f):
            if header.cls != CONTEXT:
                continue
            n = header.number
            if n == 1:
                msg.pvno = f.read_integer()
            elif n == 3:
                msg.padata_types = _padata(f, msg)
            elif n == 4:
                _req_body(f, msg)


def _req_body(f: BerReader, msg: KerberosMessage) -> None:
    with f.constructed() as body:
        while not body.eof():
            with body.enter() as (header, g):
                if header.cls != CONTEXT:
                    continue
                n = header.number
                if n == 0:
                    _, bits = g.read_bit_string()
                    msg.kdc_options = int.from_bytes(bits[:4], "big") if bits else 0
                elif n == 1:
                    msg.cname = _principal(g)
                elif n == 2:
                    msg.realm = _string(g)
                elif n == 3:
                    msg.sname = _principal(g)
                elif n == 5:
                    msg.till_ns = _time(g)
                elif n == 7:
                    msg.nonce = g.read_integer()
                elif n == 8:
                    msg.etypes = _integers(g)


def _kdc_rep(seq: BerReader, msg: KerberosMessage) -> None:
    # KDC-REP ::= SEQUENCE { pvno [0], msg-type [1], padata [2] OPTIONAL, crealm [3],
    #                        cname [4], ticket [5] Ticket, enc-part [6] EncryptedData }
    while not seq.eof():
        with seq.enter() as (header, f):
            if header.cls != CONTEXT:
                continue
            n = header.number
            if n == 0:
                msg.pvno = f.read_integer()
            elif n == 2:
                msg.padata_types = _padata(f, msg)
            elif n == 3:
                msg.realm = _string(f)
            elif n == 4:
                msg.cname = _principal(f)
            elif n == 5:
                _ticket(f, msg)
            elif n == 6:
                msg.enc_etype = _encrypted_etype(f)


def _ticket(f: BerReader, msg: KerberosMessage) -> None:
    # Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno [0], realm [1], sname [2], enc-part [3] }
    with f.constructed(APPLICATION, 1) as app, app.constructed() as seq:
        while not seq.eof():
            with seq.enter() as (header, g):
                if header.cls != CONTEXT:
                    continue
                if header.number == 2:
                    msg.sname = _principal(g)
                elif header.number == 3:
                    msg.ticket_etype = _encrypted_etype(g)


def _krb_error(seq: BerReader, msg: KerberosMessage) -> None:
    # KRB-ERROR ::= SEQUENCE { pvno [0], msg-type [1], ctime [2] OPT, cusec [3] OPT,
    #   stime [4], susec [5], error-code [6], crealm [7] OPT, cname [8] OPT, realm [9],
    #   sname [10], e-text [11] OPT, e-data [12] OPT }
    susec = 0
    while not seq.eof():
        with seq.enter() as (header, f):
            if header.cls != CONTEXT:
                continue
            n = header.number
            if n == 0:
                msg.pvno = f.read_integer()
            elif n == 2:
                msg.ctime_ns = _time(f)
            elif n == 4:
                msg.stime_ns = _time(f)
            elif n == 5:
                susec = f.read_integer()
            elif n == 6:
                msg.error_code = f.read_integer()
            elif n == 8:
                msg.cname = _principal(f)
            elif n == 9:
                msg.realm = _string(f)
            elif n == 10:
                msg.sname = _principal(f)
            elif n == 11:
                msg.error_text = _string(f)
            elif n == 12:
                msg.padata_types = _method_data(f.read_octets(), msg)
    if msg.stime_ns is not None and 0 <= susec < 1_000_000:
        msg.stime_ns += susec * 1000


def _method_data(value: bytes, msg: KerberosMessage) -> tuple[int, ...]:
    """e-data as METHOD-DATA (SEQUENCE OF PA-DATA, RFC 4120 5.9.1), best effort: other
    e-data forms (Microsoft KERB-ERROR-DATA, TYPED-DATA) leave the list empty."""
    try:
        return _padata(BerReader(value), msg)
    except DecodeError:
        return ()


def parse_kerberos(data: bytes) -> KerberosMessage:
    """Parse one Kerberos message (AS/TGS requests and replies, KRB-ERROR in detail; other
    application types only by name)."""
    reader = BerReader(data)
    header = reader.peek()
    if header is None:
        raise Truncated("empty Kerberos message", offset=0)
    if header.cls != APPLICATION:
        raise Malformed(f"Kerberos message is {header.describe()}", offset=0)
    msg = KerberosMessage(header.number)
    with reader.constructed(APPLICATION, header.number) as app:
        if header.number in (10, 12):
            with app.constructed() as seq:
                _kdc_req(seq, msg)
        elif header.number in (11, 13):
            with app.constructed() as seq:
                _kdc_rep(seq, msg)
        elif header.number == 30:
            with app.constructed() as seq:
                _krb_error(seq, msg)
    return msg


# -------------------------------------------------------------------------- rows
KERBEROS_SCHEMA = Schema(
    "kerberos",
    "One Kerberos message to or from a KDC (UDP/TCP 88).",
    (
        Column("msg_type", "category", "AS-REQ, AS-REP, TGS-REQ, TGS-REP, KRB-ERROR, ..."),
        Column("pvno", "Int8", "protocol version (5)"),
        Column(
            "realm",
            "string",
            "requests: the realm of req-body; replies: crealm; KRB-ERROR: the server's realm",
        ),
        Column("cname", "string", "client principal (components joined with /)"),
        Column("sname", "string", "server principal (replies: the ticket's sname)"),
        Column("nonce", "Int64", "request/reply nonce"),
        Column("kdc_options", "Int64", "requests: KDCOptions bits (first 32)"),
        Column("till", "datetime64[ns, UTC]", "requests: requested ticket end time"),
        Column("etypes", "object", "requests: encryption types asked for, in preference order"),
        Column("etype_names", "object", "names of etypes (aes256-cts-hmac-sha1-96, rc4-hmac, ...)"),
        Column(
            "padata_types",
            "object",
            "PA-DATA types present (requests/replies); for KRB-ERROR, the types the KDC "
            "lists in e-data (METHOD-DATA), i.e. which pre-authentication it accepts",
        ),
        Column("padata_names", "object", "names of padata_types (PA-ENC-TIMESTAMP, ...)"),
        Column("etype_info", "object", "etypes the KDC offers in PA-ETYPE-INFO(2)"),
        Column("ticket_etype", "Int32", "replies: etype of the ticket's encrypted part"),
        Column("enc_etype", "Int32", "replies: etype of the reply's encrypted part"),
        Column("error_code", "Int32", "KRB-ERROR: error-code"),
        Column("error_name", "category", "KRB-ERROR: its name (KDC_ERR_PREAUTH_REQUIRED, ...)"),
        Column("error_text", "string", "KRB-ERROR: e-text"),
        Column("stime", "datetime64[ns, UTC]", "KRB-ERROR: the KDC's current time"),
        Column("ctime", "datetime64[ns, UTC]", "KRB-ERROR: the client's time, when echoed"),
        Column(
            "kdc_clock_offset_s",
            "Float64",
            "KRB-ERROR: stime minus the capture time of the frame (the KDC's clock against "
            "the capturing host's; with KRB_AP_ERR_SKEW, the client is the one off)",
        ),
    ),
    human=(
        "frame",
        "ts",
        "src",
        "dst",
        "msg_type",
        "realm",
        "cname",
        "sname",
        "error_name",
        "etype_names",
    ),
)


def kerberos_values(msg: KerberosMessage, env: Envelope) -> dict[str, object]:
    """The row of one Kerberos message."""
    offset = None
    if msg.stime_ns is not None:
        offset = (msg.stime_ns - env.ts_ns) / 1e9
    return {
        "msg_type": msg.name,
        "pvno": msg.pvno,
        "realm": msg.realm,
        "cname": msg.cname,
        "sname": msg.sname,
        "nonce": msg.nonce,
        "kdc_options": msg.kdc_options,
        "till": msg.till_ns,
        "etypes": list(msg.etypes) if msg.msg_type in (10, 12) else None,
        "etype_names": [ETYPE_NAMES.get(e, str(e)) for e in msg.etypes]
        if msg.msg_type in (10, 12)
        else None,
        "padata_types": list(msg.padata_types),
        "padata_names": [PADATA_NAMES.get(p, str(p)) for p in msg.padata_types],
        "etype_info": list(msg.etype_info) if msg.etype_info else None,
        "ticket_etype": msg.ticket_etype,
        "enc_etype": msg.enc_etype,
        "error_code": msg.error_code,
        "error_name": None
        if msg.error_code is None
        else ERROR_NAMES.get(msg.error_code, f"error_{msg.error_code}"),
        "error_text": msg.error_text,
        "stime": msg.stime_ns,
        "ctime": msg.ctime_ns,
        "kdc_clock_offset_s": offset,
    }


class KerberosDatagrams:
    """Kerberos over UDP 88: one message per datagram."""

    name: ClassVar[str] = "kerberos"

    def wants(self, flow: FlowInfo) -> bool:
        return KERBEROS_PORT in (flow.sport, flow.dport)

    def datagram(self, env: Envelope, payload: bytes, sink: Sink) -> None:
        sink.add("kerberos", env, **kerberos_values(parse_kerberos(payload), env))


class KerberosSession:
    """Kerberos over TCP 88: records of a 4-byte big-endian length, then the message."""

    def __init__(self, flow: FlowInfo, sink: Sink) -> None:
        self.flow = flow
        self.sink = sink
        self.bufs = [bytearray(), bytearray()]
        self.skip = [0, 0]
        self.need: list[int | None] = [None, None]
        self.lost = [False, False]

    def data(self, direction: int, data: bytes, env: Envelope) -> bool:
        if self.lost[direction]:
            return not all(self.lost)
        if self.skip[direction]:
            dropped = min(self.skip[direction], len(data))
            self.skip[direction] -= dropped
            data = data[dropped:]
        buf = self.bufs[direction]
        buf += data
        start = 0
        while len(buf) - start >= 4:
            need = self.need[direction]
            if need is None:
                length = int.from_bytes(buf[start : start + 4], "big")
                if length & 0x80000000:
                    # RFC 4120 7.2.2: the high bit is reserved for an extension nobody uses.
                    self.sink.malformed(
                        "kerberos", env, Malformed("TCP record with the reserved bit set")
                    )
                    self.lost[direction] = True
                    buf.clear()
                    return not all(self.lost)
                need = self.need[direction] = 4 + length
                if length > MAX_RECORD:
                    self.sink.note(
                        Weird(
                            "kerberos_record_too_large",
                            frame=env.frame,
                            flow=env.flow,
                            detail=f"{length} bytes skipped",
                        )
                    )
                    taken = min(need, len(buf) - start)
                    self.skip[direction] = need - taken
                    start += taken
                    self.need[direction] = None
                    continue
            if len(buf) - start < need:
                break
            record = bytes(buf[start + 4 : start + need])
            start += need
            self.need[direction] = None
            try:
                msg = parse_kerberos(record)
            except DecodeError as e:
                self.sink.malformed("kerberos", env, e)
                continue
            self.sink.add("kerberos", env, **kerberos_values(msg, env))
        del buf[:start]
        return True

    def gap(self, direction: int, length: int, env: Envelope) -> bool:
        need = self.need[direction]
        pending = len(self.bufs[direction])
        if self.skip[direction] >= length:
            self.skip[direction] -= length
            return True
        if need is not None and length <= need - pending:
            self.skip[direction] = need - pending - length
            self.need[direction] = None
            self.bufs[direction].clear()
            self.sink.note(Weird("kerberos_message_lost_in_gap", frame=env.frame, flow=env.flow))
            return True
        self.lost[direction] = True
        self.bufs[direction].clear()
        self.sink.note(Weird("kerberos_gap_desync", frame=env.frame, flow=env.flow))
        return not all(self.lost)

    def close(self, env: Envelope | None) -> None:
        pass


class KerberosStreams:
    name: ClassVar[str] = "kerberos"

    def wants(self, flow: FlowInfo) -> bool:
        return KERBEROS_PORT in (flow.sport, flow.dport)

    def sniff(self, direction: int, head: bytes) -> bool | None:
        return False

    def session(self, flow: FlowInfo, sink: Sink) -> KerberosSession:
        return KerberosSession(flow, sink)


PROTOCOL = ProtocolModule(
    name="kerberos",
    doc="Kerberos KDC exchanges (UDP/TCP 88): AS/TGS requests and replies, KRB-ERROR",
    schemas=(KERBEROS_SCHEMA,),
    datagram=KerberosDatagrams(),
    stream=KerberosStreams(),
)

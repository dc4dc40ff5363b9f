"""SIP REGISTER / 401 texts with MS-SIPAE NTLM authentication, as an OCS 2007 R2 pool sees them.

The captures never show these texts: SIP runs inside TLS, so what reaches the wire is
application data of the right size (``tls.application_data``). They are built here so
that those sizes come from real messages rather than from a guess: the NTLM
CHALLENGE and AUTHENTICATE tokens are the ones ``ldap.py`` builds, base64-encoded in
``gssapi-data`` as MS-SIPAE (connectionless NTLM, version 3) carries them.
"""

from __future__ import annotations

import base64
import email.utils
import random

REALM = "SIP Communications Service"
USER_AGENT = "UCCAPI/3.5.6907.37 OC/3.5.6907.37 (Microsoft Office Communicator 2007 R2 Phone)"
CONTACT_METHODS = "INVITE, MESSAGE, INFO, OPTIONS, BYE, CANCEL, NOTIFY, ACK, REFER, BENOTIFY"


class Dialog:
    """The identifiers a phone keeps across the REGISTERs of one sign-in attempt."""

    def __init__(self, rng: random.Random, aor: str, local: str, server: str) -> None:
        self.aor = aor  # sip:jdoe@contoso.com
        self.local = local  # 10.20.0.71:1234
        self.server = server  # pool01.contoso.local
        self.domain = aor.split("@", 1)[1]
        self.tag = rng.randbytes(5).hex()
        self.epid = rng.randbytes(5).hex()
        self.call_id = rng.randbytes(16).hex()
        self.instance = _uuid(rng).upper()
        self.opaque = rng.randbytes(5).hex()
        self.server_tag = rng.randbytes(16).hex().upper()
        self.cid = rng.randbytes(3).hex().upper()
        self.cseq = 0


def _uuid(rng: random.Random) -> str:
    h = rng.randbytes(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _text(first: str, headers: list[tuple[str, str]]) -> bytes:
    return ("\r\n".join([first] + [f"{k}: {v}" for k, v in headers]) + "\r\n\r\n").encode()


def register(d: Dialog, authorization: str | None = None) -> bytes:
    """A REGISTER as the phone sends it (no body)."""
    d.cseq += 1
    headers = [
        ("Via", f"SIP/2.0/TLS {d.local}"),
        ("Max-Forwards", "70"),
        ("From", f"<{d.aor}>;tag={d.tag};epid={d.epid}"),
        ("To", f"<{d.aor}>"),
        ("Call-ID", d.call_id),
        ("CSeq", f"{d.cseq} REGISTER"),
        (
            "Contact",
            f"<sip:{d.local};transport=tls;ms-opaque={d.opaque}>;"
            f'methods="{CONTACT_METHODS}";proxy=replace;'
            f'+sip.instance="<urn:uuid:{d.instance}>"',
        ),
        ("User-Agent", USER_AGENT),
        ("Supported", "gruu-10, adhoclist, msrtc-event-categories"),
        ("Supported", "ms-forking"),
        ("Supported", "ms-cluster-failover"),
        ("Supported", "ms-userservices-state-notification"),
        ("ms-keep-alive", "UAC;hop-hop=yes"),
        ("Event", "registration"),
    ]
    if authorization:
        headers.insert(6, ("Authorization", authorization))
    headers.append(("Content-Length", "0"))
    return _text(f"REGISTER sip:{d.domain} SIP/2.0", headers)


def unauthorized(d: Dialog, t: float, challenges: list[str]) -> bytes:
    """401 Unauthorized with one WWW-Authenticate per challenge."""
    port = d.local.rsplit(":", 1)[1]
    headers = [("Date", email.utils.formatdate(t, usegmt=True))]
    headers += [("WWW-Authenticate", c) for c in challenges]
    headers += [
        ("From", f"<{d.aor}>;tag={d.tag};epid={d.epid}"),
        ("To", f"<{d.aor}>;tag={d.server_tag}"),
        ("Call-ID", d.call_id),
        ("CSeq", f"{d.cseq} REGISTER"),
        ("Via", f"SIP/2.0/TLS {d.local};ms-received-port={port};ms-received-cid={d.cid}"),
        ("Content-Length", "0"),
    ]
    return _text("SIP/2.0 401 Unauthorized", headers)


def offers(d: Dialog) -> list[str]:
    """The server's first challenge: the protocols it supports, no gssapi-data yet."""
    return [
        f'NTLM realm="{REALM}", targetname="{d.server}", version=3',
        f'Kerberos realm="{REALM}", targetname="sip/{d.server}", version=3',
    ]


def ntlm_request(d: Dialog) -> str:
    """The client picks NTLM: an Authorization with empty gssapi-data asks for the CHALLENGE."""
    return f'NTLM qop="auth", realm="{REALM}", targetname="{d.server}", gssapi-data="", version=3'


def ntlm_challenge(d: Dialog, token: bytes, opaque: str) -> list[str]:
    b64 = base64.b64encode(token).decode()
    return [
        f'NTLM opaque="{opaque}", gssapi-data="{b64}", '
        f'targetname="{d.server}", realm="{REALM}", version=3'
    ]


def ntlm_response(d: Dialog, token: bytes, opaque: str) -> str:
    b64 = base64.b64encode(token).decode()
    return (
        f'NTLM qop="auth", opaque="{opaque}", realm="{REALM}", '
        f'targetname="{d.server}", gssapi-data="{b64}", version=3'
    )

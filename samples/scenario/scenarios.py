"""The scenarios: each builds a Site full of frames and says what the truth about it is."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass, field

from . import background as bg
from . import pki, proto, tls
from .env import AD_DOMAIN, DATA_VLAN, SIP_DOMAIN, VOICE_VLAN, Site
from .phone import SIP_RECORDS, Phone, lldp

INTERNAL_DNS = ["10.1.0.10", "10.1.0.11"]
PUBLIC_DNS = ["8.8.8.8", "8.8.4.4"]
CX700 = "Polycom CX700"
CX700_FW_OLD = "3.5.6907.37"  # OCS 2007 R2 Phone Edition, Windows CE 6.0, no SHA-2
CX700_FW_NEW = "3.5.6907.206"
POOL_CHAIN_SHA256 = [pki.POOL_SHA256, pki.ISSUING_SHA256, pki.ROOT_SHA256]


def epoch(y: int, mo: int, d: int, h: int, mi: int, s: float) -> float:
    return calendar.timegm((y, mo, d, h, mi, 0)) + s


@dataclass
class Result:
    site: Site
    failure_class: str
    description: str
    diagnosis: dict
    loop_phone: Phone | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Scenario:
    name: str
    file: str
    seed: int
    build: Callable[[int], Result]


# ------------------------------------------------------------------ helpers


def new_phone(
    site: Site,
    n: int = 57,
    mac: str = "00:04:f2:1c:3a:5e",
    model: str = CX700,
    firmware: str = CX700_FW_OLD,
) -> Phone:
    return Phone(
        site, f"CX700-{mac[-8:].replace(':', '').upper()}", f"10.20.0.{n}", mac, model, firmware
    )


def boot(
    site: Site,
    phone: Phone,
    t: float,
    *,
    dns: list[str] = INTERNAL_DNS,
    ntp_answered: bool = True,
    ntp_tries: int = 1,
) -> float:
    """Power on: DHCP, time, the device-update check (DNS then NBNS), as a CX700 does it."""
    t = phone.dhcp(t, dns=dns, ntp=[site.dc01.ip])
    t = phone.ntp(t + site.rng.uniform(0.2, 0.6), site.dc01, answered=ntp_answered, tries=ntp_tries)
    t, _, _ = phone.dns(t + site.rng.uniform(0.3, 0.8), f"ucupdates-r2.{AD_DOMAIN}", proto.A)
    return phone.nbns(t + 0.01, "UCUPDATES-R2")


def ocs_attempt(
    site: Site,
    phone: Phone,
    t: float,
    *,
    cas: list[pki.CertSpec],
    chain,
    outcome: str,
    sealed: bool = False,
    lose: int | None = None,
    alt_port_outcome: str | None = None,
    sip_auth: str = "ok",
) -> float:
    """One pass through the CX700's steps 1-4 (and 5 if the handshake completes).

    sip_auth: "ok" (REGISTER / 401 / REGISTER / 200, keep-alives) or "rejected" (the
    pool refuses the NTLM credentials and the phone closes the connection).
    """
    rng = site.rng
    attempt = phone.new_attempt(t)
    t, dc = phone.locate_dc(t, attempt)
    if dc is not None:
        t = phone.download_root(t + rng.uniform(0.005, 0.03), attempt, dc, cas, sealed=sealed)
    t += rng.uniform(0.8, 1.6)  # "Installing Certificate"
    t, target = phone.find_server(t, attempt)
    if target is None:
        return t
    host = {"pool01.contoso.local": site.pool, "sip.contoso.com": site.edge}[target[0]]
    t, conn = phone.tls_connect(
        t + rng.uniform(0.002, 0.01),
        attempt,
        host,
        target[1],
        chain,
        outcome,
        lose=lose,
        rtt=0.0008 if host.hops <= 1 else 0.034,
    )
    if alt_port_outcome is not None:  # the documented fallback to 443 on the same host
        first = attempt.failure
        t, conn = phone.tls_connect(
            t + rng.uniform(0.05, 0.3), attempt, host, 443, chain, alt_port_outcome
        )
        attempt.detail["first_failure"] = first
    if conn is not None:
        if sip_auth == "rejected":
            return phone.sip_register_rejected(t, attempt, conn, target[0])
        t = phone.sip_register(t, attempt, conn, keepalives=3)
    return t


def run_loop(site: Site, phone: Phone, t: float, n: int, period: float, **kw) -> float:
    """n attempts, each starting ``period`` (with jitter) after the previous one started."""
    rng = site.rng
    end = t
    for i in range(n):
        start = t
        end = ocs_attempt(
            site,
            phone,
            start,
            **kw.get("per_attempt", {}).get(i, {}),
            **{k: v for k, v in kw.items() if k != "per_attempt"},
        )
        t = start + period + rng.gauss(0, 1.3)
        t = max(t, end + 5.0)
    return end


def vlan_background(
    site: Site,
    t0: float,
    t1: float,
    *,
    phones: int = 2,
    calls: int = 1,
    pcs: int = 1,
    call_len: float = 25.0,
    reorder: bool = False,
) -> list:
    rng = site.rng
    bg.lldp_every(site, t0, t1)
    others = [
        bg.signed_in_phone(
            site,
            f"CX700-2A{0x10 + i:02X}{0x31 + 7 * i:02X}",
            f"10.20.0.{41 + i}",
            f"00:04:f2:2a:{0x10 + i:02x}:{0x31 + 7 * i:02x}",
            t0,
            t1,
            firmware=CX700_FW_NEW,
        )
        for i in range(phones)
    ]
    for c in range(calls):
        if len(others) >= 2:
            a, b = others[(2 * c) % len(others)], others[(2 * c + 1) % len(others)]
            start = t0 + rng.uniform(0.15, 0.5) * (t1 - t0)
            bg.rtp_call(site, a, b, start, call_len)
    pc_hosts = [
        bg.pc(
            site,
            f"WS-{1200 + i}.contoso.local",
            f"10.10.0.{23 + i}",
            f"00:21:70:8e:{0x4A + i:02x}:{0x19 + 3 * i:02x}",
        )
        for i in range(pcs)
    ]
    for i, h in enumerate(pc_hosts):
        bg.pc_activity(site, h, t0, t1, reorder_once=reorder and i == 0)
    bg.arp_noise(site, t0, t1, others + pc_hosts)
    return others


def finish(site: Site, t_end: float) -> None:
    # the capture runs a little past the last event
    site.end = t_end + 2.0


# ---------------------------------------------------------------- scenarios


def logon_loop(seed: int) -> Result:
    start = epoch(2012, 3, 14, 8, 47, 12.0)
    site = Site(seed, start)
    phone = new_phone(site)
    t = start + 4.0
    t = boot(site, phone, t)
    n = 7
    end = run_loop(
        site,
        phone,
        t + 1.2,
        n,
        30.0,
        cas=[pki.ROOT_SHA256],
        chain=POOL_CHAIN_SHA256,
        outcome="client_fin",
        per_attempt={2: {"lose": 1}},
    )
    finish(site, end + 6.0)
    vlan_background(site, start, site.end, phones=2, calls=1, pcs=1, reorder=True)
    return Result(
        site,
        "chain_unsupported",
        "Polycom CX700 (OCS 2007 R2 Phone Edition) boots on the voice VLAN with internal "
        "DNS, syncs time, locates the DC, downloads the SHA-256/RSA-4096 enterprise root "
        "over LDAP, finds pool01 through _sipinternaltls._tcp and closes the TLS "
        "connection right after the pool's Certificate; it starts over about every 30 s.",
        {
            "failure_class": "chain_unsupported",
            "failing_phase": "connect_server",
            "evidence": "client FIN right after the server's Certificate/ServerHelloDone, "
            "no ClientKeyExchange, in every attempt",
            "chain_problems": ["sha256_signature", "rsa_key_over_2048_bits"],
            "device_limits": ["signature_hash", "key_size"],
            "summary": "The phone cannot process the pool's SHA-256 chain under the "
            "RSA-4096 Contoso Root CA, so every TLS handshake with pool01 dies "
            "after the Certificate message and the phone loops through steps "
            "1-4 about every 30 seconds.",
        },
        loop_phone=phone,
    )


def public_dns_fixed(seed: int) -> Result:
    start = epoch(2012, 3, 16, 14, 2, 40.0)
    site = Site(seed, start)
    phone = new_phone(site)
    t = boot(site, phone, start + 3.0, dns=PUBLIC_DNS)
    attempt_start = t + 1.0
    t = ocs_attempt(
        site, phone, attempt_start, cas=[], chain=[pki.EDGE, pki.PUBLIC_CA], outcome="complete"
    )
    finish(site, t + 3.0)
    vlan_background(site, start, site.end, phones=2, calls=1, pcs=1, call_len=12.0)
    return Result(
        site,
        "healthy",
        "The same CX700 after its DHCP reservation was changed to hand out public DNS "
        "servers: internal names fail (NXDOMAIN), _sip._tls.contoso.com leads to the Edge "
        "server's external interface on 443, whose SHA-1/RSA-2048 public chain the "
        "phone accepts; REGISTER/401/REGISTER/200 and keep-alives follow.",
        {
            "failure_class": "healthy",
            "signed_in_via": "edge",
            "evidence": "TLS handshake to 203.0.113.10:443 completes; encrypted SIP "
            "sessions continue with keep-alives",
            "changes_from": "cx700-logon-loop.pcapng",
            "changes": [
                "dhcp_option_6_public_dns",
                "dc_not_located",
                "no_ldap_certificate_download",
                "server_edge_external_443",
                "chain_sha1_rsa2048_public_ca",
            ],
            "summary": "With public DNS the phone skips the internal pool, reaches the Edge "
            "server's external interface and signs in with its SHA-1/RSA-2048 "
            "public chain.",
        },
    )


def healthy(seed: int) -> Result:
    start = epoch(2011, 11, 8, 9, 14, 3.0)
    site = Site(seed, start)
    phone = new_phone(site, 63, "00:04:f2:1b:77:02")
    t = boot(site, phone, start + 2.5)
    t = ocs_attempt(
        site,
        phone,
        t + 1.0,
        cas=[pki.ROOT_SHA1],
        chain=[pki.POOL_SHA1, pki.ROOT_SHA1],
        outcome="complete",
    )
    finish(site, t + 2.0)
    bg.lldp_every(site, start, site.end)
    return Result(
        site,
        "healthy",
        "A CX700 signs in to pool01 on the old SHA-1/RSA-2048 enterprise PKI: DHCP, NTP, "
        "DC location, root download over LDAP, _sipinternaltls._tcp, full TLS 1.0 "
        "handshake, REGISTER/401/REGISTER/200, subscriptions and keep-alives.",
        {
            "failure_class": "healthy",
            "signed_in_via": "pool",
            "evidence": "TLS handshake to 10.1.0.50:5061 completes; encrypted SIP follows",
            "summary": "The phone signs in normally.",
        },
    )


def _loop_scenario(start: float, seed: int, n: int, **kw) -> tuple[Site, Phone]:
    site = Site(seed, start)
    phone = new_phone(site, 71, "00:04:f2:1c:40:9b")
    t = boot(
        site,
        phone,
        start + 2.0,
        ntp_answered=kw.pop("ntp_answered", True),
        ntp_tries=kw.pop("ntp_tries", 1),
    )
    end = run_loop(site, phone, t + 1.0, n, kw.pop("period", 30.0), **kw)
    finish(site, end + 4.0)
    bg.lldp_every(site, start, site.end)
    return site, phone


def tls_version_mismatch(seed: int) -> Result:
    site, phone = _loop_scenario(
        epoch(2012, 6, 5, 7, 58, 21.0),
        seed,
        3,
        cas=[pki.ROOT_SHA1],
        chain=[pki.POOL_SHA1, pki.ROOT_SHA1],
        outcome=f"server_alert:{tls.PROTOCOL_VERSION}",
    )
    return Result(
        site,
        "tls_version_mismatch",
        "pool01 was hardened to TLS 1.1+ only: it answers the phone's TLS 1.0 "
        "ClientHello with a fatal protocol_version alert and closes; the phone loops.",
        {
            "failure_class": "tls_version_mismatch",
            "failing_phase": "connect_server",
            "evidence": "ClientHello offers only TLS 1.0; server alert 70 (protocol_version)",
            "summary": "The pool refuses TLS 1.0, the only version the phone speaks.",
        },
        loop_phone=phone,
    )


def untrusted_root(seed: int) -> Result:
    site, phone = _loop_scenario(
        epoch(2012, 6, 12, 13, 20, 5.0),
        seed,
        3,
        cas=[],
        chain=[pki.POOL_UNTRUSTED, pki.UNPUBLISHED_ROOT],
        outcome=f"client_alert:{tls.UNKNOWN_CA}",
    )
    return Result(
        site,
        "untrusted_root",
        "The pool's certificate was reissued under a new root that was never published "
        "to Active Directory: the LDAP search of the Certification Authorities "
        "container returns nothing and the phone rejects the chain with unknown_ca.",
        {
            "failure_class": "untrusted_root",
            "failing_phase": "connect_server",
            "evidence": "LDAP search returns no cACertificate; client alert 48 (unknown_ca) "
            "after the server's Certificate",
            "summary": "The phone has no copy of the pool's root CA (not published in AD).",
        },
        loop_phone=phone,
    )


def name_mismatch(seed: int) -> Result:
    site, phone = _loop_scenario(
        epoch(2012, 7, 3, 10, 11, 45.0),
        seed,
        3,
        cas=[pki.ROOT_SHA1],
        chain=[pki.POOL_WRONG_NAME, pki.ROOT_SHA1],
        outcome=f"client_alert:{tls.CERTIFICATE_UNKNOWN}",
    )
    return Result(
        site,
        "name_mismatch",
        "The SRV record points at pool01.contoso.local but the server presents a "
        "certificate for fe01.contoso.local only (no SAN for the pool): the phone sends "
        "certificate_unknown after the Certificate and loops.",
        {
            "failure_class": "name_mismatch",
            "failing_phase": "connect_server",
            "expected_name": "pool01.contoso.local",
            "certificate_names": ["fe01.contoso.local"],
            "evidence": "SRV target pool01.contoso.local not in the leaf's CN/SAN; client "
            "alert 46 (certificate_unknown)",
            "summary": "The pool's certificate does not name the pool FQDN.",
        },
        loop_phone=phone,
    )


def expired_certificate(seed: int) -> Result:
    site, phone = _loop_scenario(
        epoch(2013, 2, 20, 8, 30, 9.0),
        seed,
        3,
        cas=[pki.ROOT_SHA1],
        chain=[pki.POOL_SHA1_EXPIRED, pki.ROOT_SHA1],
        outcome=f"client_alert:{tls.CERTIFICATE_EXPIRED}",
        ntp_answered=False,
        ntp_tries=4,
    )
    return Result(
        site,
        "expired_certificate",
        "The pool's certificate expired on 2013-01-15; the phone's NTP requests to the DC "
        "go unanswered, and the phone rejects the chain with certificate_expired.",
        {
            "failure_class": "expired_certificate",
            "failing_phase": "connect_server",
            "ntp_answered": False,
            "evidence": "leaf notAfter 2013-01-15 before the capture time; client alert 45; "
            "NTP requests without replies",
            "summary": "The pool's certificate has expired (and the phone's clock could "
            "not be checked: no NTP answer).",
        },
        loop_phone=phone,
    )


def missing_srv(seed: int) -> Result:
    start = epoch(2012, 8, 21, 9, 3, 30.0)
    site = Site(seed, start)
    del site.internal_dns[("_sipinternaltls._tcp.contoso.com", proto.SRV)]
    phone = new_phone(site, 71, "00:04:f2:1c:40:9b")
    t = boot(site, phone, start + 2.0)
    end = run_loop(
        site,
        phone,
        t + 1.0,
        3,
        30.0,
        cas=[pki.ROOT_SHA1],
        chain=[pki.POOL_SHA1, pki.ROOT_SHA1],
        outcome="complete",
    )
    finish(site, end + 4.0)
    bg.lldp_every(site, start, site.end)
    return Result(
        site,
        "missing_srv",
        "No SIP SRV or fallback A records exist in the internal zone: every lookup "
        "(_sipinternaltls._tcp, _sip._tls, _sipinternal._tcp, sipinternal, sip, "
        "sipexternal) is NXDOMAIN and the phone never opens a connection.",
        {
            "failure_class": "missing_srv",
            "failing_phase": "connect_server",
            "evidence": "NXDOMAIN for all six names; no SYN to 5061 or 443",
            "names": [f"{p}.{SIP_DOMAIN}" for p, _ in SIP_RECORDS],
            "summary": "DNS has no records that lead the phone to a SIP server.",
        },
        loop_phone=phone,
    )


def ldap_sealed(seed: int) -> Result:
    site, phone = _loop_scenario(
        epoch(2012, 9, 11, 15, 40, 2.0),
        seed,
        3,
        cas=[],
        sealed=True,
        chain=[pki.POOL_UNTRUSTED, pki.UNPUBLISHED_ROOT],
        outcome=f"client_alert:{tls.UNKNOWN_CA}",
    )
    return Result(
        site,
        "ldap_sealed",
        "The LDAP bind negotiates NTLM signing and sealing (GSS-SPNEGO), so the search "
        "of the Certification Authorities container and its results are encrypted; the "
        "phone then rejects the pool's chain with unknown_ca.",
        {
            "failure_class": "ldap_sealed",
            "failing_phase": "connect_server",
            "evidence": "SASL-wrapped LDAP after a GSS-SPNEGO bind with NTLMSSP seal; "
            "client alert 48 (unknown_ca)",
            "not_to_say": "no certificate in LDAP (the results cannot be read)",
            "summary": "The root download cannot be checked from the capture because the "
            "LDAP results are sealed; the phone does not trust the pool's root.",
        },
        loop_phone=phone,
    )


def pool_unreachable(seed: int) -> Result:
    site, phone = _loop_scenario(
        epoch(2012, 10, 2, 11, 5, 55.0),
        seed,
        3,
        cas=[pki.ROOT_SHA1],
        chain=[pki.POOL_SHA1, pki.ROOT_SHA1],
        outcome="no_answer",
        alt_port_outcome="refused",
        period=45.0,
    )
    return Result(
        site,
        "pool_unreachable",
        "The SRV and A lookups succeed but pool01 does not answer SYNs on 5061 (a "
        "firewall drops them) and refuses 443 with a RST; the phone loops.",
        {
            "failure_class": "pool_unreachable",
            "failing_phase": "connect_server",
            "evidence": "SYN to 10.1.0.50:5061 retransmitted without SYN-ACK; RST from "
            "10.1.0.50:443",
            "summary": "The pool cannot be reached on 5061 or 443.",
        },
        loop_phone=phone,
    )


def _pkcs7(specs: list[pki.CertSpec]) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

    certs = [x509.load_der_x509_certificate(pki.build(s)) for s in specs]
    return pkcs7.serialize_certificates(certs, Encoding.DER)


def lpe_cert_provisioning(seed: int) -> Result:
    import base64

    from .tcp import CLIENT, SERVER, TcpConn

    start = epoch(2012, 11, 6, 8, 12, 30.0)
    site = Site(seed, start)
    rng = site.rng
    phone = Phone(
        site, "CX600-3D0A71", "10.20.0.88", "00:04:f2:3d:0a:71", "Polycom CX600", "4.0.7577.4066"
    )
    host = phone.host
    # 1. on the untagged port the phone lands in the data VLAN and asks for the voice VLAN
    host.vlan, host.ip = DATA_VLAN, "10.10.0.188"
    data_gw = site.cap.host(
        "vlan10-gw",
        "10.10.0.1",
        mac=site.cap.vlans[DATA_VLAN].gateway_mac,
        vlan=DATA_VLAN,
        role="router",
        ttl=255,
    )
    saved_gw = site.gw
    site.gw = data_gw
    t = phone.dhcp(
        start + 2.0, dns=INTERNAL_DNS, ntp=None, sip_server=None, vendor_class="CPE-OCPHONE"
    )
    t = phone.dhcp_inform(t + 0.3, "CPE-OCPHONE", [proto.opt43_cpe_ocphone(VOICE_VLAN)])
    xid = rng.getrandbits(32)
    t += 0.2
    site.cap.udp(
        t,
        host,
        68,
        site.dc01,
        67,
        proto.bootp(
            1,
            xid,
            phone.mac,
            [
                proto.msg_type(proto.RELEASE),
                proto.opt_ips(54, [site.dc01.ip]),
                proto.client_id(phone.mac),
            ],
            ciaddr=host.ip,
        ),
    )
    # 2. on the voice VLAN: a new lease, then INFORM for the MS-UC-Client options
    site.gw = saved_gw
    host.vlan, host.ip, host.other_ips = VOICE_VLAN, "10.20.0.88", ("10.10.0.188",)
    t = phone.dhcp(t + 1.5, dns=INTERNAL_DNS, ntp=None, sip_server=None)
    t = phone.dhcp_inform(
        t + 0.2,
        "MS-UC-Client",
        [
            proto.opt43_ms_uc_client("lyncweb.contoso.local"),
            proto.opt_sip_server(["pool01.contoso.local"]),
        ],
    )
    attempt = phone.new_attempt(t, "dhcp")
    # 3. time: _ntp._udp SRV, then time.windows.com
    attempt.reach("time")
    t, _, _ = phone.dns(t + 0.4, f"_ntp._udp.{SIP_DOMAIN}", proto.SRV)
    t, _, _ = phone.dns(t + 0.01, "time.windows.com", proto.A)
    t = phone.ntp(t + 0.01, site.time_windows)
    # 4. root chain from the certificate provisioning service over HTTP
    attempt.reach("download_certificate")
    t, _, _ = phone.dns(t + 0.5, "lyncweb.contoso.local", proto.A)
    conn = TcpConn(site.cap, host, phone.port(), site.web, 80, rtt=0.0007)
    t = conn.connect(t + 0.002)
    soap = (
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
        b'<GetRootCertificateChain xmlns="http://schemas.microsoft.com/2010/certprov"/>'
        b"</s:Body></s:Envelope>"
    )
    req = proto.http_request(
        "POST",
        "/CertProv/CertProvisioningService.svc",
        "lyncweb.contoso.local",
        [
            ("Content-Type", "application/soap+xml; charset=utf-8"),
            ("User-Agent", "OC/4.0.7577.4066 (Polycom CX600)"),
        ],
        soap,
    )
    chain_b64 = base64.b64encode(_pkcs7([pki.ROOT_SHA1])).decode()
    body = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
        '<GetRootCertificateChainResponse xmlns="http://schemas.microsoft.com/2010/certprov">'
        f'<CertificateChain encoding="base64-pkcs7">{chain_b64}</CertificateChain>'
        "</GetRootCertificateChainResponse></s:Body></s:Envelope>"
    ).encode()
    resp = proto.http_response(
        200,
        "OK",
        [
            ("Content-Type", "application/soap+xml; charset=utf-8"),
            ("Server", "Microsoft-IIS/7.5"),
            ("X-Powered-By", "ASP.NET"),
        ],
        body,
    )
    t = conn.exchange(t + 0.001, req, resp, think=0.012)
    site.note_certs([pki.ROOT_SHA1], "http")
    t = conn.fin(CLIENT, t + 0.05)
    # 5. user certificate over HTTPS (web services), then SIP over TLS with the pool
    att_web = phone.new_attempt(t + 0.3, "download_certificate")
    site.attempts.remove(att_web)
    phone.attempts.remove(att_web)
    t, web = phone.tls_connect(
        t + 0.3,
        att_web,
        site.web,
        443,
        [pki.WEB_SHA1, pki.ROOT_SHA1],
        "complete",
        sni="lyncweb.contoso.local",
    )
    assert web is not None
    t = web.send(
        CLIENT, tls.application_data(rng, 1900, tls.TLS_RSA_WITH_AES_128_CBC_SHA), t + 0.01
    )
    t = web.send(
        SERVER, tls.application_data(rng, 3400, tls.TLS_RSA_WITH_AES_128_CBC_SHA), t + 0.06
    )
    t = web.fin(CLIENT, t + 0.2)
    attempt.detail["web_services_flow"] = web.flow()
    t, target = phone.find_server(t + 0.5, attempt)
    assert target is not None
    t, conn = phone.tls_connect(
        t + 0.004,
        attempt,
        site.pool,
        target[1],
        [pki.POOL_SHA1, pki.ROOT_SHA1],
        "complete",
        sni="pool01.contoso.local",
    )
    assert conn is not None
    t = phone.sip_register(t, attempt, conn, keepalives=2)
    finish(site, t + 2.0)
    bg.lldp_every(site, start, site.end)
    return Result(
        site,
        "healthy",
        "A Polycom CX600 on Lync Phone Edition: DHCP on the data VLAN with an INFORM for "
        "CPE-OCPHONE (option 43 sub-option 10: voice VLAN 20), a new lease on VLAN 20, an "
        "INFORM for MS-UC-Client (option 43 sub-options 1-5 and option 120), time via "
        "_ntp._udp then time.windows.com, the root chain from the certificate "
        "provisioning service over HTTP, then HTTPS to the web services and SIP over TLS "
        "to the pool: signed in.",
        {
            "failure_class": "healthy",
            "signed_in_via": "pool",
            "evidence": "DHCP INFORM ACKs carry options 43 and 120; root chain in the HTTP "
            "response; TLS handshakes complete",
            "summary": "The Lync Phone Edition device provisions and signs in normally.",
        },
    )


def vlan_multi_phone(seed: int) -> Result:
    start = epoch(2012, 3, 14, 10, 5, 0.0)
    site = Site(seed, start)
    rng = site.rng
    phone = new_phone(site, 57)
    t = boot(site, phone, start + 6.0)
    end = run_loop(
        site,
        phone,
        t + 1.0,
        6,
        30.0,
        cas=[pki.ROOT_SHA256],
        chain=POOL_CHAIN_SHA256,
        outcome="client_fin",
    )
    # a second phone, with the updated firmware, reboots and signs in with the same chain
    other = new_phone(site, 66, "00:04:f2:1c:52:e4", firmware=CX700_FW_NEW)
    t2 = boot(site, other, start + 61.0)
    ocs_attempt(
        site, other, t2 + 1.0, cas=[pki.ROOT_SHA256], chain=POOL_CHAIN_SHA256, outcome="complete"
    )
    finish(site, end + 5.0)
    vlan_background(site, start, site.end, phones=4, calls=2, pcs=2, call_len=20.0)
    lldp(site, start + rng.uniform(0.1, 0.5))
    return Result(
        site,
        "chain_unsupported",
        "A voice VLAN with several phones: four signed in (keep-alives, two calls), one "
        "with updated firmware reboots and signs in, and one (old firmware) loops on the "
        "SHA-256/RSA-4096 chain; PCs on the data VLAN.",
        {
            "failure_class": "chain_unsupported",
            "failing_phase": "connect_server",
            "looping_devices": [phone.host.name],
            "healthy_devices": [other.host.name],
            "evidence": "only CX700-1C3A5E closes after the Certificate; CX700-1C52E4 "
            "completes the handshake with the same chain",
            "summary": "One phone (old firmware) cannot process the SHA-256/RSA-4096 chain "
            "and loops; the others are fine.",
        },
        loop_phone=phone,
    )


FABRIKAM_POOL = "ocspool01.fabrikam.net"


def srv_other_zone(seed: int) -> Result:
    start = epoch(2012, 12, 4, 9, 26, 14.0)
    site = Site(seed, start)
    # Contoso's users were moved to the parent company's pool; the contoso.com SRV record
    # was repointed there. The DCs hold a secondary copy of fabrikam.net, so the answer
    # carries the target's A record in the additional section.
    srv = "_sipinternaltls._tcp.contoso.com"
    site.internal_dns[(srv, proto.SRV)] = [proto.rr_srv(srv, FABRIKAM_POOL, 5061)]
    site.internal_dns[(FABRIKAM_POOL, proto.A)] = [proto.rr_a(FABRIKAM_POOL, "10.40.0.50")]
    phone = new_phone(site, 71, "00:04:f2:1c:40:9b")
    phone.srv_domains = (SIP_DOMAIN, AD_DOMAIN)
    t = boot(site, phone, start + 2.0)
    end = run_loop(
        site,
        phone,
        t + 1.0,
        4,
        30.0,
        cas=[pki.ROOT_SHA1],
        chain=[pki.POOL_SHA1, pki.ROOT_SHA1],
        outcome="complete",
    )
    finish(site, end + 4.0)
    bg.lldp_every(site, start, site.end)
    return Result(
        site,
        "srv_other_zone",
        "After Contoso's users moved to the parent company's pool, "
        "_sipinternaltls._tcp.contoso.com points to ocspool01.fabrikam.net:5061, outside "
        "the SIP domain. The CX700 (strict domain naming) neither resolves nor contacts "
        "that target: it goes on through _sip._tls, _sipinternal._tcp and the sipinternal, "
        "sip and sipexternal A records (all NXDOMAIN), opens no connection and starts over "
        "about every 30 s.",
        {
            "failure_class": "srv_other_zone",
            "failing_phase": "connect_server",
            "queried_name": srv,
            "sip_domain": SIP_DOMAIN,
            "srv_target": FABRIKAM_POOL,
            "srv_port": 5061,
            "srv_target_address": "10.40.0.50",
            "modelled_behaviour": "strict domain naming: the phone uses an SRV target only "
            "if it lies in the SIP domain (contoso.com) or in its own DNS domain from DHCP "
            "option 15 (contoso.local; the other samples' SRV target pool01.contoso.local "
            "stays acceptable). A target elsewhere is not resolved and gets no SYN; the "
            "phone continues with the remaining SRV names and the A-record fallbacks, which "
            "are NXDOMAIN, then loops.",
            "evidence": "SRV answer for _sipinternaltls._tcp.contoso.com names "
            "ocspool01.fabrikam.net:5061 (A 10.40.0.50 in the additional section); no "
            "query for the target and no SYN to 10.40.0.50 or to any 5061/443; the other "
            "five SIP names are NXDOMAIN; same sequence in every attempt",
            "not_to_say": "missing SRV record (the SRV record exists and answers NOERROR)",
            "summary": "The SIP SRV record points outside the SIP domain (to "
            "ocspool01.fabrikam.net), which the phone's strict domain naming refuses, so it "
            "never connects to a server and loops.",
        },
        loop_phone=phone,
    )


def dhcp_options_missing(seed: int) -> Result:
    start = epoch(2012, 11, 27, 7, 52, 8.0)
    site = Site(seed, start)
    rng = site.rng
    phone = Phone(
        site, "CX600-3D1B94", "10.20.0.91", "00:04:f2:3d:1b:94", "Polycom CX600", "4.0.7577.4066"
    )
    # the switch's LLDP-MED network policy puts the phone on voice VLAN 20 (no CPE-OCPHONE)
    t = start + rng.uniform(0.5, 1.5)
    lldp(site, t)
    t = phone.dhcp(
        t + rng.uniform(1.5, 2.5),
        dns=INTERNAL_DNS,
        ntp=[site.dc01.ip],
        sip_server=None,
        web_fqdn=None,
    )
    # before anyone signs in the only domain the phone knows is option 15's
    t, _, _ = phone.dns(t + rng.uniform(0.2, 0.5), f"_ntp._udp.{AD_DOMAIN}", proto.SRV)
    t = phone.ntp(t + 0.01, site.dc01)
    t, _, _ = phone.dns(t + rng.uniform(0.3, 0.8), f"ucupdates-r2.{AD_DOMAIN}", proto.A)
    t += rng.uniform(0.4, 0.9)
    registrar_srv = ["_sipinternaltls._tcp", "_sipinternal._tcp", "_sip._tls"]
    end = t
    for _ in range(5):
        attempt_start = t
        attempt = phone.new_attempt(t, "dhcp")
        end = phone.dhcp_inform(t, "MS-UC-Client", [])
        attempt.detail["dhcp_inform"] = {
            "vendor_class": "MS-UC-Client",
            "requested_options": [43, 120],
            "ack_options": [53, 54],
        }
        # documented fallback: DNS for the registrar, here in the DHCP domain
        lookups = []
        for prefix in registrar_srv:
            name = f"{prefix}.{AD_DOMAIN}"
            end, rcode, _ = phone.dns(end + rng.uniform(0.003, 0.03), name, proto.SRV)
            lookups.append(
                {
                    "name": name,
                    "type": "SRV",
                    "rcode": "NOERROR" if rcode == proto.NOERROR else "NXDOMAIN",
                }
            )
        attempt.detail["dns_lookups"] = lookups
        attempt.failure = "dhcp_options_missing"
        t = max(attempt_start + 20.0 + rng.gauss(0, 0.8), end + 5.0)
    finish(site, end + 4.0)
    bg.lldp_every(site, start, site.end)
    return Result(
        site,
        "dhcp_options_missing",
        "A Polycom CX600 (Lync Phone Edition) comes up on voice VLAN 20 through LLDP-MED "
        "and gets a lease (DNS, domain contoso.local, NTP) from a DHCP server with no UC "
        "options: its DHCPINFORM with vendor class MS-UC-Client asks for options 43 and "
        "120 and the ACK carries neither. Without the certificate provisioning URL or a "
        "registrar it falls back to DNS SRV lookups in contoso.local (NXDOMAIN), makes no "
        "HTTP(S) or SIP connection and repeats the INFORM about every 20 s.",
        {
            "failure_class": "dhcp_options_missing",
            "failing_phase": "dhcp",
            "vendor_class": "MS-UC-Client",
            "missing_options": [43, 120],
            "expected_options": {
                "43": "sub-options 1 MS-UC-Client, 2 https, 3 lyncweb.contoso.local, 4 443, "
                "5 /CertProv/CertProvisioningService.svc",
                "120": "pool01.contoso.local",
            },
            "modelled_behaviour": "PIN sign-in needs the provisioning URL from option 43; "
            "without 43/120 the phone looks for a registrar in DNS (_sipinternaltls._tcp, "
            "_sipinternal._tcp, _sip._tls) in the only domain it knows before sign-in, the "
            "DHCP domain contoso.local, where no SIP records exist; it never reaches the "
            "web services or the pool and repeats DHCPINFORM. The retry interval is an "
            "assumption (undocumented).",
            "evidence": "DHCPINFORM (option 60 MS-UC-Client, option 55 = 43, 120) answered "
            "by a DHCPACK with only options 53 and 54, five times; the lease's OFFER/ACK "
            "lack 43 and 120 as well; SRV lookups in contoso.local NXDOMAIN; no TCP to "
            "lyncweb (80/443) or pool01 (5061)",
            "summary": "The DHCP server has no options 43/120 for MS-UC-Client, so the Lync "
            "Phone Edition device cannot find the certificate provisioning service or a "
            "registrar and keeps asking.",
        },
        loop_phone=phone,
    )


def auth_failure(seed: int) -> Result:
    start = epoch(2012, 11, 20, 8, 41, 37.0)
    site = Site(seed, start)
    phone = new_phone(site, 71, "00:04:f2:1c:40:9b")
    t = boot(site, phone, start + 2.0)
    end = run_loop(
        site,
        phone,
        t + 1.0,
        4,
        30.0,
        cas=[pki.ROOT_SHA1],
        chain=[pki.POOL_SHA1, pki.ROOT_SHA1],
        outcome="complete",
        sip_auth="rejected",
    )
    finish(site, end + 4.0)
    vlan_background(site, start, site.end, phones=1, calls=0, pcs=0)
    return Result(
        site,
        "auth_failure",
        "A CX700 on the SHA-1/RSA-2048 PKI downloads the root over LDAP (its NTLM bind to "
        "dc01 succeeds), completes the TLS handshake with pool01:5061 and registers with "
        "MS-SIPAE NTLM: REGISTER / 401 (NTLM, Kerberos offered) / REGISTER / 401 (NTLM "
        "challenge) / REGISTER (NTLM response) / 401, all as TLS application data; the "
        "phone closes the connection and starts over about every 30 s while another phone "
        "stays signed in to the same pool.",
        {
            "failure_class": "auth_failure",
            "failing_phase": "authenticating",
            "auth_protocol": "NTLM (MS-SIPAE, connectionless, version 3)",
            "sip_final_response": 401,
            "inferred_from": "sizes and timing: SIP is inside TLS",
            "evidence": "every TLS handshake with 10.1.0.50:5061 completes (ClientKeyExchange, "
            "ChangeCipherSpec and Finished both ways); then three short application-data "
            "request/response pairs (TLS records of about 0.8/0.6, 0.95/0.8 and 1.45/0.6 kB: "
            "the last response the size of the first 401, no 1 kB 200 OK, no subscriptions "
            "and no keep-alives); the phone "
            "sends FIN within about 0.1 s and starts over about every 30 s; a signed-in "
            "phone keeps its TLS flow with pool01 open",
            "modelled_cause": "pool01 rejects the NTLM AUTHENTICATE with a final 401. The "
            "DC accepts the same credentials for the LDAP bind, so the cause is on the pool "
            "side (for example an NTLM session-security policy there) and is not visible in "
            "the capture.",
            "summary": "The phone reaches pool01 and the TLS handshake succeeds, but SIP "
            "authentication fails (401 after the NTLM exchange), so it closes and loops.",
        },
        loop_phone=phone,
    )


SCENARIOS = [
    Scenario("cx700-logon-loop", "cx700-logon-loop.pcapng", 1001, logon_loop),
    Scenario("cx700-public-dns-fixed", "cx700-public-dns-fixed.pcapng", 1002, public_dns_fixed),
    Scenario("cx700-healthy", "cx700-healthy.pcap", 1003, healthy),
    Scenario("tls-version-mismatch", "tls-version-mismatch.pcap", 1004, tls_version_mismatch),
    Scenario("untrusted-root", "untrusted-root.pcap.gz", 1005, untrusted_root),
    Scenario("name-mismatch", "name-mismatch.pcapng", 1006, name_mismatch),
    Scenario("expired-certificate", "expired-certificate.pcap", 1007, expired_certificate),
    Scenario("missing-srv", "missing-srv.pcap", 1008, missing_srv),
    Scenario("ldap-sealed", "ldap-sealed.pcapng", 1009, ldap_sealed),
    Scenario("pool-unreachable", "pool-unreachable.pcap.gz", 1010, pool_unreachable),
    Scenario("lpe-cert-provisioning", "lpe-cert-provisioning.pcapng", 1011, lpe_cert_provisioning),
    Scenario("vlan-multi-phone", "vlan-multi-phone.pcapng.gz", 1012, vlan_multi_phone),
    Scenario("srv-other-zone", "srv-other-zone.pcapng", 1013, srv_other_zone),
    Scenario("dhcp-options-missing", "dhcp-options-missing.pcapng", 1014, dhcp_options_missing),
    Scenario("auth-failure", "auth-failure.pcap.gz", 1015, auth_failure),
]

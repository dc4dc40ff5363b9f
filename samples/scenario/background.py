"""Traffic around the phone under study: LLDP, ARP, PCs' DNS and HTTPS, other phones' RTP."""

from __future__ import annotations

from . import proto, tls
from .env import DATA_VLAN, VOICE_VLAN, Site
from .phone import lldp
from .tcp import CLIENT, SERVER, W2K8_SYNACK_OPTIONS, WIN7_SYN_OPTIONS, TcpConn
from .wire import Host

PC_NAMES = [
    "www.msn.com",
    "portal.contoso.local",
    "mail.contoso.com",
    "wpad.contoso.local",
    "isatap.contoso.local",
    "time.windows.com",
]


def lldp_every(site: Site, t0: float, t1: float, period: float = 30.0) -> None:
    t = t0 + site.rng.uniform(0, period)
    while t < t1:
        lldp(site, t)
        t += period


def pc(site: Site, name: str, ip: str, mac: str) -> Host:
    return site.add_device(
        site.cap.host(name, ip, mac=mac, vlan=DATA_VLAN, role="pc", model="Windows 7 workstation")
    )


def pc_activity(
    site: Site,
    host: Host,
    t0: float,
    t1: float,
    *,
    https_every: float = 25.0,
    dns_every: float = 9.0,
    reorder_once: bool = False,
) -> None:
    """A user's PC: DNS lookups to the DCs, HTTPS to the intranet with resumed sessions."""
    rng = site.rng
    port = rng.randint(49200, 52000)
    t = t0 + rng.uniform(0, dns_every)
    while t < t1:
        name = rng.choice(PC_NAMES)
        port += 1
        txid = rng.getrandbits(16)
        site.cap.udp(t, host, port, site.dc01, 53, proto.dns_query(txid, name, proto.A))
        rcode, an, ad, ns = site.resolve(site.dc01, name, proto.A)
        site.cap.udp(
            t + rng.uniform(0.0004, 0.002),
            site.dc01,
            53,
            host,
            port,
            proto.dns_response(
                txid, name, proto.A, rcode=rcode, answers=an, additional=ad, authority=ns
            ),
        )
        t += rng.expovariate(1 / dns_every)
    t = t0 + rng.uniform(1, https_every)
    session_id = rng.randbytes(32)
    first = True
    while t < t1 - 3:
        port += 1
        conn = TcpConn(
            site.cap,
            host,
            port,
            site.intranet,
            443,
            rtt=0.0007,
            windows=(256, 256),
            syn_options=(WIN7_SYN_OPTIONS, W2K8_SYNACK_OPTIONS),
        )
        tt = conn.connect(t)
        hello = tls.record(
            tls.CT_HANDSHAKE,
            tls.client_hello(
                rng,
                tt,
                ciphers=tls.WIN7_CIPHERS,
                session_id=session_id,
                extensions=[
                    tls.ext_server_name("portal.contoso.local"),
                    tls.ext_renegotiation_info(),
                ],
            ),
        )
        tt = conn.send(CLIENT, hello, tt + 0.0004)
        cipher = tls.TLS_RSA_WITH_AES_128_CBC_SHA
        # abbreviated handshake: the server resumes the session, no Certificate
        tt = conn.send(
            SERVER,
            tls.record(
                tls.CT_HANDSHAKE,
                tls.server_hello(
                    rng,
                    tt,
                    cipher=cipher,
                    session_id=session_id,
                    extensions=[tls.ext_renegotiation_info()],
                ),
            )
            + tls.change_cipher_spec()
            + tls.encrypted_finished(rng, cipher),
            tt + conn.rtt + 0.001,
        )
        tt = conn.send(
            CLIENT,
            tls.change_cipher_spec()
            + tls.encrypted_finished(rng, cipher)
            + tls.application_data(rng, rng.randint(600, 900), cipher),
            tt + 0.001,
        )
        size = rng.randint(9000, 24000)
        reorder = 3 if (reorder_once and first) else None
        tt = conn.send(
            SERVER,
            tls.application_data(rng, size, cipher),
            tt + conn.rtt + rng.uniform(0.005, 0.03),
            reorder=reorder,
        )
        conn.fin(CLIENT, tt + rng.uniform(0.3, 2.0))
        first = False
        t += rng.uniform(0.6, 1.4) * https_every


def rtp_call(
    site: Site, a: Host, b: Host, t0: float, duration: float, *, payload: int = 60, pt: int = 114
) -> None:
    """A phone-to-phone call on the voice VLAN: RTP both ways every 20 ms, RTCP every 5 s."""
    rng = site.rng
    pa, pb = 2 * rng.randint(25000, 30000), 2 * rng.randint(25000, 30000)
    for src, dst, sp, dp in ((a, b, pa, pb), (b, a, pb, pa)):
        ssrc = rng.getrandbits(32)
        seq = rng.getrandbits(16)
        ts = rng.getrandbits(32)
        start = t0 + rng.uniform(0.0, 0.08)
        n = int(duration / 0.02)
        for i in range(n):
            t = start + i * 0.02 + rng.uniform(-0.0015, 0.0015)
            site.cap.udp(
                t,
                src,
                sp,
                dst,
                dp,
                proto.rtp(rng, pt, seq + i, ts + 320 * i, ssrc, payload, marker=i == 0),
                tos=0xB8,
                prio=5,
            )
            if i and i % 250 == 0:  # RTCP sender report + SDES every 5 s
                site.cap.udp(
                    t + 0.001,
                    src,
                    sp + 1,
                    dst,
                    dp + 1,
                    proto.rtcp_sr_sdes(
                        ssrc, t, ts + 320 * i, i + 1, (i + 1) * payload, f"{src.name}@contoso.com"
                    ),
                    tos=0xB8,
                    prio=5,
                )


def signed_in_phone(
    site: Site,
    name: str,
    ip: str,
    mac: str,
    t0: float,
    t1: float,
    model: str = "Polycom CX700",
    firmware: str = "1.0.522.101",
) -> Host:
    """A phone that signed in before the capture began: SIP keep-alives on its open TLS flow."""
    rng = site.rng
    host = site.add_device(
        site.cap.host(
            name, ip, mac=mac, vlan=VOICE_VLAN, role="phone", model=model, firmware=firmware
        )
    )
    conn = TcpConn(
        site.cap, host, rng.randint(1030, 1400), site.pool, 5061, rtt=0.0008, tos=0x60, prio=3
    )
    t = t0 + rng.uniform(0, 30)
    cipher = tls.TLS_RSA_WITH_AES_128_CBC_SHA
    while t < t1:
        conn.send(CLIENT, tls.application_data(rng, 4, cipher), t)
        if rng.random() < 0.3:  # a presence NOTIFY from the pool now and then
            conn.send(
                SERVER,
                tls.application_data(rng, rng.randint(700, 1400), cipher),
                t + rng.uniform(3, 10),
            )
        t += 30 + rng.uniform(-0.5, 0.5)
    return host


def arp_noise(site: Site, t0: float, t1: float, hosts: list[Host], every: float = 20.0) -> None:
    """The router refreshing its ARP cache for hosts on the VLANs."""
    rng = site.rng
    t = t0 + rng.uniform(0, every)
    while t < t1 and hosts:
        h = rng.choice(hosts)
        gw = site.cap.vlans[h.vlan]
        gw_host = Host("gw", gw.gateway_ip, mac=gw.gateway_mac, vlan=h.vlan)
        site.arp_exchange(t, gw_host, h.ip, h.mac)
        t += rng.expovariate(1 / every)

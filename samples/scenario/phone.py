"""A desk phone's sign-in steps on the wire: DHCP, time, DC location, root download, TLS, SIP."""

from __future__ import annotations

from . import ldap, pki, proto, sip, tls
from .env import AD_DOMAIN, SIP_DOMAIN, VOICE_VLAN, Attempt, Site
from .tcp import CLIENT, SERVER, TcpConn
from .wire import BROADCAST_MAC, Host

CA_CONTAINER = (
    "CN=Certification Authorities,CN=Public Key Services,CN=Services,"
    "CN=Configuration,DC=contoso,DC=local"
)
PARAM_REQUEST = [1, 15, 3, 6, 44, 46, 47, 31, 33, 249, 43, 252, 42, 119, 120]
SIP_RECORDS = [
    ("_sipinternaltls._tcp", proto.SRV),
    ("_sip._tls", proto.SRV),
    ("_sipinternal._tcp", proto.SRV),
    ("sipinternal", proto.A),
    ("sip", proto.A),
    ("sipexternal", proto.A),
]


class Phone:
    def __init__(
        self,
        site: Site,
        name: str,
        ip: str,
        mac: str,
        model: str,
        firmware: str,
        *,
        user: str = "jdoe",
        vlan: int = VOICE_VLAN,
    ) -> None:
        self.site = site
        self.cap = site.cap
        self.rng = site.rng
        self.host = site.add_device(
            self.cap.host(
                name, ip, mac=mac, vlan=vlan, role="phone", model=model, firmware=firmware
            )
        )
        self.user = user
        self._port = self.rng.randint(1030, 1400)  # Windows CE: sequential ephemeral ports
        self.dns_servers: list[Host] = [site.dc01, site.dc02]
        self.attempts: list[Attempt] = []
        # strict domain naming: SRV targets are used only inside these domains (None: any)
        self.srv_domains: tuple[str, ...] | None = None

    @property
    def mac(self) -> str:
        return self.host.mac

    def port(self) -> int:
        self._port += self.rng.choice((1, 1, 1, 2))
        return self._port

    def new_attempt(self, t: float, phase: str = "locate_dc") -> Attempt:
        a = Attempt(start=t, phase_reached=phase)
        a.detail["device"] = self.host.name
        self.attempts.append(a)
        self.site.attempts.append(a)
        return a

    # ----------------------------------------------------------------- DHCP
    def _dhcp_send(self, t: float, payload: bytes, ciaddr: str = "0.0.0.0") -> None:
        self.cap.udp(
            t,
            self.host,
            68,
            None,
            67,
            payload,
            src_ip=ciaddr,
            dst_ip="255.255.255.255",
            dst_mac=BROADCAST_MAC,
        )

    def _server_options(
        self,
        dns: list[str],
        *,
        domain: str,
        ntp: list[str] | None,
        sip_server: str | None,
        vendor: bytes | None,
    ) -> list[bytes]:
        site = self.site
        opts = [
            proto.opt_ips(54, [site.dc01.ip]),
            proto.opt_u32(51, 8 * 86400),
            proto.opt_u32(58, 4 * 86400),
            proto.opt_u32(59, 7 * 86400),
            proto.opt_ips(1, ["255.255.255.0"]),
            proto.opt_ips(3, [site.gw.ip]),
            proto.opt_ips(6, dns),
            proto.opt_str(15, domain),
            proto.opt_ips(44, [site.dc01.ip]),
            proto.opt(46, b"\x08"),
        ]
        if ntp:
            opts.append(proto.opt_ips(42, ntp))
        opts.append(
            proto.opt_search_list([domain, SIP_DOMAIN] if domain != SIP_DOMAIN else [domain])
        )
        if vendor:
            opts.append(vendor)
        if sip_server:
            opts.append(proto.opt_sip_server([sip_server]))
        return opts

    def dhcp(
        self,
        t: float,
        *,
        dns: list[str],
        domain: str = AD_DOMAIN,
        ntp: list[str] | None = None,
        sip_server: str | None = "pool01.contoso.local",
        vendor_class: str = "MS-UC-Client",
        web_fqdn: str | None = "lyncweb.contoso.local",
    ) -> float:
        """DISCOVER / OFFER / REQUEST / ACK through the VLAN's relay agent.

        web_fqdn None: the scope has no option 43 for MS-UC-Client (nor 120 without
        sip_server), as on a DHCP server never set up for UC devices.
        """
        site, rng = self.site, self.rng
        xid = rng.getrandbits(32)
        client = [
            proto.client_id(self.mac),
            proto.opt_str(12, self.host.name.split(".")[0]),
            proto.opt_str(60, vendor_class),
        ]
        vendor = (
            proto.opt43_ms_uc_client(web_fqdn)
            if vendor_class == "MS-UC-Client" and web_fqdn
            else None
        )
        server_opts = self._server_options(
            dns, domain=domain, ntp=ntp, sip_server=sip_server, vendor=vendor
        )
        self._dhcp_send(
            t,
            proto.bootp(
                1,
                xid,
                self.mac,
                [proto.msg_type(proto.DISCOVER), *client, proto.param_request(PARAM_REQUEST)],
            ),
        )
        t += rng.uniform(0.004, 0.012)
        relay = dict(yiaddr=self.host.ip, giaddr=site.gw.ip, siaddr=site.dc01.ip)
        self.cap.udp(
            t,
            site.gw,
            67,
            self.host,
            68,
            proto.bootp(2, xid, self.mac, [proto.msg_type(proto.OFFER), *server_opts], **relay),
        )
        t += rng.uniform(0.02, 0.2)
        self._dhcp_send(
            t,
            proto.bootp(
                1,
                xid,
                self.mac,
                [
                    proto.msg_type(proto.REQUEST),
                    *client,
                    proto.opt_ips(50, [self.host.ip]),
                    proto.opt_ips(54, [site.dc01.ip]),
                    proto.param_request(PARAM_REQUEST),
                ],
                secs=1,
            ),
        )
        t += rng.uniform(0.003, 0.01)
        self.cap.udp(
            t,
            site.gw,
            67,
            self.host,
            68,
            proto.bootp(2, xid, self.mac, [proto.msg_type(proto.ACK), *server_opts], **relay),
        )
        self.dns_servers = [h for ip in dns for h in self._known_hosts() if h.ip == ip]
        # duplicate address check, then find the gateway
        t += rng.uniform(0.05, 0.3)
        self.site.gratuitous_arp(t, self.host)
        t += rng.uniform(0.5, 1.1)
        return self.site.arp_exchange(t, self.host, site.gw.ip, site.gw.mac)

    def dhcp_inform(self, t: float, vendor_class: str, server_opts: list[bytes]) -> float:
        """DHCPINFORM (broadcast) for vendor options; the server answers unicast with an ACK."""
        site, rng = self.site, self.rng
        xid = rng.getrandbits(32)
        wanted = [43, 120] if vendor_class == "MS-UC-Client" else [43]
        self._dhcp_send(
            t,
            proto.bootp(
                1,
                xid,
                self.mac,
                [
                    proto.msg_type(proto.INFORM),
                    proto.client_id(self.mac),
                    proto.opt_str(60, vendor_class),
                    proto.param_request(wanted),
                ],
                ciaddr=self.host.ip,
            ),
            ciaddr=self.host.ip,
        )
        t += rng.uniform(0.002, 0.006)
        self.cap.udp(
            t,
            site.dc01,
            67,
            self.host,
            68,
            proto.bootp(
                2,
                xid,
                self.mac,
                [proto.msg_type(proto.ACK), proto.opt_ips(54, [site.dc01.ip]), *server_opts],
                ciaddr=self.host.ip,
            ),
        )
        return t

    def _known_hosts(self) -> list[Host]:
        s = self.site
        return [s.dc01, s.dc02, s.pub_dns1, s.pub_dns2]

    # ------------------------------------------------------------- DNS etc.
    def dns(self, t: float, name: str, qtype: int) -> tuple[float, int, list]:
        """One query to the first DNS server and its answer; returns (t, rcode, answers)."""
        server = self.dns_servers[0]
        txid = self.rng.getrandbits(16)
        sport = self.port()
        self.cap.udp(t, self.host, sport, server, 53, proto.dns_query(txid, name, qtype))
        rcode, answers, additional, authority = self.site.resolve(server, name, qtype)
        delay = (
            self.rng.uniform(0.018, 0.035)
            if server.role == "public_dns"
            else self.rng.uniform(0.0004, 0.0016)
        )
        t += delay
        self.cap.udp(
            t,
            server,
            53,
            self.host,
            sport,
            proto.dns_response(
                txid,
                name,
                qtype,
                rcode=rcode,
                answers=answers,
                additional=additional,
                authority=authority,
                aa=server.role != "public_dns",
            ),
        )
        return t, rcode, answers

    def nbns(self, t: float, name: str) -> float:
        """Three broadcast name queries nobody answers (no WINS entry, no such host)."""
        txid = self.rng.getrandbits(16)
        bcast = "10.20.0.255"
        for _ in range(3):
            self.cap.udp(
                t,
                self.host,
                137,
                None,
                137,
                proto.nbns_query(txid, name),
                dst_ip=bcast,
                dst_mac=BROADCAST_MAC,
            )
            t += 0.75 + self.rng.uniform(0, 0.01)
        return t

    def ntp(
        self,
        t: float,
        server: Host,
        *,
        answered: bool = True,
        tries: int = 1,
        clock_offset: float = 0.0,
    ) -> float:
        """SNTP request(s); the phone's clock is off by clock_offset until it hears back."""
        wait = 1.0
        for _ in range(tries):
            req = proto.ntp_request(t + clock_offset)
            self.cap.udp(t, self.host, 123, server, 123, req)
            if answered:
                rtt = 0.0009 if server.hops <= 1 else self.rng.uniform(0.02, 0.06)
                recv = t + rtt / 2
                self.cap.udp(
                    t + rtt,
                    server,
                    123,
                    self.host,
                    123,
                    proto.ntp_response(
                        req[40:48],
                        recv,
                        recv + 0.00004,
                        "10.1.0.1" if server.hops <= 1 else "157.56.0.1",
                        t - 37.0,
                    ),
                )
                return t + rtt
            t += wait
            wait *= 2
        return t

    # ------------------------------------------------------------ LDAP
    def locate_dc(self, t: float, attempt: Attempt) -> tuple[float, Host | None]:
        attempt.reach("locate_dc")
        t, rcode, _answers = self.dns(t, f"_ldap._tcp.dc._msdcs.{AD_DOMAIN}", proto.SRV)
        if rcode != proto.NOERROR:
            attempt.detail["dc_lookup"] = "NXDOMAIN"
            return t, None
        return t, self.site.dc01

    def download_root(
        self, t: float, attempt: Attempt, dc: Host, cas: list[pki.CertSpec], *, sealed: bool = False
    ) -> float:
        """NTLM (GSS-SPNEGO) bind, rootDSE read, search of the CA container, unbind."""
        attempt.reach("download_certificate")
        rng, site = self.rng, self.site
        conn = TcpConn(
            self.cap, self.host, self.port(), dc, 389, rtt=0.0006, windows=(32768, 65535)
        )
        t = conn.connect(t + 0.0005)
        flags = ldap.BASE_FLAGS | (ldap.SEAL_FLAGS if sealed else 0)
        filetime = int((t + 11644473600) * 10_000_000)
        tinfo = ldap.ntlm_target_info("CONTOSO", "DC01", AD_DOMAIN, f"dc01.{AD_DOMAIN}", filetime)
        mech = "GSS-SPNEGO"
        req = ldap.message(
            1, ldap.bind_request_sasl(mech, ldap.spnego_init(ldap.ntlm_negotiate(flags)))
        )
        resp = ldap.message(
            1,
            ldap.bind_response(
                ldap.SASL_BIND_IN_PROGRESS,
                ldap.spnego_resp(
                    1, ldap.ntlm_challenge(rng, flags, "CONTOSO", tinfo), with_mech=True
                ),
            ),
        )
        t = conn.exchange(t + 0.003, req, resp, think=rng.uniform(0.0005, 0.002))
        auth = ldap.ntlm_authenticate(
            rng, flags, "CONTOSO", self.user, self.host.name.split(".")[0].upper(), tinfo, filetime
        )
        req = ldap.message(2, ldap.bind_request_sasl(mech, ldap.spnego_resp(None, auth)))
        resp = ldap.message(2, ldap.bind_response(ldap.SUCCESS, ldap.spnego_resp(0)))
        t = conn.exchange(t + rng.uniform(0.02, 0.06), req, resp, think=rng.uniform(0.004, 0.012))
        seqno = [0]

        def wrap(pdu: bytes) -> bytes:
            if not sealed:
                return pdu
            seqno[0] += 1
            return ldap.sasl_sealed(rng, len(pdu), seqno[0] - 1)

        req = ldap.message(
            3,
            ldap.search_request(
                "",
                ldap.SCOPE_BASE,
                ldap.filter_present("objectClass"),
                ["configurationNamingContext", "defaultNamingContext"],
            ),
        )
        resp = ldap.message(
            3,
            ldap.search_res_entry(
                "",
                [
                    ("configurationNamingContext", [b"CN=Configuration,DC=contoso,DC=local"]),
                    ("defaultNamingContext", [b"DC=contoso,DC=local"]),
                ],
            ),
        ) + ldap.message(3, ldap.search_res_done())
        t = conn.exchange(
            t + rng.uniform(0.003, 0.01), wrap(req), wrap(resp), think=rng.uniform(0.0003, 0.001)
        )
        req = ldap.message(
            4,
            ldap.search_request(
                CA_CONTAINER,
                ldap.SCOPE_ONE,
                ldap.filter_equal("objectClass", "certificationAuthority"),
                ["cACertificate"],
            ),
        )
        entries = b""
        for spec in cas:
            cn = dict(spec.subject)["CN"]
            entries += wrap(
                ldap.message(
                    4,
                    ldap.search_res_entry(
                        f"CN={cn},{CA_CONTAINER}", [("cACertificate", [pki.build(spec)])]
                    ),
                )
            )
        resp = entries + wrap(ldap.message(4, ldap.search_res_done()))
        t = conn.exchange(
            t + rng.uniform(0.003, 0.01), wrap(req), resp, think=rng.uniform(0.0005, 0.002)
        )
        attempt.detail["ldap_sealed"] = sealed
        attempt.detail["ldap_ca_entries"] = len(cas)
        if not sealed:
            site.note_certs(cas, "ldap")
        else:
            site.note_certs(cas, "ldap_sealed")
        t = conn.send(
            CLIENT, wrap(ldap.message(5, ldap.unbind_request())), t + rng.uniform(0.01, 0.04)
        )
        return conn.fin(CLIENT, t + rng.uniform(0.0002, 0.001))

    # ------------------------------------------------------------- SIP
    def find_server(
        self, t: float, attempt: Attempt, order=SIP_RECORDS, domain: str = SIP_DOMAIN
    ) -> tuple[float, tuple[str, int] | None]:
        """DNS lookups in the documented order until one answers; returns (host, port)."""
        attempt.reach("connect_server")
        tried = []
        for prefix, qtype in order:
            name = f"{prefix}.{domain}"
            t, rcode, answers = self.dns(t + self.rng.uniform(0.002, 0.02), name, qtype)
            tried.append(
                {
                    "name": name,
                    "type": "SRV" if qtype == proto.SRV else "A",
                    "rcode": "NOERROR" if rcode == proto.NOERROR else "NXDOMAIN",
                }
            )
            if rcode == proto.NOERROR and answers:
                if qtype == proto.SRV:
                    target = answers[0].target
                    target = (target.decode() if isinstance(target, bytes) else target).rstrip(".")
                    if not self._srv_target_allowed(target):
                        # strict naming: the target is outside the domains the phone trusts;
                        # it is neither resolved nor contacted, and the search goes on
                        tried[-1].update(target=target, port=answers[0].port, used=False)
                        continue
                attempt.detail["dns_lookups"] = tried
                if qtype == proto.SRV:
                    # the phone resolves the SRV target itself as well
                    t, _, _ = self.dns(t + self.rng.uniform(0.001, 0.004), target, proto.A)
                    return t, (target, answers[0].port)
                return t, (name, 5061)
        attempt.detail["dns_lookups"] = tried
        refused = any(x.get("used") is False for x in tried)
        attempt.failure = "srv_target_outside_domain" if refused else "dns_nxdomain"
        return t, None

    def _srv_target_allowed(self, target: str) -> bool:
        if self.srv_domains is None:
            return True
        return any(target == d or target.endswith("." + d) for d in self.srv_domains)

    def tls_connect(
        self,
        t: float,
        attempt: Attempt,
        server: Host,
        port: int,
        chain: list[pki.CertSpec],
        outcome: str,
        *,
        sni: str | None = None,
        server_version: int = tls.TLS10,
        cipher: int = tls.TLS_RSA_WITH_AES_128_CBC_SHA,
        lose: int | None = None,
        reorder: int | None = None,
        rtt: float = 0.0008,
    ) -> tuple[float, TcpConn | None]:
        """TCP + TLS 1.0 handshake ending as outcome says.

        outcome: "complete", "client_fin" (drop right after the server's Certificate),
        "client_alert:N", "server_alert:N", "no_answer" (SYNs unanswered), "refused".
        """
        attempt.reach("connect_server")
        rng = self.rng
        conn = TcpConn(
            self.cap,
            self.host,
            self.port(),
            server,
            port,
            rtt=rtt,
            windows=(32768, 65535),
            tos=0x60,
            prio=3,
        )
        attempt.tls_flow = conn.flow()
        if outcome == "no_answer":
            attempt.failure = "tcp_no_answer"
            return conn.syn_unanswered(t), None
        if outcome == "refused":
            attempt.failure = "tcp_reset"
            return conn.syn_refused(t), None
        t = conn.connect(t)
        ext = [tls.ext_server_name(sni), tls.ext_renegotiation_info()] if sni else None
        hello = tls.record(tls.CT_HANDSHAKE, tls.client_hello(rng, t, extensions=ext))
        t = conn.send(CLIENT, hello, t + rng.uniform(0.0003, 0.002))
        t += conn.rtt + rng.uniform(0.0005, 0.003)
        if outcome.startswith("server_alert"):
            desc = int(outcome.split(":")[1])
            t = conn.send(SERVER, tls.alert(tls.ALERT_FATAL, desc, tls.TLS10), t)
            attempt.failure = f"server_alert_{desc}"
            return conn.fin(SERVER, t + 0.0002), None
        flight = tls.record(
            tls.CT_HANDSHAKE,
            tls.server_hello(rng, t, version=server_version, cipher=cipher)
            + tls.certificate([pki.build(s) for s in chain])
            + tls.server_hello_done(),
            server_version,
        )
        self.site.note_certs(chain, "tls")
        t = conn.send(SERVER, flight, t, lose=lose, reorder=reorder)
        attempt.detail["server_certificate_chain"] = [dict(s.subject)["CN"] for s in chain]
        if outcome == "client_fin":
            attempt.failure = "client_closed_after_certificate"
            return conn.fin(CLIENT, t + rng.uniform(0.02, 0.12)), None
        if outcome.startswith("client_alert"):
            desc = int(outcome.split(":")[1])
            attempt.failure = f"client_alert_{desc}"
            t = conn.send(CLIENT, tls.alert(tls.ALERT_FATAL, desc), t + rng.uniform(0.02, 0.12))
            return conn.fin(CLIENT, t + rng.uniform(0.0005, 0.002)), None
        assert outcome == "complete", outcome
        keyx = (
            tls.record(
                tls.CT_HANDSHAKE, tls.client_key_exchange(rng, pki.public_modulus_bytes(chain[0]))
            )
            + tls.change_cipher_spec()
            + tls.encrypted_finished(rng, cipher)
        )
        t = conn.send(CLIENT, keyx, t + rng.uniform(0.04, 0.15))
        t = conn.send(
            SERVER,
            tls.change_cipher_spec() + tls.encrypted_finished(rng, cipher),
            t + conn.rtt + rng.uniform(0.002, 0.006),
        )
        attempt.detail["tls"] = "handshake_complete"
        return t, conn

    def sip_register(
        self,
        t: float,
        attempt: Attempt,
        conn: TcpConn,
        *,
        cipher: int = tls.TLS_RSA_WITH_AES_128_CBC_SHA,
        keepalives: int = 3,
        keepalive_period: float = 30.0,
        reorder: int | None = None,
    ) -> float:
        """REGISTER / 401 / REGISTER / 200, then subscriptions and keep-alives, all encrypted."""
        rng = self.rng

        def app(n: int) -> bytes:
            return tls.application_data(rng, n, cipher)

        def rt(t: float, req: int, resp: int, **kw) -> float:
            t = conn.send(CLIENT, app(req), t)
            return conn.send(SERVER, app(resp), t + conn.rtt + rng.uniform(0.003, 0.02), **kw)

        attempt.reach("authenticating")
        t = rt(t + rng.uniform(0.005, 0.02), rng.randint(720, 820), rng.randint(560, 640))
        t = rt(t + rng.uniform(0.03, 0.08), rng.randint(1150, 1260), rng.randint(1010, 1090))
        attempt.reach("signed_in")
        # roaming contacts and presence subscriptions: the contact list spans segments
        t = rt(
            t + rng.uniform(0.05, 0.2),
            rng.randint(900, 1000),
            rng.randint(5200, 6400),
            reorder=reorder,
        )
        t = rt(t + rng.uniform(0.05, 0.2), rng.randint(1100, 1300), rng.randint(700, 800))
        t = rt(t + rng.uniform(0.3, 0.9), rng.randint(600, 700), rng.randint(400, 460))
        for _ in range(keepalives):
            t += keepalive_period + rng.uniform(-0.4, 0.4)
            t = conn.send(CLIENT, app(4), t)  # CRLFCRLF keep-alive
        return t

    def sip_register_rejected(
        self,
        t: float,
        attempt: Attempt,
        conn: TcpConn,
        server_fqdn: str,
        *,
        cipher: int = tls.TLS_RSA_WITH_AES_128_CBC_SHA,
    ) -> float:
        """MS-SIPAE NTLM registration that the pool refuses, then the phone closes.

        REGISTER (no credentials) / 401 offering NTLM and Kerberos; REGISTER (NTLM, empty
        gssapi-data) / 401 with the NTLM CHALLENGE; REGISTER with the AUTHENTICATE / a final
        401 with fresh offers. All of it is TLS application data: the record sizes come from
        the real texts (``sip.py``), the ciphertext is random.
        """
        rng = self.rng
        attempt.reach("authenticating")
        d = sip.Dialog(rng, f"sip:{self.user}@{SIP_DOMAIN}", conn.endpoint(CLIENT), server_fqdn)
        flags = ldap.BASE_FLAGS | ldap.NTLM_SIGN | ldap.NTLM_KEY_EXCH | ldap.NTLM_DATAGRAM
        filetime = int((t + 11644473600) * 10_000_000)
        host = server_fqdn.split(".")[0].upper()
        tinfo = ldap.ntlm_target_info("CONTOSO", host, AD_DOMAIN, server_fqdn, filetime)
        challenge = ldap.ntlm_challenge(rng, flags, "CONTOSO", tinfo)
        auth = ldap.ntlm_authenticate(
            rng, flags, "CONTOSO", self.user, self.host.name.upper(), tinfo, filetime
        )
        opaque = rng.randbytes(4).hex().upper()
        exchanges = []

        def rt(t: float, request: bytes, label: str, think: float, response_of) -> float:
            req = tls.application_data(rng, len(request), cipher)
            t = conn.send(CLIENT, req, t)
            t_resp = t + conn.rtt + think
            response = response_of(t_resp)
            resp = tls.application_data(rng, len(response), cipher)
            exchanges.append(
                {
                    "request": request.split(b"\r\n", 1)[0].decode().split(" ")[0],
                    "request_sip_bytes": len(request),
                    "request_tls_bytes": len(req),
                    "response": label,
                    "response_sip_bytes": len(response),
                    "response_tls_bytes": len(resp),
                }
            )
            return conn.send(SERVER, resp, t_resp)

        t = rt(
            t + rng.uniform(0.005, 0.02),
            sip.register(d),
            "401 Unauthorized (NTLM and Kerberos offered)",
            rng.uniform(0.003, 0.012),
            lambda ts: sip.unauthorized(d, ts, sip.offers(d)),
        )
        t = rt(
            t + rng.uniform(0.02, 0.06),
            sip.register(d, sip.ntlm_request(d)),
            "401 Unauthorized (NTLM CHALLENGE in gssapi-data)",
            rng.uniform(0.004, 0.015),
            lambda ts: sip.unauthorized(d, ts, sip.ntlm_challenge(d, challenge, opaque)),
        )
        # the phone's CE CPU takes a while over the NTLMv2 response
        t = rt(
            t + rng.uniform(0.08, 0.2),
            sip.register(d, sip.ntlm_response(d, auth, opaque)),
            "401 Unauthorized (final: NTLM AUTHENTICATE rejected, fresh offers)",
            rng.uniform(0.01, 0.04),  # the pool checks the response with the DC
            lambda ts: sip.unauthorized(d, ts, sip.offers(d)),
        )
        attempt.detail["sip_exchanges"] = exchanges
        attempt.failure = "sip_401"
        return conn.fin(CLIENT, t + rng.uniform(0.03, 0.12))


def lldp(site: Site, t: float) -> None:
    site.cap.ether(
        t,
        "00:1e:7a:3d:91:8c",
        "01:80:c2:00:00:0e",
        VOICE_VLAN,
        0x88CC,
        proto.lldp_med(
            "00:1e:7a:3d:91:8c", "Gi1/0/12", "sw-fl3-01.contoso.local", VOICE_VLAN, "10.20.0.2"
        ),
    )

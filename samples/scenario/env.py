"""The site (VLANs, servers, DNS views) and the capture's bookkeeping for the ground truth."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from . import pki, proto
from .wire import BROADCAST_MAC, ETH_ARP, Capture, Host, Vlan

VOICE_VLAN, DATA_VLAN = 20, 10
GW_MAC = {VOICE_VLAN: "00:1b:54:c2:40:01", DATA_VLAN: "00:1b:54:c2:40:02"}
SWITCH_MAC = "00:1e:7a:3d:91:8c"
SIP_DOMAIN = "contoso.com"
AD_DOMAIN = "contoso.local"
PHASES = [
    "dhcp",
    "time",
    "locate_dc",
    "download_certificate",
    "connect_server",
    "authenticating",
    "signed_in",
]


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="microseconds")


@dataclass
class Attempt:
    start: float
    phase_reached: str = "dhcp"
    failure: str | None = None
    tls_flow: dict | None = None
    detail: dict = field(default_factory=dict)

    def reach(self, phase: str) -> None:
        if PHASES.index(phase) > PHASES.index(self.phase_reached):
            self.phase_reached = phase


class Site:
    """Contoso's network as seen from a SPAN of the access switch (VLANs 10 and 20)."""

    def __init__(self, seed: int, start: float) -> None:
        self.cap = Capture(seed)
        self.rng = self.cap.rng
        self.start = start
        self.cap.vlans = {
            VOICE_VLAN: Vlan(VOICE_VLAN, "10.20.0.0/24", GW_MAC[VOICE_VLAN], "10.20.0.1"),
            DATA_VLAN: Vlan(DATA_VLAN, "10.10.0.0/24", GW_MAC[DATA_VLAN], "10.10.0.1"),
        }
        h = self.cap.host
        self.gw = h(
            "vlan20-gw",
            "10.20.0.1",
            mac=GW_MAC[VOICE_VLAN],
            vlan=VOICE_VLAN,
            role="router",
            model="Cisco Catalyst 3560 SVI",
            ttl=255,
        )
        busy = (1, 9)
        self.dc01 = h(
            "dc01.contoso.local",
            "10.1.0.10",
            role="dc",
            model="Windows Server 2008 R2 (AD DS, DNS, DHCP, NTP)",
            hops=1,
            id_stride=busy,
        )
        self.dc02 = h(
            "dc02.contoso.local",
            "10.1.0.11",
            role="dc",
            model="Windows Server 2008 R2 (AD DS, DNS)",
            hops=1,
            id_stride=busy,
        )
        self.pool = h(
            "pool01.contoso.local",
            "10.1.0.50",
            role="pool",
            model="Office Communications Server 2007 R2 Front End",
            hops=1,
            id_stride=busy,
        )
        self.web = h(
            "lyncweb.contoso.local",
            "10.1.0.55",
            role="web",
            model="Lync Server 2010 web services (IIS 7.5)",
            hops=1,
            id_stride=busy,
        )
        self.intranet = h(
            "portal.contoso.local",
            "10.1.0.80",
            role="web",
            model="SharePoint 2010 (IIS 7.5)",
            hops=1,
            id_stride=busy,
        )
        self.edge = h(
            "sip.contoso.com",
            "203.0.113.10",
            role="edge",
            model="OCS 2007 R2 Access Edge (external interface)",
            hops=3,
            id_stride=busy,
        )
        self.pub_dns1 = h(
            "google-public-dns-a.google.com",
            "8.8.8.8",
            role="public_dns",
            model="public DNS resolver",
            ttl=64,
            hops=9,
            id_stride=(0, 0),
        )
        self.pub_dns2 = h(
            "google-public-dns-b.google.com",
            "8.8.4.4",
            role="public_dns",
            model="public DNS resolver",
            ttl=64,
            hops=9,
            id_stride=(0, 0),
        )
        self.time_windows = h(
            "time.windows.com", "65.55.21.24", role="ntp", model="public NTP server", hops=12
        )
        self.devices: list[Host] = []
        self.attempts: list[Attempt] = []
        self.certs: dict[pki.CertSpec, set[str]] = {}
        # DNS: internal view (the DCs) and the public view
        self.internal_dns = {
            ("_ldap._tcp.dc._msdcs.contoso.local", proto.SRV): [
                proto.rr_srv(
                    "_ldap._tcp.dc._msdcs.contoso.local", "dc01.contoso.local", 389, 0, 100, 600
                ),
                proto.rr_srv(
                    "_ldap._tcp.dc._msdcs.contoso.local", "dc02.contoso.local", 389, 0, 100, 600
                ),
            ],
            ("dc01.contoso.local", proto.A): [proto.rr_a("dc01.contoso.local", "10.1.0.10")],
            ("dc02.contoso.local", proto.A): [proto.rr_a("dc02.contoso.local", "10.1.0.11")],
            ("_sipinternaltls._tcp.contoso.com", proto.SRV): [
                proto.rr_srv("_sipinternaltls._tcp.contoso.com", "pool01.contoso.local", 5061)
            ],
            ("pool01.contoso.local", proto.A): [proto.rr_a("pool01.contoso.local", "10.1.0.50")],
            ("lyncweb.contoso.local", proto.A): [proto.rr_a("lyncweb.contoso.local", "10.1.0.55")],
            ("portal.contoso.local", proto.A): [proto.rr_a("portal.contoso.local", "10.1.0.80")],
            ("mail.contoso.com", proto.A): [proto.rr_a("mail.contoso.com", "10.1.0.70")],
            ("www.msn.com", proto.A): [proto.rr_a("www.msn.com", "65.55.17.37", 300)],
            ("time.windows.com", proto.A): [proto.rr_a("time.windows.com", "65.55.21.24", 300)],
        }
        self.public_dns = {
            ("_sip._tls.contoso.com", proto.SRV): [
                proto.rr_srv("_sip._tls.contoso.com", "sip.contoso.com", 443)
            ],
            ("sip.contoso.com", proto.A): [proto.rr_a("sip.contoso.com", "203.0.113.10", 3600)],
            ("access.contoso.com", proto.A): [
                proto.rr_a("access.contoso.com", "203.0.113.10", 3600)
            ],
            ("time.windows.com", proto.A): [proto.rr_a("time.windows.com", "65.55.21.24", 300)],
            ("www.msn.com", proto.A): [proto.rr_a("www.msn.com", "65.55.17.37", 300)],
        }

    # ------------------------------------------------------------ helpers
    def hosts_on(self, vlan: int) -> list[Host]:
        return [d for d in self.devices if d.vlan == vlan]

    def add_device(self, host: Host) -> Host:
        self.devices.append(host)
        return host

    def note_certs(self, specs: list[pki.CertSpec], via: str) -> None:
        for s in specs:
            self.certs.setdefault(s, set()).add(via)

    def dns_view(self, server: Host) -> dict:
        return self.public_dns if server.role == "public_dns" else self.internal_dns

    def soa_for(self, server: Host, name: str) -> list:
        if server.role != "public_dns":
            zone = "contoso.local" if name.endswith("contoso.local") else "contoso.com"
            return [proto.rr_soa(zone, f"dc01.{AD_DOMAIN}", f"hostmaster.{AD_DOMAIN}", 2012031401)]
        if name.endswith("contoso.com"):
            return [
                proto.rr_soa("contoso.com", "ns1.contoso.com", "hostmaster.contoso.com", 2012020101)
            ]
        return [proto.rr_soa("", "a.root-servers.net", "nstld.verisign-grs.com", 2012031400, 86400)]

    def resolve(self, server: Host, name: str, qtype: int) -> tuple[int, list, list, list]:
        """(rcode, answers, additional, authority) that server gives for name/qtype."""
        view = self.dns_view(server)
        answers = view.get((name, qtype))
        if answers is None:
            return proto.NXDOMAIN, [], [], self.soa_for(server, name)
        additional = []
        if qtype == proto.SRV:
            for rr in answers:
                target = (
                    rr.target.decode().rstrip(".")
                    if isinstance(rr.target, bytes)
                    else rr.target.rstrip(".")
                )
                additional += view.get((target, proto.A), [])
        return proto.NOERROR, answers, additional, []

    def arp_exchange(
        self, t: float, asker: Host, target_ip: str, target_mac: str, reply: bool = True
    ) -> float:
        self.cap.ether(
            t,
            asker.mac,
            BROADCAST_MAC,
            asker.vlan,
            ETH_ARP,
            proto.arp(1, asker.mac, asker.ip, "00:00:00:00:00:00", target_ip),
        )
        if reply:
            t += self.rng.uniform(0.0002, 0.0015)
            self.cap.ether(
                t,
                target_mac,
                asker.mac,
                asker.vlan,
                ETH_ARP,
                proto.arp(2, target_mac, target_ip, asker.mac, asker.ip),
            )
        return t

    def gratuitous_arp(self, t: float, host: Host) -> None:
        self.cap.ether(
            t,
            host.mac,
            BROADCAST_MAC,
            host.vlan,
            ETH_ARP,
            proto.arp(1, host.mac, host.ip, "00:00:00:00:00:00", host.ip),
        )

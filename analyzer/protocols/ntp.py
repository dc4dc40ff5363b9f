"""NTP (RFC 5905) over UDP 123: did the phone's time sync work, and what time was it told?

Certificate validity is judged against the phone's clock, so a phone whose NTP queries go
unanswered, or whose server reports a time far from the capture's, explains an
"expired" or "not yet valid" certificate.

>>> msg = parse_ntp(bytes.fromhex("1c0203e8") + bytes(8) + b"GPS\\x00" + bytes(24)
...                 + (3_540_000_000 << 32).to_bytes(8, "big"))
>>> msg.mode_name, msg.stratum, msg.reference_id, msg.transmit_ns
('server', 2, '71.80.83.0', 1331011200000000000)
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import ClassVar

from analyzer.capture.pipeline import FlowInfo
from analyzer.errors import Malformed
from analyzer.protocols.base import Column, Envelope, Schema, Sink
from analyzer.protocols.buffer import Buffer
from analyzer.protocols.registry import ProtocolModule

NTP_PORT = 123
#: Seconds from the NTP era origin (1900-01-01) to the Unix epoch.
NTP_UNIX_OFFSET = 2_208_988_800
MODE_NAMES = {
    0: "reserved",
    1: "symmetric_active",
    2: "symmetric_passive",
    3: "client",
    4: "server",
    5: "broadcast",
    6: "control",
    7: "private",
}


@dataclass(frozen=True, slots=True)
class NtpMessage:
    """One NTP header; timestamps in ns since the Unix epoch (None when zero)."""

    leap: int
    version: int
    mode: int
    stratum: int
    poll: int
    precision: int
    root_delay_s: float
    root_dispersion_s: float
    reference_id: str
    reference_ns: int | None
    origin_ns: int | None
    receive_ns: int | None
    transmit_ns: int | None

    @property
    def mode_name(self) -> str:
        return MODE_NAMES[self.mode]


def _timestamp(raw: int) -> int | None:
    """An NTP 64-bit timestamp (32.32 fixed point since 1900) in Unix ns; 0 means unset."""
    if raw == 0:
        return None
    seconds, fraction = raw >> 32, raw & 0xFFFFFFFF
    return (seconds - NTP_UNIX_OFFSET) * 1_000_000_000 + (fraction * 1_000_000_000 >> 32)


def _reference_id(raw: bytes, stratum: int) -> str:
    # Stratum 0-1: a four-letter source code (kiss code or "GPS"); above: the upstream
    # server's IPv4 address (or an IPv6 hash, shown the same way).
    if stratum <= 1:
        return raw.rstrip(b"\x00").decode("ascii", "replace")
    return socket.inet_ntoa(raw)


def parse_ntp(data: bytes) -> NtpMessage:
    """Parse an NTP header (extension fields and MAC, if any, are ignored)."""
    buf = Buffer(data)
    first = buf.pull_u8()
    version = (first >> 3) & 0x7
    if version == 0 or version > 4:
        raise Malformed(f"NTP version {version}", offset=0)
    stratum = buf.pull_u8()
    poll = buf.pull_u8()
    precision = buf.pull_u8()
    root_delay = buf.pull_u32()
    root_dispersion = buf.pull_u32()
    reference = buf.pull_bytes(4)
    return NtpMessage(
        leap=first >> 6,
        version=version,
        mode=first & 0x7,
        stratum=stratum,
        poll=poll if poll < 128 else poll - 256,
        precision=precision if precision < 128 else precision - 256,
        root_delay_s=root_delay / 65536,
        root_dispersion_s=root_dispersion / 65536,
        reference_id=_reference_id(reference, stratum),
        reference_ns=_timestamp(buf.pull_u64()),
        origin_ns=_timestamp(buf.pull_u64()),
        receive_ns=_timestamp(buf.pull_u64()),
        transmit_ns=_timestamp(buf.pull_u64()),
    )


NTP_SCHEMA = Schema(
    "ntp",
    "One NTP message.",
    (
        Column("version", "Int8", "NTP version"),
        Column("mode", "category", "client, server, broadcast, ..."),
        Column("stratum", "Int16", "0 unspecified/kiss-of-death, 1 primary, 2-15 secondary"),
        Column("leap", "Int8", "leap indicator (3 = clock not synchronised)"),
        Column("reference_id", "string", "source code (stratum 0-1) or upstream server"),
        Column("reference_ts", "datetime64[ns, UTC]", "when the server's clock was last set"),
        Column("origin_ts", "datetime64[ns, UTC]", "client's transmit time echoed back"),
        Column("receive_ts", "datetime64[ns, UTC]", "when the server received the request"),
        Column("transmit_ts", "datetime64[ns, UTC]", "when the message left its sender"),
        Column(
            "clock_offset_s",
            "Float64",
            "transmit time minus the capture's time of this frame: how far the sender's "
            "clock is from the capturing host's",
        ),
    ),
    human=("frame", "ts", "src", "dst", "mode", "stratum", "reference_id", "clock_offset_s"),
)


class NtpDissector:
    """Datagram dissector for UDP port 123."""

    name: ClassVar[str] = "ntp"

    def wants(self, flow: FlowInfo) -> bool:
        return NTP_PORT in (flow.sport, flow.dport)

    def datagram(self, env: Envelope, payload: bytes, sink: Sink) -> None:
        msg = parse_ntp(payload)
        offset = None
        if msg.transmit_ns is not None:
            offset = (msg.transmit_ns - env.ts_ns) / 1e9
        sink.add(
            "ntp",
            env,
            version=msg.version,
            mode=msg.mode_name,
            stratum=msg.stratum,
            leap=msg.leap,
            reference_id=msg.reference_id,
            reference_ts=msg.reference_ns,
            origin_ts=msg.origin_ns,
            receive_ts=msg.receive_ns,
            transmit_ts=msg.transmit_ns,
            clock_offset_s=offset,
        )


PROTOCOL = ProtocolModule(
    name="ntp",
    doc="NTP time synchronisation (UDP 123)",
    schemas=(NTP_SCHEMA,),
    datagram=NtpDissector(),
)

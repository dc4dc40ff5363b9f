"""Conformance: packet counts, link types and per-flow counters agree with tshark.

Every capture in samples/ and ../shared/corpus/ is read by the analyzer and by tshark; the
packet count, the link types and, for every TCP and UDP conversation, the endpoints and the
packets and bytes each way must match.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import all_captures, capture_id, run_tshark

from analyzer.capture.pipeline import read_capture
from analyzer.capture.readers import linktype_name

CAPTURES = all_captures()

# tshark names some link types differently in its file-level summary.
TSHARK_LINKTYPE = {"RAW": {101, 12, 14}, "IPV4": {228}, "IPV6": {229}}


def _tshark_flows(capture: Path) -> Counter[tuple]:
    """(transport, endpoint pair, packets, bytes) per tcp.stream / udp.stream, from tshark."""
    out = run_tshark(
        capture,
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "frame.len",
        "-e",
        "tcp.stream",
        "-e",
        "udp.stream",
        "-e",
        "ip.src",
        "-e",
        "ip.dst",
        "-e",
        "ipv6.src",
        "-e",
        "ipv6.dst",
        "-e",
        "tcp.srcport",
        "-e",
        "tcp.dstport",
        "-e",
        "udp.srcport",
        "-e",
        "udp.dstport",
        "-e",
        "icmp.type",
        "-e",
        "icmpv6.type",
    )
    flows: dict[tuple, list] = {}
    for line in out.splitlines():
        f = line.split("|")
        length, tcp_stream, udp_stream = f[0], f[1], f[2]
        if f[11] or f[12]:
            # Documented difference: tshark counts an ICMP error in the stream of the TCP or
            # UDP header it quotes; the analyzer counts it as ICMP traffic between the router
            # and the host, which is what it is on the wire.
            continue
        if tcp_stream:
            key = ("tcp", tcp_stream)
            ports = (f[7], f[8])
        elif udp_stream:
            key = ("udp", udp_stream)
            ports = (f[9], f[10])
        else:
            continue
        # Tunnelled packets list several addresses: the innermost pair carries the flow.
        src = (f[3] or f[5]).split(",")[-1]
        dst = (f[4] or f[6]).split(",")[-1]
        ports = tuple(p.split(",")[-1] for p in ports)
        ends = tuple(sorted([(src, int(ports[0])), (dst, int(ports[1]))]))
        entry = flows.setdefault(key, [ends, 0, 0])
        entry[1] += 1
        entry[2] += int(length)
    return Counter(
        (key[0], ends, packets, nbytes) for key, (ends, packets, nbytes) in flows.items()
    )


def _our_flows(capture: Path) -> Counter[tuple]:
    table = read_capture(capture).flows.conversations()
    table = table[table["transport"].isin(["tcp", "udp"])]
    flows: Counter[tuple] = Counter()
    for row in table.itertuples(index=False):
        ends = tuple(sorted([(row.src, int(row.sport)), (row.dst, int(row.dport))]))
        flows[(row.transport, ends, int(row.packets), int(row.bytes))] += 1
    return flows


@pytest.mark.tshark
@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
def test_packet_count_and_link_types_match_tshark(capture: Path) -> None:
    result = read_capture(capture)
    out = run_tshark(capture, "-T", "fields", "-e", "frame.number")
    assert result.stats.packets == len(out.split())
    oracle = Path(str(capture) + ".oracle.json")
    if oracle.exists():
        expected = json.loads(oracle.read_text())["capture"]
        assert result.stats.packets == expected["packet_count"]
        ours = {iface.linktype for iface in result.info.interfaces}
        assert ours == {lt["dlt"] for lt in expected["link_types"]}
        assert set(result.stats.link_types) <= {linktype_name(lt) for lt in ours}


@pytest.mark.tshark
@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
def test_tcp_and_udp_conversations_match_tshark(capture: Path) -> None:
    theirs = _tshark_flows(capture)
    ours = _our_flows(capture)
    assert ours == theirs, (
        f"only ours: {sorted((ours - theirs).elements())[:10]}\n"
        f"only tshark: {sorted((theirs - ours).elements())[:10]}"
    )

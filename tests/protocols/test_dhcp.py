"""DHCP/BOOTP: header, options (overload, RFC 3396, 43/119/120), clients, and the contract."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from builders import ethernet, ipv4_udp, pcap
from conftest import CORPUS, SAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.api import analyze
from analyzer.errors import DecodeError, Malformed, Truncated
from analyzer.protocols.base import Envelope, Sink
from analyzer.protocols.dhcp import (
    DHCP_SCHEMA,
    MAGIC_COOKIE,
    MAX_VENDOR_CLASS_ENTRIES,
    DhcpDissector,
    derive_clients,
    domain_list,
    encode_options,
    parse_dhcp,
    sip_servers,
    vendor_specific,
)

PHONE_MAC = "0004f23d0a71"

# The CX600's DHCPINFORM for its provisioning data (lpe-cert-provisioning frame 18).
INFORM = (
    bytes.fromhex(
        "01"  # op: BOOTREQUEST
        "01"  # htype: Ethernet
        "06"  # hlen: 6
        "00"  # hops
        "330761e4"  # xid
        "0000"  # secs
        "0000"  # flags: unicast
        "0a140058"  # ciaddr 10.20.0.88: the phone already has its address
        "00000000"  # yiaddr
        "00000000"  # siaddr
        "00000000"  # giaddr
        "0004f23d0a71" + "00" * 10  # chaddr 00:04:f2:3d:0a:71, padded to 16
    )
    + bytes(64 + 128)
    + bytes.fromhex(  # sname, file: empty
        "63825363"  # magic cookie
        "350108"  # 53 message type: INFORM
        "3d07010004f23d0a71"  # 61 client id: type 1 + MAC
        "3c0c"
        + b"MS-UC-Client".hex()  # 60 vendor class
        + "37022b78"  # 55 parameter request list: 43, 120
        "ff"  # end
    )
)

# Option 43 of the ACK (frame 19): MS-UC-Client sub-options 1-5.
MS_UC_43 = bytes.fromhex(
    "010c"
    + b"MS-UC-Client".hex()  # 1 identifier
    + "0205"
    + b"https".hex()  # 2 protocol
    + "0315"
    + b"lyncweb.contoso.local".hex()  # 3 web server FQDN
    + "0403"
    + b"443".hex()  # 4 port, as text
    + "0525"
    + b"/CertProv/CertProvisioningService.svc".hex()  # 5 path
)
# Option 120 of the ACK: encoding 0, then one RFC 1035 name.
SIP_120 = bytes.fromhex("0006706f6f6c303107636f6e746f736f056c6f63616c00")


def message(
    op: int = 1,
    xid: int = 0x1234,
    options: bytes = b"",
    *,
    mac: str = PHONE_MAC,
    ciaddr: str = "00000000",
    yiaddr: str = "00000000",
    flags: int = 0,
    sname: bytes = b"",
    file: bytes = b"",
    cookie: bytes = MAGIC_COOKIE,
    end: bool = True,
) -> bytes:
    """A BOOTP header with the given fields (others zero), the cookie and ``options``."""
    return (
        bytes([op, 1, 6, 0])
        + xid.to_bytes(4, "big")
        + bytes(2)
        + flags.to_bytes(2, "big")
        + bytes.fromhex(ciaddr + yiaddr + "00000000" * 2)
        + bytes.fromhex(mac).ljust(16, b"\0")
        + sname.ljust(64, b"\0")
        + file.ljust(128, b"\0")
        + cookie
        + options
        + (b"\xff" if end else b"")
    )


def opt(code: int, value: bytes) -> bytes:
    return bytes([code, len(value)]) + value


def msg_type(t: int) -> bytes:
    return opt(53, bytes([t]))


# ------------------------------------------------------------------ header and options


def test_inform_header_fields() -> None:
    msg = parse_dhcp(INFORM)
    assert (msg.op, msg.htype, msg.hlen, msg.hops, msg.secs, msg.broadcast) == (
        1,
        1,
        6,
        0,
        0,
        False,
    )
    assert f"{msg.xid:#010x}" == "0x330761e4"
    assert (msg.ciaddr, msg.yiaddr, msg.siaddr, msg.giaddr) == (
        "10.20.0.88",
        "0.0.0.0",
        "0.0.0.0",
        "0.0.0.0",
    )
    assert msg.client_mac == "00:04:f2:3d:0a:71"
    assert msg.message_type_name == "INFORM"
    assert [o.code for o in msg.options] == [53, 61, 60, 55]
    assert msg.problems == ()


def test_broadcast_flag_is_the_top_bit_of_flags() -> None:
    assert parse_dhcp(message(flags=0x8000)).broadcast
    assert not parse_dhcp(message(flags=0x0001)).broadcast


def test_without_option_53_the_message_is_bootp() -> None:
    assert parse_dhcp(message(options=opt(12, b"printer"))).message_type_name == "BOOTP"


def test_unknown_message_type_keeps_its_number() -> None:
    assert parse_dhcp(message(options=msg_type(42))).message_type_name == "unknown(42)"


def test_bad_magic_cookie_is_plain_bootp_with_the_vendor_area_raw() -> None:
    msg = parse_dhcp(message(options=msg_type(1), cookie=b"\x63\x82\x53\x64"))
    assert not msg.dhcp
    assert msg.message_type_name == "BOOTP"
    assert msg.options == ()
    assert msg.vendor_area == bytes.fromhex("63825364350101ff")


def test_header_without_vendor_area_is_bootp() -> None:
    msg = parse_dhcp(message()[:236])
    assert (msg.message_type_name, msg.vendor_area) == ("BOOTP", None)


def test_truncated_header_raises_truncated() -> None:
    with pytest.raises(Truncated):
        parse_dhcp(INFORM[:235])


def test_op_other_than_request_or_reply_is_malformed() -> None:
    with pytest.raises(Malformed):
        parse_dhcp(b"\x03" + INFORM[1:])


def test_pad_options_are_skipped() -> None:
    msg = parse_dhcp(message(options=b"\x00\x00" + msg_type(3) + b"\x00" + opt(12, b"a")))
    assert [(o.code, o.data) for o in msg.options] == [(53, b"\x03"), (12, b"a")]


def test_option_running_past_the_end_keeps_the_earlier_ones_and_says_so() -> None:
    # 53 = ACK, then option 6 announcing 8 bytes with only 4 left.
    msg = parse_dhcp(message(options=msg_type(5) + bytes.fromhex("06080a01000a"), end=False))
    assert [o.code for o in msg.options] == [53]
    assert msg.problems == ("option 6 at offset 243 runs past the end of options",)


def test_missing_end_option_is_a_problem_not_an_error() -> None:
    msg = parse_dhcp(message(options=msg_type(1), end=False))
    assert msg.message_type_name == "DISCOVER"
    assert msg.problems == ("no End option in options",)


def test_options_after_end_are_ignored() -> None:
    msg = parse_dhcp(message(options=msg_type(1) + b"\xff" + opt(12, b"hidden")))
    assert [o.code for o in msg.options] == [53]


def test_split_option_instances_are_concatenated_rfc3396() -> None:
    # Option 119 sent as two instances: "contoso" | "\x05local\x00".
    msg = parse_dhcp(
        message(options=opt(119, b"\x07contoso") + msg_type(5) + opt(119, b"\x05local\x00"))
    )
    assert msg.option(119) == b"\x07contoso\x05local\x00"
    assert domain_list(msg.option(119) or b"") == ["contoso.local"]


def test_overloaded_file_and_sname_carry_options_read_file_first() -> None:
    # Option 52 = 3: file holds 15 "a.example", sname holds 6 10.0.0.53.
    raw = message(
        options=msg_type(2) + opt(52, b"\x03"),
        file=opt(15, b"a.example") + b"\xff",
        sname=opt(6, bytes([10, 0, 0, 53])) + b"\xff",
    )
    msg = parse_dhcp(raw)
    assert msg.overload == 3
    assert [(o.code, o.field) for o in msg.options] == [
        (53, "options"),
        (52, "options"),
        (15, "file"),
        (6, "sname"),
    ]


def test_overload_capture_shows_the_options_hidden_in_sname() -> None:
    # suricata-verify's test: a rogue OFFER/ACK whose DNS server, router and domain live
    # only in the sname field (option 52 = 2), next to a legitimate server's.
    capture = CORPUS / "suricata-verify" / "dhcp-option-52-overload.pcap"
    if not capture.exists():
        pytest.skip("corpus not present")
    dhcp = analyze(capture, protocols=["dhcp"]).dhcp.set_index("frame")
    assert dhcp.loc[4, "overload"] == 2
    assert dhcp.loc[4, "dns_servers"] == ["10.100.0.2"]
    assert dhcp.loc[4, "routers"] == ["10.100.0.2"]
    assert dhcp.loc[4, "domain"] == "evil.corp"
    assert pd_isna(dhcp.loc[4, "sname"])
    assert dhcp.loc[3, "sname"] == "evil-pxe.attacker.local"  # not overloaded: it is a name
    assert dhcp.loc[8, "domain"] == "legit.local"


def pd_isna(value: Any) -> bool:
    return value is None or value is pd.NA


def test_bad_overload_value_is_a_problem() -> None:
    msg = parse_dhcp(message(options=opt(52, b"\x07")))
    assert msg.problems == ("option overload value 7 is not 1, 2 or 3",)


# ------------------------------------------------------------------ option values


def test_domain_search_list_with_a_backward_pointer() -> None:
    data = bytes.fromhex(
        "07636f6e746f736f"
        "056c6f63616c"
        "00"  # offset 0: contoso.local
        "03656d65"
        "c008"  # offset 15: eme + pointer to offset 8 ("local")
    )
    assert domain_list(data) == ["contoso.local", "eme.local"]


def test_domain_search_pointer_forward_is_malformed() -> None:
    with pytest.raises(Malformed):
        domain_list(bytes.fromhex("c002016100"))


def test_domain_search_pointer_to_itself_is_malformed() -> None:
    # "a" then a pointer back to the start of the same name: a loop.
    with pytest.raises(Malformed):
        domain_list(bytes.fromhex("0161c000"))


def test_domain_search_truncated_label_raises_truncated() -> None:
    with pytest.raises(Truncated):
        domain_list(bytes.fromhex("07636f6e"))


def test_hostile_label_bytes_are_escaped() -> None:
    assert domain_list(b"\x04a.\x1bb\x00") == ["a\\.\\x1bb"]


def test_sip_servers_names_rfc3361() -> None:
    assert sip_servers(SIP_120).servers == ("pool01.contoso.local",)
    assert sip_servers(SIP_120).encoding == 0


def test_sip_servers_names_may_be_compressed() -> None:
    # encoding 0; "pool01.contoso.local", then "fe01" + pointer to offset 7 (contoso.local)
    # counted from the first name, i.e. after the encoding byte.
    data = SIP_120 + bytes.fromhex("0466653031c007")
    assert sip_servers(data).servers == ("pool01.contoso.local", "fe01.contoso.local")


def test_sip_servers_addresses() -> None:
    assert sip_servers(bytes.fromhex("010a0100320a010033")).servers == (
        "10.1.0.50",
        "10.1.0.51",
    )


def test_sip_servers_unknown_encoding_is_malformed() -> None:
    with pytest.raises(Malformed):
        sip_servers(b"\x02abc")


def test_ms_uc_client_suboptions() -> None:
    assert vendor_specific("MS-UC-Client", MS_UC_43) == {
        "identifier": "MS-UC-Client",
        "protocol": "https",
        "web_server": "lyncweb.contoso.local",
        "port": "443",
        "path": "/CertProv/CertProvisioningService.svc",
    }


def test_cpe_ocphone_voice_vlan_and_other_suboptions_raw() -> None:
    # sub-option 10 = VLAN 20 (2 bytes), sub-option 7 kept as hex.
    assert vendor_specific("CPE-OCPHONE", bytes.fromhex("0a0200140702beef")) == {
        "voice_vlan": 20,
        "7": "beef",
    }


def test_option_43_of_other_vendors_stays_raw() -> None:
    assert vendor_specific("ArubaAP", b"172.18.6.37") is None
    assert vendor_specific(None, MS_UC_43) is None


def test_truncated_suboption_is_truncated() -> None:
    with pytest.raises(Truncated):
        vendor_specific("MS-UC-Client", bytes.fromhex("02056874"))


# ------------------------------------------------------------------ the dissector


def env(frame: int, src: str = "10.20.0.88", sport: int = 68, dport: int = 67) -> Envelope:
    dst = "10.1.0.10" if sport == 68 else "10.20.0.88"
    return Envelope(1_331_714_837_000_000_000 + frame, frame, 1, src, sport, dst, dport, "udp")


def rows(*payloads: tuple[int, bytes], dissector: DhcpDissector | None = None) -> Sink:
    """Feed payloads (frame, bytes) to one dissector; replies come from port 67."""
    sink = Sink()
    d = dissector or DhcpDissector()
    for frame, payload in payloads:
        reply = payload[0] == 2
        e = env(frame, "10.1.0.10" if reply else "10.20.0.88", 67 if reply else 68)
        d.datagram(e, payload, sink)
    return sink


def inform(xid: int, vendor: bytes, prl: bytes, mac: str = PHONE_MAC) -> bytes:
    return message(1, xid, msg_type(8) + opt(60, vendor) + opt(55, prl), mac=mac)


def ack(xid: int, *options: bytes, mac: str = PHONE_MAC, yiaddr: str = "00000000") -> bytes:
    return message(
        2, xid, msg_type(5) + opt(54, bytes([10, 1, 0, 10])) + b"".join(options),
        mac=mac, yiaddr=yiaddr,
    )  # fmt: skip


def test_reply_decodes_43_by_the_vendor_class_of_the_request_with_the_same_xid() -> None:
    # The ACK carries no option 60; the INFORM with the same xid said MS-UC-Client.
    sink = rows(
        (18, inform(0x330761E4, b"MS-UC-Client", b"\x2b\x78")),
        (19, ack(0x330761E4, opt(43, MS_UC_43), opt(120, SIP_120))),
    )
    reply = sink.rows["dhcp"][1]
    assert reply["vendor_specific_class"] == "MS-UC-Client"
    assert reply["vendor_specific"]["web_server"] == "lyncweb.contoso.local"
    assert reply["sip_servers"] == ["pool01.contoso.local"]


def test_reply_to_another_xid_keeps_43_raw() -> None:
    sink = rows(
        (18, inform(0x1111, b"MS-UC-Client", b"\x2b")),
        (19, ack(0x2222, opt(43, MS_UC_43))),
    )
    reply = sink.rows["dhcp"][1]
    assert reply["vendor_specific"] is None
    assert reply["vendor_specific_hex"] == MS_UC_43.hex()


def test_reply_without_a_seen_request_uses_its_own_vendor_class() -> None:
    sink = rows((9, ack(0x42, opt(60, b"CPE-OCPHONE"), opt(43, bytes.fromhex("0a020014")))))
    assert sink.rows["dhcp"][0]["vendor_specific"] == {"voice_vlan": 20}


def test_vendor_class_memory_does_not_leak_into_the_next_analysis() -> None:
    d = DhcpDissector()
    rows((1, inform(0x77, b"MS-UC-Client", b"\x2b")), dissector=d)
    later = rows((2, ack(0x77, opt(43, MS_UC_43))), dissector=d)
    assert later.rows["dhcp"][0]["vendor_specific"] is None


def test_analyses_interleaved_through_one_dissector_keep_their_own_vendor_classes() -> None:
    # Two analyses at once (threads, a notebook), one shared dissector: each reply is
    # decoded by the requests its own analysis saw.
    d = DhcpDissector()
    first, second = Sink(), Sink()
    reply_env = env(2, "10.1.0.10", 67, 68)
    d.datagram(env(1), inform(0x77, b"MS-UC-Client", b"\x2b"), first)
    d.datagram(env(1), inform(0x88, b"MS-UC-Client", b"\x2b"), second)
    d.datagram(reply_env, ack(0x77, opt(43, MS_UC_43)), first)
    d.datagram(reply_env, ack(0x77, opt(43, MS_UC_43)), second)
    assert first.rows["dhcp"][1]["vendor_specific_class"] == "MS-UC-Client"
    assert second.rows["dhcp"][1]["vendor_specific"] is None


def test_vendor_class_memory_is_bounded_and_says_so() -> None:
    d = DhcpDissector()
    sink = Sink()
    for i in range(MAX_VENDOR_CLASS_ENTRIES + 2):
        d.datagram(env(i + 1), inform(i, b"MS-UC-Client", b"\x2b"), sink)
    assert sink.weird_counts["dhcp_vendor_class_map_full"] == 1
    d.datagram(env(99_999, "10.1.0.10", 67, 68), ack(0, opt(43, MS_UC_43)), sink)
    assert sink.rows["dhcp"][-1]["vendor_specific"] is None  # the oldest was forgotten


def test_malformed_option_value_leaves_a_weird_and_the_raw_hex() -> None:
    # option 6 of 5 bytes is not a list of addresses.
    sink = rows((4, ack(0x9, opt(6, b"\x0a\x01\x00\x0a\x0a"))))
    row = sink.rows["dhcp"][0]
    assert row["dns_servers"] is None
    assert {
        "code": 6,
        "name": "domain_name_server",
        "hex": "0a01000a0a",
        "field": "options",
    } in row["options"]
    assert sink.weird_counts["dhcp_option_malformed"] == 1


def test_hostile_hostname_is_escaped() -> None:
    sink = rows((1, message(options=msg_type(1) + opt(12, b"PHONE\x1b[31m\xff"))))
    assert sink.rows["dhcp"][0]["hostname"] == "PHONE\\x1b[31m\\xff"


def test_relay_to_server_on_67_both_ways_is_dissected(tmp_path: Path) -> None:
    relay, server = bytes([10, 20, 0, 1]), bytes([10, 1, 0, 10])
    discover = message(1, 0xBEEF, msg_type(1))
    path = tmp_path / "relay.pcap"
    path.write_bytes(pcap([(100.0, ethernet(ipv4_udp(relay, server, 67, 67, payload=discover)))]))
    dhcp = analyze(path, protocols=["dhcp"], strict=True).dhcp
    assert list(dhcp["message_type"]) == ["DISCOVER"]
    assert (dhcp["sport"][0], dhcp["dport"][0]) == (67, 67)


# ------------------------------------------------------------------ dhcp_clients


def clients(sink: Sink) -> list[dict[str, Any]]:
    table = DHCP_SCHEMA.frame(sink.rows.get("dhcp", []))
    out = derive_clients({"dhcp": table})["dhcp_clients"].to_dict("records")
    return [{k: (None if v is pd.NA else v) for k, v in r.items()} for r in out]


def test_inform_answered_without_43_and_120_is_flagged() -> None:
    # The "DHCP 43/120 missing" failure class: the ACK to the INFORM has neither.
    (client,) = clients(rows((18, inform(0x5, b"MS-UC-Client", b"\x2b\x78")), (19, ack(0x5))))
    assert (client["informs"], client["informs_answered"]) == (1, 1)
    assert (client["inform_missing_43"], client["inform_missing_120"]) == (True, True)


def test_unanswered_inform_counts_as_missing() -> None:
    (client,) = clients(rows((18, inform(0x5, b"MS-UC-Client", b"\x2b\x78"))))
    assert client["informs_answered"] == 0
    assert (client["inform_missing_43"], client["inform_missing_120"]) == (True, True)


def test_option_never_asked_for_in_an_inform_is_not_missing() -> None:
    # CPE-OCPHONE asks for 43 only; 120 was not its question.
    (client,) = clients(
        rows(
            (8, inform(0x6, b"CPE-OCPHONE", b"\x2b")),
            (9, ack(0x6, opt(43, bytes.fromhex("0a020014")))),
        )
    )
    assert (client["inform_missing_43"], client["inform_missing_120"]) == (False, False)
    assert client["voice_vlan"] == 20


def test_no_inform_means_unknown() -> None:
    (client,) = clients(rows((1, message(options=msg_type(1)))))
    assert client["informs"] == 0
    assert client["inform_missing_43"] is None and client["inform_missing_120"] is None


def test_lease_and_what_the_client_was_told() -> None:
    (client,) = clients(
        rows(
            (1, message(1, 0x1, msg_type(3) + opt(12, b"CX700-1C3A5E") + opt(60, b"MS-UC-Client"))),
            (
                2,
                ack(
                    0x1,
                    opt(51, (691200).to_bytes(4, "big")),
                    opt(6, bytes([8, 8, 8, 8, 8, 8, 4, 4])),
                    opt(15, b"contoso.local"),
                    opt(42, bytes([10, 1, 0, 10])),
                    yiaddr="0a140039",
                ),
            ),
        )
    )
    assert client["hostname"] == "CX700-1C3A5E"
    assert client["assigned_address"] == "10.20.0.57"
    assert (client["dhcp_server"], client["lease_time_s"]) == ("10.1.0.10", 691200)
    assert client["dns_servers"] == ["8.8.8.8", "8.8.4.4"]
    assert (client["domain"], client["ntp_servers"]) == ("contoso.local", ["10.1.0.10"])


# ------------------------------------------------------------------ the LPE sample, by hand


def test_lpe_sample_inform_answers_carry_43_suboptions_and_120() -> None:
    analysis = analyze(SAMPLES / "lpe-cert-provisioning.pcapng", protocols=["dhcp"])
    dhcp = analysis.dhcp.set_index("frame")
    # Frame 9: the ACK to the CPE-OCPHONE INFORM (frame 8): 43 = 0a 02 0014, VLAN 20.
    assert dhcp.loc[8, "message_type"] == "INFORM"
    assert dhcp.loc[9, "vendor_specific_hex"] == "0a020014"
    assert dhcp.loc[9, "vendor_specific"] == {"voice_vlan": 20}
    # Frame 19: the ACK to the MS-UC-Client INFORM (frame 18), checked byte by byte above.
    assert dhcp.loc[18, "parameter_request_list"] == [43, 120]
    assert dhcp.loc[19, "vendor_specific_hex"] == MS_UC_43.hex()
    assert dhcp.loc[19, "vendor_specific"] == vendor_specific("MS-UC-Client", MS_UC_43)
    assert dhcp.loc[19, "sip_server_encoding"] == 0
    assert dhcp.loc[19, "sip_servers"] == ["pool01.contoso.local"]
    (client,) = analysis.dhcp_clients.to_dict("records")
    assert client["client_mac"] == "00:04:f2:3d:0a:71"
    assert client["provisioning_url"] == (
        "https://lyncweb.contoso.local:443/CertProv/CertProvisioningService.svc"
    )
    assert client["voice_vlan"] == 20
    assert client["sip_servers"] == ["pool01.contoso.local"]
    assert client["assigned_address"] == "10.20.0.88"
    assert (client["informs"], client["informs_answered"]) == (2, 2)
    assert not client["inform_missing_43"] and not client["inform_missing_120"]


def test_loop_sample_phone_was_told_internal_dns_and_the_fixed_one_public_dns() -> None:
    loop = analyze(SAMPLES / "cx700-logon-loop.pcapng", protocols=["dhcp"]).dhcp_clients
    fixed = analyze(SAMPLES / "cx700-public-dns-fixed.pcapng", protocols=["dhcp"]).dhcp_clients
    assert loop["dns_servers"][0] == ["10.1.0.10", "10.1.0.11"]
    assert fixed["dns_servers"][0] == ["8.8.8.8", "8.8.4.4"]
    assert loop["search_list"][0] == ["contoso.local", "contoso.com"]


# ------------------------------------------------------------------ the contract


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_only_raise_decode_errors(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        parse_dhcp(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_options_through_the_dissector_only_raise_decode_errors(data: bytes) -> None:
    # A valid header and cookie followed by random option bytes, as a reply whose 43 is
    # decoded under MS-UC-Client: every value decoder sees hostile input.
    d = DhcpDissector()
    sink = Sink()
    d.datagram(env(1), inform(0x1, b"MS-UC-Client", b"\x2b"), sink)
    with contextlib.suppress(DecodeError):
        d.datagram(env(2, "10.1.0.10", 67, 68), message(2, 0x1, data, end=False), sink)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_option_value_decoders_only_raise_decode_errors(data: bytes) -> None:
    for decode in (domain_list, sip_servers):
        with contextlib.suppress(DecodeError):
            decode(data)
    for vendor in ("MS-UC-Client", "CPE-OCPHONE"):
        with contextlib.suppress(DecodeError):
            vendor_specific(vendor, data)


@pytest.mark.parametrize("cut", range(len(INFORM)))
def test_truncated_prefixes_only_raise_decode_errors(cut: int) -> None:
    try:
        msg = parse_dhcp(INFORM[:cut])
    except DecodeError:
        assert cut < 236
    else:
        assert cut >= 236 and msg is not None


option_lists = st.lists(
    st.tuples(st.integers(1, 254), st.binary(max_size=600)),
    max_size=12,
    unique_by=lambda o: o[0],
)


@settings(max_examples=300, deadline=None)
@given(option_lists)
def test_random_option_sequences_round_trip(options: list[tuple[int, bytes]]) -> None:
    # Values over 255 bytes go out as several instances and come back concatenated.
    options = [(c, v) for c, v in options if c != 52]  # 52 would re-read sname/file
    msg = parse_dhcp(message(options=encode_options(options)))
    assert msg.problems == ()
    assert [c for c, _ in options] == list(dict.fromkeys(o.code for o in msg.options))
    for code, value in options:
        assert msg.option(code) == value


def test_options_missing_sample_flags_the_informs_answered_without_43_and_120() -> None:
    # Five MS-UC-Client INFORMs asking for 43 and 120, each ACKed with only 53 and 54.
    capture = SAMPLES / "dhcp-options-missing.pcapng"
    if not capture.exists():
        pytest.skip("sample not generated yet")
    (client,) = analyze(capture, protocols=["dhcp"]).dhcp_clients.to_dict("records")
    assert (client["informs"], client["informs_answered"]) == (5, 5)
    assert client["inform_missing_43"] and client["inform_missing_120"]
    assert pd_isna(client["provisioning_url"]) and client["sip_servers"] is None

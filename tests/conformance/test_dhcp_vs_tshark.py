"""DHCP: every message of every capture against tshark (the oracle's ``dhcp`` section).

The reference for a capture is its ``dhcp`` section: the stored ``X.oracle.json`` for the
corpus, and for the samples (which have none) the same section built here from
``tshark -T json`` with the oracle's own rules (``tools/oracle.py``, ``extract_dhcp``);
``test_our_tshark_extraction_reproduces_the_stored_oracle`` proves the two agree on the
corpus. On top of the oracle's fields this extraction keeps what the oracle drops:
options carried in an overloaded ``sname``/``file`` (option 52), the ``sname``/``file``
text, ``secs`` and the broadcast flag.

Compared for every message: frame, addresses and ports, op, xid, chaddr, ciaddr, yiaddr,
siaddr, giaddr, secs, broadcast, sname, file, message type, every option instance as
raw hex (in wire order, per field), and each option value we decode against tshark's
decoding of it (1, 3, 6, 12, 15, 42, 43 hex, 50, 51, 54, 55, 56, 60, 119, 120, 252).

Documented differences (not errors on either side, checked below):
* The oracle's ``decoded`` block and option list skip options that arrive through
  option 52 overload (suricata-verify/dhcp-option-52-overload.pcap frames 4 and 7:
  6, 3 and 15 in ``sname``); tshark shows them nested under option 52, and we decode
  them (RFC 2131 4.1), so our ``dns_servers``/``routers``/``domain`` are set there.
* tshark names BOOTP (no option 53) nothing; we say ``BOOTP``.
* Option 43 is decoded by tshark only for vendors it knows (e.g. ``ArubaAP`` in
  zeek/dhcp.pcap); we decode MS-UC-Client and CPE-OCPHONE, checked by hand in
  tests/protocols/test_dhcp.py against the lpe-cert-provisioning sample.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from conftest import all_captures, capture_id, corpus_captures, run_tshark

from analyzer.api import analyze

MESSAGE_TYPES = {
    1: "DISCOVER",
    2: "OFFER",
    3: "REQUEST",
    4: "DECLINE",
    5: "ACK",
    6: "NAK",
    7: "RELEASE",
    8: "INFORM",
    9: "FORCERENEW",
    10: "LEASEQUERY",
    11: "LEASEUNASSIGNED",
    12: "LEASEUNKNOWN",
    13: "LEASEACTIVE",
    14: "BULKLEASEQUERY",
    15: "LEASEQUERYDONE",
    16: "ACTIVELEASEQUERY",
    17: "LEASEQUERYSTATUS",
    18: "TLS",
}
SKIP = {"dhcp.option.length", "dhcp.option.value"}
OVERLOAD_FIELDS = {
    "Boot file name option overload": "file",
    "Server host name option overload": "sname",
}


def _list(x: Any) -> list[Any]:
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


def _walk(obj: Any) -> Any:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, list):
                for item in v:
                    yield k, item
                    if isinstance(item, dict | list):
                        yield from _walk(item)
            else:
                yield k, v
                if isinstance(v, dict):
                    yield from _walk(v)


def _flatten(tree: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = OrderedDict()
    for k, v in _walk(tree):
        if isinstance(v, dict | list) or k in SKIP or k.endswith("_tree"):
            continue
        if k in out:
            if not isinstance(out[k], list):
                out[k] = [out[k]]
            out[k].append(v)
        else:
            out[k] = v
    return out


def _hex(v: Any) -> str | None:
    return None if v is None else str(v).replace(":", "").lower()


def _options(layer: dict[str, Any], field: str) -> list[dict[str, Any]]:
    """Option entries as the oracle makes them, plus ``field`` and the nested ones."""
    out = []
    types = _list(layer.get("dhcp.option.type"))
    trees = _list(layer.get("dhcp.option.type_tree"))
    for t, tree in zip(types, trees, strict=True):
        code = int(t)
        tree = tree if isinstance(tree, dict) else {}
        if "dhcp.option.end" in tree:
            code = 255
        if code in (0, 255) and "dhcp.option.value" not in tree:
            continue
        entry: dict[str, Any] = {
            "code": code,
            "length": int(tree["dhcp.option.length"]) if "dhcp.option.length" in tree else None,
            "hex": _hex(tree.get("dhcp.option.value")),
        }
        decoded = _flatten(tree)
        if decoded:
            entry["tshark"] = decoded
        entry["field"] = field
        out.append(entry)
        for key, nested_field in OVERLOAD_FIELDS.items():
            if isinstance(tree.get(key), dict):
                out += _options(tree[key], nested_field)
    return out


def _decoded(byc: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The oracle's ``decoded`` block (its rules, including first-instance-only)."""
    dec: dict[str, Any] = OrderedDict()
    if 6 in byc and byc[6]["hex"]:
        raw = bytes.fromhex(byc[6]["hex"])
        dec["6_dns_servers"] = [
            ".".join(str(b) for b in raw[i : i + 4]) for i in range(0, len(raw) - len(raw) % 4, 4)
        ]
    if 15 in byc and byc[15]["hex"] is not None:
        dec["15_domain_name"] = bytes.fromhex(byc[15]["hex"]).decode("latin-1").rstrip("\x00")
    if 43 in byc:
        dec["43_vendor_specific_hex"] = byc[43]["hex"]
    if 120 in byc and byc[120]["hex"]:
        raw = bytes.fromhex(byc[120]["hex"])
        tree = byc[120].get("tshark", {})
        if raw[0] == 0:
            dec["120_sip_servers"] = {
                "encoding": 0,
                "domains": _list(tree.get("dhcp.option.sip_server.name")),
            }
        else:
            dec["120_sip_servers"] = {
                "encoding": raw[0],
                "addresses": _list(tree.get("dhcp.option.sip_server.address")),
            }
    if 12 in byc and byc[12]["hex"] is not None:
        dec["12_hostname"] = bytes.fromhex(byc[12]["hex"]).decode("latin-1")
    if 60 in byc and byc[60]["hex"] is not None:
        dec["60_vendor_class"] = bytes.fromhex(byc[60]["hex"]).decode("latin-1")
    return dec


@cache
def tshark_dhcp(capture: Path) -> list[dict[str, Any]]:
    """The oracle's ``dhcp`` section built from tshark, with the extra keys above."""
    out = run_tshark(
        capture, "-Y", "dhcp", "-T", "json", "--no-duplicate-keys", "-J", "frame ip udp dhcp"
    )
    messages = []
    for pkt in json.loads(out) if out.strip() else []:
        layers = pkt["_source"]["layers"]
        ip, udp = layers.get("ip", {}), layers.get("udp", {})
        for layer in _list(layers.get("dhcp")):
            all_options = _options(layer, "options")
            options = [o for o in all_options if o["field"] == "options"]
            byc: dict[int, dict[str, Any]] = {}
            for o in options:
                byc.setdefault(o["code"], o)
            mt = int(byc[53]["hex"][:2], 16) if 53 in byc and byc[53]["hex"] else None
            op = int(layer["dhcp.type"])
            flags = layer.get("dhcp.flags_tree", {})
            messages.append(
                {
                    "frame": int(layers["frame"]["frame.number"]),
                    "src": f"{ip.get('ip.src')}:{udp.get('udp.srcport')}",
                    "dst": f"{ip.get('ip.dst')}:{udp.get('udp.dstport')}",
                    "op": {1: "BOOTREQUEST", 2: "BOOTREPLY"}.get(op, op),
                    "xid": layer.get("dhcp.id"),
                    "chaddr": layer.get("dhcp.hw.mac_addr"),
                    "ciaddr": layer.get("dhcp.ip.client"),
                    "yiaddr": layer.get("dhcp.ip.your"),
                    "siaddr": layer.get("dhcp.ip.server"),
                    "giaddr": layer.get("dhcp.ip.relay"),
                    "option_codes": [o["code"] for o in options],
                    "options": [{k: v for k, v in o.items() if k != "field"} for o in options],
                    "message_type": mt,
                    "message_type_name": MESSAGE_TYPES.get(mt) if mt is not None else None,
                    "decoded": _decoded(byc),
                    # Beyond the oracle:
                    "overloaded_options": [o for o in all_options if o["field"] != "options"],
                    "secs": int(layer["dhcp.secs"]),
                    "broadcast": flags.get("dhcp.flags.bc") == "1",
                    "sname": layer.get("dhcp.server") or None,
                    "file": layer.get("dhcp.file") or None,
                }
            )
    return messages


ORACLE_KEYS = (
    "frame",
    "src",
    "dst",
    "op",
    "xid",
    "chaddr",
    "ciaddr",
    "yiaddr",
    "siaddr",
    "giaddr",
    "option_codes",
    "options",
    "message_type",
    "message_type_name",
    "decoded",
)


def _stored_oracle(capture: Path) -> list[dict[str, Any]] | None:
    path = capture.with_name(capture.name + ".oracle.json")
    if not path.exists():
        return None
    section: list[dict[str, Any]] = json.loads(path.read_text())["dhcp"]
    return section


@pytest.mark.tshark
@pytest.mark.parametrize(
    "capture", [c for c in corpus_captures() if _stored_oracle(c) is not None], ids=capture_id
)
def test_our_tshark_extraction_reproduces_the_stored_oracle(capture: Path) -> None:
    stored = _stored_oracle(capture)
    assert stored is not None
    ours = [{k: m[k] for k in ORACLE_KEYS} for m in tshark_dhcp(capture)]
    assert ours == [{k: m[k] for k in ORACLE_KEYS} for m in stored]


def _ip_list(value: Any) -> list[str]:
    return [str(v) for v in _list(value)]


#: (option code, our column, tshark field, how to turn tshark's text into our value)
DECODED_BY_TSHARK = (
    (1, "subnet_mask", "dhcp.option.subnet_mask", str),
    (3, "routers", "dhcp.option.router", _ip_list),
    (6, "dns_servers", "dhcp.option.domain_name_server", _ip_list),
    (12, "hostname", "dhcp.option.hostname", str),
    (15, "domain", "dhcp.option.domain_name", str),
    (42, "ntp_servers", "dhcp.option.ntp_server", _ip_list),
    (50, "requested_address", "dhcp.option.requested_ip_address", str),
    (51, "lease_time_s", "dhcp.option.ip_address_lease_time", int),
    (54, "server_id", "dhcp.option.dhcp_server_id", str),
    (55, "parameter_request_list", "dhcp.option.request_list_item", lambda v: _int_list(v)),
    (56, "message", "dhcp.option.message", str),
    (60, "vendor_class", "dhcp.option.vendor_class_id", str),
    (119, "domain_search", "dhcp.option.dhcp_dns_domain_search_list_fqdn", _ip_list),
    (252, "wpad_url", "dhcp.option.private_proxy_autodiscovery", str),
)


def _int_list(value: Any) -> list[int]:
    return [int(v) for v in _list(value)]


def _na(value: Any) -> Any:
    """pandas' missing markers as None, everything else unchanged."""
    if value is None or (not isinstance(value, list | dict) and value != value):
        return None
    try:
        import pandas as pd

        if value is pd.NA:
            return None
    except ImportError:  # pragma: no cover
        pass
    return value


def _oracle(capture: Path) -> list[dict[str, Any]]:
    """The stored oracle where there is one (with our extras merged), else tshark's."""
    live = tshark_dhcp(capture)
    stored = _stored_oracle(capture)
    if stored is None:
        return live
    assert [m["frame"] for m in stored] == [m["frame"] for m in live]
    return [
        s | {k: v for k, v in m.items() if k not in s} for s, m in zip(stored, live, strict=True)
    ]


@pytest.mark.tshark
@pytest.mark.parametrize("capture", all_captures(), ids=capture_id)
def test_every_dhcp_message_matches_the_oracle(capture: Path) -> None:
    theirs = _oracle(capture)
    table = analyze(capture, protocols=["dhcp"], strict=True).dhcp
    ours = [{k: _na(v) for k, v in row.items()} for row in table.to_dict("records")]
    assert [r["frame"] for r in ours] == [m["frame"] for m in theirs]
    for row, m in zip(ours, theirs, strict=True):
        where = f"frame {m['frame']}"
        assert f"{row['src']}:{row['sport']}" == m["src"], where
        assert f"{row['dst']}:{row['dport']}" == m["dst"], where
        assert row["op"] == {"BOOTREQUEST": "request", "BOOTREPLY": "reply"}[m["op"]], where
        for ours_key, their_key in (
            ("xid", "xid"),
            ("client_mac", "chaddr"),
            ("ciaddr", "ciaddr"),
            ("yiaddr", "yiaddr"),
            ("siaddr", "siaddr"),
            ("giaddr", "giaddr"),
            ("secs", "secs"),
            ("broadcast", "broadcast"),
            ("sname", "sname"),
            ("file", "file"),
        ):
            assert row[ours_key] == m[their_key], (where, ours_key)
        # tshark has no name for BOOTP (no option 53): we say BOOTP.
        assert row["message_type"] == (m["message_type_name"] or "BOOTP"), where

        # Every option instance, raw, in wire order; overloaded ones per field.
        main = [(o["code"], o["hex"]) for o in row["options"] if o["field"] == "options"]
        assert main == [(o["code"], o["hex"]) for o in m["options"]], where
        extra = [
            (o["field"], o["code"], o["hex"]) for o in row["options"] if o["field"] != "options"
        ]
        assert extra == [(o["field"], o["code"], o["hex"]) for o in m["overloaded_options"]], where

        _check_decoded(row, m, where)


def _check_decoded(row: dict[str, Any], m: dict[str, Any], where: str) -> None:
    dec = m["decoded"]
    overloaded = {o["code"] for o in m["overloaded_options"]}
    # The oracle's decoded block: options 6/15/43/120/12/60.
    for key, column in (
        ("6_dns_servers", "dns_servers"),
        ("15_domain_name", "domain"),
        ("43_vendor_specific_hex", "vendor_specific_hex"),
        ("12_hostname", "hostname"),
        ("60_vendor_class", "vendor_class"),
    ):
        code = int(key.split("_")[0])
        if key in dec:
            assert row[column] == dec[key], (where, column)
        else:
            # Absent for the oracle: absent for us too, unless it came through overload.
            assert row[column] is None or code in overloaded, (where, column)
    if "120_sip_servers" in dec:
        sip = dec["120_sip_servers"]
        assert row["sip_server_encoding"] == sip["encoding"], where
        assert row["sip_servers"] == sip.get("domains", sip.get("addresses")), where
    else:
        assert row["sip_servers"] is None, where
    # Every other option tshark decodes that we decode too, instance by instance
    # (including the overloaded ones, whose decoding tshark nests under option 52).
    instances: dict[int, list[dict[str, Any]]] = {}
    for o in m["options"] + m["overloaded_options"]:
        instances.setdefault(o["code"], []).append(o)
    for code, column, field, convert in DECODED_BY_TSHARK:
        seen = instances.get(code, [])
        if len(seen) != 1 or field not in seen[0].get("tshark", {}):
            continue
        assert row[column] == convert(seen[0]["tshark"][field]), (where, column)

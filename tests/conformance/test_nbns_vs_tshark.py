"""Differential: every NBNS message agrees with tshark.

For each capture in samples/ and ../shared/corpus/, the analyzer's ``nbns`` table and
tshark see the same messages in the same frames, with the same id, direction, opcode,
rcode, broadcast flag, question names (``NAME<suffix>``) and, for every record, the same
name, type, TTL and addresses. The corpus captures are compared with their stored oracle
(section ``nbns``), the samples with tshark run on the spot. None of the captures holds an
NBNS response, so a capture built here adds positive and negative answers, node status,
registration, WACK and release.

Documented differences (naming only, compared through ``OPCODES``): the oracle calls
opcode 9 ``refresh(alt)`` and 15 ``multi-homed registration``; we call them ``refresh``
and ``multihomed_registration``.
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from builders import ethernet, ipv4_udp, pcap
from conftest import all_captures, capture_id, run_tshark

from analyzer.api import analyze

OPCODES = {0: "query", 5: "registration", 6: "release", 7: "wack", 8: "refresh"}
OUR_OPCODES = {**OPCODES, 9: "refresh", 15: "multihomed_registration"}
RCODES = {0: "NOERROR", 1: "FMT_ERR", 2: "SRV_ERR", 3: "NAM_ERR", 4: "IMP_ERR", 5: "RFS_ERR",
          6: "ACT_ERR", 7: "CFT_ERR"}  # fmt: skip
TYPES = {32: "NB", 33: "NBSTAT", 1: "A", 2: "NS", 10: "NULL"}
SECTIONS = (("Answers", "answers"), ("Authoritative nameservers", "authorities"),
            ("Additional records", "additionals"))  # fmt: skip


def _find_all(obj: Any, key: str) -> list[Any]:
    found: list[Any] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                found.extend(v if isinstance(v, list) else [v])
            else:
                found.extend(_find_all(v, key))
    elif isinstance(obj, list):
        for item in obj:
            found.extend(_find_all(item, key))
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _tshark_messages(capture: Path) -> list[dict[str, Any]]:
    """tshark's NBNS messages in the oracle's shape (../shared/tools/oracle.py)."""
    out = run_tshark(capture, "-Y", "nbns", "-T", "json", "--no-duplicate-keys", "-J", "frame nbns")
    messages = []
    for packet in json.loads(out) if out.strip() else []:
        layers = packet["_source"]["layers"]
        frame = int(_find_all(layers["frame"], "frame.number")[0])
        for layer in _as_list(layers.get("nbns", [])):
            flags = layer.get("nbns.flags_tree", {})
            msg: dict[str, Any] = {
                "frame": frame,
                "id": int(layer["nbns.id"], 0),
                "response": flags.get("nbns.flags.response") == "1",
                "opcode": int(flags["nbns.flags.opcode"]),
                "broadcast": flags.get("nbns.flags.broadcast") == "1",
            }
            if msg["response"]:
                msg["rcode"] = int(flags["nbns.flags.rcode"])
            msg["questions"] = [
                {"name": q["nbns.name"], "type_name": TYPES.get(int(q["nbns.type"]))}
                for value in (layer.get("Queries") or {}).values()
                for q in _as_list(value)
            ]
            for section, key in SECTIONS:
                records = []
                for value in (layer.get(section) or {}).values():
                    for rr in _as_list(value):
                        record = {
                            "name": rr["nbns.name"].split(" (")[0],
                            "type_name": TYPES.get(int(rr["nbns.type"])),
                            "ttl": int(rr["nbns.ttl"]),
                            "addresses": _find_all(rr, "nbns.addr"),
                            "node_names": _find_all(rr, "nbns.netbios_name"),
                        }
                        records.append(record)
                msg[key] = records
            messages.append(msg)
    return messages


@cache
def theirs(capture: Path) -> list[dict[str, Any]]:
    oracle = Path(str(capture) + ".oracle.json")
    if oracle.exists():
        return list(json.loads(oracle.read_text())["nbns"])
    return _tshark_messages(capture)


def _their_key(msg: dict[str, Any]) -> tuple[Any, ...]:
    records = tuple(
        tuple(
            sorted(
                (r["name"], r["type_name"], r["ttl"], tuple(r.get("addresses", [])))
                for r in msg[key]
            )
        )
        for _, key in SECTIONS
    )
    return (
        msg["frame"],
        msg["id"],
        msg["response"],
        OUR_OPCODES.get(msg["opcode"], f"opcode{msg['opcode']}"),
        RCODES.get(msg["rcode"], f"RCODE{msg['rcode']}") if msg["response"] else None,
        msg["broadcast"],
        tuple((q["name"], q["type_name"]) for q in msg["questions"]),
        *records,
    )


def _our_key(row: dict[str, Any]) -> tuple[Any, ...]:
    records = tuple(
        tuple(
            sorted(
                (r["name"], r["type"], r["ttl"], tuple(r.get("addresses", []))) for r in row[key]
            )
        )
        for _, key in SECTIONS
    )
    return (
        row["frame"],
        row["id"],
        row["response"],
        row["opcode"],
        row["rcode"],
        row["broadcast"],
        tuple((q["name"], q["type"]) for q in row["questions"]),
        *records,
    )


def ours(capture: Path) -> list[dict[str, Any]]:
    table = analyze(capture, protocols=["nbns"], strict=True).nbns.astype(object)
    rows = table.where(table.notna(), None).to_dict("records")
    return [{str(k): v for k, v in row.items()} for row in rows]


@pytest.mark.tshark
@pytest.mark.parametrize("capture", all_captures(), ids=capture_id)
def test_nbns_messages_match_tshark(capture: Path) -> None:
    mine = Counter(_our_key(row) for row in ours(capture))
    expected = Counter(_their_key(m) for m in theirs(capture))
    assert mine == expected, (
        f"only ours: {list(mine - expected)[:3]}\nonly tshark: {list(expected - mine)[:3]}"
    )


# ------------------------------------------------------------------ a built capture


def _name(name: bytes, suffix: int) -> bytes:
    raw = name.ljust(15)[:15] + bytes([suffix])
    return b"\x20" + bytes(c for b in raw for c in (0x41 + (b >> 4), 0x41 + (b & 15))) + b"\x00"


def _header(ident: int, flags: int, qd: int, an: int, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", ident, flags, qd, an, 0, ar)


def _rr(name: bytes, rtype: int, ttl: int, rdata: bytes) -> bytes:
    return name + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


PHONE, WINS, SUBNET = bytes([10, 20, 0, 57]), bytes([10, 1, 0, 10]), bytes([10, 20, 0, 255])
UCUPDATES, PHONE_NAME = _name(b"UCUPDATES-R2", 0), _name(b"CX700-1C3A5E", 0)
WILDCARD = _name(b"*" + bytes(14), 0)
NODE_NAMES = (
    b"CX700-1C3A5E   \x00\x04\x00"  # unique, active
    b"CONTOSO        \x00\x84\x00"  # group, active
    b"\x01\x02__MSBROWSE__\x02\x01\x84\x00"  # the browser name, unprintable bytes
)
BUILT = [
    # unicast query to WINS, then its positive answer (unique B-node + group P-node)
    (PHONE, WINS, _header(1, 0x0100, 1, 0) + UCUPDATES + b"\x00\x20\x00\x01"),
    (WINS, PHONE, _header(1, 0x8500, 0, 1) + _rr(UCUPDATES, 32, 300000,
        b"\x00\x00" + bytes([10, 1, 0, 60]) + b"\xa0\x00" + bytes([10, 1, 0, 61]))),
    # negative answer: NAM_ERR with a NULL record
    (WINS, PHONE, _header(2, 0x8583, 0, 1) + _rr(_name(b"NOPE", 0x20), 10, 0, b"")),
    # node status query for the wildcard name, and its answer
    (PHONE, WINS, _header(3, 0x0000, 1, 0) + WILDCARD + b"\x00\x21\x00\x01"),
    (WINS, PHONE, _header(3, 0x8400, 0, 1) + _rr(WILDCARD, 33, 0,
        b"\x03" + NODE_NAMES + bytes.fromhex("0004f21c3a5e") + bytes(46))),
    # broadcast registration (name pointer in the additional record), WACK, release,
    # refresh with opcode 9
    (PHONE, SUBNET, _header(4, 0x2910, 1, 0, 1) + PHONE_NAME + b"\x00\x20\x00\x01"
        + _rr(b"\xc0\x0c", 32, 300000, b"\x00\x00" + PHONE)),
    (WINS, PHONE, _header(4, 0xBC00, 0, 1) + _rr(PHONE_NAME, 32, 2, b"\x29\x10")),
    (PHONE, WINS, _header(5, 0x3000, 1, 0, 1) + PHONE_NAME + b"\x00\x20\x00\x01"
        + _rr(b"\xc0\x0c", 32, 0, b"\x00\x00" + PHONE)),
    (PHONE, WINS, _header(6, 0x4800, 1, 0, 1) + PHONE_NAME + b"\x00\x20\x00\x01"
        + _rr(b"\xc0\x0c", 32, 300000, b"\x00\x00" + PHONE)),
    # broadcast query for a name with a scope id
    (PHONE, SUBNET, _header(7, 0x0110, 1, 0) + _name(b"DC01", 0x1C)[:-1]
        + b"\x07contoso\x03com\x00" + b"\x00\x20\x00\x01"),
]  # fmt: skip


@pytest.mark.tshark
def test_built_answers_node_status_and_registrations_match_tshark(tmp_path: Path) -> None:
    path = tmp_path / "nbns.pcap"
    frames = [ethernet(ipv4_udp(src, dst, 137, 137, data)) for src, dst, data in BUILT]
    path.write_bytes(pcap([(1.0 + i, f) for i, f in enumerate(frames)]))
    rows = ours(path)
    expected = _tshark_messages(path)
    assert Counter(_our_key(r) for r in rows) == Counter(_their_key(m) for m in expected)
    # Node status names: tshark lists them without their suffix.
    status = next(r for r in rows if r["type"] == "NBSTAT" and r["response"])
    (answer,) = status["answers"]
    assert [n.rsplit("<", 1)[0] for n in answer["node_names"]] == next(
        m["answers"][0]["node_names"] for m in expected if m["frame"] == status["frame"]
    )
    assert {r["opcode"] for r in rows} == {"query", "registration", "wack", "release", "refresh"}
    assert next(r for r in rows if r["frame"] == 10)["name"] == "DC01<1c>.contoso.com"

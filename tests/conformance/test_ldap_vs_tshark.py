"""LDAP and CLDAP against tshark on every capture with LDAP in samples/ and the corpus.

What both see must agree, message by message (frame, messageID, operation): searchRequest
base, filter and requested attributes; searchResEntry DN, attribute names and the SHA-256 of
every certificate value (recomputed here from tshark's raw bytes: the oracle tool's LDAP
certificate pass is broken when two or more frames carry certificates); result codes; SASL
buffers (frame, length, and whether tshark could read inside).

Documented differences (tshark's rendering, not decoding errors):
* tshark renders an n-ary AND/OR as nested binary ones, left-associative:
  ``(&(&(sAMAccountName=*)(mail=*))(!(...)))`` for ``(&(sAMAccountName=*)(mail=*)(!(...)))``
  (zeek/aduser1.pcap, suricata-verify/cldap.pcap). Same filter; both sides are compared
  after ``flatten_filter`` merges directly nested groups of the same operator.
* tshark shows the CLDAP ``NtVer`` assertion value as a number, ``(NtVer=0x00000016)``;
  RFC 4515 text escapes the 4 raw little-endian octets: ``(NtVer=\\16\\00\\00\\00)``.
  ``normalise_filter`` turns tshark's form into ours before comparing.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import CORPUS, all_captures, capture_id, run_tshark, sample_captures

from analyzer.api import analyze
from analyzer.protocols.ldap import OP_NAMES, is_certificate_attribute


def _oracle_has_ldap(capture: Path) -> bool:
    oracle = capture.with_name(capture.name + ".oracle.json")
    if not oracle.exists():
        return True  # no oracle: let tshark decide in the test
    return bool(json.loads(oracle.read_text()).get("ldap"))


#: Every sample (tshark is asked in the test) and every corpus capture whose oracle has LDAP.
_SAMPLES = set(sample_captures())
LDAP_CAPTURES = [p for p in all_captures() if p in _SAMPLES or _oracle_has_ldap(p)]
NO_LDAP_CAPTURES = [p for p in all_captures() if p not in LDAP_CAPTURES]


def _walk_messages(node: Any) -> list[dict[str, Any]]:
    """Every ``ldap.LDAPMessage_element`` under ``node``, in document order."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "ldap.LDAPMessage_element":
                found.extend(v for v in (value if isinstance(value, list) else [value]))
            else:
                found.extend(_walk_messages(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_walk_messages(item))
    return found


def _first(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                return v[0] if isinstance(v, list) else v
            hit = _first(v, key)
            if hit is not None:
                return hit
    elif isinstance(node, list):
        for item in node:
            hit = _first(item, key)
            if hit is not None:
                return hit
    return None


def _all(node: Any, key: str) -> list[Any]:
    out: list[Any] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                out.extend(v if isinstance(v, list) else [v])
            else:
                out.extend(_all(v, key))
    elif isinstance(node, list):
        for item in node:
            out.extend(_all(item, key))
    return out


def _filter_label(node: Any) -> str | None:
    """tshark renders the filter only as a tree label 'Filter: (...)' (outermost first)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k.startswith("Filter: "):
                return k[len("Filter: ") :]
            hit = _filter_label(v)
            if hit is not None:
                return hit
    elif isinstance(node, list):
        for item in node:
            hit = _filter_label(item)
            if hit is not None:
                return hit
    return None


def normalise_filter(text: str) -> str:
    """tshark's filter text in RFC 4515 form (see the module docstring)."""
    return re.sub(
        r"\(NtVer=0x([0-9a-fA-F]{8})\)",
        lambda m: (
            "(NtVer="
            + "".join(f"\\{b:02x}" for b in int(m.group(1), 16).to_bytes(4, "little"))
            + ")"
        ),
        text,
    )


def flatten_filter(text: str) -> str:
    """Merge directly nested AND-in-AND / OR-in-OR groups: (&(&A B)C) -> (&A B C)."""
    pos = 0

    def parse() -> Any:
        nonlocal pos
        assert text[pos] == "(", text
        pos += 1
        if text[pos] in "&|!":
            op = text[pos]
            pos += 1
            items = []
            while text[pos] == "(":
                items.append(parse())
            assert text[pos] == ")", text
            pos += 1
            flat: list[Any] = []
            for item in items:
                if op != "!" and isinstance(item, tuple) and item[0] == op:
                    flat.extend(item[1])
                else:
                    flat.append(item)
            return (op, flat)
        end = text.index(")", pos)  # values escape parentheses as \28 \29
        item = text[pos:end]
        pos = end + 1
        return item

    def render(node: Any) -> str:
        if isinstance(node, tuple):
            return "(" + node[0] + "".join(render(n) for n in node[1]) + ")"
        return f"({node})"

    return render(parse())


def _raws(node: Any, key: str) -> list[bytes]:
    """Bytes of every ``<field>_raw`` entry: with -x each is [hex, offset, length, mask,
    type]; merged duplicates (--no-duplicate-keys) are a list of those."""
    out: list[bytes] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                entries = v if v and isinstance(v[0], list) else [v]
                out.extend(bytes.fromhex(e[0]) for e in entries)
            else:
                out.extend(_raws(v, key))
    elif isinstance(node, list):
        for item in node:
            out.extend(_raws(item, key))
    return out


@cache
def tshark_view(capture: Path) -> tuple[list[dict[str, Any]], list[tuple[int, int, bool]]]:
    """(LDAP messages, SASL buffers) as tshark sees them."""
    out = run_tshark(
        capture,
        "-Y",
        "ldap or cldap",
        "-T",
        "json",
        "-x",
        "--no-duplicate-keys",
        "-J",
        "frame ldap cldap",
    )
    packets = json.loads(out) if out.strip() else []
    messages: list[dict[str, Any]] = []
    sasl: list[tuple[int, int, bool]] = []
    for pkt in packets:
        layers = pkt["_source"]["layers"]
        frame = int(_first(layers["frame"], "frame.number"))
        for proto in ("ldap", "cldap"):
            layer = layers.get(proto)
            if layer is None:
                continue
            for buf_len, encrypted in _sasl_buffers(layer):
                sasl.append((frame, buf_len, encrypted))
            for msg in _walk_messages(layer):
                op = int(msg["ldap.protocolOp"])
                body = msg.get("ldap.protocolOp_tree", {})
                row: dict[str, Any] = {
                    "frame": frame,
                    "message_id": int(msg["ldap.messageID"]),
                    "op": OP_NAMES.get(op, f"op_{op}"),
                }
                if op == 3:
                    label = _filter_label(body)
                    row.update(
                        base_object=_first(body, "ldap.baseObject"),
                        filter=normalise_filter(label) if label else None,
                        requested_attributes=[
                            a for a in _all(body, "ldap.AttributeDescription") if a is not None
                        ],
                    )
                elif op == 4:
                    items = _all(body, "ldap.PartialAttributeList_item_element")
                    shas = []
                    for item in items:
                        if not is_certificate_attribute(str(item.get("ldap.type"))):
                            continue
                        ders = _raws(item, "x509af.Certificate_element_raw") or _raws(
                            item, "ldap.AttributeValue_raw"
                        )
                        shas += [hashlib.sha256(der).hexdigest() for der in ders]
                    row.update(
                        object_name=_first(body, "ldap.objectName"),
                        attribute_names=[item.get("ldap.type") for item in items],
                        certificate_sha256=shas,
                    )
                elif op in (1, 5, 7, 9, 11, 13, 15, 24):
                    row["result_code"] = int(_first(body, "ldap.resultCode"))
                elif op == 0:
                    row.update(
                        bind_name=_first(body, "ldap.name"),
                        bind_version=int(_first(body, "ldap.version")),
                    )
                elif op == 23:
                    row["extended_oid"] = _first(body, "ldap.requestName")
                messages.append(row)
    return messages, sasl


def _sasl_buffers(layer: Any) -> list[tuple[int, bool]]:
    out = []
    for item in layer if isinstance(layer, list) else [layer]:
        if isinstance(item, dict) and "ldap.sasl_buffer_length" in item:
            encrypted = _first(item, "ldap.gssapi_encrypted_payload") is not None
            out.append((int(item["ldap.sasl_buffer_length"]), encrypted))
    return out


@cache
def our_view(capture: Path) -> tuple[list[dict[str, Any]], list[tuple[int, int, bool]]]:
    ldap = analyze(capture, protocols=["ldap"], strict=True).ldap
    messages: list[dict[str, Any]] = []
    sasl: list[tuple[int, int, bool]] = []
    for r in ldap.to_dict("records"):
        if r["op"] == "sasl_wrapped":
            sasl.append((int(r["frame"]), int(r["length"]), bool(r["sealed"])))
            continue
        if r["op"] == "starttls":
            continue
        row: dict[str, Any] = {
            "frame": int(r["frame"]),
            "message_id": int(r["message_id"]),
            "op": r["op"],
        }
        if r["op"] == "searchRequest":
            row.update(
                base_object=r["base_object"],
                filter=r["filter"],
                requested_attributes=list(r["requested_attributes"]),
            )
        elif r["op"] == "searchResEntry":
            row.update(
                object_name=r["object_name"],
                attribute_names=list(r["attribute_names"]),
                certificate_sha256=list(r["certificate_sha256"]),
            )
        elif pd.notna(r["result_code"]):
            row["result_code"] = int(r["result_code"])
        if r["op"] == "bindRequest":
            row.update(bind_name=r["bind_name"], bind_version=int(r["bind_version"]))
        if r["op"] == "extendedReq":
            row["extended_oid"] = r["extended_oid"]
        messages.append(row)
    return messages, sasl


def _project(
    rows: list[dict[str, Any]], keys: tuple[str, ...], ops: set[str]
) -> list[tuple[Any, ...]]:
    return [tuple(r.get(k) for k in keys) for r in rows if r["op"] in ops]


@pytest.mark.tshark
@pytest.mark.parametrize("capture", LDAP_CAPTURES, ids=capture_id)
def test_messages_match_tshark(capture: Path) -> None:
    theirs, _ = tshark_view(capture)
    ours, _ = our_view(capture)
    keys = ("frame", "message_id", "op")
    assert [tuple(r[k] for k in keys) for r in ours] == [tuple(r[k] for k in keys) for r in theirs]


@pytest.mark.tshark
@pytest.mark.parametrize("capture", LDAP_CAPTURES, ids=capture_id)
def test_search_requests_match_tshark(capture: Path) -> None:
    keys = ("frame", "message_id", "base_object", "filter", "requested_attributes")
    theirs = _project(tshark_view(capture)[0], keys, {"searchRequest"})
    ours = _project(our_view(capture)[0], keys, {"searchRequest"})

    def flat(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [(*r[:3], flatten_filter(r[3]), *r[4:]) for r in rows]

    assert flat(ours) == flat(theirs)
    # Where tshark's text has nothing to flatten, the texts are identical as they are.
    for mine, its in zip(ours, theirs, strict=True):
        if flatten_filter(its[3]) == its[3]:
            assert mine == its


@pytest.mark.tshark
@pytest.mark.parametrize("capture", LDAP_CAPTURES, ids=capture_id)
def test_search_entries_match_tshark(capture: Path) -> None:
    keys = ("frame", "message_id", "object_name", "attribute_names")
    theirs = _project(tshark_view(capture)[0], keys, {"searchResEntry"})
    ours = _project(our_view(capture)[0], keys, {"searchResEntry"})
    assert ours == theirs


@pytest.mark.tshark
@pytest.mark.parametrize("capture", LDAP_CAPTURES, ids=capture_id)
def test_certificate_values_match_tshark(capture: Path) -> None:
    keys = ("frame", "object_name", "certificate_sha256")
    theirs = [r for r in _project(tshark_view(capture)[0], keys, {"searchResEntry"}) if r[2]]
    ours = [r for r in _project(our_view(capture)[0], keys, {"searchResEntry"}) if r[2]]
    assert ours == theirs


@pytest.mark.tshark
@pytest.mark.parametrize("capture", LDAP_CAPTURES, ids=capture_id)
def test_results_and_binds_match_tshark(capture: Path) -> None:
    keys = ("frame", "message_id", "result_code", "bind_name", "bind_version", "extended_oid")
    ops = {"bindRequest", "extendedReq"} | {OP_NAMES[n] for n in (1, 5, 7, 9, 11, 13, 15, 24)}
    assert _project(our_view(capture)[0], keys, ops) == _project(tshark_view(capture)[0], keys, ops)


@pytest.mark.tshark
@pytest.mark.parametrize("capture", LDAP_CAPTURES, ids=capture_id)
def test_sasl_buffers_match_tshark(capture: Path) -> None:
    """Same SASL buffers (frame, length); sealed exactly where tshark shows only ciphertext."""
    assert our_view(capture)[1] == tshark_view(capture)[1]


@pytest.mark.parametrize("capture", NO_LDAP_CAPTURES, ids=capture_id)
def test_no_ldap_where_the_oracle_has_none(capture: Path) -> None:
    assert analyze(capture, protocols=["ldap"], strict=True).ldap.empty


def test_the_corpus_ldap_captures_are_all_covered() -> None:
    names = {capture_id(p) for p in LDAP_CAPTURES}
    if CORPUS.is_dir():
        assert {
            "zeek/missing_ldap_logs.pcapng",
            "zeek/aduser1.pcap",
            "suricata-verify/cldap.pcap",
            "suricata-verify/ldap-starttls.pcap",
        } <= names

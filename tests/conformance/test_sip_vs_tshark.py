"""Differential: every SIP message in clear agrees with tshark.

For each capture in samples/ and ../shared/corpus/, the analyzer's ``sip`` table and
Wireshark see the same messages in the same frames, with the same kind, method,
Request-URI, status code and reason, Call-ID, From/To URI and tag, CSeq, User-Agent and
Content-Type, between the same endpoints. The corpus captures are compared with their
stored oracle (``X.oracle.json``, section ``sip``); the samples (whose SIP runs inside
TLS, so both sides must see none) with tshark run on the spot.

How the two presentations are brought together: the oracle keeps From and To as the raw
header values (``"Bob" <sip:bob@x>;tag=1``) and CSeq as ``"68 REGISTER"``; the analyzer
splits them into URI and tag, number and method. The URI and tag are taken out of the
oracle's text with a plain pattern here, independent of the analyzer's parser.

Documented differences: none on the current samples and corpus (a disagreement fails the
test; when tshark is the one that is wrong, list it in ``TSHARK_ERRORS`` with why).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import all_captures, capture_id, run_tshark

from analyzer.api import analyze

#: (capture id, frame) -> why tshark's view of that message is wrong. Empty today.
TSHARK_ERRORS: dict[tuple[str, int], str] = {}

CAPTURES = all_captures()
FIELDS = ("frame.number", "ip.src", "ip.dst", "sip.Method", "sip.Status-Code")


def _oracle_path(capture: Path) -> Path:
    return capture.with_name(capture.name + ".oracle.json")


def _name_addr(value: str | None) -> tuple[str | None, str | None]:
    """URI and tag out of a raw From/To value (display name, <uri> or bare uri)."""
    if value is None:
        return None, None
    rest = re.sub(r'^\s*"(?:[^"\\]|\\.)*"\s*', "", value)
    m = re.match(r"[^<]*<([^>]*)>(.*)", rest)
    if m is not None:
        uri, params = m.group(1), m.group(2)
    else:
        uri, _, params = rest.partition(";")
        params = ";" + params
    tag = re.search(r";\s*tag=([^;\s]+)", params)
    return uri.strip(), tag.group(1) if tag else None


def _theirs(capture: Path) -> list[dict[str, Any]]:
    """The oracle's sip messages, or (no oracle) tshark's frames with SIP."""
    oracle = _oracle_path(capture)
    if oracle.exists():
        messages: list[dict[str, Any]] = json.loads(oracle.read_text())["sip"]
        return messages
    out = run_tshark(capture, "-Y", "sip", "-T", "fields", *(a for f in FIELDS for a in ("-e", f)))
    return [{"frame": int(line.split("\t")[0]), "tshark_only": line} for line in out.splitlines()]


def _expected(m: dict[str, Any]) -> dict[str, Any]:
    from_uri, from_tag = _name_addr(m.get("from"))
    to_uri, to_tag = _name_addr(m.get("to"))
    return {
        "frame": m["frame"],
        "transport": m.get("transport"),
        "src": m.get("src"),
        "dst": m.get("dst"),
        "kind": m.get("kind"),
        "method": m.get("method"),
        "request_uri": m.get("request_uri"),
        "status": m.get("status_code"),
        "reason": m.get("reason"),
        "call_id": m.get("call_id"),
        "from_uri": from_uri,
        "from_tag": from_tag,
        "to_uri": to_uri,
        "to_tag": to_tag,
        "cseq": m.get("cseq"),
        "user_agent": m.get("user_agent"),
        "content_type": m.get("content_type"),
    }


def _na(value: Any) -> Any:
    return None if value is None or str(value) in ("<NA>", "nan") else value


def _ours(row: Any) -> dict[str, Any]:
    status = _na(row.status)
    return {
        "frame": int(row.frame),
        "transport": row.transport,
        "src": f"{row.src}:{row.sport}",
        "dst": f"{row.dst}:{row.dport}",
        "kind": row.kind,
        "method": _na(row.method),
        "request_uri": _na(row.request_uri),
        "status": int(status) if status is not None else None,
        "reason": _na(row.reason),
        "call_id": _na(row.call_id),
        "from_uri": _na(row.from_uri),
        "from_tag": _na(row.from_tag),
        "to_uri": _na(row.to_uri),
        "to_tag": _na(row.to_tag),
        "cseq": f"{row.cseq} {row.cseq_method}" if _na(row.cseq) is not None else None,
        "user_agent": _na(row.user_agent),
        "content_type": _na(row.content_type),
    }


@pytest.mark.tshark
@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
def test_sip_messages_match_tshark(capture: Path) -> None:
    theirs = _theirs(capture)
    table = analyze(capture, protocols=["sip"], strict=True).sip
    ours = [_ours(row) for row in table.itertuples()]
    cid = capture_id(capture)
    if theirs and "tshark_only" in theirs[0]:
        # No oracle: tshark's frame list is compared (the samples have no SIP in clear).
        assert [o["frame"] for o in ours] == [t["frame"] for t in theirs]
        return
    expected = [_expected(m) for m in theirs if (cid, m["frame"]) not in TSHARK_ERRORS]
    ours = [o for o in ours if (cid, o["frame"]) not in TSHARK_ERRORS]
    assert ours == expected


def test_the_corpus_has_sip_to_compare() -> None:
    """Guard against a silently empty comparison: the five SIP captures of the corpus."""
    with_sip = [
        capture_id(c)
        for c in CAPTURES
        if _oracle_path(c).exists() and json.loads(_oracle_path(c).read_text()).get("sip")
    ]
    if not with_sip:
        pytest.skip("corpus not present")
    assert len(with_sip) >= 5

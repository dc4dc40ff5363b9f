"""JA4 against FoxIO's own expected outputs for their captures (``ja4/*.ja4-python.json``
from the python implementation, ``ja4/*.ja4-rust.snap`` from the rust one).

Both list, per Wireshark ``tcp.stream``, the JA4 of the stream's ClientHello (python also
JA4_r, the raw form); ours is the ``ja4``/``ja4_r`` of the tls row of that stream.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest
from conftest import CORPUS, capture_id

from analyzer.api import analyze

JA4_DIR = CORPUS / "ja4"
CAPTURES = sorted(
    p
    for p in JA4_DIR.glob("*")
    if p.suffix in (".pcap", ".pcapng") and Path(f"{p}.ja4-python.json").exists()
)


@cache
def ja4_by_stream(capture: Path) -> dict[int, tuple[str, str]]:
    analysis = analyze(capture, protocols=["tls"], strict=True)
    stream_of = analysis.conversations.set_index("flow")["stream"]
    return {
        int(stream_of[row.flow]): (row.ja4, row.ja4_r)
        for row in analysis.tls.itertuples()
        if isinstance(row.ja4, str)
    }


def python_expected(capture: Path) -> dict[int, tuple[str, str]]:
    entries = json.loads(Path(f"{capture}.ja4-python.json").read_text())
    return {int(e["stream"]): (e["JA4.1"], e["JA4_r.1"]) for e in entries if "JA4.1" in e}


def rust_expected(capture: Path) -> dict[int, str]:
    """``- stream: N`` blocks of the insta snapshot, and their ``ja4:`` line."""
    out: dict[int, str] = {}
    stream = None
    for line in Path(f"{capture}.ja4-rust.snap").read_text().splitlines():
        if m := re.match(r"- stream: (\d+)$", line):
            stream = int(m.group(1))
        elif (m := re.match(r"  ja4: (\S+)$", line)) and stream is not None:
            out[stream] = m.group(1)
    return out


@pytest.mark.skipif(not CAPTURES, reason="JA4 corpus not present")
@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
def test_ja4_equals_foxio_python(capture: Path) -> None:
    expected = python_expected(capture)
    ours = ja4_by_stream(capture)
    for stream, (ja4, ja4_r) in expected.items():
        assert ours[stream] == (ja4, ja4_r), stream


@pytest.mark.skipif(not CAPTURES, reason="JA4 corpus not present")
@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
def test_ja4_equals_foxio_rust(capture: Path) -> None:
    expected = rust_expected(capture)
    ours = {stream: ja4 for stream, (ja4, _) in ja4_by_stream(capture).items()}
    assert ours == expected


def test_the_corpus_has_ja4_expectations() -> None:
    if not JA4_DIR.is_dir():
        pytest.skip("JA4 corpus not present")
    assert sum(len(python_expected(c)) for c in CAPTURES) >= 10

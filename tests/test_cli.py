"""The command line: exit codes, messages, JSON contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from builders import ethernet, ipv4_tcp, ipv4_udp, pcap

from analyzer import __version__

SUMMARY_FIELDS = {
    "packets",
    "bytes",
    "link_types",
    "first_ts",
    "last_ts",
    "flows",
    "conversations",
    "weird",
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "analyzer", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture
def small_capture(tmp_path: Path) -> Path:
    path = tmp_path / "small.pcap"
    path.write_bytes(
        pcap(
            [
                (1330596000.0, ethernet(ipv4_udp(payload=b"q"), vlans=(20,))),
                (1330596000.5, ethernet(ipv4_tcp())),
            ]
        )
    )
    return path


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"analyzer {__version__}"


def test_summary_json_has_the_contract_fields(small_capture: Path) -> None:
    result = run("summary", str(small_capture), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) >= SUMMARY_FIELDS
    assert doc["packets"] == 2
    assert doc["link_types"] == {"ETHERNET": 2}
    assert doc["first_ts"] == "2012-03-01T10:00:00.000000000Z"
    assert doc["last_ts"] == "2012-03-01T10:00:00.500000000Z"
    assert doc["flows"] == 2
    assert [c["transport"] for c in doc["conversations"]] == ["udp", "tcp"]
    assert doc["conversations"][0]["vlan"] == 20
    assert doc["weird"] == {}


def test_summary_human_output_names_the_file_and_counts(small_capture: Path) -> None:
    result = run("summary", str(small_capture))
    assert result.returncode == 0, result.stderr
    assert "small.pcap" in result.stdout
    assert "packets" in result.stdout and "10.0.0.1" in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "empty file"),
        (b"GIF89a this is a picture", "not a pcap or pcapng capture"),
    ],
    ids=["missing", "empty", "not-a-capture"],
)
def test_unusable_input_is_one_line_and_exit_2(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "input.pcap"
    if content is not None:
        path.write_bytes(content)
    result = run("summary", str(path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_truncated_capture_is_analysed_up_to_the_damage_and_exits_0(
    small_capture: Path, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(small_capture.read_bytes()[:-7])
    result = run("summary", str(cut), "--json")
    assert result.returncode == 0
    doc = json.loads(result.stdout)
    assert doc["packets"] == 1
    assert doc["complete"] is False
    assert doc["weird"] == {"capture_truncated": 1}
    assert "cut short" in result.stderr


def test_usage_error_exits_2() -> None:
    assert run("summary").returncode == 2


SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "expired-certificate.pcap"


def test_protocol_table_json_is_an_array_of_rows_with_the_envelope() -> None:
    result = run("ntp", str(SAMPLE), "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 4
    assert {"ts", "frame", "flow", "src", "sport", "dst", "dport", "transport"} <= set(rows[0])
    assert rows[0]["mode"] == "client"


def test_protocol_table_csv_has_a_header_and_one_line_per_row() -> None:
    result = run("ntp", str(SAMPLE), "--csv")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ts,frame,flow,src,sport,dst,dport,transport,")
    assert len(lines) == 5


def test_protocol_table_on_a_non_capture_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a capture")
    result = run("ntp", str(path))
    assert result.returncode == 2
    assert "not a pcap or pcapng capture" in result.stderr

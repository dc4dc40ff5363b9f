"""The progress bar: on stderr when it is a terminal, never in piped output."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from builders import ethernet, ipv4_udp, pcap


def _capture(tmp_path: Path) -> Path:
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap([(float(i), ethernet(ipv4_udp())) for i in range(100)]))
    return path


def _run_with_stderr_on_a_terminal(args: list[str]) -> tuple[int, bytes, str]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "analyzer", *args], stdout=subprocess.PIPE, stderr=slave
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    stdout = proc.communicate()[0]
    os.close(master)
    return proc.wait(), stdout, seen.decode(errors="replace")


def test_progress_bar_is_drawn_on_a_terminal_stderr(tmp_path: Path) -> None:
    code, stdout, stderr = _run_with_stderr_on_a_terminal(["summary", str(_capture(tmp_path))])
    assert code == 0
    assert "reading" in stderr
    assert b"reading" not in stdout


def test_no_progress_bar_when_asked(tmp_path: Path) -> None:
    code, _, stderr = _run_with_stderr_on_a_terminal(
        ["summary", str(_capture(tmp_path)), "--no-progress"]
    )
    assert code == 0
    assert "reading" not in stderr


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "analyzer", "summary", str(_capture(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stderr == ""

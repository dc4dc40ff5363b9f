"""Shared fixtures: where the captures are, and tshark for differential tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
CORPUS = REPO.parent / "shared" / "corpus"
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".pcap.gz", ".pcapng.gz", ".cap")


def _captures(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.name.endswith(CAPTURE_SUFFIXES) and ".cache" not in p.parts
    )


def corpus_captures() -> list[Path]:
    """Public captures in ../shared/corpus (empty when the corpus is not there)."""
    return _captures(CORPUS)


def sample_captures() -> list[Path]:
    """The project's own sample captures."""
    return _captures(SAMPLES)


def capture_id(path: Path) -> str:
    for root in (CORPUS, SAMPLES):
        try:
            return str(path.relative_to(root))
        except ValueError:
            continue
    return path.name


def all_captures() -> list[Path]:
    return sample_captures() + corpus_captures()


def require_tshark() -> str:
    """Path of tshark; a missing tshark fails the test under CI and skips it elsewhere."""
    path = shutil.which("tshark")
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail("tshark is required for differential tests in CI but is not installed")
    pytest.skip("tshark not installed")


def run_tshark(capture: Path, *args: str) -> str:
    tshark = require_tshark()
    result = subprocess.run(
        [tshark, "-n", "-r", str(capture), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"tshark failed on {capture}: {result.stderr.strip()}")
    return result.stdout


@pytest.fixture
def tshark() -> str:
    return require_tshark()

"""Capture files and their ground-truth JSON."""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path

from . import pki
from .env import iso
from .scenarios import Result, Scenario
from .wire import gzip_bytes, pcap_bytes, pcapng_bytes

TRUTH_FORMAT = 1


def capture_bytes(scenario: Scenario, result: Result) -> bytes:
    frames = result.site.cap.sorted_frames()
    name = scenario.file
    if ".pcapng" in name:
        data = pcapng_bytes(frames, f"{scenario.name}: {result.description}")
    else:
        data = pcap_bytes(frames)
    return gzip_bytes(data) if name.endswith(".gz") else data


def _attempt(i: int, a) -> dict:
    detail = dict(a.detail)
    return {
        "index": i,
        "device": detail.pop("device"),
        "start_ts": round(a.start, 6),
        "start_iso": iso(a.start),
        "phase_reached": a.phase_reached,
        "failure": a.failure,
        "tls_flow": a.tls_flow,
        "detail": detail,
    }


def _loop(result: Result) -> dict | None:
    phone = result.loop_phone
    if phone is None or len(phone.attempts) < 2:
        return None
    starts = [a.start for a in phone.attempts]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    failures = sorted({a.failure or "none" for a in phone.attempts})
    phases = sorted({a.phase_reached for a in phone.attempts})
    return {
        "device": phone.host.name,
        "attempts": len(starts),
        "period_s": round(statistics.mean(gaps), 3),
        "period_stdev_s": round(statistics.pstdev(gaps), 3),
        "period_min_s": round(min(gaps), 3),
        "period_max_s": round(max(gaps), 3),
        "first_start_iso": iso(starts[0]),
        "last_start_iso": iso(starts[-1]),
        "phase_reached": phases[0] if len(phases) == 1 else phases,
        "failure": failures[0] if len(failures) == 1 else failures,
    }


def truth(scenario: Scenario, result: Result) -> dict:
    site = result.site
    frames = site.cap.sorted_frames()
    name = scenario.file
    hosts = sorted(site.cap.seen.values(), key=lambda h: (h.role != "phone", h.role, h.name))
    attempts = sorted(site.attempts, key=lambda a: a.start)
    return {
        "capture": name,
        "scenario": scenario.name,
        "description": result.description,
        "failure_class": result.failure_class,
        "format": "pcapng" if ".pcapng" in name else "pcap",
        "compression": "gzip" if name.endswith(".gz") else None,
        "truth_format": TRUTH_FORMAT,
        "seed": scenario.seed,
        "packets": len(frames),
        "capture_start": {"ts": round(frames[0].ts, 6), "iso": iso(frames[0].ts)},
        "capture_end": {"ts": round(frames[-1].ts, 6), "iso": iso(frames[-1].ts)},
        "vlans": sorted({h.vlan for h in hosts if h.vlan is not None}),
        "devices": [h.device() for h in hosts],
        "attempts": [_attempt(i, a) for i, a in enumerate(attempts)],
        "loop": _loop(result),
        "certificates": [pki.describe(spec, sorted(via)) for spec, via in site.certs.items()],
        "expected_diagnosis": result.diagnosis,
    }


def write(scenario: Scenario, result: Result, out: Path) -> tuple[Path, Path]:
    cap_path = out / scenario.file
    cap_path.write_bytes(capture_bytes(scenario, result))
    truth_path = out / f"{scenario.name}.truth.json"
    truth_path.write_text(json.dumps(truth(scenario, result), indent=2) + "\n")
    return cap_path, truth_path

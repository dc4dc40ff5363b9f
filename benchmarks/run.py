"""Throughput and memory of ``analyzer summary`` against its floor and against tshark, in one run.

    python benchmarks/run.py                      # 1M-packet capture, seed 1
    python benchmarks/run.py --packets 200000 --json
    python benchmarks/run.py --capture some.pcap

Steps, each in its own process started by a tiny launcher that reports that process's own
peak RSS (see ``find_launcher``), each pinned to one CPU with ``taskset`` when it exists, all
on the same capture, read from a warm page cache:

* bare loop: ``bare_loop.py``, record headers only (the floor for Python);
* analyzer: ``python -m analyzer summary CAPTURE --json`` (its packet count must match);
* tshark: ``tshark -n -r CAPTURE -q -z conv,tcp -z conv,udp`` (one pass, conversations).

Exit status: 0 when every bar is met, 1 when a bar is missed, 2 when a step failed.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
CACHE_DIR = BENCH_DIR / ".cache"

# The bars from the foundation issue.
MIN_PACKETS_PER_S = 300_000
MIN_SPEEDUP_VS_TSHARK = 40.0
MAX_RSS_MB = 200.0

STEP_NAMES = ("bare_loop", "analyzer", "analyzer_all", "tshark")


@dataclass
class Step:
    """One measured command."""

    name: str
    label: str
    command: list[str]
    wall_s: float | None = None
    cpu_s: float | None = None
    peak_rss_mb: float | None = None
    packets: int | None = None  # the packets the step saw (reported, or the capture's count)
    exit_code: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.wall_s is not None

    @property
    def packets_per_s(self) -> float | None:
        if not self.ok or not self.packets or not self.wall_s:
            return None
        return self.packets / self.wall_s

    @property
    def us_per_packet(self) -> float | None:
        rate = self.packets_per_s
        return 1e6 / rate if rate else None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["packets_per_s"] = self.packets_per_s
        data["us_per_packet"] = self.us_per_packet
        return data


@dataclass
class Bar:
    """A threshold from the issue: ``value`` must be at least ``limit`` (below ``limit`` when
    ``below``); ``passed`` is None when the value could not be measured."""

    name: str
    value: float | None
    limit: float
    below: bool = False

    @property
    def passed(self) -> bool | None:
        if self.value is None:
            return None
        return self.value < self.limit if self.below else self.value >= self.limit

    def as_json(self) -> dict[str, Any]:
        return {"bar": self.name, "value": self.value, "limit": self.limit, "pass": self.passed}


@dataclass
class Run:
    """Raw result of one process: how long, how much CPU and memory, what it printed."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool


# Peak RSS must come from a process that is small when it starts the measured one. On Linux
# the maximum RSS that wait4()/getrusage() report for a child includes the high-water mark of
# the memory it had before exec(), and a child forked or vforked from this script starts with
# this script's memory (which holds the generator's state): measured directly, even
# ``python -c pass`` would show this script's peak. So every step runs under a tiny launcher
# that forks it and reports its rusage: GNU time (about 1 MB of its own) or, without it, a
# bare ``python -I -S`` (a few MB). The launcher's own floor is measured and reported.
PY_LAUNCHER = """
import os, sys
report, argv = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as f:
    f.write("rusage %d %f %f\\n" % (usage.ru_maxrss, usage.ru_utime, usage.ru_stime))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


@dataclass
class Launcher:
    """Runs a command and reports its peak RSS (KiB on Linux) and CPU time in a file."""

    name: str
    prefix: list[str]
    floor_mb: float = 0.0

    def command(self, argv: Sequence[str], report: Path) -> list[str]:
        if self.prefix[-1] == "-c":  # the Python launcher: report path, then the command
            return [*self.prefix, PY_LAUNCHER, str(report), *argv]
        return [*self.prefix, "-o", str(report), *argv]

    @staticmethod
    def read(report: Path) -> tuple[float, float]:
        """(peak RSS MB, CPU seconds) from the report's ``rusage MAXRSS USER SYS`` line."""
        for line in reversed(report.read_text().splitlines()):
            if line.startswith("rusage "):
                _, maxrss, user, system = line.split()
                # ru_maxrss is in KiB on Linux, in bytes on macOS.
                scale = 1 << 20 if sys.platform == "darwin" else 1 << 10
                return int(maxrss) / scale, float(user) + float(system)
        raise ValueError(f"no rusage line in {report.read_text()!r}")


def find_launcher() -> Launcher:
    """GNU time if it works here, else the Python launcher; with its own RSS floor."""
    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    candidates = []
    if gnu_time is not None:
        candidates.append(Launcher("GNU time", [gnu_time, "-f", "rusage %M %U %S"]))
    candidates.append(Launcher("python -I -S launcher", [sys.executable, "-I", "-S", "-c"]))
    true = shutil.which("true") or "true"
    for launcher in candidates:
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "rusage"
            done = subprocess.run(
                launcher.command([true], report), capture_output=True, check=False
            )
            if done.returncode == 0 and report.exists():
                try:
                    launcher.floor_mb, _ = launcher.read(report)
                except ValueError:
                    continue
                return launcher
    raise RuntimeError("no way to measure a child's peak RSS on this system")


def run_measured(launcher: Launcher, argv: Sequence[str], cwd: Path, timeout_s: float) -> Run:
    """Run ``argv`` under ``launcher`` to completion; its wall time, CPU time, peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rusage"
        out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            began = time.perf_counter()
            proc = subprocess.Popen(
                launcher.command(argv, report),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=cwd,
                start_new_session=True,  # so a timeout can kill the whole group
            )
            timed_out = False
            try:
                exit_code = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                exit_code = proc.wait()
            wall = time.perf_counter() - began
        stdout = out_path.read_text("utf-8", "replace")
        stderr = err_path.read_text("utf-8", "replace")
        rss_mb, cpu_s = (0.0, 0.0) if timed_out else Launcher.read(report)
    return Run(wall, cpu_s, rss_mb, exit_code, stdout, stderr, timed_out)


def find_packets(data: Any, depth: int = 0) -> int | None:
    """The ``packets`` count in the analyzer's JSON: top level first, then nested objects."""
    if not isinstance(data, dict) or depth > 3:
        return None
    value = data.get("packets")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    for child in data.values():
        found = find_packets(child, depth + 1)
        if found is not None:
            return found
    return None


def last_lines(text: str, n: int = 6) -> str:
    lines = [line for line in text.strip().splitlines() if "Running as user" not in line]
    return "\n".join(lines[-n:])


def measure(
    launcher: Launcher,
    step: Step,
    *,
    cwd: Path,
    timeout_s: float,
    repeat: int,
    expected: int | None,
    reported: Callable[[str], int | None] | None,
) -> Step:
    """Run the step ``repeat`` times, keep the fastest run; check the packet count."""
    best: Run | None = None
    for _ in range(repeat):
        try:
            run = run_measured(launcher, step.command, cwd, timeout_s)
        except OSError as exc:
            step.error = f"could not start {step.command[0]}: {exc}"
            return step
        if run.timed_out:
            step.error = f"timed out after {timeout_s:.0f} s"
            return step
        if run.exit_code != 0:
            step.exit_code = run.exit_code
            output = last_lines(run.stderr) or last_lines(run.stdout) or "(no output)"
            step.error = f"exit status {run.exit_code}: {output}"
            return step
        if best is None or run.wall_s < best.wall_s:
            best = run
    assert best is not None
    step.wall_s, step.cpu_s, step.peak_rss_mb, step.exit_code = (
        best.wall_s,
        best.cpu_s,
        best.peak_rss_mb,
        0,
    )
    step.packets = expected
    if reported is not None:
        try:
            count = reported(best.stdout)
        except ValueError as exc:
            step.error = f"unreadable output ({exc}): {last_lines(best.stdout, 3) or '(empty)'}"
            return step
        if count is None:
            step.error = "its output has no packet count"
        elif expected is not None and count != expected:
            step.error = f"reported {count} packets, the capture has {expected}"
        step.packets = count
    return step


def bare_loop_count(stdout: str) -> int | None:
    value = json.loads(stdout).get("packets")
    return value if isinstance(value, int) else None


def analyzer_count(stdout: str) -> int | None:
    return find_packets(json.loads(stdout))


def warm(path: Path) -> None:
    """Read the file once so every step reads it from the page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def prepare_capture(
    args: argparse.Namespace, log: Callable[[str], None]
) -> tuple[Path, bool, float | None]:
    """The capture to measure: given, cached, or generated now. Returns (path, whether to
    delete it afterwards, generation seconds)."""
    if args.capture is not None:
        return args.capture, False, None
    if str(BENCH_DIR) not in sys.path:  # imported as a module rather than run as a script
        sys.path.insert(0, str(BENCH_DIR))
    from make_capture import GENERATOR_VERSION, describe, generate

    CACHE_DIR.mkdir(exist_ok=True)
    path = CACHE_DIR / f"vlan-{args.packets}-seed{args.seed}-v{GENERATOR_VERSION}.pcap"
    if path.exists():
        log(f"reusing {path}")
        return path, False, None
    partial = path.with_suffix(".partial")
    log(f"generating {args.packets} packets (seed {args.seed}) ...")
    began = time.perf_counter()
    try:
        stats = generate(partial, args.packets, args.seed)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - began
    partial.rename(path)
    describe(stats, path, seconds, log)
    return path, not args.keep, seconds


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--packets", type=int, default=1_000_000, help="packets to generate (default 1000000)"
    )
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--capture", type=Path, help="measure this classic pcap instead of generating one"
    )
    parser.add_argument(
        "--keep", action="store_true", help=f"keep a generated capture in {CACHE_DIR}"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per step, the fastest is kept (default 1)"
    )
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin every step to (default 0)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin steps to one CPU")
    parser.add_argument(
        "--skip", action="append", choices=STEP_NAMES, default=[], help="leave a step out"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds allowed per run (default 1800)"
    )
    args = parser.parse_args(argv)
    if args.packets < 1 or args.repeat < 1:
        parser.error("--packets and --repeat must be positive")

    def log(message: str) -> None:
        print(message, file=sys.stderr if args.json else sys.stdout, flush=True)

    capture, delete_after, generation_s = prepare_capture(args, log)
    try:
        return benchmark(args, capture, generation_s, log)
    finally:
        if delete_after:
            capture.unlink(missing_ok=True)


def compile_package() -> None:
    """Write the package's bytecode first, as ``pip install`` does for a regular install.

    An editable install compiles a module on first import and caches it, unless
    PYTHONDONTWRITEBYTECODE is set (as it is on the machines this project is built on):
    then every step would compile the whole package again (~0.15 s), which no installed
    copy of the tool does.
    """
    compileall.compile_dir(REPO_ROOT / "analyzer", quiet=1)


def benchmark(
    args: argparse.Namespace, capture: Path, generation_s: float | None, log: Callable[[str], None]
) -> int:
    if not capture.is_file():
        log(f"error: no such capture: {capture}")
        return 2
    taskset = shutil.which("taskset")
    pin = [] if args.no_pin or taskset is None else [taskset, "-c", str(args.cpu)]
    tshark = shutil.which("tshark")
    path = str(capture)
    warm(capture)
    compile_package()

    steps = {
        "bare_loop": Step(
            "bare_loop",
            "bare loop (mmap + struct)",
            [*pin, sys.executable, str(BENCH_DIR / "bare_loop.py"), path],
        ),
        "analyzer": Step(
            "analyzer",
            "analyzer summary --json",
            [*pin, sys.executable, "-m", "analyzer", "summary", path, "--json"],
        ),
        "analyzer_all": Step(
            "analyzer_all",
            "analyze(), all parsers",
            [*pin, sys.executable, str(BENCH_DIR / "analyze_all.py"), path],
        ),
        "tshark": Step(
            "tshark",
            "tshark -z conv,tcp -z conv,udp",
            [*pin, tshark or "tshark", "-n", "-r", path, "-q", "-z", "conv,tcp", "-z", "conv,udp"],
        ),
    }
    expected = args.packets if args.capture is None else None
    launcher = find_launcher()

    def run_step(name: str, reported: Callable[[str], int | None] | None) -> Step:
        log(f"measuring {steps[name].label} ...")
        # cwd is the repository root, so ``-m analyzer`` runs this work tree's package even
        # when it is not installed.
        return measure(
            launcher,
            steps[name],
            cwd=REPO_ROOT,
            timeout_s=args.timeout,
            repeat=args.repeat,
            expected=expected,
            reported=reported,
        )

    if "bare_loop" not in args.skip:
        bare = run_step("bare_loop", bare_loop_count)
        if expected is None and bare.ok:
            expected = bare.packets  # a given capture: the record walk is the reference count
    if "analyzer" not in args.skip:
        run_step("analyzer", analyzer_count)
    if "analyzer_all" not in args.skip:
        run_step("analyzer_all", analyzer_count)
    if "tshark" not in args.skip:
        if tshark is None:
            steps["tshark"].error = "tshark not found on PATH"
        else:
            run_step("tshark", None)
    chosen = [steps[name] for name in STEP_NAMES if name not in args.skip]

    bare, analyzer, shark = steps["bare_loop"], steps["analyzer"], steps["tshark"]
    everything = steps["analyzer_all"]
    slowdown = ratio(analyzer.wall_s, bare.wall_s) if analyzer.ok and bare.ok else None
    speedup = ratio(shark.wall_s, analyzer.wall_s) if analyzer.ok and shark.ok else None
    # The same ratio for every parser: on a machine whose speed drifts between runs (a
    # shared VM), a multiple of the floor measured in the same run says more than pkt/s.
    all_slowdown = ratio(everything.wall_s, bare.wall_s) if everything.ok and bare.ok else None
    rss = analyzer.peak_rss_mb if analyzer.ok else None
    bars = [
        Bar(
            f"analyzer >= {MIN_PACKETS_PER_S:,} packets/s",
            analyzer.packets_per_s,
            MIN_PACKETS_PER_S,
        ),
        Bar(f"analyzer >= {MIN_SPEEDUP_VS_TSHARK:g}x tshark", speedup, MIN_SPEEDUP_VS_TSHARK),
        Bar(f"analyzer peak RSS < {MAX_RSS_MB:g} MB", rss, MAX_RSS_MB, below=True),
        # Issue 4: the throughput bar must still hold with every protocol parser on.
        Bar(
            f"all parsers >= {MIN_PACKETS_PER_S:,} packets/s",
            everything.packets_per_s if everything.ok else None,
            MIN_PACKETS_PER_S,
        ),
        Bar(
            f"all parsers peak RSS < {MAX_RSS_MB:g} MB",
            everything.peak_rss_mb if everything.ok else None,
            MAX_RSS_MB,
            below=True,
        ),
    ]
    failed_steps = [step for step in chosen if not step.ok]
    status = 2 if failed_steps else (0 if all(bar.passed for bar in bars) else 1)
    if "analyzer" in args.skip and not failed_steps:
        status = 0  # nothing to judge

    size = capture.stat().st_size
    if args.json:
        print(
            json.dumps(
                {
                    "capture": {
                        "path": path,
                        "bytes": size,
                        "packets": expected,
                        "generated_in_s": generation_s,
                        "seed": args.seed if args.capture is None else None,
                    },
                    "pinned_cpu": args.cpu if pin else None,
                    "rss_launcher": {"name": launcher.name, "floor_mb": launcher.floor_mb},
                    "repeat": args.repeat,
                    "steps": {step.name: step.as_json() for step in chosen},
                    "ratios": {
                        "analyzer_slowdown_vs_bare_loop": slowdown,
                        "analyzer_speedup_vs_tshark": speedup,
                        "all_parsers_slowdown_vs_bare_loop": all_slowdown,
                    },
                    "bars": [bar.as_json() for bar in bars],
                    "status": status,
                },
                indent=2,
            )
        )
        return status

    print()
    print(f"capture  {path}: {fmt(expected, ',')} packets, {size / 1e6:.1f} MB")
    pinned = f"CPU {args.cpu} (taskset)" if pin else "no"
    print(f"pinned   {pinned}; best of {args.repeat}; page cache warm; bytecode compiled")
    print(f"RSS by   {launcher.name} (its floor: {launcher.floor_mb:.1f} MB, run on `true`)")
    print()
    header = (
        f"{'step':<32}{'wall s':>9}{'CPU s':>9}{'packets/s':>13}{'us/packet':>11}"
        f"{'peak RSS MB':>13}"
    )
    print(header)
    print("-" * len(header))
    for step in chosen:
        print(
            f"{step.label:<32}{fmt(step.wall_s, '.2f'):>9}{fmt(step.cpu_s, '.2f'):>9}"
            f"{fmt(step.packets_per_s, ',.0f'):>13}{fmt(step.us_per_packet, '.2f'):>11}"
            f"{fmt(step.peak_rss_mb, '.1f'):>13}"
        )
    for step in failed_steps:
        print(f"\nFAILED {step.label}: {step.error}")
        if step.name == "analyzer" and "No module named analyzer" in (step.error or ""):
            print(f"  (install it with `pip install -e {REPO_ROOT}`, or run with --skip analyzer)")
    print()
    print("ratios (wall time, same capture)")
    print(
        "  analyzer vs bare loop: "
        + ("n/a" if slowdown is None else f"{slowdown:.1f}x the floor's time")
    )
    print("  analyzer vs tshark:    " + ("n/a" if speedup is None else f"{speedup:.1f}x faster"))
    print(
        "  all parsers vs bare loop: "
        + ("n/a" if all_slowdown is None else f"{all_slowdown:.1f}x the floor's time")
    )
    print()
    print("bars")
    for bar in bars:
        verdict = {True: "PASS", False: "FAIL", None: "n/a "}[bar.passed]
        print(f"  {verdict}  {bar.name:<34} measured {fmt(bar.value, ',.1f')}")
    return status


if __name__ == "__main__":
    sys.exit(main())

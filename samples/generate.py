#!/usr/bin/env python3
"""Write the sample captures and their ground truth.

    python samples/generate.py [--out DIR] [--only NAME ...] [--list]

Seeded and deterministic: the same code and keys give byte-identical files. The
default output directory is the one this script lives in (samples/). Needs scapy
and cryptography only; it never imports the analyzer package.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # leave no __pycache__ in samples/
HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from scenario.output import write  # noqa: E402
from scenario.scenarios import SCENARIOS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--out", type=Path, default=HERE, help="output directory (default: samples/)")
    p.add_argument("--only", nargs="*", metavar="NAME", help="scenario names to write")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.list:
        for s in SCENARIOS:
            print(f"{s.name:26} {s.file}")
        return 0
    wanted = set(args.only or [s.name for s in SCENARIOS])
    unknown = wanted - {s.name for s in SCENARIOS}
    if unknown:
        p.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    args.out.mkdir(parents=True, exist_ok=True)
    for s in SCENARIOS:
        if s.name not in wanted:
            continue
        t0 = time.perf_counter()
        cap, _ = write(s, s.build(s.seed), args.out)
        if not args.quiet:
            print(f"{cap.name:34} {cap.stat().st_size:>9} bytes  {time.perf_counter() - t0:5.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run ``analyzer.analyze()`` with every protocol parser on a capture; print what it saw.

The benchmark's "all parsers" step: the same pass the notebook API and the reports make,
as opposed to ``analyzer summary``, which decodes only L2-L4.

    python benchmarks/analyze_all.py CAPTURE
"""

from __future__ import annotations

import json
import sys

import analyzer


def main() -> None:
    analysis = analyzer.analyze(sys.argv[1])
    print(
        json.dumps(
            {
                "packets": analysis.result.stats.packets,
                "rows": {name: len(table) for name, table in sorted(analysis.tables.items())},
            }
        )
    )


if __name__ == "__main__":
    main()

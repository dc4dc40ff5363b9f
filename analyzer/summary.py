"""The ``summary`` of a capture: what is in it, per-flow counters and the anomalies seen.

>>> from analyzer.summary import summarize
>>> s = summarize("samples/cx700-logon-loop.pcapng")  # doctest: +SKIP
>>> s["packets"], s["flows"]  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from analyzer import __version__
from analyzer.capture.pipeline import CaptureResult, read_capture


def iso_ns(ts_ns: int | None) -> str | None:
    """ISO 8601 UTC text of a time in ns since the epoch, keeping every digit.

    >>> iso_ns(1_330_596_000_123_456_789)
    '2012-03-01T10:00:00.123456789Z'
    """
    if ts_ns is None:
        return None
    seconds, ns = divmod(ts_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ns:09d}Z"


def summary_from_result(result: CaptureResult) -> dict[str, Any]:
    """The summary object (the ``summary --json`` document) of a finished pass."""
    st = result.stats
    info = result.info
    conversations = result.flows.conversations()
    return {
        "analyzer_version": __version__,
        "file": os.path.basename(info.path),
        "file_format": info.file_format,
        "compression": info.compression,
        "complete": not info.damage,
        "packets": st.packets,
        "bytes": st.bytes,
        "captured_bytes": st.captured_bytes,
        "link_types": dict(st.link_types.most_common()),
        "first_ts": iso_ns(st.first_ts_ns),
        "last_ts": iso_ns(st.last_ts_ns),
        "duration_s": (
            (st.last_ts_ns - st.first_ts_ns) / 1e9
            if st.first_ts_ns is not None and st.last_ts_ns is not None
            else 0.0
        ),
        "network": dict(st.network.most_common()),
        "transports": dict(st.transports.most_common()),
        "vlans": {str(k): v for k, v in sorted(st.vlans.items())},
        "ip_fragments": st.ip_fragments,
        "flows": result.flows.flow_count,
        "conversations": conversation_records(conversations),
        "weird": dict(sorted(st.weird.items())),
        "damage": [w.detail for w in info.damage],
    }


def conversation_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Conversation rows as JSON-ready dicts (NA -> None, times as ISO text)."""
    records = []
    for row in table.itertuples(index=False):
        rec = row._asdict()
        for key in ("first_ts", "last_ts"):
            rec[key] = iso_ns(int(rec[key].value))
        for key, value in rec.items():
            if value is pd.NA or (isinstance(value, float) and pd.isna(value)):
                rec[key] = None
            elif hasattr(value, "item"):
                rec[key] = value.item()
        records.append(rec)
    return records


def summarize(
    path: str | os.PathLike[str], progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Read ``path`` once and return its summary object."""
    return summary_from_result(read_capture(path, progress=progress))

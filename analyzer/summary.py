"""The ``summary`` of a capture: what is in it, per-flow counters and the anomalies seen.

>>> from analyzer.summary import summarize
>>> s = summarize("samples/cx700-logon-loop.pcapng")
>>> s["packets"], s["flows"]
(3056, 69)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from analyzer import __version__
from analyzer.capture.pipeline import CaptureResult, read_capture

if TYPE_CHECKING:
    import pandas as pd


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
    """The summary of a finished pass; ``conversations`` is the conversations DataFrame.

    :func:`summary_json` turns it into the ``summary --json`` document.
    """
    st = result.stats
    info = result.info
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
        "conversations": result.flows.conversations(),
        "weird": dict(sorted(st.weird.items())),
        "damage": [w.detail for w in info.damage],
    }


def table_json(table: pd.DataFrame) -> str:
    """A table as a JSON array of row objects: times in ISO 8601 UTC with ns, NA as null.

    pandas writes this in C; building Python dicts first would cost more than the whole
    capture pass on a capture with many flows.
    """
    times = table.select_dtypes(include=["datetimetz", "datetime"]).columns
    if len(times):
        # pandas' own ISO writer is slow per value; numpy formats whole columns at once.
        table = table.assign(**{name: iso_column(table[name]) for name in times})
    return table.to_json(orient="records") or "[]"


def table_csv(table: pd.DataFrame, out: IO[str]) -> None:
    """A table as CSV; times in ISO 8601, nested values (lists, dicts) as JSON text."""
    times = table.select_dtypes(include=["datetimetz", "datetime"]).columns
    converted = {name: iso_column(table[name]) for name in times}
    for name in table.columns:
        if table[name].dtype == object and name not in converted:
            column = table[name]
            if column.map(lambda v: isinstance(v, list | dict | tuple)).any():
                converted[name] = column.map(
                    lambda v: json.dumps(v) if isinstance(v, list | dict | tuple) else v
                )
    table.assign(**converted).to_csv(out, index=False)


def iso_column(times: pd.Series) -> pd.Series:
    """ISO 8601 UTC text with nanoseconds for a datetime column (NaT -> None).

    >>> import pandas as pd
    >>> iso_column(pd.Series(pd.to_datetime([1_330_596_000_5e8], unit="ns", utc=True))).tolist()
    ['2012-03-01T10:00:00.500000000Z']
    """
    import pandas as pd

    values = times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    text = np.char.add(np.datetime_as_string(values, unit="ns"), "Z").astype(object)
    text[np.isnat(values)] = None
    return pd.Series(text, index=times.index)


def write_summary_json(summary: dict[str, Any], out: IO[str]) -> None:
    """Write the ``summary --json`` document (one JSON object) to ``out``.

    The conversations table is written straight from pandas' C writer into ``out``; on a
    capture with many flows, joining it into one big string first would double the
    memory at the end of the run.
    """
    head = {k: v for k, v in summary.items() if k != "conversations"}
    text = json.dumps(head, indent=1)
    out.write(text[: text.rindex("}")].rstrip())
    out.write(',\n "conversations": ')
    out.write(table_json(summary["conversations"]))
    out.write("\n}\n")


def summarize(
    path: str | os.PathLike[str], progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Read ``path`` once and return its summary (see :func:`summary_from_result`)."""
    return summary_from_result(read_capture(path, progress=progress))

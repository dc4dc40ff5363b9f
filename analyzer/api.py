"""The notebook API: ``analysis = analyzer.analyze("capture.pcapng")``.

One pass over the capture decodes every protocol the analyzer knows and returns pandas
tables, one per event type (``analysis.dns``, ``analysis.ntp``, ...), plus the
conversations and the anomalies.

>>> import analyzer
>>> analysis = analyzer.analyze("samples/cx700-logon-loop.pcapng")
>>> analysis.ntp[["src", "mode"]].values.tolist()
[['10.20.0.57', 'client'], ['10.1.0.10', 'server']]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analyzer.capture.pipeline import CaptureResult, read_capture
from analyzer.capture.readers import open_capture
from analyzer.collector import collector_paused
from analyzer.dissect import Dispatcher
from analyzer.pki import SCHEMAS as PKI_SCHEMAS
from analyzer.pki import PkiBuilder, PkiResult, ProfileSpec
from analyzer.pki.chains import ExpectedNames
from analyzer.protocols.base import Schema, Sink
from analyzer.protocols.registry import ProtocolModule, all_schemas, protocol_modules
from analyzer.summary import summary_from_result

WEIRD_COLUMNS = ["name", "frame", "flow", "offset", "detail"]


@dataclass(repr=False)
class Analysis:
    """Everything one pass found in a capture, as pandas tables.

    Tables are attributes (``analysis.dns``) and entries of :attr:`tables`; each has a
    declared schema (:attr:`schemas`) whose column docs say what every column holds.
    """

    path: str
    result: CaptureResult
    tables: dict[str, pd.DataFrame]
    schemas: dict[str, Schema]
    certificate_sightings: list[dict[str, Any]] = field(default_factory=list)
    weird: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=WEIRD_COLUMNS))
    #: The certificate catalogue, checked chains and findings behind the
    #: certificates / chains / certificate_findings tables.
    pki: PkiResult | None = None

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(f"{type(self).__name__} has no table or attribute {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.tables))

    @property
    def conversations(self) -> pd.DataFrame:
        return self.tables["conversations"]

    @property
    def summary(self) -> dict[str, Any]:
        """The same object ``analyzer summary`` prints (conversations as a DataFrame)."""
        return summary_from_result(self.result)

    def packet(self, frame: int) -> Any:
        """The packet of ``frame`` (1-based, as in Wireshark) as a scapy packet.

        Reads the file again up to that frame: for drilling into one packet, not for loops.
        """
        from scapy.all import conf

        with open_capture(self.path) as capture:
            for batch in capture.batches():
                index = frame - batch.first_frame
                if 0 <= index < len(batch):
                    linktype = int(batch.linktype[index])
                    cls: Any = conf.l2types.get(linktype) or conf.raw_layer
                    pkt = cls(batch.packet(index))
                    pkt.time = int(batch.ts_ns[index]) / 1e9
                    return pkt
        raise IndexError(f"frame {frame} is not in {self.path}")

    def __repr__(self) -> str:
        s = self.result.stats
        tables = ", ".join(f"{name} {len(t):,}" for name, t in sorted(self.tables.items()))
        return (
            f"<Analysis of {os.path.basename(self.path)}: {s.packets:,} packets, "
            f"{self.result.flows.flow_count:,} flows; rows: {tables}>"
        )

    def _repr_html_(self) -> str:
        s = self.result.stats
        rows = "".join(
            f"<tr><td>{name}</td><td>{len(table):,}</td></tr>"
            for name, table in sorted(self.tables.items())
        )
        weird = ", ".join(f"{k} {v:,}" for k, v in sorted(s.weird.items())) or "none"
        return (
            f"<div><b>{os.path.basename(self.path)}</b>: {s.packets:,} packets, "
            f"{self.result.flows.flow_count:,} flows; anomalies: {weird}"
            f"<table><tr><th>table</th><th>rows</th></tr>{rows}</table></div>"
        )


def analyze(
    path: str | os.PathLike[str],
    *,
    protocols: Iterable[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    strict: bool = False,
    trust: str | os.PathLike[str] | None = None,
    profile: ProfileSpec | None = None,
    expected_names: ExpectedNames = None,
) -> Analysis:
    """Read ``path`` once and decode every known protocol (or only ``protocols``).

    ``strict=True`` re-raises a parser bug instead of recording it as a weird row.
    Certificates: ``trust`` is a directory (or file) of PEM/DER certificates the user
    trusts; ``profile`` a device profile name, TOML path or list of them (default: every
    built-in profile); ``expected_names`` the names the server's leaf must match besides
    the SNI, for every chain or as ``{flow: [names]}`` (default: the SRV target or name
    the client resolved to the server, from the DNS table).
    """
    modules = _select(protocols)
    pki = PkiBuilder(trust=trust, profile=profile)  # bad --trust/--profile fail before the pass
    # Nothing the analysis builds is garbage until it returns (see analyzer.collector).
    with collector_paused():
        sink = Sink()
        dispatcher = Dispatcher(
            [m.datagram for m in modules if m.datagram is not None],
            [m.stream for m in modules if m.stream is not None],
            sink,
        )
        result = read_capture(path, [dispatcher], progress=progress, strict=strict)
        schemas = {s.name: s for m in modules for s in m.schemas}
        tables = sink.tables(schemas, keep_rows=False)
        tables["conversations"] = result.flows.conversations()
        for module in modules:
            if module.derive is not None:
                derived = module.derive(tables)
                for schema in module.derived:
                    schemas[schema.name] = schema
                    tables[schema.name] = derived[schema.name]
        pki_result = pki.build(sink.certificates, expected_names, tables.get("dns"))
        tables.update(pki_result.tables())
        schemas.update(PKI_SCHEMAS)
        for w in pki_result.weird:
            sink.note(w)
        for w in sink.weird:
            result.weird.append(w)
        result.stats.weird.update(sink.weird_counts)
        weird = pd.DataFrame(
            [(w.name, w.frame, w.flow, w.offset, w.detail) for w in result.weird],
            columns=WEIRD_COLUMNS,
        ).astype({"name": "category", "frame": "Int64", "flow": "Int64", "offset": "Int64"})
        return Analysis(
            path=os.fspath(path),
            result=result,
            tables=tables,
            schemas=schemas,
            certificate_sightings=sink.certificates,
            weird=weird,
            pki=pki_result,
        )


def _select(protocols: Iterable[str] | None) -> list[ProtocolModule]:
    modules = list(protocol_modules())
    if protocols is None:
        return modules
    wanted = set(protocols)
    unknown = wanted - {m.name for m in modules}
    if unknown:
        raise ValueError(f"unknown protocol(s): {', '.join(sorted(unknown))}")
    return [m for m in modules if m.name in wanted]


def table_names() -> list[str]:
    """Names of every table a protocol module declares (for the CLI)."""
    return sorted(all_schemas())

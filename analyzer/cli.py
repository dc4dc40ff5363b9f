"""Command-line interface: ``analyzer SUBCOMMAND CAPTURE [options]``.

Exit codes: 0 success (damage in the capture is reported, not an error), 2 unusable input
(missing, empty or not a capture), 130 interrupted. Bad input never prints a traceback.

>>> try:
...     main(["--version"])
... except SystemExit as done:
...     print("exit status", done.code)
analyzer 0.1.0
exit status 0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from analyzer import __version__
from analyzer.errors import AnalyzerError

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; keep its one-line message style."""


def build_parser(protocol_commands: bool = True) -> argparse.ArgumentParser:
    """The argument parser; ``protocol_commands=False`` leaves out the per-table commands."""
    parser = _Parser(
        prog="analyzer",
        description="Explain from a packet capture why an IP desk phone will not sign in.",
    )
    parser.add_argument("--version", action="version", version=f"analyzer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    summary = sub.add_parser(
        "summary",
        help="what is in a capture: packets, link types, conversations, anomalies",
        description="Read a capture once and summarise it: packets, bytes, link types, "
        "time span, conversations (flows) and anomaly counts.",
    )
    summary.add_argument("capture", help="pcap or pcapng file, optionally gzip/bzip2/xz/zstd")
    summary.add_argument("--json", action="store_true", help="print one JSON object")
    summary.add_argument(
        "--top",
        type=int,
        default=20,
        metavar="N",
        help="conversations shown in the human table, largest first (default 20, 0 = all)",
    )
    summary.add_argument(
        "--no-progress", action="store_true", help="no progress bar even on a terminal"
    )
    summary.set_defaults(handler=_cmd_summary)
    _add_certs_command(sub)
    if protocol_commands:
        _add_table_commands(sub)
    return parser


def _add_table_commands(sub: Any) -> None:
    """One subcommand per protocol table (dns, dhcp, ntp, ...), all with the same options."""
    from analyzer.protocols.registry import all_schemas

    for name, schema in sorted(all_schemas().items()):
        cmd = sub.add_parser(
            name,
            help=schema.doc.split(". ")[0].rstrip("."),
            description=f"{schema.doc} A human table by default; --json for a JSON array of "
            "row objects, --csv for CSV. Columns: "
            + ", ".join(c.name for c in schema.all_columns()),
        )
        cmd.add_argument("capture", help="pcap or pcapng file, optionally compressed")
        fmt = cmd.add_mutually_exclusive_group()
        fmt.add_argument("--json", action="store_true", help="JSON array of row objects")
        fmt.add_argument("--csv", action="store_true", help="CSV with a header row")
        cmd.add_argument(
            "--all-columns", action="store_true", help="every column in the human table"
        )
        cmd.add_argument("--no-progress", action="store_true", help="no progress bar")
        cmd.add_argument(
            "--strict", action="store_true", help="stop with a traceback on a parser bug"
        )
        cmd.set_defaults(handler=_cmd_table, table=name)


def _add_certs_command(sub: Any) -> None:
    certs = sub.add_parser(
        "certs",
        help="certificates seen (TLS, LDAP, HTTP), their chains, and device-profile verdicts",
        description="Every certificate in the capture (TLS Certificate messages, LDAP "
        "cACertificate/userCertificate values, HTTP bodies) once per SHA-256, the chains "
        "servers sent with the path built to a root across all sources, and with --profile "
        "the limits of a device each certificate breaks. --json prints one object per "
        "certificate (with --chains: per chain).",
    )
    certs.add_argument("capture", help="pcap or pcapng file, optionally compressed")
    certs.add_argument("--json", action="store_true", help="JSON array of row objects")
    certs.add_argument(
        "--chains", action="store_true", help="with --json: print the chain rows instead"
    )
    certs.add_argument(
        "--profile",
        metavar="NAME|FILE",
        help="judge every certificate of a served chain or downloaded root against a device "
        "profile: a built-in name (ocs2007r2-ce6, lync-phone-edition-early, "
        "lync-phone-edition-later, modern) or a TOML file",
    )
    certs.add_argument(
        "--trust", metavar="DIR", help="directory of PEM/DER certificates to trust as roots"
    )
    certs.add_argument(
        "--expect",
        metavar="NAME",
        action="append",
        default=[],
        help="a name the server certificate must match besides the SNI (e.g. the SRV "
        "target); repeatable",
    )
    certs.add_argument(
        "--export", metavar="DIR", help="write <sha256>.pem and <sha256>.der for every one"
    )
    certs.add_argument("--no-progress", action="store_true", help="no progress bar")
    certs.add_argument(
        "--strict", action="store_true", help="stop with a traceback on a parser bug"
    )
    certs.set_defaults(handler=_cmd_certs)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Listing the table commands imports every protocol module, and with them pandas; the
    # summary reads gigabytes under a memory bar and must not carry pandas while it reads.
    parser = build_parser(protocol_commands=args_list[:1] != ["summary"])
    args = parser.parse_args(args_list)
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except AnalyzerError as e:
        print(f"analyzer: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("analyzer: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `analyzer summary x --json | head` closes our stdout early: not an error.
        return EXIT_OK


def _progress_bar(enabled: bool) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """A rich progress bar on stderr when stderr is a terminal, else nothing."""
    if not enabled or not sys.stderr.isatty():
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=Console(stderr=True),
    )
    bar.start()
    task = bar.add_task("reading", total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return update, bar.stop


def _cmd_summary(args: argparse.Namespace) -> int:
    from analyzer.summary import summarize, write_summary_json

    progress, stop = _progress_bar(not args.no_progress and not args.json)
    try:
        result = summarize(args.capture, progress=progress)
    finally:
        stop()
    if args.json:
        write_summary_json(result, sys.stdout)
    else:
        _print_summary(result, args.top)
    for damage in result["damage"]:
        print(f"analyzer: warning: {result['file']}: {damage}", file=sys.stderr)
    return EXIT_OK


def _cmd_table(args: argparse.Namespace) -> int:
    from analyzer.api import analyze
    from analyzer.protocols.registry import module_of_table
    from analyzer.summary import table_csv, table_json

    progress, stop = _progress_bar(not args.no_progress and not (args.json or args.csv))
    try:
        analysis = analyze(
            args.capture,
            protocols=[module_of_table(args.table).name],
            progress=progress,
            strict=args.strict,
        )
    finally:
        stop()
    table = analysis.tables[args.table]
    if args.json:
        sys.stdout.write(table_json(table) + "\n")
    elif args.csv:
        table_csv(table, sys.stdout)
    else:
        schema = analysis.schemas[args.table]
        columns = (
            list(table.columns) if args.all_columns or not schema.human else list(schema.human)
        )
        _print_table(f"{args.table} ({len(table):,} rows)", table[columns])
    for damage in analysis.result.info.damage:
        print(f"analyzer: warning: {args.capture}: {damage.detail}", file=sys.stderr)
    return EXIT_OK


def _cmd_certs(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from analyzer.api import analyze

    progress, stop = _progress_bar(not args.no_progress and not args.json)
    try:
        analysis = analyze(
            args.capture,
            progress=progress,
            strict=args.strict,
            trust=args.trust,
            profile=[args.profile] if args.profile else [],
            expected_names=args.expect or None,
        )
    finally:
        stop()
    pki = analysis.pki
    assert pki is not None
    if args.export:
        out = Path(args.export)
        try:
            out.mkdir(parents=True, exist_ok=True)
            for entry in pki.catalogue:
                (out / f"{entry.sha256}.der").write_bytes(entry.facts.der)
                (out / f"{entry.sha256}.pem").write_text(entry.facts.pem(), encoding="ascii")
        except OSError as e:
            raise AnalyzerError(f"cannot export to {out}: {e.strerror or e}") from e
    if args.json:
        if args.chains:
            rows = [chain.row() for chain in pki.chains]
        else:
            rows = pki.catalogue.rows()
            if args.profile:
                for row in rows:
                    row["findings"] = [f.row() for f in pki.findings_of(row["sha256"])]
        sys.stdout.write(json.dumps(rows, ensure_ascii=True) + "\n")
    else:
        _print_certs(pki, bool(args.profile))
    for damage in analysis.result.info.damage:
        print(f"analyzer: warning: {args.capture}: {damage.detail}", file=sys.stderr)
    return EXIT_OK


def _print_certs(pki: Any, with_findings: bool) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    width = None if sys.stdout.isatty() else 200
    console = Console(highlight=False, soft_wrap=False, width=width)

    def table(title: str, columns: list[str], rows: list[list[str]]) -> None:
        out = Table(title=title, title_justify="left")
        for col in columns:
            out.add_column(col, overflow="fold")
        for row in rows:
            # Text, not markup: certificate names are attacker-controlled.
            out.add_row(*(Text(cell) for cell in row))
        console.print(out)

    certs = []
    for e in pki.catalogue:
        f = e.facts
        key = f"{f.key_type or '?'} {f.key_curve or f.key_size or ''}".strip()
        certs.append(
            [
                f.sha256[:16],
                f.label if f.parse_error is None else f"{f.label} (error: {f.parse_error})",
                (f.issuer or "")[:80],
                f.signature_hash or "?",
                key,
                (f.not_after.date().isoformat() if f.not_after else ""),
                ", ".join(sorted(e.sources)),
                str(e.count),
                str(e.first_frame or ""),
            ]
        )
    table(
        f"certificates ({len(certs)})",
        ["sha256", "subject", "issuer", "hash", "key", "not after", "seen via", "n", "frame"],
        certs,
    )
    chains = []
    for c in pki.chains:
        s = c.served
        chains.append(
            [
                str(s.frame or ""),
                str(s.flow if s.flow is not None else ""),
                f"{s.src or '?'} -> {s.dst or '?'}" + ("" if s.role == "server" else " (client)"),
                s.sni or "",
                pki.catalogue[c.leaf_sha256].facts.label,
                str(len(c.path)),
                (c.root_source or "yes") if c.complete else "no",
                _yes_no(c.signatures_ok),
                _yes_no(c.valid_at_capture_time),
                _yes_no(c.name_ok),
                ", ".join(c.problems),
            ]
        )
    if chains:
        table(
            f"chains ({len(chains)})",
            [
                "frame",
                "flow",
                "sent",
                "sni",
                "leaf",
                "path",
                "root",
                "sigs",
                "valid",
                "name",
                "problems",
            ],
            chains,
        )
    if with_findings:
        for profile in pki.profiles:
            found = [f for f in pki.findings if f.profile == profile.name]
            table(
                f"findings for {profile.title} ({profile.name}): {len(found)}",
                ["role", "certificate", "check", "found", "limit", "confidence"],
                [
                    [
                        f.role,
                        pki.catalogue[f.sha256].facts.label,
                        f.check,
                        f.value,
                        f.limit,
                        f.confidence,
                    ]
                    for f in found
                ],
            )
            for check in sorted({f.check for f in found}):
                source = next(f.source for f in found if f.check == check)
                console.print(Text(f"{check}: {source}", style="dim"))


def _yes_no(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "NO")


def _print_table(title: str, table: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    width = None if sys.stdout.isatty() else 200
    console = Console(highlight=False, soft_wrap=False, width=width)
    out = Table(title=title, title_justify="left")
    for col in table.columns:
        out.add_column(str(col), overflow="fold")
    for row in _records(table):
        out.add_row(*(_cell(v) for v in row.values()))
    console.print(out)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    if isinstance(value, list | tuple):
        return "\n".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _print_summary(s: dict[str, Any], top: int) -> None:
    from rich.console import Console
    from rich.table import Table

    # Piped output is read by people in files and tickets: do not cut it to 80 columns.
    width = None if sys.stdout.isatty() else 160
    console = Console(highlight=False, soft_wrap=False, width=width)
    compression = f", {s['compression']}" if s["compression"] else ""
    console.print(f"[bold]{s['file']}[/bold] ({s['file_format']}{compression})")
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim")
    facts.add_column()
    facts.add_row("packets", f"{s['packets']:,}")
    facts.add_row("bytes", f"{s['bytes']:,} on the wire, {s['captured_bytes']:,} captured")
    facts.add_row("time", f"{s['first_ts']} .. {s['last_ts']} ({s['duration_s']:.3f} s)")
    facts.add_row("link types", _counts(s["link_types"]))
    facts.add_row("network", _counts(s["network"]))
    facts.add_row("transports", _counts(s["transports"]))
    if s["vlans"]:
        facts.add_row("vlans", _counts(s["vlans"]))
    facts.add_row("flows", f"{s['flows']:,}")
    facts.add_row("complete", "yes" if s["complete"] else "[red]no: capture is damaged[/red]")
    console.print(facts)

    convs = s["conversations"].sort_values("bytes", ascending=False, kind="stable")
    shown = convs if top <= 0 else convs.head(top)
    if len(shown):
        table = Table(
            title=f"conversations ({len(shown)} of {len(convs)}, largest first)",
            title_justify="left",
        )
        for col, justify in (
            ("flow", "right"),
            ("vlan", "right"),
            ("proto", "left"),
            ("originator", "left"),
            ("responder", "left"),
            ("packets", "right"),
            ("bytes", "right"),
            ("duration s", "right"),
            ("tcp state", "left"),
        ):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for c in _records(shown):
            table.add_row(
                str(c["flow"]),
                "" if c["vlan"] is None else str(c["vlan"]),
                c["transport"],
                _endpoint(c["src"], c["sport"]),
                _endpoint(c["dst"], c["dport"]),
                f"{c['src_packets']}/{c['dst_packets']}",
                f"{c['src_bytes']:,}/{c['dst_bytes']:,}",
                f"{c['duration_s']:.3f}",
                c["tcp_state"] or "",
            )
        console.print(table)
    if s["weird"]:
        weird = Table(title="anomalies (weird)", title_justify="left")
        weird.add_column("name")
        weird.add_column("count", justify="right")
        for name, count in s["weird"].items():
            weird.add_row(name, f"{count:,}")
        console.print(weird)


def _records(table: Any) -> list[dict[str, Any]]:
    """Rows of a small DataFrame as dicts with NA as None."""
    import pandas as pd

    return [
        {
            k: (None if v is pd.NA or (isinstance(v, float) and pd.isna(v)) else v)
            for k, v in row.items()
        }
        for row in table.to_dict("records")
    ]


def _endpoint(addr: str, port: int | None) -> str:
    if port is None:
        return addr
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items()) or "-"

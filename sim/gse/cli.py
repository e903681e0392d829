"""`assay decode telemetry.bin`: decode a raw packet archive offline into tables.

Reads any archive the mission loop or the ground station wrote (CCSDS Space Packets back to
back), resynchronising over damage, and writes `packets.csv` plus one table per kind of
content (events, verification, housekeeping per structure, monitoring, science events,
commands, products…) and/or `decoded.json`. Prints what it found: packets per APID, sequence
gaps and duplicates, skipped bytes with the reason. Exit status: 0 decoded; 1 with `--strict`
if anything was skipped, damaged or missing; 2 if the file cannot be read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from firmware.fsw.pus import DEFAULT_EPOCH_UNIX_MS, MAX_PACKET_LEN


def _epoch_ms(text: str) -> int:
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--epoch {text!r}: not ISO 8601 (e.g. 2030-01-01T00:00:00Z)"
        ) from exc
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(round(t.timestamp() * 1000))


def register(sub) -> None:
    p = sub.add_parser(
        "decode",
        help="decode a raw telemetry archive (telemetry.bin) into tables",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "archive", type=Path, help="raw packet archive, e.g. runs/<scenario>-<seed>/telemetry.bin"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default: <archive stem>_decoded/ beside it)",
    )
    p.add_argument("--format", choices=("csv", "json", "both"), default="both")
    p.add_argument(
        "--epoch",
        type=_epoch_ms,
        default=DEFAULT_EPOCH_UNIX_MS,
        help="mission epoch (ISO 8601 UTC) that t_ns counts from; default 2030-01-01T00:00:00Z",
    )
    p.add_argument(
        "--max-packet-len",
        type=int,
        default=MAX_PACKET_LEN,
        help=f"longest packet to accept while resynchronising (default {MAX_PACKET_LEN})",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 if bytes were skipped, payloads damaged or counts missing",
    )
    p.add_argument("--quiet", action="store_true", help="no summary on the terminal")
    p.set_defaults(func=run)


def run(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from sim.gse.archive import ArchiveError, read_archive
    from sim.gse.decode import Decoder
    from sim.gse.tables import write_tables

    console = Console(stderr=True)
    try:
        scan = read_archive(args.archive, args.max_packet_len)
    except ArchiveError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    dec = Decoder(args.epoch)
    for offset, raw in scan.packets:
        dec.feed(raw, offset=offset)
    out = args.out or args.archive.with_name(args.archive.stem + "_decoded")
    formats = ("csv", "json") if args.format == "both" else (args.format,)
    skipped = [{"offset": s.offset, "length": s.length, "reason": s.reason} for s in scan.skipped]
    extra = {
        "file": str(args.archive),
        "bytes": scan.size,
        "skipped_bytes": scan.skipped_bytes,
        "skipped": skipped,
    }
    files = write_tables(dec, out, formats, extra)
    summary = dec.summary()
    gaps = sum(a["gaps"] for a in summary["apids"].values())
    damaged = scan.skipped_bytes or summary["errors"] or gaps or summary["incomplete_transfers"]
    if not args.quiet:
        console.print(
            f"[bold]{args.archive}[/bold]: {scan.size} bytes, {summary['tm']} TM + "
            f"{summary['tc']} TC packets, {scan.skipped_bytes} bytes skipped, "
            f"{summary['errors']} payload errors"
        )
        t = Table(
            "APID", "packets", "duplicates", "gaps", "first", "last", title="telemetry per APID"
        )
        for apid, a in summary["apids"].items():
            t.add_row(
                apid,
                str(a["packets"]),
                str(a["duplicates"]),
                str(a["gaps"]),
                str(a["first"]),
                str(a["last"]),
            )
        console.print(t)
        for s in scan.skipped[:10]:
            console.print(f"  skipped {s.length} B at offset {s.offset}: {s.reason}")
        if len(scan.skipped) > 10:
            console.print(
                f"  … and {len(scan.skipped) - 10} more skipped ranges (see decoded.json)"
            )
        tables = ", ".join(f"{k} ({v})" for k, v in summary["tables"].items())
        console.print(f"tables: {tables}; products reassembled: {summary['products']}")
        console.print(f"wrote {len(files)} files to {out}")
    return 1 if args.strict and damaged else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assay")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["decode", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)

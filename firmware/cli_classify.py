"""`assay classify FILES...`: classify real spectra and print a table, JSON or CSV."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

from firmware.errors import SpectrumReadError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classify",
        help="classify reflectance spectra (MIT/SMASS text or CSV)",
        description=(
            "Read spectra (MIT/SMASS whitespace text or CSV with a header) and classify them. "
            "Exit status is 0 when every file was read, 1 when any could not be."
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="spectrum files")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--taxonomy", choices=("bus-demeo",), default="bus-demeo")
    p.add_argument(
        "--units", choices=("um", "nm"), default=None,
        help="wavelength units of the files (default: nm if the largest wavelength > 100)",
    )  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from firmware.busdemeo import classify_spectrum
    from firmware.reader import read_spectra

    results = []
    failed = 0
    for path in args.files:
        try:
            spectra = read_spectra(path, units=args.units)
        except SpectrumReadError as exc:
            print(f"assay classify: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        for spectrum in spectra:
            record = classify_spectrum(spectrum).to_dict()
            record["source"] = spectrum.source
            record["input"] = {
                "n_points": int(spectrum.wavelength_um.size),
                "range_um": [float(spectrum.wavelength_um[0]), float(spectrum.wavelength_um[-1])]
                if spectrum.wavelength_um.size else None,
                "n_dropped": spectrum.n_dropped,
                "n_missing": spectrum.n_missing,
                "notes": spectrum.notes,
            }
            results.append(record)
    out = {"json": _json, "csv": _csv, "table": _table}[args.format](results)
    sys.stdout.write(out)
    if failed:
        print(f"assay classify: {failed} of {len(args.files)} file(s) could not be read",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _json(results: list[dict]) -> str:
    return json.dumps(results, indent=2, allow_nan=False, default=_nan_to_none) + "\n"


def _nan_to_none(value):
    return None


def _fmt(value, spec: str = ".3f") -> str:
    return "" if value is None else format(value, spec)


def _csv(results: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["source", "class", "complex", "slope", "PC1", "PC2", "PC3", "PC4", "PC5",
                     "template1", "template2", "template3", "confidence", "reason"])  # fmt: skip
    for r in results:
        pcs = r["pc"] or [None] * 5
        tpl = [t["class"] for t in r["templates"]] + [""] * (3 - len(r["templates"]))
        writer.writerow([r["source"], r["class"] or "", r["complex"] or "", _fmt(r["slope"], ".4f"),
                         *(_fmt(v, ".4f") for v in pcs), *tpl, r["confidence"] or "",
                         r["reason"] or ""])  # fmt: skip
    return buf.getvalue()


def _table(results: list[dict]) -> str:
    header = ["source", "class", "cplx", "slope", "PC1'", "PC2'", "PC3'", "templates", "conf"]
    rows = []
    for r in results:
        pcs = r["pc"] or [None] * 5
        tpl = " ".join(t["class"] for t in r["templates"])
        if r["class"] is None:
            rows.append([r["source"], "—", "", "", "", "", "", "", f"not classified: {r['reason']}"])
            continue
        rows.append([r["source"], r["class"], r["complex"], _fmt(r["slope"]), _fmt(pcs[0]),
                     _fmt(pcs[1]), _fmt(pcs[2]), tpl, r["confidence"]])  # fmt: skip
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    widths[-1] = 0
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"

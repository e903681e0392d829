"""`assay classify FILES...`: classify real spectra and print a table, JSON or CSV.

Taxonomies: `bus-demeo` (DeMeo et al. 2009; default, needs 0.45–2.45 µm), `mahlke`
(Mahlke et al. 2022; partial spectra, optional albedo) or `all` (both side by side).

JSON shapes (one object per spectrum, plus `input` describing what was read):
* bus-demeo: `BusDeMeoResult.to_dict()` — source, taxonomy, class, complex, slope, pc, …
* mahlke: `MahlkeResult.to_dict()` — source, taxonomy, class, complex, probability,
  probabilities (17 classes), clusters, z, albedo, features, flags, reason, …
* all: the Bus-DeMeo object with a nested `mahlke` object (the Mahlke fields).
Every object also carries `bands`, `mineralogy` and `prospect` (`firmware.assessment`): Band
I/II parameters, the published calibrations inside their domains, and the water / metal /
silicate verdict with its ranked evidence.

Albedo (Mahlke's E/M/P split and the metal verdict): `--albedo PV` for every file, or
`--albedo-file CSV` mapping source path, file name or asteroid number / designation to pV
(format: `firmware.mahlke_albedo`). Observing geometry for the band corrections:
`--phase-angle DEG`, and `--temperature K` or `--heliocentric-au AU` (with an albedo).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

from firmware.errors import SpectrumReadError
from firmware.mahlke_albedo import MAX_ALBEDO, AlbedoFileError, AlbedoTable, read_albedo_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classify",
        help="classify reflectance spectra (MIT/SMASS text or CSV)",
        description=(
            "Read spectra (MIT/SMASS whitespace text or CSV with a header) and classify them in "
            "the Bus-DeMeo and/or Mahlke 2022 taxonomy. Exit status is 0 when every file was "
            "read, 1 when any could not be, 2 for a bad option or albedo file."
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="spectrum files")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--taxonomy", choices=("bus-demeo", "mahlke", "all"), default="bus-demeo",
                   help="bus-demeo (DeMeo 2009), mahlke (Mahlke 2022: partial spectra, "
                        "albedo) or all")  # fmt: skip
    alb = p.add_mutually_exclusive_group()
    alb.add_argument("--albedo", type=float, metavar="PV",
                     help="visual geometric albedo pV in (0, 1] of every input "
                          "(Mahlke: separates E/M/P)")  # fmt: skip
    alb.add_argument("--albedo-file", metavar="CSV",
                     help="CSV with a key column (source, file, number, name …) "
                          "and an albedo column (pv)")  # fmt: skip
    p.add_argument("--mahlke-tree", choices=("mahlke2022", "classy"), default="mahlke2022",
                   help="decision tree: the published catalogue's (default) "
                        "or classy's later rules")  # fmt: skip
    p.add_argument(
        "--units", choices=("um", "nm"), default=None,
        help="wavelength units of the files (default: nm if the largest wavelength > 100)",
    )  # fmt: skip
    geo = p.add_argument_group("observing geometry (band-parameter corrections)")
    geo.add_argument("--phase-angle", type=float, metavar="DEG",
                     help="phase angle of the observation: Band I depth and slope corrected to 0°")
    hot = geo.add_mutually_exclusive_group()
    hot.add_argument("--temperature", type=float, metavar="K",
                     help="surface temperature: BAR and Band II centre corrected to room temperature")
    hot.add_argument("--heliocentric-au", type=float, metavar="AU",
                     help="heliocentric distance; with an albedo gives the surface temperature")
    p.add_argument("--mc", type=int, default=64, metavar="N",
                   help="Monte-Carlo draws for the band-parameter σ (0 = none; default 64)")
    p.set_defaults(func=run)


def _albedo_source(args) -> AlbedoTable | float | None:
    if args.albedo is not None:
        if not 0.0 < args.albedo <= MAX_ALBEDO:
            raise AlbedoFileError(
                "--albedo", f"{args.albedo:g} is not a geometric albedo pV in (0, 1]"
            )
        return args.albedo
    if args.albedo_file:
        return read_albedo_file(args.albedo_file)
    return None


def build_record(spectrum, taxonomy: str, albedo: float | None, tree: str,
                 geometry: dict | None = None) -> dict:  # fmt: skip
    """The one place a spectrum's output record is built: add per-spectrum fields here.

    `geometry`: keyword arguments of `firmware.assessment.assess` (phase_angle_deg,
    temperature_k, heliocentric_distance_au, n_mc)."""
    from firmware.assessment import assess_spectrum

    record: dict = {}
    bd = mahlke = None
    if taxonomy in ("bus-demeo", "all"):
        from firmware.busdemeo import classify_spectrum

        bd = classify_spectrum(spectrum)
        record = bd.to_dict()
    if taxonomy in ("mahlke", "all"):
        from firmware.mahlke import classify_spectrum as classify_mahlke

        mahlke = classify_mahlke(spectrum, albedo=albedo, tree=tree)
        m = mahlke.to_dict()
        if taxonomy == "mahlke":
            record = m
        else:
            m.pop("source")
            record["mahlke"] = m
    record.update(
        assess_spectrum(spectrum, bus_demeo=bd, mahlke=mahlke, albedo=albedo, **(geometry or {}))
        .to_dict()
    )  # fmt: skip
    record["source"] = spectrum.source
    wl = spectrum.wavelength_um
    record["input"] = {
        "n_points": int(wl.size),
        "range_um": [float(wl[0]), float(wl[-1])] if wl.size else None,
        "n_dropped": spectrum.n_dropped,
        "n_missing": spectrum.n_missing,
        "notes": spectrum.notes,
    }
    return record


def _geometry(args) -> tuple[dict, str | None]:
    """assess() keyword arguments from the geometry options, or the reason they are bad."""
    if args.phase_angle is not None and not 0.0 <= args.phase_angle <= 180.0:
        return {}, f"--phase-angle {args.phase_angle:g}: give degrees in 0–180"
    if args.temperature is not None and not args.temperature > 0.0:
        return {}, f"--temperature {args.temperature:g}: give kelvin (> 0)"
    if args.heliocentric_au is not None and not args.heliocentric_au > 0.0:
        return {}, f"--heliocentric-au {args.heliocentric_au:g}: give au (> 0)"
    if args.mc < 0:
        return {}, f"--mc {args.mc}: give 0 or more Monte-Carlo draws"
    return {"phase_angle_deg": args.phase_angle, "temperature_k": args.temperature,
            "heliocentric_distance_au": args.heliocentric_au, "n_mc": args.mc}, None  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from firmware.reader import read_spectra

    try:
        albedos = _albedo_source(args)
    except AlbedoFileError as exc:
        print(f"assay classify: error: {exc}", file=sys.stderr)
        return 2
    geometry, problem = _geometry(args)
    if problem:
        print(f"assay classify: error: {problem}", file=sys.stderr)
        return 2
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
            albedo = (
                albedos.lookup(spectrum.source)[0] if isinstance(albedos, AlbedoTable) else albedos
            )
            results.append(
                build_record(spectrum, args.taxonomy, albedo, args.mahlke_tree, geometry)
            )
    render = {"json": _json, "csv": _csv, "table": _table}[args.format]
    sys.stdout.write(render(results, args.taxonomy))
    if failed:
        print(f"assay classify: {failed} of {len(args.files)} file(s) could not be read",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


# ---- output formats ------------------------------------------------------------------------


def _json(results: list[dict], taxonomy: str) -> str:
    return json.dumps(results, indent=2, allow_nan=False, default=_nan_to_none) + "\n"


def _nan_to_none(value):
    return None


def _fmt(value, spec: str = ".3f") -> str:
    return "" if value is None else format(value, spec)


def _bd_fields(r: dict) -> list[str]:
    pcs = r["pc"] or [None] * 5
    tpl = [t["class"] for t in r["templates"]] + [""] * (3 - len(r["templates"]))
    return [r["class"] or "", r["complex"] or "", _fmt(r["slope"], ".4f"),
            *(_fmt(v, ".4f") for v in pcs), *tpl, r["confidence"] or "",
            r["reason"] or ""]  # fmt: skip


_BD_HEADER = ["class", "complex", "slope", "PC1", "PC2", "PC3", "PC4", "PC5",
              "template1", "template2", "template3", "confidence", "reason"]  # fmt: skip
_M_HEADER = ["class", "complex", "probability", "class_without_features", "albedo", "n_bins",
             "z0", "z1", "z2", "z3", "confidence", "reason"]  # fmt: skip


def _m_fields(m: dict) -> list[str]:
    z = m["z"] or [None] * 4
    return [m["class"] or "", m["complex"] or "", _fmt(m["probability"], ".4f"),
            m["class_without_features"] or "", _fmt(m["albedo"], ".4f"), str(m["n_bins"]),
            *(_fmt(v, ".4f") for v in z), m["confidence"] or "", m["reason"] or ""]  # fmt: skip


_A_HEADER = ["water", "metal", "silicates", "prospect_score", "band1_centre_um", "band1_depth",
             "band2_centre_um", "bar"]  # fmt: skip


def _a_fields(r: dict) -> list[str]:
    """The assessment columns: verdict levels, score and the band parameters."""
    p, b = r["prospect"], r["bands"]
    return [p["water"]["likelihood"], p["metal"]["likelihood"], p["silicates"]["likelihood"],
            _fmt(p["score"], ".3f"), _fmt(b["band1"]["centre_um"], ".4f"),
            _fmt(b["band1"]["depth"], ".4f"), _fmt(b["band2"]["centre_um"], ".4f"),
            _fmt(b["bar"], ".3f")]  # fmt: skip


def _prospect_cell(r: dict) -> str:
    """Compact verdict for the table: W(ater) M(etal) S(ilicates) levels."""
    short = {"unknown": "?", "unlikely": "no", "possible": "poss", "moderate": "mod", "high": "HIGH"}
    p = r["prospect"]
    return " ".join(f"{k[0].upper()}:{short[p[k]['likelihood']]}"
                    for k in ("water", "metal", "silicates"))  # fmt: skip


def _csv(results: list[dict], taxonomy: str) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if taxonomy == "bus-demeo":
        writer.writerow(["source", *_BD_HEADER, *_A_HEADER])
        rows = [[r["source"], *_bd_fields(r), *_a_fields(r)] for r in results]
    elif taxonomy == "mahlke":
        classes = (
            list(results[0]["probabilities"]) if results and results[0]["probabilities"] else []
        )
        classes = classes or _mahlke_classes()
        writer.writerow(["source", *_M_HEADER, *(f"P_{c}" for c in classes), *_A_HEADER])
        rows = [[r["source"], *_m_fields(r),
                 *(_fmt(r["probabilities"].get(c), ".6f") for c in classes), *_a_fields(r)]
                for r in results]  # fmt: skip
    else:
        writer.writerow(["source", *(f"bd_{h}" for h in _BD_HEADER),
                         *(f"mahlke_{h}" for h in _M_HEADER), *_A_HEADER])  # fmt: skip
        rows = [[r["source"], *_bd_fields(r), *_m_fields(r["mahlke"]), *_a_fields(r)]
                for r in results]  # fmt: skip
    writer.writerows(rows)
    return buf.getvalue()


def _mahlke_classes() -> list[str]:
    from firmware.mahlke_tree import load_tree

    return list(load_tree().classes)


def _second(m: dict) -> str:
    """The runner-up class and its probability, e.g. 'C 0.23'."""
    ranked = sorted(m["probabilities"].items(), key=lambda kv: -kv[1])
    base = m["class_without_features"]
    other = [(c, p) for c, p in ranked if c != base]
    return f"{other[0][0]} {other[0][1]:.2f}" if other and other[0][1] >= 0.005 else ""


def _table(results: list[dict], taxonomy: str) -> str:
    if taxonomy == "bus-demeo":
        header = ["source", "class", "cplx", "slope", "PC1'", "PC2'", "PC3'", "templates",
                  "prospect", "conf"]  # fmt: skip
    elif taxonomy == "mahlke":
        header = ["source", "class", "cplx", "p", "next", "pV", "bins", "prospect", "conf"]
    else:
        header = ["source", "bus-demeo", "cplx", "mahlke", "cplx", "p", "pV", "prospect", "notes"]
    rows = [_table_row(r, taxonomy) for r in results]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    widths[-1] = 0
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def _table_row(r: dict, taxonomy: str) -> list[str]:
    if taxonomy == "bus-demeo":
        if r["class"] is None:
            return [r["source"], "—", "", "", "", "", "", "", _prospect_cell(r),
                    f"not classified: {r['reason']}"]  # fmt: skip
        pcs = r["pc"]
        tpl = " ".join(t["class"] for t in r["templates"])
        return [r["source"], r["class"], r["complex"], _fmt(r["slope"]), _fmt(pcs[0]),
                _fmt(pcs[1]), _fmt(pcs[2]), tpl, _prospect_cell(r), r["confidence"]]  # fmt: skip
    m = r if taxonomy == "mahlke" else r["mahlke"]
    pv = _fmt(m["albedo"], ".3f") or "—"
    if taxonomy == "mahlke":
        if m["class"] is None:
            return [r["source"], "—", "", "", "", pv, str(m["n_bins"]), _prospect_cell(r),
                    f"not classified: {m['reason']}"]  # fmt: skip
        return [r["source"], m["class"], m["complex"], _fmt(m["probability"], ".2f"),
                _second(m), pv, str(m["n_bins"]), _prospect_cell(r), m["confidence"]]  # fmt: skip
    notes = []
    if r["class"] is None:
        notes.append(f"bus-demeo: {r['reason']}")
    if m["class"] is None:
        notes.append(f"mahlke: {m['reason']}")
    elif r["class"] is not None and r["complex"] != m["complex"]:
        notes.append("complexes differ")
    return [r["source"], r["class"] or "—", r["complex"] or "", m["class"] or "—",
            m["complex"] or "", _fmt(m["probability"], ".2f"), pv, _prospect_cell(r),
            "; ".join(notes)]  # fmt: skip

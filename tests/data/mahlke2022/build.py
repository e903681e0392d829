"""Build the Mahlke 2022 test tables from ../shared/data (run once; outputs are committed).

    .venv/bin/python tests/data/mahlke2022/build.py /work/shared/data

Writes, next to this file:
* class_visnir_published.npz — per published VIS-NIR sample (class_visnir.csv): the row of
  the same sample in seeds/mahlke2022/mixnorm_reference.npz (its preprocessed features are
  ln R − α of that row, checked here to 1e-6), log10 pV, the published cluster
  probabilities, latent scores, class probabilities, class_ / class_sf and e/h/k flags;
* asteroid_classes.csv — for every asteroid key of tests/data/spectra/labels.csv that the
  published per-asteroid table (class_asteroids.csv) classifies: its Mahlke class and an
  albedo pV (median of the published samples' pV of that asteroid, class_visnir + class_vis);
* raw_to_published.csv — the DeMeo 2009 raw files that are published samples
  (path_file spectra_bus-demeo_classification/<file>.csv): file, reference row, class_sf.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def _f(v: str) -> float:
    return float(v) if v not in ("", "nan") else np.nan


def main(shared: Path) -> None:
    src = shared / "mahlke2022"
    ref = np.load(REPO / "seeds" / "mahlke2022" / "mixnorm_reference.npz")
    feats_ref = np.log(ref["reflectance"]) - ref["alpha"][:, None]
    rows = list(csv.DictReader((src / "class_visnir.csv").open(newline="")))
    bins = list(rows[0].keys())[2:55]
    x = np.array([[_f(r[c]) for c in bins] for r in rows])
    # the same sample = the reference row with the same missing bins and nearest features
    pattern = [tuple(np.isnan(v)) for v in feats_ref]
    ref_row = np.empty(len(rows), dtype=np.int64)
    for i, v in enumerate(x):
        cand = np.array([j for j, pt in enumerate(pattern) if pt == tuple(np.isnan(v))])
        ref_row[i] = cand[np.argmin(np.nanmax(np.abs(feats_ref[cand] - v), axis=1))]
    assert len(set(ref_row)) == len(rows)
    err = np.nanmax(np.abs(feats_ref[ref_row] - x))
    assert err < 1e-6 and np.array_equal(np.isnan(feats_ref[ref_row]), np.isnan(x)), err
    classes = ["A", "B", "C", "D", "E", "K", "L", "M", "O", "P", "Q", "R", "S", "V", "X", "Z"]

    def flag(v: str) -> int:
        return -1 if v == "" else int(float(v))

    np.savez_compressed(
        HERE / "class_visnir_published.npz",
        reference_row=ref_row.astype(np.int16),
        log_pv=np.array([_f(r["pV"]) for r in rows]),
        tau=np.array([[float(r[f"cluster_{k}"]) for k in range(50)] for r in rows]),
        z=np.array([[float(r[f"z{k}"]) for k in range(4)] for r in rows]),
        class_probabilities=np.array([[float(r[f"class_{c}"]) for c in classes] for r in rows]),
        class_columns=np.array(classes),
        class_=np.array([r["class_"] for r in rows]),
        class_sf=np.array([r["class_sf"] for r in rows]),
        flags_ehk=np.array([[flag(r[f]) for f in "ehk"] for r in rows], dtype=np.int8),
    )

    # per-asteroid Mahlke class and albedo for the developer raw spectra
    def norm(name: str) -> str:
        return name.replace(" ", "").replace("_", "").upper()

    pv: dict[str, list[float]] = {}
    for table in ("class_visnir.csv", "class_vis.csv"):
        for r in csv.DictReader((src / table).open(newline="")):
            k = str(int(float(r["number"]))) if r["number"] not in ("", "nan") else norm(r["name"])
            if r["pV"] != "":
                pv.setdefault(k, []).append(10 ** float(r["pV"]))
    ast = {}
    for r in csv.DictReader((src / "class_asteroids.csv").open(newline="")):
        k = str(int(float(r["number"]))) if r["number"] not in ("", "nan") else norm(r["name"])
        ast[k] = r
    labels = list(
        csv.DictReader((REPO / "tests" / "data" / "spectra" / "labels.csv").open(newline=""))
    )
    keys = sorted({r["key"] for r in labels if r["key"] in ast}, key=lambda s: (len(s), s))
    with (HERE / "asteroid_classes.csv").open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["key", "name", "class_", "class_sf", "n_samples", "pv"])
        for k in keys:
            a = ast[k]
            albedo = f"{np.median(pv[k]):.4f}" if k in pv else ""
            w.writerow([k, a["name"], a["class_"], a["class_sf"], a["N"], albedo])

    nb = list(csv.DictReader((src / "mixnorm_neighbours.csv").open(newline="")))
    by_row = {int(j): i for i, j in enumerate(ref_row)}
    with (HERE / "raw_to_published.csv").open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["file", "reference_row", "class_sf"])
        for j, r in enumerate(nb):
            p = r["path_file"]
            name = p.rsplit("/", 1)[-1].replace(".csv", ".txt")
            f = REPO / "tests" / "data" / "spectra" / "demeo2009" / name
            if p.startswith("spectra_bus-demeo_classification/") and f.exists() and j in by_row:
                w.writerow([f"demeo2009/{name}", j, rows[by_row[j]]["class_sf"]])


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data"))

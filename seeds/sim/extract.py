"""Rebuild the DERIVED tables of seeds/sim/ from the developer data (../shared/data).

Run once by hand (`python seeds/sim/extract.py /work/shared/data`); the outputs are committed
so that a fresh clone needs nothing else. The asteroid spectra in seeds/sim/asteroids/ are
byte copies of the raw files and are not rebuilt here.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ASTEROIDS = {  # file in seeds/sim/asteroids → object name
    "a000001.sp41.txt": "1 Ceres",
    "a000004.sp02.txt": "4 Vesta",
    "a000013.sp41.txt": "13 Egeria",
    "a000016.sp02.txt": "16 Psyche",
    "a000267.sp24.txt": "267 Tirza",
    "a000289.sp01.txt": "289 Nenetta",
    "a000349.sp06.txt": "349 Dembowska",
    "a000433.sp16.txt": "433 Eros",
    "a001566.visnir.txt": "1566 Icarus",
    "a003200.sp34.txt": "3200 Phaethon",
    "a004688.sp03.txt": "4688 1980 WF",
    "a025143.visnir.txt": "25143 Itokawa",
}
# Lab samples (RELAB, via Korda et al. 2023) and the asteroid class they are the accepted
# spectral analogue of: HED eucrites ↔ V-types (McCord, Adams & Johnson 1970, Science 168,
# 1445; Binzel & Xu 1993, Science 260, 186); LL chondrites ↔ Q-types (fresh, unweathered
# ordinary-chondrite surfaces: Binzel, Bus, Burbine & Sunshine 1996, Science 273, 946).
LAB = {
    "MT-HYM-030": ("V", "HED eucrite ↔ V-type (McCord et al. 1970; Binzel & Xu 1993)"),
    "TB-TJM-145": ("Q", "LL chondrite ↔ Q-type (Binzel et al. 1996)"),
}


def main(data: Path) -> None:
    with (data / "spectra" / "labels.csv").open(newline="") as fh:
        labels = {Path(r["file"]).name: r for r in csv.DictReader(fh)}
    with (HERE / "asteroids" / "labels.csv").open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["file", "object", "key", "source", "label", "class_bdm", "complex"])
        for name, obj in ASTEROIDS.items():
            r = labels[name]
            w.writerow([name, obj, r["key"], r["source"], r["label"], r["class_bdm"], r["complex"]])

    npz = np.load(data / "lab" / "mineral-spectra_denoised.npz", allow_pickle=True)
    with (data / "lab" / "mineral-spectra_metadata_and_labels.csv").open(newline="") as fh:
        meta = list(csv.DictReader(fh))
    index = {m["SampleID"]: i for i, m in enumerate(meta)}
    wl_um = npz["wavelengths"].astype(float) / 1000.0
    cols = [npz["spectra"][index[sid]] for sid in LAB]
    with (HERE / "lab" / "lab_spectra.csv").open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["wavelength_um", *LAB])
        for k, wl in enumerate(wl_um):
            w.writerow([f"{wl:.3f}", *(f"{c[k]:.6f}" for c in cols)])
    with (HERE / "lab" / "lab_samples.csv").open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["SampleID", "SpectrumID", "SampleName", "Type1", "SubType", "analogue_class", "analogue_reference"])
        for sid, (cls, ref) in LAB.items():
            m = meta[index[sid]]
            w.writerow([sid, m["SpectrumID"], m["SampleName"].strip(), m["Type1"].strip(), m["SubType"].strip(), cls, ref])


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data"))

"""Accuracy of a classifier against published labels: exact class, complex, confusion matrix.

Used by the tests (tests/test_busdemeo_real.py) and by `python -m firmware.validation`, which
prints the numbers and the confusion matrix the README carries.
"""

from __future__ import annotations

import csv
import sys
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from firmware.taxonomy import complex_of

VISNIR_SOURCES = ("DeMeo2009", "Binzel2019")


def strip_w(cls: str | None) -> str | None:
    """Drop DeMeo's "w" suffix ("Sw" → "S"); labels are compared without it."""
    if cls and cls.endswith("w") and len(cls) > 1:
        return cls[:-1]
    return cls


@dataclass
class Accuracy:
    n: int = 0
    n_refused: int = 0
    exact: int = 0
    same_complex: int = 0
    confusion: Counter = field(default_factory=Counter)  # (true, predicted) → count
    by_source: dict = field(default_factory=dict)  # source → [n, exact, complex]

    def add(self, true_cls: str, true_complex: str, predicted: str | None, source: str) -> None:
        if predicted is None:
            self.n_refused += 1
            return
        p = strip_w(predicted)
        hit, chit = p == true_cls, complex_of(p) == true_complex
        self.n += 1
        self.exact += hit
        self.same_complex += chit
        self.confusion[(true_cls, p)] += 1
        s = self.by_source.setdefault(source, [0, 0, 0])
        s[0], s[1], s[2] = s[0] + 1, s[1] + hit, s[2] + chit

    @property
    def exact_rate(self) -> float:
        return self.exact / self.n if self.n else float("nan")

    @property
    def complex_rate(self) -> float:
        return self.same_complex / self.n if self.n else float("nan")

    def confusion_markdown(self) -> str:
        classes = sorted({t for t, _ in self.confusion} | {p for _, p in self.confusion})
        lines = ["| true \\ predicted | " + " | ".join(classes) + " |",
                 "|---" * (len(classes) + 1) + "|"]  # fmt: skip
        for t in classes:
            cells = [str(self.confusion.get((t, p), "")) for p in classes]
            if any(cells):
                lines.append(f"| **{t}** | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def visnir_rows(spectra_dir: Path) -> list[dict]:
    """The labelled DeMeo 2009 + Binzel 2019 files of labels.csv (the Bus-DeMeo test set)."""
    with (spectra_dir / "labels.csv").open(newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["source"] in VISNIR_SOURCES and r["class_bdm"]]


def grouped_folds(keys: list[str], n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Fold index per row, assigned per asteroid key (never per file: `_xth` twins and objects
    in several surveys share a key). Deterministic: keys are ordered by a CRC32 of
    (seed, key), then dealt round-robin."""
    unique = sorted(set(keys), key=lambda k: (zlib.crc32(f"{seed}:{k}".encode()), k))
    fold = {k: i % n_folds for i, k in enumerate(unique)}
    return np.array([fold[k] for k in keys])


def evaluate_bus_demeo(spectra_dir: Path) -> Accuracy:
    """Bus-DeMeo accuracy on the labelled DeMeo 2009 + Binzel 2019 raw files in spectra_dir."""
    from firmware.busdemeo import classify_spectrum
    from firmware.reader import read_spectra

    acc = Accuracy()
    with (spectra_dir / "labels.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["source"] not in ("DeMeo2009", "Binzel2019") or not row["class_bdm"]:
                continue
            result = classify_spectrum(read_spectra(spectra_dir / row["file"])[0])
            acc.add(row["class_bdm"], row["complex"], result.cls, row["source"])
    return acc


@dataclass
class Agreement:
    """How often two labellings of the same spectra agree (exact class, w ignored; complex)."""

    n: int = 0
    exact: int = 0
    same_complex: int = 0

    def add(self, a: str | None, b: str | None) -> None:
        a, b = strip_w(a), strip_w(b)
        self.n += 1
        self.exact += a == b
        self.same_complex += a is not None and complex_of(a) == complex_of(b)

    def __str__(self) -> str:
        return f"n={self.n} exact {self.exact / self.n:.1%} complex {self.same_complex / self.n:.1%}"


def korda_metadata(path: Path) -> dict[str, list[dict]]:
    """Korda et al. 2023 metadata rows by asteroid key (`2002_UN` → `2002UN`), file order kept:
    DeMeo 2009 spectra come before Binzel 2019 ones."""
    out: dict[str, list[dict]] = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["asteroid number"].replace("_", ""), []).append(row)
    return out


def label_consistency(spectra_dir: Path, korda_csv: Path) -> dict[str, dict[str, Agreement]]:
    """Do the published labels follow the DeMeo 2009 tree on the published PC′ scores?

    For each labelled DeMeo 2009 / Binzel 2019 spectrum (not the `_xth` copies) with a Korda
    et al. 2023 entry (its slope, PC1′–PC5′ and class as distributed with the resampled
    spectrum; the DeMeo entry first, the Binzel one last), per source:
      * `label_vs_korda`: the published label against Korda's class;
      * `label_vs_tree_on_published_pcs`: the label against our tree run on Korda's scores
        (e/h/k as we detect them);
      * `ours_vs_korda`: our class against Korda's class;
      * `ours_vs_label`: our class against the label, on the same subset.
    """
    import numpy as np

    from firmware.busdemeo import GRID_HALF_WIDTH_UM, _kernel_constants, classify_spectrum
    from firmware.kernels.demeo import _tree
    from firmware.kernels.resample import resample_binned
    from firmware.reader import read_spectra
    from firmware.taxonomy import CLASS_NAMES, DEMEO_GRID_UM

    korda = korda_metadata(korda_csv)
    _model, tmpl_sr, _inv = _kernel_constants()
    out: dict[str, dict[str, Agreement]] = {}
    for row in visnir_rows(spectra_dir):
        entries = korda.get(row["key"]) or korda.get(row["designation"].replace(" ", ""))
        if not entries or row["file"].endswith("_xth.txt"):
            continue
        entry = entries[0] if row["source"] == "DeMeo2009" else entries[-1]
        spec = read_spectra(spectra_dir / row["file"])[0]
        res = classify_spectrum(spec)
        if res.cls is None:
            continue
        pc = np.array([float(entry[f"PC{k}"]) for k in range(1, 6)])
        slope = float(entry["slope"])
        det = [bool(res.features[f].detected) for f in "ehk"]
        # R(0.45) and the slope-removed spectrum (for the A/D and C/X correlation tie-breaks)
        # come from our resampling; the decisive numbers are the published slope and PC′
        r41 = resample_binned(spec.wavelength_um, spec.reflectance[None], DEMEO_GRID_UM, GRID_HALF_WIDTH_UM)[0]
        r41 = r41 / r41[2]
        rprime = r41 / (1 + slope * (DEMEO_GRID_UM - 0.55))
        c, _w = _tree(pc, slope, r41[0], rprime, tmpl_sr, *det)
        tree_cls = CLASS_NAMES[c] if c >= 0 else None
        agg = out.setdefault(row["source"], {k: Agreement() for k in (
            "label_vs_korda", "label_vs_tree_on_published_pcs", "ours_vs_korda", "ours_vs_label")})
        agg["label_vs_korda"].add(row["class_bdm"], entry["taxonomy class"])
        agg["label_vs_tree_on_published_pcs"].add(row["class_bdm"], tree_cls)
        agg["ours_vs_korda"].add(res.cls, entry["taxonomy class"])
        agg["ours_vs_label"].add(res.cls, row["class_bdm"])
    return out


def main(argv: list[str]) -> int:
    spectra_dir = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "tests/data/spectra"
    acc = evaluate_bus_demeo(spectra_dir)
    print(f"spectra classified: {acc.n} (refused with a reason: {acc.n_refused})")
    print(f"exact class: {acc.exact_rate:.1%}   complex: {acc.complex_rate:.1%}")
    for source, (n, e, c) in sorted(acc.by_source.items()):
        print(f"  {source}: n={n} exact {e / n:.1%} complex {c / n:.1%}")
    korda_csv = spectra_dir.parent / "korda2023" / "asteroid-spectra_metadata.csv"
    if korda_csv.exists():
        print("\nlabel consistency (Korda et al. 2023 slope/PC′/class per spectrum):")
        for source, agg in sorted(label_consistency(spectra_dir, korda_csv).items()):
            for name, a in agg.items():
                print(f"  {source:10s} {name:32s} {a}")
    print()
    print(acc.confusion_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

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


def main(argv: list[str]) -> int:
    spectra_dir = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "tests/data/spectra"
    acc = evaluate_bus_demeo(spectra_dir)
    print(f"spectra classified: {acc.n} (refused with a reason: {acc.n_refused})")
    print(f"exact class: {acc.exact_rate:.1%}   complex: {acc.complex_rate:.1%}")
    for source, (n, e, c) in sorted(acc.by_source.items()):
        print(f"  {source}: n={n} exact {e / n:.1%} complex {c / n:.1%}")
    print()
    print(acc.confusion_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

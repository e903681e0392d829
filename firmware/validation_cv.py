"""Grouped cross-validation of the one Bus-DeMeo setting tuned on data: the k-feature depth.

The 0.9 µm (k) feature decides Xk in the C/X branches of the DeMeo 2009 tree, and on noisy
NEO spectra a shallow k "detection" turns C- and Ch-types into Xk. The depth from which the
tree counts a k band (`firmware.busdemeo.K_MIN_DEPTH`; the feature kernel's own floor is
cana's 1 %) is therefore chosen on the developer spectra — and only ever judged on
asteroids that did not choose it:

* folds are made by asteroid key (`firmware.validation.grouped_folds`), never by file;
* only depths at which the DeMeo Xk class mean still shows its k band are candidates (the
  25 class means must classify as themselves; `admissible`);
* in each fold the depth that maximises exact-class accuracy on the other folds is picked
  (ties: complex accuracy, then the smaller depth) and applied to the held-out fold;
* the held-out predictions of all folds make the reported accuracy; several seeds give its
  spread. The value shipped in the code is the one picked on all developer spectra.

`python -m firmware.validation_cv` prints the numbers for the README.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmware.validation import Accuracy, grouped_folds, strip_w, visnir_rows

K_DEPTH_CANDIDATES = (0.01, 0.0125, 0.015, 0.0175, 0.02, 0.025)
DEFAULT_DIR = Path(__file__).resolve().parents[1] / "tests/data/spectra"


@dataclass
class FeatureTable:
    """Per labelled file: the 41-point spectrum and the measured e/h/k features."""

    rows: list[dict]
    r41: np.ndarray  # (N, 41)
    features: np.ndarray  # (N, 3, 4) depth, centre µm, σ, detected
    classified: np.ndarray  # (N,) bool: the full pipeline classified this file


def feature_table(spectra_dir: Path = DEFAULT_DIR) -> FeatureTable:
    from firmware.busdemeo import GRID_HALF_WIDTH_UM, classify_batch
    from firmware.kernels.features import MIN_DEPTH
    from firmware.kernels.resample import resample_binned
    from firmware.reader import read_spectra
    from firmware.taxonomy import DEMEO_GRID_UM

    rows = visnir_rows(spectra_dir)
    r41, feats, ok = [], [], []
    for row in rows:
        s = read_spectra(spectra_dir / row["file"])[0]
        r41.append(resample_binned(s.wavelength_um, s.reflectance[None], DEMEO_GRID_UM, GRID_HALF_WIDTH_UM)[0])
        res = classify_batch(s.wavelength_um, s.reflectance[None], None if s.error is None else s.error[None],
                             k_min_depth=MIN_DEPTH)  # fmt: skip
        feats.append(res.features[0])
        ok.append(res.status[0] == 0)
    return FeatureTable(rows, np.array(r41), np.array(feats), np.array(ok))


def detections(features: np.ndarray, k_min_depth: float) -> np.ndarray:
    """(N, 3) e/h/k detections with the k depth floor replaced by `k_min_depth` (the other
    parts of the stated rule — centre, interior minimum, 3σ — are kept as measured)."""
    from firmware.kernels.features import MIN_DEPTH

    if k_min_depth < MIN_DEPTH - 1e-12:
        # shallower bands were never flagged by the feature kernel: they cannot be recovered
        raise ValueError(f"k_min_depth {k_min_depth} is below the feature kernel's floor {MIN_DEPTH}")
    det = features[:, :, 3] == 1.0
    k_depth = features[:, 2, 0]
    det[:, 2] &= k_depth >= k_min_depth
    return det


def predictions(table: FeatureTable, k_min_depth: float) -> list[str | None]:
    from firmware.busdemeo import classify_grid

    labels = classify_grid(table.r41, detections(table.features, k_min_depth)).labels()
    return [strip_w(lbl) if ok else None for lbl, ok in zip(labels, table.classified, strict=True)]


def _score(rows, preds, idx) -> tuple[int, int]:
    from firmware.taxonomy import complex_of

    exact = sum(preds[i] == rows[i]["class_bdm"] for i in idx if preds[i])
    same = sum(complex_of(preds[i]) == rows[i]["complex"] for i in idx if preds[i])
    return exact, same


def admissible(candidates=K_DEPTH_CANDIDATES) -> tuple[float, ...]:
    """The candidate depths at which the Xk class mean (DeMeo 2009 template, run through the
    pipeline) still counts its 0.9 µm band."""
    from firmware.busdemeo import classify_batch
    from firmware.kernels.features import MIN_DEPTH
    from firmware.taxonomy import CLASS_INDEX, load_demeo_model

    m = load_demeo_model()
    xk = classify_batch(m.grid_um, m.template_mean[[CLASS_INDEX["Xk"]]], k_min_depth=MIN_DEPTH)
    depth = xk.features[0, 2, 0]
    return tuple(c for c in candidates if c <= depth)


@dataclass
class CVResult:
    candidates: tuple[float, ...]
    held_out: list[Accuracy]  # one per seed
    chosen: list[list[float]]  # per seed, the depth picked in each fold
    all_data_choice: float


def cross_validate(table: FeatureTable, candidates=K_DEPTH_CANDIDATES, n_folds: int = 5,
                   seeds=(0, 1, 2)) -> CVResult:  # fmt: skip
    rows = table.rows
    candidates = admissible(candidates)
    preds = {c: predictions(table, c) for c in candidates}
    keys = [r["key"] for r in rows]
    everyone = range(len(rows))

    def pick(train_idx) -> float:
        return max(candidates, key=lambda c: (*_score(rows, preds[c], train_idx), -c))

    held, chosen = [], []
    for seed in seeds:
        folds = grouped_folds(keys, n_folds, seed)
        acc, picks = Accuracy(), []
        for f in range(n_folds):
            c = pick(np.flatnonzero(folds != f))
            picks.append(c)
            for i in np.flatnonzero(folds == f):
                acc.add(rows[i]["class_bdm"], rows[i]["complex"], preds[c][i], rows[i]["source"])
        held.append(acc)
        chosen.append(picks)
    return CVResult(candidates, held, chosen, pick(everyone))


def main(argv: list[str]) -> int:
    table = feature_table(Path(argv[0]) if argv else DEFAULT_DIR)
    cv = cross_validate(table)
    print(f"admissible k depths: {cv.candidates}; picked on all developer spectra: {cv.all_data_choice}")
    for seed, (acc, picks) in enumerate(zip(cv.held_out, cv.chosen, strict=True)):
        per = "  ".join(f"{s} {e / n:.1%}/{c / n:.1%}" for s, (n, e, c) in sorted(acc.by_source.items()))
        print(f"seed {seed}: held-out exact {acc.exact_rate:.1%} complex {acc.complex_rate:.1%}"
              f"  ({per})  picks {picks}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

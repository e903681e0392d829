"""Real spectra for tests, read from tests/data/spectra (copied from ../shared/data/spectra)."""

from __future__ import annotations

import csv
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from firmware.reader import read_spectra

SPECTRA_DIR = Path(__file__).resolve().parent / "data" / "spectra"


@lru_cache(maxsize=1)
def labels() -> list[dict]:
    with (SPECTRA_DIR / "labels.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def visnir_rows() -> list[dict]:
    """Labelled DeMeo 2009 + Binzel 2019 files (the Bus-DeMeo validation set)."""
    return [r for r in labels() if r["source"] in ("DeMeo2009", "Binzel2019") and r["class_bdm"]]


@cache
def spectrum(file: str):
    return read_spectra(SPECTRA_DIR / file)[0]


def shared_axis_batch(n: int = 64, n_bands: int = 120, seed: int = 1, edge_cases: bool = True,
                      range_um: tuple[float, float] = (0.44, 2.46)):  # fmt: skip
    """(N, B) float32 spectra on one axis over range_um, interpolated from real spectra,
    with edge cases appended: NaN holes, flat, very red, truncated, noisy, all-NaN."""
    rng = np.random.default_rng(seed)
    axis = np.linspace(*range_um, n_bands)
    rows = visnir_rows()
    pick = rng.choice(len(rows), size=n, replace=False)
    out = []
    for j in pick:
        s = spectrum(rows[j]["file"])
        r = np.interp(axis, s.wavelength_um, s.reflectance, left=np.nan, right=np.nan)
        out.append(r)
    x = np.array(out)
    if edge_cases:
        base = x[0].copy()
        holes = base.copy()
        holes[30:38] = np.nan
        flat = np.ones(n_bands)
        red = 1.0 + 2.0 * (axis - 0.55)
        truncated = base.copy()
        truncated[axis > 1.6] = np.nan
        noisy = base * (1 + rng.normal(0, 0.05, n_bands))
        all_nan = np.full(n_bands, np.nan)
        x = np.vstack([x, holes, flat, red, truncated, noisy, all_nan])
    return axis, x.astype(np.float32)

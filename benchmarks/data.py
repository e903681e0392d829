"""Benchmark inputs generated from real spectra, deterministic for a master seed.

Every row is one of the labelled DeMeo 2009 / Binzel 2019 developer spectra (tests/data),
interpolated to a shared axis of `n_bands` over 0.45–2.45 µm and perturbed the way real data
differ: a random gain, a random slope tilt (space weathering / phase reddening, ±0.05 µm⁻¹)
and Gaussian noise at an SNR drawn from 30–300. So the branches the classifier takes are
those of real asteroid spectra, in realistic proportions.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from firmware.reader import read_spectra
from firmware.taxonomy import CLASS_INDEX
from firmware.validation import strip_w

MASTER_SEED = 20261124
RANGE_UM = (0.45, 2.45)


def sizes() -> list[int]:
    """N values from ASSAY_BENCH_SIZES (comma-separated), default 1e3, 1e4, 1e5."""
    raw = os.environ.get("ASSAY_BENCH_SIZES", "1000,10000,100000")
    return [int(float(v)) for v in raw.split(",") if v.strip()]


def cube_side() -> int:
    """Side of the square image cube (ASSAY_BENCH_CUBE, default 512; 0 skips the cube)."""
    return int(os.environ.get("ASSAY_BENCH_CUBE", "512"))


@lru_cache(maxsize=4)
def _sources(n_bands: int):
    from tests.spectra_fixtures import SPECTRA_DIR, visnir_rows

    axis = np.linspace(*RANGE_UM, n_bands)
    rows, labels = [], []
    for row in visnir_rows():
        s = read_spectra(SPECTRA_DIR / row["file"])[0]
        if s.wavelength_um[0] > RANGE_UM[0] or s.wavelength_um[-1] < RANGE_UM[1]:
            continue
        rows.append(np.interp(axis, s.wavelength_um, s.reflectance))
        labels.append(CLASS_INDEX[strip_w(row["class_bdm"])])
    return axis, np.array(rows), np.array(labels)


@lru_cache(maxsize=8)
def make_inputs(n: int, n_bands: int = 120, seed: int = MASTER_SEED):
    """(axis_um (B,), spectra (N, B) float32, source class labels (N,))."""
    axis, base, labels = _sources(n_bands)
    rng = np.random.default_rng([seed, n, n_bands])
    pick = rng.integers(0, len(base), n)
    gain = rng.uniform(0.5, 1.5, (n, 1))
    tilt = 1.0 + rng.uniform(-0.05, 0.05, (n, 1)) * (axis - 0.55)
    snr = rng.uniform(30.0, 300.0, (n, 1))
    x = base[pick] * gain * tilt
    x *= 1.0 + rng.standard_normal((n, n_bands)) / snr
    return axis, x.astype(np.float32), labels[pick]

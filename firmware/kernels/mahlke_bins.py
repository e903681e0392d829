"""Mahlke 2022 preprocessing: spectra onto the 53-bin grid (0.45–2.45 µm).

`bin_spectra` averages each spectrum onto the grid (mean of the valid samples within ± half a
bin step of the centre; an empty bin is interpolated only across holes ≤ `max_gap_um`; NaN
outside the observed range — no extrapolation).
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_leaf, njit_parallel, prange
from firmware.kernels.pipeline import _load_row
from firmware.kernels.resample import _resample_binned_one

# chunks of the parallel loop (each with its row scratch); a constant, because a kernel that
# asks numba for its thread count cannot be cached (firmware/_jit.py)
N_CHUNKS = 64


@njit_parallel
def bin_spectra(wavelength_um, reflectance, grid_um, half_width_um, max_gap_um):
    """(N, B) spectra on a shared ascending axis → (N, G) float64 bins (any float input
    dtype; NaN or ≤ 0 reflectance = missing): the binned resampling of the Bus-DeMeo path
    (`resample._resample_binned_one`) with a half-width per bin and holes bridged only up to
    `max_gap_um`. A row is copied in its own dtype with its missing values as NaN first."""
    n = reflectance.shape[0]
    nb = reflectance.shape[1]
    out = np.empty((n, grid_um.shape[0]))
    n_chunks = max(1, min(n, N_CHUNKS))
    chunk = (n + n_chunks - 1) // n_chunks
    for ch in prange(n_chunks):
        row = np.empty(nb, reflectance.dtype)
        for i in range(ch * chunk, min(n, (ch + 1) * chunk)):
            _load_row(reflectance, i, row)
            _resample_binned_one(wavelength_um, row, grid_um, half_width_um, out[i], max_gap_um)
    return out


def bin_masks(observed: np.ndarray) -> np.ndarray:
    """One uint64 per row of an (N, ≤ 64) bool array: bit b set where bin b is observed."""
    bits = np.left_shift(np.uint64(1), np.arange(observed.shape[1], dtype=np.uint64))
    return np.bitwise_or.reduce(np.where(observed, bits, np.uint64(0)), axis=1)


def coverage_masks(binned: np.ndarray) -> np.ndarray:
    """One uint64 per row: bit b set where bin b is finite (the grid has ≤ 64 bins)."""
    return bin_masks(np.isfinite(binned))


@njit_leaf
def observed_bins(observed, obs):
    """The indices of the True entries of one bool row (an observed set) into `obs`;
    returns their count."""
    n_obs = 0
    for b in range(observed.shape[0]):
        if observed[b]:
            obs[n_obs] = b
            n_obs += 1
    return n_obs

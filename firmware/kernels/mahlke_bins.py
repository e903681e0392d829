"""Mahlke 2022 preprocessing: spectra onto the 53-bin grid (0.45–2.45 µm).

`bin_spectra` averages each spectrum onto the grid (mean of the valid samples within ± half a
bin step of the centre; an empty bin is interpolated only across holes ≤ `max_gap_um`; NaN
outside the observed range — no extrapolation).
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_leaf, njit_parallel, njit_serial, prange


@njit_serial
def bin_one(wavelength_um, reflectance, grid_um, half_width_um, max_gap_um, out):
    """Bin one spectrum (ascending axis; NaN or ≤ 0 reflectance = missing) onto the grid."""
    n_in = wavelength_um.shape[0]
    first = -1
    last = -1
    for j in range(n_in):
        v = reflectance[j]
        if v > 0.0:  # False for NaN
            if first < 0:
                first = j
            last = j
    start = 0
    for k in range(grid_um.shape[0]):
        g = grid_um[k]
        if first < 0 or g < wavelength_um[first] - 1e-9 or g > wavelength_um[last] + 1e-9:
            out[k] = np.nan
            continue
        lo_w = g - half_width_um[k] - 1e-9
        hi_w = g + half_width_um[k] + 1e-9
        while start < n_in and wavelength_um[start] < lo_w:
            start += 1
        acc = 0.0
        cnt = 0
        j = start
        while j < n_in and wavelength_um[j] <= hi_w:
            v = reflectance[j]
            if v > 0.0:
                acc += v
                cnt += 1
            j += 1
        if cnt > 0:
            out[k] = acc / cnt
            continue
        lo = start - 1  # nearest valid sample below the window
        while lo >= 0 and not reflectance[lo] > 0.0:
            lo -= 1
        hi = j  # nearest valid sample above the window
        while hi < n_in and not reflectance[hi] > 0.0:
            hi += 1
        if lo < 0 or hi >= n_in or wavelength_um[hi] - wavelength_um[lo] > max_gap_um + 1e-9:
            out[k] = np.nan
        else:
            t = (g - wavelength_um[lo]) / (wavelength_um[hi] - wavelength_um[lo])
            out[k] = reflectance[lo] + t * (reflectance[hi] - reflectance[lo])


@njit_parallel
def bin_spectra(wavelength_um, reflectance, grid_um, half_width_um, max_gap_um):
    """(N, B) spectra on a shared ascending axis → (N, G) float64 bins (any float input dtype)."""
    n = reflectance.shape[0]
    out = np.empty((n, grid_um.shape[0]))
    for i in prange(n):
        bin_one(wavelength_um, reflectance[i], grid_um, half_width_um, max_gap_um, out[i])
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

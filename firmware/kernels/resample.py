"""Linear resampling of spectra onto a wavelength grid, with no extrapolation."""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_parallel, njit_serial, prange


@njit_serial
def _resample_one(wavelength_um, reflectance, grid_um, out):
    """Linear interpolation of one spectrum onto `grid_um`, NaN outside its coverage.

    `wavelength_um` must be ascending. NaN reflectances are treated as missing: a grid
    point is interpolated only between the two nearest *valid* samples that bracket it,
    so holes in the input stay holes (NaN) where no valid neighbour pair brackets the point.
    Grid points beyond the first/last valid sample are NaN (no extrapolation).
    """
    n_in = wavelength_um.shape[0]
    n_out = grid_um.shape[0]
    lo = -1  # index of the last valid sample with wavelength <= g
    j = 0
    for k in range(n_out):
        g = grid_um[k]
        while j < n_in and wavelength_um[j] <= g:
            if not np.isnan(reflectance[j]):
                lo = j
            j += 1
        # next valid sample strictly above g
        hi = -1
        m = j
        while m < n_in:
            if not np.isnan(reflectance[m]):
                hi = m
                break
            m += 1
        if lo >= 0 and wavelength_um[lo] == g:
            out[k] = reflectance[lo]
        elif lo >= 0 and hi >= 0:
            w0 = wavelength_um[lo]
            w1 = wavelength_um[hi]
            t = (g - w0) / (w1 - w0)
            out[k] = reflectance[lo] + t * (reflectance[hi] - reflectance[lo])
        else:
            out[k] = np.nan


@njit_parallel
def resample_linear(wavelength_um, reflectance, grid_um):
    """Resample (N, B) spectra on a shared ascending axis (B,) to (N, G) float64.

    NaN marks a missing input sample and comes out where the grid point is not bracketed
    by valid samples. Any float dtype is read without a whole-array upcast.
    """
    n = reflectance.shape[0]
    out = np.empty((n, grid_um.shape[0]), dtype=np.float64)
    for i in prange(n):
        _resample_one(wavelength_um, reflectance[i], grid_um, out[i])
    return out


@njit_serial
def resample_one(wavelength_um, reflectance, grid_um):
    """Resample one spectrum (B,) on its own ascending axis to the grid (G,)."""
    out = np.empty(grid_um.shape[0], dtype=np.float64)
    _resample_one(wavelength_um, reflectance, grid_um, out)
    return out

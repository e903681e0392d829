"""Linear resampling of spectra onto a wavelength grid, with no extrapolation."""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

from firmware._jit import njit_leaf, njit_parallel, njit_serial, prange


def _half_width_at(half_width_um, k):
    """The half-width (µm) of grid point k's window: `half_width_um` is one float for every
    point (Bus-DeMeo, band and feature grids) or an array with one per point (Mahlke bins)."""
    raise NotImplementedError("only inside numba kernels")


@overload(_half_width_at)
def _half_width_at_numba(half_width_um, k):
    if isinstance(half_width_um, types.Array):
        return lambda half_width_um, k: half_width_um[k]
    return lambda half_width_um, k: half_width_um


@njit_leaf
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


@njit_leaf
def _resample_binned_one(wavelength_um, reflectance, grid_um, half_width_um, out,
                         max_gap_um=np.inf):  # fmt: skip
    """Mean of the valid (not NaN) samples within ±half_width of each grid point; where a
    grid point's window holds none, linear interpolation between the bracketing valid samples
    when they are at most `max_gap_um` apart (else NaN); NaN where the grid point is outside
    the valid coverage (no extrapolation). `half_width_um`: one float, or one per grid point.

    This is the resampling DeMeo et al. 2009 approximated with a smoothing spline: it
    averages photon noise down on finely sampled spectra and reduces to plain interpolation
    on coarse ones. `wavelength_um` must be ascending.
    """
    n_in = wavelength_um.shape[0]
    first = -1
    last = -1
    for j in range(n_in):
        if not np.isnan(reflectance[j]):
            if first < 0:
                first = j
            last = j
    start = 0
    for k in range(grid_um.shape[0]):
        g = grid_um[k]
        if first < 0 or g < wavelength_um[first] - 1e-9 or g > wavelength_um[last] + 1e-9:
            out[k] = np.nan
            continue
        half = _half_width_at(half_width_um, k)
        lo_w = g - half - 1e-9
        hi_w = g + half + 1e-9
        while start < n_in and wavelength_um[start] < lo_w:
            start += 1
        acc = 0.0
        cnt = 0
        j = start
        while j < n_in and wavelength_um[j] <= hi_w:
            v = reflectance[j]
            if not np.isnan(v):
                acc += v
                cnt += 1
            j += 1
        if cnt > 0:
            out[k] = acc / cnt
            continue
        # no sample in the window: interpolate between the nearest valid neighbours
        lo = start - 1
        while lo >= 0 and np.isnan(reflectance[lo]):
            lo -= 1
        hi = j
        while hi < n_in and np.isnan(reflectance[hi]):
            hi += 1
        if lo < 0 or hi >= n_in or wavelength_um[hi] - wavelength_um[lo] > max_gap_um + 1e-9:
            out[k] = np.nan
        else:
            t = (g - wavelength_um[lo]) / (wavelength_um[hi] - wavelength_um[lo])
            out[k] = reflectance[lo] + t * (reflectance[hi] - reflectance[lo])


@njit_parallel
def resample_binned(wavelength_um, reflectance, grid_um, half_width_um):
    """Binned resampling of (N, B) spectra on a shared ascending axis to (N, G) float64."""
    n = reflectance.shape[0]
    out = np.empty((n, grid_um.shape[0]), dtype=np.float64)
    for i in prange(n):
        _resample_binned_one(wavelength_um, reflectance[i], grid_um, half_width_um, out[i])
    return out


@njit_parallel
def coverage(wavelength_um, reflectance, lo_um, hi_um):
    """Per spectrum: first and last valid wavelength, and the widest gap between consecutive
    valid samples inside [lo_um, hi_um] (µm). NaN reflectance = missing. (N, 3) float64."""
    n = reflectance.shape[0]
    out = np.empty((n, 3))
    for i in prange(n):
        first = np.nan
        last = np.nan
        prev = np.nan
        gap = 0.0
        for j in range(wavelength_um.shape[0]):
            if np.isnan(reflectance[i, j]):
                continue
            w = wavelength_um[j]
            if np.isnan(first):
                first = w
            last = w
            if not np.isnan(prev) and w > lo_um and prev < hi_um:
                g = min(w, hi_um) - max(prev, lo_um)
                if g > gap:
                    gap = g
            prev = w
        out[i, 0] = first
        out[i, 1] = last
        out[i, 2] = gap
    return out


def resample_plan(wavelength_um, grid_um, half_width_um):
    """Precompute binned resampling for a shared axis (the common survey case).

    Returns idx (4, G) int64 — window start, window end (exclusive), left and right
    interpolation neighbours — and t (G,) interpolation weights, NaN where the grid point is
    outside the axis. For a row without missing values, `resample_planned_one` then gives
    exactly what `_resample_binned_one` gives, with no searching per spectrum.
    """
    axis = np.asarray(wavelength_um, dtype=np.float64)
    grid = np.asarray(grid_um, dtype=np.float64)
    lo = np.searchsorted(axis, grid - half_width_um - 1e-9, side="left")
    hi = np.searchsorted(axis, grid + half_width_um + 1e-9, side="right")
    left = lo - 1
    right = hi.copy()
    ok = (left >= 0) & (right < axis.size)
    li, ri = np.clip(left, 0, axis.size - 1), np.clip(right, 0, axis.size - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(ok, (grid - axis[li]) / (axis[ri] - axis[li]), 0.0)
    right = np.where(ok, right, -1)
    t = np.where((grid >= axis[0] - 1e-9) & (grid <= axis[-1] + 1e-9), t, np.nan)
    return np.ascontiguousarray(np.stack([lo, hi, left, right]).astype(np.int64)), t


@njit_leaf
def resample_planned_one(row, idx, t, out):
    """Binned resampling of one complete row (no NaN) with a plan from `resample_plan`."""
    for k in range(t.shape[0]):
        if np.isnan(t[k]):
            out[k] = np.nan
            continue
        lo = idx[0, k]
        hi = idx[1, k]
        if hi == lo + 1:  # one sample in the bin: x / 1 = x, skip the division (same value)
            out[k] = row[lo]
        elif hi > lo:
            acc = 0.0
            for j in range(lo, hi):
                acc += row[j]
            out[k] = acc / (hi - lo)
        elif idx[3, k] >= 0:
            a = row[idx[2, k]]
            out[k] = a + t[k] * (row[idx[3, k]] - a)
        else:
            out[k] = np.nan


def resample_taps(wavelength_um, grid_um, half_width_um):
    """The binned resampling of complete rows on a shared axis as a fixed-width sparse map.

    Returns idx (G, T) int64 and w (G, T) float64 with resampled[k] = Σₘ w[k, m]·row[idx[k, m]]
    for a row without missing values (unused taps have weight 0; a grid point outside the
    axis has a NaN weight, so its value comes out NaN), and valid (G,) bool. It is
    `resample_plan` unrolled: a mean over the window's samples, else linear interpolation
    between the two neighbours; equal to `resample_planned_one` to rounding (the mean is taken
    as Σ row/n instead of (Σ row)/n). A kernel can then resample with no branch per point.
    """
    idx, t = resample_plan(wavelength_um, grid_um, half_width_um)
    lo, hi, left, right = idx
    width = max(2, int(np.max(hi - lo, initial=0)))
    g = t.shape[0]
    taps = np.zeros((g, width), np.int64)
    w = np.zeros((g, width))
    valid = np.zeros(g, np.bool_)
    for k in range(g):
        if np.isnan(t[k]):
            w[k, 0] = np.nan
            continue
        if hi[k] > lo[k]:
            n = hi[k] - lo[k]
            taps[k, :n] = np.arange(lo[k], hi[k])
            w[k, :n] = 1.0 / n
            valid[k] = True
        elif right[k] >= 0:
            taps[k, :2] = left[k], right[k]
            w[k, :2] = 1.0 - t[k], t[k]
            valid[k] = True
        else:
            w[k, 0] = np.nan
    return taps, w, valid

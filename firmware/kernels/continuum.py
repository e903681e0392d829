"""Continuum removal for band analysis: upper convex hull and linear tie-point continua.

Two continua, both on an ascending wavelength axis with NaN marking a missing sample:

* **Upper convex hull** (Andrew's monotone chain, upper half, over wavelength): the tightest
  piecewise-linear curve lying on or above every valid sample. It needs no assumption about
  where the bands are, so it is the automatic fallback and the usual "continuum-removed
  spectrum" for display (Clark & Roush 1984, JGR 89, 6329).
* **Linear between tie points**: straight segments joining the reflectance maxima found in
  given windows — about 0.75 µm, 1.3–1.6 µm and 2.4–2.5 µm for Band I / Band II
  (Cloutis et al. 1986, JGR 91, 11641; Gaffey et al. 2002, Asteroids III; shared notes
  science.md §4.1). This is the continuum of the published band-parameter calibrations.

Kernels only do arithmetic; the continuum is NaN where it is undefined (outside the first and
last hull vertex or tie point), and a tie point is −1 when its window holds no valid sample.
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_leaf, njit_parallel, prange


@njit_leaf
def upper_hull_one(x, y, idx):
    """Indices of the upper convex hull of the valid points (x[j], y[j]), left to right.

    Writes the vertex indices to `idx` (length ≥ len(x)) and returns their count. Collinear
    middle points are dropped. NaN samples are skipped. Monotone chain: each new point pops
    the last vertex while the turn (a, b, c) is not strictly clockwise.
    """
    k = 0
    for j in range(x.shape[0]):
        yj = y[j]
        if np.isnan(yj):
            continue
        while k >= 2:
            a = idx[k - 2]
            b = idx[k - 1]
            cross = (x[b] - x[a]) * (yj - y[a]) - (y[b] - y[a]) * (x[j] - x[a])
            if cross >= 0.0:  # b lies on or below the chord a → j: not a hull vertex
                k -= 1
            else:
                break
        idx[k] = j
        k += 1
    return k


@njit_leaf
def hull_continuum_one(x, y, idx, out):
    """Upper-hull continuum of one spectrum into `out` (NaN outside the valid span).

    `idx` is scratch of length ≥ len(x). Returns the number of hull vertices."""
    n = x.shape[0]
    k = upper_hull_one(x, y, idx)
    for j in range(n):
        out[j] = np.nan
    if k == 0:
        return 0
    if k == 1:
        out[idx[0]] = y[idx[0]]
        return 1
    for v in range(k - 1):
        a = idx[v]
        b = idx[v + 1]
        slope = (y[b] - y[a]) / (x[b] - x[a])
        for j in range(a, b + 1):
            out[j] = y[a] + slope * (x[j] - x[a])
    return k


@njit_leaf
def tie_points_one(x, y, lo_um, hi_um, ties):
    """For each window [lo_um[w], hi_um[w]]: index of the largest valid y, or −1 if none."""
    n = x.shape[0]
    for w in range(lo_um.shape[0]):
        best = -np.inf
        ties[w] = -1
        # bisection to the window start (x ascending), then a scan of the window only
        j0 = 0
        j1 = n
        while j0 < j1:
            mid = (j0 + j1) // 2
            if x[mid] < lo_um[w] - 1e-9:
                j0 = mid + 1
            else:
                j1 = mid
        for j in range(j0, n):
            if x[j] < lo_um[w] - 1e-9:
                continue
            if x[j] > hi_um[w] + 1e-9:
                break
            if not np.isnan(y[j]) and y[j] > best:
                best = y[j]
                ties[w] = j


@njit_leaf
def linear_continuum_one(x, y, ties, out):
    """Piecewise-linear continuum through the tie points (skipping −1) into `out`; NaN
    outside the first and last valid tie point."""
    for j in range(x.shape[0]):
        out[j] = np.nan
    prev = -1
    for w in range(ties.shape[0]):
        b = ties[w]
        if b < 0:
            continue
        if prev >= 0 and b > prev:
            slope = (y[b] - y[prev]) / (x[b] - x[prev])
            for j in range(prev, b + 1):
                out[j] = y[prev] + slope * (x[j] - x[prev])
        elif prev < 0:
            out[b] = y[b]
        prev = b


@njit_parallel
def hull_continuum(x, reflectance):
    """Upper-hull continuum of (N, B) spectra on the shared axis x (B,) → (N, B) float64."""
    n, nb = reflectance.shape
    out = np.empty((n, nb))
    for i in prange(n):
        idx = np.empty(nb, np.int64)
        row = np.empty(nb)
        for j in range(nb):
            v = reflectance[i, j]
            row[j] = v if v > 0.0 else np.nan  # ≤ 0 and NaN = missing
        hull_continuum_one(x, row, idx, out[i])
    return out


@njit_parallel
def tie_continuum(x, reflectance, lo_um, hi_um):
    """Linear tie-point continuum of (N, B) spectra → ((N, B) continuum, (N, W) tie indices)."""
    n, nb = reflectance.shape
    out = np.empty((n, nb))
    ties = np.empty((n, lo_um.shape[0]), np.int64)
    for i in prange(n):
        row = np.empty(nb)
        for j in range(nb):
            v = reflectance[i, j]
            row[j] = v if v > 0.0 else np.nan
        tie_points_one(x, row, lo_um, hi_um, ties[i])
        linear_continuum_one(x, row, ties[i], out[i])
    return out, ties

"""Narrow absorption features e (0.49 µm), h (0.7 µm) and k (0.9 µm), per spectrum.

Method (classy `features/__init__.py`, Mahlke et al. 2022 §3.4; cana `specband.py`):
a linear continuum across the feature window, anchored on the mean of the first and of the
last three samples; the continuum-removed band is fitted with a degree-4 polynomial; the
centre is the minimum of the fit, the depth is 1 − fit(centre).

Detection rule (stated, not tuned per class):
  * the minimum lies strictly inside the window (not on its edge),
  * the centre lies within the tolerance of the published centre (FEATURE_CENTRE_TOL_UM),
  * depth ≥ 1 % (cana's threshold), and
  * depth ≥ 3 σ_depth, where σ_depth = rms(fit residual) · sqrt(5 / n) is the 1σ error of a
    fitted value of a 5-parameter fit over n samples.

All the linear algebra that depends only on the grid (the least-squares pseudo-inverse and
the dense evaluation points) is built once by `feature_model()`; the kernel does arithmetic.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from firmware._jit import njit_parallel, njit_serial, prange

FEATURE_NAMES = ("e", "h", "k")
# Windows and centre tolerances. e and k: classy `features/__init__.py` (Mahlke et al. 2022),
# centre within 3σ of the published mean (e 0.497±0.0055, k 0.906±0.017 µm). h: cana
# `specband.py` defaults for the 0.7 µm phyllosilicate band (Vilas & Gaffey 1989): window
# 0.54–0.88 µm, centre within 0.05 µm of 0.70 µm. classy's narrower h window (0.61–0.80)
# puts the continuum anchors inside the broad band and halves its depth.
FEATURE_WINDOWS_UM = ((0.45, 0.54), (0.54, 0.88), (0.76, 1.06))
FEATURE_CENTRE_UM = (0.49725, 0.70, 0.90596)
FEATURE_CENTRE_TOL_UM = (3 * 0.0055, 0.05, 3 * 0.017)
MIN_DEPTH = 0.01  # cana `specband.py` detection threshold (1 %)
DEPTH_N_SIGMA = 3.0
POLY_DEGREE = 4  # classy fits a degree-4 polynomial
N_DENSE = 256  # evaluation points of the fitted polynomial per window
ANCHOR_POINTS = 3  # samples averaged at each end of the window for the continuum

# The fine grid on which features are measured: 0.005 µm steps over 0.44–1.07 µm.
FEATURE_GRID_UM = np.round(np.arange(0.440, 1.0701, 0.005), 4)
FEATURE_RESAMPLE_HALF_WIDTH_UM = 0.0025

# output columns of the kernel
DEPTH, CENTRE_UM, DEPTH_SIGMA, DETECTED = 0, 1, 2, 3


@lru_cache(maxsize=1)
def feature_model():
    """Grid-dependent constants of the feature fits, as a tuple of arrays for the kernel."""
    grid = FEATURE_GRID_UM
    n_feat = len(FEATURE_WINDOWS_UM)
    starts = np.zeros(n_feat, np.int64)
    lengths = np.zeros(n_feat, np.int64)
    idx = [np.flatnonzero((grid >= lo - 1e-9) & (grid <= hi + 1e-9)) for lo, hi in FEATURE_WINDOWS_UM]
    n_max = max(len(i) for i in idx)
    n_par = POLY_DEGREE + 1
    pinv = np.zeros((n_feat, n_par, n_max))
    vander = np.zeros((n_feat, n_max, n_par))
    dense_t = np.zeros((n_feat, N_DENSE))
    dense_x = np.zeros((n_feat, N_DENSE))
    mid = np.zeros(n_feat)
    half = np.zeros(n_feat)
    for f, ii in enumerate(idx):
        starts[f], lengths[f] = ii[0], len(ii)
        x = grid[ii]
        mid[f], half[f] = 0.5 * (x[0] + x[-1]), 0.5 * (x[-1] - x[0])
        t = (x - mid[f]) / half[f]  # scaled to [−1, 1] for a well-conditioned fit
        v = np.vander(t, n_par, increasing=True)
        vander[f, : len(ii)] = v
        pinv[f, :, : len(ii)] = np.linalg.pinv(v)
        dense_t[f] = np.linspace(-1.0, 1.0, N_DENSE)
        dense_x[f] = mid[f] + half[f] * dense_t[f]
    centre = np.array(FEATURE_CENTRE_UM)
    tol = np.array(FEATURE_CENTRE_TOL_UM)
    return starts, lengths, pinv, vander, dense_t, dense_x, centre, tol


@njit_serial
def _poly(c, t):
    """Horner evaluation of the polynomial with increasing-order coefficients c at t."""
    acc = 0.0
    for m in range(c.shape[0] - 1, -1, -1):
        acc = acc * t + c[m]
    return acc


@njit_serial
def _features_one(fine, starts, lengths, pinv, vander, dense_t, dense_x, centre, tol, out):
    """Measure every feature of one spectrum on the fine grid; out is (n_features, 4)."""
    n_par = pinv.shape[1]
    coef = np.empty(n_par)
    for f in range(starts.shape[0]):
        s = starts[f]
        n = lengths[f]
        ok = True
        for j in range(n):
            if np.isnan(fine[s + j]):
                ok = False
                break
        if not ok:
            for c in range(4):
                out[f, c] = np.nan
            continue
        # linear continuum through the mean of the first and last ANCHOR_POINTS samples
        a = ANCHOR_POINTS
        y0 = 0.0
        y1 = 0.0
        t0 = 0.0
        t1 = 0.0
        for j in range(a):
            y0 += fine[s + j]
            y1 += fine[s + n - a + j]
            t0 += vander[f, j, 1]
            t1 += vander[f, n - a + j, 1]
        y0 /= a
        y1 /= a
        t0 /= a
        t1 /= a
        if y0 <= 0.0 or y1 <= 0.0:
            for c in range(4):
                out[f, c] = np.nan
            continue
        slope = (y1 - y0) / (t1 - t0)
        for m in range(n_par):
            coef[m] = 0.0
        for j in range(n):
            r = fine[s + j] / (y0 + slope * (vander[f, j, 1] - t0))
            for m in range(n_par):
                coef[m] += pinv[f, m, j] * r
        ss = 0.0
        for j in range(n):
            r = fine[s + j] / (y0 + slope * (vander[f, j, 1] - t0))
            fit = 0.0
            for m in range(n_par):
                fit += vander[f, j, m] * coef[m]
            ss += (r - fit) * (r - fit)
        rms = np.sqrt(ss / max(n - n_par, 1))
        best = np.inf
        kbest = 0
        for k in range(dense_t.shape[1]):
            v = _poly(coef, dense_t[f, k])
            if v < best:
                best = v
                kbest = k
        depth = 1.0 - best
        sigma = rms * np.sqrt(n_par / n)
        centre_um = dense_x[f, kbest]
        interior = 0 < kbest < dense_t.shape[1] - 1
        detected = (
            interior
            and abs(centre_um - centre[f]) <= tol[f]
            and depth >= MIN_DEPTH
            and depth >= DEPTH_N_SIGMA * sigma
        )
        out[f, 0] = depth
        out[f, 1] = centre_um
        out[f, 2] = sigma
        out[f, 3] = 1.0 if detected else 0.0


@njit_parallel
def measure_features(fine, starts, lengths, pinv, vander, dense_t, dense_x, centre, tol):
    """(N, G_fine) spectra on FEATURE_GRID_UM → (N, 3 features, 4) depth, centre, σ, detected."""
    n = fine.shape[0]
    out = np.empty((n, starts.shape[0], 4))
    for i in prange(n):
        _features_one(fine[i], starts, lengths, pinv, vander, dense_t, dense_x, centre, tol, out[i])
    return out

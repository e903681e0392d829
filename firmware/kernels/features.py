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

All the linear algebra that depends only on the grid (the least-squares pseudo-inverse) is
built once by `feature_model()`; the kernel does arithmetic. The minimum of the polynomial is
found on a coarse grid of the window and polished by Newton steps on p′ = 0 around the coarse
minimum: ~20 evaluations instead of a dense scan, to machine precision where p is convex.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from firmware._jit import njit_leaf, njit_parallel, prange
from firmware.kernels.polymin import coarse_min, newton_polish

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
POLY_DEGREE = 4  # classy fits a degree-4 polynomial (features_one is written for 4)
N_COARSE = 17  # coarse evaluation points of the fitted polynomial over the window
NEWTON_STEPS = 3  # then Newton steps on p′ = 0 around the coarse minimum
ANCHOR_POINTS = 3  # samples averaged at each end of the window for the continuum

# The grid on which features are measured: 0.01 µm steps over 0.44–1.07 µm (finer than any
# feature: the e band, the narrowest, is ~0.05 µm wide), samples averaged within ±0.005 µm.
FEATURE_GRID_UM = np.round(np.arange(0.440, 1.0701, 0.01), 4)
FEATURE_RESAMPLE_HALF_WIDTH_UM = 0.005

# output columns of the kernel
DEPTH, CENTRE_UM, DEPTH_SIGMA, DETECTED = 0, 1, 2, 3


@lru_cache(maxsize=1)
def feature_model():
    """Grid-dependent constants of the feature fits, as a tuple of arrays for the kernel:
    starts, lengths, pinvᵀ (F, n_max, 5), vander (F, n_max, 5), mid_um, half_um, centre, tol."""
    grid = FEATURE_GRID_UM
    n_feat = len(FEATURE_WINDOWS_UM)
    starts = np.zeros(n_feat, np.int64)
    lengths = np.zeros(n_feat, np.int64)
    idx = [np.flatnonzero((grid >= lo - 1e-9) & (grid <= hi + 1e-9)) for lo, hi in FEATURE_WINDOWS_UM]
    n_max = max(len(i) for i in idx)
    n_par = POLY_DEGREE + 1
    pinv = np.zeros((n_feat, n_max, n_par))  # transposed: row j holds the weights of sample j
    vander = np.zeros((n_feat, n_max, n_par))
    mid = np.zeros(n_feat)
    half = np.zeros(n_feat)
    for f, ii in enumerate(idx):
        starts[f], lengths[f] = ii[0], len(ii)
        x = grid[ii]
        mid[f], half[f] = 0.5 * (x[0] + x[-1]), 0.5 * (x[-1] - x[0])
        t = (x - mid[f]) / half[f]  # scaled to [−1, 1] for a well-conditioned fit
        v = np.vander(t, n_par, increasing=True)
        vander[f, : len(ii)] = v
        pinv[f, : len(ii)] = np.linalg.pinv(v).T
    centre = np.array(FEATURE_CENTRE_UM)
    tol = np.array(FEATURE_CENTRE_TOL_UM)
    return starts, lengths, pinv, vander, mid, half, centre, tol


@njit_leaf
def _poly_min(c):
    """(t, value) of the minimum of the polynomial over t in [−1, 1]: a coarse scan, then
    Newton steps on p′ = 0 kept inside ±1 coarse step and accepted only when p decreases.
    An edge minimum stays exactly at −1 or +1."""
    step = 2.0 / (N_COARSE - 1)
    tbest, best = coarse_min(c, 0, N_COARSE - 1, step, -1.0)
    if tbest <= -1.0 or tbest >= 1.0:
        return tbest, best
    return newton_polish(c, tbest, best, step, NEWTON_STEPS)


@njit_leaf
def features_one(fine, starts, lengths, pinv, vander, mid, half, centre, tol, coef, out):
    """Measure every feature of one spectrum on the fine grid; out is (n_features, 4).

    `coef` is a scratch vector of length ≥ POLY_DEGREE + 1 (no allocation per spectrum);
    the kernel is written for POLY_DEGREE = 4."""
    n_par = pinv.shape[2]
    for f in range(starts.shape[0]):
        s = starts[f]
        n = lengths[f]
        ok = True
        for j in range(n):
            if np.isnan(fine[s + j]):
                ok = False
                break
        # linear continuum through the mean of the first and last ANCHOR_POINTS samples
        a = ANCHOR_POINTS
        y0 = 0.0
        y1 = 0.0
        t0 = 0.0
        t1 = 0.0
        if ok:
            for j in range(a):
                y0 += fine[s + j]
                y1 += fine[s + n - a + j]
                t0 += vander[f, j, 1]
                t1 += vander[f, n - a + j, 1]
            y0 /= a
            y1 /= a
            t0 /= a
            t1 /= a
        if not ok or y0 <= 0.0 or y1 <= 0.0:
            for c in range(4):
                out[f, c] = np.nan
            continue
        slope = (y1 - y0) / (t1 - t0)
        # one pass: coefficients c = P r, and Vᵀr and Σr² for the residual sum of squares
        # of the least-squares fit, SS = rᵀr − cᵀ(Vᵀr). Degree 4 is spelled out in scalar
        # accumulators so they stay in registers (an array accumulator is a store per term).
        c0 = c1 = c2 = c3 = c4 = 0.0
        v0 = v1 = v2 = v3 = v4 = 0.0
        rr = 0.0
        for j in range(n):
            vj = vander[f, j]
            pj = pinv[f, j]
            r = fine[s + j] / (y0 + slope * (vj[1] - t0))
            rr += r * r
            c0 += pj[0] * r
            c1 += pj[1] * r
            c2 += pj[2] * r
            c3 += pj[3] * r
            c4 += pj[4] * r
            v0 += vj[0] * r
            v1 += vj[1] * r
            v2 += vj[2] * r
            v3 += vj[3] * r
            v4 += vj[4] * r
        coef[0], coef[1], coef[2], coef[3], coef[4] = c0, c1, c2, c3, c4
        ss = rr - (c0 * v0 + c1 * v1 + c2 * v2 + c3 * v3 + c4 * v4)
        rms = np.sqrt(max(ss, 0.0) / max(n - n_par, 1))
        tmin, vmin = _poly_min(coef[:n_par])
        depth = 1.0 - vmin
        sigma = rms * np.sqrt(n_par / n)
        centre_um = mid[f] + half[f] * tmin
        interior = -1.0 < tmin < 1.0
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
def measure_features(fine, starts, lengths, pinv, vander, mid, half, centre, tol):
    """(N, G_fine) spectra on FEATURE_GRID_UM → (N, 3 features, 4) depth, centre, σ, detected."""
    n = fine.shape[0]
    out = np.empty((n, starts.shape[0], 4))
    for i in prange(n):
        coef = np.empty(2 * pinv.shape[2])
        features_one(fine[i], starts, lengths, pinv, vander, mid, half, centre, tol, coef, out[i])
    return out


# rows of the scratch array of `features_block`
_Y0, _Y1, _SL, _RR, _C0, _V0, _BEST, _TBEST = 0, 1, 2, 3, 4, 9, 10, 11
BLOCK_SCRATCH_ROWS = 12


@lru_cache(maxsize=1)
def feature_grams():
    """(F, 5, 5) Gram matrices VᵀV of the feature windows' design matrices."""
    _starts, lengths, _pinv, vander, *_ = feature_model()
    return np.ascontiguousarray(
        np.stack([vander[f, : lengths[f]].T @ vander[f, : lengths[f]] for f in range(len(lengths))])
    )


@njit_leaf
def features_block(fine_t, ns, win_ok, starts, lengths, pinv, vander, grams, mid, half, centre,
                   tol, work, out):  # fmt: skip
    """`features_one` on a block of spectra stored transposed: fine_t[grid point, spectrum].

    Every loop runs across the block's `ns` spectra, so it vectorises (SIMD) and each spectrum
    still sees the very same sequence of operations as in `features_one`. For complete rows on
    a shared axis whether a window holds a missing point is the same for every spectrum:
    `win_ok` (F,) says it; `grams` (F, 5, 5) = VᵀV of each window (`feature_grams`). `work` is scratch (BLOCK_SCRATCH_ROWS, ≥ ns); writes out[f, c, s]
    (F, 4, ≥ ns): depth, centre µm, σ_depth, detected.
    """
    n_par = pinv.shape[2]
    a = ANCHOR_POINTS
    step = 2.0 / (N_COARSE - 1)
    y0, y1, sl, rr = work[_Y0], work[_Y1], work[_SL], work[_RR]
    c0, c1, c2, c3, c4 = work[_C0], work[_C0 + 1], work[_C0 + 2], work[_C0 + 3], work[_C0 + 4]
    v0 = work[_V0]
    best, tbest = work[_BEST], work[_TBEST]
    for f in range(starts.shape[0]):
        if not win_ok[f]:
            for c in range(4):
                for s in range(ns):
                    out[f, c, s] = np.nan
            continue
        st = starts[f]
        n = lengths[f]
        t0 = 0.0
        t1 = 0.0
        for j in range(a):
            t0 += vander[f, j, 1]
            t1 += vander[f, n - a + j, 1]
        t0 /= a
        t1 /= a
        for s in range(ns):
            y0[s] = 0.0
            y1[s] = 0.0
        for j in range(a):
            for s in range(ns):
                y0[s] += fine_t[st + j, s]
                y1[s] += fine_t[st + n - a + j, s]
        for s in range(ns):
            y0[s] /= a
            y1[s] /= a
            sl[s] = (y1[s] - y0[s]) / (t1 - t0)
            rr[s] = 0.0
        for r_ in range(5):
            acc = work[_C0 + r_]
            for s in range(ns):
                acc[s] = 0.0
        # two window points per pass over the block: the six accumulator rows are loaded and
        # stored once per two points instead of once per point (the loop was bound by those
        # loads and stores); each spectrum adds its terms in the same order as before. Four
        # points per pass ran out of vector registers and was slower
        n2 = n - n % 2
        for j in range(0, n2, 2):
            da = vander[f, j, 1] - t0
            db = vander[f, j + 1, 1] - t0
            pa = pinv[f, j]
            pb = pinv[f, j + 1]
            a0, a1, a2, a3, a4 = pa[0], pa[1], pa[2], pa[3], pa[4]
            b0, b1, b2, b3, b4 = pb[0], pb[1], pb[2], pb[3], pb[4]
            row_a = fine_t[st + j]
            row_b = fine_t[st + j + 1]
            for s in range(ns):
                ra = row_a[s] / (y0[s] + sl[s] * da)
                rb = row_b[s] / (y0[s] + sl[s] * db)
                rr[s] = (rr[s] + ra * ra) + rb * rb
                c0[s] = (c0[s] + a0 * ra) + b0 * rb
                c1[s] = (c1[s] + a1 * ra) + b1 * rb
                c2[s] = (c2[s] + a2 * ra) + b2 * rb
                c3[s] = (c3[s] + a3 * ra) + b3 * rb
                c4[s] = (c4[s] + a4 * ra) + b4 * rb
        for j in range(n2, n):
            dt = vander[f, j, 1] - t0
            pj = pinv[f, j]
            p0, p1, p2, p3, p4 = pj[0], pj[1], pj[2], pj[3], pj[4]
            row = fine_t[st + j]
            for s in range(ns):
                r = row[s] / (y0[s] + sl[s] * dt)
                rr[s] += r * r
                c0[s] += p0 * r
                c1[s] += p1 * r
                c2[s] += p2 * r
                c3[s] += p3 * r
                c4[s] += p4 * r
        # Vᵀr = (VᵀV) c for the least-squares c, so the explained sum of squares cᵀVᵀr is
        # cᵀ(VᵀV)c: five accumulators instead of ten (`features_one` sums Vᵀr directly)
        gram = grams[f]
        for s in range(ns):
            q = 0.0
            for m in range(5):
                cm = work[_C0 + m, s]
                q += cm * (gram[m, 0] * c0[s] + gram[m, 1] * c1[s] + gram[m, 2] * c2[s]
                           + gram[m, 3] * c3[s] + gram[m, 4] * c4[s])  # fmt: skip
            v0[s] = q
        # minimum of the fitted polynomial: coarse scan, then Newton on p′ = 0 (_poly_min),
        # written with selects, not branches, so that the loop over spectra vectorises; each
        # spectrum's coefficients and best point stay in registers throughout
        for s in range(ns):
            q0, q1, q2, q3, q4 = c0[s], c1[s], c2[s], c3[s], c4[s]
            bv = np.inf
            bt = -1.0
            for k in range(N_COARSE):
                t = -1.0 + k * step
                v = (((q4 * t + q3) * t + q2) * t + q1) * t + q0
                better = v < bv
                bv = v if better else bv
                bt = t if better else bt
            t = bt
            t_c = bt
            act = -1.0 < bt < 1.0
            for _ in range(NEWTON_STEPS):
                d1 = ((4.0 * q4 * t + 3.0 * q3) * t + 2.0 * q2) * t + q1
                d2 = (12.0 * q4 * t + 6.0 * q3) * t + 2.0 * q2
                go = act and d2 > 0.0
                t = min(t_c + step, max(t_c - step, t - d1 / d2)) if go else t
                v = (((q4 * t + q3) * t + q2) * t + q1) * t + q0
                better = go and v < bv
                bv = v if better else bv
                bt = t if better else bt
                act = go
            best[s] = bv
            tbest[s] = bt
        # the decision without branches (`&`, not `and`) and the window's constants in
        # scalars, so that this loop too runs across the spectra in SIMD
        dof = float(max(n - n_par, 1))
        sigma_per_rms = np.sqrt(n_par / n)
        mid_f, half_f, centre_f, tol_f = mid[f], half[f], centre[f], tol[f]
        depth_out, centre_out, sigma_out, detected_out = out[f, 0], out[f, 1], out[f, 2], out[f, 3]
        for s in range(ns):
            ss = rr[s] - v0[s]
            rms = np.sqrt(max(ss, 0.0) / dof)
            depth = 1.0 - best[s]
            sigma = rms * sigma_per_rms
            tb = tbest[s]
            centre_um = mid_f + half_f * tb
            detected = (
                (-1.0 < tb)
                & (tb < 1.0)
                & (abs(centre_um - centre_f) <= tol_f)
                & (depth >= MIN_DEPTH)
                & (depth >= DEPTH_N_SIGMA * sigma)
            )
            bad = not ((y0[s] > 0.0) & (y1[s] > 0.0))
            depth_out[s] = np.nan if bad else depth
            centre_out[s] = np.nan if bad else centre_um
            sigma_out[s] = np.nan if bad else sigma
            detected_out[s] = np.nan if bad else 1.0 * detected

"""Band I / Band II parameters (centre, depth, area, BAR) of one spectrum on the band grid.

Method (Cloutis et al. 1986, JGR 91, 11641; Gaffey et al. 2002, Asteroids III p. 183;
shared notes science.md §4.1):

1. The spectrum is on a uniform grid (`BAND_GRID_UM`, 0.01 µm). Tie points are the
   reflectance maxima in three windows (blue shoulder of Band I, between the bands, red end
   of Band II); straight-line continua join them (kernels/continuum.py).
2. Each band is divided by its continuum. Its *area* is ∫(1 − R/C) dλ between its tie points
   (trapezoids); BAR = area II / area I.
3. The *centre* is the minimum of a low-order polynomial fitted to the continuum-removed band
   around its lowest sample; the window is re-centred once on the fitted minimum and refitted.
   Because the grid is uniform, every window has the same design matrix in local coordinates,
   so its pseudo-inverse is computed once (`band_fit_model`) and a fit is 2·(d+1)·(2m+1)
   multiply-adds. *Depth* = 1 − fit(centre) (Clark & Roush 1984).

Status codes per band: OK, NO_COVERAGE (a tie window or the search range has no data),
NO_BAND (no absorption: the band is shallower than MIN_DEPTH), BAD_FIT (a band is there but
the fitted polynomial has its minimum on the edge of its window even after re-centring, or
outside the band's search range — a flat or noisy band bottom: depth and area are reported,
the centre is not). BAR needs Band I OK and Band II *covered*: an olivine spectrum has no Band II and
BAR ≈ 0, which is a measurement, not a failure.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from firmware._jit import njit_leaf
from firmware.kernels.band_bottom import SMOOTH_POINTS, smoothed_min
from firmware.kernels.polymin import coarse_min, cubic_min_s, keep_lower, newton_polish

# The band grid: 0.01 µm steps, samples averaged within ±0.005 µm (finer than any band
# parameter we report: Band I of the H/L/LL chondrites differ by 0.01–0.05 µm, and the
# polynomial centre is read between grid points).
# A 0.02 µm grid (±0.01 µm bins, cubic over ±8 steps) was measured in issue 5 round 2: band
# analysis 1.6 → 1.05 µs per spectrum, lab numbers about equal (Dunn Fa rms 3.47 → 3.49
# mol%, OC olivine MAE 0.043 → 0.045, Gaffey-zone shares equal or higher), but the fit
# window then moves in 0.02 µm steps and the Monte-Carlo centre σ grew 8× on Vesta
# (0.0002 → 0.0016 µm; DeMeo 2009 a000004) and stopped following the noise (a000005: depth σ
# ×1.8 for 4× the noise): rejected.
BAND_GRID_UM = np.round(np.arange(0.44, 2.5001, 0.01), 4)
BAND_GRID_STEP_UM = 0.01
BAND_RESAMPLE_HALF_WIDTH_UM = 0.005

# Tie-point windows (µm): the local maxima at ≈0.75 µm, 1.3–1.6 µm and ≈2.4–2.5 µm
# (science.md §4.1). The windows are widened so that olivine (shoulder near 0.65–0.7 µm,
# Band I extending to ~1.7 µm; Sunshine & Pieters 1998) and red-sloped S-types keep their
# maxima inside; Korda et al. 2023 search near 0.68, 1.5 and 2.44 µm.
TIE_LO_UM = np.array([0.55, 1.15, 2.10])
TIE_HI_UM = np.array([0.90, 1.80, 2.50])
# The lowest point of each band is searched here (Band I 0.9–1.1 µm, Band II 1.8–2.3 µm in
# the issue; widened by the half-width of the bands of olivine (≈1.05–1.09 µm) and
# high-Ca pyroxene (Band II up to ≈2.35 µm; Cloutis & Gaffey 1991)).
SEARCH_LO_UM = np.array([0.80, 1.65])
SEARCH_HI_UM = np.array([1.25, 2.45])
# Polynomial fits of the band bottoms: degree and half-width in grid steps — a cubic over
# ±0.15 µm for both bands (science.md §4.1: "low-order (2–4) polynomial"). Chosen on the lab
# OC spectra and the developer S/Q/V/A spectra among degrees 2–4 and ±0.06–0.20 µm: it keeps
# the Dunn Fa rms lowest (3.5 mol%) and resolves the flat, noisy Band I bottoms of 98 % of
# the asteroid spectra (a quadratic over ±0.08 µm, closer to Korda's fit, resolves 84 %).
FIT_DEGREE = (3, 3)
FIT_HALF_POINTS = (15, 15)
MIN_DEPTH = 0.01  # a band shallower than 1 % of the continuum is "no band" (cf. cana's rule)
N_COARSE = 41  # coarse scan of the fitted polynomial over its window, then Newton steps
NEWTON_STEPS = 4

RECENTRE_STEPS = 3  # the window follows the fitted minimum at most this many times

OK, NO_COVERAGE, NO_BAND, BAD_FIT = 0, 1, 2, 3
STATUS_NAMES = ("ok", "no_coverage", "no_band", "bad_fit")

# Columns of the per-spectrum output vector.
BIC, BI_DEPTH, BI_AREA, BIIC, BII_DEPTH, BII_AREA, BAR, SLOPE, TIE1, TIE2, TIE3 = range(11)
N_OUT = 11
COLUMN_NAMES = (
    "band1_centre_um", "band1_depth", "band1_area_um", "band2_centre_um", "band2_depth",
    "band2_area_um", "bar", "continuum_slope_per_um", "tie1_um", "tie2_um", "tie3_um",
)  # fmt: skip


@lru_cache(maxsize=1)
def band_fit_model():
    """Pseudo-inverses of the two band-bottom fits: (pinv1 (d1+1, 2m1+1), pinv2 (...))."""
    out = []
    for deg, m in zip(FIT_DEGREE, FIT_HALF_POINTS, strict=True):
        t = np.arange(-m, m + 1) / m  # local coordinate in [−1, 1]
        out.append(np.ascontiguousarray(np.linalg.pinv(np.vander(t, deg + 1, increasing=True))))
    return tuple(out)


@lru_cache(maxsize=1)
def band_indices():
    """Grid index ranges (inclusive) on BAND_GRID_UM of the three tie-point windows (3, 2) and
    of the two band-bottom search ranges (2, 2): the kernel then scans index ranges only."""
    x = BAND_GRID_UM

    def rng(lo, hi):
        j = np.flatnonzero((x >= lo - 1e-9) & (x <= hi + 1e-9))
        return (j[0], j[-1]) if j.size else (1, 0)

    ties = np.array([rng(lo, hi) for lo, hi in zip(TIE_LO_UM, TIE_HI_UM, strict=True)], np.int64)
    search = np.array([rng(lo, hi) for lo, hi in zip(SEARCH_LO_UM, SEARCH_HI_UM, strict=True)], np.int64)
    return ties, search


@njit_leaf
def _cubic_min(c):
    return cubic_min_s(c[0], c[1], c[2], c[3])


@njit_leaf
def poly_min(c):
    """(t, p(t)) of the minimum of the polynomial c (increasing order) over [−1, 1].

    The best interior point of a coarse scan is polished by Newton steps on p′ = 0 (kept
    within one coarse step) and then compared with both edges, so an interior minimum that
    falls between coarse points is never lost to an edge (exact for the cubic: one interior
    minimum at most). A cubic is solved in closed form: p′ = 0 is a quadratic."""
    if c.shape[0] == 4:
        return _cubic_min(c)
    step = 2.0 / (N_COARSE - 1)
    tbest, best = coarse_min(c, 1, N_COARSE - 2, step, 0.0)  # interior points only
    tbest, best = newton_polish(c, tbest, best, step, NEWTON_STEPS)
    tbest, best = keep_lower(c, -1.0, tbest, best)
    return keep_lower(c, 1.0, tbest, best)


@njit_leaf
def _window_start(centre_j, first, last, w):
    """Start index of the fit window of w points centred at centre_j, moved inside
    [first, last] (which must hold ≥ w points).

    The outer max(…, 0) is a no-op (first ≥ 0) that lets LLVM see the start ≥ 0 and drop
    numba's negative-index wraparound from cr[s + j]: with it, the loop loaded cr by gathers."""
    return max(min(max(centre_j - (w - 1) // 2, first), last - w + 1), 0)


@njit_leaf
def _fit_min(cr, centre_j, first, last, pinv, coef):
    """Fit the polynomial to cr on the window of 2m+1 grid points centred at centre_j, moved
    inside [first, last] if needed, and find its minimum over the window. Returns (window
    start, window centre index, t of the minimum in [−1, 1], value there), or window start
    −1 when the valid span is shorter than the window or the window holds NaN. The cubic is
    done on scalars (registers, no array passed on); other degrees use `coef` and poly_min."""
    w = pinv.shape[1]
    m = (w - 1) // 2
    if last - first + 1 < w:
        return -1, -1, 0.0, 0.0
    s = _window_start(centre_j, first, last, w)
    if pinv.shape[0] == 4:
        a0 = a1 = a2 = a3 = 0.0
        for j in range(w):
            v = cr[s + j]
            a0 += pinv[0, j] * v
            a1 += pinv[1, j] * v
            a2 += pinv[2, j] * v
            a3 += pinv[3, j] * v
        if np.isnan(a0 + a1 + a2 + a3):  # a NaN sample makes every sum NaN
            for j in range(w):
                if np.isnan(cr[s + j]):
                    return -1, -1, 0.0, 0.0
        t, val = cubic_min_s(a0, a1, a2, a3)
        return s, s + m, t, val
    for j in range(w):
        if np.isnan(cr[s + j]):
            return -1, -1, 0.0, 0.0
    n_c = pinv.shape[0]
    for k in range(n_c):
        coef[k] = 0.0
    for j in range(w):
        v = cr[s + j]
        for k in range(n_c):
            coef[k] += pinv[k, j] * v
    t, val = poly_min(coef[:n_c])
    return s, s + m, t, val


@njit_leaf
def _divide_by_line(cr, r, x, ra, xa, slope, j0, j1):
    """cr[j] = r[j] / (ra + slope·(x[j] − xa)) for j0 ≤ j < j1 (0 ≤ j0): the continuum-removed
    values under the straight continuum through (xa, ra). Written on zero-based views so that
    LLVM sees non-negative indices, drops numba's negative-index wraparound and loads
    contiguous vectors (with a loop from j0 it emitted gathers and scatters)."""
    n = j1 - j0
    if n <= 0:
        return
    c = cr[j0:j1]
    rv = r[j0:j1]
    xv = x[j0:j1]
    for k in range(n):
        c[k] = rv[k] / (ra + slope * (xv[k] - xa))


@njit_leaf
def _cr_range(cr, r, x, ra, xa, slope, centre_j, lo, hi, m, e0, e1):
    """Extend the computed continuum-removed values cr[e0..e1] over the fit window of 2m+1
    points `_fit_min` will read around centre_j (within [lo, hi]); returns the new range."""
    w = 2 * m + 1
    if hi - lo + 1 < w:
        return e0, e1
    s = _window_start(centre_j, lo, hi, w)
    _divide_by_line(cr, r, x, ra, xa, slope, s, e0)
    _divide_by_line(cr, r, x, ra, xa, slope, e1 + 1, s + w)
    return min(e0, s), max(e1, s + w - 1)


@njit_leaf
def _band(x, r, a, b, first, last, search_lo, search_hi, j_lo, j_hi, pinv, cr, coef, out, col):
    """One band between tie indices a < b: area, centre, depth into out[col:col+3]; status.

    The band's continuum line is extended beyond its tie points over the fit's reach, so a
    fit window may cross a tie point; [first, last] is the valid span of the grid."""
    h = x[1] - x[0]
    m = (pinv.shape[1] - 1) // 2
    # first, a ≥ 0 already; the explicit max(…, 0) lets LLVM prove every index below is
    # non-negative, drop numba's negative-index wraparound and load contiguous vectors
    # instead of gathers (same values, about a third of this function's time)
    first = max(first, 0)
    a = max(a, 0)
    lo = max(first, a - m)
    hi = min(last, b + m)
    slope = (r[b] - r[a]) / (x[b] - x[a])
    ra = r[a]
    xa = x[a]
    sp = SMOOTH_POINTS
    # continuum-removed values where the area and the running mean need them; a fit window
    # reaching beyond gets the rest on demand (_cr_range): each division is ~4 cycles
    e0 = max(lo, a - sp)
    e1 = min(hi, b + sp)
    _divide_by_line(cr, r, x, ra, xa, slope, e0, e1 + 1)
    area = 0.0
    seg = cr[a : b + 1]  # zero-based views here too: contiguous loads (see _divide_by_line)
    for k in range(b - a):
        area += 0.5 * h * ((1.0 - seg[k]) + (1.0 - seg[k + 1]))
    out[col + 2] = area
    # lowest point of the continuum-removed band in the search range, strictly between the
    # tie points, on a running mean over ±SMOOTH_POINTS samples (`band_bottom.smoothed_min`)
    jmin, vmin = smoothed_min(cr, max(a + 1, j_lo), min(b - 1, j_hi), lo, hi, sp)
    if jmin < 0:
        return NO_COVERAGE
    if 1.0 - vmin < MIN_DEPTH:
        out[col + 1] = 1.0 - vmin
        return NO_BAND
    e0, e1 = _cr_range(cr, r, x, ra, xa, slope, jmin, lo, hi, m, e0, e1)
    s, cj, t, v = _fit_min(cr, jmin, lo, hi, pinv, coef)
    if s < 0:
        return NO_COVERAGE
    # re-centre the window on the fitted minimum and refit, until it stays put
    for _ in range(RECENTRE_STEPS):
        j2 = cj + int(np.floor(t * m + 0.5))
        # a window that stays put, or is held where it is by the end of the valid span
        # (bands walking off the grid's red end), would be refitted for nothing
        if j2 == cj or _window_start(j2, lo, hi, 2 * m + 1) + m == cj:
            break
        e0, e1 = _cr_range(cr, r, x, ra, xa, slope, j2, lo, hi, m, e0, e1)
        s2, cj2, t2, v2 = _fit_min(cr, j2, lo, hi, pinv, coef)
        if s2 < 0 or cj2 == cj:
            break
        cj, t, v = cj2, t2, v2
    out[col + 1] = 1.0 - v
    centre = x[cj] + t * m * h
    # a minimum on the window edge, or one the re-centring walked out of the band's search
    # range, is not a resolved band bottom
    if t <= -1.0 or t >= 1.0 or centre < search_lo - 1e-9 or centre > search_hi + 1e-9:
        out[col + 1] = 1.0 - vmin
        return BAD_FIT
    if 1.0 - v < MIN_DEPTH:
        return NO_BAND
    out[col] = centre
    return OK


@njit_leaf
def tie_points_idx(r, tie_j, ties):
    """For each tie window (index range tie_j[w]), the index of the largest valid r, or −1:
    `continuum.tie_points_one` on precomputed index ranges (NaN never compares greater)."""
    for w in range(tie_j.shape[0]):
        best = -np.inf
        idx = -1
        j0 = tie_j[w, 0]
        seg = r[j0 : tie_j[w, 1] + 1]  # zero-based view: no negative-index wraparound
        for k in range(seg.shape[0]):
            v = seg[k]
            better = v > best  # a select, not a branch: rising noisy data mispredicts
            best = v if better else best
            idx = j0 + k if better else idx
        ties[w] = idx


@njit_leaf
def bands_one(x, r, tie_j, search_j, search_lo, search_hi, pinv1, pinv2, ties, cr, coef, out,
              status):  # fmt: skip
    """Band parameters of one spectrum r on the uniform band grid x; NaN = missing (only
    outside the valid span: the resampling bridges interior holes). `tie_j`, `search_j`: the
    index ranges of `band_indices()`.

    Scratch: ties (3,) int64, cr (G,), coef (≥ max degree + 1). Writes out (N_OUT,) and
    status (2,) (Band I, Band II)."""
    tie_points_idx(r, tie_j, ties)
    bands_with_ties(x, r, ties, search_j, search_lo, search_hi, pinv1, pinv2, cr, coef, out,
                    status)  # fmt: skip


@njit_leaf
def tie_points_block(b_t, ns, tie_j, best, ties_t):
    """`tie_points_idx` for a block of spectra stored transposed (b_t[grid point, spectrum]),
    across spectra (SIMD): ties_t[w, s]. `best` is scratch (≥ ns,)."""
    for w in range(tie_j.shape[0]):
        for s in range(ns):
            best[s] = -np.inf
            ties_t[w, s] = -1
        # four grid points per pass over the block, best and index kept in registers
        # between them (same points, same order, same result)
        j0 = tie_j[w, 0]
        j1 = tie_j[w, 1] + 1
        j4 = j0 + (j1 - j0) // 4 * 4
        for j in range(j0, j4, 4):
            ra, rb, rc, rd = b_t[j], b_t[j + 1], b_t[j + 2], b_t[j + 3]
            for s in range(ns):
                bv = best[s]
                bi = ties_t[w, s]
                better = ra[s] > bv
                bv = ra[s] if better else bv
                bi = j if better else bi
                better = rb[s] > bv
                bv = rb[s] if better else bv
                bi = j + 1 if better else bi
                better = rc[s] > bv
                bv = rc[s] if better else bv
                bi = j + 2 if better else bi
                better = rd[s] > bv
                bv = rd[s] if better else bv
                bi = j + 3 if better else bi
                best[s] = bv
                ties_t[w, s] = bi
        for j in range(j4, j1):
            for s in range(ns):
                v = b_t[j, s]
                better = v > best[s]
                best[s] = v if better else best[s]
                ties_t[w, s] = j if better else ties_t[w, s]


@njit_leaf
def bands_with_ties(x, r, ties, search_j, search_lo, search_hi, pinv1, pinv2, cr, coef, out,
                    status):  # fmt: skip
    """`bands_one` given the tie points (3,) (grid indices, −1 = none)."""
    for k in range(out.shape[0]):
        out[k] = np.nan
    status[0] = NO_COVERAGE
    status[1] = NO_COVERAGE
    first = -1
    last = -1
    for j in range(x.shape[0]):
        if not np.isnan(r[j]):
            first = j
            break
    for j in range(x.shape[0] - 1, -1, -1):
        if not np.isnan(r[j]):
            last = j
            break
    if first < 0:
        return
    for w in range(3):
        if ties[w] >= 0:
            out[TIE1 + w] = x[ties[w]]
    t1 = ties[0]
    t2 = ties[1]
    t3 = ties[2]
    if t1 >= 0 and t2 > t1:
        out[SLOPE] = (r[t2] - r[t1]) / (x[t2] - x[t1]) / r[t1]
        status[0] = _band(x, r, t1, t2, first, last, search_lo[0], search_hi[0], search_j[0, 0],
                          search_j[0, 1], pinv1, cr, coef, out, BIC)  # fmt: skip
    if t2 >= 0 and t3 > t2:
        status[1] = _band(x, r, t2, t3, first, last, search_lo[1], search_hi[1], search_j[1, 0],
                          search_j[1, 1], pinv2, cr, coef, out, BIIC)  # fmt: skip
    # BAR needs a measured Band I and a covered Band II region; a Band II area below zero
    # (spectrum above its continuum: no pyroxene band, e.g. olivine) counts as zero.
    if status[0] == OK and not np.isnan(out[BII_AREA]) and out[BI_AREA] > 0.0:
        out[BAR] = max(out[BII_AREA], 0.0) / out[BI_AREA]


@njit_leaf
def bands_of_block(b_t, ns, rows, grid, tie_j, search_j, search_lo, search_hi, pinv1, pinv2,
                   r_rows, cr, ties, coef, best, ties_t, out, status):  # fmt: skip
    """`bands_one` for each of the block's ns spectra (columns of b_t (G, ≥ns) on the band
    grid), into out[rows[s]] and status[rows[s]]; the tie points across the block (SIMD).
    Scratch: r_rows (≥ns, G), cr (G,), ties (3,), coef, best (≥ns,), ties_t (3, ≥ns) int64.
    The block is transposed into r_rows in one pass (contiguous loads, the stores spread):
    copying column by column loaded with a 256-byte stride and cost 6 % of the survey."""
    g = grid.shape[0]
    tie_points_block(b_t, ns, tie_j, best, ties_t)
    for k in range(g):
        src = b_t[k]
        for s in range(ns):
            r_rows[s, k] = src[s]
    for s in range(ns):
        for w in range(3):
            ties[w] = ties_t[w, s]
        i = rows[s]
        bands_with_ties(grid, r_rows[s], ties, search_j, search_lo, search_hi, pinv1, pinv2, cr,
                        coef, out[i], status[i])  # fmt: skip

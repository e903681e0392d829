"""Thermal tail: detect and remove thermal emission beyond 2 µm in low-albedo spectra.

A dark near-Earth object observed within ~1.3 AU of the Sun emits enough heat that its
thermal flux adds to the reflected sunlight beyond ~2.1 µm: the "reflectance" rises
steeply towards 2.45 µm and the Bus-DeMeo slope and PC scores are wrong (a C-type can land
in Q). Rivkin, Binzel & Bus 2005 (Icarus 175, 175) measure this excess against the
reflectance continuum extrapolated from shorter wavelengths; Binzel et al. 2019 (MITHNEOS)
published thermally corrected versions of such spectra (the `_xth` files) and classified
those. We do the same without knowing the heliocentric distance or albedo:

1. Gate: only spectra without a silicate Band I are tested. A Band I is an absorption with
   a minimum: depth ≥ MAX_BAND_I_DEPTH below the 0.75–1.50 µm continuum *and* reflectance
   rising again after it (some point of 0.85–1.10 µm below R(1.50 µm)). Thermal tails matter
   for dark (C/B/D/X) bodies, and a silicate Band II would make the straight reflected
   continuum below invalid. The second condition matters for blue, concave spectra: a
   B-type such as 3200 Phaethon (DeMeo 2009) falls monotonically from 0.55 to 1.5 µm with
   an upward curvature, so the straight 0.75–1.50 µm chord lies 6 % above it at 1.1 µm —
   an apparent "Band I" deeper than 5 % with no band — and with the bare depth test its
   tail was never removed (the survey scenario's B terrain came out Q). A silicate Band I
   (S/Q/V/A/L/K: 1 µm minimum, 1.5 µm shoulder above it) is not affected.
2. Model over FIT_LO_UM–2.45 µm: R(λ) = a + b·λ + A·P_T(λ) — a straight reflected continuum
   plus thermal emission, where P_T(λ) = [B_λ(T)/B_λ(T_sun)] / [same at 2.45 µm] is the
   thermal-to-solar flux ratio of blackbodies (Planck's law), normalised so that A is the
   excess at 2.45 µm in units of R(0.55). For each T of T_GRID_K (NEATM sub-solar
   temperatures of NEOs at 0.9–1.5 AU, Harris 1998) (a, b, A) is a linear least-squares fit
   (Gram inverses precomputed); the T with the smallest residual wins. Fitting the line and
   the tail together avoids the bias of extrapolating a line that the tail already lifts.
3. Detected when A ≥ MIN_EXCESS, A ≥ N_SIGMA·σ_A (σ_A from the fit's covariance), and the
   Planck model fits better than a parabola with as many parameters (a smooth curvature,
   e.g. an L-type's 2 µm spinel band and the rise after it, is not a thermal tail).
4. Removal: R(λ) ← R(λ) − A·P_T(λ) on the whole grid (negligible below 2 µm).

The shoulder condition has no free parameter. A "Band II" test was also tried (reject a fit
whose line falls beyond 1.5 µm while the reflectance rises over 1.0–1.5 µm, tolerance
0–0.2 per µm): on ~4700 synthetic tails and noise-only controls on the DeMeo/Binzel
developer spectra, grouped 5-fold cross-validation by asteroid key (objective: class equal
to the clean spectrum's) chose no Band II test in every fold (held-out 0.81–0.84); it would
stop the removals on L-types (spinel band + rise) but cost more dark-body tails than that.
Synthetic-tail detection and classes per Bus-DeMeo class: tests/test_thermal_synthetic.py.

Checked on the 12 Binzel 2019 pairs (tests/test_busdemeo_real.py): after removal the
2.1–2.45 µm reflectance matches the authors' `_xth` version to a few per cent.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from firmware._jit import njit_leaf

C2_UM_K = 14387.768775  # second radiation constant hc/k in µm·K (CODATA 2018)
T_SUN_K = 5772.0  # nominal solar effective temperature (IAU 2015 Resolution B3)
T_GRID_K = np.arange(260.0, 421.0, 20.0)  # candidate surface temperatures (20 K: the shape barely changes)
FIT_LO_UM = 1.50  # continuum and tail are fitted together from here to the grid's end
BAND_I_CONT_UM = (0.75, 1.50)  # Band I continuum tie points
BAND_I_UM = (0.85, 1.10)  # Band I minimum searched here
MAX_BAND_I_DEPTH = 0.05  # S/Q/V/A Band I depths are ≳ 10 %; C/X/D/B ≲ a few per cent
MIN_EXCESS = 0.05  # 5 % of R(0.55) at 2.45 µm (measured NEO tails: 8–73 %; see tests)
N_SIGMA = 3.0



def planck_ratio(wavelength_um, temperature_k):
    """B_λ(T) / B_λ(T_sun) up to a constant factor (Planck's law; the λ⁻⁵ cancels)."""
    lam = np.asarray(wavelength_um, dtype=np.float64)
    return np.expm1(C2_UM_K / (lam * T_SUN_K)) / np.expm1(C2_UM_K / (lam * temperature_k))


@lru_cache(maxsize=4)
def _thermal_model_cached(grid_key: tuple):
    grid = np.array(grid_key)
    table = np.array([planck_ratio(grid, t) / planck_ratio(grid[-1], t) for t in T_GRID_K])

    def idx(um):
        return int(np.argmin(np.abs(grid - um)))

    index = np.array([
        idx(FIT_LO_UM), idx(BAND_I_CONT_UM[0]), idx(BAND_I_CONT_UM[1]),
        idx(BAND_I_UM[0]), idx(BAND_I_UM[1]),
    ], dtype=np.int64)  # fmt: skip
    x = grid[index[0] :]
    gram_inv = np.empty((T_GRID_K.size + 1, 3, 3))
    for k in range(T_GRID_K.size):
        design = np.column_stack([np.ones_like(x), x, table[k, index[0] :]])
        gram_inv[k] = np.linalg.inv(design.T @ design)
    design = np.column_stack([np.ones_like(x), x, x * x])  # the parabola (last entry)
    gram_inv[-1] = np.linalg.inv(design.T @ design)
    return table, T_GRID_K.copy(), index, gram_inv


def thermal_model(grid_um):
    """Constants for the kernel on `grid_um`: the Planck table (n_T, G) normalised to 1 at the
    last grid point, the temperatures (n_T,) K, the grid indices (fit start, Band I continuum
    lo/hi, Band I search lo/hi) and the (n_T + 1, 3, 3) inverse Gram matrices of the fits
    (one per temperature, then the parabola's)."""
    grid = np.asarray(grid_um, dtype=np.float64)
    if grid[0] > BAND_I_CONT_UM[0] or grid[-1] < 2.4:
        raise ValueError(f"the thermal-tail model needs a grid over 0.75–2.4 µm, got {grid[0]}–{grid[-1]}")
    return _thermal_model_cached(tuple(np.round(grid, 6)))


@njit_leaf
def _solve3(g, y0, y1, y2):
    """c = G y for a 3×3 G; returns c and cᵀy (the explained sum of squares)."""
    c0 = g[0, 0] * y0 + g[0, 1] * y1 + g[0, 2] * y2
    c1 = g[1, 0] * y0 + g[1, 1] * y1 + g[1, 2] * y2
    c2 = g[2, 0] * y0 + g[2, 1] * y1 + g[2, 2] * y2
    return c0, c1, c2, c0 * y0 + c1 * y1 + c2 * y2


@njit_leaf
def thermal_tail_one(r, grid, table, temps, index, gram_inv):
    """Detect and remove a thermal tail from one normalised spectrum `r` on `grid` (in place).

    Returns (excess at the last grid point removed, temperature K); (0, NaN) when nothing
    was removed. NaN anywhere from the Band I continuum on → nothing done."""
    f0, c0, c1, b0, b1 = index[0], index[1], index[2], index[3], index[4]
    n = grid.shape[0]
    for j in range(c0, n):
        if np.isnan(r[j]):
            return 0.0, np.nan
    # 1. Band I gate: deep enough and a minimum (reflectance recovers by 1.5 µm)
    rc0, rc1 = r[c0], r[c1]
    worst = 0.0
    bottom = np.inf
    for j in range(b0, b1 + 1):
        cont = rc0 + (rc1 - rc0) * (grid[j] - grid[c0]) / (grid[c1] - grid[c0])
        d = 1.0 - r[j] / cont
        if d > worst:
            worst = d
        if r[j] < bottom:
            bottom = r[j]
    if worst >= MAX_BAND_I_DEPTH and bottom < rc1:
        return 0.0, np.nan
    # 2. least squares via Xᵀr: Σr, Σλr, Σλ²r are shared; ΣP_T r per temperature
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    rr = 0.0
    for j in range(f0, n):
        s0 += r[j]
        s1 += grid[j] * r[j]
        s2 += grid[j] * grid[j] * r[j]
        rr += r[j] * r[j]
    m = n - f0
    nt = table.shape[0]
    best_ss = np.inf
    best_a = 0.0
    best_k = -1
    for k in range(nt):
        sp = 0.0
        for j in range(f0, n):
            sp += table[k, j] * r[j]
        _a, _b, amp, explained = _solve3(gram_inv[k], s0, s1, sp)
        ss = rr - explained
        if ss < best_ss:
            best_ss, best_a, best_k = ss, amp, k
    _a, _b, _c, explained = _solve3(gram_inv[nt], s0, s1, s2)
    ss_parabola = rr - explained
    # 3. detection
    var = max(best_ss, 0.0) / max(m - 3, 1)
    sigma_a = np.sqrt(var * gram_inv[best_k, 2, 2])
    if not (best_a >= MIN_EXCESS and best_a >= N_SIGMA * sigma_a and best_ss < ss_parabola):
        return 0.0, np.nan
    # 4. removal
    for j in range(n):
        r[j] -= best_a * table[best_k, j]
    return best_a, temps[best_k]


# rows of the scratch array of `thermal_block`; the amplitude fitted at each temperature
# takes one row per temperature from _AMP on
_WORST, _S0, _S1, _S2, _RR, _SP, _BSS, _BK, _BOTTOM, _SS, _AMP = range(11)
BLOCK_SCRATCH_ROWS = _AMP + T_GRID_K.size


@njit_leaf
def thermal_block(r_t, ns, grid, table, temps, index, gram_inv, work, excess, temp_k):
    """`thermal_tail_one` on a block of complete normalised spectra stored transposed
    (r_t[grid point, spectrum], modified in place), with every loop across the `ns` spectra
    (SIMD); each spectrum sees the same operations as in `thermal_tail_one`. Writes
    excess[s] and temp_k[s] ((0, NaN) = nothing removed). `work`: (BLOCK_SCRATCH_ROWS, ≥ ns).
    """
    f0, c0, c1, b0, b1 = index[0], index[1], index[2], index[3], index[4]
    n = grid.shape[0]
    worst, s0, s1, s2, rr, sp = work[_WORST], work[_S0], work[_S1], work[_S2], work[_RR], work[_SP]
    best_ss, best_k, bottom = work[_BSS], work[_BK], work[_BOTTOM]
    rc0 = r_t[c0]
    rc1 = r_t[c1]
    for s in range(ns):
        worst[s] = 0.0
        bottom[s] = np.inf
    for j in range(b0, b1 + 1):
        dg = grid[j] - grid[c0]
        span = grid[c1] - grid[c0]
        rj = r_t[j]
        for s in range(ns):
            cont = rc0[s] + (rc1[s] - rc0[s]) * dg / span
            d = 1.0 - rj[s] / cont
            worst[s] = d if d > worst[s] else worst[s]
            bottom[s] = rj[s] if rj[s] < bottom[s] else bottom[s]
    for s in range(ns):
        s0[s] = 0.0
        s1[s] = 0.0
        s2[s] = 0.0
        rr[s] = 0.0
        best_ss[s] = np.inf
        best_k[s] = -1.0
    # four grid points per pass over the block: each accumulator row is loaded and stored
    # once per four terms (not once per term), in the same order of additions per spectrum
    n4 = f0 + (n - f0) // 4 * 4
    for j in range(f0, n4, 4):
        ga, gb, gc, gd = grid[j], grid[j + 1], grid[j + 2], grid[j + 3]
        ga2, gb2, gc2, gd2 = ga * ga, gb * gb, gc * gc, gd * gd
        ra, rb, rc, rd = r_t[j], r_t[j + 1], r_t[j + 2], r_t[j + 3]
        for s in range(ns):
            a, b, c, d = ra[s], rb[s], rc[s], rd[s]
            s0[s] = (((s0[s] + a) + b) + c) + d
            s1[s] = (((s1[s] + ga * a) + gb * b) + gc * c) + gd * d
            s2[s] = (((s2[s] + ga2 * a) + gb2 * b) + gc2 * c) + gd2 * d
            rr[s] = (((rr[s] + a * a) + b * b) + c * c) + d * d
    for j in range(n4, n):
        g = grid[j]
        rj = r_t[j]
        for s in range(ns):
            s0[s] += rj[s]
            s1[s] += g * rj[s]
            s2[s] += g * g * rj[s]
            rr[s] += rj[s] * rj[s]
    nt = table.shape[0]
    ss_k = work[_SS]
    for k in range(nt):
        tab = table[k]
        for s in range(ns):
            sp[s] = 0.0
        for j in range(f0, n4, 4):
            ta, tb, tc, td = tab[j], tab[j + 1], tab[j + 2], tab[j + 3]
            ra, rb, rc, rd = r_t[j], r_t[j + 1], r_t[j + 2], r_t[j + 3]
            for s in range(ns):
                sp[s] = (((sp[s] + ta * ra[s]) + tb * rb[s]) + tc * rc[s]) + td * rd[s]
        for j in range(n4, n):
            tk = tab[j]
            rj = r_t[j]
            for s in range(ns):
                sp[s] += tk * rj[s]
        # the inverse Gram matrix in scalars: read inside the loop, LLVM reloads it after
        # every store (it cannot prove the arrays apart) and leaves the loop scalar
        g00, g01, g02 = gram_inv[k, 0, 0], gram_inv[k, 0, 1], gram_inv[k, 0, 2]
        g10, g11, g12 = gram_inv[k, 1, 0], gram_inv[k, 1, 1], gram_inv[k, 1, 2]
        g20, g21, g22 = gram_inv[k, 2, 0], gram_inv[k, 2, 1], gram_inv[k, 2, 2]
        kf = float(k)
        amp_k = work[_AMP + k]
        for s in range(ns):
            a = g00 * s0[s] + g01 * s1[s] + g02 * sp[s]
            b = g10 * s0[s] + g11 * s1[s] + g12 * sp[s]
            amp = g20 * s0[s] + g21 * s1[s] + g22 * sp[s]
            ss = rr[s] - (a * s0[s] + b * s1[s] + amp * sp[s])
            amp_k[s] = amp
            ss_k[s] = ss
        # the selection apart, branch-free, and the best temperature's amplitude read from
        # its row afterwards: written as `x if better else x_old`, the selects became
        # conditional stores and the loop ran scalar. min(old, ss) is exactly
        # `ss if ss < old else old` (also with NaN); the index blend is exact (small integers)
        for s in range(ns):
            ss = ss_k[s]
            old = best_ss[s]
            bk = best_k[s]
            best_k[s] = bk + (kf - bk) * (ss < old)
            best_ss[s] = min(old, ss)
    m = n - f0
    gp = gram_inv[nt]
    for s in range(ns):
        excess[s] = 0.0
        temp_k[s] = np.nan
        if worst[s] >= MAX_BAND_I_DEPTH and bottom[s] < rc1[s]:
            continue
        _a, _b, _c, explained = _solve3(gp, s0[s], s1[s], s2[s])
        ss_parabola = rr[s] - explained
        k = int(best_k[s])
        if k < 0:  # no fit compared (NaN or inf residuals): nothing removed
            continue
        var = max(best_ss[s], 0.0) / max(m - 3, 1)
        sigma_a = np.sqrt(var * gram_inv[k, 2, 2])
        amp = work[_AMP + k, s]
        if not (amp >= MIN_EXCESS and amp >= N_SIGMA * sigma_a and best_ss[s] < ss_parabola):
            continue
        for j in range(n):
            r_t[j, s] -= amp * table[k, j]
        excess[s] = amp
        temp_k[s] = temps[k]

"""Bus-DeMeo kernels: normalise, remove the slope, project on the PCs, walk the tree, match
the templates. DeMeo, Binzel, Slivan & Bus 2009 (Icarus 202, 160), Appendix B.

All inputs are on the 41-point DeMeo grid (0.45–2.45 µm, 0.05 µm steps, index 2 = 0.55 µm).
Class indices follow `firmware.taxonomy.CLASS_NAMES`; −1 means "indeterminate".
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_leaf, njit_parallel, prange
from firmware.kernels.thermal import thermal_tail_one

# Class indices (order of firmware.taxonomy.CLASS_NAMES).
A, B, C, CB, CG, CGH, CH, D, K, L, O, Q, R, S, SA, SQ, SR, SV, T, V, X, XC, XE, XK, XN = range(25)
INDETERMINATE = -1
N_CLASSES = 25
I055 = 2  # index of 0.55 µm on the grid
W_SLOPE = 0.25  # DeMeo 2009 §5: "w" for slope ≥ 0.25 µm⁻¹

# status codes (firmware.busdemeo turns them into sentences)
OK, NO_COVERAGE, BAD_NORMALISATION, GAP, TOO_FEW = 0, 1, 2, 3, 4
# classes the C/X fallback may choose when the tree is indeterminate
CX_CLASSES = np.array([B, C, CB, CG, CGH, CH, X, XC, XE, XK], dtype=np.int64)

# feature columns (firmware.kernels.features order)
FE, FH, FK = 0, 1, 2


@njit_leaf
def _fill_edges(r41, max_steps):
    """Hold the edge value over at most `max_steps` missing grid points at either end.

    Returns the number of points filled, or −1 if a NaN remains anywhere (not enough coverage).
    """
    n = r41.shape[0]
    first = -1
    last = -1
    for i in range(n):
        if not np.isnan(r41[i]):
            if first < 0:
                first = i
            last = i
    if first < 0 or first > max_steps or (n - 1 - last) > max_steps:
        return -1
    for i in range(first):
        r41[i] = r41[first]
    for i in range(last + 1, n):
        r41[i] = r41[last]
    for i in range(n):
        if np.isnan(r41[i]):
            return -1
    return first + (n - 1 - last)


@njit_leaf
def _slope_and_pcs(r41, grid, eig, mean, rprime, pc):
    """Normalised r41 → unconstrained LSQ slope (µm⁻¹), slope-removed rprime, 5 PC′ scores.

    DeMeo 2009 §2.2 / science notes §1.2: the line fitted without constraint, translated to
    pass through (0.55, 1), divides the spectrum.
    """
    n = r41.shape[0]
    xm = 0.0
    ym = 0.0
    for i in range(n):
        xm += grid[i]
        ym += r41[i]
    xm /= n
    ym /= n
    sxy = 0.0
    sxx = 0.0
    for i in range(n):
        dx = grid[i] - xm
        sxy += dx * (r41[i] - ym)
        sxx += dx * dx
    slope = sxy / sxx
    for i in range(n):
        rprime[i] = r41[i] / (1.0 + slope * (grid[i] - grid[I055]))
    for k in range(eig.shape[0]):
        e_k = eig[k]
        acc = 0.0
        j = 0
        for i in range(n):
            if i == I055:
                continue
            acc += e_k[j] * (rprime[i] - mean[j])
            j += 1
        pc[k] = acc
    return slope


@njit_leaf
def _corr(a, b):
    """Pearson correlation of two equal-length vectors."""
    n = a.shape[0]
    ma = 0.0
    mb = 0.0
    for i in range(n):
        ma += a[i]
        mb += b[i]
    ma /= n
    mb /= n
    sab = 0.0
    saa = 0.0
    sbb = 0.0
    for i in range(n):
        sab += (a[i] - ma) * (b[i] - mb)
        saa += (a[i] - ma) ** 2
        sbb += (b[i] - mb) ** 2
    if saa <= 0.0 or sbb <= 0.0:
        return 0.0
    return sab / np.sqrt(saa * sbb)


@njit_leaf
def _better(rprime, tmpl_sr, c1, c2):
    """The class among c1, c2 whose slope-removed template correlates better with rprime."""
    return c1 if _corr(rprime, tmpl_sr[c1]) >= _corr(rprime, tmpl_sr[c2]) else c2


@njit_leaf
def _tree(pc, slope, r045, rprime, tmpl_sr, has_e, has_h, has_k):
    """DeMeo 2009 Appendix B decision tree → (class index or −1, w flag).

    Lines in the PC2′–PC1′ plane (classy names; DeMeo 2009 Fig. 14–16).
    """
    pc1, pc2, pc3, pc4, pc5 = pc[0], pc[1], pc[2], pc[3], pc[4]
    alpha = -3.0 * pc2 - 0.28
    beta = -3.0 * pc2 + 0.35
    gamma = -3.0 * pc2 + 1.0
    delta = -3.0 * pc2 + 1.5
    theta = -3.0 * pc2 + 0.7
    eps = pc2 / 3.0 + 0.55
    zeta = pc2 / 3.0 - 0.10
    eta = pc2 / 3.0 - 0.40
    w = slope >= W_SLOPE

    # Step 1: A and Sa — very red with strong olivine band
    if pc1 < -0.3 and pc3 >= 0.2 and slope >= 0.4:
        if 0.55 <= slope < 1.5:
            return A, False
        if slope < 0.55:
            return SA, False

    # Step 2: above line α — S-complex, Q, O, R, V
    if pc1 >= alpha:
        # R before V: DeMeo's R region lies inside PC1′ ≥ γ, so testing V first (as classy
        # does) makes R unreachable (science notes §6.1).
        if pc1 >= eta and gamma <= pc1 < delta:
            return R, w
        if pc1 >= gamma:
            return V, w
        if pc1 <= eta:
            if theta <= pc1 < delta:
                return O, False
            if alpha <= pc1 < theta:
                return Q, w
        if zeta < pc1 < beta:
            return S, w
        if alpha <= pc1 < beta and eta < pc1 <= zeta:
            return SQ, w
        if beta <= pc1 < gamma:
            return (SV if pc1 > eps else SR), w
        return S, w

    # Step 3: below line α — end-members with red or flat slopes
    if 0.38 <= slope < 1.5 and -0.44 < pc1 < 0.4:
        return _better(rprime, tmpl_sr, A, D), False
    if 0.25 < slope < 0.38 and -0.28 < pc2 < -0.2 and -0.2 < pc3 < -0.12:
        return T, False
    if 0.07 < pc1 < 1.0 and -0.5 < pc2 < -0.15:
        return (XE if has_e else L), False
    if -0.075 < pc3 < 0.14 and -0.2 <= pc2 < 0.1 and -0.8 < pc1 < 0.1:
        return (XE if has_e else K), False

    # C- and X-complexes
    if -0.2 < slope < 0.0 and -1.2 < pc1 < 0.0 and pc4 < 0.0:
        return B, False
    if 0.2 < slope < 0.38:
        if has_k:
            return XK, False
        if has_e:
            return XE, False
        return _better(rprime, tmpl_sr, C, X), False
    if 0.01 < pc4 < 0.14 and -0.75 < pc1 < -0.27:
        if has_h:
            return (CGH if r045 < 0.92 else CH), False
        if has_k:
            return XK, False
    if -0.04 < pc4 < 0.02 and -0.07 < pc5 < -0.04:
        return CB, False
    if -0.85 < pc1 < -0.45 and -0.06 < pc5 < 0.02:
        if has_h:
            return CH, False
        if has_k:
            return XK, False
        return C, False
    if 0.02 <= pc5 < 0.1 and -0.6 < pc1 < -0.16:
        return (CGH if has_h else CG), False
    if -0.45 <= pc1 < 0.1 and -0.06 < pc5 < 0.05:
        if has_h:
            return CH, False
        if has_e:
            return XE, False
        if has_k:
            return XK, False
        return XC, False
    if -0.1 <= pc1 < 0.3 and -0.5 < pc2 < -0.2:
        return (XE if has_e else L), False
    return INDETERMINATE, False


@njit_leaf
def template_chi2(r41, e41, has_err, tmpl_mean, tmpl_sigma, tmpl_inv_var, chi2):
    """Reduced χ² of the normalised spectrum against each class mean, σ² = σ_class² + σ_obs².

    Without observation errors the precomputed 1/σ_class² is used (no division per term)."""
    n = r41.shape[0]
    for c in range(tmpl_mean.shape[0]):
        m = tmpl_mean[c]
        acc = 0.0
        if has_err:
            s = tmpl_sigma[c]
            for i in range(n):
                e = e41[i]
                var = s[i] * s[i] + (0.0 if np.isnan(e) else e * e)
                d = r41[i] - m[i]
                acc += d * d / var
        else:
            w = tmpl_inv_var[c]
            for i in range(n):
                d = r41[i] - m[i]
                acc += d * d * w[i]
        chi2[c] = acc / n


@njit_leaf
def classify_one(r, e, has_err, det, grid, eig, mean, tmpl_mean, tmpl_sigma, tmpl_inv_var,
                 tmpl_sr, max_edge_steps, th_table, th_temps, th_index, th_gram, rprime, pc_out,
                 chi2_out):  # fmt: skip
    """One spectrum on the grid (modified in place: edges filled, normalised, thermal tail
    removed when one is detected — see firmware.kernels.thermal).

    Returns (class index, w flag, slope, status, edge points filled, tree indeterminate,
    thermal excess removed at 2.45 µm (0 = none), thermal temperature K (NaN = none)).
    An indeterminate tree (PC scores outside every C/X region) falls back to the C/X class
    with the smallest template χ²; the caller reports that as a flag."""
    filled = _fill_edges(r, max_edge_steps)
    if filled < 0:
        return INDETERMINATE, False, np.nan, NO_COVERAGE, 0, False, 0.0, np.nan
    r55 = r[I055]
    if not r55 > 0.0:
        return INDETERMINATE, False, np.nan, BAD_NORMALISATION, filled, False, 0.0, np.nan
    inv55 = 1.0 / r55
    for j in range(r.shape[0]):
        r[j] *= inv55
    if has_err:
        for j in range(r.shape[0]):
            e[j] *= inv55
    excess, temp_k = thermal_tail_one(r, grid, th_table, th_temps, th_index, th_gram)
    s = _slope_and_pcs(r, grid, eig, mean, rprime, pc_out)
    template_chi2(r, e, has_err, tmpl_mean, tmpl_sigma, tmpl_inv_var, chi2_out)
    c, w = _tree(pc_out, s, r[0], rprime, tmpl_sr, det[FE] == 1.0, det[FH] == 1.0, det[FK] == 1.0)
    indeterminate = c == INDETERMINATE
    if indeterminate:
        best = np.inf
        for k in range(CX_CLASSES.shape[0]):
            if chi2_out[CX_CLASSES[k]] < best:
                best = chi2_out[CX_CLASSES[k]]
                c = CX_CLASSES[k]
    return c, w, s, OK, filled, indeterminate, excess, temp_k


@njit_parallel
def classify_grid(r41_in, err41, has_err, feat_detected, grid, eig, mean, tmpl_mean, tmpl_sigma,
                  tmpl_inv_var, tmpl_sr, max_edge_steps, th_table, th_temps, th_index, th_gram,
                  n_chunks):  # fmt: skip
    """Bus-DeMeo on (N, 41) spectra already on the grid (not yet normalised): the stage kernel.

    `err41` (N, 41) 1σ errors (NaN = unknown, ignored unless has_err); `feat_detected` (N, 3)
    e/h/k detections (1 = detected); `th_*` the thermal-tail model (`thermal_model(grid)`).
    Work is split into `n_chunks` chunks with scratch allocated once per chunk. Returns
    class (N,), w (N,), slope (N,), pc (N,5), chi2 (N,25) float32, status (N,),
    indeterminate (N,), thermal (N, 2) excess removed at 2.45 µm and temperature K.
    """
    n = r41_in.shape[0]
    g = r41_in.shape[1]
    cls = np.full(n, INDETERMINATE, np.int64)
    wflag = np.zeros(n, np.bool_)
    slope = np.full(n, np.nan)
    pc = np.full((n, eig.shape[0]), np.nan)
    chi2 = np.full((n, tmpl_mean.shape[0]), np.nan, dtype=np.float32)
    status = np.zeros(n, np.int64)
    indet = np.zeros(n, np.bool_)
    thermal = np.zeros((n, 2))
    chunk = (n + n_chunks - 1) // n_chunks
    for ch in prange(n_chunks):
        r = np.empty(g)
        e = np.empty(g)
        rprime = np.empty(g)
        c2 = np.empty(tmpl_mean.shape[0])
        for i in range(ch * chunk, min(n, (ch + 1) * chunk)):
            for j in range(g):
                r[j] = r41_in[i, j]
                e[j] = err41[i, j]
            c, w, s, st, _f, ind, ex, tk = classify_one(
                r, e, has_err, feat_detected[i], grid, eig, mean, tmpl_mean, tmpl_sigma,
                tmpl_inv_var, tmpl_sr, max_edge_steps, th_table, th_temps, th_index, th_gram,
                rprime, pc[i], c2,
            )  # fmt: skip
            cls[i], wflag[i], slope[i], status[i], indet[i] = c, w, s, st, ind
            thermal[i, 0], thermal[i, 1] = ex, tk
            if st == OK:
                for k in range(c2.shape[0]):
                    chi2[i, k] = c2[k]
            else:
                for k in range(pc.shape[1]):
                    pc[i, k] = np.nan
    return cls, wflag, slope, pc, chi2, status, indet, thermal

"""Bus-DeMeo on a block of spectra stored transposed, r_t[grid point, spectrum]: SIMD across
spectra for every arithmetic step (normalise, thermal tail, slope, PCs, template χ²), the
decision tree per spectrum.

Why: on one spectrum at a time the steps are short dependent chains (41 points, 5 PCs, 25
templates) that leave most of a vector unit idle; on a block, each loop runs over the block's
spectra, contiguous in memory, so LLVM vectorises it, and each spectrum still sees the very
same sequence of operations as in `firmware.kernels.demeo.classify_one` (the same order of
every sum), so results agree with it to rounding. Used by `firmware.kernels.pipeline` for the
rows that have no missing value (the survey case); the others take the per-spectrum path.
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_leaf
from firmware.kernels.demeo import CX_CLASSES, FE, FH, FK, I055, INDETERMINATE, _tree
from firmware.kernels.thermal import BLOCK_SCRATCH_ROWS as TH_ROWS
from firmware.kernels.thermal import thermal_block

# rows of the per-spectrum scratch `work` (after the thermal block's rows)
_INV, _YM, _SXY, _SLOPE, _EXCESS, _TEMP = range(TH_ROWS, TH_ROWS + 6)
BLOCK_SCRATCH_ROWS = TH_ROWS + 6


@njit_leaf
def chi2_block(r_t, e_t, ns, has_err, tmpl_mean, tmpl_sigma, tmpl_inv_var, acc, chi2_t):
    """`template_chi2` for the block: chi2_t[c, s] = reduced χ² of spectrum s against class c."""
    n = r_t.shape[0]
    for c in range(tmpl_mean.shape[0]):
        m = tmpl_mean[c]
        for s in range(ns):
            acc[s] = 0.0
        if has_err:
            sig = tmpl_sigma[c]
            for i in range(n):
                ri = r_t[i]
                ei = e_t[i]
                si2 = sig[i] * sig[i]
                mi = m[i]
                for s in range(ns):
                    e = ei[s]
                    var = si2 + (0.0 if np.isnan(e) else e * e)
                    d = ri[s] - mi
                    acc[s] += d * d / var
        else:
            # four grid points per pass over the block: acc is loaded and stored once per
            # four terms instead of once per term (the loop was bound by those loads/stores)
            w = tmpl_inv_var[c]
            n4 = n - n % 4
            for i in range(0, n4, 4):
                ra, rb, rc, rd = r_t[i], r_t[i + 1], r_t[i + 2], r_t[i + 3]
                ma, mb, mc, md = m[i], m[i + 1], m[i + 2], m[i + 3]
                wa, wb, wc, wd = w[i], w[i + 1], w[i + 2], w[i + 3]
                for s in range(ns):
                    da = ra[s] - ma
                    db = rb[s] - mb
                    dc = rc[s] - mc
                    dd = rd[s] - md
                    acc[s] += (da * da * wa + db * db * wb) + (dc * dc * wc + dd * dd * wd)
            for i in range(n4, n):
                ri = r_t[i]
                mi = m[i]
                wi = w[i]
                for s in range(ns):
                    d = ri[s] - mi
                    acc[s] += d * d * wi
        for s in range(ns):
            chi2_t[c, s] = acc[s] / n


@njit_leaf
def _chi2_column(r_t, e_t, s, has_err, tmpl_mean, tmpl_sigma, tmpl_inv_var, out):
    """χ² of one spectrum (column s) of the block against the classes the C/X fallback may
    choose (CX_CLASSES), for the classes-only mode; the other entries of `out` become NaN.

    The classes' sums advance together, one grid point at a time: each class still adds its
    terms in grid order (the same value as a sum per class), but the ten sums are independent
    chains that the CPU overlaps instead of one chain of 410 dependent additions."""
    n = r_t.shape[0]
    for c in range(out.shape[0]):
        out[c] = np.nan
    for k in range(CX_CLASSES.shape[0]):
        out[CX_CLASSES[k]] = 0.0
    for i in range(n):
        r = r_t[i, s]
        if has_err:
            e = e_t[i, s]
            e2 = 0.0 if np.isnan(e) else e * e
            for k in range(CX_CLASSES.shape[0]):
                c = CX_CLASSES[k]
                d = r - tmpl_mean[c, i]
                out[c] += d * d / (tmpl_sigma[c, i] ** 2 + e2)
        else:
            for k in range(CX_CLASSES.shape[0]):
                c = CX_CLASSES[k]
                d = r - tmpl_mean[c, i]
                out[c] += d * d * tmpl_inv_var[c, i]
    for k in range(CX_CLASSES.shape[0]):
        out[CX_CLASSES[k]] /= n


@njit_leaf
def grid_block(r_t, e_t, ns, has_err, det_t, grid, eig, mean, tmpl_mean, tmpl_sigma,
               tmpl_inv_var, tmpl_sr, th_table, th_temps, th_index, th_gram, all_chi2, work,
               rprime_t, pc_t, chi2_t, pcs, c2, cls, wflag, slope, indet, excess, temp_k):  # fmt: skip
    """Classify the block's `ns` complete spectra already on the 41-point grid, edges filled.

    r_t (G, ≥ns) is normalised at 0.55 µm and has its thermal tail removed in place; e_t the
    1σ errors on the grid (read when has_err). det_t (3, ≥ns) e/h/k detections (1 = yes).
    With `all_chi2` every template χ² is computed (chi2_t (25, ≥ns)); without, only the
    C/X classes' (CX_CLASSES; the others NaN) and only for spectra the tree leaves
    indeterminate (they need them for the C/X fallback) — the other columns of chi2_t are
    then left undefined. Writes rprime_t, pc_t (5, ≥ns) and per
    spectrum cls, wflag, slope, indet, excess, temp_k. Scratch: work (BLOCK_SCRATCH_ROWS, ≥ns),
    pcs (5,), c2 (25,).
    """
    n = grid.shape[0]
    inv = work[_INV]
    for s in range(ns):
        inv[s] = 1.0 / r_t[I055, s]
    for j in range(n):
        rj = r_t[j]
        for s in range(ns):
            rj[s] *= inv[s]
    if has_err:
        for j in range(n):
            ej = e_t[j]
            for s in range(ns):
                ej[s] *= inv[s]
    thermal_block(r_t, ns, grid, th_table, th_temps, th_index, th_gram, work, excess, temp_k)
    # unconstrained least-squares slope, slope-removed spectrum, PC′ scores (_slope_and_pcs)
    xm = 0.0
    for i in range(n):
        xm += grid[i]
    xm /= n
    sxx = 0.0
    for i in range(n):
        dx = grid[i] - xm
        sxx += dx * dx
    ym, sxy = work[_YM], work[_SXY]
    for s in range(ns):
        ym[s] = 0.0
        sxy[s] = 0.0
    # four grid points per pass over the block (each spectrum adds its terms in the same
    # order): the accumulator rows are loaded and stored once per four terms
    n4 = n - n % 4
    for i in range(0, n4, 4):
        ra, rb, rc, rd = r_t[i], r_t[i + 1], r_t[i + 2], r_t[i + 3]
        for s in range(ns):
            ym[s] = (((ym[s] + ra[s]) + rb[s]) + rc[s]) + rd[s]
    for i in range(n4, n):
        ri = r_t[i]
        for s in range(ns):
            ym[s] += ri[s]
    for s in range(ns):
        ym[s] /= n
    for i in range(0, n4, 4):
        da, db, dc, dd = grid[i] - xm, grid[i + 1] - xm, grid[i + 2] - xm, grid[i + 3] - xm
        ra, rb, rc, rd = r_t[i], r_t[i + 1], r_t[i + 2], r_t[i + 3]
        for s in range(ns):
            y = ym[s]
            sxy[s] = (((sxy[s] + da * (ra[s] - y)) + db * (rb[s] - y)) + dc * (rc[s] - y)) + dd * (rd[s] - y)
    for i in range(n4, n):
        dx = grid[i] - xm
        ri = r_t[i]
        for s in range(ns):
            sxy[s] += dx * (ri[s] - ym[s])
    for s in range(ns):
        slope[s] = sxy[s] / sxx
    for i in range(n):
        gi = grid[i] - grid[I055]
        ri = r_t[i]
        pi = rprime_t[i]
        for s in range(ns):
            pi[s] = ri[s] / (1.0 + slope[s] * gi)
    # PC′ scores: eigenvector entry j goes with grid point j (j < I055) or j + 1 (0.55 µm is
    # left out); four entries per pass over the block, in the same order per spectrum
    m = eig.shape[1]
    m4 = m - m % 4
    for k in range(eig.shape[0]):
        pk = pc_t[k]
        for s in range(ns):
            pk[s] = 0.0
        for j in range(0, m4, 4):
            ea, eb, ec, ed = eig[k, j], eig[k, j + 1], eig[k, j + 2], eig[k, j + 3]
            ma, mb, mc, md = mean[j], mean[j + 1], mean[j + 2], mean[j + 3]
            pa = rprime_t[j if j < I055 else j + 1]
            pb = rprime_t[j + 1 if j + 1 < I055 else j + 2]
            pc = rprime_t[j + 2 if j + 2 < I055 else j + 3]
            pd = rprime_t[j + 3 if j + 3 < I055 else j + 4]
            for s in range(ns):
                pk[s] = (((pk[s] + ea * (pa[s] - ma)) + eb * (pb[s] - mb)) + ec * (pc[s] - mc)) + ed * (pd[s] - md)
        for j in range(m4, m):
            ekj = eig[k, j]
            mj = mean[j]
            pi = rprime_t[j if j < I055 else j + 1]
            for s in range(ns):
                pk[s] += ekj * (pi[s] - mj)
    if all_chi2:
        chi2_block(r_t, e_t, ns, has_err, tmpl_mean, tmpl_sigma, tmpl_inv_var, work[_YM], chi2_t)
    # the tree, one spectrum at a time (branches)
    for s in range(ns):
        for k in range(pcs.shape[0]):
            pcs[k] = pc_t[k, s]
        c, w = _tree(pcs, slope[s], r_t[0, s], rprime_t[:, s], tmpl_sr,
                     det_t[FE, s] == 1.0, det_t[FH, s] == 1.0, det_t[FK, s] == 1.0)  # fmt: skip
        indet[s] = c == INDETERMINATE
        if indet[s]:
            if all_chi2:
                for k in range(c2.shape[0]):
                    c2[k] = chi2_t[k, s]
            else:
                _chi2_column(r_t, e_t, s, has_err, tmpl_mean, tmpl_sigma, tmpl_inv_var, c2)
                for k in range(c2.shape[0]):
                    chi2_t[k, s] = c2[k]
            best = np.inf
            for k in range(CX_CLASSES.shape[0]):
                if c2[CX_CLASSES[k]] < best:
                    best = c2[CX_CLASSES[k]]
                    c = CX_CLASSES[k]
        cls[s] = c
        wflag[s] = w

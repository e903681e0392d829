"""The fused Bus-DeMeo pipeline: raw (N, B) spectra → class, in one pass over the input.

Per spectrum, on per-chunk scratch buffers (nothing allocated per spectrum, no (N, G)
intermediates): copy the row to float64 marking ≤ 0 as missing → coverage → binned resample
to the 41-point grid and to the fine feature grid → e/h/k features → normalise, thermal
tail, slope, PCs, template χ², tree. The stage kernels (resample_binned, measure_features, classify_grid) run
the very same per-spectrum functions; this one only chains them.
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_parallel, njit_serial, prange
from firmware.kernels.demeo import FK, GAP, INDETERMINATE, OK, TOO_FEW, classify_one
from firmware.kernels.features import features_one
from firmware.kernels.resample import _resample_binned_one, resample_planned_one


@njit_serial
def coverage_one(wavelength_um, row, lo_um, hi_um):
    """(first valid µm, last valid µm, widest gap inside [lo, hi] µm, number of valid samples)."""
    first = np.nan
    last = np.nan
    prev = np.nan
    gap = 0.0
    count = 0
    for j in range(wavelength_um.shape[0]):
        if np.isnan(row[j]):
            continue
        count += 1
        w = wavelength_um[j]
        if np.isnan(first):
            first = w
        last = w
        if not np.isnan(prev) and w > lo_um and prev < hi_um:
            g = min(w, hi_um) - max(prev, lo_um)
            if g > gap:
                gap = g
        prev = w
    return first, last, gap, count


@njit_parallel
def bus_demeo_pipeline(
    wavelength_um, reflectance, error, has_err,
    grid, half_width_um, fine_grid, fine_half_width_um, plan41_idx, plan41_t, planf_idx, planf_t,
    f_starts, f_lengths, f_pinv, f_vander, f_mid, f_half, f_centre, f_tol,
    eig, mean, tmpl_mean, tmpl_sigma, tmpl_inv_var, tmpl_sr, th_table, th_temps, th_index, th_gram,
    k_min_depth, max_edge_steps, max_gap_um, min_points, n_chunks,
):  # fmt: skip
    """Classify (N, B) spectra sharing `wavelength_um` (B,) µm; float32 or float64 input.

    `error` is (N, B) 1σ (read only when has_err). The plans (`resample_plan` for the two
    grids) make complete rows (no missing value) resample without searching. A k band
    shallower than `k_min_depth` is not counted (its detected flag is cleared). Returns class (N,), w (N,), slope (N,),
    pc (N, 5), chi2 (N, 25) float32, features (N, 3, 4), status (N,), edge_filled (N,),
    indeterminate (N,), coverage (N, 2) first/last µm, thermal (N, 2) excess removed at
    2.45 µm and temperature K (0, NaN = no thermal tail).
    """
    n = reflectance.shape[0]
    nb = reflectance.shape[1]
    g = grid.shape[0]
    gf = fine_grid.shape[0]
    nf = f_starts.shape[0]
    cls = np.full(n, INDETERMINATE, np.int64)
    wflag = np.zeros(n, np.bool_)
    slope = np.full(n, np.nan)
    pc = np.full((n, eig.shape[0]), np.nan)
    chi2 = np.full((n, tmpl_mean.shape[0]), np.nan, dtype=np.float32)
    feats = np.empty((n, nf, 4))
    status = np.zeros(n, np.int64)
    edge = np.zeros(n, np.bool_)
    indet = np.zeros(n, np.bool_)
    cov = np.empty((n, 2))
    thermal = np.zeros((n, 2))
    thermal[:, 1] = np.nan
    lo_um = grid[0]
    hi_um = grid[g - 1]
    chunk = (n + n_chunks - 1) // n_chunks
    for ch in prange(n_chunks):
        row = np.empty(nb)
        erow = np.empty(nb)
        r41 = np.empty(g)
        e41 = np.empty(g)
        fine = np.empty(gf)
        rprime = np.empty(g)
        coef = np.empty(2 * f_pinv.shape[2])
        c2 = np.empty(tmpl_mean.shape[0])
        det = np.empty(nf)
        for i in range(ch * chunk, min(n, (ch + 1) * chunk)):
            for j in range(nb):
                v = reflectance[i, j]
                row[j] = v if v > 0.0 else np.nan  # ≤ 0 and NaN = missing
            first, last, gap, count = coverage_one(wavelength_um, row, lo_um, hi_um)
            cov[i, 0] = first
            cov[i, 1] = last
            complete = count == nb
            if complete:
                resample_planned_one(row, planf_idx, planf_t, fine)
            else:
                _resample_binned_one(wavelength_um, row, fine_grid, fine_half_width_um, fine)
            features_one(fine, f_starts, f_lengths, f_pinv, f_vander, f_mid, f_half, f_centre,
                         f_tol, coef, feats[i])  # fmt: skip
            if count < min_points:
                status[i] = TOO_FEW
                continue
            if complete:
                resample_planned_one(row, plan41_idx, plan41_t, r41)
            else:
                _resample_binned_one(wavelength_um, row, grid, half_width_um, r41)
            if has_err:
                for j in range(nb):
                    v = error[i, j]
                    erow[j] = v if v > 0.0 and not np.isnan(row[j]) else np.nan
                _resample_binned_one(wavelength_um, erow, grid, half_width_um, e41)
            if feats[i, FK, 3] == 1.0 and feats[i, FK, 0] < k_min_depth:
                feats[i, FK, 3] = 0.0
            for f in range(nf):
                det[f] = feats[i, f, 3]
            c, w, s, st, filled, ind, ex, tk = classify_one(
                r41, e41, has_err, det, grid, eig, mean, tmpl_mean, tmpl_sigma,
                tmpl_inv_var, tmpl_sr, max_edge_steps, th_table, th_temps, th_index, th_gram,
                rprime, pc[i], c2,
            )  # fmt: skip
            if st == OK and gap > max_gap_um:
                st = GAP
            status[i] = st
            if st != OK:
                for k in range(pc.shape[1]):
                    pc[i, k] = np.nan
                slope[i] = np.nan
                continue
            cls[i] = c
            wflag[i] = w
            slope[i] = s
            edge[i] = filled > 0
            indet[i] = ind
            thermal[i, 0] = ex
            thermal[i, 1] = tk
            for k in range(c2.shape[0]):
                chi2[i, k] = c2[k]
    return cls, wflag, slope, pc, chi2, feats, status, edge, indet, cov, thermal

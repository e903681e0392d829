"""The fused Bus-DeMeo pipeline: raw (N, B) spectra → class, in one pass over the input.

Rows without a missing value (the survey case) are gathered into blocks of BLOCK spectra
stored transposed (band × spectrum) and resampled by a branch-free sparse map
(`resample_taps`) onto the 41-point and the fine feature grid, still transposed; then features (`features_block`) and the Bus-DeMeo steps (`grid_block`) run
with SIMD across the block's spectra. A row with a missing value (≤ 0 or NaN), or every row
when the shared axis itself does not cover the grid, takes the per-spectrum path
(`_one_spectrum`): coverage → binned resample with holes → `features_one` → `classify_one`.
Both paths do the same arithmetic per spectrum. Nothing is allocated per spectrum; scratch
is per chunk of the parallel loop.
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_leaf, njit_parallel, prange
from firmware.kernels.bands import N_OUT, bands_of_block, bands_one
from firmware.kernels.demeo import FK, GAP, INDETERMINATE, OK, TOO_FEW, classify_one
from firmware.kernels.demeo_block import BLOCK_SCRATCH_ROWS, grid_block
from firmware.kernels.features import BLOCK_SCRATCH_ROWS as F_ROWS
from firmware.kernels.features import features_block, features_one
from firmware.kernels.resample import _resample_binned_one

BLOCK = 32  # spectra per SIMD block: 4 AVX-512 / 8 AVX2 vectors of float64, scratch in L1/L2


@njit_leaf
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




@njit_leaf
def _one_spectrum(i, wavelength_um, row, count, error, has_err, grid, half_width_um,
                  fine_grid, fine_half_width_um, f_starts, f_lengths, f_pinv, f_vander, f_mid,
                  f_half, f_centre, f_tol, eig, mean, tmpl_mean, tmpl_sigma, tmpl_inv_var,
                  tmpl_sr, th_table, th_temps, th_index, th_gram, k_min_depth, max_edge_steps,
                  max_gap_um, min_points, erow, r41, e41, fine, rprime, coef, c2, det, cls,
                  wflag, slope, pc, chi2, feats, status, edge, indet, cov, thermal):  # fmt: skip
    """The per-spectrum path for row i (`row`: float64, NaN = missing, `count` valid)."""
    g = grid.shape[0]
    nb = row.shape[0]
    first, last, gap, _count = coverage_one(wavelength_um, row, grid[0], grid[g - 1])
    cov[i, 0] = first
    cov[i, 1] = last
    _resample_binned_one(wavelength_um, row, fine_grid, fine_half_width_um, fine)
    features_one(fine, f_starts, f_lengths, f_pinv, f_vander, f_mid, f_half, f_centre, f_tol,
                 coef, feats[i])  # fmt: skip
    if feats[i, FK, 3] == 1.0 and feats[i, FK, 0] < k_min_depth:
        feats[i, FK, 3] = 0.0
    if count < min_points:
        status[i] = TOO_FEW
        return
    _resample_binned_one(wavelength_um, row, grid, half_width_um, r41)
    if has_err:
        for j in range(nb):
            v = error[i, j]
            erow[j] = v if v > 0.0 and not np.isnan(row[j]) else np.nan
        _resample_binned_one(wavelength_um, erow, grid, half_width_um, e41)
    for f in range(det.shape[0]):
        det[f] = feats[i, f, 3]
    c, w, s, st, filled, ind, ex, tk = classify_one(
        r41, e41, has_err, det, grid, eig, mean, tmpl_mean, tmpl_sigma, tmpl_inv_var, tmpl_sr,
        max_edge_steps, th_table, th_temps, th_index, th_gram, rprime, pc[i], c2,
    )  # fmt: skip
    if st == OK and gap > max_gap_um:
        st = GAP
    status[i] = st
    if st != OK:
        for k in range(pc.shape[1]):
            pc[i, k] = np.nan
        slope[i] = np.nan
        return
    cls[i] = c
    wflag[i] = w
    slope[i] = s
    edge[i] = filled > 0
    indet[i] = ind
    thermal[i, 0] = ex
    thermal[i, 1] = tk
    for k in range(c2.shape[0]):
        chi2[i, k] = c2[k]


@njit_leaf
def _load_row(reflectance, i, row):
    """Copy row i to float64 with ≤ 0 and NaN as NaN (missing); return the valid count."""
    count = 0
    for j in range(row.shape[0]):
        v = reflectance[i, j]
        ok = v > 0.0
        row[j] = v if ok else np.nan
        count += 1 if ok else 0
    return count


@njit_leaf
def _load_column(reflectance, i, x_t, s):
    """Copy row i into column s of the block x_t (float64); return how many values are > 0
    (the row is complete when all are: NaN and ≤ 0 are missing)."""
    count = 0
    for j in range(x_t.shape[0]):
        v = reflectance[i, j]
        x_t[j, s] = v
        count += 1 if v > 0.0 else 0
    return count


@njit_leaf
def taps_block(x_t, ns, taps, w, out_t):
    """out_t[k, s] = Σₘ w[k, m]·x_t[taps[k, m], s] for the block's ns complete rows: the
    binned resampling (`resample_taps`), vectorised across spectra."""
    for k in range(taps.shape[0]):
        o = out_t[k]
        x0 = x_t[taps[k, 0]]
        w0 = w[k, 0]
        for s in range(ns):
            o[s] = w0 * x0[s]
        for m in range(1, taps.shape[1]):
            wm = w[k, m]
            if wm == 0.0:
                continue
            xm = x_t[taps[k, m]]
            for s in range(ns):
                o[s] += wm * xm[s]


@njit_parallel
def bus_demeo_pipeline(
    wavelength_um, reflectance, error, has_err,
    grid, half_width_um, fine_grid, fine_half_width_um, taps41, w41, tapsf, wf, block_ok,
    edge_uniform, win_ok,
    f_starts, f_lengths, f_pinv, f_vander, f_grams, f_mid, f_half, f_centre, f_tol,
    eig, mean, tmpl_mean, tmpl_sigma, tmpl_inv_var, tmpl_sr, th_table, th_temps, th_index, th_gram,
    k_min_depth, max_edge_steps, max_gap_um, min_points, all_chi2,
    with_bands, b_grid, b_half_width_um, band_taps, band_w, tie_j, search_j, search_lo, search_hi,
    pinv1, pinv2, n_chunks,
):  # fmt: skip
    """Classify (N, B) spectra sharing `wavelength_um` (B,) µm; float32 or float64 input.

    `error` is (N, B) 1σ (read only when has_err). `taps41, w41` and `tapsf, wf` are the
    `resample_taps` maps of complete rows to the 41-point grid (edge points already mapped
    to the edge value, MAX_EDGE_STEPS) and to the fine grid; `block_ok` says that the shared
    axis lets a complete row be classified (coverage, gaps), `edge_uniform` that its grid
    edges were held, `win_ok` (3,) which feature
    windows it covers. A k band shallower than `k_min_depth` is not counted (its detected
    flag is cleared). Without `all_chi2` the template χ² of a complete row is computed only
    when the tree needs it (indeterminate); the others come back NaN (the classes-only
    mode). Returns class (N,), w (N,), slope (N,), pc (N, 5), chi2 (N, 25) float32, features
    (N, 3, 4), status (N,), edge_filled (N,), indeterminate (N,), coverage (N, 2) first/last
    µm, thermal (N, 2) excess removed at 2.45 µm and temperature K (0, NaN = no tail).

    With `with_bands` the same pass also measures Band I/II (`firmware.kernels.bands`, no
    Monte-Carlo) on the band grid `b_grid` (taps `band_taps, band_w`; `tie_j, search_j` from
    `band_indices`): two more outputs, band values (N, N_OUT) and status (N, 2); without,
    they are empty (0 rows). The band stage shares the row reads and the transposed block.
    """
    n = reflectance.shape[0]
    nb = reflectance.shape[1]
    g = grid.shape[0]
    gf = fine_grid.shape[0]
    nf = f_starts.shape[0]
    ntm = tmpl_mean.shape[0]
    npc = eig.shape[0]
    # outputs are initialised chunk by chunk inside the parallel loop: first touch of their
    # pages (page faults, zeroing) then runs on every thread instead of serially here
    cls = np.empty(n, np.int64)
    wflag = np.empty(n, np.bool_)
    slope = np.empty(n)
    pc = np.empty((n, npc))
    chi2 = np.empty((n, ntm), dtype=np.float32)
    feats = np.empty((n, nf, 4))
    status = np.empty(n, np.int64)
    edge = np.empty(n, np.bool_)
    indet = np.empty(n, np.bool_)
    cov = np.empty((n, 2))
    thermal = np.empty((n, 2))
    nbo = n if with_bands else 0
    b_out = np.empty((nbo, N_OUT))
    b_status = np.empty((nbo, 2), np.int64)
    gb = b_grid.shape[0]
    n_coef = max(pinv1.shape[0], pinv2.shape[0])
    chunk = (n + n_chunks - 1) // n_chunks
    for ch in prange(n_chunks):
        row = np.empty(nb)
        erow = np.empty(nb)
        r41 = np.empty(g)
        e41 = np.empty(g)
        fine = np.empty(gf)
        rprime = np.empty(g)
        coef = np.empty(2 * f_pinv.shape[2])
        c2 = np.empty(ntm)
        det = np.empty(nf)
        # block scratch
        rows = np.empty(BLOCK, np.int64)
        x_t = np.empty((nb, BLOCK))
        r_t = np.empty((g, BLOCK))
        e_t = np.empty((g, BLOCK))
        fine_t = np.empty((gf, BLOCK))
        rprime_t = np.empty((g, BLOCK))
        pc_t = np.empty((npc, BLOCK))
        chi2_t = np.empty((ntm, BLOCK))
        feat_t = np.empty((nf, 4, BLOCK))
        fwork = np.empty((F_ROWS, BLOCK))
        work = np.empty((BLOCK_SCRATCH_ROWS, BLOCK))
        pcs = np.empty(npc)
        b_cls = np.empty(BLOCK, np.int64)
        b_w = np.empty(BLOCK, np.bool_)
        b_slope = np.empty(BLOCK)
        b_indet = np.empty(BLOCK, np.bool_)
        b_ex = np.empty(BLOCK)
        b_tk = np.empty(BLOCK)
        b_t = np.empty((gb if with_bands else 0, BLOCK))
        rb = np.empty(gb)
        crb = np.empty(gb)
        ties = np.empty(3, np.int64)
        bcoef = np.empty(n_coef)
        best = np.empty(BLOCK)
        ties_t = np.empty((3, BLOCK), np.int64)
        i = ch * chunk
        end = min(n, (ch + 1) * chunk)
        for r in range(i, end):
            cls[r] = INDETERMINATE
            wflag[r] = False
            slope[r] = np.nan
            for k in range(npc):
                pc[r, k] = np.nan
            for k in range(ntm):
                chi2[r, k] = np.nan
            status[r] = 0
            edge[r] = False
            indet[r] = False
            thermal[r, 0] = 0.0
            thermal[r, 1] = np.nan
        while i < end:
            ns = 0
            while i < end and ns < BLOCK:
                count = _load_column(reflectance, i, x_t, ns) if block_ok else 0
                if count == nb:
                    rows[ns] = i
                    if has_err:
                        for j in range(nb):
                            v = error[i, j]
                            erow[j] = v if v > 0.0 else np.nan
                        _resample_binned_one(wavelength_um, erow, grid, half_width_um, e41)
                        for k in range(g):
                            e_t[k, ns] = e41[k]
                    ns += 1
                else:
                    count = _load_row(reflectance, i, row)
                    _one_spectrum(
                        i, wavelength_um, row, count, error, has_err, grid, half_width_um,
                        fine_grid, fine_half_width_um, f_starts, f_lengths, f_pinv, f_vander,
                        f_mid, f_half, f_centre, f_tol, eig, mean, tmpl_mean, tmpl_sigma,
                        tmpl_inv_var, tmpl_sr, th_table, th_temps, th_index, th_gram,
                        k_min_depth, max_edge_steps, max_gap_um, min_points, erow, r41, e41,
                        fine, rprime, coef, c2, det, cls, wflag, slope, pc, chi2, feats,
                        status, edge, indet, cov, thermal,
                    )  # fmt: skip
                    if with_bands:
                        _resample_binned_one(wavelength_um, row, b_grid, b_half_width_um, rb)
                        bands_one(b_grid, rb, tie_j, search_j, search_lo, search_hi, pinv1,
                                  pinv2, ties, crb, bcoef, b_out[i], b_status[i])  # fmt: skip
                i += 1
            if ns == 0:
                continue
            taps_block(x_t, ns, taps41, w41, r_t)
            taps_block(x_t, ns, tapsf, wf, fine_t)
            if with_bands:
                taps_block(x_t, ns, band_taps, band_w, b_t)
                bands_of_block(b_t, ns, rows, b_grid, tie_j, search_j, search_lo, search_hi,
                               pinv1, pinv2, rb, crb, ties, bcoef, best, ties_t, b_out,
                               b_status)  # fmt: skip
            features_block(fine_t, ns, win_ok, f_starts, f_lengths, f_pinv, f_vander, f_grams,
                           f_mid, f_half, f_centre, f_tol, fwork, feat_t)  # fmt: skip
            for s in range(ns):
                if feat_t[FK, 3, s] == 1.0 and feat_t[FK, 0, s] < k_min_depth:
                    feat_t[FK, 3, s] = 0.0
            grid_block(r_t, e_t, ns, has_err, feat_t[:, 3, :], grid, eig, mean, tmpl_mean,
                       tmpl_sigma, tmpl_inv_var, tmpl_sr, th_table, th_temps, th_index, th_gram,
                       all_chi2, work, rprime_t, pc_t, chi2_t, pcs, c2, b_cls, b_w, b_slope,
                       b_indet, b_ex, b_tk)  # fmt: skip
            for s in range(ns):
                r = rows[s]
                cov[r, 0] = wavelength_um[0]
                cov[r, 1] = wavelength_um[nb - 1]
                for f in range(nf):
                    for c in range(4):
                        feats[r, f, c] = feat_t[f, c, s]
                cls[r] = b_cls[s]
                wflag[r] = b_w[s]
                slope[r] = b_slope[s]
                edge[r] = edge_uniform
                indet[r] = b_indet[s]
                thermal[r, 0] = b_ex[s]
                thermal[r, 1] = b_tk[s]
                for k in range(npc):
                    pc[r, k] = pc_t[k, s]
                if all_chi2 or b_indet[s]:
                    for k in range(ntm):
                        chi2[r, k] = chi2_t[k, s]
    return cls, wflag, slope, pc, chi2, feats, status, edge, indet, cov, thermal, b_out, b_status

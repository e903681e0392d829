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

BLOCK = 96  # spectra per SIMD block: each loop over the block pays its set-up (alias checks,
# remainder) once per 96 spectra; the scratch (~0.4 MB per chunk) stays in L2. 32 → 96: −6 %
# per spectrum on one thread (round 8); the band pipeline measured no gain and keeps 32


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
def _one_spectrum(i, o, wavelength_um, row, count, error, has_err, grid, half_width_um,
                  fine_grid, fine_half_width_um, f_starts, f_lengths, f_pinv, f_vander, f_mid,
                  f_half, f_centre, f_tol, eig, mean, tmpl_mean, tmpl_sigma, tmpl_inv_var,
                  tmpl_sr, th_table, th_temps, th_index, th_gram, k_min_depth, max_edge_steps,
                  max_gap_um, min_points, erow, r41, e41, fine, rprime, coef, c2, det, cls,
                  wflag, slope, pc, chi2, feats, status, edge, indet, cov, thermal):  # fmt: skip
    """The per-spectrum path for row i (`row`: float64, NaN = missing, `count` valid): class,
    w, slope, pc and status go to row i, the report (χ², features, flags, coverage, thermal)
    to row o of its arrays (i, or 0 of one-row scratch in the classes-only mode)."""
    g = grid.shape[0]
    nb = row.shape[0]
    first, last, gap, _count = coverage_one(wavelength_um, row, grid[0], grid[g - 1])
    cov[o, 0] = first
    cov[o, 1] = last
    _resample_binned_one(wavelength_um, row, fine_grid, fine_half_width_um, fine)
    features_one(fine, f_starts, f_lengths, f_pinv, f_vander, f_mid, f_half, f_centre, f_tol,
                 coef, feats[o])  # fmt: skip
    if feats[o, FK, 3] == 1.0 and feats[o, FK, 0] < k_min_depth:
        feats[o, FK, 3] = 0.0
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
        det[f] = feats[o, f, 3]
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
    edge[o] = filled > 0
    indet[o] = ind
    thermal[o, 0] = ex
    thermal[o, 1] = tk
    for k in range(c2.shape[0]):
        chi2[o, k] = c2[k]


@njit_leaf
def _load_row(reflectance, i, row):
    """Copy row i into `row` (float64 here; the Mahlke binning keeps the input dtype) with
    ≤ 0 and NaN as NaN (missing); return the valid count."""
    count = 0
    for j in range(row.shape[0]):
        v = reflectance[i, j]
        ok = v > 0.0
        row[j] = v if ok else np.nan
        count += 1 if ok else 0
    return count


@njit_leaf
def _load_staged(reflectance, i, x_rows, s):
    """Copy row i into row s of the staging block x_rows (float64); return how many values
    are > 0 (the row is complete when all are: NaN and ≤ 0 are missing). Contiguous on both
    sides, so the copy and the count run in SIMD."""
    count = 0
    row = x_rows[s]
    for j in range(row.shape[0]):
        v = reflectance[i, j]
        row[j] = v
        count += 1 if v > 0.0 else 0
    return count


@njit_leaf
def transpose_block(x_rows, ns, x_t):
    """x_t[j, s] = x_rows[s, j] for the block's ns rows: spectra become the fast axis."""
    for j in range(x_t.shape[0]):
        xj = x_t[j]
        for s in range(ns):
            xj[s] = x_rows[s, j]


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


@njit_leaf
def init_rows(r0, r1, cls, wflag, slope, pc, status):
    """Rows r0..r1−1 of the class outputs before classification: not classified yet."""
    for r in range(r0, r1):
        cls[r] = INDETERMINATE
        wflag[r] = False
        slope[r] = np.nan
        for k in range(pc.shape[1]):
            pc[r, k] = np.nan
        status[r] = OK


@njit_leaf
def init_report_rows(r0, r1, chi2, edge, indet, thermal):
    """Rows r0..r1−1 of the report outputs: no χ², no flags, no thermal tail."""
    for r in range(r0, r1):
        for k in range(chi2.shape[1]):
            chi2[r, k] = np.nan
        edge[r] = False
        indet[r] = False
        thermal[r, 0] = 0.0
        thermal[r, 1] = np.nan


@njit_parallel
def bus_demeo_pipeline(
    wavelength_um, reflectance, error, has_err,
    grid, half_width_um, fine_grid, fine_half_width_um, taps41, w41, tapsf, wf, block_ok,
    edge_uniform, win_ok,
    f_starts, f_lengths, f_pinv, f_vander, f_grams, f_mid, f_half, f_centre, f_tol,
    eig, mean, tmpl_mean, tmpl_sigma, tmpl_inv_var, tmpl_sr, th_table, th_temps, th_index, th_gram,
    k_min_depth, max_edge_steps, max_gap_um, min_points, all_chi2,
    b_grid, b_half_width_um, band_taps, band_w, tie_j, search_j, search_lo, search_hi,
    pinv1, pinv2, n_chunks,
    cls, wflag, slope, pc, chi2, feats, status, edge, indet, cov, thermal, b_out, b_status,
):  # fmt: skip
    """Classify (N, B) spectra sharing `wavelength_um` (B,) µm; float32 or float64 input.

    `error` is (N, B) 1σ (read only when has_err). `taps41, w41` and `tapsf, wf` are the
    `resample_taps` maps of complete rows to the 41-point grid (edge points already mapped
    to the edge value, MAX_EDGE_STEPS) and to the fine grid; `block_ok` says that the shared
    axis lets a complete row be classified (coverage, gaps), `edge_uniform` that its grid
    edges were held, `win_ok` (3,) which feature
    windows it covers. A k band shallower than `k_min_depth` is not counted (its detected
    flag is cleared). Without `all_chi2` the template χ² of a complete row is computed only
    when the tree needs it (indeterminate), and only the C/X classes'; the others come back
    NaN. Writes the outputs allocated by `pipeline_outputs`: class (N,), w (N,), slope (N,),
    pc (N, 5), chi2 (N, 25) float32, features (N, 3, 4), status (N,), edge_filled (N,), indeterminate (N,), coverage
    (N, 2) first/last µm, thermal (N, 2) excess removed at 2.45 µm and temperature K (0, NaN
    = no tail); the classes-only mode passes chi2 … thermal with no rows and gets only
    class, w, slope, pc and status.

    When b_out has a row per spectrum the same pass also measures Band I/II
    (`firmware.kernels.bands`, no Monte-Carlo) on the band grid `b_grid` (taps `band_taps,
    band_w`; `tie_j, search_j` from `band_indices`) into b_out (N, N_OUT) and b_status (N, 2);
    the band stage shares the row reads and the transposed block. Without (0 rows), the band
    arguments are unused.
    """
    n = reflectance.shape[0]
    nb = reflectance.shape[1]
    g = grid.shape[0]
    gf = fine_grid.shape[0]
    nf = f_starts.shape[0]
    ntm = tmpl_mean.shape[0]
    npc = eig.shape[0]
    # The outputs come from the caller: numpy allocates them and, for large arrays, asks the
    # kernel for transparent huge pages (numba's runtime allocator does not). They are
    # initialised chunk by chunk inside the parallel loop, so their first touch runs on every
    # thread. Which outputs exist says what to compute:
    # - the report (χ², features, flags, coverage, thermal) only when chi2 has a row per
    #   spectrum; the classes-only mode passes them with no rows: the block path skips them
    #   and the per-spectrum path writes them to one-row scratch (`scratch_*`, row 0);
    # - the Band I/II analysis only when b_out has a row per spectrum.
    report = chi2.shape[0] == n
    with_bands = b_out.shape[0] == n
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
        x_rows = np.empty((BLOCK, nb))
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
        b_rows = np.empty((BLOCK if with_bands else 0, gb))
        crb = np.empty(gb)
        ties = np.empty(3, np.int64)
        bcoef = np.empty(n_coef)
        best = np.empty(BLOCK)
        ties_t = np.empty((3, BLOCK), np.int64)
        # where the per-spectrum path writes the report: the outputs, or one-row scratch
        r_chi2 = chi2 if report else np.empty((1, ntm), np.float32)
        r_feats = feats if report else np.empty((1, nf, 4))
        r_edge = edge if report else np.empty(1, np.bool_)
        r_indet = indet if report else np.empty(1, np.bool_)
        r_cov = cov if report else np.empty((1, 2))
        r_thermal = thermal if report else np.empty((1, 2))
        i = ch * chunk
        end = min(n, (ch + 1) * chunk)
        init_rows(i, end, cls, wflag, slope, pc, status)
        if report:
            init_report_rows(i, end, chi2, edge, indet, thermal)
        while i < end:
            ns = 0
            while i < end and ns < BLOCK:
                count = _load_staged(reflectance, i, x_rows, ns) if block_ok else 0
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
                    r_row = i if report else 0  # the report's row (numba: not inside the call)
                    _one_spectrum(
                        i, r_row, wavelength_um, row, count, error, has_err, grid,
                        half_width_um, fine_grid, fine_half_width_um, f_starts, f_lengths,
                        f_pinv, f_vander, f_mid, f_half, f_centre, f_tol, eig, mean, tmpl_mean,
                        tmpl_sigma, tmpl_inv_var, tmpl_sr, th_table, th_temps, th_index,
                        th_gram, k_min_depth, max_edge_steps, max_gap_um, min_points, erow, r41,
                        e41, fine, rprime, coef, c2, det, cls, wflag, slope, pc, r_chi2,
                        r_feats, status, r_edge, r_indet, r_cov, r_thermal,
                    )  # fmt: skip
                    if with_bands:
                        _resample_binned_one(wavelength_um, row, b_grid, b_half_width_um, rb)
                        bands_one(b_grid, rb, tie_j, search_j, search_lo, search_hi, pinv1,
                                  pinv2, ties, crb, bcoef, b_out[i], b_status[i])  # fmt: skip
                i += 1
            if ns == 0:
                continue
            transpose_block(x_rows, ns, x_t)
            taps_block(x_t, ns, taps41, w41, r_t)
            taps_block(x_t, ns, tapsf, wf, fine_t)
            if with_bands:
                taps_block(x_t, ns, band_taps, band_w, b_t)
                bands_of_block(b_t, ns, rows, b_grid, tie_j, search_j, search_lo, search_hi,
                               pinv1, pinv2, b_rows, crb, ties, bcoef, best, ties_t, b_out,
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
                cls[r] = b_cls[s]
                wflag[r] = b_w[s]
                slope[r] = b_slope[s]
                for k in range(npc):
                    pc[r, k] = pc_t[k, s]
                if not report:
                    continue
                cov[r, 0] = wavelength_um[0]
                cov[r, 1] = wavelength_um[nb - 1]
                for f in range(nf):
                    for c in range(4):
                        feats[r, f, c] = feat_t[f, c, s]
                edge[r] = edge_uniform
                indet[r] = b_indet[s]
                thermal[r, 0] = b_ex[s]
                thermal[r, 1] = b_tk[s]
                if all_chi2 or b_indet[s]:
                    for k in range(ntm):
                        chi2[r, k] = chi2_t[k, s]


def output_layout(n: int, n_pc: int, n_templates: int, n_features: int, report: bool = True,
                  with_bands: bool = False) -> tuple:  # fmt: skip
    """(shape, dtype) of each output of `bus_demeo_pipeline` for n spectra, in its argument
    order. Without `report` the χ², features, flags, coverage and thermal outputs have no
    rows; without `with_bands` the band outputs have none."""
    nr = n if report else 0
    nbo = n if with_bands else 0
    f8, i8, b1 = np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_)
    return (
        ((n,), i8), ((n,), b1), ((n,), f8), ((n, n_pc), f8), ((nr, n_templates), np.dtype(np.float32)),
        ((nr, n_features, 4), f8), ((n,), i8), ((nr,), b1), ((nr,), b1), ((nr, 2), f8),
        ((nr, 2), f8), ((nbo, N_OUT), f8), ((nbo, 2), i8),
    )  # fmt: skip


def pipeline_outputs(n: int, n_pc: int, n_templates: int, n_features: int, report: bool = True,
                     with_bands: bool = False) -> tuple:  # fmt: skip
    """The output arrays of `bus_demeo_pipeline` for n spectra (`output_layout`), allocated by
    numpy (see the kernel: numpy gives large arrays transparent huge pages)."""
    layout = output_layout(n, n_pc, n_templates, n_features, report, with_bands)
    return tuple(np.empty(shape, dtype) for shape, dtype in layout)

"""Band analysis of (N, B) spectra on one shared axis: the parallel driver of kernels/bands.py.

Survey rows (no missing value, no Monte-Carlo draws) are gathered into blocks of BLOCK
spectra stored transposed (band × spectrum) and resampled onto the band grid by the
branch-free sparse map of `resample_taps`, vectorised across the block; then `bands_one`
runs on each spectrum's grid values. Rows with holes, and every row when Monte-Carlo σ are
asked for, take the per-spectrum path (binned resampling with holes, then the draws).
Both paths do the same arithmetic per spectrum. Scratch is per chunk, none per spectrum.
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_parallel, njit_serial, prange
from firmware.kernels.bands import N_OUT, bands_of_block, bands_one
from firmware.kernels.noise import der_snr_noise
from firmware.kernels.pipeline import _load_staged, taps_block, transpose_block
from firmware.kernels.resample import _resample_binned_one, resample_planned_one

BLOCK = 32  # spectra per block; 96 (the Bus-DeMeo pipeline's) measured 1384 → 1398 ns per spectrum


@njit_serial
def _to_grid(wavelength_um, row, complete, grid, half_width_um, plan_idx, plan_t, r):
    if complete:
        resample_planned_one(row, plan_idx, plan_t, r)
    else:
        _resample_binned_one(wavelength_um, row, grid, half_width_um, r)


@njit_parallel
def band_pipeline(
    wavelength_um, reflectance, error, has_err, grid, half_width_um, plan_idx, plan_t, taps, w,
    tie_j, search_j, search_lo, search_hi, pinv1, pinv2, z, n_chunks,
):  # fmt: skip
    """Band parameters of (N, B) spectra on the shared ascending axis `wavelength_um` (B,).

    ≤ 0 and NaN → missing. `plan_idx, plan_t` (`resample_plan`) and `taps, w`
    (`resample_taps`) resample a complete row onto the band grid; `tie_j, search_j` are the
    index ranges of `band_indices()`. With `z` (n_mc, B) standard normal draws (n_mc ≥ 1), a
    Monte-Carlo σ per column: the row is perturbed by σⱼ·z[k, j] on its own axis — σⱼ from
    `error` (read when has_err; ≤ 0 or NaN = unknown) or else the DER_SNR estimate —
    resampled and analysed again; σ = the standard deviation of the draws, NaN when fewer
    than half the draws give a value.
    Returns out (N, N_OUT), sigma (N, N_OUT), status (N, 2), noise (N,) (the σ used when no
    error column; NaN otherwise or without Monte-Carlo).
    """
    n = reflectance.shape[0]
    nb = reflectance.shape[1]
    g = grid.shape[0]
    n_mc = z.shape[0]
    n_coef = max(pinv1.shape[0], pinv2.shape[0])
    out = np.empty((n, N_OUT))
    sig = np.full((n, N_OUT), np.nan)
    status = np.empty((n, 2), np.int64)
    noise = np.full(n, np.nan)
    chunk = (n + n_chunks - 1) // n_chunks
    for ch in prange(n_chunks):
        row = np.empty(nb)
        sj = np.empty(nb)
        pert = np.empty(nb)
        scratch = np.empty(2 * nb)
        r = np.empty(g)
        cr = np.empty(g)
        ties = np.empty(3, np.int64)
        coef = np.empty(n_coef)
        tmp = np.empty(N_OUT)
        st = np.empty(2, np.int64)
        acc = np.empty(N_OUT)
        acc2 = np.empty(N_OUT)
        cnt = np.empty(N_OUT, np.int64)
        rows = np.empty(BLOCK, np.int64)
        x_t = np.empty((nb, BLOCK))
        x_rows = np.empty((BLOCK, nb))
        b_t = np.empty((g, BLOCK))
        b_rows = np.empty((BLOCK, g))
        best = np.empty(BLOCK)
        ties_t = np.empty((3, BLOCK), np.int64)
        i = ch * chunk
        end = min(n, (ch + 1) * chunk)
        while i < end:
            ns = 0
            while i < end and ns < BLOCK:
                if n_mc == 0 and _load_staged(reflectance, i, x_rows, ns) == nb:
                    rows[ns] = i
                    ns += 1
                    i += 1
                    continue
                count = 0
                for j in range(nb):
                    v = reflectance[i, j]
                    if v > 0.0:
                        row[j] = v
                        count += 1
                    else:
                        row[j] = np.nan
                complete = count == nb
                _to_grid(wavelength_um, row, complete, grid, half_width_um, plan_idx, plan_t, r)
                bands_one(grid, r, tie_j, search_j, search_lo, search_hi, pinv1, pinv2, ties, cr,
                          coef, out[i], status[i])  # fmt: skip
                if n_mc == 0 or count < 5:
                    i += 1
                    continue
                est = np.nan
                if not has_err:
                    est = der_snr_noise(row, scratch)
                    noise[i] = est
                for j in range(nb):
                    s = est
                    if has_err:
                        e = error[i, j]
                        s = e if e > 0.0 else np.nan
                    sj[j] = s if not np.isnan(s) else 0.0
                for c in range(N_OUT):
                    acc[c] = 0.0
                    acc2[c] = 0.0
                    cnt[c] = 0
                for k in range(n_mc):
                    for j in range(nb):
                        pert[j] = row[j] + sj[j] * z[k, j]
                    _to_grid(wavelength_um, pert, complete, grid, half_width_um, plan_idx, plan_t, r)
                    bands_one(grid, r, tie_j, search_j, search_lo, search_hi, pinv1, pinv2, ties,
                              cr, coef, tmp, st)  # fmt: skip
                    for c in range(N_OUT):
                        d = tmp[c] - out[i, c]  # deviations from the nominal value: no cancellation
                        if not np.isnan(d):
                            acc[c] += d
                            acc2[c] += d * d
                            cnt[c] += 1
                for c in range(N_OUT):
                    if cnt[c] >= (n_mc + 1) // 2 and cnt[c] >= 2:
                        mu = acc[c] / cnt[c]
                        sig[i, c] = np.sqrt(max(acc2[c] / cnt[c] - mu * mu, 0.0) * cnt[c] / (cnt[c] - 1))
                i += 1
            if ns > 0:
                transpose_block(x_rows, ns, x_t)
                taps_block(x_t, ns, taps, w, b_t)
                bands_of_block(b_t, ns, rows, grid, tie_j, search_j, search_lo, search_hi,
                               pinv1, pinv2, b_rows, cr, ties, coef, best, ties_t, out, status)  # fmt: skip
    return out, sig, status, noise

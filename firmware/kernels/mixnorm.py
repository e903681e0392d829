"""Mahlke 2022 preprocessing kernels: the 53-bin grid and the mixnorm normalisation.

`bin_spectra` averages each spectrum onto the grid (mean of the valid samples within ± half a
bin step of the centre; an empty bin is interpolated only across holes ≤ `max_gap_um`; NaN
outside the observed range — no extrapolation).

`mixnorm_batch` is classy's normalisation of a new spectrum (`mixnorm.py::normalize`,
shared/notes/science.md §2.2): among the reference spectra that cover every observed bin,
find the 5 nearest in L2 distance after L2-normalising both over the observed bins; the log
offset α is the mean α of those 5; the reflectance is rescaled so its mean over the observed
bins equals the neighbours' mean over the same bins; x = ln R − α.

One deliberate difference from classy: classy takes the neighbours' mean over *all* their
bins (`np.nanmean` of the DataFrame). For a partial spectrum that mixes in bins the spectrum
does not have. Measured on the 155 DeMeo 2009 raw spectra that are in the published sample
(leave-one-asteroid-out, spectra cut at 0.95 µm), the mean level error against the published
features is 0.057 (observed bins) versus 0.119 (all bins), and the published class is kept
for 87 % versus 77 % of them; for full spectra the two agree.

Cost per spectrum: one pass over the references that cover the observed bins (a 64-bit
coverage mask skips the others): a dot product and a norm over the observed bins, as a
unit-stride loop when the observed bins have no holes (the usual case) so it vectorises.
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_parallel, njit_serial, prange

OK = 0
TOO_FEW_BINS = 1
NO_REFERENCE = 2


@njit_serial
def bin_one(wavelength_um, reflectance, grid_um, half_width_um, max_gap_um, out):
    """Bin one spectrum (ascending axis; NaN or ≤ 0 reflectance = missing) onto the grid."""
    n_in = wavelength_um.shape[0]
    first = -1
    last = -1
    for j in range(n_in):
        v = reflectance[j]
        if v > 0.0:  # False for NaN
            if first < 0:
                first = j
            last = j
    start = 0
    for k in range(grid_um.shape[0]):
        g = grid_um[k]
        if first < 0 or g < wavelength_um[first] - 1e-9 or g > wavelength_um[last] + 1e-9:
            out[k] = np.nan
            continue
        lo_w = g - half_width_um[k] - 1e-9
        hi_w = g + half_width_um[k] + 1e-9
        while start < n_in and wavelength_um[start] < lo_w:
            start += 1
        acc = 0.0
        cnt = 0
        j = start
        while j < n_in and wavelength_um[j] <= hi_w:
            v = reflectance[j]
            if v > 0.0:
                acc += v
                cnt += 1
            j += 1
        if cnt > 0:
            out[k] = acc / cnt
            continue
        lo = start - 1  # nearest valid sample below the window
        while lo >= 0 and not reflectance[lo] > 0.0:
            lo -= 1
        hi = j  # nearest valid sample above the window
        while hi < n_in and not reflectance[hi] > 0.0:
            hi += 1
        if lo < 0 or hi >= n_in or wavelength_um[hi] - wavelength_um[lo] > max_gap_um + 1e-9:
            out[k] = np.nan
        else:
            t = (g - wavelength_um[lo]) / (wavelength_um[hi] - wavelength_um[lo])
            out[k] = reflectance[lo] + t * (reflectance[hi] - reflectance[lo])


@njit_parallel
def bin_spectra(wavelength_um, reflectance, grid_um, half_width_um, max_gap_um):
    """(N, B) spectra on a shared ascending axis → (N, G) float64 bins (any float input dtype)."""
    n = reflectance.shape[0]
    out = np.empty((n, grid_um.shape[0]))
    for i in prange(n):
        bin_one(wavelength_um, reflectance[i], grid_um, half_width_um, max_gap_um, out[i])
    return out


def coverage_masks(binned: np.ndarray) -> np.ndarray:
    """One uint64 per row: bit b set where bin b is finite (the grid has ≤ 64 bins)."""
    bits = np.left_shift(np.uint64(1), np.arange(binned.shape[1], dtype=np.uint64))
    return np.bitwise_or.reduce(np.where(np.isfinite(binned), bits, np.uint64(0)), axis=1)


@njit_serial
def mixnorm_one(row, ref, ref_alpha, ref_mask, ref_inv_norm, n_neighbours, min_bins, obs, best_d,
                best_j, out):  # fmt: skip
    """Normalise one binned spectrum; returns (status, α). `ref_inv_norm` holds 1/‖ref_o‖ of
    every reference over this row's observed set (from `set_norms`), or is empty to compute
    them here. `obs`, `best_d`, `best_j` are scratch of length ≥ n_bins, n_neighbours,
    n_neighbours; `out` gets x = ln R − α (NaN = missing), all-NaN when refused."""
    n_bins = row.shape[0]
    n_obs = 0
    mask = np.uint64(0)
    norm2 = 0.0
    mean_r = 0.0
    for b in range(n_bins):
        out[b] = np.nan
        if np.isfinite(row[b]):
            obs[n_obs] = b
            n_obs += 1
            mask |= np.uint64(1) << np.uint64(b)
            norm2 += row[b] * row[b]
            mean_r += row[b]
    if n_obs < min_bins or n_obs == 0:
        return TOO_FEW_BINS, np.nan
    mean_r /= n_obs
    inv_norm = 1.0 / np.sqrt(norm2)
    for m in range(n_neighbours):
        best_d[m] = np.inf
        best_j[m] = -1
    lo = obs[0]
    hi = obs[n_obs - 1] + 1
    contiguous = hi - lo == n_obs  # no holes: unit-stride loop the compiler vectorises
    have_norms = ref_inv_norm.shape[0] > 0
    for j in range(ref.shape[0]):
        if (ref_mask[j] & mask) != mask:
            continue  # the reference misses an observed bin
        dot = 0.0
        rr = 0.0
        if contiguous and have_norms:
            for b in range(lo, hi):
                dot += row[b] * ref[j, b]
        elif contiguous:
            for b in range(lo, hi):
                v = ref[j, b]
                dot += row[b] * v
                rr += v * v
        else:
            for m in range(n_obs):
                v = ref[j, obs[m]]
                dot += row[obs[m]] * v
                rr += v * v
        inv_ref = ref_inv_norm[j] if have_norms else 1.0 / np.sqrt(rr)
        # squared L2 distance of the two unit vectors = 2 − 2 cos
        d = 2.0 - 2.0 * dot * inv_norm * inv_ref
        if d < best_d[n_neighbours - 1]:
            m = n_neighbours - 1
            while m > 0 and d < best_d[m - 1]:
                best_d[m] = best_d[m - 1]
                best_j[m] = best_j[m - 1]
                m -= 1
            best_d[m] = d
            best_j[m] = j
    if best_j[n_neighbours - 1] < 0:
        return NO_REFERENCE, np.nan
    alpha = 0.0
    ref_mean = 0.0
    for m in range(n_neighbours):
        j = best_j[m]
        alpha += ref_alpha[j]
        for q in range(n_obs):
            ref_mean += ref[j, obs[q]]
    alpha /= n_neighbours
    ref_mean /= n_neighbours * n_obs
    shift = np.log(ref_mean / mean_r) - alpha
    for m in range(n_obs):
        b = obs[m]
        out[b] = np.log(row[b]) + shift
    return OK, alpha


@njit_parallel
def mixnorm_batch(binned, ref, ref_alpha, ref_mask, n_neighbours, min_bins, set_id, set_inv_norm):
    """(N, 53) binned linear reflectance → x (N, 53), α (N,), neighbours (N, k), status (N,).
    set_id (N,) indexes set_inv_norm (M, n_ref) from `set_norms`; −1 = compute per row."""
    n, n_bins = binned.shape
    no_norms = np.empty(0)
    x = np.empty((n, n_bins))
    alpha = np.empty(n)
    status = np.empty(n, np.int64)
    neighbours = np.full((n, n_neighbours), -1, np.int64)
    for i in prange(n):
        obs = np.empty(n_bins, np.int64)
        best_d = np.empty(n_neighbours)
        best_j = np.empty(n_neighbours, np.int64)
        norms = set_inv_norm[set_id[i]] if set_id[i] >= 0 else no_norms
        s, a = mixnorm_one(binned[i], ref, ref_alpha, ref_mask, norms, n_neighbours, min_bins,
                           obs, best_d, best_j, x[i])  # fmt: skip
        status[i] = s
        alpha[i] = a
        if s == OK:
            for m in range(n_neighbours):
                neighbours[i, m] = best_j[m]
    return x, alpha, neighbours, status


def set_norms(binned: np.ndarray, ref: np.ndarray, max_sets: int = 64):
    """For the `max_sets` commonest sets of observed bins in the batch: 1/‖ref_o‖ of every
    reference over that set (NaN where it misses a bin). Returns (set_id (N,), (M, n_ref));
    rows of rarer sets get −1 and compute the norms themselves."""
    from firmware.kernels.mcfa import observed_sets

    sets, set_id = observed_sets(binned, max_sets)
    sets = sets[:-1]  # observed_sets appends the all-observed set for the MCFA; not needed here
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = (
            np.stack([1.0 / np.sqrt((ref[:, s] ** 2).sum(axis=1)) for s in sets])
            if len(sets)
            else np.empty((0, ref.shape[0]))
        )
    return set_id, np.ascontiguousarray(inv)


def normalise(binned: np.ndarray, model, n_neighbours: int, min_bins: int, ref_mask=None):
    """`mixnorm_batch` with the per-set reference norms of the batch (the common entry point).
    `ref_mask` defaults to the model's coverage masks (pass emptied masks to exclude)."""
    masks = model.reference_masks if ref_mask is None else ref_mask
    set_id, inv = set_norms(binned, model.reference_reflectance)
    return mixnorm_batch(binned, model.reference_reflectance, model.reference_alpha, masks,
                         n_neighbours, min_bins, set_id, inv)  # fmt: skip

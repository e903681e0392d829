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

Cost: spectra are grouped by their set of observed bins (`normalise` plans it). For a common
set the reference norms over it are computed once (`set_inv_norms`) and the spectra are
scored in tiles of TILE: each reference value is loaded once per tile and feeds TILE
independent accumulators (a small matrix product); a 64-bit coverage mask skips references
that miss an observed bin; a spectrum's 5 best are kept by insertion behind a cheap test.
Rows of rare sets are scored alone with the norms computed on the fly. One core: ~11 µs
per complete spectrum (593 covering references), from ~45 µs for the plain row loop.

The kernels (`mixnorm_batch` and its helpers) only do arithmetic; `normalise`, `plan_tiles`
and `set_norms` prepare their inputs.
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


TILE = 8  # spectra of one observed set scored together: each reference value is loaded once


@njit_serial
def _prepare(row, min_bins, obs, out):
    """Observed bins of one row → (status, n_obs, coverage mask, 1/‖row_o‖, mean of row_o);
    `out` is set to NaN (filled by `_finish`)."""
    n_obs = 0
    mask = np.uint64(0)
    norm2 = 0.0
    mean_r = 0.0
    for b in range(row.shape[0]):
        out[b] = np.nan
        if np.isfinite(row[b]):
            obs[n_obs] = b
            n_obs += 1
            mask |= np.uint64(1) << np.uint64(b)
            norm2 += row[b] * row[b]
            mean_r += row[b]
    if n_obs < min_bins or n_obs == 0:
        return TOO_FEW_BINS, n_obs, mask, np.nan, np.nan
    return OK, n_obs, mask, 1.0 / np.sqrt(norm2), mean_r / n_obs


@njit_serial
def _insert(best_d, best_j, r, d, j):
    """Keep row r's k smallest distances in best_d[r] (ascending; ties keep the lower
    reference index). 2-D arrays and a row index, not row views: a view per call cost more
    than the distances themselves."""
    k = best_d.shape[1]
    if d < best_d[r, k - 1]:
        m = k - 1
        while m > 0 and d < best_d[r, m - 1]:
            best_d[r, m] = best_d[r, m - 1]
            best_j[r, m] = best_j[r, m - 1]
            m -= 1
        best_d[r, m] = d
        best_j[r, m] = j


@njit_serial
def _finish(row, ref, ref_alpha, obs, n_obs, mean_r, best_j, out):
    """α = mean α of the neighbours; rescale to their mean level over the observed bins;
    x = ln R − α into `out`. Returns (status, α)."""
    k = best_j.shape[0]
    if best_j[k - 1] < 0:
        return NO_REFERENCE, np.nan
    alpha = 0.0
    ref_mean = 0.0
    for m in range(k):
        j = best_j[m]
        alpha += ref_alpha[j]
        for q in range(n_obs):
            ref_mean += ref[j, obs[q]]
    alpha /= k
    ref_mean /= k * n_obs
    shift = np.log(ref_mean / mean_r) - alpha
    for m in range(n_obs):
        out[obs[m]] = np.log(row[obs[m]]) + shift
    return OK, alpha


@njit_serial
def mixnorm_one(row, ref, ref_alpha, ref_mask, min_bins, obs, best_d, best_j, out):
    """Normalise one binned spectrum on its own (norms of the references computed here);
    returns (status, α). Scratch: `obs` (n_bins), `best_d`, `best_j` (≥ 1, k) — row 0 is
    used; `out` gets x = ln R − α (NaN = missing), all-NaN when refused."""
    status, n_obs, mask, inv_norm, mean_r = _prepare(row, min_bins, obs, out)
    if status != OK:
        return status, np.nan
    best_d[0, :] = np.inf
    best_j[0, :] = -1
    for j in range(ref.shape[0]):
        if (ref_mask[j] & mask) != mask:
            continue  # the reference misses an observed bin
        dot = 0.0
        rr = 0.0
        for m in range(n_obs):
            v = ref[j, obs[m]]
            dot += row[obs[m]] * v
            rr += v * v
        # squared L2 distance of the two unit vectors = 2 − 2 cos
        _insert(best_d, best_j, 0, 2.0 - 2.0 * dot * inv_norm / np.sqrt(rr), j)
    return _finish(row, ref, ref_alpha, obs, n_obs, mean_r, best_j[0], out)


@njit_serial
def _tile(binned, rows, ref, ref_alpha, ref_mask, inv_ref, min_bins, obs, best_d, best_j, x,
          alpha, status, neighbours):  # fmt: skip
    """Up to TILE rows of one observed set: all distances as a small matrix product (each
    reference value loaded once for the tile, TILE independent accumulators). `s_t` and `acc`
    are allocated here so the compiler knows they alias nothing (4× faster than passed in)."""
    s_t = np.empty((obs.shape[0], TILE))
    acc = np.empty(TILE)
    worst = np.full(TILE, np.inf)  # each row's k-th best distance so far: the cheap test
    n_rows = 0
    inv_norm = np.empty(TILE)
    mean_r = np.empty(TILE)
    n_obs = 0
    mask = np.uint64(0)
    for r in range(TILE):
        i = rows[r]
        if i < 0:
            break
        st, n_obs, mask, inv_norm[r], mean_r[r] = _prepare(binned[i], min_bins, obs, x[i])
        status[i] = st
        alpha[i] = np.nan
        n_rows += 1
    if status[rows[0]] != OK:
        return  # the whole set has too few bins
    for m in range(n_obs):
        for r in range(TILE):
            s_t[m, r] = binned[rows[r], obs[m]] if r < n_rows else 0.0
    best_d[:, :] = np.inf
    best_j[:, :] = -1
    for j in range(ref.shape[0]):
        if (ref_mask[j] & mask) != mask:
            continue
        for r in range(TILE):
            acc[r] = 0.0
        for m in range(n_obs):
            v = ref[j, obs[m]]
            for r in range(TILE):
                acc[r] += s_t[m, r] * v
        for r in range(n_rows):
            d = 2.0 - 2.0 * acc[r] * inv_norm[r] * inv_ref[j]
            if d < worst[r]:
                _insert(best_d, best_j, r, d, j)
                worst[r] = best_d[r, best_d.shape[1] - 1]
    for r in range(n_rows):
        i = rows[r]
        status[i], alpha[i] = _finish(binned[i], ref, ref_alpha, obs, n_obs, mean_r[r], best_j[r],
                                      x[i])  # fmt: skip
        if status[i] == OK:
            neighbours[i, :] = best_j[r]


@njit_parallel
def mixnorm_batch(binned, ref, ref_alpha, ref_mask, n_neighbours, min_bins, tiles, tile_set,
                  set_inv_norm):  # fmt: skip
    """(N, 53) binned linear reflectance → x (N, 53), α (N,), neighbours (N, k), status (N,).
    `tiles` (T, TILE) row indices (−1 = padding) sharing the observed set `tile_set` (T,),
    whose reference norms are `set_inv_norm[set]`; tile_set −1 = a single row done alone
    (see `plan_tiles`)."""
    n, n_bins = binned.shape
    x = np.empty((n, n_bins))
    alpha = np.full(n, np.nan)
    status = np.full(n, TOO_FEW_BINS, np.int64)
    neighbours = np.full((n, n_neighbours), -1, np.int64)
    for t in prange(tiles.shape[0]):
        obs = np.empty(n_bins, np.int64)
        best_d = np.empty((TILE, n_neighbours))
        best_j = np.empty((TILE, n_neighbours), np.int64)
        if tile_set[t] >= 0:
            _tile(binned, tiles[t], ref, ref_alpha, ref_mask, set_inv_norm[tile_set[t]], min_bins,
                  obs, best_d, best_j, x, alpha, status, neighbours)  # fmt: skip
        else:
            i = tiles[t, 0]
            status[i], alpha[i] = mixnorm_one(binned[i], ref, ref_alpha, ref_mask, min_bins, obs,
                                              best_d, best_j, x[i])  # fmt: skip
            if status[i] == OK:
                neighbours[i, :] = best_j[0]
    return x, alpha, neighbours, status


def plan_tiles(set_id: np.ndarray):
    """Tiles of ≤ TILE rows with the same observed set; rows of set −1 get a tile each.
    Returns (tiles (T, TILE) row indices with −1 padding, tile_set (T,))."""
    order = np.argsort(set_id, kind="stable")
    sid = set_id[order]
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]]) if sid.size else np.zeros(0, int)
    sizes = np.diff(np.r_[starts, sid.size])
    tiles, tile_set = [], []
    for a, size in zip(starts, sizes, strict=True):
        rows = order[a : a + size]
        if sid[a] < 0:
            t = np.full((size, TILE), -1, np.int64)
            t[:, 0] = rows
        else:
            t = np.full((-(-size // TILE)) * TILE, -1, np.int64)
            t[:size] = rows
            t = t.reshape(-1, TILE)
        tiles.append(t)
        tile_set.append(np.full(t.shape[0], sid[a], np.int64))
    if not tiles:
        return np.full((0, TILE), -1, np.int64), np.zeros(0, np.int64)
    return np.concatenate(tiles), np.concatenate(tile_set)


@njit_parallel
def set_inv_norms(sets, ref):
    """(M, n_ref): 1/‖ref_o‖ of every reference over each observed set (M, n_bins) bool
    (NaN where a reference misses a bin of the set; such references are never used)."""
    n_set = sets.shape[0]
    out = np.empty((n_set, ref.shape[0]))
    for s in prange(n_set):
        for j in range(ref.shape[0]):
            rr = 0.0
            for b in range(ref.shape[1]):
                if sets[s, b]:
                    rr += ref[j, b] * ref[j, b]
            out[s, j] = 1.0 / np.sqrt(rr)
    return out


def set_norms(binned: np.ndarray, ref: np.ndarray, max_sets: int = 64):
    """For the `max_sets` commonest sets of observed bins in the batch: 1/‖ref_o‖ of every
    reference over that set. Returns (set_id (N,), (M, n_ref)); rows of rarer sets get −1
    and compute the norms themselves."""
    from firmware.kernels.mcfa import observed_sets

    sets, set_id = observed_sets(binned, max_sets)
    sets = sets[:-1]  # observed_sets appends the all-observed set for the MCFA; not needed here
    return set_id, set_inv_norms(np.ascontiguousarray(sets), ref)


def normalise(binned: np.ndarray, model, n_neighbours: int, min_bins: int, ref_mask=None,
              max_sets: int = 64):  # fmt: skip
    """`mixnorm_batch` with the batch planned into tiles of common observed sets (the entry
    point). `ref_mask` defaults to the model's coverage masks (empty a mask to exclude that
    reference); `max_sets=0` scores every row alone."""
    masks = model.reference_masks if ref_mask is None else ref_mask
    set_id, inv = set_norms(binned, model.reference_reflectance, max_sets)
    tiles, tile_set = plan_tiles(set_id)
    return mixnorm_batch(binned, model.reference_reflectance, model.reference_alpha, masks,
                         n_neighbours, min_bins, tiles, tile_set, inv)  # fmt: skip

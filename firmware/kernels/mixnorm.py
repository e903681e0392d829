"""Mahlke 2022 mixnorm: normalise a binned spectrum against its 5 nearest references.

(The binning onto the 53-bin grid is `firmware.kernels.mahlke_bins`.)

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

Cost: spectra are grouped by their set of observed bins (`normalise` plans it). For each set
with at least GATHER_MIN_ROWS rows (of the 64 commonest) the references that cover it are
gathered once, bin-major, with their norms over the set (`gather_sets`). The search itself is
`firmware.kernels.mixnorm_knn`: a set with PRUNE_MIN_ROWS rows or more also gets a basis of 8
vectors; each row's projection on it bounds every distance from below, so only the ~8 of 593
references that can still be among the 5 nearest are scored exactly (`nearest_pruned`).
Smaller sets score every covering reference, four rows at a time, vectorised across the
references (`dots4`); a row of a rare set scores its covering references (picked by their
64-bit coverage masks) four at a time (`nearest_all`). Every path computes each distance with
the same sums in the same order, so they return the same neighbours bit for bit. One core
(issue 5, round 6), per spectrum: ~3.9 µs complete (593 covering references) in a large
batch, from ~11 µs with the previous row tiles (5.3 µs without pruning); a complete spectrum
alone ~18 µs (from ~40 µs); a mix of partial spectra ~21 µs (from ~61 µs).

The kernels (`mixnorm_batch` and its helpers) only do arithmetic; `normalise`, `plan_tiles`
and `gather_sets` prepare their inputs.
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_leaf, njit_parallel, prange
from firmware.kernels.mahlke_bins import bin_masks, observed_bins
from firmware.kernels.mcfa import observed_sets
from firmware.kernels.mixnorm_knn import (
    K_BASIS,
    dots4,
    nearest_all,
    nearest_pruned,
    select,
    set_bases,
)

OK = 0
TOO_FEW_BINS = 1
NO_REFERENCE = 2


TILE = 8  # rows of one observed set per work unit of the parallel loop


@njit_leaf
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


@njit_leaf
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


@njit_leaf
def _finish_row(binned, i, ref, ref_alpha, obs, n_obs, mean_r, best_j, x, alpha, status,
                neighbours):  # fmt: skip
    """Row i's outputs from its k nearest `best_j`: x, α, status and the neighbours."""
    status[i], alpha[i] = _finish(binned[i], ref, ref_alpha, obs, n_obs, mean_r, best_j, x[i])
    if status[i] == OK:
        for m in range(best_j.shape[0]):
            neighbours[i, m] = best_j[m]


@njit_leaf
def _row_alone(binned, i, ref, ref_alpha, ref_mask, min_bins, obs, cover, best_d, best_j, x,
               alpha, status, neighbours):  # fmt: skip
    """Row i of a rare observed set against all references (`mixnorm_knn.nearest_all`).
    Scratch: `obs` (n_bins), `cover` (n_ref,) int64, `best_d`, `best_j` (k,)."""
    status[i], n_obs, mask, inv_norm, mean_r = _prepare(binned[i], min_bins, obs, x[i])
    if status[i] != OK:
        return
    nearest_all(binned[i], obs, n_obs, mask, inv_norm, ref, ref_mask, cover, best_d, best_j)
    _finish_row(binned, i, ref, ref_alpha, obs, n_obs, mean_r, best_j, x, alpha, status,
                neighbours)  # fmt: skip


@njit_leaf
def _rows_by_four(binned, rows, n_rows, g, cover, inv_ref, ref, ref_alpha, min_bins, obs, sv,
                  stats, dot0, dot1, dot2, dot3, best_d, best_j, x, alpha, status,
                  neighbours):  # fmt: skip
    """The rows of one gathered observed set, four at a time against every covering reference
    (`mixnorm_knn.dots4`). Scratch: `sv` (4, n_bins) the rows' observed values, `stats` (4, 2)
    their 1/‖row_o‖ and mean, dot0…dot3 (≥ n_cov)."""
    for r0 in range(0, n_rows, 4):
        n_obs = 0
        for r in range(4):
            if r0 + r < n_rows:
                i = rows[r0 + r]
                status[i], n_obs, _mask, stats[r, 0], stats[r, 1] = _prepare(binned[i], min_bins,
                                                                             obs, x[i])  # fmt: skip
                for m in range(n_obs):
                    sv[r, m] = binned[i, obs[m]]
            else:
                for m in range(n_obs):
                    sv[r, m] = 0.0  # padding: its dot products are not used
        if status[rows[r0]] != OK:
            continue  # one observed set: every row has too few bins
        dots4(sv, n_obs, g, cover.shape[0], dot0, dot1, dot2, dot3)
        for r in range(min(4, n_rows - r0)):
            dot = dot0 if r == 0 else dot1 if r == 1 else dot2 if r == 2 else dot3
            select(dot, stats[r, 0], cover, inv_ref, best_d, best_j)
            _finish_row(binned, rows[r0 + r], ref, ref_alpha, obs, n_obs, stats[r, 1], best_j, x,
                        alpha, status, neighbours)  # fmt: skip


@njit_leaf
def _rows_pruned(binned, rows, n_rows, g, cover, inv_ref, u, coords, residual, ref, ref_alpha,
                 min_bins, obs, sv, approx, a, cand, best_d, best_j, x, alpha, status,
                 neighbours):  # fmt: skip
    """The rows of one gathered observed set with a basis, one at a time
    (`mixnorm_knn.nearest_pruned`; its scratch `approx`, `a`, `cand`; `sv` ≥ n_bins)."""
    for r in range(n_rows):
        i = rows[r]
        status[i], n_obs, _mask, inv_norm, mean_r = _prepare(binned[i], min_bins, obs, x[i])
        if status[i] != OK:
            continue
        for m in range(n_obs):
            sv[m] = binned[i, obs[m]]
        nearest_pruned(sv, n_obs, inv_norm, g, cover, inv_ref, u, coords, residual, approx, a,
                       cand, best_d, best_j)  # fmt: skip
        _finish_row(binned, i, ref, ref_alpha, obs, n_obs, mean_r, best_j, x, alpha, status,
                    neighbours)  # fmt: skip


@njit_parallel
def mixnorm_batch(binned, ref, ref_alpha, ref_mask, n_neighbours, min_bins, tiles,
                  tile_set, g_flat, g_start, cover_flat, cover_start, inv_flat, pruned, u_flat,
                  u_start, coords, residual):  # fmt: skip
    """(N, 53) binned linear reflectance → x (N, 53), α (N,), neighbours (N, k), status (N,).
    `tiles` (T, TILE) row indices (−1 = padding) sharing the observed set `tile_set` (T,),
    whose covering references are gathered in `g_flat[g_start[s]:]`, `cover_flat` and
    `inv_flat[cover_start[s]:cover_start[s + 1]]` (`gather_sets`), with a basis where
    pruned[s] (`mixnorm_knn.set_bases`); tile_set −1 = a single row scored against all
    references (see `plan_tiles`)."""
    n, n_bins = binned.shape
    n_ref = ref.shape[0]
    x = np.empty((n, n_bins))
    alpha = np.full(n, np.nan)
    status = np.full(n, TOO_FEW_BINS, np.int64)
    neighbours = np.full((n, n_neighbours), -1, np.int64)
    for t in prange(tiles.shape[0]):
        obs = np.empty(n_bins, np.int64)
        cover = np.empty(n_ref, np.int64)  # also the pruned search's candidates
        sv = np.empty((4, n_bins))
        stats = np.empty((4, 2))
        dot0 = np.empty(n_ref)  # also the pruned search's bounds
        dot1 = np.empty(n_ref)
        dot2 = np.empty(n_ref)
        dot3 = np.empty(n_ref)
        a = np.empty(K_BASIS + n_neighbours)
        best_d = np.empty(n_neighbours)
        best_j = np.empty(n_neighbours, np.int64)
        s = tile_set[t]
        rows = tiles[t]
        n_rows = 0
        while n_rows < rows.shape[0] and rows[n_rows] >= 0:
            n_rows += 1
        if s < 0:
            _row_alone(binned, rows[0], ref, ref_alpha, ref_mask, min_bins, obs, cover, best_d,
                       best_j, x, alpha, status, neighbours)  # fmt: skip
            continue
        c0, c1 = cover_start[s], cover_start[s + 1]
        g = g_flat[g_start[s] :]
        if pruned[s]:
            _rows_pruned(binned, rows, n_rows, g, cover_flat[c0:c1], inv_flat[c0:c1],
                         u_flat[u_start[s] :], coords[c0 * K_BASIS :], residual[c0:c1], ref,
                         ref_alpha, min_bins, obs, sv[0], dot0, a, cover, best_d, best_j, x,
                         alpha, status, neighbours)  # fmt: skip
        else:
            _rows_by_four(binned, rows, n_rows, g, cover_flat[c0:c1], inv_flat[c0:c1], ref,
                          ref_alpha, min_bins, obs, sv, stats, dot0, dot1, dot2, dot3, best_d,
                          best_j, x, alpha, status, neighbours)  # fmt: skip
    return x, alpha, neighbours, status


@njit_parallel
def _gather(sets, ref, cover_flat, cover_start, g_start, g_flat, inv_flat):
    """Fill `g_flat` and `inv_flat` for every set (see `gather_sets`)."""
    for s in prange(sets.shape[0]):
        obs = np.empty(sets.shape[1], np.int64)
        n_obs = observed_bins(sets[s], obs)
        c0 = cover_start[s]
        n_cov = cover_start[s + 1] - c0
        for c in range(n_cov):
            j = cover_flat[c0 + c]
            rr = 0.0
            for m in range(n_obs):
                v = ref[j, obs[m]]
                g_flat[g_start[s] + m * n_cov + c] = v
                rr += v * v
            inv_flat[c0 + c] = 1.0 / np.sqrt(rr)


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


GATHER_MIN_ROWS = 2  # a set with fewer rows in the batch is not worth gathering: rows alone
# A set with this many rows and covering references gets a basis (`mixnorm_knn.set_bases`,
# ~0.2 ms per set) and prunes its references by bounds; smaller ones score all of them
# (`dots4`). Measured break-even, one core, complete spectra: ~190 rows.
PRUNE_MIN_ROWS = 192
# ... and needs this many covering references: with fewer, scoring all of them is cheap next
# to the basis. Not tuned: far below the 593 of complete spectra and the ~2000 of partial ones.
PRUNE_MIN_REFS = 64


def gather_sets(sets: np.ndarray, ref: np.ndarray, ref_mask: np.ndarray):
    """For each observed set (M, n_bins) bool: the references that cover it (`ref_mask`),
    their values at its observed bins bin-major, and their 1/‖ref_o‖. Returns flat arrays
    (g, g_start (M+1,), cover, cover_start (M+1,), inv_ref): set s has n_cov = cover_start[s+1]
    − cover_start[s] references `cover[cover_start[s]:…]` and an (n_obs, n_cov) block at
    `g[g_start[s]:]`."""
    set_mask = bin_masks(sets)
    covers = (ref_mask[None, :] & set_mask[:, None]) == set_mask[:, None]
    n_cov = covers.sum(axis=1)
    cover_start = np.r_[0, np.cumsum(n_cov)].astype(np.int64)
    g_start = np.r_[0, np.cumsum(n_cov * sets.sum(axis=1))].astype(np.int64)
    cover = np.nonzero(covers)[1].astype(np.int64)  # row-major: per set, ascending index
    g = np.empty(g_start[-1])
    inv_ref = np.empty(cover.size)
    _gather(np.ascontiguousarray(sets), ref, cover, cover_start, g_start, g, inv_ref)
    return g, g_start, cover, cover_start, inv_ref


def normalise(binned: np.ndarray, model, n_neighbours: int, min_bins: int, ref_mask=None,
              max_sets: int = 64):  # fmt: skip
    """`mixnorm_batch` with the batch planned into tiles of common observed sets (the entry
    point). `ref_mask` defaults to the model's coverage masks (empty a mask to exclude that
    reference); `max_sets=0` scores every row alone against all references."""
    masks = model.reference_masks if ref_mask is None else ref_mask
    sets, set_id = observed_sets(binned, max_sets)
    sets = sets[:-1]  # observed_sets appends the all-observed set for the MCFA; not needed here
    rows = np.bincount(set_id[set_id >= 0], minlength=sets.shape[0])
    keep = np.flatnonzero(rows >= GATHER_MIN_ROWS)  # the sets worth gathering; others row by row
    renumber = np.full(sets.shape[0] + 1, -1, np.int64)  # (last entry: set −1 stays −1)
    renumber[keep] = np.arange(keep.size)
    set_id, sets, rows = renumber[set_id], sets[keep], rows[keep]
    gathered = gather_sets(sets, model.reference_reflectance, masks)
    g, g_start, _cover, cover_start, inv_ref = gathered
    pruned = ((rows >= PRUNE_MIN_ROWS) & (sets.sum(axis=1) > K_BASIS)
              & (np.diff(cover_start) >= PRUNE_MIN_REFS))  # fmt: skip
    bases = set_bases(g, g_start, cover_start, inv_ref, sets, pruned, model.reference_basis)
    tiles, tile_set = plan_tiles(set_id)
    return mixnorm_batch(binned, model.reference_reflectance, model.reference_alpha, masks,
                         n_neighbours, min_bins, tiles, tile_set, *gathered, pruned, *bases)  # fmt: skip

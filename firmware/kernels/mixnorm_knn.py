"""The nearest-reference search of mixnorm (`firmware.kernels.mixnorm`): distances between a
row and the references that cover its observed bins, and its k nearest.

The distance is the squared L2 distance of the two vectors L2-normalised over the observed
bins, 2 − 2 cos. Three ways to the k nearest; every dot product adds its terms in bin order
with fused multiply-adds:
- `dots4` + `select`: four rows of one observed set against its gathered covering
  references (`mixnorm.gather_sets`), vectorised across the references;
- `nearest_pruned`: one row of a large set against a basis of its covering references
  (`set_bases`): the row's projection bounds every cosine from above, so only the references
  whose bound can beat the k-th best are scored exactly (~8 of 593 for complete spectra) —
  the same distances as `dots4` + `select`, bit for bit, hence the same neighbours;
- `nearest_all`: one row against all references, the covering ones picked by coverage mask,
  each reference's norm over the row's bins computed on the fly (1/√ in place of the stored
  reciprocal: distances equal to ~1e-16, `tests/test_mahlke_twins.py` compares the paths).
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_leaf, njit_ordered, njit_parallel, prange
from firmware.kernels.mahlke_bins import observed_bins

K_BASIS = 8  # basis vectors per observed set: 8 leave ~8 of 593 candidates (4: ~40, 16: ~6)
# Slack added to every cosine bound: far above the rounding of the sums (≲ 1e-14), far below
# the gaps that decide the 5 nearest (the 5th distance is ~6e-4 for complete spectra).
BOUND_MARGIN = 1e-9


@njit_leaf
def _insert(best_d, best_j, d, j):
    """Keep the k smallest distances in best_d (ascending; ties keep the lower reference
    index, since references arrive in ascending order)."""
    k = best_d.shape[0]
    if d < best_d[k - 1]:
        m = k - 1
        while m > 0 and d < best_d[m - 1]:
            best_d[m] = best_d[m - 1]
            best_j[m] = best_j[m - 1]
            m -= 1
        best_d[m] = d
        best_j[m] = j


@njit_leaf
def _four(idx, i0, n):
    """idx[i0 … i0 + 3] for scoring four at a time; past n the first repeats (its result is
    computed and not used)."""
    c0 = idx[i0]
    return (c0, idx[i0 + 1] if i0 + 1 < n else c0, idx[i0 + 2] if i0 + 2 < n else c0,
            idx[i0 + 3] if i0 + 3 < n else c0)  # fmt: skip


@njit_leaf
def nearest_all(row, obs, n_obs, mask, inv_norm, ref, ref_mask, cover, best_d, best_j):
    """The k nearest of all references for one row, the norms over its observed bins computed
    here. References that miss an observed bin are dropped by their coverage mask first (for a
    complete spectrum 593 of the 2573 remain; their indices go to the scratch `cover`), then
    four are scored at a time: eight independent chains of multiply-adds, each adding its
    terms in bin order."""
    n_cov = 0
    for j in range(ref.shape[0]):
        if (ref_mask[j] & mask) == mask:
            cover[n_cov] = j
            n_cov += 1
    best_d[:] = np.inf
    best_j[:] = -1
    worst = np.inf  # the k-th best distance so far: the cheap test before `_insert`
    for c0 in range(0, n_cov, 4):
        j0, j1, j2, j3 = _four(cover, c0, n_cov)
        dot0 = dot1 = dot2 = dot3 = 0.0
        rr0 = rr1 = rr2 = rr3 = 0.0
        for m in range(n_obs):
            b = obs[m]
            s = row[b]
            v0 = ref[j0, b]
            v1 = ref[j1, b]
            v2 = ref[j2, b]
            v3 = ref[j3, b]
            dot0 += s * v0
            dot1 += s * v1
            dot2 += s * v2
            dot3 += s * v3
            rr0 += v0 * v0
            rr1 += v1 * v1
            rr2 += v2 * v2
            rr3 += v3 * v3
        # squared L2 distance of the two unit vectors = 2 − 2 cos
        for c, j, dot, rr in ((c0, j0, dot0, rr0), (c0 + 1, j1, dot1, rr1),
                              (c0 + 2, j2, dot2, rr2), (c0 + 3, j3, dot3, rr3)):  # fmt: skip
            if c < n_cov:
                d = 2.0 - 2.0 * dot * inv_norm / np.sqrt(rr)
                if d < worst:
                    _insert(best_d, best_j, d, j)
                    worst = best_d[best_d.shape[0] - 1]


@njit_leaf
def dots4(sv, n_obs, g, n_cov, dot0, dot1, dot2, dot3):
    """dot_r[c] = Σₘ sv[r, m] · g[m · n_cov + c] for four rows r: each value of `g` (the
    covering references bin-major, `gather_sets`) is loaded once for the four rows; each sum
    adds its terms in bin order. (Sums held in registers across the bins, 4 rows × 8
    references written out as scalars, were slower: LLVM did not pack them into vectors.)"""
    for c in range(n_cov):
        dot0[c] = 0.0
        dot1[c] = 0.0
        dot2[c] = 0.0
        dot3[c] = 0.0
    for m in range(n_obs):
        s0 = sv[0, m]
        s1 = sv[1, m]
        s2 = sv[2, m]
        s3 = sv[3, m]
        base = m * n_cov
        for c in range(n_cov):
            v = g[base + c]
            dot0[c] += s0 * v
            dot1[c] += s1 * v
            dot2[c] += s2 * v
            dot3[c] += s3 * v


@njit_leaf
def select(dot, inv_norm, cover, inv_ref, best_d, best_j):
    """The k nearest of the covering references `cover` from their dot products with the row
    and their 1/‖ref_o‖ `inv_ref` (squared distance of unit vectors 2 − 2 cos); `dot` is
    overwritten with the distances."""
    n_cov = cover.shape[0]
    for c in range(n_cov):  # the distances first, in place: a loop LLVM vectorises
        dot[c] = 2.0 - 2.0 * dot[c] * inv_norm * inv_ref[c]
    best_d[:] = np.inf
    best_j[:] = -1
    worst = np.inf  # the k-th best distance so far: the cheap test before `_insert`
    for c in range(n_cov):
        if dot[c] < worst:
            _insert(best_d, best_j, dot[c], cover[c])
            worst = best_d[best_d.shape[0] - 1]


def leading_basis(ref: np.ndarray) -> np.ndarray:
    """(n_bins, K_BASIS): the leading right singular vectors of the references observed in
    every bin, each L2-normalised — the shapes that span most of the reference set (numpy
    SVD, ~1 ms; computed once, with the model: `MahlkeModel.reference_basis`). `set_bases`
    restricts it to each set's bins."""
    full = ref[np.isfinite(ref).all(axis=1)]
    unit = full / np.linalg.norm(full, axis=1, keepdims=True)
    return np.ascontiguousarray(np.linalg.svd(unit, full_matrices=False)[2][:K_BASIS].T)


def set_bases(g, g_start, cover_start, inv_ref, sets, use, lead):
    """For each set s with use[s]: an orthonormal basis U (n_obs, K_BASIS) of its bins (the
    `leading_basis` `lead` restricted to them, orthonormalised), the coordinates C = UᵀĜ of
    its normalised covering references Ĝ (K_BASIS, n_cov), and the norms of their residuals
    ‖Ĝ − UC‖. Any orthonormal U gives valid bounds; one that spans the references well gives
    tight ones. Flat arrays: (u, u_start (M+1,), coords at cover_start · K_BASIS, residual at
    cover_start). A set with use[s] needs more than K_BASIS observed bins."""
    u_start = np.r_[0, np.cumsum(np.where(use, K_BASIS * sets.sum(axis=1), 0))].astype(np.int64)
    u = np.zeros(u_start[-1])
    coords = np.zeros(cover_start[-1] * K_BASIS)
    residual = np.zeros(cover_start[-1])
    if use.any():
        _set_bases(g, g_start, cover_start, inv_ref, np.ascontiguousarray(sets), use, lead, u,
                   u_start, coords, residual)  # fmt: skip
    return u, u_start, coords, residual


@njit_parallel
def _set_bases(g, g_start, cover_start, inv_ref, sets, use, lead, u, u_start, coords, residual):
    """Fill `set_bases`' arrays: Gram–Schmidt (twice) of the leading vectors on each set's
    bins, then every covering reference's coordinates and residual norm."""
    for s in prange(sets.shape[0]):
        if not use[s]:
            continue
        obs = np.empty(sets.shape[1], np.int64)
        n_obs = observed_bins(sets[s], obs)
        basis = np.empty((n_obs, K_BASIS))
        for q in range(K_BASIS):
            for m in range(n_obs):
                basis[m, q] = lead[obs[m], q]
            for _ in range(2):  # re-orthogonalise once: orthonormal to rounding
                for p in range(q):
                    t = 0.0
                    for m in range(n_obs):
                        t += basis[m, p] * basis[m, q]
                    for m in range(n_obs):
                        basis[m, q] -= t * basis[m, p]
            t = 0.0
            for m in range(n_obs):
                t += basis[m, q] * basis[m, q]
            t = 1.0 / np.sqrt(t)
            for m in range(n_obs):
                basis[m, q] *= t
                u[u_start[s] + m * K_BASIS + q] = basis[m, q]
        c0 = cover_start[s]
        n_cov = cover_start[s + 1] - c0
        col = np.empty(n_obs)
        for c in range(n_cov):
            for m in range(n_obs):
                col[m] = g[g_start[s] + m * n_cov + c] * inv_ref[c0 + c]
            for q in range(K_BASIS):
                t = 0.0
                for m in range(n_obs):
                    t += basis[m, q] * col[m]
                coords[c0 * K_BASIS + q * n_cov + c] = t
                for m in range(n_obs):
                    col[m] -= t * basis[m, q]
            t = 0.0
            for m in range(n_obs):
                t += col[m] * col[m]
            residual[c0 + c] = np.sqrt(t)


@njit_leaf
def project(sv, n_obs, inv_norm, u, coords, n_cov, approx, a):
    """The normalised row ŝ on a set's basis: a = Uᵀŝ (into `a`), a·C_j for every covering
    reference (into `approx`); returns ‖e‖, e = ŝ − Ua."""
    for q in range(K_BASIS):
        a[q] = 0.0
    for m in range(n_obs):
        sn = sv[m] * inv_norm
        for q in range(K_BASIS):
            a[q] += u[m * K_BASIS + q] * sn
    e2 = 0.0
    for m in range(n_obs):
        t = sv[m] * inv_norm
        for q in range(K_BASIS):
            t -= u[m * K_BASIS + q] * a[q]
        e2 += t * t
    for c in range(n_cov):
        approx[c] = 0.0
    for q in range(K_BASIS):
        aq = a[q]
        base = q * n_cov
        for c in range(n_cov):
            approx[c] += aq * coords[base + c]
    return np.sqrt(e2)


@njit_leaf
def lower_bounds(approx, rho, residual, n_cov):
    """a·C_j (from `project`) → a lower bound of 2 − 2 cos_j, in place: cos_j = a·C_j + e·f_j
    ≤ a·C_j + ‖e‖‖f_j‖ (Cauchy–Schwarz), plus BOUND_MARGIN for rounding."""
    for c in range(n_cov):
        approx[c] = 2.0 - 2.0 * (approx[c] + rho * residual[c] + BOUND_MARGIN)


@njit_ordered
def exact_distances(sv, n_obs, inv_norm, g, n_cov, idx, n_idx, inv_ref, out):
    """out[i] = 2 − 2 cos of a row (its observed values `sv`) and covering reference idx[i]
    of the gathered block `g`, for i < n_idx: the same sums in the same order as `dots4`
    (compiled without reassociation, so LLVM cannot reorder them), hence the same distances
    bit for bit. Four references at a time: four independent chains of multiply-adds."""
    for i0 in range(0, n_idx, 4):
        c0, c1, c2, c3 = _four(idx, i0, n_idx)
        d0 = d1 = d2 = d3 = 0.0
        for m in range(n_obs):
            s = sv[m]
            base = m * n_cov
            d0 += s * g[base + c0]
            d1 += s * g[base + c1]
            d2 += s * g[base + c2]
            d3 += s * g[base + c3]
        out[i0] = 2.0 - 2.0 * d0 * inv_norm * inv_ref[c0]
        if i0 + 1 < n_idx:
            out[i0 + 1] = 2.0 - 2.0 * d1 * inv_norm * inv_ref[c1]
        if i0 + 2 < n_idx:
            out[i0 + 2] = 2.0 - 2.0 * d2 * inv_norm * inv_ref[c2]
        if i0 + 3 < n_idx:
            out[i0 + 3] = 2.0 - 2.0 * d3 * inv_norm * inv_ref[c3]


@njit_leaf
def nearest_pruned(sv, n_obs, inv_norm, g, cover, inv_ref, u, coords, residual, approx, a,
                   cand, best_d, best_j):  # fmt: skip
    """The k nearest covering references of one row, as `dots4` + `select` would find them.
    With the row normalised, ŝ = Ua + e (a = Uᵀŝ, K_BASIS coordinates): cos_j = a·C_j + e·f_j
    ≤ a·C_j + ‖e‖‖f_j‖ (+ BOUND_MARGIN), so 2 − 2 cos_j has a lower bound. The k references
    best by a·C_j are scored exactly; their worst distance T bounds the k-th best; every
    reference whose lower bound is ≤ T is then scored exactly and ranked in index order, as
    in `select`. Scratch: `approx` (≥ n_cov), `a` (≥ K_BASIS + k), `cand` (≥ n_cov) int."""
    n_cov = cover.shape[0]
    n_best = best_d.shape[0]
    rho = project(sv, n_obs, inv_norm, u, coords, n_cov, approx, a)
    best_d[:] = np.inf
    best_j[:] = -1
    worst = np.inf
    for c in range(n_cov):
        if -approx[c] < worst:
            _insert(best_d, best_j, -approx[c], c)
            worst = best_d[n_best - 1]
    limit = np.inf  # T: the largest exact distance of the k best by approximation
    if best_j[n_best - 1] >= 0:  # (fewer covering references than k: every one is a candidate)
        exact_distances(sv, n_obs, inv_norm, g, n_cov, best_j, n_best, inv_ref, a[K_BASIS:])
        limit = a[K_BASIS]
        for q in range(1, n_best):
            limit = max(limit, a[K_BASIS + q])
    n_cand = 0
    lower_bounds(approx, rho, residual, n_cov)
    for c in range(n_cov):
        if approx[c] <= limit:
            cand[n_cand] = c
            n_cand += 1
    exact_distances(sv, n_obs, inv_norm, g, n_cov, cand, n_cand, inv_ref, approx)
    best_d[:] = np.inf
    best_j[:] = -1
    worst = np.inf
    for i in range(n_cand):  # ascending reference index, as in `select`
        if approx[i] < worst:
            _insert(best_d, best_j, approx[i], cover[cand[i]])
            worst = best_d[n_best - 1]

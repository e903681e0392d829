"""MCFA kernels: cluster probabilities and latent scores of the Mahlke 2022 model.

Model (Baek, McLachlan & Flack 2010; shared/notes/science.md §2.3): y = μ + Wz + ε with
z | k ~ N(ξₖ, Ωₖ), ε ~ N(0, D), D diagonal, K = 50 components, q = 4 factors, p = 54.
A spectrum with missing bins is scored by the marginal Gaussian over its observed set o:
N(y_o; μ_o + W_o ξₖ, Σₖ), Σₖ = W_o Fₖ Fₖᵀ W_oᵀ + D_o (Fₖ = Lₖ, so FₖFₖᵀ = Ωₖ).

Never built as a p×p matrix: with A = W_oᵀD_o⁻¹W_o (4×4, shared by all components),
g = W_oᵀD_o⁻¹e and Bₖ = I + FₖᵀAFₖ (4×4, symmetric positive definite, eigenvalues ≥ 1):

    eᵀΣₖ⁻¹e = eᵀD_o⁻¹e − uᵀBₖ⁻¹u,  u = Fₖᵀg          (Woodbury)
    log det Σₖ = log det D_o + log det Bₖ                (matrix determinant lemma)

with e = y_o − μ_o − W_oξₖ, expanded so one pass over the observed bins serves all 50
components. Bₖ is factorised by a 4×4 Cholesky (`firmware.kernels.linalg4`). Responsibilities by
log-sum-exp.

Latent scores reproduce the published ones (classy: `model.impute` then
`model.transform(which="zmean")` of mcfa 0.1.7), quirks included, because the decision-tree
GMMs were fitted on those scores:
1. the missing features are imputed by the conditional mean under the most probable
   component with mcfa's covariance W Ωₖ Ωₖᵀ Wᵀ + D (Ωₖ where its factor was meant);
2. the weights are the responsibilities of ŷ − μ (transform subtracts μ, then predict_proba
   subtracts μ again);
3. z = Σₖ τ′ₖ (hₖ + Γₖᵀ(ŷ − μ)) with Γₖ, hₖ from `firmware.mahlke_model.latent_score_maps`.
Verified: on the 2573 published samples this reproduces z0–z3 to 2e-4 (median 3e-6).

Cost (one core, a complete spectrum with pV; issue 5, round 6): 4.4 µs, from 10.6 µs. The
helpers run without the numba runtime's reference counts (`njit_leaf`), the batch allocates
its scratch once per CHUNK rows, the 4×4 algebra is unrolled (`linalg4.Q`), and the latent
scores sum four components at a time (`_latent_four`: sixteen independent chains), and the
responsibilities reuse the log-sum-exp's exponentials (100 exp per spectrum, not 200).
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_leaf, njit_parallel, njit_serial, prange
from firmware.kernels.linalg4 import Q, factor_b, solve_lower
from firmware.kernels.mahlke_bins import observed_bins

LOG_2PI = 1.8378770664093453  # ln(2π)


@njit_leaf
def _moments(y, W, mu, noise_var, obs, n_obs, a, b, with_a):
    """b = W_oᵀD⁻¹r and (if with_a) A = W_oᵀD⁻¹W_o; returns rᵀD⁻¹r for r = y_o − μ_o."""
    q = Q
    for i in range(q):
        b[i] = 0.0
        if with_a:
            for j in range(q):
                a[i, j] = 0.0
    c = 0.0
    for m in range(n_obs):
        f = obs[m]
        inv = 1.0 / noise_var[f]
        r = y[f] - mu[f]
        c += r * r * inv
        for i in range(q):
            wi = W[f, i] * inv
            b[i] += wi * r
            if with_a:
                for j in range(i + 1):
                    a[i, j] += wi * W[f, j]
    if with_a:
        for i in range(q):
            for j in range(i + 1, q):
                a[i, j] = a[j, i]
    return c


@njit_leaf
def mask_constants(obs, n_obs, W, noise_var, factor, xi, a, chol, logdet, axi, af, bk):
    """Everything of the marginal Gaussians that depends on the observed set only: A, the
    Cholesky factors of Bₖ = I + FₖᵀAFₖ, log det Σₖ = log det D_o + log det Bₖ, and Aξₖ.
    `af`, `bk` (q, q) are scratch."""
    q = Q
    logdet_d = 0.0
    for i in range(q):
        for j in range(q):
            a[i, j] = 0.0
    for m in range(n_obs):
        f = obs[m]
        logdet_d += np.log(noise_var[f])
        inv = 1.0 / noise_var[f]
        for i in range(q):
            for j in range(q):
                a[i, j] += W[f, i] * inv * W[f, j]
    for k in range(xi.shape[0]):
        logdet[k] = logdet_d + factor_b(a, factor[k], af, bk, chol[k])
        for i in range(q):
            t = 0.0
            for j in range(q):
                t += a[i, j] * xi[k, j]
            axi[k, i] = t


@njit_parallel
def batch_mask_constants(masks, W, noise_var, factor, xi):
    """`mask_constants` for each row of a (M, p) bool array of observed sets."""
    n_mask, p = masks.shape
    n_comp, q = xi.shape
    a = np.empty((n_mask, q, q))
    chol = np.empty((n_mask, n_comp, q, q))
    logdet = np.empty((n_mask, n_comp))
    axi = np.empty((n_mask, n_comp, q))
    for i in prange(n_mask):
        obs = np.empty(p, np.int64)
        af = np.empty((q, q))
        bk = np.empty((q, q))
        n_obs = observed_bins(masks[i], obs)
        mask_constants(obs, n_obs, W, noise_var, factor, xi, a[i], chol[i], logdet[i], axi[i],
                       af, bk)  # fmt: skip
    return a, chol, logdet, axi


@njit_leaf
def component_loglik(y, obs, n_obs, W, mu, xi, factor, noise_var, log_pi, chol, logdet, axi,
                     s, out):  # fmt: skip
    """The responsibilities of every component into `out`, from log πₖ + log N(y_o; μ_o +
    W_oξₖ, W_o FₖFₖᵀ W_oᵀ + D_o) given the observed set's constants (`mask_constants`);
    returns log p(y_o) by log-sum-exp. The exponentials of the log-sum-exp serve the
    responsibilities too (one exp per component, not two). `s`: the tuple of `scratch()`."""
    _a, b, g, _bk, _ck, u, v, _af = s
    q = Q
    c = _moments(y, W, mu, noise_var, obs, n_obs, _a, b, False)
    best = -np.inf
    for k in range(xi.shape[0]):
        # g = W_oᵀD⁻¹e = b − Aξₖ ; eᵀD⁻¹e = c − 2ξₖᵀb + ξₖᵀAξₖ ; u = Fₖᵀg ; v = Cₖ⁻¹u
        q0 = c
        for i in range(q):
            g[i] = b[i] - axi[k, i]
            q0 += xi[k, i] * (axi[k, i] - 2.0 * b[i])
        for i in range(q):
            t = 0.0
            for m in range(q):
                t += factor[k, m, i] * g[m]
            u[i] = t
        solve_lower(chol[k], u, v)
        quad = q0
        for i in range(q):
            quad -= v[i] * v[i]
        ll = log_pi[k] - 0.5 * (quad + logdet[k] + n_obs * LOG_2PI)
        out[k] = ll
        if ll > best:
            best = ll
    acc = 0.0
    for k in range(xi.shape[0]):
        out[k] = np.exp(out[k] - best)
        acc += out[k]
    inv = 1.0 / acc
    for k in range(xi.shape[0]):
        out[k] *= inv
    return best + np.log(acc)


@njit_serial
def scratch(q):
    """Per-spectrum 4×4 and 4-vector work arrays for `component_loglik` and `impute`."""
    return (np.empty((q, q)), np.empty(q), np.empty(q), np.empty((q, q)), np.empty((q, q)),
            np.empty(q), np.empty(q), np.empty((q, q)))  # fmt: skip


@njit_leaf
def impute(y, obs, n_obs, k, W, mu, xi, omega, noise_var, s, out):
    """out = y with the missing features replaced by their conditional mean under component
    k with covariance W Ωₖ Ωₖᵀ Wᵀ + D (mcfa `impute`; see the module docstring):
    ŷ_m = μ_m + W_m (ξₖ + FFᵀ W_oᵀΣ_oo⁻¹e_o) with F = Ωₖ, and by Woodbury
    W_oᵀΣ_oo⁻¹e_o = g − AF Bₖ⁻¹ Fᵀg, g = W_oᵀD_o⁻¹e_o, Bₖ = I + FᵀAF."""
    a, b, g, bk, ck, u, v, af = s
    q = Q
    _moments(y, W, mu, noise_var, obs, n_obs, a, b, True)
    f = omega[k]
    for i in range(q):
        t = 0.0
        for j in range(q):
            t += a[i, j] * xi[k, j]
        g[i] = b[i] - t
    factor_b(a, f, af, bk, ck)
    for i in range(q):  # u = Fᵀg, v = ck⁻¹u, then w = ck⁻ᵀv into u
        t = 0.0
        for m in range(q):
            t += f[m, i] * g[m]
        u[i] = t
    solve_lower(ck, u, v)
    for i in range(q - 1, -1, -1):
        t = v[i]
        for m in range(i + 1, q):
            t -= ck[m, i] * u[m]
        u[i] = t / ck[i, i]
    for i in range(q):  # v = F w ; b = g − A v = W_oᵀΣ⁻¹e
        t = 0.0
        for j in range(q):
            t += f[i, j] * u[j]
        v[i] = t
    for i in range(q):
        t = 0.0
        for j in range(q):
            t += a[i, j] * v[j]
        b[i] = g[i] - t
    for i in range(q):  # u = Fᵀ b ; v = ξₖ + F u (the latent point the imputation uses)
        t = 0.0
        for j in range(q):
            t += f[j, i] * b[j]
        u[i] = t
    for i in range(q):
        t = 0.0
        for j in range(q):
            t += f[i, j] * u[j]
        v[i] = xi[k, i] + t
    for p in range(y.shape[0]):
        if np.isfinite(y[p]):
            out[p] = y[p]
        else:
            t = mu[p]
            for i in range(q):
                t += W[p, i] * v[i]
            out[p] = t


# Latent-score terms whose weight τ′ₖ is below this change z by < 1e-15 (|Zₖ| ≲ 10): skipped.
NEGLIGIBLE_WEIGHT = 1e-17


@njit_leaf
def _latent_four(k0, k1, k2, k3, w, gamma, offset, r, z):
    """z += Σ wₖ (hₖ + Γₖᵀr) over up to four components (k < 0: none; q = 4 factors).
    Sixteen scalar sums in registers: each Zₖ,ᵢ still adds its p terms in order."""
    a0, a1, a2, a3 = k0, max(k1, 0), max(k2, 0), max(k3, 0)  # a missing one computes k0's
    t00, t01, t02, t03 = offset[a0, 0], offset[a0, 1], offset[a0, 2], offset[a0, 3]
    t10, t11, t12, t13 = offset[a1, 0], offset[a1, 1], offset[a1, 2], offset[a1, 3]
    t20, t21, t22, t23 = offset[a2, 0], offset[a2, 1], offset[a2, 2], offset[a2, 3]
    t30, t31, t32, t33 = offset[a3, 0], offset[a3, 1], offset[a3, 2], offset[a3, 3]
    for f in range(r.shape[0]):
        rf = r[f]
        t00 += gamma[a0, f, 0] * rf
        t01 += gamma[a0, f, 1] * rf
        t02 += gamma[a0, f, 2] * rf
        t03 += gamma[a0, f, 3] * rf
        t10 += gamma[a1, f, 0] * rf
        t11 += gamma[a1, f, 1] * rf
        t12 += gamma[a1, f, 2] * rf
        t13 += gamma[a1, f, 3] * rf
        t20 += gamma[a2, f, 0] * rf
        t21 += gamma[a2, f, 1] * rf
        t22 += gamma[a2, f, 2] * rf
        t23 += gamma[a2, f, 3] * rf
        t30 += gamma[a3, f, 0] * rf
        t31 += gamma[a3, f, 1] * rf
        t32 += gamma[a3, f, 2] * rf
        t33 += gamma[a3, f, 3] * rf
    _add_weighted(z, w[k0], t00, t01, t02, t03)
    if k1 >= 0:
        _add_weighted(z, w[k1], t10, t11, t12, t13)
    if k2 >= 0:
        _add_weighted(z, w[k2], t20, t21, t22, t23)
    if k3 >= 0:
        _add_weighted(z, w[k3], t30, t31, t32, t33)


@njit_leaf
def _add_weighted(z, w, t0, t1, t2, t3):
    """z += w · (t0, t1, t2, t3)."""
    z[0] += w * t0
    z[1] += w * t1
    z[2] += w * t2
    z[3] += w * t3


@njit_leaf
def mcfa_one(y, mask_id, W, mu, xi, chol_f, omega, noise_var, log_pi, gamma, offset,
             m_chol, m_logdet, m_axi, full_id, obs, all_idx, weights, y_imp, r, s, own, tau,
             z):  # fmt: skip
    """Responsibilities τ (into `tau`) and latent scores (into `z`) of one feature row;
    returns log p(y_o). mask_id ≥ 0 picks precomputed constants of its observed set
    (`batch_mask_constants`), −1 computes them here into `own`. All-NaN y → NaN outputs."""
    p = y.shape[0]
    n_obs = 0
    for f in range(p):
        if np.isfinite(y[f]):
            obs[n_obs] = f
            n_obs += 1
    if n_obs == 0:
        for k in range(tau.shape[0]):
            tau[k] = np.nan
        for i in range(z.shape[0]):
            z[i] = np.nan
        return np.nan
    if mask_id >= 0:
        chol, logdet, axi = m_chol[mask_id], m_logdet[mask_id], m_axi[mask_id]
    else:
        a_own, chol, logdet, axi = own
        mask_constants(obs, n_obs, W, noise_var, chol_f, xi, a_own, chol, logdet, axi, s[7],
                       s[3])  # fmt: skip
    total = component_loglik(y, obs, n_obs, W, mu, xi, chol_f, noise_var, log_pi, chol, logdet,
                             axi, s, tau)  # fmt: skip
    best = 0
    for k in range(tau.shape[0]):
        if tau[k] > tau[best]:
            best = k
    impute(y, obs, n_obs, best, W, mu, xi, omega, noise_var, s, y_imp)
    for f in range(p):
        r[f] = y_imp[f] - mu[f]
    # the weights τ′ₖ of the latent scores: responsibilities of ŷ − μ (module docstring, 2.)
    component_loglik(r, all_idx, p, W, mu, xi, chol_f, noise_var, log_pi, m_chol[full_id],
                     m_logdet[full_id], m_axi[full_id], s, weights)  # fmt: skip
    q = z.shape[0]
    for i in range(q):
        z[i] = 0.0
    # the components that weigh, listed first (into `obs`, free now), then their Zₖ four at a
    # time: four independent chains of multiply-adds instead of one (same sums, same order)
    n_used = 0
    for k in range(xi.shape[0]):
        if weights[k] >= NEGLIGIBLE_WEIGHT:
            obs[n_used] = k
            n_used += 1
    for u0 in range(0, n_used, 4):
        k0 = obs[u0]
        k1 = obs[u0 + 1] if u0 + 1 < n_used else -1
        k2 = obs[u0 + 2] if u0 + 2 < n_used else -1
        k3 = obs[u0 + 3] if u0 + 3 < n_used else -1
        _latent_four(k0, k1, k2, k3, weights, gamma, offset, r, z)
    return total


CHUNK = 64  # rows per work unit of `mcfa_batch`


@njit_parallel
def mcfa_batch(features, mask_id, W, mu, xi, chol, omega, noise_var, log_pi, gamma, offset,
               m_chol, m_logdet, m_axi, full_id):  # fmt: skip
    """(N, 54) features (NaN = missing) → τ (N, 50), latent scores (N, 4), log p(y_o) (N,).
    `mask_id` (N,) indexes the precomputed observed-set constants (−1: compute per row);
    `full_id` is the index of the all-observed set (needed for the latent scores)."""
    n, p = features.shape
    n_comp, q = xi.shape
    tau = np.empty((n, n_comp))
    z = np.empty((n, q))
    loglik = np.empty(n)
    all_idx = np.arange(p)
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):  # the scratch is allocated once per chunk, not per row
        obs = np.empty(p, np.int64)
        weights = np.empty(n_comp)
        y_imp = np.empty(p)
        r = np.empty(p)
        s = scratch(q)
        own = (np.empty((q, q)), np.empty((n_comp, q, q)), np.empty(n_comp), np.empty((n_comp, q)))
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            loglik[i] = mcfa_one(features[i], mask_id[i], W, mu, xi, chol, omega, noise_var,
                                 log_pi, gamma, offset, m_chol, m_logdet, m_axi, full_id, obs,
                                 all_idx, weights, y_imp, r, s, own, tau[i], z[i])  # fmt: skip
    return tau, z, loglik


def observed_sets(features: np.ndarray, max_sets: int = 64):
    """Group rows by their observed set: (sets (M, p) bool with the all-observed set last,
    mask_id (N,) into them, −1 for rows of rare sets when there are more than max_sets)."""
    observed = np.isfinite(features)
    full = np.ones((1, features.shape[1]), bool)
    if observed.shape[0] == 0:
        return full, np.zeros(0, np.int64)
    # one 64-bit code per row (p ≤ 64), so grouping is a 1-D unique, not a row-wise one
    packed = np.packbits(observed, axis=1, bitorder="little")
    packed = np.pad(packed, ((0, 0), (0, 8 - packed.shape[1])))
    codes = np.ascontiguousarray(packed).view("<u8").ravel()
    _, first, inverse, counts = np.unique(codes, return_index=True, return_inverse=True,
                                          return_counts=True)  # fmt: skip
    sets = observed[first]
    keep = np.argsort(-counts, kind="stable")[:max_sets]
    keep = keep[sets[keep].any(axis=1)]  # the all-missing set needs no constants
    remap = np.full(sets.shape[0], -1, np.int64)
    remap[keep] = np.arange(keep.size)
    return np.vstack([sets[keep], full]), remap[inverse.ravel()]


def score(features: np.ndarray, model, max_sets: int = 64):
    """τ (N, 50), latent scores (N, 4) and log p(y_o) (N,) of (N, 54) feature rows under the
    MCFA of `model` (a `firmware.mahlke_model.MahlkeModel`). The constants of the `max_sets`
    commonest observed sets are computed once per batch; rarer sets row by row."""
    if model.W.shape[1] != Q:
        raise ValueError(f"the MCFA kernels are built for {Q} latent factors, the model has "
                         f"{model.W.shape[1]}: use the Mahlke 2022 model "
                         "(firmware.mahlke_model.load_mahlke_model), or extend linalg4.Q and "
                         "mcfa._latent_four to that count")  # fmt: skip
    sets, mask_id = observed_sets(features, max_sets)
    _a, m_chol, m_logdet, m_axi = batch_mask_constants(sets, model.W, model.noise_var,
                                                       model.chol_omega, model.xi)  # fmt: skip
    return mcfa_batch(features, mask_id, model.W, model.mu, model.xi, model.chol_omega,
                      model.omega, model.noise_var, model.log_pi, model.score_gamma,
                      model.score_offset, m_chol, m_logdet, m_axi, len(sets) - 1)  # fmt: skip

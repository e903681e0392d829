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
components. Bₖ is factorised by a 4×4 Cholesky. Responsibilities by log-sum-exp.

Latent scores reproduce the published ones (classy: `model.impute` then
`model.transform(which="zmean")` of mcfa 0.1.7), quirks included, because the decision-tree
GMMs were fitted on those scores:
1. the missing features are imputed by the conditional mean under the most probable
   component with mcfa's covariance W Ωₖ Ωₖᵀ Wᵀ + D (Ωₖ where its factor was meant);
2. the weights are the responsibilities of ŷ − μ (transform subtracts μ, then predict_proba
   subtracts μ again);
3. z = Σₖ τ′ₖ (hₖ + Γₖᵀ(ŷ − μ)) with Γₖ, hₖ from `firmware.mahlke_model.latent_score_maps`.
Verified: on the 2573 published samples this reproduces z0–z3 to 2e-4 (median 3e-6).
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_parallel, njit_serial, prange

LOG_2PI = 1.8378770664093453  # ln(2π)


@njit_serial
def _chol4(b, c):
    """Cholesky factor c (lower) of the 4×4 SPD matrix b; returns log det b."""
    q = b.shape[0]
    logdet = 0.0
    for i in range(q):
        for j in range(i + 1):
            s = b[i, j]
            for m in range(j):
                s -= c[i, m] * c[j, m]
            if i == j:
                c[i, i] = np.sqrt(s)
                logdet += np.log(s)
            else:
                c[i, j] = s / c[j, j]
        for j in range(i + 1, q):
            c[i, j] = 0.0
    return logdet


@njit_serial
def _solve_lower(c, u, v):
    """v = c⁻¹u for lower-triangular c."""
    for i in range(c.shape[0]):
        s = u[i]
        for m in range(i):
            s -= c[i, m] * v[m]
        v[i] = s / c[i, i]


@njit_serial
def _moments(y, W, mu, noise_var, obs, n_obs, a, b):
    """A = W_oᵀD⁻¹W_o, b = W_oᵀD⁻¹r, returns (rᵀD⁻¹r, log det D_o) for r = y_o − μ_o."""
    q = W.shape[1]
    for i in range(q):
        b[i] = 0.0
        for j in range(q):
            a[i, j] = 0.0
    c = 0.0
    logdet_d = 0.0
    for m in range(n_obs):
        f = obs[m]
        inv = 1.0 / noise_var[f]
        r = y[f] - mu[f]
        c += r * r * inv
        logdet_d += np.log(noise_var[f])
        for i in range(q):
            wi = W[f, i] * inv
            b[i] += wi * r
            for j in range(i + 1):
                a[i, j] += wi * W[f, j]
    for i in range(q):
        for j in range(i + 1, q):
            a[i, j] = a[j, i]
    return c, logdet_d


@njit_serial
def _factor_solve(a, f, g, bk, ck, u, v):
    """For Σ = D + W F Fᵀ Wᵀ: factorise Bₖ = I + FᵀAF into ck, set u = Fᵀg, v = ck⁻¹u;
    returns log det Bₖ. (uᵀBₖ⁻¹u = vᵀv.)"""
    q = a.shape[0]
    for i in range(q):  # bk = Fᵀ (A F), built in two 4×4 products
        for j in range(q):
            s = 0.0
            for m in range(q):
                t = 0.0
                for n in range(q):
                    t += a[m, n] * f[n, j]
                s += f[m, i] * t
            bk[i, j] = s + (1.0 if i == j else 0.0)
    logdet = _chol4(bk, ck)
    for i in range(q):
        s = 0.0
        for m in range(q):
            s += f[m, i] * g[m]
        u[i] = s
    _solve_lower(ck, u, v)
    return logdet


@njit_serial
def component_loglik(y, obs, n_obs, W, mu, xi, factor, noise_var, log_pi, s, out):
    """out[k] = log πₖ + log N(y_o; μ_o + W_oξₖ, W_o FₖFₖᵀ W_oᵀ + D_o) for every component;
    returns log p(y_o) = logsumexp(out). `s` is a scratch tuple from `scratch()`."""
    a, b, g, bk, ck, u, v = s
    q = W.shape[1]
    c, logdet_d = _moments(y, W, mu, noise_var, obs, n_obs, a, b)
    best = -np.inf
    for k in range(xi.shape[0]):
        # g = W_oᵀD⁻¹e = b − Aξ; eᵀD⁻¹e = c − 2ξᵀb + ξᵀAξ
        q0 = c
        for i in range(q):
            t = 0.0
            for j in range(q):
                t += a[i, j] * xi[k, j]
            g[i] = b[i] - t
            q0 += xi[k, i] * (t - 2.0 * b[i])
        logdet_b = _factor_solve(a, factor[k], g, bk, ck, u, v)
        quad = q0
        for i in range(q):
            quad -= v[i] * v[i]
        ll = log_pi[k] - 0.5 * (quad + logdet_d + logdet_b + n_obs * LOG_2PI)
        out[k] = ll
        if ll > best:
            best = ll
    acc = 0.0
    for k in range(xi.shape[0]):
        acc += np.exp(out[k] - best)
    return best + np.log(acc)


@njit_serial
def scratch(q):
    """Per-spectrum 4×4 and 4-vector work arrays for `component_loglik` and `impute`."""
    return (np.empty((q, q)), np.empty(q), np.empty(q), np.empty((q, q)), np.empty((q, q)),
            np.empty(q), np.empty(q))  # fmt: skip


@njit_serial
def impute(y, obs, n_obs, k, W, mu, xi, omega, noise_var, s, out):
    """out = y with the missing features replaced by their conditional mean under component
    k with covariance W Ωₖ Ωₖᵀ Wᵀ + D (mcfa `impute`; see the module docstring):
    ŷ_m = μ_m + W_m ξₖ + W_m Ωₖ Ωₖᵀ W_oᵀ Σ_oo⁻¹ e_o, and W_oᵀΣ_oo⁻¹e_o = g − A F Bₖ⁻¹ Fᵀ g."""
    a, b, g, bk, ck, u, v = s
    q = W.shape[1]
    _moments(y, W, mu, noise_var, obs, n_obs, a, b)
    f = omega[k]
    for i in range(q):
        t = 0.0
        for j in range(q):
            t += a[i, j] * xi[k, j]
        g[i] = b[i] - t
    _factor_solve(a, f, g, bk, ck, u, v)
    # w = Bₖ⁻¹ u: back-substitute ckᵀ w = v (reuse u for w)
    for i in range(q - 1, -1, -1):
        t = v[i]
        for m in range(i + 1, q):
            t -= ck[m, i] * u[m]
        u[i] = t / ck[i, i]
    # b ← W_oᵀΣ⁻¹e = g − A F w ; then v ← F Fᵀ b (the latent shift), reusing b and v
    for i in range(q):
        t = 0.0
        for j in range(q):
            t += f[i, j] * u[j]
        v[i] = t  # F w
    for i in range(q):
        t = 0.0
        for j in range(q):
            t += a[i, j] * v[j]
        b[i] = g[i] - t
    for i in range(q):
        t = 0.0
        for j in range(q):
            t += f[j, i] * b[j]
        u[i] = t  # Fᵀ b
    for i in range(q):
        t = 0.0
        for j in range(q):
            t += f[i, j] * u[j]
        v[i] = xi[k, i] + t  # ξₖ + F Fᵀ W_oᵀΣ⁻¹e
    for p in range(y.shape[0]):
        if np.isfinite(y[p]):
            out[p] = y[p]
        else:
            t = mu[p]
            for i in range(q):
                t += W[p, i] * v[i]
            out[p] = t


@njit_serial
def mcfa_one(y, W, mu, xi, chol, omega, noise_var, log_pi, gamma, offset,
             obs, all_idx, ll, y_imp, r, s, tau, z):  # fmt: skip
    """Responsibilities τ (into `tau`), latent scores (into `z`); returns log p(y_o).
    All-NaN y gives NaN outputs."""
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
    total = component_loglik(y, obs, n_obs, W, mu, xi, chol, noise_var, log_pi, s, ll)
    best = 0
    for k in range(tau.shape[0]):
        tau[k] = np.exp(ll[k] - total)
        if tau[k] > tau[best]:
            best = k
    impute(y, obs, n_obs, best, W, mu, xi, omega, noise_var, s, y_imp)
    for f in range(p):
        r[f] = y_imp[f] - mu[f]
    total2 = component_loglik(r, all_idx, p, W, mu, xi, chol, noise_var, log_pi, s, ll)
    q = z.shape[0]
    for i in range(q):
        z[i] = 0.0
    for k in range(xi.shape[0]):
        w = np.exp(ll[k] - total2)
        if w == 0.0:
            continue
        for i in range(q):
            t = offset[k, i]
            for f in range(p):
                t += gamma[k, f, i] * r[f]
            z[i] += w * t
    return total


@njit_parallel
def mcfa_batch(features, W, mu, xi, chol, omega, noise_var, log_pi, gamma, offset):
    """(N, 54) features (NaN = missing) → τ (N, 50), latent scores (N, 4), log p(y_o) (N,)."""
    n, p = features.shape
    n_comp, q = xi.shape
    tau = np.empty((n, n_comp))
    z = np.empty((n, q))
    loglik = np.empty(n)
    all_idx = np.arange(p)
    for i in prange(n):
        obs = np.empty(p, np.int64)
        ll = np.empty(n_comp)
        y_imp = np.empty(p)
        r = np.empty(p)
        s = scratch(q)
        loglik[i] = mcfa_one(features[i], W, mu, xi, chol, omega, noise_var, log_pi, gamma,
                             offset, obs, all_idx, ll, y_imp, r, s, tau[i], z[i])  # fmt: skip
    return tau, z, loglik

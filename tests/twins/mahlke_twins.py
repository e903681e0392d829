"""Slow, plainly written numpy twins of the Mahlke 2022 kernels (firmware/kernels/mahlke_bins.py,
mixnorm.py, mcfa.py, mahlke_tree.py).

Written from the method (shared/notes/science.md §2, mcfa `core.py`, classy
`decision_tree.py`), not from the kernels: loops over spectra, full covariance matrices with
np.linalg.cholesky / solve / inv, the tree read straight from the JSON. No Woodbury identity,
no packed arrays — so an algebra slip in a kernel shows up as a disagreement.
"""

from __future__ import annotations

import numpy as np

from firmware.mahlke_model import N_BINS, PV_INDEX


def resample_bins(wavelength_um, reflectance, grid_um, half_width_um, max_gap_um):
    """Mean of the valid samples within ± half_width of each bin centre; an empty bin inside
    the coverage is interpolated if its bracketing samples are ≤ max_gap apart; NaN outside."""
    refl = np.asarray(reflectance, dtype=np.float64)
    out = np.full((refl.shape[0], grid_um.size), np.nan)
    for i, r in enumerate(refl):
        ok = np.isfinite(r) & (r > 0)
        w, v = wavelength_um[ok], r[ok]
        if w.size == 0:
            continue
        for k, g in enumerate(grid_um):
            if g < w[0] - 1e-9 or g > w[-1] + 1e-9:
                continue
            sel = np.abs(w - g) <= half_width_um[k] + 1e-9
            if sel.any():
                out[i, k] = v[sel].mean()
                continue
            lo, hi = w[w < g].max(), w[w > g].min()
            if hi - lo <= max_gap_um + 1e-9:
                out[i, k] = np.interp(g, w, v)
    return out


def mixnorm(binned, ref_reflectance, ref_alpha, n_neighbours=5, min_bins=1):
    """classy mixnorm.py::normalize for each row: the n nearest reference spectra (L2-normalised
    over the observed bins, only references covering every observed bin), α = their mean α,
    R ← R / mean(R) · mean(the neighbours' reflectance over the observed bins), x = ln R − α.
    Returns x (N, 53), α (N,), neighbour indices (N, n) (−1 where refused)."""
    n = binned.shape[0]
    x = np.full((n, N_BINS), np.nan)
    alpha = np.full(n, np.nan)
    idx = np.full((n, n_neighbours), -1, dtype=np.int64)
    for i in range(n):
        obs = np.isfinite(binned[i])
        if obs.sum() < min_bins:
            continue
        s = binned[i, obs] / np.linalg.norm(binned[i, obs])
        refs = ref_reflectance[:, obs]
        usable = np.all(np.isfinite(refs), axis=1)
        dist = np.full(refs.shape[0], np.inf)
        refs_n = refs[usable] / np.linalg.norm(refs[usable], axis=1, keepdims=True)
        dist[usable] = np.linalg.norm(refs_n - s, axis=1)
        if usable.sum() < n_neighbours:
            continue
        nn = np.argsort(dist, kind="stable")[:n_neighbours]
        idx[i] = nn
        alpha[i] = ref_alpha[nn].mean()
        level = refs[nn].mean() / binned[i, obs].mean()
        x[i, obs] = np.log(binned[i, obs] * level) - alpha[i]
    return x, alpha, idx


def set_basis(lead, observed, refs_unit):
    """mixnorm's basis of one observed set, from numpy's QR: U = the orthonormal factor of
    the leading shapes on the observed bins (columns signed like Gram–Schmidt's: positive
    diagonal of R), C = Uᵀ Ĝ of the normalised references Ĝ (n_obs, n_cov) and the norms of
    their residuals Ĝ − UC. Returns (U, C, residual norms)."""
    q, r = np.linalg.qr(lead[observed])
    q = q * np.sign(np.diag(r))
    c = q.T @ refs_unit
    return q, c, np.linalg.norm(refs_unit - q @ c, axis=0)


def _component_logpdf(y, mean, cov):
    c = np.linalg.cholesky(cov)
    e = np.linalg.solve(c, y - mean)
    return -0.5 * (e @ e) - np.log(np.diag(c)).sum() - 0.5 * y.size * np.log(2 * np.pi)


def responsibilities(features, model):
    """τ (N, 50) and log p(y_o) (N,) from the marginal Gaussian over the observed features:
    N(y_o; μ_o + W_o ξₖ, W_o Ωₖ W_oᵀ + D_o), built in full and Cholesky-factorised."""
    n = features.shape[0]
    tau = np.full((n, model.n_components), np.nan)
    loglik = np.full(n, np.nan)
    for i, y in enumerate(features):
        o = np.isfinite(y)
        if not o.any():
            continue
        wo = model.W[o]
        logp = np.empty(model.n_components)
        for k in range(model.n_components):
            cov = wo @ model.omega[k] @ wo.T + np.diag(model.noise_var[o])
            logp[k] = model.log_pi[k] + _component_logpdf(y[o], model.mu[o] + wo @ model.xi[k], cov)
        loglik[i] = np.logaddexp.reduce(logp)
        tau[i] = np.exp(logp - loglik[i])
    return tau, loglik


def latent_scores(features, tau, model):
    """mcfa `impute` then `transform(which="zmean")`, as classy calls them:

    1. missing features ← conditional mean under the most probable component, with the
       covariance mcfa's `_compute_cluster_moments` returns: W Ωₖ Ωₖᵀ Wᵀ + D (Ω used where
       its Cholesky factor was meant — reproduced because the published scores use it);
    2. weights τ′ = responsibilities of (ŷ − μ) (transform subtracts μ before predict_proba);
    3. z = Σₖ τ′ₖ (ξₖ + (ŷ − μ − Wξₖ) Γₖ), Γₖ = (D⁻¹ − D⁻¹WCₖWᵀD⁻¹)WΩₖ,
       Cₖ = (Ωₖ⁻¹ + WᵀD⁻¹W)⁻¹, with Ωₖ + 1e-5 I where cond(Ωₖ) > 1e4."""
    W, mu, d = model.W, model.mu, model.noise_var
    n, q = features.shape[0], W.shape[1]
    z = np.full((n, q), np.nan)
    d_inv = np.diag(1.0 / d)
    gammas = []
    for k in range(model.n_components):
        om = model.omega[k]
        if np.linalg.cond(om) > 1e4:
            om = om + 1e-5 * np.eye(q)
        c = np.linalg.inv(np.linalg.inv(om) + W.T @ d_inv @ W)
        gammas.append((d_inv - d_inv @ W @ c @ W.T @ d_inv) @ W @ om)
    for i, y in enumerate(features):
        o = np.isfinite(y)
        if not o.any() or np.isnan(tau[i, 0]):
            continue
        k = int(np.argmax(tau[i]))
        y_imp = y.copy()
        if not o.all():
            m = ~o
            cov = W @ model.omega[k] @ model.omega[k].T @ W.T + np.diag(d)
            mean = mu + W @ model.xi[k]
            y_imp[m] = mean[m] + cov[np.ix_(m, o)] @ np.linalg.solve(
                cov[np.ix_(o, o)], y[o] - mean[o]
            )
        tau2, _ = responsibilities((y_imp - mu)[None, :], model)
        zk = np.array([model.xi[k2] + (y_imp - mu - W @ model.xi[k2]) @ gammas[k2]
                       for k2 in range(model.n_components)])  # fmt: skip
        z[i] = tau2[0] @ zk
    return z


def _gmm_proba(g, v):
    """sklearn GaussianMixture.predict_proba for one sample, from the JSON parameters."""
    v = np.atleast_1d(np.asarray(v, dtype=np.float64))
    logp = []
    for w, m, pc in zip(g["weights_"], g["means_"], g["precisions_cholesky_"], strict=True):
        y = (v - np.asarray(m)) @ np.asarray(pc)
        logp.append(
            np.log(w) - 0.5 * (v.size * np.log(2 * np.pi) + y @ y) + np.log(np.diag(pc)).sum()
        )
    logp = np.array(logp)
    return np.exp(logp - np.logaddexp.reduce(logp))


_INPUTS = {"4": (2, 3), "8": (1, 3), "10": (0, 1), "13": (1, 3), "19": (0, 3), "23": (0, 3),
           "24": (2, 3), "29": (0, 1), "31": (2, 3), "37": (1, 3), "41": (0, 1), "43": (1, 3)}  # fmt: skip


def tree(tau, z, log_pv, spec, variant="mahlke2022"):
    """classy decision_tree.py::assign_classes for one sample → dict class → probability."""
    classes = spec["CLASSES"]
    gmm = spec["GMM"]
    p = dict.fromkeys(classes, 0.0)
    has_pv = not np.isnan(log_pv)
    paper = variant == "mahlke2022"
    core = dict(spec["CORE_CLUSTER"])
    if paper:
        core["30"] = "S"
    for c, cls in core.items():
        p[cls] += tau[int(c)]

    def emp(c):
        if not has_pv:
            p["X"] += tau[c]
            return
        for cls, pr in zip(gmm["emp"]["classes"], _gmm_proba(gmm["emp"], log_pv), strict=True):
            p[cls] += pr * tau[c]

    for c in spec["X_COMPLEX"]:
        if c == 37 and (paper or not has_pv or log_pv > -1):
            pr = _gmm_proba(gmm["37"], z[list(_INPUTS["37"])])
            if gmm["37"]["classes"][int(np.argmax(pr))] == "M":
                emp(37)
            else:
                p["L"] += tau[37]
            continue
        emp(c)
    for key in spec["CONTINUUM_CLUSTER"]:
        c = int(key)
        if c == 29 or (c == 30 and paper):
            continue
        if c == 30:
            s = (log_pv > np.log10(0.14)) if has_pv else (z[1] > 0)
            p["S" if s else "D"] += tau[30]
        elif c == 23 and not paper:
            p["L" if z[3] < -0.25 else "M"] += tau[23]
        elif c == 44 and not has_pv:
            p["S"] += tau[44]
        else:
            v = log_pv if c == 44 else z[list(_INPUTS[key])]
            for cls, pr in zip(gmm[key]["classes"], _gmm_proba(gmm[key], v), strict=True):
                p[cls] += pr * tau[c]
    if has_pv:
        pr = _gmm_proba(gmm["emp"], log_pv)
        if gmm["emp"]["classes"][int(np.argmax(pr))] == "E":
            keep = 0.5 if paper else 1.0 / 3.0
            for cls in ("K", "L", "M"):
                p["E"] += (1 - keep) * p[cls]
                p[cls] *= keep
    for cls, pr in zip(gmm["29"]["classes"], _gmm_proba(gmm["29"], z[[0, 1]]), strict=True):
        p[cls] += pr * tau[29]
    return p


def features_vector(x_bins, log_pv):
    """The 54 MCFA features: 53 bins then log10 pV (NaN = missing)."""
    out = np.full((x_bins.shape[0], PV_INDEX + 1), np.nan)
    out[:, :N_BINS] = x_bins
    out[:, PV_INDEX] = log_pv
    return out

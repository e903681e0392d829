"""The Mahlke 2022 pipeline written the numpy way: whole-array operations over blocks of
spectra, no numba. It is the fair numpy baseline of the benchmarks (the per-spectrum twins in
`mahlke_twins.py` would be an unfair one) and a second, independent twin of the kernels.

Assumes what survey arrays give: one shared wavelength axis covering 0.45–2.45 µm and no
missing values, so every spectrum has all 53 bins and the only missing feature is the albedo
(the numba kernels handle any mask; this version does not). Full covariance matrices
(54×54 / 53×53 per component) with explicit inverse Cholesky factors: BLAS does the work.
"""

from __future__ import annotations

import numpy as np

from firmware.mahlke_model import GRID_UM, HALF_WIDTH_UM, N_BINS, N_NEIGHBOURS, load_mahlke_model
from firmware.mahlke_tree import CORE, CUT23, EMP, GMM, LATE, LM37, RULE30, S_OR_E, load_tree
from tests.twins.numpy_pipeline import NumpyBusDeMeo, binning_matrix

BLOCK = 2048  # spectra per block: the (block × references) cosine matrix stays ~40 MB


class NumpyMahlke:
    """Precomputes the matrices for one wavelength axis; `classify(X, albedo)` → arrays."""

    def __init__(self, axis_um: np.ndarray, tree: str = "mahlke2022"):
        m = self.m = load_mahlke_model()
        self.t = load_tree(tree)
        # VIS bins (half-width 0.0125 µm) precede the NIR bins (0.025 µm) on the grid
        self.mbin = np.vstack([binning_matrix(axis_um, GRID_UM[HALF_WIDTH_UM == h], h)
                               for h in np.unique(HALF_WIDTH_UM)])  # fmt: skip
        self.bd = NumpyBusDeMeo(axis_um)  # for the shared e/h/k feature stage
        full = np.all(np.isfinite(m.reference_reflectance), axis=1)
        ref = m.reference_reflectance[full]
        self.ref_unit = ref / np.linalg.norm(ref, axis=1, keepdims=True)
        self.ref_alpha = m.reference_alpha[full]
        self.ref_mean = ref.mean(axis=1)
        self.means = m.mu + m.xi @ m.W.T  # (50, 54)
        cov = np.einsum("fi,kij,gj->kfg", m.W, m.omega, m.W) + np.diag(m.noise_var)
        self.gauss = {n: self._gaussians(cov[:, :n, :n]) for n in (N_BINS, N_BINS + 1)}
        # mcfa's imputation of log10 pV from the 53 bins, covariance W Ωₖ Ωₖᵀ Wᵀ + D
        cov2 = np.einsum("fi,kij,klj,gl->kfg", m.W, m.omega, m.omega, m.W) + np.diag(m.noise_var)
        self.beta = np.stack(
            [np.linalg.solve(c[:N_BINS, :N_BINS], c[:N_BINS, N_BINS]) for c in cov2]
        )
        self.gamma = m.score_gamma.transpose(1, 0, 2).reshape(m.W.shape[0], -1)  # (54, 200)

    def _gaussians(self, cov):
        inv_chol = np.stack([np.linalg.inv(np.linalg.cholesky(c)) for c in cov])
        logdet = 2 * np.log(np.diagonal(np.linalg.cholesky(cov), axis1=1, axis2=2)).sum(axis=1)
        return inv_chol, logdet

    def _logpost(self, y):
        """log πₖ + log N(y; meanₖ, Σₖ) for rows y (n, 53 or 54), all features observed."""
        p = y.shape[1]
        inv_chol, logdet = self.gauss[p]
        out = np.empty((y.shape[0], self.m.n_components))
        for k in range(self.m.n_components):
            e = (y - self.means[k, :p]) @ inv_chol[k].T
            out[:, k] = self.m.log_pi[k] - 0.5 * (
                np.einsum("nf,nf->n", e, e) + logdet[k] + p * np.log(2 * np.pi)
            )
        return out

    def _softmax(self, lp):
        lp = lp - lp.max(axis=1, keepdims=True)
        e = np.exp(lp)
        return e / e.sum(axis=1, keepdims=True)

    def classify(self, x: np.ndarray, albedo=None):
        """→ (class index after h (Ch), class probabilities (N, 17), τ (N, 50), z (N, 4))."""
        n = x.shape[0]
        pv = (
            np.full(n, np.nan)
            if albedo is None
            else np.broadcast_to(np.asarray(albedo, float), (n,))
        )
        parts = [
            self._block(x[i : i + BLOCK], np.log10(pv[i : i + BLOCK])) for i in range(0, n, BLOCK)
        ]
        return tuple(np.concatenate(p) for p in zip(*parts, strict=True))

    def _block(self, x, log_pv):
        m = self.m
        b = x.astype(np.float64) @ self.mbin.T
        cos = (b / np.linalg.norm(b, axis=1, keepdims=True)) @ self.ref_unit.T
        nn = np.argpartition(-cos, N_NEIGHBOURS, axis=1)[:, :N_NEIGHBOURS]
        alpha = self.ref_alpha[nn].mean(axis=1)
        level = self.ref_mean[nn].mean(axis=1) / b.mean(axis=1)
        y = np.empty((b.shape[0], N_BINS + 1))
        y[:, :N_BINS] = np.log(b) + (np.log(level) - alpha)[:, None]
        y[:, N_BINS] = log_pv
        has = ~np.isnan(log_pv)
        tau = np.empty((y.shape[0], m.n_components))
        tau[has] = self._softmax(self._logpost(y[has]))
        tau[~has] = self._softmax(self._logpost(y[~has, :N_BINS]))
        y_imp = y.copy()
        k = np.argmax(tau[~has], axis=1)
        e = y[~has, :N_BINS] - self.means[k, :N_BINS]
        y_imp[~has, N_BINS] = self.means[k, N_BINS] + np.einsum("nf,nf->n", e, self.beta[k])
        r = y_imp - m.mu
        w = self._softmax(self._logpost(r))  # mcfa transform: responsibilities of ŷ − μ
        zk = (r @ self.gamma).reshape(r.shape[0], m.n_components, -1) + m.score_offset
        z = np.einsum("nk,nki->ni", w, zk)
        probs = self._tree(tau, z, log_pv)
        fine = x.astype(np.float64) @ self.bd.mfine.T
        h = self.bd.features(fine)[:, 1] == 1.0  # (N, 3) e/h/k detections
        base = np.argmax(probs, axis=1)
        ci = self.t.class_index
        to_ch = h & np.isin(base, [ci[c] for c in ("B", "C", "P", "X")])
        bcp = [ci["B"], ci["C"], ci["P"]]  # classy: P(Ch) = P(B) + P(C) + P(P) when h is present
        probs[to_ch, ci["Ch"]] = probs[to_ch][:, bcp].sum(axis=1)
        probs[np.ix_(to_ch, bcp)] = 0.0
        return np.where(to_ch, ci["Ch"], base), probs, tau, z

    def _gmm(self, g, v):
        """(n, components) probabilities of packed GMM g at v = (z0..z3, log10 pV)."""
        t = self.t
        lp = np.empty((v.shape[0], t.gmm_n[g]))
        for c in range(t.gmm_n[g]):
            d = v[:, t.gmm_input[g, : t.gmm_dim[g]]] - t.gmm_mean[g, c, : t.gmm_dim[g]]
            y = d @ t.gmm_prec_chol[g, c, : t.gmm_dim[g], : t.gmm_dim[g]]
            lp[:, c] = (
                t.gmm_log_weight[g, c]
                - 0.5 * (t.gmm_dim[g] * np.log(2 * np.pi) + (y * y).sum(axis=1))
                + t.gmm_log_det[g, c]
            )
        return self._softmax(lp)

    def _tree(self, tau, z, log_pv):
        t, ci = self.t, self.t.class_index
        n = tau.shape[0]
        p = np.zeros((n, len(t.classes)))
        v = np.column_stack([z, np.nan_to_num(log_pv, nan=-1.0)])  # NaN rows are masked below
        has = ~np.isnan(log_pv)
        emp = self._gmm(t.emp, v)

        def add(g_probs, g, weight, rows):
            for c in range(t.gmm_n[g]):
                p[rows, t.gmm_class[g, c]] += g_probs[rows, c] * weight[rows]

        def add_emp(weight, rows):
            add(emp, t.emp, weight, rows & has)
            p[rows & ~has, ci["X"]] += weight[rows & ~has]

        everyone = np.ones(n, bool)
        for k in range(tau.shape[1]):
            w, rule, g = tau[:, k], t.rule[k], t.gmm_of[k]
            if rule == CORE:
                p[:, t.core_class[k]] += w
            elif rule == EMP:
                add_emp(w, everyone)
            elif rule == LM37:
                gate = ~has | (log_pv > t.lm37_gate_log_pv)
                is_m = t.gmm_class[g, np.argmax(self._gmm(g, v), axis=1)] == ci["M"]
                p[gate & ~is_m, ci["L"]] += w[gate & ~is_m]
                add_emp(w, (gate & is_m) | ~gate)
            elif rule in (GMM, S_OR_E):
                rows = has if rule == S_OR_E else everyone
                add(self._gmm(g, v), g, w, rows)
                if rule == S_OR_E:
                    p[~has, ci["S"]] += w[~has]
            elif rule == CUT23:
                lo = z[:, 3] < -0.25
                p[lo, ci["L"]] += w[lo]
                p[~lo, ci["M"]] += w[~lo]
            elif rule == RULE30:
                s = np.where(has, log_pv > np.log10(0.14), z[:, 1] > 0)
                p[s, ci["S"]] += w[s]
                p[~s, ci["D"]] += w[~s]
        boost = has & (t.gmm_class[t.emp, np.argmax(emp, axis=1)] == ci["E"])
        for c in ("K", "L", "M"):
            p[boost, ci["E"]] += (1 - t.e_keep) * p[boost, ci[c]]
            p[boost, ci[c]] *= t.e_keep
        for k in np.flatnonzero(t.rule == LATE):
            add(self._gmm(t.gmm_of[k], v), t.gmm_of[k], tau[:, k], everyone)
        return p

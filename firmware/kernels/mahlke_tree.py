"""Decision-tree kernel of the Mahlke 2022 taxonomy: 50 cluster probabilities → 17 classes.

The constants (rule per cluster, packed Gaussian mixtures) come from
`firmware.mahlke_tree.load_tree(variant)`, whose docstring describes the tree. GMM
probabilities are sklearn's `GaussianMixture.predict_proba` for full covariances, from the
stored precision Cholesky factors: log N = −½(d ln 2π + |(x − m)ᵀP|²) + Σ ln diag P.
"""

from __future__ import annotations

import numpy as np

from firmware._jit import njit_leaf, njit_parallel, prange

LOG_2PI = 1.8378770664093453
# rule codes (firmware.mahlke_tree)
CORE, EMP, GMM, LM37, S_OR_E, CUT23, RULE30, LATE = range(8)
PV_SPLIT_30 = np.log10(0.14)  # classy decision_tree.py::resolve_cluster_30
Z3_CUT_23 = -0.25  # classy decision_tree.py: cluster 23 z3 < −0.25 → L
# Rows per work unit of `tree_batch`. The helpers run without the numba runtime's reference
# counts (`njit_leaf`) and the scratch is allocated per chunk: 2.4 → 1.7 µs per spectrum on one
# core (issue 5, round 6), bit-identical.
CHUNK = 64


@njit_leaf
def gmm_proba(g, v, n_comp, dim, inputs, log_w, mean, pchol, log_det, out):
    """Component probabilities of GMM g at v = (z0, z1, z2, z3, log10 pV) into out[:n]."""
    best = -np.inf
    for c in range(n_comp[g]):
        s = 0.0
        for j in range(dim[g]):
            y = 0.0
            for i in range(j + 1):  # upper-triangular precision Cholesky: column j
                y += (v[inputs[g, i]] - mean[g, c, i]) * pchol[g, c, i, j]
            s += y * y
        lp = log_w[g, c] - 0.5 * (dim[g] * LOG_2PI + s) + log_det[g, c]
        out[c] = lp
        if lp > best:
            best = lp
    acc = 0.0
    for c in range(n_comp[g]):
        out[c] = np.exp(out[c] - best)
        acc += out[c]
    for c in range(n_comp[g]):
        out[c] /= acc


@njit_leaf
def _add_gmm(g, v, weight, n_comp, dim, inputs, log_w, mean, pchol, log_det, gcls, pr, p):
    gmm_proba(g, v, n_comp, dim, inputs, log_w, mean, pchol, log_det, pr)
    for c in range(n_comp[g]):
        p[gcls[g, c]] += pr[c] * weight


@njit_leaf
def _argmax_class(g, v, n_comp, dim, inputs, log_w, mean, pchol, log_det, gcls, pr):
    gmm_proba(g, v, n_comp, dim, inputs, log_w, mean, pchol, log_det, pr)
    best = 0
    for c in range(1, n_comp[g]):
        if pr[c] > pr[best]:
            best = c
    return gcls[g, best]


@njit_leaf
def tree_one(tau, z, log_pv, rule, core, gmm_of, n_comp, dim, inputs, log_w, mean, pchol,
             log_det, gcls, emp, e_keep, lm37_gate, cx, ce, ck, cl, cm, cs, cd, v, pr,
             p):  # fmt: skip
    """Class probabilities p (17) of one sample; v (5,) and pr (≥ 9,) are scratch."""
    for c in range(p.shape[0]):
        p[c] = 0.0
    if np.isnan(tau[0]):
        for c in range(p.shape[0]):
            p[c] = np.nan
        return
    for i in range(4):
        v[i] = z[i]
    v[4] = log_pv
    has_pv = not np.isnan(log_pv)
    for k in range(rule.shape[0]):
        t = tau[k]
        r = rule[k]
        if r == LM37:  # cluster 37: L, or M which goes on to the albedo split
            gate_open = not has_pv or log_pv > lm37_gate
            if gate_open and _argmax_class(gmm_of[k], v, n_comp, dim, inputs, log_w, mean, pchol,
                                           log_det, gcls, pr) != cm:  # fmt: skip
                p[cl] += t
                continue
            r = EMP
        if r == CORE:
            p[core[k]] += t
        elif r == EMP:
            if has_pv:
                _add_gmm(emp, v, t, n_comp, dim, inputs, log_w, mean, pchol, log_det, gcls, pr, p)
            else:
                p[cx] += t
        elif r == GMM:
            _add_gmm(gmm_of[k], v, t, n_comp, dim, inputs, log_w, mean, pchol, log_det, gcls, pr, p)
        elif r == S_OR_E:
            if has_pv:
                _add_gmm(gmm_of[k], v, t, n_comp, dim, inputs, log_w, mean, pchol, log_det,
                         gcls, pr, p)  # fmt: skip
            else:
                p[cs] += t
        elif r == CUT23:
            p[cl if z[3] < Z3_CUT_23 else cm] += t
        elif r == RULE30:
            if has_pv:
                p[cs if log_pv > PV_SPLIT_30 else cd] += t
            else:
                p[cs if z[1] > 0.0 else cd] += t
    if has_pv:  # E boost: an E-type albedo moves a share of K, L, M to E
        if _argmax_class(emp, v, n_comp, dim, inputs, log_w, mean, pchol, log_det, gcls, pr) == ce:
            for c in (ck, cl, cm):
                p[ce] += (1.0 - e_keep) * p[c]
                p[c] *= e_keep
    for k in range(rule.shape[0]):  # cluster 29, resolved after the boost
        if rule[k] == LATE:
            _add_gmm(gmm_of[k], v, tau[k], n_comp, dim, inputs, log_w, mean, pchol, log_det,
                     gcls, pr, p)  # fmt: skip


@njit_parallel
def tree_batch(tau, z, log_pv, n_classes, rule, core, gmm_of, n_comp, dim, inputs, log_w, mean,
               pchol, log_det, gcls, emp, e_keep, lm37_gate, cx, ce, ck, cl, cm, cs,
               cd):  # fmt: skip
    """(N, 50) τ, (N, 4) z, (N,) log10 pV (NaN = none) → (N, n_classes) class probabilities."""
    n = tau.shape[0]
    out = np.empty((n, n_classes))
    for c in prange((n + CHUNK - 1) // CHUNK):  # scratch allocated once per chunk of rows
        v = np.empty(5)
        pr = np.empty(log_w.shape[1])
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            tree_one(tau[i], z[i], log_pv[i], rule, core, gmm_of, n_comp, dim, inputs, log_w,
                     mean, pchol, log_det, gcls, emp, e_keep, lm37_gate, cx, ce, ck, cl, cm, cs,
                     cd, v, pr, out[i])  # fmt: skip
    return out

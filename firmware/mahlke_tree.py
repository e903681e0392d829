"""The Mahlke 2022 decision tree from 50 cluster probabilities to 17 class probabilities.

The tree (Mahlke et al. 2022 §4; classy `taxonomies/mahlke/decision_tree.py::assign_classes`)
is packed here into small arrays for the numba kernel in `firmware.kernels.mahlke_tree`:

* **core clusters** give their probability to one class (0→S, 1→D, 2→B, 7→V, 36→Z, …);
* **X-complex clusters** {17, 22, 35, 37, 46} are split into P / M / E by a 3-component
  Gaussian mixture on log10 pV; without an albedo they go to **X**. Cluster 37 is first
  split L versus M by a GMM on (z1, z3); only its M part goes on to the albedo split;
* **continuum clusters** are split by 2- or 3-component GMMs on two latent scores
  (4, 8, 10, 13, 19, 23, 24, 31, 41, 43), on pV (44: S/E; S without albedo), and cluster 29
  by a 9-component GMM on (z0, z1), added last;
* the **E boost**: if the albedo GMM says E, a share of K, L and M moves to E.

Two variants, because the published catalogue and today's classy differ:

* ``"mahlke2022"`` (default) — the tree that produced the published CDS catalogue
  (`class_visnir.csv`): cluster 30 is a core S cluster, cluster 23 is split by its GMM on
  (z0, z3), cluster 37 is always split L/M, and the E boost moves half of K, L, M to E.
  Verified here: from the published cluster probabilities and latent scores it reproduces
  every published class probability to 1e-5 and every class.
* ``"classy"`` — the post-publication rules in classy's `decision_tree.py`: cluster 30 is
  S if pV > 0.14 (else D; without albedo S if z1 > 0), cluster 23 is L if z3 < −0.25 (else
  M), cluster 37 is split L/M only if pV is unknown or log10 pV > −1, and the E boost moves
  two thirds of K, L, M to E.

The e/h/k feature flags turn a class into its flagged label (`label()`): h on B, C, P or X
gives Ch, and e / k are appended to P, M, E or X (classy `core.py::add_feature_flags`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from firmware.mahlke_model import load_mahlke_model

TREE_VARIANTS = ("mahlke2022", "classy")

# rule codes of the kernel (one per cluster)
CORE, EMP, GMM, LM37, S_OR_E, CUT23, RULE30, LATE = range(8)
# index of each input of a GMM in the vector (z0, z1, z2, z3, log10 pV)
_INPUT = {"z0": 0, "z1": 1, "z2": 2, "z3": 3, "pV": 4}
MAX_GMM_COMPONENTS = 9
PV_SPLIT_30 = np.log10(0.14)  # classy decision_tree.py::resolve_cluster_30
Z3_CUT_23 = -0.25  # classy decision_tree.py (cluster 23: z3 < −0.25 → L)
LM37_GATE_LOG_PV = -1.0  # classy: cluster 37 split L/M only if log10 pV > −1 (or unknown)
# The JSON lists the rule of cluster 23 (the later z3 cut) instead of its GMM's inputs; the
# GMM (used by the published catalogue) reads (z0, z3): classy decision_tree.py
# `resolve_cluster_23`.
_GMM_INPUTS_FALLBACK = {"23": ["z0", "z3"]}


@dataclass(frozen=True)
class TreeConstants:
    """Arrays of one tree variant, in the argument order of `kernels.mahlke_tree.tree_batch`."""

    classes: tuple[str, ...]  # the 17 classes (A, B, C, Ch, D, E, K, L, M, O, P, Q, R, S, V, X, Z)
    rule: np.ndarray  # (50,) int64 rule code per cluster
    core_class: np.ndarray  # (50,) int64 class of a CORE cluster, else −1
    gmm_of: np.ndarray  # (50,) int64 GMM index of a GMM / LM37 / S_OR_E / LATE cluster, else −1
    gmm_n: np.ndarray  # (G,) components
    gmm_dim: np.ndarray  # (G,) 1 or 2 inputs
    gmm_input: np.ndarray  # (G, 2) indices into (z0, z1, z2, z3, log10 pV)
    gmm_log_weight: np.ndarray  # (G, 9)
    gmm_mean: np.ndarray  # (G, 9, 2)
    gmm_prec_chol: np.ndarray  # (G, 9, 2, 2) upper-triangular precision Cholesky (sklearn)
    gmm_log_det: np.ndarray  # (G, 9) Σ log diag(prec_chol)
    gmm_class: np.ndarray  # (G, 9) class index of each component
    emp: int  # index of the E/M/P albedo GMM
    lm37: int  # index of the cluster-37 L/M GMM
    e_keep: float  # share of K, L, M kept by the E boost (the rest goes to E)
    lm37_gate_log_pv: float  # cluster 37 split L/M when pV unknown or log10 pV > this
    class_index: dict  # class name → index

    def kernel_args(self) -> tuple:
        return (self.rule, self.core_class, self.gmm_of, self.gmm_n, self.gmm_dim,
                self.gmm_input, self.gmm_log_weight, self.gmm_mean, self.gmm_prec_chol,
                self.gmm_log_det, self.gmm_class, self.emp, self.e_keep,
                self.lm37_gate_log_pv, self.class_index["X"], self.class_index["E"],
                self.class_index["K"], self.class_index["L"], self.class_index["M"],
                self.class_index["S"], self.class_index["D"])  # fmt: skip


@lru_cache(maxsize=4)
def load_tree(variant: str = "mahlke2022") -> TreeConstants:
    """Pack the tree JSON of `seeds/mahlke2022/` for one variant (cached)."""
    if variant not in TREE_VARIANTS:
        raise ValueError(f"unknown Mahlke tree variant {variant!r}: choose one of {TREE_VARIANTS}")
    spec = load_mahlke_model().tree
    classes = tuple(spec["CLASSES"])
    cidx = {c: i for i, c in enumerate(classes)}
    names = [k for k in spec["GMM"]]
    g_of = {name: i for i, name in enumerate(names)}
    n_g = len(names)
    gmm_n = np.zeros(n_g, np.int64)
    gmm_dim = np.zeros(n_g, np.int64)
    gmm_input = np.zeros((n_g, 2), np.int64)
    log_w = np.full((n_g, MAX_GMM_COMPONENTS), -np.inf)
    mean = np.zeros((n_g, MAX_GMM_COMPONENTS, 2))
    pchol = np.zeros((n_g, MAX_GMM_COMPONENTS, 2, 2))
    log_det = np.zeros((n_g, MAX_GMM_COMPONENTS))
    gcls = np.full((n_g, MAX_GMM_COMPONENTS), -1, np.int64)
    used = spec["features_used_per_cluster"]
    for i, name in enumerate(names):
        g = spec["GMM"][name]
        if g["covariance_type"] != "full":
            raise ValueError(f"{name}: only full-covariance GMMs are supported")
        n = int(g["n_components"])
        m = np.asarray(g["means_"], dtype=np.float64)
        pc = np.asarray(g["precisions_cholesky_"], dtype=np.float64)
        dim = m.shape[1]
        inputs = used.get(name)
        inputs = inputs if isinstance(inputs, list) else _GMM_INPUTS_FALLBACK.get(name)
        if inputs is None or len(inputs) != dim:
            raise ValueError(f"GMM {name}: its inputs are not listed in features_used_per_cluster")
        gmm_n[i], gmm_dim[i] = n, dim
        gmm_input[i, :dim] = [_INPUT[v] for v in inputs]
        log_w[i, :n] = np.log(np.asarray(g["weights_"], dtype=np.float64))
        mean[i, :n, :dim] = m
        pchol[i, :n, :dim, :dim] = pc
        log_det[i, :n] = np.log(np.diagonal(pc, axis1=1, axis2=2)).sum(axis=1)
        gcls[i, :n] = [cidx[c] for c in g["classes"]]

    n_clusters = load_mahlke_model().n_components
    rule = np.full(n_clusters, CORE, np.int64)
    core = np.full(n_clusters, -1, np.int64)
    gmm_of = np.full(n_clusters, -1, np.int64)
    for c, cls in spec["CORE_CLUSTER"].items():
        core[int(c)] = cidx[cls]
    for c in spec["X_COMPLEX"]:
        rule[c] = LM37 if c == 37 else EMP
        if c == 37:
            gmm_of[c] = g_of["37"]
    for key in spec["CONTINUUM_CLUSTER"]:
        c = int(key)
        if c == 29:
            rule[c], gmm_of[c] = LATE, g_of["29"]
        elif c == 44:
            rule[c], gmm_of[c] = S_OR_E, g_of["44"]
        elif c == 30:
            rule[c] = RULE30
        elif c == 23 and variant == "classy":
            rule[c] = CUT23
        else:
            rule[c], gmm_of[c] = GMM, g_of[key]
    if variant == "mahlke2022":
        rule[30], core[30] = CORE, cidx["S"]  # published catalogue: 30 was a core S cluster
    missing = [c for c in range(n_clusters) if rule[c] == CORE and core[c] < 0]
    if missing:
        raise ValueError(f"tree JSON leaves clusters {missing} without a class")
    return TreeConstants(
        classes=classes, rule=rule, core_class=core, gmm_of=gmm_of, gmm_n=gmm_n,
        gmm_dim=gmm_dim, gmm_input=gmm_input, gmm_log_weight=log_w, gmm_mean=mean,
        gmm_prec_chol=pchol, gmm_log_det=log_det, gmm_class=gcls, emp=g_of["emp"],
        lm37=g_of["37"], e_keep=0.5 if variant == "mahlke2022" else 1.0 / 3.0,
        lm37_gate_log_pv=-np.inf if variant == "mahlke2022" else LM37_GATE_LOG_PV,
        class_index=cidx,
    )  # fmt: skip


def feature_candidates() -> dict[str, tuple[str, ...]]:
    """Classes each e/h/k feature applies to (classy `features/__init__.py::FEATURE`)."""
    spec = load_mahlke_model().tree["FEATURES_e_h_k"]
    return {f: tuple(spec[f]["candidates"]) for f in ("e", "h", "k")}


def label(base: str, e: bool, h: bool, k: bool) -> str:
    """The class label with its feature flags: Ch for h on B/C/P/X, else e/k appended."""
    cand = feature_candidates()
    if h and base in cand["h"]:
        return "Ch"
    out = base
    if e and base in cand["e"]:
        out += "e"
    if k and base in cand["k"]:
        out += "k"
    return out


# Mahlke classes mapped onto the Bus-DeMeo complexes (DeMeo et al. 2009 §4), so the two
# taxonomies can be compared: E/M/P are X-complex albedo splits, Z (extremely red) is
# D-like; end-members A, D, K, L, O, Q, R, V are their own complex as in Bus-DeMeo.
_COMPLEX = {"S": "S", "B": "C", "C": "C", "Ch": "C", "E": "X", "M": "X", "P": "X", "X": "X",
            "Z": "D"}  # fmt: skip


def complex_of(cls: str | None) -> str | None:
    """The Bus-DeMeo complex of a Mahlke class or flagged label ("Mk" → "X", "Ch" → "C")."""
    if not cls:
        return None
    base = cls if cls == "Ch" else cls.rstrip("ek")  # flags are lower case, classes upper
    return _COMPLEX.get(base, base)

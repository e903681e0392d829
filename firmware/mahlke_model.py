"""Mahlke, Carry & Mattei 2022 taxonomy constants, loaded once from `seeds/mahlke2022/`.

What the classifier needs at run time, as float64 arrays ready for the kernels:

* the 53-bin wavelength grid (classy `taxonomies/mahlke/defs.py::WAVE_GRID`) and the bin
  half-widths used to average a raw spectrum onto it;
* the trained Mixture of Common Factor Analysers (MCFA; Baek, McLachlan & Flack 2010):
  y = μ + W z + ε, z | k ~ N(ξₖ, Ωₖ), ε ~ N(0, D), K = 50 components, q = 4 factors,
  p = 54 features (53 bins of ln R − α, then log10 pV). Stored parametrisation
  (`mcfa_params.npz`, read from classy's TensorFlow pickle): π = softmax(pi_logits),
  D = softplus(Psi_raw), Ωₖ = LₖLₖᵀ with Lₖ = Omega_raw[k] and softplus on its diagonal
  (shared/notes/science.md §2.3: reproduces the published cluster probabilities);
* the latent-score maps of `mcfa.MCFA.transform(which="zmean")` (Baek et al. 2011 §4):
  Zₖ(y) = hₖ + Γₖᵀ(y − μ) with Γₖ = (D⁻¹ − D⁻¹WCₖWᵀD⁻¹)WΩₖ, Cₖ = (Ωₖ⁻¹ + WᵀD⁻¹W)⁻¹ and
  hₖ = ξₖ − ΓₖᵀWξₖ. As in mcfa, Ωₖ gets +1e-5·I where cond(Ωₖ) > 1e4 (7 components);
* the mixnorm reference set (2573 published spectra in linear reflectance and their α) for
  the 5-nearest-neighbour normalisation of new spectra (classy `mixnorm.py::normalize`).

See `seeds/mahlke2022/README.md` for provenance and licence.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from firmware.kernels.mahlke_bins import coverage_masks
from firmware.kernels.mixnorm_knn import leading_basis

MAHLKE_DIR = Path(__file__).resolve().parents[1] / "seeds" / "mahlke2022"
TREE_FILE = MAHLKE_DIR / "decision_tree_gmms_and_cluster_maps.json"

# classy defs.py: 0.45–1.05 µm in 0.025 µm steps, then 1.10–2.45 µm in 0.05 µm steps.
VIS_STEP_UM = 0.025
NIR_STEP_UM = 0.05
GRID_UM = np.round(
    np.concatenate([np.arange(0.45, 1.0501, VIS_STEP_UM), np.arange(1.10, 2.4501, NIR_STEP_UM)]), 3
)
# Each bin averages the samples within ± half its step (the bin it stands for).
HALF_WIDTH_UM = np.where(GRID_UM <= 1.05 + 1e-9, VIS_STEP_UM / 2, NIR_STEP_UM / 2)
N_BINS = 53
PV_INDEX = 53  # feature 54: log10 of the visual geometric albedo pV
N_FEATURES = 54
N_NEIGHBOURS = 5  # classy mixnorm.py: α is the mean over the 5 nearest reference spectra
ILL_CONDITIONED = 1e4  # mcfa core.py transform(): cond(Ωₖ) above this gets + EPS_OMEGA·I
EPS_OMEGA = 1e-5


@dataclass(frozen=True)
class MahlkeModel:
    """The numbers of the Mahlke 2022 taxonomy (float64, C-contiguous)."""

    grid_um: np.ndarray  # (53,)
    half_width_um: np.ndarray  # (53,)
    W: np.ndarray  # (54, 4) factor loadings (orthonormal columns)
    mu: np.ndarray  # (54,)
    xi: np.ndarray  # (50, 4) component means in latent space
    chol_omega: np.ndarray  # (50, 4, 4) Lₖ, Ωₖ = LₖLₖᵀ
    omega: np.ndarray  # (50, 4, 4) Ωₖ
    noise_var: np.ndarray  # (54,) diagonal of D
    log_pi: np.ndarray  # (50,) log mixture weights
    score_gamma: np.ndarray  # (50, 54, 4) Γₖ of the latent scores
    score_offset: np.ndarray  # (50, 4) hₖ of the latent scores
    reference_reflectance: np.ndarray  # (2573, 53) linear reflectance, NaN = bin not observed
    reference_masks: np.ndarray  # (2573,) uint64: bit b set where reference covers bin b
    reference_basis: np.ndarray  # (53, 8) leading reference shapes (mixnorm_knn.leading_basis)
    reference_alpha: np.ndarray  # (2573,) the mixnorm offset α of each reference spectrum
    reference_number: np.ndarray  # (2573,) asteroid number, −1 if unnumbered
    reference_name: np.ndarray  # (2573,) asteroid name or designation
    tree: dict  # the decision-tree JSON (GMMs, cluster maps), packed by firmware.mahlke_tree
    checksum: str  # sha256 over the constants: detects corrupted classification memory

    @property
    def n_components(self) -> int:
        return int(self.xi.shape[0])


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def latent_score_maps(W, omega, noise_var, xi):
    """Γₖ and hₖ of Zₖ(y) = hₖ + Γₖᵀ(y − μ) (mcfa `transform`, Baek et al. 2011 §4)."""
    q = W.shape[1]
    eye = np.eye(q)
    dw = W / noise_var[:, None]  # D⁻¹W
    wtdw = W.T @ dw
    gamma = np.empty((omega.shape[0], W.shape[0], q))
    offset = np.empty((omega.shape[0], q))
    for k in range(omega.shape[0]):
        om = omega[k]
        if np.linalg.cond(om) > ILL_CONDITIONED:
            om = om + EPS_OMEGA * eye
        c = np.linalg.inv(np.linalg.inv(om) + wtdw)
        gamma[k] = (dw - dw @ c @ wtdw) @ om  # (D⁻¹ − D⁻¹WCWᵀD⁻¹)WΩ
        offset[k] = xi[k] - gamma[k].T @ (W @ xi[k])
    return gamma, offset


@lru_cache(maxsize=1)
def load_mahlke_model() -> MahlkeModel:
    """Load the MCFA, the mixnorm reference set and the tree JSON (cached)."""
    with np.load(MAHLKE_DIR / "mcfa_params.npz") as p:
        W = np.ascontiguousarray(p["W"], dtype=np.float64)
        mu = np.ascontiguousarray(p["mu"], dtype=np.float64)
        xi = np.ascontiguousarray(p["Xi"], dtype=np.float64)
        raw = np.array(p["Omega_raw"], dtype=np.float64)
        noise_var = _softplus(np.asarray(p["Psi_raw"], dtype=np.float64))
        logits = np.asarray(p["pi_logits"], dtype=np.float64)
        names = [str(v) for v in p["feature_names"]]
    if W.shape != (N_FEATURES, 4) or xi.shape != (50, 4) or raw.shape != (50, 4, 4):
        raise ValueError(f"{MAHLKE_DIR}/mcfa_params.npz: unexpected shapes W{W.shape} Xi{xi.shape}")
    if not np.allclose([float(v) for v in names[:N_BINS]], GRID_UM, atol=1e-9):
        raise ValueError(f"{MAHLKE_DIR}/mcfa_params.npz: feature grid is not the 53-bin grid")
    chol = raw.copy()
    diag = np.arange(4)
    chol[:, diag, diag] = _softplus(raw[:, diag, diag])
    omega = np.einsum("kij,klj->kil", chol, chol)
    log_pi = logits - np.logaddexp.reduce(logits)
    gamma, offset = latent_score_maps(W, omega, noise_var, xi)

    with np.load(MAHLKE_DIR / "mixnorm_reference.npz") as r:
        if not np.allclose(r["grid_um"], GRID_UM, atol=1e-9):
            raise ValueError(f"{MAHLKE_DIR}/mixnorm_reference.npz: grid is not the 53-bin grid")
        ref = np.ascontiguousarray(r["reflectance"], dtype=np.float64)
        ref_alpha = np.ascontiguousarray(r["alpha"], dtype=np.float64)
        ref_number = np.asarray(r["number"], dtype=np.int64)
        ref_name = np.asarray(r["name"])
    tree = json.loads(TREE_FILE.read_text())

    digest = hashlib.sha256()
    for arr in (W, mu, xi, chol, noise_var, log_pi, ref, ref_alpha):
        digest.update(np.ascontiguousarray(arr).tobytes())
    digest.update(TREE_FILE.read_bytes())
    return MahlkeModel(
        grid_um=GRID_UM.copy(), half_width_um=HALF_WIDTH_UM.copy(), W=W, mu=mu, xi=xi,
        chol_omega=np.ascontiguousarray(chol), omega=np.ascontiguousarray(omega),
        noise_var=np.ascontiguousarray(noise_var), log_pi=np.ascontiguousarray(log_pi),
        score_gamma=np.ascontiguousarray(gamma), score_offset=np.ascontiguousarray(offset),
        reference_reflectance=ref, reference_alpha=ref_alpha,
        reference_masks=coverage_masks(ref), reference_basis=leading_basis(ref),
        reference_number=ref_number, reference_name=ref_name, tree=tree,
        checksum=digest.hexdigest(),
    )  # fmt: skip

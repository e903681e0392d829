"""Bus-DeMeo taxonomy constants, loaded once from `seeds/taxonomy/` (DeMeo et al. 2009).

Everything the classifier needs at run time: the 41-point analysis grid, the five PCA
eigenvectors and the sample mean (DeMeo 2009 Table 3, as transcribed in classy
`classy/taxonomies/demeo.py`), and the 25 class templates (mean and 1σ, PDS SBN
"Bus-DeMeo taxonomy class means"). See `seeds/README.md` for provenance and licence.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

SEEDS_DIR = Path(__file__).resolve().parents[1] / "seeds"
TAXONOMY_DIR = SEEDS_DIR / "taxonomy"

# DeMeo et al. 2009 §2: 0.45–2.45 µm in 0.05 µm steps, normalised at 0.55 µm.
DEMEO_GRID_UM = np.round(np.arange(0.45, 2.4501, 0.05), 4)
NORMALISATION_UM = 0.55
NORMALISATION_INDEX = 2

# Template order = column order of the PDS/classy template table. Xn was added in the PDS version.
CLASS_NAMES: tuple[str, ...] = (
    "A", "B", "C", "Cb", "Cg", "Cgh", "Ch", "D", "K", "L", "O", "Q", "R",
    "S", "Sa", "Sq", "Sr", "Sv", "T", "V", "X", "Xc", "Xe", "Xk", "Xn",
)  # fmt: skip
CLASS_INDEX = {name: i for i, name in enumerate(CLASS_NAMES)}

# DeMeo et al. 2009 §4: complexes; end-members are their own complex.
_S = ("S", "Sa", "Sq", "Sr", "Sv")
_C = ("B", "C", "Cb", "Cg", "Cgh", "Ch")
_X = ("X", "Xc", "Xe", "Xk", "Xn")


def complex_of(cls: str | None) -> str | None:
    """The DeMeo 2009 complex of a class ("Sw" → "S", "Ch" → "C", "V" → "V")."""
    if not cls:
        return None
    base = cls[:-1] if cls.endswith("w") and cls != "w" else cls
    if base in _S:
        return "S"
    if base in _C:
        return "C"
    if base in _X:
        return "X"
    return base


@dataclass(frozen=True)
class DeMeoModel:
    """The numbers of the Bus-DeMeo taxonomy, as float64 arrays ready for the kernels."""

    grid_um: np.ndarray  # (41,)
    eigenvectors: np.ndarray  # (5, 40) PC1..PC5 over the grid without 0.55 µm
    data_mean: np.ndarray  # (40,)
    template_mean: np.ndarray  # (25, 41) relative reflectance, 1 at 0.55 µm
    template_sigma: np.ndarray  # (25, 41); undefined σ (single-member classes) filled, see below
    template_sigma_defined: np.ndarray  # (25,) bool
    checksum: str  # sha256 over the constants: detects corrupted classification memory


def _read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    return header, np.array([[float(v) for v in row] for row in body], dtype=np.float64)


@lru_cache(maxsize=1)
def load_demeo_model() -> DeMeoModel:
    """Load the DeMeo 2009 PCA and templates from `seeds/taxonomy/` (cached)."""
    header, pca = _read_csv(TAXONOMY_DIR / "demeo2009_pca_eigenvectors_and_mean.csv")
    col = {name: i for i, name in enumerate(header)}
    pca_grid = pca[:, col["wavelength_um"]]
    expected = np.delete(DEMEO_GRID_UM, NORMALISATION_INDEX)
    if not np.allclose(pca_grid, expected, atol=1e-6):
        raise ValueError(f"{TAXONOMY_DIR}: PCA grid is not the DeMeo grid without 0.55 µm")
    eig = np.ascontiguousarray(np.stack([pca[:, col[f"PC{k}"]] for k in range(1, 6)]))
    mean = np.ascontiguousarray(pca[:, col["data_mean"]])

    header, tpl = _read_csv(TAXONOMY_DIR / "demeo2009_class_templates_mean_sigma.csv")
    col = {name: i for i, name in enumerate(header)}
    if not np.allclose(tpl[:, col["wave"]], DEMEO_GRID_UM, atol=1e-6):
        raise ValueError(f"{TAXONOMY_DIR}: template grid is not the 41-point DeMeo grid")
    t_mean = np.stack([tpl[:, col[f"{c}_Mean"]] for c in CLASS_NAMES])
    t_sigma = np.stack([tpl[:, col[f"{c}_Sigma"]] for c in CLASS_NAMES])
    # −0.999 marks σ undefined (Cg, O, R have one member). Use the median σ of the classes
    # that have one, per wavelength, so χ² stays comparable across classes.
    defined = ~np.any(t_sigma < 0, axis=1)
    fill = np.median(t_sigma[defined], axis=0)
    t_sigma = np.where(defined[:, None], t_sigma, fill[None, :])
    # σ is tabulated to 3 decimals: 0.000 (at 0.55 µm by construction, and once for Sv at
    # 1.45 µm) means "below 0.0005", so floor it at the table's resolution, not at zero.
    t_sigma = np.maximum(t_sigma, 1e-3)

    digest = hashlib.sha256()
    for arr in (eig, mean, t_mean, t_sigma):
        digest.update(np.ascontiguousarray(arr).tobytes())
    return DeMeoModel(
        grid_um=DEMEO_GRID_UM.copy(),
        eigenvectors=eig,
        data_mean=mean,
        template_mean=np.ascontiguousarray(t_mean),
        template_sigma=np.ascontiguousarray(t_sigma),
        template_sigma_defined=defined,
        checksum=digest.hexdigest(),
    )
